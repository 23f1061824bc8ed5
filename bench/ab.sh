#!/usr/bin/env bash
# A/B comparison of two query-api builds (or settings) on the same feed: both run side by side
# (memory cache, the suite's pairs), and wrk rounds alternate between them, so machine noise
# hits both alike. This is how docs/benchmarks.md measured what each optimisation bought.
#
#   bench/ab.sh OLD_BINARY NEW_BINARY
#   A_ENV="ACCESS_LOG_LEVEL=off" bench/ab.sh target/release/query-api target/release/query-api
#   ROUNDS=7 PATHS="/api/v1/ltp?pair=BTC/USD" bench/ab.sh a b
#
# Prints the median req/s of each side per path and the change from A to B.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: bench/ab.sh A_BINARY B_BINARY" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$CARGO_TARGET_DIR/release
A_BIN=$(realpath "$1") B_BIN=$(realpath "$2")
ROUNDS=${ROUNDS:-5} DURATION=${DURATION:-8} CONNS=${CONNS:-50} NPAIRS=${NPAIRS:-50}
PATHS=${PATHS:-"/api/v1/ltp?pair=BTC/USD /api/v1/ltp"}
OUT=${OUT:-$(mktemp -d /tmp/ltp-ab.XXXXXX)}
mkdir -p "$OUT"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

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
for path in sys.argv[2].split():
    a = [r["rps"] for r in rows if r.get("case") == "A " + path]
    b = [r["rps"] for r in rows if r.get("case") == "B " + path]
    ma, mb = statistics.median(a), statistics.median(b)
    print(f"{path}: A {ma:,.0f} req/s, B {mb:,.0f} req/s, change {100 * (mb - ma) / ma:+.1f} %"
          f"  (A rounds {', '.join(f'{x:,.0f}' for x in a)}; B rounds {', '.join(f'{x:,.0f}' for x in b)})")
    ca = statistics.median(r["cpu_us_per_req"] for r in rows if r.get("case") == "A " + path)
    cb = statistics.median(r["cpu_us_per_req"] for r in rows if r.get("case") == "B " + path)
    print(f"{path}: CPU per request A {ca:.1f} us, B {cb:.1f} us, change {100 * (cb - ca) / ca:+.1f} %")
PY
