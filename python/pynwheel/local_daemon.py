"""The connection of a Python program to this machine's pynwheel daemon: runs in the user's own
process (pynwheel.futures.Executor(cluster=URL), python/pynwheel/cluster.py). It finds the
daemon's socket where the Node side does (lib/shared/runtime-dir.ts), starts the daemon when none
listens (as lib/client/connect.ts does: node and dist/daemon/main.js of this package, detached,
its log in the runtime directory), and speaks the daemon's frames (lib/shared/wire.ts: an 8-byte
header, magic "PN", the protocol's version, a count of fds (none here), the JSON payload's length
big-endian; then the payload). Standard library only, and nothing of _pynwheel (the zygote's
package): its constants are copies of lib/shared/protocol.json's, checked against it by
test/python/test_vectors.py.
"""

import json
import os
import shutil
import socket
import struct
import subprocess
import threading
import time

PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DAEMON_MAIN = os.path.join(PACKAGE_ROOT, "dist", "daemon", "main.js")
START_TIMEOUT_S = 15.0
# What the daemon reads of the environment (lib/client/connect.ts's daemonEnvironment).
DAEMON_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYNWHEEL_IDLE", "PYNWHEEL_ZYGOTE_IDLE",
                    "PYNWHEEL_MAX_ZYGOTES", "PYNWHEEL_SESSION_ZYGOTES")
PROTOCOL_VERSION = 1
MAGIC = b"PN"
HEADER = struct.Struct(">2sBBI")  # magic, protocol version, fd count, payload length
CLIENT_FRAME_LIMIT = 8 * 1024 * 1024  # the most the daemon reads of a client's frame
# The daemon's answers may carry a job's whole result (up to a worker's result limit, base64).
ANSWER_LIMIT = 256 * 1024 * 1024
# A cluster session's limits and why its frames are refused (the daemon's checks: lib/daemon/cluster-check.ts).
CLUSTER_LIMITS = {"jobsInFlight": 10000, "packages": 100, "packageChars": 200, "urlChars": 4096, "queueChars": 100}
CLUSTER_CHECKS = {
    "bad-url": "\"url\" must be a redis://, rediss:// or unix:// URL without NUL, at most urlChars long",
    "bad-queue": "\"queue\" must be a queue name: letters, digits, '.', '_' or '-', at most queueChars long",
    "bad-key": "give at most one of \"key\" (a string) and \"keyFile\" (an absolute path)",
    "bad-submit": "a submit must be {id: a positive integer not in flight, payload: base64, codeDir: an absolute path, timeout: milliseconds or absent}",
    "bad-packages": "\"packages\" must be at most packages requirement strings, each at most packageChars long",
    "too-many-jobs": "more than jobsInFlight jobs of the session in flight",
    "not-session": "a session's frames are submit and cancel",
}


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
        self.buffer = bytearray()
        self.send_lock = threading.Lock()

    def send(self, message):
        payload = json.dumps(message, separators=(",", ":")).encode()
        if len(payload) > CLIENT_FRAME_LIMIT:
            raise ValueError("the task's frame is %d bytes, over the daemon's limit of %d (its pickled arguments are too large)"
                             % (len(payload), CLIENT_FRAME_LIMIT))
        with self.send_lock:
            self.sock.sendall(HEADER.pack(MAGIC, PROTOCOL_VERSION, 0, len(payload)) + payload)

    def receive(self):
        """The next message, or None when the daemon closed the connection."""
        while True:
            if len(self.buffer) >= HEADER.size:
                magic, version, fds, length = HEADER.unpack_from(self.buffer)
                if magic != MAGIC or version != PROTOCOL_VERSION or fds or length > ANSWER_LIMIT:
                    raise DaemonError("EPROTO", "the daemon sent a frame that is not of this protocol")
                if len(self.buffer) >= HEADER.size + length:
                    payload = bytes(self.buffer[HEADER.size:HEADER.size + length])
                    del self.buffer[:HEADER.size + length]
                    return json.loads(payload)
            try:
                data = self.sock.recv(1 << 20)
            except OSError:
                data = b""
            if not data:
                return None
            self.buffer += data

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
