"""`sublens study --run` on runs recorded during a PyTorch training (Debian's python3-torch, CPU).

Tiny CNNs are trained for 3 epochs on synthetic 8x8 images and recorded after each epoch with
sublens.torch.Recorder (from the source tree). The study's dynamics.csv is checked against NumPy,
SciPy and networkx computations on the recorded files and the graphs the study wrote; two runs of
different depths share the heatmaps and the depth finding. The companion sublens-torch is pointed
at a missing path throughout: a study of recorded runs must never start LibTorch. Bad run folders
are refused with exit 2 and one line, and nothing is written; a killed study resumes.
"""
import csv
import importlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import types

import networkx as nx
import numpy as np
import pytest
import scipy.sparse

from conftest import BIN, assert_bad_input, chromium, render_in_chromium

torch = pytest.importorskip("torch")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
N, CLASSES, EPOCHS = 90, 3, 3
CLASS_NAMES = ["top-left", "top-right", "bottom-left"]  # the quadrant each class brightens
CKA_TOL = 1e-6         # float32 activations, float64 accumulation (sublens and NumPy)
MODULARITY_TOL = 1e-9  # the same graph, two implementations of eq. 5
# No LibTorch for recorded runs: any `train`, `extract` or `models` step would fail.
NO_TORCH = {**os.environ, "SUBLENS_TORCH": "/nonexistent/sublens-torch"}


def recorder_module():
    """sublens.torch from the source tree, without the compiled extension (the package's
    __init__ imports it; Recorder itself is pure Python)."""
    if "sublens.torch" not in sys.modules:
        package = types.ModuleType("sublens")
        package.__path__ = [os.path.join(ROOT, "python", "sublens")]
        sys.modules.setdefault("sublens", package)
    return importlib.import_module("sublens.torch")


class Net(torch.nn.Module):
    """`depth` conv blocks (conv + ReLU) on 8x8 images, then a linear classifier."""

    def __init__(self, depth):
        super().__init__()
        channels = [1] + [6] * depth
        for b in range(depth):
            block = torch.nn.Sequential(torch.nn.Conv2d(channels[b], channels[b + 1], 3, padding=1),
                                        torch.nn.ReLU())
            self.add_module(f"block{b + 1}", block)
        self.depth = depth
        self.fc = torch.nn.Linear(6 * 8 * 8, CLASSES)

    def forward(self, x):
        for b in range(self.depth):
            x = getattr(self, f"block{b + 1}")(x)
        return self.fc(x.flatten(1))


def synthetic(seed):
    """Images whose class makes one quadrant a little brighter, in strong noise (not every input
    is learnt in 3 epochs, so accuracy, modularity and CKA vary across epochs and layers)."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(N) % CLASSES
    x = torch.rand(N, 1, 8, 8, generator=g)
    for c in range(CLASSES):
        x[labels == c, :, (c // 2) * 4:(c // 2) * 4 + 4, (c % 2) * 4:(c % 2) * 4 + 4] += 0.25
    return x, labels


def train_and_record(out, depth, epochs=EPOCHS, seed=0, analysis_seed=None, metadata=None,
                     class_names=None):
    torch.manual_seed(seed)
    model = Net(depth)
    x, y = synthetic(seed + 100)
    analysis_x, analysis_y = synthetic(seed + 200 if analysis_seed is None else analysis_seed)
    layers = [f"block{b + 1}" for b in range(depth)] + ["fc"]
    recorder = recorder_module().Recorder(
        model, layers, analysis_x, analysis_y, out, batch_size=32,
        metadata={"depth": depth, "optimizer": "SGD lr=0.05", **(metadata or {})},
        class_names=class_names)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for epoch in range(1, epochs + 1):
        model.train()
        for start in range(0, N, 15):
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x[start:start + 15]), y[start:start + 15])
            loss.backward()
            optimizer.step()
        recorder.record(epoch)
    return layers


def study(*args, timeout=600, env=NO_TORCH):
    return subprocess.run([BIN, "--quiet", "study", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=env)


def read_safetensors(path):
    data = open(path, "rb").read()
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + length])
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        out[name] = np.frombuffer(data[8 + length + begin:8 + length + end], "<f4").reshape(
            entry["shape"])
    return out


def write_safetensors(path, arrays):
    header, blobs, offset = {}, [], 0
    for name, array in arrays.items():
        blob = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little") + text + b"".join(blobs))


def linear_cka(x, y):
    x = x.reshape(len(x), -1).astype(np.float64)
    y = y.reshape(len(y), -1).astype(np.float64)
    x, y = x - x.mean(0), y - y.mean(0)
    return np.linalg.norm(y.T @ x) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y))


def rows(path, variant=None):
    with open(path, newline="") as f:
        return [r for r in csv.DictReader(f) if variant is None or r["variant"] == variant]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    shallow = root / "shallow"
    layers = train_and_record(shallow, depth=2, class_names=CLASS_NAMES)
    out = root / "study"
    proc = study("--run", shallow, "-o", out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return shallow, layers, out, json.loads(proc.stdout)


def test_dynamics_match_numpy_and_networkx_on_the_recorded_files(recorded):
    run, layers, out, summary = recorded
    labels = np.load(run / "labels.npy")
    table = rows(out / "dynamics.csv", "shallow")
    assert len(table) == EPOCHS * len(layers)
    assert [r["layer"] for r in table[:len(layers)]] == layers  # network order
    final = read_safetensors(run / f"epoch-{EPOCHS:04d}.safetensors")
    for row in table:
        epoch, layer = int(row["epoch"]), row["layer"]
        acts = read_safetensors(run / f"epoch-{epoch:04d}.safetensors")
        assert float(row["linear_cka_to_final"]) == pytest.approx(
            linear_cka(acts[layer], final[layer]), abs=CKA_TOL)
        predictions = np.load(run / f"epoch-{epoch:04d}.predictions.npy")
        assert float(row["accuracy"]) == pytest.approx(np.mean(predictions == labels), abs=1e-12)
        w = scipy.sparse.load_npz(out / "graphs" / "shallow" / f"epoch-{epoch:04d}" / f"{layer}.npz")
        g = nx.from_scipy_sparse_array(w)
        communities = [set(np.flatnonzero(labels == c)) for c in range(CLASSES)]
        assert float(row["modularity"]) == pytest.approx(
            nx.community.modularity(g, communities, weight="weight"), abs=MODULARITY_TOL)
        assert 0 <= float(row["ssc_accuracy"]) <= 1 and 0 <= float(row["agreement"]) <= 1
        if epoch == EPOCHS:
            assert float(row["ssc_cka_to_final"]) == pytest.approx(1.0, abs=1e-9)
    # The source of the variant is named: the run folder and its metadata.
    variant = rows(out / "variants.csv")[0]
    assert str(run) in variant["source"] and "pytorch-recorder" in variant["source"]
    assert summary["steps_skipped"] == 0


BOOTSTRAP = 20        # the plan default (`[analysis] bootstrap`), which `study --run` uses
BOOTSTRAP_TOL = 1e-9  # the same resampled graphs, two implementations of each measure


def bootstrap_indices(n, count, seed=0):
    """The study's resamples (src/study/bootstrap.hpp): one splitmix64 stream, index = draw % n."""
    mask, state, samples = (1 << 64) - 1, seed, []
    for _ in range(count):
        idx = []
        for _ in range(n):
            state = (state + 0x9E3779B97F4A7C15) & mask
            z = state
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
            idx.append((z ^ (z >> 31)) % n)
        samples.append(np.array(idx))
    return samples


def cka_biased(k, l):
    n = k.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    kc, lc = h @ k @ h, h @ l @ h
    return np.sum(kc * lc) / np.sqrt(np.sum(kc * kc) * np.sum(lc * lc))


def test_bootstrap_intervals_match_networkx_and_numpy_on_the_same_resamples(recorded):
    run, layers, out, _ = recorded
    labels = np.load(run / "labels.npy")
    samples = bootstrap_indices(len(labels), BOOTSTRAP)
    graph = lambda e, layer: scipy.sparse.load_npz(
        out / "graphs" / "shallow" / f"epoch-{e:04d}" / f"{layer}.npz").tocsr()
    table = {(int(r["epoch"]), r["layer"]): r for r in rows(out / "modularity.csv", "shallow")}
    dynamics = {(int(r["epoch"]), r["layer"]): r for r in rows(out / "dynamics.csv", "shallow")}
    for layer in layers[:2]:
        w, final = graph(1, layer), graph(EPOCHS, layer)
        modularity, cka = [], []
        for idx in samples:
            sub = w[idx][:, idx]  # the induced subgraph of the resample, repeats included
            drawn = labels[idx]
            communities = [set(np.flatnonzero(drawn == c)) for c in np.unique(drawn)]
            modularity.append(nx.community.modularity(nx.from_scipy_sparse_array(sub), communities,
                                                      weight="weight"))
            cka.append(cka_biased(sub.toarray(), final[idx][:, idx].toarray()))
        row = table[(1, layer)]
        assert float(row["modularity_se"]) == pytest.approx(np.std(modularity, ddof=1),
                                                            abs=BOOTSTRAP_TOL)
        lo, hi = np.percentile(modularity, [2.5, 97.5])
        assert float(row["modularity_lo"]) == pytest.approx(lo, abs=BOOTSTRAP_TOL)
        assert float(row["modularity_hi"]) == pytest.approx(hi, abs=BOOTSTRAP_TOL)
        # The modularity of all inputs lies in the columns before, unchanged.
        assert float(row["modularity"]) != float(row["modularity_se"])
        assert float(dynamics[(1, layer)]["ssc_cka_to_final_se"]) == pytest.approx(
            np.std(cka, ddof=1), abs=BOOTSTRAP_TOL)
    # Block-diagonal strength of the final heatmap has its standard error too.
    strength = rows(out / "block-diagonal.csv", "shallow")[-1]
    assert float(strength["strength_se"]) > 0
    assert float(strength["strength_lo"]) <= float(strength["strength_hi"])


def test_report_of_a_recorded_run_renders_in_chromium(recorded, tmp_path):
    _, _, out, _ = recorded
    html = (out / "report.html").read_text()
    assert "Training dynamics: shallow" in html and "recorded run" in html
    assert "shifted" in html  # the logits (fc) are signed: the NMF section says so
    # run.json's class names label the explained inputs: the class-affinity panels (in the image
    # grid's order) mark the true and the predicted class.
    specs = report_specs(out)
    result = json.loads((out / "variants" / "shallow" / "result.json").read_text())
    wrong = result["confidently_wrong"]
    assert wrong and result["class_names"] == CLASS_NAMES
    titles = [f"input {w['index']} (label {CLASS_NAMES[w['label']]}, predicted "
              f"{CLASS_NAMES[w['predicted']]})" for w in wrong]
    bars = specs["shallow-class-affinity"]["data"]["values"]
    assert list(dict.fromkeys(b["input"] for b in bars)) == titles
    grid = specs["shallow-neighbour-images"]["data"]["values"]
    assert list(dict.fromkeys(c["row"] for c in grid)) == titles
    for w, title in zip(wrong, titles):
        roles = {b["class"]: b["role"] for b in bars if b["input"] == title}
        assert roles[CLASS_NAMES[w["label"]]] == "true class"
        assert roles[CLASS_NAMES[w["predicted"]]] == "predicted class"
        assert list(roles) == CLASS_NAMES
    if chromium() is None:
        pytest.skip("Chromium not installed")
    assert render_in_chromium(out / "report.html", tmp_path, "study-run-report.png") >= 5


def test_two_runs_of_different_depths_share_heatmaps_and_the_depth_finding(recorded, tmp_path):
    shallow, _, _, _ = recorded
    deep = tmp_path / "deep"
    train_and_record(deep, depth=4, seed=1)
    out = tmp_path / "study"
    proc = study("--run", shallow, "--run", deep, "-o", out, "--no-figures")
    assert proc.returncode == 0, proc.stderr[-3000:]
    cells = rows(out / "heatmaps.csv")
    assert {r["variant"] for r in cells} == {"shallow", "deep"}
    assert len([r for r in cells if r["variant"] == "deep"]) == 5 * 5
    result = json.loads((out / "study.json").read_text())
    depth = [f for f in result["findings"] if "grows with depth" in f["claim"]]
    assert len(depth) == 1 and "[runs]" in depth[0]["claim"]
    assert "shallow" in depth[0]["statistic"] and "deep" in depth[0]["statistic"]
    strength = {r["variant"]: float(r["strength"]) for r in rows(out / "block-diagonal.csv")}
    # Two depths, one seed each: an exact permutation test cannot reach p < 0.05 with 2 points,
    # so the verdict is inconclusive whichever way the strengths go.
    assert depth[0]["verdict"] == "inconclusive" and depth[0]["held"] is None
    assert "2 points" in depth[0]["reason"] and "Spearman rho" in depth[0]["criterion"]
    assert depth[0]["measured"]
    html = (out / "report.html").read_text()
    # One figure holds both heatmaps side by side (panels of the two variants' specs, wrapped to
    # the page, on one colour scale).
    spec = json.JSONDecoder().raw_decode(html, html.index('"heatmaps-runs":{') + 16)[0]
    assert [part["title"] for part in spec["concat"]] == ["shallow (Net)", "deep (Net)"]
    assert spec["resolve"]["scale"]["color"] == "shared"
    rows_of = [{v["row"] for v in part["data"]["values"]} for part in spec["concat"]]
    assert len(rows_of[0]) == 3 and len(rows_of[1]) == 5


def report_specs(out):
    html = (out / "report.html").read_text()
    return json.loads(re.search(r'id="sublens-specs">(.*?)</script>', html, re.S).group(1))


def test_runs_of_several_seeds_are_replicates_with_mean_sd_and_spread(tmp_path):
    # Two trainings of one network (seeds 3 and 5) recorded on the same analysis inputs.
    for seed in (3, 5):
        train_and_record(tmp_path / f"net-seed{seed}", depth=2, seed=seed, analysis_seed=300,
                         metadata={"seed": seed})
    out = tmp_path / "study"
    proc = study("--run", f"net={tmp_path}/net-seed*", "-o", out, "--no-figures")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((out / "study.json").read_text())
    variants = {v["name"]: v for v in result["variants"]}
    assert set(variants) == {"net.seed3", "net.seed5"}  # named by their recorded seeds
    assert {v["replicate_of"] for v in variants.values()} == {"net"}
    assert [variants[f"net.seed{s}"]["seed"] for s in (3, 5)] == [3, 5]
    table = {r["measure"]: r for r in rows(out / "replicates.csv") if r["variant"] == "net"}
    accuracy = [variants[f"net.seed{s}"]["final_accuracy"] for s in (3, 5)]
    assert float(table["accuracy"]["mean"]) == pytest.approx(np.mean(accuracy), abs=1e-12)
    assert float(table["accuracy"]["sd"]) == pytest.approx(np.std(accuracy, ddof=1), abs=1e-12)
    # The report draws the replicates as one series: the mean over the seeds with +/- one sample
    # standard deviation as error bars, recomputed here from each seed's modularity.csv rows.
    specs = report_specs(out)
    layer_chart = specs["study-modularity"]
    assert [layer["mark"]["type"] for layer in layer_chart["layer"]][-1] == "errorbar"
    points = {p["layer index"]: p for p in layer_chart["data"]["values"]}
    assert {p["variant"] for p in points.values()} == {"net (mean of 2 seeds)"}
    final = {name: [float(r["modularity"]) for r in rows(out / "modularity.csv", name)
                    if int(r["epoch"]) == EPOCHS] for name in variants}
    for index, point in points.items():
        values = [final[f"net.seed{s}"][index] for s in (3, 5)]
        assert point["modularity"] == pytest.approx(np.mean(values), abs=1e-12)
        assert point["seed low"] == pytest.approx(np.mean(values) - np.std(values, ddof=1), abs=1e-12)
        assert point["seed high"] == pytest.approx(np.mean(values) + np.std(values, ddof=1), abs=1e-12)
    # Paper A, Fig. 1-2 once for the pair: four panels (three measures and accuracy) with spread.
    dynamics = specs["dynamics-net"]
    assert [panel["title"] for panel in dynamics["concat"]][-1] == "Accuracy on the analysis set"
    assert all("seed low" in json.dumps(panel) for panel in dynamics["concat"])
    assert "Training dynamics: net (mean of 2 seeds)" in (out / "report.html").read_text()
    assert not any(name.startswith("dynamics-net-seed") for name in specs)


def test_analyze_refuses_class_names_that_do_not_name_every_class(recorded, tmp_path):
    run, _, _, _ = recorded
    out = tmp_path / "analysis"
    args = [BIN, "--quiet", "analyze", str(run / f"epoch-{EPOCHS:04d}.safetensors"), "--labels",
            str(run / "labels.npy"), "-o", str(out), "--class-names"]
    for names, fragment in ((["a", "b"], "count"), (["a", "b", "a"], "unique")):
        proc = subprocess.run(args + names, capture_output=True, text=True, timeout=120)
        assert_bad_input(proc, "--class-names", fragment, outputs=[out])


def test_replicates_must_be_one_network_on_the_same_inputs(recorded, tmp_path):
    shallow, _, _, _ = recorded
    deep = tmp_path / "deep"
    train_and_record(deep, depth=3, seed=1)
    out = tmp_path / "study"
    assert_bad_input(study("--run", f"net={shallow},{deep}", "-o", out),
                     deep / "run.json", "layers", shallow / "run.json", outputs=[out])
    assert_bad_input(study("--run", f"n/t={shallow}", "-o", out), "NAME", outputs=[out])
    assert_bad_input(study("--run", f"net={shallow},", "-o", out), "DIR", outputs=[out])


def kill_after_steps(command, out, steps):
    """Runs `command` (a study writing to `out`) in a session of its own and kills the whole
    session once `steps` step records exist; returns {record: mtime} of the finished steps."""
    proc = subprocess.Popen(list(map(str, command)), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=NO_TORCH, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and len(list(out.glob("steps/*.json"))) < steps:
        time.sleep(0.005)
    assert proc.poll() is None, "the study finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return {p: p.stat().st_mtime_ns for p in out.glob("steps/*.json")}


def test_killed_study_of_a_run_resumes_with_identical_tables(recorded, tmp_path):
    run, _, reference, _ = recorded
    out = tmp_path / "study"
    finished = kill_after_steps([BIN, "--quiet", "study", "--run", run, "-o", out], out, 4)
    resumed = study("--run", run, "-o", out)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads(resumed.stdout)["steps_skipped"] >= len(finished)
    for path, mtime in finished.items():
        assert path.stat().st_mtime_ns == mtime, f"{path.name} ran again"
    for name in ("dynamics.csv", "modularity.csv", "heatmaps.csv", "variants.csv"):
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name


def child_processes(pid):
    """The live (not zombie) children of `pid` that run a program of their own: a forked child
    still runs the parent's code (and command line) until it calls exec."""
    children = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) != pid or fields[0] == "Z":
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if b"\0study\0" not in f.read():
                    children.append(int(entry))
        except OSError:
            continue  # gone meanwhile
    return children


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_killed_study_leaves_no_step_running(recorded, tmp_path):
    run, _, _, _ = recorded
    proc = subprocess.Popen([BIN, "--quiet", "study", "--run", str(run), "-o", str(tmp_path / "s")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=NO_TORCH)
    step = None
    try:
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None and step is None:
            children = child_processes(proc.pid)
            step = children[0] if children else None
        assert step is not None, "the study finished before a step was seen"
        os.kill(step, signal.SIGSTOP)  # hold the step mid-way, then kill the study alone
        proc.kill()  # (as mpirun or a batch scheduler does), not its process group
        proc.wait()
        deadline = time.time() + 5
        while time.time() < deadline and alive(step):
            time.sleep(0.01)
        assert not alive(step), "the step outlived the study"
    finally:
        if step is not None and alive(step):
            os.kill(step, signal.SIGKILL)


def test_rerecording_an_epoch_recomputes_exactly_what_depends_on_it(recorded, tmp_path):
    run, layers, _, _ = recorded
    copy = tmp_path / "shallow"
    shutil.copytree(run, copy)
    out = tmp_path / "study"
    assert study("--run", copy, "-o", out, "--no-figures").returncode == 0
    # Epoch 2 recorded again from another network: its own measures and its CKA to the final
    # epoch change; nothing of epochs 1 and 3 does.
    torch.manual_seed(7)
    x, y = synthetic(200)
    recorder_module().Recorder(Net(2), layers, x, y, copy).record(2)
    proc = study("--run", copy, "-o", out, "--no-figures")
    assert proc.returncode == 0, proc.stderr[-3000:]
    # ssc, then per layer modularity and SSC labels, then graph and linear CKA to the final epoch.
    assert json.loads(proc.stdout)["steps_run"] == 1 + 2 * len(layers) + 2


def corrupt(run, tmp_path, how):
    bad = tmp_path / how
    shutil.copytree(run, bad)
    meta = json.loads((bad / "run.json").read_text())
    if how == "missing-epoch-file":
        os.remove(bad / "epoch-0002.safetensors")
    elif how == "layer-missing-in-one-epoch":
        arrays = read_safetensors(bad / "epoch-0002.safetensors")
        del arrays["block2"]
        write_safetensors(bad / "epoch-0002.safetensors", arrays)
    elif how == "n-mismatch":
        np.save(bad / "labels.npy", np.load(bad / "labels.npy")[:-1])
    elif how == "nan":
        arrays = read_safetensors(bad / "epoch-0001.safetensors")
        arrays = {k: v.copy() for k, v in arrays.items()}
        arrays["block1"].flat[5] = np.nan
        write_safetensors(bad / "epoch-0001.safetensors", arrays)
    elif how == "other-format":
        meta["format"] = "something-else"
        (bad / "run.json").write_text(json.dumps(meta))
    return bad


@pytest.mark.parametrize("how,fragment", [
    ("missing-epoch-file", "epoch-0002.safetensors"),
    ("layer-missing-in-one-epoch", "epoch-0002.safetensors"),
    ("n-mismatch", "labels.npy"),
    ("nan", "epoch-0001.safetensors"),
    ("other-format", "run.json"),
])
def test_bad_run_folders_are_refused_and_nothing_is_written(recorded, tmp_path, how, fragment):
    run, _, _, _ = recorded
    bad = corrupt(run, tmp_path, how)
    out = tmp_path / "study"
    assert_bad_input(study("--run", bad, "-o", out), fragment, outputs=[out])


PLAN = """
name = "recorded"
[nmf]
ranks = [4]
max_iter = 20
[[variants]]
name = "shallow"
run = "{run}"
{extra}
"""


@pytest.mark.parametrize("extra,key", [
    ("heatmap_epochs = [7]", "variants[0].heatmap_epochs"),
    ('layers = "blocks"', "variants[0].layers"),
    ("epochs = 5", "variants[0].epochs"),
    ('layers = ["nope*"]', "variants[0].layers"),
])
def test_plan_keys_a_run_cannot_satisfy_are_refused_naming_the_key(recorded, tmp_path, extra, key):
    run, _, _, _ = recorded
    plan = tmp_path / "plan.toml"
    plan.write_text(PLAN.format(run=run, extra=extra))
    out = tmp_path / "study"
    assert_bad_input(study(plan, "-o", out), key, outputs=[out])


def test_nmf_of_a_run_without_inputs_is_refused_naming_the_key(recorded, tmp_path):
    run, _, _, _ = recorded
    copy = tmp_path / "no-inputs"
    shutil.copytree(run, copy)
    os.remove(copy / "inputs.npy")
    meta = json.loads((copy / "run.json").read_text())
    meta["inputs"] = None
    (copy / "run.json").write_text(json.dumps(meta))
    plan = tmp_path / "plan.toml"
    plan.write_text(PLAN.format(run=copy, extra="nmf = true"))
    out = tmp_path / "study"
    assert_bad_input(study(plan, "-o", out), "variants[0].nmf", outputs=[out])


def test_a_plan_variant_may_name_a_recorded_run(recorded, tmp_path):
    run, layers, _, _ = recorded
    plan = tmp_path / "plan.toml"
    plan.write_text(PLAN.format(run=run, extra='dynamics = true\nheatmap_epochs = [1]\n'
                                              'layers = ["block*"]'))
    out = tmp_path / "study"
    proc = study(plan, "-o", out, "--no-figures")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((out / "study.json").read_text())
    variant = result["variants"][0]
    assert variant["layers"] == ["block1", "block2"]
    assert [h["epoch"] for h in variant["heatmaps"]] == [1, EPOCHS]
    assert [d["epoch"] for d in variant["dynamics"]] == list(range(1, EPOCHS + 1))


MIXED = """
name = "mixed"
[dataset]
name = "fashion-mnist"
[analysis]
n = 60
layers = "blocks"
threads = 2
[training]
model = "cnn2"
base_width = 4
epochs = 2
train_fraction = 0.01
[[variants]]
name = "zoo"
group = "both"
[[variants]]
name = "recorded"
group = "both"
run = "{run}"
"""


def test_a_recorded_run_and_a_zoo_variant_share_a_group(recorded, tmp_path):
    run, _, _, _ = recorded
    plan = tmp_path / "mixed.toml"
    plan.write_text(MIXED.format(run=run))
    out = tmp_path / "study"
    proc = study(plan, "-o", out, "--no-figures", env=os.environ)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sources = {r["variant"]: r["source"] for r in rows(out / "variants.csv")}
    assert sources["zoo"].startswith("zoo: cnn2, 2 epochs")
    assert sources["recorded"].startswith("run: " + str(run))
    assert {r["variant"] for r in rows(out / "heatmaps.csv")} == {"zoo", "recorded"}
    html = (out / "report.html").read_text()
    assert "trained by the study: cnn2" in html and "recorded run " + str(run) in html


def analysis_inputs(tmp_path, names, nan=False):
    """Activations of torchvision-style layers (file order = network order), labels, logits."""
    rng = np.random.default_rng(0)
    labels = np.arange(60) % CLASSES
    arrays = {}
    for k, name in enumerate(names):
        x = rng.standard_normal((60, 6)) + 2.0 * np.eye(CLASSES, 6)[labels] * (k + 1)
        arrays[name] = x.astype(np.float32)
    if nan:
        arrays[names[1]][3, 2] = np.nan
    write_safetensors(tmp_path / "acts.safetensors", arrays)
    np.save(tmp_path / "labels.npy", labels)
    np.save(tmp_path / "logits.npy", rng.standard_normal((60, CLASSES)))
    return tmp_path / "acts.safetensors"


def analyze(tmp_path, acts, out):
    return subprocess.run([BIN, "--quiet", "analyze", acts, "--labels", tmp_path / "labels.npy",
                           "--logits", tmp_path / "logits.npy", "-o", out, "--no-figures"],
                          capture_output=True, text=True, timeout=300, env=NO_TORCH)


def test_analyze_writes_every_table_and_matrix_in_network_order(tmp_path):
    names = ["conv1", "layer1", "layer2", "avgpool", "fc"]  # name order differs
    out = tmp_path / "out"
    proc = analyze(tmp_path, analysis_inputs(tmp_path, names), out)
    assert proc.returncode == 0, proc.stderr
    assert [r["layer"] for r in rows(out / "layers.csv")] == names
    assert [r["layer"] for r in rows(out / "table1.csv")] == names
    for matrix in ("ssc-cka", "linear-cka"):
        with open(out / f"{matrix}.csv", newline="") as f:
            table = list(csv.reader(f))
        assert table[0][1:] == names and [r[0] for r in table[1:]] == names
        np.testing.assert_array_equal(np.load(out / f"{matrix}.npy"),
                                      np.array([[float(v) for v in r[1:]] for r in table[1:]]))
    acts = read_safetensors(tmp_path / "acts.safetensors")
    linear = np.load(out / "linear-cka.npy")
    assert linear[0, 3] == pytest.approx(linear_cka(acts["conv1"], acts["avgpool"]), abs=CKA_TOL)


def test_a_step_rejecting_its_input_is_the_users_error_and_leaves_nothing(tmp_path):
    acts = analysis_inputs(tmp_path, ["a", "b", "c"], nan=True)
    out = tmp_path / "out"
    proc = analyze(tmp_path, acts, out)
    # The step's own one line (naming the file), exit 2, no steps/ folder or partial outputs.
    assert_bad_input(proc, "acts.safetensors", outputs=[out])
    assert "internal error" not in proc.stderr
    existing = tmp_path / "existing"
    existing.mkdir()
    assert_bad_input(analyze(tmp_path, acts, existing), "acts.safetensors")
    assert list(existing.iterdir()) == []


def test_a_plan_may_analyse_one_layer_of_a_run(recorded, tmp_path):
    run, _, _, _ = recorded
    plan = tmp_path / "plan.toml"
    plan.write_text(PLAN.format(run=run, extra='dynamics = true\nlayers = ["block2"]'))
    out = tmp_path / "study"
    proc = study(plan, "-o", out, "--no-figures")
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = rows(out / "dynamics.csv")
    assert [(r["epoch"], r["layer"]) for r in table] == [(str(e), "block2") for e in (1, 2, 3)]
    final = read_safetensors(run / f"epoch-{EPOCHS:04d}.safetensors")["block2"]
    first = read_safetensors(run / "epoch-0001.safetensors")["block2"]
    assert float(table[0]["linear_cka_to_final"]) == pytest.approx(linear_cka(first, final),
                                                                   abs=CKA_TOL)
