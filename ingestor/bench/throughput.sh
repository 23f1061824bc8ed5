#!/bin/bash
# Throughput probe (not a timed test): kraken-sim at RATE ticker msgs/s -> ingestor -> nats-server.
# Counts what NATS received (/varz in_msgs) against what the simulator wrote and the ingestor
# published; prints RSS and CPU of the ingestor and how long SIGTERM took. Usage:
#   RATE=100000 ingestor/bench/throughput.sh        # core NATS
#   JS=-js RATE=100000 ingestor/bench/throughput.sh # with JetStream
set -u
# Build first: cargo build --release -p ingestor -p kraken-sim
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release}
OUT=$(mktemp -d)
RATE=${RATE:-100000}; JS=${JS:-}
for port in 14222 18222 18090 18081; do
  for _ in $(seq 50); do ss -ltn | grep -q ":$port " || break; sleep 0.2; done
  ss -ltn | grep -q ":$port " && { echo "port $port is busy" >&2; exit 1; }
done
PAIRS=BTC/USD,ETH/USD,DOGE/USD,BTC/CHF,BTC/EUR,LTC/USD,XRP/USD,SOL/USD
rm -rf $OUT/js
nats-server -p 14222 -m 18222 $JS -sd $OUT/js > $OUT/nats.log 2>&1 & NATS=$!
$BIN/kraken-sim --port 18090 --rate $RATE --pairs $PAIRS --log-level warn > $OUT/sim.log 2>&1 & SIM=$!
sleep 1
KRAKEN_WS_URL=ws://127.0.0.1:18090/v2 KRAKEN_REST_URL=http://127.0.0.1:18090 NATS_URL=nats://127.0.0.1:14222 \
SUPPORTED_PAIRS=$PAIRS INGESTOR_PORT=18081 LOG_LEVEL=warn CACHE_TTL=30s \
$BIN/ingestor > $OUT/ing.log 2>&1 & ING=$!
sleep 8
s1=$(curl -s localhost:18090/control/stats | python3 -c 'import json,sys;d=json.load(sys.stdin);print(d["ticker_messages_sent"],d["ticker_messages_missed"])')
n1=$(curl -s localhost:18222/varz | python3 -c 'import json,sys;print(json.load(sys.stdin)["in_msgs"])')
t1=$(date +%s.%N)
sleep 20
s2=$(curl -s localhost:18090/control/stats | python3 -c 'import json,sys;d=json.load(sys.stdin);print(d["ticker_messages_sent"],d["ticker_messages_missed"])')
n2=$(curl -s localhost:18222/varz | python3 -c 'import json,sys;print(json.load(sys.stdin)["in_msgs"])')
t2=$(date +%s.%N)
curl -s -X POST "localhost:18090/control/rate?manual=true" >/dev/null; sleep 2
tot_sim=$(curl -s localhost:18090/control/stats | python3 -c 'import json,sys;d=json.load(sys.stdin);print(d["ticker_messages_sent"])')
tot_nats=$(curl -s localhost:18222/varz | python3 -c 'import json,sys;print(json.load(sys.stdin)["in_msgs"])')
tot_pub=$(curl -s localhost:18081/metrics | grep '^ingestor_prices_published_total{kind="update"' | awk '{s+=$2} END {print s}')
tot_rep=$(curl -s localhost:18081/metrics | grep '^ingestor_prices_published_total{kind="republish"' | awk '{s+=$2} END {print s}')
tot_rx=$(curl -s localhost:18081/metrics | grep "^ingestor_prices_received_total" | awk "{s+=\$2} END {print s}"); tot_fr=$(curl -s localhost:18081/metrics | grep "kind=\"ticker\"" | awk "{print \$2}"); tot_held=$(curl -s localhost:18081/metrics | grep "^ingestor_held"); echo "received $tot_rx frames $tot_fr $tot_held"
echo "totals: sim ticker sent $tot_sim, ingestor published updates $tot_pub (+$tot_rep republish), nats in_msgs $tot_nats"
rss=$(grep VmRSS /proc/$ING/status); hwm=$(grep VmHWM /proc/$ING/status)
cpu=$(ps -o %cpu= -p $ING)
curl -s localhost:18081/metrics | grep -E "^ingestor_(publish_errors_total|ws_frames_total|prices_dropped)" | head -20
python3 - <<PY
s1,m1=map(int,"$s1".split()); s2,m2=map(int,"$s2".split()); n1=$n1; n2=$n2; dt=$t2-$t1
print(f"sim sent {(s2-s1)/dt:,.0f}/s (missed {m2-m1}), nats in {(n2-n1)/dt:,.0f}/s, ratio {(n2-n1)/max(1,s2-s1):.4f}")
PY
echo "$rss $hwm cpu%=$cpu"
kill -TERM $ING; t=$(date +%s.%N); wait $ING; echo "ingestor exit=$? in $(python3 -c "print(round($(date +%s.%N)-$t,2))")s"
kill $SIM $NATS; wait 2>/dev/null
