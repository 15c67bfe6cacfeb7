"""Celery or Ray for bench/cluster.js, driven a command at a time on stdin, one JSON answer a line
on stdout (so that the Node bench can interleave its rounds with pynwheel's).

    python cluster-against.py celery|ray reuse|isolated REDIS_URL
    stdin:  {"op": "roundtrip", "job": "trivial"|"numpy_sum", "n": 20}
            {"op": "throughput", "job": "numpy_sum"|"numpy_work", "n": 1000}
            {"op": "stop"}
    stdout: {"ready": true} once the workers answer, then {"ms": [...]} or {"seconds": S, "n": N}

Celery: a Redis broker and result backend, its prefork pool of 2 in a worker process of its own
(`worker_max_tasks_per_child=1` for isolated: a fresh process per job). Ray: local, 2 CPUs
(`max_calls=1` for isolated). Both as their documentation sets them up; nothing tuned.
"""

import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def answer(value):
    sys.stdout.write(json.dumps(value) + "\n")
    sys.stdout.flush()


def celery_app(redis_url, isolated):
    from celery import Celery

    app = Celery("pnwbench", broker=redis_url, backend=redis_url)
    app.conf.update(worker_max_tasks_per_child=1 if isolated else None, worker_hijack_root_logger=False,
                    task_serializer="json", result_serializer="json", accept_content=["json"],
                    broker_connection_retry_on_startup=True, worker_prefetch_multiplier=1)
    import cluster_jobs

    tasks = {name: app.task(name="cluster_jobs." + name)(getattr(cluster_jobs, name))
             for name in ("trivial", "numpy_sum", "numpy_work")}
    return app, tasks


def celery_worker(redis_url, isolated):
    from celery.apps.worker import Worker

    app, _ = celery_app(redis_url, isolated)
    Worker(app=app, concurrency=2, pool="prefork", loglevel="WARNING", quiet=True,
           hostname="pnwbench-%d@localhost" % os.getpid()).start()


class CeleryBench:
    def __init__(self, redis_url, isolated):
        self.app, self.tasks = celery_app(redis_url, isolated)
        self.worker = subprocess.Popen([sys.executable, __file__, "celery-worker", "isolated" if isolated else "reuse", redis_url],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while True:
            try:
                self.tasks["trivial"].delay().get(timeout=5)
                break
            except Exception:
                if time.time() > deadline or self.worker.poll() is not None:
                    raise
        for _ in range(4):
            self.tasks["numpy_sum"].delay(0).get(timeout=60)

    def call(self, job, arg):
        return (self.tasks[job].delay() if arg is None else self.tasks[job].delay(arg)).get(timeout=120)

    def many(self, job, args):
        results = [self.tasks[job].delay(a) for a in args]
        return [r.get(timeout=600) for r in results]

    def stop(self):
        self.worker.terminate()
        try:
            self.worker.wait(30)
        except subprocess.TimeoutExpired:
            self.worker.kill()


class RayBench:
    def __init__(self, redis_url, isolated):
        import ray

        self.ray = ray
        ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": HERE}})
        import cluster_jobs

        options = {"max_calls": 1} if isolated else {}
        self.tasks = {name: ray.remote(**options)(getattr(cluster_jobs, name)) if options else ray.remote(getattr(cluster_jobs, name))
                      for name in ("trivial", "numpy_sum", "numpy_work")}
        ray.get([self.tasks["numpy_sum"].remote(i) for i in range(8)])

    def call(self, job, arg):
        return self.ray.get(self.tasks[job].remote() if arg is None else self.tasks[job].remote(arg))

    def many(self, job, args):
        return self.ray.get([self.tasks[job].remote(a) for a in args])

    def stop(self):
        self.ray.shutdown()


def main():
    system, mode, redis_url = sys.argv[1:4]
    if system == "celery-worker":
        return celery_worker(redis_url, mode == "isolated")
    bench = (CeleryBench if system == "celery" else RayBench)(redis_url, mode == "isolated")
    answer({"ready": True})
    for line in sys.stdin:
        command = json.loads(line)
        op = command["op"]
        if op == "stop":
            break
        job = command["job"]
        arg = command.get("arg")
        if op == "roundtrip":
            times = []
            for i in range(command["n"]):
                started = time.perf_counter()
                bench.call(job, arg if job != "numpy_sum" else i)
                times.append((time.perf_counter() - started) * 1000)
            answer({"ms": times})
        elif op == "throughput":
            args = [arg if job != "numpy_sum" else i for i in range(command["n"])]
            started = time.perf_counter()
            values = bench.many(job, args)
            seconds = time.perf_counter() - started
            answer({"seconds": seconds, "n": len(values)})
    bench.stop()
    answer({"stopped": True})


if __name__ == "__main__":
    main()
