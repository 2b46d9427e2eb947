# SPDX-License-Identifier: MIT
"""The client against a real memscan-agent on 127.0.0.1 with throwaway keys, and the fixture target."""
from __future__ import annotations

import os
import signal
import socket

import pytest

import memscan
from conftest import MARKER


def connect(agent, identity="id", **kw) -> memscan.Client:
    kw.setdefault("agent_key", agent.public("agent.key"))
    return memscan.Client(agent.url, identity=agent.path(identity), timeout_ms=5000, **kw)


def arena_filter(target) -> memscan.Filter:
    return memscan.Filter(start=target.arena, end=target.arena + target["arena_len"])


def test_connect_and_the_grant(agent, tmp):
    with connect(agent) as c:
        assert c.granted == memscan.Grant.LIST | memscan.Grant.READ | memscan.Grant.SCAN
    with connect(agent, identity="listonly", agent_key=agent.path("agent.key.pub")) as c:
        assert c.granted == memscan.Grant.LIST
    known = os.path.join(tmp, "known_agents")
    fp = memscan.trust(agent.hostport, agent.public("agent.key"), known)
    assert fp == memscan.fingerprint(agent.path("agent.key.pub"))
    with memscan.Client(agent.url, identity=agent.path("id"), known_agents=known) as c:
        assert c.granted & memscan.Grant.READ


def test_handshake_failures_raise_auth_error(agent):
    with pytest.raises(memscan.AuthError) as e:
        connect(agent, agent_key=agent.public("stranger"))  # not the agent's key: nothing is sent
    assert e.value.code == memscan.Err.AUTH and e.value.message
    with pytest.raises(memscan.AuthError):
        connect(agent, identity="stranger")  # a key the agent does not authorize


def test_nothing_listening_is_a_connect_error(agent):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises((memscan.ConnectError, memscan.Timeout)) as e:
        memscan.Client(f"tcp://127.0.0.1:{port}", identity=agent.path("id"),
                       agent_key=agent.public("agent.key"), timeout_ms=2000)
    assert isinstance(e.value, memscan.RemoteError)


def test_denied_and_remote_errors_carry_the_agents_message(agent, target):
    with connect(agent, identity="listonly") as c:
        assert target.pid in {p.pid for p in c.list_processes()}
        with pytest.raises(memscan.Denied) as e:
            c.read(target.pid, target["marker0"], 13)
        assert e.value.code == memscan.Err.DENIED and "not granted 'read'" in str(e.value)  # the agent's words
    with connect(agent) as c:
        with pytest.raises(memscan.ProcessNotFound) as e:
            c.regions(2**22 + 12345)
        assert e.value.code == memscan.Err.NO_PROCESS


def test_remote_regions_read_scan_match_local(agent, target):
    with connect(agent) as c, memscan.Process(target.pid) as p:
        assert list(c.regions(target.pid, arena_filter(target))) == list(p.regions(arena_filter(target)))
        m = c.read(target.pid, target["marker2"], len(MARKER))
        assert m == MARKER and m.complete
        holey, n, page = target["holey"], target["holey_len"], memscan.page_size()
        h = c.read(target.pid, holey, n)
        assert h.holes == (memscan.Range(holey + page, holey + n),) and h[:page] == b"\x5c" * page
        buf = bytearray(len(MARKER))
        assert c.read_into(target.pid, target["marker0"], buf) == () and buf == MARKER
        found = c.scan(target.pid, MARKER.hex(" "))
        assert [x.address for x in found] == [x.address for x in p.scan(MARKER.hex(" "))]
        assert len(found) == 3 and found[0].region.start == target.arena
        assert len(c.scan(target.pid, MARKER.hex(), arena_filter(target), max_results=2)) == 2
        got, wire = c.transfer_stats()
        assert got >= n + 2 * len(MARKER) and wire > 0


def test_remote_snapshots_fetch_save_diff_release(agent, target, tmp):
    with connect(agent) as c:
        with c.snapshot(target.pid, arena_filter(target)) as snap:
            assert len(snap.regions) == 1 and snap.total_bytes == target["arena_len"]
            local = snap.fetch()
            assert local[0].data[0x100 : 0x100 + len(MARKER)] == MARKER
            info = snap.save(os.path.join(tmp, "remote.snap"))
            assert (info.regions, info.bytes, info.hole_bytes) == (1, target["arena_len"], 0)
            assert memscan.Snapshot.load(os.path.join(tmp, "remote.snap"))[0].data == local[0].data
            target.command(f"set {target['marker1']:x} 41")
            d = snap.diff()
            assert [(r.address, bytes(r.old), bytes(r.new)) for r in d] == [(target["marker1"], b"M", b"A")]
            parts = []
            assert snap.diff_parts(lambda part: parts.extend((r.address, bytes(r.new)) for r in part), update=True)
            assert parts == [(target["marker1"], b"A")]
            assert len(snap.diff()) == 0  # the update made it the baseline
            target.command(f"bump {target['marker1']:x}")
            seen = []
            assert not snap.diff_parts(lambda part: seen.append(part) or True)  # stopped by the callback
            with pytest.raises(ValueError):
                len(seen[0])  # a part lives for its callback only
        assert snap.released
        with pytest.raises(memscan.NotFound) as e:
            c.diff(snap.id)
        assert e.value.code == memscan.Err.NOT_FOUND


def test_keys(tmp):
    path = os.path.join(tmp, "new_id")
    fp = memscan.generate_key(path, "a comment")
    assert fp.startswith("SHA256:") and len(fp) == 50
    assert memscan.fingerprint(path) == memscan.fingerprint(path + ".pub") == fp
    assert os.stat(path).st_mode & 0o777 == 0o600
    with pytest.raises(memscan.MemscanError) as e:
        memscan.generate_key(path)  # never overwrites
    assert "new_id" in str(e.value)
    assert memscan.default_identity().endswith("memscan/id_x25519")


def test_raw_keys(agent):
    import base64

    raw = base64.b64decode(agent.public("agent.key").split()[1])
    with open(agent.path("id")) as f:
        identity = base64.b64decode(f.read().split()[1])
    with memscan.Client(agent.url, identity=identity, agent_key=raw, timeout_ms=5000) as c:
        assert c.granted & memscan.Grant.SCAN
    with pytest.raises(memscan.InvalidArgument) as e:
        connect(agent, agent_key=raw[:31])
    assert "32 bytes, not 31" in str(e.value)


def test_snapshot_to_file_equals_a_local_snapshot(agent, target, tmp):
    path = os.path.join(tmp, "streamed.snap")
    os.kill(target.pid, signal.SIGSTOP)  # nothing changes between the two snapshots
    try:
        with connect(agent) as c:
            info = c.snapshot_to_file(target.pid, path)
        with memscan.Process(target.pid) as p, memscan.Snapshot.take(p) as local:
            streamed = memscan.Snapshot.load(path)
            assert streamed.pid == target.pid and len(streamed) == len(local) == info.regions
            assert info.bytes == streamed.total_bytes == local.total_bytes
            assert info.hole_bytes == sum(h.end - h.start for r in local for h in r.holes)
            for s, l in zip(streamed, local):
                assert (s.region, s.holes) == (l.region, l.holes)
                assert s.data == l.data
            assert streamed.view(target["marker1"], len(MARKER)) == MARKER
        with connect(agent) as c:
            arena = c.snapshot_to_file(target.pid, path, arena_filter(target))
        assert (arena.regions, arena.bytes, arena.hole_bytes) == (1, target["arena_len"], 0)
        assert memscan.Snapshot.load(path)[0].address == target.arena
    finally:
        os.kill(target.pid, signal.SIGCONT)


def test_snapshot_to_file_of_a_bad_pid_raises(agent, tmp):
    path = os.path.join(tmp, "none.snap")
    with connect(agent) as c:
        with pytest.raises(memscan.ProcessNotFound) as e:
            c.snapshot_to_file(2**22 + 12345, path)
        assert e.value.code == memscan.Err.NO_PROCESS and str(2**22 + 12345) in str(e.value)
    assert not os.path.exists(path)  # nothing is left behind
