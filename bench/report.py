#!/usr/bin/env python3
"""Turns bench/run.sh's results.jsonl into the markdown table of docs/benchmarks.md.

Medians over the rounds; every round's figure is listed below the table so the noise is seen.
"""
import json
import statistics
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]


def of(kind, case=None):
    return [r for r in rows if r.get("kind") == kind and (case is None or r.get("case") == case)]


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def rps(case):
    return med([r["rps"] for r in of("wrk", case)])


def fixed(case, key="p99_us"):
    return med([r["latency"][key] for r in of("fixed", case)])


def fmt_rps(v):
    return "–" if v is None else f"{v:,.0f} req/s"


def fmt_us(v):
    if v is None:
        return "–"
    return f"{v / 1000:.2f} ms" if v >= 1000 else f"{v:.0f} µs"


def pct(a, b):
    return "–" if not a or not b else f"{100 * a / b:.0f} %"


def verdict(ok):
    return "–" if ok is None else ("**met**" if ok else "**missed**")


machine = (of("machine") or [{}])[0]
out = []
p = out.append
p(f"Machine: {machine.get('cpu', '?')}, {machine.get('cores', '?')} cores (shared), "
  f"kernel {machine.get('kernel', '?')}; load average at start "
  f"{', '.join(f'{x:.2f}' for x in machine.get('load', []))}. "
  f"{machine.get('pairs', '?')} pairs configured; {machine.get('rounds', '?')} rounds of "
  f"{machine.get('duration', '?')} s per wrk case, {machine.get('connections', '?')} connections; "
  "medians reported. Load generator on the same machine.")
p("")
p("| # | what | ltp | baseline / reference | ratio | target | seed (Go) | |")
p("|---|---|---|---|---|---|---|---|")

base = rps("baseline")
mem1 = rps("memory-single")
memall = rps("memory-all")
red1 = rps("redis-single")
redall = rps("redis-all")
SEED_RPS = "README target 300 req/s (never measured); k6 runs ≈14 req/s"
if mem1 is not None:
    p(f"| 1 | `GET /api/v1/ltp?pair=BTC/USD`, memory, max throughput (wrk) | {fmt_rps(mem1)} | "
      f"baseline {fmt_rps(base)} | {pct(mem1, base)} | ≥ 70 % | {SEED_RPS} | "
      f"{verdict(mem1 >= 0.7 * base if base else None)} |")
fx = of("fixed", "memory-single")
if fx:
    rate = fx[0]["target_rate"]
    p99 = fixed("memory-single")
    p50 = fixed("memory-single", "p50_us")
    p999 = fixed("memory-single", "p999_us")
    bp99 = fixed("baseline")
    achieved = med([r["achieved_rate"] for r in fx])
    gen = med([r.get("generator_cpu_us_per_req") for r in fx])
    cpu_note = "" if gen is None else f"; the generator used {gen:.1f} µs of CPU per request"
    p(f"| 1 | same, fixed rate {rate:,.0f} req/s (half the max), latency from intended send | "
      f"p50 {fmt_us(p50)}, **p99 {fmt_us(p99)}**, p99.9 {fmt_us(p999)} ({achieved:,.0f} req/s done{cpu_note}) | "
      f"baseline p99 {fmt_us(bp99)} | – | p99 ≤ 1 ms | p95 1.1 ms, p99 ≈ 10 ms at ≈14 req/s | "
      f"{verdict(p99 <= 1000)} |")
if memall is not None:
    p(f"| 2 | `GET /api/v1/ltp` (all {machine.get('pairs', '?')} pairs), memory | {fmt_rps(memall)} | "
      f"baseline {fmt_rps(base)} | {pct(memall, base)} | ≥ 50 % | – | "
      f"{verdict(memall >= 0.5 * base if base else None)} |")
if red1 is not None:
    trips = of("redis-roundtrips")
    per = med([t["mget_calls"] / t["requests"] for t in trips if t["requests"]])
    trip_note = f"; {per:.3f} MGET per request" if per is not None else ""
    p(f"| 3 | single pair, Redis cache | {fmt_rps(red1)}{trip_note} | memory {fmt_rps(mem1)} | "
      f"{pct(red1, mem1)} | ≥ 40 % of memory, 1 round trip | – | "
      f"{verdict(red1 >= 0.4 * mem1 and (per is None or per <= 1.01))} |")
if redall is not None:
    p(f"| 3 | all pairs, Redis cache (one `MGET`) | {fmt_rps(redall)} | memory {fmt_rps(memall)} | "
      f"{pct(redall, memall)} | (information) | – | |")
for t in of("tick"):
    d = t["delay"]
    target = "p99 ≤ 2 ms" if t["case"] == "memory" else "(information)"
    ok = d["p99_us"] <= 2000 and t["lost"] == 0 if t["case"] == "memory" else None
    p(f"| 4 | tick to API, {t['case']} cache, {d['n']:,} updates ({t['lost']} lost) | "
      f"p50 {fmt_us(d['p50_us'])}, **p99 {fmt_us(d['p99_us'])}**, max {fmt_us(d['max_us'])} | "
      f"poll round trip {fmt_us(t['poll_rtt_us'])} (resolution) | – | {target} | "
      f"REST poll every 2 s… (seed had no push path) | {verdict(ok)} |")
for g in of("ingest"):
    ok = g["sim_rate"] >= 0.99 * g["target_rate"] and g["target_rate"] >= 100000 and g["lost"] == 0 \
        and g["sim_missed"] == 0
    p(f"| 5 | ingestor: one socket → NATS (JetStream on) | {g['sim_rate']:,.0f} msg/s in, "
      f"{g['nats_in_rate']:,.0f} msg/s into NATS; lost {g['lost']} of {g['sim_sent_total']:,}; "
      f"**{g['cpu_us_per_msg']:.2f} µs CPU/msg** ({g['cpu_percent']:.0f} % of a core) | "
      f"simulator target {g['target_rate']:,} msg/s | – | ≥ 100 000 msg/s, no loss | – | {verdict(ok)} |")
rss = [r for r in of("rss") if r["process"] == "query-api (memory)"]
if rss:
    hwm = max(r["hwm_kb"] for r in rss)
    p(f"| 6 | query-api resident set under load, {machine.get('pairs', '?')} pairs (peak VmHWM) | "
      f"{hwm / 1024:.1f} MB | – | – | ≤ 30 MB | – | {verdict(hwm <= 30 * 1024)} |")
for g in of("ingest"):
    p(f"| 6 | ingestor resident set at {g['sim_rate']:,.0f} msg/s (peak VmHWM) | "
      f"{g['hwm_kb'] / 1024:.1f} MB | – | – | ≤ 20 MB | – | {verdict(g['hwm_kb'] <= 20 * 1024)} |")
for c in of("cold"):
    a = c["all_pairs_served"]
    f = c["first_answer"]
    p(f"| 7 | cold start to every pair served ({c['runs']} starts, ingestor stopped) | "
      f"median {fmt_us(a['p50_us'])}, **max {fmt_us(a['max_us'])}** (first answer {fmt_us(f['p50_us'])}) | "
      f"– | – | ≤ 300 ms | – | {verdict(c['failed'] == 0 and a['max_us'] <= 300000)} |")
p("| 8 | the seed's published figures | | | | beside ours | p95 1.1 ms at ≈14 req/s; "
  "target 300 req/s | |")

p("")
p("Every round (req/s for wrk; p99 for fixed rate):")
p("")
p("| case | rounds | spread | server CPU per request (median) |")
p("|---|---|---|---|")
for case in ["baseline", "memory-single", "memory-all", "redis-single", "redis-all"]:
    v = [r["rps"] for r in of("wrk", case)]
    if v:
        spread = 100 * (max(v) - min(v)) / statistics.median(v)
        cpu = med([r.get("cpu_us_per_req") for r in of("wrk", case)])
        cpu_s = "–" if cpu is None else f"{cpu:.1f} µs"
        p(f"| wrk {case} | {', '.join(f'{x:,.0f}' for x in v)} | {spread:.0f} % | {cpu_s} |")
for case in ["memory-single", "baseline"]:
    v = [r["latency"]["p99_us"] for r in of("fixed", case)]
    if v:
        cpu = med([r.get("server_cpu_us_per_req") for r in of("fixed", case)])
        gen = med([r.get("generator_cpu_us_per_req") for r in of("fixed", case)])
        cpu_s = "–" if cpu is None else f"{cpu:.1f} µs (generator {gen:.1f} µs)"
        p(f"| fixed-rate p99 {case} | {', '.join(fmt_us(x) for x in v)} | | {cpu_s} |")
sweep = of("sweep")
if sweep:
    p("")
    p("Fixed-rate latency by rate (latency from the intended send time):")
    p("")
    p("| rate | query-api p50 | query-api p99 | baseline p50 | baseline p99 | "
      "CPU per request: generator / query-api (generator / baseline) |")
    p("|---|---|---|---|---|---|")
    for rate in sorted({r["target_rate"] for r in sweep}):
        q = [r for r in sweep if r["target_rate"] == rate and r["case"] == "memory-single"]
        b = [r for r in sweep if r["target_rate"] == rate and r["case"] == "baseline"]
        cell = lambda rs, k: fmt_us(rs[0]["latency"][k]) if rs else "–"
        cpu = lambda rs, k: f"{rs[0][k]:.1f}" if rs and rs[0].get(k) is not None else "–"
        p(f"| {rate:,.0f} req/s | {cell(q, 'p50_us')} | {cell(q, 'p99_us')} | "
          f"{cell(b, 'p50_us')} | {cell(b, 'p99_us')} | "
          f"{cpu(q, 'generator_cpu_us_per_req')} / {cpu(q, 'server_cpu_us_per_req')} µs "
          f"({cpu(b, 'generator_cpu_us_per_req')} / {cpu(b, 'server_cpu_us_per_req')} µs) |")
print("\n".join(out))
