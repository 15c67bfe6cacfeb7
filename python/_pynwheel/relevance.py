"""Relevance: whether a file change in a watched directory changes what this zygote holds.

Runs in the zygote (the watcher asks it about each inotify event). A directory on sys.path
(site-packages, the standard library) holds every package of the interpreter: a change there
matters only to a zygote that imported a module of that name (an edit, a removal, or a new
file that would be found first), or, for a .pth file, whose sys.path it changes or which it
makes run code. Anything else (another package installed, metadata, an editor's temporary
file) only makes the import finders list the directory again. Inside an imported package's
directory every file counts, as a module may read its data files when it is imported.
"""

import importlib.machinery
import os
import sys

IN_ISDIR = 0x40000000
IMPORT_LINE = ("import ", "import\t")


def pth_effect(path, sitedir):
    """What site.addpackage does with a .pth file, as (its import lines, the existing
    directories it adds, real paths), or None if there is no such file."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    imports, dirs = [], set()
    for line in lines:
        if line.startswith(IMPORT_LINE):
            imports.append(line)
        elif line.strip() and not line.startswith("#"):
            directory = os.path.join(sitedir, line.rstrip())
            if os.path.exists(directory):
                dirs.add(os.path.realpath(directory))
    return tuple(imports), frozenset(dirs)


class Relevance:
    def __init__(self, site_dirs):
        self.site_dirs = frozenset(os.path.realpath(d) for d in site_dirs)
        self.suffixes = sorted(importlib.machinery.all_suffixes(), key=len, reverse=True)
        self.path_dirs = frozenset()
        self.package_dirs = {}  # real directory of an imported package -> its name
        self.modules_seen = -1
        self.pth = {}  # .pth file -> its effect, as this zygote's sys.path had it at start
        for sitedir in self.site_dirs:
            try:
                names = os.listdir(sitedir)
            except OSError:
                continue
            for name in names:
                if name.endswith(".pth"):
                    self.pth[os.path.join(sitedir, name)] = pth_effect(os.path.join(sitedir, name), sitedir)
        self.refresh()

    def refresh(self):
        """After imports: the directories on sys.path, and those of imported packages."""
        if len(sys.modules) == self.modules_seen:
            return
        self.modules_seen = len(sys.modules)
        self.path_dirs = frozenset(os.path.realpath(p) for p in sys.path if isinstance(p, str) and p) | self.site_dirs
        for name, module in list(sys.modules.items()):
            locations = getattr(module, "__path__", None)
            if locations is None or isinstance(locations, str):
                continue
            try:
                for location in list(locations):
                    if isinstance(location, str):
                        self.package_dirs.setdefault(os.path.realpath(location), name)
            except Exception:
                continue  # (a module's own __path__ object that cannot be listed)

    def module_name(self, name, mask):
        """The top-level name import would find this entry as, or None."""
        if mask & IN_ISDIR:
            return name if name.isidentifier() else None
        for suffix in self.suffixes:
            if name.endswith(suffix):
                stem = name[:-len(suffix)]
                return stem if stem.isidentifier() else None
        return None

    def matters(self, directory, name, mask):
        """Whether `name` changing in `directory` (real path) changes what a fresh python
        would import where this zygote has imported already."""
        if not name:
            return True  # the watched directory itself was removed or moved
        if directory in self.site_dirs and name.endswith(".pth") and not mask & IN_ISDIR:
            return self._pth_matters(os.path.join(directory, name), directory)
        if directory not in self.path_dirs:
            return True  # inside an imported package (or beside a module off sys.path)
        top = self.module_name(name, mask)
        return top is not None and top in sys.modules

    def _pth_matters(self, path, sitedir):
        before = self.pth.get(path) or ((), frozenset())
        now = pth_effect(path, sitedir)
        self.pth[path] = now
        now = now or ((), frozenset())
        if before[0] != now[0]:
            return True  # code that runs at start-up came or went
        on_path = self.path_dirs
        return bool((now[1] - on_path) or ((before[1] - now[1]) & on_path))
