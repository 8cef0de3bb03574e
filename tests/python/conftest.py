"""Shared fixtures for the end-to-end CLI tests.

`run_sublens(*args)` runs the built CLI (path from $SUBLENS_BIN, set by ctest) and returns the
CompletedProcess; `sublens_json(*args)` also checks exit code 0 and parses stdout's JSON lines.
"""
import json
import os
import subprocess

import pytest

BIN = os.environ.get("SUBLENS_BIN", os.path.join(os.path.dirname(__file__), "..", "..", "build", "bin", "sublens"))


def run_sublens(*args, check=False):
    proc = subprocess.run([BIN, "--quiet", *map(str, args)], capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"sublens {' '.join(map(str, args))} exited {proc.returncode}: {proc.stderr}")
    return proc


def parse_json_lines(stdout):
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


@pytest.fixture
def sublens():
    return run_sublens


@pytest.fixture
def sublens_json():
    def run(*args):
        proc = run_sublens(*args, check=True)
        rows = parse_json_lines(proc.stdout)
        return rows[0] if len(rows) == 1 else rows
    return run


def assert_bad_input(proc, *fragments, outputs=()):
    """Exit 2, one-line message on stderr naming each fragment, and none of `outputs` written."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    for fragment in fragments:
        assert str(fragment) in lines[0], (fragment, lines[0])
    for path in outputs:
        assert not os.path.exists(path), f"{path} was written"
    parent_dirs = {os.path.dirname(str(p)) or "." for p in outputs}
    for d in parent_dirs:
        if os.path.isdir(d):
            leftovers = [f for f in os.listdir(d) if ".tmp" in f]
            assert not leftovers, f"temporary files left behind: {leftovers}"
