"""What a process inherits from its caller beyond stdio, cwd and environment: the signals it
left ignored, its signal mask, and its inheritable fds above 2 (request fields "signals" and
"passFds", see lib/shared/messages.ts).

Runs in the run (a forked child that took a request), from become.become_run.
"""

import os
import signal

from .wire import close_all


def take_ignored_signals(request):
    """Each signal the caller left ignored is SIG_IGN here, as python started there finds it
    (python keeps an inherited SIG_IGN even for SIGINT, and signal.getsignal says so); the
    others keep a fresh python's dispositions (restore_signals). A signal pending since the fork
    that is now ignored is discarded, as the kernel does on SIG_IGN."""
    signals = request.get("signals")
    if not signals:
        return
    for signo in signals["ignored"]:
        try:
            signal.signal(signo, signal.SIG_IGN)
        except (OSError, ValueError):
            pass  # (one this python cannot name, as glibc's own realtime signals)


def take_signal_mask(request, c):
    """The caller's mask, last of the run's start: signals that came since the fork and are not
    blocked by it are delivered now, to python's handlers. Without one, an empty mask (a Node
    API run, as child_process.spawn's children have)."""
    signals = request.get("signals")
    blocked = signals["blocked"] if signals else ()
    if not blocked:
        c.unblock_signals()
        return
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    except (OSError, ValueError):
        c.unblock_signals()


def take_passed_fds(numbers, received):
    """Each fd the caller passed on at its own number, inheritable as python leaves it. A
    received fd that sits on another one's number moves out of the way first; anything else on
    a target number (nothing the run needs: its own fds are closed by now) is replaced."""
    count = min(len(numbers), len(received))
    if count < len(received):
        close_all(received[count:])
    if not count:
        return
    numbers, received = numbers[:count], list(received[:count])
    targets = frozenset(numbers)
    above = numbers[-1] + 1  # (ascending: the highest)
    for index, fd in enumerate(received):
        if fd in targets and fd != numbers[index]:
            import fcntl
            received[index] = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, above)
            os.close(fd)
    for fd, target in zip(received, numbers):
        if fd == target:
            os.set_inheritable(fd, True)
        else:
            os.dup2(fd, target)  # (inheritable)
            os.close(fd)
