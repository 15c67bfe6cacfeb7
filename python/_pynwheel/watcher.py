"""Staleness: whether a module the zygote imported may have changed on disk.

Runs in the zygote, which watches and reads the changes (relevance.py says which matter); a
spare only looks whether its inotify fd has something to read (Lane.check) and whether the
zygote has read a change it has not let the spares go for yet (noticed()); a run closes both.
"""

import importlib
import mmap
import os
import select
import struct
import sys
import time

from .relevance import Relevance

# A file's times come from the kernel's coarse clock, up to a tick (4 ms at HZ=250; some file
# systems have 10 ms or more) behind time.time_ns(): a change this close to an import may
# have come after it.
TIMESTAMP_SLACK_NS = 20_000_000


class ModuleWatcher:
    """Notices when anything the zygote imported may have changed on disk: a module edited,
    replaced or removed, or a package installed or removed in site-packages. inotify (through
    ctypes, so still the standard library) watches the directory of every imported module
    file; a run's check is one non-blocking read."""

    IN_MODIFY, IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE, IN_DELETE = 0x2, 0x40, 0x80, 0x100, 0x200
    IN_CLOSE_WRITE, IN_DELETE_SELF, IN_MOVE_SELF, IN_Q_OVERFLOW = 0x8, 0x400, 0x800, 0x4000
    EVENT = struct.Struct("iIII")

    def __init__(self, c, library_roots, site_dirs=()):
        self.c = c
        self.library_roots = library_roots
        # Set by the zygote before it reads events, cleared if none mattered: a spare that
        # finds the inotify fd empty because the zygote has just read it still declines.
        self.flag = mmap.mmap(-1, 1, flags=mmap.MAP_SHARED)
        self.relevance = Relevance(site_dirs)
        self.imports_since = time.time_ns()  # before the imports watch_imported has not seen
        self.modules_checked = set()
        self.unrelated = 0  # events that only made the finders list their directory again
        self.fd = -1
        self.watched = {}  # directory -> watch descriptor
        self.modules_watched = -1  # len(sys.modules) when their directories were last added
        self.directories = {}  # watch descriptor -> directory
        self.change = None  # the first change seen, as words
        self.checks = 0
        self.check_ns = 0
        try:
            self.fd = c.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        except Exception:
            self.fd = -1  # no inotify (or no ctypes): checks fall back to nothing (documented)
        if self.fd < 0:
            self.fd = -1

    def watch_imported(self):
        """Watch the directories of every module file imported so far, and site-packages."""
        if self.fd < 0 or len(sys.modules) == self.modules_watched:
            return  # nothing imported since the last look (the zygote only ever adds modules)
        self.modules_watched = len(sys.modules)
        directories = set(self.library_roots)
        files = []
        for name, module in list(sys.modules.items()):
            filename = getattr(module, "__file__", None)
            if isinstance(filename, str):
                directories.add(os.path.dirname(os.path.abspath(filename)))
                if name not in self.modules_checked:
                    self.modules_checked.add(name)
                    files.append(filename)
        mask = (self.IN_MODIFY | self.IN_CLOSE_WRITE | self.IN_MOVED_FROM | self.IN_MOVED_TO |
                self.IN_CREATE | self.IN_DELETE | self.IN_DELETE_SELF | self.IN_MOVE_SELF)
        for directory in directories - set(self.watched):
            wd = self.c.inotify_add_watch(self.fd, os.fsencode(directory), mask)
            if wd >= 0:
                self.watched[directory] = wd
                self.directories[wd] = (directory, os.path.realpath(directory))
        self.relevance.refresh()
        # A change between a module's import and its directory's watch has no event: its file
        # times tell (a change just before the import counts too: the zygote is replaced once).
        since = self.imports_since - TIMESTAMP_SLACK_NS
        for filename in files:
            try:
                st = os.stat(filename)
            except OSError:
                continue  # (a module of no file of its own: a frozen or zipped one)
            if max(st.st_mtime_ns, st.st_ctime_ns) >= since and self.change is None:
                self.change = "%s was changed while it was imported" % filename
                self.flag[0] = 1
        self.imports_since = time.time_ns()

    def importing(self):
        """Before the zygote imports modules: a change to them from now on is theirs."""
        self.imports_since = time.time_ns()

    def noticed(self):
        """In a spare: the zygote has read a change (or is reading events) that it has not let
        this spare go for yet."""
        return self.flag is not None and self.flag[0] != 0

    def changed(self):
        """A description of the first change since the zygote imported its modules, or None."""
        if self.fd < 0 or self.change is not None:
            return self.change
        started = time.perf_counter_ns()
        if select.select([self.fd], [], [], 0)[0]:
            self.flag[0] = 1  # before the read: the events leave the fd, the spares still see them
            unrelated = False
            try:
                while self.change is None:
                    data = os.read(self.fd, 65536)
                    offset = 0
                    while offset < len(data) and self.change is None:
                        wd, mask, _, length = self.EVENT.unpack_from(data, offset)
                        name = data[offset + 16:offset + 16 + length].rstrip(b"\0").decode("utf-8", "surrogateescape")
                        offset += 16 + length
                        self.change = self._describe(wd, mask, name)
                        unrelated = unrelated or self.change is None
            except BlockingIOError:
                pass
            if self.change is None:
                if unrelated:
                    # A package installed or removed beside ours, say: nothing this zygote holds
                    # changed, but its finders must list the directory again (spares do it anyway
                    # before they wait).
                    importlib.invalidate_caches()
                    self.unrelated += 1
                self.flag[0] = 0
        self.checks += 1
        self.check_ns += time.perf_counter_ns() - started
        return self.change

    def _describe(self, wd, mask, name):
        if mask & self.IN_Q_OVERFLOW:
            return "too many file changes to follow"
        if name == "__pycache__" or name.endswith((".pyc", ".tmp", "~")) or name.startswith(".#"):
            return None  # bytecode caches and editors' scratch files change nothing python sees
        directory, real = self.directories.get(wd, ("?", "?"))
        if real != "?" and not self.relevance.matters(real, name, mask):
            return None
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
        if self.flag is not None:
            self.flag.close()
            self.flag = None
