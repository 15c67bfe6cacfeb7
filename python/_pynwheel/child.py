"""A forked child's assignment: everything a spare, and the run it becomes, take from the zygote.

Made by the zygote at the fork, in the child (Zygote._fork_spare), and returned by the zygote's
loop to main(), which hands it to the spare (spare.py), the run's start (become.py), its script
(script.py) and its end (exit.py). No module keeps any of this in a global.
"""


class Startup:
    """What the entry script saw before it imported anything, and its own files: made once, in
    the zygote, by python/pynwheel_zygote.py."""

    def __init__(self, startup_modules, fresh_main_names, own_files, entry_file):
        # What a plain interpreter has imported before it runs a script. Anything else in
        # sys.modules was brought in by the zygote, and must not shadow a module of the
        # script's own directory.
        self.startup_modules = startup_modules
        # The names the interpreter itself put in a fresh __main__ (3.11 adds __annotations__).
        self.fresh_main_names = fresh_main_names
        # The entry script and every file of the package: their frames are not the script's.
        self.own_files = own_files
        self.entry_file = entry_file


class Child:
    """A spare's, and then its run's, assignment."""

    def __init__(self, forked_from, line, inherited, on_demand, board, slot, lane, watcher,
                 hot_pages, runs_served, preloader, listings, caller_env, c, startup):
        # The Zygote this child was forked from: never used here, only kept, as freeing it (and
        # what only it refers to) would touch, and so copy, its pages.
        self.forked_from = forked_from
        self.line = line  # the child's end of its socketpair with the zygote
        self.inherited = inherited  # the zygote's sockets and fds, which the child closes first
        self.on_demand = on_demand  # forked for a run that waits: no warm-up
        self.board = board  # the status board, and this child's slot on it (-1: none)
        self.slot = slot
        self.lane = lane
        self.watcher = watcher
        self.hot_pages = hot_pages
        self.runs_served = runs_served  # the zygote's count at the fork: whether this run records pages
        self.preloader = preloader  # what it imported: replays of native output, compiled scripts
        self.listings = listings
        # The environment of the daemon's last run: most runs come from the same shell, and a
        # spare builds the C environment for it while it waits.
        self.caller_env = caller_env
        self.c = c  # the C library's calls (libc.CLibrary)
        self.startup = startup
        # The spare's own, readied while it waits (spare.ready):
        self.environment = None  # become.Environment: the run's environment, built ahead
        self.limits = None  # become.Limits: the resource limits as they are
        self.frames = None  # spare.SpareFrames: what it says when it takes a run, encoded
        # The zygote's title.ProcessTitle, sched.Scheduling and sched.Confinement, read there once
        # and this child's own from the fork (Zygote.process_facts).
        self.process_facts = None
        self.family = None  # the zygote's family of packages (a new script's is compared: newscript.py)
        self.learn_path = None  # where the run records what it imported (learn.py), or None
        self.modules_at_fork = None  # the zygote's sys.modules names as it forked this child
        self.title = None  # title.ProcessTitle: the run's command line and name, readied
        self.scheduling = None  # sched.Scheduling: its nice value, CPUs, I/O priority, OOM score
        self.confinement = None  # sched.Confinement: its cgroup and namespaces
        # The run it took (spare.take):
        self.request = None
        self.fds = None
        self.debug = False  # its request asked for PYNWHEEL_DEBUG lines
        # The run's own (become.py, script.py), for its end (exit.py):
        self.status_notice = None  # (client pid, signo, token) if its client asked for one
        self.stdout_at_exit = []  # bytes C code left in its stdout buffer at import (script.py)
        self.tell_status = None  # a call's: its value channel hears the exit status too (call.py)
