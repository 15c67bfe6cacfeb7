"""The value codec of call(): Python values to a JSON tree plus raw byte blobs, and back.

Runs in a call's process (call.py), and in the unit tests. Specified in docs/PROTOCOL.md
("Values"), mirrored by lib/api/codec.ts; test/vectors/values.json is checked from both sides.
A tagged value is an object whose "$pn" names its kind; a dict that has a "$pn" key itself
travels as {"$pn": "object", "v": {...}}. Blobs (bytes, arrays' data) never become text: the
tree names them by index, and the frame that carries the tree carries them in a memfd.
"""

import math
import sys

TAG = "$pn"
# Deeper than this is taken for a cycle (and would outgrow the recursion limit).
MAX_DEPTH = 200
SAFE_INTEGER = (1 << 53) - 1
# numpy dtype kinds and sizes that have a typed array in JavaScript (and so an NDArray).
ARRAY_DTYPES = frozenset(("|b1", "|i1", "|u1", "<i2", "<u2", "<i4", "<u4", "<i8", "<u8", "<f2", "<f4", "<f8"))


class EncodeError(TypeError):
    """A value the codec has no form for; `where` is its place (`result[3].weights`)."""

    def __init__(self, where, value, why=None):
        self.where = where
        self.type_name = repr(type(value))
        super().__init__("%s: %s%s" % (where, self.type_name, "" if why is None else " (%s)" % why))


def encode(value, where="result"):
    """(tree, blobs): the JSON-able tree and the list of bytes-like blobs it refers to."""
    blobs = []
    return _encode(value, where, blobs, 0), blobs


def _encode(v, where, blobs, depth):
    if depth > MAX_DEPTH:
        raise EncodeError(where, v, "nested too deeply, or a cycle")
    t = type(v)
    if v is None or t is bool or t is str:
        return v
    if t is int:
        return v if -SAFE_INTEGER <= v <= SAFE_INTEGER else {TAG: "bigint", "v": str(v)}
    if t is float:
        return _float(v)
    if t is list or t is tuple:
        return [_encode(x, "%s[%d]" % (where, i), blobs, depth + 1) for i, x in enumerate(v)]
    if t is dict:
        out = {}
        for k, x in v.items():
            if type(k) is not str:
                raise EncodeError("%s key %r" % (where, k), k, "object keys must be strings")
            out[k] = _encode(x, _member(where, k), blobs, depth + 1)
        return {TAG: "object", "v": out} if TAG in out else out
    if t is bytes or t is bytearray or t is memoryview:
        blobs.append(memoryview(v).cast("B") if t is memoryview else v)
        return {TAG: "bytes", "b": len(blobs) - 1}
    if t is set or t is frozenset:
        return [_encode(x, "%s[%d]" % (where, i), blobs, depth + 1) for i, x in enumerate(v)]
    if _is_datetime(v):
        # An aware datetime is an instant; a naive one is local time, as its timestamp() says.
        return {TAG: "date", "v": _float(v.timestamp() * 1000.0)}
    module = getattr(t, "__module__", "")
    if module == "numpy" or module.startswith("numpy."):
        return _encode_numpy(v, where, blobs)
    if isinstance(v, bool) or isinstance(v, str):
        return bool(v) if isinstance(v, bool) else str(v)
    if isinstance(v, int):  # an IntEnum, a bool subclass: its number
        return _encode(int(v), where, blobs, depth)
    if isinstance(v, float):
        return _float(float(v))
    if isinstance(v, (list, tuple)):
        return _encode(list(v), where, blobs, depth)
    if isinstance(v, dict):
        return _encode(dict(v), where, blobs, depth)
    if t.__name__ in ("generator", "async_generator"):
        raise EncodeError(where, v, "a generator: use iterate() to have its values")
    raise EncodeError(where, v)


def _is_datetime(v):
    datetime = sys.modules.get("datetime")  # (not imported here: a run that has none needs none)
    return datetime is not None and isinstance(v, datetime.datetime)


def _member(where, key):
    return "%s.%s" % (where, key) if key.isidentifier() else "%s[%r]" % (where, key)


def _float(v):
    if math.isfinite(v):
        if v == 0.0 and math.copysign(1.0, v) < 0:
            return {TAG: "float", "v": "-0"}
        return v
    return {TAG: "float", "v": "NaN" if v != v else ("Infinity" if v > 0 else "-Infinity")}


def _encode_numpy(v, where, blobs):
    np = sys.modules["numpy"]
    if isinstance(v, np.ndarray):
        dtype = v.dtype.newbyteorder("<") if v.dtype.byteorder == ">" else v.dtype
        code = dtype.str
        if code not in ARRAY_DTYPES:
            raise EncodeError(where, v, "dtype %s has no typed array" % v.dtype)
        data = np.ascontiguousarray(v, dtype=dtype)
        blobs.append(memoryview(data).cast("B") if data.size else b"")
        return {TAG: "ndarray", "dtype": code, "shape": list(v.shape), "b": len(blobs) - 1}
    if isinstance(v, np.generic):
        item = v.item()
        if type(item) in (bool, int, float):
            return _encode(item, where, blobs, 0)
    raise EncodeError(where, v)


def decode(tree, blobs):
    """The Python value of a tree; `blobs` the buffers its indexes name (each bytes-like)."""
    t = type(tree)
    if t is list:
        return [decode(x, blobs) for x in tree]
    if t is not dict:
        return tree
    tag = tree.get(TAG)
    if tag is None:
        return {k: decode(x, blobs) for k, x in tree.items()}
    if tag == "object":
        return {k: decode(x, blobs) for k, x in tree["v"].items()}
    if tag == "bytes":
        return bytes(blobs[tree["b"]])
    if tag == "float":
        return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf, "-0": -0.0}[tree["v"]]
    if tag == "bigint":
        return int(tree["v"])
    if tag == "undefined":
        return None
    if tag == "date":
        import datetime
        epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
        return epoch + datetime.timedelta(milliseconds=tree["v"])
    if tag == "ndarray":
        return _decode_array(tree, blobs[tree["b"]])
    raise ValueError("unknown value tag %r" % (tag,))


def _decode_array(tree, blob):
    try:
        import numpy as np
    except ImportError:
        raise TypeError("an NDArray argument needs numpy, which this interpreter cannot import") from None
    dtype = np.dtype(tree["dtype"])
    shape = tuple(tree["shape"])
    count = math.prod(shape)
    if count == 0:
        return np.zeros(shape, dtype)
    # Over the blob itself (a private, writable mapping of the memfd): no copy.
    return np.frombuffer(blob, dtype=dtype, count=count).reshape(shape)
