"""Runs in an Executor's template process (a fork of the caller, made when the Executor
started, with one thread) and in each task, which the template forks from itself: the template
never runs user code, so every task starts from the caller's state at the Executor's start.

The template reads task requests on its control socket and hands each to a process of its own:
a spare, forked ahead so that a task does not wait for the fork, which takes that one task
(then the template forks the next spare). It tells the caller each task's wait status once it
has reaped it. A task runs the at_fork hooks, then its function, and writes its result (or
exception) on its own socket, straight to the caller.
"""

import os
import pickle
import select
import signal
import socket
import sys
import traceback

from pynwheel import hooks, messages, naming

# Ctrl-C and the caller's handlers are for the tasks and the caller: the caller ends the template.
TEMPLATE_SIGNALS = {signal.SIGINT: signal.SIG_IGN, signal.SIGTERM: signal.SIG_DFL, signal.SIGHUP: signal.SIG_DFL}


def serve(control, names):
    """The template's loop; never returns (the process ends with os._exit)."""
    saved = {signo: signal.getsignal(signo) for signo in list(TEMPLATE_SIGNALS) + [signal.SIGCHLD]}
    for signo, disposition in TEMPLATE_SIGNALS.items():
        signal.signal(signo, disposition)
    stdin_from_devnull()
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    signal.signal(signal.SIGCHLD, lambda signo, frame: None)  # (the wake-up fd is what counts)
    own_fds = [control.fileno(), names.fileno(), wake_r, wake_w]
    prctl = _prctl()
    children = {}  # pid -> task id
    idle = set()  # spares told to leave, to be reaped
    spare = fork_spare(own_fds, saved, prctl)
    stopping = False
    poller = select.poll()
    for fd in (control.fileno(), names.fileno(), wake_r):
        poller.register(fd, select.POLLIN)
    while not (stopping and not children and not idle):
        for fd, _ in poller.poll():
            if fd == wake_r:
                _drain(wake_r)
            elif fd == names.fileno():
                answer_check(names)
            elif fd == control.fileno():
                frame = messages.recv_header(control, with_fd=True)
                if frame is None:  # the caller is gone: so are its tasks
                    end(list(children) + list(idle) + ([spare[0]] if spare else []))
                kind, task_id, size, result_fd = frame
                if kind == messages.STOP:
                    stopping = True
                    if spare is not None:
                        spare[1].close()  # (it leaves at the EOF)
                        idle.add(spare[0])
                        spare = None
                elif kind == messages.TASK:
                    body = messages.recv_exactly(control, size) if size else b""
                    for _ in range(2):  # a spare that has died is replaced once
                        if spare is None:
                            spare = fork_spare(own_fds, saved, prctl)
                        pid, sock = spare
                        spare = None
                        try:
                            messages.send(sock, messages.TASK, task_id, len(body), body, fd=result_fd)
                            children[pid] = task_id
                            messages.send(control, messages.START, task_id, pid)
                            break
                        except OSError:  # (it is reaped as it goes)
                            idle.add(pid)
                        finally:
                            sock.close()
                    else:  # no spare took it: the task failed to start (status 70, EX_SOFTWARE)
                        messages.send(control, messages.EXIT, task_id, 70 << 8)
                    os.close(result_fd)
                    if not stopping:
                        spare = fork_spare(own_fds, saved, prctl)  # the next task's, forked now
        reaped = reap(children, control)
        idle -= reaped
        if spare is not None and spare[0] in reaped:  # it died before its task
            spare[1].close()
            spare = None if stopping else fork_spare(own_fds, saved, prctl)
    os._exit(0)


def stdin_from_devnull():
    """As multiprocessing gives its processes: the tasks do not share the caller's stdin."""
    if sys.stdin is None:
        return
    try:
        sys.stdin.close()
    except (OSError, ValueError):
        pass
    try:
        fd = os.open(os.devnull, os.O_RDONLY)
        try:
            sys.stdin = open(fd, encoding="utf-8", closefd=False)
        except BaseException:
            os.close(fd)
            raise
    except (OSError, ValueError):
        pass


def reap(children, control):
    """Every child that has ended: a task's status goes to the caller. Returns the pids of the
    others (spares) reaped."""
    others = set()
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return others
        if pid == 0:
            return others
        task_id = children.pop(pid, None)
        if task_id is not None:
            messages.send(control, messages.EXIT, task_id, status)
        else:
            others.add(pid)


def answer_check(names):
    frame = messages.recv_header(names)
    if frame is None:
        return
    _, _, size, _ = frame
    wanted = pickle.loads(messages.recv_exactly(names, size))
    body = pickle.dumps(naming.find_all(wanted))
    messages.send(names, messages.NAMES, 0, len(body), body)


def end(children):
    """The caller is gone: every task and spare ends now, and the template with them."""
    for pid in children:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    for pid in children:
        try:
            os.waitpid(pid, 0)
        except OSError:
            pass
    os._exit(0)


def fork_spare(own_fds, saved, prctl):
    """(pid, socket) of a new child that waits for its task: the fork is made before the task
    comes, so a task does not wait for it. It ignores SIGINT while it waits, as the template."""
    ours, theirs = socket.socketpair()
    template_pid = os.getpid()
    pid = os.fork()
    if pid:
        theirs.close()
        return pid, ours
    status = 70
    try:
        signal.set_wakeup_fd(-1)
        for fd in own_fds + [ours.fileno()]:
            os.close(fd)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        die_with_template(prctl, template_pid)
        frame = messages.recv_header(theirs, with_fd=True)
        if frame is None:
            status = 0  # not needed: the Executor is shutting down
            return
        _, _, size, result_fd = frame
        payload = messages.recv_exactly(theirs, size) if size else b""
        theirs.close()
        for signo, handler in saved.items():
            signal.signal(signo, handler)  # the caller's own, as in a fork of it
        with socket.socket(fileno=result_fd) as result:
            run_task(result, payload)
        status = 0
    finally:
        os._exit(status)


def run_task(result, payload):
    try:
        hooks.run_hooks()
        fn, args, kwargs = pickle.loads(payload)
        del payload
        message = ("ok", fn(*args, **kwargs))
    except BaseException as exc:  # as ProcessPoolExecutor: SystemExit and KeyboardInterrupt too
        message = ("error", exc, format_traceback(exc))
    try:
        body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException as exc:  # the value or the exception cannot be pickled: say so instead
        body = pickle.dumps(("error", exc, format_traceback(exc)), protocol=pickle.HIGHEST_PROTOCOL)
    flush_stdio()  # before the result: the task's output comes before what the caller prints then
    messages.send(result, messages.RESULT, 0, len(body), body)


def format_traceback(exc):
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def flush_stdio():
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except Exception:
            pass


def _prctl():
    """libc's prctl, looked up once in the template (ctypes costs milliseconds to import)."""
    try:
        import ctypes
        return ctypes.CDLL(None, use_errno=True).prctl
    except (ImportError, OSError, AttributeError):
        return None


def die_with_template(prctl, template_pid):
    """A task whose template is killed dies with it (PR_SET_PDEATHSIG): no orphans."""
    if prctl is not None:
        prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != template_pid:  # it died before that
        os._exit(70)


def _drain(fd):
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass
