#!/usr/bin/env bash
# The streaming benchmarks of issue 12, on one query-api replica (memory cache) fed by the
# simulator through the ingestor and NATS, with every client on the same machine:
#
#   idle      10,000 SSE streams held (one pair each): query-api's added resident memory, and
#             single-pair REST latency at a fixed 1,000 req/s with and without them held,
#             alternating rounds                                   (targets: ≤150 MB, p99 ≤ 2×)
#   fanout    1,000 SSE streams on every pair, simulator at 100 ticks/s in total: updates
#             delivered per client against messages published, and price arrival (on NATS, as
#             the bench's own subscriber saw it) to client latency  (target: p99 ≤ 10 ms)
#   saturate  the same price messages, published by the bench at rising rates, delivered to N
#             SSE clients through query-api and to N plain NATS subscribers by nats-server,
#             alternating: delivered events/s and CPU per event  (target: SSE ≥ 50 % of NATS)
#
#   bench/streams.sh                                  # all three (~15 minutes)
#   STAGES=fanout FANOUT_DURATION=10 bench/streams.sh # one stage, shorter
#   IDLE_STREAMS=2000 IDLE_ROUNDS=1 bench/streams.sh  # quick look
#
# Pinned like bench/run.sh (lib.sh): query-api, the ingestor and nats-server on SERVER_CPUS;
# the simulator and every ltp-bench tool (clients, load, publisher) on CLIENT_CPUS. PIN=0 runs
# unpinned. Results go to $OUT (default bench/results/<UTC time>/): results.jsonl, raw tool
# output, logs and table.md. Every process started here is stopped on exit, by its pid.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$CARGO_TARGET_DIR/release
STAGES=${STAGES:-"idle fanout saturate"}
NPAIRS=${NPAIRS:-50}
CONNS=${CONNS:-50}                 # keep-alive connections of the fixed-rate REST load
DURATION=${DURATION:-10}           # (lib.sh's wrk runs; unused here)
IDLE_STREAMS=${IDLE_STREAMS:-10000}
IDLE_PATH=${IDLE_PATH:-"/api/v1/ltp/stream?pair=BTC/USD"}
IDLE_RATE=${IDLE_RATE:-1000}       # REST requests per second beside the streams
IDLE_DURATION=${IDLE_DURATION:-20} # measured seconds per REST run
IDLE_ROUNDS=${IDLE_ROUNDS:-3}
FANOUT_CLIENTS=${FANOUT_CLIENTS:-1000}
FANOUT_TICKS=${FANOUT_TICKS:-100}  # simulator ticker updates per second, all pairs together
FANOUT_DURATION=${FANOUT_DURATION:-30}
FANOUT_ROUNDS=${FANOUT_ROUNDS:-3}
SAT_CLIENTS=${SAT_CLIENTS:-1000}
SAT_RATES=${SAT_RATES:-"200,1000,5000"}
SAT_DURATION=${SAT_DURATION:-10}
SAT_ROUNDS=${SAT_ROUNDS:-2}
PROFILE=${PROFILE:-0}               # 1: perf profile of query-api (self time per symbol) in
                                   # the idle stage's REST run with streams and in fan-out
PIN=${PIN:-1}
case $PIN in 0 | 1) ;; *) echo "PIN must be 1 or 0" >&2; exit 2 ;; esac
OUT=${OUT:-$ROOT/bench/results/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT/raw"
OUT=$(cd "$OUT" && pwd)

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
use_pinning "$PIN"
# 10,000 streams are 10,000 descriptors in query-api and as many in the holding tool.
ulimit -n "$(ulimit -Hn)"
need_fds=$((IDLE_STREAMS + 1000))
[ "$(ulimit -n)" -ge "$need_fds" ] || { log "ulimit -n is $(ulimit -n), $need_fds needed"; exit 2; }
# Every stream comes from 127.0.0.1: the per-client cap must allow them all.
QA_STREAMS="LTP_STREAMS__MAX_STREAMS=$((IDLE_STREAMS + 1000)) LTP_STREAMS__MAX_PER_CLIENT=$((IDLE_STREAMS + 1000))"
has_stage() { [[ " $STAGES " == *" $1 "* ]]; }
MEM1="http://127.0.0.1:$QA_MEM/api/v1/ltp?pair=BTC/USD"

log "building release binaries into $CARGO_TARGET_DIR"
(cd "$ROOT" && cargo build --release --quiet -p query-api -p ingestor -p kraken-sim -p ltp-bench)

machine() { # label
  python3 -c 'import json,os,platform,sys
cpu=[l.split(":",1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")]
print(json.dumps({"kind":"machine","at":sys.argv[1],"cpu":cpu[0] if cpu else "?",
 "cores":os.cpu_count(),"kernel":platform.release(),"load":os.getloadavg(),
 "uptime":os.popen("uptime").read().strip(),"pairs":int(sys.argv[2]),"pin":sys.argv[3],
 "server_cpus":sys.argv[4],"client_cpus":sys.argv[5],"ulimit_n":int(sys.argv[6])}))' \
    "$1" "$NPAIRS" "$PIN" "$SERVER_CPUS" "$CLIENT_CPUS" "$(ulimit -n)" | tag >> "$RESULTS"
  log "machine ($1): $(uptime)"
}
machine start

# A tool's JSON (file) as one results line with extra fields (JSON object text).
record_json() { # file extra-json
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d.update(json.loads(sys.argv[2])); print(json.dumps(d))' \
    "$1" "$2" | tag >> "$RESULTS"
}

stack_down() {
  for pid in ${QA_PID:-} ${ING_PID:-} ${SIM_PID:-} ${NATS_PID:-}; do stop "$pid"; done
  QA_PID='' ING_PID='' SIM_PID='' NATS_PID=''
}

# perf, sampling query-api (self time per symbol, no call graph) for $2 seconds, when PROFILE=1.
profile_start() { # name seconds
  [ "$PROFILE" = 1 ] || return 0
  perf record -F 499 -o "$WORK/perf-$1.data" -p "$QA_PID" -- sleep "$2" > /dev/null 2>&1 &
  PERF_PID=$!
}
profile_end() { # name
  [ "$PROFILE" = 1 ] || return 0
  wait "$PERF_PID" || true
  perf report -i "$WORK/perf-$1.data" --no-children --sort dso,symbol --percent-limit 0.5 \
    --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | cut -c1-160 > "$OUT/raw/perf-self-$1.txt"
  log "profile $1: $OUT/raw/perf-self-$1.txt"
}

# One fixed-rate single-pair REST run beside (or without) the held streams.
idle_load() { # case round
  local raw=$OUT/raw/idle-load-$1-$2.json
  "${ON_CLIENT[@]}" "$BIN/ltp-bench" load --url "$MEM1" --rate "$IDLE_RATE" \
    --connections "$CONNS" --duration "$IDLE_DURATION" --warmup 3 > "$raw"
  record_json "$raw" "{\"kind\":\"idle-load\",\"case\":\"$1\",\"round\":$2}"
  log "idle REST $1 round $2: $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); l=d["latency"]; print(d["achieved_rate"], "req/s, p50", l["p50_us"], "us, p99", l["p99_us"], "us, errors", d["errors"] + d["non_2xx"])' "$raw")"
}

# Opens $IDLE_STREAMS streams with `ltp-bench hold`, measures, runs the REST load, closes them.
idle_with() { # round
  local round=$1 ready=$WORK/hold-ready-$1 raw=$OUT/raw/hold-$1.json hold rss0 rss1 rss2 fds c0 c1 cpu
  rss0=$(rss_kb "$QA_PID")
  rm -f "$ready"
  "${ON_CLIENT[@]}" "$BIN/ltp-bench" hold --addr 127.0.0.1:$QA_MEM --path "$IDLE_PATH" \
    --streams "$IDLE_STREAMS" --ready "$ready" > "$raw" 2> "$OUT/logs/hold-$round.log" &
  hold=$!
  PIDS+=("$hold")
  for _ in $(seq 600); do [ -s "$ready" ] && break; sleep 0.5; done
  [ -s "$ready" ] || { log "hold: streams not open after 300 s"; exit 1; }
  sleep 3   # let the snapshots' buffers settle
  rss1=$(rss_kb "$QA_PID")
  fds=$(ls "/proc/$QA_PID/fd" | wc -l)
  c0=$(cpu_ticks "$QA_PID"); sleep 5; c1=$(cpu_ticks "$QA_PID")
  cpu=$(( 100 * (c1 - c0) / $(getconf CLK_TCK) / 5 ))
  log "held: $(cat "$ready" | tr -d '\n'); query-api RSS $rss0 -> $rss1 kB, $fds descriptors, CPU $cpu % with no REST load"
  [ "$round" = 1 ] && profile_start idle-with $((IDLE_DURATION + 3))
  idle_load with "$round"
  [ "$round" = 1 ] && profile_end idle-with
  rss2=$(rss_kb "$QA_PID")
  kill -TERM "$hold"; wait "$hold" || true
  record_json "$raw" "{\"kind\":\"idle-rss\",\"round\":$round,\"rss_before_kb\":$rss0,\"rss_held_kb\":$rss1,\"rss_after_load_kb\":$rss2,\"qa_fds_held\":$fds,\"qa_cpu_percent_held_idle\":$cpu,\"ready\":$(cat "$ready")}"
  log "idle round $round: added RSS $(( (rss1 - rss0) / 1024 )) MB, $(( (rss1 - rss0) * 1024 / IDLE_STREAMS )) bytes per stream"
  sleep 3   # query-api notices the resets and drops the streams
}

stage_idle() {
  log "idle streams: $IDLE_STREAMS streams on $IDLE_PATH, REST at $IDLE_RATE req/s, $IDLE_ROUNDS rounds"
  start_bus
  start_sim --interval 1s
  start_ingestor
  QA_ENV=$QA_STREAMS start_query_api qa-idle $QA_MEM memory; QA_PID=$LAST_QA
  local round
  for round in $(seq "$IDLE_ROUNDS"); do
    curl -sf -o /dev/null "http://127.0.0.1:$QA_MEM/api/v1/ltp" || { log "feed stopped"; exit 1; }
    if [ $((round % 2)) = 1 ]; then
      idle_load without "$round"; idle_with "$round"
    else
      idle_with "$round"; idle_load without "$round"
    fi
  done
  echo "{\"kind\":\"rss\",\"process\":\"query-api (idle stage end)\",\"rss_kb\":$(rss_kb "$QA_PID"),\"hwm_kb\":$(hwm_kb "$QA_PID")}" | tag >> "$RESULTS"
  curl -s "http://127.0.0.1:$QA_MEM/metrics" | grep -E '^ltp_stream' > "$OUT/raw/idle-metrics.txt" || true
  stack_down
}

stage_fanout() {
  log "fan-out: $FANOUT_CLIENTS SSE clients on every pair, simulator at $FANOUT_TICKS ticks/s"
  start_bus
  start_sim --rate "$FANOUT_TICKS"
  start_ingestor
  QA_ENV=$QA_STREAMS start_query_api qa-fanout $QA_MEM memory; QA_PID=$LAST_QA
  local round raw c0 c1
  for round in $(seq "$FANOUT_ROUNDS"); do
    raw=$OUT/raw/fanout-$round.json
    c0=$(cpu_ticks "$QA_PID")
    [ "$round" = 1 ] && profile_start fanout $((FANOUT_DURATION + 5))
    "${ON_CLIENT[@]}" "$BIN/ltp-bench" fanout --addr 127.0.0.1:$QA_MEM \
      --nats "nats://127.0.0.1:$NATS_PORT" --clients "$FANOUT_CLIENTS" \
      --duration "$FANOUT_DURATION" > "$raw"
    c1=$(cpu_ticks "$QA_PID")
    [ "$round" = 1 ] && profile_end fanout
    record_json "$raw" "{\"kind\":\"fanout\",\"round\":$round,\"ticks_per_s\":$FANOUT_TICKS,\"qa_cpu_s\":$(( (c1 - c0) / $(getconf CLK_TCK) )),\"qa_rss_kb\":$(rss_kb "$QA_PID")}"
    log "fanout round $round: $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); l=d["latency"]; s=d["server_delivery_seconds"]
print(d["published"], "published;", d["clients_with_every_update"], "of", d["clients_open"], "clients got all; per client", d["per_client_received"], "; latency p50", l["p50_us"], "us p99", l["p99_us"], "us max", l["max_us"], "us; server p99 <=", s["p99_le_s"], "s")' "$raw")"
  done
  stack_down
}

stage_saturate() {
  # The bench is the only publisher: the ingestor fills the cache once (simulator in manual
  # mode: the snapshots only) and is stopped before any phase.
  log "saturation: $SAT_CLIENTS clients per kind, publish rates $SAT_RATES msg/s"
  start_bus
  start_sim --manual
  start_ingestor
  QA_ENV=$QA_STREAMS start_query_api qa-saturate $QA_MEM memory; QA_PID=$LAST_QA
  stop "$ING_PID"; ING_PID=''
  stop "$SIM_PID"; SIM_PID=''
  local raw=$OUT/raw/saturate.json
  "${ON_CLIENT[@]}" "$BIN/ltp-bench" saturate --addr 127.0.0.1:$QA_MEM \
    --nats "nats://127.0.0.1:$NATS_PORT" --pairs "$PAIRS" --clients "$SAT_CLIENTS" \
    --rates "$SAT_RATES" --duration "$SAT_DURATION" --rounds "$SAT_ROUNDS" \
    --qa-pid "$QA_PID" --nats-pid "$NATS_PID" --clk-tck "$(getconf CLK_TCK)" \
    > "$raw" 2> "$OUT/logs/saturate.log"
  python3 -c 'import json,sys
for r in json.load(open(sys.argv[1]))["rows"]:
    r["kind"], r["case"] = "saturate", r["kind"]
    print(json.dumps(r))' "$raw" | tag >> "$RESULTS"
  stack_down
}

has_stage idle && stage_idle
has_stage fanout && stage_fanout
has_stage saturate && stage_saturate
machine end
python3 "$ROOT/bench/streams_report.py" "$RESULTS" > "$OUT/table.md"
cat "$OUT/table.md"
log "results in $OUT"
