"""PYNWHEEL_DEBUG=1: which path a run took and why, in the daemon's log.

Runs in the zygote and in spares, never in a run: the lines go to fd 2, which is the zygote's
stderr (daemon.log) until a spare takes a run's stdio, and a spare writes its lines before it
does. Only for requests whose environment has PYNWHEEL_DEBUG=1: without it nothing is written.
"""

import os

DEBUG_VARIABLE = "PYNWHEEL_DEBUG"
DEBUG_PREFIX = "pynwheel debug: "


def wanted(request):
    """Whether the request's environment asks for debug lines."""
    env = request.get("env") if type(request) is dict else None
    return type(env) is dict and env.get(DEBUG_VARIABLE) == "1"


def say(process, text):
    """One line `pynwheel debug: <process>: <text>` on the daemon's log, in one write."""
    try:
        os.write(2, ("%s%s: %s\n" % (DEBUG_PREFIX, process, text)).encode("utf-8", "backslashreplace"))
    except OSError:
        pass
