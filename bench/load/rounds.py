"""What the benchmark reports share (bench/gateway/report.py, bench/python/report.py, and the
QUICK banner of bench/load/report.py): a run's meta.env, its per-round results
(RESULTS_DIR/ID.rN.json, as listed in order.txt), and which rounds count. A round during which other work used more than QUIET_MAX % of the machine is
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


#: The line a QUICK=1 report opens with.
QUICK_BANNER = ("> **QUICK=1: a smoke test of the benchmark's plumbing (1 short round, other work "
                "not waited for). These figures are not results.**")


class Results:
    """A run's per-round results: `order` (the ids in order.txt) and `rounds` (for each id its
    results by round number), with which rounds count given `disturbed_pct`."""

    def __init__(self, results_dir: Path, disturbed_pct: float):
        self.disturbed_pct = disturbed_pct
        self.order = (results_dir / "order.txt").read_text().split()
        self.rounds = {}
        for run_id in self.order:
            self.rounds[run_id] = {}
            for path in sorted(results_dir.glob(f"{run_id}.r*.json")):
                r = json.loads(path.read_text())
                self.rounds[run_id][r["round"]] = r

    def quiet(self, r: dict) -> bool:
        return r["other_cpu_pct"] <= self.disturbed_pct

    def kept(self, run_id: str) -> list:
        """The quiet rounds of run_id, or all of them if none is quiet."""
        rs = list(self.rounds[run_id].values())
        return [r for r in rs if self.quiet(r)] or rs

    def median_round(self, run_id: str) -> dict:
        """The kept round with the median req/s (the lower middle for an even count)."""
        rs = sorted(self.kept(run_id), key=lambda r: r["wrk"]["rps"])
        return rs[(len(rs) - 1) // 2]

    def paired(self, run_id: str, base_id: str) -> tuple[list, bool]:
        """The (run_id's, base_id's) results of the rounds both ran, keeping only those in which
        neither was disturbed if there are any; and whether there were."""
        pairs = [(r, self.rounds[base_id][n]) for n, r in self.rounds[run_id].items()
                 if n in self.rounds[base_id]]
        good = [(a, b) for a, b in pairs if self.quiet(a) and self.quiet(b)]
        return good or pairs, bool(good)
