#!/usr/bin/env bash
# A/B comparison of two builds of the ingestor (each with its simulator) on run.sh's ingest
# stage: the simulator at INGEST_RATE ticker messages per second over NPAIRS pairs, one
# WebSocket, into NATS with JetStream. Rounds alternate A and B, so machine noise hits both
# alike. Run it under `flock /tmp/ltp-measure.lock`.
#
#   bench/ab-ingest.sh A_DIR B_DIR          # each holds release `ingestor` and `kraken-sim`
#   ROUNDS=5 INGEST_RATE=100000 bench/ab-ingest.sh /tmp/old /tmp/new
#
# Prints, per side, the medians of the ingestor's CPU per message, the rate NATS received, the
# simulator's CPU, and the total of messages lost.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: bench/ab-ingest.sh A_DIR B_DIR" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
A_DIR=$(realpath "$1") B_DIR=$(realpath "$2")
ROUNDS=${ROUNDS:-5} INGEST_RATE=${INGEST_RATE:-100000} NPAIRS=${NPAIRS:-50}
CONNS=${CONNS:-50} DURATION=${DURATION:-10}
OUT=${OUT:-$(mktemp -d /tmp/ltp-ab-ingest.XXXXXX)}
mkdir -p "$OUT/raw"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

for round in $(seq "$ROUNDS"); do
  for side in A B; do
    if [ "$side" = A ]; then BIN=$A_DIR; else BIN=$B_DIR; fi
    log "round $round of $ROUNDS, $side ($BIN)"
    ingest_capacity "$side"
  done
done
python3 - "$RESULTS" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
for side in "AB":
    r = [x for x in rows if x.get("kind") == "ingest" and x.get("case") == side]
    med = lambda k: statistics.median(x[k] for x in r)
    rounds = ", ".join("%.2f" % x["cpu_us_per_msg"] for x in r)
    print(f"{side}: CPU {med('cpu_us_per_msg'):.2f} us/msg ({rounds}), "
          f"NATS in {med('nats_in_rate'):,.0f}/s, simulator {med('sim_rate'):,.0f}/s at {med('sim_cpu_percent'):.0f} % CPU, "
          f"lost {sum(x['lost'] for x in r)}, peak RSS {max(x['hwm_kb'] for x in r) / 1024:.1f} MB")
PY
log "results in $OUT"
