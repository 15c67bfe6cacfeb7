"""Becoming the run: the caller's stdio, cwd, environment, umask, limits and signals.

Runs in a forked child once its spare has taken a request (become_run), and in spares, which
ready the environment and limits ahead (Environment.expect, Limits.set) and go through these
steps on harmless inputs while they wait (spare.warm_up).
"""

import gc
import io
import os
import signal
import sys

from .inherited import take_ignored_signals, take_passed_fds, take_signal_mask
from .wire import NOTIFY_SIGNALS, NOTIFY_TOKEN_BELOW, close_all

RLIMITS = {  # /proc/<pid>/limits row -> resource constant
    "Max cpu time": "RLIMIT_CPU", "Max file size": "RLIMIT_FSIZE", "Max data size": "RLIMIT_DATA",
    "Max stack size": "RLIMIT_STACK", "Max core file size": "RLIMIT_CORE",
    "Max resident set": "RLIMIT_RSS", "Max processes": "RLIMIT_NPROC",
    "Max open files": "RLIMIT_NOFILE", "Max locked memory": "RLIMIT_MEMLOCK",
    "Max address space": "RLIMIT_AS", "Max file locks": "RLIMIT_LOCKS",
    "Max pending signals": "RLIMIT_SIGPENDING", "Max msgqueue size": "RLIMIT_MSGQUEUE",
    "Max nice priority": "RLIMIT_NICE", "Max realtime priority": "RLIMIT_RTPRIO",
}


def become_run(child):
    """Turn this forked child into the caller's `python FILE ARGS`."""
    request, fds = child.request, child.fds
    child.watcher.close()  # a spare's, to decline runs after a change; not the run's
    child.lane.close(unlink=False)
    open_fds = take_stdio(request, fds)
    caller_pid = request.get("callerPid")
    take_process_attributes(caller_pid, request, child.limits)
    child.scheduling.take(request.get("sched"))  # (a lane run's: applied already, by the spare)
    child.status_notice = status_notice(request, caller_pid)
    env = request.get("env") or {}
    child.environment.take(env)
    child.title.take(request, os.environ._data)  # what ps and pgrep show: python's command line
    make_stdio_objects(env, open_fds)
    fresh_per_run_state()
    gc.enable()
    take_ignored_signals(request)
    # Last: signals that arrived since the fork are delivered now, to python's handlers.
    take_signal_mask(request, child.c)


def restore_signals():
    """Dispositions as a fresh python has them; the zygote's handlers must not leak."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def status_notice(request, caller_pid):
    """(pid, signo, token) if the request asks for its status by a signal to its client
    ("notify": [signo, token]), else None."""
    notify = request.get("notify")
    if not (isinstance(notify, list) and len(notify) == 2 and isinstance(caller_pid, int) and caller_pid > 0):
        return None
    signo, token = notify
    if type(signo) is not int or signo not in NOTIFY_SIGNALS or type(token) is not int or not 0 < token < NOTIFY_TOKEN_BELOW:
        return None
    return caller_pid, signo, token


class Environment:
    """os.environ and the C environment of a run. A spare builds the one it expects its run to
    have while it waits (expect); the run then takes the caller's (take)."""

    def __init__(self, c):
        self.c = c
        # What the spare expects: [names, values, (encoded items, C array) to install, or None
        # if it is this process's already]; None if nothing could be built ahead.
        self.expected = None
        self.installed = None  # the C environment array built here, which the C library points into

    def expect(self, env):
        try:
            ready = None if list(env.items()) == list(os.environ.items()) else self.build(env)
            self.expected = (list(env), list(env.values()), ready)
        except Exception:
            self.expected = None  # (a value the locale cannot encode: built at the run)

    def expects(self, env):
        """Whether take(env) finds what was built ahead for it."""
        expected = self.expected
        return expected is not None and list(env)[:len(expected[0])] == expected[0]

    def take(self, env):
        """os.environ (and the C environment, in the caller's order) replaced by the caller's.
        A caller whose names start with the ones the spare expected, in their order (the same
        shell, perhaps with more variables after them), gets the environment the spare built,
        the values that differ set and the other names appended (as setenv does). Anything
        else is built anew."""
        expected = self.expected
        names = list(env)
        count = len(expected[0]) if expected else -1
        if count < 0 or names[:count] != expected[0]:  # (one comparison in C)
            self.replace(env)
            return
        if expected[2] is not None:
            self.install(*expected[2])
        values = list(env.values())
        if values[:count] != expected[1]:  # (a shell sets $_ per command, for one)
            for name, value, built in zip(names, values, expected[1]):
                if value != built:
                    os.environ[name] = value
        for name, value in zip(names[count:], values[count:]):
            os.environ[name] = value

    def replace(self, env):
        """The C environment built anew, in the caller's order (setenv could only append new
        names, and unsetenv and setenv one name at a time cost more), and os.environ to match."""
        self.install(*self.build(env))

    def build(self, env):
        """(os.environ's encoded items, the C environment array or None without ctypes)."""
        pairs = [(os.environ.encodekey(name), os.environ.encodevalue(value)) for name, value in env.items()]
        c = self.c
        array = c.environ_array([name + b"=" + value for name, value in pairs]) if c.set_environ is not None else None
        return pairs, array

    def install(self, pairs, array):
        data = os.environ._data  # bytes -> bytes, which os.environb shares
        if array is not None:
            self.c.set_environ(array)
            self.installed = array  # the C library points into it from now on
        else:  # no ctypes: the same through the C library's own calls
            for name in list(data):
                os.unsetenv(name)
            for name, value in pairs:
                os.putenv(name, value)
        data.clear()
        data.update(pairs)


class Limits:
    """The process's resource limits, as a client sends them: [[resource, soft, hard], ...]
    with -1 for unlimited."""

    def __init__(self):
        self.as_they_are = None  # the last limits set or found to be so

    def set(self, limits):
        """Only those that differ are set."""
        if limits == self.as_they_are:
            return  # (the spare's warm-up found them so: a caller of the same shell)
        import resource
        for entry in limits:
            try:
                which, soft, hard = (resource.RLIM_INFINITY if v == -1 else v for v in entry)
                if resource.getrlimit(which) == (soft, hard):
                    continue
                resource.setrlimit(which, (soft, hard))
            except (ValueError, OSError, TypeError):
                try:  # the hard limit cannot go up: take at least the soft one
                    current_hard = resource.getrlimit(which)[1]
                    resource.setrlimit(which, (min(soft, current_hard), current_hard))
                except (ValueError, OSError, TypeError, UnboundLocalError):
                    pass
        self.as_they_are = limits


def take_process_attributes(caller_pid, request, limits):
    """The caller's umask and resource limits: a run has what python started from the caller's
    shell would have. The native client sends them (getrlimit is cheaper than /proc); otherwise
    they are read from /proc/<caller>. (A limit above the zygote's hard limit cannot be raised;
    it stays at the zygote's.)"""
    umask, wanted = (request.get("umask"), request.get("limits")) if request else (None, None)
    if isinstance(umask, int) and isinstance(wanted, list):
        os.umask(umask & 0o777)
        limits.set(wanted)
        return
    if not isinstance(caller_pid, int) or caller_pid <= 0:
        return
    try:
        with open("/proc/%d/status" % caller_pid) as f:
            for line in f:
                if line.startswith("Umask:"):
                    os.umask(int(line.split()[1], 8))
                    break
        with open("/proc/%d/limits" % caller_pid) as f:
            rows = f.read().splitlines()[1:]
    except (OSError, ValueError):
        return
    import resource
    for row in rows:
        for label, name in RLIMITS.items():
            if not row.startswith(label) or not hasattr(resource, name):
                continue
            fields = row[len(label):].split()
            try:
                soft, hard = (resource.RLIM_INFINITY if v == "unlimited" else int(v) for v in fields[:2])
                resource.setrlimit(getattr(resource, name), (soft, hard))
            except (ValueError, OSError):
                try:  # the hard limit cannot go up: take at least the soft one
                    current_hard = resource.getrlimit(getattr(resource, name))[1]
                    resource.setrlimit(getattr(resource, name), (min(soft, current_hard), current_hard))
                except (ValueError, OSError, UnboundLocalError):
                    pass


def take_stdio(request, fds):
    """The caller's stdio as fds 0-2 (one it had closed is closed), its cwd, and its other
    inheritable fds at their numbers. Returns the stdio fds that are open."""
    stdio = request.get("stdio") or [True, True, True]
    received = list(fds)
    open_fds = []
    for target in (0, 1, 2):
        if stdio[target] and received:
            open_fds.append(target)
            fd = received.pop(0)
            if fd != target:
                os.dup2(fd, target)
                os.close(fd)
            else:
                os.set_inheritable(fd, True)
        else:
            try:
                os.close(target)
            except OSError:
                pass
    if request.get("cwdFd") and received:
        fd = received.pop(0)
        os.fchdir(fd)
        os.close(fd)
    else:
        os.chdir(request.get("cwd") or "/")
    take_passed_fds(request.get("passFds") or [], received)
    return open_fds


def make_stdio_objects(env, open_fds):
    """sys.stdin/stdout/stderr as python's create_stdio builds them for these fds."""
    streams = stdio_streams(env, open_fds)
    sys.stdin, sys.stdout, sys.stderr = streams
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = streams


def fd_is_open(fd):
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


def stdio_streams(env, open_fds):
    """The three text streams python would build on fds 0-2 (None for one not in open_fds)."""
    unbuffered = bool(env.get("PYTHONUNBUFFERED"))
    # The zygote's own stdio has the locale's choices (the locale is in its key, and the daemon
    # keeps PYTHONIOENCODING out of its environment); PYTHONIOENCODING applies per run, as in
    # CPython's config_init_stdio_encoding: a name is normalised, and an encoding given without
    # an error handler means "strict".
    encoding, _, errors = (env.get("PYTHONIOENCODING") or "").partition(":")
    if encoding:
        import codecs
        try:
            encoding = codecs.lookup(encoding).name
        except LookupError:
            pass  # python fails at start-up here; TextIOWrapper will say the same below
        errors = errors or "strict"
    default = sys.__stdout__ or sys.__stderr__
    encoding = encoding or (default.encoding if default else "utf-8")
    out_errors = errors or (sys.__stdout__.errors if sys.__stdout__ else "strict")
    in_errors = errors or (sys.__stdin__.errors if sys.__stdin__ else out_errors)
    streams = []
    for fd, name, mode, errs in ((0, "<stdin>", "r", in_errors), (1, "<stdout>", "w", out_errors),
                                 (2, "<stderr>", "w", "backslashreplace")):
        if fd not in open_fds:
            streams.append(None)
            continue
        buffered = not (unbuffered and mode == "w")
        raw_or_buffered = io.open(fd, mode + "b", buffering=-1 if buffered else 0, closefd=False)
        raw = raw_or_buffered.raw if buffered else raw_or_buffered
        raw.name = name
        line_buffering = buffered and (raw.isatty() or fd == 2)
        stream = io.TextIOWrapper(raw_or_buffered, encoding, errs, "\n",
                                  line_buffering, unbuffered)
        stream.mode = mode
        streams.append(stream)
    return streams


def fresh_per_run_state():
    """State a fresh interpreter would not share with any other run. `random` reseeds itself
    at fork, and the spare has reseeded numpy's global generator; faulthandler's stream is
    ours to renew."""
    faulthandler = sys.modules.get("faulthandler")
    if faulthandler is not None and faulthandler.is_enabled() and sys.stderr is not None:
        faulthandler.enable(file=sys.stderr, all_threads=True)  # the run's stderr, not the log
