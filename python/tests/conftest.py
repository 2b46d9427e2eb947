# SPDX-License-Identifier: MIT
"""pytest fixtures: the fixture target program (known bytes at known places) and a real agent."""
from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import tempfile
from typing import Iterator

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

# The fixture writes these bytes (tests/fixtures/target.c) at marker0..2 and at the straddle address.
MARKER = b"MZ\x90\x00MSCAN-FIX"
STRADDLE = bytes.fromhex("cafebabe")


def tool(env: str) -> str:
    """The path of a build-tree program named by environment variable ENV (set by the ctest)."""
    path = os.environ.get(env)
    if not path:
        pytest.skip(f"{env} is not set (run through ctest, or set it to the build tree's program)")
    return path


def child_env() -> dict[str, str]:
    """The environment of the programs the tests start: without the LD_PRELOAD of sanitizer
    runtimes that an ASan build's ctest gives Python (the fixture must stay uninstrumented, or its
    shadow memory would make every whole-process scan enormous; the programs link their own)."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    return env


def read_line(stream, timeout: float = 10.0) -> str:
    """One line of the pipe STREAM within TIMEOUT seconds, read a byte at a time from its
    descriptor so that nothing past the line is buffered where select() cannot see it."""
    fd, line = stream.fileno(), b""
    while not line.endswith(b"\n"):
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            raise TimeoutError("no line within %.0f s (got %r)" % (timeout, line))
        ch = os.read(fd, 1)
        if not ch:
            break
        line += ch
    return line.decode()


class Target:
    """A running memscan-fixture: its PID, the addresses its ready line names, and its commands."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [tool("MEMSCAN_FIXTURE"), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env=child_env(),
        )
        line = read_line(self.proc.stdout)
        assert line.startswith("ready "), line
        self.info = {k: int(v, 0) for k, v in (w.split("=") for w in line.split()[1:])}
        self.pid = self.proc.pid
        self.arena = self.info["arena"]

    def __getitem__(self, name: str) -> int:
        return self.info[name]

    def command(self, line: str) -> None:
        """Runs one stdin command (set, fill, bump, unmap-arena...) and checks it answered ok."""
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        assert read_line(self.proc.stdout).strip() == "ok"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            f.close()


@pytest.fixture
def target() -> Iterator[Target]:
    t = Target()
    yield t
    t.stop()


@pytest.fixture
def tmp(tmp_path) -> str:
    return str(tmp_path)


class Agent:
    """A real memscan-agent on 127.0.0.1 (port 0) with throwaway keys made by `memscan keygen`."""

    def __init__(self, directory: str) -> None:
        self.dir = directory
        cli = tool("MEMSCAN_CLI")
        for name in ("agent.key", "id", "listonly", "stranger"):
            subprocess.run([cli, "keygen", "-f", self.path(name), "-C", name], check=True,
                           stdout=subprocess.DEVNULL, env=child_env())
        with open(self.path("authorized_keys"), "w") as f:
            f.write(f"perms=list,read,scan {self.public('id')}\n")
            f.write(f"perms=list {self.public('listonly')}\n")
        self.proc = subprocess.Popen(
            [tool("MEMSCAN_AGENT"), "--listen", "tcp://127.0.0.1:0", "--key", self.path("agent.key"),
             "--authorized-keys", self.path("authorized_keys")],
            stdout=subprocess.PIPE, stderr=self._log(), text=True, env=child_env(),
        )
        first = read_line(self.proc.stdout)
        assert first.startswith("memscan-agent "), first
        second = read_line(self.proc.stdout)
        assert second.startswith("listening "), second
        self.url = second.split()[1]
        self.hostport = self.url[len("tcp://"):]

    def _log(self):
        self.log = open(self.path("agent.log"), "w")
        return self.log

    def path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def public(self, name: str) -> str:
        """The .pub line of key NAME."""
        with open(self.path(name + ".pub")) as f:
            return f.read().strip()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.log.close()


@pytest.fixture(scope="module")
def agent() -> Iterator[Agent]:
    d = tempfile.mkdtemp(prefix="memscan-py-")
    a = Agent(d)
    yield a
    a.stop()
    shutil.rmtree(d, ignore_errors=True)
