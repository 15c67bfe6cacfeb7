"""CPU per warm run, for one or more builds side by side (a loaded machine disturbs CPU time
far less than wall time).

Runs in its own process (the bench); starts one daemon per build, each with a runtime directory
of its own, and stops them all at the end. Per round and build (builds shuffled per round):
N back-to-back runs of an empty script through that build's native runner, then the CPU they
cost: the runner's own (wait4's rusage), the zygote's (utime+stime from /proc/PID/stat) and its
children's (spares and runs, cutime+cstime: counted as the zygote reaps them), and the daemon's.

Usage: python3 bench/cpu-per-run.py [--rounds R] [--runs N] [--gap MS] BUILD_DIR [BUILD_DIR...]
(uses $PYNWHEEL_BENCH_PYTHON, else /work/venv-bench/bin/python3's like: python3 on PATH)
"""

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

TICK = os.sysconf("SC_CLK_TCK")


def cpu_of(pid):
    """(own, children) CPU seconds of a process, from /proc/PID/stat."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return (utime + stime) / TICK, (cutime + cstime) / TICK


def ppid_of(pid):
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def find_zygote(runtime):
    """The pid of the zygote whose lane is in `runtime` (its spares share its command line:
    the one whose parent is not one of them)."""
    found = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % name, "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if b"zygote" in cmdline and (runtime + "/lane").encode() in cmdline:
            found.add(int(name))
    for pid in found:
        try:
            if ppid_of(pid) not in found:
                return pid
        except OSError:
            pass
    return None


class Build:
    def __init__(self, root, python, script):
        self.root = os.path.abspath(root)
        self.runner = os.path.join(self.root, "build", "Release", "pynwheel-runner")
        self.runtime = tempfile.mkdtemp(prefix="pnw-cpu-")
        os.chmod(self.runtime, 0o700)
        self.env = dict(os.environ, PYNWHEEL_RUNTIME_DIR=self.runtime, PYNWHEEL_PYTHON=python)
        self.env.pop("PYNWHEEL_DEBUG", None)
        self.script = script
        self.devnull = os.open(os.devnull, os.O_RDWR)
        self.rows = {"client": [], "zygote": [], "children": [], "daemon": [], "total": []}

    def run_once(self):
        """One run; its client's CPU seconds."""
        pid = os.posix_spawn(self.runner, [self.runner, "run", self.script], self.env,
                             file_actions=[(os.POSIX_SPAWN_DUP2, self.devnull, 0), (os.POSIX_SPAWN_DUP2, self.devnull, 1),
                                           (os.POSIX_SPAWN_DUP2, self.devnull, 2)])
        _, status, usage = os.wait4(pid, 0)
        if status != 0:
            raise SystemExit("%s: a run failed (status %d)" % (self.root, status))
        return usage.ru_utime + usage.ru_stime

    def start(self):
        for _ in range(20):
            self.run_once()
            time.sleep(0.03)
        self.zygote = find_zygote(self.runtime)
        if self.zygote is None:
            raise SystemExit("%s: no zygote found" % self.root)
        self.daemon = ppid_of(self.zygote)

    def round(self, runs, gap):
        time.sleep(0.05)  # the spares of the runs before are ready
        z0, c0 = cpu_of(self.zygote)
        d0 = cpu_of(self.daemon)[0] if self.daemon else 0
        client = 0.0
        for _ in range(runs):
            client += self.run_once()
            if gap:
                time.sleep(gap)
        time.sleep(0.05)  # the last runs reaped, their spares forked
        z1, c1 = cpu_of(self.zygote)
        d1 = cpu_of(self.daemon)[0] if self.daemon else 0
        per = lambda v: v * 1000 / runs
        row = {"client": per(client), "zygote": per(z1 - z0), "children": per(c1 - c0), "daemon": per(d1 - d0)}
        row["total"] = row["client"] + row["zygote"] + row["children"] + row["daemon"]
        for name, value in row.items():
            self.rows[name].append(value)

    def stop(self):
        subprocess.run([self.runner, "stop"], env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(self.devnull)
        shutil.rmtree(self.runtime, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--gap", type=float, default=0, help="ms between runs (0: back to back)")
    parser.add_argument("builds", nargs="+")
    options = parser.parse_args()
    python = os.environ.get("PYNWHEEL_BENCH_PYTHON") or shutil.which("python3")
    scripts = tempfile.mkdtemp(prefix="pnw-cpu-scripts-")
    script = os.path.join(scripts, "empty.py")
    with open(script, "w") as f:
        f.write("")
    builds = [Build(root, python, script) for root in options.builds]
    try:
        for build in builds:
            build.start()
        for _ in range(options.rounds):
            order = builds[:]
            random.shuffle(order)
            for build in order:
                build.round(options.runs, options.gap / 1000)
    finally:
        for build in builds:
            build.stop()
        shutil.rmtree(scripts, ignore_errors=True)
    print("CPU ms per run of an empty script (medians of %d rounds of %d runs; load %s)"
          % (options.rounds, options.runs, " ".join("%.1f" % v for v in os.getloadavg())))
    print("%-40s %7s %7s %9s %7s %7s" % ("build", "client", "zygote", "children", "daemon", "total"))
    for build in builds:
        print("%-40s %7.3f %7.3f %9.3f %7.3f %7.3f" % ((build.root,) + tuple(statistics.median(build.rows[k]) for k in
                                                        ("client", "zygote", "children", "daemon", "total"))))
        totals = sorted(build.rows["total"])
        print("%-40s total per round: %s" % ("", " ".join("%.2f" % v for v in totals)))


if __name__ == "__main__":
    main()
