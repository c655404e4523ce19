"""Turns the results of bench/python/run.sh (RESULTS_DIR/*.json, meta.env) into its Markdown
report, on stdout.

Each app ran ROUNDS times. A round during which other work used more than QUIET_MAX % of the
machine is "disturbed" and left out wherever quiet ones exist. The table shows, per app, the
kept round with the median req/s (its latencies and CPU too) and the range over the kept
rounds. The ratios compare each app with `noauth` round by round (rounds in which neither was
disturbed, or all, flagged, if there is none): their median and range.
"""

import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "load"))
import rounds as rounds_lib  # noqa: E402

results_dir = Path(os.environ["RESULTS_DIR"])
env = rounds_lib.read_meta(results_dir)
quick = env.get("BENCH_QUICK") == "1"
disturbed_pct = float(env.get("QUIET_MAX", "10"))
pinned = env["PIN"] == "1"
label = (f"uvicorn pinned to CPU {env['PIN_SERVER_CPU']}, wrk to CPU {env['PIN_WRK_CPU']}" if pinned
         else "cores shared by wrk and uvicorn")

DESCRIBE = {
    "noauth": "no authentication (baseline)",
    "noop": "`Depends` on a function that does nothing",
    "ours": "clerk-verifier `Depends(ClerkAuth(...))`",
    "ours_middleware": "clerk-verifier `ClerkMiddleware` (ASGI); the route reads `request.state.auth`",
    "pyjwt": "`HTTPBearer()` + PyJWT `jwt.decode`, key parsed once",
    "fastapi_clerk_auth": "fastapi-clerk-auth `ClerkHTTPBearer` (PyJWKClient, JWKS cached)",
}

results = rounds_lib.Results(results_dir, disturbed_pct)
order, rounds = results.order, results.rounds  # rounds: id -> {round: result}
kept, median_round = results.kept, results.median_round


def cpu_us(r):
    return 1e6 * r["app_cpu_s"] / r["wrk"]["requests"]


def ratios(app, base="noauth"):
    """(median, min, max, rounds, all_quiet) of app's req/s over base's, round by round."""
    pairs, all_quiet = results.paired(app, base)
    values = [a["wrk"]["rps"] / b["wrk"]["rps"] for a, b in pairs]
    return statistics.median(values), min(values), max(values), len(values), all_quiet


out = []
w = out.append
w(f"### Results ({label})")
w("")
if quick:
    w(rounds_lib.QUICK_BANNER)
    w("")
w(f"- Date: {env['BENCH_DATE']}, measured {env['WINDOW']}; commit `{env['BENCH_COMMIT']}`{env.get('BENCH_DIRTY', '')}")
w(f"- Machine: {env['BENCH_NPROC']} cores, {env['BENCH_CPU']}; {label}; "
  f"uvicorn `--workers {env['WORKERS']}` (uvloop, httptools), no access log")
w(f"- Load: `wrk -t{env['WRK_THREADS']} -c{env['CONNECTIONS']} -d{env['DURATION']}` after a {env['WARMUP']} "
  f"warm-up, {int(env['POOL']):,} distinct valid session tokens in turn; {env['ROUNDS']} rounds, "
  "each running every app in turn (uvicorn started afresh)")
w(f"- Versions: {env['BENCH_VERSIONS']}")
w("")
w("| App | Authentication | req/s (median) | req/s range (rounds kept) | p50 ms | p99 ms "
  "| CPU µs/req | added CPU µs/req | req/s ÷ no auth (median, range) | other CPU |")
w("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
base_cpu = cpu_us(median_round("noauth")) if rounds.get("noauth") else None
for app in order:
    if not rounds[app]:
        continue
    r = median_round(app)
    rates = [x["wrk"]["rps"] for x in kept(app)]
    worst_other = max(x["other_cpu_pct"] for x in kept(app))
    added = "—" if app == "noauth" or base_cpu is None else f"{cpu_us(r) - base_cpu:+.0f}"
    if app != "noauth" and rounds.get("noauth"):
        med, lo, hi, n, all_quiet = ratios(app)
        ratio = f"{med:.3f} ({lo:.3f}–{hi:.3f}, {n}){'' if all_quiet else ' ⚠'}"
    else:
        ratio = "1"
    w(f"| `{app}` | {DESCRIBE.get(app, app)} | {r['wrk']['rps']:,.0f} | {min(rates):,.0f}–{max(rates):,.0f} ({len(rates)}) "
      f"| {r['wrk']['p50_ms']:.2f} | {r['wrk']['p99_ms']:.2f} | {cpu_us(r):.0f} | {added} | {ratio} "
      f"| {worst_other:.0f}%{' ⚠' if worst_other > disturbed_pct else ''} |")
w("")
w("*CPU µs/req*: uvicorn's CPU time (user + system, every worker) per request, in the median "
  "round. *Added*: that minus the no-auth app's. *Ratios*: per round, the app's req/s over the "
  "no-auth app's in the same round. *Other CPU*: the largest share of the machine used by "
  f"anything but uvicorn and wrk during a kept round; above {disturbed_pct:.0f} % (⚠) a round "
  "counts as disturbed.")
if rounds.get("noauth"):
    verdicts = []
    for app, how in (("ours_middleware", "as ASGI middleware"), ("ours", "as a `Depends`")):
        if rounds.get(app):
            med = ratios(app)[0]
            verdicts.append(f"{how} **{med:.3f}, {'met' if med >= 0.9 else 'not met'}**")
    if verdicts:
        w("")
        line = "Target: clerk-verifier at least 0.9 of the no-auth req/s: " + "; ".join(verdicts)
        if rounds.get("noop"):
            line += (f" (FastAPI's own no-op `Depends`, with no authentication at all: "
                     f"{ratios('noop')[0]:.3f})")
        w(line + ".")
print("\n".join(out))
