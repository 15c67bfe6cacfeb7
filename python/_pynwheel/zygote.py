"""The zygote: its loop, the daemon's runs relayed to spares, spares forked, children reaped.

Runs in the zygote only. Zygote.serve() loops until the daemon hangs up (then the zygote
leaves); it returns only in a forked child, with that child's assignment (child.Child), which
main() in python/pynwheel_zygote.py carries on with: nothing of this module runs in a child.
"""

import json
import os
import select
import selectors
import signal
import socket
import struct
import sys
import time

from . import debug
from .board import HotPages, StatusBoard
from .child import Child
from .forkprep import ForkPrep
from .frozen import Freezer, install as install_gc_functions
from .libc import CLibrary, fork_quietly
from .lane import Lane, decline_message, readable
from .learn import Learner
from .preload import DirectoryListings, Preloader, library_roots
from .sched import Confinement, Scheduling
from .title import ProcessTitle
from .watcher import ModuleWatcher
from .wire import (CLIENT_FRAME_LIMIT, PROTOCOL_VERSION, ZYGOTE_FRAME_LIMIT, Channel, FrameError, close_all, drain,
                   read_frame)

# Everything catchable but SIGCHLD (the zygote's own) and the signals of faults in this thread.
DEFERRED_SIGNALS = signal.valid_signals() - {
    signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD, signal.SIGSEGV, signal.SIGBUS,
    signal.SIGFPE, signal.SIGILL, signal.SIGTRAP, signal.SIGSYS, signal.SIGABRT}
# Signals a terminal sends to its whole foreground job: under python they reach the script's
# subprocesses too, so they go to the run's process group.
TERMINAL_SIGNALS = frozenset((signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP, signal.SIGCONT,
                              signal.SIGWINCH))
RELAY_ATTEMPTS = 8  # a relay declined by a spare let go at that moment is sent again
RELAY_START_TIMEOUT = 2.0  # seconds a spare may take to say it started a relayed run
SPARES = 2  # pre-forked children a zygote keeps
SPARE_DELAY = 0.05  # seconds a spare waits for runs in progress to end before it is forked
RECENT_DECLINES = 8
# What a lane client hears when the daemon's going ends its run (the daemon's own clients hear
# it from their end of the daemon's socket).
LOST_DAEMON = {"code": "EDAEMON", "message": "lost the pynwheel daemon during the run"}


def parse_argv(argv):
    """`pynwheel_zygote.py FD [SKIP [PRELOAD [FAMILY [LANE]]]]`: (fd, skip, preload, family,
    lane config or None), as the daemon gives them (lib/daemon/zygote.ts)."""
    fd = int(argv[1])
    skip, preload, family = [[name for name in (argv[i] if len(argv) > i else "").split(",") if name] for i in (2, 3, 4)]
    lane_config = json.loads(argv[5]) if len(argv) > 5 and argv[5] else None
    return fd, skip, preload, family, lane_config


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
        self.channel = Channel(sock, CLIENT_FRAME_LIMIT)
        self.client_pid = peer_pid(sock)  # for status: what the client's process costs

    def send(self, message):
        try:
            self.channel.send(message)
        except OSError:
            pass


def peer_pid(sock):
    """The pid of the process at the other end of a Unix socket (SO_PEERCRED), or None."""
    try:
        return struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[0] or None
    except OSError:
        return None


class SpareLine:
    """A pre-forked child, as the zygote sees it: its pid, and its line (`sock`), on which it
    says each decline and when it took a run. `generation` is the zygote's generation when it
    was forked, so the zygote can tell whether it still has every module and script the
    zygote knows now."""

    def __init__(self, pid, sock, generation):
        self.pid = pid
        self.sock = sock
        self.channel = Channel(sock, ZYGOTE_FRAME_LIMIT)
        self.generation = generation


class Declines:
    """The lane's declines, for `status`: a count per code, and the last few."""

    def __init__(self):
        self.counts = {}
        self.recent = []  # [code, message, unix time s], newest last

    def count(self, code, message):
        code = str(code)
        self.counts[code] = self.counts.get(code, 0) + 1
        self.recent.append([code, str(message), int(time.time())])
        del self.recent[:-RECENT_DECLINES]


class Zygote:
    def __init__(self, fd, skip, preload, family, lane_config, startup):
        self.startup = startup  # (child.Startup) what the entry script saw, for the children
        self.c = CLibrary()
        self.channel = Channel(socket.socket(fileno=fd), ZYGOTE_FRAME_LIMIT)
        self.listings = DirectoryListings()
        self.lane = Lane(lane_config or {"socket": None, "client": None, "python": sys.executable,
                                         "keyNames": [], "keyEnv": {}}, self.listings)
        self.lane.open()
        self.hot_pages = HotPages(self.lane.published + ".hot" if self.lane.published else None)
        self.hot_pages.clear()  # a predecessor's of the same lane: another layout
        self.learner = Learner(self.lane.published + ".imports" if self.lane.published else None)
        self.learner.begin()
        self.lane_runs = {}  # pid -> LaneRun, for runs whose client came by the lane
        self.lane_served = 0
        self.daemon_served = 0  # runs of the daemon's that a spare took (relayed)
        self.declines = Declines()
        self.relays = {}  # relay socket fd -> Relay
        self.relay_clients = {}  # run pid -> its client's pid (SO_PEERCRED, as the daemon sent it), for status
        self.generation = 0  # bumped when a module is imported or a script becomes known
        roots = library_roots()
        self.freezer = Freezer(self.c)  # gc.freeze() before each fork, kept out of the runs' sight
        self.forkprep = ForkPrep()  # and what else spares the children copies of its pages
        self._process_facts = None  # (process_facts)
        install_gc_functions()
        self.preloader = Preloader(skip, roots, self.listings, self.freezer)
        # The third-party packages this zygote is for ([] for the interpreter's base zygote):
        # a run of another family is routed back to the daemon, which has a zygote for it.
        self.family = family
        self.unfit_at_start = None
        self.retiring = False  # stale or unfit: no more runs; it leaves when those in progress end
        # (Before the first import of its own: a change from then on is seen.)
        self.watcher = ModuleWatcher(self.c, roots[0], [root for root in roots[0] if root not in roots[1]])
        self.warmed = False  # a warm-up asked for spares before any run (see _warm)
        # What it imports, as it goes: `pynwheel warm`'s progress line.
        self.preloader.on_import = lambda name: self.channel.send({"type": "importing", "module": name})
        wanted = list(dict.fromkeys(family + preload))
        if wanted:
            # Its family, and what a predecessor had when its files changed: warm at once.
            self.unfit_at_start = self.preloader.preload("/nonexistent", [(name, False) for name in wanted], self.c)
        self.watcher.watch_imported()
        self.runs = {}  # pid -> run id
        self.runs_served = 0
        # The environment of the last run the daemon sent, in its order: most runs come from
        # the same shell, and spares build the C environment for it while they wait.
        self.caller_env = None
        self.spares = []  # pre-forked children waiting for runs, oldest (warmest) first: SpareLine
        self.spare_lines = {}  # pid -> SpareLine, for every spare whose line is open (retired ones too)
        self.last_handout = 0.0
        self.forks = {"spare": 0, "onDemand": 0}  # how runs got their process
        self.selector = None
        # Each run's child writes its exit status on the board once the script is done and
        # stdio is closed, and wakes the zygote, before its address space is torn down (tens
        # of milliseconds after tensorflow): the caller gets the status without waiting for that.
        self.board = StatusBoard()
        self.slots = {}  # pid -> its slot on the board, for each child
        self.reported = set()  # pids whose exit status came through the board
        self.wakeup_r, self.wakeup_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(self.wakeup_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda signo, frame: None)
        # Signals stay blocked here, and so at first in each child: one forwarded to a run that
        # has just been forked waits, pending, until the child has python's own dispositions.
        # The zygote itself leaves when the daemon closes its socket, not on a signal.
        signal.pthread_sigmask(signal.SIG_BLOCK, DEFERRED_SIGNALS)

    def serve(self):
        """Loop until the daemon hangs up (the zygote then leaves: this never returns in it).
        Returns only in a forked child: its Child, the assignment it carries on with."""
        self.channel.send({"type": "hello", "pid": os.getpid(), "python": sys.executable, "family": self.family,
                           "version": sys.version, "protocol": PROTOCOL_VERSION, "lane": self.lane.published})
        selector = self.selector = selectors.DefaultSelector()
        selector.register(self.channel.sock, selectors.EVENT_READ, "daemon")
        selector.register(self.wakeup_r, selectors.EVENT_READ, "children")
        if self.watcher.fd >= 0:
            selector.register(self.watcher.fd, selectors.EVENT_READ, "files")
        while True:
            timeout = None
            if self.lane.sock is None and not (self.runs or self.lane_runs or self.relays or self.spare_lines):
                # (Each spare let go has said its last word: a run it took just then is known.)
                if self.retiring:
                    self._shutdown()
                self._leave_if_stale(None, [])  # its modules changed, and its last run is over
            self._watch_backlog()
            if len(self.spares) < SPARES and (self.runs_served > 0 or self.warmed) and self.lane.sock is not None:
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
                    if self._reap():
                        self._learn()
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
                    alive, frames = self.channel.receive()
                    if not alive:
                        self._shutdown(LOST_DAEMON)
                    for index, (message, fds) in enumerate(frames):
                        child = self._handle(message, fds)
                        if child is not None:
                            for _, later_fds in frames[index + 1:]:
                                close_all(later_fds)  # the zygote's to handle, not the child's
                            return child
                except FrameError as exc:
                    sys.stderr.write("pynwheel zygote: protocol error from the daemon: %s\n" % exc)
                    self._shutdown(LOST_DAEMON)
                except (ConnectionError, OSError) as exc:
                    sys.stderr.write("pynwheel zygote: lost the daemon: %s\n" % exc)
                    self._shutdown(LOST_DAEMON)

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
        """Reaps the children that ended; True if a run was among them."""
        ran = False
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG | os.WUNTRACED)
            except ChildProcessError:
                return ran
            if pid == 0:
                return ran
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
                if os.WIFSIGNALED(status):
                    self.hot_pages.forget(pid)  # killed, perhaps while it wrote its record
            lane_run = self.lane_runs.get(pid)
            ran = ran or lane_run is not None or pid in self.runs
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
        if kind in ("run", "warm"):
            self.forkprep.listing()  # its preloads and routing look for modules
        if kind == "run":
            return self._run(message, fds)
        close_all(fds)
        if kind == "warm":
            self._warm(message)
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
                               "learned": self.learner.learned, "notLearned": self.learner.refused,
                               "lane": {"served": self.lane_served, "active": len(self.lane_runs)},
                               "paths": {"lane": self.lane_served, "daemon": self.daemon_served},
                               "declines": self.declines.counts, "recentDeclines": self.declines.recent,
                               "watchedDirectories": len(self.watcher.watched),
                               "staleChecks": self.watcher.checks,
                               "staleCheckNs": self.watcher.check_ns,
                               "memory": {"zygote": memory_of([os.getpid()]),
                                          "spares": memory_of([spare.pid for spare in self.spares]),
                                          "runs": memory_of(list(self.runs) + list(self.lane_runs)),
                                          "clients": memory_of(self._client_pids())}})
        return None

    def _client_pids(self):
        """The clients of the runs in progress (a native client, or node): theirs to pay, counted."""
        clients = {run.client_pid for run in self.lane_runs.values()}
        clients.update(client for run, client in self.relay_clients.items() if run in self.runs)
        clients.discard(None)
        return sorted(clients)

    def _signal(self, run_id, signo, group, unless_done=False):
        if not (isinstance(signo, int) and 0 < signo < signal.NSIG):
            return
        for pid, rid in self.runs.items():
            if rid == run_id and not (unless_done and self._script_done(pid)):
                self._kill(pid, signo, group)
        for relay in self.relays.values():
            if relay.run_id == run_id:  # not started yet: a signal (or the client's end) waits for it
                relay.early_signals.append((signo, group))

    def _target_of(self, request):
        """A run's or a warm-up's script: (its top-level imports, its directory, its file's path or None)."""
        cwd = request.get("cwd") or "/"
        if request.get("module"):
            # `-m pkg.mod`: its package, and what the module imports at its top level.
            return self.preloader.names_for_module(request["module"], cwd), cwd, None
        if type(request.get("code")) is str:
            # `-c CODE`: its top-level imports, as a file's (the cwd comes first on sys.path).
            return self.preloader.names_for_code(request["code"]), cwd, None
        path = os.path.join(cwd, request.get("file") or "")
        return self.preloader.names_for(path), os.path.dirname(os.path.realpath(path)), path

    def _warm(self, request):
        """`pynwheel warm`, or a cold run's warm-up: what a run of this script would need is
        made ready (its imports, the script known to the lane, spares forked ahead), and nothing
        of it runs. Replies `warmed`, or as a run would: `route`, `unfit`, `stale`, `failed`."""
        warm_id = request.get("id")
        try:
            names, script_dir, path = self._target_of(request)
            if self.retiring:
                self.channel.send({"type": "stale", "id": warm_id, "reason": "the zygote is being replaced"})
                return
            if self._leave_if_stale(warm_id, []):
                return
            local = self.listings.module_names(script_dir)
            family = self.preloader.family_of(names, local) if names else []
            if family != self.family:
                self.channel.send({"type": "route", "id": warm_id, "family": family})
                return
            modules_before = len(sys.modules)
            self.watcher.importing()
            tainted = self.unfit_at_start or (self.preloader.preload(script_dir, names, self.c, local) if names else None)
            if tainted:
                self.channel.send({"type": "unfit", "id": warm_id, "module": tainted[0], "reason": tainted[1]})
                self._retire()
                return
            if names:
                self.watcher.watch_imported()
            if len(sys.modules) != modules_before:
                self.generation += 1
            if path is not None:
                self.lane.remember(path, names, script_dir, local)  # its first run may come by the lane (Lane.ask)
            self._retire_outdated_spares()
            self.warmed = True  # spares are forked ahead now, before any run
            self.channel.send({"type": "warmed", "id": warm_id, "preloaded": self.preloader.preloaded})
        except Exception as exc:
            self.channel.send({"type": "failed", "id": warm_id, "message": "%s: %s" % (type(exc).__name__, exc)})

    def _run(self, request, fds):
        run_id = request.get("id")
        debugging = debug.wanted(request)
        try:
            names, script_dir, path = self._target_of(request)
            if self.retiring:
                # (Sent before the daemon heard that this zygote is being replaced.)
                close_all(fds)
                if debugging:
                    debug.say("zygote", "run %s: retiring (being replaced); the daemon runs it in a fresh zygote" % (run_id,))
                self.channel.send({"type": "stale", "id": run_id, "reason": "the zygote is being replaced"})
                return None
            if self._leave_if_stale(run_id, fds, debugging):
                return None
            # Listed once: for the family, the preload, and the run's own unshadowing.
            local = self.listings.module_names(script_dir)
            family = self.preloader.family_of(names, local) if names else []
            if family != self.family:
                close_all(fds)
                if debugging:
                    debug.say("zygote", "run %s: of family [%s], not this zygote's [%s]; back to the daemon"
                              % (run_id, ", ".join(family), ", ".join(self.family)))
                self.channel.send({"type": "route", "id": run_id, "family": family})
                return None
            modules_before = len(sys.modules)
            self.watcher.importing()
            tainted = self.unfit_at_start or (self.preloader.preload(script_dir, names, self.c, local) if names else None)
            if tainted:
                close_all(fds)
                if debugging:
                    debug.say("zygote", "run %s: %s %s: unfit, retiring" % (run_id, tainted[0], tainted[1]))
                self.channel.send({"type": "unfit", "id": run_id, "module": tainted[0],
                                   "reason": tainted[1]})
                self._retire()  # never forks again: its state is not fit for it
                return None
            if names:
                self.watcher.watch_imported()
            imported = len(sys.modules) != modules_before
            if imported:
                self.generation += 1
            # The next runs of this script may come by the lane: spares forked before ask the
            # zygote about it (Lane.ask), so none is let go for a new script (one of them runs
            # it now, compiling it itself: a fork for it would cost the run far more).
            if request.get("file"):
                self.lane.remember(path, names, script_dir, local)
            if imported or not self.spares:
                self._retire_outdated_spares()
            if isinstance(request.get("env"), dict):
                self.caller_env = request["env"]
            # The run's child need neither parse the script nor list its directory again.
            request["importNames"] = names
            request["localModules"] = [script_dir, sorted(local)]
            request["relay"] = True
            if debugging:
                debug.say("zygote", "run %s relayed to %s" % (run_id, "a spare" if self.spares else "a spare forked for it"))
            return self._relay(run_id, request, fds)
        except Exception as exc:
            close_all(fds)
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
            message, _ = read_frame(sock, ZYGOTE_FRAME_LIMIT)
        except (OSError, FrameError):
            message = {}
        sock.close()
        if message.get("type") == "decline" and resend and relay.attempts < RELAY_ATTEMPTS and self.lane.sock is not None:
            # A spare let go just as it was woken for this relay: the next spare takes it.
            try:
                return self._send_relay(relay)
            except OSError:
                pass
        close_all(fds)
        pid = message.get("pid")
        if message.get("type") != "started" or not isinstance(pid, int):
            if self.lane.sock is None and self.watcher.change is not None:
                # The lane closed under it (modules changed): nothing ran, the successor runs it.
                if debug.wanted(relay.request):
                    debug.say("zygote", "run %s: stale (%s); the daemon runs it in a fresh zygote" % (run_id, self.watcher.change))
                self.channel.send({"type": "stale", "id": run_id, "reason": self.watcher.change,
                                   "preloaded": self.preloader.preloaded})
            else:
                self.channel.send({"type": "failed", "id": run_id, "message": "the run's process did not start"})
            return
        self.runs[pid] = run_id
        caller = relay.request.get("callerPid")
        self.relay_clients = {run: client for run, client in self.relay_clients.items() if run in self.runs}
        if type(caller) is int and caller > 0:
            self.relay_clients[pid] = caller
        self.channel.send({"type": "started", "id": run_id, "pid": pid})
        # The child holds signals blocked until it is the run: these reach python's handlers.
        for signo, group in relay.early_signals:
            self._kill(pid, signo, group)

    def _on_spare(self, spare):
        """A spare took a run (and closes its line), declined one, or left."""
        if spare.sock.fileno() < 0:
            return  # read to its end already (while reaping it)
        alive, frames = drain(spare.channel)
        for message, fds in frames:
            kind = message.get("type")
            if kind == "script?":
                # A spare forked before this script's first run asks what the zygote knows of it.
                close_all(fds)
                key = message.get("key")
                known = self.lane.scripts.get(tuple(key)) if isinstance(key, list) and len(key) == 4 else None
                try:
                    spare.channel.send({"type": "script", "known": None if known is None else [known[0], known[1], sorted(known[2])]})
                except OSError:
                    pass  # let go meanwhile: it declines
                continue
            if kind == "declined":
                close_all(fds)
                self.declines.count(message.get("reason"), message.get("message"))
                continue
            if kind != "took":
                close_all(fds)
                continue
            alive = False
            self.runs_served += 1
            self.last_handout = time.monotonic()
            if message.get("lane") and len(fds) == 1:
                if "script" in message:
                    self._learn_new_script(message)
                run = self.lane_runs[spare.pid] = LaneRun(socket.socket(fileno=fds[0]))
                self._note_lane_caller_env(message.get("env"))
                self.selector.register(run.sock, selectors.EVENT_READ, ("client", spare.pid))
                self.lane_served += 1
                self.forks["spare"] += 1
                self._tell_lane_counts()
            else:
                close_all(fds)
                self.daemon_served += 1
        if not alive:
            self.selector.unregister(spare.sock)
            spare.sock.close()
            self.spare_lines.pop(spare.pid, None)
            if spare in self.spares:
                self.spares.remove(spare)

    def _note_lane_caller_env(self, env):
        """A lane run's environment, which its spare did not expect (spare.take): the next
        spares expect it, as they do the daemon's last run's."""
        if type(env) is dict and all(type(k) is str and type(v) is str for k, v in env.items()):
            self.caller_env = env

    def _learn_new_script(self, message):
        """A spare read a new script itself and took its run (newscript.py): later spares know
        it, and the daemon publishes its route."""
        try:
            key, names, script_dir, local = message["script"]
            self.lane.learn(tuple(key), ([tuple(name) for name in names], script_dir, frozenset(local)))
        except (TypeError, ValueError):
            return
        self.channel.send({"type": "learnt", "cwd": message.get("cwd"), "file": message.get("file")})

    def _on_lane_client(self, pid):
        """The client of a lane run sent a signal to pass on, or went away."""
        run = self.lane_runs.get(pid)
        if run is None or run.sock.fileno() < 0:
            return
        alive, frames = drain(run.channel)
        for message, fds in frames:
            close_all(fds)
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
        """The run's process group, or the run alone. A terminal session's run is in its
        client's group (spare.join_client_group), which is not ours to signal: its own group is
        then empty, and the run alone gets the signal."""
        try:
            if group:
                os.killpg(pid, signo)
                return
        except ProcessLookupError:
            pass
        except OSError:
            return
        try:
            os.kill(pid, signo)
        except OSError:
            pass

    def _tell_lane_counts(self):
        """The daemon keeps zygotes with runs in progress and counts runs: it hears of the
        lane's here (after the run started, off its path)."""
        self.channel.send({"type": "lane", "active": len(self.lane_runs), "served": self.lane_served})

    def _decline_pending(self):
        if self.lane.sock is None or not readable(self.lane.sock.fileno()):
            return
        try:
            conn, _ = self.lane.sock.accept()
        except OSError:
            return
        message = decline_message("spare-died")
        try:
            Channel(conn).send({"type": "decline", "reason": "spare-died", "message": message})
        except OSError:
            pass
        conn.close()
        self.declines.count("spare-died", message)

    def _learn(self):
        """Imports what the runs imported lazily (learn.py), and renews the spares for it."""
        if self.retiring or self.lane.sock is None:
            return
        refused = len(self.learner.refused)
        wanted = self.learner.wanted(self.preloader, self.listings)
        if wanted or len(self.learner.refused) != refused:
            self.forkprep.listing()  # it looked for them
        if not wanted:
            return
        if self.watcher.changed() is not None:
            return  # stale: it leaves at its next run
        self.watcher.importing()
        learned = [name for name in wanted if self.learner.learn(name, self.preloader, self.c)]
        if learned:
            self.watcher.watch_imported()
            self.generation += 1
            self._retire_outdated_spares()

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

    def _leave_if_stale(self, run_id, fds, debugging=False):
        """A module file changed since it was imported: this zygote would run old code. Hand
        the run back (the daemon starts a successor that preloads the same modules) and retire.
        True if it did."""
        change = self.watcher.changed()
        if change is None:
            return False
        close_all(fds)
        if debugging:
            debug.say("zygote", "run %s: stale (%s); retiring, the daemon runs it in a fresh zygote" % (run_id, change))
        self.channel.send({"type": "stale", "id": run_id, "reason": change,
                           "preloaded": self.preloader.preloaded})
        self._retire()
        return True

    def _retire(self):
        """No more runs start here (the lane closes, the daemon's go to a successor), but the
        runs in progress go on to their end, as they would under python, and then it leaves."""
        self.retiring = True
        self._close_lane()
        if not (self.runs or self.lane_runs or self.relays or self.spare_lines):
            self._shutdown()

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
        """Pre-fork a child that waits on the lane for the next run. Returns None in the
        zygote; in the child, its assignment (everything it takes from here, in one object)."""
        ours, theirs = socket.socketpair()
        sys.stdout.flush()
        sys.stderr.flush()
        facts = self.process_facts()
        self.listings.refresh(self.lane.directories)
        self.forkprep.before_fork(self.generation, on_demand)
        modules = self.forkprep.module_names()
        self.freezer.freeze()  # children then never copy these objects' pages when they collect
        slot = self.board.take()
        pid = fork_quietly()
        if pid == 0:
            # The child: what it needs from the zygote, and the zygote's fds it must close.
            inherited = [ours, selector, self.channel.sock, self.wakeup_r, self.wakeup_w]
            inherited += [spare.sock for spare in self.spare_lines.values()]
            for relay in self.relays.values():
                inherited.append(relay.sock)
                inherited += relay.fds
            inherited += [run.sock for run in self.lane_runs.values()]
            child = Child(self, theirs, inherited, on_demand, self.board, slot, self.lane, self.watcher,
                          self.hot_pages, self.runs_served, self.preloader, self.listings, self.caller_env,
                          self.c, self.startup)
            child.process_facts = facts
            child.learn_path = self.learner.path
            child.family = self.family
            child.modules_at_fork = modules  # what a run imports beyond it is recorded
            return child
        if slot >= 0:
            self.slots[pid] = slot
        theirs.close()
        spare = SpareLine(pid, ours, self.generation)
        self.spares.append(spare)
        self.spare_lines[pid] = spare
        selector.register(ours, selectors.EVENT_READ, ("spare", spare))
        self._watch_backlog()
        return None

    def process_facts(self):
        """What a run checks and applies of its own process, read once here (a fork changes
        none of it): (title.ProcessTitle, sched.Scheduling, sched.Confinement), each ready."""
        if self._process_facts is None:
            title, scheduling, confinement = ProcessTitle(self.c), Scheduling(self.c), Confinement()
            title.ready()
            scheduling.ready()
            confinement.ready()
            self._process_facts = title, scheduling, confinement
        return self._process_facts

    def _shutdown(self, why=None):
        """The daemon is gone or asked us to go: no run may outlive us. `why`: what a lane
        client whose run is ended here is told ({code, message}), as the daemon's are."""
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
        if why is not None:
            for run in self.lane_runs.values():
                run.send(dict(why, type="error"))
        self.lane.close()
        self.hot_pages.clear()
        self.learner.clear()
        os._exit(0)


def memory_of(pids):
    """What processes cost (for status): their count, proportional set size (shared pages divided
    among their sharers) and own pages (private: a spare's copied ahead, a run's written), KiB."""
    pss = own = 0
    for pid in pids:
        try:
            with open("/proc/%d/smaps_rollup" % pid, "rb") as f:
                for line in f:
                    if line.startswith(b"Pss:"):
                        pss += int(line.split()[1])
                    elif line.startswith((b"Private_Clean:", b"Private_Dirty:")):
                        own += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            pass
    return {"count": len(pids), "pssKiB": pss, "ownKiB": own}
