"""Shared by the Python unit tests of python/_pynwheel (run by test/python-unit.test.ts)."""

import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROTOCOL = os.path.join(ROOT, "lib", "shared", "protocol.json")
VECTORS = os.path.join(ROOT, "test", "vectors")


def protocol():
    with open(PROTOCOL) as f:
        return json.load(f)


def open_fds():
    return set(int(fd) for fd in os.listdir("/proc/self/fd"))
