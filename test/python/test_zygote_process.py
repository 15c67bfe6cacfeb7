"""A real zygote (python/pynwheel_zygote.py), spoken to as the daemon and as a lane client
would: which path each run took and the lane's declines, in its `status` reply; the
PYNWHEEL_DEBUG=1 lines in its stderr (the daemon's log), and never in a run's output."""

import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

from _pynwheel.wire import LANE_DECLINES, Channel, close_all, read_frame

from helpers import ROOT

ENTRY = os.path.join(ROOT, "python", "pynwheel_zygote.py")
CLIENT = "unit-test"
TIMEOUT = 30


class Zygote:
    """A zygote process with this test as its daemon."""

    def __init__(self, home):
        self.lane_path = os.path.join(home, "lane1")
        ours, theirs = socket.socketpair()
        self.log_r, log_w = os.pipe()
        config = {"socket": self.lane_path, "client": CLIENT, "python": sys.executable, "keyNames": [], "keyEnv": {}}
        env = self.env = {k: v for k, v in os.environ.items() if k != "PYNWHEEL_DEBUG"}
        self.process = subprocess.Popen(
            [sys.executable, ENTRY, "3", "", "", "", json.dumps(config)], cwd="/", env=env, close_fds=False,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log_w,
            preexec_fn=lambda: os.dup2(theirs.fileno(), 3))
        os.close(log_w)
        theirs.close()
        ours.settimeout(TIMEOUT)
        self.channel = Channel(ours)
        self.pending = []
        self.hello = self.next_frame()

    def next_frame(self):
        while not self.pending:
            alive, frames = self.channel.receive()
            self.pending += frames
            if not alive and not self.pending:
                raise EOFError("the zygote hung up")
        message, fds = self.pending.pop(0)
        close_all(fds)
        return message

    def until(self, kind, **fields):
        while True:
            message = self.next_frame()
            if message.get("type") == kind and all(message.get(k) == v for k, v in fields.items()):
                return message

    def status(self):
        self.channel.send({"type": "status"})
        return self.until("status")

    def stop(self):
        """Hang up, as a daemon that stops: the zygote leaves. Returns what it wrote on its stderr."""
        self.channel.sock.close()
        self.process.wait(TIMEOUT)
        log, deadline = b"", time.monotonic() + TIMEOUT
        while time.monotonic() < deadline and select.select([self.log_r], [], [], deadline - time.monotonic())[0]:
            chunk = os.read(self.log_r, 65536)
            if not chunk:
                break
            log += chunk
        os.close(self.log_r)
        return log.decode()


class Outputs:
    """A run's stdio: /dev/null in, pipes out."""

    def __init__(self):
        self.stdin = os.open(os.devnull, os.O_RDONLY)
        self.out_r, self.out_w = os.pipe()
        self.err_r, self.err_w = os.pipe()

    def fds(self):
        return [self.stdin, self.out_w, self.err_w]

    def read(self):
        close_all([self.stdin, self.out_w, self.err_w])
        out = b"".join(iter(lambda: os.read(self.out_r, 65536), b""))
        err = b"".join(iter(lambda: os.read(self.err_r, 65536), b""))
        close_all([self.out_r, self.err_r])
        return out.decode(), err.decode()


class ZygoteProcessTest(unittest.TestCase):
    def setUp(self):
        self.home = tempfile.mkdtemp()
        with open(os.path.join(self.home, "a.py"), "w") as f:
            f.write("import sys\nprint('out', sys.argv[1:])\nprint('err', file=sys.stderr)\n")
        self.zygote = Zygote(self.home)

    def tearDown(self):
        if self.zygote.process.poll() is None:
            self.zygote.stop()
        shutil.rmtree(self.home)

    def request(self, env, **changes):
        request = {"type": "run", "client": CLIENT, "file": "a.py", "args": ["x"], "cwd": self.home, "env": env,
                   "python": sys.executable, "argv0": "python3", "stdio": [True, True, True], "cwdFd": False}
        request.update(changes)
        return request

    def by_daemon(self, run_id, env):
        outputs = Outputs()
        self.zygote.channel.send(dict(self.request(env), id=run_id), outputs.fds())
        self.zygote.until("started", id=run_id)
        exit = self.zygote.until("exit", id=run_id)
        return exit.get("code"), outputs.read()

    def by_lane(self, env, **changes):
        """A lane client's run: (its replies, its output)."""
        outputs = Outputs()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(TIMEOUT)
        sock.connect(self.zygote.lane_path)
        Channel(sock).send(self.request(env, **changes), outputs.fds())
        replies = []
        while not replies or replies[-1].get("type") not in ("exit", "decline"):
            try:
                message, fds = read_frame(sock, 1 << 20, TIMEOUT)
            except Exception:
                break
            close_all(fds)
            replies.append(message)
        sock.close()
        return replies, outputs.read()

    def test_status_counts_paths_and_declines_and_debug_lines_go_to_the_log_only(self):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYNWHEEL_DEBUG": "1"}
        code, (out, err) = self.by_daemon(1, env)
        self.assertEqual((code, out, err), (0, "out ['x']\n", "err\n"), "a run of the daemon's")
        replies, (out, err) = self.by_lane(env)
        self.assertEqual([r["type"] for r in replies], ["started", "exit"], "a run by the lane")
        self.assertEqual((out, err), ("out ['x']\n", "err\n"), "nothing but the script's output")
        replies, _ = self.by_lane(env, client="0.0.0")
        self.assertEqual(replies, [{"type": "decline", "reason": "client-version", "message": LANE_DECLINES["client-version"]}])
        replies, _ = self.by_lane(env, file="never-ran.py")
        self.assertEqual(replies[-1]["reason"], "no-script")

        status = self.zygote.status()
        self.assertEqual(status["paths"], {"lane": 1, "daemon": 1})
        self.assertEqual(status["declines"], {"client-version": 1, "no-script": 1})
        self.assertEqual([entry[:2] for entry in status["recentDeclines"]],
                         [["client-version", LANE_DECLINES["client-version"]], ["no-script", LANE_DECLINES["no-script"]]])
        self.assertTrue(all(abs(entry[2] - time.time()) < 600 for entry in status["recentDeclines"]), "unix times")

        log = self.zygote.stop()
        lines = [line for line in log.splitlines() if line.startswith("pynwheel debug: ")]
        self.assertTrue(any(line.startswith("pynwheel debug: zygote: run 1 relayed") for line in lines), log)
        self.assertTrue(any(line.startswith("pynwheel debug: spare: daemon run 1 taken") for line in lines), log)
        self.assertTrue(any(line.startswith("pynwheel debug: spare: lane taken (pid ") for line in lines), log)
        self.assertTrue(any(line.startswith("pynwheel debug: spare: lane declined: client-version") for line in lines), log)
        self.assertTrue(any("lane declined: no-script" in line for line in lines), log)

    def test_without_the_variable_nothing_is_said(self):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        self.assertEqual(self.by_daemon(1, env)[0], 0)
        self.assertEqual([r["type"] for r in self.by_lane(env)[0]], ["started", "exit"])
        self.assertEqual(self.by_lane(env, client="0.0.0")[0][-1]["reason"], "client-version")
        self.assertEqual(self.zygote.status()["declines"], {"client-version": 1}, "still counted")
        self.assertNotIn("pynwheel debug", self.zygote.stop())

    def test_the_package_s_bytecode_is_kept_in_the_runtime_directory_and_runs_see_python_s_settings(self):
        with open(os.path.join(self.home, "settings.py"), "w") as f:
            f.write("import sys\nprint(sys.dont_write_bytecode, sys.pycache_prefix)\n")
        env = {"PATH": "/usr/bin:/bin"}
        outputs = Outputs()
        self.zygote.channel.send(dict(self.request(env, file="settings.py", args=[]), id=7), outputs.fds())
        self.zygote.until("exit", id=7)
        out, _ = outputs.read()
        # (The zygote's own settings are its environment's, which its key holds: python's with that.)
        python = subprocess.run([sys.executable, "settings.py"], cwd=self.home, env=self.zygote.env, capture_output=True, text=True)
        self.assertEqual(out, python.stdout)
        cached = [name for _, _, names in os.walk(os.path.join(self.home, "pycache")) for name in names]
        self.assertTrue(any(name.startswith("zygote.") and name.endswith(".pyc") for name in cached), cached)

    def test_declines_keep_the_last_eight(self):
        env = {"PATH": "/usr/bin:/bin"}
        for i in range(10):
            self.by_lane(env, client="old-%d" % i)
        status = self.zygote.status()
        self.assertEqual(status["declines"], {"client-version": 10})
        self.assertEqual(len(status["recentDeclines"]), 8)


if __name__ == "__main__":
    unittest.main()
