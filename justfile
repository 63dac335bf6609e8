# Everyday commands. Each recipe is one command; `just ci` runs what CI runs.

# The main job on the embedded default: the weekly report of 27 December 2024.
run:
    cargo run -- report --date 2024-12-27

# Any lagesbild command: `just cli waves --as-of 2022-06-01`.
cli *ARGS:
    cargo run -- {{ARGS}}

# All tests.
test:
    cargo test --workspace

# The store's conformance suite against a throwaway PostgreSQL cluster (docs/postgres.md).
pg-test:
    tools/with-postgres cargo test -p lagesbild-store --test conformance

# Format, lint and test exactly as .ci/run does.
ci:
    bash .ci/run

fmt:
    cargo fmt --all

# Rewrite the expected output of the data-driven cases in tests/cases/ (review the diff).
update-expect:
    UPDATE_EXPECT=1 cargo test --test cases

# Check the history in events/ without writing anything.
check-events:
    cargo run -- import --dry-run --db target/check-events.db events/

# The benchmark (release build): import, replay, queries, report, verify and memory at three sizes.
bench:
    cargo run --release -p lagesbild-bench -- --sizes 10000,100000,1000000

# The peers of ../shared/peers (Python eventsourcing, cqrs-es + sqlite-es), built and run by the
# bench (tools/bench-peers.sh) on the same shape of work as lagesbild, ratios from the same run.
bench-peers:
    cargo run --release -p lagesbild-bench -- --peer-shape

# The web app under load with wrk (apt-get install wrk): req/s, p50/p99 of five pages at 100k events.
bench-web:
    tools/bench-web.sh
