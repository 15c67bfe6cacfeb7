"""What the zygote and its children share without a message: the status board and the page
record.

StatusBoard: made in the zygote, which takes and reads slots; each run writes its exit status
on its own slot. HotPages: the zygote clears the record; runs write it; spares read it.
"""

import mmap
import os
import re
import struct

from .libc import MADV_POPULATE_WRITE


class StatusBoard:
    """Exit statuses of runs, in memory shared by the zygote and its children (an anonymous
    shared mapping: no fd is left open in a run, as none is under python). Each child has a
    slot: a flag and the status, written by the child as its script ends."""

    SLOT = struct.Struct("ii")  # done (1) or not (0), status
    SLOTS = 4096

    def __init__(self):
        self.memory = mmap.mmap(-1, self.SLOT.size * self.SLOTS, flags=mmap.MAP_SHARED)
        self.free = list(range(self.SLOTS - 1, -1, -1))

    def take(self):
        """In the zygote: a clear slot for the next child, or -1 if all are taken (its status
        then comes only from waitpid)."""
        if not self.free:
            return -1
        slot = self.free.pop()
        self.SLOT.pack_into(self.memory, slot * self.SLOT.size, 0, 0)
        return slot

    def release(self, slot):
        self.free.append(slot)

    def write(self, slot, status):
        """In a run, as its script ends."""
        # The status first, then the flag (x86 and ARM64 keep these stores in order within a
        # page for a reader that reads the flag first; the zygote reads after a signal anyway).
        struct.pack_into("i", self.memory, slot * self.SLOT.size + 4, status)
        struct.pack_into("i", self.memory, slot * self.SLOT.size, 1)

    def read(self, slot):
        done, status = self.SLOT.unpack_from(self.memory, slot * self.SLOT.size)
        return status if done else None


class HotPages:
    """The pages of the zygote's memory that runs write to, so that a spare takes their
    copy-on-write faults while it waits instead of in the run. A forked CPython writes to every
    object it touches (reference counts), so a run's first touch of each such page costs a
    fault and a copy: about a hundred in a run of an empty script, 0.7 ms in all. Some runs'
    processes record, after their status is out, which pages of the zygote's private writable
    mappings they have their own copy of (/proc/self/pagemap: present and exclusively mapped);
    each spare faults those in before it waits (madvise MADV_POPULATE_WRITE, Linux 5.14), in
    place of going through a run's steps.
    The record is a file beside the zygote's lane, replaced whole (rename), so that runs that
    end together do not mix theirs."""

    LIMIT = 8192  # pages a spare copies ahead, at most (32 MiB of 4 KiB pages)
    RECORDING_RUNS = 8  # the zygote's first runs record, and then one run in RECORD_EVERY
    RECORD_EVERY = 32
    # Byte 7 of a pagemap entry: bit 63 (0x80) present, bit 56 (0x01) exclusively mapped.
    _EXCLUSIVE = bytes(1 if b & 0x81 == 0x81 else 0 for b in range(256))

    def __init__(self, path):
        self.path = path  # None: not kept (a lane without a path)

    def clear(self):
        """In the zygote: a predecessor's record (of another layout), or its own as it leaves."""
        if self.path is not None:
            try:
                os.unlink(self.path)
            except OSError:
                pass
            # And the temporary records of runs killed as they wrote them (the zygote's own end
            # kills those in progress).
            directory, name = os.path.split(self.path)
            try:
                left = [entry for entry in os.listdir(directory) if entry.startswith(name + ".")]
            except OSError:
                left = []
            for entry in left:
                try:
                    os.unlink(os.path.join(directory, entry))
                except OSError:
                    pass

    def forget(self, pid):
        """In the zygote: the temporary record of a run that was killed (perhaps as it wrote it)."""
        if self.path is not None:
            try:
                os.unlink("%s.%d" % (self.path, pid))
            except OSError:
                pass

    def populate(self, madvise):
        """In a spare: fault in the pages the last recording run wrote to. False if there is
        no record (or no way to)."""
        if self.path is None or madvise is None:
            return False
        try:
            with open(self.path, "rb") as f:
                data = f.read(self.LIMIT * 16 + 16)
        except OSError:
            return False
        import array
        ranges = array.array("Q")
        ranges.frombytes(data[:len(data) // 16 * 16])
        failed = 0
        for i in range(0, len(ranges), 2):
            failed += madvise(ranges[i], ranges[i + 1], MADV_POPULATE_WRITE) != 0  # unmapped since, or an old kernel
        return len(ranges) > 0 and failed < len(ranges) // 2

    def should_record(self, runs_served):
        return self.path is not None and (runs_served < self.RECORDING_RUNS or runs_served % self.RECORD_EVERY == 0)

    def record(self):
        """In a run's process, once its status is out: which pages it has its own copy of."""
        import array
        page = os.sysconf("SC_PAGE_SIZE")
        ranges, total = array.array("Q"), 0
        with open("/proc/self/maps", "rb") as maps, open("/proc/self/pagemap", "rb", buffering=0) as pagemap:
            for line in maps:
                fields = line.split()
                if len(fields) < 5 or fields[1] != b"rw-p" or (len(fields) > 5 and fields[5].startswith(b"[") and fields[5] != b"[heap]"):
                    continue  # not private and writable, or the stack, vvar, ...
                low, high = (int(x, 16) for x in fields[0].split(b"-"))
                pagemap.seek(low // page * 8)
                flags = pagemap.read((high - low) // page * 8)[7::8].translate(self._EXCLUSIVE)
                for run in re.finditer(b"\x01+", flags):
                    count = min(run.end() - run.start(), self.LIMIT - total)
                    ranges.extend((low + run.start() * page, count * page))
                    total += count
                    if total >= self.LIMIT:
                        break
                if total >= self.LIMIT:
                    break
        temporary = "%s.%d" % (self.path, os.getpid())
        with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600), "wb") as f:
            f.write(ranges.tobytes())
        os.rename(temporary, self.path)
