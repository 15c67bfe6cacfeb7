"""The connection of a Python program to this machine's pynwheel daemon: runs in the user's own
process (pynwheel.futures.Executor(cluster=URL), python/pynwheel/cluster.py). It finds the
daemon's socket where the Node side does (lib/shared/runtime-dir.ts), starts the daemon when none
listens (as lib/client/connect.ts does: node and dist/daemon/main.js of this package, detached,
its log in the runtime directory), and speaks the daemon's frames (python/_pynwheel/wire.py).
Standard library only.
"""

import json
import os
import shutil
import socket
import subprocess
import threading
import time

from _pynwheel import wire

PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DAEMON_MAIN = os.path.join(PACKAGE_ROOT, "dist", "daemon", "main.js")
START_TIMEOUT_S = 15.0
# What the daemon reads of the environment (lib/client/connect.ts's daemonEnvironment).
DAEMON_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYNWHEEL_IDLE", "PYNWHEEL_ZYGOTE_IDLE",
                    "PYNWHEEL_MAX_ZYGOTES", "PYNWHEEL_SESSION_ZYGOTES")
# The daemon's answers may carry a job's whole result (up to a worker's result limit, base64).
ANSWER_LIMIT = 4 * wire.ZYGOTE_FRAME_LIMIT


class DaemonError(Exception):
    """The daemon could not be reached or started, or refused: `code` is its error code."""

    def __init__(self, code, message):
        super().__init__("pynwheel: %s" % message if not message.startswith("pynwheel") else message)
        self.code = code


def version():
    with open(os.path.join(PACKAGE_ROOT, "package.json"), encoding="utf-8") as f:
        return json.load(f)["version"]


def runtime_dir(env=None):
    """$PYNWHEEL_RUNTIME_DIR, else $XDG_RUNTIME_DIR/pynwheel, else ${TMPDIR:-/tmp}/pynwheel-<uid>."""
    env = os.environ if env is None else env
    if env.get("PYNWHEEL_RUNTIME_DIR"):
        return os.path.abspath(env["PYNWHEEL_RUNTIME_DIR"])
    if env.get("XDG_RUNTIME_DIR"):
        return os.path.join(os.path.abspath(env["XDG_RUNTIME_DIR"]), "pynwheel")
    return os.path.join(os.path.abspath(env.get("TMPDIR") or "/tmp"), "pynwheel-%d" % os.getuid())


def _ensure_dir(directory):
    os.makedirs(directory, mode=0o700, exist_ok=True)
    st = os.lstat(directory)
    if not os.path.isdir(directory) or os.path.islink(directory) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise DaemonError("ERUNTIMEDIR", "the runtime directory %s is not a directory only you can use (mode 0700); "
                          "set PYNWHEEL_RUNTIME_DIR to one" % directory)


def _try_connect(path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
        return sock
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        return None
    except OSError as exc:
        sock.close()
        raise DaemonError("ECONNECT", "cannot connect to the pynwheel daemon at %s: %s" % (path, exc))


def connect():
    """A socket connected to the daemon, started first if none listens."""
    directory = runtime_dir()
    _ensure_dir(directory)
    path = os.path.join(directory, "daemon.sock")
    sock = _try_connect(path)
    if sock is not None:
        return sock
    _start_daemon(directory)
    deadline = time.monotonic() + START_TIMEOUT_S
    delay = 0.002
    while time.monotonic() < deadline:
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
        sock = _try_connect(path)
        if sock is not None:
            return sock
    raise DaemonError("EDAEMON", "the pynwheel daemon did not start listening within %d s; see %s"
                      % (START_TIMEOUT_S, os.path.join(directory, "daemon.log")))


def _start_daemon(directory):
    node = os.environ.get("PYNWHEEL_NODE") or shutil.which("node")
    if node is None:
        raise DaemonError("EDAEMON", "node was not found on PATH (set PYNWHEEL_NODE): the pynwheel daemon is a Node program")
    if not os.path.exists(DAEMON_MAIN):
        raise DaemonError("EDAEMON", "%s is missing: build pynwheel first (npx tsc -p tsconfig.json)" % DAEMON_MAIN)
    env = {name: os.environ[name] for name in DAEMON_VARIABLES if name in os.environ}
    env["PYNWHEEL_RUNTIME_DIR"] = directory
    with open(os.path.join(directory, "daemon.log"), "ab", buffering=0) as log:
        os.chmod(log.fileno(), 0o600)
        # Through sh's `&`: the daemon is sh's child, not ours, so it is never our zombie, and
        # it is in a session of its own: it outlives this program and its terminal.
        starter = subprocess.Popen(["/bin/sh", "-c", 'exec "$0" "$@" </dev/null &', node, DAEMON_MAIN],
                                   stdout=log, stderr=log, stdin=subprocess.DEVNULL, cwd="/", env=env,
                                   start_new_session=True, close_fds=True)
    starter.wait()


class Link:
    """Frames to and from the daemon over one connection (the daemon's FdChannel at its end).
    send() may be called from any thread; receive() from one thread at a time."""

    def __init__(self, sock):
        self.sock = sock
        self.reader = wire.FrameReader(ANSWER_LIMIT)
        self.pending = []
        self.send_lock = threading.Lock()

    def send(self, message):
        frame = wire.encode_frame(message)
        if len(frame) - wire.HEADER.size > wire.CLIENT_FRAME_LIMIT:
            raise ValueError("the frame is %d bytes, over the daemon's limit of %d" % (len(frame), wire.CLIENT_FRAME_LIMIT))
        with self.send_lock:
            self.sock.sendall(frame)

    def receive(self):
        """The next message, or None when the daemon closed the connection."""
        while not self.pending:
            try:
                data = self.sock.recv(1 << 20)
            except OSError:
                data = b""
            if not data:
                return None
            self.pending.extend(message for message, _ in self.reader.push(data, []))
        return self.pending.pop(0)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
