"""The lane's check of a request (python/_pynwheel/lane.py): the daemon's structural checks,
code for code, then the lane's own, against a real Lane with real fds and files."""

import os
import shutil
import signal
import socket
import sys
import tempfile
import unittest

from _pynwheel.lane import Lane, fd_fault, request_fault
from _pynwheel.preload import DirectoryListings
from _pynwheel.wire import LANE_DECLINES, REQUEST_CHECKS


# As numbers, as they come in JSON (signal.SIGURG is an IntEnum member).
SIGURG, SIGWINCH, SIGINT = int(signal.SIGURG), int(signal.SIGWINCH), int(signal.SIGINT)
DROP = object()


def good_request(**changes):
    request = {"type": "run", "client": "9.9.9", "file": "a.py", "args": ["x"], "cwd": "/tmp", "env": {"A": "1"},
               "python": sys.executable, "argv0": "python3", "stdio": [True, True, True], "cwdFd": False}
    request.update(changes)
    return request


class RequestFaultTest(unittest.TestCase):
    """checkRunRequest's checks (lib/daemon/request-check.ts), each with its requestChecks code."""

    def fault(self, fd_count=3, **changes):
        request = good_request(**changes)
        for name, value in list(changes.items()):
            if value is DROP:
                del request[name]
        verdict = request_fault(request, fd_count)
        return verdict[0] if verdict else None

    def test_a_good_request_has_none(self):
        self.assertIsNone(self.fault())
        self.assertIsNone(self.fault(umask=0o22, limits=[[7, 1024, 4096], [3, -1, -1]], notify=[SIGURG, 1 << 52]))
        self.assertIsNone(self.fault(file=DROP, module="json.tool"))
        self.assertIsNone(self.fault(file=DROP, module="\u00e9t\u00e9._a1"))
        self.assertIsNone(self.fault(umask=0))

    def test_file_or_module(self):
        self.assertEqual(self.fault(module="json"), "file-or-module")
        self.assertEqual(self.fault(file=DROP), "file-or-module")
        self.assertEqual(self.fault(file=1), "file-or-module")
        self.assertEqual(self.fault(file=""), "bad-file")
        self.assertEqual(self.fault(file="a\0.py"), "bad-file")
        for bad in ("", "1a", "a..b", "a.", ".a", "a-b", "a b", "\u00b2x", "a.\u0661"):
            self.assertEqual(self.fault(file=DROP, module=bad), "bad-module", bad)
        self.assertIsNone(self.fault(file=DROP, module="a\u0661"), "a digit after the first character")

    def test_args(self):
        self.assertEqual(self.fault(args="x"), "bad-args")
        self.assertEqual(self.fault(args=[1]), "bad-args")
        self.assertEqual(self.fault(args=["a\0b"]), "bad-args")
        self.assertEqual(self.fault(args=[""] * 100001), "bad-args")
        self.assertIsNone(self.fault(args=[""] * 100000))

    def test_cwd_env_python_argv0(self):
        self.assertEqual(self.fault(cwd="tmp"), "bad-cwd")
        self.assertEqual(self.fault(cwd="/t\0"), "bad-cwd")
        self.assertEqual(self.fault(cwd=None), "bad-cwd")
        for env in ([], None, {"": "x"}, {"A=B": "x"}, {"A\0": "x"}, {"A": "x\0"}, {"A": 1}, {"A": None}):
            self.assertEqual(self.fault(env=env), "bad-env", env)
        self.assertEqual(self.fault(python="python3"), "bad-python")
        self.assertEqual(self.fault(python=DROP), "bad-python")
        self.assertEqual(self.fault(argv0=None), "bad-argv0")

    def test_stdio_and_cwd_fd(self):
        self.assertEqual(self.fault(stdio=[True, True]), "bad-stdio")
        self.assertEqual(self.fault(stdio=[1, 1, 1]), "bad-stdio")
        self.assertEqual(self.fault(cwdFd=0), "bad-cwd-fd")
        self.assertEqual(self.fault(fd_count=2), "fd-count")
        self.assertEqual(self.fault(fd_count=4), "fd-count")
        self.assertIsNone(self.fault(fd_count=2, stdio=[True, False, True]))
        self.assertIsNone(self.fault(fd_count=4, cwdFd=True))

    def test_umask_limits_notify(self):
        for umask in (-1, 0o1000, 1.5, True, None, "18"):
            self.assertEqual(self.fault(umask=umask), "bad-umask", umask)
        for limits in ([[64, 1, 1]], [[-1, 1, 1]], [[0, -2, 1]], [[0, 1]], [[0, 1, 1.5]], [[0, 1, 1 << 53]],
                       [[0, 1, 1]] * 65, "x", None):
            self.assertEqual(self.fault(umask=0o22, limits=limits), "bad-limits", limits)
        self.assertEqual(self.fault(limits=[[0, 1, 1]]), "bad-limits", "limits come with umask")
        for notify in ([SIGINT, 1], [SIGURG, 0], [SIGURG, 1 << 53], [SIGURG], None,
                       [SIGWINCH, True], [str(SIGURG), 1]):
            self.assertEqual(self.fault(notify=notify), "bad-notify", notify)
        self.assertIsNone(self.fault(notify=[SIGWINCH, 1]))


class FdFaultTest(unittest.TestCase):
    def setUp(self):
        self.dir = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
        self.file = os.open(os.devnull, os.O_RDONLY)
        self.closed = os.open(os.devnull, os.O_RDONLY)
        os.close(self.closed)

    def tearDown(self):
        os.close(self.dir)
        os.close(self.file)

    def test_checkRunFds(self):
        plain = good_request()
        with_cwd = good_request(cwdFd=True)
        self.assertIsNone(fd_fault(plain, [self.file] * 3))
        self.assertIsNone(fd_fault(with_cwd, [self.file] * 3 + [self.dir]))
        self.assertEqual(fd_fault(plain, [self.file, self.dir, self.file])[0], "stdio-is-directory")
        self.assertEqual(fd_fault(plain, [self.file, self.closed, self.file])[0], "stdio-not-open")
        self.assertEqual(fd_fault(with_cwd, [self.file] * 4)[0], "cwd-fd-not-directory")
        self.assertIn("stdout", fd_fault(plain, [self.file, self.dir, self.file])[1])


class LaneCheckTest(unittest.TestCase):
    """A lane's context: its client version, interpreter, key variables, the scripts it ran."""

    def setUp(self):
        self.home = tempfile.mkdtemp()
        self.script = os.path.join(self.home, "a.py")
        with open(self.script, "w") as f:
            f.write("import json\n")
        self.lane = Lane({"socket": None, "client": "9.9.9", "python": sys.executable,
                          "keyNames": ["PYTHONHASHSEED"], "keyEnv": {"PYNWHEEL_KEYED": "1"}}, DirectoryListings())
        local = self.lane.listings.module_names(self.home)
        self.lane.remember(self.script, [("json", False)], self.home, local)
        self.devnull = os.open(os.devnull, os.O_RDWR)
        self.fds = [self.devnull] * 3

    def tearDown(self):
        os.close(self.devnull)
        shutil.rmtree(self.home)

    def check(self, watcher_fd=-1, fds=None, **changes):
        changes = dict({"cwd": self.home, "env": {"PYNWHEEL_KEYED": "1", "OTHER": "x"}}, **changes)
        request = good_request(**changes)
        verdict = self.lane.check(request, self.fds if fds is None else fds, watcher_fd)
        return request, verdict

    def test_a_script_it_ran_is_taken_with_what_the_zygote_knows(self):
        request, verdict = self.check()
        self.assertIsNone(verdict)
        self.assertEqual(request["importNames"], [("json", False)])
        self.assertEqual(request["localModules"], [self.home, ["a"]])

    def test_declines_have_their_code_and_text(self):
        cases = {
            "not-run": {"type": "status"},
            "client-version": {"client": "0.0.0"},
            "module-run": {"file": None, "module": "json.tool"},
            "other-python": {"python": "/usr/bin/python-elsewhere"},
            "other-key-env": {"env": {"PYNWHEEL_KEYED": "2"}},
            "no-script": {"file": "b.py"},
        }
        for code, changes in cases.items():
            _, verdict = self.check(**changes)
            self.assertEqual(verdict, (code, LANE_DECLINES[code]), code)
        self.assertEqual(self.check(env={"PYNWHEEL_KEYED": "1", "PYTHONHASHSEED": "0"})[1][0], "other-key-env")
        self.assertEqual(self.check(env={"PYNWHEEL_KEYED": "1", "PYNWHEEL_KEY_ENV": "X", "X": "1"})[1][0], "other-key-env")

    def test_a_structural_fault_has_the_daemon_s_code(self):
        _, verdict = self.check(env={"A": 1})
        self.assertEqual(verdict, ("bad-env", REQUEST_CHECKS["bad-env"]))
        _, verdict = self.check(fds=[self.devnull] * 2)
        self.assertEqual(verdict[0], "fd-count")
        _, verdict = self.check(cwdFd=True, fds=[self.devnull] * 4)
        self.assertEqual(verdict[0], "cwd-fd-not-directory")
        self.assertTrue(verdict[1].startswith(REQUEST_CHECKS["cwd-fd-not-directory"]))

    def test_a_script_changed_or_unknown(self):
        with open(os.path.join(self.home, "b.py"), "w") as f:
            f.write("pass\n")
        self.assertEqual(self.check(file="b.py")[1][0], "unknown-script")
        with open(self.script, "a") as f:
            f.write("import os\n")
        self.assertEqual(self.check()[1][0], "unknown-script")

    def test_the_script_s_directory_changed(self):
        with open(os.path.join(self.home, "json.py"), "w") as f:
            f.write("")
        self.assertEqual(self.check()[1][0], "directory-changed")

    def test_a_module_change_seen_by_the_watcher(self):
        r, w = os.pipe()
        try:
            self.assertIsNone(self.check(watcher_fd=r)[1])
            os.write(w, b"x")
            self.assertEqual(self.check(watcher_fd=r)[1][0], "modules-changed")
        finally:
            os.close(r)
            os.close(w)

    def test_the_interpreter_changed(self):
        self.lane.python_identity = (0, 0)
        self.assertEqual(self.check()[1][0], "python-changed")


class LaneSocketTest(unittest.TestCase):
    def test_a_lane_is_the_user_s_only_and_unlinked_when_closed(self):
        home = tempfile.mkdtemp()
        try:
            path = os.path.join(home, "lane1")
            lane = Lane({"socket": path, "client": "x", "python": sys.executable, "keyNames": [], "keyEnv": {}},
                        DirectoryListings())
            lane.open()
            self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
            client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            client.connect(path)
            client.close()
            lane.close()
            self.assertFalse(os.path.exists(path))
        finally:
            shutil.rmtree(home)


if __name__ == "__main__":
    unittest.main()
