# The README's Python example: pynwheel.futures.Executor, each task a fork of this script.
# Run it with `pynwheel run examples/futures.py`, or with
# `PYTHONPATH=$(pynwheel python-path) python3 examples/futures.py`: the same output.
import concurrent.futures
import os

import numpy as np

import pynwheel
from pynwheel.futures import Executor, TaskDied

table = np.random.default_rng(0).random((2000, 2000))  # set up once: every task sees it


def column_mean(i):  # found by name in the fork: no pickling of the function or the table
    return round(float(table[:, i].mean()), 6)


@pynwheel.at_fork  # runs in every task, before its function
def reconnect():
    os.environ["WORKER_PID"] = str(os.getpid())


def worker_pid_is_mine(_):
    return os.environ.get("WORKER_PID") == str(os.getpid())


with Executor() as executor:  # max_workers: os.cpu_count()
    means = list(executor.map(column_mean, range(2000), chunksize=100))
    print("means of", len(means), "columns, the first:", means[0])
    print("hooks ran in each task:", all(executor.map(worker_pid_is_mine, range(8))))
    futures = [executor.submit(column_mean, i) for i in range(3)] + [executor.submit(os._exit, 3)]
    done, _ = concurrent.futures.wait(futures)
    for future in futures:
        try:
            print(future.result())
        except TaskDied as died:  # that task alone; the others went on
            print(died)
