"""`sublens analyze` on numpy-written activations, its resumability, and the report in a browser.

The browser test (conftest.render_in_chromium) opens the self-contained report.html in headless
Chromium with the network unreachable by construction (file:// URL, no proxy), fails on any console
error, uncaught exception or figure that vega-embed did not render, and saves a screenshot next to
the build's binaries (build/test-artifacts/report.png).
"""
import json
import os
import re
import subprocess

import numpy as np
import pytest

from conftest import BIN, assert_bad_input, chromium, render_in_chromium

N = 200
CLASSES = 5
# Network order differs from name order on purpose: results must follow the network's order.
LAYERS = ("stem", "block", "after")


def write_fixture(folder):
    """Three layers whose class structure sharpens with depth; logits ~75% accurate; 8x8 images."""
    rng = np.random.default_rng(7)
    labels = rng.integers(0, CLASSES, N)
    acts = {}
    for depth, (name, d) in enumerate(zip(LAYERS, (48, 32, 16))):
        centers = rng.normal(size=(CLASSES, d))
        acts[name] = (centers[labels] * (0.4 + 1.2 * depth) + rng.normal(size=(N, d))).astype(np.float32)
    np.savez(folder / "acts.npz", **acts)
    np.save(folder / "labels.npy", labels.astype(np.int64))
    logits = (3.0 * np.eye(CLASSES)[labels] + 1.5 * rng.normal(size=(N, CLASSES))).astype(np.float32)
    np.save(folder / "logits.npy", logits)
    np.save(folder / "images.npy", rng.random((N, 8, 8)).astype(np.float32))
    return labels, logits


def analyze_args(folder, out):
    return ["analyze", folder / "acts.npz", "--labels", folder / "labels.npy", "--logits",
            folder / "logits.npy", "--images", folder / "images.npy", "--ranks", "4,8",
            "--nmf-max-iter", "50", "--threads", "2", "-o", out]


@pytest.fixture(scope="module")
def analysis(tmp_path_factory):
    folder = tmp_path_factory.mktemp("analyze")
    labels, logits = write_fixture(folder)
    out = folder / "out"
    proc = subprocess.run([BIN, "--quiet", *map(str, analyze_args(folder, out))],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return folder, out, json.loads(proc.stdout), labels, logits


def test_analyze_writes_every_result(analysis):
    folder, out, summary, labels, logits = analysis

    result = json.loads((out / "result.json").read_text())

    assert summary["layers"] == list(LAYERS)
    assert [layer["name"] for layer in result["layers"]] == list(LAYERS)
    for name in ("layers.csv", "ssc-cka.npy", "linear-cka.npy", "table1.csv",
                 "confidently-wrong.csv", "spectrum/spectrum.csv", "nmf/sweep.csv", "report.html",
                 "predictions.npy"):
        assert (out / name).is_file(), name
    for layer in LAYERS:
        assert np.load(out / "embeddings" / f"{layer}.npy").shape == (N, 3)
    ssc_cka = np.load(out / "ssc-cka.npy")
    assert ssc_cka.shape == (3, 3)
    np.testing.assert_allclose(np.diag(ssc_cka), 1.0, atol=1e-9)
    # result.json's heatmaps are in network order, with the values of the named pairs in the CSV.
    for key, csv_name in (("ssc_cka", "ssc-cka.csv"), ("linear_cka", "linear-cka.csv")):
        rows = (out / csv_name).read_text().splitlines()
        csv_names = rows[0].split(",")[1:]
        csv_values = {(row.split(",")[0], csv_names[j]): float(v)
                      for row in rows[1:] for j, v in enumerate(row.split(",")[1:])}
        assert result[key]["rows"] == list(LAYERS) and result[key]["cols"] == list(LAYERS)
        for i, a in enumerate(LAYERS):
            for j, b in enumerate(LAYERS):
                assert result[key]["values"][i][j] == pytest.approx(csv_values[(a, b)], rel=1e-12)
    # Table 1's network accuracy is the argmax of the logits against the labels.
    assert result["table1"]["network_accuracy"] == pytest.approx(np.mean(logits.argmax(1) == labels))
    wrong = result["confidently_wrong"]
    assert 0 < len(wrong) <= 5
    assert all(w["label"] != w["predicted"] for w in wrong)
    # Modularity rises with depth by construction, but over 3 layers: the smallest exact
    # permutation p is 1/3! = 0.167, so the finding is inconclusive (issue 16's criteria).
    modularity = [layer["modularity"] for layer in result["layers"]]
    assert modularity == sorted(modularity)
    assert result["findings"][0]["verdict"] == "inconclusive"
    assert result["findings"][0]["held"] is None
    assert {row["rank"] for row in result["nmf"]["rmse"]} == {4, 8}


def headings(html):
    """Every <h2> text of the page, and every <h3> as "h2 > h3" (a table title within its section)."""
    found, section = [], ""
    for level, text in re.findall(r"<h([23])>([^<]*)</h[23]>", html):
        if level == "2":
            section = text
        found.append(text if level == "2" else f"{section} > {text}")
    return found


def test_report_has_no_duplicated_headings(analysis):
    _, out, _, _, _ = analysis
    found = headings((out / "report.html").read_text())
    assert found and "Findings" in found
    assert len(found) == len(set(found)), [h for h in found if found.count(h) > 1]


def test_analyze_rerun_skips_every_step_and_rewrites_identical_tables(analysis, sublens_json):
    folder, out, first, _, _ = analysis
    before = {name: (out / name).read_bytes() for name in ("result.json", "layers.csv", "table1.csv")}

    second = sublens_json(*analyze_args(folder, out))

    assert second["steps_run"] == 0
    assert second["steps_skipped"] == first["steps_run"] + first["steps_skipped"]
    for name, content in before.items():
        assert (out / name).read_bytes() == content, name


def test_analyze_recomputes_only_what_depends_on_a_changed_input(tmp_path, sublens_json):
    labels, _ = write_fixture(tmp_path)
    first = sublens_json(*analyze_args(tmp_path, tmp_path / "out"))
    changed = labels.copy()
    changed[:10] = (changed[:10] + 1) % CLASSES
    np.save(tmp_path / "labels.npy", changed)

    second = sublens_json(*analyze_args(tmp_path, tmp_path / "out"))

    # Modularity and Table 1 (3 layers each) and the neighbourhoods depend on the labels; the SSC
    # graphs, embeddings, CKA matrices, spectra and the NMF sweep do not.
    assert first["steps_skipped"] == 0
    assert second["steps_run"] == 7
    assert second["steps_skipped"] == first["steps_run"] - 7


def test_analyze_rejects_labels_of_the_wrong_length(tmp_path, sublens):
    write_fixture(tmp_path)
    np.save(tmp_path / "short.npy", np.zeros(N - 1, dtype=np.int64))

    proc = sublens("analyze", tmp_path / "acts.npz", "--labels", tmp_path / "short.npy", "-o",
                   tmp_path / "out")

    assert_bad_input(proc, "short.npy", "shape", str(N),
                     outputs=[tmp_path / "out" / "report.html", tmp_path / "out" / "result.json"])


@pytest.mark.skipif(chromium() is None, reason="chromium is not installed (scripts/bootstrap)")
def test_report_renders_every_figure_in_headless_chromium(analysis, tmp_path):
    _, out, _, _, _ = analysis

    rendered = render_in_chromium(out / "report.html", tmp_path, "report.png")

    assert rendered >= 8


def test_analyze_keeps_layer_names_that_are_not_file_names(tmp_path):
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 60)
    names = ["x/1", "x_1", "late"]  # '/' cannot be a file name; "x/1" and "x_1" must stay apart
    np.savez(tmp_path / "a.npz", **{name: rng.normal(size=(60, 4 + i)) + i * labels[:, None]
                                     for i, name in enumerate(names)})
    np.save(tmp_path / "labels.npy", labels)

    proc = subprocess.run([BIN, "--quiet", "analyze", str(tmp_path / "a.npz"), "--labels",
                           str(tmp_path / "labels.npy"), "-o", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300)

    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert [layer["name"] for layer in result["layers"]] == names
    assert result["ssc_cka"]["rows"] == names
    assert len([f for f in os.listdir(tmp_path / "out" / "graphs") if f.endswith(".npz")]) == 3


def test_report_embeds_correct_inputs_and_shows_the_neighbours_images(analysis):
    _, out, _, labels, logits = analysis
    html = (out / "report.html").read_text()
    specs = json.loads(re.search(r'<script type="application/json" id="sublens-specs">(.*?)'
                                 r'</script>', html, re.S).group(1).replace("<\\/", "</"))
    embeddings = [spec for key, spec in specs.items() if key.startswith("embedding-")]
    points = [v for spec in embeddings for v in spec["data"]["values"]]

    # Paper A, Fig. 8: the embeddings show the correctly classified inputs only.
    correct = int(np.sum(logits.argmax(1) == labels))
    assert "Shows the %d correctly classified inputs of %d" % (correct, N) in html
    assert len(embeddings) == 3 and 0 < len(points) <= 3 * correct
    assert all(p["label"] == p["prediction"] for p in points)
    # Paper A, Fig. 9: each confidently wrong input's image and its neighbours' images.
    cells = specs["neighbour-images"]["data"]["values"]
    assert {c["slot"] for c in cells} == set(range(9))
    for cell in cells:
        if cell["slot"] > 0:
            assert cell["caption"].startswith("neighbour %d: input " % cell["slot"])
    assert html.count("data:image/png;base64,") >= N
