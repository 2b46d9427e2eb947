# SPDX-License-Identifier: MIT
"""Finds and loads libmemscan.so.0 and libmemscan-client.so.0; declares C prototypes on demand."""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
from typing import Any, Callable, Iterator, Optional, Sequence

CORE_SONAME = "libmemscan.so.0"
CLIENT_SONAME = "libmemscan-client.so.0"
LIB_DIR_ENV = "MEMSCAN_LIB_DIR"

_loaded: dict[str, ctypes.CDLL] = {}


def _candidates(soname: str, short: str) -> list[str]:
    """Where to look for SONAME: each directory of $MEMSCAN_LIB_DIR, else the dynamic loader."""
    override = os.environ.get(LIB_DIR_ENV)
    if override:
        return [os.path.join(d, soname) for d in override.split(os.pathsep) if d]
    found = ctypes.util.find_library(short)
    # the soname first: a build against another major version would be found by name only
    return [soname] + ([found] if found and found != soname else [])


def _load(soname: str, short: str) -> ctypes.CDLL:
    lib = _loaded.get(soname)
    if lib is not None:
        return lib
    tried = _candidates(soname, short)
    errors = []
    for path in tried:
        if os.sep in path and not os.path.exists(path):
            errors.append(f"{path}: no such file")
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            errors.append(str(e))
            continue
        _loaded[soname] = lib
        return lib
    where = f"${LIB_DIR_ENV}={os.environ[LIB_DIR_ENV]}" if os.environ.get(LIB_DIR_ENV) else "the loader's path"
    raise ImportError(
        f"memscan: cannot load {soname} from {where} ({'; '.join(errors)}): install libmemscan0 "
        f"(or `cmake --install` a build), or set {LIB_DIR_ENV} to the directories holding the libraries"
    )


def core() -> ctypes.CDLL:
    """libmemscan, loaded on first use."""
    return _load(CORE_SONAME, "memscan")


def client() -> ctypes.CDLL:
    """libmemscan-client, loaded on first use (after libmemscan, which it links)."""
    core()
    return _load(CLIENT_SONAME, "memscan-client")


def bind(
    lib: Callable[[], ctypes.CDLL], name: str, restype: Any, argtypes: Sequence[Any]
) -> Callable[..., Any]:
    """A caller of the C function NAME of LIB() with its prototype, resolved on its first call.

    Each module declares the functions it uses, so a new module (e.g. value scans) adds its own
    prototypes without touching this one, and importing memscan needs no library until a call.
    """
    fn: Optional[Any] = None

    def call(*args: Any) -> Any:
        nonlocal fn
        if fn is None:
            f = getattr(lib(), name)
            f.restype = restype
            f.argtypes = list(argtypes)
            fn = f
        return fn(*args)

    call.__name__ = name
    return call


# ---- the C structures the public headers define -------------------------------------------------

u8p = ctypes.POINTER(ctypes.c_uint8)


class CRegion(ctypes.Structure):
    _fields_ = [
        ("start", ctypes.c_uint64),
        ("end", ctypes.c_uint64),
        ("offset", ctypes.c_uint64),
        ("inode", ctypes.c_uint64),
        ("dev_major", ctypes.c_uint32),
        ("dev_minor", ctypes.c_uint32),
        ("perms", ctypes.c_uint32),
        ("kind", ctypes.c_uint32),
        ("deleted", ctypes.c_int),
        ("path", ctypes.c_char_p),
    ]


class CFilter(ctypes.Structure):
    _fields_ = [
        ("perms", ctypes.c_uint32),
        ("kinds", ctypes.c_uint32),
        ("path_substr", ctypes.c_char_p),
        ("range_start", ctypes.c_uint64),
        ("range_end", ctypes.c_uint64),
        ("max_size", ctypes.c_uint64),
    ]


class CProcInfo(ctypes.Structure):
    _fields_ = [
        ("pid", ctypes.c_int),
        ("ppid", ctypes.c_int),
        ("uid", ctypes.c_uint32),
        ("rss_bytes", ctypes.c_uint64),
        ("name", ctypes.c_char * 64),
        ("cmdline", ctypes.c_char * 256),
    ]


class CRange(ctypes.Structure):
    _fields_ = [("start", ctypes.c_uint64), ("end", ctypes.c_uint64)]


class CRanges(ctypes.Structure):
    _fields_ = [
        ("items", ctypes.POINTER(CRange)),
        ("count", ctypes.c_size_t),
        ("capacity", ctypes.c_size_t),
    ]


class CScanOptions(ctypes.Structure):
    _fields_ = [
        ("align", ctypes.c_uint64),
        ("max_results", ctypes.c_uint64),
        ("no_memmap", ctypes.c_int),
    ]


class CSnapshotRegion(ctypes.Structure):
    _fields_ = [("region", CRegion), ("data", u8p), ("holes", ctypes.POINTER(CRanges))]


class CChangeRun(ctypes.Structure):
    _fields_ = [
        ("address", ctypes.c_uint64),
        ("length", ctypes.c_size_t),
        ("region_index", ctypes.c_size_t),
        ("old_bytes", u8p),
        ("new_bytes", u8p),
    ]


class CChange(ctypes.Structure):
    _fields_ = [
        ("address", ctypes.c_uint64),
        ("old_value", ctypes.c_uint8),
        ("new_value", ctypes.c_uint8),
    ]


MATCH_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_uint64, ctypes.POINTER(CRegion))

core_strerror = bind(core, "memscan_strerror", ctypes.c_char_p, [ctypes.c_int])
core_free = ctypes.CDLL(None).free  # the C library's free(), for arrays the libraries return
core_free.restype = None
core_free.argtypes = [ctypes.c_void_p]


def view(address: int, length: int, owner: object) -> memoryview:
    """A read-only memoryview of LENGTH bytes at ADDRESS, memory the library owns through OWNER.

    No byte is copied. The view keeps OWNER (the Python object whose finalizer frees that memory)
    alive, so the memory outlives every view of it.
    """
    if length == 0:
        return memoryview(b"")
    arr = (ctypes.c_uint8 * length).from_address(address)
    arr._memscan_owner = owner  # type: ignore[attr-defined]
    return memoryview(arr).cast("B").toreadonly()


class Handle:
    """The base of the objects that own one C handle: close() (or leaving a `with` block, or the
    object's end) releases it with the class's FREE, exactly once."""

    _handle: Optional[int] = None
    _what = "handle"  # named in the error a use after close() raises

    @staticmethod
    def _free(handle: int) -> None:
        raise NotImplementedError

    @property
    def handle(self) -> int:
        """The C pointer (ValueError once closed)."""
        if self._handle is None:
            raise ValueError(f"memscan: the {self._what} is closed")
        return self._handle

    @property
    def closed(self) -> bool:
        return self._handle is None

    def close(self) -> None:
        """Releases the C object now; idempotent."""
        h, self._handle = self._handle, None
        if h is not None:
            type(self)._free(h)

    def __enter__(self: Any) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


class Owner:
    """Holds a C object and frees it when the last Python object that refers to it is gone: the
    handle object itself and every memoryview into the C object's memory (see view())."""

    def __init__(self, handle: int, free: Callable[[int], None]) -> None:
        self.handle = handle
        self._free_fn = free

    def __del__(self) -> None:
        self._free_fn(self.handle)


class SharedHandle(Handle):
    """A Handle whose memory views (memoryviews without copies) may point into. close() frees the
    C object at once unless such a view is still alive; then it is freed when the last one goes."""

    _owner: Optional[Owner] = None

    def _own(self, handle: int) -> None:
        self._owner = Owner(handle, type(self)._free)
        self._handle = handle

    def close(self) -> None:
        self._handle = None
        self._owner = None


def index(i: int, n: int, what: str) -> int:
    """I as an index into N items (negative counts from the end); IndexError naming WHAT if out of range."""
    if i < 0:
        i += n
    if not 0 <= i < n:
        raise IndexError(f"{what} index out of range")
    return i


class _PyBuffer(ctypes.Structure):
    """Py_buffer (Python's C API; its layout is part of the stable ABI since 3.11 and unchanged before)."""

    _fields_ = [
        ("buf", ctypes.c_void_p),
        ("obj", ctypes.c_void_p),
        ("len", ctypes.c_ssize_t),
        ("itemsize", ctypes.c_ssize_t),
        ("readonly", ctypes.c_int),
        ("ndim", ctypes.c_int),
        ("format", ctypes.c_char_p),
        ("shape", ctypes.c_void_p),
        ("strides", ctypes.c_void_p),
        ("suboffsets", ctypes.c_void_p),
        ("internal", ctypes.c_void_p),
    ]


_get_buffer = ctypes.pythonapi.PyObject_GetBuffer
_get_buffer.restype = ctypes.c_int
_get_buffer.argtypes = [ctypes.py_object, ctypes.POINTER(_PyBuffer), ctypes.c_int]
_release_buffer = ctypes.pythonapi.PyBuffer_Release
_release_buffer.restype = None
_release_buffer.argtypes = [ctypes.POINTER(_PyBuffer)]
PYBUF_SIMPLE, PYBUF_WRITABLE = 0, 1


@contextlib.contextmanager
def buffer(obj: Any, writable: bool = False) -> Iterator[tuple[Optional[int], int]]:
    """(address, length) of the bytes of OBJ, any contiguous buffer (bytes, bytearray, memoryview,
    mmap, numpy array...), held for the block: no copy, read-only buffers included. TypeError
    (BufferError) for objects that are not such buffers (or not writable when WRITABLE)."""
    view = _PyBuffer()
    _get_buffer(obj, ctypes.byref(view), PYBUF_WRITABLE if writable else PYBUF_SIMPLE)
    try:
        yield view.buf, view.len
    finally:
        _release_buffer(ctypes.byref(view))
