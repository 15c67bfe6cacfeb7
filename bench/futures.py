"""pynwheel.futures.Executor against ProcessPoolExecutor (fork context), interleaved round by
round in one process: what an Executor costs to start and stop, one task's round trip, and 200
trivial tasks through map. Medians in milliseconds.

usage: PYTHONPATH=$(pynwheel python-path) python3 bench/futures.py [ROUNDS]
   or: pynwheel run bench/futures.py [ROUNDS]  (the caller is then a warm fork itself)
"""
import concurrent.futures
import multiprocessing
import statistics
import sys
import time
import warnings

from pynwheel.futures import Executor

warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: ProcessPoolExecutor forks beside its threads


def nothing(x):
    return x


def process_pool():
    return concurrent.futures.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork"))


def pynwheel_executor():
    return Executor(2)


def one_round(make):
    t0 = time.perf_counter()
    executor = make()
    executor.submit(nothing, 0).result()  # ProcessPoolExecutor starts its workers on demand
    t1 = time.perf_counter()
    for i in range(20):
        executor.submit(nothing, i).result()
    t2 = time.perf_counter()
    list(executor.map(nothing, range(200)))
    t3 = time.perf_counter()
    executor.shutdown()
    t4 = time.perf_counter()
    return {"start + first task": (t1 - t0) * 1e3, "one task, sequential": (t2 - t1) * 1e3 / 20,
            "map of 200 tasks": (t3 - t2) * 1e3, "shutdown": (t4 - t3) * 1e3}


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 21
    makers = {"ProcessPoolExecutor": process_pool, "pynwheel Executor": pynwheel_executor}
    times = {name: [] for name in makers}
    for r in range(rounds + 2):
        order = list(makers) if r % 2 == 0 else list(reversed(list(makers)))
        for name in order:
            result = one_round(makers[name])
            if r >= 2:  # two warm-up rounds
                times[name].append(result)
    print("%d rounds, medians (ms)" % rounds)
    rows = list(times["ProcessPoolExecutor"][0])
    print("%-22s %20s %20s" % ("", *makers))
    for row in rows:
        print("%-22s %20.2f %20.2f" % (row, *(statistics.median(t[row] for t in times[name]) for name in makers)))


if __name__ == "__main__":
    main()
