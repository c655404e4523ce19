"""CPU accounting for the HTTP benchmarks (bench/load/run.sh, bench/gateway/run.sh), so that
a run disturbed by other work shows it.

    python3 cpu.py snapshot PGID... -> "<machine busy jiffies> <jiffies of each process group>"
    python3 cpu.py idle SECONDS     -> the machine's busy share over SECONDS, in % of all cores
    python3 cpu.py other BEFORE AFTER WRK_CPU_SECONDS ELAPSED_SECONDS
                                    -> the share of the machine (%) used by anything but the
                                       process groups of the snapshots and wrk between two
                                       snapshots, then the CPU seconds each group used

The machine's busy time comes from /proc/stat; a process group's from /proc/<pid>/stat of
every process in it (utime + stime).
"""

import os
import sys
import time


def machine_busy():
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields[:8]) - idle


def group_jiffies(pgids):
    totals = dict.fromkeys(pgids, 0)
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        rest = stat[stat.rindex(")") + 2:].split()
        # rest[0] is the state (field 3); pgrp is field 5, utime 14, stime 15.
        if int(rest[2]) in totals:
            totals[int(rest[2])] += int(rest[11]) + int(rest[12])
    return [totals[pgid] for pgid in pgids]


if sys.argv[1] == "snapshot":
    print(machine_busy(), *group_jiffies([int(pgid) for pgid in sys.argv[2:]]))
elif sys.argv[1] == "idle":
    seconds = float(sys.argv[2])
    before = machine_busy()
    time.sleep(seconds)
    busy = machine_busy() - before
    hz = os.sysconf("SC_CLK_TCK")
    print(round(100 * busy / (hz * seconds * os.cpu_count()), 1))
elif sys.argv[1] == "other":
    busy0, *groups0 = (int(x) for x in sys.argv[2].split())
    busy1, *groups1 = (int(x) for x in sys.argv[3].split())
    wrk_seconds, elapsed = float(sys.argv[4]), float(sys.argv[5])
    hz = os.sysconf("SC_CLK_TCK")
    used = [b - a for a, b in zip(groups0, groups1)]
    other = (busy1 - busy0) - sum(used) - wrk_seconds * hz
    print(round(max(0.0, 100 * other / (hz * elapsed * os.cpu_count())), 1), *(u / hz for u in used))
else:
    sys.exit(f"unknown command {sys.argv[1]}")
