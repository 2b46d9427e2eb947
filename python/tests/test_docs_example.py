# SPDX-License-Identifier: MIT
"""docs/python.md's examples, extracted and run: against the fixture target, and through an agent."""
from __future__ import annotations

import os
import re
import subprocess
import sys

from conftest import Target

DOC = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "python.md")
PACKAGE_DIR = os.path.join(os.path.dirname(__file__), "..")


def example(marker: str, directory: str) -> str:
    """Writes the python block between <!-- MARKER:begin --> and <!-- MARKER:end --> to a file."""
    with open(DOC) as f:
        text = f.read()
    found = re.search(f"<!-- {marker}:begin -->\n```python\n(.*?)```\n<!-- {marker}:end -->", text, re.S)
    assert found, f"docs/python.md has no {marker} block"
    path = os.path.join(directory, marker + ".py")
    with open(path, "w") as f:
        f.write(found[1])
    return path


def run(path: str, *args: object) -> str:
    env = dict(os.environ, PYTHONPATH=PACKAGE_DIR)  # the python3 child loads the libraries itself
    out = subprocess.run([sys.executable, path, *map(str, args)], env=env, capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_python_example(tmp):
    t = Target("--tick-ms", "20")
    try:
        out = run(example("python-example", tmp), t.pid, "4D 5A 90 00 4D 53 43 41 4E")
    finally:
        t.stop()
    assert re.search(r"^[1-9]\d* writable regions, \d+ bytes$", out, re.M), out
    assert re.search(r"^[1-9]\d* runs, [1-9]\d* bytes changed$", out, re.M), out
    assert [int(a, 16) for a in re.findall(r"^match at (0x[0-9a-f]+) in \[anon\]$", out, re.M)] == [
        t["marker0"], t["marker1"], t["marker2"]]
    assert out.count("  4d 5a 90 00 4d 53 43 41 4e 2d 46 49 58") == 3 and "\n3 matches\n" in out


def test_python_client_example(tmp, agent):
    t = Target("--tick-ms", "20")
    try:
        out = run(example("python-client-example", tmp), agent.url, agent.path("agent.key.pub"),
                  agent.path("id"), t.pid)
    finally:
        t.stop()
    assert re.search(r"^[1-9]\d* regions$", out, re.M), out
    assert re.search(r"^baseline of [1-9]\d* bytes kept on the agent$", out, re.M), out
    assert re.search(r"^[1-9]\d* runs, [1-9]\d* bytes changed$", out, re.M), out
