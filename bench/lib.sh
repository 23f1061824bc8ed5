# Shared by bench/run.sh and bench/ab.sh (sourced, not run): tools, process management, CPU
# pinning, the services' environment, and wrk runs recorded as JSON lines in $RESULTS. Expects
# ROOT, BIN, OUT, CONNS, DURATION and NPAIRS to be set; sets the ports, WORK (removed on exit)
# and RESULTS.

# Ports (all loopback), away from the defaults and from the test suites' random ports.
NATS_PORT=24222 NATS_MON=28222 SIM_PORT=28090 ING_PORT=28081 REDIS_PORT=26379
QA_MEM=28080 QA_REDIS=28082 QA_COLD=28083 BASE_PORT=28099 PROXY_PORT=28091
WORK=$(mktemp -d /tmp/ltp-bench.XXXXXX)
RESULTS=$OUT/results.jsonl
: > "$RESULTS"
log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# --- tools --------------------------------------------------------------------------------
need() { # command package
  command -v "$1" >/dev/null 2>&1 && return
  log "installing $2"
  if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}
need wrk wrk
need nats-server nats-server
need redis-server redis-server
need redis-cli redis-tools
need curl curl
need python3 python3
need ss iproute2
need /usr/bin/time time
need taskset util-linux
[ -x /usr/sbin/nats-server ] && PATH=$PATH:/usr/sbin

# --- CPU pinning ----------------------------------------------------------------------------
# Pinned (the default), the service side — query-api, the baseline, the ingestor, NATS and
# Redis — runs on SERVER_CPUS and everything standing for the outside world — wrk, the
# ltp-bench tools, the Kraken simulator and its proxy — on CLIENT_CPUS, so the load generator
# no longer takes cycles from the server it measures. Each process is started under `taskset`,
# so tokio sizes its worker pool to the set (one core, one worker), as it would in a container
# given that many CPUs. Unpinned, everything shares every core (the figures before issue 17).
SERVER_CPUS=${SERVER_CPUS:-0}
CLIENT_CPUS=${CLIENT_CPUS:-1}
for set in "$SERVER_CPUS" "$CLIENT_CPUS"; do
  taskset -c "$set" true 2>/dev/null || { log "CPU set '$set' is not usable here (nproc: $(nproc))"; exit 2; }
done
use_pinning() { # 1 | 0
  if [ "$1" = 1 ]; then
    ON_SERVER=(taskset -c "$SERVER_CPUS") ON_CLIENT=(taskset -c "$CLIENT_CPUS")
  else
    ON_SERVER=() ON_CLIENT=()
  fi
  export BENCH_PINNED=$1
}
use_pinning 1
# Adds the pass (pinned or not) to every JSON line on stdin: every measurement says how it ran.
tag() {
  python3 -c 'import json, os, sys
for line in sys.stdin:
    if line.strip():
        print(json.dumps({**json.loads(line), "pinned": os.environ["BENCH_PINNED"] == "1"}))'
}


# The first $NPAIRS markets of the built-in table (the ones every binary accepts).
PAIRS=$(grep -oE 'market!\("[A-Z0-9]+" / "[A-Z0-9]+"' "$ROOT/common/src/markets.rs" |
  sed -E 's/market!\("([A-Z0-9]+)" \/ "([A-Z0-9]+)"/\1\/\2/' | head -n "$NPAIRS" | paste -sd, -)

# --- processes ------------------------------------------------------------------------------
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
  # The access log writes a line per request (GBs per run): keep the start and the end.
  for f in "$OUT"/logs/*.log; do
    [ -f "$f" ] && [ "$(stat -c %s "$f")" -gt 10000000 ] || continue
    { head -n 200 "$f"; echo "... (truncated by bench/lib.sh)"; tail -n 200 "$f"; } > "$f.cut"
    mv "$f.cut" "$f"
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_free() { ! ss -ltn | grep -q ":$1 "; }
for port in $NATS_PORT $NATS_MON $SIM_PORT $ING_PORT $REDIS_PORT $QA_MEM $QA_REDIS $QA_COLD $BASE_PORT; do
  for _ in $(seq 50); do port_free "$port" && break; sleep 0.2; done
  port_free "$port" || { log "port $port is busy"; exit 1; }
done

wait_http() { # url [seconds]
  local deadline=$((SECONDS + ${2:-30}))
  until curl -sf -o /dev/null "$1"; do
    [ $SECONDS -lt $deadline ] || { log "timed out waiting for $1"; return 1; }
    sleep 0.1
  done
}

start() { # name command...  (stdout+stderr to $OUT/logs/name.log; pid in $LAST_PID)
  local name=$1; shift
  mkdir -p "$OUT/logs"
  "$@" >"$OUT/logs/$name.log" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}

stop() { # pid
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# Common environment of the services: the benchmark's pairs and ports, defaults otherwise.
# Rate limiting is off: every request comes from one client address, which the default bucket
# (100 burst, 10/s) would answer with 429 after a tenth of a second.
svc_env=(
  NATS_URL=nats://127.0.0.1:$NATS_PORT SUPPORTED_PAIRS=$PAIRS RATE_LIMIT_ENABLED=false
  KRAKEN_WS_URL=ws://127.0.0.1:$SIM_PORT/v2 KRAKEN_REST_URL=http://127.0.0.1:$SIM_PORT
  INGESTOR_PORT=$ING_PORT REDIS_ADDR=127.0.0.1:$REDIS_PORT
)

start_bus() {
  rm -rf "$WORK/js"
  start nats "${ON_SERVER[@]}" nats-server -a 127.0.0.1 -p $NATS_PORT -m $NATS_MON -js -sd "$WORK/js"
  NATS_PID=$LAST_PID
  wait_http "http://127.0.0.1:$NATS_MON/healthz"
}

start_sim() { # extra simulator flags...
  start sim "${ON_CLIENT[@]}" "$BIN/kraken-sim" --port $SIM_PORT --pairs "$PAIRS" --log-level warn "$@"
  SIM_PID=$LAST_PID
  wait_http "http://127.0.0.1:$SIM_PORT/health"
}

start_ingestor() { # extra VAR=value words for its environment
  start ingestor "${ON_SERVER[@]}" env "${svc_env[@]}" "$@" "$BIN/ingestor"
  ING_PID=$LAST_PID
  wait_http "http://127.0.0.1:$ING_PORT/ready" 30
}

start_query_api() { # name port backend [binary]; $QA_ENV: extra VAR=value words
  # shellcheck disable=SC2086
  start "$1" "${ON_SERVER[@]}" env "${svc_env[@]}" PORT="$2" CACHE_BACKEND="$3" ${QA_ENV:-} "${4:-$BIN/query-api}"
  LAST_QA=$LAST_PID
  wait_http "http://127.0.0.1:$2/ready" 30
  wait_http "http://127.0.0.1:$2/api/v1/ltp" 30   # 200 = every pair has a fresh price
}

record() { # json object
  echo "$1" >> "$RESULTS"
}

# wrk: closed-loop maximum throughput. $WRK_THREADS threads (2 unless set), $CONNS connections,
# on the client CPUs when pinned. With the server's pid, also the server's CPU time per request
# (user + system, all threads): on a shared machine this moves far less than req/s, which
# depends on what else is running.
WRK_THREADS=${WRK_THREADS:-2}
wrk_run() { # case url round [server pid]
  local case=$1 url=$2 round=$3 pid=${4:-} raw c0=0 c1=0 pass=unpinned
  [ "$BENCH_PINNED" = 1 ] && pass=pinned
  raw="$OUT/raw/wrk-$pass-$(printf '%s' "$1" | tr -c 'A-Za-z0-9_.-' '_')-$3.txt"   # case may hold a path
  mkdir -p "$OUT/raw"
  [ -n "$pid" ] && c0=$(cpu_ticks "$pid")
  # WRK_HEADER (optional): one request header for every request, e.g. "Accept-Encoding: gzip".
  "${ON_CLIENT[@]}" wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DURATION}s" --latency \
    ${WRK_HEADER:+-H "$WRK_HEADER"} "$url" > "$raw"
  [ -n "$pid" ] && c1=$(cpu_ticks "$pid")
  python3 - "$case" "$round" "$raw" "$((c1 - c0))" "$(getconf CLK_TCK)" <<'PY' | tag >> "$RESULTS"
import json, re, sys
case, rnd, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ticks, tck = int(sys.argv[4]), int(sys.argv[5])
text = open(path).read()
def num(pattern, default=0.0):
    m = re.search(pattern, text)
    return float(m.group(1)) if m else default
def lat(label):
    m = re.search(r"^\s+" + label + r"%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    if not m: return None
    return float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)]
print(json.dumps({"kind": "wrk", "case": case, "round": rnd,
  "rps": num(r"Requests/sec:\s+([\d.]+)"), "requests": int(num(r"(\d+) requests in")),
  "non_2xx": int(num(r"Non-2xx or 3xx responses:\s+(\d+)")),
  "errors": int(sum(float(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", text))),
  "p50_us": lat("50"), "p99_us": lat("99"),
  "cpu_us_per_req": (1e6 * ticks / tck / max(1, num(r"(\d+) requests in"))) if ticks else None}))
PY
  log "wrk $case ($pass) round $round: $(grep Requests/sec "$raw" | awk '{print $2}') req/s$(
    [ -n "$pid" ] && tail -n1 "$RESULTS" | python3 -c 'import json,sys; print(", %.1f us CPU/req" % json.load(sys.stdin)["cpu_us_per_req"])')"
}

median_rps() { # case (of the current pass)
  python3 - "$1" "$RESULTS" <<'PY'
import json, os, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
pinned = os.environ["BENCH_PINNED"] == "1"
v = [r["rps"] for r in rows if r.get("kind") == "wrk" and r["case"] == sys.argv[1]
     and r.get("pinned", False) == pinned]
print(int(statistics.median(v)) if v else 0)
PY
}

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# The ingestor's capacity: one socket at $INGEST_RATE msg/s from the simulator into NATS
# (JetStream on, the default), measured for 20 s, then the totals once the flow has stopped.
# Records one "ingest" object labelled $1 (the binaries are $BIN's); also the simulator's CPU.
ingest_capacity() { # case
  log "ingestor capacity ($1): simulator at $INGEST_RATE msg/s over $NPAIRS pairs"
  start_bus
  start_sim --rate "$INGEST_RATE"
  start_ingestor
  sleep 5
  stats() { curl -s "http://127.0.0.1:$SIM_PORT/control/stats"; }
  conn_in() { # messages NATS received from the ingestor's connection
    curl -s "http://127.0.0.1:$NATS_MON/connz?limit=1000" |
      python3 -c 'import json,sys; print(sum(c.get("in_msgs",0) for c in json.load(sys.stdin)["connections"] if c.get("name","").startswith("ltp-ingestor")))'
  }
  s1=$(stats); n1=$(conn_in); c1=$(cpu_ticks "$ING_PID"); k1=$(cpu_ticks "$SIM_PID"); t1=$(date +%s.%N)
  sleep 20
  s2=$(stats); n2=$(conn_in); c2=$(cpu_ticks "$ING_PID"); k2=$(cpu_ticks "$SIM_PID"); t2=$(date +%s.%N)
  hwm=$(hwm_kb "$ING_PID"); rss=$(rss_kb "$ING_PID")
  # Stop the flow, let everything in flight arrive, then compare totals.
  curl -sf -X POST "http://127.0.0.1:$SIM_PORT/control/rate?manual" >/dev/null
  sleep 3
  s3=$(stats); n3=$(conn_in)
  curl -s "http://127.0.0.1:$ING_PORT/metrics" > "$OUT/raw/ingestor-metrics.txt"
  python3 - "$s1" "$s2" "$s3" "$n1" "$n2" "$n3" "$c1" "$c2" "$t1" "$t2" "$hwm" "$rss" "$INGEST_RATE" "$(getconf CLK_TCK)" "$OUT/raw/ingestor-metrics.txt" "$1" "$k1" "$k2" <<'PY' | tag >> "$RESULTS"
import json, re, sys
a = sys.argv[1:]
s1, s2, s3 = (json.loads(x) for x in a[0:3])
n1, n2, n3, c1, c2 = (int(x) for x in a[3:8])
t1, t2 = float(a[8]), float(a[9])
hwm, rss, target, tck = int(a[10]), int(a[11]), int(a[12]), int(a[13])
metrics = open(a[14]).read()
case, k1, k2 = a[15], int(a[16]), int(a[17])
def total(name, label=""):
    return int(sum(float(m.group(1)) for m in re.finditer(r"^" + name + r"\{[^}]*" + label + r"[^}]*\} ([\d.e+]+)$", metrics, re.M)))
dt = t2 - t1
sent = s2["ticker_messages_sent"] - s1["ticker_messages_sent"]
cpu_s = (c2 - c1) / tck
updates = total("ingestor_prices_published_total", 'kind="update"')
print(json.dumps({"kind": "ingest", "case": case, "target_rate": target,
  "sim_rate": sent / dt, "nats_in_rate": (n2 - n1) / dt,
  "sim_missed": s3["ticker_messages_missed"],
  "sim_sent_total": s3["ticker_messages_sent"],
  "published_updates_total": updates,
  "republished_total": total("ingestor_prices_published_total", 'kind="republish"'),
  "dropped_total": total("ingestor_prices_dropped_total"),
  "publish_errors": total("ingestor_publish_errors_total"),
  "nats_in_total": n3,
  "lost": s3["ticker_messages_sent"] - updates,
  "cpu_percent": 100 * cpu_s / dt,
  "cpu_us_per_msg": 1e6 * cpu_s / max(1, sent),
  "sim_cpu_percent": 100 * (k2 - k1) / tck / dt,
  "rss_kb": rss, "hwm_kb": hwm}))
PY
  log "ingest ($1): $(tail -n1 "$RESULTS")"
  stop "$ING_PID"; stop "$SIM_PID"; stop "$NATS_PID"
}
