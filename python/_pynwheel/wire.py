"""The wire: frames of JSON with SCM_RIGHTS fds, and the protocol's constants and codes.

Runs in the zygote (its daemon channel, its spares' lines, lane clients' connections, relays)
and in spares (a lane client's request, what a spare says). lib/shared/protocol.json is where
these constants are written; test/python/test_wire.py checks this copy against it.

A frame: an 8-byte header (magic "PN", protocol version, number of fds, payload length u32
big-endian), then a JSON object with a string "type". The fds travel with the frame's first byte.
"""

import json
import os
import signal
import socket
import struct

PROTOCOL_VERSION = 1
MAGIC = b"PN"
HEADER = struct.Struct(">2sBBI")  # magic, protocol version, fd count, payload length
# A client's frames (a run request: argv and environment) are far below this.
CLIENT_FRAME_LIMIT = 8 * 1024 * 1024
# Frames between the daemon and a zygote (a relayed request carries what the zygote added).
ZYGOTE_FRAME_LIMIT = 64 * 1024 * 1024
# Every inheritable fd of a caller in one frame: the most SCM_RIGHTS carries (SCM_MAX_FD).
FDS_PER_FRAME = 253
# Room for that many fds in recvmsg's control buffer, so that MSG_CTRUNC means a fault.
FD_CONTROL_SPACE = socket.CMSG_SPACE(FDS_PER_FRAME * 4)
ARGS_LIMIT = 100000
RESOURCE_LIMITS = 64
NOTIFY_TOKEN_BELOW = 1 << 53
NOTIFY_SIGNAL_NAMES = ("SIGURG", "SIGWINCH")
# Signals a client may ask its run's status to come by: ignored by default, so that one sent
# to a pid that is no longer the client's (a client killed, its pid taken) does no harm.
NOTIFY_SIGNALS = frozenset(getattr(signal, name) for name in NOTIFY_SIGNAL_NAMES)

# Why a frame could not be read: code -> text.
FRAME_ERRORS = {
    "bad-magic": "not a pynwheel frame (bad magic)",
    "other-version": "the peer speaks another protocol version",
    "too-long": "the frame is over the size limit",
    "too-many-fds": "the frame announces more fds than a frame may carry",
    "fds-missing": "the frame announces more fds than arrived with it",
    "fds-unannounced": "fds arrived that no frame announced",
    "control-truncated": "the fds' control data was truncated (MSG_CTRUNC)",
    "bad-json": "the payload is not valid JSON",
    "not-message": "the payload is not an object with a string \"type\"",
}

# What is wrong with a run request (the daemon's checks and the lane's say the same): code -> text.
REQUEST_CHECKS = {
    "file-or-module": "exactly one of \"file\", \"module\" and \"code\" must be a string",
    "bad-code": "\"code\" has a NUL",
    "bad-file": "\"file\" is empty or has a NUL",
    "bad-module": "\"module\" is not a module name",
    "bad-args": "\"args\" must be an array of strings without NUL",
    "bad-cwd": "\"cwd\" must be an absolute path without NUL",
    "bad-env": "\"env\" must map names (not empty, no \"=\" or NUL) to strings without NUL",
    "bad-python": "\"python\" must be an absolute path",
    "bad-argv0": "\"argv0\" must be a string",
    "bad-stdio": "\"stdio\" must be three booleans",
    "bad-cwd-fd": "\"cwdFd\" must be a boolean",
    "bad-umask": "\"umask\" must be an integer from 0 to 0o777",
    "bad-limits": "\"limits\" must be [resource, soft, hard] triples, and come with \"umask\"",
    "bad-notify": "\"notify\" must be [SIGURG or SIGWINCH, a positive integer below 2^53]",
    "bad-sched": "\"sched\" must be {nice, cpus, ioprio, oomScoreAdj}: integers, and CPU numbers",
    "fd-count": "the request announces another number of fds than it carries",
    "stdio-not-open": "a stdio fd is not open",
    "stdio-is-directory": "a stdio fd is a directory",
    "cwd-fd-not-directory": "the cwd fd is not a directory",
    "bad-session": "\"session\" must be [sid, pgid] of the client's own session, which has a controlling terminal, and its process group",
    "bad-signals": "\"signals\" must be {ignored, blocked}: ascending signal numbers, catchable, up to 64",
    "bad-pass-fds": "\"passFds\" must be ascending fd numbers from 3 below 2^31",
    "bad-call": "\"call\" must be the number of one of \"passFds\", and \"args\" begin with the function's attribute path",
}

# Why a lane's spare did not take a request (the client then asks the daemon): code -> text.
LANE_DECLINES = {
    "not-run": "not a run request",
    "other-user": "a client of another user",
    "client-version": "a client of another pynwheel version",
    "module-run": "the lane takes file runs only (not -m or -c)",
    "bad-frame": "the request's frame could not be read",
    "other-python": "another interpreter",
    "python-changed": "the interpreter changed",
    "python-gone": "the interpreter is gone",
    "other-key-env": "another value of a variable the zygote is keyed by",
    "modules-changed": "modules the zygote imported may have changed",
    "no-script": "no such script",
    "unknown-script": "a script this zygote has not run",
    "directory-changed": "the script's directory changed",
    "spare-released": "the zygote let this spare go",
    "spare-died": "the spare that accepted died",
    "other-session": "a client of another terminal session than this zygote's",
    "higher-priority": "the caller's nice value or OOM score adjustment is one the zygote cannot give its run",
    "other-confinement": "a client in another cgroup or namespace than the zygote's",
    "other-family": "a new script whose imports are of another family than this zygote's (the runner's guess was wrong)",
    "not-preloaded": "a new script that imports what this zygote has not imported yet (its zygote imports it first)",
}


class FrameError(Exception):
    """A frame that cannot be read; `reason` is one of FRAME_ERRORS (or, for a connection that
    ends or stalls before its frame is whole, "closed" or "timeout")."""

    def __init__(self, reason, detail=None):
        self.reason = reason
        text = FRAME_ERRORS.get(reason, reason)
        super().__init__("%s (%s)" % (text, detail) if detail else text)

    @property
    def code(self):
        """The error code a daemon answers with (protocol.json's errorCodes)."""
        return "EVERSION" if self.reason == "other-version" else "EPROTO"


def _no_constant(name):
    raise ValueError("%s is not JSON" % name)  # NaN, Infinity: JSON.parse refuses them too


_decode_json = json.JSONDecoder(parse_constant=_no_constant).decode
_encode_json = json.JSONEncoder(separators=(",", ":")).encode


def encode_frame(message, fd_count=0):
    payload = _encode_json(message).encode()
    return HEADER.pack(MAGIC, PROTOCOL_VERSION, fd_count, len(payload)) + payload


def check_header(header, limit):
    """(fd count, payload length) of a frame's header; FrameError if it is none of ours."""
    magic, version, nfds, length = HEADER.unpack_from(header)
    if magic != MAGIC:
        raise FrameError("bad-magic")
    if version != PROTOCOL_VERSION:
        raise FrameError("other-version", "version %d" % version)
    if length > limit:
        raise FrameError("too-long", "%d bytes, at most %d" % (length, limit))
    if nfds > FDS_PER_FRAME:
        raise FrameError("too-many-fds", "%d, at most %d" % (nfds, FDS_PER_FRAME))
    return nfds, length


def decode_payload(payload, fds):
    """A frame's message: a JSON object with a string "type". Anything else closes the fds
    that came with it."""
    try:
        message = _decode_json(payload.decode())
    except ValueError:  # (UnicodeDecodeError and JSONDecodeError are ValueErrors)
        close_all(fds)
        raise FrameError("bad-json")
    if type(message) is not dict or type(message.get("type")) is not str:
        close_all(fds)
        raise FrameError("not-message")
    return message


def fds_of(ancdata, flags):
    """The fds that came in a recvmsg's control data. FrameError (after closing them) if the
    control data was truncated: fds would be lost."""
    fds = []
    for level, kind, cdata in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(cdata) - len(cdata) % 4
            fds.extend(struct.unpack("%di" % (usable // 4), cdata[:usable]))
    if flags & socket.MSG_CTRUNC:
        close_all(fds)
        raise FrameError("control-truncated")
    return fds


class FrameReader:
    """Reassembles frames from a byte stream and the fds that came with it, as
    lib/shared's FrameDecoder does: fds queue in arrival order, a frame takes as many as its
    header announces, and they must have come by its last byte."""

    def __init__(self, limit):
        self.limit = limit
        self.buf = bytearray()
        self.fds = []

    def push(self, data, fds=()):
        """Add what one recvmsg gave; returns the frames it completed as (message, fds).
        FrameError if the stream is not ours (fds of frames decoded before are closed)."""
        self.buf += data
        self.fds.extend(fds)
        frames = []
        try:
            while len(self.buf) >= HEADER.size:
                nfds, length = check_header(self.buf, self.limit)
                if len(self.buf) < HEADER.size + length:
                    break
                if len(self.fds) < nfds:
                    raise FrameError("fds-missing", "%d announced, %d arrived" % (nfds, len(self.fds)))
                payload = bytes(self.buf[HEADER.size:HEADER.size + length])
                del self.buf[:HEADER.size + length]
                frame_fds, self.fds = self.fds[:nfds], self.fds[nfds:]
                frames.append((decode_payload(payload, frame_fds), frame_fds))
            if not self.buf and self.fds:
                raise FrameError("fds-unannounced", "%d fds" % len(self.fds))
        except FrameError:
            for _, frame_fds in frames:
                close_all(frame_fds)
            raise
        return frames


class Channel:
    """Frames over a blocking stream socket: the zygote's with the daemon, with a spare, with
    a lane run's client."""

    def __init__(self, sock, limit=ZYGOTE_FRAME_LIMIT):
        self.sock = sock
        self.reader = FrameReader(limit)

    def send(self, message, fds=()):
        send_frame(self.sock, encode_frame(message, len(fds)), fds)

    def receive(self):
        """(still open, the frames one read completed). FrameError on a stream not ours."""
        data, ancdata, flags, _ = self.sock.recvmsg(1 << 16, FD_CONTROL_SPACE, socket.MSG_CMSG_CLOEXEC)
        return bool(data), self.reader.push(data, fds_of(ancdata, flags))


def drain(channel):
    """(still open, the frames that have come) for a connection the zygote's loop found
    readable; a connection that fails or is not ours counts as closed."""
    try:
        return channel.receive()
    except (OSError, FrameError):
        return False, []


def send_frame(sock, frame, fds=()):
    if fds:
        # The fds travel with the first byte of the frame.
        sent = sock.sendmsg([frame], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("%di" % len(fds), *fds))])
        frame = frame[sent:]
    if frame:
        sock.sendall(frame)


def read_frame(sock, limit, timeout=None):
    """Exactly one frame from a blocking socket (nothing after it is read): (message, fds).
    A client sends its request whole before it waits, so it is usually there already: it is
    read without waiting (and without setting the socket's timeout, two syscalls fewer), and
    only what has not come yet is waited for, at most `timeout` seconds."""
    def receive(size, control):
        try:
            return sock.recvmsg(size, control, _RECV_NOW)
        except BlockingIOError:
            if timeout is not None:
                sock.settimeout(timeout)
            try:
                return sock.recvmsg(size, control, socket.MSG_CMSG_CLOEXEC)
            except socket.timeout:
                raise FrameError("timeout", "nothing came for %g s" % timeout)

    fds = []
    header = b""
    try:
        while len(header) < HEADER.size:
            data, ancdata, flags, _ = receive(HEADER.size - len(header), FD_CONTROL_SPACE)
            fds += fds_of(ancdata, flags)
            if not data:
                raise FrameError("closed", "closed before a whole frame")
            header += data
        nfds, length = check_header(header, limit)
        if nfds > len(fds):
            raise FrameError("fds-missing", "%d announced, %d arrived" % (nfds, len(fds)))
        if nfds < len(fds):
            raise FrameError("fds-unannounced", "%d announced, %d arrived" % (nfds, len(fds)))
        payload = b""
        while len(payload) < length:
            chunk = receive(length - len(payload), 0)[0]
            if not chunk:
                raise FrameError("closed", "closed within a frame")
            payload += chunk
    except BaseException:
        close_all(fds)
        raise
    if sock.gettimeout() is not None:
        sock.settimeout(None)
    return decode_payload(payload, fds), fds


_RECV_NOW = socket.MSG_CMSG_CLOEXEC | socket.MSG_DONTWAIT


def close_all(fds):
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass
