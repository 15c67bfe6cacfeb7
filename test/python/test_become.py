"""What a run's process takes from its caller (python/_pynwheel/become.py)."""

import io
import os
import signal
import sys
import unittest

from _pynwheel.become import Environment, Limits, status_notice, stdio_streams


class StdioStreamsTest(unittest.TestCase):
    """The streams python's create_stdio would build on fds 0-2 (they are not closed here)."""

    def test_closed_fds_have_none(self):
        self.assertEqual(stdio_streams({}, []), [None, None, None])
        streams = stdio_streams({}, [1])
        self.assertIsNone(streams[0])
        self.assertIsNotNone(streams[1])
        self.assertIsNone(streams[2])

    def test_names_modes_and_buffering(self):
        stdin, stdout, stderr = stdio_streams({}, [0, 1, 2])
        self.assertEqual([s.name for s in (stdin, stdout, stderr)], ["<stdin>", "<stdout>", "<stderr>"])
        self.assertEqual([s.mode for s in (stdin, stdout, stderr)], ["r", "w", "w"])
        self.assertIsInstance(stdout.buffer, io.BufferedWriter)
        self.assertTrue(stderr.line_buffering, "stderr is line-buffered, as python's")
        self.assertEqual(stdout.line_buffering, os.isatty(1))
        self.assertEqual(stderr.errors, "backslashreplace")
        self.assertFalse(stdout.write_through)

    def test_pythonunbuffered(self):
        _, stdout, stderr = stdio_streams({"PYTHONUNBUFFERED": "1"}, [0, 1, 2])
        self.assertIsInstance(stdout.buffer, io.FileIO)
        self.assertTrue(stdout.write_through)
        self.assertFalse(stderr.line_buffering)

    def test_pythonioencoding(self):
        stdin, stdout, stderr = stdio_streams({"PYTHONIOENCODING": "LATIN-1"}, [0, 1, 2])
        self.assertEqual((stdout.encoding, stdout.errors), ("iso8859-1", "strict"), "normalised, strict by default")
        self.assertEqual(stderr.errors, "backslashreplace", "stderr keeps its handler")
        _, stdout, _ = stdio_streams({"PYTHONIOENCODING": "utf-8:replace"}, [1])
        self.assertEqual((stdout.encoding, stdout.errors), ("utf-8", "replace"))
        _, stdout, _ = stdio_streams({"PYTHONIOENCODING": ":ignore"}, [1])
        self.assertEqual(stdout.errors, "ignore")


class StatusNoticeTest(unittest.TestCase):
    def test_only_a_well_formed_notify_with_a_caller(self):
        urg = int(signal.SIGURG)
        self.assertEqual(status_notice({"notify": [urg, 7]}, 123), (123, urg, 7))
        self.assertIsNone(status_notice({}, 123))
        self.assertIsNone(status_notice({"notify": [urg, 7]}, None), "no caller pid (a relayed run)")
        self.assertIsNone(status_notice({"notify": [int(signal.SIGINT), 7]}, 123))
        self.assertIsNone(status_notice({"notify": [urg, 1 << 53]}, 123))


class LimitsTest(unittest.TestCase):
    def test_limits_as_they_are_are_not_set_again(self):
        import resource
        limits = Limits()
        current = [[which, *resource.getrlimit(which)] for which in (resource.RLIMIT_NOFILE, resource.RLIMIT_CORE)]
        limits.set(current)
        self.assertEqual(limits.as_they_are, current)
        self.assertEqual([[w, *resource.getrlimit(w)] for w, _, _ in current], current)


if __name__ == "__main__":
    unittest.main()


class ExpectedEnvironmentTest(unittest.TestCase):
    """A lane run tells its zygote an environment its spare did not expect (spare.take), so
    that the next spares build it ahead; one it expected costs the run nothing more."""

    def took(self, expected, env):
        from _pynwheel.spare import SpareFrames
        from _pynwheel.wire import decode_payload
        environment = Environment(None)
        environment.expected = None if expected is None else (list(expected), list(expected.values()), None)
        frames = SpareFrames()
        frame = frames.took_lane_for(env, environment)
        return frame is frames.took_lane, decode_payload(frame[8:], [None])

    def test_the_same_names_first_reuse_the_encoded_frame(self):
        same, message = self.took({"A": "1", "B": "2"}, {"A": "1", "B": "changed", "C": "more"})
        self.assertTrue(same, "values that differ and names after them are set at the run")
        self.assertEqual(message, {"type": "took", "lane": True})

    def test_other_names_or_nothing_expected_carry_the_environment(self):
        for expected in ({"B": "2", "A": "1"}, {"A": "1", "X": "9"}, None):
            env = {"A": "1", "B": "2"}
            same, message = self.took(expected, env)
            self.assertFalse(same, expected)
            self.assertEqual(message, {"type": "took", "lane": True, "env": env}, expected)
