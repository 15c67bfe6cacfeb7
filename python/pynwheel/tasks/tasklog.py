"""A task's log files: runs in the task's process (take_stdio, end_leftovers, set_title), in the
processes it forks (their own log, from an os.register_at_fork hook) and in the job (footer).

`TaskLog.<taskid>` in the job's log directory is the task's stdout and stderr (the fds, so a C
library's output and the processes it starts land there too; `logging`'s handlers on stderr as
well): a header (script, args, pid, start time, interpreter), then what the task wrote, then a
footer (result, duration) that the job appends once the task has ended. A process the task forks
gets `TaskLog.<taskid>:pid-<pid>` for its stdout and stderr, and a line in its parent's log says so.
"""

import os
import signal
import sys
import time

LOG_PREFIX = "TaskLog."


def log_name(taskid):
    return LOG_PREFIX + taskid


def line(text):
    return ("pynwheel: %s\n" % text).encode("utf-8", "replace")


def header(info, pid, started):
    target = info.target if isinstance(info.target, str) else "%s:%s" % (info.target.__module__, info.target.__qualname__)
    lines = ["task %s" % info.taskid, "script: %s" % target, "args: %r" % (info.args,)]
    if info.kwargs:
        lines.append("kwargs: %r" % (sorted(info.kwargs),))
    lines += ["pid: %d" % pid, "start: %s" % time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(started)),
              "interpreter: %s (%s)" % (sys.executable, sys.version.split()[0]), "-" * 60]
    return b"".join(line(text) for text in lines)


def _append(path, data):
    """pynwheel's own lines after the task's output: on a line of their own, even when the task's
    last line has no newline."""
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data
        os.write(fd, data)
    finally:
        os.close(fd)


def _redirect(path, data, truncate):
    """fds 1 and 2 to the file at path (data first); python's own streams flushed before."""
    flush_stdio()
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | (os.O_TRUNC if truncate else 0)
    fd = os.open(path, flags, 0o644)
    try:
        os.write(fd, data)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
    finally:
        os.close(fd)


def take_stdio(info, spec):
    _redirect(info.log_path, header(info, os.getpid(), time.time()), truncate=False)  # (the job made it empty)
    sys.stdout = sys.__stdout__ = _file_stream(1, sys.stdout, line_buffered=False)
    sys.stderr = sys.__stderr__ = _file_stream(2, sys.stderr, line_buffered=True)
    os.register_at_fork(before=flush_stdio, after_in_child=lambda: _forked(info))


def _file_stream(fd, old, line_buffered):
    """sys.stdout or sys.stderr as python makes it for a file: stdout block-buffered, stderr
    line-buffered (3.9+), both write-through under -u (PYTHONUNBUFFERED); the job's own were made
    for what its fds were (a pipe, a terminal)."""
    import io
    unbuffered = bool(os.environ.get("PYTHONUNBUFFERED"))
    encoding = getattr(old, "encoding", None) or "utf-8"
    errors = getattr(old, "errors", None) or ("backslashreplace" if fd == 2 else "strict")
    raw = io.open(fd, "wb", buffering=0 if unbuffered else -1, closefd=False)
    return io.TextIOWrapper(raw, encoding=encoding, errors=errors, line_buffering=line_buffered, write_through=unbuffered)


def flush_stdio():
    """sys.stdout and sys.stderr flushed, whatever state they are in (closed, replaced, None)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except Exception:
            pass


def _forked(info):
    """In a process the task (or one of its forks) forked: a log of its own."""
    pid = os.getpid()
    path = "%s:pid-%d" % (info.log_path, pid)
    try:
        os.write(2, line("process %d (forked by %d) writes to its own log: %s" % (pid, os.getppid(), os.path.basename(path))))
        _redirect(path, line("process %d, forked by %d of task %s" % (pid, os.getppid(), info.taskid)), truncate=True)
    except OSError:
        pass


def footer(path, outcome_text, duration):
    try:
        _append(path, b"-" * 60 + b"\n" + line("result: %s" % outcome_text) + line("duration: %.3f s" % duration))
    except OSError:
        pass


def note(path, text):
    try:
        _append(path, line(text))
    except OSError:
        pass


def group_members(pgid):
    """[(pid, command name)] of the live processes in the process group pgid, but this one."""
    found = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open("/proc/%s/stat" % entry, "rb") as f:
                stat = f.read()
        except OSError:
            continue
        name, _, rest = stat.partition(b" (")[2].rpartition(b") ")
        fields = rest.split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != b"Z":
            found.append((int(entry), name.decode("utf-8", "replace")))
    return found


def end_leftovers(info):
    """The processes of the task's group still running when it ends: ended with it (SIGTERM, then
    SIGKILL after 5 s), and its log says which. Returns their pids."""
    left = group_members(os.getpid())
    if not left:
        _reap()
        return []
    os.write(2, line("task %s ends %d process(es) it left running: %s" % (
        info.taskid, len(left), ", ".join("%d (%s)" % member for member in left))))
    for pid, _ in left:
        _kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        _reap()
        if not group_members(os.getpid()):
            break
        time.sleep(0.02)
    else:
        for pid, _ in group_members(os.getpid()):
            _kill(pid, signal.SIGKILL)
            os.write(2, line("process %d did not end on SIGTERM: SIGKILL" % pid))
    _reap()
    return [pid for pid, _ in left]


def _kill(pid, signo):
    try:
        os.kill(pid, signo)
    except OSError:
        pass


def _reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def set_title(info):
    """`pynwheel task: <taskid> - <script>` as the process's title (ps, top), best effort."""
    from pynwheel.tasks import title
    target = info.target if isinstance(info.target, str) else "%s:%s" % (info.target.__module__, info.target.__qualname__)
    title.set_title("pynwheel task: %s - %s" % (info.taskid, target))
