#!/usr/bin/env bash
# The web app under load (issue 17): requests/s and p50/p99 latency of the pages people open
# most, with `wrk` (Debian: `apt-get install wrk`; not needed in CI), against `lagesbild serve`
# (release build) on a synthetic history of each size in SIZES, made once by
# `lagesbild-bench make-db` and given one real published edition (`report publish`).
#
#   tools/bench-web.sh                      # 100k events, 16 clients, 10 s per page
#   SIZES=100000,1000000 tools/bench-web.sh
#   LAGESBILD_BIN=/path/to/other/lagesbild tools/bench-web.sh   # another build, same database
#   PAGES="/api/waves /rapporter/SEQ" tools/bench-web.sh   # some pages (SEQ: the edition's)
#
# Prints one Markdown table row per page with the load average when it ran; BENCHMARKS.md
# keeps them. The server logs every request to a file, as it does in production.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
sizes=${SIZES:-100000}
clients=${CLIENTS:-16}
duration=${DURATION:-10s}
port=${PORT:-18417}
dir=${BENCH_WEB_DIR:-$root/target/bench-web}
bench=$root/target/release/lagesbild-bench

if ! command -v wrk >/dev/null; then
    echo "error: wrk is not installed (Debian: apt-get install wrk)" >&2
    exit 1
fi
if [ -z "${LAGESBILD_BIN:-}" ]; then
    cargo build --release -p lagesbild -p lagesbild-bench >&2
    bin=$root/target/release/lagesbild
else
    bin=$LAGESBILD_BIN
    [ -x "$bench" ] || cargo build --release -p lagesbild-bench >&2
fi
mkdir -p "$dir"

# wrk prints latencies as 812.00us, 3.41ms or 1.02s; in milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.2f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.2f", v }
        else if (v ~ /m$/) { sub(/m$/, "", v); printf "%.0f", v * 60000 }
        else { sub(/s$/, "", v); printf "%.0f", v * 1000 } }'
}

echo "| events | page | requests/s | p50 ms | p99 ms | errors | load (1 min) |"
echo "| ---: | --- | ---: | ---: | ---: | ---: | ---: |"
for n in ${sizes//,/ }; do
    db=$dir/web-$n.db
    if [ ! -f "$db" ]; then
        "$bench" make-db --db "$db" --events "$n" >&2
        # One edition published for real (the synthetic ones carry invented digests): the
        # newest, so it is also the home page.
        # (in $dir: publish writes the outputs into ./reports/)
        (cd "$dir" && "$bin" --db "$db" report publish --date 2026-11-27 >&2)
    fi
    "$bin" --db "$db" serve --addr "127.0.0.1:$port" 2>"$dir/serve-$n.log" &
    server=$!
    trap 'kill $server 2>/dev/null || true' EXIT
    for _ in $(seq 1 100); do
        curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
        sleep 0.2
    done
    seq=$(curl -sf "http://127.0.0.1:$port/api/reports" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["reports"][0]["seq"])')
    # The timeline pages are windowed (lagesbild_app::window): the latest 100 facts, and 100
    # around a day as of that day (PAGES overrides the list).
    day=${TIMELINE_DAY:-2022-06-15}
    pages=${PAGES:-/ /rapporter/SEQ /api/waves /logg /tidslinje /tidslinje?around=$day&as_of=$day /api/timeline?around=$day&as_of=$day}
    set -f # the pages hold `?`: no globbing
    for page in $pages; do
        page=${page//SEQ/$seq}
        url="http://127.0.0.1:$port$page"
        # The first view of an edition may rebuild it (and keep it): not part of the figure.
        curl -sf -o /dev/null "$url"
        out=$(wrk -t2 -c"$clients" -d"$duration" --timeout 30s --latency "$url")
        rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out")
        p50=$(awk '$1 == "50%" { print $2 }' <<<"$out")
        p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
        errors=$(awk '/Non-2xx or 3xx responses:/ { print $5 } /Socket errors:/ { e = 1 } END {}' <<<"$out")
        load=$(cut -d' ' -f1 /proc/loadavg)
        if [ "${rps:-0}" = 0 ]; then
            # Not one request finished within the run: time a single one instead.
            single=$(curl -sf -o /dev/null -w '%{time_total}' "$url")
            echo "| $n | \`$page\` | 0 (one request alone: ${single} s) | | | ${errors:-0} | $load |"
            continue
        fi
        echo "| $n | \`$page\` | $rps | $(to_ms "$p50") | $(to_ms "$p99") | ${errors:-0} | $load |"
    done
    set +f
    kill "$server"
    wait "$server" 2>/dev/null || true
    trap - EXIT
done
