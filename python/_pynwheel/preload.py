"""Preloading: which modules a script imports at its top level, importing those that can be
shared, and the scripts' compiled code.

Runs in the zygote. Its children inherit what it imported and compiled (Preloader.replay,
CompiledScripts and DirectoryListings are read by runs too), but never import from here.
"""

import ast
import functools
import gc
import importlib.machinery
import importlib.util
import io
import os
import signal
import sys
import sysconfig
import threading
import time

from .libc import fork_quietly

PROBE_TIMEOUT = 10.0
REFRESHED_DIRECTORIES = 32  # the zygote keeps the listings of its scripts' latest directories
RACY_NS = 20_000_000  # file times come from a coarse clock: a tick or two (see watcher.py)


def library_roots():
    """(directories whose modules belong to the interpreter: stdlib and site-packages,
    the standard library's alone), each sorted."""
    roots = set()
    paths = sysconfig.get_paths()
    for name in ("stdlib", "platstdlib", "purelib", "platlib"):
        if paths.get(name):
            roots.add(os.path.realpath(paths[name]))
    try:
        import site
        for directory in site.getsitepackages() + [site.getusersitepackages()]:
            roots.add(os.path.realpath(directory))
    except Exception:
        pass
    stdlib = {os.path.realpath(p) for p in (paths.get("stdlib"), paths.get("platstdlib")) if p}
    return tuple(sorted(roots)), tuple(sorted(stdlib))


def top_level_imports(tree):
    """Module names imported at the top level (also in top-level try/if/else/with), as pairs
    (name, maybe_attribute): `from a import b` names a.b, which may be a submodule or not."""
    names = []

    def visit(statements):
        for node in statements:
            if isinstance(node, ast.Import):
                names.extend((alias.name, False) for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level == 0 and node.module:
                    names.append((node.module, False))
                    names.extend((node.module + "." + a.name, True) for a in node.names if a.name != "*")
            elif isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
                visit(node.body)
                for handler in node.handlers:
                    visit(handler.body)
                visit(node.orelse)
                visit(node.finalbody)
            elif isinstance(node, ast.If):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.With):
                visit(node.body)

    visit(tree.body)
    return names


class CompiledScripts:
    """Scripts the zygote has compiled, for its runs: python compiles a script anew at every
    start (it keeps no bytecode of __main__), which costs a run of a long script milliseconds.
    A run uses the code only if the file's bytes are the same as those compiled."""

    LIMIT = 256

    def __init__(self, freezer=None):
        self.code = {}  # absolute path -> (source bytes, code, its objects held out of gc.freeze)
        self.freezer = freezer  # (frozen.Freezer) a script's own code is not frozen with the zygote's

    def remember(self, path, source):
        path = os.path.abspath(path)
        compile_it = functools.partial(compile, source, path, "exec", dont_inherit=True)  # exactly as a run would
        try:
            code, held = self.freezer.hold_out(compile_it) if self.freezer is not None else (compile_it(), None)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return  # the run reports it, as python would
        if len(self.code) >= self.LIMIT:
            self.forget(list(self.code))
        self.forget([path])
        self.code[path] = (source, code, held)

    def forget(self, paths):
        for path in paths:
            known = self.code.pop(path, None)
            if known is not None and self.freezer is not None:
                self.freezer.forget(known[2])

    def compiled(self, source, path):
        """In a run: the script's code."""
        known = self.code.get(path)
        if known is not None and known[0] == source:
            return known[1]
        return compile(source, path, "exec", dont_inherit=True)


class DirectoryListings:
    """Top-level module names that a directory provides (it comes first on a run's sys.path),
    for the zygote's preloads, the lane's checks and a run's unshadowing. A listing is kept
    while the directory's mtime stays (children inherit those the zygote made); whether a
    subdirectory is a package is looked at each time, as creating its __init__.py does not
    touch the directory's mtime."""

    def __init__(self):
        self.listings = {}  # directory -> ((st_ino, st_mtime_ns), module files' names, other names)

    def module_names(self, directory):
        cached = self._listing(directory)
        if cached is None:
            return set()
        names = set(cached[1])
        for entry in cached[2]:
            if os.path.isfile(os.path.join(directory, entry, "__init__.py")):
                names.add(entry)
        return names

    def refresh(self, directories):
        """In the zygote, before it forks a spare: the listings of its scripts' directories
        brought up to date (one stat each when they are), so that no run's process lists a
        directory again (an edit there changes its mtime; one changed within a tick is listed
        again once it is older)."""
        for directory in list(directories)[-REFRESHED_DIRECTORIES:]:
            self._listing(directory)

    def _listing(self, directory):
        """(stamp, module files' names, other names) of the directory as it is now, or None."""
        try:
            st = os.stat(directory)
        except OSError:
            return None
        stamp = (st.st_ino, st.st_mtime_ns)
        cached = self.listings.get(directory)
        if cached is not None and cached[0] == stamp:
            return cached
        try:
            entries = os.listdir(directory)
        except OSError:
            return None
        suffixes = tuple(importlib.machinery.all_suffixes())
        files = frozenset(entry.partition(".")[0] for entry in entries if entry.endswith(suffixes))
        others = tuple(entry for entry in entries if "." not in entry and entry not in files)
        cached = (stamp, files, others)
        # A directory changed within its clock's tick may change again with the same
        # mtime: such a listing is not kept (as git does with racy index entries).
        if time.time_ns() - st.st_mtime_ns > RACY_NS:
            self.listings[directory] = cached
        else:
            self.listings.pop(directory, None)
        return cached


@functools.lru_cache(maxsize=None)
def pynwheel_package_imports():
    """What the `pynwheel` package (python/pynwheel/, beside this package) imports at its top
    level: a script that imports pynwheel gets these preloaded, as if it named them itself (the
    package itself is not a library module, so it is never kept in the zygote)."""
    home = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pynwheel")
    names = []
    try:
        files = sorted(name for name in os.listdir(home) if name.endswith(".py"))
    except OSError:
        return ()
    for name in files:
        try:
            with open(os.path.join(home, name), "rb") as f:
                names += top_level_imports(ast.parse(f.read(), name))
        except (SyntaxError, ValueError, OSError):
            continue
    return tuple((module, attribute) for module, attribute in names if module.partition(".")[0] != "pynwheel")


class Preloader:
    def __init__(self, skip, roots, listings, freezer=None):
        self.skip = set(skip)  # top-level names the daemon found unfit for a zygote
        self.library_roots, self.stdlib_roots = roots
        self.listings = listings
        self.freezer = freezer
        self.scripts = CompiledScripts(freezer)
        self.preloaded = []  # names imported into the zygote, in order
        self.failed = {}  # name -> the error its import raised: not tried again
        self.not_shared = {}  # name -> why the last script that named it ran it itself
        self.replay = {}  # top-level name -> (stdout bytes, stderr bytes) its import wrote natively
        self._import_cache = {}  # (path, mtime_ns, size) -> names
        self.on_import = None  # called with each name before its import (the zygote's progress)

    def names_for(self, path):
        try:
            st = os.stat(path)
        except OSError:
            return []
        key = (path, st.st_mtime_ns, st.st_size, st.st_ino)
        names = self._import_cache.get(key)
        if names is None:
            try:
                with open(path, "rb") as f:
                    source = f.read()
                tree = ast.parse(source, path)
                names = top_level_imports(tree)
                if any(name == "pynwheel" or name.startswith("pynwheel.") for name, _ in names):
                    names += pynwheel_package_imports()
                self.scripts.remember(path, source)
            except (SyntaxError, ValueError, OSError, RecursionError, MemoryError):
                names = []
            self._import_cache[key] = names
        return names

    def names_for_code(self, code):
        """`-c CODE`'s top-level imports (none if it does not compile: the run reports that)."""
        try:
            return top_level_imports(ast.parse(code, "<string>"))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return []

    def names_for_module(self, module, cwd):
        top = module.partition(".")[0]
        if top in self.listings.module_names(cwd) or not self._is_library_module(top):
            return []
        package = module.rpartition(".")[0]
        names = [(package, False)] if package else []
        try:
            spec = importlib.util.find_spec(module) if not package or package in sys.modules else None
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.submodule_search_locations is not None:
            names.append((module, False))  # a package run with -m: its __main__ is the script
            try:
                spec = importlib.util.find_spec(module + ".__main__")
            except (ImportError, ValueError):
                spec = None
        if spec is not None and spec.origin and spec.origin.endswith(".py"):
            names += self.names_for(spec.origin)
        return names

    def preload(self, script_dir, names, c, shadowed=None):
        """Import what can be shared. Returns a module name whose import had effects that a run
        must see itself (output, warnings, threads): the zygote is then unfit and is replaced.
        `shadowed`: the script directory's module names, if the caller has them already."""
        if shadowed is None:
            shadowed = self.listings.module_names(script_dir)
        for name, maybe_attribute in names:
            if name in sys.modules or name in self.failed:
                continue
            top = name.partition(".")[0]
            if top in self.failed:
                continue
            if top in self.skip:
                self.not_shared[top] = "unfit for a zygote"
                continue
            if top in shadowed:
                self.not_shared[top] = "a module of the script's own directory"
                continue
            if top not in sys.modules and not self._is_library_module(top):
                self.not_shared[top] = "not in the standard library or site-packages"
                continue
            if maybe_attribute:
                parent = name.rpartition(".")[0]
                if parent not in sys.modules or not _is_submodule(name):
                    continue  # `from a import b` where b is not a module (or a did not load)
            tainted = self._import(name, c)
            if tainted:
                return tainted
        return None

    def would_import(self, names, shadowed):
        """The first of `names` that preload() would import now, or None: preload()'s tests, in
        its order, without importing (in a spare: newscript.py)."""
        for name, maybe_attribute in names:
            if name in sys.modules or name in self.failed:
                continue
            top = name.partition(".")[0]
            if top in self.failed or top in self.skip or top in shadowed:
                continue
            if top not in sys.modules and not self._is_library_module(top):
                continue
            if maybe_attribute:
                parent = name.rpartition(".")[0]
                if parent not in sys.modules or not _is_submodule(name):
                    continue
            return name
        return None

    def family_of(self, names, shadowed):
        """The third-party packages (site-packages, not the standard library) a script's
        imports name at the top level, sorted: runs of one family share a zygote that has
        imported them, and other runs never pay for them (a larger zygote forks slower, and
        its runs take more copy-on-write faults)."""
        family = set()
        for name, _ in names:
            top = name.partition(".")[0]
            if top in family or top in sys.builtin_module_names or self._is_stdlib_name(top):
                continue
            if top in shadowed or top in self.failed:
                continue
            if top in sys.modules or self._is_library_module(top):
                family.add(top)
        return sorted(family)

    def _is_library_module(self, top):
        try:
            spec = importlib.machinery.PathFinder.find_spec(top)
            if spec is None:
                spec = importlib.util.find_spec(top)  # built-in and frozen modules
        except (ImportError, ValueError):
            return False
        if spec is None:
            return False
        if spec.origin in ("built-in", "frozen"):
            return True
        locations = list(spec.submodule_search_locations or []) or [spec.origin or ""]
        for location in locations:
            real = os.path.realpath(location)
            if not any(real == root or real.startswith(root + os.sep) for root in self.library_roots):
                return False
        return True

    def _is_stdlib_name(self, top):
        names = getattr(sys, "stdlib_module_names", None)  # 3.10+
        if names is not None:
            return top in names
        try:  # 3.9: where it would be found
            spec = importlib.machinery.PathFinder.find_spec(top)
        except (ImportError, ValueError):
            return False
        origin = os.path.realpath(spec.origin or "") if spec is not None and spec.origin else ""
        return (bool(origin) and "site-packages" not in origin
                and any(origin.startswith(root + os.sep) for root in self.stdlib_roots))

    def _import(self, name, c):
        if self.on_import is not None:
            self.on_import(name)
        before_threads = threading.active_count()
        capture = io.StringIO()
        saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = capture
        native_output = NativeOutputCapture(c)
        import warnings
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                __import__(name)
        except BaseException as exc:  # a broken module is simply not preloaded
            self.failed[name] = "%s: %s" % (type(exc).__name__, exc)
            caught = []
        finally:
            sys.stdout, sys.stderr = saved
            written = native_output.finish()
        top = name.partition(".")[0]
        if any(written) and name not in self.failed:
            # C code (tensorflow's logging, say) wrote straight to fds 1 and 2: each run that
            # imports this module writes the same bytes on its own stdout and stderr.
            before = self.replay.get(top, (b"", b""))
            self.replay[top] = (before[0] + written[0], before[1] + written[1])
        if capture.getvalue():
            return top, "writes to stdout or stderr when imported"
        if caught:
            return top, "emits warnings when imported: %s" % (caught[0].message,)
        if threading.active_count() != before_threads:
            return top, "starts Python threads when imported"
        if name in self.failed:
            return None
        if not children_still_work():
            return top, "leaves the zygote unable to fork working children"
        self.preloaded.append(name)
        return None


def _is_submodule(name):
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError, AttributeError):
        return False


class NativeOutputCapture:
    """Points fds 1 and 2 at memory files while a module is imported, so that what C code
    writes there is kept for the runs instead of going to the daemon's log."""

    def __init__(self, c):
        self.c = c
        c.flush_stdio()
        self.saved = (os.dup(1), os.dup(2))
        self.files = (os.memfd_create("pynwheel-stdout", os.MFD_CLOEXEC),
                      os.memfd_create("pynwheel-stderr", os.MFD_CLOEXEC))
        os.dup2(self.files[0], 1)
        os.dup2(self.files[1], 2)

    def finish(self):
        """Restores fds 1 and 2; returns (stdout bytes, stderr bytes) written meanwhile."""
        self.c.flush_stdio()
        os.dup2(self.saved[0], 1)
        os.dup2(self.saved[1], 2)
        written = []
        for fd in self.files:
            os.lseek(fd, 0, os.SEEK_SET)
            chunks = []
            while True:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
            written.append(b"".join(chunks))
            os.close(fd)
        for fd in self.saved:
            os.close(fd)
        return tuple(written)


def children_still_work():
    """Fork a child that collects garbage and exits. An import that broke fork (a lock held by
    a native thread, an at-fork handler that kills or hangs the child) shows here, once, rather
    than in every run."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = fork_quietly()
    if pid == 0:
        try:
            gc.collect()
        finally:
            os._exit(0)
    deadline = time.monotonic() + PROBE_TIMEOUT
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return False
        time.sleep(0.0005)
