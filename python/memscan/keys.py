# SPDX-License-Identifier: MIT
"""Key files, as `memscan keygen`, `fingerprint` and `trust` handle them (libmemscan-client)."""
from __future__ import annotations

import ctypes
import os
from typing import Callable, Optional, Union

from . import _lib
from .errors import error

FINGERPRINT_LEN = 51  # MEMSCAN_FINGERPRINT_LEN: "SHA256:" + 43 base64 characters + NUL
_ERR_LEN = 512
_cp = ctypes.c_char_p
_generate = _lib.bind(
    _lib.client, "memscan_key_generate", ctypes.c_int, [_cp, _cp, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t]
)
_fingerprint = _lib.bind(
    _lib.client, "memscan_key_fingerprint", ctypes.c_int, [_cp, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t]
)
_trust = _lib.bind(
    _lib.client,
    "memscan_key_trust",
    ctypes.c_int,
    [_cp, _cp, _cp, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t],
)
_default_identity = _lib.bind(
    _lib.client, "memscan_key_default_identity", ctypes.c_int, [ctypes.c_char_p, ctypes.c_size_t]
)

PathLike = Union[str, "os.PathLike[str]"]


def _with_reason(call: Callable[[ctypes.Array, ctypes.Array], int], context: str) -> str:
    """Runs CALL(fingerprint buffer, reason buffer); the fingerprint, or the error with its reason."""
    fp = ctypes.create_string_buffer(FINGERPRINT_LEN)
    reason = ctypes.create_string_buffer(_ERR_LEN)
    r = call(fp, reason)
    if r != 0:
        raise error(r, f"{context}: {reason.value.decode('utf-8', 'replace') or 'failed'}")
    return fp.value.decode()


def generate_key(path: PathLike, comment: Optional[str] = None) -> str:
    """Writes a new key pair: PATH (private, 0600, never overwritten) and PATH.pub; returns its
    fingerprint. COMMENT None = user@host."""
    p = os.fsencode(path)
    c = comment.encode() if comment is not None else None
    return _with_reason(lambda fp, err: _generate(p, c, fp, err, _ERR_LEN), f"generating {os.fspath(path)}")


def fingerprint(path: PathLike) -> str:
    """"SHA256:..." of a .pub file or of a private key file's public half."""
    p = os.fsencode(path)
    return _with_reason(lambda fp, err: _fingerprint(p, fp, err, _ERR_LEN), f"reading {os.fspath(path)}")


def trust(hostport: str, public_line: str, known_agents: Optional[PathLike] = None) -> str:
    """Pins PUBLIC_LINE ("memscan-x25519 BASE64 [comment]") as the key of the agent at HOSTPORT
    ("host:port", "[v6]:port") in KNOWN_AGENTS (None = the default file); returns its fingerprint."""
    k = os.fsencode(known_agents) if known_agents is not None else None
    return _with_reason(
        lambda fp, err: _trust(k, hostport.encode(), public_line.encode(), fp, err, _ERR_LEN), f"trusting {hostport}"
    )


def default_identity() -> str:
    """The default identity file: $XDG_CONFIG_HOME/memscan/id_x25519 or ~/.config/memscan/id_x25519."""
    out = ctypes.create_string_buffer(4096)
    r = _default_identity(out, len(out))
    if r != 0:
        raise error(r, "finding the default identity file: set HOME or XDG_CONFIG_HOME")
    return os.fsdecode(out.value)
