# Everyday commands. Each recipe is one command; `just ci` runs what CI runs.

# Build the embedded default (lagesbild.db, seeded from events/) and list the log.
run *ARGS:
    cargo run -- {{ARGS}}

# All tests.
test:
    cargo test --workspace

# Format, lint and test exactly as .ci/run does.
ci:
    bash .ci/run

fmt:
    cargo fmt --all

# Check the history in events/ without writing anything.
check-events:
    cargo run -- import --dry-run --db target/check-events.db events/
