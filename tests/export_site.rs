//! `lagesbild report export-site DIR`: the archive as static files for the intranet, served by a
//! plain static file server (Python's `http.server` on loopback), every link from the index and
//! the feed followed and answered 200 (every version's PDF among them); every report page and
//! PDF the published bytes themselves; an
//! export refused whole, writing nothing, when a published report does not rebuild byte for byte.

use std::collections::{BTreeSet, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

const NOW: &str = "2026-01-01T00:00:00Z";
const HOSTILE: &str = "<script>alert(1)</script> & \"citat\" ]]>";

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lagesbild"))
        .args(args)
        .current_dir(dir)
        .env("LAGESBILD_DB", dir.join("log.db"))
        .env("LAGESBILD_NOW", NOW)
        .output()
        .expect("the binary runs")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let output = run(dir, args);
    assert!(
        output.status.success(),
        "lagesbild {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8")
}

/// The `report_published` event's number from `report publish`'s last line.
fn published_seq(out: &str) -> u64 {
    let at = out.find(" as event ").expect("the event number") + 10;
    out[at..]
        .split(';')
        .next()
        .and_then(|n| n.trim().parse().ok())
        .expect("a number")
}

/// A plain static file server over `dir` on a loopback port: Python's `http.server`. `None`
/// (with a notice) without python3, except under CI, which has it.
struct StaticServer {
    child: Child,
    port: u16,
}

impl StaticServer {
    fn start(dir: &Path) -> Option<StaticServer> {
        let spawned = Command::new("python3")
            .args([
                "-u",
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                "0",
                "--directory",
            ])
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        let Ok(mut child) = spawned else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI must have python3 for the static file server"
            );
            eprintln!("notice: no python3; the export is not served by a static file server");
            return None;
        };
        // "Serving HTTP on 127.0.0.1 port 40123 (http://127.0.0.1:40123/) ..."
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the server's first line");
        let port = line
            .split("port ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"));
        Some(StaticServer { child, port })
    }

    /// The status and body of `GET path`.
    fn get(&self, path: &str) -> (u16, Vec<u8>) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connects");
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .expect("timeout");
        write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").expect("sends");
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).expect("reads");
        let end = reply
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a header");
        let head = String::from_utf8_lossy(&reply[..end]).into_owned();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status");
        (status, reply[end + 4..].to_vec())
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `href`s of a page or feed that stay on the site (not `https:`, `mailto:` or `#…`).
fn local_links(text: &str) -> Vec<String> {
    text.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|href| href.replace("&amp;", "&"))
        .filter(|href| !href.contains(':') && !href.starts_with('#') && !href.starts_with('/'))
        .collect()
}

/// `href` resolved against the page at `base` (a path from the root).
fn resolve(base: &str, href: &str) -> String {
    let folder = &base[..base.rfind('/').map_or(0, |i| i + 1)];
    let mut parts: Vec<&str> = folder.split('/').filter(|p| !p.is_empty()).collect();
    for part in href.split('/') {
        match part {
            ".." => {
                parts.pop();
            }
            "." | "" => {}
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

fn files_in(dir: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(folder) = todo.pop() {
        for entry in std::fs::read_dir(&folder).expect("reads") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                todo.push(path);
            } else {
                out.insert(path.strip_prefix(dir).expect("inside").to_owned());
            }
        }
    }
    out
}

#[test]
fn the_export_is_served_by_a_plain_file_server_with_every_link_working() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    ok(d, &["init"]);
    ok(
        d,
        &[
            "note",
            "--section",
            "summary",
            "Veckan före jul.",
            "--date",
            "2024-12-20",
        ],
    );
    let earlier = published_seq(&ok(
        d,
        &[
            "report",
            "publish",
            "--date",
            "2024-12-20",
            "--compiled-at",
            "2024-12-20T10:00",
        ],
    ));
    ok(
        d,
        &[
            "note",
            "--section",
            "summary",
            HOSTILE,
            "--date",
            "2024-12-27",
        ],
    );
    let first = published_seq(&ok(
        d,
        &[
            "report",
            "publish",
            "--date",
            "2024-12-27",
            "--compiled-at",
            "2024-12-27T10:00",
        ],
    ));
    ok(
        d,
        &[
            "note",
            "--section",
            "summary",
            "Ett tillägg.",
            "--date",
            "2024-12-27",
        ],
    );
    let second = published_seq(&ok(
        d,
        &[
            "report",
            "publish",
            "--date",
            "2024-12-27",
            "--compiled-at",
            "2024-12-27T14:00",
        ],
    ));

    let out = d.join("intranat");
    let said = ok(d, &["report", "export-site", out.to_str().expect("UTF-8")]);
    assert!(said.contains("3 report pages"), "{said}");
    let files = files_in(&out);
    for seq in [earlier, first, second] {
        for ext in ["html", "md", "pdf"] {
            assert!(
                files.contains(&PathBuf::from(format!("rapporter/{seq}.{ext}"))),
                "{files:?}"
            );
        }
    }
    assert!(files.contains(Path::new("index.html")) && files.contains(Path::new("rapporter.atom")));

    // Each page is the published file byte for byte (report publish wrote them to reports/).
    let published: Vec<PathBuf> = std::fs::read_dir(d.join("reports"))
        .expect("reports/")
        .map(|e| e.expect("entry").path())
        .collect();
    let exported = std::fs::read(out.join(format!("rapporter/{second}.html"))).expect("reads");
    assert!(
        published
            .iter()
            .any(|p| std::fs::read(p).expect("reads") == exported),
        "the exported page is not the published file"
    );
    let index = std::fs::read_to_string(out.join("index.html")).expect("reads");
    assert!(!index.contains("<script>"), "{index}");
    assert!(
        index.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{index}"
    );
    assert!(
        index.contains("version 2"),
        "the standing version is named: {index}"
    );

    // Served as plain files, every link from the index, the pages and the feed answers 200.
    let Some(server) = StaticServer::start(&out) else {
        return;
    };
    let mut seen = BTreeSet::new();
    let mut todo = VecDeque::from([("/".to_owned(), "/index.html".to_owned())]);
    while let Some((from, path)) = todo.pop_front() {
        if !seen.insert(path.clone()) {
            continue;
        }
        assert!(seen.len() < 200, "the crawl is bounded");
        let (status, body) = server.get(if path == "/index.html" { "/" } else { &path });
        assert_eq!(status, 200, "{path} (linked from {from})");
        if path.ends_with(".html") || path.ends_with(".atom") {
            for href in local_links(&String::from_utf8_lossy(&body)) {
                todo.push_back((path.clone(), resolve(&path, &href)));
            }
        }
    }
    for seq in [earlier, first, second] {
        assert!(seen.contains(&format!("/rapporter/{seq}.html")), "{seen:?}");
    }
    assert!(
        seen.contains(&format!("/rapporter/{second}.md")),
        "{seen:?}"
    );
    assert!(seen.contains("/rapporter.atom"), "{seen:?}");
    // Every version's PDF is linked (from the index and the feed) and served as published.
    for seq in [earlier, first, second] {
        let path = format!("/rapporter/{seq}.pdf");
        assert!(seen.contains(&path), "{path} not linked: {seen:?}");
        let (_, body) = server.get(&path);
        assert!(body.starts_with(b"%PDF-"), "{path}");
    }
    let exported_pdf = std::fs::read(out.join(format!("rapporter/{second}.pdf"))).expect("reads");
    assert!(
        published
            .iter()
            .any(|p| std::fs::read(p).expect("reads") == exported_pdf),
        "the exported PDF is the published file"
    );
    drop(server);

    // Exporting again replaces the earlier export; a folder that is not one is left alone.
    ok(d, &["report", "export-site", out.to_str().expect("UTF-8")]);
    assert_eq!(files_in(&out), files);
    let foreign = d.join("annat");
    std::fs::create_dir(&foreign).expect("mkdir");
    std::fs::write(foreign.join("viktig.txt"), "behåll").expect("writes");
    let refused = run(
        d,
        &["report", "export-site", foreign.to_str().expect("UTF-8")],
    );
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("neither empty nor an earlier export")
    );
    assert_eq!(
        files_in(&foreign),
        BTreeSet::from([PathBuf::from("viktig.txt")])
    );
}

#[test]
fn an_export_is_refused_whole_when_a_published_report_does_not_rebuild() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    ok(d, &["init"]);
    // Published with templates of its own: without them its bytes cannot be checked.
    ok(d, &["templates", "init", "mallar"]);
    let file = d.join("mallar/report.html.hbs");
    let text = std::fs::read_to_string(&file).expect("reads");
    std::fs::write(&file, text.replace("<main>", "<main class=\"egen\">")).expect("writes");
    let seq = published_seq(&ok(
        d,
        &[
            "report",
            "publish",
            "--date",
            "2024-12-27",
            "--compiled-at",
            "2024-12-27T10:00",
            "--templates",
            "mallar",
        ],
    ));
    let out = d.join("intranat");
    let refused = run(d, &["report", "export-site", out.to_str().expect("UTF-8")]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains(&format!("event {seq} (2024-12-27)")),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was exported"), "{stderr}");
    assert!(!out.exists(), "nothing is written");
    let leftovers: Vec<_> = std::fs::read_dir(d)
        .expect("reads")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // With the templates it was published with, it is checked and exported.
    ok(
        d,
        &[
            "report",
            "export-site",
            out.to_str().expect("UTF-8"),
            "--templates",
            "mallar",
        ],
    );
    let page = std::fs::read_to_string(out.join(format!("rapporter/{seq}.html"))).expect("reads");
    assert!(page.contains("<main class=\"egen\">"));
}

#[test]
fn an_export_does_not_reuse_or_follow_folders_left_beside_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    ok(d, &["init"]);
    ok(
        d,
        &[
            "report",
            "publish",
            "--date",
            "2024-12-27",
            "--compiled-at",
            "2024-12-27T10:00",
        ],
    );
    // What a killed run leaves, or what someone who can write the parent plants: a staging
    // folder holding a page never checked, a symlink where a staging folder would go, and a
    // set-aside folder that is not empty.
    let planted = d.join(".intranat.partial-1");
    std::fs::create_dir_all(planted.join("rapporter")).expect("creates");
    std::fs::write(planted.join("rapporter/999.html"), "<script>x</script>").expect("writes");
    let elsewhere = d.join("elsewhere");
    std::fs::create_dir(&elsewhere).expect("creates");
    std::os::unix::fs::symlink(&elsewhere, d.join(".intranat.partial-2")).expect("links");
    std::fs::create_dir_all(d.join(".intranat.old-1/x")).expect("creates");
    let out = d.join("intranat");
    for _ in 0..2 {
        ok(d, &["report", "export-site", out.to_str().expect("UTF-8")]);
        let meta = std::fs::symlink_metadata(&out).expect("exported");
        assert!(meta.is_dir() && !meta.file_type().is_symlink());
        assert!(!out.join("rapporter/999.html").exists());
        assert_eq!(std::fs::read_dir(&elsewhere).expect("reads").count(), 0);
    }
    let mut beside: Vec<_> = std::fs::read_dir(d)
        .expect("reads")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".intranat."))
        .collect();
    beside.sort();
    assert_eq!(
        beside,
        [
            ".intranat.old-1",
            ".intranat.partial-1",
            ".intranat.partial-2"
        ],
        "the export leaves nothing of its own beside the folder and touches nothing planted"
    );
}
