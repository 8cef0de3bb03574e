"""The module itself: fast import without torch, docstrings, result objects."""
import os
import subprocess
import sys

import sublens


def test_import_is_fast_and_loads_no_torch():
    code = ("import time, sys; t = time.perf_counter(); import sublens; "
            "print(time.perf_counter() - t, 'torch' in sys.modules, 'matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ), check=True).stdout.split()

    assert float(out[0]) < 1.0
    assert out[1] == "False" and out[2] == "False"


def test_extension_does_not_link_libtorch():
    path = sublens._sublens.__file__
    if sys.platform.startswith("linux"):
        needed = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
        assert "libtorch" not in needed and "libc10" not in needed


def test_every_function_has_a_docstring_with_an_example():
    for name in sublens.__all__:
        if name == "Result":
            continue
        doc = getattr(sublens, name).__doc__
        assert doc and "Example" in doc, name


def test_version_is_the_cpp_librarys():
    import re
    cmake = open(os.path.join(os.path.dirname(__file__), "..", "..", "CMakeLists.txt")).read()
    project = re.search(r"project\(sublens\s+VERSION\s+([0-9.]+)", cmake).group(1)
    assert sublens.__version__ == sublens._sublens.__version__ == project
