"""pynwheel's Python package: runs in the user's own process (a script under `pynwheel run`, or
any python that has `pynwheel python-path` on its sys.path). Standard library only.

- `pynwheel.futures.Executor`: a concurrent.futures Executor whose every task is a fork of the
  calling process (see pynwheel/futures.py).
- `pynwheel.tasks`: pyATS-style tasks (a script or a function per fork), their logs and results
  (see pynwheel/tasks/__init__.py).
- `pynwheel.at_fork(hook)`: hooks that run in every forked task, before its function.
- `pynwheel.progress(data)`: a cluster job's progress, sent to its submitter (pynwheel/progress.py).
"""

from pynwheel.hooks import at_fork
from pynwheel.progress import progress

__all__ = ["at_fork", "futures", "progress", "tasks"]


def __getattr__(name):
    # `import pynwheel` alone stays cheap: concurrent.futures and threading come with futures.
    if name in ("futures", "tasks"):
        import importlib
        return importlib.import_module("pynwheel." + name)
    raise AttributeError("module 'pynwheel' has no attribute %r" % (name,))
