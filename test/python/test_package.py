"""The package itself: importing it does nothing but define names; every module says which
process runs it; the entry script imports every module."""

import ast
import os
import subprocess
import sys
import unittest

from helpers import ROOT

PACKAGE = os.path.join(ROOT, "python", "_pynwheel")
MODULES = sorted(name[:-3] for name in os.listdir(PACKAGE) if name.endswith(".py") and name != "__init__.py")


class PackageTest(unittest.TestCase):
    def test_importing_every_module_changes_nothing_of_the_process(self):
        probe = "\n".join([
            "import gc, os, signal, sys",
            "def state():",
            "    return (gc.isenabled(), list(sys.path), {s: signal.getsignal(s) for s in signal.valid_signals() if s not in (signal.SIGKILL, signal.SIGSTOP)},",
            "            signal.pthread_sigmask(signal.SIG_BLOCK, []), sorted(os.listdir('/proc/self/fd')), os.getcwd(), os.umask(os.umask(0o22)), dict(os.environ))",
            "before = state()",
            "import importlib",
            "for name in sys.argv[1:]:",
            "    importlib.import_module('_pynwheel.' + name)",
            "after = state()",
            "print('same' if before == after else 'changed: %r -> %r' % (before, after))",
        ])
        env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"))
        result = subprocess.run([sys.executable, "-c", probe] + MODULES, env=env, capture_output=True, text=True)
        self.assertEqual(result.stderr, "")
        self.assertEqual(result.stdout.strip(), "same")

    def test_every_module_says_which_process_runs_it(self):
        for name in ["__init__"] + MODULES:
            with open(os.path.join(PACKAGE, name + ".py")) as f:
                text = f.read()
            docstring = text.split('"""')[1] if text.startswith('"""') else ""
            self.assertRegex(docstring, r"(?i)\b(runs? in|zygote|spare|run's)\b", name)

    def test_the_standard_library_is_imported_before_the_package(self):
        """The package's own bytecode is kept in the runtime directory (sys.pycache_prefix while
        it is imported): a module of the standard library first imported then would be too."""
        from _pynwheel.preload import top_level_imports
        with open(os.path.join(ROOT, "python", "pynwheel_zygote.py")) as f:
            entry = f.read()
        before_package = entry[:entry.index("import _pynwheel.")]
        first = {name for name, _ in top_level_imports(ast.parse(before_package))}
        for name in MODULES:
            with open(os.path.join(PACKAGE, name + ".py")) as f:
                tree = ast.parse(f.read())
            for module, maybe_attribute in top_level_imports(tree):
                if not maybe_attribute:
                    self.assertTrue(module in first or any(f.startswith(module + ".") for f in first), "%s imports %s: the entry script must import it first" % (name, module))

    def test_the_entry_script_imports_every_module(self):
        with open(os.path.join(ROOT, "python", "pynwheel_zygote.py")) as f:
            entry = f.read()
        for name in MODULES:
            self.assertIn("import _pynwheel.%s " % name, entry + " ")


if __name__ == "__main__":
    unittest.main()
