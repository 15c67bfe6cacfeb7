"""A task's result codes and how they roll up: runs in a job and in its tasks (pynwheel.tasks).

The seven codes and their `+` are pyATS's: the roll-up table below is the one pyATS documents
("Results Rollups", https://pubhub.devnetcloud.com/media/pyats/docs/results/rollup.html), cell
for cell; test/vectors/task-results.json holds the same table, and the Python units and the Node
side check themselves against it. (That page's own prose example `Passed + Aborted + Blocked`
says Blocked; its table says Aborted + Blocked = Aborted, and the table is what we follow.)
The table is symmetric, and amounts to a precedence: Aborted > Errored > Failed > Blocked >
Passx > Passed > Skipped (Skipped is neutral). Rolling up nothing gives Skipped, the neutral one.

A code is also an exception, so that a task can `raise Skipped("no device")` as well as return
it: `Skipped` is the code, `Skipped("why")` the same code with a reason.
"""

NAMES = ("Passed", "Failed", "Aborted", "Blocked", "Skipped", "Errored", "Passx")

# ROLLUP[a][b] is a + b: pyATS's "Result Roll-up Table", row by row.
ROLLUP = {
    "Failed": {"Failed": "Failed", "Passed": "Failed", "Aborted": "Aborted", "Blocked": "Failed",
               "Skipped": "Failed", "Errored": "Errored", "Passx": "Failed"},
    "Passed": {"Failed": "Failed", "Passed": "Passed", "Aborted": "Aborted", "Blocked": "Blocked",
               "Skipped": "Passed", "Errored": "Errored", "Passx": "Passx"},
    "Aborted": {"Failed": "Aborted", "Passed": "Aborted", "Aborted": "Aborted", "Blocked": "Aborted",
                "Skipped": "Aborted", "Errored": "Aborted", "Passx": "Aborted"},
    "Blocked": {"Failed": "Failed", "Passed": "Blocked", "Aborted": "Aborted", "Blocked": "Blocked",
                "Skipped": "Blocked", "Errored": "Errored", "Passx": "Blocked"},
    "Skipped": {"Failed": "Failed", "Passed": "Passed", "Aborted": "Aborted", "Blocked": "Blocked",
                "Skipped": "Skipped", "Errored": "Errored", "Passx": "Passx"},
    "Errored": {"Failed": "Errored", "Passed": "Errored", "Aborted": "Aborted", "Blocked": "Errored",
                "Skipped": "Errored", "Errored": "Errored", "Passx": "Errored"},
    "Passx": {"Failed": "Failed", "Passed": "Passx", "Aborted": "Aborted", "Blocked": "Blocked",
              "Skipped": "Passx", "Errored": "Errored", "Passx": "Passx"},
}

# What a job's exit status counts as success (the CLI exits 0 on these, 1 otherwise).
SUCCESSFUL = ("Passed", "Passx", "Skipped")


class Result(BaseException):
    """One result code (compared by code: `result == Passed`), optionally with a reason.
    A BaseException, so that `raise Skipped` in a task is not caught by its `except Exception`."""

    def __init__(self, code, reason=None):
        if code not in ROLLUP:
            raise ValueError("no such result %r (results: %s)" % (code, ", ".join(NAMES)))
        super().__init__(code, reason)
        self.code, self.reason = code, reason

    def __call__(self, reason=None):
        return Result(self.code, reason)

    def __add__(self, other):
        if not isinstance(other, Result):
            return NotImplemented
        return BY_NAME[ROLLUP[self.code][other.code]]

    __radd__ = __add__  # (symmetric; also lets sum(results, Skipped) work)

    def __eq__(self, other):
        if isinstance(other, Result):
            return self.code == other.code
        if isinstance(other, str):
            return self.code == other
        return NotImplemented

    def __hash__(self):
        return hash(self.code)

    def __str__(self):
        return self.code if self.reason is None else "%s: %s" % (self.code, self.reason)

    def __repr__(self):
        return self.code if self.reason is None else "%s(%r)" % (self.code, self.reason)

    def __reduce__(self):
        return (Result, (self.code, self.reason))


Passed, Failed, Aborted, Blocked, Skipped, Errored, Passx = (Result(name) for name in NAMES)
BY_NAME = {result.code: result for result in (Passed, Failed, Aborted, Blocked, Skipped, Errored, Passx)}


def result(name):
    """The code named `name` ('Passed', ...), or a ValueError."""
    try:
        return BY_NAME[name]
    except (KeyError, TypeError):
        raise ValueError("no such result %r (results: %s)" % (name, ", ".join(NAMES))) from None


def rollup(results):
    """The summary of results (codes or their names), as pyATS rolls them up; Skipped for none."""
    total = Skipped
    for one in results:
        total = total + (one if isinstance(one, Result) else result(one))
    return total
