#!/usr/bin/env python3
"""Where a process's own pages are: Private_Dirty from /proc/<pid>/smaps, by kind of mapping.

Runs on its own (any python3), beside the processes it reads; bench/memory.js runs it for one
run, one waiting spare and the family zygote at the runs' sleep. For a forked child, its private
dirty pages are those it copied on write from the zygote, those it allocated itself, and those
the zygote wrote to after the fork (the zygote took a new copy and left the old one to it).

Usage: python3 bench/cow-pages.py [--json] PID[=LABEL] ...
Kinds: "malloc heap" ([heap]: large objects, dict and list storage), "anonymous mappings"
(obmalloc's arenas of small objects, mmap'd blocks), "stack", "libpython data" (.data/.bss:
static types' and small ints' reference counts, the runtime state), "extension data" (each
extension module's and shared library's writable pages), "other".
"""

import json
import sys

KINDS = ("anonymous mappings", "malloc heap", "libpython data", "extension data", "stack", "other")


def kind_of(name):
    if not name:
        return "anonymous mappings"
    if name == "[heap]":
        return "malloc heap"
    if name.startswith("[stack"):
        return "stack"
    if "libpython" in name:
        return "libpython data"
    if ".so" in name:
        return "extension data"
    return "other"


def table(pid):
    """{kind: Private_Dirty KiB}, and the three biggest mappings by it."""
    by_kind = dict.fromkeys(KINDS, 0)
    mappings = []
    name, dirty = None, 0
    with open("/proc/%s/smaps" % pid) as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 5 and "-" in fields[0] and ":" in fields[3]:
                if name is not None:
                    mappings.append((dirty, name))
                name, dirty = (fields[5] if len(fields) > 5 else ""), 0
            elif fields and fields[0] == "Private_Dirty:":
                kib = int(fields[1])
                dirty += kib
                by_kind[kind_of(name)] += kib
    if name is not None:
        mappings.append((dirty, name))
    return by_kind, sorted(mappings, reverse=True)[:3]


def main(argv):
    as_json = "--json" in argv
    targets = [a.split("=", 1) if "=" in a else [a, a] for a in argv if a != "--json"]
    tables = {}
    for pid, label in targets:
        try:
            tables[label] = table(pid)
        except OSError as exc:
            print("%s: %s" % (label, exc), file=sys.stderr)
    if as_json:
        print(json.dumps({label: kinds for label, (kinds, _) in tables.items()}))
        return
    labels = list(tables)
    print("Private_Dirty, KiB   " + "".join("%12s" % label[:12] for label in labels))
    for kind in KINDS:
        print("%-20s " % kind + "".join("%12d" % tables[label][0][kind] for label in labels))
    print("%-20s " % "in all" + "".join("%12d" % sum(tables[label][0].values()) for label in labels))
    for label in labels:
        biggest = ", ".join("%s %d" % (name.rsplit("/", 1)[-1] or "anon", kib) for kib, name in tables[label][1])
        print("  %s, biggest mappings: %s" % (label, biggest))


if __name__ == "__main__":
    main(sys.argv[1:])
