//! The API against its own OpenAPI description: `lagesbild serve` on a loopback port with a
//! temporary database and a token, and schemathesis (PyPI) generating requests from
//! `/api/openapi.json`, checking that none gets a 500 and every response (status, content type,
//! body) is one the description documents. `.ci/run` installs schemathesis; under `CI=true` a
//! missing one fails the test, elsewhere it is skipped with a notice.
//! `LAGESBILD_SCHEMATHESIS` names the program if it is not `schemathesis` on PATH;
//! `LAGESBILD_SCHEMATHESIS_EXAMPLES` bounds the examples per operation (default 25).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn schemathesis() -> Option<String> {
    let program = std::env::var("LAGESBILD_SCHEMATHESIS").unwrap_or_else(|_| "schemathesis".into());
    let found = Command::new(&program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    found.then_some(program)
}

#[test]
fn the_api_answers_every_generated_request_as_its_openapi_description_says() {
    let Some(program) = schemathesis() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "schemathesis is not installed (pip install schemathesis); CI must run this test"
        );
        eprintln!("notice: schemathesis is not installed; skipping the API schema run");
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("schemathesis.db");
    let bin = env!("CARGO_BIN_EXE_lagesbild");
    let init = Command::new(bin)
        .arg("--db")
        .arg(&db)
        .arg("init")
        .output()
        .expect("init runs");
    assert!(init.status.success(), "{init:?}");
    let made = Command::new(bin)
        .args(["auth", "new-token"])
        .output()
        .expect("new-token runs");
    let made = String::from_utf8(made.stdout).expect("UTF-8");
    let field = |name: &str| {
        made.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .expect("new-token prints token and sha256")
    };
    let (token, digest) = (field("token:"), field("sha256:"));
    let auth = dir.path().join("auth.toml");
    std::fs::write(
        &auth,
        format!("[[token]]\nname = \"schemathesis\"\nsha256 = \"{digest}\"\n"),
    )
    .expect("writes the auth file");

    let mut child = Command::new(bin)
        .arg("--db")
        .arg(&db)
        .args(["serve", "--addr", "127.0.0.1:0", "--auth"])
        .arg(&auth)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve starts");
    let stdout = child.stdout.take().expect("stdout");
    let server = Server(child);
    let first = BufReader::new(stdout)
        .lines()
        .map(|l| l.expect("reads"))
        .find(|l| l.starts_with("lagesbild serves "))
        .expect("the address line");
    let base = first
        .trim_start_matches("lagesbild serves ")
        .split('/')
        .take(3)
        .collect::<Vec<_>>()
        .join("/");

    let examples = std::env::var("LAGESBILD_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "25".into());
    let run = Command::new(&program)
        .args(["run", &format!("{base}/api/openapi.json"), "--url", &base])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        .args(["--max-examples", &examples, "--seed", "16", "--workers", "1"])
        .env("NO_COLOR", "1")
        // Its cache and reports go to the temporary folder, not the source tree.
        .current_dir(dir.path())
        .output()
        .expect("schemathesis runs");
    drop(server);
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        run.status.success(),
        "schemathesis found failures:\n{report}"
    );
    assert!(report.contains("passed"), "{report}");
    // What was run, for `--nocapture`.
    for line in report
        .lines()
        .filter(|l| l.contains("generated") || l.contains("Seed"))
    {
        eprintln!("schemathesis: {}", line.trim());
    }
}
