"""The frames between an Executor (in the calling process), its template process and the tasks
the template forks: runs in all three. They are forks of one program, so they speak pickle, in
frames: a fixed header (kind, task id, a number) and, for some kinds, that many bytes after it.

caller -> template (control socket): TASK id len + the pickled (function, args, kwargs), with the
    task's result socket as one SCM_RIGHTS fd; STOP (exit once every task has ended).
template -> caller (control socket): START id pid, once a process has taken the task (pynwheel.tasks
    signals a task's process group by it); EXIT id wait-status, once the task's process is reaped.
caller <-> template (names socket): CHECK len + pickled [(module, qualname, id, line)] ->
    NAMES len + pickled None (all found) or a message saying what is missing.
task -> caller (its own result socket): RESULT len + pickled ("ok", value) or ("error", exc, tb).
"""

import socket
import struct

HEADER = struct.Struct(">4sQq")
TASK, STOP, START, EXIT, CHECK, NAMES, RESULT = b"TASK", b"STOP", b"STRT", b"EXIT", b"CHCK", b"NAME", b"RSLT"


def send(sock, kind, ident=0, number=0, body=b"", fd=None):
    header = HEADER.pack(kind, ident, number)
    if fd is None:
        sock.sendall(header + body if len(body) < 65536 else header)
        if len(body) >= 65536:
            sock.sendall(body)
        return
    sent = socket.send_fds(sock, [header], [fd])
    if sent < len(header):
        sock.sendall(header[sent:])
    sock.sendall(body)


def recv_exactly(sock, size):
    """size bytes from a blocking socket, or None at EOF before the first of them."""
    chunks, got = [], 0
    while got < size:
        chunk = sock.recv(min(size - got, 1 << 20))
        if not chunk:
            if got == 0:
                return None
            raise EOFError("the peer closed the connection in the middle of a frame")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def recv_header(sock, with_fd=False):
    """(kind, ident, number, fd or None) from a blocking socket; None at EOF."""
    fd = None
    if with_fd:
        data, fds, _, _ = socket.recv_fds(sock, HEADER.size, 1)
        if not data:
            for extra in fds:
                _close(extra)
            return None
        fd = fds[0] if fds else None
        if len(data) < HEADER.size:
            rest = recv_exactly(sock, HEADER.size - len(data))
            if rest is None:
                raise EOFError("the peer closed the connection in the middle of a frame")
            data += rest
    else:
        data = recv_exactly(sock, HEADER.size)
        if data is None:
            return None
    kind, ident, number = HEADER.unpack(data)
    return kind, ident, number, fd


class FrameBuffer:
    """Frames read from a non-blocking socket as bytes arrive (the caller's bookkeeping)."""

    def __init__(self):
        self.data = bytearray()

    def feed(self, chunk):
        self.data += chunk

    def frames(self, has_body):
        """Every complete frame so far, as (kind, ident, number, body or None)."""
        out = []
        while len(self.data) >= HEADER.size:
            kind, ident, number = HEADER.unpack_from(self.data)
            size = HEADER.size + (number if has_body(kind) else 0)
            if len(self.data) < size:
                break
            body = bytes(self.data[HEADER.size:size]) if has_body(kind) else None
            del self.data[:size]
            out.append((kind, ident, number, body))
        return out


def _close(fd):
    import os
    try:
        os.close(fd)
    except OSError:
        pass
