# SPDX-License-Identifier: MIT
"""The ChangeDetector: a baseline of a process's regions, and what changed against it since."""
from __future__ import annotations

import ctypes
from typing import Iterator

from . import _lib
from .diff import Diff
from .errors import check
from .process import Process
from .regions import RegionsArg, as_region_list, list_handle

_vp = ctypes.c_void_p
_new = _lib.bind(_lib.core, "memscan_detector_new", ctypes.c_int, [ctypes.POINTER(_vp)])
_free = _lib.bind(_lib.core, "memscan_detector_free", None, [_vp])
_initialize = _lib.bind(_lib.core, "memscan_detector_initialize", ctypes.c_int, [_vp, _vp, _vp])
_detect = _lib.bind(_lib.core, "memscan_detector_detect_changes", ctypes.c_int, [_vp, _vp, _vp, ctypes.POINTER(_vp)])
_detect_update = _lib.bind(
    _lib.core, "memscan_detector_detect_update", ctypes.c_int, [_vp, _vp, _vp, ctypes.POINTER(_vp)]
)
_update = _lib.bind(_lib.core, "memscan_detector_update_snapshots", ctypes.c_int, [_vp, _vp, _vp])
_accept = _lib.bind(_lib.core, "memscan_detector_accept", ctypes.c_int, [_vp])
_snapshot_count = _lib.bind(_lib.core, "memscan_detector_snapshot_count", ctypes.c_size_t, [_vp])
_stream = _lib.bind(
    _lib.core, "memscan_detector_stream", ctypes.c_int, [_vp, _vp, _vp, ctypes.c_uint, ctypes.POINTER(_vp)]
)
_stream_next = _lib.bind(
    _lib.core,
    "memscan_diff_stream_next",
    ctypes.c_int,
    [_vp, ctypes.c_size_t, ctypes.POINTER(_vp), ctypes.POINTER(ctypes.c_int)],
)
_stream_finish = _lib.bind(_lib.core, "memscan_diff_stream_finish", ctypes.c_int, [_vp])
_stream_free = _lib.bind(_lib.core, "memscan_diff_stream_free", None, [_vp])

STREAM_UPDATE = 1  # MEMSCAN_STREAM_UPDATE


class Detector(_lib.Handle):
    """Tracks regions of a process over time (memscan_detector).

    initialize() takes the baseline; detect_changes() reads again and returns a Diff against it
    (regions that appeared or vanished included) and accept() makes that read the baseline;
    detect_update() does both in one pass with half the memory, the way to watch a target.
    """

    _what = "detector"
    _free = staticmethod(_free)

    def __init__(self) -> None:
        h = _vp()
        check(_new(ctypes.byref(h)), "new detector")
        self._handle = h.value

    def _diff(self, fn, proc: Process, regions: RegionsArg, what: str) -> Diff:  # type: ignore[no-untyped-def]
        rl = as_region_list(regions)
        h = _vp()
        check(fn(self.handle, proc.handle, list_handle(rl), ctypes.byref(h)), f"{what} of pid {proc.pid}")
        return Diff(h.value)

    def initialize(self, proc: Process, regions: RegionsArg = None) -> None:
        """Takes the baseline: REGIONS of PROC (None = the default filter's regions)."""
        rl = as_region_list(regions)
        check(_initialize(self.handle, proc.handle, list_handle(rl)), f"baseline of pid {proc.pid}")

    def detect_changes(self, proc: Process, regions: RegionsArg = None) -> Diff:
        """Reads REGIONS now (None = the baseline's) and returns what changed; the baseline stays."""
        return self._diff(_detect, proc, regions, "detecting changes")

    def detect_update(self, proc: Process, regions: RegionsArg = None) -> Diff:
        """detect_changes and accept in one pass: what changed, and the read becomes the baseline."""
        return self._diff(_detect_update, proc, regions, "detecting changes")

    def accept(self) -> None:
        """Makes the memory the last detect_changes read the baseline, without reading again."""
        check(_accept(self.handle), "accepting the last detection")

    def update_snapshots(self, proc: Process, regions: RegionsArg = None) -> None:
        """Reads REGIONS now (None = those of the last read) and makes that the baseline."""
        rl = as_region_list(regions)
        check(_update(self.handle, proc.handle, list_handle(rl)), f"updating the baseline of pid {proc.pid}")

    @property
    def snapshot_count(self) -> int:
        """Regions held in the baseline."""
        return int(_snapshot_count(self.handle))

    def stream(
        self, proc: Process, regions: RegionsArg = None, *, update: bool = False, part_bytes: int = 1 << 20
    ) -> Iterator[Diff]:
        """detect_changes with bounded memory: yields Diffs of about PART_BYTES of runs each (the
        last run of a part may continue in the next). UPDATE: the read becomes the baseline (a
        stream abandoned early still reads the rest, so the baseline is one whole read)."""
        rl = as_region_list(regions)
        h = _vp()
        check(_stream(self.handle, proc.handle, list_handle(rl), STREAM_UPDATE if update else 0, ctypes.byref(h)),
              f"streaming changes of pid {proc.pid}")
        stream, done = h.value, ctypes.c_int(0)
        try:
            while not done.value:
                part = _vp()
                check(_stream_next(stream, part_bytes, ctypes.byref(part), ctypes.byref(done)),
                      f"streaming changes of pid {proc.pid}")
                yield Diff(part.value)  # type: ignore[arg-type]
        finally:
            if update and not done.value:
                _stream_finish(stream)
            _stream_free(stream)
