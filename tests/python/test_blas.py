"""The CLI runs the OpenBLAS kernels the CPU supports (issue 13).

Debian 12's OpenBLAS falls back to its generic `Prescott` kernels on CPUs it does not know. To
exercise that case on any machine, a small LD_PRELOAD shim makes `openblas_get_corename` answer
"Prescott" while OPENBLAS_CORETYPE is unset (what OpenBLAS itself would report there), and the
real name once it is set. The expected choice is read independently from /proc/cpuinfo.
"""
import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from conftest import BIN

SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
char* openblas_get_corename(void) {
  if (getenv("OPENBLAS_CORETYPE") == NULL) return "Prescott";
  void* symbol = dlsym(RTLD_NEXT, "openblas_get_corename");
  if (symbol == NULL) {  /* loaded RTLD_LOCAL (a Python extension's dependency) */
    void* library = dlopen("libopenblas.so.0", RTLD_LAZY | RTLD_NOLOAD);
    symbol = library ? dlsym(library, "openblas_get_corename") : NULL;
  }
  return symbol ? ((char* (*)(void))symbol)() : "unknown";
}
"""


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def expected_cores():
    flags = cpu_flags()
    if {"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl", "avx2", "fma"} <= flags:
        return {"Cooperlake"} if "avx512_bf16" in flags else {"SkylakeX"}
    if {"avx2", "fma"} <= flags:
        return {"Haswell"}
    return {"Prescott"}


@pytest.fixture(scope="module")
def shim(tmp_path_factory):
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler for the LD_PRELOAD shim")
    folder = tmp_path_factory.mktemp("shim")
    (folder / "shim.c").write_text(SHIM)
    library = folder / "libshim.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-o", str(library), str(folder / "shim.c"), "-ldl"],
                   check=True)
    return str(library)


def kernels(env):
    out = subprocess.run([BIN, "--version"], capture_output=True, text=True, env=env, check=True)
    match = re.search(r"OpenBLAS (\S+) kernels", out.stdout)
    assert match, out.stdout
    return match.group(1)


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "SUBLENS_BLAS_KEEP")}
    env.update(extra)
    return env


def test_generic_kernels_are_replaced_by_the_cpus(shim):
    assert kernels(clean_env(LD_PRELOAD=shim)) in expected_cores()


def test_a_coretype_the_user_set_is_respected(shim):
    assert kernels(clean_env(LD_PRELOAD=shim, OPENBLAS_CORETYPE="Prescott")) == "Prescott"


def test_selection_can_be_turned_off(shim):
    assert kernels(clean_env(LD_PRELOAD=shim, SUBLENS_BLAS_KEEP="1")) == "Prescott"


# OpenBLAS's kernel sets by the widest vector instructions they use (its own names; an AMD CPU
# with AVX2 runs `Zen`, as wide as `Haswell`).
VECTOR_WIDTH = {**{core: 512 for core in ("SkylakeX", "Cooperlake", "SapphireRapids")},
                **{core: 256 for core in ("Haswell", "Zen", "Excavator")}}


def test_without_the_shim_openblas_runs_at_least_the_cpus_kernels():
    chosen = kernels(clean_env())
    best = expected_cores()
    if best != {"Prescott"}:
        assert VECTOR_WIDTH.get(chosen, 0) >= max(VECTOR_WIDTH[core] for core in best), chosen


def test_same_answer_with_generic_and_native_kernels(tmp_path):
    # N >= 1024 takes the float32 passes, whose rounding differs between kernel sets; the
    # certified answer must not.
    rng = np.random.default_rng(3)
    basis = [rng.standard_normal((32, 4)) for _ in range(8)]
    x = np.vstack([(b @ rng.standard_normal((4, 140))).T for b in basis])
    x += 0.01 * rng.standard_normal(x.shape)
    np.save(tmp_path / "x.npy", x.astype(np.float32))
    results = []
    for env in (clean_env(OPENBLAS_CORETYPE="Prescott"), clean_env()):
        out = subprocess.run([BIN, "--quiet", "ssc", str(tmp_path / "x.npy"), "--threads", "2", "-o",
                              str(tmp_path / "w.npz")], capture_output=True, text=True, env=env,
                             check=True)
        results.append(json.loads(out.stdout))
    generic, native = results
    assert generic["converged"] and native["converged"]
    assert generic["kkt_violation"] <= 1e-10 and native["kkt_violation"] <= 1e-10
    assert abs(generic["objective"] - native["objective"]) <= 1e-12 * abs(native["objective"])
    assert generic["nnz"] == native["nnz"]


def import_sublens(env):
    """Warnings printed by `import sublens` in a fresh interpreter (the module of this build)."""
    env["PYTHONPATH"] = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(BIN))), "python")
    code = "import warnings; warnings.simplefilter('always'); import sublens"
    out = subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    return out.stderr


def test_python_module_says_once_when_numpy_loaded_generic_kernels(shim):
    if expected_cores() == {"Prescott"}:
        pytest.skip("this CPU has nothing better than the generic kernels")
    said = import_sublens(clean_env(LD_PRELOAD=shim))
    assert said.count("RuntimeWarning") == 1
    assert "generic 'Prescott' kernels" in said
    assert f"OPENBLAS_CORETYPE={next(iter(expected_cores()))}" in said
    assert import_sublens(clean_env(LD_PRELOAD=shim, OPENBLAS_CORETYPE="Prescott")) == ""
    assert import_sublens(clean_env()) == ""
