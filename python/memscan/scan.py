# SPDX-License-Identifier: MIT
"""Byte patterns with wildcards ("4D 5A ?? 00", nibbles "4?" / "?D") and scans for them."""
from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from . import _lib
from .errors import BadPattern, Err, error, failure, strerror
from .regions import Region, RegionsArg, as_region_list, list_handle

if TYPE_CHECKING:
    from .process import Process

_vp = ctypes.c_void_p
_pattern_parse = _lib.bind(
    _lib.core,
    "memscan_pattern_parse",
    ctypes.c_int,
    [ctypes.c_char_p, ctypes.POINTER(_vp), ctypes.POINTER(ctypes.c_size_t)],
)
_pattern_length = _lib.bind(_lib.core, "memscan_pattern_length", ctypes.c_size_t, [_vp])
_pattern_matches = _lib.bind(_lib.core, "memscan_pattern_matches", ctypes.c_bool, [_vp, _vp])
_pattern_free = _lib.bind(_lib.core, "memscan_pattern_free", None, [_vp])
_scan_args = [_vp, ctypes.POINTER(_lib.CScanOptions), _lib.MATCH_FN, _vp, ctypes.POINTER(ctypes.c_uint64)]
_scan = _lib.bind(_lib.core, "memscan_scan", ctypes.c_int, [_vp, _vp] + _scan_args)
_scan_buffer = _lib.bind(
    _lib.core, "memscan_scan_buffer", ctypes.c_int, [_vp, ctypes.c_size_t, ctypes.c_uint64] + _scan_args
)


@dataclass(frozen=True)
class Match:
    """A match: its address and the region it starts in (None for a scan of a buffer)."""

    address: int
    region: Optional[Region]


class Pattern(_lib.Handle):
    """A parsed byte pattern (memscan_pattern). BadPattern carries the offset of what is wrong."""

    _what = "pattern"
    _free = staticmethod(_pattern_free)

    def __init__(self, text: str) -> None:
        h = _vp()
        at = ctypes.c_size_t()
        r = _pattern_parse(text.encode(), ctypes.byref(h), ctypes.byref(at))
        if r != Err.OK:
            e = error(r, f"pattern {text!r} at character {at.value}: {strerror(r)}")
            if isinstance(e, BadPattern):
                e.offset = at.value
            raise e
        self.text = text
        self._handle = h.value

    def __len__(self) -> int:
        return int(_pattern_length(self.handle))

    def __repr__(self) -> str:
        return f"<memscan.Pattern {self.text!r}>"

    def matches(self, data: Any) -> bool:
        """True if the first len(self) bytes of DATA (a bytes-like object) match."""
        head = bytes(memoryview(data).cast("B")[: len(self)])
        return len(head) == len(self) and bool(_pattern_matches(self.handle, head))

    def scan_buffer(self, data: Any, base: int = 0, *, align: int = 0, max_results: int = 0) -> list[Match]:
        """Matches in DATA (any contiguous buffer: bytes, a snapshot region's view, mmap...; read
        where it lies, not copied), as if it were memory starting at address BASE."""
        opts = _lib.CScanOptions(align, max_results, 0)
        with _lib.buffer(data) as (ptr, n):
            return collect(
                lambda cb, count: _scan_buffer(ptr, n, base, self.handle, ctypes.byref(opts), cb, None, count),
                failure("scanning a buffer"),
            )


def collect(run: Callable[[Any, Any], int], fail: Callable[[int], BaseException]) -> list[Match]:
    """Runs RUN(callback, count pointer) and gathers the matches it reports, regions copied once;
    raises FAIL(code) if RUN fails (or what the callback raised)."""
    found: list[Match] = []
    regions: dict[int, Region] = {}
    failure: list[BaseException] = []

    def on_match(_ctx: Any, address: int, region: Any) -> int:
        try:
            key = ctypes.addressof(region.contents) if region else 0
            if key and key not in regions:
                regions[key] = Region.from_c(region.contents)
            found.append(Match(address, regions.get(key)))
            return 0
        except BaseException as e:  # stop the scan; raised again below
            failure.append(e)
            return 1

    cb = _lib.MATCH_FN(on_match)
    count = ctypes.c_uint64()
    r = run(cb, ctypes.byref(count))
    if failure:
        raise failure[0]
    if r != Err.OK:
        raise fail(r)
    return found


def scan_process(
    proc: "Process",
    pattern: Union[str, Pattern],
    regions: RegionsArg,
    *,
    align: int = 0,
    max_results: int = 0,
    no_memmap: bool = False,
) -> list[Match]:
    """Process.scan: PATTERN in REGIONS of PROC."""
    pat = pattern if isinstance(pattern, Pattern) else Pattern(pattern)
    rl = as_region_list(regions)
    opts = _lib.CScanOptions(align, max_results, int(no_memmap))
    return collect(
        lambda cb, count: _scan(proc.handle, list_handle(rl), pat.handle, ctypes.byref(opts), cb, None, count),
        failure(f"scanning pid {proc.pid} for {pat.text!r}"),
    )
