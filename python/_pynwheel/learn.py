"""Learned preloads: modules that runs import lazily (numpy.random inside a function, json in a
handler), which the zygote then imports itself so that the next runs do not pay for them.

A run records, after its status is out (its caller has it), the library modules it imported
beyond what its zygote had: one line appended to a file beside the zygote's lane (one write,
atomic for a line this short). The zygote reads the new lines as it reaps the run; a module
that RUNS runs imported is imported in a forked probe first (it must not print, warn or start
threads, as a top-level preload), then in the zygote, and the spares are renewed.

Only modules that cannot change which zygote a script belongs to are learned: of the standard
library, or submodules of a package the zygote has already (numpy.random in numpy's zygote;
never numpy in the base zygote), found in the standard library or site-packages, never in the
script's own directory. A learned module shows in a run's sys.modules as a top-level preload of
another script of the same family does, and the file watcher keeps it fresh as those.

Runs in a run's process (record) and in the zygote (Learner).
"""

import os
import signal
import sys
import time

RUNS = 2  # runs that imported a module before the zygote imports it
RECORD_LIMIT = 200  # names a run records at most
STDLIB = frozenset(getattr(sys, "stdlib_module_names", ()))


def record(child):
    """In a run, at its end: the library modules it imported that its zygote had not."""
    path = child.learn_path
    baseline = child.modules_at_fork
    if path is None or baseline is None or child.slot < 0 or len(sys.modules) == len(baseline):
        return
    roots = tuple(root + os.sep for root in child.preloader.library_roots)
    names = []
    for name, module in list(sys.modules.items()):
        if name in baseline:
            continue
        top = name.partition(".")[0]
        if top not in baseline and top not in STDLIB:
            continue
        filename = getattr(module, "__file__", None)
        if not isinstance(filename, str) or not filename.startswith(roots):
            continue
        names.append(name)
        if len(names) >= RECORD_LIMIT:
            break
    if not names:
        return
    directory = sys.path[0] if sys.path and isinstance(sys.path[0], str) else ""
    line = ("%s\t%s\n" % (os.path.realpath(directory or "."), " ".join(names))).encode("utf-8", "surrogateescape")
    try:
        # Never created here: the zygote made it, and removes it as it leaves (a run that
        # ends after that leaves nothing behind).
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    except OSError:
        pass  # only a hint for the next runs


class Learner:
    """In the zygote: the runs' records, counted, and the modules to learn."""

    def __init__(self, path):
        self.path = path  # None: nothing learned (a lane without a path)
        self.offset = 0
        self.counts = {}  # module name -> runs that imported it
        self.learned = []  # names the zygote imported because its runs did, in order
        self.refused = {}  # name -> why it is not learned

    def clear(self):
        """A predecessor's records (another zygote's counts), or its own as it leaves."""
        if self.path is not None:
            try:
                os.unlink(self.path)
            except OSError:
                pass

    def begin(self):
        """In the zygote, at its start: an empty file for its runs' records (private: 0600)."""
        if self.path is not None:
            self.clear()
            try:
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
            except OSError:
                self.path = None  # nothing learned, rather than another's file

    def _records(self):
        """(directory, names) of the lines appended since the last read."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read(1 << 20)
        except OSError:
            return []
        end = data.rfind(b"\n")
        if end < 0:
            return []
        self.offset += end + 1
        records = []
        for line in data[:end].split(b"\n"):
            directory, _, names = line.decode("utf-8", "surrogateescape").partition("\t")
            records.append((directory, names.split()))
        return records

    def wanted(self, preloader, listings):
        """Names to import now, in the order first seen."""
        if self.path is None:
            return []
        wanted = []
        for directory, names in self._records():
            local = listings.module_names(directory) if directory else set()
            for name in dict.fromkeys(names):
                if name in sys.modules or name in self.refused or name in preloader.failed:
                    continue
                top = name.partition(".")[0]
                if top in local:
                    continue  # the script's own module (shadowing a library's): never kept
                count = self.counts[name] = self.counts.get(name, 0) + 1
                if count == RUNS:
                    if top not in STDLIB and top not in sys.modules:
                        self.refused[name] = "of a package this zygote does not have"
                    elif top not in sys.modules and not preloader._is_library_module(top):
                        self.refused[name] = "not in the standard library or site-packages"
                    else:
                        wanted.append(name)
        return wanted

    def learn(self, name, preloader, c):
        """Imports the module in the zygote if a probe child could import it without effects a
        run must see itself. True if it is now in the zygote."""
        reason = probe(name, preloader, c)
        if reason is not None:
            self.refused[name] = reason
            return False
        saved, preloader.on_import = preloader.on_import, None  # no warm-up's progress line
        try:
            tainted = preloader._import(name, c)
        finally:
            preloader.on_import = saved
        if tainted or name in preloader.failed:
            self.refused[name] = tainted[1] if tainted else preloader.failed[name]
            return tainted is None  # (a failed import left nothing behind)
        self.learned.append(name)
        return True


PROBE_TIMEOUT = 10.0


def probe(name, preloader, c):
    """Imports the module in a forked child as a preload would: None if it had no effects a run
    must see (output, warnings, threads), else why."""
    from .libc import fork_quietly
    sys.stdout.flush()
    sys.stderr.flush()
    pid = fork_quietly()
    if pid == 0:
        code = 3
        try:
            preloader.on_import = None
            tainted = preloader._import(name, c)
            code = 2 if name in preloader.failed else 1 if tainted else 0
        finally:
            os._exit(code)
    deadline = time.monotonic() + PROBE_TIMEOUT
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "its import took over %d s" % PROBE_TIMEOUT
        time.sleep(0.0005)
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
    return {0: None, 1: "has effects when imported (output, warnings or threads)", 2: "its import fails"}.get(code, "its probe died")
