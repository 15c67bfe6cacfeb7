"""The cluster bench's jobs (bench/cluster.js), the same functions for pynwheel, Celery and Ray.
numpy is imported at the top, as a job module of a real program would: a fresh process per job
(the isolated rows) pays that import, a warm fork does not."""

import time

import numpy


def trivial():
    return 1


def numpy_sum(seed):
    """A small numpy function: the round trip is about the system, not the work."""
    return float(numpy.random.default_rng(seed).standard_normal(1000).sum())


def numpy_work(ms):
    """ms milliseconds of numpy work (matrix products until the time is up), then a value."""
    a = numpy.random.default_rng(0).standard_normal((120, 120))
    deadline = time.perf_counter() + ms / 1000.0
    n = 0
    while time.perf_counter() < deadline:
        a = a @ a
        a /= numpy.abs(a).max()
        n += 1
    return n
