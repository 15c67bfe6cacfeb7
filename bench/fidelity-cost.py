"""CPU (not wall time) of the fidelity checks on a lane run's path, each warm, in a loop: the
request's fds, the scheduling a spare applies, the interpreter's identity, the confinement.
Runs in its own process (the bench), with the package's own functions (python/_pynwheel).

Usage: python3 bench/fidelity-cost.py [ROOT]   (ROOT: a checkout, this one by default)
"""

import os
import resource
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))

from _pynwheel.lane import fd_fault  # noqa: E402
from _pynwheel.libc import CLibrary  # noqa: E402
from _pynwheel.sched import Confinement, Scheduling  # noqa: E402

TIMES = 3000


def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main():
    confinement = Confinement()
    confinement.ready()
    scheduling = Scheduling(CLibrary())
    scheduling.ready()
    sched = {"nice": scheduling.nice, "cpus": scheduling.cpus, "ioprio": scheduling.ioprio, "oomScoreAdj": scheduling.oom}
    fds = [os.open(os.devnull, os.O_RDWR) for _ in range(3)]
    request = {"stdio": [True, True, True], "cwdFd": False}
    client = os.getppid()  # (as a lane client would be: another process of the same confinement)
    checks = (("the request's fds (fd_fault, 3 fds)", lambda: fd_fault(request, fds)),
              ("scheduling (as the spare's: nothing set)", lambda: scheduling.take(sched)),
              ("the interpreter's identity (stat)", lambda: os.stat(sys.executable)),
              ("confinement (cgroup, namespaces)", lambda: confinement.differs(client)))
    total = 0.0
    for name, check in checks:
        started = cpu()
        for _ in range(TIMES):
            check()
        each = (cpu() - started) / TIMES * 1e6
        total += each
        print("%-42s %6.1f us CPU" % (name, each))
    print("%-42s %6.1f us CPU" % ("in all", total))


if __name__ == "__main__":
    main()
