//! Signed tree heads and Merkle proofs on the command line: `keygen`, `checkpoint`, `proof
//! inclusion|consistency`, and what `verify`, `export` and `restore` do with tree heads
//! (`--pubkey`, `--against`, `--evidence`). The tree and the formats are `lagesbild-merkle`'s;
//! the stored nodes and heads the store's.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use lagesbild_merkle::{
    ConsistencyProof, Frontier, InclusionProof, LeafPreimage, SignedTreeHead, SigningKey, TreeHead,
    VerifyingKey, check_consistency, check_inclusion, envelope_digest, public_key_from_pem,
    public_key_to_pem, signing_key_from_pem, signing_key_from_seed, signing_key_to_pem,
    verify_consistency,
};
use lagesbild_model::StoredEvent;
use lagesbild_store::{EventLog, EventRef, Store, StoreError, StoreLocation, event_leaf_hash};

use crate::db;

/// The signing key, named by flag or environment; a command that signs reads it from there.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct SigningKeyArg {
    /// The Ed25519 private key that signs tree heads (PKCS#8 PEM, from `lagesbild keygen`);
    /// keep it outside the database.
    #[arg(
        long = "signing-key",
        env = "LAGESBILD_SIGNING_KEY",
        value_name = "FILE"
    )]
    pub signing_key_file: Option<PathBuf>,
}

impl SigningKeyArg {
    pub fn load(&self) -> Result<Option<SigningKey>> {
        self.signing_key_file
            .as_deref()
            .map(load_signing_key)
            .transpose()
    }
}

/// The public key that checks tree heads, named by flag or pinned in the environment.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct PubkeyArg {
    /// The Ed25519 public key of the tree heads (SPKI PEM, from `lagesbild keygen`): every
    /// signed tree head must verify with it.
    #[arg(long = "pubkey", env = "LAGESBILD_PUBKEY", value_name = "FILE")]
    pub pubkey_file: Option<PathBuf>,
}

impl PubkeyArg {
    pub fn load(&self) -> Result<Option<VerifyingKey>> {
        self.pubkey_file.as_deref().map(load_public_key).transpose()
    }
}

fn load_signing_key(path: &Path) -> Result<SigningKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the signing key {}", path.display()))?;
    signing_key_from_pem(&text).with_context(|| format!("{}", path.display()))
}

fn load_public_key(path: &Path) -> Result<VerifyingKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the public key {}", path.display()))?;
    public_key_from_pem(&text).with_context(|| format!("{}", path.display()))
}

#[derive(clap::Args)]
pub struct KeygenArgs {
    /// Write the key pair to FILE.key (private, readable by its owner only) and FILE.pub.
    #[arg(short, long, default_value = "lagesbild-signing")]
    output: PathBuf,
}

/// `lagesbild keygen`: a new Ed25519 key pair from the system's randomness.
pub fn keygen(args: &KeygenArgs) -> Result<ExitCode> {
    let secret = sibling(&args.output, ".key");
    let public = sibling(&args.output, ".pub");
    for file in [&secret, &public] {
        if file.exists() {
            bail!("{} exists; nothing was written", file.display());
        }
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let key = signing_key_from_seed(&seed);
    write_private(&secret, &signing_key_to_pem(&key))?;
    std::fs::write(&public, public_key_to_pem(&key.verifying_key()))
        .with_context(|| format!("cannot write {}", public.display()))?;
    println!(
        "wrote {} (keep it secret and outside the database)",
        secret.display()
    );
    println!(
        "wrote {} (key id {})",
        public.display(),
        lagesbild_merkle::key_id(&key.verifying_key())
    );
    Ok(ExitCode::SUCCESS)
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Milliseconds since the epoch, now or at `LAGESBILD_NOW` (tests fix it).
fn now_ms() -> Result<u64> {
    let now = match std::env::var(lagesbild_app::clock::NOW_VARIABLE) {
        Ok(text) => chrono::DateTime::parse_from_rfc3339(&text)
            .with_context(|| format!("LAGESBILD_NOW={text:?} is not RFC 3339"))?
            .with_timezone(&chrono::Utc),
        Err(_) => chrono::Utc::now(),
    };
    Ok(u64::try_from(now.timestamp_millis()).unwrap_or(0))
}

/// Whether the stored tree at `size` with `root` extends `head`: a consistency proof from the
/// stored nodes, verified.
fn extends(store: &dyn Store, head: &SignedTreeHead, size: u64, root: &[u8; 32]) -> bool {
    let Ok(head_root) = head.root_hash() else {
        return false;
    };
    if head.size > size {
        return false;
    }
    match store.tree_consistency_path(head.size, size) {
        Ok(path) => verify_consistency(head.size, size, &head_root, root, &path).is_ok(),
        Err(_) => false,
    }
}

/// Catches the tree up, checks it against the last signed tree head (a consistency proof from
/// the stored nodes; a node table that fails it is rebuilt from the log first) and signs and
/// stores a head of the whole log. Refuses to sign a log that does not extend its last head.
pub fn sign_tree_head(store: &mut dyn Store, key: &SigningKey) -> Result<SignedTreeHead> {
    let mut state = store.tree_catch_up()?;
    if let Some(last) = store.tree_heads()?.pop()
        && !extends(store, &last, state.size, &state.root)
    {
        tracing::warn!("the stored tree does not extend the last signed tree head; rebuilding it");
        state = store.tree_rebuild()?;
        if !extends(store, &last, state.size, &state.root) {
            bail!(
                "the log ({} events) does not extend the last signed tree head (size {}, root {}): it was cut off or rewritten; nothing was signed (run verify)",
                state.size,
                last.size,
                last.root
            );
        }
    }
    let head = TreeHead {
        size: state.size,
        root: state.root,
        timestamp_ms: now_ms()?,
    }
    .sign(key);
    store.insert_tree_head(&head)?;
    Ok(head)
}

#[derive(clap::Args)]
pub struct CheckpointArgs {
    #[command(flatten)]
    key: SigningKeyArg,
}

/// `lagesbild checkpoint`: signs a tree head of the whole log, stores it and prints it as one
/// line of JSON, to be kept elsewhere.
pub fn checkpoint(location: &StoreLocation, args: &CheckpointArgs) -> Result<ExitCode> {
    let Some(key) = args.key.load()? else {
        bail!(
            "checkpoint needs a signing key: --signing-key FILE or LAGESBILD_SIGNING_KEY (make one with `lagesbild keygen`)"
        );
    };
    let mut store = db::open(location)?;
    let head = sign_tree_head(&mut store, &key)?;
    println!("{}", serde_json::to_string(&head)?);
    eprintln!(
        "signed the tree head of {} events (root {}); keep the line above outside the database and check the log against it with `lagesbild verify --against FILE`",
        head.size, head.root
    );
    Ok(ExitCode::SUCCESS)
}

/// After `report publish`: a tree head covering the publication, when a key is configured.
pub fn sign_after_publish(store: &mut dyn Store, key: &SigningKeyArg) -> Result<()> {
    if let Some(key) = key.load()? {
        let head = sign_tree_head(store, &key)?;
        println!("signed tree head: {} events, root {}", head.size, head.root);
    }
    Ok(())
}

/// For `serve --sth-interval`: signs a tree head now if the log grew since the last one.
pub fn sign_if_grown(location: &StoreLocation, key: &SigningKey) -> Result<Option<SignedTreeHead>> {
    let mut store = db::open(location)?;
    let size = store.head()?.seq;
    if store.tree_heads()?.last().is_some_and(|h| h.size == size) {
        return Ok(None);
    }
    sign_tree_head(&mut store, key).map(Some)
}

/// `serve --sth-interval`: a signed tree head at the start and every `interval`, when the log
/// grew; a failure is logged and tried again at the next tick.
pub async fn sign_on_schedule(
    location: StoreLocation,
    key: SigningKey,
    interval: std::time::Duration,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let (location, key) = (location.clone(), key.clone());
        match tokio::task::spawn_blocking(move || sign_if_grown(&location, &key)).await {
            Ok(Ok(Some(head))) => {
                tracing::info!(size = head.size, root = %head.root, "signed a tree head")
            }
            Ok(Ok(None)) => {}
            Ok(Err(error)) => tracing::error!("cannot sign a tree head: {error:#}"),
            Err(error) => tracing::error!("the tree head task failed: {error}"),
        }
    }
}

#[derive(clap::Args)]
pub struct ProofArgs {
    #[command(subcommand)]
    kind: ProofKind,
}

#[derive(clap::Subcommand)]
enum ProofKind {
    /// That an event (by sequence number or key) is in the log: the event, its leaf, the
    /// path and the tree head.
    Inclusion {
        #[arg(value_name = "SEQ|KEY")]
        event: String,
        /// The tree size to prove it in (default: the newest signed tree head that holds the
        /// event, else the whole log).
        #[arg(long)]
        size: Option<u64>,
    },
    /// That the log at SIZE2 extends the log at SIZE1.
    Consistency { size1: u64, size2: u64 },
}

pub fn proof(location: &StoreLocation, args: &ProofArgs) -> Result<ExitCode> {
    let mut store = db::open(location)?;
    let state = store.tree_catch_up()?;
    let json = match &args.kind {
        ProofKind::Inclusion { event, size } => {
            let which: EventRef = event.parse().expect("infallible");
            let Some(found) = store.event(&which)? else {
                bail!("no event {event:?} in {}", location);
            };
            let seq = &found.seq;
            let size = match size {
                Some(size) => *size,
                None => store
                    .tree_heads()?
                    .into_iter()
                    .rev()
                    .find(|h| h.size >= *seq && h.size <= state.size)
                    .map_or(state.size, |h| h.size),
            };
            check_size(size, state.size)?;
            if *seq == 0 || *seq > size {
                bail!("event {seq} is not in a tree of {size} events");
            }
            let proof = with_rebuild(&mut store, |store| inclusion(store, *seq, size))?;
            if proof.tree_head.is_none() {
                eprintln!(
                    "note: no tree head of {size} events was signed; the proof's root is unsigned (sign one with `lagesbild checkpoint`)"
                );
            }
            serde_json::to_string_pretty(&proof)?
        }
        ProofKind::Consistency { size1, size2 } => {
            check_size(*size2, state.size)?;
            if size1 > size2 {
                bail!("the first size ({size1}) must not be larger than the second ({size2})");
            }
            let proof = with_rebuild(&mut store, |store| consistency(store, *size1, *size2))?;
            serde_json::to_string_pretty(&proof)?
        }
    };
    println!("{json}");
    Ok(ExitCode::SUCCESS)
}

fn check_size(size: u64, log: u64) -> Result<()> {
    if size > log {
        bail!("the log holds {log} events, fewer than {size}");
    }
    Ok(())
}

/// Makes a proof and checks it before it is printed; a proof that fails (a damaged node table)
/// is made again from a tree rebuilt from the log, and refused if it still fails.
fn with_rebuild<P>(
    store: &mut dyn Store,
    make: impl Fn(&dyn Store) -> Result<(P, Result<(), String>)>,
) -> Result<P> {
    let (proof, check) = make(store)?;
    if check.is_ok() {
        return Ok(proof);
    }
    tracing::warn!("a proof from the stored tree did not verify; rebuilding the tree from the log");
    store.tree_rebuild()?;
    let (proof, check) = make(store)?;
    check
        .map_err(|e| anyhow::anyhow!("the proof does not verify even from a rebuilt tree: {e}"))?;
    Ok(proof)
}

fn inclusion(
    store: &dyn Store,
    seq: u64,
    size: u64,
) -> Result<(InclusionProof, Result<(), String>)> {
    let event = store
        .event(&EventRef::Seq(seq))?
        .with_context(|| format!("no event {seq}"))?;
    let envelope = event.canonical_envelope();
    let path = store.tree_inclusion_path(seq, size)?;
    let root = store.tree_root(size)?;
    let proof = InclusionProof {
        proof: "inclusion".into(),
        leaf_index: seq - 1,
        tree_size: size,
        root: hex::encode(root),
        tree_head: store.tree_head_of_size(size)?,
        leaf: LeafPreimage {
            seq,
            envelope_sha256: hex::encode(envelope_digest(&envelope)),
            chain_hash: event.hash.clone(),
        },
        envelope: Some(envelope),
        prev_hash: Some(event.prev_hash.clone()),
        path: path.iter().map(hex::encode).collect(),
    };
    let check = check_inclusion(&proof, None).map_err(|e| e.to_string());
    Ok((proof, check))
}

fn consistency(
    store: &dyn Store,
    first: u64,
    second: u64,
) -> Result<(ConsistencyProof, Result<(), String>)> {
    let path = store.tree_consistency_path(first, second)?;
    let proof = ConsistencyProof {
        proof: "consistency".into(),
        first_size: first,
        first_root: hex::encode(store.tree_root(first)?),
        first_tree_head: store.tree_head_of_size(first)?,
        second_size: second,
        second_root: hex::encode(store.tree_root(second)?),
        second_tree_head: store.tree_head_of_size(second)?,
        path: path.iter().map(hex::encode).collect(),
    };
    let check = check_consistency(&proof, None).map_err(|e| e.to_string());
    Ok((proof, check))
}

#[derive(clap::Args, Default)]
pub struct VerifyTreeArgs {
    #[command(flatten)]
    pubkey: PubkeyArg,
    /// A signed tree head kept outside the database (what `checkpoint` printed): the log must
    /// still hold that many events with that root, i.e. extend it.
    #[arg(long, value_name = "STH.json")]
    against: Option<PathBuf>,
}

fn read_head(path: &Path) -> Result<SignedTreeHead> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(text.trim()).with_context(|| {
        format!(
            "{}: not a signed tree head as `lagesbild checkpoint` prints it",
            path.display()
        )
    })
}

/// `verify`'s part on the tree, after the chain passed: recomputes the tree from the log and
/// checks the stored nodes, every signed tree head (with `--pubkey`, its signature) and the head
/// given with `--against`. Prints what held; `Ok(false)` after printing what failed.
pub fn verify_tree(store: &dyn Store, args: &VerifyTreeArgs, quick: bool) -> Result<bool> {
    let key = args.pubkey.load()?;
    let against = args.against.as_deref().map(read_head).transpose()?;
    if let (Some(head), Some(key)) = (&against, &key)
        && let Err(error) = head.verify(key)
    {
        println!("FAILED: the tree head you kept: {error}");
        return Ok(false);
    }
    // The kept head is checked against the whole log, which the stored tree may not reach yet.
    let quick = quick && against.is_none();
    let checked = if quick {
        store.verify_tree_quick(key.as_ref())
    } else {
        store.verify_tree(key.as_ref(), &mut |_| {})
    };
    let report = match checked {
        Ok(report) => report,
        Err(StoreError::Broken { seq, reason }) => {
            println!("FAILED at event {seq}: {reason}");
            return Ok(false);
        }
        Err(other) => return Err(other.into()),
    };
    if key.is_some() && report.heads == 0 && against.is_none() {
        println!("FAILED: --pubkey given, but the database holds no signed tree head to check");
        return Ok(false);
    }
    if let Some(head) = &against {
        let root = head.root_hash().context("the tree head you kept")?;
        if head.size > report.size {
            println!(
                "FAILED at event {}: the log holds {} events, fewer than the {} of the tree head you kept: it was cut off or an older copy was restored",
                report.size + 1,
                report.size,
                head.size
            );
            return Ok(false);
        }
        // The log extends the kept head if a consistency proof from the head to the log's
        // root verifies, over a tree recomputed from the events (no stored node is trusted).
        let (prefix, path) = consistency_from(store, head.size, report.size)?;
        if prefix != root
            || verify_consistency(head.size, report.size, &root, &report.root, &path).is_err()
        {
            println!(
                "FAILED at event {}: the log's first {} events do not have the root of the tree head you kept ({}): the log was rewritten",
                head.size, head.size, head.root
            );
            return Ok(false);
        }
    }
    let signatures = if key.is_some() {
        "signatures checked"
    } else {
        "signatures not checked (no --pubkey)"
    };
    println!(
        "ok: Merkle tree of {} events {}, root {}; {} signed tree heads match the log, {signatures}",
        report.size,
        if quick {
            "stored and bound to the log (quick: not recomputed)"
        } else {
            "recomputed"
        },
        hex::encode(report.root),
        report.heads
    );
    if let Some(head) = &against {
        println!(
            "ok: the log extends the tree head you kept ({} events, root {})",
            head.size, head.root
        );
    }
    Ok(true)
}

/// The root of the first `first` events and the consistency path from there to `second`, over
/// a tree recomputed from the log in memory (`verify` opens the database read-only and trusts
/// no stored node).
fn consistency_from(
    store: &dyn Store,
    first: u64,
    second: u64,
) -> Result<([u8; 32], Vec<[u8; 32]>)> {
    let leaves = lagesbild_store::scan(
        store,
        &lagesbild_store::Filter {
            max_seq: Some(second),
            ..Default::default()
        },
    )
    .map(|event| Ok(event_leaf_hash(&event?)?))
    .collect::<Result<Vec<_>>>()?;
    let mut tree = lagesbild_merkle::MemoryTree::from_leaves(leaves);
    let root = lagesbild_merkle::root(&mut tree, first).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let path = lagesbild_merkle::consistency_path(&mut tree, first, second)
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok((root, path))
}

/// The export's line for one signed tree head.
pub fn head_line(head: &SignedTreeHead) -> serde_json::Value {
    serde_json::json!({ "signed_tree_head": head })
}

#[derive(clap::Args, Default)]
pub struct EvidenceArgs {
    /// Write an evidence bundle into this folder instead: the export (events.jsonl), the signed
    /// tree heads (tree-heads.json), the public key (public-key.pem) and the format's
    /// specification (log-format.md), for `tools/verify_evidence.py` or any other verifier.
    #[arg(long, value_name = "DIR", conflicts_with = "output")]
    pub evidence: Option<PathBuf>,
    #[command(flatten)]
    pubkey: PubkeyArg,
    #[command(flatten)]
    signing_key: SigningKeyArg,
}

const SPECIFICATION: &str = include_str!("../docs/log-format.md");

/// `export --evidence DIR`: the bundle; `write_export` writes the export itself.
pub fn export_evidence(
    store: &dyn Store,
    dir: &Path,
    args: &EvidenceArgs,
    write_export: impl FnOnce(&mut dyn Write) -> Result<u64>,
) -> Result<ExitCode> {
    let key = match (args.pubkey.load()?, args.signing_key.load()?) {
        (Some(key), _) => key,
        (None, Some(secret)) => secret.verifying_key(),
        (None, None) => bail!(
            "an evidence bundle needs the public key: --pubkey FILE (or LAGESBILD_PUBKEY), or the signing key it belongs to"
        ),
    };
    let heads = store.tree_heads()?;
    if let Some((i, error)) = heads
        .iter()
        .enumerate()
        .find_map(|(i, h)| h.verify(&key).err().map(|e| (i, e)))
    {
        bail!(
            "signed tree head {} does not verify with the given public key: {error}; no bundle was written",
            i + 1
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    if std::fs::read_dir(dir)?.next().is_some() {
        bail!(
            "{} is not empty; an evidence bundle needs an empty folder",
            dir.display()
        );
    }
    let events = dir.join("events.jsonl");
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(&events)
            .with_context(|| format!("cannot create {}", events.display()))?,
    );
    let count = write_export(&mut out)?;
    out.flush()?;
    std::fs::write(
        dir.join("tree-heads.json"),
        serde_json::to_string_pretty(&heads)? + "\n",
    )?;
    std::fs::write(dir.join("public-key.pem"), public_key_to_pem(&key))?;
    std::fs::write(dir.join("log-format.md"), SPECIFICATION)?;
    eprintln!(
        "wrote the evidence bundle {}: {count} events, {} signed tree heads, the public key and the specification",
        dir.display(),
        heads.len()
    );
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args, Default)]
pub struct RestoreHeadArgs {
    #[command(flatten)]
    pubkey: PubkeyArg,
}

/// The signed tree heads of an export being restored: read from its first lines, checked
/// against the roots of the events as they stream past (and with `--pubkey`, their signatures),
/// and refused when the export ends before the last of them.
pub struct HeadsInExport {
    name: String,
    key: Option<VerifyingKey>,
    heads: Vec<(usize, SignedTreeHead)>,
    frontier: Frontier,
    checked: usize,
    failed: bool,
}

impl HeadsInExport {
    pub fn new(name: &str, args: &RestoreHeadArgs) -> Result<HeadsInExport> {
        Ok(HeadsInExport {
            name: name.to_owned(),
            key: args.pubkey.load()?,
            heads: Vec::new(),
            frontier: Frontier::new(),
            checked: 0,
            failed: false,
        })
    }

    fn broken(&mut self, reason: String) -> StoreError {
        self.failed = true;
        StoreError::Broken { seq: 0, reason }
    }

    /// Takes the line at `at` if it is a signed tree head (`Ok(true)`).
    pub fn take(&mut self, at: usize, value: &serde_json::Value) -> Result<bool, StoreError> {
        let Some(head) = value.get("signed_tree_head") else {
            return Ok(false);
        };
        if self.frontier.size() > 0 {
            return Err(self.broken(format!(
                "{}:{at}: a signed tree head after the events; they come first in an export",
                self.name
            )));
        }
        let head: SignedTreeHead = serde_json::from_value(head.clone()).map_err(|e| {
            self.broken(format!(
                "{}:{at}: field \"signed_tree_head\": {e}",
                self.name
            ))
        })?;
        let checked = match &self.key {
            Some(key) => head.verify(key),
            None => head.head(),
        };
        if let Err(error) = checked {
            return Err(self.broken(format!("{}:{at}: signed tree head: {error}", self.name)));
        }
        self.heads.push((at, head));
        self.heads.sort_by_key(|(_, h)| h.size);
        Ok(true)
    }

    /// Turns the export's lines (line number, JSON) into events with `convert`, taking the
    /// signed tree heads out and checking each one's root as the events reach its size; at the
    /// end, refuses an export shorter than its last head.
    pub fn events<'a>(
        &'a mut self,
        values: impl Iterator<Item = Result<(usize, serde_json::Value), StoreError>> + 'a,
        convert: impl Fn(usize, serde_json::Value) -> Result<StoredEvent, StoreError> + 'a,
    ) -> impl Iterator<Item = Result<StoredEvent, StoreError>> + 'a {
        let mut values = values.fuse();
        let mut done = false;
        std::iter::from_fn(move || {
            if done {
                return None;
            }
            let result = self.next_event(&mut values, &convert);
            if !matches!(result, Some(Ok(_))) {
                done = true;
            }
            result
        })
    }

    fn next_event(
        &mut self,
        values: &mut impl Iterator<Item = Result<(usize, serde_json::Value), StoreError>>,
        convert: &impl Fn(usize, serde_json::Value) -> Result<StoredEvent, StoreError>,
    ) -> Option<Result<StoredEvent, StoreError>> {
        loop {
            if let Err(error) = self.check_reached() {
                return Some(Err(error));
            }
            match values.next() {
                Some(Ok((at, value))) => match self.take(at, &value) {
                    Ok(true) => continue,
                    Ok(false) => {
                        let event = match convert(at, value) {
                            Ok(event) => event,
                            Err(error) => return Some(Err(error)),
                        };
                        match event_leaf_hash(&event) {
                            Ok(leaf) => {
                                self.frontier.push(leaf);
                            }
                            Err(error) => return Some(Err(error)),
                        }
                        return Some(Ok(event));
                    }
                    Err(error) => return Some(Err(error)),
                },
                Some(Err(error)) => return Some(Err(error)),
                None => return self.finish().err().map(Err),
            }
        }
    }

    fn finish(&mut self) -> Result<(), StoreError> {
        if self.key.is_some() && self.heads.is_empty() {
            let reason = format!(
                "{}: --pubkey given, but the export holds no signed tree head to check",
                self.name
            );
            return Err(self.broken(reason));
        }
        if let Some((at, head)) = self.heads.last()
            && head.size > self.frontier.size()
        {
            let reason = format!(
                "{}: the export holds {} events, but its signed tree head on line {at} covers {}: it was cut short",
                self.name,
                self.frontier.size(),
                head.size
            );
            return Err(self.broken(reason));
        }
        Ok(())
    }

    fn check_reached(&mut self) -> Result<(), StoreError> {
        while let Some((at, head)) = self.heads.get(self.checked).cloned() {
            if head.size != self.frontier.size() {
                break;
            }
            if head.root != hex::encode(self.frontier.root()) {
                return Err(self.broken(format!(
                    "{}:{at}: the signed tree head of {} events does not match the root of the export's first {} events",
                    self.name, head.size, head.size
                )));
            }
            self.checked += 1;
        }
        Ok(())
    }

    /// After the events were restored: stores the heads. Says what was checked.
    pub fn store(self, store: &mut dyn Store) -> Result<String> {
        debug_assert!(!self.failed);
        for (_, head) in &self.heads {
            store.insert_tree_head(head)?;
        }
        Ok(match (self.heads.len(), self.key.is_some()) {
            (0, _) => String::new(),
            (n, true) => {
                format!("; {n} signed tree heads match the events and their signatures verify")
            }
            (n, false) => format!(
                "; {n} signed tree heads match the events (signatures not checked: no --pubkey)"
            ),
        })
    }
}
