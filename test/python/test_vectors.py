"""The shared test vectors (test/vectors/*.json) through the package's own code: frames.json
through the zygote's frame reading (FrameReader, and read_frame on a real socket with real
fds), requests.json through a lane's check (Lane.check) and the daemon's checks as the lane
copies them (request_fault, fd_fault)."""

import json
import os
import shutil
import socket
import struct
import sys
import tempfile
import unittest

from _pynwheel import wire
from _pynwheel.lane import Lane, fd_fault, request_fault
from _pynwheel.preload import DirectoryListings, Preloader, library_roots
from _pynwheel.wire import FrameError, FrameReader, close_all, read_frame

from helpers import VECTORS, open_fds

LIMITS = {"client": wire.CLIENT_FRAME_LIMIT, "zygote": wire.ZYGOTE_FRAME_LIMIT}


def load(name):
    with open(os.path.join(VECTORS, name)) as f:
        return json.load(f)


def dev_nulls(count):
    return [os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC) for _ in range(count)]


class FramesTest(unittest.TestCase):
    vectors = load("frames.json")

    def test_there_are_vectors(self):
        self.assertGreater(len(self.vectors["valid"]), 0)
        self.assertGreater(len(self.vectors["invalid"]), 0)

    def test_valid_frames_decode_to_their_message(self):
        for vector in self.vectors["valid"]:
            with self.subTest(vector["name"]):
                fds = dev_nulls(vector["fds"])
                try:
                    frames = FrameReader(LIMITS[vector["limit"]]).push(bytes.fromhex(vector["hex"]), fds)
                    self.assertEqual([message for message, _ in frames], [vector["message"]])
                    self.assertEqual(frames[0][1], fds, "with the fds that came")
                finally:
                    close_all(fds)

    def test_invalid_frames_fail_with_their_code_and_close_every_fd(self):
        for vector in self.vectors["invalid"]:
            with self.subTest(vector["name"]):
                before = open_fds()
                fds = dev_nulls(vector["fds"])
                reader = FrameReader(LIMITS[vector["limit"]])
                with self.assertRaises(FrameError) as caught:
                    # (Fds still queued when a stream fails are its owner's to close.)
                    try:
                        reader.push(bytes.fromhex(vector["hex"]), fds)
                    finally:
                        close_all(reader.fds)
                self.assertEqual((caught.exception.code, caught.exception.reason), (vector["error"], vector["reason"]))
                self.assertEqual(open_fds(), before)

    def exchange(self, vector):
        """The vector's bytes and fds sent on a socketpair, read back as a spare reads a request."""
        ours, theirs = socket.socketpair()
        fds = dev_nulls(vector["fds"])
        try:
            data = bytes.fromhex(vector["hex"])
            if fds:
                theirs.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("%di" % len(fds), *fds))])
            else:
                theirs.sendall(data)
            theirs.shutdown(socket.SHUT_WR)
            return read_frame(ours, LIMITS[vector["limit"]], 5)
        finally:
            close_all(fds)
            ours.close()
            theirs.close()

    def test_valid_frames_read_from_a_socket(self):
        for vector in self.vectors["valid"]:
            with self.subTest(vector["name"]):
                message, fds = self.exchange(vector)
                close_all(fds)
                self.assertEqual(message, vector["message"])
                self.assertEqual(len(fds), vector["fds"])

    def test_invalid_frames_read_from_a_socket(self):
        for vector in self.vectors["invalid"]:
            with self.subTest(vector["name"]):
                before = open_fds()
                with self.assertRaises(FrameError) as caught:
                    self.exchange(vector)
                self.assertEqual((caught.exception.code, caught.exception.reason), (vector["error"], vector["reason"]))
                self.assertEqual(open_fds(), before, "the fds that came are closed")


class RequestsTest(unittest.TestCase):
    vectors = load("requests.json")

    def setUp(self):
        context = self.vectors["lane"]
        self.home = tempfile.mkdtemp()
        for name in context["files"]:
            with open(os.path.join(self.home, name), "w") as f:
                f.write("import json\n")
        self.python = os.path.realpath(sys.executable)
        listings = DirectoryListings()
        self.lane = Lane({"socket": None, "client": context["client"], "python": self.python,
                          "keyNames": context["keyNames"], "keyEnv": context["keyEnv"]}, listings)
        preloader = Preloader([], library_roots(), listings)
        for name in context["scripts"]:  # the zygote ran them as they are
            path = os.path.join(self.home, name)
            self.lane.remember(path, preloader.names_for(path), self.home, listings.module_names(self.home))
        self.opened = []

    def tearDown(self):
        close_all(self.opened)
        shutil.rmtree(self.home)

    def substitute(self, value):
        if isinstance(value, str):
            return value.replace("$DIR", self.home).replace("$PYTHON", self.python)
        if isinstance(value, list):
            return [self.substitute(v) for v in value]
        if isinstance(value, dict):
            return {self.substitute(k): self.substitute(v) for k, v in value.items()}
        return value

    def fd(self, kind):
        if kind == "pipe":
            r, w = os.pipe()
            self.opened += [r, w]
            return w
        if kind == "tty":
            controller, terminal = os.openpty()
            self.opened += [controller, terminal]
            return terminal
        if kind == "file":
            fd = os.open(os.path.join(self.home, "a.py"), os.O_RDONLY)
        elif kind == "dir":
            fd = os.open(self.home, os.O_RDONLY | os.O_DIRECTORY)
        elif kind == "closed":
            return max(open_fds()) + 10000  # far above every open one, so no later open takes it
        else:
            raise AssertionError("an fd kind the vectors do not define: %r" % kind)
        self.opened.append(fd)
        return fd

    def cases(self, column):
        """(name, request, fds, expected verdict) of every vector whose `column` check applies."""
        found = []
        for vector in self.vectors["requests"]:
            if vector[column] is None:
                continue  # (a check that does not apply: an fd that is not open never reaches a lane)
            fds = [self.fd(kind) for kind in vector["fds"]]
            found.append((vector["name"], self.substitute(vector["request"]), fds, vector[column]))
        return found

    def test_a_lane_s_verdicts(self):
        cases = self.cases("lane")
        self.assertGreater(len(cases), 40)
        for name, request, fds, expected in cases:
            with self.subTest(name):
                verdict = self.lane.check(request, fds, -1)
                self.assertEqual(verdict[0] if verdict else "accept", expected)

    def test_the_daemon_s_verdicts_as_the_lane_copies_its_checks(self):
        cases = self.cases("daemon")
        self.assertGreater(len(cases), 40)
        for name, request, fds, expected in cases:
            with self.subTest(name):
                verdict = request_fault(request, len(fds)) or fd_fault(request, fds)
                self.assertEqual(verdict[0] if verdict else "accept", expected)


if __name__ == "__main__":
    unittest.main()


class ClusterSessionTest(unittest.TestCase):
    """test/vectors/cluster-session.json: what the Python side refuses before it sends a submit
    (python/pynwheel/cluster.py) is what the daemon's checks refuse (test/vectors.test.ts)."""

    vectors = load("cluster-session.json")

    def test_the_python_side_s_constants_are_protocol_json_s(self):
        from pynwheel import local_daemon
        from helpers import protocol
        p = protocol()
        self.assertEqual(local_daemon.CLUSTER_LIMITS, p["cluster"]["limits"])
        self.assertEqual(local_daemon.CLUSTER_CHECKS, p["cluster"]["checks"])
        self.assertEqual((local_daemon.PROTOCOL_VERSION, local_daemon.MAGIC, local_daemon.HEADER.size), (p["version"], p["magic"].encode(), p["headerSize"]))
        self.assertEqual(local_daemon.CLIENT_FRAME_LIMIT, p["limits"]["clientFrameBytes"])

    def test_python_refuses_what_the_daemon_refuses(self):
        from pynwheel import cluster
        checked = [v for v in self.vectors["frames"] if v["python"]]
        self.assertGreater(len(checked), 5)
        for vector in checked:
            message = vector["message"]
            with self.subTest(vector["name"]):
                try:
                    cluster._checked_packages(message.get("packages"))
                    timeout = message.get("timeout")
                    cluster._checked_timeout(None if timeout is None else timeout / 1000)
                    verdict = "accept"
                except (TypeError, ValueError):
                    verdict = "bad-packages" if "packages" in message and "timeout" not in message else "bad-submit"
                self.assertEqual(verdict, vector["verdict"])
