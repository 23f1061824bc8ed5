#!/usr/bin/env bash
# A/B comparison of two query-api builds (or settings) on the same feed: both run side by side
# (memory cache, the suite's pairs), and wrk rounds alternate between them, so machine noise
# hits both alike. This is how docs/benchmarks.md measured what each optimisation bought.
# Pinned like bench/run.sh (lib.sh): A, B, NATS and the ingestor on SERVER_CPUS, wrk and the
# simulator on CLIENT_CPUS; PIN=0 runs unpinned.
#
#   bench/ab.sh OLD_BINARY NEW_BINARY
#   A_ENV="ACCESS_LOG_LEVEL=off" bench/ab.sh target/release/query-api target/release/query-api
#   ROUNDS=7 PATHS="/api/v1/ltp?pair=BTC/USD" bench/ab.sh a b
#   WRK_HEADER="Accept-Encoding: gzip" bench/ab.sh a b    # one extra header on every request
#
# Prints, per path, the median req/s of each side with its spread (min–max) and the change from
# A to B, and the same for the server CPU time per request; results.jsonl in $OUT keeps every
# round.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: bench/ab.sh A_BINARY B_BINARY" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$CARGO_TARGET_DIR/release
A_BIN=$(realpath "$1") B_BIN=$(realpath "$2")
ROUNDS=${ROUNDS:-5} DURATION=${DURATION:-8} CONNS=${CONNS:-50} NPAIRS=${NPAIRS:-50}
PATHS=${PATHS:-"/api/v1/ltp?pair=BTC/USD /api/v1/ltp"}
PIN=${PIN:-1}
case $PIN in 0 | 1) ;; *) echo "PIN must be 1 or 0 here" >&2; exit 2 ;; esac
OUT=${OUT:-$(mktemp -d /tmp/ltp-ab.XXXXXX)}
mkdir -p "$OUT"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
use_pinning "$PIN"
log "A/B $( ((PIN)) && echo "pinned: servers on CPUs $SERVER_CPUS, wrk on CPUs $CLIENT_CPUS" || echo unpinned), $ROUNDS rounds; results in $OUT"

(cd "$ROOT" && cargo build --release --quiet -p ingestor -p kraken-sim)
start_bus
start_sim --interval 1s
start_ingestor
QA_ENV=${A_ENV:-} start_query_api qa-a $QA_MEM memory "$A_BIN"; A_PID=$LAST_QA
QA_ENV=${B_ENV:-} start_query_api qa-b $QA_REDIS memory "$B_BIN"; B_PID=$LAST_QA
for round in $(seq "$ROUNDS"); do
  for path in $PATHS; do
    wrk_run "A $path" "http://127.0.0.1:$QA_MEM$path" "$round" "$A_PID"
    wrk_run "B $path" "http://127.0.0.1:$QA_REDIS$path" "$round" "$B_PID"
  done
done
python3 - "$RESULTS" "$PATHS" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def side(case, key):
    v = [r[key] for r in rows if r.get("case") == case and r.get(key) is not None]
    return statistics.median(v), min(v), max(v), v
for path in sys.argv[2].split():
    for key, unit, fmt in (("rps", "req/s", "{:,.0f}"), ("cpu_us_per_req", "us CPU/request", "{:.1f}")):
        (ma, la, ha, a), (mb, lb, hb, b) = side("A " + path, key), side("B " + path, key)
        f = fmt.format
        print(f"{path}: {unit}: A {f(ma)} ({f(la)}–{f(ha)}), B {f(mb)} ({f(lb)}–{f(hb)}), "
              f"change {100 * (mb - ma) / ma:+.1f} %  (A rounds {', '.join(map(f, a))}; "
              f"B rounds {', '.join(map(f, b))})")
PY