"""Run by test_wheel.py with the venv's interpreter, from a folder outside the source tree: the
installed wheel must be the `sublens` that is imported, and must work.

    smoke.py VENV EXPECTED_VERSION
"""

import importlib.metadata
import sys
from pathlib import Path

import numpy as np

import sublens

venv, expected_version = Path(sys.argv[1]).resolve(), sys.argv[2]
for module in (sublens, sublens._sublens):
    where = Path(module.__file__).resolve()
    assert venv in where.parents, f"{module.__name__} imported from {where}, not from {venv}"
assert importlib.metadata.version("sublens") == expected_version

# Eight inputs on two lines through the origin in R^3 (as tests/consumer/main.cpp): SSC codes each
# by its own line only; the modularity of the lines is then 1 - sum_k (d_k / 2m)^2 (numpy).
scale = np.array([1.0, -2.0, 3.0, -4.0])
x = np.vstack([np.outer(scale, [1.0, 2.0, 0.0]), np.outer(scale, [0.0, 1.0, 1.0])])
line = np.repeat([0, 1], 4)
result = sublens.ssc(x, tau=10)
w = result.affinity.toarray()
assert result.converged and w.any()
np.testing.assert_array_equal(w[line[:, None] != line[None, :]], 0.0)
np.testing.assert_allclose(w, w.T, rtol=0, atol=1e-12)
degree = np.array([w[line == k].sum() for k in (0, 1)])
expected = 1.0 - ((degree / degree.sum()) ** 2).sum()
TOLERANCE = 1e-12
q = sublens.modularity(result.affinity, line).modularity
assert abs(q - expected) < TOLERANCE, (q, expected)
print(f"sublens {expected_version} from {Path(sublens.__file__).parent}: modularity {q:.6f}")
