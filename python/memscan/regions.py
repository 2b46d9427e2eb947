# SPDX-License-Identifier: MIT
"""Memory regions of /proc/PID/maps, the filters that select them, and address ranges."""
from __future__ import annotations

import ctypes
import enum
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional, Sequence, Union, overload

from . import _lib
from .errors import check

_region_list_new = _lib.bind(_lib.core, "memscan_region_list_new", ctypes.c_int, [ctypes.POINTER(ctypes.c_void_p)])
_region_list_add = _lib.bind(
    _lib.core, "memscan_region_list_add", ctypes.c_int, [ctypes.c_void_p, ctypes.POINTER(_lib.CRegion)]
)
_region_list_count = _lib.bind(_lib.core, "memscan_region_list_count", ctypes.c_size_t, [ctypes.c_void_p])
_region_list_get = _lib.bind(
    _lib.core, "memscan_region_list_get", ctypes.POINTER(_lib.CRegion), [ctypes.c_void_p, ctypes.c_size_t]
)
_region_list_free = _lib.bind(_lib.core, "memscan_region_list_free", None, [ctypes.c_void_p])
_filter_default = _lib.bind(_lib.core, "memscan_filter_default", None, [ctypes.POINTER(_lib.CFilter)])
_perms_parse = _lib.bind(
    _lib.core, "memscan_perms_parse", ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(ctypes.c_uint32)]
)
_kind_name = _lib.bind(_lib.core, "memscan_kind_name", ctypes.c_char_p, [ctypes.c_uint32])


class Perm(enum.IntFlag):
    """Permission bits of a region (MEMSCAN_PERM_*)."""

    READ = 1
    WRITE = 2
    EXEC = 4
    SHARED = 8  # 's' in maps; otherwise private ('p')


class Kind(enum.IntFlag):
    """What a region is (memscan_region_kind); a filter takes an OR of them."""

    ANON = 1
    HEAP = 2
    STACK = 4
    FILE = 8
    SPECIAL = 16


@dataclass(frozen=True)
class Range:
    """A half-open address range [start, end)."""

    start: int
    end: int

    def __len__(self) -> int:
        return self.end - self.start

    def __contains__(self, address: object) -> bool:
        return isinstance(address, int) and self.start <= address < self.end


def ranges_from_c(ranges: Optional["ctypes._Pointer[_lib.CRanges]"]) -> tuple[Range, ...]:
    """Copies a memscan_ranges (NULL: none) into Ranges."""
    if not ranges:
        return ()
    r = ranges.contents
    return tuple(Range(r.items[i].start, r.items[i].end) for i in range(r.count))


@dataclass(frozen=True)
class Region:
    """One mapping of a process, as /proc/PID/maps lists it (path "" for anonymous memory)."""

    start: int
    end: int
    perms: Perm
    kind: Kind
    path: str
    offset: int = 0
    inode: int = 0
    dev_major: int = 0
    dev_minor: int = 0
    deleted: bool = False

    @property
    def size(self) -> int:
        """Bytes the region spans."""
        return self.end - self.start

    @property
    def perms_text(self) -> str:
        """"rw-p"-style permissions, as maps writes them."""
        p = self.perms
        return "".join(
            (
                "r" if p & Perm.READ else "-",
                "w" if p & Perm.WRITE else "-",
                "x" if p & Perm.EXEC else "-",
                "s" if p & Perm.SHARED else "p",
            )
        )

    @property
    def kind_name(self) -> str:
        """"heap", "stack", "anon", "file" or "special"."""
        return _kind_name(int(self.kind)).decode()

    def __contains__(self, address: object) -> bool:
        return isinstance(address, int) and self.start <= address < self.end

    @classmethod
    def from_c(cls, c: _lib.CRegion) -> "Region":
        return cls(
            start=c.start,
            end=c.end,
            perms=Perm(c.perms),
            kind=Kind(c.kind),
            path=(c.path or b"").decode("utf-8", "surrogateescape"),
            offset=c.offset,
            inode=c.inode,
            dev_major=c.dev_major,
            dev_minor=c.dev_minor,
            deleted=bool(c.deleted),
        )

    def to_c(self) -> tuple[_lib.CRegion, bytes]:
        """The C struct and the bytes its path points into (keep both alive together)."""
        path = self.path.encode("utf-8", "surrogateescape")
        c = _lib.CRegion(
            self.start, self.end, self.offset, self.inode, self.dev_major, self.dev_minor,
            int(self.perms), int(self.kind), int(self.deleted), path,
        )
        return c, path


def parse_perms(perms: Union[str, int]) -> int:
    """Perm bits from "rw", "r-x", "rwxp" style text (or an int, returned as it is)."""
    if isinstance(perms, int):
        return int(perms)
    out = ctypes.c_uint32()
    check(_perms_parse(perms.encode(), ctypes.byref(out)), f"permissions {perms!r}")
    return out.value


@dataclass
class Filter:
    """Which regions to keep. Every field left at its default selects everything.

    perms: bits (or "rw"-style text) every kept region has; kinds: an OR of Kind (0 = any);
    path: a substring of the path; start/end: keep only [start, end), clipping regions that
    straddle its edges (when end > start); max_size: skip larger regions (0 = no limit).
    """

    perms: Union[int, str] = 0
    kinds: int = 0
    path: Optional[str] = None
    start: int = 0
    end: int = 0
    max_size: int = 0

    @classmethod
    def default(cls) -> "Filter":
        """The filter scans, snapshots and diffs use: readable regions but [vvar] and [vsyscall]."""
        c = _lib.CFilter()
        _filter_default(ctypes.byref(c))
        return cls(perms=c.perms, kinds=c.kinds, start=c.range_start, end=c.range_end, max_size=c.max_size)

    def to_c(self) -> tuple[_lib.CFilter, Optional[bytes]]:
        """The C struct and the bytes its path_substr points into (keep both alive together)."""
        path = self.path.encode("utf-8", "surrogateescape") if self.path else None
        c = _lib.CFilter(parse_perms(self.perms), int(self.kinds), path, self.start, self.end, self.max_size)
        return c, path


class RegionList(Sequence[Region]):
    """A list of regions held by the library (what scans, snapshots and detectors take).

    Indexing copies a Region out; the list itself stays in C, so passing it back costs nothing.
    """

    def __init__(self, handle: int) -> None:
        """Takes ownership of HANDLE, a memscan_region_list* (use RegionList.of to build one)."""
        self._owner = _lib.Owner(handle, _region_list_free)

    @classmethod
    def of(cls, regions: Iterable[Region]) -> "RegionList":
        """A new list holding copies of REGIONS (e.g. regions picked from another list)."""
        h = ctypes.c_void_p()
        check(_region_list_new(ctypes.byref(h)), "new region list")
        out = cls(h.value)  # type: ignore[arg-type]
        for region in regions:
            c, _path = region.to_c()
            check(_region_list_add(out.handle, ctypes.byref(c)), "adding a region")
        return out

    @property
    def handle(self) -> int:
        """The memscan_region_list* (valid while this object lives)."""
        return self._owner.handle

    def __len__(self) -> int:
        return int(_region_list_count(self.handle))

    @overload
    def __getitem__(self, index: int) -> Region: ...

    @overload
    def __getitem__(self, index: slice) -> list[Region]: ...

    def __getitem__(self, index: Union[int, slice]) -> Union[Region, list[Region]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        index = _lib.index(index, len(self), "region")
        return Region.from_c(_region_list_get(self.handle, index).contents)

    def __iter__(self) -> Iterator[Region]:
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        return f"<memscan.RegionList of {len(self)} regions>"

    @property
    def total_bytes(self) -> int:
        """Sum of the regions' sizes."""
        return sum(r.size for r in self)


RegionsArg = Optional[Union[RegionList, Iterable[Region]]]


def as_region_list(regions: RegionsArg) -> Optional[RegionList]:
    """None, a RegionList as it is, or a new RegionList of the given Regions."""
    if regions is None or isinstance(regions, RegionList):
        return regions
    return RegionList.of(regions)


def list_handle(regions: Optional[RegionList]) -> Optional[int]:
    return regions.handle if regions is not None else None
