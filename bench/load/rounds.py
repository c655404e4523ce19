"""What the benchmark reports share (bench/gateway/report.py, bench/python/report.py): a run's
meta.env, its per-round results (RESULTS_DIR/ID.rN.json, as listed in order.txt), and which
rounds count. A round during which other work used more than QUIET_MAX % of the machine is
"disturbed" and left out wherever quiet ones exist.
"""

import json
import shlex
from pathlib import Path


def read_meta(results_dir: Path) -> dict:
    """meta.env's NAME='value' words."""
    env = {}
    for line in (results_dir / "meta.env").read_text().splitlines():
        for word in shlex.split(line):
            key, _, value = word.partition("=")
            env[key] = value
    return env


def read_rounds(results_dir: Path) -> tuple[list, dict]:
    """The ids in order.txt, and for each id its results by round number."""
    order = (results_dir / "order.txt").read_text().split()
    rounds = {}
    for run_id in order:
        rounds[run_id] = {}
        for path in sorted(results_dir.glob(f"{run_id}.r*.json")):
            r = json.loads(path.read_text())
            rounds[run_id][r["round"]] = r
    return order, rounds


def quiet(r: dict, disturbed_pct: float) -> bool:
    return r["other_cpu_pct"] <= disturbed_pct


def kept(by_round: dict, disturbed_pct: float) -> list:
    """The quiet rounds, or all of them if none is quiet."""
    rs = list(by_round.values())
    return [r for r in rs if quiet(r, disturbed_pct)] or rs


def median_round(by_round: dict, disturbed_pct: float) -> dict:
    """The kept round with the median req/s (the lower middle for an even count)."""
    rs = sorted(kept(by_round, disturbed_pct), key=lambda r: r["wrk"]["rps"])
    return rs[(len(rs) - 1) // 2]
