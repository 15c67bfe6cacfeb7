"""pynwheel's start-up hook for a run that python executes itself (a terminal session's first run,
PYNWHEEL_DISABLE=1, python's flags that have no start-up variable, modules changing on disk): the
client puts this directory first on PYTHONPATH, and python's site imports this module before
the script. It makes `import pynwheel` work as in a warm run (the same finder, last on
sys.meta_path: python/_pynwheel/importable.py), then leaves no trace of itself: its directory off
sys.path, PYTHONPATH as the caller had it, and the sitecustomize python would have imported in
its place imported after all. Standard library only.
"""

import os
import sys


def _take_over():
    here = os.path.dirname(os.path.abspath(__file__))
    for i, entry in enumerate(sys.path):
        if os.path.abspath(entry or ".") == here:
            del sys.path[i]
            break
    sys.path_importer_cache.pop(here, None)
    # The caller's PYTHONPATH, as it was (absent: it had none).
    was = os.environ.pop("PYNWHEEL_DIRECT_PYTHONPATH", None)
    if os.environ.pop("PYNWHEEL_DIRECT_SITE", None) is not None:
        if was is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = was
    home = os.path.dirname(here)
    sys.path.insert(0, home)
    try:
        from _pynwheel.importable import make_pynwheel_importable
    finally:
        del sys.path[0]
    make_pynwheel_importable(os.path.join(home, "pynwheel_zygote.py"))


_take_over()
del _take_over, os, sys

# The sitecustomize that python would have imported: the next one on sys.path, if any (else
# this module stays as sys.modules["sitecustomize"]: the import machinery expects one there).
import sys as _sys  # noqa: E402

_this = _sys.modules.pop("sitecustomize")
try:
    import sitecustomize  # noqa: F401,E402
except ImportError as _exc:
    if _exc.name != "sitecustomize":
        raise
    _sys.modules["sitecustomize"] = _this
