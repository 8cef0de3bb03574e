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
