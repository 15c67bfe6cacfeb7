"""The run's command line and name, as python's process shows them to ps, top and pgrep.

Runs in spares (ProcessTitle.ready, before they wait: what /proc/self/stat tells, read once)
and in the run (ProcessTitle.take, in become.become_run). /proc/PID/cmdline is the memory
between the process's arg_start and arg_end, /proc/PID/environ that between env_start and
env_end: prctl(PR_SET_MM, PR_SET_MM_MAP) points them at buffers of the run's own (allowed
unprivileged since Linux 3.18, with CONFIG_CHECKPOINT_RESTORE), so the run shows
`python3 FILE ARGS` and the caller's environment, as python started there would; its name
(/proc/PID/comm) is the interpreter's file name, which exec would have given it.
"""

import sys

PR_SET_NAME = 15
PR_SET_MM = 35
PR_SET_MM_MAP = 14
TASK_COMM_LEN = 16
# /proc/self/stat's fields (1-based, as proc(5) numbers them) the map keeps as they are.
_STAT_FIELDS = {"start_code": 26, "end_code": 27, "start_stack": 28, "start_data": 45, "end_data": 46,
                "start_brk": 47}


class ProcessTitle:
    def __init__(self, c):
        self.c = c
        self.map = None  # the struct prctl_mm_map, filled but for brk and the args' and environment's places
        self.kept = None  # the buffers the kernel now shows: they live as long as the process

    def ready(self):
        """In a spare: the map, from what the kernel says of this process (best effort)."""
        c = self.c
        if c.prctl_mm_map is None:
            return
        try:
            with open("/proc/self/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            values = {name: int(fields[number - 3]) for name, number in _STAT_FIELDS.items()}
        except (OSError, IndexError, ValueError):
            return
        self.map = c.prctl_mm_map(**values)

    def take(self, request, env_data):
        """In the run: `argv0 FILE ARGS` (or `argv0 -m MODULE ARGS`, `argv0 -c CODE ARGS`) as its command line, the
        environment os.environ now holds (env_data: os.environ._data, bytes to bytes) as its
        environ, and the interpreter's name."""
        c = self.c
        try:
            encoding = sys.getfilesystemencoding()
            argv0 = request.get("argv0") or "python3"
            module = request.get("module")
            code = request.get("code")
            words = [argv0, "-m", module] if type(module) is str else [argv0, "-c", code] if type(code) is str \
                else [argv0, request["file"]]
            words += request.get("args") or ()
            args = "\0".join(words).encode(encoding, "surrogateescape") + b"\0"
            environ = b"".join([name + b"=" + value + b"\0" for name, value in env_data.items()])
            name = (request.get("python") or argv0).rpartition("/")[2]
            c.prctl(PR_SET_NAME, name.encode(encoding, "surrogateescape")[:TASK_COMM_LEN - 1], 0, 0, 0)
            if self.map is not None:
                self.kept = (args, environ)
                c.set_mm_map(self.map, args, environ)
        except Exception:
            pass  # (only what ps shows)
