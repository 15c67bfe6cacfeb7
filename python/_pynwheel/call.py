"""A call's run: import the target, call it with the arguments from its value channel, send back
its value (or its values, for iterate()), or the exception it raised.

Runs in a run's process whose request has "call" (the fd of its value channel, one of its
passFds), after become.become_run, instead of script.prepare_script. The channel's messages and
the value codec (codec.py) are docs/PROTOCOL.md's "Calls" and "Values"; lib/api/call.ts is the
other end.
"""

import importlib
import importlib.machinery
import importlib.util
import json
import mmap
import os
import socket
import sys
import types

from . import codec
from .importable import make_pynwheel_importable
from .script import unshadow, replay_native_output
from .wire import HEADER, MAGIC, PROTOCOL_VERSION, ZYGOTE_FRAME_LIMIT, read_frame, send_frame, encode_frame

# Blobs start at offsets aligned so that any typed array can view them where they lie.
BLOB_ALIGN = 64
# A value's JSON longer than this travels in the memfd too (a frame is at most 64 MiB).
INLINE_JSON_BYTES = 1 << 20
# The frames that tell the exit status (0-255), made once in the zygote.
STATUS_FRAMES = tuple(encode_frame({"type": "status", "code": code}) for code in range(256))


class TargetError(Exception):
    """The target cannot be called: `kind` is "import" (its module failed to import), "missing"
    (no such module, file or attribute) or "not-callable"."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


def run_call(child):
    """The call, start to end; returns the run's exit status (0 once the outcome is sent)."""
    request = child.request
    sock = socket.socket(fileno=os.dup(request["call"]))
    os.close(request["call"])
    sock.setblocking(True)
    # Whatever the outcome, the channel hears the exit status once the exit steps are done.
    child.tell_status = lambda status: send_status(sock, status)
    try:
        message, fds = read_frame(sock, ZYGOTE_FRAME_LIMIT)
        tree, blobs = receive_value(message, fds)
        values = codec.decode(tree, blobs)
        args, kwargs = values.get("args") or [], values.get("kwargs") or {}
        iterate = message.get("mode") == "iterate"
    except Exception as exc:
        send_error(sock, {"kind": "protocol", "message": "the call's arguments could not be read: %s" % exc})
        return 1
    make_pynwheel_importable(child.startup.entry_file)
    try:
        function = resolve(request, child)
    except TargetError as exc:
        failure = {"kind": exc.kind, "message": str(exc)}
        if exc.__cause__ is not None:
            failure["exception"] = describe(exc.__cause__, child.startup.own_files)
        send_error(sock, failure)
        return 0
    try:
        result = function(*args, **kwargs)
        if iterate:
            return stream(sock, result, child)
        if _is_awaitable(result):
            result = _await(result)
    except BaseException as exc:
        return send_raised(sock, exc, child)
    send_result(sock, "result", result, "result")
    return 0


def run_direct(request_json):
    """A call in python started by the client itself, without a zygote (PYNWHEEL_DISABLE=1,
    python's own flags that have no environment variable, modules changing on disk): as
    `python -c BOOTSTRAP REQUEST`, the value channel as fd `call`. Returns the exit status."""
    request = json.loads(request_json)
    if sys.path and sys.path[0] == "":
        del sys.path[0]  # -c's: a file target's directory comes first, as a script's would
    return run_call(DirectCall(request))


class DirectCall:
    """What run_call takes from a zygote's Child, for a call without one: nothing preloaded,
    nothing to unshadow, scripts compiled as they are read."""

    def __init__(self, request):
        self.request = request
        own = {"<string>"}  # the bootstrap's frame (-c)
        for name, module in list(sys.modules.items()):
            if name == "_pynwheel" or name.startswith("_pynwheel."):
                own.add(getattr(module, "__file__", None))
        # (entry_file: where the package's finder looks, python/ beside _pynwheel.)
        entry_file = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pynwheel_zygote.py")
        self.startup = types.SimpleNamespace(own_files=frozenset(own), startup_modules=frozenset(sys.modules), entry_file=entry_file)
        compiled = types.SimpleNamespace(compiled=lambda source, path: compile(source, path, "exec", dont_inherit=True))
        self.preloader = types.SimpleNamespace(replay={}, scripts=compiled)
        self.listings = types.SimpleNamespace(module_names=lambda directory: ())


def resolve(request, child):
    """The function a target names: `module` or `file` of the request, args[0] its attribute path."""
    qualname = (request.get("args") or [""])[0]
    if request.get("module"):
        name = request["module"]
        sys.argv = [name]
        if not getattr(sys.flags, "safe_path", False):
            sys.path.insert(0, os.getcwd())
            unshadow(os.getcwd(), request, child)
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
                raise TargetError("missing", "no module named %r" % name) from None
            raise TargetError("import", "module %r failed to import: %s" % (name, _one_line(exc))) from exc
        except BaseException as exc:
            raise TargetError("import", "module %r failed to import: %s" % (name, _one_line(exc))) from exc
    else:
        module = import_file(request, child)
    target = module
    for part in qualname.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise TargetError("missing", "%s has no attribute %r (target %s:%s)" % (_describe_owner(target), part, module.__name__, qualname)) from None
    if not callable(target):
        raise TargetError("not-callable", "%s:%s is %s, not callable" % (module.__name__, qualname, type(target)))
    return target


def import_file(request, child):
    """The request's file, imported as the module named after its stem (never __main__), its
    directory first on sys.path as a script's would be."""
    path = os.path.abspath(request["file"])
    name = os.path.splitext(os.path.basename(path))[0]
    sys.argv = [path]
    try:
        with open(path, "rb") as f:
            source = f.read()
    except OSError as exc:
        raise TargetError("missing", "cannot open %s: %s" % (path, exc.strerror)) from None
    replay_native_output(request, child)
    script_dir = os.path.dirname(os.path.realpath(path))
    if not getattr(sys.flags, "safe_path", False):
        sys.path.insert(0, script_dir)
        unshadow(script_dir, request, child)
    loader = importlib.machinery.SourceFileLoader(name, path)
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        code = child.preloader.scripts.compiled(source, path)
        exec(code, module.__dict__)
    except BaseException as exc:
        sys.modules.pop(name, None)
        raise TargetError("import", "%s failed to import: %s" % (path, _one_line(exc))) from exc
    return module


def stream(sock, result, child):
    """iterate(): each value as it comes, one per `next` the client sends (it asks for the next
    only when it wants it, so a producer waits for a reader that does not read)."""
    if hasattr(result, "__anext__"):
        return _stream_async(sock, result, child)
    if not hasattr(result, "__next__"):
        try:
            result = iter(result)
        except TypeError:
            send_error(sock, {"kind": "not-iterable", "message": "the function returned %s, which is not iterable" % type(result)})
            return 0
    while True:
        if not _wait_next(sock):
            _close_quietly(result)
            return 0
        try:
            item = next(result)
        except StopIteration:
            send_frame(sock, encode_frame({"type": "done"}))
            return 0
        except BaseException as exc:
            return send_raised(sock, exc, child)
        if not send_result(sock, "item", item, "item"):
            _close_quietly(result)
            return 0


def _stream_async(sock, agen, child):
    import asyncio

    async def drive():
        while True:
            if not _wait_next(sock):
                await agen.aclose()
                return 0
            try:
                item = await agen.__anext__()
            except StopAsyncIteration:
                send_frame(sock, encode_frame({"type": "done"}))
                return 0
            if not send_result(sock, "item", item, "item"):
                await agen.aclose()
                return 0
    try:
        return asyncio.run(drive())
    except BaseException as exc:
        return send_raised(sock, exc, child)


def _wait_next(sock):
    """True when the client asks for the next value; False when it ended the call."""
    try:
        message, fds = read_frame(sock, ZYGOTE_FRAME_LIMIT)
    except Exception:
        return False
    for fd in fds:
        os.close(fd)
    return message.get("type") == "next"


def _close_quietly(generator):
    close = getattr(generator, "close", None)
    if close is not None:
        try:
            close()
        except Exception:
            pass


def _is_awaitable(value):
    return hasattr(value, "__await__") and not isinstance(value, type)


def _await(awaitable):
    import asyncio

    async def wrapper():
        return await awaitable
    return asyncio.run(wrapper())


def send_result(sock, kind, value, where):
    """Send one value; a value the codec cannot encode is sent as an "encode" error instead.
    False when the client is gone."""
    try:
        tree, blobs = codec.encode(value, where)
    except codec.EncodeError as exc:
        send_error(sock, {"kind": "encode", "message": "cannot send %s" % exc, "where": exc.where, "valueType": exc.type_name})
        return False
    try:
        send_value(sock, {"type": kind}, tree, blobs)
    except OSError:
        return False
    return True


def send_raised(sock, exc, child):
    """What the function (or its generator) raised, sent as the call's error; returns the run's
    exit status: SystemExit's as python gives it, 0 for any other exception (the client rejects
    with it, and the run itself did not fail)."""
    if isinstance(exc, SystemExit):
        from .exit import system_exit_status
        status = system_exit_status(exc)
        send_error(sock, {"kind": "exit", "code": status, "exception": describe(exc, child.startup.own_files)})
        return status
    send_error(sock, {"kind": "exception", "exception": describe(exc, child.startup.own_files)})
    return 0


def send_status(sock, status):
    """The run's exit status, once its exit steps are done (exit.report_status_early): the client
    may settle the call then, without waiting for the zygote's word that the process ended."""
    try:
        sock.sendmsg([STATUS_FRAMES[status]], [], socket.MSG_NOSIGNAL)
    except OSError:
        pass  # the client is gone


def send_error(sock, failure):
    try:
        send_frame(sock, encode_frame({"type": "error", "error": failure}))
    except OSError:
        pass


def send_value(sock, message, tree, blobs):
    """A value message: its tree inline (or in the memfd when long), its blobs in one memfd."""
    text = json.dumps(tree, allow_nan=False, separators=(",", ":"), ensure_ascii=False).encode()
    parts = list(blobs)
    if len(text) > INLINE_JSON_BYTES:
        parts.append(text)
    elif not parts:
        send_frame(sock, frame_with_value(message, text))
        return
    else:
        message["value"] = tree
    places, size = [], 0
    for part in parts:
        length = memoryview(part).nbytes
        places.append([size, length])
        size += (length + BLOB_ALIGN - 1) // BLOB_ALIGN * BLOB_ALIGN
    fd = os.memfd_create("pynwheel-value", os.MFD_CLOEXEC)
    try:
        os.ftruncate(fd, size)
        for (offset, length), part in zip(places, parts):
            view = memoryview(part).cast("B")
            done = 0
            while done < length:
                done += os.pwrite(fd, view[done:], offset + done)
        if len(parts) > len(blobs):
            message["body"] = places.pop()
        message["blobs"] = places
        send_frame(sock, encode_frame(message, 1), [fd])
    finally:
        os.close(fd)


def frame_with_value(message, text):
    """The frame of `message` with its `value` member the JSON `text` already made (the tree is
    not encoded twice)."""
    head = encode_frame(message)[HEADER.size:-1]
    payload = b"%s,\"value\":%s}" % (head, text) if len(head) > 1 else b"{\"value\":%s}" % text
    return HEADER.pack(MAGIC, PROTOCOL_VERSION, 0, len(payload)) + payload


def receive_value(message, fds):
    """(tree, blobs) of a value message; blobs are views of a private, writable mapping of its
    memfd (written to by no one else), so an array argument is not copied."""
    places = message.get("blobs") or []
    body = message.get("body")
    if not fds:
        return message.get("value"), []
    fd = fds[0]
    for extra in fds[1:]:
        os.close(extra)
    try:
        size = os.fstat(fd).st_size
        memory = mmap.mmap(fd, size, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ | mmap.PROT_WRITE) if size else b""
    finally:
        os.close(fd)
    view = memoryview(memory)
    blobs = [view[offset:offset + length] for offset, length in places]
    tree = json.loads(bytes(view[body[0]:body[0] + body[1]])) if body else message.get("value")
    return tree, blobs


def describe(exc, own_files, depth=0):
    """An exception as the client's PythonError has it: type, message, args, traceback, frames,
    and its cause and context, described the same way."""
    import traceback  # (only when there is an exception to describe)
    t = type(exc)
    qualname = t.__qualname__ if t.__module__ in ("builtins", "__main__") else "%s.%s" % (t.__module__, t.__qualname__)
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename in own_files:
        tb = tb.tb_next
    frames = [{"file": f.filename, "line": f.lineno, "function": f.name, "source": (f.line or None)}
              for f in traceback.extract_tb(tb)]
    try:
        args, _ = codec.encode(list(exc.args), "args")
        if _:
            raise codec.EncodeError("args", exc.args)
    except codec.EncodeError:
        args = [_safe_repr(a) for a in exc.args]
    try:
        message = str(exc)
    except Exception:
        message = "<exception str() failed>"
    formatted = "".join(traceback.format_exception(t, exc, tb, chain=False))
    out = {"type": qualname, "message": message, "args": args, "traceback": formatted, "frames": frames}
    if isinstance(exc, SystemExit):
        out["code"] = exc.code if isinstance(exc.code, (int, str)) or exc.code is None else repr(exc.code)
    if depth < 20:
        if exc.__cause__ is not None:
            out["cause"] = describe(exc.__cause__, own_files, depth + 1)
        if exc.__context__ is not None and exc.__context__ is not exc.__cause__:
            out["context"] = describe(exc.__context__, own_files, depth + 1)
        if exc.__suppress_context__:
            out["suppressContext"] = True
    return out


def _safe_repr(value):
    try:
        return repr(value)
    except Exception:
        return "<%s>" % type(value).__name__


def _one_line(exc):
    return "%s: %s" % (type(exc).__name__, exc) if str(exc) else type(exc).__name__


def _describe_owner(target):
    if isinstance(target, types.ModuleType):
        return "module %r" % target.__name__
    return repr(type(target)) if not isinstance(target, type) else "class %r" % target.__qualname__
