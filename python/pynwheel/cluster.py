"""pynwheel.futures.Executor(cluster=URL): runs in the calling process. The local Executor's API
(submit, map, shutdown, cancel, as_completed: concurrent.futures.Future objects) with every task a
job on a cluster of pynwheel workers (BullMQ on Redis), so one argument moves a program from
local forks to many machines.

The program stays standard-library only: it talks to this machine's pynwheel daemon (one
connection per Executor, python/pynwheel/local_daemon.py), which holds the cluster handle and
submits the jobs (lib/daemon/cluster-session.ts). The session ends with the connection: when the
Executor shuts down, or the program exits or is killed, the daemon cancels what is still in flight.

A task's function is sent by reference (module and qualified name, as pickle sends functions)
with the code directory (default: the directory of the script that runs, __main__'s), which
each worker gets as a bundle (content-addressed: an edit means a new one). Functions of __main__
work: the worker imports the script as `__mp_main__`, as multiprocessing's spawn method does,
without running its `if __name__ == "__main__":` block. A lambda, a nested function or one of a
module that cannot be imported again is refused at submit() with a pickle.PicklingError naming it.
Arguments, results and exceptions travel pickled; a task's exception is re-raised in the caller
with the worker's traceback as its __cause__. Which interpreter and packages a job gets: the
worker's; `packages` (PEP 440 requirements) makes a worker without them leave the job to
another, and PackagesError the outcome when no live worker has them.
"""

import ast
import atexit
import base64
import collections
import concurrent.futures
import importlib.util
import io
import os
import pickle
import site
import sys
import sysconfig
import threading
import types
import weakref

from pynwheel import local_daemon, naming, requirements
from pynwheel.futures import unpickle_result

__all__ = ["ClusterExecutor", "ClusterError", "PackagesError"]

ADVICE = ("a job's function, and the functions and classes in its arguments, are found by module and name on the "
          "worker: define them at the top level of the script, of a module of the code directory, or of an installed package")
KEY_VARIABLE = "PYNWHEEL_CLUSTER_KEY"
# Jobs in flight at once when max_workers is not given; the rest wait here (and can be cancelled).
DEFAULT_IN_FLIGHT = 256

_live = weakref.WeakSet()


class ClusterError(Exception):
    """A job (or the session) failed on the cluster's side, not in the task's code: `code` is
    pynwheel's error code (ECLUSTER, ECLUSTERKEY, EDAEMON...), `job_id` and `worker` when known."""

    def __init__(self, message, code="ECLUSTER", job_id=None, worker=None):
        super().__init__(message)
        self.code, self.job_id, self.worker = code, job_id, worker


class PackagesError(ClusterError):
    """No live worker has the packages the job names: `lacking` maps each worker's name to
    {requirement: what it has instead}. The job ran nowhere."""

    def __init__(self, message, lacking, job_id=None):
        super().__init__(message, "EPACKAGES", job_id)
        self.lacking = lacking


class ClusterExecutor(concurrent.futures.Executor):
    """concurrent.futures.Executor whose tasks are cluster jobs (see the module's doc)."""

    def __init__(self, cluster, queue=None, key_file=None, code_dir=None, packages=None, timeout=None, max_workers=None):
        job = sys.modules.get("pynwheel.cluster_job")
        if job is not None and job.importing_main:
            raise RuntimeError("a cluster job's worker imports the submitting script as __mp_main__, and the script makes an "
                               "Executor as it is imported: make it under `if __name__ == \"__main__\":` (as multiprocessing's "
                               "spawn method needs too)")
        if not isinstance(cluster, str) or not cluster:
            raise TypeError("cluster must be a Redis URL such as redis://host:6379 or unix:///path/redis.sock")
        self._packages = _checked_packages(packages)
        self._timeout_ms = _checked_timeout(timeout)
        if max_workers is not None and not (isinstance(max_workers, int) and 0 < max_workers <= local_daemon.CLUSTER_LIMITS["jobsInFlight"]):
            raise ValueError("max_workers must be greater than 0 and at most %d (jobs in flight)" % local_daemon.CLUSTER_LIMITS["jobsInFlight"])
        self._max_in_flight = max_workers or DEFAULT_IN_FLIGHT
        self._code_dir, self._main = _code_dir_and_main(code_dir)
        self._families = _Families(self._code_dir)
        request = {"type": "cluster", "client": local_daemon.version(), "url": cluster}
        if queue is not None:
            request["queue"] = queue
        if key_file is not None:
            request["keyFile"] = os.path.abspath(key_file)
        elif os.environ.get(KEY_VARIABLE):
            request["key"] = os.environ[KEY_VARIABLE]
        else:
            raise ClusterError("no cluster key: set $%s or give key_file (the same key on every worker and submitter)" % KEY_VARIABLE, "ECLUSTERKEY")
        # A worker's result that names __main__'s classes names them __mp_main__ (the script there).
        if "__main__" in sys.modules:
            sys.modules.setdefault("__mp_main__", sys.modules["__main__"])
        self._lock = threading.Lock()
        self._waiting = collections.deque()  # (future, message): submitted, not yet sent
        self._in_flight = {}  # id -> future, sent to the daemon, no answer yet
        self._ids = iter(range(1, 1 << 62))
        self._shutdown = False
        self._broken = None
        self._owner = os.getpid()
        self._link = local_daemon.Link(local_daemon.connect())
        try:
            self._link.send(request)
            answer = self._link.receive()
        except BaseException:
            self._link.close()
            raise
        if answer is None or answer.get("type") != "cluster-ready":
            self._link.close()
            if answer is None:
                raise ClusterError("the pynwheel daemon closed the connection before the cluster session began", "EDAEMON")
            raise ClusterError(answer.get("message", "the cluster session was refused"), answer.get("code", "ECLUSTER"))
        self.queue = answer.get("queue")
        self._reader = threading.Thread(target=self._read_answers, name="pynwheel.cluster-%d" % answer.get("session", 0), daemon=True)
        self._reader.start()
        _live.add(self)

    # -- the Executor's interface -------------------------------------------------------------

    def submit(self, fn, /, *args, **kwargs):
        with self._lock:
            self._check_usable()
        payload, imports = self._pickle_task(fn, args, kwargs)
        future = concurrent.futures.Future()
        future.job_id = None  # the cluster's job id, once it is queued
        message = {"type": "submit", "payload": base64.b64encode(payload).decode("ascii"), "codeDir": self._code_dir}
        if imports:
            message["imports"] = imports
        if self._packages:
            message["packages"] = self._packages
        if self._timeout_ms is not None:
            message["timeout"] = self._timeout_ms
        with self._lock:
            self._check_usable()
            self._waiting.append((future, message))
            self._send_waiting_locked()
        return future

    submit.__doc__ = concurrent.futures.Executor.submit.__doc__

    def shutdown(self, wait=True, *, cancel_futures=False):
        if self._owner != os.getpid():
            return
        cancelled = []
        with self._lock:
            self._shutdown = True
            if cancel_futures:
                while self._waiting:
                    cancelled.append(self._waiting.popleft()[0])
            idle = not self._waiting and not self._in_flight
        for future in cancelled:
            future.cancel()
        if idle:
            self._close_link()
        if wait:
            if threading.current_thread() is not self._reader:
                self._reader.join()

    shutdown.__doc__ = concurrent.futures.Executor.shutdown.__doc__

    # -- inside -------------------------------------------------------------------------------

    def _check_usable(self):
        if self._owner != os.getpid():
            raise RuntimeError("this Executor belongs to the process that created it (pid %d), not to a fork of it" % self._owner)
        if self._broken is not None:
            raise concurrent.futures.BrokenExecutor(self._broken)
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")

    def _pickle_task(self, fn, args, kwargs):
        if not callable(fn):
            raise TypeError("%r is not callable" % (fn,))
        try:
            buffer = io.BytesIO()
            pickler = _JobPickler(buffer)
            pickler.dump((fn, args, kwargs))
            task, local_names = buffer.getvalue(), pickler.local_names
            for module_name, qualname, _, _ in local_names:
                if module_name != "__main__":
                    raise pickle.PicklingError("%s.%s is of a module that cannot be imported again (it has no spec)" % (module_name, qualname))
                if self._main is None:
                    raise pickle.PicklingError("__main__.%s is of a __main__ that is no script file inside the code directory %s"
                                               % (qualname, self._code_dir))
        except pickle.PicklingError as exc:
            raise pickle.PicklingError("cannot send the task %r to a cluster worker: %s (%s)" % (fn, exc, ADVICE)) from exc
        imports = self._families.of(pickler.modules)
        return pickle.dumps((self._main if local_names else None, task), protocol=pickle.HIGHEST_PROTOCOL), imports

    def _send_waiting_locked(self):
        while self._waiting and len(self._in_flight) < self._max_in_flight and self._broken is None:
            future, message = self._waiting.popleft()
            if not future.set_running_or_notify_cancel():
                continue
            ident = next(self._ids)
            message["id"] = ident
            self._in_flight[ident] = future
            try:
                self._link.send(message)
            except (OSError, ValueError) as exc:
                del self._in_flight[ident]
                future.set_exception(exc if isinstance(exc, ValueError) else ClusterError("the pynwheel daemon's connection failed: %s" % exc, "EDAEMON"))

    def _read_answers(self):
        try:
            while True:
                message = self._link.receive()
                if message is None:
                    break
                self._on_answer(message)
                with self._lock:
                    done = self._shutdown and not self._waiting and not self._in_flight
                if done:
                    break
        finally:
            self._ended()

    def _on_answer(self, message):
        kind, ident = message.get("type"), message.get("id")
        with self._lock:
            future = self._in_flight.get(ident)
            if kind == "queued":
                if future is not None:
                    future.job_id = message.get("jobId")
                return
            if future is None:
                return
            del self._in_flight[ident]
            self._send_waiting_locked()
        if kind == "result":
            ok, value = unpickle_result(base64.b64decode(message["value"]))
        else:
            ok, value = False, _failure(message)
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def _ended(self):
        """The reader leaves: the Executor shut down with nothing left, or the daemon went away."""
        with self._lock:
            if not (self._shutdown and not self._waiting and not self._in_flight):
                self._broken = "the pynwheel daemon closed the cluster session"
            running = list(self._in_flight.values())
            waiting = [future for future, _ in self._waiting if future.set_running_or_notify_cancel()]
            self._in_flight.clear()
            self._waiting.clear()
        self._close_link()
        for future in running + waiting:
            future.set_exception(ClusterError(self._broken, "EDAEMON"))
        _live.discard(self)

    def _close_link(self):
        self._link.close()


class _JobPickler(naming.TaskPickler):
    """The local Executor's pickler (lambdas refused, names of __main__ listed), which also
    lists the modules of the functions and classes it pickles (self.modules)."""

    def __init__(self, file):
        super().__init__(file)
        self.modules = set()

    def reducer_override(self, obj):
        if isinstance(obj, (types.FunctionType, types.BuiltinFunctionType, type)):
            self.modules.add(getattr(obj, "__module__", None))
        return super().reducer_override(obj)


class _Families:
    """The installed packages (not the standard library, not the code directory) a job's code
    imports: the packages of its functions' modules, and what those of them that are files of
    the code directory (or the script) import at their top. The worker calls the job in the
    zygote of that family, which has them imported (lib/cluster/family-shim.ts), as it calls a
    file of the user's; without it, each job would import them again."""

    def __init__(self, code_dir):
        self.code_dir = code_dir + os.sep
        self.by_module = {}
        self.installed_tops = {}
        roots = set(site.getsitepackages() if hasattr(site, "getsitepackages") else [])
        roots.update(filter(None, (sysconfig.get_paths().get("purelib"), sysconfig.get_paths().get("platlib"))))
        if getattr(site, "ENABLE_USER_SITE", False) and site.getusersitepackages():
            roots.add(site.getusersitepackages())
        self.roots = tuple(os.path.realpath(r) + os.sep for r in roots)

    def of(self, module_names):
        family = set()
        for name in module_names:
            if name is None:
                continue
            if name not in self.by_module:
                self.by_module[name] = self._of_module(name)
            family |= self.by_module[name]
        return sorted(family)

    def _of_module(self, name):
        top = name.partition(".")[0]
        if self._installed(top):
            return {top}
        file = getattr(sys.modules.get(name), "__file__", None)
        if not isinstance(file, str) or not os.path.realpath(file).startswith(self.code_dir):
            return set()
        try:
            with open(file, "rb") as f:
                tree = ast.parse(f.read(), file)
        except (OSError, SyntaxError, ValueError):
            return set()
        tops = set()
        for node in tree.body:  # its top level only, as the zygote reads a script
            if isinstance(node, ast.Import):
                tops.update(alias.name.partition(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                tops.add(node.module.partition(".")[0])
        return {t for t in tops if self._installed(t)}

    def _installed(self, top):
        if top not in self.installed_tops:
            origin = getattr(sys.modules.get(top), "__file__", None)
            if origin is None and top not in sys.modules and top not in sys.builtin_module_names:
                try:
                    spec = importlib.util.find_spec(top)
                except (ImportError, ValueError):
                    spec = None
                origin = spec.origin if spec is not None else None
            self.installed_tops[top] = (isinstance(origin, str) and not os.path.realpath(origin).startswith(self.code_dir)
                                        and os.path.realpath(origin).startswith(self.roots))
        return self.installed_tops[top]


def _failure(message):
    code, text = message.get("code") or "ECLUSTER", message.get("message") or "the job failed"
    job_id, worker = message.get("jobId"), message.get("worker")
    if code == "EPACKAGES":
        return PackagesError(text, message.get("lacking") or {}, job_id)
    if code == "ETIMEDOUT":
        exc = concurrent.futures.TimeoutError(text)
        exc.job_id = job_id
        return exc
    return ClusterError(text, code, job_id, worker)


def _checked_packages(packages):
    """The requirements as a list, each read (a typo fails here), within the session's limits."""
    if packages is None:
        return []
    if isinstance(packages, str) or not all(isinstance(p, str) for p in packages):
        raise TypeError("packages is a list of requirement strings such as [\"numpy>=1.20\"], not %r" % (packages,))
    packages = list(packages)
    limits = local_daemon.CLUSTER_LIMITS
    if len(packages) > limits["packages"] or any(len(p) > limits["packageChars"] for p in packages):
        raise ValueError("packages: at most %d requirements, each at most %d characters" % (limits["packages"], limits["packageChars"]))
    for text in packages:
        try:
            requirements.Requirement(text)
        except requirements.InvalidRequirement as exc:
            raise ValueError("packages: %s" % exc) from None
    return packages


def _checked_timeout(timeout):
    """Seconds (None: none) as the milliseconds a submit carries."""
    if timeout is None:
        return None
    if not (isinstance(timeout, (int, float)) and timeout > 0):
        raise ValueError("timeout is a number of seconds > 0, not %r" % (timeout,))
    return max(1, int(timeout * 1000))


def _code_dir_and_main(code_dir):
    """The code directory (absolute) and the script of __main__ relative to it, or None."""
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    main_file = os.path.realpath(main_file) if isinstance(main_file, str) and os.path.isfile(main_file) else None
    if code_dir is None:
        code_dir = os.path.dirname(main_file) if main_file is not None else os.getcwd()
    code_dir = os.path.realpath(code_dir)
    if not os.path.isdir(code_dir):
        raise ValueError("code_dir %s is not a directory" % code_dir)
    if main_file is None:
        return code_dir, None
    relative = os.path.relpath(main_file, code_dir)
    return code_dir, (None if relative.startswith("..") else relative)


def _shutdown_all():
    for executor in list(_live):
        if executor._owner == os.getpid():
            executor.shutdown(wait=True)


atexit.register(_shutdown_all)
