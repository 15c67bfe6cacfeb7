"""What the zygote does just before it forks a child, so that each child copies fewer of its pages.

Runs in the zygote only (ForkPrep.before_fork, from Zygote._fork_spare). A forked CPython
copies each page of the zygote's that it writes to (copy-on-write), 4 KiB at a time; pages the
zygote readies once before it forks are shared by every child instead. Measured with
bench/cow-pages.py and bench/memory.js (docs/PERFORMANCE.md, "Memory").
"""

import importlib
import os
import re
import sys

# A row of sys._debugmallocstats()'s table of small-block size classes:
# class, size, pools, blocks in use, available blocks.
_SIZE_CLASS_ROW = re.compile(rb"^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$", re.M)
FILL_LIMIT = 1 << 20  # bytes of free blocks the zygote fills at most at a time


class ForkPrep:
    def __init__(self):
        self.fillers = []  # objects that occupy the free blocks of obmalloc's used pools: never touched again
        self.listed = True  # the zygote's own imports at its start
        self._module_names = None
        self.filled_generation = None

    def listing(self):
        """The zygote imports or looks for modules (a run's or a warm-up's preloads, what it
        learns): its finders may hold directory listings from now on."""
        self.listed = True

    def before_fork(self, generation, on_demand=False):
        """`generation`: the zygote's (Zygote.generation), bumped when it imports. The free
        blocks are filled at the first spare's fork after an import, where most holes are made:
        not at every fork (1-4 ms of the zygote's each time, which back-to-back runs waited for:
        pandas' warm runs twice as slow), nor for a fork a client waits for (`on_demand`); and so
        the fillers, never freed, grow only with the zygote's imports."""
        self.invalidate_finders()
        if not on_demand and generation != self.filled_generation:
            self.filled_generation = generation
            self.fill_free_blocks()

    def invalidate_finders(self):
        """A fresh interpreter lists directories anew (a package installed a moment ago is
        found): the import finders forget their listings, here once for the children to come,
        rather than in each child (0.3-0.5 MiB of pages copied in each). Only after the zygote
        imported or looked for a module: an invalidation writes to every finder (62 pages with
        pandas), even to forget nothing, and reading their state would write their reference
        counts all the same."""
        if self.listed:
            self.listed = False
            importlib.invalidate_caches()

    def module_names(self):
        """frozenset(sys.modules), made again only when the zygote imported something: made in
        each child (or before each fork), it writes the reference count of every module's
        name, spread over the whole heap (with pandas: the zygote's own pages 4.3 -> 3.2 MiB)."""
        names = self._module_names
        if names is None or len(names) != len(sys.modules) or not all(name in names for name in list(sys.modules)[-8:]):
            names = self._module_names = frozenset(sys.modules)
        return names

    def fill_free_blocks(self):
        """A child's first allocations would go to the free blocks left in the zygote's
        partially used pools, spread over its whole heap, copying a page for each few objects:
        the zygote fills those blocks with objects of its own (untracked by the collector, never
        touched again), so that a child's objects go to pools of its own instead."""
        table = size_classes()
        budget = FILL_LIMIT
        for size, available in table:
            count = min(available, budget // size)
            budget -= count * size
            make = filler(size)
            if make is None or count <= 0:
                continue
            self.fillers.append([make(i) for i in range(count)])
        if len(self.fillers) > 256:
            # (Kept, not freed: freeing would only make the holes again.)
            self.fillers = [[item for chunk in self.fillers for item in chunk]]


def size_classes():
    """[(block size, available blocks)] of obmalloc's size classes, from sys._debugmallocstats()
    (written to the C stderr: caught in a memfd). [] where there is no such table."""
    debug_stats = getattr(sys, "_debugmallocstats", None)
    memfd_create = getattr(os, "memfd_create", None)
    if debug_stats is None or memfd_create is None:
        return []
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    caught = memfd_create("pynwheel-mallocstats", getattr(os, "MFD_CLOEXEC", 1))
    saved = os.dup(2)
    try:
        os.dup2(caught, 2)
        try:
            debug_stats()
        finally:
            os.dup2(saved, 2)
        os.lseek(caught, 0, os.SEEK_SET)
        chunks = []
        while True:
            chunk = os.read(caught, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(saved)
        os.close(caught)
    text = b"".join(chunks)
    end = text.find(b"\n\n", text.find(b"-----"))
    return [(int(m.group(2)), int(m.group(5))) for m in _SIZE_CLASS_ROW.finditer(text, 0, end if end > 0 else len(text))]


def filler(size):
    """A function making an object of one untracked kind whose block is exactly `size` bytes
    in obmalloc, or None: object() for 16 bytes, a one-digit int for 32, bytes for 48 to 512
    (33 bytes of header and terminator)."""
    if size == 16 and sys.getsizeof(object()) == 16:
        return lambda i: object()
    if size == 32 and 16 < sys.getsizeof(1 << 20) <= 32:
        return lambda i: (1 << 20) + i
    if size >= 48 and sys.getsizeof(b"") + 1 <= size:
        length = size - sys.getsizeof(b"")
        if length > 1 and (sys.getsizeof(bytes(length)) + 15) // 16 * 16 == size:
            return lambda i: bytes(length)
    return None
