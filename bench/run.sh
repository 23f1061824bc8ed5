#!/usr/bin/env bash
# ltp benchmark suite (issues 6 and 17). Builds release binaries, starts NATS (JetStream),
# Redis, the Kraken simulator, the ingestor, two query-apis (memory and Redis cache) and a
# baseline hyper server answering the captured bytes of a real single-pair response, then
# measures every target side by side and writes a results table (docs/benchmarks.md explains
# each figure).
#
#   bench/run.sh                       # everything, pinned, 5 alternating rounds (~21 minutes)
#   ROUNDS=1 DURATION=3 bench/run.sh   # quick look
#   STAGES="http fixed" bench/run.sh   # some stages only: http fixed sweep tick refresh cold ingest
#   PIN=both bench/run.sh              # every stage pinned, then again unpinned (for the docs)
#   PIN=0 bench/run.sh                 # unpinned only (as before issue 17)
#   SERVER_CPUS=0 CLIENT_CPUS=1 …      # the CPU sets of the pinned runs (lib.sh)
#
# Results go to $OUT (default bench/results/<UTC time>/): results.jsonl (one object per
# measurement, each saying whether it ran pinned, then one summary per case: median and
# spread), raw tool output, service logs, and table.md (printed at the end).
# Every process started here is stopped on exit, by its pid.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$CARGO_TARGET_DIR/release
ROUNDS=${ROUNDS:-5}            # alternating rounds of each throughput / fixed-rate case
DURATION=${DURATION:-10}       # seconds per wrk run
FIXED_DURATION=${FIXED_DURATION:-20}   # measured seconds per fixed-rate run
CONNS=${CONNS:-50}             # keep-alive connections, the same for every server
UPDATES=${UPDATES:-10000}      # tick-to-API updates
INGEST_RATE=${INGEST_RATE:-100000}     # simulator ticker messages per second for the ingestor
NPAIRS=${NPAIRS:-50}           # pairs configured everywhere
STAGES=${STAGES:-"http fixed sweep tick refresh cold ingest"}   # also: profile (perf, opt-in)
SWEEP_RATES=${SWEEP_RATES:-"1000 5000 10000"}   # fixed rates of the latency sweep
SWEEP_DURATION=${SWEEP_DURATION:-10}
SWEEP_ROUNDS=${SWEEP_ROUNDS:-$ROUNDS}
REFRESH_RATE=${REFRESH_RATE:-100}        # refreshes per second (issue 17, target 4)
REFRESH_DURATION=${REFRESH_DURATION:-10} # measured seconds per refresh round
REFRESH_SOLO=${REFRESH_SOLO:-20}         # one-at-a-time refreshes per round
REFRESH_ROUNDS=${REFRESH_ROUNDS:-$ROUNDS}
PIN=${PIN:-1}                  # 1 pinned, 0 unpinned, both: a pinned pass then an unpinned one
case $PIN in
  1) PASSES=1 ;;
  0) PASSES=0 ;;
  both) PASSES="1 0" ;;
  *) echo "PIN must be 1, 0 or both" >&2; exit 2 ;;
esac
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
a=sys.argv[1:]
print(json.dumps({"kind":"machine","cpu":cpu[0] if cpu else "?","cores":os.cpu_count(),
 "kernel":platform.release(),"load":os.getloadavg(),"pairs":int(a[0]),
 "rounds":int(a[1]),"duration":int(a[2]),"connections":int(a[3]),"pin":a[4],
 "server_cpus":a[5],"client_cpus":a[6],"wrk_threads":int(a[7]),
 "disk_free_gb":round(os.statvfs(a[8]).f_bavail*os.statvfs(a[8]).f_frsize/2**30,1)}))' \
  "$NPAIRS" "$ROUNDS" "$DURATION" "$CONNS" "$PIN" "$SERVER_CPUS" "$CLIENT_CPUS" "$WRK_THREADS" "$WORK")"

# --- the serving stack: NATS, simulator (every pair trades once a second), the REST timing
# --- proxy (refresh stage), ingestor, Redis, query-api with memory and with Redis cache, baseline
stack_up() {
  log "starting NATS, simulator, ingestor, Redis and two query-apis ($NPAIRS pairs)"
  start_bus
  start_sim --interval 1s
  local rest=()
  if has_stage refresh; then
    start proxy "${ON_CLIENT[@]}" "$BIN/ltp-bench" proxy --listen 127.0.0.1:$PROXY_PORT \
      --upstream "http://127.0.0.1:$SIM_PORT"
    PROXY_PID=$LAST_PID
    wait_http "http://127.0.0.1:$PROXY_PORT/0/public/Time"
    rest=("KRAKEN_REST_URL=http://127.0.0.1:$PROXY_PORT")
  fi
  start_ingestor "${rest[@]}"
  start redis "${ON_SERVER[@]}" redis-server --bind 127.0.0.1 --port $REDIS_PORT --save '' --appendonly no
  REDIS_PID=$LAST_PID
  until redis-cli -p $REDIS_PORT ping >/dev/null 2>&1; do sleep 0.1; done
  start_query_api qa-memory $QA_MEM memory; QA_MEM_PID=$LAST_QA
  start_query_api qa-redis $QA_REDIS redis; QA_REDIS_PID=$LAST_QA
  # The baseline answers exactly what query-api answered for one pair.
  curl -si "$MEM1" > "$OUT/response.raw"
  start baseline "${ON_SERVER[@]}" "$BIN/ltp-bench" serve --addr 127.0.0.1:$BASE_PORT --response "$OUT/response.raw"
  BASE_PID=$LAST_PID
  wait_http "$BASE"
  placement
}

# Where each process may run and how many threads it has (tokio sizes its pool to the CPU set):
# the record that the pass ran as it says.
placement() {
  local name pid rows=()
  for name in nats sim proxy ingestor redis qa-memory qa-redis baseline; do
    case $name in
      nats) pid=${NATS_PID:-} ;; sim) pid=${SIM_PID:-} ;; proxy) pid=${PROXY_PID:-} ;;
      ingestor) pid=${ING_PID:-} ;; redis) pid=${REDIS_PID:-} ;; qa-memory) pid=${QA_MEM_PID:-} ;;
      qa-redis) pid=${QA_REDIS_PID:-} ;; baseline) pid=${BASE_PID:-} ;;
    esac
    [ -n "$pid" ] || continue
    rows+=("\"$name\":{\"cpus\":\"$(awk '/^Cpus_allowed_list/ {print $2}' "/proc/$pid/status")\",\"threads\":$(awk '/^Threads/ {print $2}' "/proc/$pid/status")}")
  done
  echo "{\"kind\":\"placement\",\"processes\":{$(IFS=,; echo "${rows[*]}")}}" | tag >> "$RESULTS"
  log "placement: $(tail -n1 "$RESULTS")"
}

stack_down() {
  for pid in ${QA_MEM_PID:-} ${QA_REDIS_PID:-} ${BASE_PID:-} ${ING_PID:-} ${PROXY_PID:-} ${SIM_PID:-} ${REDIS_PID:-} ${NATS_PID:-}; do
    stop "$pid"
  done
  QA_MEM_PID='' QA_REDIS_PID='' BASE_PID='' ING_PID='' PROXY_PID='' SIM_PID='' REDIS_PID='' NATS_PID=''
}

# Before every round: both query-apis still serve every pair, i.e. the feed (simulator →
# ingestor → NATS) still flows. Otherwise the figures that follow would time error answers.
check_fresh() {
  local port
  for port in $QA_MEM $QA_REDIS; do
    curl -sf -o /dev/null "http://127.0.0.1:$port/api/v1/ltp" && continue
    log "query-api on :$port no longer serves every pair: the feed stopped. ingestor /ready:" \
      "$(curl -s -m 2 "http://127.0.0.1:$ING_PORT/ready"); NATS /healthz:" \
      "$(curl -s -m 2 "http://127.0.0.1:$NATS_MON/healthz"); free disk: $(df -h --output=avail "$WORK" | tail -n 1)." \
      "Stopping here (logs in $OUT/logs)."
    exit 1
  done
}

rss_row() { # process-label pid
  echo "{\"kind\":\"rss\",\"process\":\"$1\",\"rss_kb\":$(rss_kb "$2"),\"hwm_kb\":$(hwm_kb "$2")}" | tag >> "$RESULTS"
}

stage_http() {
  # Alternating rounds, so a noisy neighbour hurts every case alike.
  local round before after requests
  for round in $(seq "$ROUNDS"); do
    check_fresh
    wrk_run baseline "$BASE" "$round" "$BASE_PID"
    wrk_run memory-single "$MEM1" "$round" "$QA_MEM_PID"
    wrk_run memory-all "$MEMALL" "$round" "$QA_MEM_PID"
    before=$(redis-cli -p $REDIS_PORT info commandstats | awk -F'[=,]' '/^cmdstat_mget:/ {print $2}')
    wrk_run redis-single "$RED1" "$round" "$QA_REDIS_PID"
    after=$(redis-cli -p $REDIS_PORT info commandstats | awk -F'[=,]' '/^cmdstat_mget:/ {print $2}')
    requests=$(tail -n1 "$RESULTS" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])')
    echo "{\"kind\":\"redis-roundtrips\",\"round\":$round,\"mget_calls\":$(( ${after:-0} - ${before:-0} )),\"requests\":$requests}" | tag >> "$RESULTS"
    wrk_run redis-all "$REDALL" "$round" "$QA_REDIS_PID"
  done
  rss_row "query-api (memory)" "$QA_MEM_PID"
  rss_row "query-api (redis)" "$QA_REDIS_PID"
}

stage_profile() {
  # Where query-api's CPU goes under maximum load: a flat perf profile (self time per symbol).
  need perf linux-perf
  local case url perf_pid
  for case in memory-single memory-all; do
    check_fresh
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
}

# One open-loop run: `ltp-bench load` at a fixed rate, with the CPU time it took (GNU time) and
# the server's (from /proc) per request sent, warm-up included: at high rates the generator's
# own CPU is part of why latency grows on a machine it shares with the server.
fixed_run() { # kind case rate duration warmup raw-file
  local kind=$1 case=$2 rate=$3 duration=$4 warmup=$5 raw=$6 url=$MEM1 pid=$QA_MEM_PID c0 c1
  [ "$case" = baseline ] && url=$BASE pid=$BASE_PID
  c0=$(cpu_ticks "$pid")
  "${ON_CLIENT[@]}" /usr/bin/time -f '%U %S' -o "$WORK/generator.time" "$BIN/ltp-bench" load \
    --url "$url" --rate "$rate" --connections "$CONNS" --duration "$duration" --warmup "$warmup" > "$raw"
  c1=$(cpu_ticks "$pid")
  python3 - "$raw" "$kind" "$case" "${ROUND:-0}" "$WORK/generator.time" "$((c1 - c0))" \
    "$(getconf CLK_TCK)" "$duration" "$warmup" <<'PY' | tag >> "$RESULTS"
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

stage_fixed() {
  # Half the memory single-pair maximum of the first pass; a second pass (PIN=both) keeps the
  # rate, so its figures compare.
  if [ -z "${FIXED_RATE:-}" ]; then
    local max
    max=$(median_rps memory-single)
    if [ "$max" -eq 0 ]; then
      wrk_run memory-single "$MEM1" 1
      max=$(median_rps memory-single)
    fi
    FIXED_RATE=$((max / 2))
    log "fixed rate: $FIXED_RATE req/s (half of $max)"
  fi
  local round case pass=unpinned
  [ "$BENCH_PINNED" = 1 ] && pass=pinned
  for round in $(seq "$ROUNDS"); do
    check_fresh
    for case in memory-single baseline; do
      ROUND=$round fixed_run fixed "$case" "$FIXED_RATE" "$FIXED_DURATION" 3 "$OUT/raw/load-$pass-$case-$round.json"
    done
  done
  rss_row "query-api (memory)" "$QA_MEM_PID"
}

stage_sweep() {
  # Where p99 <= 1 ms holds on this machine: the same fixed-rate load at lower rates, for
  # query-api and the baseline alike.
  local round rate case pass=unpinned
  [ "$BENCH_PINNED" = 1 ] && pass=pinned
  for round in $(seq "$SWEEP_ROUNDS"); do
    for rate in $SWEEP_RATES; do
      check_fresh
      for case in memory-single baseline; do
        ROUND=$round fixed_run sweep "$case" "$rate" "$SWEEP_DURATION" 2 "$OUT/raw/sweep-$pass-$case-$rate-$round.json"
      done
    done
  done
}

stage_tick() {
  check_fresh
  log "tick to API: $UPDATES updates, simulator in manual mode"
  curl -sf -X POST "http://127.0.0.1:$SIM_PORT/control/rate?manual" >/dev/null
  sleep 1
  local backend port
  for backend in memory redis; do
    port=$QA_MEM; [ $backend = redis ] && port=$QA_REDIS
    "${ON_CLIENT[@]}" "$BIN/ltp-bench" tick --api "http://127.0.0.1:$port" \
      --sim "http://127.0.0.1:$SIM_PORT" --updates "$UPDATES" > "$OUT/raw/tick-$backend.json"
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d.update(kind="tick",case=sys.argv[2]); print(json.dumps(d))' \
      "$OUT/raw/tick-$backend.json" "$backend" | tag >> "$RESULTS"
    log "tick $backend: $(cat "$OUT/raw/tick-$backend.json")"
  done
  curl -sf -X POST "http://127.0.0.1:$SIM_PORT/control/rate?interval=1s" >/dev/null
}

stage_refresh() {
  # Refresh round trips through NATS and the ingestor (docs/benchmarks.md, "refresh"): one at a
  # time, then $REFRESH_RATE/s, with the Kraken calls timed by the proxy and the simulator
  # timed directly beside them.
  local round raw pass=unpinned
  [ "$BENCH_PINNED" = 1 ] && pass=pinned
  for round in $(seq "$REFRESH_ROUNDS"); do
    check_fresh
    raw=$OUT/raw/refresh-$pass-$round.json
    "${ON_CLIENT[@]}" "$BIN/ltp-bench" refresh \
      --url "http://127.0.0.1:$QA_MEM/api/v1/ltp/refresh?pairs=BTC/USD" \
      --proxy "http://127.0.0.1:$PROXY_PORT" --sim "http://127.0.0.1:$SIM_PORT" \
      --rate "$REFRESH_RATE" --duration "$REFRESH_DURATION" --solo "$REFRESH_SOLO" > "$raw"
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d.update(kind="refresh",case="memory",round=int(sys.argv[2])); print(json.dumps(d))' \
      "$raw" "$round" | tag >> "$RESULTS"
    log "refresh round $round: $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); s=d["solo"]
print("solo: round trip p50", s["round_trip"]["p50_us"], "us, ours p99", s["ours"]["p99_us"], "us;",
      d["rate"], "/s: round trip p50", d["round_trip"]["p50_us"], "us p99", d["round_trip"]["p99_us"], "us,",
      d["kraken_calls"], "Kraken calls, after Kraken p99", d["after_kraken"]["p99_us"], "us, simulator p99",
      d["sim_direct"]["answer"]["p99_us"], "us, statuses", d["status"])' "$raw")"
  done
}

stage_cold() {
  # The ingestor is stopped first: every price a new query-api serves must come from the
  # values NATS holds (JetStream last-value stream), not from a live update. The query-apis
  # it spawns run where the coldstart tool runs: on the server CPUs.
  log "cold start: ingestor stopped, NATS holds the last values"
  stop "$ING_PID"; ING_PID=''
  "${ON_SERVER[@]}" env "${svc_env[@]}" PORT=$QA_COLD CACHE_BACKEND=memory LOG_LEVEL=warn \
    "$BIN/ltp-bench" coldstart --bin "$BIN/query-api" --addr 127.0.0.1:$QA_COLD --runs 5 \
    > "$OUT/raw/coldstart.json"
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d.update(kind="cold"); print(json.dumps(d))' \
    "$OUT/raw/coldstart.json" | tag >> "$RESULTS"
  log "cold start: $(cat "$OUT/raw/coldstart.json")"
}

# --- ingestor capacity: one socket at $INGEST_RATE msg/s into NATS (JetStream on, the default);
# --- the simulator is the load generator (client CPUs), ingestor and NATS the service ---------
stage_ingest() {
  ingest_capacity ingest
}

for pass in $PASSES; do
  use_pinning "$pass"
  if [ "$pass" = 1 ]; then
    log "pass: pinned (service side on CPUs $SERVER_CPUS, load generators on CPUs $CLIENT_CPUS)"
  else
    log "pass: unpinned"
  fi
  if has_stage http || has_stage profile || has_stage fixed || has_stage sweep ||
    has_stage tick || has_stage refresh || has_stage cold; then
    stack_up
    has_stage http && stage_http
    has_stage profile && stage_profile
    has_stage fixed && stage_fixed
    has_stage sweep && stage_sweep
    has_stage tick && stage_tick
    has_stage refresh && stage_refresh
    has_stage cold && stage_cold
    # Stopped before the ingestor capacity run, which needs the cores to itself.
    stack_down
  fi
  has_stage ingest && stage_ingest
done

python3 "$ROOT/bench/report.py" "$RESULTS" --summaries > "$WORK/summaries.jsonl"
cat "$WORK/summaries.jsonl" >> "$RESULTS"
python3 "$ROOT/bench/report.py" "$RESULTS" > "$OUT/table.md"
cat "$OUT/table.md"
log "results in $OUT"
