//! A closed standard output (`lagesbild verify | head -1`) ends every command quietly with
//! status 141, as for a Unix tool ended by SIGPIPE, never with a panic and a backtrace.

use std::process::{Command, Stdio};

#[test]
fn a_closed_stdout_ends_each_command_quietly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("pipe.db");
    let init = Command::new(env!("CARGO_BIN_EXE_lagesbild"))
        .args(["--db"])
        .arg(&db)
        .arg("init")
        .output()
        .expect("runs");
    assert!(init.status.success(), "{init:?}");
    let commands: [&[&str]; 6] = [
        &["verify"],
        &["log"],
        &["log", "--format", "jsonl"],
        &["export"],
        &["timeline"],
        &["show", "1"],
    ];
    for args in commands {
        // The read end is closed before the command starts, so its first write fails.
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let output = Command::new(env!("CARGO_BIN_EXE_lagesbild"))
            .arg("--db")
            .arg(&db)
            .args(args)
            .stdout(Stdio::from(writer))
            .stderr(Stdio::piped())
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(141), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?} printed: {stderr}");
    }
}
