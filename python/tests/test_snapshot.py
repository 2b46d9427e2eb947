# SPDX-License-Identifier: MIT
"""Snapshots of the fixture target: bytes as views of the library's buffers, holes, files."""
from __future__ import annotations

import ctypes
import gc
import os
import weakref

import pytest

import memscan
from conftest import MARKER


def arena_filter(target) -> memscan.Filter:
    return memscan.Filter(start=target.arena, end=target.arena + target["arena_len"])


def test_snapshot_holds_the_arena(target):
    with memscan.Process(target.pid) as p, memscan.Snapshot.take(p, p.regions(arena_filter(target))) as s:
        assert len(s) == 1 and s.pid == target.pid and s.total_bytes == target["arena_len"]
        r = s[0]
        assert r.address == target.arena and r.holes == ()
        assert isinstance(r.data, memoryview) and r.data.readonly and len(r.data) == target["arena_len"]
        assert r.data == p.read(target.arena, target["arena_len"])
        assert s.view(target["marker1"], len(MARKER)) == MARKER
        with pytest.raises(IndexError):
            s.view(target.arena - 1, 2)


def test_region_bytes_are_the_library_buffer(target):
    """No copy: two views share one address, and a refresh shows through a view taken before it."""
    with memscan.Process(target.pid) as p, memscan.Snapshot.take(p, p.regions(arena_filter(target))) as s:
        before = s[0].data
        assert ctypes.addressof(before.obj) == ctypes.addressof(s[0].data.obj)
        target.command(f"set {target['marker0']:x} 7a")
        assert before[0x100] == ord("M")
        s.refresh(p)
        assert before[0x100] == 0x7A


def test_views_keep_the_snapshot_alive(target):
    with memscan.Process(target.pid) as p:
        s = memscan.Snapshot.take(p, p.regions(arena_filter(target)))
    data = s[0].data
    owner = weakref.ref(s._owner)
    s.close()
    assert s.closed
    with pytest.raises(ValueError):
        len(s)
    gc.collect()
    assert owner() is not None and bytes(data[0x100 : 0x100 + len(MARKER)]) == MARKER
    del data
    gc.collect()
    assert owner() is None  # freed with its last view


def test_snapshot_keeps_holes(target):
    holey, n = target["holey"], target["holey_len"]
    page = memscan.page_size()
    with memscan.Process(target.pid) as p:
        s = memscan.Snapshot.take(p, p.regions(memscan.Filter(start=holey, end=holey + n)))
    assert len(s) == 1 and s[0].holes == (memscan.Range(holey + page, holey + n),)
    assert s[0].data[:page] == b"\x5c" * page and s[0].data[page:] == bytes(n - page)


def test_save_and_load(target, tmp):
    path = os.path.join(tmp, "arena.snap")
    with memscan.Process(target.pid) as p:
        s = memscan.Snapshot.take(p, [r for r in p.regions() if target.arena in r])
    s.save(path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    with memscan.Snapshot.load(path) as back:
        assert (back.pid, back.time_ns, len(back)) == (s.pid, s.time_ns, 1)
        assert back[0].region == s[0].region and back[0].data == s[0].data
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) - 10)
    with pytest.raises(memscan.BadFile) as e:
        memscan.Snapshot.load(path)
    assert e.value.code in (memscan.Err.TRUNCATED, memscan.Err.BAD_FORMAT)
    with pytest.raises(memscan.MemscanError) as e:
        memscan.Snapshot.load(os.path.join(tmp, "missing.snap"))
    assert e.value.code == memscan.Err.IO and "missing.snap" in str(e.value)


def test_scan_a_loaded_snapshot(target, tmp):
    path = os.path.join(tmp, "whole.snap")
    with memscan.Process(target.pid) as p:
        memscan.Snapshot.take(p).save(path)
    with memscan.Snapshot.load(path) as s:
        found = s.scan(MARKER.hex(" "))
        assert [m.address for m in found] == [target["marker0"], target["marker1"], target["marker2"]]
        assert all(m.region.start == target.arena for m in found)
        assert len(s.scan("4D 5A ?? 00 4D 53", max_results=2)) == 2
        arena = next(r for r in s if r.address == target.arena)
        pat = memscan.Pattern(MARKER.hex())
        assert [m.address for m in pat.scan_buffer(arena.data[0x2000:], 0x2000)] == [0x2100, 0x4101]
