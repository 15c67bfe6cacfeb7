"""The Python side of bench/cluster-executor.js: runs in a program of the bench's, from the code
directory the cluster jobs come from (cluster_jobs.py beside it). It holds a local Executor (a
fork per task) and a cluster Executor (a job per task, through the local daemon) of the same
functions, and answers the bench's commands (a JSON line each): round trips one after another,
or the throughput of many tasks at once (map)."""

import json
import math
import sys
import time

import cluster_jobs
from pynwheel.futures import Executor


def arguments(job, i):
    return (i,) if job in ("numpy_sum", "sqrt") else ()


def function(job):
    # math.sqrt: a function of a module every worker has imported (the standard library), so a
    # job pays no import: the round trip is the path alone.
    return math.sqrt if job == "sqrt" else getattr(cluster_jobs, job)


def main():
    local = Executor(2)  # (before the cluster Executor's thread: the local one forks this process)
    remote = Executor(cluster=sys.argv[1])
    executors = {"local": local, "cluster": remote}
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        if command["op"] == "stop":
            break
        executor, job, n = executors[command["who"]], command["job"], command["n"]
        fn = function(job)
        if command["op"] == "roundtrip":
            times = []
            for i in range(n):
                started = time.perf_counter()
                executor.submit(fn, *arguments(job, i)).result()
                times.append((time.perf_counter() - started) * 1000)
            print(json.dumps({"times": times}), flush=True)
        else:
            started = time.perf_counter()
            futures = [executor.submit(fn, *arguments(job, i)) for i in range(n)]
            for future in futures:
                future.result()
            print(json.dumps({"rate": n / (time.perf_counter() - started)}), flush=True)
    remote.shutdown()
    local.shutdown()


if __name__ == "__main__":
    main()
