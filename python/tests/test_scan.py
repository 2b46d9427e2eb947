# SPDX-License-Identifier: MIT
"""Pattern scans of the fixture target and of local buffers."""
from __future__ import annotations

import pytest

import memscan
from conftest import MARKER, STRADDLE

MARKER_WILD = "4D 5A ?? 00 4D 53 43 41 4E 2D 4? ?9 58"


def markers(target):
    return [target["marker0"], target["marker1"], target["marker2"]]


def test_scan_finds_the_markers(target):
    with memscan.Process(target.pid) as p:
        found = p.scan(MARKER.hex(" "))
        assert [m.address for m in found] == markers(target)
        assert all(m.region is not None and m.address in m.region for m in found)
        assert [m.address for m in p.scan(MARKER_WILD)] == markers(target)
        assert [m.address for m in p.scan(MARKER_WILD, no_memmap=True)] == markers(target)


def test_scan_options_and_regions(target):
    with memscan.Process(target.pid) as p:
        assert [m.address for m in p.scan(MARKER_WILD, align=0x100)] == markers(target)[:2]
        assert len(p.scan(MARKER_WILD, max_results=1)) == 1
        arena = p.regions(memscan.Filter(start=target.arena, end=target.arena + 0x3000))
        assert [m.address for m in p.scan(MARKER_WILD, arena)] == markers(target)[:2]
        as_list = [r for r in p.regions() if target["marker2"] in r]  # the whole arena
        assert [m.address for m in p.scan(memscan.Pattern(MARKER_WILD), as_list)] == markers(target)


def test_scan_straddles_regions(target):
    with memscan.Process(target.pid) as p:
        found = p.scan(STRADDLE.hex())
        assert [m.address for m in found] == [target["straddle"]]
        assert found[0].region.end == target["boundary"]


def test_scan_sees_a_change(target):
    with memscan.Process(target.pid) as p:
        target.command(f"set {target['marker1'] + 12:x} 21")
        assert [m.address for m in p.scan(MARKER.hex())] == [target["marker0"], target["marker2"]]


def test_bad_pattern_says_where():
    with pytest.raises(memscan.BadPattern) as e:
        memscan.Pattern("4D 5G")
    assert e.value.code == memscan.Err.BAD_PATTERN and e.value.offset == 4
    assert "at character 4" in str(e.value)
    assert isinstance(e.value, ValueError)


def test_pattern_on_buffers():
    with memscan.Pattern("4D 5A ?? 00") as pat:
        assert len(pat) == 4
        assert pat.matches(b"MZ\xff\x00rest") and not pat.matches(b"MZ\xff\x01") and not pat.matches(b"MZ")
        data = bytearray(b"..MZ\x01\x00..MZ\x02\x00")
        assert [m.address for m in pat.scan_buffer(data, 0x1000)] == [0x1002, 0x1008]
        assert [m.address for m in pat.scan_buffer(bytes(data), 0, align=4)] == [8]
        assert pat.scan_buffer(memoryview(bytes(data)), 0, max_results=1)[0].region is None
