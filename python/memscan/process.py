# SPDX-License-Identifier: MIT
"""Processes: listing them, opening one, its regions, reading its memory, scanning it for patterns."""
from __future__ import annotations

import ctypes
import enum
import threading
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

from . import _lib
from .errors import Err, check, failure
from .regions import Filter, Range, RegionList, RegionsArg, ranges_from_c
from .scan import Match, Pattern, scan_process

_vp = ctypes.c_void_p
_process_open = _lib.bind(_lib.core, "memscan_process_open", ctypes.c_int, [ctypes.c_int, ctypes.POINTER(_vp)])
_process_free = _lib.bind(_lib.core, "memscan_process_free", None, [_vp])
_process_pid = _lib.bind(_lib.core, "memscan_process_pid", ctypes.c_int, [_vp])
_process_start_time = _lib.bind(_lib.core, "memscan_process_start_time", ctypes.c_uint64, [_vp])
_process_check_alive = _lib.bind(_lib.core, "memscan_process_check_alive", ctypes.c_int, [_vp])
_process_set_read_method = _lib.bind(_lib.core, "memscan_process_set_read_method", ctypes.c_int, [_vp, ctypes.c_int])
_process_set_skip_absent = _lib.bind(_lib.core, "memscan_process_set_skip_absent", ctypes.c_int, [_vp, ctypes.c_bool])
CANCEL_FN = ctypes.CFUNCTYPE(ctypes.c_int, _vp)
_process_set_cancel = _lib.bind(_lib.core, "memscan_process_set_cancel", ctypes.c_int, [_vp, CANCEL_FN, _vp])
_process_list = _lib.bind(
    _lib.core,
    "memscan_process_list",
    ctypes.c_int,
    [ctypes.POINTER(ctypes.POINTER(_lib.CProcInfo)), ctypes.POINTER(ctypes.c_size_t)],
)
_regions_read = _lib.bind(
    _lib.core, "memscan_regions_read", ctypes.c_int, [_vp, ctypes.POINTER(_lib.CFilter), ctypes.POINTER(_vp)]
)
_read = _lib.bind(
    _lib.core, "memscan_read", ctypes.c_int, [_vp, ctypes.c_uint64, _vp, ctypes.c_size_t, ctypes.POINTER(_lib.CRanges)]
)
ranges_release = _lib.bind(_lib.core, "memscan_ranges_release", None, [ctypes.POINTER(_lib.CRanges)])
_page_size = _lib.bind(_lib.core, "memscan_page_size", ctypes.c_size_t, [])
_version = _lib.bind(_lib.core, "memscan_version", ctypes.c_char_p, [])
_holds_cap_ptrace = _lib.bind(_lib.core, "memscan_holds_cap_ptrace", ctypes.c_bool, [])


def version() -> str:
    """The library's version, "MAJOR.MINOR.PATCH"."""
    return _version().decode()


def page_size() -> int:
    """The system page size in bytes."""
    return int(_page_size())


def holds_cap_ptrace() -> bool:
    """True when this process holds CAP_SYS_PTRACE (needed to read other users' processes)."""
    return bool(_holds_cap_ptrace())


@dataclass(frozen=True)
class ProcInfo:
    """One process of a host, as `memscan ps` lists it."""

    pid: int
    ppid: int
    uid: int
    rss_bytes: int
    name: str
    cmdline: str

    @classmethod
    def from_c(cls, c: _lib.CProcInfo) -> "ProcInfo":
        return cls(c.pid, c.ppid, c.uid, c.rss_bytes, c.name.decode("utf-8", "replace"),
                   c.cmdline.decode("utf-8", "replace"))


def proc_infos(array: Any, count: int) -> list[ProcInfo]:
    """Copies a malloc'd memscan_proc_info array out and frees it."""
    try:
        return [ProcInfo.from_c(array[i]) for i in range(count)]
    finally:
        _lib.core_free(ctypes.cast(array, _vp))


def list_processes() -> list[ProcInfo]:
    """The host's processes, sorted by PID (those that exit while listed are left out)."""
    arr = ctypes.POINTER(_lib.CProcInfo)()
    n = ctypes.c_size_t()
    check(_process_list(ctypes.byref(arr), ctypes.byref(n)), "listing processes")
    return proc_infos(arr, n.value)


class Memory(bytes):
    """Bytes read from a process: a bytes object that also says where they came from.

    ADDRESS is the first byte's address; HOLES lists the ranges that could not be read (their
    bytes are 0), empty when every byte was read.
    """

    address: int
    holes: tuple[Range, ...]

    @property
    def complete(self) -> bool:
        """True when every byte was read."""
        return not self.holes


# A bytes object may be filled in place while no other code holds it, as C extensions fill
# PyBytes_FromStringAndSize(NULL, n): that is how Memory gets its bytes with no second copy.
_as_string = ctypes.pythonapi.PyBytes_AsString
_as_string.restype = _vp
_as_string.argtypes = [ctypes.py_object]


def read_holes(fill: Callable[[Optional[int], Any], int], ptr: Optional[int],
               fail: Callable[[int], BaseException]) -> tuple[Range, ...]:
    """Runs FILL(PTR, holes), a read into PTR that returns a memscan_err; returns the holes it
    listed, or raises FAIL(code) for any code but OK and PARTIAL."""
    holes = _lib.CRanges()
    try:
        r = fill(ptr, ctypes.byref(holes))
        if r not in (Err.OK, Err.PARTIAL):
            raise fail(r)
        return ranges_from_c(ctypes.pointer(holes))
    finally:
        ranges_release(ctypes.byref(holes))


def read_new(length: int, address: int, fill: Callable[[Optional[int], Any], int],
             fail: Callable[[int], BaseException]) -> Memory:
    """A new Memory of LENGTH bytes from ADDRESS, written in place by FILL (see read_holes)."""
    out = Memory(length)
    out.holes = read_holes(fill, _as_string(out), fail)
    out.address = address
    return out


class ReadMethod(enum.IntEnum):
    """How memory is read (memscan_read_method)."""

    AUTO = 0
    VM_READV = 1
    PROC_MEM = 2


class Process(_lib.Handle):
    """An open process (memscan_process): PID plus start time plus a pidfd.

    A process that exits, and any process that later reuses its PID, is reported as ProcessGone
    rather than read by mistake. Use it as a context manager, or call close() (which releases
    its pidfd and the descriptors it opened).
    """

    _what = "process handle"
    _cancel: Any = None
    _free = staticmethod(_process_free)

    def __init__(self, pid: int) -> None:
        """Opens PID. Raises InvalidArgument (pid <= 0), ProcessNotFound, PermissionDenied."""
        h = _vp()
        check(_process_open(int(pid), ctypes.byref(h)), f"opening pid {pid}")
        self._handle = h.value

    @classmethod
    def open(cls, pid: int) -> "Process":
        """Opens PID (the same as Process(pid))."""
        return cls(pid)

    def __repr__(self) -> str:
        return f"<memscan.Process pid={self.pid}>" if self._handle else "<memscan.Process closed>"

    @property
    def pid(self) -> int:
        return int(_process_pid(self.handle))

    @property
    def start_time(self) -> int:
        """Start time in clock ticks since boot (field 22 of /proc/PID/stat)."""
        return int(_process_start_time(self.handle))

    @property
    def alive(self) -> bool:
        """True while the opened process runs (False once it exited or its PID was reused)."""
        return _process_check_alive(self.handle) == Err.OK

    def check_alive(self) -> None:
        """Raises ProcessGone unless the opened process still runs."""
        check(_process_check_alive(self.handle), f"pid {self.pid}")

    def set_read_method(self, method: ReadMethod) -> None:
        """Forces process_vm_readv or /proc/PID/mem (AUTO: the first, falling back to the second)."""
        check(_process_set_read_method(self.handle, int(method)), "setting the read method")

    def set_skip_absent(self, skip: bool) -> None:
        """Whether whole-region reads zero-fill never-written pages instead of reading them (default on)."""
        check(_process_set_skip_absent(self.handle, bool(skip)), "setting skip-absent")

    def set_cancel(self, cancel: Optional[Union[Callable[[], Any], "threading.Event"]]) -> None:
        """Makes long operations on this process (reads, scans, snapshots, detection) stop with
        Cancelled once CANCEL() is true (or the threading.Event CANCEL is set); None detaches.

        CANCEL is asked about every 10 ms of work, from the calling thread and from the library's
        worker threads at once: it must be quick and thread-safe (Event.is_set is both). A Python
        program that wants Ctrl-C to stop a long call runs it in a thread and sets the event from
        its KeyboardInterrupt handler (a signal is handled only between library calls)."""
        if cancel is None:
            check(_process_set_cancel(self.handle, CANCEL_FN(), None), "detaching the cancel function")
            self._cancel = None
            return
        ask = getattr(cancel, "is_set", cancel)

        def on_ask(_ctx: Any) -> int:
            try:
                return 1 if ask() else 0
            except BaseException:  # a failing question stops the work rather than being lost
                return 1

        fn = CANCEL_FN(on_ask)
        check(_process_set_cancel(self.handle, fn, None), "setting the cancel function")
        self._cancel = fn  # the library calls it while this handle lives

    def regions(self, filter: Optional[Filter] = None) -> RegionList:
        """The regions of /proc/PID/maps that pass FILTER (None = all)."""
        out = _vp()
        cf, _keep = filter.to_c() if filter else (None, None)
        check(_regions_read(self.handle, ctypes.byref(cf) if cf else None, ctypes.byref(out)),
              f"listing regions of pid {self.pid}")
        return RegionList(out.value)  # type: ignore[arg-type]

    def read(self, address: int, length: int) -> Memory:
        """Reads LENGTH bytes at ADDRESS. Unreadable pages come back as zeros listed in .holes;
        Unreadable if no byte could be read, ProcessGone if the process exited."""
        return read_new(
            length,
            address,
            lambda ptr, holes: _read(self.handle, address, ptr, length, holes),
            failure(f"reading {length} bytes at {address:#x} of pid {self.pid}"),
        )

    def read_into(self, address: int, buffer: Any) -> tuple[Range, ...]:
        """Reads len(BUFFER) bytes at ADDRESS straight into BUFFER (a writable buffer: bytearray,
        memoryview, array, mmap...); returns the holes (their bytes set to 0)."""
        with _lib.buffer(buffer, writable=True) as (ptr, n):
            return read_holes(
                lambda p, holes: _read(self.handle, address, p, n, holes),
                ptr,
                failure(f"reading {n} bytes at {address:#x} of pid {self.pid}"),
            )

    def scan(
        self,
        pattern: Union[str, Pattern],
        regions: RegionsArg = None,
        *,
        align: int = 0,
        max_results: int = 0,
        no_memmap: bool = False,
    ) -> list[Match]:
        """Finds PATTERN ("4D 5A ?? 00") in REGIONS (None = the default filter's regions, now).

        Matches come in address order, with the region each starts in; one may straddle two
        adjacent regions. ALIGN: addresses a multiple of it; MAX_RESULTS: stop after so many."""
        return scan_process(self, pattern, regions, align=align, max_results=max_results, no_memmap=no_memmap)

