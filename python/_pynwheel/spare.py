"""A spare: a child forked ahead of its run, which readies itself and waits on the lane.

Runs in a forked child, from the fork until it takes a run (take_run): it lets go of the
zygote's fds, warms up (takes the copy-on-write faults of a run's first steps), readies what
it can of its run's process, and accepts on the lane until a request is one it may take; it
declines the others (the client then asks the daemon) and tells the zygote of each decline.
Its fd 2 is still the zygote's (daemon.log) here: debug lines are written before it takes a run.
"""

import gc
import os
import resource  # here, in the zygote: a spare importing it would load it anew, copying pages
import select
import signal
import socket
import struct
import sys
import types

from .become import Environment, Limits, restore_signals, stdio_streams, fd_is_open
from .debug import say, wanted
from .lane import decline_message, readable
from .newscript import NewScripts
from .script import is_zip
from .wire import (CLIENT_FRAME_LIMIT, LANE_DECLINES, ZYGOTE_FRAME_LIMIT, Channel, FrameError, close_all,
                   decode_payload, encode_frame, read_frame, send_frame)

LANE_REQUEST_TIMEOUT = 10.0  # a client that connects and sends nothing is dropped
_PEERCRED = struct.Struct("3i")


class SpareFrames:
    """What a spare says when it takes a run, encoded as it waits ("started" carries its pid)."""

    def __init__(self):
        self.took_lane = encode_frame({"type": "took", "lane": True}, 1)  # with the client's connection
        self.took_relay = encode_frame({"type": "took", "lane": False})
        self.started = encode_frame({"type": "started", "pid": os.getpid()})

    def took_lane_for(self, env, environment):
        """The "took" of a lane run; with the caller's environment when the spare did not
        expect it, so that the zygote's next spares build it ahead (lane runs never pass
        through the daemon, whose last run's environment the zygote knows otherwise)."""
        if environment.expects(env):
            return self.took_lane
        return encode_frame({"type": "took", "lane": True, "env": env}, 1)


def take_run(child):
    """From the fork to a run taken: child.request and child.fds are the run's."""
    leave_the_zygote(child)
    child.environment = Environment(child.c)
    child.limits = Limits()
    if not child.on_demand and not child.hot_pages.populate(child.c.madvise):
        # No record of a run's pages yet: the spare takes their faults by going through a
        # run's steps itself.
        warm_up(child)
        warm_up_lane(child)
    ready(child)
    wait(child)


def leave_the_zygote(child):
    """What every run's process does first, whatever the run: the zygote's fds closed, python's
    signal dispositions, a process group of its own, and no life after the zygote's."""
    signal.set_wakeup_fd(-1)  # the zygote's wakeup pipe, closed with the rest
    for item in child.inherited:
        try:
            if isinstance(item, int):
                os.close(item)
            else:
                item.close()
        except OSError:
            pass
    child.inherited = ()
    restore_signals()
    os.setpgid(0, 0)
    child.c.die_with_parent()


def warm_up(child):
    """A spare, while it waits, goes once through the steps of a run's start on harmless
    inputs. A forked child's first touch of each page of the zygote's objects and code costs a
    copy-on-write fault: taken here, they are off the run's path (milliseconds in all)."""
    try:
        decode_payload(encode_frame({"type": "run", "env": dict(os.environ), "args": ["x"], "stdio": [True]})[8:], [])
        os.umask(os.umask(0))  # (limits: ready(), which every spare goes through)
        env = dict(os.environ)
        child.environment.replace(dict(reversed(env.items())))  # and back: the same in the end
        child.environment.replace(env)
        child.listings.module_names(os.getcwd())
        types.ModuleType("__main__")
        compile("pass\n", "<warm-up>", "exec", dont_inherit=True)
        is_zip(child.startup.entry_file)
        struct.pack("i", 0)
        gc.collect()  # as the run's exit does
        stdio_streams({}, [fd for fd in (0, 1, 2) if fd_is_open(fd)])
    except Exception:
        pass  # only a warm-up: the run does each step for real


def warm_up_lane(child):
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
        conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
        devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        fds.append(devnull)
        lane = child.lane
        Channel(client).send({"type": "run", "client": lane.client, "file": "\0warm-up", "args": [], "cwd": "/",
                              "env": dict(os.environ), "python": lane.python, "argv0": "python3",
                              "stdio": [True, True, True], "cwdFd": False, "umask": 0o22, "limits": [[0, -1, -1]]},
                             [devnull] * 3)
        request, received = read_frame(conn, CLIENT_FRAME_LIMIT, LANE_REQUEST_TIMEOUT)
        fds += received
        request["file"] = "/nonexistent/warm-up"
        wanted(request)
        lane.check(request, received, child.watcher.fd)
        Channel(conn).send({"type": "started", "pid": 0})
    except Exception:
        pass  # only a warm-up
    close_all(fds)
    for sock in sockets:
        sock.close()


def ready(child):
    """What every spare readies for its run, warmed up or not: numpy's generator reseeded, the
    environment it expects (the daemon's last run's, as most runs come from the same shell; the
    zygote's own lacks pynwheel's variables), the frames it will send, and its resource limits
    noted (a run with the same ones need not set them)."""
    reseed_numpy()
    if child.preloader.freezer is not None:
        child.preloader.freezer.let_in()  # the scripts' own code, tracked and not frozen, as in python
    child.environment.expect(child.caller_env if child.caller_env is not None else dict(os.environ))
    child.frames = SpareFrames()
    # What the kernel says of this process (its command line's place, priorities, cgroup and
    # namespaces) is the zygote's: read there once, not by every spare (zygote.process_facts).
    child.title, child.scheduling, child.confinement = child.process_facts
    try:
        child.limits.set([[which, *resource.getrlimit(which)] for which in range(getattr(resource, "RLIM_NLIMITS", 16))])
    except Exception:
        pass


def reseed_numpy():
    """numpy's global generator, seeded from the system's entropy as at numpy's import: each
    process has its own. A spare does it before it waits (each spare runs one run), as it costs
    a run of a numpy zygote 0.4 ms of faults and entropy."""
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is not None:
        try:
            numpy_random.seed()
        except Exception:
            pass


ASK_TIMEOUT = 2.0  # seconds the zygote may take to say what it knows of a script


def ask_zygote(child, key):
    """The zygote's record of a script it came to know after this spare was forked, as
    Lane.scripts holds them, or None (it does not know it, or it let this spare go)."""
    line = child.line
    try:
        Channel(line, ZYGOTE_FRAME_LIMIT).send({"type": "script?", "key": list(key)})
        reply, fds = read_frame(line, ZYGOTE_FRAME_LIMIT, ASK_TIMEOUT)
    except (OSError, FrameError):
        return None
    finally:
        line.settimeout(None)
    close_all(fds)
    known = reply.get("known")
    if reply.get("type") != "script" or not isinstance(known, list) or len(known) != 3:
        return None
    names, script_dir, local = known
    return [tuple(name) for name in names], script_dir, frozenset(local)


def wait(child):
    """Accept on the lane until a run is taken. Leaves when the zygote lets it go (EOF on its
    line) or dies. A connection wakes one waiting spare (EPOLLEXCLUSIVE): the others sleep on,
    rather than race it for the accept and for the CPU the run needs. So a spare woken for a
    connection never leaves it behind: one that is let go at that moment declines it (the
    client asks the daemon)."""
    # (Import finders forgot their listings in the zygote, just before the fork: forkprep.py.
    # Nothing imports in a spare, so the run's first import lists directories anew, as python's.)
    child.lane.ask = lambda key: ask_zygote(child, key)
    new_scripts = NewScripts(child.preloader, child.listings, child.family)
    new_scripts.warm_up(os.path.dirname(child.startup.entry_file))
    child.lane.read_new = new_scripts.read
    lane = child.lane.sock
    line = child.line
    poller = select.epoll()
    poller.register(line, select.EPOLLIN)
    poller.register(lane, select.EPOLLIN | getattr(select, "EPOLLEXCLUSIVE", 0))
    while True:
        ready_fds = dict(poller.poll())
        leaving = line.fileno() in ready_fds  # let go (outdated, or the lane closed), or the zygote died
        if lane.fileno() in ready_fds:
            try:
                conn, _ = lane.accept()
            except (BlockingIOError, InterruptedError):
                conn = None  # another spare took it
            except OSError:
                os._exit(0)
            if conn is not None and leaving:
                decline(child, conn, "spare-released", LANE_DECLINES["spare-released"])
            elif conn is not None and take(child, conn):
                poller.close()  # not the run's
                return
        if leaving:
            os._exit(0)


def take(child, conn):
    """Read a lane client's request; decline it (the client asks the daemon) or take it:
    tell the zygote, then the client, and become the run. True if taken."""
    line = child.line
    try:
        peer_pid, peer_uid, _ = _PEERCRED.unpack(conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size))
        if peer_uid != os.getuid():
            # (Only root gets past the lane's mode 0600.)
            decline(child, conn, "other-user", "a client of another user (this zygote serves uid %d only)" % os.getuid())
            return False
        from_zygote = peer_pid == os.getppid()
        request, fds = read_frame(conn, ZYGOTE_FRAME_LIMIT if from_zygote else CLIENT_FRAME_LIMIT, LANE_REQUEST_TIMEOUT)
    except FrameError as exc:
        conn.close()  # not a client of ours: no answer
        tell_zygote(child, "bad-frame", "%s: %s" % (LANE_DECLINES["bad-frame"], exc))
        return False
    except OSError:
        conn.close()
        return False
    relayed = from_zygote and request.get("relay") is True
    debug = wanted(request)
    if not relayed:
        verdict = child.lane.check(request, fds, child.watcher.fd)
        # A client confined otherwise (systemd-run, a container, unshare) must not escape its
        # limits through the zygote; a priority the run cannot have: python runs it.
        if verdict is None and child.confinement.differs(peer_pid):
            verdict = "other-confinement", decline_message("other-confinement")
        if verdict is None:
            fault = child.scheduling.take(request.get("sched"))
            if fault is not None:
                verdict = fault[0], decline_message(*fault)
        # Last, so that a change to a module noticed by now is declined (the zygote lets its
        # spares go when it sees one).
        if verdict is None:
            verdict = child.lane.session_fault(request, peer_pid)
        if verdict is None and child.watcher.noticed():
            # The zygote read the change from the fd the check looked at, and lets its spares
            # go in a moment: the check's fd first, this after, so no change falls between.
            verdict = "modules-changed", LANE_DECLINES["modules-changed"]
        if verdict is None and readable(line.fileno()):
            verdict = "spare-released", LANE_DECLINES["spare-released"]
        if verdict is not None:
            close_all(fds)
            decline(child, conn, verdict[0], verdict[1], debug)
            return False
        request["callerPid"] = peer_pid
    if debug:
        if relayed:
            say("spare", "daemon run %s taken (pid %d, %s)" % (request.get("id"), os.getpid(), _what(request)))
        else:
            say("spare", "lane taken (pid %d, %s)" % (os.getpid(), _what(request)))
    if not join_client_group(request):
        close_all(fds)
        decline(child, conn, "other-session", "the client's process group %s is not in this zygote's session" % (request.get("session"),), debug)
        return False
    frames = child.frames
    try:
        if relayed:
            send_frame(line, frames.took_relay)
        elif child.lane.learnt is not None:
            # A script this spare read itself: its zygote knows it from now on, and the daemon
            # publishes its route (the next run comes straight here).
            key, (names, script_dir, local) = child.lane.learnt
            send_frame(line, encode_frame({"type": "took", "lane": True, "script": [list(key), names, script_dir, sorted(local)],
                                           "cwd": request["cwd"], "file": request["file"]}, 1), [conn.fileno()])
        else:
            send_frame(line, frames.took_lane_for(request["env"], child.environment), [conn.fileno()])
    except OSError:
        close_all(fds)  # the zygote is gone: nothing ran, and the client learns by EOF
        os._exit(0)
    line.close()
    try:
        send_frame(conn, frames.started)
    except OSError:
        pass  # the client is gone; the zygote, which heard of the run, ends it
    conn.close()  # the zygote has its own copy of a lane client's, and speaks to it from now on
    child.request, child.fds, child.debug = request, fds, debug
    return True


def join_client_group(request):
    """A run of a terminal session's zygote joins its client's process group, as python
    started there would be in it: the terminal's signals (Ctrl-C, Ctrl-Z, a hangup) and job
    control (fg, bg, a pipeline's other commands) then reach it as they reach its client, and
    it is in the foreground exactly when its client is. False if the group is not in this
    session (nothing ran). Other runs stay in the process group of their own."""
    session = request.get("session")
    if session is None:
        return True
    try:
        os.setpgid(0, session[1])
        return True
    except OSError:
        return False


def _what(request):
    file = request.get("file")
    if type(file) is str:
        return os.path.join(request.get("cwd") or "/", file)
    return "-m %s" % (request.get("module"),)


def decline(child, conn, code, message, debug=False):
    """Nothing ran: the lane client asks the daemon instead. The zygote counts it, and hears of
    it first: a `status` it is asked for after the client has its answer counts it."""
    tell_zygote(child, code, message)
    if debug:
        say("spare", "lane declined: %s (%s); the client asks the daemon" % (code, message))
    try:
        Channel(conn).send({"type": "decline", "reason": code, "message": message})
    except OSError:
        pass
    conn.close()


def tell_zygote(child, code, message):
    try:
        send_frame(child.line, encode_frame({"type": "declined", "reason": code, "message": message}))
    except OSError:
        pass  # the zygote is gone or let this spare go: nothing to count
