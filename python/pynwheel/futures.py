"""pynwheel.futures.Executor: runs in the calling process. A concurrent.futures.Executor whose
every task is a fork of the calling process (under `pynwheel run`, of a warm fork already).

Where the forks come from: when the Executor starts, it forks the caller once, into a template
process that has one thread and runs no user code (pynwheel/template.py); every task is a fork of
that template. So a task sees the state the caller had when the Executor started (its modules,
globals, open files), and the caller itself forks nothing more, whatever threads it has later.

A task's function is sent by module and qualified name, as pickle sends functions: a function of
__main__ needs no pickling of its own, but it must exist in the template, i.e. have been defined
(at the top level) before the Executor started. A lambda, a nested function, or one defined or
redefined later is refused at submit() with a pickle.PicklingError that names it. Arguments,
results and exceptions travel pickled, as with ProcessPoolExecutor.

A task that dies (os._exit, a signal, a segfault) fails its own future with TaskDied, which says
how; the Executor goes on with the others (ProcessPoolExecutor would be a BrokenProcessPool).

Bookkeeping: one daemon thread per Executor reads results and exit statuses, and only while
tasks are in flight (it leaves when the last has ended). Why it does not make the caller's own
forks unsafe: an os.register_at_fork hook makes every fork of the caller wait until that thread
is parked in poll() (holding no lock of Python's, of libc's or of the Executor's), and in the
child the Executor is inert. The Executor's own forks are made by the template, which never has
a second thread.
"""

import atexit
import collections
import concurrent.futures
import itertools
import os
import pickle
import select
import signal
import socket
import sys
import threading
import warnings
import weakref

from pynwheel import messages, naming, template

__all__ = ["Executor", "TaskDied", "TemplateGone"]


class TaskDied(Exception):
    """A task's process ended without returning: `exitcode` (an os._exit status) or `signal`."""

    def __init__(self, message, pid=None, exitcode=None, signal=None):
        super().__init__(message)
        self.pid, self.exitcode, self.signal = pid, exitcode, signal


class TemplateGone(concurrent.futures.BrokenExecutor):
    """The Executor's template process ended (it was killed): no task can start any more."""


class RemoteTraceback(Exception):
    """The task's traceback, as the __cause__ of the exception it raised (as ProcessPoolExecutor)."""

    def __init__(self, tb):
        self.tb = tb

    def __str__(self):
        return self.tb


_live = weakref.WeakSet()  # Executors of this process whose template may still be running
_our_threads = weakref.WeakSet()


class _Task:
    __slots__ = ("future", "sock", "buffer", "result_read", "eof")

    def __init__(self, future, sock):
        self.future, self.sock = future, sock
        self.buffer = messages.FrameBuffer()
        self.result_read = False
        self.eof = False  # its socket ended before a whole result: its exit status will say why


class Executor(concurrent.futures.Executor):
    """concurrent.futures.Executor: each task a fork of this process (see the module's doc).

    Executor(cluster=URL, queue=None, key_file=None, code_dir=None, packages=None, timeout=None,
    max_workers=None): the same API with each task a job on a cluster of pynwheel workers (an
    instance of pynwheel.cluster.ClusterExecutor: see pynwheel/cluster.py)."""

    def __new__(cls, max_workers=None, *, cluster=None, **cluster_options):
        if cluster is None:
            if cluster_options:
                raise TypeError("%s are options of a cluster Executor: give cluster=URL too" % ", ".join(sorted(cluster_options)))
            return super().__new__(cls)
        from pynwheel.cluster import ClusterExecutor  # (not an Executor: its __init__ is not called again)
        return ClusterExecutor(cluster, max_workers=max_workers, **cluster_options)

    def __init__(self, max_workers=None):
        if max_workers is None:
            max_workers = os.cpu_count() or 1
        elif max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        self._max_workers = max_workers
        refuse_other_threads()
        self._lock = threading.Lock()
        self._quiet = threading.RLock()  # held by the bookkeeping thread except in poll()
        self._queue = collections.deque()  # (future, payload) waiting for a free worker
        self._tasks = {}  # task id -> _Task, from its start until its exit status arrives
        self._ids = itertools.count(1)
        self._checked = set()
        self._names_lock = threading.Lock()
        self._shutdown = False
        self._broken = None
        self._thread = None
        self._last_thread = None
        self._control_buffer = messages.FrameBuffer()
        self._owner = os.getpid()
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            self._template_pid, self._control, self._names = self._start_template()
        except BaseException:
            os.close(self._wake_r)
            os.close(self._wake_w)
            raise
        self._template_reaped = False
        self._stop_sent = False
        _live.add(self)

    # -- the template -------------------------------------------------------------------------

    def _start_template(self):
        control, template_control = socket.socketpair()
        names, template_names = socket.socketpair()
        closing = [control.fileno(), names.fileno(), self._wake_r, self._wake_w] + _fds_of_others(self)
        for stream in (sys.stdout, sys.stderr):  # or their buffers would be written twice
            try:
                if stream is not None:
                    stream.flush()
            except Exception:
                pass
        quiet_fork = warnings.catch_warnings()
        quiet_fork.__enter__()
        # 3.12 warns of forking with threads: the only others are ours, parked (_park).
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*fork.*")
        try:
            pid = os.fork()
        except OSError:
            for sock in (control, template_control, names, template_names):
                sock.close()
            raise
        finally:
            quiet_fork.__exit__(None, None, None)  # in the parent and in the template
        if pid == 0:
            try:
                for fd in closing:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
                template.serve(template_control, template_names)
            finally:
                os._exit(70)
        template_control.close()
        template_names.close()
        control.setblocking(True)
        return pid, control, names

    def _stop_template_locked(self):
        if not self._stop_sent and self._broken is None:
            self._stop_sent = True
            try:
                messages.send(self._control, messages.STOP)
            except OSError:
                pass
        if not self._template_reaped and not self._tasks:
            self._template_reaped = True
            try:
                os.waitpid(self._template_pid, 0)
            except ChildProcessError:
                pass
            for closing in (self._control, self._names):
                closing.close()
            for fd in (self._wake_r, self._wake_w):
                os.close(fd)
            _live.discard(self)

    # -- the Executor's interface -------------------------------------------------------------

    def submit(self, fn, /, *args, **kwargs):
        with self._lock:
            self._check_usable()
        payload = self._pickle_task(fn, args, kwargs)
        future = concurrent.futures.Future()
        with self._lock:
            self._check_usable()
            self._queue.append((future, payload))
            self._dispatch_locked()
        return future

    submit.__doc__ = concurrent.futures.Executor.submit.__doc__

    def map(self, fn, *iterables, timeout=None, chunksize=1):
        """As ProcessPoolExecutor.map: chunksize items go to each task."""
        if chunksize < 1:
            raise ValueError("chunksize must be >= 1.")
        if chunksize == 1:
            return super().map(fn, *iterables, timeout=timeout)
        chunks = super().map(_run_chunk, itertools.repeat(fn), _chunks(chunksize, iterables), timeout=timeout)
        return itertools.chain.from_iterable(chunks)

    def shutdown(self, wait=True, *, cancel_futures=False):
        if self._owner != os.getpid():
            return  # a copy in a fork of the caller: the template is the caller's
        cancelled = []
        with self._lock:
            self._shutdown = True
            if cancel_futures:
                while self._queue:
                    cancelled.append(self._queue.popleft()[0])
            if self._thread is None:
                self._stop_template_locked()
        for future in cancelled:
            future.cancel()
        if wait:
            while True:
                with self._lock:
                    thread = self._thread
                    if thread is None or thread is threading.current_thread():
                        self._stop_template_locked()
                        break
                thread.join()

    shutdown.__doc__ = concurrent.futures.Executor.shutdown.__doc__

    def _check_usable(self):
        if self._owner != os.getpid():
            raise RuntimeError("this Executor belongs to the process that created it (pid %d), not to a fork of it" % self._owner)
        if self._broken is not None:
            raise TemplateGone(str(self._broken))
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")
        if _interpreter_exiting:
            raise RuntimeError("cannot schedule new futures after interpreter shutdown")

    def _pickle_task(self, fn, args, kwargs):
        if not callable(fn):
            raise TypeError("%r is not callable" % (fn,))
        try:
            payload, local_names = naming.dumps((fn, args, kwargs))
        except pickle.PicklingError as exc:
            raise pickle.PicklingError("cannot send the task %r to its process: %s (%s)" % (fn, exc, naming.ADVICE)) from exc
        unchecked = [name for name in local_names if name not in self._checked]
        if unchecked:
            with self._names_lock:
                body = pickle.dumps(unchecked)
                messages.send(self._names, messages.CHECK, 0, len(body), body)
                frame = messages.recv_header(self._names)
                if frame is None:
                    raise TemplateGone("the Executor's template process (pid %d) ended" % self._template_pid)
                problem = pickle.loads(messages.recv_exactly(self._names, frame[2]))
            if problem is not None:
                raise pickle.PicklingError("cannot send the task %r to its process: %s (%s)" % (fn, problem, naming.ADVICE))
            self._checked.update(unchecked)
        return payload

    def _dispatch_locked(self):
        # A task's worker is free once its result is in: its process only has its exit left.
        running = sum(1 for task in self._tasks.values() if not task.result_read)
        while self._queue and running < self._max_workers and self._broken is None:
            future, payload = self._queue.popleft()
            if not future.set_running_or_notify_cancel():
                continue
            future.task_pid, future.task_started = None, threading.Event()  # set when a process takes it
            ours, theirs = socket.socketpair()
            task_id = next(self._ids)
            try:
                messages.send(self._control, messages.TASK, task_id, len(payload), payload, fd=theirs.fileno())
            except OSError as exc:
                ours.close()
                future.set_exception(TemplateGone("the Executor's template process (pid %d) ended: %s" % (self._template_pid, exc)))
                continue
            finally:
                theirs.close()
            ours.setblocking(False)
            self._tasks[task_id] = _Task(future, ours)
            running += 1
        if self._tasks and self._thread is None:
            self._thread = threading.Thread(target=self._bookkeeping, name="pynwheel.futures-%d" % self._template_pid, daemon=True)
            _our_threads.add(self._thread)
            self._thread.start()
        else:
            self._wake()

    def _wake(self):
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    # -- the bookkeeping thread ---------------------------------------------------------------

    def _bookkeeping(self):
        self._quiet.acquire()
        try:
            while True:
                with self._lock:
                    if not self._tasks:
                        if self._shutdown:
                            self._stop_template_locked()
                        self._thread, self._last_thread = None, threading.current_thread()
                        return
                    watched = {self._control.fileno(): None, self._wake_r: None}
                    for task_id, task in self._tasks.items():
                        if not task.result_read and not task.eof:
                            watched[task.sock.fileno()] = task_id
                poller = select.poll()
                for fd in watched:
                    poller.register(fd, select.POLLIN)
                self._quiet.release()
                try:
                    ready = poller.poll()
                finally:
                    self._quiet.acquire()
                outcomes = []
                with self._lock:
                    for fd, _ in ready:
                        if fd == self._wake_r:
                            _drain(self._wake_r)
                        elif fd == self._control.fileno():
                            self._read_control_locked(outcomes)
                        elif watched.get(fd) in self._tasks:
                            self._read_result_locked(watched[fd], outcomes)
                    self._dispatch_locked()
                for future, ok, value in outcomes:  # outside the lock: callbacks may submit()
                    if ok is None:
                        ok, value = unpickle_result(value)
                    if ok:
                        future.set_result(value)
                    else:
                        future.set_exception(value)
        finally:
            self._quiet.release()

    def _read_control_locked(self, outcomes):
        try:
            chunk = self._control.recv(65536)
        except OSError:
            chunk = b""
        if not chunk:
            self._template_ended_locked(outcomes)
            return
        self._control_buffer.feed(chunk)
        for kind, task_id, status, _ in self._control_buffer.frames(lambda kind: False):
            task = self._tasks.get(task_id)
            if kind == messages.START and task is not None:
                task.future.task_pid = status  # (the number is the pid; pynwheel.tasks reads it)
                task.future.task_started.set()
                continue
            if kind != messages.EXIT or task is None:
                continue
            if not task.result_read:
                self._drain_result(task)  # a dead task has written all it ever will
                if not self._finish_result_locked(task, outcomes):
                    task.result_read = True
                    outcomes.append((task.future, False, died(task_id, status)))
            task.sock.close()
            del self._tasks[task_id]

    def _read_result_locked(self, task_id, outcomes):
        task = self._tasks[task_id]
        self._drain_result(task)
        self._finish_result_locked(task, outcomes)

    def _drain_result(self, task):
        while True:
            try:
                chunk = task.sock.recv(1 << 20)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if not chunk:
                task.eof = True
                return
            task.buffer.feed(chunk)

    def _finish_result_locked(self, task, outcomes):
        """True once the task's result frame is read (it is unpickled later, out of the lock)."""
        frames = task.buffer.frames(lambda kind: True)
        if not frames:
            return False
        task.result_read = True
        outcomes.append((task.future, None, frames[0][3]))
        return True

    def _template_ended_locked(self, outcomes):
        self._broken = "the Executor's template process (pid %d) ended" % self._template_pid
        for task in self._tasks.values():
            if not task.result_read:
                self._drain_result(task)
                if not self._finish_result_locked(task, outcomes):
                    outcomes.append((task.future, False, TemplateGone(self._broken)))
            task.sock.close()
        self._tasks.clear()
        while self._queue:
            future, _ = self._queue.popleft()
            if future.set_running_or_notify_cancel():
                outcomes.append((future, False, TemplateGone(self._broken)))
        self._stop_sent = True

    # -- forks of the caller ------------------------------------------------------------------

    def _park(self):
        self._quiet.acquire()
        last = self._last_thread
        if last is not None and last is not threading.current_thread():
            last.join()  # it has left its loop; only its return is left

    def _unpark(self):
        self._quiet.release()

    def _forget(self):
        """In a fork of the caller: this copy is inert (its template and thread are the caller's)."""
        self._quiet = threading.RLock()
        self._lock = threading.Lock()
        self._names_lock = threading.Lock()
        self._thread = self._last_thread = None


def unpickle_result(body):
    """(True, value) or (False, exception) from a task's result frame."""
    try:
        message = pickle.loads(body)
    except BaseException as exc:  # a value this process cannot unpickle
        return False, exc
    if message[0] == "ok":
        return True, message[1]
    exc, tb = message[1], message[2]
    exc.__cause__ = RemoteTraceback('\n"""\n%s"""' % tb)
    return False, exc


def died(task_id, status):
    if os.WIFSIGNALED(status):
        signo = os.WTERMSIG(status)
        try:
            name = signal.Signals(signo).name
        except ValueError:
            name = "signal %d" % signo
        return TaskDied("task %d died of signal %d (%s)%s" % (task_id, signo, name, " and dumped core" if os.WCOREDUMP(status) else ""),
                        exitcode=None, signal=signo)
    code = os.waitstatus_to_exitcode(status)
    return TaskDied("task %d exited with status %d before it returned" % (task_id, code), exitcode=code)


def running_here():
    """Whether an Executor of this process (not a copy in a fork) has its template running."""
    return any(executor._owner == os.getpid() for executor in list(_live))


def refuse_other_threads():
    others = [t for t in threading.enumerate() if t is not threading.current_thread() and t not in _our_threads]
    if others:
        raise RuntimeError("pynwheel.futures.Executor forks this process once, into the template of its tasks, and a process "
                           "with other threads must not be forked (a lock a thread holds then stays held in the fork): "
                           "threads running: %s. Start the Executor before them."
                           % ", ".join(repr(t.name) for t in others))


def _fds_of_others(executor):
    fds = []
    for other in list(_live):
        if other is not executor and not other._template_reaped:
            fds += [other._control.fileno(), other._names.fileno(), other._wake_r, other._wake_w]
            fds += [task.sock.fileno() for task in other._tasks.values()]
    return fds


def _drain(fd):
    try:
        while os.read(fd, 4096):
            pass
    except (BlockingIOError, OSError):
        pass


def _chunks(size, iterables):
    items = zip(*iterables)
    while True:
        chunk = tuple(itertools.islice(items, size))
        if not chunk:
            return
        yield chunk


def _run_chunk(fn, chunk):
    return [fn(*args) for args in chunk]


def _park_all():
    for executor in list(_live):
        if executor._owner == os.getpid():
            executor._park()


def _unpark_all():
    for executor in list(_live):
        if executor._owner == os.getpid():
            executor._unpark()


def _forget_all():
    for executor in list(_live):
        executor._forget()
    _live.clear()


_interpreter_exiting = False


def _exit_all():
    global _interpreter_exiting
    _interpreter_exiting = True
    for executor in list(_live):
        if executor._owner == os.getpid():
            executor.shutdown(wait=True)


os.register_at_fork(before=_park_all, after_in_parent=_unpark_all, after_in_child=_forget_all)
atexit.register(_exit_all)
