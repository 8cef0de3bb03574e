"""Matplotlib versions of the report's figures, for notebooks.

Each function draws on `ax` (a new figure when None) and returns the Axes. matplotlib is imported
here, not by ``import sublens``.

Example::

    import sublens, sublens.plot
    heat = sublens.cka_matrix(graphs)                   # layers x layers
    sublens.plot.heatmap(heat, labels=layer_names, title="graph CKA")
"""

from __future__ import annotations

import numpy as np

__all__ = ["LAYER_PALETTE", "layer_colors", "heatmap", "curves", "embedding_scatter",
           "neighborhood_bars"]

# One colour per layer, the report's (sublens::report::layer_palette): Tableau 10, then the light
# hues of Tableau 20; beyond 20 layers the colours repeat.
LAYER_PALETTE = ("#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b", "#eeca3b", "#b279a2",
                 "#ff9da6", "#9d755d", "#bab0ac", "#9ecae9", "#ffbf79", "#ff9d98", "#88d27a",
                 "#83bcb6", "#f2cf5b", "#d6a5c9", "#fcbfd2", "#d8b5a5", "#d9d9d9")


def layer_colors(layers):
    """{layer: colour} for the layers of one network in network order, as the report colours them:
    pass the same list to every figure and a layer keeps its colour whichever subset is drawn.

    Example::

        colors = sublens.plot.layer_colors(["conv1", "stage1", "stage2", "logits"])
        ax.plot(epochs, q["stage2"], color=colors["stage2"])
    """
    names = [str(layer) for layer in layers]
    for k, name in enumerate(names):
        if name in names[:k]:
            raise ValueError(f"layer_colors: layer '{name}' is listed twice")
    return {name: LAYER_PALETTE[k % len(LAYER_PALETTE)] for k, name in enumerate(names)}


def _axes(ax, figsize=(5, 4)):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def heatmap(matrix, labels=None, col_labels=None, ax=None, title=None, vmin=0.0, vmax=1.0,
            cmap="viridis", annotate=None):
    """A matrix (CKA between layers/epochs) as a heatmap with a colour bar.

    `labels` name the rows (and the columns unless `col_labels` is given); `annotate` writes the
    values in the cells (default: when the matrix has at most 12 x 12 entries).

    Example::

        sublens.plot.heatmap(sublens.cka_matrix(graphs), labels=names)
    """
    values = np.asarray(matrix, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"heatmap: matrix must be 2-D (got shape {values.shape})")
    ax = _axes(ax)
    image = ax.imshow(values, vmin=vmin, vmax=vmax, cmap=cmap)
    ax.figure.colorbar(image, ax=ax)
    if labels is not None:
        ax.set_yticks(range(values.shape[0]), labels=list(labels))
        columns = list(col_labels) if col_labels is not None else list(labels)
        ax.set_xticks(range(values.shape[1]), labels=columns, rotation=45, ha="right")
    if annotate is None:
        annotate = values.shape[0] <= 12 and values.shape[1] <= 12
    if annotate:
        for i in range(values.shape[0]):
            for j in range(values.shape[1]):
                ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="w" if values[i, j] < (vmin + vmax) / 2 else "k")
    if title:
        ax.set_title(title)
    return ax


def curves(series, epochs=None, ax=None, ylabel="modularity", xlabel="epoch", title=None,
           logy=False, layers=None):
    """Curves vs epoch: `series` is {name: values per epoch} (e.g. modularity per layer), one colour
    per name from `layer_colors(layers)`: pass the network's layers in order (default: the names of
    `series`) so that a layer has the same colour in every figure of the network.

    Example::

        sublens.plot.curves({"layer1": q1, "layer4": q4}, epochs=[1, 5, 10],
                            layers=["layer1", "layer2", "layer3", "layer4"])
    """
    colors = layer_colors(list(series) if layers is None else layers)
    missing = [str(name) for name in series if str(name) not in colors]
    if missing:
        raise ValueError(f"curves: {missing} are not in layers ({list(colors)})")
    ax = _axes(ax)
    whole = True
    for name, values in series.items():
        values = np.asarray(values, dtype=float)
        x = np.arange(len(values)) if epochs is None else np.asarray(epochs)
        if len(x) != len(values):
            raise ValueError(f"curves: '{name}' has {len(values)} values but {len(x)} epochs")
        whole = whole and bool(np.all(np.asarray(x, dtype=float) == np.round(np.asarray(x, dtype=float))))
        ax.plot(x, values, marker="o", label=str(name), color=colors[str(name)])
    if whole:  # epochs, ranks, indices: whole-number ticks (no "2.5")
        from matplotlib.ticker import MaxNLocator
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return ax


def embedding_scatter(embedding, labels=None, ax=None, title=None, class_names=None, size=6):
    """First two columns of a spectral embedding, coloured by class (NaN rows are skipped).

    Example::

        e = sublens.spectral_embedding(r.affinity, dimensions=2).embedding
        sublens.plot.embedding_scatter(e, labels)
    """
    points = np.asarray(embedding, dtype=float)
    if points.ndim != 2 or points.shape[1] < 2:
        raise ValueError(f"embedding_scatter: embedding must be N x >=2 (got {points.shape})")
    ax = _axes(ax)
    keep = np.isfinite(points[:, :2]).all(axis=1)
    if labels is None:
        ax.scatter(points[keep, 0], points[keep, 1], s=size)
    else:
        labels = np.asarray(labels)
        if labels.shape[0] != points.shape[0]:
            raise ValueError(f"embedding_scatter: {labels.shape[0]} labels for "
                             f"{points.shape[0]} points")
        for c in np.unique(labels[keep]):
            mask = keep & (labels == c)
            name = class_names[c] if class_names is not None else str(c)
            ax.scatter(points[mask, 0], points[mask, 1], s=size, label=name)
        ax.legend(fontsize=7, markerscale=2)
    if title:
        ax.set_title(title)
    return ax


def neighborhood_bars(neighborhood, class_names=None, ax=None, title=None):
    """Class affinity of one input's neighbourhood (the paper's Fig. 9) as bars; the true class,
    the prediction and the SSC label are marked. `neighborhood` is `sublens.neighbors(...)`'s
    result (or its to_dict()).

    Example::

        sublens.plot.neighborhood_bars(sublens.neighbors(r.affinity, 17, labels, predictions))
    """
    fields = neighborhood.to_dict() if hasattr(neighborhood, "to_dict") else dict(neighborhood)
    shares = np.asarray(fields["class_affinity"], dtype=float)
    ax = _axes(ax)
    colors = ["tab:gray"] * len(shares)
    if 0 <= fields.get("predicted", -1) < len(shares):
        colors[fields["predicted"]] = "tab:red"
    if 0 <= fields["label"] < len(shares):
        colors[fields["label"]] = "tab:green"
    ax.bar(range(len(shares)), shares, color=colors)
    names = class_names if class_names is not None else [str(c) for c in range(len(shares))]
    ax.set_xticks(range(len(shares)), labels=names, rotation=45, ha="right")
    ax.set_ylabel("share of affinity")
    ax.set_title(title or (f"input {fields['index']}: label {fields['label']}, "
                           f"predicted {fields.get('predicted', -1)}, "
                           f"SSC {fields.get('ssc_label', -1)}"))
    return ax
