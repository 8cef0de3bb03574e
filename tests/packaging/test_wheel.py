"""The wheel built with Debian's tools only (no PyPI, no build isolation) installs into a fresh
venv and works there (ctest packaging.wheel; see setup.py).

Environment (set by tests/CMakeLists.txt):
  SUBLENS_SOURCE_DIR  the source tree
  SUBLENS_WORK_DIR    scratch folder; its build/ is kept between runs, so a rebuild is incremental
  CMAKE_ARGS          passed on to setup.py (e.g. the ccache launcher of the main build)
"""

import os
import re
import subprocess
from pathlib import Path

SOURCE = Path(os.environ["SUBLENS_SOURCE_DIR"]).resolve()
WORK = Path(os.environ["SUBLENS_WORK_DIR"]).resolve()
PYTHON = "/usr/bin/python3"  # Debian's, with python3-build, -setuptools, -wheel, -pybind11


def run(command, **kwargs):
    print("+", " ".join(map(str, command)), flush=True)
    return subprocess.run(command, check=True, **kwargs)


def clean_environment():
    """No PYTHONPATH (the build tree's module must not be the one imported) and no network."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONDONTWRITEBYTECODE="1")
    return env


def test_wheel_installs_into_a_fresh_venv_and_works(tmp_path):
    env = clean_environment()
    dist = tmp_path / "dist"
    env_build = dict(env, SUBLENS_BUILD_DIR=str(WORK / "build"))
    env_build.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", "2")
    run([PYTHON, "-m", "build", "--no-isolation", "--wheel", "--outdir", dist, SOURCE],
        env=env_build)
    wheels = list(dist.glob("sublens-*.whl"))
    assert len(wheels) == 1, wheels
    version = re.search(r"project\(\s*sublens\s+VERSION\s+([0-9.]+)",
                        (SOURCE / "CMakeLists.txt").read_text()).group(1)
    assert wheels[0].name.startswith(f"sublens-{version}-cp3"), wheels[0].name

    venv = tmp_path / "venv"
    run([PYTHON, "-m", "venv", "--system-site-packages", venv], env=env)
    # numpy and scipy (the dependencies) come from Debian's site-packages.
    run([venv / "bin" / "python", "-m", "pip", "install", "--no-index", "-q", wheels[0]], env=env)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    run([venv / "bin" / "python", SOURCE / "tests" / "packaging" / "smoke.py", venv, version],
        env=env, cwd=outside)

