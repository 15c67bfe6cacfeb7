"""The run's script: a fresh __main__, sys.argv, sys.path, and the code to run in it.

Runs in a run's process, after become.become_run. prepare_script readies everything and
returns what to run; the entry script (python/pynwheel_zygote.py) runs it itself, so that the
only frames below the script's are the entry script's (faulthandler prints every frame).
"""

import builtins
import functools
import importlib.machinery
import os
import sys
import types

from .importable import make_pynwheel_importable

ZIP_END_RECORD = b"PK\x05\x06"


def prepare_script(child):
    """Ready the request's file or module as __main__. Returns (code, globals) to exec, or
    (None, a function to call) for what runpy runs (-m, a directory, a zip file): a partial,
    which adds no frame of its own. Called by the frame that runs it: the recursion limit
    leaves room for that frame and those below it."""
    request = child.request
    argv0 = request.get("argv0") or sys.executable
    args = [str(a) for a in request.get("args") or []]
    main = types.ModuleType("__main__")
    sys.modules["__main__"] = main
    make_pynwheel_importable(child.startup.entry_file)
    if request.get("module"):
        sys.argv = ["-m"] + args
        sys.orig_argv = [argv0, "-m", request["module"]] + args
        if not getattr(sys.flags, "safe_path", False):
            sys.path.insert(0, os.getcwd())
            unshadow(os.getcwd(), request, child)
        import runpy
        return None, functools.partial(runpy._run_module_as_main, request["module"], alter_argv=True)
    if type(request.get("code")) is str:
        return prepare_code(request, child, main, argv0, args)
    script = request["file"]
    replay_native_output(request, child)
    sys.argv = [script] + args
    sys.orig_argv = [argv0, script] + args
    path = os.path.abspath(script)
    try:
        with open(path, "rb") as f:
            source = f.read()
    except IsADirectoryError:
        source = None
    except OSError as exc:
        sys.stderr.write("%s: can't open file %r: [Errno %d] %s\n" % (argv0, path, exc.errno, exc.strerror))
        sys.stderr.flush()
        os._exit(2)
    # A zip file ends with an end-of-central-directory record: only a file that has one can be.
    if source is None or (ZIP_END_RECORD in source[-(1 << 16) - 64:] and is_zip(path)):
        # A directory or zip file with __main__.py, as python runs it (from its absolute path).
        sys.path.insert(0, path)
        import runpy
        return None, functools.partial(runpy._run_module_as_main, "__main__", alter_argv=False)
    given = request.get("localModules")
    if isinstance(given, list) and given and os.path.join(request.get("cwd") or "/", script) == path:
        script_dir = given[0]  # the zygote resolved the same path a moment ago
    else:
        script_dir = os.path.dirname(os.path.realpath(path))
    if not getattr(sys.flags, "safe_path", False):  # -P / PYTHONSAFEPATH: no script directory
        sys.path.insert(0, script_dir)
        unshadow(script_dir, request, child)
    main.__file__ = path
    main.__cached__ = None
    main.__loader__ = importlib.machinery.SourceFileLoader("__main__", path)
    main.__builtins__ = builtins
    if "__annotations__" in child.startup.fresh_main_names:
        main.__annotations__ = {}
    code = child.preloader.scripts.compiled(source, path)
    hide_frames_from_recursion_limit(sys._getframe(1))
    return code, main.__dict__


def prepare_code(request, child, main, argv0, args):
    """`-c CODE` as python runs it: sys.argv[0] '-c', '' (the cwd) first on sys.path, the code
    compiled as "<string>", __main__ with no __file__ and BuiltinImporter as its loader."""
    code = request["code"]
    replay_native_output(request, child)
    sys.argv = ["-c"] + args
    sys.orig_argv = [argv0, "-c", code] + args
    if not getattr(sys.flags, "safe_path", False):
        sys.path.insert(0, "")
        unshadow(os.getcwd(), request, child)
    main.__loader__ = importlib.machinery.BuiltinImporter
    main.__builtins__ = builtins
    if "__annotations__" in child.startup.fresh_main_names:
        main.__annotations__ = {}
    compiled = compile(code, "<string>", "exec", dont_inherit=True)
    hide_frames_from_recursion_limit(sys._getframe(2))
    return compiled, main.__dict__


def replay_native_output(request, child):
    """What C code wrote on fds 1 and 2 when the zygote imported a module this script imports:
    written again here, where python would have written it, on the run's own stdout/stderr."""
    preloader = child.preloader
    replay = preloader.replay
    if not replay:
        return
    names = request.get("importNames")
    if names is None:
        names = preloader.names_for_code(request["code"]) if type(request.get("code")) is str \
            else preloader.names_for(os.path.join(request.get("cwd") or "/", request["file"]))
    done = set()
    for name, _ in names:
        top = name.partition(".")[0]
        if top in replay and top not in done:
            done.add(top)
            out, err = replay[top]
            write_all(2, err)  # C's stderr is unbuffered: it appeared at the import
            if os.isatty(1):
                write_all(1, out)  # line-buffered on a terminal: at the import too
            else:
                child.stdout_at_exit.append(out)  # block-buffered: written by exit(), after python's


def write_all(fd, data):
    while data:
        try:
            data = data[os.write(fd, data):]
        except OSError:
            return


def hide_frames_from_recursion_limit(frame):
    """The frames below the script's (`frame`, which runs it, and those under it) would count
    against the recursion limit: a deep recursion would fail a few calls early. Raise the limit
    by exactly that many frames, and let sys.get/setrecursionlimit speak in python's numbers."""
    # Before 3.12 the call of exec() itself counts too; from 3.12 only Python frames count.
    extra = 1 if sys.version_info < (3, 12) else 0
    while frame is not None:
        extra += 1
        frame = frame.f_back
    real_get, real_set = sys.getrecursionlimit, sys.setrecursionlimit
    real_set(real_get() + extra)

    def getrecursionlimit():
        """Return the current value of the recursion limit."""
        return real_get() - extra

    def setrecursionlimit(limit):
        """Set the maximum depth of the Python interpreter stack to n."""
        if not isinstance(limit, int):
            return real_set(limit)  # python's own TypeError
        if limit < 1:
            raise ValueError("recursion limit must be greater or equal than 1")
        return real_set(limit + extra)

    sys.getrecursionlimit, sys.setrecursionlimit = getrecursionlimit, setrecursionlimit


def unshadow(directory, request, child):
    """Forget modules the zygote imported that the script's directory provides itself, so that
    `import json` finds the script's own json.py as it would under python. The zygote listed the
    directory for the request; a renamed cwd can make the run's directory another one."""
    given = request.get("localModules")
    local = given[1] if isinstance(given, list) and len(given) == 2 and given[0] == directory else child.listings.module_names(directory)
    startup_modules = child.startup.startup_modules
    for top in local:
        if top in sys.modules and top not in startup_modules:
            prefix = top + "."
            for name in [name for name in sys.modules if name == top or name.startswith(prefix)]:
                del sys.modules[name]


def is_zip(path):
    """As python decides (its path hooks try zipimport first); zipimport is loaded at start-up,
    where zipfile would cost milliseconds to import on every run."""
    import zipimport
    try:
        zipimport.zipimporter(path)
        return True
    except (zipimport.ZipImportError, OSError):
        return False
