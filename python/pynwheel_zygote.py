"""pynwheel zygote: a warm interpreter that forks one child per run.

Started by the pynwheel daemon as `python pynwheel_zygote.py FD [SKIP [PRELOAD [FAMILY [LANE]]]]`
(comma-separated module names; LANE a JSON object: the lane socket's path, the client version,
the interpreter and the zygote's key), where FD is its end of a socketpair. Standard library only: it runs inside the user's own interpreter or venv.

The parent never runs user code: it only imports modules that a script names at its top level
and that resolve to the standard library or site-packages, then forks. The child takes the
caller's stdio, cwd and environment and runs the script as a fresh `__main__`. The child ends
through the interpreter's own shutdown (threads joined, atexit, flush, exit status), so a run
ends exactly as `python FILE` would.
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

import ast  # noqa: E402
import importlib.machinery  # noqa: E402
import importlib.util  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402 (json has it loaded already)
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

ZYGOTE_FILE = os.path.abspath(__file__)
# Everything catchable but SIGCHLD (the zygote's own) and the signals of faults in this thread.
DEFERRED_SIGNALS = signal.valid_signals() - {
    signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD, signal.SIGSEGV, signal.SIGBUS,
    signal.SIGFPE, signal.SIGILL, signal.SIGTRAP, signal.SIGSYS, signal.SIGABRT}
PROTOCOL_VERSION = 1
HEADER = struct.Struct(">2sBBI")  # magic b"PN", protocol version, fd count, payload length
MAGIC = b"PN"
MAX_FRAME = 64 * 1024 * 1024
MAX_FDS = 8

# The zygote's own directory is not the script's: no module may be found there.
if sys.path and os.path.abspath(sys.path[0] or ".") == os.path.dirname(ZYGOTE_FILE):
    del sys.path[0]


# ---------------------------------------------------------------- framing

class Channel:
    """Length-prefixed JSON frames with SCM_RIGHTS fds over a blocking stream socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.fds = []

    def send(self, message, fds=()):
        _send_frame(self.sock, encode_frame(message, len(fds)), fds)

    def fill(self):
        """Read what is available; False on EOF."""
        data, ancdata, flags, _ = self.sock.recvmsg(
            1 << 16, socket.CMSG_SPACE(MAX_FDS * 4), socket.MSG_CMSG_CLOEXEC)
        for level, kind, cdata in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                usable = len(cdata) - len(cdata) % 4
                self.fds.extend(struct.unpack("%di" % (usable // 4), cdata[:usable]))
        if flags & socket.MSG_CTRUNC:
            raise ProtocolError("control data truncated")
        if not data:
            return False
        self.buf += data
        return True

    def frames(self):
        """Yield the complete frames in the buffer as (message, fds)."""
        while len(self.buf) >= HEADER.size:
            magic, version, nfds, length = HEADER.unpack_from(self.buf)
            if magic != MAGIC or version != PROTOCOL_VERSION or length > MAX_FRAME or nfds > MAX_FDS:
                raise ProtocolError("bad frame header")
            if len(self.buf) < HEADER.size + length:
                return
            if len(self.fds) < nfds:
                raise ProtocolError("frame announces %d fds, %d arrived" % (nfds, len(self.fds)))
            payload = bytes(self.buf[HEADER.size:HEADER.size + length])
            del self.buf[:HEADER.size + length]
            fds, self.fds = self.fds[:nfds], self.fds[nfds:]
            yield _decode_payload(payload, fds), fds
        if not self.buf and self.fds:
            raise ProtocolError("fds arrived without a frame")


def encode_frame(message, fd_count=0):
    payload = json.dumps(message, separators=(",", ":")).encode()
    return HEADER.pack(MAGIC, PROTOCOL_VERSION, fd_count, len(payload)) + payload


def _send_frame(sock, frame, fds=()):
    if fds:
        # The fds travel with the first byte of the frame.
        sent = sock.sendmsg([frame], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, _fd_array(fds))])
        frame = frame[sent:]
    if frame:
        sock.sendall(frame)


class ProtocolError(Exception):
    pass


def _drain(channel):
    """(still open, the frames that have come) for a connection the zygote's loop found readable."""
    try:
        alive = channel.fill()
        return alive, list(channel.frames())
    except (OSError, ProtocolError):
        return False, []


def _decode_payload(payload, fds):
    """A frame's JSON object; anything else closes the fds that came with it."""
    try:
        message = json.loads(payload)
        if not isinstance(message, dict):
            raise ValueError("not an object")
    except ValueError:
        _close_all(fds)
        raise ProtocolError("payload is not a JSON object")
    return message


def _fd_array(fds):
    return struct.pack("%di" % len(fds), *fds)


def _close_all(fds):
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


# ---------------------------------------------------------------- preloading

def _library_roots():
    """Directories whose modules belong to the interpreter: stdlib and site-packages."""
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
    return tuple(sorted(roots))


LIBRARY_ROOTS = _library_roots()
STDLIB_ROOTS = tuple(sorted({os.path.realpath(p) for p in (sysconfig.get_paths().get("stdlib"),
                                                            sysconfig.get_paths().get("platstdlib")) if p}))


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

    def __init__(self):
        self.code = {}  # absolute path -> (source bytes, code)

    def remember(self, path, source):
        path = os.path.abspath(path)
        try:
            code = compile(source, path, "exec", dont_inherit=True)  # exactly as run_script would
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return  # the run reports it, as python would
        if len(self.code) >= self.LIMIT:
            self.code.clear()
        self.code[path] = (source, code)

    def compiled(self, source, path):
        known = self.code.get(path)
        if known is not None and known[0] == source:
            return known[1]
        return compile(source, path, "exec", dont_inherit=True)


COMPILED_SCRIPTS = CompiledScripts()


class Preloader:
    def __init__(self, skip):
        self.skip = set(skip)  # top-level names the daemon found unfit for a zygote
        self.preloaded = []  # names imported into the zygote, in order
        self.failed = {}  # name -> the error its import raised: not tried again
        self.not_shared = {}  # name -> why the last script that named it ran it itself
        self.replay = {}  # top-level name -> (stdout bytes, stderr bytes) its import wrote natively
        self._import_cache = {}  # (path, mtime_ns, size) -> names

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
                COMPILED_SCRIPTS.remember(path, source)
            except (SyntaxError, ValueError, OSError, RecursionError, MemoryError):
                names = []
            self._import_cache[key] = names
        return names

    def names_for_module(self, module, cwd):
        top = module.partition(".")[0]
        if top in local_module_names(cwd) or not self._is_library_module(top):
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

    def preload(self, script_dir, names, shadowed=None):
        """Import what can be shared. Returns a module name whose import had effects that a run
        must see itself (output, warnings, threads): the zygote is then unfit and is replaced.
        `shadowed`: the script directory's module names, if the caller has them already."""
        if shadowed is None:
            shadowed = local_module_names(script_dir)
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
            tainted = self._import(name)
            if tainted:
                return tainted
        return None

    def family_of(self, names, shadowed):
        """The third-party packages (site-packages, not the standard library) a script's
        imports name at the top level, sorted: runs of one family share a zygote that has
        imported them, and other runs never pay for them (a larger zygote forks slower, and
        its runs take more copy-on-write faults)."""
        family = set()
        for name, _ in names:
            top = name.partition(".")[0]
            if top in family or top in sys.builtin_module_names or _is_stdlib_name(top):
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
            if not any(real == root or real.startswith(root + os.sep) for root in LIBRARY_ROOTS):
                return False
        return True

    def _import(self, name):
        before_threads = threading.active_count()
        capture = io.StringIO()
        saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = capture
        native_output = NativeOutputCapture()
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


class NativeOutputCapture:
    """Points fds 1 and 2 at memory files while a module is imported, so that what C code
    writes there is kept for the runs instead of going to the daemon's log."""

    def __init__(self):
        _fflush_c_stdio()
        self.saved = (os.dup(1), os.dup(2))
        self.files = (os.memfd_create("pynwheel-stdout", os.MFD_CLOEXEC),
                      os.memfd_create("pynwheel-stderr", os.MFD_CLOEXEC))
        os.dup2(self.files[0], 1)
        os.dup2(self.files[1], 2)

    def finish(self):
        """Restores fds 1 and 2; returns (stdout bytes, stderr bytes) written meanwhile."""
        _fflush_c_stdio()
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


_LIBC = []  # [ctypes.CDLL(None)] once loaded: children inherit it instead of loading it per run


def libc():
    """The C library, loaded once (ctypes is standard library); None where ctypes is missing."""
    if not _LIBC:
        try:
            import ctypes
            _LIBC.append(ctypes.CDLL(None, use_errno=True))
        except Exception:
            _LIBC.append(None)
    return _LIBC[0]


class _C:
    """What the children call in the C library, looked up once in the zygote: in a freshly
    forked child the lookup costs more than the call."""
    empty_sigset = None
    environ_array = None  # [b"NAME=value", ...] -> an array the C environment can be
    set_environ = None  # (array): the C environment from now on
    sigqueue = None  # (pid, signo, value): a signal with a value, which kill cannot carry
    madvise = None


def _prepare_c_calls():
    lib = libc()
    if lib is None:
        return
    try:
        import ctypes
        lib.fflush, lib.pthread_sigmask, lib.prctl  # a CDLL keeps each function it looked up
        # union sigval is passed as its pointer member (a register on x86-64 and arm64)
        lib.sigqueue.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
        lib.sigqueue.restype = ctypes.c_int
        _C.sigqueue = lib.sigqueue
        lib.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        lib.madvise.restype = ctypes.c_int
        _C.madvise = lib.madvise
        _C.empty_sigset = ctypes.create_string_buffer(128)  # a sigset_t with room to spare
        environ = ctypes.c_void_p.in_dll(lib, "environ")
    except (AttributeError, ValueError):
        return

    def environ_array(entries):
        """[b"NAME=value", ...] as a C environment (NULL-terminated array of pointers)."""
        return (ctypes.c_char_p * (len(entries) + 1))(*entries)

    def set_environ(array):
        environ.value = ctypes.addressof(array)  # the caller keeps the array alive
    _C.environ_array = environ_array
    _C.set_environ = set_environ


def _fflush_c_stdio():
    try:
        libc().fflush(None)
    except Exception:
        pass


def fork_quietly():
    """os.fork, without Python 3.12's warning about forking a process that has threads. The
    zygote runs no Python thread (an import that starts one makes the zygote unfit and it is
    replaced), so its only threads are native pools that libraries start at import, such as
    OpenBLAS's; those register pthread_atfork handlers and start afresh in the child, and
    children_still_work() checks each import that this holds. The warning would only reach
    the daemon's log, and is not true here."""
    if sys.version_info < (3, 12):
        return os.fork()  # (no such warning: nothing to silence at each fork)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()


PROBE_TIMEOUT = 10.0
RELAY_ATTEMPTS = 8  # a relay declined by a spare let go at that moment is sent again
SPARES = 2  # pre-forked children a zygote keeps
SPARE_DELAY = 0.05  # seconds a spare waits for runs in progress to end before it is forked


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


def _is_stdlib_name(top):
    names = getattr(sys, "stdlib_module_names", None)  # 3.10+
    if names is not None:
        return top in names
    try:  # 3.9: where it would be found
        spec = importlib.machinery.PathFinder.find_spec(top)
    except (ImportError, ValueError):
        return False
    origin = os.path.realpath(spec.origin or "") if spec is not None and spec.origin else ""
    return (bool(origin) and "site-packages" not in origin
            and any(origin.startswith(root + os.sep) for root in STDLIB_ROOTS))


def _is_submodule(name):
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError, AttributeError):
        return False


_DIRECTORY_LISTINGS = {}  # directory -> ((st_ino, st_mtime_ns), module files' names, other names)


def local_module_names(directory):
    """Top-level module names that `directory` provides (it comes first on sys.path). The
    listing is kept while the directory's mtime stays (a run's children inherit it); whether a
    subdirectory is a package is looked at each time, as creating its __init__.py does not
    touch the directory's mtime."""
    try:
        st = os.stat(directory)
    except OSError:
        return set()
    stamp = (st.st_ino, st.st_mtime_ns)
    cached = _DIRECTORY_LISTINGS.get(directory)
    if cached is None or cached[0] != stamp:
        try:
            entries = os.listdir(directory)
        except OSError:
            return set()
        suffixes = tuple(importlib.machinery.all_suffixes())
        files = frozenset(entry.partition(".")[0] for entry in entries if entry.endswith(suffixes))
        others = tuple(entry for entry in entries if "." not in entry and entry not in files)
        cached = _DIRECTORY_LISTINGS[directory] = (stamp, files, others)
    names = set(cached[1])
    for entry in cached[2]:
        if os.path.isfile(os.path.join(directory, entry, "__init__.py")):
            names.add(entry)
    return names


# Signals a terminal sends to its whole foreground job: under python they reach the script's
# subprocesses too, so they go to the run's process group.
TERMINAL_SIGNALS = frozenset((signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP, signal.SIGCONT,
                              signal.SIGWINCH))


# ---------------------------------------------------------------- staleness

class ModuleWatcher:
    """Notices when anything the zygote imported may have changed on disk: a module edited,
    replaced or removed, or a package installed or removed in site-packages. inotify (through
    ctypes, so still the standard library) watches the directory of every imported module
    file; a run's check is one non-blocking read."""

    IN_MODIFY, IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE, IN_DELETE = 0x2, 0x40, 0x80, 0x100, 0x200
    IN_CLOSE_WRITE, IN_DELETE_SELF, IN_MOVE_SELF, IN_Q_OVERFLOW = 0x8, 0x400, 0x800, 0x4000
    EVENT = struct.Struct("iIII")

    def __init__(self):
        self.fd = -1
        self.watched = {}  # directory -> watch descriptor
        self.modules_watched = -1  # len(sys.modules) when their directories were last added
        self.directories = {}  # watch descriptor -> directory
        self.change = None  # the first change seen, as words
        self.checks = 0
        self.check_ns = 0
        try:
            self._libc = libc()
            if self._libc is None:
                raise OSError("no ctypes")
            self.fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        except Exception:
            self.fd = -1
        if self.fd < 0:
            self.change = None  # no inotify: checks fall back to nothing (documented)

    def watch_imported(self):
        """Watch the directories of every module file imported so far, and site-packages."""
        if self.fd < 0 or len(sys.modules) == self.modules_watched:
            return  # nothing imported since the last look (the zygote only ever adds modules)
        self.modules_watched = len(sys.modules)
        directories = set(LIBRARY_ROOTS)
        for module in list(sys.modules.values()):
            filename = getattr(module, "__file__", None)
            if isinstance(filename, str):
                directories.add(os.path.dirname(os.path.abspath(filename)))
        mask = (self.IN_MODIFY | self.IN_CLOSE_WRITE | self.IN_MOVED_FROM | self.IN_MOVED_TO |
                self.IN_CREATE | self.IN_DELETE | self.IN_DELETE_SELF | self.IN_MOVE_SELF)
        for directory in directories - set(self.watched):
            wd = self._libc.inotify_add_watch(self.fd, os.fsencode(directory), mask)
            if wd >= 0:
                self.watched[directory] = wd
                self.directories[wd] = directory

    def changed(self):
        """A description of the first change since the zygote imported its modules, or None."""
        if self.fd < 0 or self.change is not None:
            return self.change
        started = time.perf_counter_ns()
        try:
            while self.change is None:
                data = os.read(self.fd, 65536)
                offset = 0
                while offset < len(data) and self.change is None:
                    wd, mask, _, length = self.EVENT.unpack_from(data, offset)
                    name = data[offset + 16:offset + 16 + length].rstrip(b"\0").decode("utf-8", "surrogateescape")
                    offset += 16 + length
                    self.change = self._describe(wd, mask, name)
        except BlockingIOError:
            pass
        self.checks += 1
        self.check_ns += time.perf_counter_ns() - started
        return self.change

    def _describe(self, wd, mask, name):
        if mask & self.IN_Q_OVERFLOW:
            return "too many file changes to follow"
        if name == "__pycache__" or name.endswith((".pyc", ".tmp", "~")) or name.startswith(".#"):
            return None  # bytecode caches and editors' scratch files change nothing python sees
        directory = self.directories.get(wd, "?")
        what = {self.IN_MODIFY: "modified", self.IN_CLOSE_WRITE: "rewritten",
                self.IN_MOVED_FROM: "moved away", self.IN_MOVED_TO: "replaced",
                self.IN_CREATE: "created", self.IN_DELETE: "removed",
                self.IN_DELETE_SELF: "removed", self.IN_MOVE_SELF: "moved"}
        for bit, words in what.items():
            if mask & bit:
                return "%s was %s" % (os.path.join(directory, name) if name else directory, words)
        return None

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


# ---------------------------------------------------------------- the lane: runs without the daemon

RELAY_START_TIMEOUT = 2.0  # seconds a spare may take to say it started a relayed run
MAX_LANE_REQUEST = 1 << 20  # bytes: an environment and arguments of any sensible size
LANE_REQUEST_TIMEOUT = 10.0  # a client that connects and sends nothing is dropped


class LaneRefused(Exception):
    """A request the lane does not take: the client sends it to the daemon instead."""


class Lane:
    """The zygote's own listening socket, which its spares accept on. The native client
    connects to it directly (through the daemon's route for the script), so a warm run passes
    through neither the daemon nor the zygote: the spare that accepts checks the request and
    becomes the run. Anything it is not sure of is declined, and the client asks the daemon,
    which decides as always. The zygote relays the daemon's runs through it too, so that each
    spare is claimed by exactly one run however the runs come."""

    def __init__(self, config):
        self.path = config["socket"]
        self.client = config["client"]  # the pynwheel version whose clients it serves
        self.python = config["python"]  # the interpreter's path as the daemon keys it
        self.key_env = dict(config["keyEnv"])  # values of variables read once, at start or import
        # The names the daemon keys zygotes by, with this zygote's PYNWHEEL_KEY_ENV ones.
        self.key_names = frozenset(config["keyNames"]) | frozenset(self.key_env)
        try:
            st = os.stat(self.python)
            self.python_identity = (st.st_dev, st.st_ino)
        except OSError:
            self.python_identity = None
        self.scripts = {}  # (path, mtime_ns, size, ino) -> (import names, script dir, local names)
        self.sock = None
        self.ino = None
        self.address = None  # what the zygote connects to when it relays a run of the daemon's
        self.published = None  # the path clients find through the daemon's routes

    def open(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if self.path:
            try:
                try:
                    os.unlink(self.path)
                except FileNotFoundError:
                    pass
                old_umask = os.umask(0o177)
                try:
                    sock.bind(self.path)
                finally:
                    os.umask(old_umask)
                self.ino = os.stat(self.path).st_ino
                self.published = self.path
            except OSError as exc:
                # (A path too long for a socket, say.) The daemon's runs still need the lane:
                # an unnamed one, which only the zygote's relays know; peers are checked anyway.
                sys.stderr.write("pynwheel zygote: no lane at %s (%s); runs go through the daemon\n" % (self.path, exc))
                sock.close()
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.listen(128)  # an unbound socket is given an abstract address here
        sock.setblocking(False)  # the spares all wait on it; one wins each connection
        self.sock = sock
        self.address = sock.getsockname()

    def close(self, unlink=True):
        if self.sock is None:
            return
        if unlink and self.published:
            try:
                if os.stat(self.path).st_ino == self.ino:
                    os.unlink(self.path)
            except OSError:
                pass
        self.sock.close()
        self.sock = None

    def remember(self, path, names, script_dir, local):
        """The zygote ran this script as it is now: the same file may come by the lane. True if
        that is news (spares forked before do not know it)."""
        try:
            st = os.stat(path)
        except OSError:
            return False
        key = (path, st.st_mtime_ns, st.st_size, st.st_ino)
        known = (names, script_dir, frozenset(local))
        if self.scripts.get(key) == known:
            return False
        if len(self.scripts) > 4096:
            self.scripts.clear()
        self.scripts[key] = known
        return True

    def refusal(self, request, fds, watcher_fd):
        """Why this zygote cannot run `request` as the daemon would have it run here, or None.
        The daemon's own checks (lib/messages.ts) stay the judge of bad requests: anything
        unusual is declined and goes there."""
        r = request
        if r.get("type") != "run" or r.get("client") != self.client:
            return "not a run request of this version"
        file, cwd, env, stdio = r.get("file"), r.get("cwd"), r.get("env"), r.get("stdio")
        if not isinstance(file, str) or not file or "\0" in file or "module" in r:
            return "not a file run"
        if not isinstance(cwd, str) or not cwd.startswith("/") or "\0" in cwd:
            return "bad cwd"
        if not isinstance(r.get("args"), list) or not all(isinstance(a, str) and "\0" not in a for a in r["args"]):
            return "bad args"
        if not isinstance(env, dict) or "" in env or not all(type(v) is str for v in env.values()):
            return "bad env"
        names = "".join(env)  # (JSON names are strings) checked in C's loops, not Python's
        if "=" in names or "\0" in names or "\0" in "".join(env.values()):
            return "bad env"
        if not isinstance(r.get("argv0"), str) or not isinstance(r.get("cwdFd"), bool):
            return "bad request"
        if not isinstance(stdio, list) or len(stdio) != 3 or not all(isinstance(b, bool) for b in stdio):
            return "bad stdio"
        umask, limits = r.get("umask"), r.get("limits")
        if umask is not None and not (isinstance(umask, int) and 0 <= umask <= 0o777 and isinstance(limits, list) and all(
                isinstance(l, list) and len(l) == 3 and all(isinstance(v, int) and v >= -1 for v in l) for l in limits)):
            return "bad umask or limits"  # (without them the run reads the caller's in /proc)
        if "notify" in r and _status_notice(r, 1) is None:
            return "bad notify"
        if sum(stdio) + r["cwdFd"] != len(fds):
            return "fd count"
        for index, fd in enumerate(fds):
            if _is_directory_fd(fd) is not (r["cwdFd"] and index == len(fds) - 1):
                return "bad fds"  # stdio that is a directory, or a cwd fd that is not
        if r.get("python") != self.python:
            return "another interpreter"
        try:
            st = os.stat(self.python)
            if (st.st_dev, st.st_ino) != self.python_identity:
                return "the interpreter changed"
        except OSError:
            return "the interpreter is gone"
        names = self.key_names.union(_extra_key_names(env)) if "PYNWHEEL_KEY_ENV" in env else self.key_names
        if {name: env[name] for name in names.intersection(env)} != self.key_env:
            return "another environment"
        if watcher_fd >= 0 and _readable(watcher_fd):
            return "modules may have changed"
        path = os.path.join(cwd, file)
        try:
            st = os.stat(path)
        except OSError:
            return "no such script"
        known = self.scripts.get((path, st.st_mtime_ns, st.st_size, st.st_ino))
        if known is None:
            return "a script this zygote has not run"
        names, script_dir, local = known
        if local_module_names(script_dir) != local:
            return "the script's directory changed"
        r["importNames"] = names
        r["localModules"] = [script_dir, sorted(local)]
        return None


# Signals a client may ask its run's status to come by: ignored by default, so that one sent
# to a pid that is no longer the client's (a client killed, its pid taken) does no harm.
NOTIFY_SIGNALS = frozenset((signal.SIGURG, signal.SIGWINCH))


def _status_notice(request, caller_pid):
    """(pid, signo, token) if the request asks for its status by a signal to its client
    ("notify": [signo, token]), else None."""
    notify = request.get("notify")
    if not (isinstance(notify, list) and len(notify) == 2 and isinstance(caller_pid, int) and caller_pid > 0):
        return None
    signo, token = notify
    if type(signo) is not int or signo not in NOTIFY_SIGNALS or type(token) is not int or not 0 < token < 1 << 53:
        return None
    return caller_pid, signo, token


def _extra_key_names(env):
    """PYNWHEEL_KEY_ENV's names, as lib/zygote-key.ts reads them."""
    return [name for name in env.get("PYNWHEEL_KEY_ENV", "").replace(",", " ").split() if name]


def _is_directory_fd(fd):
    try:
        return stat.S_ISDIR(os.fstat(fd).st_mode)
    except OSError:
        return None


def _readable(fd):
    return bool(select.select([fd], [], [], 0)[0])


def _read_frame(sock, timeout=None):
    """Exactly one frame from a blocking socket (nothing after it is read): (message, fds).
    A client sends its request whole before it waits, so it is usually there already: it is
    read without waiting (and without setting the socket's timeout, two syscalls fewer), and
    only what has not come yet is waited for, at most `timeout` seconds."""
    def receive(size, control):
        try:
            return sock.recvmsg(size, control, socket.MSG_CMSG_CLOEXEC | socket.MSG_DONTWAIT)
        except BlockingIOError:
            if timeout is not None:
                sock.settimeout(timeout)
            return sock.recvmsg(size, control, socket.MSG_CMSG_CLOEXEC)

    fds = []
    header = b""
    while len(header) < HEADER.size:
        data, ancdata, flags, _ = receive(HEADER.size - len(header), socket.CMSG_SPACE(MAX_FDS * 4))
        for level, kind, cdata in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                usable = len(cdata) - len(cdata) % 4
                fds.extend(struct.unpack("%di" % (usable // 4), cdata[:usable]))
        if flags & socket.MSG_CTRUNC:
            _close_all(fds)
            raise ProtocolError("control data truncated")
        if not data:
            _close_all(fds)
            raise ProtocolError("closed before a request")
        header += data
    magic, version, nfds, length = HEADER.unpack(header)
    if magic != MAGIC or version != PROTOCOL_VERSION or length > MAX_LANE_REQUEST or nfds != len(fds):
        _close_all(fds)
        raise ProtocolError("bad frame header")
    payload = b""
    while len(payload) < length:
        try:
            chunk = receive(length - len(payload), 0)[0]
        except OSError:
            _close_all(fds)
            raise
        if not chunk:
            _close_all(fds)
            raise ProtocolError("closed within a request")
        payload += chunk
    if sock.gettimeout() is not None:
        sock.settimeout(None)
    return _decode_payload(payload, fds), fds


class Relay:
    """A run of the daemon's on its way to a spare through the lane."""

    def __init__(self, run_id, request, fds):
        self.run_id = run_id
        self.request = request
        self.fds = fds  # the daemon's, kept until the run has started (or will not)
        self.early_signals = []  # came before the start: the run gets them first thing, as python would
        self.sock = None
        self.attempts = 0


class LaneRun:
    """A run that came by the lane: its client's connection, which the zygote watches for
    signals to pass on and for the client's end (no run outlives its client)."""

    def __init__(self, sock):
        self.sock = sock
        self.channel = Channel(sock)

    def send(self, message):
        try:
            self.channel.send(message)
        except OSError:
            pass


# ---------------------------------------------------------------- the zygote's loop

class StatusBoard:
    """Exit statuses of runs, in memory shared by the zygote and its children (an anonymous
    shared mapping: no fd is left open in a run, as none is under python). Each child has a
    slot: a flag and the status, written by the child as its script ends."""

    SLOT = struct.Struct("ii")  # done (1) or not (0), status
    SLOTS = 4096

    def __init__(self):
        import mmap
        self.memory = mmap.mmap(-1, self.SLOT.size * self.SLOTS, flags=mmap.MAP_SHARED)
        self.free = list(range(self.SLOTS - 1, -1, -1))

    def take(self):
        """A clear slot for the next child, or -1 if all are taken (its status then comes only
        from waitpid)."""
        if not self.free:
            return -1
        slot = self.free.pop()
        self.SLOT.pack_into(self.memory, slot * self.SLOT.size, 0, 0)
        return slot

    def release(self, slot):
        self.free.append(slot)

    def write(self, slot, status):
        # The status first, then the flag (x86 and ARM64 keep these stores in order within a
        # page for a reader that reads the flag first; the zygote reads after a signal anyway).
        struct.pack_into("i", self.memory, slot * self.SLOT.size + 4, status)
        struct.pack_into("i", self.memory, slot * self.SLOT.size, 1)

    def read(self, slot):
        done, status = self.SLOT.unpack_from(self.memory, slot * self.SLOT.size)
        return status if done else None


class HotPages:
    """The pages of the zygote's memory that runs write to, so that a spare takes their
    copy-on-write faults while it waits instead of in the run. A forked CPython writes to every
    object it touches (reference counts), so a run's first touch of each such page costs a
    fault and a copy: about a hundred in a run of an empty script, 0.7 ms in all. Some runs'
    processes record, after their status is out, which pages of the zygote's private writable
    mappings they have their own copy of (/proc/self/pagemap: present and exclusively mapped);
    each spare faults those in before it waits (madvise MADV_POPULATE_WRITE, Linux 5.14), in
    place of going through a run's steps.
    The record is a file beside the zygote's lane, replaced whole (rename), so that runs that
    end together do not mix theirs."""

    LIMIT = 8192  # pages a spare copies ahead, at most (32 MiB of 4 KiB pages)
    RECORDING_RUNS = 8  # the zygote's first runs record, and then one run in RECORD_EVERY
    RECORD_EVERY = 32
    MADV_POPULATE_WRITE = 23
    # Byte 7 of a pagemap entry: bit 63 (0x80) present, bit 56 (0x01) exclusively mapped.
    _EXCLUSIVE = bytes(1 if b & 0x81 == 0x81 else 0 for b in range(256))

    def __init__(self, path):
        self.path = path  # None: not kept (a lane without a path)

    def clear(self):
        if self.path is not None:
            try:
                os.unlink(self.path)
            except OSError:
                pass

    def populate(self):
        """In a spare: fault in the pages the last recording run wrote to. False if there is
        no record (or no way to)."""
        if self.path is None or _C.madvise is None:
            return False
        try:
            with open(self.path, "rb") as f:
                data = f.read(self.LIMIT * 16 + 16)
        except OSError:
            return False
        import array
        ranges = array.array("Q")
        ranges.frombytes(data[:len(data) // 16 * 16])
        failed = 0
        for i in range(0, len(ranges), 2):
            failed += _C.madvise(ranges[i], ranges[i + 1], self.MADV_POPULATE_WRITE) != 0  # unmapped since, or an old kernel
        return len(ranges) > 0 and failed < len(ranges) // 2

    def should_record(self, runs_served):
        return self.path is not None and (runs_served < self.RECORDING_RUNS or runs_served % self.RECORD_EVERY == 0)

    def record(self):
        """In a run's process, once its status is out: which pages it has its own copy of."""
        import array
        page = os.sysconf("SC_PAGE_SIZE")
        ranges, total = array.array("Q"), 0
        with open("/proc/self/maps", "rb") as maps, open("/proc/self/pagemap", "rb", buffering=0) as pagemap:
            for line in maps:
                fields = line.split()
                if len(fields) < 5 or fields[1] != b"rw-p" or (len(fields) > 5 and fields[5].startswith(b"[") and fields[5] != b"[heap]"):
                    continue  # not private and writable, or the stack, vvar, ...
                low, high = (int(x, 16) for x in fields[0].split(b"-"))
                pagemap.seek(low // page * 8)
                flags = pagemap.read((high - low) // page * 8)[7::8].translate(self._EXCLUSIVE)
                for run in re.finditer(b"\x01+", flags):
                    count = min(run.end() - run.start(), self.LIMIT - total)
                    ranges.extend((low + run.start() * page, count * page))
                    total += count
                    if total >= self.LIMIT:
                        break
                if total >= self.LIMIT:
                    break
        temporary = "%s.%d" % (self.path, os.getpid())
        with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600), "wb") as f:
            f.write(ranges.tobytes())
        os.rename(temporary, self.path)


class Spare:
    """A pre-forked child, waiting on the lane for a run; `sock` is its own line to the zygote,
    on which it says when it took one. `generation` is the zygote's generation when it was
    forked, so the zygote can tell whether it still has every module and script the zygote
    knows now."""

    def __init__(self, pid, sock, generation):
        self.pid = pid
        self.sock = sock
        self.channel = Channel(sock)
        self.generation = generation


class Zygote:
    def __init__(self, fd, skip, preload, family, lane_config=None):
        self.channel = Channel(socket.socket(fileno=fd))
        self.lane = Lane(lane_config or {"socket": None, "client": None, "python": sys.executable,
                                         "keyNames": [], "keyEnv": {}})
        self.lane.open()
        self.hot_pages = HotPages(self.lane.published + ".hot" if self.lane.published else None)
        self.hot_pages.clear()  # a predecessor's of the same lane: another layout
        self.lane_runs = {}  # pid -> LaneRun, for runs whose client came by the lane
        self.lane_served = 0
        self.relays = {}  # relay socket fd -> Relay
        self.generation = 0  # bumped when a module is imported or a script becomes known
        self.preloader = Preloader(skip)
        # The third-party packages this zygote is for ([] for the interpreter's base zygote):
        # a run of another family is routed back to the daemon, which has a zygote for it.
        self.family = family
        self.unfit_at_start = None
        self.retiring = False  # stale or unfit: no more runs; it leaves when those in progress end
        wanted = list(dict.fromkeys(family + preload))
        if wanted:
            # Its family, and what a predecessor had when its files changed: warm at once.
            self.unfit_at_start = self.preloader.preload("/nonexistent", [(name, False) for name in wanted])
        self.watcher = ModuleWatcher()
        self.watcher.watch_imported()
        self.runs = {}  # pid -> run id
        self.runs_served = 0
        # The environment of the last run the daemon sent, in its order: most runs come from
        # the same shell, and spares build the C environment for it while they wait.
        self.caller_env = None
        self.spares = []  # pre-forked children waiting for runs, oldest (warmest) first: Spare
        self.spare_lines = {}  # pid -> Spare, for every spare whose line is open (retired ones too)
        self.last_handout = 0.0
        self.forks = {"spare": 0, "onDemand": 0}  # how runs got their process
        self.closed_in_child = False
        self.selector = None
        # Each run's child writes its exit status on the board once the script is done and
        # stdio is closed, and wakes the zygote, before its address space is torn down (tens
        # of milliseconds after tensorflow): the caller gets the status without waiting for that.
        self.board = StatusBoard()
        _prepare_c_calls()
        self.slots = {}  # pid -> its slot on the board, for each child
        self.reported = set()  # pids whose exit status came through the board
        self.slot = -1  # in a child: its own slot
        self.status_notice = None  # in a child: (client pid, signo, token) if its client asked
        self.wakeup_r, self.wakeup_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(self.wakeup_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda signo, frame: None)
        # Signals stay blocked here, and so at first in each child: one forwarded to a run that
        # has just been forked waits, pending, until the child has python's own dispositions.
        # The zygote itself leaves when the daemon closes its socket, not on a signal.
        signal.pthread_sigmask(signal.SIG_BLOCK, DEFERRED_SIGNALS)

    def serve(self):
        """Loop until the daemon hangs up. Returns (run, fds) only in a forked child."""
        self.channel.send({"type": "hello", "pid": os.getpid(), "python": sys.executable, "family": self.family,
                           "version": sys.version, "protocol": PROTOCOL_VERSION, "lane": self.lane.published})
        selector = self.selector = selectors.DefaultSelector()
        selector.register(self.channel.sock, selectors.EVENT_READ, "daemon")
        selector.register(self.wakeup_r, selectors.EVENT_READ, "children")
        if self.watcher.fd >= 0:
            selector.register(self.watcher.fd, selectors.EVENT_READ, "files")
        while True:
            timeout = None
            if self.lane.sock is None and not (self.runs or self.lane_runs or self.relays):
                if self.retiring:
                    self._shutdown()
                self._leave_if_stale(None, [])  # its modules changed, and its last run is over
            self._watch_backlog()
            if len(self.spares) < SPARES and self.runs_served > 0 and self.lane.sock is not None:
                # Fork the next runs' processes ahead, so that no run waits for a fork or for a
                # spare's warm-up (two: back-to-back runs find one ready while the next warms
                # up): once the runs in progress are done (a fork and a warm-up would compete
                # with them for the CPU), or after SPARE_DELAY if they go on. One fork per turn
                # of the loop, so a request that came meanwhile is served first.
                waited = time.monotonic() - self.last_handout
                if not (self.runs or self.lane_runs or self.relays) or waited >= SPARE_DELAY:
                    child = self._fork_spare(selector)
                    if child is not None:
                        return child
                    if len(self.spares) < SPARES:
                        timeout = 0
                else:
                    timeout = SPARE_DELAY - waited
            # Who took a run (a spare, a relayed run's start) before how runs ended: a run that
            # is over at once is known by then.
            for key, _ in sorted(selector.select(timeout), key=lambda event: not isinstance(event[0].data, tuple)):
                if isinstance(key.data, tuple):
                    kind, detail = key.data
                    if kind == "spare":
                        self._on_spare(detail)
                    elif kind == "relay":
                        self._on_relay(detail)
                    elif kind == "client":
                        self._on_lane_client(detail)
                    continue
                if key.data == "children":
                    self._drain_wakeup()
                    self._collect_statuses()
                    self._reap()
                    continue
                if key.data == "backlog":
                    # A client waits on the lane and no spare is there: fork one now.
                    child = self._fork_spare(selector, on_demand=True)
                    if child is not None:
                        return child
                    continue
                if key.data == "files":
                    if self.watcher.changed() is not None:
                        # No run may start from here any more: the lane closes (its spares
                        # decline, seeing the change), and an idle zygote leaves now, so the
                        # successor is warm before the next run.
                        self._close_lane()  # and the zygote leaves once its runs are over
                        selector.unregister(self.watcher.fd)
                    continue
                try:
                    if not self.channel.fill():
                        self._shutdown()
                    for message, fds in self.channel.frames():
                        child = self._handle(message, fds)
                        if child is not None:
                            selector.close()
                            return child
                except ProtocolError as exc:
                    sys.stderr.write("pynwheel zygote: protocol error from the daemon: %s\n" % exc)
                    self._shutdown()
                except (ConnectionError, OSError) as exc:
                    sys.stderr.write("pynwheel zygote: lost the daemon: %s\n" % exc)
                    self._shutdown()

    def _drain_wakeup(self):
        try:
            while os.read(self.wakeup_r, 512):
                pass
        except BlockingIOError:
            pass

    def _absorb_pending(self):
        """Read what spares and relays have said already: a child says it took a run before it
        runs it, so once it has exited (or written its status) that word is waiting here, and
        must be read before its end is handled."""
        lines = {spare.sock.fileno(): spare for spare in self.spare_lines.values()}
        watched = list(lines) + list(self.relays)
        for fd in select.select(watched, [], [], 0)[0] if watched else []:
            if fd in self.relays:
                self._on_relay(fd)
            else:
                self._on_spare(lines[fd])

    def _reap(self):
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG | os.WUNTRACED)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if os.WIFSTOPPED(status):
                # Stopped (Ctrl-Z passed on, SIGSTOP): the client stops too, as a shell's job.
                if pid in self.runs:
                    self.channel.send({"type": "stopped", "id": self.runs[pid], "signal": os.WSTOPSIG(status)})
                elif pid in self.lane_runs:
                    self.lane_runs[pid].send({"type": "stopped", "signal": os.WSTOPSIG(status)})
                continue
            # A spare that died waiting (killed from outside) is replaced; its line is closed
            # when its EOF is read.
            was_spare = any(spare.pid == pid for spare in self.spares)
            self.spares = [spare for spare in self.spares if spare.pid != pid]
            report = {"type": "exit"}
            if os.WIFSIGNALED(status):
                report["signal"] = os.WTERMSIG(status)
                report["core"] = bool(os.WCOREDUMP(status))
            else:
                report["code"] = os.WEXITSTATUS(status)
            if pid not in self.runs and pid not in self.lane_runs:
                self._absorb_pending()  # it ended before what it said (took, started) was read
                if was_spare and pid not in self.runs and pid not in self.lane_runs:
                    # It died waiting: a connection it was woken for (the others sleep on) is
                    # declined here, so that no client waits for it.
                    self._decline_pending()
            reported = pid in self.reported
            self.reported.discard(pid)
            slot = self.slots.pop(pid, None)
            if slot is not None:
                self.board.release(slot)
            lane_run = self.lane_runs.get(pid)
            if lane_run is not None:
                if not reported and lane_run.sock.fileno() >= 0:
                    lane_run.send(report)
                self._drop_lane_client(pid)
                del self.lane_runs[pid]
                self._tell_lane_counts()
                continue
            run_id = self.runs.pop(pid, None)
            if run_id is None or reported:
                continue
            report["id"] = run_id
            self.channel.send(report)

    def _handle(self, message, fds):
        kind = message.get("type")
        if kind == "run":
            return self._run(message, fds)
        _close_all(fds)
        if kind == "signal":
            signo = message.get("signo")
            self._signal(message.get("id"), signo, group=signo in TERMINAL_SIGNALS)
        elif kind == "kill":  # the client is gone
            self._signal(message.get("id"), signal.SIGKILL, group=True, unless_done=True)
        elif kind == "status":
            self.channel.send({"type": "status", "pid": os.getpid(), "runs": self.runs_served,
                               "active": len(self.runs) + len(self.lane_runs), "preloaded": self.preloader.preloaded,
                               "failed": self.preloader.failed,
                               "notShared": self.preloader.not_shared, "forks": self.forks,
                               "lane": {"served": self.lane_served, "active": len(self.lane_runs)},
                               "watchedDirectories": len(self.watcher.watched),
                               "staleChecks": self.watcher.checks,
                               "staleCheckNs": self.watcher.check_ns})
        return None

    def _signal(self, run_id, signo, group, unless_done=False):
        if not (isinstance(signo, int) and 0 < signo < signal.NSIG):
            return
        for pid, rid in self.runs.items():
            if rid == run_id and not (unless_done and self._script_done(pid)):
                self._kill(pid, signo, group)
        for relay in self.relays.values():
            if relay.run_id == run_id:  # not started yet: a signal (or the client's end) waits for it
                relay.early_signals.append((signo, group))

    def _run(self, request, fds):
        run_id = request.get("id")
        try:
            cwd = request.get("cwd") or "/"
            if request.get("module"):
                # `-m pkg.mod`: its package, and what the module imports at its top level.
                script_dir = cwd
                names = self.preloader.names_for_module(request["module"], cwd)
            else:
                path = os.path.join(cwd, request.get("file") or "")
                script_dir = os.path.dirname(os.path.realpath(path))
                names = self.preloader.names_for(path)
            if self.retiring:
                # (Sent before the daemon heard that this zygote is being replaced.)
                _close_all(fds)
                self.channel.send({"type": "stale", "id": run_id, "reason": "the zygote is being replaced"})
                return None
            if self._leave_if_stale(run_id, fds):
                return None
            # Listed once: for the family, the preload, and the run's own unshadowing.
            local = local_module_names(script_dir)
            family = self.preloader.family_of(names, local) if names else []
            if family != self.family:
                _close_all(fds)
                self.channel.send({"type": "route", "id": run_id, "family": family})
                return None
            modules_before = len(sys.modules)
            tainted = self.unfit_at_start or (self.preloader.preload(script_dir, names, local) if names else None)
            if tainted:
                _close_all(fds)
                self.channel.send({"type": "unfit", "id": run_id, "module": tainted[0],
                                   "reason": tainted[1]})
                self._retire()  # never forks again: its state is not fit for it
                return None
            if names:
                self.watcher.watch_imported()
            if len(sys.modules) != modules_before:
                self.generation += 1
            if not request.get("module") and self.lane.remember(path, names, script_dir, local):
                self.generation += 1  # the next runs of this script may come by the lane
            self._retire_outdated_spares()
            if isinstance(request.get("env"), dict):
                self.caller_env = request["env"]
            # The run's child need neither parse the script nor list its directory again.
            request["importNames"] = names
            request["localModules"] = [script_dir, sorted(local)]
            request["relay"] = True
            return self._relay(run_id, request, fds)
        except Exception as exc:
            _close_all(fds)
            self.channel.send({"type": "failed", "id": run_id, "message": "%s: %s" % (type(exc).__name__, exc)})
            return None

    def _relay(self, run_id, request, fds):
        """Hand the daemon's run to a spare through the lane, as any client would. The spare
        that accepts says `started` (the daemon learns the pid then); the daemon's fds are
        closed only then, as closing fds still in flight costs the kernel a collection."""
        self._send_relay(Relay(run_id, request, fds))
        self.forks["spare" if self.spares else "onDemand"] += 1
        if not self.spares:
            return self._fork_spare(self.selector, on_demand=True)
        return None

    def _send_relay(self, relay):
        while True:
            relay.attempts += 1
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                sock.connect(self.lane.address)
            except OSError:
                sock.close()
                raise OSError("the zygote's lane is closed or full")
            sock.setblocking(True)
            try:
                Channel(sock).send(relay.request, relay.fds)
                break
            except OSError:
                # A spare let go at that moment was woken for it, and declined it unread.
                sock.close()
                if relay.attempts >= RELAY_ATTEMPTS:
                    raise
        relay.sock = sock
        self.relays[sock.fileno()] = relay
        self.last_handout = time.monotonic()  # no spare is forked while it starts (SPARE_DELAY)
        self.selector.register(sock, selectors.EVENT_READ, ("relay", sock.fileno()))

    def _on_relay(self, fd, resend=True):
        if fd not in self.relays:
            return  # read already (while reaping)
        relay = self.relays.pop(fd)
        run_id, sock, fds = relay.run_id, relay.sock, relay.fds
        try:
            self.selector.unregister(sock)
        except (KeyError, ValueError):
            pass
        try:
            message, _ = _read_frame(sock)
        except (OSError, ProtocolError):
            message = {}
        sock.close()
        if message.get("type") == "decline" and resend and relay.attempts < RELAY_ATTEMPTS and self.lane.sock is not None:
            # A spare let go just as it was woken for this relay: the next spare takes it.
            try:
                return self._send_relay(relay)
            except OSError:
                pass
        _close_all(fds)
        pid = message.get("pid")
        if message.get("type") != "started" or not isinstance(pid, int):
            if self.lane.sock is None and self.watcher.change is not None:
                # The lane closed under it (modules changed): nothing ran, the successor runs it.
                self.channel.send({"type": "stale", "id": run_id, "reason": self.watcher.change,
                                   "preloaded": self.preloader.preloaded})
            else:
                self.channel.send({"type": "failed", "id": run_id, "message": "the run's process did not start"})
            return
        self.runs[pid] = run_id
        self.channel.send({"type": "started", "id": run_id, "pid": pid})
        # The child holds signals blocked until it is the run: these reach python's handlers.
        for signo, group in relay.early_signals:
            self._kill(pid, signo, group)

    def _on_spare(self, spare):
        """A spare took a run (and closes its line), or left."""
        if spare.sock.fileno() < 0:
            return  # read to its end already (while reaping it)
        alive, frames = _drain(spare.channel)
        for message, fds in frames:
            if message.get("type") != "took":
                _close_all(fds)
                continue
            alive = False
            self.runs_served += 1
            self.last_handout = time.monotonic()
            if message.get("lane") and len(fds) == 1:
                run = self.lane_runs[spare.pid] = LaneRun(socket.socket(fileno=fds[0]))
                self.selector.register(run.sock, selectors.EVENT_READ, ("client", spare.pid))
                self.lane_served += 1
                self.forks["spare"] += 1
                self._tell_lane_counts()
            else:
                _close_all(fds)
        if not alive:
            self.selector.unregister(spare.sock)
            spare.sock.close()
            self.spare_lines.pop(spare.pid, None)
            if spare in self.spares:
                self.spares.remove(spare)

    def _on_lane_client(self, pid):
        """The client of a lane run sent a signal to pass on, or went away."""
        run = self.lane_runs.get(pid)
        if run is None or run.sock.fileno() < 0:
            return
        alive, frames = _drain(run.channel)
        for message, fds in frames:
            _close_all(fds)
            signo = message.get("signo")  # by number (the runner), or by name (the Node client)
            if isinstance(message.get("signal"), str) and message["signal"].startswith("SIG"):
                signo = getattr(signal.Signals, message["signal"], None)
            if message.get("type") == "signal" and isinstance(signo, int) and 0 < signo < signal.NSIG:
                self._kill(pid, signo, group=signo in TERMINAL_SIGNALS)
            else:
                alive = False  # not what a client says during a run
        if not alive:
            # No run outlives its client (one that is over, and told its client so, has ended).
            if not self._script_done(pid):
                self._kill(pid, signal.SIGKILL, group=True)
            self._drop_lane_client(pid)

    def _drop_lane_client(self, pid):
        run = self.lane_runs.get(pid)
        if run is not None and run.sock.fileno() >= 0:
            self.selector.unregister(run.sock)
            run.sock.close()

    def _kill(self, pid, signo, group):
        try:
            if group:
                os.killpg(pid, signo)
            else:
                os.kill(pid, signo)
        except OSError:
            pass

    def _tell_lane_counts(self):
        """The daemon keeps zygotes with runs in progress and counts runs: it hears of the
        lane's here (after the run started, off its path)."""
        self.channel.send({"type": "lane", "active": len(self.lane_runs), "served": self.lane_served})

    def _decline_pending(self):
        if self.lane.sock is None or not _readable(self.lane.sock.fileno()):
            return
        try:
            conn, _ = self.lane.sock.accept()
        except OSError:
            return
        _decline(conn, "its spare died")

    def _watch_backlog(self):
        """Without a waiting spare, the zygote itself watches the lane, to fork one for a client."""
        watching = self.lane.sock is not None and not self.spares
        registered = self.selector.get_map().get(self.lane.sock) is not None if self.lane.sock is not None else False
        if watching and not registered:
            self.selector.register(self.lane.sock, selectors.EVENT_READ, "backlog")
        elif registered and not watching:
            self.selector.unregister(self.lane.sock)

    def _retire_outdated_spares(self):
        """Spares forked before the last import or newly known script would run it slower or
        decline it: they go (each finishes a run it took meanwhile), and fresh ones come."""
        for spare in [spare for spare in self.spares if spare.generation != self.generation]:
            self.spares.remove(spare)
            try:
                spare.sock.shutdown(socket.SHUT_WR)  # it leaves on EOF; what it says is still read
            except OSError:
                pass

    def _close_lane(self):
        if self.selector is not None and self.lane.sock is not None and self.selector.get_map().get(self.lane.sock) is not None:
            self.selector.unregister(self.lane.sock)
        self.lane.close()
        self.generation += 1
        self._retire_outdated_spares()

    def _leave_if_stale(self, run_id, fds):
        """A module file changed since it was imported: this zygote would run old code. Hand
        the run back (the daemon starts a successor that preloads the same modules) and retire.
        True if it did."""
        change = self.watcher.changed()
        if change is None:
            return False
        _close_all(fds)
        self.channel.send({"type": "stale", "id": run_id, "reason": change,
                           "preloaded": self.preloader.preloaded})
        self._retire()
        return True

    def _retire(self):
        """No more runs start here (the lane closes, the daemon's go to a successor), but the
        runs in progress go on to their end, as they would under python, and then it leaves."""
        self.retiring = True
        self._close_lane()
        if not (self.runs or self.lane_runs or self.relays):
            self._shutdown()

    def _fork(self):
        sys.stdout.flush()
        sys.stderr.flush()
        gc.freeze()  # children then never copy these objects' pages when they collect
        slot = self.board.take()
        pid = fork_quietly()
        if pid == 0:
            self.slot = slot
            return 0
        if slot >= 0:
            self.slots[pid] = slot
        return pid

    def _script_done(self, pid):
        """Whether the run's script is over (its status is on the board): only its address space
        is being torn down. Its client may be gone by then, and what it left running (a
        background process in its group) lives on, as after python."""
        slot = self.slots.get(pid)
        return slot is not None and self.board.read(slot) is not None

    def _collect_statuses(self):
        """Runs whose script is done (their status is on the board), told before waitpid can."""
        for pid, slot in self.slots.items():
            if pid in self.reported or not (pid in self.runs or pid in self.lane_runs):
                continue
            status = self.board.read(slot)
            if status is None:
                continue
            self.reported.add(pid)
            lane_run = self.lane_runs.get(pid)
            if lane_run is not None:
                lane_run.send({"type": "exit", "code": status})
            else:
                self.channel.send({"type": "exit", "id": self.runs.pop(pid), "code": status})

    def _fork_spare(self, selector, on_demand=False):
        """Pre-fork a child that waits on the lane for the next run. Returns (run, fds) in that
        child once it has taken one; None in the zygote."""
        ours, theirs = socket.socketpair()
        pid = self._fork()
        if pid != 0:
            theirs.close()
            spare = Spare(pid, ours, self.generation)
            self.spares.append(spare)
            self.spare_lines[pid] = spare
            selector.register(ours, selectors.EVENT_READ, ("spare", spare))
            self._watch_backlog()
            return None
        ours.close()
        selector.close()
        prepare_child(self)
        if not on_demand and not self.hot_pages.populate():
            # No record of a run's pages yet: the spare takes their faults by going through
            # a run's steps itself.
            _warm_up()
            _warm_up_lane(self)
        _ready_per_process_state(self.caller_env)
        return self._wait_as_spare(theirs)

    def _wait_as_spare(self, theirs):
        """In a spare: accept on the lane until a run is taken. Leaves when the zygote lets it
        go (EOF on its line) or dies. A connection wakes one waiting spare (EPOLLEXCLUSIVE):
        the others sleep on, rather than race it for the accept and for the CPU the run needs.
        So a spare woken for a connection never leaves it behind: one that is let go at that
        moment declines it (the client asks the daemon)."""
        # A fresh interpreter lists directories anew (a package installed a moment ago is
        # found): import finders forget their listings now, and list again at the run's first
        # import; nothing imports while a spare waits, so that is as fresh as at its start.
        importlib.invalidate_caches()
        lane = self.lane.sock
        poller = select.epoll()
        poller.register(theirs, select.EPOLLIN)
        poller.register(lane, select.EPOLLIN | getattr(select, "EPOLLEXCLUSIVE", 0))
        while True:
            ready = dict(poller.poll())
            leaving = theirs.fileno() in ready  # let go (outdated, or the lane closed), or the zygote died
            if lane.fileno() in ready:
                try:
                    conn, _ = lane.accept()
                except (BlockingIOError, InterruptedError):
                    conn = None  # another spare took it
                except OSError:
                    os._exit(0)
                if conn is not None and leaving:
                    _decline(conn, "the zygote let this spare go")
                elif conn is not None:
                    taken = self._take(conn, theirs)
                    if taken is not None:
                        poller.close()  # not the run's
                        return taken
            if leaving:
                os._exit(0)

    def _take(self, conn, theirs):
        """Read a lane client's request; decline it (the client asks the daemon) or take it:
        tell the zygote, then the client, and become the run. Returns (request, fds) or None."""
        try:
            peer_pid, peer_uid, _ = struct.unpack("3i", conn.getsockopt(
                socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
            if peer_uid != os.getuid():
                raise LaneRefused("this zygote serves uid %d only" % os.getuid())
            request, fds = _read_frame(conn, LANE_REQUEST_TIMEOUT)
            relayed = peer_pid == os.getppid() and request.get("relay") is True
            if not relayed:
                reason = self.lane.refusal(request, fds, self.watcher.fd)
                # Last, so that a change to a module noticed by now is declined (the zygote
                # lets its spares go when it sees one).
                if reason is None and _readable(theirs.fileno()):
                    reason = "the zygote let this spare go"
                if reason is not None:
                    _close_all(fds)
                    raise LaneRefused(reason)
                request["callerPid"] = peer_pid
        except LaneRefused as refusal:
            _decline(conn, str(refusal))
            return None
        except (OSError, ProtocolError):
            conn.close()
            return None
        try:
            if relayed:
                _send_frame(theirs, _SPARE_FRAMES["took relay"])
            else:
                _send_frame(theirs, _SPARE_FRAMES["took lane"], [conn.fileno()])
        except OSError:
            _close_all(fds)  # the zygote is gone: nothing ran, and the client learns by EOF
            os._exit(0)
        theirs.close()
        try:
            _send_frame(conn, _SPARE_FRAMES["started"])
        except OSError:
            pass  # the client is gone; the zygote, which heard of the run, ends it
        conn.close()  # the zygote has its own copy of a lane client's, and speaks to it from now on
        return request, fds

    def _shutdown(self):
        """The daemon is gone or asked us to go: no run may outlive us."""
        # A relayed run may have started already: the daemon must hear so (and not give it to
        # another zygote, which would run it twice) before it is ended with the rest.
        for fd in list(self.relays):
            self.relays[fd].sock.settimeout(RELAY_START_TIMEOUT)
            try:
                self._on_relay(fd, resend=False)
            except OSError:
                pass
        for spare in self.spare_lines.values():  # waiting, or just taken a run we did not hear of
            try:
                os.kill(spare.pid, signal.SIGKILL)
            except OSError:
                pass
        for pid in list(self.runs) + list(self.lane_runs):
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
        self.lane.close()
        self.hot_pages.clear()
        os._exit(0)

    def close_in_child(self):
        if self.closed_in_child:
            return
        self.closed_in_child = True
        for spare in self.spare_lines.values():
            spare.sock.close()
        self.spare_lines.clear()
        for relay in self.relays.values():
            relay.sock.close()
            _close_all(relay.fds)
        self.relays.clear()
        for run in self.lane_runs.values():
            run.sock.close()
        self.lane_runs.clear()
        self.slots.clear()
        signal.set_wakeup_fd(-1)
        os.close(self.wakeup_r)
        os.close(self.wakeup_w)
        self.channel.sock.close()


# ---------------------------------------------------------------- the child: become the run

def prepare_child(zygote):
    """What every run's process does first, whatever the run: a spare does it while it waits."""
    if zygote.closed_in_child:
        return
    zygote.close_in_child()
    _restore_signals()
    os.setpgid(0, 0)
    _die_with_parent()


def _warm_up():
    """A spare, while it waits, goes once through the steps of a run's start on harmless
    inputs. A forked child's first touch of each page of the zygote's objects and code costs a
    copy-on-write fault: taken here, they are off the run's path (milliseconds in all)."""
    try:
        json.loads(json.dumps({"type": "run", "env": dict(os.environ), "args": ["x"], "stdio": [True]}))
        os.umask(os.umask(0))  # (limits: _ready_per_process_state, which every spare goes through)
        env = dict(os.environ)
        _replace_environment(dict(reversed(env.items())))  # and back: the same in the end
        _replace_environment(env)
        local_module_names(os.getcwd())
        types.ModuleType("__main__")
        compile("pass\n", "<warm-up>", "exec", dont_inherit=True)
        _is_zip(ZYGOTE_FILE)
        struct.pack("i", 0)
        gc.collect()  # as the run's exit does
        _stdio_streams({}, [fd for fd in (0, 1, 2) if _fd_is_open(fd)])
    except Exception:
        pass  # only a warm-up: the run does each step for real


def _ready_per_process_state(caller_env):
    """What every spare readies for its run, warmed up or not: numpy's generator reseeded, the
    environment it expects (the daemon's last run's, as most runs come from the same shell; the
    zygote's own lacks pynwheel's variables), the frames it will send, and its resource limits
    noted (a run with the same ones need not set them)."""
    _reseed_numpy()
    _expect_environment(caller_env if caller_env is not None else dict(os.environ))
    _spare_frames()
    try:
        import resource
        _set_limits([[which, *resource.getrlimit(which)] for which in range(getattr(resource, "RLIM_NLIMITS", 16))])
    except Exception:
        pass


def _decline(conn, reason):
    """Nothing ran: the lane client asks the daemon instead."""
    try:
        Channel(conn).send({"type": "decline", "reason": reason})
    except OSError:
        pass
    conn.close()


def _warm_up_lane(zygote):
    """The lane's steps too, on a private socket: accept, peer credentials, a request read and
    checked (it is declined at the last check: there is no such script)."""
    sockets, fds = [], []
    try:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sockets.append(listener)
        listener.listen(1)  # unnamed: an abstract address of its own
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sockets.append(client)
        client.connect(listener.getsockname())
        conn, _ = listener.accept()
        sockets.append(conn)
        conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        fds.append(devnull)
        lane = zygote.lane
        Channel(client).send({"type": "run", "client": lane.client, "file": "\0warm-up", "args": [], "cwd": "/",
                              "env": dict(os.environ), "python": lane.python, "argv0": "python3",
                              "stdio": [True, True, True], "cwdFd": False, "umask": 0o22, "limits": [[0, -1, -1]]},
                             [devnull] * 3)
        request, received = _read_frame(conn, LANE_REQUEST_TIMEOUT)
        fds += received
        request["file"] = "/nonexistent/warm-up"
        lane.refusal(request, received, zygote.watcher.fd)
        Channel(conn).send({"type": "started", "pid": 0})
    except Exception:
        pass  # only a warm-up
    _close_all(fds)
    for sock in sockets:
        sock.close()


_SPARE_FRAMES = {}  # what a spare says when it takes a run, encoded as it waits


def _spare_frames():
    _SPARE_FRAMES.update({  # (in the spare: "started" carries its pid)
        "took lane": encode_frame({"type": "took", "lane": True}, 1),  # with the client's connection
        "took relay": encode_frame({"type": "took", "lane": False}),
        "started": encode_frame({"type": "started", "pid": os.getpid()}),
    })


def _take_environment(env):
    """os.environ (and the C environment, in the caller's order) replaced by the caller's. A
    caller whose names start with the ones the spare expected, in their order (the same shell,
    perhaps with more variables after them), gets the environment the spare built, the values
    that differ set and the other names appended (as setenv does). Anything else is built anew."""
    expected = _EXPECTED_ENVIRONMENT
    names = list(env)
    count = len(expected[0]) if expected else -1
    if count < 0 or names[:count] != expected[0]:  # (one comparison in C)
        _replace_environment(env)
        return
    if expected[2] is not None:
        _install_environment(*expected[2])
    values = list(env.values())
    if values[:count] != expected[1]:  # (a shell sets $_ per command, for one)
        for name, value, built in zip(names, values, expected[1]):
            if value != built:
                os.environ[name] = value
    for name, value in zip(names[count:], values[count:]):
        os.environ[name] = value


# What a spare expects its run's environment to be, made ready while it waits: [names, values,
# (encoded items, C array) to install, or None if it is this process's already].
_EXPECTED_ENVIRONMENT = []


def _expect_environment(env):
    try:
        ready = None if list(env.items()) == list(os.environ.items()) else _build_environment(env)
        _EXPECTED_ENVIRONMENT[:] = [list(env), list(env.values()), ready]
    except Exception:
        _EXPECTED_ENVIRONMENT.clear()  # (a value the locale cannot encode: built at the run)


_ENVIRONS = []  # the C environment array built here, which the C library now points into


def _replace_environment(env):
    """The C environment built anew, in the caller's order (setenv could only append new
    names, and unsetenv and setenv one name at a time cost more), and os.environ to match."""
    _install_environment(*_build_environment(env))


def _build_environment(env):
    """(os.environ's encoded items, the C environment array or None without ctypes)."""
    pairs = [(os.environ.encodekey(name), os.environ.encodevalue(value)) for name, value in env.items()]
    array = _C.environ_array([name + b"=" + value for name, value in pairs]) if _C.set_environ is not None else None
    return pairs, array


def _install_environment(pairs, array):
    data = os.environ._data  # bytes -> bytes, which os.environb shares
    if array is not None:
        _C.set_environ(array)
        _ENVIRONS[:] = [array]  # the C library points into it from now on
    else:  # no ctypes: the same through the C library's own calls
        for name in list(data):
            os.unsetenv(name)
        for name, value in pairs:
            os.putenv(name, value)
    data.clear()
    data.update(pairs)


def become_run(zygote, request, fds):
    """Turn this forked child into the caller's `python FILE ARGS`."""
    prepare_child(zygote)
    zygote.watcher.close()  # a spare's, to decline runs after a change; not the run's
    zygote.lane.close(unlink=False)
    open_fds = _take_stdio(request, fds)
    _take_process_attributes(request.get("callerPid"), request)
    zygote.status_notice = _status_notice(request, request.get("callerPid"))
    env = request.get("env") or {}
    _take_environment(env)
    _make_stdio_objects(env, open_fds)
    _fresh_per_run_state()
    gc.enable()
    # Last: signals that arrived since the fork are delivered now, to python's handlers.
    _unblock_signals()


def _unblock_signals():
    """pthread_sigmask(SIG_SETMASK, {}) by the C library: Python's own would build the old mask
    as a set of Signals members (a tenth of a millisecond, for a value nobody reads)."""
    try:
        if _C.empty_sigset is not None and libc().pthread_sigmask(signal.SIG_SETMASK, _C.empty_sigset, None) == 0:
            return
    except Exception:
        pass
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


RLIMITS = {  # /proc/<pid>/limits row -> resource constant
    "Max cpu time": "RLIMIT_CPU", "Max file size": "RLIMIT_FSIZE", "Max data size": "RLIMIT_DATA",
    "Max stack size": "RLIMIT_STACK", "Max core file size": "RLIMIT_CORE",
    "Max resident set": "RLIMIT_RSS", "Max processes": "RLIMIT_NPROC",
    "Max open files": "RLIMIT_NOFILE", "Max locked memory": "RLIMIT_MEMLOCK",
    "Max address space": "RLIMIT_AS", "Max file locks": "RLIMIT_LOCKS",
    "Max pending signals": "RLIMIT_SIGPENDING", "Max msgqueue size": "RLIMIT_MSGQUEUE",
    "Max nice priority": "RLIMIT_NICE", "Max realtime priority": "RLIMIT_RTPRIO",
}


def _take_process_attributes(caller_pid, request):
    """The caller's umask and resource limits: a run has what python started from the caller's
    shell would have. The native client sends them (getrlimit is cheaper than /proc); otherwise
    they are read from /proc/<caller>. (A limit above the zygote's hard limit cannot be raised;
    it stays at the zygote's.)"""
    umask, limits = (request.get("umask"), request.get("limits")) if request else (None, None)
    if isinstance(umask, int) and isinstance(limits, list):
        os.umask(umask & 0o777)
        _set_limits(limits)
        return
    if not isinstance(caller_pid, int) or caller_pid <= 0:
        return
    try:
        with open("/proc/%d/status" % caller_pid) as f:
            for line in f:
                if line.startswith("Umask:"):
                    os.umask(int(line.split()[1], 8))
                    break
        with open("/proc/%d/limits" % caller_pid) as f:
            rows = f.read().splitlines()[1:]
    except (OSError, ValueError):
        return
    import resource
    for row in rows:
        for label, name in RLIMITS.items():
            if not row.startswith(label) or not hasattr(resource, name):
                continue
            fields = row[len(label):].split()
            try:
                soft, hard = (resource.RLIM_INFINITY if v == "unlimited" else int(v) for v in fields[:2])
                resource.setrlimit(getattr(resource, name), (soft, hard))
            except (ValueError, OSError):
                try:  # the hard limit cannot go up: take at least the soft one
                    current_hard = resource.getrlimit(getattr(resource, name))[1]
                    resource.setrlimit(getattr(resource, name), (min(soft, current_hard), current_hard))
                except (ValueError, OSError, UnboundLocalError):
                    pass


_LIMITS_AS_THEY_ARE = []  # the last limits set or found to be so, as a client sends them


def _set_limits(limits):
    """[[resource, soft, hard], ...] with -1 for unlimited; only those that differ are set."""
    if limits == _LIMITS_AS_THEY_ARE:
        return  # (the spare's warm-up found them so: a caller of the same shell)
    import resource
    for entry in limits:
        try:
            which, soft, hard = (resource.RLIM_INFINITY if v == -1 else v for v in entry)
            if resource.getrlimit(which) == (soft, hard):
                continue
            resource.setrlimit(which, (soft, hard))
        except (ValueError, OSError, TypeError):
            try:  # the hard limit cannot go up: take at least the soft one
                current_hard = resource.getrlimit(which)[1]
                resource.setrlimit(which, (min(soft, current_hard), current_hard))
            except (ValueError, OSError, TypeError, UnboundLocalError):
                pass
    _LIMITS_AS_THEY_ARE[:] = limits


def _reseed_numpy():
    """numpy's global generator, seeded from the system's entropy as at numpy's import: each
    process has its own. A spare does it before it waits (each spare runs one run), as it costs
    a run of a numpy zygote 0.4 ms of faults and entropy."""
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is not None:
        try:
            numpy_random.seed()
        except Exception:
            pass


def _fresh_per_run_state():
    """State a fresh interpreter would not share with any other run. `random` reseeds itself
    at fork, and the spare has reseeded numpy's global generator; faulthandler's stream is
    ours to renew."""
    faulthandler = sys.modules.get("faulthandler")
    if faulthandler is not None and faulthandler.is_enabled() and sys.stderr is not None:
        faulthandler.enable(file=sys.stderr, all_threads=True)  # the run's stderr, not the log


def _restore_signals():
    """Dispositions as a fresh python has them; the zygote's handlers must not leak."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _die_with_parent():
    """If the zygote is killed, its runs go too (no orphans). Linux only; best effort."""
    try:
        PR_SET_PDEATHSIG = 1
        libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except Exception:
        return
    if os.getppid() == 1:  # the zygote died before prctl took effect
        os._exit(1)


def _take_stdio(request, fds):
    """The caller's stdio as fds 0-2 (one it had closed is closed), and its cwd. Returns the
    stdio fds that are open."""
    stdio = request.get("stdio") or [True, True, True]
    received = list(fds)
    open_fds = []
    for target in (0, 1, 2):
        if stdio[target] and received:
            open_fds.append(target)
            fd = received.pop(0)
            if fd != target:
                os.dup2(fd, target)
                os.close(fd)
            else:
                os.set_inheritable(fd, True)
        else:
            try:
                os.close(target)
            except OSError:
                pass
    if request.get("cwdFd") and received:
        fd = received.pop(0)
        os.fchdir(fd)
        os.close(fd)
    else:
        os.chdir(request.get("cwd") or "/")
    _close_all(received)
    return open_fds


def _make_stdio_objects(env, open_fds):
    """sys.stdin/stdout/stderr as python's create_stdio builds them for these fds."""
    streams = _stdio_streams(env, open_fds)
    sys.stdin, sys.stdout, sys.stderr = streams
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = streams


def _fd_is_open(fd):
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


def _stdio_streams(env, open_fds):
    """The three text streams python would build on fds 0-2 (None for one not in open_fds)."""
    unbuffered = bool(env.get("PYTHONUNBUFFERED"))
    # The zygote's own stdio has the locale's choices (the locale is in its key, and the daemon
    # keeps PYTHONIOENCODING out of its environment); PYTHONIOENCODING applies per run, as in
    # CPython's config_init_stdio_encoding: a name is normalised, and an encoding given without
    # an error handler means "strict".
    encoding, _, errors = (env.get("PYTHONIOENCODING") or "").partition(":")
    if encoding:
        import codecs
        try:
            encoding = codecs.lookup(encoding).name
        except LookupError:
            pass  # python fails at start-up here; TextIOWrapper will say the same below
        errors = errors or "strict"
    default = sys.__stdout__ or sys.__stderr__
    encoding = encoding or (default.encoding if default else "utf-8")
    out_errors = errors or (sys.__stdout__.errors if sys.__stdout__ else "strict")
    in_errors = errors or (sys.__stdin__.errors if sys.__stdin__ else out_errors)
    streams = []
    for fd, name, mode, errs in ((0, "<stdin>", "r", in_errors), (1, "<stdout>", "w", out_errors),
                                 (2, "<stderr>", "w", "backslashreplace")):
        if fd not in open_fds:
            streams.append(None)
            continue
        buffered = not (unbuffered and mode == "w")
        raw_or_buffered = io.open(fd, mode + "b", buffering=-1 if buffered else 0, closefd=False)
        raw = raw_or_buffered.raw if buffered else raw_or_buffered
        raw.name = name
        line_buffering = buffered and (raw.isatty() or fd == 2)
        stream = io.TextIOWrapper(raw_or_buffered, encoding, errs, "\n",
                                  line_buffering, unbuffered)
        stream.mode = mode
        streams.append(stream)
    return streams


def run_script(request):
    """Run the request's file or module as __main__. Exceptions propagate to the top level."""
    argv0 = request.get("argv0") or sys.executable
    args = [str(a) for a in request.get("args") or []]
    main = types.ModuleType("__main__")
    sys.modules["__main__"] = main
    if request.get("module"):
        sys.argv = ["-m"] + args
        sys.orig_argv = [argv0, "-m", request["module"]] + args
        if not getattr(sys.flags, "safe_path", False):
            sys.path.insert(0, os.getcwd())
            _unshadow(os.getcwd(), request)
        import runpy
        runpy._run_module_as_main(request["module"], alter_argv=True)
        return
    script = request["file"]
    _replay_native_output(request)
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
    if source is None or (ZIP_END_RECORD in source[-(1 << 16) - 64:] and _is_zip(path)):
        # A directory or zip file with __main__.py, as python runs it (from its absolute path).
        sys.path.insert(0, path)
        import runpy
        runpy._run_module_as_main("__main__", alter_argv=False)
        return
    given = request.get("localModules")
    if isinstance(given, list) and given and os.path.join(request.get("cwd") or "/", script) == path:
        script_dir = given[0]  # the zygote resolved the same path a moment ago
    else:
        script_dir = os.path.dirname(os.path.realpath(path))
    if not getattr(sys.flags, "safe_path", False):  # -P / PYTHONSAFEPATH: no script directory
        sys.path.insert(0, script_dir)
        _unshadow(script_dir, request)
    main.__file__ = path
    main.__cached__ = None
    main.__loader__ = importlib.machinery.SourceFileLoader("__main__", path)
    main.__builtins__ = __builtins__
    if "__annotations__" in _FRESH_MAIN_NAMES:
        main.__annotations__ = {}
    code = COMPILED_SCRIPTS.compiled(source, path)
    _hide_zygote_frames_from_recursion_limit()
    exec(code, main.__dict__)


def _replay_native_output(request):
    """What C code wrote on fds 1 and 2 when the zygote imported a module this script imports:
    written again here, where python would have written it, on the run's own stdout/stderr."""
    replay = _ZYGOTE.preloader.replay if _ZYGOTE else {}
    if not replay:
        return
    names = request.get("importNames")
    if names is None:
        names = _ZYGOTE.preloader.names_for(os.path.join(request.get("cwd") or "/", request["file"]))
    done = set()
    for name, _ in names:
        top = name.partition(".")[0]
        if top in replay and top not in done:
            done.add(top)
            out, err = replay[top]
            _write_all(2, err)  # C's stderr is unbuffered: it appeared at the import
            if os.isatty(1):
                _write_all(1, out)  # line-buffered on a terminal: at the import too
            else:
                _C_STDOUT_AT_EXIT.append(out)  # block-buffered: written by exit(), after python's


_C_STDOUT_AT_EXIT = []  # bytes C code left in its stdout buffer at import, for the run's exit


def _write_all(fd, data):
    while data:
        try:
            data = data[os.write(fd, data):]
        except OSError:
            return


def _hide_zygote_frames_from_recursion_limit():
    """The zygote's own frames sit below the script's and would count against the recursion
    limit: a deep recursion would fail a few calls early. Raise the limit by exactly that many
    frames, and let sys.get/setrecursionlimit speak in python's numbers."""
    # Before 3.12 the call of exec() itself counts too; from 3.12 only Python frames count.
    extra = 1 if sys.version_info < (3, 12) else 0
    frame = sys._getframe(1)
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


def _unshadow(directory, request):
    """Forget modules the zygote imported that the script's directory provides itself, so that
    `import json` finds the script's own json.py as it would under python. The zygote listed the
    directory for the request; a renamed cwd can make the run's directory another one."""
    given = request.get("localModules")
    local = given[1] if isinstance(given, list) and len(given) == 2 and given[0] == directory else local_module_names(directory)
    for top in local:
        if top in sys.modules and top not in _STARTUP_MODULES:
            prefix = top + "."
            for name in [name for name in sys.modules if name == top or name.startswith(prefix)]:
                del sys.modules[name]


ZIP_END_RECORD = b"PK\x05\x06"


def _is_zip(path):
    """As python decides (its path hooks try zipimport first); zipimport is loaded at start-up,
    where zipfile would cost milliseconds to import on every run."""
    import zipimport
    try:
        zipimport.zipimporter(path)
        return True
    except (zipimport.ZipImportError, OSError):
        return False


def report_uncaught(exc):
    """What PyErr_Print does with an exception that ends a script: sys.excepthook, given the
    traceback without the zygote's own frames. Returns the exit status."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == ZYGOTE_FILE:
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


def _flush_std_files():
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


def _clear_main_module():
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


def exit_like_python(status, interrupted):
    """The observable part of Py_FinalizeEx, then _exit: threads joined, atexit run, stdio
    flushed, __main__ released. The rest of teardown (freeing every module, which takes most of
    a second after torch or tensorflow) is skipped: the process is about to vanish anyway."""
    try:
        threading._shutdown()
    except BaseException as exc:
        status = report_uncaught(exc)
    # Only a run that imported atexit (or a module the zygote has) can have registered exit
    # functions; importing it here would cost a run that did not a fifth of a millisecond.
    atexit = sys.modules.get("atexit")
    if atexit is not None:
        _skip_process_local_finalizers()
        atexit._run_exitfuncs()
    if not _flush_std_files():
        status = 120
    gc.collect()
    _clear_main_module()
    gc.collect()
    if status != 120 and not _flush_std_files():  # a stdout that failed is reported once
        status = 120
    for data in _C_STDOUT_AT_EXIT:
        _write_all(1, data)
    _flush_c_stdio()
    if interrupted:
        # As python after an uncaught KeyboardInterrupt: die by SIGINT, so a shell knows.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    _report_status_early(status & 0xFF)
    _record_hot_pages()
    os._exit(status & 0xFF)


# weakref.finalize callbacks (module, name) run at exit that only undo something in the
# process's own memory, which _exit drops a moment later: nothing outside it can tell whether
# they ran, and they print nothing unless they fail. torch.library's undoes each operator
# registration of torch's dispatcher one by one (134 of them: 5-9 ms, most of a torch run).
PROCESS_LOCAL_FINALIZERS = frozenset({("torch.library", "_del_library")})


def _skip_process_local_finalizers():
    weakref = sys.modules.get("weakref")
    registry = getattr(getattr(weakref, "finalize", None), "_registry", None)
    if not registry:
        return
    for info in list(registry.values()):
        func = getattr(info, "func", None)
        if (getattr(func, "__module__", None), getattr(func, "__qualname__", None)) in PROCESS_LOCAL_FINALIZERS:
            info.atexit = False


def _report_status_early(status):
    """Tell the status, so the caller need not wait for this address space to be torn down,
    and close stdio (nothing more is written: all of it was, before)."""
    if _ZYGOTE is None or _ZYGOTE.slot < 0:
        return
    # On the board first: from then on the zygote knows the script is over (its client may
    # leave at once, and what the run left in the background must live on).
    _ZYGOTE.board.write(_ZYGOTE.slot, status)
    notice = _ZYGOTE.status_notice
    if notice is not None and _C.sigqueue is not None:
        # Straight to the client (the native runner), which need not wait for the zygote to
        # be scheduled; the zygote's word follows as always. The token tells it from others.
        pid, signo, token = notice
        _C.sigqueue(pid, signo, (token << 8) | status)
    for stdio in (0, 1, 2):
        try:
            os.close(stdio)
        except OSError:
            pass
    try:
        os.kill(os.getppid(), signal.SIGCHLD)  # wakes the zygote, as its children's exits do
    except OSError:
        pass


def _record_hot_pages():
    """After the status is out (its caller has it): the pages this run wrote to, for the next
    spares (HotPages)."""
    if _ZYGOTE is None or _ZYGOTE.slot < 0 or not _ZYGOTE.hot_pages.should_record(_ZYGOTE.runs_served):
        return
    try:
        _ZYGOTE.hot_pages.record()
    except Exception:
        pass  # only a hint for the next runs


def _flush_c_stdio():
    """Output a C extension left in its stdio buffers, which exit() would have written."""
    _fflush_c_stdio()


_ZYGOTE = None  # the Zygote this process was forked from, in a run


def main():
    global _ZYGOTE
    fd = int(sys.argv[1])
    lists = [[name for name in (sys.argv[i] if len(sys.argv) > i else "").split(",") if name] for i in (2, 3, 4)]
    skip, preload, family = lists
    lane_config = json.loads(sys.argv[5]) if len(sys.argv) > 5 and sys.argv[5] else None
    zygote = _ZYGOTE = Zygote(fd, skip, preload, family, lane_config)
    request, fds = zygote.serve()
    become_run(zygote, request, fds)
    return request


if __name__ == "__main__":
    _request = main()
    _interrupted = False
    try:
        run_script(_request)
        _status = 0
    except SystemExit as _exc:
        _status = system_exit_status(_exc)
    except BaseException as _exc:
        _interrupted = isinstance(_exc, KeyboardInterrupt)
        _status = report_uncaught(_exc)
    exit_like_python(_status, _interrupted)
