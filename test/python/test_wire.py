"""Frames and the protocol's constants (python/_pynwheel/wire.py), against lib/shared/protocol.json."""

import os
import socket
import struct
import unittest

from _pynwheel import wire
from _pynwheel.wire import FrameError, FrameReader, encode_frame, read_frame

from helpers import open_fds, protocol


class ConstantsTest(unittest.TestCase):
    def test_header_and_limits_are_protocol_json_s(self):
        p = protocol()
        self.assertEqual(wire.PROTOCOL_VERSION, p["version"])
        self.assertEqual(wire.MAGIC, p["magic"].encode())
        self.assertEqual(wire.HEADER.size, p["headerSize"])
        self.assertEqual(wire.CLIENT_FRAME_LIMIT, p["limits"]["clientFrameBytes"])
        self.assertEqual(wire.ZYGOTE_FRAME_LIMIT, p["limits"]["zygoteFrameBytes"])
        self.assertEqual(wire.FDS_PER_FRAME, p["limits"]["fdsPerFrame"])
        self.assertEqual(wire.ARGS_LIMIT, p["limits"]["args"])
        self.assertEqual(wire.RESOURCE_LIMITS, p["limits"]["resourceLimits"])
        self.assertEqual(wire.NOTIFY_TOKEN_BELOW, p["limits"]["notifyTokenBelow"])
        self.assertEqual(list(wire.NOTIFY_SIGNAL_NAMES), p["notifySignals"])

    def test_codes_and_texts_are_protocol_json_s(self):
        p = protocol()
        self.assertEqual(wire.FRAME_ERRORS, p["frameErrors"])
        self.assertEqual(wire.REQUEST_CHECKS, p["requestChecks"])
        self.assertEqual(wire.LANE_DECLINES, p["laneDeclines"])

    def test_debug_switch_is_protocol_json_s(self):
        from _pynwheel import debug
        p = protocol()
        self.assertEqual(debug.DEBUG_VARIABLE, p["debug"]["variable"])
        self.assertEqual(debug.DEBUG_PREFIX, p["debug"]["prefix"])

    def test_the_control_buffer_has_room_for_every_fd_a_frame_may_carry(self):
        self.assertGreaterEqual(wire.FD_CONTROL_SPACE, socket.CMSG_SPACE(4 * wire.FDS_PER_FRAME))


def header(magic=b"PN", version=1, fds=0, length=0):
    return struct.pack(">2sBBI", magic, version, fds, length)


class FrameReaderTest(unittest.TestCase):
    def test_any_split_gives_the_frames(self):
        stream = encode_frame({"type": "run", "text": "\u00fc" * 50}) + encode_frame({"type": "signal", "signo": 2})
        for cut in range(len(stream) + 1):
            reader = FrameReader(wire.CLIENT_FRAME_LIMIT)
            frames = reader.push(stream[:cut]) + reader.push(stream[cut:])
            self.assertEqual([m for m, _ in frames], [{"type": "run", "text": "\u00fc" * 50}, {"type": "signal", "signo": 2}])

    def test_encoding_is_compact_json_after_the_header(self):
        frame = encode_frame({"type": "x", "a": [1, 2]}, 3)
        self.assertEqual(frame[:8], header(fds=3, length=len(b'{"type":"x","a":[1,2]}')))
        self.assertEqual(frame[8:], b'{"type":"x","a":[1,2]}')

    def test_fds_go_with_their_frame(self):
        reader = FrameReader(wire.ZYGOTE_FRAME_LIMIT)
        frames = reader.push(encode_frame({"type": "a"}, 2) + encode_frame({"type": "b"}, 1), [10, 11, 12])
        self.assertEqual([fds for _, fds in frames], [[10, 11], [12]])

    def errors(self, data, fds=(), limit=wire.CLIENT_FRAME_LIMIT):
        with self.assertRaises(FrameError) as caught:
            FrameReader(limit).push(data, list(fds))
        return caught.exception

    def test_each_fault_has_its_code(self):
        payload = b'{"type":"x"}'
        self.assertEqual(self.errors(header(magic=b"XX") + payload).reason, "bad-magic")
        error = self.errors(header(version=2, length=len(payload)) + payload)
        self.assertEqual((error.reason, error.code), ("other-version", "EVERSION"))
        self.assertEqual(self.errors(header(length=wire.CLIENT_FRAME_LIMIT + 1)).reason, "too-long")
        self.assertEqual(self.errors(header(fds=254)).reason, "too-many-fds")
        self.assertEqual(self.errors(header(length=3) + b"{x}").reason, "bad-json")
        self.assertEqual(self.errors(header(length=3) + b"NaN").reason, "bad-json")
        self.assertEqual(self.errors(header(length=2) + b"\xff}").reason, "bad-json")
        self.assertEqual(self.errors(header(length=7) + b"[1,2,3]").reason, "not-message")
        self.assertEqual(self.errors(header(length=10) + b'{"type":1}').reason, "not-message")
        self.assertEqual(self.errors(b"", [7]).reason, "fds-unannounced")
        self.assertEqual(self.errors(header(fds=2, length=len(payload)) + payload, [7]).reason, "fds-missing")
        self.assertEqual(self.errors(header(magic=b"XX")).code, "EPROTO")

    def test_the_zygote_limit_is_larger(self):
        reader = FrameReader(wire.ZYGOTE_FRAME_LIMIT)
        self.assertEqual(reader.push(header(length=wire.CLIENT_FRAME_LIMIT + 1)), [])  # waits for the rest

    def test_a_fault_closes_the_fds_it_held(self):
        before = open_fds()
        fds = [os.open(os.devnull, os.O_RDONLY) for _ in range(3)]
        reader = FrameReader(wire.CLIENT_FRAME_LIMIT)
        with self.assertRaises(FrameError):
            reader.push(encode_frame({"type": "a"}, 2) + header(length=3) + b"{x}", fds[:2])
        with self.assertRaises(FrameError):
            FrameReader(wire.CLIENT_FRAME_LIMIT).push(header(length=3) + b"[1]"[:3], [])
        with self.assertRaises(FrameError):
            wire.decode_payload(b"[]", fds[2:])
        self.assertEqual(open_fds(), before)

    def test_truncated_control_data_is_a_fault(self):
        before = open_fds()
        fd = os.open(os.devnull, os.O_RDONLY)
        cdata = struct.pack("i", fd)
        with self.assertRaises(FrameError) as caught:
            wire.fds_of([(socket.SOL_SOCKET, socket.SCM_RIGHTS, cdata)], socket.MSG_CTRUNC)
        self.assertEqual(caught.exception.reason, "control-truncated")
        self.assertEqual(open_fds(), before, "the fds that did come are closed")


class ReadFrameTest(unittest.TestCase):
    """One frame from a real socket, with real fds, as a spare reads a lane client's request."""

    def setUp(self):
        self.ours, self.theirs = socket.socketpair()

    def tearDown(self):
        self.ours.close()
        self.theirs.close()

    def send(self, data, fds=()):
        if fds:
            self.theirs.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("%di" % len(fds), *fds))])
        else:
            self.theirs.sendall(data)

    def test_a_frame_with_every_fd_it_may_carry(self):
        fds = [os.open(os.devnull, os.O_RDONLY) for _ in range(wire.FDS_PER_FRAME)]
        try:
            self.send(encode_frame({"type": "run", "n": 1}, len(fds)) + b"next", fds)
            message, received = read_frame(self.ours, wire.CLIENT_FRAME_LIMIT, 5)
            self.assertEqual(message, {"type": "run", "n": 1})
            self.assertEqual(len(received), wire.FDS_PER_FRAME)
            self.assertTrue(all(os.get_inheritable(fd) is False for fd in received), "MSG_CMSG_CLOEXEC")
            wire.close_all(received)
            self.assertEqual(self.ours.recv(4), b"next", "nothing after the frame is read")
        finally:
            wire.close_all(fds)

    def test_a_client_frame_over_its_limit(self):
        self.send(header(length=wire.CLIENT_FRAME_LIMIT + 1))
        with self.assertRaises(FrameError) as caught:
            read_frame(self.ours, wire.CLIENT_FRAME_LIMIT, 5)
        self.assertEqual(caught.exception.reason, "too-long")

    def test_fds_that_do_not_match_the_header_are_closed(self):
        before = open_fds()
        fd = os.open(os.devnull, os.O_RDONLY)
        self.send(encode_frame({"type": "run"}, 2), [fd])
        os.close(fd)
        with self.assertRaises(FrameError) as caught:
            read_frame(self.ours, wire.CLIENT_FRAME_LIMIT, 5)
        self.assertEqual(caught.exception.reason, "fds-missing")
        self.assertEqual(open_fds(), before)

    def test_a_connection_that_ends_within_a_frame(self):
        self.send(encode_frame({"type": "run"})[:10])
        self.theirs.shutdown(socket.SHUT_WR)
        with self.assertRaises(FrameError) as caught:
            read_frame(self.ours, wire.CLIENT_FRAME_LIMIT, 5)
        self.assertEqual(caught.exception.reason, "closed")

    def test_a_client_that_sends_nothing_times_out(self):
        with self.assertRaises(FrameError) as caught:
            read_frame(self.ours, wire.CLIENT_FRAME_LIMIT, 0.05)
        self.assertEqual(caught.exception.reason, "timeout")


if __name__ == "__main__":
    unittest.main()
