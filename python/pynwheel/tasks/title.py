"""A task's process title (its /proc/PID/cmdline, what ps and top show, and its name): runs in the
task's process. prctl(PR_SET_MM, PR_SET_MM_MAP), allowed unprivileged since Linux 3.18 with
CONFIG_CHECKPOINT_RESTORE, points the command line at a buffer of ours and keeps the rest of the
memory map as /proc/self/stat gives it (as python/_pynwheel/title.py does for runs). Best effort:
without it, only the name (PR_SET_NAME, 15 bytes) changes."""

import ctypes

PR_SET_NAME = 15
PR_SET_MM = 35
PR_SET_MM_MAP = 14
# /proc/self/stat's fields, 1-based as proc(5) numbers them.
_FIELDS = {"start_code": 26, "end_code": 27, "start_stack": 28, "start_data": 45, "end_data": 46, "start_brk": 47,
           "env_start": 50, "env_end": 51}

_kept = []  # the buffer the kernel shows lives as long as the process


class _MmMap(ctypes.Structure):  # <linux/prctl.h> struct prctl_mm_map
    _fields_ = [(name, ctypes.c_uint64) for name in ("start_code", "end_code", "start_data", "end_data", "start_brk", "brk",
                                                     "start_stack", "arg_start", "arg_end", "env_start", "env_end")] + [
        ("auxv", ctypes.c_void_p), ("auxv_size", ctypes.c_uint32), ("exe_fd", ctypes.c_uint32)]


def set_title(text):
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_NAME, b"pynwheel task", 0, 0, 0)
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        values = {name: int(fields[number - 3]) for name, number in _FIELDS.items()}
        sbrk = libc.sbrk
        sbrk.argtypes = [ctypes.c_ssize_t]
        sbrk.restype = ctypes.c_void_p
        encoded = text.encode("utf-8", "replace") + b"\0"
        args = ctypes.create_string_buffer(encoded, len(encoded))
        start = ctypes.addressof(args)
        mm_map = _MmMap(exe_fd=0xFFFFFFFF, brk=sbrk(0), arg_start=start, arg_end=start + len(encoded), **values)
        if libc.prctl(PR_SET_MM, PR_SET_MM_MAP, ctypes.byref(mm_map), ctypes.sizeof(mm_map), 0) == 0:
            _kept.append(args)
    except Exception:
        pass  # (only what ps shows)
