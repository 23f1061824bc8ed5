#!/usr/bin/env python3
"""Turns bench/run.sh's results.jsonl into the markdown table of docs/benchmarks.md.

    report.py results.jsonl              # the table (markdown)
    report.py results.jsonl --summaries  # one JSON line per case: median and spread

Every figure is the median of its rounds, with the spread (min–max, and the interquartile
range) beside it. Targets are judged on the pinned rounds when the run has them (issue 17);
results from before pinning (no `pinned` field) count as unpinned.
"""
import json
import statistics
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
rows = [r for r in rows if r.get("kind") != "summary"]


def bad_fraction(r):
    """Share of a throughput or fixed-rate run's requests that got no 2xx answer."""
    if r.get("kind") == "wrk":
        total = r.get("requests") or 0
    elif r.get("kind") in ("fixed", "sweep"):
        total = (r.get("ok") or 0) + (r.get("non_2xx") or 0) + (r.get("errors") or 0)
    elif r.get("kind") == "refresh":
        # Both phases must have answers to split; a 502/504 is an answer, but not a refresh.
        if not r["after_kraken"]["n"] or not r["solo"]["ours"]["n"]:
            return 1.0
        total = sum(r["status"].values())
        return (total - r["status"].get("200", 0)) / total if total else 1.0
    else:
        return 0.0
    bad = (r.get("non_2xx") or 0) + (r.get("errors") or 0)
    return bad / total if total else 1.0


# A run whose answers were errors measured the error path, not the service: it is left out of
# every figure and listed at the top of the table.
INVALID = [r for r in rows if bad_fraction(r) > 0.001]
rows = [r for r in rows if bad_fraction(r) <= 0.001]
HAS_PINNED = any(r.get("pinned") for r in rows)
MAIN = HAS_PINNED  # the pass targets are judged on


def of(kind, case=None, pinned=None):
    pinned = MAIN if pinned is None else pinned
    return [r for r in rows if r.get("kind") == kind and (case is None or r.get("case") == case)
            and r.get("pinned", False) == pinned]


def spread(values):
    """n, median, min, max, q1, q3 of the values (None when there are none)."""
    v = sorted(x for x in values if x is not None)
    if not v:
        return None
    q1, q3 = (statistics.quantiles(v, n=4, method="inclusive")[i] for i in (0, 2)) \
        if len(v) > 1 else (v[0], v[0])
    return {"n": len(v), "median": statistics.median(v), "min": v[0], "max": v[-1],
            "q1": q1, "q3": q3}


def med(values):
    s = spread(values)
    return None if s is None else s["median"]


def lat(r, key="p99_us"):
    return r["latency"][key]


def wrk(case, pinned=None):
    return spread([r["rps"] for r in of("wrk", case, pinned)])


def ratio_rounds(a, b, pinned=None):
    """Per-round ratio a/b of two wrk cases measured in the same round."""
    ra = {r["round"]: r["rps"] for r in of("wrk", a, pinned)}
    rb = {r["round"]: r["rps"] for r in of("wrk", b, pinned)}
    return spread([100 * ra[k] / rb[k] for k in ra if rb.get(k)])


def fmt_rps(v):
    return "–" if v is None else f"{v:,.0f} req/s"


def fmt_us(v):
    if v is None:
        return "–"
    if v >= 1_000_000:
        return f"{v / 1e6:.2f} s"
    return f"{v / 1000:.2f} ms" if v >= 1000 else f"{v:.0f} µs"


def fmt_spread(s, fmt, bare=None):
    """The median, then (min–max) in `bare` (default: `fmt`) when there are several rounds."""
    if s is None:
        return "–"
    if s["n"] == 1:
        return fmt(s["median"])
    bare = bare or fmt
    return f"{fmt(s['median'])} ({bare(s['min'])}–{bare(s['max'])})"


def num(v):
    return f"{v:,.0f}"


def pct(v):
    return f"{v:.0f} %"


def verdict(ok):
    return "–" if ok is None else ("**met**" if ok else "**missed**")


# --- summaries: one line per case and pass -------------------------------------------------------
def summaries():
    out = []
    for pinned in sorted({r.get("pinned", False) for r in rows}):
        def add(of_kind, case, metric, values, **extra):
            s = spread(values)
            if s:
                out.append({"kind": "summary", "of": of_kind, "case": case, "pinned": pinned,
                            "metric": metric, **extra, **s})
        for case in sorted({r["case"] for r in of("wrk", None, pinned)}):
            add("wrk", case, "rps", [r["rps"] for r in of("wrk", case, pinned)])
            add("wrk", case, "cpu_us_per_req",
                [r.get("cpu_us_per_req") for r in of("wrk", case, pinned)])
        for a, b in [("memory-single", "baseline"), ("memory-all", "baseline"),
                     ("redis-single", "memory-single"), ("redis-all", "memory-all")]:
            s = ratio_rounds(a, b, pinned)
            if s:
                out.append({"kind": "summary", "of": "wrk", "case": f"{a}/{b}", "pinned": pinned,
                            "metric": "percent", **s})
        for kind in ("fixed", "sweep"):
            for case in sorted({r["case"] for r in of(kind, None, pinned)}):
                for rate in sorted({r["target_rate"] for r in of(kind, case, pinned)}):
                    rs = [r for r in of(kind, case, pinned) if r["target_rate"] == rate]
                    for key in ("p50_us", "p99_us"):
                        add(kind, case, key, [lat(r, key) for r in rs], rate=rate)
        rs = of("refresh", "memory", pinned)
        if rs:
            for metric, get in [
                ("round_trip_p50_us", lambda r: r["round_trip"]["p50_us"]),
                ("round_trip_p99_us", lambda r: r["round_trip"]["p99_us"]),
                ("after_kraken_p50_us", lambda r: r["after_kraken"]["p50_us"]),
                ("after_kraken_p99_us", lambda r: r["after_kraken"]["p99_us"]),
                ("sim_direct_p99_us", lambda r: r["sim_direct"]["answer"]["p99_us"]),
                ("kraken_calls", lambda r: r["kraken_calls"]),
                ("solo_round_trip_p50_us", lambda r: r["solo"]["round_trip"]["p50_us"]),
                ("solo_ours_p50_us", lambda r: r["solo"]["ours"]["p50_us"]),
                ("solo_ours_p99_us", lambda r: r["solo"]["ours"]["p99_us"]),
            ]:
                add("refresh", "memory", metric, [get(r) for r in rs], rate=rs[0]["rate"])
    return out


if len(sys.argv) > 2 and sys.argv[2] == "--summaries":
    for s in summaries():
        print(json.dumps(s))
    sys.exit(0)

# --- the table ------------------------------------------------------------------------------
machine = next((r for r in rows if r.get("kind") == "machine"), {})
out = []
p = out.append
pin_note = (f"pinned: service side (query-api, baseline, ingestor, NATS, Redis) on CPUs "
            f"{machine.get('server_cpus', '?')}, load generators and simulator on CPUs "
            f"{machine.get('client_cpus', '?')}" if MAIN else
            "unpinned: load generator and servers share every core")
p(f"Machine: {machine.get('cpu', '?')}, {machine.get('cores', '?')} cores (shared), "
  f"kernel {machine.get('kernel', '?')}; load average at start "
  f"{', '.join(f'{x:.2f}' for x in machine.get('load', []))}. "
  f"{machine.get('pairs', '?')} pairs configured; {machine.get('rounds', '?')} alternating rounds "
  f"of {machine.get('duration', '?')} s per wrk case, {machine.get('connections', '?')} "
  f"connections. Figures: median of the rounds (min–max). Targets judged {pin_note}.")
for pl in [r for r in rows if r.get("kind") == "placement"]:
    procs = ", ".join(f"{k} {v['cpus']} ({v['threads']} threads)" for k, v in pl["processes"].items())
    p(f"Placement, {'pinned' if pl.get('pinned') else 'unpinned'} pass (CPUs, threads): {procs}.")
for r in INVALID:
    what = f"{r['kind']} {r.get('case')}" + (f" {r['target_rate']:,.0f} req/s" if "target_rate" in r else "")
    why = (f"statuses {r['status']}, {r['after_kraken']['n']} answers after a Kraken call, "
           f"{r['solo']['ours']['n']} one-at-a-time refreshes matched" if r["kind"] == "refresh" else
           f"{r.get('non_2xx', 0):,} non-2xx, {r.get('errors', 0):,} errors")
    p(f"**Left out**: {what}, round {r.get('round', '?')}, "
      f"{'pinned' if r.get('pinned') else 'unpinned'}: {100 * bad_fraction(r):.1f} % of its requests "
      f"got no 2xx answer ({why}).")
p("")
p("| # | what | ltp | baseline / reference | ratio | target (issue 17; round 1) | |")
p("|---|---|---|---|---|---|---|")

base, mem1, memall = wrk("baseline"), wrk("memory-single"), wrk("memory-all")
red1, redall = wrk("redis-single"), wrk("redis-all")
m = lambda s: None if s is None else s["median"]  # noqa: E731


def ratio_row(a, b, num_s, den_s, what, ref, target, threshold):
    r = ratio_rounds(a, b)
    ok = None if not (num_s and den_s) else 100 * num_s["median"] / den_s["median"] >= threshold
    ratio = "–" if not (num_s and den_s) else \
        f"**{pct(100 * num_s['median'] / den_s['median'])}**" + \
        ("" if r is None or r["n"] == 1 else f" (per round {num(r['min'])}–{pct(r['max'])})")
    p(f"| {what} | {fmt_spread(num_s, fmt_rps, num)} | {ref} {fmt_spread(den_s, fmt_rps, num)} | "
      f"{ratio} | "
      f"{target} | {verdict(ok)} |")


if mem1:
    ratio_row("memory-single", "baseline", mem1, base,
              "1 | `GET /api/v1/ltp?pair=BTC/USD`, memory, max throughput (wrk)", "baseline",
              "≥ 80 % (≥ 70 %)", 80)
fx = of("fixed", "memory-single")
if fx:
    rate = fx[0]["target_rate"]
    p99 = spread([lat(r) for r in fx])
    p50 = med([lat(r, "p50_us") for r in fx])
    bp99 = spread([lat(r) for r in of("fixed", "baseline")])
    gen = med([r.get("generator_cpu_us_per_req") for r in fx])
    gen_note = "" if gen is None else f" (generator {gen:.1f} µs CPU/request)"
    p(f"| 1 | same, fixed rate {rate:,.0f} req/s (half the max), latency from intended send | "
      f"p50 {fmt_us(p50)}, **p99 {fmt_spread(p99, fmt_us)}**{gen_note} | "
      f"baseline p99 {fmt_spread(bp99, fmt_us)} | – | "
      f"(p99 ≤ 1 ms) | {verdict(p99['median'] <= 1000)} |")
if memall:
    ratio_row("memory-all", "baseline", memall, base,
              f"2 | `GET /api/v1/ltp` (all {machine.get('pairs', '?')} pairs), memory", "baseline",
              "≥ 65 % (≥ 50 %)", 65)
if red1:
    trips = of("redis-roundtrips")
    per = med([t["mget_calls"] / t["requests"] for t in trips if t["requests"]])
    ratio_row("redis-single", "memory-single", red1, mem1,
              "3 | single pair, Redis cache" + (f"; {per:.3f} MGET per request" if per else ""),
              "memory", "≥ 70 % of memory (≥ 40 %)", 70)
if redall:
    ratio_row("redis-all", "memory-all", redall, memall,
              "3 | all pairs, Redis cache (one `MGET`)", "memory all", "≥ 60 % of memory", 60)
for t in of("tick"):
    d = t["delay"]
    ok = d["p99_us"] <= 2000 and t["lost"] == 0 if t["case"] == "memory" else None
    p(f"| 4 | tick to API, {t['case']} cache, {d['n']:,} updates ({t['lost']} lost) | "
      f"p50 {fmt_us(d['p50_us'])}, **p99 {fmt_us(d['p99_us'])}**, max {fmt_us(d['max_us'])} | "
      f"poll round trip {fmt_us(t['poll_rtt_us'])} (resolution) | – | "
      f"{'(p99 ≤ 2 ms)' if t['case'] == 'memory' else '(information)'} | {verdict(ok)} |")
def statuses(rs):
    total = {}
    for r in rs:
        for k, v in r["status"].items():
            total[k] = total.get(k, 0) + v
    return total


rf = of("refresh", "memory")
if rf:
    g = lambda f: spread([f(r) for r in rf])  # noqa: E731
    after99 = g(lambda r: r["after_kraken"]["p99_us"])
    solo99 = g(lambda r: r["solo"]["ours"]["p99_us"])
    ok = after99["median"] <= 2000 and solo99["median"] <= 2000
    p(f"| 4 | refresh round trip through NATS at {rf[0]['rate']:.0f}/s, one pair | "
      f"p50 {fmt_spread(g(lambda r: r['round_trip']['p50_us']), fmt_us)}, p99 "
      f"{fmt_spread(g(lambda r: r['round_trip']['p99_us']), fmt_us)} (the wait for the "
      f"ingestor's REST slot, by design); {fmt_spread(g(lambda r: r['kraken_calls']), num)} Kraken calls "
      f"per round, {fmt_spread(g(lambda r: r.get('answered_per_s')), num)} answered 200 per second, "
      f"statuses {', '.join(f'{k}: {v}' for k, v in sorted(statuses(rf).items()))} | "
      f"simulator alone p50 "
      f"{fmt_spread(g(lambda r: r['sim_direct']['answer']['p50_us']), fmt_us)}, p99 "
      f"{fmt_spread(g(lambda r: r['sim_direct']['answer']['p99_us']), fmt_us)} | – | "
      f"ours p99 ≤ 2 ms | |")
    p(f"| 4 | refresh: ours = after Kraken's answer, at {rf[0]['rate']:.0f}/s | "
      f"p50 {fmt_spread(g(lambda r: r['after_kraken']['p50_us']), fmt_us)}, "
      f"**p99 {fmt_spread(after99, fmt_us)}** | Kraken call p50 "
      f"{fmt_spread(g(lambda r: r['call_span']['p50_us']), fmt_us)} (at the proxy) | – | "
      f"p99 ≤ 2 ms | {verdict(after99['median'] <= 2000)} |")
    p(f"| 4 | refresh: ours = round trip − Kraken call, one at a time "
      f"({rf[0]['solo']['n']} per round) | round trip p50 "
      f"{fmt_spread(g(lambda r: r['solo']['round_trip']['p50_us']), fmt_us)}; ours p50 "
      f"{fmt_spread(g(lambda r: r['solo']['ours']['p50_us']), fmt_us)}, "
      f"**p99 {fmt_spread(solo99, fmt_us)}** | Kraken call p50 "
      f"{fmt_spread(g(lambda r: r['solo']['call_span']['p50_us']), fmt_us)} | – | p99 ≤ 2 ms | "
      f"{verdict(solo99['median'] <= 2000)} (both: {verdict(ok)}) |")
for gi in of("ingest"):
    ok = gi["sim_rate"] >= 0.99 * gi["target_rate"] and gi["target_rate"] >= 100000 \
        and gi["lost"] == 0 and gi["sim_missed"] == 0
    p(f"| 5 | ingestor: one socket → NATS (JetStream on) | {gi['sim_rate']:,.0f} msg/s in, "
      f"{gi['nats_in_rate']:,.0f} msg/s into NATS; lost {gi['lost']} of {gi['sim_sent_total']:,}; "
      f"**{gi['cpu_us_per_msg']:.2f} µs CPU/msg** ({gi['cpu_percent']:.0f} % of a core) | "
      f"simulator target {gi['target_rate']:,} msg/s | – | (≥ 100 000 msg/s, no loss) | "
      f"{verdict(ok)} |")
rss = [r for r in of("rss") if r["process"] == "query-api (memory)"]
if rss:
    hwm = max(r["hwm_kb"] for r in rss)
    p(f"| 6 | query-api resident set under load, {machine.get('pairs', '?')} pairs (peak VmHWM) | "
      f"{hwm / 1024:.1f} MB | – | – | (≤ 30 MB) | {verdict(hwm <= 30 * 1024)} |")
for gi in of("ingest"):
    p(f"| 6 | ingestor resident set at {gi['sim_rate']:,.0f} msg/s (peak VmHWM) | "
      f"{gi['hwm_kb'] / 1024:.1f} MB | – | – | (≤ 20 MB) | {verdict(gi['hwm_kb'] <= 20 * 1024)} |")
for c in of("cold"):
    a, f = c["all_pairs_served"], c["first_answer"]
    p(f"| 7 | cold start to every pair served ({c['runs']} starts, ingestor stopped) | "
      f"median {fmt_us(a['p50_us'])}, **max {fmt_us(a['max_us'])}** (first answer "
      f"{fmt_us(f['p50_us'])}) | – | – | (≤ 300 ms) | "
      f"{verdict(c['failed'] == 0 and a['max_us'] <= 300000)} |")


def rounds_table(pinned):
    p("| case | rounds | median | min–max | IQR | server CPU per request (median) |")
    p("|---|---|---|---|---|---|")
    for case in ["baseline", "memory-single", "memory-all", "redis-single", "redis-all"]:
        rs = of("wrk", case, pinned)
        s = spread([r["rps"] for r in rs])
        if s:
            cpu = med([r.get("cpu_us_per_req") for r in rs])
            p(f"| wrk {case} | {', '.join(format(r['rps'], ',.0f') for r in rs)} | {fmt_rps(s['median'])} | "
              f"{s['min']:,.0f}–{s['max']:,.0f} | {s['q1']:,.0f}–{s['q3']:,.0f} | "
              f"{'–' if cpu is None else f'{cpu:.1f} µs'} |")
    for case in ["memory-single", "baseline"]:
        rs = of("fixed", case, pinned)
        s = spread([lat(r) for r in rs])
        if s:
            cpu = med([r.get("server_cpu_us_per_req") for r in rs])
            gen = med([r.get("generator_cpu_us_per_req") for r in rs])
            cpu_s = "–" if cpu is None else f"{cpu:.1f} µs (generator {gen:.1f} µs)"
            p(f"| fixed-rate p99 {case} | {', '.join(fmt_us(lat(r)) for r in rs)} | "
              f"{fmt_us(s['median'])} | {fmt_us(s['min'])}–{fmt_us(s['max'])} | "
              f"{fmt_us(s['q1'])}–{fmt_us(s['q3'])} | {cpu_s} |")


p("")
p(f"Every round ({'pinned' if MAIN else 'unpinned'}; req/s for wrk, p99 for fixed rate):")
p("")
rounds_table(MAIN)

sweep = of("sweep")
if sweep:
    p("")
    p("Fixed-rate latency by rate (latency from the intended send time; median of the rounds, "
      "min–max):")
    p("")
    p("| rate | query-api p50 | query-api p99 | baseline p50 | baseline p99 | "
      "CPU per request: generator / query-api (generator / baseline) |")
    p("|---|---|---|---|---|---|")
    for rate in sorted({r["target_rate"] for r in sweep}):
        q = [r for r in sweep if r["target_rate"] == rate and r["case"] == "memory-single"]
        b = [r for r in sweep if r["target_rate"] == rate and r["case"] == "baseline"]
        cell = lambda rs, k: fmt_spread(spread([lat(r, k) for r in rs]), fmt_us)  # noqa: E731
        cpu = lambda rs, k: "–" if med([r.get(k) for r in rs]) is None \
            else f"{med([r.get(k) for r in rs]):.1f}"  # noqa: E731
        p(f"| {rate:,.0f} req/s | {cell(q, 'p50_us')} | {cell(q, 'p99_us')} | "
          f"{cell(b, 'p50_us')} | {cell(b, 'p99_us')} | "
          f"{cpu(q, 'generator_cpu_us_per_req')} / {cpu(q, 'server_cpu_us_per_req')} µs "
          f"({cpu(b, 'generator_cpu_us_per_req')} / {cpu(b, 'server_cpu_us_per_req')} µs) |")

both = HAS_PINNED and any(not r.get("pinned", False) for r in rows if r.get("kind") == "wrk")
if both:
    p("")
    p("Pinned and unpinned (PIN=both; median of the rounds, min–max):")
    p("")
    p("| case | pinned | unpinned |")
    p("|---|---|---|")
    for case in ["baseline", "memory-single", "memory-all", "redis-single", "redis-all"]:
        if wrk(case, True) or wrk(case, False):
            p(f"| wrk {case} | {fmt_spread(wrk(case, True), fmt_rps, num)} | "
              f"{fmt_spread(wrk(case, False), fmt_rps, num)} |")
    for a, b in [("memory-single", "baseline"), ("memory-all", "baseline"),
                 ("redis-single", "memory-single"), ("redis-all", "memory-all")]:
        if ratio_rounds(a, b, True) or ratio_rounds(a, b, False):
            p(f"| {a} / {b}, per round | {fmt_spread(ratio_rounds(a, b, True), pct)} | "
              f"{fmt_spread(ratio_rounds(a, b, False), pct)} |")
    for case in ["memory-single", "baseline"]:
        pin_s = spread([lat(r) for r in of("fixed", case, True)])
        unp_s = spread([lat(r) for r in of("fixed", case, False)])
        if pin_s or unp_s:
            p(f"| fixed-rate p99 {case} | {fmt_spread(pin_s, fmt_us)} | {fmt_spread(unp_s, fmt_us)} |")
    rp, ru = of("refresh", "memory", True), of("refresh", "memory", False)
    if rp or ru:
        for label, get in [("refresh ours after Kraken p99", lambda r: r["after_kraken"]["p99_us"]),
                           ("refresh ours one at a time p99", lambda r: r["solo"]["ours"]["p99_us"])]:
            p(f"| {label} | {fmt_spread(spread([get(r) for r in rp]), fmt_us)} | "
              f"{fmt_spread(spread([get(r) for r in ru]), fmt_us)} |")
    for kind, label in [("tick", "tick to API p99, memory"), ("cold", "cold start max")]:
        def one(pinned):
            rs = [r for r in of(kind, None, pinned) if kind != "tick" or r["case"] == "memory"]
            if not rs:
                return "–"
            return fmt_us(rs[0]["delay"]["p99_us"] if kind == "tick" else rs[0]["all_pairs_served"]["max_us"])
        p(f"| {label} | {one(True)} | {one(False)} |")
    ip, iu = of("ingest", None, True), of("ingest", None, False)
    if ip or iu:
        f = lambda rs: "–" if not rs else f"{rs[0]['sim_rate']:,.0f} msg/s, {rs[0]['cpu_us_per_msg']:.2f} µs CPU/msg"  # noqa: E731
        p(f"| ingestor capacity | {f(ip)} | {f(iu)} |")
print("\n".join(out))
