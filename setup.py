"""Builds the `sublens` wheel: CMake builds the `_sublens` extension, setuptools packages it.

    pip install --no-build-isolation .                          # Debian's tools only, offline
    python3 -m build --no-isolation --wheel                     # the same, as a wheel file
    pip install .                                               # where PyPI is reachable

Why setuptools and not scikit-build-core: Debian 12 ships setuptools, wheel and pybind11 but not
scikit-build-core, so a scikit-build-core backend can never build offline there. setuptools only
packages; the build itself is the project's CMake (python/ subdirectory, no tests, no LibTorch:
the extension never links it), so the wheel holds exactly what `make build` builds.

Environment:
  SUBLENS_BUILD_DIR  where setuptools and CMake build (default build-python/ in the source tree;
                     the CMake tree is kept, so a second build only recompiles what changed)
  CMAKE_ARGS         extra CMake arguments, e.g. "-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"
  CMAKE_BUILD_PARALLEL_LEVEL  compile jobs (default: all cores)
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
BUILD_BASE = Path(os.environ.get("SUBLENS_BUILD_DIR") or ROOT / "build-python").resolve()


def project_version():
    """The version of CMakeLists.txt's project(): the one place it is written."""
    text = (ROOT / "CMakeLists.txt").read_text()
    match = re.search(r"project\(\s*sublens\s+VERSION\s+([0-9.]+)", text)
    if not match:
        raise RuntimeError("setup.py: CMakeLists.txt: project(sublens VERSION x.y.z) not found")
    return match.group(1)


def pybind11_cmake_dir():
    import pybind11  # a build requirement (pyproject.toml); Debian: python3-pybind11

    return pybind11.get_cmake_dir()


class CMakeBuild(build_ext):
    """Configures the whole project once per interpreter, builds only `_sublens`, and copies the
    extension that `cmake --install --component python` names into the wheel's tree."""

    def build_extension(self, ext):
        cmake = shutil.which("cmake")
        if cmake is None:
            raise RuntimeError("setup.py: cmake (>= 3.25) not found on PATH")
        build = Path(self.build_temp).resolve() / "cmake"
        build.mkdir(parents=True, exist_ok=True)
        configure = [
            cmake, "-S", str(ROOT), "-B", str(build),
            "-DCMAKE_BUILD_TYPE=Release",
            "-DSUBLENS_BUILD_TESTS=OFF",
            "-DSUBLENS_BUILD_MODELS=OFF",
            f"-DSUBLENS_PYTHON={sys.executable}",
            f"-Dpybind11_DIR={pybind11_cmake_dir()}",
        ]
        if not (build / "CMakeCache.txt").exists() and shutil.which("ninja"):
            configure += ["-G", "Ninja"]
        configure += shlex.split(os.environ.get("CMAKE_ARGS", ""))
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL") or str(os.cpu_count() or 1)
        subprocess.run(configure, check=True)
        subprocess.run([cmake, "--build", str(build), "--target", "_sublens", "-j", jobs],
                       check=True)
        with tempfile.TemporaryDirectory() as staged:
            subprocess.run([cmake, "--install", str(build), "--component", "python",
                            "--prefix", staged], check=True)
            suffix = Path(self.get_ext_filename("_sublens")).suffix
            built = [p for p in (Path(staged) / "sublens").iterdir() if p.name.startswith("_sublens")
                     and p.name.endswith(suffix)]
            if len(built) != 1:
                raise RuntimeError(f"setup.py: expected one _sublens*{suffix}, got {built}")
            target = Path(self.get_ext_fullpath(ext.name))
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(built[0], target)


BUILD_BASE.mkdir(parents=True, exist_ok=True)
setup(
    version=project_version(),
    packages=["sublens"],
    package_dir={"sublens": "python/sublens"},
    package_data={"sublens": ["*.pyi", "py.typed"]},
    ext_modules=[Extension("sublens._sublens", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
    zip_safe=False,
    # Out of `build/`, which is the CMake build tree of `make build`.
    options={"build": {"build_base": str(BUILD_BASE)},
             "egg_info": {"egg_base": str(BUILD_BASE)}},
)
