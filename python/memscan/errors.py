# SPDX-License-Identifier: MIT
"""memscan's error codes (memscan_err) as an IntEnum, and the exceptions that carry them."""
from __future__ import annotations

import enum
from typing import Callable, Optional

from . import _lib


class Err(enum.IntEnum):
    """The values of memscan_err (memscan.h); the wire protocol carries the same numbers."""

    OK = 0
    INVALID_ARG = 1
    NO_PROCESS = 2
    PERMISSION = 3
    PROCESS_GONE = 4
    UNREADABLE = 5
    PARTIAL = 6
    NO_MEMORY = 7
    IO = 8
    BAD_PATTERN = 9
    BAD_FORMAT = 10
    TRUNCATED = 11
    UNSUPPORTED_VERSION = 12
    LIMIT = 13
    NOT_FOUND = 14
    STOPPED = 15
    DENIED = 16
    PROTOCOL = 17
    UNKNOWN_OP = 18
    TIMEOUT = 19
    CONNECT = 20
    AUTH = 21
    BUSY = 22
    CANCELLED = 23


def strerror(code: int) -> str:
    """memscan_strerror: the library's description of CODE."""
    return _lib.core_strerror(int(code)).decode("utf-8", "replace")


class MemscanError(Exception):
    """A memscan call failed. CODE is an Err (an int for a code this binding does not know) and
    MESSAGE says why: the library's description, or the agent's message for a remote call."""

    def __init__(self, code: int, message: Optional[str] = None) -> None:
        try:
            self.code: int = Err(code)
        except ValueError:
            self.code = int(code)
        self.message: str = message if message else strerror(code)
        super().__init__(self.message)


class InvalidArgument(MemscanError, ValueError):
    """INVALID_ARG: a bad argument (PID <= 0, an empty range, a bad option)."""


class ProcessNotFound(MemscanError, LookupError):
    """NO_PROCESS: no process with that PID (or the PID of a thread that leads no process)."""


class PermissionDenied(MemscanError):
    """PERMISSION: not allowed to read that process (it needs the target's uid or CAP_SYS_PTRACE)."""


class ProcessGone(MemscanError):
    """PROCESS_GONE: the process exited, or its PID was reused, since it was opened."""


class Unreadable(MemscanError):
    """UNREADABLE: no byte of the range could be read."""


class BadPattern(MemscanError, ValueError):
    """BAD_PATTERN: malformed pattern text; OFFSET is where (None if unknown)."""

    offset: Optional[int] = None


class BadFile(MemscanError):
    """BAD_FORMAT, TRUNCATED, UNSUPPORTED_VERSION: a file (snapshot, key) is not what it should be."""


class LimitExceeded(MemscanError):
    """LIMIT: a documented size limit was exceeded."""


class NotFound(MemscanError, LookupError):
    """NOT_FOUND: no such index, region or object (e.g. a snapshot id the session does not keep)."""


class Cancelled(MemscanError):
    """CANCELLED: the process's cancel function (Process.set_cancel) asked to stop."""


class RemoteError(MemscanError):
    """A failure only remote calls have: the base of Denied, AuthError, ConnectError, Timeout..."""


class Denied(RemoteError):
    """DENIED: the agent does not grant this key that operation or target."""


class AuthError(RemoteError):
    """AUTH: the handshake failed (the agent key is not the pinned one, or this key is not authorized)."""


class ConnectError(RemoteError):
    """CONNECT: nothing answered, or the connection dropped."""


class Timeout(RemoteError):
    """TIMEOUT: no answer in time."""


_CLASSES: dict[int, type[MemscanError]] = {
    Err.INVALID_ARG: InvalidArgument,
    Err.NO_PROCESS: ProcessNotFound,
    Err.PERMISSION: PermissionDenied,
    Err.PROCESS_GONE: ProcessGone,
    Err.UNREADABLE: Unreadable,
    Err.BAD_PATTERN: BadPattern,
    Err.BAD_FORMAT: BadFile,
    Err.TRUNCATED: BadFile,
    Err.UNSUPPORTED_VERSION: BadFile,
    Err.LIMIT: LimitExceeded,
    Err.NOT_FOUND: NotFound,
    Err.DENIED: Denied,
    Err.PROTOCOL: RemoteError,
    Err.UNKNOWN_OP: RemoteError,
    Err.TIMEOUT: Timeout,
    Err.CONNECT: ConnectError,
    Err.AUTH: AuthError,
    Err.BUSY: RemoteError,
    Err.CANCELLED: Cancelled,
}


def error(code: int, message: Optional[str] = None) -> MemscanError:
    """The exception for CODE: the subclass that names it, else MemscanError."""
    return _CLASSES.get(int(code), MemscanError)(code, message)


def failure(context: str) -> Callable[[int], MemscanError]:
    """A maker of the exception for a code, its message led by CONTEXT (what was being done)."""
    return lambda code: error(code, f"{context}: {strerror(code)}")


def check(code: int, context: Optional[str] = None) -> None:
    """Raises the exception for CODE unless it is OK; CONTEXT (what was being done) leads the message."""
    if code != Err.OK:
        raise error(code, f"{context}: {strerror(code)}" if context else None)
