"""Turns the results of bench/load/run.sh (results/*.json) into the Markdown report.

Run by run.sh with the environment it exports; prints the report on stdout. Each scenario ran
ROUNDS times; a row shows the round with the median req/s (its latencies and CPU figures
too) and the range of req/s over the rounds.
"""

import json
import os
import statistics
from pathlib import Path

from rounds import QUICK_BANNER

env = os.environ
results_dir = Path(env["RESULTS_DIR"])
pool, pool_big = int(env["POOL"]), int(env["POOL_BIG"])
# A measurement during which other work took more than this share of the CPU is flagged.
disturbed_pct = float(env.get("QUIET_MAX", "10"))
# PIN=1 (or the second half of PIN=both): every server on one core, wrk on another.
pinned = env.get("BENCH_PINNED", "0") == "1"
PINNED_LABEL = "pinned: server on 1 core, wrk on the other"
# A label for every heading of a pinned run, so that its tables are never taken for the others.
suffix = f" ({PINNED_LABEL})" if pinned else ""
quick = env.get("BENCH_QUICK", "0") == "1"

runs = {}
for run_id in (results_dir / "order.txt").read_text().split():
    rounds = [json.loads(p.read_text()) for p in sorted(results_dir.glob(f"{run_id}.r*.json"))]
    # Rounds disturbed by other work are left out, unless every round was.
    quiet = [r for r in rounds if r["other_cpu_pct"] <= disturbed_pct] or rounds
    quiet.sort(key=lambda r: r["wrk"]["rps"])
    median = quiet[(len(quiet) - 1) // 2]
    runs[run_id] = dict(median, rounds=quiet, all_rounds=rounds)

LABELS = {
    "ours": "ours (`api-server`, Rust)",
    "ours-info": "ours, access log on (`RUST_LOG=info`)",
    "ours-before": "ours, the baseline build (`OURS_BASELINE`)",
    "fastapi": "FastAPI + python-jose (uvicorn, 2 workers)",
    "node": "Node + `@clerk/backend` (1 process)",
    "node-cluster": "Node + `@clerk/backend` (cluster, 2 processes)",
}
PEERS = ("fastapi", "node", "node2")


def rps(run_id):
    return runs[run_id]["wrk"]["rps"]


def p99(run_id):
    return runs[run_id]["wrk"]["p99_ms"]


def cpu_us(run_id):
    run = runs[run_id]
    return 1e6 * run["server_cpu_s"] / run["wrk"]["requests"]


def fmt_rps(value):
    return f"{value:,.0f}"


def fmt_ms(value):
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def tokens_label(run):
    n = run["tokens"]
    return "1 (reused)" if n == 1 else f"{n:,} distinct"


out = []
w = out.append
w(f"## Load benchmark results{suffix}")
w("")
if quick:
    w(QUICK_BANNER)
    w("")
w(f"- Date: {env['BENCH_DATE']}; commit `{env['BENCH_COMMIT']}`{env.get('BENCH_DIRTY', '')}")
if pinned:
    w(f"- Machine: {env['BENCH_NPROC']} cores, {env['BENCH_CPU']}; **{PINNED_LABEL}**: every server (all its "
      f"processes) under `taskset -c {env['PIN_SERVER_CPU']}`, wrk under `taskset -c {env['PIN_WRK_CPU']}`, "
      "so the load generator never shares a core with the server (FastAPI's 2 workers and the Node "
      "cluster's 2 processes share their one core; ours runs one runtime thread)")
else:
    w(f"- Machine: {env['BENCH_NPROC']} cores, {env['BENCH_CPU']}; the servers and the load generator share it")
w(f"- Load: `wrk -t{env['THREADS']} -c{env['CONNECTIONS']} -d{env['DURATION']}` per measurement, after a "
  f"{env['WARMUP']} warm-up; one server running at a time, all on loopback; {env['ROUNDS']} rounds, "
  "each measuring every server in turn (started afresh): the median round is shown")
w(f"- Versions: {env['BENCH_VERSIONS']}")
w("")
w("| Server | Route | Tokens | req/s (median) | req/s range | p50 ms | p99 ms | non-2xx | token cache hits "
  "| server CPU µs/req | wrk CPU µs/req | other CPU |")
w("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for run_id, run in runs.items():
    r = run["wrk"]
    hits = ""
    if run["route"] == "/protected":
        if run["cache_hits"] is None:
            hits = "no cache"
        else:
            total = run["cache_hits"] + run["cache_misses"]
            hits = f"{100 * run['cache_hits'] / total:.1f}%" if total else "n/a"
    rates = [x["wrk"]["rps"] for x in run["rounds"]]
    non2xx = sum(x["wrk"]["non2xx"] for x in run["all_rounds"])
    worst_other = max(x["other_cpu_pct"] for x in run["rounds"])
    w(f"| {LABELS.get(run['server'], run['server'])}{', pinned' if pinned else ''} | `{run['route']}` | {tokens_label(run)} "
      f"| {fmt_rps(r['rps'])} | {fmt_rps(min(rates))}–{fmt_rps(max(rates))} "
      f"| {fmt_ms(r['p50_ms'])} | {fmt_ms(r['p99_ms'])} | {non2xx} | {hits} "
      f"| {cpu_us(run_id):.1f} | {1e6 * run['wrk_cpu_s'] / r['requests']:.1f} "
      f"| {worst_other:.0f}%{' ⚠' if worst_other > disturbed_pct else ''} |")
w("")
legend = ("*Tokens*: every request carries `Authorization: Bearer <token>`, `/healthz` ones included (it "
  "ignores it), so that `/healthz` and `/protected` rows differ only by authentication. "
  "*Token cache hits*: share of the requests our server answered from its verified-token cache "
  "(its `/metrics`); the peers verify every request. *Server CPU µs/req*: CPU time (user + "
  "system, all its processes) the server used per request; *wrk CPU µs/req*: the same for the "
  "load generator. *non-2xx*: over all rounds. *Other CPU*: the largest share of the machine "
  "used during a kept round by anything but the server and wrk. A round during which other work "
  f"used more than {disturbed_pct:.0f}% was measured again (up to {env.get('RETRIES', '3')} times) and "
  "left out if it stayed disturbed")
left_out = {run_id: (len(run["all_rounds"]) - len(run["rounds"]), len(run["all_rounds"]))
            for run_id, run in runs.items()}
note = ""
if any(n for n, _ in left_out.values()):
    note += " (left out: " + ", ".join(f"`{run_id}` {n} of {total} rounds"
                                       for run_id, (n, total) in left_out.items() if n) + ")"
disturbed = [run_id for run_id, run in runs.items()
             if max(x["other_cpu_pct"] for x in run["rounds"]) > disturbed_pct]
if disturbed:
    note += f". ⚠ **Every round of {', '.join(disturbed)} was disturbed by other work: rerun on a quiet machine.**"
else:
    note += f"; every row comes from rounds where other work used at most {disturbed_pct:.0f}% of the machine."
w(legend + note)
socket_errors = {
    run_id: sum(x["wrk"][k] for x in run["all_rounds"]
                for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
    for run_id, run in runs.items()
}
if any(socket_errors.values()):
    w("")
    w("Socket errors reported by wrk: " + ", ".join(f"{k} {v}" for k, v in socket_errors.items() if v) + ".")

w("")
w(f"### Ratios against the targets{suffix}")
w("")
w("| Ratio | Measured | Target | Met |")
w("|---|---:|---|:---:|")
verdicts = []


def row(label, shown, target_text, met):
    verdicts.append(met)
    w(f"| {label} | {shown} | {target_text} | {'yes' if met else '**no**'} |")


for protected, healthz, what in (
    ("ours-protected-1", "ours-healthz", "1 reused token"),
    ("ours-protected-pool", "ours-healthz-pool", f"{pool:,} tokens"),
):
    ratio = rps(protected) / rps(healthz)
    row(f"ours `/protected` ÷ ours `/healthz`, req/s, {what}", f"{ratio:.2f}", "≥ 0.9", ratio >= 0.9)
for scenario, what in (("1", "1 reused token"), ("pool", f"{pool:,} tokens")):
    peers = [p for p in PEERS if f"{p}-protected-{scenario}" in runs]
    best = max(peers, key=lambda p: rps(f"{p}-protected-{scenario}"))
    best_label = LABELS[runs[f"{best}-protected-{scenario}"]["server"]]
    ratio = rps(f"ours-protected-{scenario}") / rps(f"{best}-protected-{scenario}")
    row(f"ours ÷ best peer ({best_label}), `/protected` req/s, {what}", f"{ratio:.1f}×", "≥ 15×",
        ratio >= 15)
    lowest = min(peers, key=lambda p: p99(f"{p}-protected-{scenario}"))
    ours_p99, peer_p99 = p99(f"ours-protected-{scenario}"), p99(f"{lowest}-protected-{scenario}")
    row(f"`/protected` p99, {what}: ours vs lowest peer ({LABELS[runs[f'{lowest}-protected-{scenario}']['server']]})",
        f"{fmt_ms(ours_p99)} vs {fmt_ms(peer_p99)} ms", "ours lower", ours_p99 < peer_p99)

w("")
w(f"Informative, no target{suffix}:")
w("")
for scenario, what in (("1", "1 reused token"), ("pool", f"{pool:,} tokens")):
    parts = []
    for p in PEERS:
        if f"{p}-protected-{scenario}" in runs:
            parts.append(f"{cpu_us(f'{p}-protected-{scenario}') / cpu_us(f'ours-protected-{scenario}'):.1f}× "
                         f"less than {LABELS[runs[f'{p}-protected-{scenario}']['server']]}")
    w(f"- Server CPU per `/protected` request, {what}: ours {cpu_us(f'ours-protected-{scenario}'):.1f} µs, "
      + "; ".join(parts) + ".")
if "ours-protected-big" in runs:
    big = runs["ours-protected-big"]
    hit = big["cache_hits"] / max(1, big["cache_hits"] + big["cache_misses"])
    best = max((p for p in PEERS if f"{p}-protected-pool" in runs), key=lambda p: rps(f"{p}-protected-pool"))
    text = (f"- {pool_big:,} distinct tokens ({100 * hit:.0f}% cache hits): "
            f"ours {fmt_rps(rps('ours-protected-big'))} req/s, "
            f"{rps('ours-protected-big') / rps(f'{best}-protected-pool'):.1f}× the best peer's {pool:,}-token figure")
    if hit < 0.8:
        miss_cost = (cpu_us("ours-protected-big") - cpu_us("ours-protected-pool")) / (1 - hit)
        text += (f"; a full verification (cache miss) costs about {miss_cost:.0f} µs of server CPU more "
                 "than a cache hit")
    w(text + ".")
if "ours-info-protected-pool" in runs:
    w(f"- The access log (`RUST_LOG=info`, one line per request to a file) costs "
      f"{cpu_us('ours-info-protected-pool') - cpu_us('ours-protected-pool'):.1f} µs of server CPU per request: "
      f"{fmt_rps(rps('ours-info-protected-pool'))} req/s instead of {fmt_rps(rps('ours-protected-pool'))} "
      f"({rps('ours-info-protected-pool') / rps('ours-protected-pool'):.2f}).")

if "before-protected-pool" in runs:
    pairs = [("ours-healthz", "before-healthz", "`/healthz`, 1 token"),
             ("ours-protected-1", "before-protected-1", "`/protected`, 1 token"),
             ("ours-healthz-pool", "before-healthz-pool", f"`/healthz`, {pool:,} tokens"),
             ("ours-protected-pool", "before-protected-pool", f"`/protected`, {pool:,} tokens")]
    shown = "; ".join(f"{what} {rps(now) / rps(before):.2f}× ({fmt_rps(rps(now))} vs {fmt_rps(rps(before))} req/s, "
                      f"{cpu_us(now):.1f} vs {cpu_us(before):.1f} µs CPU)" for now, before, what in pairs)
    w(f"- This build against the baseline build, same run: {shown}.")

w("")
if all(verdicts):
    w(f"All targets met{suffix}.")
else:
    w(f"**Targets missed: {verdicts.count(False)} of {len(verdicts)}{suffix}.**")
print("\n".join(out))
