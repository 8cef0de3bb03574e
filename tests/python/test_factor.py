"""End-to-end tests of `sublens factorize` and `sublens spectrum` (issue #5, PAPERS.md section B).

`numpy_mu` below is a line-by-line NumPy transcription of the paper's multiplicative updates; the
C++ unit test (src/factor/factor_test.cpp) and bench/bench_factor.py import it from here.
"""
import csv
import json
import os

import numpy as np
import pytest

from conftest import assert_bad_input


def numpy_mu(inputs, layers, F, P, O, iterations, eps=1e-9, objective=True):
    """The paper's updates, as printed (Saini & Papalexakis, eq. 1 and the update steps).

    inputs: list of D_i (pixels x N); layers: list of A_j (neurons x N); F (N x r); P, O: lists of
    P_i (pixels x r), O_j (neurons x r). eps is added once to each whole denominator. Returns
    (F, P, O, J) with J the objective after each iteration (empty when objective=False).
    """
    F = F.copy()
    P = [p.copy() for p in P]
    O = [o.copy() for o in O]
    J = []
    for _ in range(iterations):
        numerator = sum(D.T @ Pi for D, Pi in zip(inputs, P)) + sum(A.T @ Oj for A, Oj in zip(layers, O))
        denominator = sum(F @ (Pi.T @ Pi) for Pi in P) + sum(F @ (Oj.T @ Oj) for Oj in O)
        F = F * numerator / (denominator + eps)
        FtF = F.T @ F
        P = [Pi * (D @ F) / (Pi @ FtF + eps) for D, Pi in zip(inputs, P)]
        O = [Oj * (A @ F) / (Oj @ FtF + eps) for A, Oj in zip(layers, O)]
        if objective:
            J.append(sum(np.linalg.norm(D - Pi @ F.T) ** 2 for D, Pi in zip(inputs, P))
                     + sum(np.linalg.norm(A - Oj @ F.T) ** 2 for A, Oj in zip(layers, O)))
    return F, P, O, J


# ---- fixtures ------------------------------------------------------------------------------------

def low_rank(n, dims, rank, seed, zeros=0.5):
    """Blocks X_b = F W_b^T (N x d_b) with sparse non-negative factors (a unique exact NMF)."""
    rng = np.random.default_rng(seed)

    def factor(rows):
        m = rng.random((rows, rank))
        m[m < zeros] = 0
        return m

    F = factor(n)
    return [F @ factor(d).T for d in dims]


@pytest.fixture
def coupled(tmp_path):
    """Images (N x 4 x 5, float64) and two layers sharing an exact rank-3 non-negative structure."""
    images, layer1, layer2 = low_rank(60, [20, 30, 12], 3, seed=0)
    images_path = tmp_path / "images.npy"
    acts_path = tmp_path / "acts.npz"
    np.save(images_path, images.reshape(60, 4, 5))
    np.savez(acts_path, conv1=layer1, fc=layer2)
    return images_path, acts_path, (images, layer1, layer2)


# ---- factorize -----------------------------------------------------------------------------------

def test_factorize_recovers_the_true_rank_and_writes_tables(sublens_json, coupled, tmp_path):
    images_path, acts_path, _ = coupled
    out = tmp_path / "nmf"

    summary = sublens_json("factorize", "--inputs", images_path, "--acts", acts_path, "--ranks", "1,2,3",
                           "--seeds", 2, "--solver", "hals", "--max-iter", 3000, "--tol", 1e-14, "-o", out)

    assert summary["n_inputs"] == 60
    assert [b["name"] for b in summary["blocks"]] == ["0", "conv1", "fc"]
    rmse = [row["rmse_mean"] for row in summary["ranks"]]
    assert rmse[0] > rmse[1] > rmse[2]
    assert rmse[2] < 1e-5
    assert all(b["rmse_mean"] < 1e-5 for b in summary["ranks"][2]["blocks"])
    table = (out / "sweep.csv").read_text().splitlines()
    assert table[0].startswith("rank,block,kind,rmse_mean,rmse_std")
    assert len(table) == 1 + 3 * 4  # header + (total + 3 blocks) per rank
    assert json.loads((out / "sweep.json").read_text())["ranks"][2]["rank"] == 3
    P = np.load(out / "rank3" / "P_0.npy")
    O = np.load(out / "rank3" / "O_conv1.npy")
    F = np.load(out / "rank3" / "F.npy")
    assert P.shape == (20, 3) and O.shape == (30, 3) and F.shape == (60, 3)
    assert (P >= 0).all() and (F >= 0).all()
    for name in ["P_0.png", "O_conv1.png", "O_fc.png"]:
        assert (out / "rank3" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_factorize_reported_rmse_matches_numpy_on_the_saved_factors(sublens_json, coupled, tmp_path):
    images_path, acts_path, blocks = coupled
    out = tmp_path / "nmf"

    summary = sublens_json("factorize", "--inputs", images_path, "--acts", acts_path, "--ranks", 2,
                           "--seeds", 1, "--max-iter", 40, "--tol", 0, "-o", out)

    F = np.load(out / "rank2" / "F.npy")
    factors = [np.load(out / "rank2" / f) for f in ["P_0.npy", "O_conv1.npy", "O_fc.npy"]]
    errors = [np.linalg.norm(X - F @ W.T) ** 2 for X, W in zip(blocks, factors)]
    entries = sum(X.size for X in blocks)
    row = summary["ranks"][0]
    assert row["rmse_mean"] == pytest.approx(np.sqrt(sum(errors) / entries), rel=1e-9)
    for b, (X, e) in enumerate(zip(blocks, errors)):
        assert row["blocks"][b]["rmse_mean"] == pytest.approx(np.sqrt(e / X.size), rel=1e-9)
        relative = np.linalg.norm(X - F @ factors[b].T) / np.linalg.norm(X)
        assert row["blocks"][b]["relative_rmse_mean"] == pytest.approx(relative, rel=1e-9)
    data = sum(np.linalg.norm(X) ** 2 for X in blocks)
    assert row["relative_rmse_mean"] == pytest.approx(np.sqrt(sum(errors) / data), rel=1e-9)
    table = list(csv.DictReader(open(out / "sweep.csv")))
    assert float(table[0]["relative_rmse_mean"]) == pytest.approx(row["relative_rmse_mean"],
                                                                  rel=1e-8)
    objective = np.load(out / "rank2" / "objective.npy")
    assert objective.shape == (40,)
    assert np.all(np.diff(objective) <= 1e-12 * objective[:-1])  # MU never increases J


def test_factorize_mu_matches_the_numpy_transcription_from_the_same_seed(sublens_json, tmp_path):
    # The C++ unit test passes identical initial factors in and compares iterates; here we check the
    # CLI's MU path end to end from different random starts: for positive data the rank-1 optimum is
    # unique (the leading singular pair of the stacked blocks), so both reach the same objective.
    images, layer = low_rank(30, [12, 9], 3, seed=3, zeros=0.0)
    np.save(tmp_path / "images.npy", images.reshape(30, 3, 4))
    np.save(tmp_path / "layer.npy", layer)

    summary = sublens_json("factorize", "--inputs", tmp_path / "images.npy", "--acts", tmp_path / "layer.npy",
                           "--ranks", 1, "--seeds", 1, "--max-iter", 2000, "--tol", 0, "-o", tmp_path / "o")

    rng = np.random.default_rng(0)
    F, P, O, J = numpy_mu([images.T], [layer.T], rng.random((30, 1)), [rng.random((12, 1))],
                          [rng.random((9, 1))], 2000)
    assert summary["ranks"][0]["objective_mean"] == pytest.approx(J[-1], rel=1e-6, abs=1e-12)
    singular = np.linalg.svd(np.hstack([images, layer]), compute_uv=False)
    assert J[-1] == pytest.approx((singular[1:] ** 2).sum(), rel=1e-6)  # Eckart-Young


def test_hals_reaches_at_most_the_mu_objective(sublens_json, coupled, tmp_path):
    images_path, acts_path, _ = coupled
    common = ["--inputs", images_path, "--acts", acts_path, "--ranks", 2, "--seeds", 2, "--max-iter", 300,
              "--tol", 0, "--no-latent"]

    mu = sublens_json("factorize", *common, "--solver", "mu", "-o", tmp_path / "mu")
    hals = sublens_json("factorize", *common, "--solver", "hals", "-o", tmp_path / "hals")

    assert hals["ranks"][0]["objective_mean"] <= mu["ranks"][0]["objective_mean"]


def test_block_weighting_keeps_a_huge_layer_from_drowning_the_inputs(sublens_json, tmp_path):
    rng = np.random.default_rng(5)
    images = rng.random((40, 16))  # full rank 16: a rank-2 fit must choose what to explain
    layer = 1000.0 * rng.random((40, 50))
    np.save(tmp_path / "images.npy", images.reshape(40, 4, 4))
    np.save(tmp_path / "layer.npy", layer)
    common = ["--inputs", tmp_path / "images.npy", "--acts", tmp_path / "layer.npy", "--ranks", 2,
              "--seeds", 1, "--solver", "hals", "--max-iter", 200, "--no-latent"]

    plain = sublens_json("factorize", *common, "-o", tmp_path / "plain")
    weighted = sublens_json("factorize", *common, "--weight-blocks", "-o", tmp_path / "weighted")

    image_rmse = [s["ranks"][0]["blocks"][0]["rmse_mean"] for s in (plain, weighted)]
    assert weighted["weight_blocks"] and not plain["weight_blocks"]
    assert image_rmse[1] < image_rmse[0]


def test_negative_inputs_are_an_error_unless_shifted(sublens, sublens_json, tmp_path):
    images = np.random.default_rng(1).standard_normal((20, 3, 3))  # "normalised" images
    np.save(tmp_path / "images.npy", images)
    out = tmp_path / "nmf"

    proc = sublens("factorize", "--inputs", tmp_path / "images.npy", "--ranks", 2, "-o", out)
    assert_bad_input(proc, "negative", "--shift-min", "images.npy")
    assert not out.exists()

    summary = sublens_json("factorize", "--inputs", tmp_path / "images.npy", "--ranks", 2, "--seeds", 1,
                           "--shift-min", "-o", out)

    assert summary["blocks"][0]["shift"] == pytest.approx(-images.min())
    assert summary["blocks"][0]["shifted"] is True
    assert summary["shifted"] == [{"name": "0", "kind": "input",
                                   "shift": pytest.approx(-images.min())}]
    assert summary["skipped"] == []


def test_shifted_and_skipped_blocks_are_recorded(sublens, sublens_json, tmp_path):
    rng = np.random.default_rng(2)
    images = rng.random((20, 3, 3))
    acts = {"relu": rng.random((20, 6)), "logits": rng.standard_normal((20, 4)),
            "pre": rng.standard_normal((20, 5)) * 100}
    np.save(tmp_path / "images.npy", images)
    np.savez(tmp_path / "acts.npz", **acts)
    args = ["factorize", "--inputs", tmp_path / "images.npy", "--acts", tmp_path / "acts.npz",
            "--ranks", 2, "--seeds", 1, "--max-iter", 30]

    shifted = sublens_json(*args, "--shift-min", "-o", tmp_path / "shifted")
    skipped = sublens_json(*args, "--skip-negative", "-o", tmp_path / "skipped")

    assert [(b["name"], b["shifted"]) for b in shifted["blocks"]] == [
        ("0", False), ("relu", False), ("logits", True), ("pre", True)]
    assert [(b["name"], b["shift"]) for b in shifted["shifted"]] == [
        ("logits", pytest.approx(-acts["logits"].min())), ("pre", pytest.approx(-acts["pre"].min()))]
    assert [b["name"] for b in skipped["blocks"]] == ["0", "relu"]
    assert skipped["skipped"] == [
        {"name": "logits", "kind": "layer", "min": pytest.approx(acts["logits"].min())},
        {"name": "pre", "kind": "layer", "min": pytest.approx(acts["pre"].min())}]
    saved = json.loads((tmp_path / "skipped" / "sweep.json").read_text())
    assert saved["skipped"] == skipped["skipped"]
    assert not (tmp_path / "skipped" / "rank2" / "O_logits.npy").exists()
    # The relative RMSE of the shifted block is against the shifted data, from the saved factors.
    F = np.load(tmp_path / "shifted" / "rank2" / "F.npy")
    O = np.load(tmp_path / "shifted" / "rank2" / "O_pre.npy")
    X = acts["pre"] - acts["pre"].min()
    block = shifted["ranks"][0]["blocks"][3]
    assert block["relative_rmse_mean"] == pytest.approx(
        np.linalg.norm(X - F @ O.T) / np.linalg.norm(X), rel=1e-9)

    out = tmp_path / "none"
    np.savez(tmp_path / "signed.npz", logits=acts["logits"])
    assert_bad_input(sublens("factorize", "--acts", tmp_path / "signed.npz", "--ranks", 2,
                             "--skip-negative", "-o", out), "--skip-negative left none")
    assert not out.exists()
    assert_bad_input(sublens(*args, "--skip-negative", "--shift-min", "-o", out),
                     "--shift-min or --skip-negative, not both")
    assert not out.exists()


def test_mismatched_n_is_an_error(sublens, tmp_path):
    np.save(tmp_path / "images.npy", np.ones((10, 2, 2)))
    np.savez(tmp_path / "acts.npz", conv1=np.ones((9, 5)))

    proc = sublens("factorize", "--inputs", tmp_path / "images.npy", "--acts", tmp_path / "acts.npz",
                   "--ranks", 2, "-o", tmp_path / "o")

    assert_bad_input(proc, "10", "9", "conv1")


def test_idx_uint8_images_are_scaled_to_unit_range(sublens_json, tmp_path):
    import gzip
    pixels = np.random.default_rng(2).integers(0, 256, size=(15, 4, 4), dtype=np.uint8)
    header = np.array([0x00000803, 15, 4, 4], dtype=">u4").tobytes()
    with gzip.open(tmp_path / "images-idx3-ubyte.gz", "wb") as f:
        f.write(header + pixels.tobytes())

    summary = sublens_json("factorize", "--inputs", tmp_path / "images-idx3-ubyte.gz", "--ranks", 16,
                           "--seeds", 1, "--solver", "hals", "--max-iter", 2000, "--tol", 1e-12,
                           "-o", tmp_path / "o")

    assert summary["n_inputs"] == 15
    F = np.load(tmp_path / "o" / "rank16" / "F.npy")
    P = np.load(tmp_path / "o" / "rank16" / "P_0.npy")
    assert np.abs(F @ P.T - pixels.reshape(15, 16) / 255.0).max() < 0.05  # full rank: near exact


# ---- spectrum ------------------------------------------------------------------------------------

@pytest.mark.parametrize("dense_limit", [0, 100000])
def test_spectrum_matches_numpy_svd(sublens_json, tmp_path, dense_limit):
    rng = np.random.default_rng(4)
    wide = rng.standard_normal((100, 250)) * 0.97 ** np.arange(250)  # d > N: Gram X X^T
    tall = rng.standard_normal((100, 40)) * 0.9 ** np.arange(40)  # d < N: Gram X^T X
    np.savez(tmp_path / "acts.npz", wide=wide, tall=tall)
    out = tmp_path / "spec"

    summary = sublens_json("spectrum", tmp_path / "acts.npz", "-k", 8, "--dense-limit", dense_limit, "-o", out)

    for name, X in [("wide", wide), ("tall", tall)]:
        expected = np.linalg.svd(X, compute_uv=False)[:8]
        got = np.load(out / f"spectrum_{name}.npy")
        assert got.shape == (8,)
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12 * expected[0])
    assert [layer["method"] for layer in summary["layers"]] == (
        ["lanczos-gram"] * 2 if dense_limit == 0 else ["dense-svd"] * 2)
    table = (out / "spectrum.csv").read_text().splitlines()
    assert table[0] == "layer,index,singular_value,normalized" and len(table) == 1 + 16


def test_spectrum_layers_and_k_cap(sublens_json, tmp_path):
    np.savez(tmp_path / "acts.npz", a=np.ones((5, 3)), b=np.eye(4))

    summary = sublens_json("spectrum", tmp_path / "acts.npz", "--layers", "b", "-k", 50, "-o", tmp_path / "s")

    assert [layer["layer"] for layer in summary["layers"]] == ["b"]
    np.testing.assert_allclose(np.load(tmp_path / "s" / "spectrum_b.npy"), np.ones(4))


def test_spectrum_csv_quotes_layer_names_and_file_names_are_safe(sublens_json, tmp_path):
    # "a/b" and "a_b" must not share a file (percent-encoding is one-to-one).
    layers = {"block,1": np.eye(3), "a/b": 2 * np.eye(3), "a_b": 3 * np.eye(3)}
    np.savez(tmp_path / "acts.npz", **layers)

    sublens_json("spectrum", tmp_path / "acts.npz", "-k", 2, "-o", tmp_path / "s")
    with open(tmp_path / "s" / "spectrum.csv", newline="") as f:
        rows = list(csv.reader(f))

    assert [row[0] for row in rows[1:]] == ["block,1", "block,1", "a/b", "a/b", "a_b", "a_b"]
    np.testing.assert_allclose(np.load(tmp_path / "s" / "spectrum_block%2C1.npy"), [1, 1])
    np.testing.assert_allclose(np.load(tmp_path / "s" / "spectrum_a%2Fb.npy"), [2, 2])
    np.testing.assert_allclose(np.load(tmp_path / "s" / "spectrum_a_b.npy"), [3, 3])


def test_spectrum_bad_k_is_a_usage_error(sublens, tmp_path):
    np.savez(tmp_path / "acts.npz", a=np.ones((5, 3)))

    proc = sublens("spectrum", tmp_path / "acts.npz", "-k", 0, "-o", tmp_path / "s")

    assert proc.returncode == 2
