# SPDX-License-Identifier: MIT
"""Finding the libraries: MEMSCAN_LIB_DIR, the core without the client, and what a missing one says."""
from __future__ import annotations

import os
import subprocess
import sys

PACKAGE_DIR = os.path.join(os.path.dirname(__file__), "..")


def python(code: str, lib_dir: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=PACKAGE_DIR, MEMSCAN_LIB_DIR=lib_dir)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30)


def test_local_calls_need_only_the_core():
    core_dir = os.environ["MEMSCAN_LIB_DIR"].split(os.pathsep)[0]
    assert os.path.exists(os.path.join(core_dir, "libmemscan.so.0"))
    out = python(
        "import os, memscan\n"
        "with memscan.Process(os.getpid()) as p: print(len(p.regions()) > 0)\n"
        "try:\n    memscan.Client('tcp://127.0.0.1:1')\nexcept ImportError as e:\n    print(e)\n",
        core_dir,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "True"
    assert "cannot load libmemscan-client.so.0" in lines[1] and "MEMSCAN_LIB_DIR" in lines[1]


def test_a_missing_library_says_where_it_looked():
    out = python("import memscan\ntry:\n    memscan.version()\nexcept ImportError as e:\n    print(e)\n", "/nonexistent")
    assert out.returncode == 0, out.stderr
    assert "cannot load libmemscan.so.0 from $MEMSCAN_LIB_DIR=/nonexistent" in out.stdout
    assert "install libmemscan0" in out.stdout
