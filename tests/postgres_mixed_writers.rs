//! Writers of both front ends at once on one PostgreSQL log: four `lagesbild import
//! --batch-size` processes and four clients posting batches to `POST /api/events` of a
//! `lagesbild serve --db postgres://…`, each on connections of its own, thousands of events in
//! all, two of each kind sharing a stream. Every event must be in the log once, the sequence
//! gapless, every stream's versions gapless, each batch (as its writer was told: the CLI's
//! "committed lines … events X-Y", the API's outcomes) contiguous and holding exactly its
//! events, the two kinds of writer interleaved, and `verify` must pass.
//!
//! The server is `LAGESBILD_TEST_PG` (a fresh database); without it the test says so loudly and
//! passes, except under `CI=true`, where it fails. `tools/with-postgres cargo test --test
//! postgres_mixed_writers` runs it against a throwaway cluster.

mod reliability_support;

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lagesbild_store::testing::{fresh_database, postgres_test_url};
use lagesbild_store::{Filter, PostgresStore, scan};
use reliability_support::{BIN, from_output, path_str, slow, synthetic_event};

const CLI_WRITERS: usize = 4;
const WEB_WRITERS: usize = 4;
/// The CLI's batch size; the web clients send batches of 1 to 25.
const CLI_BATCH: usize = 10;

/// The server process, stopped when the test ends however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn lagesbild(db: &str, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("LAGESBILD_DB")
        .env_remove("LAGESBILD_NOW");
    command
}

/// A new token and the auth file that accepts it, in `dir`.
fn token_and_auth(dir: &std::path::Path) -> (String, std::path::PathBuf) {
    let made = Command::new(BIN)
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
    let auth = dir.join("auth.toml");
    std::fs::write(
        &auth,
        format!("[[token]]\nname = \"skrivare\"\nsha256 = \"{digest}\"\n"),
    )
    .expect("writes the auth file");
    (token, auth)
}

/// Starts `serve` on a loopback port; the server and its `host:port`.
fn serve(db: &str, auth: &std::path::Path) -> (Server, String) {
    let mut child = lagesbild(db, &["serve", "--addr", "127.0.0.1:0", "--auth"])
        .arg(auth)
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
    let address = first
        .trim_start_matches("lagesbild serves http://")
        .split('/')
        .next()
        .expect("host:port")
        .to_owned();
    (server, address)
}

/// Posts `body` to `/api/events` with the token; the status and the body of the answer.
fn post_events(address: &str, token: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).expect("connects to the server");
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .expect("a read timeout");
    write!(
        stream,
        "POST /api/events HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("sends the request");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("reads the answer");
    let response = String::from_utf8(response).expect("an answer in UTF-8");
    let (head, body) = response
        .split_once("\r\n\r\n")
        .expect("an answer with headers");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, body)
}

/// The body of a chunked answer.
fn dechunk(mut rest: &str) -> String {
    let mut body = String::new();
    loop {
        let (size, after) = rest.split_once("\r\n").expect("a chunk size");
        let size = usize::from_str_radix(size.trim(), 16).expect("a hexadecimal chunk size");
        if size == 0 {
            return body;
        }
        body.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
}

/// One web writer: posts its events in batches of 1 to 25, retrying a batch answered 503 (the
/// log busy: nothing was written) as it is; the seqs each batch was given, as the API said.
fn web_writer(address: &str, token: &str, prefix: &str, stream: &str, count: usize) -> Vec<Batch> {
    let mut batches = Vec::new();
    let mut next = 1;
    let mut round = 0;
    while next <= count {
        let size = (1 + (round * 7 + prefix.len()) % 25).min(count - next + 1);
        let indexes: Vec<usize> = (next..next + size).collect();
        let body = format!(
            "[{}]",
            indexes
                .iter()
                .map(|i| synthetic_event(prefix, *i, stream))
                .collect::<Vec<_>>()
                .join(",")
        );
        let started = Instant::now();
        let answer = loop {
            let (status, answer) = post_events(address, token, &body);
            match status {
                201 => break answer,
                503 if started.elapsed() < Duration::from_secs(120) => continue,
                other => panic!("{prefix}: POST answered {other}: {answer}"),
            }
        };
        let answer: serde_json::Value = serde_json::from_str(&answer).expect("a JSON answer");
        let outcomes = answer["outcomes"]
            .as_array()
            .unwrap_or_else(|| panic!("{prefix}: no outcomes in {answer}"));
        assert_eq!(outcomes.len(), size, "{prefix}: one outcome per event");
        let seqs = outcomes
            .iter()
            .map(|o| {
                assert_eq!(o["appended"], true, "{prefix}: each event is new: {o}");
                o["seq"].as_u64().expect("a seq")
            })
            .collect();
        batches.push(Batch {
            keys: indexes.iter().map(|i| key(prefix, *i)).collect(),
            seqs,
        });
        next += size;
        round += 1;
    }
    batches
}

/// A batch as its writer was told: its events' keys in order, and the seqs they were given.
struct Batch {
    keys: Vec<String>,
    seqs: Vec<u64>,
}

fn key(prefix: &str, index: usize) -> String {
    format!("{prefix}-{index:06}")
}

/// The batches a CLI import reported, from its "committed lines A-B of FILE: events X-Y" lines.
fn cli_batches(prefix: &str, stdout: &str) -> Vec<Batch> {
    stdout
        .lines()
        .filter_map(|line| line.strip_prefix("committed lines "))
        .map(|line| {
            let (lines, events) = line
                .split_once(": events ")
                .unwrap_or_else(|| panic!("{prefix}: a batch without new events: {line}"));
            let lines = lines.split(' ').next().expect("A-B");
            let (first, last) = lines.split_once('-').expect("A-B");
            let (from, to) = events.split_once('-').expect("X-Y");
            let (first, last): (usize, usize) = (
                first.parse().expect("a line"),
                last.parse().expect("a line"),
            );
            let (from, to): (u64, u64) = (from.parse().expect("a seq"), to.parse().expect("a seq"));
            Batch {
                keys: (first..=last).map(|i| key(prefix, i)).collect(),
                seqs: (from..=to).collect(),
            }
        })
        .collect()
}

#[test]
fn cli_and_web_writers_at_once_keep_the_postgres_log_gapless_and_each_batch_whole() {
    let Some(server_url) = postgres_test_url("the mixed CLI and web writers") else {
        return;
    };
    let per_writer = if slow() { 2_500 } else { 1_000 };
    let db = fresh_database(&server_url, "lagesbild_mixed");
    from_output(
        lagesbild(&db, &["init", "--empty"])
            .output()
            .expect("init runs"),
    )
    .ok();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let (token, auth) = token_and_auth(dir.path());
    let (_server, address) = serve(&db, &auth);
    // Two writers of each kind share a stream, so stream versions are contended across them.
    let stream = |kind: &str, writer: usize| {
        if writer < 2 {
            "delad".to_owned()
        } else {
            format!("{kind}{writer}")
        }
    };

    let started = Instant::now();
    let cli: Vec<(String, Child)> = (0..CLI_WRITERS)
        .map(|writer| {
            let prefix = format!("cli{writer}");
            let mut text = String::new();
            for index in 1..=per_writer {
                text.push_str(&synthetic_event(&prefix, index, &stream("cli", writer)));
                text.push('\n');
            }
            let file = dir.path().join(format!("{prefix}.jsonl"));
            std::fs::write(&file, text).expect("writes the events");
            let child = lagesbild(
                &db,
                &[
                    "import",
                    "--batch-size",
                    &CLI_BATCH.to_string(),
                    path_str(&file),
                ],
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("an import starts");
            (prefix, child)
        })
        .collect();
    let web: Vec<_> = (0..WEB_WRITERS)
        .map(|writer| {
            let (address, token) = (address.clone(), token.clone());
            let prefix = format!("web{writer}");
            let stream = stream("web", writer);
            std::thread::spawn(move || {
                let batches = web_writer(&address, &token, &prefix, &stream, per_writer);
                (prefix, batches)
            })
        })
        .collect();
    let mut batches: Vec<(String, Vec<Batch>)> = Vec::new();
    for (prefix, child) in cli {
        let output = from_output(child.wait_with_output().expect("the import ends")).ok();
        batches.push((prefix.clone(), cli_batches(&prefix, &output.stdout)));
    }
    for writer in web {
        batches.push(writer.join().expect("a web writer ends"));
    }
    let elapsed = started.elapsed();
    let total = (CLI_WRITERS + WEB_WRITERS) * per_writer;
    eprintln!(
        "{total} events from {CLI_WRITERS} imports and {WEB_WRITERS} API clients in {:.1} s",
        elapsed.as_secs_f64()
    );

    // The log: every event once, the sequence and every stream's versions gapless.
    let store = PostgresStore::open(&db).expect("opens the log");
    let events: Vec<_> = scan(&store, &Filter::default())
        .collect::<Result<_, _>>()
        .expect("reads the log");
    assert_eq!(events.len(), total, "every event is in the log once");
    let mut at: HashMap<String, u64> = HashMap::new();
    let mut versions: HashMap<String, u64> = HashMap::new();
    for (index, event) in events.iter().enumerate() {
        assert_eq!(event.seq, index as u64 + 1, "the sequence has a gap");
        let key = event
            .event
            .key
            .as_ref()
            .expect("every event has a key")
            .to_string();
        assert!(
            at.insert(key.clone(), event.seq).is_none(),
            "key {key} is in the log twice"
        );
        let version = versions.entry(event.event.stream.to_string()).or_insert(0);
        *version += 1;
        assert_eq!(
            event.stream_version, *version,
            "stream {} has a gap at event {}",
            event.event.stream, event.seq
        );
    }

    // Each batch as its writer was told: contiguous, holding exactly its events, in order, and
    // every event of every writer in one of them.
    let mut first_and_last: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for (prefix, writer_batches) in &batches {
        let mut told = 0;
        for batch in writer_batches {
            assert_eq!(
                batch.keys.len(),
                batch.seqs.len(),
                "{prefix}: a batch's size"
            );
            assert!(
                batch.seqs.windows(2).all(|pair| pair[1] == pair[0] + 1),
                "{prefix}: batch {:?} is not contiguous",
                batch.seqs
            );
            for (key, seq) in batch.keys.iter().zip(&batch.seqs) {
                assert_eq!(at.get(key), Some(seq), "{prefix}: {key} is not at {seq}");
            }
            told += batch.keys.len();
        }
        assert_eq!(
            told, per_writer,
            "{prefix}: every event in a reported batch"
        );
        let seqs = writer_batches.iter().flat_map(|b| b.seqs.iter().copied());
        first_and_last.insert(
            prefix,
            (
                seqs.clone().min().expect("a batch"),
                seqs.max().expect("a batch"),
            ),
        );
    }
    // The two front ends wrote at the same time: their events interleave in the log.
    let span = |kind: &str| {
        let spans = first_and_last.iter().filter(|(p, _)| p.starts_with(kind));
        let first = spans
            .clone()
            .map(|(_, (first, _))| *first)
            .min()
            .expect("writers");
        let last = spans.map(|(_, (_, last))| *last).max().expect("writers");
        (first, last)
    };
    let (cli_first, cli_last) = span("cli");
    let (web_first, web_last) = span("web");
    assert!(
        cli_first < web_last && web_first < cli_last,
        "the imports (events {cli_first}-{cli_last}) and the API clients ({web_first}-{web_last}) did not write at the same time"
    );

    eprintln!(
        "imports wrote within events {cli_first}-{cli_last}, API clients within {web_first}-{web_last}"
    );
    let verified = from_output(lagesbild(&db, &["verify"]).output().expect("verify runs")).ok();
    assert!(
        verified.stdout.contains(&format!("head: {total}:")),
        "verify reports the head: {}",
        verified.stdout
    );
}
