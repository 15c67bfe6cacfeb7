"""The C library's calls that the standard library has no word for, through ctypes.

Loaded once, in the zygote (CLibrary(), made by Zygote): every child inherits the loaded
library and the functions looked up in it, since in a freshly forked child a lookup costs more
than the call. The zygote uses inotify and fflush; spares prctl and madvise; runs the C
environment, pthread_sigmask, fflush and sigqueue.
"""

import os
import signal
import sys

PR_SET_PDEATHSIG = 1
MADV_POPULATE_WRITE = 23
PR_SET_MM = 35
PR_SET_MM_MAP = 14


class CLibrary:
    """The C library and the calls looked up in it. Each call is None where ctypes (or the
    function) is missing; its callers then do without, or use the standard library's slower
    equivalent."""

    def __init__(self):
        self.lib = None
        self.fflush = None  # (None): C's stdio buffers written out
        self.pthread_sigmask = None
        self.empty_sigset = None
        self.prctl = None
        self.inotify_init1 = None
        self.inotify_add_watch = None
        self.sigqueue = None  # (pid, signo, value): a signal with a value, which kill cannot carry
        self.madvise = None
        self.environ_array = None  # ([b"NAME=value", ...]) -> an array the C environment can be
        self.set_environ = None  # (array): the C environment from now on
        self.prctl_mm_map = None  # (**fields) -> a struct prctl_mm_map, exe_fd left as it is (title.py)
        self.set_mm_map = None  # (map, args bytes, environ bytes): /proc/self/cmdline and environ show them
        self.gc_track = None  # (object): PyObject_GC_Track, PyObject_GC_UnTrack (frozen.Freezer)
        self.gc_untrack = None
        try:
            import ctypes
            self.lib = ctypes.CDLL(None, use_errno=True)
        except Exception:
            return
        self._look_up(ctypes)
        self._look_up_python(ctypes)

    def _look_up_python(self, ctypes):
        try:
            api = ctypes.pythonapi  # (the GIL held)
            track, untrack = api.PyObject_GC_Track, api.PyObject_GC_UnTrack
            for function in (track, untrack):
                function.argtypes = [ctypes.py_object]
                function.restype = None
        except (AttributeError, ValueError):
            return
        self.gc_track, self.gc_untrack = track, untrack

    def _look_up(self, ctypes):
        lib = self.lib
        for name in ("fflush", "pthread_sigmask", "prctl", "inotify_init1", "inotify_add_watch"):
            setattr(self, name, getattr(lib, name, None))
        try:
            # union sigval is passed as its pointer member (a register on x86-64 and arm64)
            lib.sigqueue.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
            lib.sigqueue.restype = ctypes.c_int
            lib.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
            lib.madvise.restype = ctypes.c_int
            self.sigqueue = lib.sigqueue
            self.madvise = lib.madvise
            self.empty_sigset = ctypes.create_string_buffer(128)  # a sigset_t with room to spare
            environ = ctypes.c_void_p.in_dll(lib, "environ")
        except (AttributeError, ValueError):
            return
        array_of = ctypes.c_char_p
        address_of = ctypes.addressof

        def environ_array(entries):
            """[b"NAME=value", ...] as a C environment (NULL-terminated array of pointers)."""
            return (array_of * (len(entries) + 1))(*entries)

        def set_environ(array):
            environ.value = address_of(array)  # the caller keeps the array alive
        self.environ_array = environ_array
        self.set_environ = set_environ
        self._look_up_mm_map(ctypes)

    def _look_up_mm_map(self, ctypes):
        lib = self.lib
        u64 = ctypes.c_uint64

        class MmMap(ctypes.Structure):  # <linux/prctl.h>
            _fields_ = [(name, u64) for name in ("start_code", "end_code", "start_data", "end_data", "start_brk",
                                                 "brk", "start_stack", "arg_start", "arg_end", "env_start",
                                                 "env_end")] + [
                ("auxv", ctypes.c_void_p), ("auxv_size", ctypes.c_uint32), ("exe_fd", ctypes.c_uint32)]
        try:
            sbrk = lib.sbrk
            sbrk.argtypes = [ctypes.c_ssize_t]
            sbrk.restype = ctypes.c_void_p
        except AttributeError:
            return
        prctl, size, byref, address = lib.prctl, ctypes.sizeof(MmMap), ctypes.byref, ctypes.c_char_p
        as_address = ctypes.cast

        def prctl_mm_map(**fields):
            return MmMap(exe_fd=0xFFFFFFFF, **fields)

        def set_mm_map(mm_map, args, environ):
            """PR_SET_MM_MAP: the bytes (which the caller keeps alive) as the command line and
            environment. brk is the C library's own, as it is now."""
            mm_map.brk = sbrk(0)
            mm_map.arg_start = as_address(address(args), ctypes.c_void_p).value
            mm_map.arg_end = mm_map.arg_start + len(args)
            mm_map.env_start = as_address(address(environ), ctypes.c_void_p).value
            mm_map.env_end = mm_map.env_start + len(environ)
            return prctl(PR_SET_MM, PR_SET_MM_MAP, byref(mm_map), size, 0)
        self.prctl_mm_map = prctl_mm_map
        self.set_mm_map = set_mm_map

    def flush_stdio(self):
        """Output C code left in its stdio buffers, which exit() would have written."""
        try:
            self.fflush(None)
        except Exception:
            pass

    def unblock_signals(self):
        """pthread_sigmask(SIG_SETMASK, {}) by the C library: Python's own would build the old
        mask as a set of Signals members (a tenth of a millisecond, for a value nobody reads)."""
        try:
            if self.empty_sigset is not None and self.pthread_sigmask(signal.SIG_SETMASK, self.empty_sigset, None) == 0:
                return
        except Exception:
            pass
        signal.pthread_sigmask(signal.SIG_SETMASK, [])

    def die_with_parent(self):
        """If the zygote is killed, its children go too (no orphans). Linux only; best effort."""
        try:
            self.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except Exception:
            return
        if os.getppid() == 1:  # the zygote died before prctl took effect
            os._exit(1)


def fork_quietly():
    """os.fork, without Python 3.12's warning about forking a process that has threads. The
    zygote runs no Python thread (an import that starts one makes the zygote unfit and it is
    replaced), so its only threads are native pools that libraries start at import, such as
    OpenBLAS's; those register pthread_atfork handlers and start afresh in the child, and
    preload.children_still_work() checks each import that this holds. The warning would only
    reach the daemon's log, and is not true here."""
    if sys.version_info < (3, 12):
        return os.fork()  # (no such warning: nothing to silence at each fork)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()
