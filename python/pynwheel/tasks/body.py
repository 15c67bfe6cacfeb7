"""What runs in a task's own process (a fork the job's Executor template made: pynwheel.futures):
its process group, its log as stdout and stderr, its script as __main__ or its function, the
result that the rules give, and the processes it left running. Returns a plain dict to the job.

The rules (issue 17): ends normally or returns Passed -> Passed; uncaught AssertionError,
sys.exit(non-zero) or a returned Failed -> Failed; any other uncaught exception -> Errored;
KeyboardInterrupt (SIGINT) -> Aborted; a raised or returned result code -> that code. The job
adds Aborted for max_runtime and terminate(), and what a death by signal means (task.py).
"""

import atexit
import os
import pickle
import signal
import sys
import threading
import time
import traceback
import types

from pynwheel.tasks import results, tasklog, terminal

_current = None  # this process's TaskInfo, once it is a task
TASK_SIGNALS = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL, signal.SIGHUP: signal.SIG_DFL}


class TaskInfo:
    """What a task knows of itself: `pynwheel.tasks.current()` in its script or function."""

    def __init__(self, spec):
        self.taskid = spec["taskid"]
        self.target = spec["target"]
        self.args = list(spec["args"])
        self.kwargs = dict(spec["kwargs"])
        self.log_path = spec["log_path"]
        self.log_dir = os.path.dirname(self.log_path)
        self.max_runtime = spec.get("max_runtime")

    def __repr__(self):
        return "<pynwheel task %s: %s>" % (self.taskid, self.target)


def current():
    return _current


def run_task(spec):
    """The Executor's function in the task's process. Returns {result, reason, value, exit_code, signal, left}."""
    global _current
    os.setpgid(0, 0)  # its own group: what it leaves running is ended with it, and Ctrl-C of a job is the job's
    for signo, handler in TASK_SIGNALS.items():  # python's own, whatever the job set
        signal.signal(signo, handler)
    _current = info = TaskInfo(spec)
    tasklog.set_title(info)
    terminal.prepare(info, spec.get("events_fd"))
    tasklog.take_stdio(info, spec)
    atexit._clear()  # the job's exit functions are the job's; the task's own run at its end
    try:
        outcome = run_target(info, spec)
    finally:
        join_threads()
        run_exit_functions()
        tasklog.flush_stdio()
        terminal.release()
    outcome["left"] = tasklog.end_leftovers(info)
    tasklog.flush_stdio()
    return outcome


def run_target(info, spec):
    target = info.target
    try:
        if callable(target):
            value = target(*info.args, **info.kwargs)
        elif target.startswith("-m "):
            value = run_module(target[3:], info)
        elif ":" in target and not target.endswith(".py"):
            value = call_function(target, info)
        else:
            value = run_script(target, info)
    except results.Result as code:
        print("%s: task %s %s" % (code.code, info.taskid, "(%s)" % code.reason if code.reason else ""), file=sys.stderr)
        return outcome(code.code, code.reason, exit_code=0)
    except SystemExit as exc:
        status = exit_status(exc.code)
        return outcome("Passed" if status == 0 else "Failed", "sys.exit(%r)" % (exc.code,) if status else None, exit_code=status)
    except KeyboardInterrupt as exc:
        print_exception(exc)
        return outcome("Aborted", "KeyboardInterrupt", signal=int(signal.SIGINT))
    except AssertionError as exc:
        print_exception(exc)
        return outcome("Failed", describe(exc), exit_code=1)
    except BaseException as exc:
        print_exception(exc)
        return outcome("Errored", describe(exc), exit_code=1)
    if isinstance(value, results.Result):
        return outcome(value.code, value.reason, exit_code=0)
    return outcome("Passed", None, exit_code=0, value=sendable(value))


def outcome(result, reason, exit_code=None, signal=None, value=None):
    return {"result": result, "reason": reason, "value": value, "exit_code": exit_code, "signal": signal}


def run_script(path, info):
    """As `python3 PATH ARGS` runs it: a fresh __main__, sys.argv, the script's directory first on
    sys.path; its traceback has only its own frames (the ones below are skipped when printed)."""
    path = os.path.abspath(path)
    with open(path, "rb") as f:
        source = f.read()
    code = compile(source, path, "exec", dont_inherit=True)
    main = types.ModuleType("__main__")
    main.__file__ = path
    main.__builtins__ = __builtins__
    main.__cached__ = None
    sys.modules["__main__"] = main
    sys.argv = [path] + [str(a) for a in info.args]
    sys.path[0:0] = [os.path.dirname(path)]
    exec(code, main.__dict__)
    return None


def run_module(name, info):
    """As `python3 -m NAME ARGS` runs it (runpy: __main__, sys.argv[0] the module's file)."""
    import runpy
    sys.argv = [name] + [str(a) for a in info.args]
    sys.path[0:0] = [os.getcwd()]
    runpy.run_module(name, run_name="__main__", alter_sys=True)


def call_function(target, info):
    import importlib
    module_name, _, qualname = target.partition(":")
    found = importlib.import_module(module_name)
    for part in qualname.split("."):
        found = getattr(found, part)
    sys.argv = [target] + [str(a) for a in info.args]
    return found(*info.args, **info.kwargs)


def exit_status(code):
    """The status python exits with for SystemExit(code), printing what python prints."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def print_exception(exc):
    """As python prints an uncaught exception: through sys.excepthook, without our own frames."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    exc = exc.with_traceback(tb)  # (the default hook prints the exception's own)
    try:
        sys.stdout.flush()  # as python does before it prints the traceback
    except Exception:
        pass
    try:
        sys.excepthook(type(exc), exc, tb)
    except BaseException:
        traceback.print_exception(type(exc), exc, tb)


def describe(exc):
    text = str(exc)
    return "%s: %s" % (type(exc).__name__, text) if text else type(exc).__name__


def sendable(value):
    """The value, if the job can receive it (pickled), else its repr."""
    try:
        pickle.dumps(value)
        return value
    except Exception:
        return repr(value)


def join_threads():
    """As python does at exit: wait for the task's non-daemon threads."""
    me = threading.current_thread()
    for thread in threading.enumerate():
        if thread is not me and not thread.daemon and thread.is_alive():
            thread.join()


def run_exit_functions():
    try:
        atexit._run_exitfuncs()
    except BaseException:
        pass
