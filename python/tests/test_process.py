# SPDX-License-Identifier: MIT
"""Processes, regions, reads and errors against the fixture target."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import threading

import pytest

import memscan
from conftest import MARKER

HEADER = os.path.join(os.path.dirname(__file__), "..", "..", "libmemscan", "include", "memscan", "memscan.h")


def test_err_mirrors_the_c_enum():
    with open(HEADER) as f:
        text = f.read()
    c = {m[1]: int(m[2]) for m in re.finditer(r"MEMSCAN_(OK|ERR_[A-Z_]+) = (\d+)", text)}
    count = int(re.search(r"#define MEMSCAN_ERR_COUNT (\d+)", text)[1])
    py = {("OK" if e.name == "OK" else "ERR_" + e.name): int(e) for e in memscan.Err}
    assert py == c
    assert len(memscan.Err) == count
    for e in memscan.Err:
        assert memscan.strerror(e) and memscan.strerror(e) != memscan.strerror(999)


def test_list_processes_holds_the_target(target):
    procs = {p.pid: p for p in memscan.list_processes()}
    me = procs[target.pid]
    assert me.name.startswith("memscan-fixtur")
    assert me.ppid == os.getpid()
    assert me.uid == os.getuid()
    assert me.rss_bytes > 0
    assert me.cmdline.endswith("memscan-fixture")


def test_open_errors_carry_codes():
    with pytest.raises(memscan.InvalidArgument) as e:
        memscan.Process(0)
    assert e.value.code == memscan.Err.INVALID_ARG
    with pytest.raises(memscan.ProcessNotFound) as e:
        memscan.Process(2**22 + 12345)
    assert e.value.code == memscan.Err.NO_PROCESS
    assert "no such process" in str(e.value)
    assert isinstance(e.value, memscan.MemscanError)


def test_permission_denied_as_another_user(target):
    """A reader of another uid without CAP_SYS_PTRACE gets PermissionDenied, code PERMISSION."""
    if os.getuid() != 0:
        pytest.skip("needs root to drop to another uid")
    code = (
        "import memscan, sys\n"
        "try:\n    memscan.Process(int(sys.argv[1]))\n"
        "except memscan.PermissionDenied as e:\n    print(int(e.code), e.message)\n"
    )
    pkg = os.path.join(os.path.dirname(__file__), "..")
    out = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
         sys.executable, "-c", code, str(target.pid)],
        env=dict(os.environ, PYTHONPATH=pkg), capture_output=True, text=True, timeout=30,
    )
    assert out.stdout.startswith("3 "), out.stdout + out.stderr
    assert "permission" in out.stdout


def test_alive_then_gone(target):
    with memscan.Process(target.pid) as p:
        assert p.pid == target.pid and p.start_time > 0 and p.alive
        p.check_alive()
        target.stop()
        assert not p.alive
        with pytest.raises(memscan.ProcessGone) as e:
            p.check_alive()
        assert e.value.code == memscan.Err.PROCESS_GONE
        with pytest.raises(memscan.ProcessGone):
            p.read(target["marker0"], 13)
    with pytest.raises(ValueError):
        p.read(target["marker0"], 13)  # closed


def test_read_returns_bytes(target):
    with memscan.Process.open(target.pid) as p:
        m = p.read(target["marker1"], len(MARKER))
        assert isinstance(m, bytes) and m == MARKER
        assert m.complete and m.holes == () and m.address == target["marker1"]
        target.command(f"set {target['marker1']:x} 41")
        assert p.read(target["marker1"], 1) == b"A"
        buf = bytearray(len(MARKER))
        assert p.read_into(target["marker2"], buf) == ()
        assert bytes(buf) == MARKER


def test_read_reports_holes(target):
    page = memscan.page_size()
    holey, n = target["holey"], target["holey_len"]
    with memscan.Process(target.pid) as p:
        m = p.read(holey, n)
        assert len(m) == n and not m.complete
        assert m.holes == (memscan.Range(holey + page, holey + n),)
        assert m[:page] == b"\x5c" * page and m[page:] == bytes(n - page)
        with pytest.raises(memscan.Unreadable) as e:
            p.read(holey + page, page)
        assert e.value.code == memscan.Err.UNREADABLE
        buf = bytearray(b"\xff" * 2 * page)
        assert p.read_into(holey, buf) == (memscan.Range(holey + page, holey + 2 * page),)
        assert buf[page:] == bytes(page)


def test_regions_and_filters(target):
    arena, alen = target.arena, target["arena_len"]
    with memscan.Process(target.pid) as p:
        every = p.regions()
        assert len(every) > 5 and every.total_bytes == sum(r.size for r in every)
        mine = [r for r in every if arena in r]
        assert len(mine) == 1 and mine[0].start == arena and mine[0].end == arena + alen
        assert mine[0].perms == memscan.Perm.READ | memscan.Perm.WRITE and mine[0].perms_text == "rw-p"
        assert mine[0].kind == memscan.Kind.ANON and mine[0].kind_name == "anon"
        clip = p.regions(memscan.Filter(start=arena + 0x1000, end=arena + 0x3000))
        assert [(r.start, r.end) for r in clip] == [(arena + 0x1000, arena + 0x3000)]
        files = p.regions(memscan.Filter(kinds=memscan.Kind.FILE, path="memscan-fixture"))
        assert files and all("memscan-fixture" in r.path for r in files)
        rx = p.regions(memscan.Filter(perms="rx"))
        assert rx and all(r.perms & memscan.Perm.EXEC for r in rx)
        assert all(r.size <= 4096 for r in p.regions(memscan.Filter(max_size=4096)))
        default = memscan.Filter.default()
        assert default.perms == memscan.Perm.READ
        assert not any(r.path == "[vvar]" for r in p.regions(default))
        with pytest.raises(memscan.InvalidArgument):
            p.regions(memscan.Filter(perms="rq"))
        again = memscan.RegionList.of(mine)
        assert list(again) == mine and again[-1] == mine[0]


def test_cancel_stops_long_work(target):
    asked = []

    def stop() -> bool:
        asked.append(1)
        return True

    with memscan.Process(target.pid) as p:
        p.set_cancel(stop)
        with pytest.raises(memscan.Cancelled) as e:
            p.scan(MARKER.hex())
        assert e.value.code == memscan.Err.CANCELLED and asked
        with pytest.raises(memscan.Cancelled):
            memscan.Snapshot.take(p)
        p.set_cancel(None)
        assert len(p.scan(MARKER.hex())) == 3
        event = threading.Event()
        p.set_cancel(event)
        assert len(p.scan(MARKER.hex())) == 3
        event.set()
        with pytest.raises(memscan.Cancelled):
            p.scan(MARKER.hex())


def test_read_into_any_writable_buffer(target):
    with memscan.Process(target.pid) as p:
        buf = bytearray(b"." * 32)
        assert p.read_into(target["marker0"], memoryview(buf)[8 : 8 + len(MARKER)]) == ()
        assert buf[:8] == b"." * 8 and buf[8 : 8 + len(MARKER)] == MARKER and buf[8 + len(MARKER) :] == b"." * 11
        with pytest.raises(BufferError):
            p.read_into(target["marker0"], b"read-only")
