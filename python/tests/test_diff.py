# SPDX-License-Identifier: MIT
"""Diffs and the change detector against the fixture target as it changes on command."""
from __future__ import annotations

import memscan


def arena(p, target) -> memscan.RegionList:
    return p.regions(memscan.Filter(start=target.arena, end=target.arena + target["arena_len"]))


def change_some(target) -> tuple[int, int]:
    """Changes one byte at marker1 and fills 16 bytes at arena+0x3000 with 0xEE; returns both addresses."""
    one, run = target["marker1"], target.arena + 0x3000
    target.command(f"set {one:x} 41")
    target.command(f"fill {run:x} 10 ee")
    return one, run


def test_diff_runs_and_changes(target):
    with memscan.Process(target.pid) as p:
        before = memscan.Snapshot.take(p, arena(p, target))
        one, run = change_some(target)
        after = memscan.Snapshot.take(p, arena(p, target))
    with memscan.diff_snapshots(before, after) as d:
        assert [(r.address, r.length) for r in d][:1] == [(one, 1)]
        assert d[0].old == b"M" and d[0].new == b"A" and d[0].region_index == 0
        filled = [r for r in d if r.address >= run]
        assert sum(r.length for r in filled) <= 16 and all(set(bytes(r.new)) == {0xEE} for r in filled)
        assert d.changed_bytes == sum(r.length for r in d) == len(d.changes())
        changes = d.changes()
        assert changes[0] == memscan.Change(one, ord("M"), ord("A"))
        assert list(d.iter_changes()) == changes
        assert d.changes(1, 2) == changes[1:3]
        assert d.appeared == () and d.vanished == ()


def test_diff_reports_vanished_and_appeared(target):
    with memscan.Process(target.pid) as p:
        before = memscan.Snapshot.take(p)
        target.command("unmap-arena")
        after = memscan.Snapshot.take(p)
    span = memscan.Range(target.arena, target.arena + target["arena_len"])
    assert span in memscan.diff_snapshots(before, after).vanished
    assert span in memscan.diff_snapshots(after, before).appeared


def test_detector_detects_accepts_and_streams(target):
    with memscan.Process(target.pid) as p, memscan.Detector() as det:
        det.initialize(p, arena(p, target))
        assert det.snapshot_count == 1
        one, run = change_some(target)
        d = det.detect_changes(p)
        assert d[0].address == one and d.changed_bytes >= 1 + 1
        assert det.detect_changes(p).changed_bytes == d.changed_bytes  # baseline left as it was
        det.accept()
        assert len(det.detect_changes(p)) == 0
        target.command(f"bump {one:x}")
        u = det.detect_update(p)
        assert [(r.address, bytes(r.old), bytes(r.new)) for r in u] == [(one, b"A", b"B")]
        assert len(det.detect_update(p)) == 0
        target.command(f"fill {target.arena:x} 2000 00")
        parts = list(det.stream(p, part_bytes=4096, update=True))
        # a part may exceed its size by a unit of work: the arena's changes come as one part
        assert len(parts) >= 1 and 8000 < sum(x.changed_bytes for x in parts) <= 0x2000
        assert len(det.detect_changes(p)) == 0
        target.command(f"bump {one:x}")
        det.update_snapshots(p)
        assert len(det.detect_changes(p)) == 0


def test_detector_reports_vanished(target):
    with memscan.Process(target.pid) as p, memscan.Detector() as det:
        det.initialize(p)
        target.command("unmap-arena")
        d = det.detect_changes(p, p.regions(memscan.Filter.default()))
        assert memscan.Range(target.arena, target.arena + target["arena_len"]) in d.vanished
