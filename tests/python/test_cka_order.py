"""`sublens cka-matrix` layer order: a graph folder written by `ssc --all-layers` keeps the network
order (its layers.json), and --layers (names or globs) selects the layers in matrix order.
Reference values: CKA with the biased HSIC computed here with numpy."""
import json

import numpy as np
import pytest
import scipy.sparse as sp

from conftest import assert_bad_input

TOL = 1e-10
NETWORK = ["conv1", "layer1", "layer2", "avgpool", "fc"]  # name order differs from network order


def cka_biased(k, l):
    n = k.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    kc, lc = h @ k @ h, h @ l @ h
    return np.sum(kc * lc) / np.sqrt(np.sum(kc * kc) * np.sum(lc * lc))


@pytest.fixture
def graph_folder(tmp_path):
    """Random symmetric graphs named after NETWORK, without layers.json; and their dense forms."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "graphs"
    folder.mkdir()
    dense = {}
    for name in NETWORK:
        a = sp.random(30, 30, density=0.1, random_state=rng).toarray()
        dense[name] = a + a.T
        sp.save_npz(folder / f"{name}.npz", sp.csr_matrix(dense[name]))
    return folder, dense


def test_an_unrecorded_folder_is_in_natural_name_order(sublens_json, graph_folder, tmp_path):
    folder, _ = graph_folder
    out = sublens_json("cka-matrix", folder, "-o", tmp_path / "m.npy")
    assert out["rows"] == ["avgpool", "conv1", "fc", "layer1", "layer2"]


def test_layers_set_the_matrix_order(sublens_json, graph_folder, tmp_path):
    folder, dense = graph_folder
    out = sublens_json("cka-matrix", folder, "--layers", ",".join(NETWORK), "-o", tmp_path / "m.npy")
    assert out["rows"] == NETWORK and out["cols"] == NETWORK
    m = np.load(tmp_path / "m.npy")
    for i, a in enumerate(NETWORK):
        for j, b in enumerate(NETWORK):
            assert m[i, j] == pytest.approx(cka_biased(dense[a], dense[b]), abs=TOL)
    rows = [line.split(",")[0] for line in (tmp_path / "m.csv").read_text().splitlines()[1:]]
    assert rows == NETWORK


def test_globs_keep_their_matches_in_folder_order(sublens_json, graph_folder, tmp_path):
    folder, _ = graph_folder
    out = sublens_json("cka-matrix", folder, "--layers", "fc", "--layers", "layer*",
                       "-o", tmp_path / "m.npy")
    assert out["rows"] == ["fc", "layer1", "layer2"]


def test_ssc_records_the_network_order(sublens_json, tmp_path):
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "acts.npz", **{name: rng.normal(size=(30, 5 + i))
                                       for i, name in enumerate(NETWORK)})
    sublens_json("ssc", tmp_path / "acts.npz", "--all-layers", "-o", tmp_path / "graphs")
    assert json.loads((tmp_path / "graphs" / "layers.json").read_text()) == {"layers": NETWORK}
    out = sublens_json("cka-matrix", tmp_path / "graphs", "-o", tmp_path / "m.npy")
    assert out["rows"] == NETWORK
    m = np.load(tmp_path / "m.npy")
    dense = {name: sp.load_npz(tmp_path / "graphs" / f"{name}.npz").toarray() for name in NETWORK}
    assert m[0, 4] == pytest.approx(cka_biased(dense["conv1"], dense["fc"]), abs=TOL)
    two = sublens_json("cka-matrix", tmp_path / "graphs", tmp_path / "graphs", "-o",
                       tmp_path / "ab.npy")
    assert two["rows"] == NETWORK and two["cols"] == NETWORK


def test_activation_files_take_layers_in_order(sublens_json, tmp_path):
    rng = np.random.default_rng(2)
    acts = {name: rng.normal(size=(25, 4 + i)) for i, name in enumerate(NETWORK)}
    np.savez(tmp_path / "acts.npz", **acts)
    out = sublens_json("cka-matrix", tmp_path / "acts.npz", "--layers", "fc,layer*", "-o",
                       tmp_path / "m.npy")
    assert out["rows"] == ["fc", "layer1", "layer2"]
    m = np.load(tmp_path / "m.npy")
    linear = {k: v @ v.T for k, v in acts.items()}
    assert m[0, 2] == pytest.approx(cka_biased(linear["fc"], linear["layer2"]), abs=TOL)


def test_unknown_layers_and_bad_orders_are_refused(sublens, graph_folder, tmp_path):
    folder, _ = graph_folder
    out = tmp_path / "m.npy"
    assert_bad_input(sublens("cka-matrix", folder, "--layers", "conv1,nope", "-o", out),
                     folder, "--layers 'nope': matches no layer (available: avgpool, conv1",
                     outputs=[out, tmp_path / "m.csv"])
    (folder / "layers.json").write_text(json.dumps({"layers": ["conv1", "layer3"]}))
    assert_bad_input(sublens("cka-matrix", folder, "-o", out), folder / "layers.json",
                     "layers: lists 'layer3' but the folder has no layer3.npz",
                     outputs=[out, tmp_path / "m.csv"])
    (folder / "layers.json").write_text(json.dumps({"layers": "conv1"}))
    assert_bad_input(sublens("cka-matrix", folder, "-o", out), folder / "layers.json",
                     "layers: must be a list of layer names", outputs=[out])


def test_a_partial_order_puts_unlisted_layers_last(sublens_json, graph_folder, tmp_path):
    folder, _ = graph_folder
    (folder / "layers.json").write_text(json.dumps({"layers": ["layer2", "conv1"]}))
    out = sublens_json("cka-matrix", folder, "-o", tmp_path / "m.npy")
    assert out["rows"] == ["layer2", "conv1", "avgpool", "fc", "layer1"]
