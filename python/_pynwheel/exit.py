"""The run's end, as python's: the exit status of an uncaught exception or SystemExit, then
the observable steps of Py_FinalizeEx, the status told early, and _exit.

Runs in a run's process, after its script (python/pynwheel_zygote.py calls these).
"""

import gc
import os
import signal
import sys
import threading

from . import learn
from .script import write_all


def report_uncaught(exc, own_files):
    """What PyErr_Print does with an exception that ends a script: sys.excepthook, given the
    traceback without the zygote's own frames (those of `own_files`). Returns the exit status."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename in own_files:
        tb = tb.tb_next
    exc.__traceback__ = tb
    sys.last_type, sys.last_value, sys.last_traceback = type(exc), exc, tb
    if sys.version_info >= (3, 12):
        sys.last_exc = exc
    try:
        sys.excepthook(type(exc), exc, tb)
    except BaseException as hook_error:  # as python: report both, on the real stderr
        sys.__excepthook__(type(hook_error), hook_error, hook_error.__traceback__)
        sys.__excepthook__(type(exc), exc, tb)
    return 1


def system_exit_status(exc):
    """_Py_HandleSystemExit: None -> 0, an int -> itself, anything else is printed -> 1."""
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code if -(2 ** 31) <= code < 2 ** 31 else -1
    stream = sys.stderr if sys.stderr is not None else sys.__stderr__
    try:
        stream.write(str(code) + "\n")
        stream.flush()
    except Exception:
        pass
    return 1


def flush_io():
    """pythonrun.c's flush_io, which python calls right after a script file's code has run (not
    after -c's or -m's), before it prints an uncaught exception: stderr, then stdout, errors
    ignored. What a script wrote to both without a newline reaches a shared pipe in that order."""
    for stream in (sys.stderr, sys.stdout):
        try:
            stream.flush()
        except Exception:
            pass


def flush_std_files():
    """flush_std_files: a failing stdout is reported as unraisable and makes the status 120."""
    ok = True
    stdout = sys.stdout
    if stdout is not None and not getattr(stdout, "closed", True):
        try:
            stdout.flush()
        except Exception as exc:
            ok = False
            try:
                sys.stderr.write("Exception ignored in: %r\n" % (stdout,))
                sys.stderr.write("".join(__import__("traceback").format_exception_only(type(exc), exc)))
            except Exception:
                pass
    stderr = sys.stderr
    if stderr is not None and not getattr(stderr, "closed", True):
        try:
            stderr.flush()
        except Exception:
            pass
    return ok


def clear_main_module():
    """What finalization does to __main__ (after a collection): its globals are released, so
    objects' __del__ methods run, and print, while stdio is still there."""
    main = sys.modules.get("__main__")
    names = getattr(main, "__dict__", {})
    # _PyModule_ClearDict: names with one leading underscore first, then the rest but builtins.
    for first_pass in (True, False):
        for name in list(names):
            if name == "__builtins__":
                continue
            if (name.startswith("_") and not name.startswith("__")) == first_pass:
                names[name] = None


def exit_like_python(child, status, interrupted):
    """The observable part of Py_FinalizeEx, then _exit: threads joined, atexit run, stdio
    flushed, __main__ released. The rest of teardown (freeing every module, which takes most of
    a second after torch or tensorflow) is skipped: the process is about to vanish anyway."""
    try:
        threading._shutdown()
    except BaseException as exc:
        status = report_uncaught(exc, child.startup.own_files)
    # Only a run that imported atexit (or a module the zygote has) can have registered exit
    # functions; importing it here would cost a run that did not a fifth of a millisecond.
    atexit = sys.modules.get("atexit")
    if atexit is not None:
        skip_process_local_finalizers()
        atexit._run_exitfuncs()
    if not flush_std_files():
        status = 120
    gc.collect()
    clear_main_module()
    gc.collect()
    if status != 120 and not flush_std_files():  # a stdout that failed is reported once
        status = 120
    for data in child.stdout_at_exit:
        write_all(1, data)
    child.c.flush_stdio()  # output a C extension left in its stdio buffers, as exit() writes it
    if interrupted:
        # As python after an uncaught KeyboardInterrupt: die by SIGINT, so a shell knows.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    report_status_early(child, status & 0xFF)
    record_hot_pages(child)
    record_imports(child)
    os._exit(status & 0xFF)


# weakref.finalize callbacks (module, name) run at exit that only undo something in the
# process's own memory, which _exit drops a moment later: nothing outside it can tell whether
# they ran, and they print nothing unless they fail. torch.library's undoes each operator
# registration of torch's dispatcher one by one (134 of them: 5-9 ms, most of a torch run).
PROCESS_LOCAL_FINALIZERS = frozenset({("torch.library", "_del_library")})


def skip_process_local_finalizers():
    weakref = sys.modules.get("weakref")
    registry = getattr(getattr(weakref, "finalize", None), "_registry", None)
    if not registry:
        return
    for info in list(registry.values()):
        func = getattr(info, "func", None)
        if (getattr(func, "__module__", None), getattr(func, "__qualname__", None)) in PROCESS_LOCAL_FINALIZERS:
            info.atexit = False


def report_status_early(child, status):
    """Tell the status, so the caller need not wait for this address space to be torn down,
    and close stdio (nothing more is written: all of it was, before)."""
    if child.slot < 0:
        return
    # On the board first: from then on the zygote knows the script is over (its client may
    # leave at once, and what the run left in the background must live on).
    child.board.write(child.slot, status)
    notice = child.status_notice
    sigqueue = child.c.sigqueue
    if notice is not None and sigqueue is not None:
        # Straight to the client (the native runner), which need not wait for the zygote to
        # be scheduled; the zygote's word follows as always. The token tells it from others.
        pid, signo, token = notice
        sigqueue(pid, signo, (token << 8) | status)
    if child.tell_status is not None:
        child.tell_status(status)  # a call's value channel (call.py): its client settles the call now
    for stdio in (0, 1, 2):
        try:
            os.close(stdio)
        except OSError:
            pass
    try:
        os.kill(os.getppid(), signal.SIGCHLD)  # wakes the zygote, as its children's exits do
    except OSError:
        pass


def record_imports(child):
    """After the status is out: the library modules this run imported lazily (learn.py)."""
    try:
        learn.record(child)
    except Exception:
        pass  # only a hint for the next runs


def record_hot_pages(child):
    """After the status is out (its caller has it): the pages this run wrote to, for the next
    spares (board.HotPages)."""
    if child.slot < 0 or not child.hot_pages.should_record(child.runs_served):
        return
    try:
        child.hot_pages.record()
    except Exception:
        pass  # only a hint for the next runs
