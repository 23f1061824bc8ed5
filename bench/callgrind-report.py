#!/usr/bin/env python3
"""Writes table.md and functions-*.txt from a bench/callgrind.sh run (called by it; can be
re-run on its output directory while raw/ is still there):

    bench/callgrind-report.py OUT SMALL LARGE "CASES"
"""
import collections, json, os, re, subprocess, sys
out, small, large, cases = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4].split()
results = os.path.join(out, "results.jsonl")
rows = [json.loads(l) for l in open(results) if l.strip()]
cg = [r for r in rows if r["kind"] == "callgrind"]
bad = [r for r in cg if set(r["status"]) != {"200"}]
if bad:
    sys.exit(f"answers other than 200: {bad}")
def ir(side, case, run, n):
    return next(r for r in cg if (r["side"], r["case"], r["run"], r["requests"]) == (side, case, run, n))
runs = sorted({r["run"] for r in cg})
def per_req(side, case, run):
    return (ir(side, case, run, large)["ir"] - ir(side, case, run, small)["ir"]) / (large - small)
binaries = {r["side"]: r["binary"] for r in cg}
lines = ["# Instructions per request under callgrind (bench/callgrind.sh)", "",
         f"A = `{os.path.basename(binaries['A'])}`, B = `{os.path.basename(binaries['B'])}`; "
         f"per request = (Ir({large}) − Ir({small})) / {large - small}, one keep-alive connection, "
         "requests in a row; every answer 200.", "",
         "| case | answer bytes (A / B) | A Ir/req (each run) | B Ir/req (each run) | change | A spread | B spread |",
         "|---|---|---|---|---|---|---|"]
def mean(v): return sum(v) / len(v)
def spread(v): return 100 * (max(v) - min(v)) / mean(v)
for case in cases:
    a = [per_req("A", case, r) for r in runs]
    b = [per_req("B", case, r) for r in runs]
    ba, bb = ir("A", case, runs[0], large)["bytes_per_answer"], ir("B", case, runs[0], large)["bytes_per_answer"]
    ea, eb = ir("A", case, runs[0], large)["encoding"], ir("B", case, runs[0], large)["encoding"]
    label = case.replace("+gzip", " (gzip)")
    lines.append(f"| `{label}` | {ba:,.0f} {'/'.join(ea)} / {bb:,.0f} {'/'.join(eb)} | "
                 f"{mean(a):,.0f} ({', '.join(f'{x:,.0f}' for x in a)}) | "
                 f"{mean(b):,.0f} ({', '.join(f'{x:,.0f}' for x in b)}) | "
                 f"{100 * (mean(b) - mean(a)) / mean(a):+.2f} % | {spread(a):.2f} % | {spread(b):.2f} % |")
feed = [r for r in rows if r["kind"] == "feed"]
lines += ["", "Price messages the ingestor published while the windows ran (per run): "
          + ", ".join(f"{r['side']}{r['run']}: {r['published_during_windows']}" for r in feed), ""]

# Self instructions per request by function, B - A, from the last run's windows.
def functions(path):
    text = subprocess.run(["callgrind_annotate", "--threshold=100", "--inclusive=no", "--auto=no", path],
                          capture_output=True, text=True, check=True).stdout
    # The list of functions: after the "file:function" heading, up to the next blank line.
    listing = text.split("file:function", 1)[1].split("\n\n", 1)[0]
    cost = collections.Counter()
    for line in listing.splitlines():
        m = re.match(r"^\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(\S.*?)(?: \[[^\]]*\])?$", line)
        if not m or ":" not in m.group(2):
            continue
        name = m.group(2).split(":", 1)[1] if not m.group(2).startswith("<") else m.group(2)
        name = re.sub(r"::h[0-9a-f]{16}", "", name)
        cost[name] += int(m.group(1).replace(",", ""))
    return cost
GROUPS = [
    ("compression", r"salvo_compression|negotiate|mime::|append_vary|flate|miniz|crc32"),
    ("etag", r"etag"),
    ("query parameters", r"params::|CharSearcher|query_param|decode|form_urlencoded|percent"),
    ("tracing", r"tracing|opentelemetry|span|Span|subscriber"),
    ("headers", r"HeaderMap|hash_elem|header::|HeaderValue|encode|HeaderName"),
    ("allocation and copying", r"malloc|free|realloc|memcpy|memmove|memset|finish_grow|_int_|__rdl|RawVec|je_|jemalloc"),
]
run = runs[-1]
for case in cases:
    per = {}
    for side in "AB":
        big = functions(os.path.join(out, "raw", ir(side, case, run, large)["dump"]))
        little = functions(os.path.join(out, "raw", ir(side, case, run, small)["dump"]))
        per[side] = {k: (big[k] - little[k]) / (large - small) for k in set(big) | set(little)}
    delta = {k: per["B"].get(k, 0) - per["A"].get(k, 0) for k in set(per["A"]) | set(per["B"])}
    top = sorted(delta.items(), key=lambda kv: -abs(kv[1]))[:25]
    # Rough groups by function name (first rule that matches), for the docs' summary.
    groups = collections.Counter()
    for k, d in delta.items():
        groups[next((g for g, rx in GROUPS if re.search(rx, k)), "other")] += d
    name = "functions-" + re.sub(r"[^A-Za-z0-9_.-]", "_", case) + ".txt"
    with open(os.path.join(out, name), "w") as f:
        f.write(f"# {case}: self instructions per request by function, run {run}\n")
        f.write(f"# total A {sum(per['A'].values()):,.0f}  B {sum(per['B'].values()):,.0f}\n")
        f.write("# B - A by group (regular expressions on the name, first match): "
                + ", ".join(f"{g} {v:+,.0f}" for g, v in sorted(groups.items(), key=lambda kv: -abs(kv[1]))) + "\n")
        f.write(f"{'B - A':>10} {'A':>10} {'B':>10}  function\n")
        for k, d in top:
            f.write(f"{d:>+10.1f} {per['A'].get(k, 0):>10.1f} {per['B'].get(k, 0):>10.1f}  {k}\n")
open(os.path.join(out, "table.md"), "w").write("\n".join(lines))
print("\n".join(lines))
