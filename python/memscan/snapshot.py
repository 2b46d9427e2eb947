# SPDX-License-Identifier: MIT
"""Snapshots: the bytes of a process's regions at one instant, in memory or in a snapshot file."""
from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass
from typing import Iterator, Union

from . import _lib
from .errors import check
from .process import Process
from .scan import Match, Pattern
from .regions import Range, Region, RegionsArg, as_region_list, list_handle, ranges_from_c

_vp = ctypes.c_void_p
_take = _lib.bind(_lib.core, "memscan_snapshot_take", ctypes.c_int, [_vp, _vp, ctypes.POINTER(_vp)])
_refresh = _lib.bind(_lib.core, "memscan_snapshot_refresh", ctypes.c_int, [_vp, _vp])
_count = _lib.bind(_lib.core, "memscan_snapshot_region_count", ctypes.c_size_t, [_vp])
_get = _lib.bind(_lib.core, "memscan_snapshot_get", _lib.CSnapshotRegion, [_vp, ctypes.c_size_t])
_bytes = _lib.bind(_lib.core, "memscan_snapshot_bytes", ctypes.c_uint64, [_vp])
_pid = _lib.bind(_lib.core, "memscan_snapshot_pid", ctypes.c_int, [_vp])
_time_ns = _lib.bind(_lib.core, "memscan_snapshot_time_ns", ctypes.c_uint64, [_vp])
_save = _lib.bind(_lib.core, "memscan_snapshot_save", ctypes.c_int, [_vp, ctypes.c_char_p])
_load = _lib.bind(_lib.core, "memscan_snapshot_load", ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(_vp)])
_free = _lib.bind(_lib.core, "memscan_snapshot_free", None, [_vp])

PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class SnapshotRegion:
    """One region of a snapshot: DATA holds its bytes (a read-only memoryview of the snapshot's
    own buffer, no copy), HOLES the ranges that could not be read (their bytes are 0)."""

    region: Region
    data: memoryview
    holes: tuple[Range, ...]

    @property
    def address(self) -> int:
        return self.region.start


class Snapshot(_lib.SharedHandle):
    """The bytes of one or more regions of a process at one instant (memscan_snapshot).

    Region data are memoryviews of the library's buffers: each keeps the snapshot's memory alive,
    so close() frees it at once only if no such view is left (else when the last one goes).
    refresh() rewrites the bytes in place: views then show the new bytes.
    """

    _what = "snapshot"
    _free = staticmethod(_free)

    def __init__(self, handle: int) -> None:
        """Takes ownership of HANDLE, a memscan_snapshot* (use take, load or Client.snapshot_fetch)."""
        self._own(handle)

    @classmethod
    def take(cls, proc: Process, regions: RegionsArg = None) -> "Snapshot":
        """Reads REGIONS of PROC (None = the default filter's regions, now). Regions that vanished or
        are wholly unreadable are left out; partly readable ones keep their holes."""
        rl = as_region_list(regions)
        h = _vp()
        check(_take(proc.handle, list_handle(rl), ctypes.byref(h)), f"snapshot of pid {proc.pid}")
        return cls(h.value)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: PathLike) -> "Snapshot":
        """Loads a snapshot file; BadFile says what is wrong with a file that fails a check."""
        h = _vp()
        check(_load(os.fsencode(path), ctypes.byref(h)), f"loading {os.fspath(path)}")
        return cls(h.value)  # type: ignore[arg-type]

    def save(self, path: PathLike) -> None:
        """Writes the snapshot file (mode 0600, replaced atomically)."""
        check(_save(self.handle, os.fsencode(path)), f"saving {os.fspath(path)}")

    def refresh(self, proc: Process) -> None:
        """Re-reads the same regions of PROC into the same buffers."""
        check(_refresh(self.handle, proc.handle), f"refreshing the snapshot of pid {proc.pid}")

    @property
    def pid(self) -> int:
        return int(_pid(self.handle))

    @property
    def time_ns(self) -> int:
        """When it was completed, in nanoseconds since the Unix epoch."""
        return int(_time_ns(self.handle))

    @property
    def total_bytes(self) -> int:
        return int(_bytes(self.handle))

    def __len__(self) -> int:
        return int(_count(self.handle))

    def __getitem__(self, index: int) -> SnapshotRegion:
        index = _lib.index(index, len(self), "snapshot region")
        c = _get(self.handle, index)
        region = Region.from_c(c.region)
        addr = ctypes.cast(c.data, _vp).value or 0
        return SnapshotRegion(region, _lib.view(addr, region.size, self._owner), ranges_from_c(c.holes))

    def __iter__(self) -> Iterator[SnapshotRegion]:
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        if self.closed:
            return "<memscan.Snapshot closed>"
        return f"<memscan.Snapshot of pid {self.pid}: {len(self)} regions, {self.total_bytes} bytes>"

    def view(self, address: int, length: int) -> memoryview:
        """LENGTH bytes at ADDRESS as the snapshot holds them (no copy); they must lie in one region."""
        for r in self:
            if r.region.start <= address and address + length <= r.region.end:
                off = address - r.region.start
                return r.data[off : off + length]
        raise IndexError(f"memscan: [{address:#x}, {address + length:#x}) is not inside one region of the snapshot")

    def scan(self, pattern: Union[str, Pattern], *, align: int = 0, max_results: int = 0) -> list[Match]:
        """PATTERN in the snapshot's bytes (e.g. a snapshot file loaded elsewhere), region by region
        in place, with the region of each match. Unlike a live scan, a match never straddles two
        regions here, and bytes in holes (zeros) are scanned as they are stored."""
        pat = pattern if isinstance(pattern, Pattern) else Pattern(pattern)
        found: list[Match] = []
        for r in self:
            left = max_results - len(found) if max_results else 0
            found += [Match(m.address, r.region) for m in pat.scan_buffer(r.data, r.address, align=align, max_results=left)]
            if max_results and len(found) >= max_results:
                break
        return found
