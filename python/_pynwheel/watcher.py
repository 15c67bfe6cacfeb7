"""Staleness: whether a module the zygote imported may have changed on disk.

Runs in the zygote, which watches and reads the changes; a spare only looks whether its
inotify fd has something to read (Lane.check), and a run closes it.
"""

import os
import struct
import sys
import time


class ModuleWatcher:
    """Notices when anything the zygote imported may have changed on disk: a module edited,
    replaced or removed, or a package installed or removed in site-packages. inotify (through
    ctypes, so still the standard library) watches the directory of every imported module
    file; a run's check is one non-blocking read."""

    IN_MODIFY, IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE, IN_DELETE = 0x2, 0x40, 0x80, 0x100, 0x200
    IN_CLOSE_WRITE, IN_DELETE_SELF, IN_MOVE_SELF, IN_Q_OVERFLOW = 0x8, 0x400, 0x800, 0x4000
    EVENT = struct.Struct("iIII")

    def __init__(self, c, library_roots):
        self.c = c
        self.library_roots = library_roots
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
        for module in list(sys.modules.values()):
            filename = getattr(module, "__file__", None)
            if isinstance(filename, str):
                directories.add(os.path.dirname(os.path.abspath(filename)))
        mask = (self.IN_MODIFY | self.IN_CLOSE_WRITE | self.IN_MOVED_FROM | self.IN_MOVED_TO |
                self.IN_CREATE | self.IN_DELETE | self.IN_DELETE_SELF | self.IN_MOVE_SELF)
        for directory in directories - set(self.watched):
            wd = self.c.inotify_add_watch(self.fd, os.fsencode(directory), mask)
            if wd >= 0:
                self.watched[directory] = wd
                self.directories[wd] = directory

    def changed(self):
        """A description of the first change since the zygote imported its modules, or None."""
        if self.fd < 0 or self.change is not None:
            return self.change
        started = time.perf_counter_ns()
        try:
            while self.change is None:
                data = os.read(self.fd, 65536)
                offset = 0
                while offset < len(data) and self.change is None:
                    wd, mask, _, length = self.EVENT.unpack_from(data, offset)
                    name = data[offset + 16:offset + 16 + length].rstrip(b"\0").decode("utf-8", "surrogateescape")
                    offset += 16 + length
                    self.change = self._describe(wd, mask, name)
        except BlockingIOError:
            pass
        self.checks += 1
        self.check_ns += time.perf_counter_ns() - started
        return self.change

    def _describe(self, wd, mask, name):
        if mask & self.IN_Q_OVERFLOW:
            return "too many file changes to follow"
        if name == "__pycache__" or name.endswith((".pyc", ".tmp", "~")) or name.startswith(".#"):
            return None  # bytecode caches and editors' scratch files change nothing python sees
        directory = self.directories.get(wd, "?")
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
