"""A cluster job's own progress: runs in the job's process (a script, a function or a task run by a
`pynwheel worker`). `pynwheel.progress(data)` sends a JSON value to the job's submitter, where it
comes as a progress event ({"event": "progress", "data": ...}). The worker names a file in
$PYNWHEEL_PROGRESS_FILE when the submitter listens; it reads what is appended there. Elsewhere (a
local run, or a submitter that does not listen) progress() does nothing and returns False."""

import os

# One line of JSON each: a bound keeps a runaway loop from filling the worker's disk.
MAX_LINE = 64 * 1024


def progress(data):
    """Tells the submitter `data` (a JSON value); True if it was sent, False outside a listened-to cluster job."""
    path = os.environ.get("PYNWHEEL_PROGRESS_FILE")
    if not path:
        return False
    import json  # (here: `import pynwheel` stays cheap)
    line = (json.dumps(data, default=repr) + "\n").encode("utf-8")
    if len(line) > MAX_LINE:
        raise ValueError("pynwheel.progress(): %d bytes of JSON, over the limit of %d" % (len(line), MAX_LINE))
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, line)  # (one write of a line under PIPE_BUF-ish size: whole, with O_APPEND, among forks)
    finally:
        os.close(fd)
    return True
