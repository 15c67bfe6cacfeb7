"""The zygote's preparation before each fork (python/_pynwheel/forkprep.py): import finders
invalidated once there (and a package made after it is found in the child, as python would),
obmalloc's free blocks filled with untracked objects of each size class."""

import gc
import importlib
import importlib.util
import os
import shutil
import sys
import tempfile
import unittest

from _pynwheel.forkprep import ForkPrep, filler, size_classes


def fork_and_report(body):
    """body() in a forked child; its return value (a str) comes back through a pipe."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            os.write(w, str(body()).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        out = f.read().decode()
    os.waitpid(pid, 0)
    return out


class SizeClassesTest(unittest.TestCase):
    def test_the_table_of_obmalloc_size_classes(self):
        table = size_classes()
        self.assertGreater(len(table), 8)
        for size, available in table:
            self.assertEqual(size % 16, 0)
            self.assertTrue(16 <= size <= 512, size)
            self.assertGreaterEqual(available, 0)

    def test_the_table_leaves_fd_2_as_it_was(self):
        before = os.fstat(2)
        fds = set(os.listdir("/proc/self/fd"))
        size_classes()
        self.assertEqual((os.fstat(2).st_ino, os.fstat(2).st_dev), (before.st_ino, before.st_dev))
        self.assertEqual(set(os.listdir("/proc/self/fd")), fds)

    def test_fillers_take_one_block_of_their_class_and_are_untracked(self):
        made = 0
        for size in range(16, 513, 16):
            make = filler(size)
            if make is None:
                continue
            obj = make(1)
            self.assertEqual((sys.getsizeof(obj) + 15) // 16 * 16, size, (size, type(obj)))
            self.assertFalse(gc.is_tracked(obj))
            made += 1
        self.assertGreaterEqual(made, 30)  # every class but none or two


class FillTest(unittest.TestCase):
    def test_filling_uses_up_free_blocks(self):
        garbage = [bytes(size - 33) for size in range(48, 513, 16) for _ in range(200)]
        del garbage[::3]  # holes in partly used pools, in every class
        available = lambda: sum(size * count for size, count in size_classes())
        before = available()
        prep = ForkPrep()
        prep.fill_free_blocks()
        self.assertLess(available(), before)
        self.assertTrue(prep.fillers and all(not gc.is_tracked(o) for chunk in prep.fillers for o in chunk))

    def test_filled_once_per_generation_and_never_on_demand(self):
        prep = ForkPrep()
        prep.before_fork(0, on_demand=True)
        self.assertEqual(prep.fillers, [])
        garbage = [bytes(100) for _ in range(2000)]
        del garbage[::2]
        prep.before_fork(0)
        filled = len(prep.fillers)
        self.assertGreater(filled, 0)
        garbage = [bytes(100) for _ in range(2000)]
        del garbage[::2]
        prep.before_fork(0)  # the same generation: not again
        self.assertEqual(len(prep.fillers), filled)
        prep.before_fork(1)  # after an import
        self.assertGreater(len(prep.fillers), filled)


class ModuleNamesTest(unittest.TestCase):
    def test_made_once_and_again_after_an_import(self):
        prep = ForkPrep()
        names = prep.module_names()
        self.assertEqual(names, frozenset(sys.modules))
        self.assertIs(prep.module_names(), names)  # nothing imported: the same object, no writes
        sys.modules.pop("colorsys", None)
        import colorsys  # noqa: F401
        renewed = prep.module_names()
        self.assertIsNot(renewed, names)
        self.assertIn("colorsys", renewed)


class FinderTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        sys.path.insert(0, self.dir)

    def tearDown(self):
        sys.path.remove(self.dir)
        sys.path_importer_cache.pop(self.dir, None)
        for name in ("pnw_forkprep_early", "pnw_forkprep_late"):
            sys.modules.pop(name, None)
        shutil.rmtree(self.dir)

    def test_a_listing_is_forgotten_before_the_fork(self):
        with open(os.path.join(self.dir, "pnw_forkprep_early.py"), "w") as f:
            f.write("x = 1\n")
        prep = ForkPrep()
        prep.before_fork(0, on_demand=True)  # (its start's imports)
        prep.listing()
        self.assertIsNotNone(importlib.util.find_spec("pnw_forkprep_early"))  # listed now
        finder = sys.path_importer_cache[self.dir]
        self.assertNotEqual(finder._path_mtime, -1)
        prep.before_fork(0, on_demand=True)
        self.assertEqual(finder._path_mtime, -1)

    def test_without_a_lookup_since_the_finders_are_left_alone(self):
        prep = ForkPrep()
        prep.before_fork(0, on_demand=True)
        self.assertFalse(prep.listed)
        self.assertIsNone(importlib.util.find_spec("pnw_forkprep_early"))
        finder = sys.path_importer_cache[self.dir]
        self.assertNotEqual(finder._path_mtime, -1)
        prep.before_fork(0, on_demand=True)  # no listing() since: nothing is written
        self.assertNotEqual(finder._path_mtime, -1)

    def test_the_child_lists_directories_anew_and_finds_a_new_module(self):
        importlib.invalidate_caches()
        prep = ForkPrep()
        prep.listing()
        self.assertIsNone(importlib.util.find_spec("pnw_forkprep_late"))  # listed without it
        prep.before_fork(0)
        with open(os.path.join(self.dir, "pnw_forkprep_late.py"), "w") as f:
            f.write("x = 2\n")

        def child():
            listed = [path for path, finder in sys.path_importer_cache.items()
                      if getattr(finder, "_path_mtime", -1) != -1]
            import pnw_forkprep_late
            return "%s %s" % (listed, pnw_forkprep_late.x)

        self.assertEqual(fork_and_report(child), "[] 2")


if __name__ == "__main__":
    unittest.main()
