"""pynwheel zygote: a warm interpreter that forks one child per run.

Started by the pynwheel daemon as `python pynwheel_zygote.py FD [SKIP [PRELOAD [FAMILY [LANE]]]]`
(comma-separated module names; LANE a JSON object: the lane socket's path, the client version,
the interpreter and the zygote's key), where FD is its end of a socketpair. Standard library
only: it runs inside the user's own interpreter or venv.

The zygote never runs user code: it only imports modules that a script names at its top level
and that resolve to the standard library or site-packages, then forks. The child takes the
caller's stdio, cwd and environment and runs the script as a fresh `__main__`. The child ends
through the interpreter's own shutdown (threads joined, atexit, flush, exit status), so a run
ends exactly as `python FILE` would.

This file runs in every one of those processes: main() is the zygote until its loop returns,
which happens only in a forked child (a spare, then the run); the code at the bottom runs the
script in that child. Everything else is in the package beside it, python/_pynwheel/.
"""

import sys

# What a plain interpreter has imported before it runs a script. Anything else in sys.modules
# was brought in by this zygote, and must not shadow a module of the script's own directory.
_STARTUP_MODULES = frozenset(sys.modules)
# The names the interpreter itself put in a fresh __main__ (3.11 adds __annotations__).
_FRESH_MAIN_NAMES = frozenset(globals()) - {"__file__", "__cached__", "__doc__"}

import gc  # noqa: E402

# Collections in the zygote would only touch pages that every child then has to copy.
gc.disable()

# The standard library's modules that the package imports, first: the package's own compiled
# modules are kept elsewhere (below), and these must be found where python keeps theirs.
import ast  # noqa: E402
import builtins  # noqa: E402
import functools  # noqa: E402
import importlib.machinery  # noqa: E402
import importlib.util  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import mmap  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import select  # noqa: E402
import selectors  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import stat  # noqa: E402
import struct  # noqa: E402
import sysconfig  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402

_ENTRY_FILE = os.path.abspath(__file__)
_PACKAGE_HOME = os.path.dirname(_ENTRY_FILE)

# The package beside this file, imported whole now: nothing is imported from here later (a
# fork never reads this directory). Python put the directory first on sys.path (unless
# PYTHONSAFEPATH); it is the zygote's, not the script's, so it goes again at once.
if not (sys.path and os.path.abspath(sys.path[0] or ".") == _PACKAGE_HOME):
    sys.path.insert(0, _PACKAGE_HOME)


def _bytecode_cache():
    """Where the package's compiled modules are kept: the daemon's runtime directory (the lane
    socket's), never beside the package, which may be read-only, or being removed while a
    zygote starts. None without a lane: nothing is written then."""
    try:
        lane = json.loads(sys.argv[5]).get("socket") if len(sys.argv) > 5 else None
    except (ValueError, AttributeError):
        return None
    return os.path.join(os.path.dirname(lane), "pycache") if isinstance(lane, str) and lane.startswith("/") else None


# (Where python has a prefix of its own, PYTHONPYCACHEPREFIX, the package's go there as any
# module's.) The run sees python's own settings: they are put back once the package is in.
_PYTHON_BYTECODE = sys.dont_write_bytecode, sys.pycache_prefix
if sys.pycache_prefix is None:
    sys.pycache_prefix = _bytecode_cache()
    sys.dont_write_bytecode = sys.pycache_prefix is None
import _pynwheel.wire  # noqa: E402
import _pynwheel.libc  # noqa: E402
import _pynwheel.debug  # noqa: E402
import _pynwheel.frozen  # noqa: E402
import _pynwheel.forkprep  # noqa: E402
import _pynwheel.preload  # noqa: E402
import _pynwheel.learn  # noqa: E402
import _pynwheel.relevance  # noqa: E402
import _pynwheel.watcher  # noqa: E402
import _pynwheel.lane  # noqa: E402
import _pynwheel.newscript  # noqa: E402
import _pynwheel.board  # noqa: E402
import _pynwheel.child  # noqa: E402
import _pynwheel.title  # noqa: E402
import _pynwheel.sched  # noqa: E402
import _pynwheel.inherited  # noqa: E402
import _pynwheel.become  # noqa: E402
import _pynwheel.importable  # noqa: E402
import _pynwheel.script  # noqa: E402
import _pynwheel.codec  # noqa: E402
import _pynwheel.call  # noqa: E402
import _pynwheel.exit  # noqa: E402
import _pynwheel.spare  # noqa: E402
import _pynwheel.zygote  # noqa: E402
del sys.path[0]
sys.dont_write_bytecode, sys.pycache_prefix = _PYTHON_BYTECODE

from _pynwheel.become import become_run  # noqa: E402
from _pynwheel.call import run_call  # noqa: E402
from _pynwheel.child import Startup  # noqa: E402
from _pynwheel.exit import exit_like_python, flush_io, report_uncaught, system_exit_status  # noqa: E402
from _pynwheel.script import prepare_script  # noqa: E402
from _pynwheel.spare import take_run  # noqa: E402
from _pynwheel.zygote import Zygote, parse_argv  # noqa: E402


def _own_files():
    """Every file whose frames are the zygote's, not the script's: this one and the package's."""
    files = {_ENTRY_FILE, main.__code__.co_filename}
    for name, module in list(sys.modules.items()):
        if name == "_pynwheel" or name.startswith("_pynwheel."):
            files.add(module.__file__)
    return frozenset(files)


def main():
    """The zygote. Its loop returns only in a forked child, with the child's assignment: the
    child is then a spare until it takes a run, and becomes that run. Returns the assignment,
    for the script's run below."""
    startup = Startup(_STARTUP_MODULES, _FRESH_MAIN_NAMES, _own_files(), _ENTRY_FILE)
    zygote = Zygote(*parse_argv(sys.argv), startup)
    child = zygote.serve()  # (in the zygote this never returns: it leaves with os._exit)
    take_run(child)
    become_run(child)
    return child


if __name__ == "__main__":
    _child = main()
    # The run: its script is called from this frame, so that no frame of the package's is
    # below the script's (faulthandler and the recursion limit see every frame).
    _interrupted = False
    try:
        if _child.request.get("call") is not None:
            _status = run_call(_child)  # call(), bind(), iterate(): a function, not a script
        else:
            _code, _namespace = prepare_script(_child)
            if _code is not None:
                try:
                    exec(_code, _namespace)
                finally:
                    if type(_child.request.get("file")) is str:
                        flush_io()
            else:
                _namespace()  # run by runpy: -m, a directory, a zip file
            _status = 0
    except SystemExit as _exc:
        _status = system_exit_status(_exc)
    except BaseException as _exc:
        _interrupted = isinstance(_exc, KeyboardInterrupt)
        _status = report_uncaught(_exc, _child.startup.own_files)
    exit_like_python(_child, _status, _interrupted)
