"""The zygote's gc.freeze(), kept out of a run's sight.

Runs in the zygote (Freezer.freeze before each fork; Freezer.hold_out after it compiles a
script; install() once, at its start) and in spares (Freezer.let_in, before they wait) and runs
(the gc functions installed here, called by the script).

The zygote freezes what it has before each fork, so that a child's collections never touch (and
copy) the pages of the zygote's objects. Python has nothing frozen: a run sees what python's
collector would show. What a collection would untrack is untracked before freezing (the zygote
collects first); a script's own code is held out of the frozen set (its constants are tracked
in the run as in python's, until a collection untracks them); and gc.get_objects,
gc.get_referrers and gc.freeze let the zygote's objects go the first time a script calls one
(an unfreeze costs the run nothing until then; after it, full collections traverse them, as
python's do), and gc.get_freeze_count leaves them out until then. None of it costs a run that
does not call them.
"""

import gc

# The real ones: the zygote freezes with them, and the wrappers below call them.
_freeze = gc.freeze
_unfreeze = gc.unfreeze
_get_freeze_count = gc.get_freeze_count
_get_objects = gc.get_objects
_get_referrers = gc.get_referrers

HELD_KINDS = (tuple, frozenset)  # what compile() makes that the collector tracks


class _State:
    zygote_count = 0  # objects the zygote froze (as of the fork), still frozen in this process
    thawed = False  # set once this process has let them go (or never had any)


def install():
    """In the zygote, once: gc's functions that would show its frozen objects, replaced by ones
    that let them go first (inherited by every child)."""
    for name, function in (("freeze", freeze), ("unfreeze", unfreeze), ("get_freeze_count", get_freeze_count),
                           ("get_objects", get_objects), ("get_referrers", get_referrers)):
        real = getattr(gc, name)
        function.__name__ = function.__qualname__ = name
        function.__doc__ = real.__doc__
        function.__module__ = "gc"
        setattr(gc, name, function)


def _thaw():
    if not _State.thawed:
        _State.thawed = True
        _unfreeze()


def freeze():
    _thaw()  # python freezes everything it has: so does the run
    _freeze()


def unfreeze():
    _State.thawed = True
    _unfreeze()


def get_freeze_count():
    count = _get_freeze_count()
    return count if _State.thawed else max(0, count - _State.zygote_count)


def get_objects(*args, **kwargs):
    _thaw()
    return _get_objects(*args, **kwargs)


def get_referrers(*objs):
    _thaw()
    return _get_referrers(*objs)


class Freezer:
    """The zygote's freezing, and the script objects it holds out of it."""

    def __init__(self, c):
        self.c = c
        self.held = []  # lists of objects untracked in the zygote, tracked again in each child
        self.frozen = None  # objects in the permanent generation, as counted by freeze()

    def hold_out(self, make):
        """make() (a compile), whose tracked products are untracked here, so that no freeze
        takes them, and tracked again in each spare (let_in). Returns (make()'s value, the
        objects held: keep them with it)."""
        track, untrack = self.c.gc_track, self.c.gc_untrack
        if track is None:
            return make(), None
        self.freeze()  # what came before is frozen: generation 0 then holds only what make() makes
        value = make()
        made = [o for o in _get_objects(0) if type(o) in HELD_KINDS]
        for o in made:
            untrack(o)
        self.held.append(made)
        return value, made

    def forget(self, made):
        """The objects of a compile that is no longer kept (they go with their code)."""
        if made is not None:
            self.held = [h for h in self.held if h is not made]

    def freeze(self):
        """Before a fork: untrack what a collection would, then freeze everything (gc is off in
        the zygote: the generations hold only what was made since the last freeze)."""
        gc.collect()
        # Counted as they go in: gc.get_freeze_count() walks every frozen object (1.4 ms for
        # numpy and pandas' 53,000), where the young generations hold what came since the last.
        if self.frozen is None:
            self.frozen = _get_freeze_count()  # (once: what was frozen before us)
        self.frozen += len(_get_objects())
        _freeze()
        _State.zygote_count = self.frozen
        _State.thawed = self.frozen == 0

    def let_in(self):
        """In a spare: the scripts' objects tracked again, as young as python's."""
        track = self.c.gc_track
        if track is None:
            return
        is_tracked = gc.is_tracked
        for made in self.held:
            for o in made:
                if not is_tracked(o):
                    track(o)
