"""`import pynwheel` in every run: runs in a run, from script.prepare_script. The run's
sys.meta_path gets, last, a finder for the one name `pynwheel`, at python/pynwheel/ beside the
entry script: as if that directory were last on sys.path for that name alone, so that a
script's own `pynwheel` (or one on PYTHONPATH) still comes first, and nothing else of python/
(the zygote's own package) becomes importable."""

import importlib.machinery
import os
import sys


class PynwheelPackageFinder:
    """Finds the top-level package `pynwheel` in `home` (its submodules then by its __path__)."""

    def __init__(self, home):
        self.home = home

    def find_spec(self, name, path=None, target=None):
        if name != "pynwheel":
            return None
        return importlib.machinery.PathFinder.find_spec(name, [self.home])

    def invalidate_caches(self):
        pass

    def __repr__(self):
        return "<pynwheel's package finder for %s>" % (os.path.join(self.home, "pynwheel"),)


def make_pynwheel_importable(entry_file):
    """Once: a call without a zygote has it from python/direct-site/sitecustomize.py already."""
    if not any(isinstance(finder, PynwheelPackageFinder) for finder in sys.meta_path):
        sys.meta_path.append(PynwheelPackageFinder(os.path.dirname(entry_file)))
