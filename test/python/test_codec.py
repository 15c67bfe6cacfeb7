"""The call() value codec (python/_pynwheel/codec.py) on the shared vectors, test/vectors/values.json
(test/codec-vectors.test.ts checks the same vectors from TypeScript), and a value's trip through
a memfd (call.send_value / receive_value) on a real socketpair."""

import datetime  # noqa: F401 (the vectors' expressions use it)
import json
import math
import os
import socket
import unittest

from _pynwheel import codec
from _pynwheel.call import receive_value, send_value
from _pynwheel.wire import ZYGOTE_FRAME_LIMIT, read_frame

from helpers import VECTORS, open_fds

try:
    import numpy as np
except ImportError:  # the vectors that need numpy are then skipped, and say so
    np = None

with open(os.path.join(VECTORS, "values.json")) as f:
    VALUES = json.load(f)


def same(a, b):
    """Equal as values, type for type (NaN equals NaN, -0.0 is not 0.0, arrays by dtype, shape, data)."""
    if np is not None and isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


class Vectors(unittest.TestCase):
    def test_every_value_vector(self):
        checked = 0
        for vector in VALUES["values"]:
            with self.subTest(vector["name"]):
                if vector.get("numpy") and np is None:
                    # Without numpy an array is refused with a clear error (the vector's expression needs numpy).
                    if isinstance(vector["tree"], dict) and vector["tree"].get("$pn") == "ndarray":
                        with self.assertRaisesRegex(TypeError, "needs numpy"):
                            codec.decode(vector["tree"], [bytes.fromhex(b) for b in vector["blobs"]])
                    checked += 1
                    continue
                value = eval(vector["python"])
                blobs = [bytes.fromhex(b) for b in vector["blobs"]]
                if vector.get("oneWay") != "toPython":
                    tree, sent = codec.encode(value, "result")
                    self.assertEqual(tree, vector["tree"])
                    self.assertEqual([bytes(memoryview(b).cast("B")) for b in sent], blobs)
                if vector.get("oneWay") != "toJs":
                    self.assertTrue(same(codec.decode(vector["tree"], blobs), value), vector["name"])
                checked += 1
        self.assertEqual(checked, len(VALUES["values"]))

    def test_unencodable_values_name_their_place_and_type(self):
        for vector in VALUES["unencodable"]:
            with self.subTest(vector["name"]):
                with self.assertRaises(codec.EncodeError) as caught:
                    codec.encode(eval(vector["python"]), "result")
                self.assertEqual(caught.exception.where, vector["where"])
                self.assertEqual(caught.exception.type_name, vector["type"])
                self.assertTrue(str(caught.exception).startswith("%s: %s" % (vector["where"], vector["type"])))

    def test_a_cycle_fails_with_its_place(self):
        a = []
        a.append(a)
        with self.assertRaises(codec.EncodeError):
            codec.encode(a)


class Memfd(unittest.TestCase):
    def trip(self, tree, blobs):
        a, b = socket.socketpair()
        with a, b:
            send_value(a, {"type": "result"}, tree, blobs)
            message, fds = read_frame(b, ZYGOTE_FRAME_LIMIT)
            return receive_value(message, fds)

    def test_no_fd_outlives_the_value(self):
        before = open_fds()
        got = self.trip(*codec.encode([b"abc"]))
        self.assertEqual(bytes(got[1][0]), b"abc")
        del got  # (the mapping holds a dup of the memfd's fd while a blob is in use)
        self.assertEqual(open_fds(), before)

    def test_blobs_come_back_aligned_and_whole(self):
        tree, blobs = codec.encode([b"abc", b"", b"x" * 100000])
        got_tree, got_blobs = self.trip(tree, blobs)
        self.assertEqual(got_tree, tree)
        self.assertEqual([bytes(b) for b in got_blobs], [b"abc", b"", b"x" * 100000])

    def test_a_long_tree_travels_in_the_memfd(self):
        value = list(range(300000))
        tree, blobs = codec.encode(value)
        got_tree, _ = self.trip(tree, blobs)
        self.assertEqual(got_tree, value)

    def test_an_array_argument_is_a_writable_view_of_the_memfd(self):
        if np is None:  # an interpreter without numpy: an array is refused, saying why
            with self.assertRaisesRegex(TypeError, "needs numpy"):
                codec.decode({"$pn": "ndarray", "dtype": "<f8", "shape": [1], "b": 0}, [bytes(8)])
            return
        tree, blobs = codec.encode(np.arange(12, dtype=np.float64).reshape(3, 4))
        got = codec.decode(*self.trip(tree, blobs))
        self.assertTrue(got.flags.writeable)
        got[0, 0] = 5.0
        self.assertEqual(got.sum(), sum(range(12)) + 5.0)


if __name__ == "__main__":
    unittest.main()
