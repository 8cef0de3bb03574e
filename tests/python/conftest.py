"""Shared fixtures for the end-to-end CLI tests.

`run_sublens(*args)` runs the built CLI (path from $SUBLENS_BIN, set by ctest) and returns the
CompletedProcess; `sublens_json(*args)` also checks exit code 0 and parses stdout's JSON lines.
"""
import json
import os
import re
import shutil
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


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


# A study report has dozens of figures; with the other tests compiling beside it (make test runs
# two at once on two cores), Chromium has taken more than 120 s to render one.
CHROMIUM_SECONDS = 400


def render_in_chromium(html_file, tmp_path, screenshot_name):
    """Opens a report in headless Chromium (file:// URL, everything inlined, no network); fails on
    any console error, uncaught exception or figure vega-embed did not render; saves a screenshot
    in build/test-artifacts. Returns the number of figures rendered."""
    html = open(html_file, encoding="utf-8").read()
    assert "http://" not in html.split("<script>")[0] and "<link" not in html
    expected = len(re.findall(r'class="vega-figure"', html))
    flags = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr",
             "--v=0", "--virtual-time-budget=20000"]
    url = html_file.resolve().as_uri()

    # At 1400 px, a common laptop width: no figure may stick out of the page.
    dom = subprocess.run([*flags, "--window-size=1400,2400", "--dump-dom", url], capture_output=True,
                         text=True, timeout=CHROMIUM_SECONDS)
    artifacts = os.path.join(os.path.dirname(BIN), "..", "test-artifacts")
    os.makedirs(artifacts, exist_ok=True)
    screenshot = os.path.join(artifacts, screenshot_name)
    shot = subprocess.run([*flags, f"--screenshot={screenshot}", "--window-size=1400,2400", url],
                          capture_output=True, text=True, timeout=CHROMIUM_SECONDS)

    assert dom.returncode == 0, dom.stderr[-2000:]
    errors = re.search(r'<div id="sublens-errors">(.*?)</div>', dom.stdout, re.S)
    assert errors is not None and errors.group(1).strip() == "", errors and errors.group(1)
    console = [line for line in dom.stderr.splitlines()
               if "CONSOLE" in line and ("Uncaught" in line or "Error" in line)]
    assert not console, console
    assert f'data-rendered="{expected}/{expected}"' in dom.stdout
    assert dom.stdout.count('data-rendered="yes"') == expected
    assert dom.stdout.count("<svg") >= expected
    assert 'data-overflow="none"' in dom.stdout, re.search(r'data-overflow="[^"]*"', dom.stdout)
    # Every figure offers its numbers as CSV (a blob: link with at least one record).
    links = re.findall(r'<a class="csv"[^>]*>', dom.stdout)
    assert len(links) == expected and all('href="blob:' in a for a in links), links[:3]
    assert all(int(re.search(r'data-rows="(\d+)"', a).group(1)) > 0 for a in links)
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert os.path.getsize(screenshot) > 10_000
    return expected
