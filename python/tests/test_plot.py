"""sublens.plot draws the report's figures (skipped where matplotlib is not installed)."""
import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import sublens  # noqa: E402
import sublens.plot  # noqa: E402


def test_figures_draw(subspaces):
    x, labels = subspaces
    w = sublens.ssc(x).affinity

    heat = sublens.plot.heatmap(np.eye(3), labels=["a", "b", "c"])
    lines = sublens.plot.curves({"l1": [0.1, 0.3], "l2": [0.2, 0.5]}, epochs=[1, 10])
    scatter = sublens.plot.embedding_scatter(
        sublens.spectral_embedding(w).embedding, labels)
    bars = sublens.plot.neighborhood_bars(sublens.neighbors(w, 0, labels))

    assert len(lines.get_lines()) == 2
    assert len(bars.patches) == 3
    assert heat.get_title() == "" and scatter is not None


def test_bad_shapes_raise_value_error():
    with pytest.raises(ValueError, match="2-D"):
        sublens.plot.heatmap(np.ones(3))


def test_curves_over_whole_epochs_have_whole_ticks():
    ax = sublens.plot.curves({"l1": [0.1, 0.3, 0.2], "l2": [0.2, 0.5, 0.4]}, epochs=[1, 2, 3])
    ticks = [t for t in ax.get_xticks() if 1 <= t <= 3]
    assert ticks and all(float(t).is_integer() for t in ticks), ticks


def test_a_layer_has_one_colour_in_every_figure_of_its_network():
    from matplotlib.colors import to_hex
    network = ["conv1", "stage1", "stage2", "pool", "logits"]
    colors = sublens.plot.layer_colors(network)
    late = sublens.plot.curves({"pool": [0.3, 0.4], "logits": [0.5, 0.6]}, epochs=[1, 2],
                               layers=network)
    early = sublens.plot.curves({"stage1": [0.1, 0.2], "pool": [0.2, 0.3]}, epochs=[1, 2],
                                layers=network)

    def drawn(ax):
        return {line.get_label(): to_hex(line.get_color()) for line in ax.get_lines()}
    assert drawn(late)["pool"] == drawn(early)["pool"] == colors["pool"] == \
        sublens.plot.LAYER_PALETTE[3]
    assert drawn(early)["stage1"] == sublens.plot.LAYER_PALETTE[1]
    assert len(set(sublens.plot.LAYER_PALETTE)) == 20
    with pytest.raises(ValueError, match="not in layers"):
        sublens.plot.curves({"fc": [0.1, 0.2]}, layers=network)
    with pytest.raises(ValueError, match="listed twice"):
        sublens.plot.layer_colors(["a", "a"])


def test_the_layer_palette_is_the_reports():
    import os
    import re
    source = os.path.join(os.path.dirname(__file__), "..", "..", "src", "report", "layer_colors.cpp")
    if not os.path.exists(source):
        pytest.skip("not a source tree")
    cpp = re.findall(r'"(#[0-9a-f]{6})"', open(source).read())
    assert tuple(cpp) == sublens.plot.LAYER_PALETTE
