#!/usr/bin/env bash
# tools/bench-peers.sh: builds and runs the comparison programs in ../shared/peers beside the
# checkout (the Python `eventsourcing` library and `cqrs-es` with `sqlite-es`) on the peer
# shape of work, for `lagesbild-bench --peer-shape`, which calls this and sets the figures
# beside its own from the same run. Nothing is copied into the project: the Python library
# goes into a virtualenv and the Rust peer is built from its own folder, both under target/.
#
# Usage: tools/bench-peers.sh N STREAMS BATCH DIR
# Prints one JSON line per peer run: the peer's own line, or {"peer": NAME, "not_run": WHY}
# when it cannot be installed, built or run (no network for PyPI or crates.io, say).
# PEERS_DIR overrides where the peers are (default: ../shared/peers from the checkout).
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
peers=${PEERS_DIR:-$here/../shared/peers}
n=$1 streams=$2 batch=$3 dir=$4
work=$here/target/peers
mkdir -p "$work" "$dir"

not_run() { # NAME WHY
  python3 -c 'import json,sys; print(json.dumps({"peer": sys.argv[1], "not_run": sys.argv[2]}))' "$1" "$2"
}

# --- Python eventsourcing 9.5.6, from PyPI into a virtualenv ---------------------------------
if [ ! -f "$peers/eventsourcing_peer.py" ]; then
  not_run python-eventsourcing "no $peers/eventsourcing_peer.py"
else
  venv=$work/venv
  if ! "$venv/bin/python" -c 'import eventsourcing' 2>/dev/null; then
    { python3 -m venv "$venv" && "$venv/bin/pip" install -q eventsourcing==9.5.6; } \
      >"$work/pip.log" 2>&1
  fi
  if "$venv/bin/python" -c 'import eventsourcing' 2>/dev/null; then
    if ! "$venv/bin/python" "$peers/eventsourcing_peer.py" "$n" "$streams" "$batch" \
        "$dir/peer-python.db" 2>"$work/python.err"; then
      not_run python-eventsourcing "the peer failed: $(tail -c 300 "$work/python.err")"
    fi
  else
    not_run python-eventsourcing "eventsourcing==9.5.6 could not be installed from PyPI (offline?): $(tail -c 300 "$work/pip.log")"
  fi
fi

# --- cqrs-es 0.5 + sqlite-es 0.5, built from the peer's own folder and lock file -------------
manifest=$peers/cqrs-es-peer/Cargo.toml
if [ ! -f "$manifest" ]; then
  not_run rust-cqrs-es+sqlite-es "no $manifest"
else
  binary=$work/cqrs-target/release/cqrs-peer
  # Offline first (crates already downloaded), then from crates.io.
  if ! cargo build --release --locked --offline --manifest-path "$manifest" \
      --target-dir "$work/cqrs-target" >"$work/cargo.log" 2>&1; then
    cargo build --release --locked --manifest-path "$manifest" \
      --target-dir "$work/cqrs-target" >>"$work/cargo.log" 2>&1
  fi
  if [ -x "$binary" ]; then
    for mode in repo framework; do
      if ! "$binary" "$n" "$streams" "$batch" "$dir/peer-cqrs-$mode.db" "$mode" FULL \
          2>"$work/cqrs.err"; then
        not_run "rust-cqrs-es+sqlite-es/$mode/FULL" "the peer failed: $(tail -c 300 "$work/cqrs.err")"
      fi
    done
  else
    not_run rust-cqrs-es+sqlite-es "could not be built (offline, or crates.io unreachable): $(tail -c 300 "$work/cargo.log")"
  fi
fi
rm -f "$dir"/peer-*.db "$dir"/peer-*.db-wal "$dir"/peer-*.db-shm
