"""The caller's scheduling (nice value, CPUs, I/O priority, OOM score adjustment) and confinement
(cgroup, namespaces), which a run must have as python started by the caller would.

Runs in spares: ready() reads the spare's own ahead; a lane client in another cgroup or
namespace is declined (it must not escape its limits through the zygote), and a lane run's
scheduling is applied before the spare takes it: one it cannot give (an unprivileged process
cannot lower its nice value or its OOM score adjustment below its minimum) is declined, and the
daemon then refuses it too (EDIRECT): python runs it. And in a run the daemon relayed (take),
best effort: the daemon checked it.
"""

import os

IOPRIO_WHO_PROCESS = 1
# (ioprio_get, ioprio_set) by machine: the standard library has no word for them.
IOPRIO_SYSCALLS = {"x86_64": (252, 251), "aarch64": (31, 30), "arm64": (31, 30), "i686": (290, 289),
                   "ppc64le": (274, 273), "s390x": (283, 282), "riscv64": (31, 30)}
OOM_SCORE_ADJ = "/proc/self/oom_score_adj"


class Scheduling:
    """This process's, as ready() found it and take() left it."""

    def __init__(self, c):
        self.c = c
        self.nice = self.cpus = self.ioprio = self.oom = None
        self.syscalls = IOPRIO_SYSCALLS.get(os.uname().machine)

    def ready(self):
        try:
            self.nice = os.getpriority(os.PRIO_PROCESS, 0)
            self.cpus = sorted(os.sched_getaffinity(0))
            self.ioprio = self._ioprio_get()
            with open(OOM_SCORE_ADJ, "rb") as f:
                self.oom = int(f.read())
        except (OSError, ValueError, AttributeError):
            pass

    def take(self, sched):
        """The request's "sched" applied: None, or (laneDeclines code, detail) for one that
        cannot be."""
        if type(sched) is not dict:
            return None
        nice, oom = sched.get("nice"), sched.get("oomScoreAdj")
        if nice != self.nice and type(nice) is int:
            try:
                os.setpriority(os.PRIO_PROCESS, 0, nice)
            except OSError as exc:
                return "higher-priority", "nice %d wanted, the zygote's is %s: %s" % (nice, self.nice, exc.strerror)
            finally:
                self.nice = os.getpriority(os.PRIO_PROCESS, 0)
        if oom != self.oom and type(oom) is int:
            try:
                with open(OOM_SCORE_ADJ, "w") as f:
                    f.write(str(oom))
                self.oom = oom
            except OSError as exc:
                return "higher-priority", "oom_score_adj %d wanted, the zygote's is %s: %s" % (oom, self.oom, exc.strerror)
        cpus = sched.get("cpus")
        if cpus != self.cpus and type(cpus) is list:
            try:
                os.sched_setaffinity(0, cpus)  # (one the cpuset allows: widening is a same-user right)
                self.cpus = cpus
            except (OSError, ValueError, TypeError):
                pass
        ioprio = sched.get("ioprio")
        if ioprio != self.ioprio and type(ioprio) is int and self.syscalls is not None:
            try:
                if self.c.lib.syscall(self.syscalls[1], IOPRIO_WHO_PROCESS, 0, ioprio) == 0:
                    self.ioprio = ioprio
            except Exception:
                pass
        return None

    def _ioprio_get(self):
        if self.syscalls is None or self.c.lib is None:
            return None
        value = self.c.lib.syscall(self.syscalls[0], IOPRIO_WHO_PROCESS, 0)
        return value if value >= 0 else None


class Confinement:
    """The cgroup and namespaces a process lives in, as /proc/PID/ tells them."""

    def __init__(self):
        self.names = ()
        self.own = None

    def ready(self):
        try:
            names = set(os.listdir("/proc/self/ns"))
            # What a process the client starts would be in: its pid and time namespaces for
            # children (where the kernel has them), not its own.
            for kind in ("pid", "time"):
                if kind + "_for_children" in names:
                    names.discard(kind)
            self.names = tuple(sorted(names))
            self.own = self.of("self")
        except OSError:
            self.own = None

    def of(self, pid):
        # Opened once, looked up relative to it: no path walk through /proc per namespace, and
        # every answer is of the same process.
        fd = os.open("/proc/%s" % pid, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            cgroup_fd = os.open("cgroup", os.O_RDONLY | os.O_CLOEXEC, dir_fd=fd)
            try:
                cgroup = os.read(cgroup_fd, 65536)
            finally:
                os.close(cgroup_fd)
            ns = os.open("ns", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fd)
            try:
                return cgroup, [os.readlink(name, dir_fd=ns) for name in self.names]
            finally:
                os.close(ns)
        finally:
            os.close(fd)

    def differs(self, pid):
        """Whether the process `pid` is confined otherwise than this one (or cannot be seen)."""
        if self.own is None:
            return False  # (no /proc here: nothing to compare)
        try:
            return self.of(pid) != self.own
        except OSError:
            return True
