"""What a run pays when it lets the zygote's frozen objects go (issue 14): a run sees python's
collector once it calls gc.get_objects, gc.get_referrers or gc.freeze (python/_pynwheel/frozen.py
unfreezes then); until then the zygote's objects stay frozen, so the run's collections skip them
and never copy their pages. This measures both, in a numpy + pandas script, through the native
runner and under python, interleaved:
  - a full gc.collect() in a run that never thaws, and under python (where nothing is frozen);
  - the first gc.get_objects() of a run (the unfreeze and the list), and the full collection after;
  - the run's private memory (Private_Clean + Private_Dirty of /proc/self/smaps_rollup) before and
    after: the zygote's pages the collector copied (for a zygote whose runs thaw, its spares copy
    those pages ahead: they are then in the "private memory" row).

usage: python3 bench/gc-thaw.py [RUNS]   (python3: the bench venv's, with numpy and pandas;
       $PYNWHEEL_BENCH_PYTHON is used when set). Prints a table, saves bench/results/gc-thaw.json.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNNER = os.path.join(ROOT, "build", "Release", "pynwheel-runner")
PYTHON = os.environ.get("PYNWHEEL_BENCH_PYTHON", sys.executable)
RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 15

SCRIPT = r'''
import gc, json, sys, time
import numpy, pandas

def private_kib():
    with open("/proc/self/smaps_rollup") as f:
        return sum(int(line.split()[1]) for line in f if line.startswith(("Private_Clean:", "Private_Dirty:")))

out = {"before_kib": private_kib()}
start = time.perf_counter(); gc.collect(); out["collect_ms"] = (time.perf_counter() - start) * 1000
out["after_collect_kib"] = private_kib()
if sys.argv[1:] == ["thaw"]:
    start = time.perf_counter(); count = len(gc.get_objects()); out["get_objects_ms"] = (time.perf_counter() - start) * 1000
    start = time.perf_counter(); gc.collect(); out["collect_after_thaw_ms"] = (time.perf_counter() - start) * 1000
    out["after_thaw_kib"] = private_kib()
    out["objects"] = count
print(json.dumps(out))
'''


def main():
    scratch = tempfile.mkdtemp(prefix="pnw-gc-thaw-")
    runtime = os.path.join(scratch, "rt")
    os.mkdir(runtime, 0o700)
    script = os.path.join(scratch, "thaw.py")
    with open(script, "w") as f:
        f.write(SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYNWHEEL_")}
    env["PYNWHEEL_RUNTIME_DIR"] = runtime
    env["PATH"] = os.path.dirname(PYTHON) + os.pathsep + env.get("PATH", "")
    # The frozen and the thawed runs each from a zygote of their own (PYNWHEEL_KEY_ENV): a
    # zygote's spares copy ahead the pages its runs wrote (board.HotPages), so thawed runs would
    # make the frozen ones' spares copy what their collections touch.
    commands = {
        "python": ([PYTHON, script, "thaw"], {}),
        "pynwheel, frozen": ([RUNNER, "run", script, "keep"], {"PYNWHEEL_KEY_ENV": "PNW_GC_BENCH", "PNW_GC_BENCH": "frozen"}),
        "pynwheel, thawed": ([RUNNER, "run", script, "thaw"], {"PYNWHEEL_KEY_ENV": "PNW_GC_BENCH", "PNW_GC_BENCH": "thawed"}),
    }
    seen = {name: [] for name in commands}
    try:
        for round_ in range(RUNS + 3):  # three warm-up rounds (the zygote imports numpy and pandas)
            for name, (command, extra) in commands.items():
                result = subprocess.run(command, env=dict(env, **extra), cwd=scratch, capture_output=True, text=True, check=True)
                if round_ >= 3:
                    seen[name].append(json.loads(result.stdout))
    finally:
        subprocess.run(["node", os.path.join(ROOT, "bin", "pynwheel.js"), "stop"], env=env, capture_output=True)
        shutil.rmtree(scratch, ignore_errors=True)

    def median(name, field):
        values = [s[field] for s in seen[name] if field in s]
        return statistics.median(values) if values else None

    rows = []
    py, frozen, thawed = "python", "pynwheel, frozen", "pynwheel, thawed"
    rows.append(("full gc.collect(), ms", median(py, "collect_ms"), median(frozen, "collect_ms")))
    rows.append(("first gc.get_objects() (the unfreeze), ms", median(py, "get_objects_ms"), median(thawed, "get_objects_ms")))
    rows.append(("full gc.collect() after it, ms", median(py, "collect_after_thaw_ms"), median(thawed, "collect_after_thaw_ms")))
    rows.append(("private memory after a full collection, KiB", median(py, "after_collect_kib"), median(frozen, "after_collect_kib")))
    rows.append(("the same, after the unfreeze and another, KiB", median(py, "after_thaw_kib"), median(thawed, "after_thaw_kib")))
    print("numpy + pandas imported; %d interleaved runs each, medians (python %s)" % (RUNS, sys.version.split()[0]))
    print("%-44s %10s %10s" % ("", "python", "pynwheel"))
    for label, a, b in rows:
        print("%-44s %10.1f %10.1f" % (label, a, b))
    print("objects the collector tracks after the unfreeze: python %d, pynwheel %d" % (median(py, "objects"), median(thawed, "objects")))
    results = os.path.join(ROOT, "bench", "results", "gc-thaw.json")
    with open(results, "w") as f:
        json.dump({"runs": RUNS, "python": sys.version.split()[0], "rows": rows, "samples": seen}, f, indent=1)
    print("Saved bench/results/gc-thaw.json")


main()
