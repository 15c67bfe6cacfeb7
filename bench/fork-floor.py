"""The floor of the design's throughput (bench/startup.js): a fork-per-run server that does only
what any run of an empty script must, and nothing pynwheel adds (no checks, no spare kept
ready, no status protocol, no signals). Per connection it forks; the child takes the caller's
three fds and environment (one message, as `probe floor` sends it), builds python's stdio
objects on them, runs an empty script's code as __main__, flushes, joins threads, collects,
answers one byte and exits. The server imports what pynwheel's zygote does, so its children
fork from a heap of the same kind.

With "bare", a child takes the request unread, answers and exits: the fork of a CPython and its
exit, no more.

usage: python fork-floor.py SOCKET [bare]   (serves until killed)"""
import array, gc, io, json, os, signal, socket, sys, threading, types  # noqa: E401
import ast, importlib.machinery, re, select, selectors, struct, sysconfig  # noqa: E401,F401 (the zygote's imports)

path = sys.argv[1]
bare = sys.argv[2:] == ["bare"]
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(path + ".tmp")
server.listen(128)
os.rename(path + ".tmp", path)  # there once it accepts: the bench waits for the name
signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps
code = compile("", path, "exec")
gc.freeze()
while True:
    conn, _ = server.accept()
    if os.fork() == 0:
        if bare:
            conn.recv(1 << 20)  # (the request, unread: its fds are dropped with it)
            conn.send(b"x")
            os._exit(0)
        message, ancillary, _, _ = conn.recvmsg(1 << 20, socket.CMSG_SPACE(3 * 4))
        fds = array.array("i")
        fds.frombytes(ancillary[0][2][:12])
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.environ.clear()
        os.environ.update(json.loads(message)["env"])
        sys.stdin, sys.stdout, sys.stderr = (
            io.TextIOWrapper(io.open(fd, "rb" if fd == 0 else "wb", closefd=False), "utf-8", line_buffering=fd == 2)
            for fd in (0, 1, 2))
        main = types.ModuleType("__main__")
        sys.modules["__main__"] = main
        exec(code, main.__dict__)
        threading._shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        gc.collect()
        conn.send(b"x")
        os._exit(0)
    conn.close()
