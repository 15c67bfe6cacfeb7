"""The lane: the zygote's listening socket, and the check of a request that comes by it.

Runs in the zygote (it opens the lane, remembers the scripts it ran, closes it) and in spares
(each accepts on it and checks the request it reads: Lane.check). The request checks are the
daemon's (lib/daemon/request-check.ts checkRunRequest and checkRunFds), code for code, then the lane's own:
anything it is not sure of is declined, and the client asks the daemon, which decides as always.
"""

import os
import re
import select
import signal
import socket
import stat
import sys

from .wire import ARGS_LIMIT, LANE_DECLINES, NOTIFY_SIGNALS, NOTIFY_TOKEN_BELOW, REQUEST_CHECKS, RESOURCE_LIMITS

SAFE_INTEGER = (1 << 53) - 1
READ_FIRST_BYTES = 16384  # a script its spare does not know of this size or less is read, not asked about
FD_BELOW = 1 << 31
MAX_SIGNAL = 64  # Linux's SIGRTMAX (lib/shared/signals.ts)
SIGKILL, SIGSTOP = signal.SIGKILL, signal.SIGSTOP
_ASCII_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
STREAM_NAMES = ("stdin", "stdout", "stderr")
# A call's function, as its target names it after the colon: `f`, `Class.method` (ASCII names).
_ATTRIBUTE_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


def request_fault(r, fd_count, lane=False):
    """What is wrong with a run request's shape, as (requestChecks code, detail or None), or
    None: checkRunRequest's checks, in its order. For a `lane`, "python" is not looked at here:
    anything but the lane's own interpreter is declined later (other-python)."""
    file, module, code = r.get("file"), r.get("module"), r.get("code")
    targets = (file, module, code)
    if sum(type(t) is str for t in targets) != 1:
        return "file-or-module", None
    if type(file) is str and (not file or "\0" in file):
        return "bad-file", None
    if type(module) is str and not _is_module_name(module):
        return "bad-module", None
    if type(code) is str and "\0" in code:
        return "bad-code", None
    args = r.get("args")
    if type(args) is not list or len(args) > ARGS_LIMIT or not all(type(a) is str for a in args) or "\0" in "".join(args):
        return "bad-args", None
    cwd = r.get("cwd")
    if type(cwd) is not str or not cwd.startswith("/") or "\0" in cwd:
        return "bad-cwd", None
    env = r.get("env")
    if type(env) is not dict or "" in env or not all(type(v) is str for v in env.values()):
        return "bad-env", None
    names = "".join(env)  # (JSON names are strings) checked in C's loops, not Python's
    if "=" in names or "\0" in names or "\0" in "".join(env.values()):
        return "bad-env", None
    python = r.get("python")
    if not lane and (type(python) is not str or not python.startswith("/")):
        return "bad-python", None
    if type(r.get("argv0")) is not str:
        return "bad-argv0", None
    stdio = r.get("stdio")
    if type(stdio) is not list or len(stdio) != 3 or not all(type(b) is bool for b in stdio):
        return "bad-stdio", None
    if type(r.get("cwdFd")) is not bool:
        return "bad-cwd-fd", None
    if "umask" in r:
        umask = r["umask"]
        if type(umask) is not int or not 0 <= umask <= 0o777:
            return "bad-umask", None
    if "limits" in r:
        limits = r["limits"]
        if type(limits) is not list or len(limits) > RESOURCE_LIMITS or not _are_limits(limits):
            return "bad-limits", None
        if "umask" not in r:
            return "bad-limits", "without \"umask\""
    if "notify" in r:
        notify = r["notify"]
        if not (type(notify) is list and len(notify) == 2 and type(notify[0]) is int and notify[0] in NOTIFY_SIGNALS
                and type(notify[1]) is int and 0 < notify[1] < NOTIFY_TOKEN_BELOW):
            return "bad-notify", None
    if "session" in r:
        session = r["session"]
        if not (type(session) is list and len(session) == 2 and all(type(n) is int and n > 0 for n in session)):
            return "bad-session", None
    if "sched" in r and not _is_sched(r["sched"]):
        return "bad-sched", None
    if "signals" in r:
        signals = r["signals"]
        if type(signals) is not dict or not _are_signals(signals.get("ignored")) or not _are_signals(signals.get("blocked")):
            return "bad-signals", None
    pass_fds = r.get("passFds", ())
    if "passFds" in r and not _ascending(pass_fds, 3, FD_BELOW):
        return "bad-pass-fds", None
    if "call" in r:
        call = r["call"]
        if type(call) is not int or call not in pass_fds or not args or _ATTRIBUTE_PATH.fullmatch(args[0]) is None:
            return "bad-call", None
    announced = sum(stdio) + r["cwdFd"] + len(pass_fds)
    if announced != fd_count:
        return "fd-count", "it announces %d fds but carries %d" % (announced, fd_count)
    return None


def fd_fault(r, fds):
    """What is wrong with a request's fds, as (requestChecks code, detail), or None:
    checkRunFds's checks. Stdio may be anything python accepts (a tty, pipe, file, socket,
    /dev/null) but not a directory, which python refuses at start-up; the cwd fd must be one."""
    index = 0
    for stream, present in enumerate(r["stdio"]):
        if not present:
            continue
        directory = _is_directory(fds[index])
        index += 1
        if directory is None:
            return "stdio-not-open", "%s: fd %d of the %d fds it carries" % (STREAM_NAMES[stream], index, len(fds))
        if directory:
            return "stdio-is-directory", "%s: fd %d of the %d fds it carries" % (STREAM_NAMES[stream], index, len(fds))
    if r["cwdFd"] and not _is_directory(fds[index]):
        return "cwd-fd-not-directory", "fd %d of the %d fds it carries" % (index + 1, len(fds))
    return None


def _are_limits(limits):
    """Each a [resource, soft, hard] of safe integers, -1 (unlimited) or more. (One loop: a
    lane run's request has one per resource.)"""
    for entry in limits:
        if type(entry) is not list or len(entry) != 3:
            return False
        which, soft, hard = entry
        if type(which) is not int or type(soft) is not int or type(hard) is not int:
            return False
        if not (0 <= which < RESOURCE_LIMITS and -1 <= soft <= SAFE_INTEGER and -1 <= hard <= SAFE_INTEGER):
            return False
    return True


def _is_sched(s):
    """{nice, cpus, ioprio, oomScoreAdj}: safe integers, and CPU numbers."""
    if type(s) is not dict:
        return False
    values = (s.get("nice"), s.get("ioprio"), s.get("oomScoreAdj"))
    if not all(type(v) is int and -SAFE_INTEGER <= v <= SAFE_INTEGER for v in values):
        return False
    cpus = s.get("cpus")
    return type(cpus) is list and len(cpus) <= 65536 and all(type(c) is int and 0 <= c <= SAFE_INTEGER for c in cpus)


def _ascending(items, low, below):
    """A list of integers from `low` to below `below`, strictly ascending (each once)."""
    if type(items) is not list:
        return False
    last = low - 1
    for n in items:
        if type(n) is not int or not last < n < below:
            return False
        last = n
    return True


def _are_signals(items):
    """Signal numbers as Linux has them (1-64), but SIGKILL and SIGSTOP."""
    return _ascending(items, 1, MAX_SIGNAL + 1) and SIGKILL not in items and SIGSTOP not in items


def _is_module_name(name):
    """As lib/daemon/request-check.ts's /^[\\p{L}_][\\p{L}\\p{N}_]*(\\.[\\p{L}_][\\p{L}\\p{N}_]*)*$/u."""
    if name.isascii():
        return _ASCII_MODULE.fullmatch(name) is not None
    import unicodedata  # (a module run: never on a warm run's path)
    for part in name.split("."):
        if not part or not (part[0] == "_" or unicodedata.category(part[0])[0] == "L"):
            return False
        if not all(ch == "_" or unicodedata.category(ch)[0] in "LN" for ch in part[1:]):
            return False
    return True


def _is_directory(fd):
    """True or False; None if the fd is not open."""
    try:
        return stat.S_ISDIR(os.fstat(fd).st_mode)
    except OSError:
        return None


def readable(fd):
    return bool(select.select([fd], [], [], 0)[0])


def extra_key_names(env):
    """PYNWHEEL_KEY_ENV's names, as lib/daemon/zygote-key.ts reads them."""
    return [name for name in env.get("PYNWHEEL_KEY_ENV", "").replace(",", " ").split() if name]


def decline_message(code, detail=None):
    text = LANE_DECLINES.get(code) or REQUEST_CHECKS.get(code) or code
    return "%s (%s)" % (text, detail) if detail else text


class Lane:
    """The zygote's own listening socket, which its spares accept on. The native client
    connects to it directly (through the daemon's route for the script), so a warm run passes
    through neither the daemon nor the zygote: the spare that accepts checks the request and
    becomes the run. The zygote relays the daemon's runs through it too, so that each spare is
    claimed by exactly one run however the runs come."""

    def __init__(self, config, listings):
        self.path = config["socket"]
        self.client = config["client"]  # the pynwheel version whose clients it serves
        self.python = config["python"]  # the interpreter's path as the daemon keys it
        self.key_env = dict(config["keyEnv"])  # values of variables read once, at start or import
        # The names the daemon keys zygotes by, with this zygote's PYNWHEEL_KEY_ENV ones.
        self.key_names = frozenset(config["keyNames"]) | frozenset(self.key_env)
        # The terminal session this zygote was born in for its clients there (a client that has
        # a controlling terminal starts it: lib/daemon/daemon.ts), or None.
        self.session = config.get("session")
        self.listings = listings
        try:
            st = os.stat(self.python)
            self.python_identity = (st.st_dev, st.st_ino)
        except OSError:
            self.python_identity = None
        self.scripts = {}  # (path, mtime_ns, size, ino) -> (import names, script dir, local names)
        self.ask = None  # in a spare: key -> the zygote's record of a script it learnt of since, or None
        self.read_new = None  # in a spare: path -> (record, None) or (None, decline) for a script never run (newscript.py)
        self.learnt = None  # in a spare: (key, record) of the script the last check read itself
        self.directories = {}  # the scripts' directories (an ordered set): the zygote keeps their listings
        self.sock = None
        self.ino = None
        self.address = None  # what the zygote connects to when it relays a run of the daemon's
        self.published = None  # the path clients find through the daemon's routes

    def open(self):
        """In the zygote."""
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
        """In the zygote (which unlinks its path), or in a run (which only lets go of it)."""
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
        """In the zygote: it ran this script as it is now, so the same file may come by the
        lane. True if that is news (spares forked before do not know it)."""
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
            self.directories.clear()
        self.scripts[key] = known
        self.directories[script_dir] = None
        return True

    def learn(self, key, known):
        """In the zygote: a spare read this script itself and took its run (newscript.py)."""
        if len(self.scripts) > 4096:
            self.scripts.clear()
            self.directories.clear()
        self.scripts[key] = known
        self.directories[known[1]] = None

    def session_fault(self, request, peer_pid):
        """In a spare: None if the client's terminal session is this zygote's (or neither has
        one), else ("other-session", message). A run of a session zygote joins its client's
        process group, which must be of the same session."""
        session = request.get("session")
        if self.session is None and session is None:
            return None
        try:
            theirs = os.getsid(peer_pid)
        except OSError:
            theirs = None
        if session is None or self.session is None or session[0] != self.session or theirs != self.session:
            return "other-session", decline_message("other-session", "the client's is %s, this zygote's %s" % (theirs, self.session))
        return None

    def check(self, request, fds, watcher_fd):
        """In a spare: None if this zygote can run `request` as the daemon would have it run
        here, else why not, as (code, message): a laneDeclines code, or the requestChecks code
        the daemon would refuse it with. A request taken gains what the zygote knows of its
        script (importNames, localModules)."""
        r = request
        if r.get("type") != "run":
            return "not-run", decline_message("not-run")
        if r.get("client") != self.client:
            return "client-version", decline_message("client-version")
        if (type(r.get("module")) is str or type(r.get("code")) is str) and type(r.get("file")) is not str:
            return "module-run", decline_message("module-run")  # (whatever else is in it)
        fault = request_fault(r, len(fds), lane=True) or fd_fault(r, fds)
        if fault is not None:
            return fault[0], decline_message(*fault)
        if r.get("python") != self.python:
            return "other-python", decline_message("other-python")
        try:
            st = os.stat(self.python)
            if (st.st_dev, st.st_ino) != self.python_identity:
                return "python-changed", decline_message("python-changed")
        except OSError:
            return "python-gone", decline_message("python-gone")
        env = r["env"]
        names = self.key_names.union(extra_key_names(env)) if "PYNWHEEL_KEY_ENV" in env else self.key_names
        if {name: env[name] for name in names.intersection(env)} != self.key_env:
            return "other-key-env", decline_message("other-key-env")
        if watcher_fd >= 0 and readable(watcher_fd):
            return "modules-changed", decline_message("modules-changed")
        path = os.path.join(r["cwd"], r["file"])
        try:
            st = os.stat(path)
        except OSError:
            return "no-script", decline_message("no-script")
        key = (path, st.st_mtime_ns, st.st_size, st.st_ino)
        known = self.scripts.get(key)
        self.learnt = None
        # A script the zygote came to know after this spare was forked (a new script's first
        # run, or an edit): the zygote says what it knows of it (Lane.ask), or the spare reads
        # it itself (newscript.py). A small one is read at once, which is quicker than asking
        # the zygote (it must be scheduled to answer); one the runner found no route for
        # (newScript) its zygote has not run.
        asked = False
        if known is None and self.ask is not None and r.get("newScript") is not True and (
                self.read_new is None or st.st_size > READ_FIRST_BYTES):
            known, asked = self.ask(key), True
        if known is None and self.read_new is not None:
            known, fault = self.read_new(path)
            if known is not None:
                self.learnt = key, known  # (the zygote hears of it when the run is taken)
            elif fault[0] == "not-preloaded" and not asked and self.ask is not None and r.get("newScript") is not True:
                known, asked = self.ask(key), True  # its zygote may have imported them since this spare's fork
            if known is None:
                return fault
        if known is not None and asked:
            self.scripts[key] = known
        if known is None:
            return "unknown-script", decline_message("unknown-script")
        names, script_dir, local = known
        # (A script read just now had its directory listed just now.)
        fresh = self.learnt is not None and self.learnt[1] is known
        if not fresh and self.listings.module_names(script_dir) != local:
            return "directory-changed", decline_message("directory-changed")
        r["importNames"] = names
        r["localModules"] = [script_dir, sorted(local)]
        return None
