#!/usr/bin/env bash
# Instructions per request of two query-api builds, counted by valgrind's callgrind: a figure
# that the machine's load does not move, for differences that wall-clock A/Bs (bench/ab.sh)
# cannot separate from noise on a shared machine (docs/benchmarks.md, issue 14).
#
#   bench/callgrind.sh A_BINARY B_BINARY
#   REPS=3 CASES="/api/v1/ltp?pair=BTC/USD /api/v1/ltp" bench/callgrind.sh a b
#   FEED_BIN=/tmp/feed bench/callgrind.sh a b    # ingestor and kraken-sim from there, no build
#
# The feed is the benchmarks' own (lib.sh): NATS, the simulator and the ingestor, with the cache
# TTL at an hour and the simulator trading once an hour, so after the first prices nothing
# arrives while requests are counted (every price update would be counted with them). Each
# binary runs under `valgrind --tool=callgrind` (instrumentation switched on once it is ready),
# pinned to SERVER_CPUS, so tokio runs one worker. Per case, after WARMUP requests: counters
# zeroed, SMALL requests, dump; zeroed, LARGE requests, dump. Instructions per request =
# (Ir(LARGE) - Ir(SMALL)) / (LARGE - SMALL): what does not grow with the requests (the dump, the
# runtime's timers) cancels. The requests come one after another on one keep-alive connection
# (a Python client on CLIENT_CPUS, no Accept-Encoding unless the case says +gzip), so every
# request is read, answered and written on its own, the same way in every run.
# A and B alternate, REPS times each (2 unless set); every answer must be a 200.
#
# Cases: a path, with "+gzip" appended for an `Accept-Encoding: gzip` header.
# Output in $OUT (default bench/results/<UTC time>-callgrind): results.jsonl (every window),
# table.md (per case: instructions per request, A and B, each run, change), functions-*.txt
# (self instructions per request by function, B - A, the largest differences), raw/ (the
# callgrind files, not committed).
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: bench/callgrind.sh A_BINARY B_BINARY" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
# FEED_BIN: a directory holding ingestor and kraken-sim already built (then nothing is built).
BIN=${FEED_BIN:-$CARGO_TARGET_DIR/release}
A_BIN=$(realpath "$1") B_BIN=$(realpath "$2")
REPS=${REPS:-2} SMALL=${SMALL:-500} LARGE=${LARGE:-2000} WARMUP=${WARMUP:-200}
CASES=${CASES:-"/api/v1/ltp?pair=BTC/USD /api/v1/ltp?pair=BTC/USD+gzip /api/v1/ltp /api/v1/ltp+gzip"}
# lib.sh expects these (its pair list is replaced below).
NPAIRS=7 CONNS=1 DURATION=0
OUT=${OUT:-$ROOT/bench/results/$(date -u +%Y%m%dT%H%M%SZ)-callgrind}
mkdir -p "$OUT/raw"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
need valgrind valgrind
# The service's default pairs (configs/config.yaml), as in the issue 14 sizes: "all pairs" is 7.
PAIRS=${CG_PAIRS:-BTC/USD,BTC/EUR,BTC/CHF,ETH/USD,ETH/EUR,LTC/USD,XRP/USD}
svc_env=("${svc_env[@]/#SUPPORTED_PAIRS=*/SUPPORTED_PAIRS=$PAIRS}")
use_pinning 1
log "callgrind A/B: A=$A_BIN B=$B_BIN, $REPS runs each, windows of $SMALL and $LARGE requests; results in $OUT"

[ -n "${FEED_BIN:-}" ] || (cd "$ROOT" && cargo build --release --quiet -p ingestor -p kraken-sim)
start_bus
start_sim --interval 1h
start_ingestor CACHE_TTL=1h

published() { # price messages the ingestor has published so far (updates and re-publishes)
  curl -s "http://127.0.0.1:$ING_PORT/metrics" |
    awk '/^ingestor_prices_published_total/ {s += $2} END {print s + 0}'
}

# One keep-alive connection, N requests in a row; prints a JSON object with the status counts.
client() { # n path gzip(0|1)
  "${ON_CLIENT[@]}" python3 - "$QA_MEM" "$@" <<'PY'
import http.client, json, sys
port, n, path, gz = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4] == "1"
c = http.client.HTTPConnection("127.0.0.1", port)
status, body, enc = {}, 0, set()
for _ in range(n):
    # skip_accept_encoding: http.client would add "Accept-Encoding: identity" (wrk sends none)
    c.putrequest("GET", path, skip_accept_encoding=True)
    if gz:
        c.putheader("Accept-Encoding", "gzip")
    c.endheaders()
    r = c.getresponse()
    body += len(r.read())
    status[r.status] = status.get(r.status, 0) + 1
    enc.add(r.getheader("Content-Encoding") or "none")
print(json.dumps({"status": status, "bytes_per_answer": body / n, "encoding": sorted(enc)}))
PY
}

# The dump callgrind wrote last for this run's files; its totals (all threads: one file).
last_dump() { ls -t "$1".* | head -n1; }
dump_ir() { awk '/^(totals|summary):/ {print $2; exit}' "$1"; }

measure() { # side binary run
  local side=$1 bin=$2 run=$3 pid spec path gz n ir dump answers out
  out=$OUT/raw/callgrind-$side-$run
  start "qa-$side-$run" "${ON_SERVER[@]}" env "${svc_env[@]}" PORT=$QA_MEM CACHE_BACKEND=memory \
    CACHE_TTL=1h valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out" "$bin"
  pid=$LAST_PID
  wait_http "http://127.0.0.1:$QA_MEM/ready" 600
  wait_http "http://127.0.0.1:$QA_MEM/api/v1/ltp" 600
  callgrind_control -i on "$pid" >/dev/null
  for spec in $CASES; do
    path=${spec%+gzip} gz=0
    [ "$path" != "$spec" ] && gz=1
    client "$WARMUP" "$path" "$gz" >/dev/null
  done
  local p0; p0=$(published)
  for spec in $CASES; do
    path=${spec%+gzip} gz=0
    [ "$path" != "$spec" ] && gz=1
    for n in $SMALL $LARGE; do
      callgrind_control -z "$pid" >/dev/null
      answers=$(client "$n" "$path" "$gz")
      callgrind_control -d "$side $run $spec $n" "$pid" >/dev/null
      # Renamed out of the pattern last_dump looks for.
      dump=$OUT/raw/$side-$run-$(printf '%s' "$spec" | tr -c 'A-Za-z0-9_.-' '_')-$n.callgrind
      mv "$(last_dump "$out")" "$dump"
      ir=$(dump_ir "$dump")
      record "$(python3 -c 'import json, sys
a = json.loads(sys.argv[7])
print(json.dumps({"kind": "callgrind", "side": sys.argv[1], "binary": sys.argv[2], "run": int(sys.argv[3]),
  "case": sys.argv[4], "requests": int(sys.argv[5]), "ir": int(sys.argv[6]), **a, "dump": sys.argv[8]}))' \
        "$side" "$(basename "$bin")" "$run" "$spec" "$n" "$ir" "$answers" "$(basename "$dump")")"
      log "$side run $run $spec: $n requests, $ir instructions ($answers)"
    done
  done
  local p1; p1=$(published)
  record "{\"kind\": \"feed\", \"side\": \"$side\", \"run\": $run, \"published_during_windows\": $((p1 - p0))}"
  stop "$pid"
}

for run in $(seq "$REPS"); do
  measure A "$A_BIN" "$run"
  measure B "$B_BIN" "$run"
done

python3 "$ROOT/bench/callgrind-report.py" "$OUT" "$SMALL" "$LARGE" "$CASES"
