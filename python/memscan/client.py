# SPDX-License-Identifier: MIT
"""The client of memscan agents (libmemscan-client): every remote call, over the Noise channel."""
from __future__ import annotations

import ctypes
import enum
import os
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

from . import _lib
from .diff import Diff, DiffPart
from .errors import Err, MemscanError, error, strerror
from .keys import default_identity
from .process import Memory, ProcInfo, proc_infos, read_holes, read_new
from .regions import Filter, Range, RegionList
from .scan import Match, Pattern, collect
from .snapshot import Snapshot

_vp = ctypes.c_void_p
_c = _lib.client
_new = _lib.bind(_c, "memscan_client_new", ctypes.c_int, [ctypes.POINTER(_vp)])
_free = _lib.bind(_c, "memscan_client_free", None, [_vp])
_set_identity_file = _lib.bind(_c, "memscan_client_set_identity_file", ctypes.c_int, [_vp, ctypes.c_char_p])
_set_identity = _lib.bind(_c, "memscan_client_set_identity", ctypes.c_int, [_vp, ctypes.c_char_p])
_set_agent_key_line = _lib.bind(_c, "memscan_client_set_agent_key_line", ctypes.c_int, [_vp, ctypes.c_char_p])
_set_agent_key = _lib.bind(_c, "memscan_client_set_agent_key", ctypes.c_int, [_vp, ctypes.c_char_p])
_set_known_agents = _lib.bind(_c, "memscan_client_set_known_agents_file", ctypes.c_int, [_vp, ctypes.c_char_p])
_set_timeout = _lib.bind(_c, "memscan_client_set_timeout_ms", ctypes.c_int, [_vp, ctypes.c_int])
_set_compression = _lib.bind(_c, "memscan_client_set_compression", ctypes.c_int, [_vp, ctypes.c_int])
_u64p = ctypes.POINTER(ctypes.c_uint64)
_transfer_stats = _lib.bind(_c, "memscan_client_transfer_stats", None, [_vp, _u64p, _u64p])
_connect = _lib.bind(_c, "memscan_client_connect", ctypes.c_int, [_vp, ctypes.c_char_p])
_granted = _lib.bind(_c, "memscan_client_granted_perms", ctypes.c_uint32, [_vp])
_last_error = _lib.bind(_c, "memscan_client_last_error", ctypes.c_char_p, [_vp])
_list_processes = _lib.bind(
    _c,
    "memscan_client_list_processes",
    ctypes.c_int,
    [_vp, ctypes.POINTER(ctypes.POINTER(_lib.CProcInfo)), ctypes.POINTER(ctypes.c_size_t)],
)
_filterp = ctypes.POINTER(_lib.CFilter)
_list_regions = _lib.bind(
    _c, "memscan_client_list_regions", ctypes.c_int, [_vp, ctypes.c_int, _filterp, ctypes.POINTER(_vp)]
)
_read = _lib.bind(
    _c,
    "memscan_client_read",
    ctypes.c_int,
    [_vp, ctypes.c_int, ctypes.c_uint64, _vp, ctypes.c_size_t, ctypes.POINTER(_lib.CRanges)],
)
_scan = _lib.bind(
    _c,
    "memscan_client_scan",
    ctypes.c_int,
    [_vp, ctypes.c_int, _filterp, ctypes.c_char_p, ctypes.POINTER(_lib.CScanOptions), _lib.MATCH_FN, _vp, _u64p],
)
_snapshot = _lib.bind(
    _c, "memscan_client_snapshot", ctypes.c_int, [_vp, ctypes.c_int, _filterp, _u64p, ctypes.POINTER(_vp), _u64p]
)
_snapshot_fetch = _lib.bind(_c, "memscan_client_snapshot_fetch", ctypes.c_int, [_vp, ctypes.c_uint64, ctypes.POINTER(_vp)])


class CSnapshotFileInfo(ctypes.Structure):
    _fields_ = [("regions", ctypes.c_size_t), ("bytes", ctypes.c_uint64), ("hole_bytes", ctypes.c_uint64)]


_snapshot_save = _lib.bind(
    _c,
    "memscan_client_snapshot_save",
    ctypes.c_int,
    [_vp, ctypes.c_uint64, ctypes.c_char_p, ctypes.POINTER(CSnapshotFileInfo)],
)
_snapshot_write = _lib.bind(
    _c,
    "memscan_client_snapshot_write",
    ctypes.c_int,
    [_vp, ctypes.c_int, _filterp, ctypes.c_char_p, ctypes.POINTER(CSnapshotFileInfo)],
)
_diff = _lib.bind(_c, "memscan_client_diff", ctypes.c_int, [_vp, ctypes.c_uint64, ctypes.c_uint, ctypes.POINTER(_vp)])
DIFF_PART_FN = ctypes.CFUNCTYPE(ctypes.c_int, _vp, _vp)
_diff_parts = _lib.bind(
    _c, "memscan_client_diff_parts", ctypes.c_int, [_vp, ctypes.c_uint64, ctypes.c_uint, DIFF_PART_FN, _vp]
)
_release = _lib.bind(_c, "memscan_client_release", ctypes.c_int, [_vp, ctypes.c_uint64])

DEFAULT_PORT = 7777  # MEMSCAN_DEFAULT_PORT
KEY_LEN = 32  # MEMSCAN_KEY_LEN
DIFF_UPDATE = 1  # MEMSCAN_DIFF_UPDATE: what was read becomes the new baseline
DIFF_REFILTER = 2  # MEMSCAN_DIFF_REFILTER: list regions again, reporting appeared / vanished ones


class Grant(enum.IntFlag):
    """What an agent grants a key (MEMSCAN_GRANT_*)."""

    LIST = 1  # processes, regions
    READ = 2  # read, snapshot, diff
    SCAN = 4  # scan


@dataclass(frozen=True)
class SnapshotFileInfo:
    """What Client.snapshot_save or Client.snapshot_to_file wrote: region records, their bytes, of
    which unreadable."""

    regions: int
    bytes: int
    hole_bytes: int


def _raw_key(key: Union[bytes, bytearray], what: str) -> bytes:
    """KEY as the KEY_LEN raw bytes of an X25519 key; InvalidArgument otherwise."""
    if len(key) != KEY_LEN:
        raise error(Err.INVALID_ARG, f"{what}: a raw key is {KEY_LEN} bytes, not {len(key)} (give a path as str)")
    return bytes(key)


def _diff_flags(update: bool, refilter: bool) -> int:
    return (DIFF_UPDATE if update else 0) | (DIFF_REFILTER if refilter else 0)


def _filter_arg(filter: Optional[Filter]) -> tuple[Any, Any]:
    """(pointer or None, what keeps it alive) for a memscan_filter argument."""
    if filter is None:
        return None, None
    c, path = filter.to_c()
    return ctypes.byref(c), (c, path)


class Client(_lib.Handle):
    """A client of memscan agents (memscan_client); see docs/python.md.

    IDENTITY: the path of this client's private key file, or the key's 32 raw bytes (bytes); None
    = the default file (~/.config/memscan/id_x25519). AGENT_KEY: the agent's public key, pinned: a
    "memscan-x25519 BASE64" line, the path of a .pub file, or 32 raw bytes; None = look the address
    up in KNOWN_AGENTS (None = the default known_agents file). With URL ("tcp://host:port",
    "ipc:///path") it connects at once. Every failure raises a MemscanError whose message is the
    client's last error (the agent's message when it sent one).
    """

    _what = "client"
    _free = staticmethod(_free)

    def __init__(
        self,
        url: Optional[str] = None,
        *,
        identity: Union[str, "os.PathLike[str]", bytes, None] = None,
        agent_key: Union[str, "os.PathLike[str]", bytes, None] = None,
        known_agents: Union[str, "os.PathLike[str]", None] = None,
        timeout_ms: Optional[int] = None,
        compression: bool = False,
    ) -> None:
        h = _vp()
        r = _new(ctypes.byref(h))
        if r != Err.OK:
            raise error(r)
        self._handle = h.value
        try:
            self._configure(identity, agent_key, known_agents, timeout_ms, compression)
            if url is not None:
                self.connect(url)
        except BaseException:
            self.close()
            raise

    def _configure(self, identity: Any, agent_key: Any, known_agents: Any, timeout_ms: Any, compression: bool) -> None:
        if isinstance(identity, (bytes, bytearray)):
            self._check(_set_identity(self.handle, _raw_key(identity, "identity")), "setting the identity")
        else:
            path = os.fspath(identity) if identity is not None else default_identity()
            self._check(_set_identity_file(self.handle, os.fsencode(path)), f"identity {path}")
        if isinstance(agent_key, (bytes, bytearray)):
            self._check(_set_agent_key(self.handle, _raw_key(agent_key, "agent_key")), "pinning the agent key")
        elif agent_key is not None:
            line = os.fspath(agent_key)
            if not line.startswith("memscan-x25519 "):  # the path of a .pub file
                with open(line) as f:
                    line = f.readline().strip()
            self._check(_set_agent_key_line(self.handle, line.encode()), "pinning the agent key")
        if known_agents is not None:
            self._check(_set_known_agents(self.handle, os.fsencode(known_agents)), "known_agents file")
        if timeout_ms is not None:
            self._check(_set_timeout(self.handle, int(timeout_ms)), "setting the timeout")
        if compression:
            self._check(_set_compression(self.handle, 1), "turning compression on")

    # ---- errors -------------------------------------------------------------------------------

    @property
    def last_error(self) -> str:
        """The client's description of its last failure (the agent's message when it sent one)."""
        return (_last_error(self.handle) or b"").decode("utf-8", "replace")

    def _fail(self, context: str) -> Callable[[int], MemscanError]:
        return lambda code: error(code, f"{context}: {self.last_error or strerror(code)}")

    def _check(self, code: int, context: str) -> None:
        if code != Err.OK:
            raise self._fail(context)(code)

    # ---- connection ---------------------------------------------------------------------------

    def connect(self, url: str) -> None:
        """Connects to URL and handshakes: ConnectError if nothing answers, AuthError if the agent
        key is not the pinned one or the agent does not authorize this key, Timeout."""
        self._check(_connect(self.handle, url.encode()), f"connecting to {url}")

    @property
    def granted(self) -> Grant:
        """What the agent granted this key (valid after connect)."""
        return Grant(_granted(self.handle))

    def transfer_stats(self) -> tuple[int, int]:
        """(memory bytes received, page payload bytes that carried them) since the client was made."""
        got, wire = ctypes.c_uint64(), ctypes.c_uint64()
        _transfer_stats(self.handle, ctypes.byref(got), ctypes.byref(wire))
        return got.value, wire.value

    # ---- processes, regions, reads, scans -----------------------------------------------------

    def list_processes(self) -> list[ProcInfo]:
        """The agent host's processes, as memscan.list_processes lists local ones."""
        arr = ctypes.POINTER(_lib.CProcInfo)()
        n = ctypes.c_size_t()
        self._check(_list_processes(self.handle, ctypes.byref(arr), ctypes.byref(n)), "listing processes")
        return proc_infos(arr, n.value)

    def regions(self, pid: int, filter: Optional[Filter] = None) -> RegionList:
        """PID's regions that pass FILTER (None = all)."""
        fp, _keep = _filter_arg(filter)
        out = _vp()
        self._check(_list_regions(self.handle, pid, fp, ctypes.byref(out)), f"listing regions of pid {pid}")
        return RegionList(out.value)  # type: ignore[arg-type]

    def read(self, pid: int, address: int, length: int) -> Memory:
        """LENGTH bytes at ADDRESS of PID, as Process.read: holes listed, zero-filled."""
        return read_new(
            length,
            address,
            lambda ptr, holes: _read(self.handle, pid, address, ptr, length, holes),
            self._fail(f"reading {length} bytes at {address:#x} of pid {pid}"),
        )

    def read_into(self, pid: int, address: int, buffer: Any) -> tuple[Range, ...]:
        """Reads len(BUFFER) bytes at ADDRESS of PID into the writable BUFFER; returns the holes."""
        with _lib.buffer(buffer, writable=True) as (ptr, n):
            return read_holes(
                lambda p, holes: _read(self.handle, pid, address, p, n, holes),
                ptr,
                self._fail(f"reading {n} bytes at {address:#x} of pid {pid}"),
            )

    def scan(
        self,
        pid: int,
        pattern: Union[str, Pattern],
        filter: Optional[Filter] = None,
        *,
        align: int = 0,
        max_results: int = 0,
    ) -> list[Match]:
        """PATTERN in PID's regions passing FILTER (None = the default filter), as Process.scan."""
        pattern = pattern.text if isinstance(pattern, Pattern) else pattern
        fp, _keep = _filter_arg(filter)
        opts = _lib.CScanOptions(align, max_results, 0)
        return collect(
            lambda cb, count: _scan(self.handle, pid, fp, pattern.encode(), ctypes.byref(opts), cb, None, count),
            self._fail(f"scanning pid {pid} for {pattern!r}"),
        )

    # ---- snapshots kept on the agent ----------------------------------------------------------

    def snapshot(self, pid: int, filter: Optional[Filter] = None) -> "RemoteSnapshot":
        """Takes a snapshot of PID that the agent keeps for this session (released by
        RemoteSnapshot.release, at the end of a `with` block, or when the session ends)."""
        fp, _keep = _filter_arg(filter)
        sid, total, regions = ctypes.c_uint64(), ctypes.c_uint64(), _vp()
        self._check(
            _snapshot(self.handle, pid, fp, ctypes.byref(sid), ctypes.byref(regions), ctypes.byref(total)),
            f"snapshot of pid {pid}",
        )
        return RemoteSnapshot(self, sid.value, pid, RegionList(regions.value), total.value)  # type: ignore[arg-type]

    def snapshot_fetch(self, id: int) -> Snapshot:
        """Downloads the kept snapshot ID into a local Snapshot."""
        out = _vp()
        self._check(_snapshot_fetch(self.handle, id, ctypes.byref(out)), f"fetching snapshot {id}")
        return Snapshot(out.value)  # type: ignore[arg-type]

    def snapshot_save(self, id: int, path: Union[str, "os.PathLike[str]"]) -> SnapshotFileInfo:
        """Downloads the kept snapshot ID straight into a snapshot file at PATH (one page held at a time)."""
        info = CSnapshotFileInfo()
        self._check(_snapshot_save(self.handle, id, os.fsencode(path), ctypes.byref(info)),
                    f"saving snapshot {id} to {os.fspath(path)}")
        return SnapshotFileInfo(info.regions, info.bytes, info.hole_bytes)

    def snapshot_to_file(
        self, pid: int, path: Union[str, "os.PathLike[str]"], filter: Optional[Filter] = None
    ) -> SnapshotFileInfo:
        """Snapshots PID's regions passing FILTER (None = the default filter) straight into a snapshot
        file at PATH: read live page by page, so neither the agent nor this process holds more than a
        page, and the agent keeps nothing. The file appears, whole, only on success."""
        fp, _keep = _filter_arg(filter)
        info = CSnapshotFileInfo()
        self._check(_snapshot_write(self.handle, pid, fp, os.fsencode(path), ctypes.byref(info)),
                    f"snapshot of pid {pid} into {os.fspath(path)}")
        return SnapshotFileInfo(info.regions, info.bytes, info.hole_bytes)

    def diff(self, id: int, *, update: bool = False, refilter: bool = False) -> Diff:
        """Live memory against the kept snapshot ID, diffed on the agent (only runs travel).
        UPDATE: what was read becomes the baseline; REFILTER: report regions that appeared or vanished."""
        out = _vp()
        self._check(_diff(self.handle, id, _diff_flags(update, refilter), ctypes.byref(out)), f"diff of snapshot {id}")
        return Diff(out.value)  # type: ignore[arg-type]

    def diff_parts(
        self, id: int, on_part: Callable[[DiffPart], Any], *, update: bool = False, refilter: bool = False
    ) -> bool:
        """The same diff page by page, in bounded memory: ON_PART(part) for each page as it arrives
        (the part lives for the call; the first holds appeared / vanished). A truthy return stops
        it. Returns True if every page was handed over, False if ON_PART stopped it."""
        failure: list[BaseException] = []

        def part_fn(_ctx: Any, part: int) -> int:
            p = DiffPart(part)
            try:
                return 1 if on_part(p) else 0
            except BaseException as e:  # stop; raised again below
                failure.append(e)
                return 1
            finally:
                p.close()

        r = _diff_parts(self.handle, id, _diff_flags(update, refilter), DIFF_PART_FN(part_fn), None)
        if failure:
            raise failure[0]
        if r == Err.STOPPED:
            return False
        self._check(r, f"diff of snapshot {id}")
        return True

    def release(self, id: int) -> None:
        """Frees the kept snapshot ID on the agent."""
        self._check(_release(self.handle, id), f"releasing snapshot {id}")


class RemoteSnapshot:
    """A snapshot the agent keeps for this client's session: its ID, PID, REGIONS and TOTAL_BYTES,
    and the calls that use it. Released on the agent by release() or at the end of a `with` block."""

    def __init__(self, client: Client, id: int, pid: int, regions: RegionList, total_bytes: int) -> None:
        self.client, self.id, self.pid, self.regions, self.total_bytes = client, id, pid, regions, total_bytes
        self.released = False

    def __repr__(self) -> str:
        return f"<memscan.RemoteSnapshot {self.id} of pid {self.pid}: {len(self.regions)} regions>"

    def fetch(self) -> Snapshot:
        return self.client.snapshot_fetch(self.id)

    def save(self, path: Union[str, "os.PathLike[str]"]) -> SnapshotFileInfo:
        return self.client.snapshot_save(self.id, path)

    def diff(self, *, update: bool = False, refilter: bool = False) -> Diff:
        return self.client.diff(self.id, update=update, refilter=refilter)

    def diff_parts(self, on_part: Callable[[DiffPart], Any], *, update: bool = False, refilter: bool = False) -> bool:
        return self.client.diff_parts(self.id, on_part, update=update, refilter=refilter)

    def release(self) -> None:
        """Frees it on the agent; idempotent."""
        if not self.released:
            self.released = True
            self.client.release(self.id)

    def __enter__(self) -> "RemoteSnapshot":
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.client.closed:
            self.release()
