"""A spare's read of a script its zygote has not run (python/_pynwheel/newscript.py), and the
preloader's would_import (python/_pynwheel/preload.py), in this process as a spare would be."""

import os
import sys
import tempfile
import unittest

from _pynwheel.newscript import NewScripts
from _pynwheel.preload import DirectoryListings, Preloader, library_roots


class NewScriptsTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="pnw-newscript-")
        self.listings = DirectoryListings()
        self.preloader = Preloader([], library_roots(), self.listings)

    def tearDown(self):
        for name in os.listdir(self.dir):
            os.remove(os.path.join(self.dir, name))
        os.rmdir(self.dir)

    def script(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def read(self, path, family=()):
        return NewScripts(self.preloader, self.listings, list(family)).read(path)

    def test_a_script_of_imported_modules_is_taken(self):
        known, fault = self.read(self.script("a.py", "import os, sys\nfrom os import path\nprint(1)\n"))
        self.assertIsNone(fault)
        names, script_dir, local = known
        self.assertEqual(names, [("os", False), ("sys", False), ("os", False), ("os.path", True)])
        self.assertEqual(script_dir, os.path.realpath(self.dir))
        self.assertEqual(local, frozenset({"a"}))

    def test_an_import_not_yet_imported_is_declined(self):
        name = next(n for n in ("tabnanny", "pydoc_data", "mailcap", "nntplib", "this") if n not in sys.modules)
        known, fault = self.read(self.script("b.py", "import os\nimport %s\n" % name))
        self.assertIsNone(known)
        self.assertEqual(fault[0], "not-preloaded")
        self.assertIn(name, fault[1])
        self.assertEqual(self.preloader.would_import([(name, False)], set()), name)
        self.assertNotIn(name, sys.modules, "would_import imports nothing")

    def test_a_module_of_the_scripts_directory_is_not_the_zygotes_to_import(self):
        self.script("pnw_own_module.py", "X = 1\n")
        known, fault = self.read(self.script("c.py", "import pnw_own_module\n"))
        self.assertIsNone(fault)
        self.assertIn("pnw_own_module", known[2])

    def test_another_family_is_declined(self):
        # A package of site-packages that every interpreter the units run under has (they run
        # under bare pyenv pythons too, without numpy).
        import pip  # noqa: F401
        known, fault = self.read(self.script("d.py", "import pip\n"), family=())
        self.assertEqual(fault[0], "other-family")
        known, fault = self.read(self.script("e.py", "import os\n"), family=("pip",))
        self.assertEqual(fault[0], "other-family")
        known, fault = self.read(self.script("f.py", "import pip\n"), family=("pip",))
        self.assertIsNone(fault)

    def test_a_script_that_does_not_compile_is_the_base_zygotes(self):
        known, fault = self.read(self.script("g.py", "import os\nprint(\n"))
        self.assertIsNone(fault)
        self.assertEqual(known[0], [])

    def test_a_missing_script(self):
        known, fault = self.read(os.path.join(self.dir, "nope.py"))
        self.assertEqual(fault[0], "no-script")


if __name__ == "__main__":
    unittest.main()
