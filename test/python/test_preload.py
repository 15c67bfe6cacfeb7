"""Which modules a script imports at its top level (python/_pynwheel/preload.py)."""

import ast
import os
import shutil
import sys
import tempfile
import unittest

from _pynwheel.preload import CompiledScripts, DirectoryListings, Preloader, library_roots, top_level_imports


def imports(source):
    return top_level_imports(ast.parse(source))


class TopLevelImportsTest(unittest.TestCase):
    def test_import_and_from(self):
        self.assertEqual(imports("import os, numpy.linalg as la\n"), [("os", False), ("numpy.linalg", False)])
        self.assertEqual(imports("from a.b import c, d as e\n"), [("a.b", False), ("a.b.c", True), ("a.b.d", True)])
        self.assertEqual(imports("from a import *\n"), [("a", False)])

    def test_relative_imports_are_not_library_modules(self):
        self.assertEqual(imports("from . import x\nfrom .y import z\n"), [])

    def test_inside_try_if_with_at_the_top_level(self):
        source = "\n".join([
            "try:", "    import a", "except ImportError:", "    import b", "else:", "    import c", "finally:", "    import d",
            "if x:", "    import e", "else:", "    import f",
            "with x:", "    import g",
        ]) + "\n"
        self.assertEqual([name for name, _ in imports(source)], list("abcdefg"))

    def test_not_inside_functions_classes_or_loops(self):
        source = "def f():\n    import a\nclass C:\n    import b\nfor x in y:\n    import c\nwhile 0:\n    import d\n"
        self.assertEqual(imports(source), [])

    def test_try_star(self):
        if sys.version_info < (3, 11):
            return self.assertRaises(SyntaxError, ast.parse, "try:\n    pass\nexcept* E:\n    pass\n")
        tree = ast.parse("try:\n    import a\nexcept* ValueError:\n    import b\n")
        self.assertEqual([name for name, _ in top_level_imports(tree)], ["a", "b"])


class FilesTest(unittest.TestCase):
    def setUp(self):
        self.home = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.home)

    def write(self, name, text):
        path = os.path.join(self.home, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_a_directory_s_module_names(self):
        self.write("json.py", "")
        self.write("ext.cpython-311-x86_64-linux-gnu.so", "")
        self.write("notes.txt", "")
        os.mkdir(os.path.join(self.home, "plain_dir"))
        listings = DirectoryListings()
        self.assertEqual(listings.module_names(self.home), {"json", "ext"})
        self.write("pkg/__init__.py", "")
        self.assertEqual(listings.module_names(self.home), {"json", "ext", "pkg"}, "a package is looked at each time")
        self.assertEqual(listings.module_names(os.path.join(self.home, "missing")), set())

    def test_a_script_s_names_and_its_code_kept_for_the_same_bytes(self):
        path = self.write("s.py", "import json\nfrom os import path\n")
        preloader = Preloader([], library_roots(), DirectoryListings())
        self.assertEqual(preloader.names_for(path), [("json", False), ("os", False), ("os.path", True)])
        with open(path, "rb") as f:
            source = f.read()
        kept = preloader.scripts.compiled(source, path)
        self.assertIs(preloader.scripts.compiled(source, path), kept)
        self.assertIsNot(preloader.scripts.compiled(source + b"\n", path), kept)
        self.assertEqual(preloader.names_for(self.write("bad.py", "import (\n")), [], "a syntax error names nothing")

    def test_a_script_that_imports_pynwheel_names_what_the_package_imports(self):
        preloader = Preloader([], library_roots(), DirectoryListings())
        names = [name for name, _ in preloader.names_for(self.write("uses.py", "import json\nimport pynwheel.futures\n"))]
        self.assertEqual(names[:2], ["json", "pynwheel.futures"])
        for module in ("concurrent.futures", "pickle", "socket", "threading", "traceback"):
            self.assertIn(module, names)
        self.assertFalse([name for name in names[2:] if name.partition(".")[0] == "pynwheel"], "the package itself is not kept")
        tops = {name.partition(".")[0] for name in names[2:]}
        self.assertEqual({top for top in tops if top not in sys.builtin_module_names and not preloader._is_stdlib_name(top)}, set(), "the standard library only")
        self.assertNotIn("pickle", [name for name, _ in preloader.names_for(self.write("plain.py", "import json\n"))])

    def test_compiled_scripts_are_bounded(self):
        scripts = CompiledScripts()
        for i in range(CompiledScripts.LIMIT + 1):
            scripts.remember("/x/%d.py" % i, b"pass\n")
        self.assertLessEqual(len(scripts.code), CompiledScripts.LIMIT)

    def test_family_is_site_packages_only(self):
        preloader = Preloader([], library_roots(), DirectoryListings())
        self.assertEqual(preloader.family_of([("json", False), ("os.path", False), ("sys", False)], set()), [])
        self.assertEqual(preloader.family_of([("no_such_module_anywhere", False)], set()), [])


if __name__ == "__main__":
    unittest.main()
