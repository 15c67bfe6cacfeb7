"""A new script's first run by the lane: the spare reads the script itself.

Runs in a spare (Lane.check asks it about a script its zygote has not run). The native runner,
finding no route for a script, guesses its family from its top-level imports and connects to
that family's lane (native/runner/guess.h); the spare that accepts reads the script's imports
as the zygote would, and takes the run only if this zygote is the one the daemon would give it
to (same family) and has already imported all the zygote would import for it. Anything else is
declined and the run goes the daemon's way: the guess never decides what runs, only where.
"""

import ast
import os

from .lane import decline_message
from .preload import pynwheel_package_imports, top_level_imports

SCRIPT_LIMIT = 4 * 1024 * 1024  # bytes: a larger script is read by the zygote, as before


class NewScripts:
    """In a spare: what it knows to read a script never run here (its zygote's preloader,
    directory listings and family)."""

    def __init__(self, preloader, listings, family):
        self.preloader = preloader
        self.listings = listings
        self.family = family

    def warm_up(self, directory):
        """Through read()'s steps once on harmless inputs while the spare waits: their first
        touches of the zygote's pages (the parser's, the listing's: copy-on-write faults) are
        then off the run's path (0.3-0.5 ms)."""
        try:
            names = top_level_imports(ast.parse(b"import os\nfrom os import path\n", "<warm-up>"))
            local = self.listings.module_names(directory)
            self.preloader.family_of(names, local)
            self.preloader.would_import(names, local)
        except Exception:
            pass  # only a warm-up

    def read(self, path):
        """(import names, script dir, local names) as Lane.scripts holds them if this zygote may
        run the script at `path` as it is, else (None, (laneDeclines code, message))."""
        try:
            with open(path, "rb") as f:
                source = f.read(SCRIPT_LIMIT + 1)
        except OSError:
            return None, ("no-script", decline_message("no-script"))
        if len(source) > SCRIPT_LIMIT:
            return None, ("not-preloaded", decline_message("not-preloaded", "a script of more than %d bytes" % SCRIPT_LIMIT))
        try:
            names = top_level_imports(ast.parse(source, path))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            names = []  # as the zygote reads it: the run reports the error, as python would
        if any(name == "pynwheel" or name.startswith("pynwheel.") for name, _ in names):
            names += pynwheel_package_imports()
        script_dir = os.path.dirname(os.path.realpath(path))
        local = self.listings.module_names(script_dir)
        family = self.preloader.family_of(names, local) if names else []
        if family != self.family:
            detail = "its imports are of family [%s], this zygote's [%s]" % (", ".join(family), ", ".join(self.family))
            return None, ("other-family", decline_message("other-family", detail))
        missing = self.preloader.would_import(names, local)
        if missing is not None:
            return None, ("not-preloaded", decline_message("not-preloaded", missing))
        return (names, script_dir, frozenset(local)), None
