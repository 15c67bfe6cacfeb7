"""A run's exit status and traceback, as python's (python/_pynwheel/exit.py)."""

import io
import sys
import unittest

from _pynwheel.exit import report_uncaught, system_exit_status


class CapturedStderr:
    def __enter__(self):
        self.saved = sys.stderr
        sys.stderr = io.StringIO()
        return sys.stderr

    def __exit__(self, *_):
        sys.stderr = self.saved


class SystemExitStatusTest(unittest.TestCase):
    def status(self, *args):
        with CapturedStderr() as err:
            status = system_exit_status(SystemExit(*args))
        return status, err.getvalue()

    def test_as_py_handle_system_exit(self):
        self.assertEqual(self.status(), (0, ""))
        self.assertEqual(self.status(None), (0, ""))
        self.assertEqual(self.status(0), (0, ""))
        self.assertEqual(self.status(3), (3, ""))
        self.assertEqual(self.status(256), (256, ""), "the caller keeps the low byte")
        self.assertEqual(self.status(-1), (-1, ""))
        self.assertEqual(self.status(2 ** 31), (-1, ""), "beyond a C int")
        self.assertEqual(self.status(True), (True, ""))
        self.assertEqual(self.status("bye"), (1, "bye\n"), "anything else is printed")
        self.assertEqual(self.status(1, 2), (1, "(1, 2)\n"))


class ReportUncaughtTest(unittest.TestCase):
    def test_the_zygote_s_frames_are_left_out(self):
        own = "/zygote/own.py"
        namespace = {}
        exec(compile("def below(f):\n    return f()\n", own, "exec"), namespace)
        exec(compile("def script():\n    raise ValueError(\"the script's\")\n", "/user/script.py", "exec"), namespace)
        try:
            namespace["below"](namespace["script"])
        except ValueError as exc:
            caught = exc
        seen = []
        saved = sys.excepthook
        sys.excepthook = lambda kind, value, tb: seen.append(tb)
        try:
            self.assertEqual(report_uncaught(caught, frozenset({own, __file__})), 1)
        finally:
            sys.excepthook = saved
        tb = seen[0]
        self.assertEqual(tb.tb_frame.f_code.co_name, "script", "the traceback starts at the script's frame")
        self.assertIs(sys.last_value, caught)


if __name__ == "__main__":
    unittest.main()
