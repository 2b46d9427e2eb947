# SPDX-License-Identifier: MIT
"""Diffs: change runs, the per-byte changes they expand to, and ranges that appeared or vanished."""
from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Iterator, Optional

from . import _lib
from .errors import check
from .regions import Range, ranges_from_c
from .snapshot import Snapshot

_vp = ctypes.c_void_p
_diff_snapshots = _lib.bind(_lib.core, "memscan_diff_snapshots", ctypes.c_int, [_vp, _vp, ctypes.POINTER(_vp)])
_run_count = _lib.bind(_lib.core, "memscan_diff_run_count", ctypes.c_size_t, [_vp])
_run = _lib.bind(_lib.core, "memscan_diff_run", _lib.CChangeRun, [_vp, ctypes.c_size_t])
_changed_bytes = _lib.bind(_lib.core, "memscan_diff_changed_bytes", ctypes.c_uint64, [_vp])
_changes = _lib.bind(
    _lib.core, "memscan_diff_changes", ctypes.c_size_t, [_vp, ctypes.c_uint64, ctypes.POINTER(_lib.CChange), ctypes.c_size_t]
)
_appeared = _lib.bind(_lib.core, "memscan_diff_appeared", ctypes.POINTER(_lib.CRanges), [_vp])
_vanished = _lib.bind(_lib.core, "memscan_diff_vanished", ctypes.POINTER(_lib.CRanges), [_vp])
_free = _lib.bind(_lib.core, "memscan_diff_free", None, [_vp])

CHANGES_BATCH = 65536  # per-byte changes expanded per library call by Diff.iter_changes


@dataclass(frozen=True)
class ChangeRun:
    """LENGTH consecutive changed bytes at ADDRESS, inside one region (REGION_INDEX counts in the
    newer side's regions). OLD and NEW are read-only memoryviews of the diff's own bytes."""

    address: int
    length: int
    region_index: int
    old: memoryview
    new: memoryview


@dataclass(frozen=True)
class Change:
    """One byte that changed (the seed's MemoryChange)."""

    address: int
    old_value: int
    new_value: int


class Diff(_lib.SharedHandle):
    """What changed between two reads of a process (memscan_diff): runs sorted by address.

    The runs' bytes are memoryviews of the diff's memory, kept alive by each view (see Snapshot).
    """

    _what = "diff"
    _free = staticmethod(_free)

    def __init__(self, handle: int) -> None:
        """Takes ownership of HANDLE, a memscan_diff*."""
        self._own(handle)

    def __len__(self) -> int:
        """The number of change runs."""
        return int(_run_count(self.handle))

    def __getitem__(self, index: int) -> ChangeRun:
        index = _lib.index(index, len(self), "change run")
        c = _run(self.handle, index)
        old = self._bytes(ctypes.cast(c.old_bytes, _vp).value or 0, c.length)
        new = self._bytes(ctypes.cast(c.new_bytes, _vp).value or 0, c.length)
        return ChangeRun(c.address, c.length, c.region_index, old, new)

    def _bytes(self, address: int, length: int) -> memoryview:
        return _lib.view(address, length, self._owner)

    def __iter__(self) -> Iterator[ChangeRun]:
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        if self.closed:
            return "<memscan.Diff closed>"
        return f"<memscan.Diff: {len(self)} runs, {self.changed_bytes} bytes changed>"

    @property
    def runs(self) -> list[ChangeRun]:
        return list(self)

    @property
    def changed_bytes(self) -> int:
        """The sum of the runs' lengths."""
        return int(_changed_bytes(self.handle))

    @property
    def appeared(self) -> tuple[Range, ...]:
        """Address ranges only the newer side holds."""
        return ranges_from_c(_appeared(self.handle))

    @property
    def vanished(self) -> tuple[Range, ...]:
        """Address ranges only the older side holds."""
        return ranges_from_c(_vanished(self.handle))

    def changes(self, first: int = 0, count: Optional[int] = None) -> list[Change]:
        """Per-byte changes from byte number FIRST (in address order), at most COUNT (None: all)."""
        left = self.changed_bytes - first if count is None else count
        out: list[Change] = []
        while left > 0:
            want = min(left, CHANGES_BATCH)
            arr = (_lib.CChange * want)()
            got = int(_changes(self.handle, first, arr, want))
            out.extend(Change(c.address, c.old_value, c.new_value) for c in arr[:got])
            if got < want:
                break
            first += got
            left -= got
        return out

    def iter_changes(self) -> Iterator[Change]:
        """Every per-byte change, expanded a batch at a time (bounded memory for large diffs)."""
        first = 0
        while True:
            batch = self.changes(first, CHANGES_BATCH)
            yield from batch
            if len(batch) < CHANGES_BATCH:
                return
            first += len(batch)


class DiffPart(Diff):
    """A page of a remote diff (Client.diff_parts), lent for the callback only: its runs' bytes
    are copies, and the part is closed (ValueError on use) once the callback returns."""

    _what = "diff part (valid during its callback only)"

    def __init__(self, handle: int) -> None:  # pylint: disable=super-init-not-called
        self._handle = handle  # borrowed: the library frees it after the callback

    def close(self) -> None:
        self._handle = None

    def _bytes(self, address: int, length: int) -> memoryview:
        return memoryview(ctypes.string_at(address, length))


def diff_snapshots(old: Snapshot, new: Snapshot) -> Diff:
    """Compares two snapshots of one process: runs where both hold bytes (holes skipped), and the
    ranges only NEW holds (appeared) or only OLD holds (vanished)."""
    h = _vp()
    check(_diff_snapshots(old.handle, new.handle, ctypes.byref(h)), "diffing snapshots")
    return Diff(h.value)  # type: ignore[arg-type]
