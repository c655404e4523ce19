"""Turns one mode's results of bench/gateway/run.sh (RESULTS_DIR/*.json, meta.env) into its
Markdown report, on stdout.

Each row ran ROUNDS times. A round during which other work used more than QUIET_MAX % of the
machine is "disturbed" and left out wherever quiet ones exist. The table shows, per row, the
kept round with the median req/s (its latencies and CPU figures too) and the range of req/s
over the kept rounds. The ratios compare each row with its baseline (the same proxy without
auth) round by round, over the rounds in which neither was disturbed (all rounds, flagged, if
there is none), and show the median over those rounds with their range.
"""

import os
import re
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "load"))
import rounds as rounds_lib  # noqa: E402

results_dir = Path(os.environ["RESULTS_DIR"])
env = rounds_lib.read_meta(results_dir)
pinned = env["MODE"] == "pinned"
quick = env.get("BENCH_QUICK") == "1"
disturbed_pct = float(env.get("QUIET_MAX", "10"))
label = (f"pinned: proxy, auth service and upstream on CPU {env['PIN_SERVER_CPU']}, wrk on CPU {env['PIN_WRK_CPU']}"
         if pinned else "cores shared by wrk and the servers")

results = rounds_lib.Results(results_dir, disturbed_pct)
order, rounds = results.order, results.rounds  # rounds: id -> {round: result}
kept, median_round = results.kept, results.median_round

AUTH = {
    "none": "no auth",
    "gateway": "clerk-gateway",
    "static": "a static 200 (nginx; no decision, informative)",
    "node": "Node `authenticateRequest` (1 process)",
    "node2": "Node `authenticateRequest` (cluster, 2 processes)",
}
PROXY = {"nginx": "nginx `auth_request`", "envoy": "Envoy HTTP `ext_authz`", "envoy-grpc": "Envoy gRPC `ext_authz`"}
# The rows whose targets the issue sets: the gateway on its usual pool (the cache-overflow row
# is informative).
TARGET_ROWS = {"nginx-gateway", "envoy-gateway", "envoy-grpc-gateway"}


def describe(r):
    if r["proxy"] == "direct":
        return "wrk → clerk-gateway `/auth-request`, no proxy (informative)"
    proxy = {"nginx": "nginx", "envoy": "Envoy", "envoy-grpc": "Envoy"}[r["proxy"]]
    if r["auth"] == "none":
        return f"{proxy} → upstream, no auth"
    return f"{PROXY[r['proxy']]} → {AUTH[r['auth']]} → upstream"


def per_req_us(r, key):
    return 1e6 * r[key] / r["wrk"]["requests"]


def ms(v):
    return f"{v:.2f}" if v < 10 else f"{v:.1f}"


def signed_ms(v):
    return f"{v:+.2f}"


out = []
w = out.append
w(f"### Results ({label})")
w("")
if quick:
    w(rounds_lib.QUICK_BANNER)
    w("")
w(f"- Date: {env['BENCH_DATE']}, measured {env['WINDOW']}; commit `{env['BENCH_COMMIT']}`{env.get('BENCH_DIRTY', '')}")
w(f"- Machine: {env['BENCH_NPROC']} cores, {env['BENCH_CPU']}; {label}; nginx (proxy and upstream) "
  f"with {env['WORKERS']} worker(s), Envoy with `--concurrency {env['WORKERS']}`")
w(f"- Load: at saturation `wrk -t{env['THREADS']} -c{env['CONNECTIONS']} -d{env['DURATION']}` after a "
  f"{env['WARMUP']} warm-up; at light load `wrk -t1 -c{env['LAT_CONNECTIONS']} -d{env['LAT_DURATION']}`; "
  f"{int(env['POOL']):,} distinct valid tokens rotated (the `-big` row: {int(env['POOL_BIG']):,}); "
  f"{env['ROUNDS']} rounds, each running every row in turn (auth service and proxy started afresh)")
w(f"- Versions: {env['BENCH_VERSIONS']}")
w("")
w("| Row | Chain | Tokens | req/s (median) | req/s range (rounds kept) | p50 ms | p99 ms | light-load p50 ms "
  "| light-load p99 ms | auth CPU µs/req | proxy CPU µs/req | upstream CPU µs/req | wrk CPU µs/req | other CPU |")
w("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for run_id in order:
    if not rounds[run_id]:
        continue
    r = median_round(run_id)
    rates = [x["wrk"]["rps"] for x in kept(run_id)]
    worst_other = max(x["other_cpu_pct"] for x in kept(run_id))
    auth_cpu = "—" if r["auth"] == "none" else f"{per_req_us(r, 'auth_cpu_s'):.1f}"
    proxy_cpu = "—" if r["proxy"] == "direct" else f"{per_req_us(r, 'proxy_cpu_s'):.1f}"
    w(f"| `{run_id}` | {describe(r)} | {r['tokens']:,} | {r['wrk']['rps']:,.0f} | {min(rates):,.0f}–{max(rates):,.0f} ({len(rates)}) "
      f"| {ms(r['wrk']['p50_ms'])} | {ms(r['wrk']['p99_ms'])} | {ms(r['light']['p50_ms'])} | {ms(r['light']['p99_ms'])} "
      f"| {auth_cpu} | {proxy_cpu} | {per_req_us(r, 'upstream_cpu_s'):.1f} "
      f"| {per_req_us(r, 'wrk_cpu_s'):.1f} | {worst_other:.0f}%{' ⚠' if worst_other > disturbed_pct else ''} |")
w("")
w("*CPU µs/req*: CPU time (user + system, all processes of the program) per request at saturation. "
  "*Other CPU*: the largest share of the machine used during a kept round's saturation run by "
  f"anything but these programs and wrk; a round above {disturbed_pct:.0f}% was measured again "
  f"(up to {env.get('RETRIES', '2')} attempts) and left out if quiet rounds exist (⚠: every round of the row "
  "was disturbed, its figures are not to be trusted).")

w("")
w(f"#### Against the no-auth baseline, round by round ({label})")
w("")
w("| Row | rounds | req/s ÷ baseline | added p99 at saturation | added p99 at light load | added p50 at light load |")
w("|---|---:|---:|---:|---:|---:|")
verdicts = []
summary = {}
for run_id in order:
    rs = rounds[run_id]
    if not rs:
        continue
    base_id = next(iter(rs.values()))["baseline"]
    if base_id == run_id or base_id not in rounds:
        continue
    pairs, all_quiet = results.paired(run_id, base_id)
    if not pairs:
        continue
    flag = "" if all_quiet else " ⚠"
    ratio = [a["wrk"]["rps"] / b["wrk"]["rps"] for a, b in pairs]
    sat = [a["wrk"]["p99_ms"] - b["wrk"]["p99_ms"] for a, b in pairs]
    light = [a["light"]["p99_ms"] - b["light"]["p99_ms"] for a, b in pairs]
    light50 = [a["light"]["p50_ms"] - b["light"]["p50_ms"] for a, b in pairs]

    def cell(values, fmt):
        m = statistics.median(values)
        return (f"{fmt(m)} ({fmt(min(values))} to {fmt(max(values))})" if len(values) > 1 else fmt(m)), m

    ratio_text, ratio_m = cell(ratio, lambda v: f"{v:.2f}")
    sat_text, sat_m = cell(sat, lambda v: f"{signed_ms(v)} ms")
    light_text, light_m = cell(light, lambda v: f"{signed_ms(v)} ms")
    light50_text, _ = cell(light50, lambda v: f"{signed_ms(v)} ms")
    summary[run_id] = (ratio_m, sat_m, light_m, flag)
    w(f"| `{run_id}` vs `{base_id}`{flag} | {len(pairs)} | {ratio_text} | {sat_text} | {light_text} | {light50_text} |")
w("")
w("Each cell: the median over the rounds of the per-round figure (the range in brackets), over "
  "the rounds in which neither the row nor its baseline was disturbed (⚠: there was none, all "
  "rounds are used); added p99 = p99 of the row − p99 of its baseline in the same round.")

targets = [t for t in order if t in TARGET_ROWS and t in summary]
if targets:
    w("")
    w(f"#### Targets ({label})")
    w("")
    w("| Row | Target | Measured | Met |")
    w("|---|---|---:|:---:|")
    for run_id in targets:
        ratio_m, sat_m, light_m, flag = summary[run_id]
        for text, shown, met in (
            ("req/s ≥ 0.7 × no auth", f"{ratio_m:.2f}", ratio_m >= 0.7),
            ("added p99 < 1 ms, light load", f"{signed_ms(light_m)} ms", light_m < 1.0),
            ("added p99 < 1 ms, saturation", f"{signed_ms(sat_m)} ms", sat_m < 1.0),
        ):
            verdicts.append(met)
            w(f"| `{run_id}`{flag} | {text} | {shown} | {'yes' if met else '**no**'} |")
    w("")
    w(f"All targets met ({label})." if all(verdicts)
      else f"**Targets missed: {verdicts.count(False)} of {len(verdicts)} ({label}).**")
    if any(summary[t][3] for t in targets):
        w("")
        w("⚠ **Measured only in rounds disturbed by other work: rerun on a quiet machine.**")
print("\n".join(out))
