#!/usr/bin/env python3
"""Turns bench/streams.sh's results.jsonl into the markdown tables of docs/benchmarks.md,
section "Streaming (issue 12)".

    streams_report.py results.jsonl

Figures are medians of the rounds with the range (min–max) beside them.
"""
import json
import statistics
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]


def of(kind, case=None):
    return [r for r in rows if r.get("kind") == kind and (case is None or r.get("case") == case)]


def med(values, fmt="{:,.0f}"):
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    m = statistics.median(values)
    if len(values) == 1:
        return fmt.format(m)
    return f"{fmt.format(m)} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def verdict(ok):
    return "**met**" if ok else "**missed**"


out = []
for m in of("machine"):
    out.append(f"- {m['at']}: {m['uptime']} ({m['cpu']}, {m['cores']} cores, pinned: {m['pin']}, "
               f"server CPUs {m['server_cpus']}, client CPUs {m['client_cpus']})")
out.append("")

idle = of("idle-rss")
if idle:
    streams = idle[0]["streams"]
    added = [(r["rss_held_kb"] - r["rss_before_kb"]) / 1024 for r in idle]
    per = [(r["rss_held_kb"] - r["rss_before_kb"]) * 1024 / max(1, r["held"]) for r in idle]
    without = [r["latency"]["p99_us"] for r in of("idle-load", "without")]
    with_ = [r["latency"]["p99_us"] for r in of("idle-load", "with")]
    ratio = statistics.median(with_) / statistics.median(without) if without and with_ else None
    out += [
        f"**1. Idle streams** ({streams:,} SSE streams on one pair, REST at "
        f"{of('idle-load')[0]['target_rate']:,.0f} req/s)",
        "",
        "| figure | value (median, range over rounds) | target |",
        "|---|---|---|",
        f"| streams held | {med([r['held'] for r in idle])} (failed: {med([r['failed'] for r in idle])}) | |",
        f"| query-api RSS before → held, round 1 (fresh process) | {idle[0]['rss_before_kb'] / 1024:.1f} → "
        f"{idle[0]['rss_held_kb'] / 1024:.1f} MB | |",
        f"| **added RSS, round 1** | {added[0]:.1f} MB | ≤ 150 MB: {verdict(added[0] <= 150)} |",
        f"| added RSS per stream, round 1 | {per[0]:,.0f} bytes | |",
        f"| added RSS, later rounds (memory the allocator kept from round 1 reused) | "
        f"{', '.join(f'{a:.1f}' for a in added[1:]) or '–'} MB | |",
        f"| query-api CPU with the streams held, no REST | {med([r.get('qa_cpu_percent_held_idle') for r in idle])} % of a core | |",
        f"| REST p50 without / with streams | {med([r['latency']['p50_us'] for r in of('idle-load', 'without')])} / "
        f"{med([r['latency']['p50_us'] for r in of('idle-load', 'with')])} µs | |",
        f"| REST p99 without / with streams | {med(without)} / {med(with_)} µs | |",
        f"| p99 with ÷ without | {ratio:.2f} | ≤ 2: {verdict(ratio is not None and ratio <= 2)} |"
        if ratio else "| p99 ratio | – | |",
        f"| REST errors (with streams) | {sum(r['errors'] + r['non_2xx'] for r in of('idle-load', 'with'))} | |",
        "",
    ]

fan = of("fanout")
if fan:
    p99 = [r["latency"]["p99_us"] / 1000 for r in fan]
    out += [
        f"**2. Fan-out** ({fan[0]['clients']:,} SSE clients on every pair, simulator at "
        f"{fan[0]['ticks_per_s']} ticks/s, {fan[0]['duration_s']:.0f} s windows)",
        "",
        "| figure | value (median, range over rounds) | target |",
        "|---|---|---|",
        f"| updates published in the window (NATS) | {med([r['published'] for r in fan])} | |",
        f"| clients that got every update | {med([r['clients_with_every_update'] for r in fan])} of "
        f"{med([r['clients_open'] for r in fan])} | all |",
        f"| events per client (min / median / max) | "
        f"{med([r['per_client_received']['min'] for r in fan])} / {med([r['per_client_received']['median'] for r in fan])} / "
        f"{med([r['per_client_received']['max'] for r in fan])} | |",
        f"| arrival → client p50 | {med([r['latency']['p50_us'] / 1000 for r in fan], '{:.2f}')} ms | |",
        f"| arrival → client p99 | {med(p99, '{:.2f}')} ms | ≤ 10 ms: {verdict(max(p99) <= 10)} |",
        f"| arrival → client max | {med([r['latency']['max_us'] / 1000 for r in fan], '{:.1f}')} ms | |",
        f"| server-side delivery (histogram) p50 / p99 ≤ | "
        f"{', '.join(str(r['server_delivery_seconds']['p50_le_s']) for r in fan)} / "
        f"{', '.join(str(r['server_delivery_seconds']['p99_le_s']) for r in fan)} s | |",
        f"| query-api CPU | {med([100 * r['qa_cpu_s'] / (r['duration_s'] + 5) for r in fan])} % of a core | |",
        "",
    ]

sat = of("saturate")
if sat:
    out += [
        f"**3. Saturation** ({sat[0]['clients_open']:,} clients per kind, {sat[0]['seconds']:.0f} s windows)",
        "",
        "| target msg/s | published/s: SSE / NATS phase | delivered/s: SSE via query-api | delivered/s: nats-server | SSE ÷ NATS | "
        "SSE share of published×clients | server CPU µs per delivered event: SSE (query-api + nats) / NATS | "
        "CPU % query-api / nats-server / bench (SSE phase) | CPU % nats-server / bench (NATS phase) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for rate in sorted({r["target_rate"] for r in sat}):
        s = [r for r in sat if r["target_rate"] == rate and r["case"] == "sse"]
        n = [r for r in sat if r["target_rate"] == rate and r["case"] == "nats"]
        ds, dn = [r["delivered_per_s"] for r in s], [r["delivered_per_s"] for r in n]
        ratio = statistics.median(ds) / statistics.median(dn) if ds and dn and statistics.median(dn) else 0
        out.append(
            f"| {rate:,.0f} | {med([r['published_per_s'] for r in s])} / {med([r['published_per_s'] for r in n])} | {med(ds)} | {med(dn)} | {100 * ratio:.0f} % "
            f"| {med([100 * r['delivered_share'] for r in s], '{:.0f}')} % "
            f"| {med([r['server_cpu_us_per_delivered'] for r in s], '{:.2f}')} / "
            f"{med([r['server_cpu_us_per_delivered'] for r in n], '{:.2f}')} "
            f"| {med([r['cpu_percent']['query_api'] for r in s])} / {med([r['cpu_percent']['nats_server'] for r in s])} / "
            f"{med([r['cpu_percent']['bench'] for r in s])} "
            f"| {med([r['cpu_percent']['nats_server'] for r in n])} / {med([r['cpu_percent']['bench'] for r in n])} |")
    out.append("")

print("\n".join(out))
