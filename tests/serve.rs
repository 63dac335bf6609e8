//! `lagesbild serve` as a process: it answers `/healthz`, logs the request, and on SIGTERM
//! stops cleanly with exit code 0. Read-only without `--auth`, saying so at start.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn serve_answers_health_logs_requests_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_lagesbild"))
        .arg("--db")
        .arg(dir.path().join("serve.db"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = loop {
        let line = lines.next().expect("an address line").expect("reads");
        if line.starts_with("lagesbild serves ") {
            break line;
        }
    };
    assert!(first.contains("read-only"), "{first}");
    let address = first
        .trim_start_matches("lagesbild serves http://")
        .split('/')
        .next()
        .expect("host:port")
        .to_owned();

    let mut stream = TcpStream::connect(&address).expect("connects");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("sends");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("reads");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"head_seq\":108"), "{response}");

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let started = Instant::now();
    let exit = loop {
        if let Some(exit) = child.try_wait().expect("waits") {
            break exit;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "still running after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
    let mut log = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut log)
        .expect("reads the log");
    assert!(log.contains("/healthz"), "the request is logged: {log}");
    assert!(log.contains("status=200"), "with its status: {log}");
    assert!(log.contains("shutting down"), "{log}");
}
