"""pdb in a task, on the job's terminal: runs in the task's process.

A task's stdout and stderr are its log, and its stdin is /dev/null; but when the job runs on a
terminal (its fd 0 is one: the CLI passes its own), breakpoint() and pdb.set_trace() in a task
talk to that terminal. Only one task holds it at a time: an flock on the terminal, opened anew by
each task (a lock belongs to one open file), taken when the debugger stops and given back when it
continues or quits; the other tasks go on writing to their logs. While a task holds it, the job
is told (a 'terminal' event on the job's event stream), so that the CLI's live progress steps
aside and Ctrl-C goes to that task.
"""

import fcntl
import json
import os
import sys

_state = None


class _Terminal:
    def __init__(self, in_fd, out_fd, events_fd, info):
        self.in_fd, self.out_fd, self.events_fd, self.info = in_fd, out_fd, events_fd, info
        self.lock_fd = None
        self.stdin = open(in_fd, "r", encoding="utf-8", errors="replace", closefd=False)
        self.stdout = open(out_fd, "w", encoding="utf-8", errors="replace", closefd=False, buffering=1)

    def hold(self):
        if self.lock_fd is not None:
            return
        fd = os.open("/proc/self/fd/%d" % self.in_fd, os.O_RDONLY | os.O_NOCTTY | os.O_CLOEXEC)
        fcntl.flock(fd, fcntl.LOCK_EX)  # waits while another task holds the terminal
        self.lock_fd = fd
        self.tell(True)
        try:
            os.write(self.out_fd, b"\r\x1b[K")  # (over the CLI's progress line, which now steps aside)
        except OSError:
            pass

    def release(self):
        if self.lock_fd is None:
            return
        self.tell(False)
        try:
            self.stdout.flush()
        except OSError:
            pass
        fd, self.lock_fd = self.lock_fd, None
        os.close(fd)  # (the lock goes with it)

    def tell(self, held):
        if self.events_fd is None:
            return
        line = json.dumps({"event": "terminal", "id": self.info.taskid, "pid": os.getpid(), "held": held}) + "\n"
        try:
            os.write(self.events_fd, line.encode())
        except OSError:
            pass


def prepare(info, events_fd):
    """Before the task's stdio becomes its log: keep the job's terminal (if any) for pdb."""
    global _state
    try:
        if not os.isatty(0):
            return
        in_fd = os.dup(0)
        out_fd = os.dup(2 if os.isatty(2) else 1 if os.isatty(1) else 0)
        events = os.dup(events_fd) if events_fd is not None else None
    except OSError:
        return
    for fd in (in_fd, out_fd) + ((events,) if events is not None else ()):
        os.set_inheritable(fd, False)
    _state = _Terminal(in_fd, out_fd, events, info)
    import pdb
    pdb.Pdb = _task_pdb_class(pdb.Pdb)
    sys.breakpointhook = _breakpoint


def _breakpoint(*args, **kwargs):
    import pdb
    pdb.Pdb().set_trace(sys._getframe(1))


def _task_pdb_class(base):
    class TaskPdb(base):
        """pdb.Pdb on the job's terminal, holding it from a stop until continue or quit."""

        def __init__(self, completekey="tab", stdin=None, stdout=None, *args, **kwargs):
            super().__init__(completekey, stdin or _state.stdin, stdout or _state.stdout, *args, **kwargs)

        def interaction(self, *args, **kwargs):
            _state.hold()
            return super().interaction(*args, **kwargs)

        def set_continue(self):
            super().set_continue()
            if not self.breaks:
                _state.release()

        def set_quit(self):
            super().set_quit()
            _state.release()

    TaskPdb.__qualname__ = TaskPdb.__name__ = "Pdb"
    return TaskPdb


def release():
    """At the task's end: the terminal is given back, whatever the debugger did."""
    if _state is not None:
        _state.release()
