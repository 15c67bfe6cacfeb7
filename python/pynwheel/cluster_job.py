"""What a cluster worker runs for a job of pynwheel.futures.Executor(cluster=URL): runs in the
job's process on the worker (a fork of the worker's warm zygote, called as
`pynwheel.cluster_job:run` with the job's pickle; lib/daemon/cluster-session.ts submits it). Its
cwd is the job's code bundle, unpacked. It makes the submitting script's __main__ importable as
multiprocessing's spawn method does (the script run as `__mp_main__`, without its
`if __name__ == "__main__":` block, and `__main__` made that module), finds the task's function
by its module and name, calls it, and returns the pickled outcome: ("ok", value) or ("error",
exception, traceback text), as the local Executor's tasks do (pynwheel/template.py).
"""

import os
import pickle
import sys
import traceback
import types


def run(payload):
    try:
        main, task = pickle.loads(payload)
        del payload
        root = os.getcwd()
        # Modules of the code directory import as they did for the caller (its script's directory first).
        sys.path[:0] = [os.path.dirname(os.path.join(root, main))] if main else []
        if root not in sys.path:
            sys.path.insert(1 if main else 0, root)
        if main:
            import_main(os.path.join(root, main))
        fn, args, kwargs = pickle.loads(task)
        del task
        message = ("ok", fn(*args, **kwargs))
    except BaseException as exc:  # as ProcessPoolExecutor: SystemExit and KeyboardInterrupt too
        message = ("error", exc, format_traceback(exc))
    try:
        return pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException as exc:  # the value or the exception cannot be pickled: say so instead
        try:
            return pickle.dumps(("error", exc, format_traceback(exc)), protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException:
            return pickle.dumps(("error", RuntimeError("%s: %s" % (type(exc).__name__, exc)), format_traceback(exc)), protocol=pickle.HIGHEST_PROTOCOL)


# True while the script is imported: an Executor it makes at its top level then (no
# `if __name__ == "__main__":` guard) is refused, or each job would submit jobs of its own.
importing_main = False


def import_main(path):
    """The script as the module `__mp_main__`, which `__main__` then names (spawn's way)."""
    global importing_main
    module = types.ModuleType("__mp_main__")
    module.__file__ = path
    module.__builtins__ = __builtins__
    sys.modules["__mp_main__"] = sys.modules["__main__"] = module
    with open(path, "rb") as f:
        code = compile(f.read(), path, "exec")
    importing_main = True
    try:
        exec(code, module.__dict__)
    finally:
        importing_main = False


def format_traceback(exc):
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
