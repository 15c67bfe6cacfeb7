"""Builds of pynwheel against each other on one command, interleaved: a focused check of one row
of `npm run bench` when a change is suspected (issues 13 and 14).

usage: python3 bench/against.py RUNS DIR [DIR ...] -- ARGS...
  DIR: a built checkout (its build/Release/pynwheel-runner); ARGS: what follows the command,
  e.g. `run -m pytest --version` or `run empty.py` (run from the current directory). Each
  build has a runtime directory and daemon of its own; after 5 warm-up rounds, RUNS rounds, the
  builds' order reversed every other round; prints each build's median wall time (ms, from
  Python's subprocess, so a millisecond or so above bench/timer.c's) and stops the daemons.
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

split = sys.argv.index("--")
runs, dirs, args = int(sys.argv[1]), sys.argv[2:split], sys.argv[split + 1:]
runners = {d: os.path.join(d, "build", "Release", "pynwheel-runner") for d in dirs}
scratch = tempfile.mkdtemp(prefix="pnw-against-")
env = {k: v for k, v in os.environ.items() if k != "PYNWHEEL_DEBUG"}
envs = {}
for i, d in enumerate(dirs):
    runtime = os.path.join(scratch, "rt%d" % i)
    os.mkdir(runtime, 0o700)
    envs[d] = dict(env, PYNWHEEL_RUNTIME_DIR=runtime)


def once(d):
    start = time.perf_counter()
    subprocess.run([runners[d]] + args, env=envs[d], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (time.perf_counter() - start) * 1000


try:
    for _ in range(5):
        for d in dirs:
            once(d)
    times = {d: [] for d in dirs}
    for i in range(runs):
        for d in (dirs if i % 2 else dirs[::-1]):
            times[d].append(once(d))
    print(" ".join(args))
    for d in dirs:
        print("  %-40s %8.2f ms" % (d, statistics.median(times[d])))
finally:
    for d in dirs:
        subprocess.run([runners[d], "stop"], env=envs[d], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shutil.rmtree(scratch, ignore_errors=True)
