# SPDX-License-Identifier: MIT
"""memscan: read-only inspection of Linux processes' memory, local and through memscan agents.

A ctypes binding of libmemscan.so.0 and libmemscan-client.so.0 (no compiler needed). Set
MEMSCAN_LIB_DIR (directories separated by ':') to load the libraries from a build tree.
"""
from __future__ import annotations

from .client import Client, Grant, RemoteSnapshot, SnapshotFileInfo
from .detector import Detector
from .diff import Change, ChangeRun, Diff, DiffPart, diff_snapshots
from .errors import (
    AuthError,
    BadFile,
    BadPattern,
    Cancelled,
    ConnectError,
    Denied,
    Err,
    InvalidArgument,
    LimitExceeded,
    MemscanError,
    NotFound,
    PermissionDenied,
    ProcessGone,
    ProcessNotFound,
    RemoteError,
    Timeout,
    Unreadable,
    strerror,
)
from .keys import default_identity, fingerprint, generate_key, trust
from .process import (
    Memory,
    ProcInfo,
    Process,
    ReadMethod,
    holds_cap_ptrace,
    list_processes,
    page_size,
    version,
)
from .regions import Filter, Kind, Perm, Range, Region, RegionList
from .scan import Match, Pattern
from .snapshot import Snapshot, SnapshotRegion

__all__ = [
    "AuthError",
    "BadFile",
    "BadPattern",
    "Cancelled",
    "Change",
    "ChangeRun",
    "Client",
    "ConnectError",
    "Denied",
    "Detector",
    "Diff",
    "DiffPart",
    "Err",
    "Filter",
    "Grant",
    "InvalidArgument",
    "Kind",
    "LimitExceeded",
    "Match",
    "Memory",
    "MemscanError",
    "NotFound",
    "Pattern",
    "Perm",
    "PermissionDenied",
    "ProcInfo",
    "Process",
    "ProcessGone",
    "ProcessNotFound",
    "Range",
    "ReadMethod",
    "Region",
    "RegionList",
    "RemoteError",
    "RemoteSnapshot",
    "Snapshot",
    "SnapshotFileInfo",
    "SnapshotRegion",
    "Timeout",
    "Unreadable",
    "default_identity",
    "diff_snapshots",
    "fingerprint",
    "generate_key",
    "holds_cap_ptrace",
    "list_processes",
    "page_size",
    "strerror",
    "trust",
    "version",
]
