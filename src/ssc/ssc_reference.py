"""Independent references for the SSC tests (run by ssc_test.cpp with Debian's python3).

  ssc_reference.py lasso IN.bin OUT.bin TAU   -- column-by-column scikit-learn Lasso
  ssc_reference.py lars IN.bin OUT.bin TAU    -- column-by-column scikit-learn LassoLars (exact path)
  ssc_reference.py fmnist OUT.bin N           -- first N Fashion-MNIST training images, pixels/255
  ssc_reference.py lowrank OUT.bin            -- issue 13's nearly low-rank reproducer (450 x 48)

IN.bin: int64 N, int64 d, then N*d float64 (row = input). OUT.bin (lasso): float64 objective,
then the N*N coefficient matrix C (column i = code of input i), row-major float64.

eq. 2 for column i is ||c||_1 + tau/2 ||x_i - X c||^2 = tau*d * (1/(2d)||x_i - X c||^2 + alpha||c||_1)
with alpha = 1/(tau d): exactly sklearn's Lasso objective with n_samples = d.
"""
import gzip
import sys

import numpy as np


def read_matrix(path):
    with open(path, "rb") as f:
        n, d = np.frombuffer(f.read(16), dtype=np.int64)
        return np.frombuffer(f.read(), dtype=np.float64).reshape(n, d)


def column_by_column(inp, out, tau, make_model):
    """Fits make_model(alpha) to each input from all the others and writes objective and C."""
    x = read_matrix(inp)  # N x d
    n, d = x.shape
    c = np.zeros((n, n))
    for i in range(n):
        others = [j for j in range(n) if j != i]
        if not others:
            continue
        model = make_model(1.0 / (tau * d))
        model.fit(x[others].T, x[i])
        c[others, i] = model.coef_
    residual = x.T - x.T @ c
    objective = np.abs(c).sum() + tau / 2 * (residual ** 2).sum()
    with open(out, "wb") as f:
        f.write(np.array([objective]).tobytes())
        f.write(c.tobytes())


def lasso(inp, out, tau):
    from sklearn.linear_model import Lasso

    column_by_column(inp, out, tau, lambda alpha: Lasso(
        alpha=alpha, fit_intercept=False, tol=1e-14, max_iter=1000000, selection="cyclic"))


def lars(inp, out, tau):
    """LassoLars: the homotopy path computed by scikit-learn, exact where coordinate descent
    crawls (nearly low-rank X with a large tau)."""
    from sklearn.linear_model import LassoLars

    column_by_column(inp, out, tau, lambda alpha: LassoLars(
        alpha=alpha, fit_intercept=False, max_iter=100000, eps=np.finfo(float).eps))


def lowrank_matrix():
    """Issue 13's reproducer: N = 450 inputs in R^48, a dominant shared 2-d component plus three
    weak 3-d subspaces and 1e-4 noise (nearly low-rank)."""
    rng = np.random.default_rng(1)
    d, n = 48, 450
    basis = np.linalg.qr(rng.standard_normal((d, 2)))[0]
    x = (basis @ (rng.standard_normal((2, n)) * np.array([[1.0], [0.85]]))).T
    parts = [(np.linalg.qr(rng.standard_normal((d, 3)))[0] @ rng.standard_normal((3, 150))).T * 0.05
             for _ in range(3)]
    return x + np.vstack(parts) + 1e-4 * rng.standard_normal((n, d))


def lowrank(out):
    x = lowrank_matrix()
    with open(out, "wb") as f:
        f.write(np.array(x.shape, dtype=np.int64).tobytes())
        f.write(x.tobytes())


def fmnist(out, n):
    with gzip.open("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") as f:
        data = f.read(16 + n * 784)
    pixels = np.frombuffer(data[16:], dtype=np.uint8).reshape(n, 784).astype(np.float64) / 255
    with open(out, "wb") as f:
        f.write(np.array([n, 784], dtype=np.int64).tobytes())
        f.write(pixels.tobytes())


if __name__ == "__main__":
    if sys.argv[1] == "lasso":
        lasso(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    elif sys.argv[1] == "lars":
        lars(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    elif sys.argv[1] == "lowrank":
        lowrank(sys.argv[2])
    else:
        fmnist(sys.argv[2], int(sys.argv[3]))
