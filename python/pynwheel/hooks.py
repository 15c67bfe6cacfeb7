"""The at_fork hooks: registered in the calling process, run in every task an Executor forks
(pynwheel/template.py calls run_hooks in the task, before the task's function)."""

import sys
import warnings

_hooks = []


def at_fork(hook):
    """Register `hook()` to run in every task an Executor forks, after the fork and before the
    task's function: for a client that must reconnect in a new process (a socket, a database
    connection, a report server's client). Hooks run in the order they were registered; one
    that raises fails that task with its exception. An Executor's tasks are forks of the state
    the process had when the Executor started, so they run the hooks registered by then (a
    RuntimeWarning says so when one is registered while an Executor runs).
    Returns `hook`, so that it serves as a decorator."""
    if not callable(hook):
        raise TypeError("at_fork() takes a callable, not %r" % (type(hook).__name__,))
    _hooks.append(hook)
    futures = sys.modules.get("pynwheel.futures")
    if futures is not None and futures.running_here():
        warnings.warn("pynwheel.at_fork(%r): an Executor of this process has started already; its tasks are forks "
                      "of the state before, and do not run this hook (Executors started from now on do)" % (hook,),
                      RuntimeWarning, stacklevel=2)
    return hook


def registered():
    return list(_hooks)


def run_hooks():
    for hook in list(_hooks):
        hook()
