"""A terminal session's own zygotes (issue 14): what they cost. Run by bench/session.js.

usage: python3 session.py RUNNER SCRIPT SESSIONS WARM_RUNS

For each of SESSIONS new pseudo-terminal sessions, in turn with python and pynwheel (the native
runner), interleaved: the session's first run of SCRIPT (pynwheel: python's own, while the
session's zygote starts), how long until a run of the session is served by that zygote, and
WARM_RUNS runs after it; then the session's zygotes' memory from `pynwheel status`. Prints one
JSON object. Each command runs in a child that is the session's leader with the terminal as its
controlling terminal, as a shell's job; times are wall times of subprocess.run.
"""
import json
import os
import pty
import re
import subprocess
import sys
import time

runner, script, sessions, warm_runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
python = sys.executable


def timed(argv, env=None):
    start = time.perf_counter()
    result = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    return (time.perf_counter() - start) * 1000, result


def in_session(work):
    """work() in a child leading a new session on a new pseudo-terminal; its JSON result."""
    reader, writer = os.pipe()
    pid, master = pty.fork()
    if pid == 0:
        os.close(reader)
        try:
            os.write(writer, json.dumps(work()).encode())
        finally:
            os._exit(0)
    os.close(writer)
    chunks = []
    while True:
        # The terminal's output must be read, or a run writing to it would block.
        import select
        ready, _, _ = select.select([reader, master], [], [], 120)
        if not ready:
            break
        if master in ready:
            try:
                os.read(master, 65536)
            except OSError:
                pass
        if reader in ready:
            data = os.read(reader, 65536)
            if not data:
                break
            chunks.append(data)
    os.waitpid(pid, 0)
    os.close(master)
    os.close(reader)
    return json.loads(b"".join(chunks) or b"null")


def python_session():
    first, _ = timed([python, script])
    warm = [timed([python, script])[0] for _ in range(warm_runs)]
    return {"first": first, "warm": warm}


def pynwheel_session():
    debug = dict(os.environ, PYNWHEEL_DEBUG="1")
    start = time.perf_counter()
    first, result = timed([runner, "run", script], debug)
    direct = b"running python directly" in result.stderr
    # Until a zygote of this session serves a run.
    ready_ms = None
    for _ in range(400):
        _, result = timed([runner, "run", script], debug)
        if b"lane taken" in result.stderr or b"the daemon started the run" in result.stderr:
            ready_ms = (time.perf_counter() - start) * 1000
            break
        time.sleep(0.01)
    warm = [timed([runner, "run", script])[0] for _ in range(warm_runs)]
    status = subprocess.run([runner, "status"], stdout=subprocess.PIPE, text=True).stdout
    sid = os.getsid(0)
    memory = []
    for block in status.split("\nzygote: ")[1:]:
        if "terminal session %d" % sid not in block:
            continue
        m = re.search(r"RSS ([\d.]+) MiB, PSS ([\d.]+) MiB", block)
        if m:
            memory.append({"rssMiB": float(m.group(1)), "pssMiB": float(m.group(2))})
    return {"first": first, "firstWasPython": direct, "readyMs": ready_ms, "warm": warm, "zygotes": memory}


results = {"python": [], "pynwheel": []}
for _ in range(sessions):
    results["python"].append(in_session(python_session))
    results["pynwheel"].append(in_session(pynwheel_session))
print(json.dumps(results))
