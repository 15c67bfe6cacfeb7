"""Task, run() and pcall(): runs in the job's process (a job file under `pynwheel run`, the job
driver, or any python with pynwheel on its path).

A task is a fork, made by the job's one pynwheel.futures.Executor: its template is forked from
the job when the first task starts, with the job's single thread, and every task is a fork of
that template. So a task sees what the job had set up by its first task (imports, globals,
at_fork hooks), the job may start threads afterwards, and a fork is never made beside them.
A task's target and kwargs travel to it pickled (a function of the job's __main__ by name, as the
Executor sends functions). Each task is its own process group: max_runtime, terminate() and the
end of a job signal the group, so what the task started goes with it.
"""

import itertools
import os
import signal
import threading
import time

from pynwheel.tasks import body, results, tasklog

KILL_AFTER = 5.0  # seconds between SIGTERM and SIGKILL, as the issue says (and run()'s forceKillAfterDelay)
DEFAULT_LOG_DIR = "tasklogs"
EVENTS_FD = None  # the job driver's event stream: tasks write 'terminal' events on it (terminal.py)

_executor = None
_executor_lock = threading.Lock()
_taken_ids = set()
_numbers = itertools.count(1)


def _job_executor():
    global _executor
    with _executor_lock:
        if _executor is None:
            from pynwheel.futures import Executor
            _executor = Executor(max_workers=1 << 20)  # (concurrency is the job's: Task.start() starts)
        return _executor


def _take_id(taskid):
    if taskid is None:
        while True:
            taskid = "Task-%d" % next(_numbers)
            if taskid not in _taken_ids:
                break
    elif not isinstance(taskid, str) or not taskid:
        raise ValueError("a task id is a non-empty string, not %r" % (taskid,))
    taskid = taskid.replace("/", "_")  # (it names a file)
    if taskid in _taken_ids:
        raise ValueError("duplicate task id %r: task ids are unique in a job" % (taskid,))
    _taken_ids.add(taskid)
    return taskid


class TaskResult:
    """What a task ended with: result (a code), reason, value (a function's return), exit_code or
    signal (of the task's process, as python3 running it would have ended), duration (s),
    log_path, and left (pids of processes it left running, ended with it)."""

    __slots__ = ("taskid", "target", "result", "reason", "value", "exit_code", "signal", "duration", "log_path", "left")

    def __init__(self, taskid, target, result, reason=None, value=None, exit_code=None, signal=None, duration=0.0,
                 log_path=None, left=()):
        self.taskid, self.target, self.result, self.reason, self.value = taskid, target, result, reason, value
        self.exit_code, self.signal, self.duration, self.log_path, self.left = exit_code, signal, duration, log_path, list(left)

    def to_json(self):
        return {"id": self.taskid, "target": self.target, "result": self.result.code, "reason": self.reason,
                "value": self.value, "exitCode": self.exit_code, "signal": _signal_name(self.signal),
                "duration": round(self.duration, 6), "log": self.log_path, "left": self.left}

    def __repr__(self):
        return "<TaskResult %s %s%s in %.3f s>" % (self.taskid, self.result, " (%s)" % self.reason if self.reason else "", self.duration)


class Task:
    """pyATS easypy's Task: Task(script or 'module:function' or a function, taskid=None, args=(),
    max_runtime=None, log_dir=None, **kwargs). start(), wait(max_runtime), join(timeout),
    is_alive(), terminate(); result, task_result, pid, taskid, log_path."""

    def __init__(self, target, taskid=None, args=(), max_runtime=None, log_dir=None, **kwargs):
        if not (callable(target) or (isinstance(target, str) and target)):
            raise TypeError("a task runs a script path, a 'module:function' or a function, not %r" % (target,))
        if isinstance(args, str):
            raise TypeError("args is a sequence of arguments, not a string (%r)" % (args,))
        if max_runtime is not None and not max_runtime > 0:
            raise ValueError("max_runtime is a number of seconds > 0, not %r" % (max_runtime,))
        self.taskid = _take_id(taskid)
        self.target = target
        self.args = tuple(args)
        self.kwargs = kwargs
        self.max_runtime = max_runtime
        self.log_dir = os.path.abspath(log_dir or DEFAULT_LOG_DIR)
        self.log_path = os.path.join(self.log_dir, tasklog.log_name(self.taskid))
        self.task_result = None
        self._future = None
        self._started_at = None
        self._abort_reason = None
        self._lock = threading.Lock()
        self._finished = threading.Event()
        self._timers = []

    @property
    def target_name(self):
        if isinstance(self.target, str):
            return self.target
        return "%s:%s" % (getattr(self.target, "__module__", "?"), getattr(self.target, "__qualname__", "?"))

    def start(self):
        if self._future is not None:
            raise RuntimeError("task %s has started already" % self.taskid)
        os.makedirs(self.log_dir, exist_ok=True)
        with open(self.log_path, "wb"):  # new and empty from the start on (a reader may follow it then)
            pass
        target = self.target
        if isinstance(target, str) and not target.startswith("-m ") and (target.endswith(".py") or ":" not in target):
            target = os.path.abspath(target)
        spec = {"taskid": self.taskid, "target": target, "args": self.args, "kwargs": self.kwargs,
                "log_path": self.log_path, "max_runtime": self.max_runtime, "events_fd": EVENTS_FD}
        executor = _job_executor()
        self._started_at = time.monotonic()
        self._future = executor.submit(body.run_task, spec)
        self._future.add_done_callback(self._ended)
        if self.max_runtime is not None:
            self._later(self.max_runtime, self.abort, "max_runtime of %g s exceeded" % self.max_runtime)
        return self

    @property
    def pid(self):
        """The task's process id (also its process group's), once it has a process; else None."""
        future = self._future
        if future is None:
            return None
        while not future.task_started.wait(0.01):
            if future.done():
                break
        return future.task_pid

    @property
    def result(self):
        return self.task_result.result if self.task_result is not None else None

    def is_alive(self):
        return self._future is not None and not self._finished.is_set()

    def join(self, timeout=None):
        """Waits for the task to end (at most timeout s); True if it has."""
        if self._future is None:
            raise RuntimeError("task %s has not started" % self.taskid)
        return self._finished.wait(timeout)

    def wait(self, max_runtime=None):
        """Waits for the task to end; after max_runtime s (if given) it is aborted (SIGTERM, then
        SIGKILL 5 s later). Returns its result."""
        if not self.join(max_runtime):
            self.abort("max_runtime of %g s exceeded (wait)" % max_runtime)
            self.join()
        return self.result

    def terminate(self):
        """Ends the task now: SIGTERM to its process group, SIGKILL 5 s later; its result is Aborted."""
        self.abort("terminated")

    def abort(self, reason):
        with self._lock:
            if self._finished.is_set() or self._future is None:
                return
            if self._abort_reason is None:
                self._abort_reason = reason
        self._signal_group(signal.SIGTERM, reason)
        self._later(KILL_AFTER, self._signal_group, signal.SIGKILL, "still running %g s after SIGTERM" % KILL_AFTER)

    def _signal_group(self, signo, why):
        if self._finished.is_set():
            return
        pid = self.pid
        if pid is None:
            return
        tasklog.note(self.log_path, "task %s: %s: %s to its processes" % (self.taskid, why, signal.Signals(signo).name))
        try:
            os.killpg(pid, signo)
        except OSError:
            pass

    def _later(self, seconds, fn, *args):
        timer = threading.Timer(seconds, fn, args)
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def _ended(self, future):
        """In the Executor's bookkeeping thread, once the task's process has returned or died."""
        duration = time.monotonic() - self._started_at
        for timer in self._timers:
            timer.cancel()
        outcome = {"result": "Errored", "reason": None, "value": None, "exit_code": None, "signal": None, "left": []}
        try:
            outcome.update(future.result())
        except BaseException as exc:
            outcome.update(_death(exc))
            outcome["left"] = _end_group(future.task_pid, self)  # (it died before it could end them itself)
        if self._abort_reason is not None:
            outcome["result"], outcome["reason"] = "Aborted", self._abort_reason
        self.task_result = TaskResult(self.taskid, self.target_name, results.result(outcome["result"]), outcome["reason"],
                                      outcome["value"], outcome["exit_code"], outcome["signal"], duration,
                                      self.log_path, outcome["left"])
        described = outcome["result"] + (" (%s)" % outcome["reason"] if outcome["reason"] else "")
        ending = ("signal %s" % _signal_name(outcome["signal"])) if outcome["signal"] is not None else \
            "exit status %s" % outcome["exit_code"]
        tasklog.footer(self.log_path, "%s, %s" % (described, ending), duration)
        self._finished.set()

    def __repr__(self):
        state = "not started" if self._future is None else "running" if self.is_alive() else str(self.result)
        return "<Task %s %s: %s>" % (self.taskid, self.target_name, state)


def _death(exc):
    """A task's process that did not return: what its end means."""
    from pynwheel.futures import TaskDied
    if isinstance(exc, TaskDied):
        if exc.signal is not None:
            kind = "Aborted" if exc.signal == signal.SIGINT else "Errored"
            return {"result": kind, "reason": "killed by %s" % _signal_name(exc.signal), "signal": exc.signal}
        return {"result": "Passed" if exc.exitcode == 0 else "Failed", "reason": "os._exit(%d)" % exc.exitcode if exc.exitcode else None,
                "exit_code": exc.exitcode}
    return {"result": "Errored", "reason": "the task could not run: %s: %s" % (type(exc).__name__, exc)}


def _end_group(pgid, task):
    """What is left of a task's process group once the task died without ending it."""
    if pgid is None:
        return []
    left = tasklog.group_members(pgid)
    if left:
        tasklog.note(task.log_path, "task %s ended; it left %d process(es) running: %s: SIGKILL" % (
            task.taskid, len(left), ", ".join("%d (%s)" % member for member in left)))
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            pass
    return [pid for pid, _ in left]


def _signal_name(signo):
    if signo is None:
        return None
    try:
        return signal.Signals(signo).name
    except ValueError:
        return str(signo)


def run(target, taskid=None, args=(), max_runtime=None, log_dir=None, **kwargs):
    """Runs one task and waits for it: its TaskResult."""
    task = Task(target, taskid=taskid, args=args, max_runtime=max_runtime, log_dir=log_dir, **kwargs).start()
    task.join()
    return task.task_result


def run_all(tasks, concurrency=None, on_event=None):
    """Runs Tasks (not started) with at most `concurrency` at once, in order; on_event(kind, task)
    for 'started' and 'finished'. Returns their TaskResults, in the tasks' order. A
    KeyboardInterrupt aborts those running (and the rest are not started), then is raised again."""
    concurrency = concurrency or os.cpu_count() or 1
    if concurrency < 1:
        raise ValueError("concurrency is at least 1, not %r" % (concurrency,))
    waiting = list(tasks)
    waiting.reverse()
    running = []
    done = threading.Event()
    finished = []
    try:
        while waiting or running:
            while waiting and len(running) < concurrency:
                task = waiting.pop()
                task.start()
                task._future.add_done_callback(lambda _: done.set())
                running.append(task)
                if on_event:
                    on_event("started", task)
            done.wait(0.5)
            done.clear()
            for task in [t for t in running if t._finished.is_set()]:
                running.remove(task)
                finished.append(task)
                if on_event:
                    on_event("finished", task)
    except KeyboardInterrupt:
        for task in running:
            task.abort("the job was interrupted (SIGINT)")
        for task in running:
            task.join()
            if on_event:
                on_event("finished", task)
        raise
    return [task.task_result for task in tasks if task.task_result is not None]


class TasksFailed(Exception):
    """pcall(): some call did not pass; `results` holds every call's TaskResult."""

    def __init__(self, message, results):
        super().__init__(message)
        self.results = results


def pcall(target, iargs=None, ikwargs=None, ckwargs=None, concurrency=None, log_dir=None, max_runtime=None):
    """As pyATS's pcall: `target` (a function, 'module:function' or a script) called in parallel
    tasks, the i-th with iargs[i] and ikwargs[i] (plus ckwargs, common to all). Returns their values
    in order, or raises TasksFailed when one did not end Passed, Passx or Skipped."""
    count = len(iargs) if iargs is not None else len(ikwargs) if ikwargs is not None else 0
    if iargs is not None and ikwargs is not None and len(iargs) != len(ikwargs):
        raise ValueError("iargs and ikwargs have different lengths (%d, %d)" % (len(iargs), len(ikwargs)))
    tasks = []
    for i in range(count):
        kwargs = dict(ckwargs or {})
        kwargs.update(ikwargs[i] if ikwargs is not None else {})
        tasks.append(Task(target, args=tuple(iargs[i]) if iargs is not None else (), max_runtime=max_runtime,
                          log_dir=log_dir, **kwargs))
    ended = run_all(tasks, concurrency)
    bad = [r for r in ended if r.result.code not in results.SUCCESSFUL]
    if bad:
        raise TasksFailed("%d of %d calls did not pass: %s" % (len(bad), len(ended), ", ".join("%s %s" % (r.taskid, r.result) for r in bad)), ended)
    return tuple(r.value for r in ended)
