"""`sublens study` end to end on a miniature plan (tiny models, 2 epochs, N = 200).

One uninterrupted run is the reference. A second run is killed with SIGKILL mid-run (the whole
process group: the study and the step it was running) and rerun: its result tables must be
byte-identical to the reference's, and no step that had finished before the kill may run again.
Numbers are checked against NumPy on the files the steps wrote (Linear-CKA, accuracy, the seeded
analysis set, the images), bad plans against the one-line error contract.
"""
import csv
import gzip
import json
import os
import re
import signal
import struct
import subprocess
import time
import tomllib

import numpy as np
import pytest

from conftest import BIN, assert_bad_input, chromium, render_in_chromium

DATA = "/usr/share/datasets/fashion-mnist"
N = 200
TABLES = ("variants.csv", "modularity.csv", "dynamics.csv", "heatmaps.csv", "block-diagonal.csv",
          "nmf.csv", "replicates.csv", "study.json")

MINI_PLAN = f"""
name = "mini"
[dataset]
name = "fashion-mnist"
data_dir = "{DATA}"
[analysis]
n = {N}
seed = 3
layers = "convs"
threads = 2
confidently_wrong = 3
[nmf]
ranks = [4, 8]
max_iter = 30
[training]
model = "cnn2"
base_width = 4
epochs = 2
train_fraction = 0.02
seed = 1

[[variants]]
name = "tiny"
group = "g"
dynamics = true
heatmap_epochs = [1]
inputs = true
nmf = true

[[variants]]
name = "tiny-less-data"
group = "g"
train_fraction = 0.01
layers = "blocks"
nmf = true

[[variants]]
name = "resnet"
group = "depth"
model = "resnet8"
layers = ["stem", "stage*.block1"]

[[variants]]
name = "tiny-decay"
group = "lr"
epochs = 4
lr_step = 2
dynamics = true
layers = "blocks"
"""


def study(plan, out, *extra):
    return subprocess.run([BIN, "--quiet", "study", str(plan), "-o", str(out), *extra],
                          capture_output=True, text=True, timeout=900)


def read_safetensors(path):
    with open(path, "rb") as f:
        size = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(size))
        data = f.read()
    arrays = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        arrays[name] = np.frombuffer(data[begin:end], dtype=np.float32).reshape(info["shape"])
    return arrays


def linear_cka(x, y):
    """Kornblith et al. 2019, feature form on centred activations (float64)."""
    x = x.reshape(len(x), -1).astype(np.float64)  # run folders store N x <layer shape>
    y = y.reshape(len(y), -1).astype(np.float64)
    x = x - x.mean(0)
    y = y - y.mean(0)
    return np.linalg.norm(y.T @ x) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("study")
    plan = folder / "mini.toml"
    plan.write_text(MINI_PLAN)
    out = folder / "reference"
    proc = study(plan, out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return plan, out, json.loads(proc.stdout)


def test_study_writes_every_table_and_the_numbers_match_numpy(reference):
    plan, out, summary = reference
    result = json.loads((out / "study.json").read_text())
    variants = {v["name"]: v for v in result["variants"]}

    for name in TABLES + ("report.html",):
        assert (out / name).is_file(), name
    assert set(variants) == {"tiny", "tiny-less-data", "resnet", "tiny-decay"}
    assert variants["tiny"]["layers"] == ["conv1", "pool1", "conv2", "pool2"]
    assert variants["tiny-less-data"]["layers"] == ["pool1", "pool2"]
    assert variants["resnet"]["layers"] == ["stem", "stage1.block1", "stage2.block1",
                                            "stage3.block1"]
    # The analysis set: 200 test images drawn with the seed, the same for every variant.
    # Each zoo variant's activations form a run folder (the format recorded runs use).
    run = json.loads((out / "acts" / "tiny" / "run.json").read_text())
    assert run["format"] == "sublens-run" and run["metadata"]["source"] == "sublens-train"
    assert [layer["name"] for layer in run["layers"]] == variants["tiny"]["layers"]
    assert [e["epoch"] for e in run["epochs"]] == [1, 2]
    indices = np.load(out / "acts" / "tiny" / "indices.npy")
    assert len(indices) == N and np.all(np.diff(indices) > 0) and indices[-1] > N
    for name in ("tiny-less-data", "resnet"):
        np.testing.assert_array_equal(np.load(out / "acts" / name / "indices.npy"),
                                      indices)
    with gzip.open(f"{DATA}/t10k-images-idx3-ubyte.gz") as f:
        test_images = np.frombuffer(f.read()[16:], np.uint8).reshape(-1, 28, 28)
    with gzip.open(f"{DATA}/t10k-labels-idx1-ubyte.gz") as f:
        test_labels = np.frombuffer(f.read()[8:], np.uint8)
    images = np.load(out / "acts" / "tiny" / "inputs.npy")
    assert images.dtype == np.float32
    np.testing.assert_array_equal(images.reshape(N, 28, 28), test_images[indices])
    labels = np.load(out / "acts" / "tiny" / "labels.npy")
    np.testing.assert_array_equal(labels, test_labels[indices])

    # Accuracy = predictions vs labels; the dynamics table has one row per epoch x layer.
    tiny = variants["tiny"]
    predictions = np.load(out / "acts" / "tiny" / "epoch-0002.predictions.npy")
    assert tiny["final_accuracy"] == pytest.approx(np.mean(predictions == labels))
    assert run["epochs"][-1]["accuracy"] == pytest.approx(np.mean(predictions == labels))
    assert [row["epoch"] for row in tiny["dynamics"]] == [1, 2]
    dynamics_rows = (out / "dynamics.csv").read_text().splitlines()
    assert len([r for r in dynamics_rows if r.startswith("tiny,")]) == 2 * 4
    # CKA of the final epoch with itself is 1; epoch 1 vs 2 matches NumPy's Linear-CKA.
    final = tiny["dynamics"][-1]
    np.testing.assert_allclose(final["ssc_cka_to_final"], 1.0, atol=1e-9)
    np.testing.assert_allclose(final["linear_cka_to_final"], 1.0, atol=1e-9)
    first = read_safetensors(out / "acts" / "tiny" / "epoch-0001.safetensors")
    last = read_safetensors(out / "acts" / "tiny" / "epoch-0002.safetensors")
    for l, layer in enumerate(tiny["layers"]):
        # float32 activations, float64 accumulation: agreement to 1e-6 relative.
        assert tiny["dynamics"][0]["linear_cka_to_final"][l] == pytest.approx(
            linear_cka(first[layer], last[layer]), rel=1e-6)
    # Heatmaps: epochs 1 and 2, unit diagonal, symmetric, in the network's layer order.
    assert [h["epoch"] for h in tiny["heatmaps"]] == [1, 2]
    for h in tiny["heatmaps"]:
        values = np.array(h["values"])
        np.testing.assert_allclose(np.diag(values), 1.0, atol=1e-9)
        np.testing.assert_allclose(values, values.T, atol=1e-12)
        off = ~np.eye(4, dtype=bool)
        adjacent = np.abs(np.subtract.outer(range(4), range(4))) == 1
        assert h["strength"] == pytest.approx(values[adjacent].mean() - values[off & ~adjacent].mean())
    # The NMF table is the sweep's.
    sweep = np.genfromtxt(out / "nmf" / "tiny" / "sweep.csv", delimiter=",", names=True,
                          dtype=None, encoding="utf-8")
    total = sweep[sweep["kind"] == "total"]
    assert tiny["nmf"]["ranks"] == [4, 8] == list(total["rank"])
    # sweep.csv prints 10 significant digits.
    np.testing.assert_allclose(tiny["nmf"]["rmse"], total["rmse_mean"], rtol=1e-9)
    assert (out / "nmf" / "tiny" / "rank4" / "P_0.png").is_file()
    # Table 1 and the neighbourhoods come from the final network's analysis.
    analysis = json.loads((out / tiny["analysis"]).read_text())
    assert analysis["table1"]["network_accuracy"] == pytest.approx(tiny["final_accuracy"])
    # Findings are computed, each with a statistic.
    claims = [f["claim"] for f in result["findings"]]
    assert any("converge earlier" in c for c in claims)
    assert any("coupled-NMF RMSE" in c for c in claims)
    assert all(f["statistic"] for f in result["findings"])
    # The learning-rate decay after epoch 2: the SSC-CKA gain 2 -> 3 against the gain 1 -> 2,
    # recomputed from dynamics.csv.
    rows = [r.split(",") for r in (out / "dynamics.csv").read_text().splitlines()[1:]]
    cka = {}
    for row in rows:
        if row[0] == "tiny-decay":
            cka.setdefault(int(row[1]), []).append(float(row[6]))
    gain = {e: np.mean(np.subtract(cka[e], cka[e - 1])) for e in (2, 3)}
    jump = [f for f in result["findings"] if "learning-rate decay" in f["claim"]]
    assert len(jump) == 1 and "[tiny-decay]" in jump[0]["claim"]
    assert jump[0]["held"] == bool(gain[3] > gain[2])
    assert "epoch 3: gain %.3f vs %.3f" % (gain[3], gain[2]) in jump[0]["statistic"]
    assert summary["steps_skipped"] == 0


def test_rerun_skips_every_step_and_writes_identical_tables(reference):
    plan, out, first = reference
    before = {name: (out / name).read_bytes() for name in TABLES}

    proc = study(plan, out, "--no-figures")

    assert proc.returncode == 0, proc.stderr[-3000:]
    second = json.loads(proc.stdout)
    assert second["steps_run"] == 0
    assert second["steps_skipped"] == first["steps_run"]
    for name, content in before.items():
        assert (out / name).read_bytes() == content, name


def start_and_kill(plan, out, ready):
    """Starts a study, SIGKILLs its whole process group (the study and the step it runs) as soon
    as ready() holds, and returns the step records that existed then (path -> mtime, bytes)."""
    proc = subprocess.Popen([BIN, "--quiet", "study", str(plan), "-o", str(out), "--no-figures"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None and not ready():
        time.sleep(0.01)
    assert proc.poll() is None, "the study finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return {p: (p.stat().st_mtime_ns, p.read_bytes())
            for p in [*out.glob("steps/*.json"), *out.glob("variants/*/steps/*.json")]}


def test_killed_run_resumes_with_identical_tables_and_recomputes_nothing_finished(reference,
                                                                                   tmp_path):
    plan, reference_out, reference_summary = reference
    out = tmp_path / "killed"
    # First kill: in the middle of training (after the first epoch's checkpoint).
    start_and_kill(plan, out, lambda: (out / "runs/tiny/checkpoints/epoch-0001.pt").exists())
    # Second kill: once a third of the steps have finished.
    target = max(3, reference_summary["steps_run"] // 3)
    finished = start_and_kill(plan, out, lambda: len(list(out.glob("steps/*.json"))) >= target)
    assert len(finished) >= target

    rerun = study(plan, out, "--no-figures")

    assert rerun.returncode == 0, rerun.stderr[-3000:]
    summary = json.loads(rerun.stdout)
    assert summary["steps_skipped"] >= len(finished)
    assert summary["steps_run"] + summary["steps_skipped"] == reference_summary["steps_run"]
    for path, (mtime, content) in finished.items():
        assert path.stat().st_mtime_ns == mtime, f"step {path.name} ran again"
        assert path.read_bytes() == content
    for name in TABLES:
        assert (out / name).read_bytes() == (reference_out / name).read_bytes(), name


def test_report_command_renders_the_same_page_again(reference):
    _, out, _ = reference
    before = (out / "report.html").read_bytes()
    (out / "report.html").unlink()

    proc = subprocess.run([BIN, "--quiet", "report", str(out), "--no-figures"],
                          capture_output=True, text=True, timeout=300)

    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["figures"] >= 10
    assert (out / "report.html").read_bytes() == before


def test_study_writes_static_figures_when_chromium_is_present(reference):
    _, out, summary = reference
    if summary.get("figures_dir") is None:
        pytest.skip("no Chromium: static figures were skipped")
    html = (out / "report.html").read_text()
    svgs = sorted(p.stem for p in (out / "figures").glob("*.svg"))
    pngs = sorted(p.stem for p in (out / "figures").glob("*.png"))
    assert svgs == pngs and len(svgs) == summary["figures"] == html.count('class="vega-figure"')
    for name in svgs:
        assert (out / "figures" / f"{name}.svg").read_text().startswith("<svg")
        assert (out / "figures" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "heatmaps-g" in svgs


@pytest.mark.skipif(chromium() is None, reason="chromium is not installed (scripts/bootstrap)")
def test_study_report_renders_every_figure_in_headless_chromium(reference, tmp_path):
    _, out, summary = reference

    rendered = render_in_chromium(out / "report.html", tmp_path, "study-report.png")

    assert rendered == summary["figures"] >= 20


def test_demo_plan_is_a_valid_plan(tmp_path, sublens):
    proc = sublens("demo", "--print-plan")

    assert proc.returncode == 0, proc.stderr
    plan = tomllib.loads(proc.stdout)
    assert plan["dataset"]["data_dir"] == DATA
    names = [v["name"] for v in plan["variants"]]
    assert {"resnet8", "resnet14", "resnet20"} <= set(names)
    assert sum(v.get("nmf", False) for v in plan["variants"]) >= 2
    assert sum(v.get("dynamics", False) for v in plan["variants"]) >= 1


BAD_PLANS = [
    ("unknown key", 'name = "x"\ncolour = 1\n', "colour"),
    ("not TOML", "name = \n", "line 1"),
    ("no variants", 'name = "x"\n', "variants"),
    ("fraction", '[[variants]]\nname = "a"\ntrain_fraction = 1.5\n', "variants[0].train_fraction"),
    ("duplicate", '[[variants]]\nname = "a"\n[[variants]]\nname = "a"\n', "variants[1].name"),
    ("model", '[[variants]]\nname = "a"\nmodel = "transformer"\n', "variants[0].model"),
    ("depth", '[[variants]]\nname = "a"\nmodel = "resnet"\ndepth = 9\n', "variants[0]"),
    ("layers", '[[variants]]\nname = "a"\nlayers = ["nothing*"]\n', "variants[0].layers"),
    ("data", '[dataset]\ndata_dir = "/nonexistent"\n[[variants]]\nname = "a"\n',
     "dataset.data_dir"),
    ("epochs", '[[variants]]\nname = "a"\nepochs = 2\nheatmap_epochs = [3]\n',
     "variants[0].heatmap_epochs"),
    ("class range", '[[variants]]\nname = "a"\nclasses = [3, 10]\n', "variants[0].classes"),
    ("class twice", '[[variants]]\nname = "a"\nclasses = [3, 3]\n', "variants[0].classes"),
    ("n", '[analysis]\nn = 10001\n[[variants]]\nname = "a"\n', "analysis.n"),
    ("default ranks", '[analysis]\nn = 40\n[[variants]]\nname = "a"\nnmf = true\n', "nmf.ranks"),
    ("wrapping", '[[variants]]\nname = "a"\nheatmap_epochs = [4294967297]\n',
     "variants[0].heatmap_epochs"),
    ("seeds", '[[variants]]\nname = "a"\nseeds = 0\n', "variants[0].seeds"),
    ("replicate name", '[[variants]]\nname = "a"\nseeds = 2\n[[variants]]\nname = "a.seed1"\n',
     "variants[1].name"),
    ("bootstrap", '[analysis]\nbootstrap = -1\n[[variants]]\nname = "a"\n', "analysis.bootstrap"),
]


@pytest.mark.parametrize("case,text,field", BAD_PLANS, ids=[case for case, _, _ in BAD_PLANS])
def test_bad_plans_are_rejected_before_anything_is_written(tmp_path, sublens, case, text, field):
    plan = tmp_path / "bad.toml"
    plan.write_text(text)
    out = tmp_path / "out"

    proc = sublens("study", plan, "-o", out)

    assert_bad_input(proc, "bad.toml", field)
    assert not out.exists()


PLANS = os.path.join(os.path.dirname(__file__), "..", "..", "plans")


@pytest.mark.parametrize("name", sorted(p for p in os.listdir(PLANS) if p.endswith(".toml")))
def test_shipped_plans_are_valid(name, sublens_json):
    summary = sublens_json("study", os.path.join(PLANS, name), "--check")

    assert summary["plan"]["name"] == name.removesuffix(".toml")
    # Every model exists and every layer selection resolves to layers of it.
    assert len(summary["variants"]) == len(summary["plan"]["variants"]) > 0
    assert all(v["layers"] and v["parameters"] > 0 for v in summary["variants"])


def test_check_resolves_layer_selections_without_data(tmp_path, sublens):
    plan = tmp_path / "cifar.toml"
    plan.write_text('[dataset]\nname = "cifar10"\ndata_dir = "missing"\n'
                    '[[variants]]\nname = "v"\nmodel = "vgg11"\nlayers = ["stage9*"]\n')

    proc = sublens("study", plan, "--check")

    assert_bad_input(proc, "cifar.toml", "variants[0].layers", "stage9*", "stage1.conv1")


def test_plans_accept_every_spelling_the_zoo_accepts(tmp_path, sublens_json):
    plan = tmp_path / "names.toml"
    plan.write_text('[dataset]\nname = "cifar10"\ndata_dir = "missing"\n'
                    '[[variants]]\nname = "a"\nmodel = "resnet-20"\n'
                    '[[variants]]\nname = "b"\nmodel = "WRN-16-2"\n')

    checked = sublens_json("study", plan, "--check")

    assert [v["model"] for v in checked["variants"]] == ["resnet20", "wrn-16-2"]


def test_output_that_is_a_file_is_refused(reference, tmp_path, sublens):
    plan, _, _ = reference
    (tmp_path / "file").write_text("x")

    proc = sublens("study", plan, "-o", tmp_path / "file")

    assert_bad_input(proc, "file", "-o", "folder")
    assert (tmp_path / "file").read_text() == "x"


def test_a_changed_variant_is_retrained_and_nothing_else_recomputed(reference, tmp_path):
    import shutil
    plan, reference_out, _ = reference
    out = tmp_path / "changed"
    shutil.copytree(reference_out, out)
    changed = tmp_path / "changed.toml"
    text = plan.read_text()
    assert 'model = "resnet8"\n' in text
    changed.write_text(text.replace('model = "resnet8"\n', 'model = "resnet8"\nlr = 0.05\n'))

    proc = subprocess.run([BIN, "study", str(changed), "-o", str(out), "--no-figures"],
                          capture_output=True, text=True, timeout=900)

    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "trained with other options" in proc.stderr
    ran = re.findall(r"\] (\S+?)(?: \(about|$)", proc.stderr, re.M)
    assert ran and all(name.endswith("resnet") or ".resnet." in name for name in ran), ran
    config = json.loads((out / "runs" / "resnet" / "config.json").read_text())
    assert config["lr"] == 0.05
    for name in ("variants.csv", "heatmaps.csv"):
        assert (out / name).read_bytes() != (reference_out / name).read_bytes()
    rows = lambda path, v: [r for r in path.read_text().splitlines() if r.startswith(v + ",")]
    assert rows(out / "dynamics.csv", "tiny") == rows(reference_out / "dynamics.csv", "tiny")


def test_dynamics_every_analyses_every_kth_epoch_and_the_heatmap_epochs(tmp_path, sublens_json):
    plan = tmp_path / "every.toml"
    plan.write_text('[[variants]]\nname = "v"\nepochs = 7\ndynamics = true\ndynamics_every = 3\n'
                    'heatmap_epochs = [2]\n[[variants]]\nname = "w"\nepochs = 7\n'
                    'heatmap_epochs = [2]\n')

    summary = sublens_json("study", plan, "--check")

    assert summary["variants"][0]["epochs_analysed"] == [1, 2, 3, 6, 7]
    assert summary["variants"][1]["epochs_analysed"] == [2, 7]


def test_a_changed_analysis_set_recaptures_the_run_folder(tmp_path):
    plan = tmp_path / "small.toml"
    text = (f'[dataset]\ndata_dir = "{DATA}"\n[nmf]\nranks = [4]\n'
            '[analysis]\nn = 30\nseed = 1\nlayers = "blocks"\nthreads = 1\n'
            '[training]\nbase_width = 4\ntrain_fraction = 0.005\n[[variants]]\nname = "v"\n')
    plan.write_text(text)
    out = tmp_path / "out"
    assert study(plan, out, "--no-figures").returncode == 0
    first = np.load(out / "acts" / "v" / "indices.npy")

    plan.write_text(text.replace("seed = 1", "seed = 2"))
    proc = study(plan, out, "--no-figures")

    assert proc.returncode == 0, proc.stderr[-2000:]
    second = np.load(out / "acts" / "v" / "indices.npy")
    assert len(second) == 30 and not np.array_equal(first, second)
    run = json.loads((out / "acts" / "v" / "run.json").read_text())
    assert "seed 2" in run["metadata"]["inputs_from"]


SEEDS_PLAN = f"""
name = "seeds"
[dataset]
name = "fashion-mnist"
data_dir = "{DATA}"
[analysis]
n = 120
layers = "convs"
threads = 2
bootstrap = 5
[training]
model = "cnn2"
base_width = 4
epochs = 1
seeds = 2

[[variants]]
name = "less"
group = "data"
train_fraction = 0.01

[[variants]]
name = "more"
group = "data"
train_fraction = 0.03
"""


def test_two_seeds_per_variant_are_replicates_with_mean_sd_and_spread(tmp_path):
    plan = tmp_path / "seeds.toml"
    plan.write_text(SEEDS_PLAN)
    out = tmp_path / "out"
    proc = study(plan, out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((out / "study.json").read_text())
    variants = {v["name"]: v for v in result["variants"]}
    assert set(variants) == {"less.seed0", "less.seed1", "more.seed0", "more.seed1"}
    assert [variants[f"less.seed{k}"]["seed"] for k in (0, 1)] == [0, 1]
    assert {v["replicate_of"] for v in variants.values()} == {"less", "more"}
    # replicates.csv: mean, sample sd and per-seed values, recomputed with NumPy.
    with open(out / "replicates.csv") as f:
        table = {(r["variant"], r["measure"]): r for r in csv.DictReader(f)}
    for name in ("less", "more"):
        accuracy = [variants[f"{name}.seed{k}"]["final_accuracy"] for k in (0, 1)]
        row = table[(name, "accuracy")]
        assert int(row["seeds"]) == 2
        assert float(row["mean"]) == pytest.approx(np.mean(accuracy), abs=1e-12)
        assert float(row["sd"]) == pytest.approx(np.std(accuracy, ddof=1), abs=1e-12)
        assert row["values"] == " ".join(f"{k}:{a!r}" for k, a in enumerate(accuracy))
        strength = [variants[f"{name}.seed{k}"]["heatmaps"][-1]["strength"] for k in (0, 1)]
        assert float(table[(name, "block_diagonal_strength")]["mean"]) == pytest.approx(
            np.mean(strength), abs=1e-12)
    # The training-data trend pools the 4 replicates as points; whatever it finds, it says so
    # with its criterion, and 2 x 2 points are too few to hold.
    trend = [f for f in result["findings"] if "less training data" in f["claim"]]
    assert len(trend) == 1 and "n 4" in trend[0]["statistic"]
    assert trend[0]["verdict"] in ("inconclusive", "not held")
    assert "permutation p < 0.05" in trend[0]["criterion"]
    # Every claim appears once.
    claims = [f["claim"] for f in result["findings"]]
    assert len(claims) == len(set(claims))
    html = (out / "report.html").read_text()
    assert "Criterion: held when" in html and "Measured:" in html
    if chromium() is None:
        pytest.skip("Chromium not installed")
    # One epoch: the modularity figure and the group's heatmaps. Each replicated variant is one
    # series, the mean over its seeds with +/- one sd across seeds as error bars.
    specs = json.loads(re.search(r'id="sublens-specs">(.*?)</script>', html, re.S).group(1))
    chart = specs["study-modularity"]
    assert chart["layer"][-1]["mark"]["type"] == "errorbar"
    points = chart["data"]["values"]
    assert {p["variant"] for p in points} == {"less (mean of 2 seeds)", "more (mean of 2 seeds)"}
    for p in points:
        name = p["variant"].split(" ")[0]
        values = [variants[f"{name}.seed{k}"]["modularity"][-1]["values"][p["layer index"]]
                  for k in (0, 1)]
        assert p["modularity"] == pytest.approx(np.mean(values), abs=1e-12)
        assert p["seed high"] - p["seed low"] == pytest.approx(2 * np.std(values, ddof=1),
                                                               abs=1e-12)
    assert "standard deviation across the seeds" in html
    assert render_in_chromium(out / "report.html", tmp_path, "seeds-report.png") == 2
