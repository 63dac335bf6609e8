//! What the browser tests share: finding Debian's Chromium, the server as a child process on a
//! loopback port, launching headless Chromium with the flags this closed network needs, and
//! clicking through to the next page.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use headless_chrome::{Browser, LaunchOptions, Tab};

/// Debian's Chromium, or the one `LAGESBILD_CHROMIUM` names; never a downloaded browser.
pub fn chromium() -> Option<PathBuf> {
    std::env::var_os("LAGESBILD_CHROMIUM")
        .map(PathBuf::from)
        .into_iter()
        .chain(["/usr/bin/chromium", "/usr/bin/chromium-browser"].map(PathBuf::from))
        .find(|p| p.exists())
}

/// `lagesbild serve` as a child process, killed when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Serves `db` with the users of `auth` on a free loopback port, its clock at `now`, and
    /// returns once the server has printed its address.
    /// `db` is what `--db` takes: a SQLite file's path or a `postgres://` URL.
    pub fn start(
        db: impl AsRef<std::ffi::OsStr>,
        auth: &Path,
        now: &str,
        env: &[(&str, &str)],
    ) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lagesbild"))
            .arg("--db")
            .arg(db.as_ref())
            .args(["serve", "--addr", "127.0.0.1:0", "--auth"])
            .arg(auth)
            .env("LAGESBILD_NOW", now)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the binary starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            let line = lines
                .next()
                .expect("the server prints its address")
                .expect("reads");
            if let Some(rest) = line.strip_prefix("lagesbild serves ") {
                break rest
                    .split_whitespace()
                    .next()
                    .expect("a URL")
                    .trim_end_matches('/')
                    .to_owned();
            }
        };
        Server { child, base }
    }
}

/// Headless Chromium at `path` in a window of `size`, without the background connections that
/// this machine's closed network refuses.
pub fn launch(path: PathBuf, size: (u32, u32), idle: Duration) -> Browser {
    let flags: Vec<&OsStr> = [
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]
    .iter()
    .map(OsStr::new)
    .collect();
    let options = LaunchOptions::default_builder()
        .path(Some(path))
        .headless(true)
        .sandbox(false)
        .window_size(Some(size))
        .args(flags)
        .idle_browser_timeout(idle)
        .build()
        .expect("launch options");
    Browser::new(options).expect("Chromium starts")
}

/// Clicks `selector` and waits for `arrived`, which only the next page has.
pub fn submit(tab: &Tab, selector: &str, arrived: &str) {
    tab.wait_for_element(selector)
        .unwrap_or_else(|e| panic!("{selector}: {e}"))
        .click()
        .expect("clicks");
    tab.wait_for_element(arrived).unwrap_or_else(|e| {
        panic!(
            "after clicking {selector}, no {arrived} at {}: {e}",
            tab.get_url()
        )
    });
}
