"""The caller's fds above 2 and signals in the run (python/_pynwheel/inherited.py): each fd at
its number whatever numbers the received ones landed on, and ignored signals as SIG_IGN."""

import os
import signal
import subprocess
import sys
import textwrap
import unittest


def in_child(code):
    """Runs `code` in a fresh interpreter with the package importable; its stdout."""
    here = os.path.dirname(os.path.abspath(__file__))
    package_dir = os.path.join(here, "..", "..", "python")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], check=True, stdout=subprocess.PIPE,
                          env=dict(os.environ, PYTHONPATH=package_dir)).stdout.decode()


class PassedFdsTest(unittest.TestCase):

    def test_collisions_between_received_numbers_and_targets(self):
        out = in_child("""
            import os
            from _pynwheel.inherited import take_passed_fds
            # Received fds sitting on each other's targets (and one on its own).
            (r1, w1), (r2, w2), (r3, w3) = os.pipe(), os.pipe(), os.pipe()
            os.dup2(w1, 22, inheritable=False)  # received first: the caller's fd 21
            os.dup2(w2, 21, inheritable=False)  # the caller's fd 22
            os.dup2(w3, 23, inheritable=False)  # the caller's fd 23, received on its own number
            take_passed_fds([21, 22, 23], [22, 21, 23])
            got = []
            for fd, r in ((21, r1), (22, r2), (23, r3)):
                os.write(fd, b"x%d" % fd)
                got.append((fd, os.read(r, 10).decode(), os.get_inheritable(fd)))
            print(got)
        """)
        self.assertEqual(out, "[(21, 'x21', True), (22, 'x22', True), (23, 'x23', True)]\n")

    def test_extra_received_fds_are_closed(self):
        out = in_child("""
            import os
            from _pynwheel.inherited import take_passed_fds
            r, w = os.pipe()
            take_passed_fds([], [w])
            try:
                os.fstat(w)
                print("open")
            except OSError:
                print("closed")
        """)
        self.assertEqual(out, "closed\n")


class IgnoredSignalsTest(unittest.TestCase):

    def test_ignored_signals_and_mask(self):
        out = in_child("""
            import signal
            from _pynwheel.inherited import take_ignored_signals, take_signal_mask
            class C:
                def unblock_signals(self):
                    signal.pthread_sigmask(signal.SIG_SETMASK, [])
            take_ignored_signals({"signals": {"ignored": [1, 2], "blocked": [10]}})
            take_signal_mask({"signals": {"ignored": [1, 2], "blocked": [10]}}, C())
            print(signal.getsignal(signal.SIGINT) == signal.SIG_IGN, signal.getsignal(signal.SIGHUP) == signal.SIG_IGN, sorted(signal.pthread_sigmask(signal.SIG_BLOCK, [])))
            take_signal_mask({}, C())
            print(sorted(signal.pthread_sigmask(signal.SIG_BLOCK, [])))
        """)
        self.assertEqual(out, "True True [<Signals.SIGUSR1: 10>]\n[]\n")


if __name__ == "__main__":
    unittest.main()
