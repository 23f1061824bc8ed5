#!/usr/bin/env bash
# ltp benchmark suite (issue 6). Builds release binaries, starts NATS (JetStream), Redis, the
# Kraken simulator, the ingestor, two query-apis (memory and Redis cache) and a baseline hyper
# server answering the captured bytes of a real single-pair response, then measures every
# target side by side and writes a results table (docs/benchmarks.md explains each figure).
#
#   bench/run.sh                       # everything, 3 rounds (about 12 minutes)
#   ROUNDS=1 DURATION=5 bench/run.sh   # quick look
#   STAGES="http fixed" bench/run.sh   # some stages only: http fixed sweep tick cold ingest
#
# Results go to $OUT (default bench/results/<UTC time>/): results.jsonl (one object per
# measurement), raw tool output, service logs, and table.md (printed at the end).
# Every process started here is stopped on exit, by its pid.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$CARGO_TARGET_DIR/release
ROUNDS=${ROUNDS:-3}            # repeats of each throughput / fixed-rate measurement (median reported)
DURATION=${DURATION:-10}       # seconds per wrk run
FIXED_DURATION=${FIXED_DURATION:-20}   # measured seconds per fixed-rate run
CONNS=${CONNS:-50}             # keep-alive connections, the same for every server
UPDATES=${UPDATES:-10000}      # tick-to-API updates
INGEST_RATE=${INGEST_RATE:-100000}     # simulator ticker messages per second for the ingestor
NPAIRS=${NPAIRS:-50}           # pairs configured everywhere
STAGES=${STAGES:-"http fixed sweep tick cold ingest"}   # also: profile (perf, not by default)
SWEEP_RATES=${SWEEP_RATES:-"1000 5000 10000"}   # fixed rates of the latency sweep
SWEEP_DURATION=${SWEEP_DURATION:-10}
OUT=${OUT:-$ROOT/bench/results/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT/raw"
OUT=$(cd "$OUT" && pwd)

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

log "building release binaries into $CARGO_TARGET_DIR"
(cd "$ROOT" && cargo build --release --quiet -p query-api -p ingestor -p kraken-sim -p ltp-bench)

MEM1="http://127.0.0.1:$QA_MEM/api/v1/ltp?pair=BTC/USD"
MEMALL="http://127.0.0.1:$QA_MEM/api/v1/ltp"
RED1="http://127.0.0.1:$QA_REDIS/api/v1/ltp?pair=BTC/USD"
REDALL="http://127.0.0.1:$QA_REDIS/api/v1/ltp"
BASE="http://127.0.0.1:$BASE_PORT/api/v1/ltp?pair=BTC/USD"

has_stage() { [[ " $STAGES " == *" $1 "* ]]; }

record "$(python3 -c 'import json,os,platform,sys
cpu=[l.split(":",1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")]
print(json.dumps({"kind":"machine","cpu":cpu[0] if cpu else "?","cores":os.cpu_count(),
 "kernel":platform.release(),"load":os.getloadavg(),"pairs":int(sys.argv[1]),
 "rounds":int(sys.argv[2]),"duration":int(sys.argv[3]),"connections":int(sys.argv[4])}))' \
  "$NPAIRS" "$ROUNDS" "$DURATION" "$CONNS")"

# --- the serving stack: NATS, simulator (every pair trades once a second), ingestor, Redis,
# --- query-api with memory and with Redis cache, baseline --------------------------------------
if has_stage http || has_stage profile || has_stage fixed || has_stage sweep || has_stage tick ||
  has_stage cold; then
  log "starting NATS, simulator, ingestor, Redis and two query-apis ($NPAIRS pairs)"
  start_bus
  start_sim --interval 1s
  start_ingestor
  start redis redis-server --bind 127.0.0.1 --port $REDIS_PORT --save '' --appendonly no
  REDIS_PID=$LAST_PID
  until redis-cli -p $REDIS_PORT ping >/dev/null 2>&1; do sleep 0.1; done
  start_query_api qa-memory $QA_MEM memory; QA_MEM_PID=$LAST_QA
  start_query_api qa-redis $QA_REDIS redis; QA_REDIS_PID=$LAST_QA
  # The baseline answers exactly what query-api answered for one pair.
  curl -si "$MEM1" > "$OUT/response.raw"
  start baseline "$BIN/ltp-bench" serve --addr 127.0.0.1:$BASE_PORT --response "$OUT/response.raw"
  BASE_PID=$LAST_PID
  wait_http "$BASE"
fi

if has_stage http; then
  # Interleaved rounds, so a noisy neighbour hurts every case alike.
  for round in $(seq "$ROUNDS"); do
    wrk_run baseline "$BASE" "$round" "$BASE_PID"
    wrk_run memory-single "$MEM1" "$round" "$QA_MEM_PID"
    wrk_run memory-all "$MEMALL" "$round" "$QA_MEM_PID"
    before=$(redis-cli -p $REDIS_PORT info commandstats | awk -F'[=,]' '/^cmdstat_mget:/ {print $2}')
    wrk_run redis-single "$RED1" "$round" "$QA_REDIS_PID"
    after=$(redis-cli -p $REDIS_PORT info commandstats | awk -F'[=,]' '/^cmdstat_mget:/ {print $2}')
    requests=$(tail -n1 "$RESULTS" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])')
    record "{\"kind\":\"redis-roundtrips\",\"round\":$round,\"mget_calls\":$(( ${after:-0} - ${before:-0} )),\"requests\":$requests}"
    wrk_run redis-all "$REDALL" "$round" "$QA_REDIS_PID"
  done
  record "{\"kind\":\"rss\",\"process\":\"query-api (memory)\",\"rss_kb\":$(rss_kb "$QA_MEM_PID"),\"hwm_kb\":$(hwm_kb "$QA_MEM_PID")}"
  record "{\"kind\":\"rss\",\"process\":\"query-api (redis)\",\"rss_kb\":$(rss_kb "$QA_REDIS_PID"),\"hwm_kb\":$(hwm_kb "$QA_REDIS_PID")}"
fi

if has_stage profile; then
  # Where query-api's CPU goes under maximum load: a flat perf profile (self time per symbol).
  need perf linux-perf
  for case in memory-single memory-all; do
    url=$MEM1; [ "$case" = memory-all ] && url=$MEMALL
    perf record -F 499 --call-graph dwarf,16384 -o "$WORK/perf-$case.data" -p "$QA_MEM_PID" \
      -- sleep "$DURATION" > /dev/null 2>&1 &
    perf_pid=$!
    wrk_run "profile-$case" "$url" 1
    wait "$perf_pid" || true
    # Inclusive time per function (children included), then self time by library.
    perf report -i "$WORK/perf-$case.data" --children --sort symbol --percent-limit 0.4 \
      --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | cut -c1-160 \
      > "$OUT/raw/perf-$case.txt"
    perf report -i "$WORK/perf-$case.data" --no-children --sort dso --stdio -g none \
      2>/dev/null | grep -v '^#' | grep -v '^$' >> "$OUT/raw/perf-$case.txt"
    # Self time per symbol: where the cycles are actually spent.
    perf report -i "$WORK/perf-$case.data" --no-children --sort symbol --percent-limit 0.3 \
      --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | cut -c1-160 \
      > "$OUT/raw/perf-self-$case.txt"
    [ -n "${KEEP_PERF:-}" ] && cp "$WORK/perf-$case.data" "$OUT/raw/"
    log "profile $case: $OUT/raw/perf-$case.txt"
  done
fi

# One open-loop run: `ltp-bench load` at a fixed rate, with the CPU time it took (GNU time) and
# the server's (from /proc) per request sent, warm-up included: at high rates the generator's
# own CPU is part of why latency grows on a machine it shares with the server.
fixed_run() { # kind case rate duration warmup raw-file
  local kind=$1 case=$2 rate=$3 duration=$4 warmup=$5 raw=$6 url=$MEM1 pid=$QA_MEM_PID c0 c1
  [ "$case" = baseline ] && url=$BASE pid=$BASE_PID
  c0=$(cpu_ticks "$pid")
  /usr/bin/time -f '%U %S' -o "$WORK/generator.time" "$BIN/ltp-bench" load --url "$url" \
    --rate "$rate" --connections "$CONNS" --duration "$duration" --warmup "$warmup" > "$raw"
  c1=$(cpu_ticks "$pid")
  python3 - "$raw" "$kind" "$case" "${ROUND:-0}" "$WORK/generator.time" "$((c1 - c0))" \
    "$(getconf CLK_TCK)" "$duration" "$warmup" >> "$RESULTS" <<'PY'
import json, sys
raw, kind, case, rnd, gen, ticks, tck, duration, warmup = sys.argv[1:]
d = json.load(open(raw))
sent = d["target_rate"] * (float(duration) + float(warmup))
user, system = map(float, open(gen).read().split()[-2:])
d.update(kind=kind, case=case, round=int(rnd),
         generator_cpu_us_per_req=round((user + system) * 1e6 / sent, 2),
         server_cpu_us_per_req=round(int(ticks) / int(tck) * 1e6 / sent, 2))
print(json.dumps(d))
PY
  log "$kind $case $rate req/s${ROUND:+ round $ROUND}: $(tail -n1 "$RESULTS" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["achieved_rate"], "req/s, p99", d["latency"]["p99_us"], "us; CPU per request: generator", d["generator_cpu_us_per_req"], "us, server", d["server_cpu_us_per_req"], "us")')"
}

if has_stage fixed; then
  max=$(median_rps memory-single)
  if [ "$max" -eq 0 ]; then
    wrk_run memory-single "$MEM1" 1
    max=$(median_rps memory-single)
  fi
  rate=$((max / 2))
  log "fixed rate: $rate req/s (half of $max)"
  for round in $(seq "$ROUNDS"); do
    for case in memory-single baseline; do
      ROUND=$round fixed_run fixed "$case" "$rate" "$FIXED_DURATION" 3 "$OUT/raw/load-$case-$round.json"
    done
  done
  record "{\"kind\":\"rss\",\"process\":\"query-api (memory)\",\"rss_kb\":$(rss_kb "$QA_MEM_PID"),\"hwm_kb\":$(hwm_kb "$QA_MEM_PID")}"
fi

if has_stage sweep; then
  # Where p99 <= 1 ms holds on this machine: the same fixed-rate load at lower rates, for
  # query-api and the baseline alike.
  for rate in $SWEEP_RATES; do
    for case in memory-single baseline; do
      fixed_run sweep "$case" "$rate" "$SWEEP_DURATION" 2 "$OUT/raw/sweep-$case-$rate.json"
    done
  done
fi

if has_stage tick; then
  log "tick to API: $UPDATES updates, simulator in manual mode"
  curl -sf -X POST "http://127.0.0.1:$SIM_PORT/control/rate?manual" >/dev/null
  sleep 1
  for backend in memory redis; do
    port=$QA_MEM; [ $backend = redis ] && port=$QA_REDIS
    "$BIN/ltp-bench" tick --api "http://127.0.0.1:$port" --sim "http://127.0.0.1:$SIM_PORT" \
      --updates "$UPDATES" > "$OUT/raw/tick-$backend.json"
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d.update(kind="tick",case=sys.argv[2]); print(json.dumps(d))' \
      "$OUT/raw/tick-$backend.json" "$backend" >> "$RESULTS"
    log "tick $backend: $(cat "$OUT/raw/tick-$backend.json")"
  done
  curl -sf -X POST "http://127.0.0.1:$SIM_PORT/control/rate?interval=1s" >/dev/null
fi

if has_stage cold; then
  # The ingestor is stopped first: every price a new query-api serves must come from the
  # values NATS holds (JetStream last-value stream), not from a live update.
  log "cold start: ingestor stopped, NATS holds the last values"
  stop "$ING_PID"
  env "${svc_env[@]}" PORT=$QA_COLD CACHE_BACKEND=memory LOG_LEVEL=warn \
    "$BIN/ltp-bench" coldstart --bin "$BIN/query-api" --addr 127.0.0.1:$QA_COLD --runs 5 \
    > "$OUT/raw/coldstart.json"
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d.update(kind="cold"); print(json.dumps(d))' \
    "$OUT/raw/coldstart.json" >> "$RESULTS"
  log "cold start: $(cat "$OUT/raw/coldstart.json")"
fi

# Stop the serving stack before the ingestor capacity run, which needs the whole machine.
for pid in ${QA_MEM_PID:-} ${QA_REDIS_PID:-} ${BASE_PID:-} ${ING_PID:-} ${SIM_PID:-} ${REDIS_PID:-} ${NATS_PID:-}; do
  stop "$pid"
done

# --- ingestor capacity: one socket at $INGEST_RATE msg/s into NATS (JetStream on, the default) --
if has_stage ingest; then
  ingest_capacity ingest
fi

python3 "$ROOT/bench/report.py" "$RESULTS" > "$OUT/table.md"
cat "$OUT/table.md"
log "results in $OUT"
