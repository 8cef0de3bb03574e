"""Result classes of the sublens functions: one frozen dataclass per result kind.

Every result reads as attributes (``r.affinity``; tab completion lists the fields), as a mapping
(``r["affinity"]``, ``r.keys()``; the old dict-backed results worked this way), converts with
``to_dict()`` (nested results become dicts; arrays and matrices are shared, not copied) and
prints a one-line summary (arrays as ``<array (N, k) float64>``).

The C++ bindings build them by class name (python/src/module.cpp, ``make_result``); the field
names are the keys the bindings fill, and python/tests/test_results.py checks every field's
runtime type against the annotation here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional

import numpy as np

if TYPE_CHECKING:  # scipy is imported by the first function that returns a sparse matrix
    import scipy.sparse

__all__ = [
    "CkaResult",
    "CommunityResult",
    "CoupledNmfResult",
    "EmbeddingResult",
    "ModularityResult",
    "Neighbor",
    "Neighborhood",
    "Result",
    "SpectralClusteringResult",
    "SpectrumResult",
    "SscLabelResult",
    "SscResult",
]


def _summary(value: Any) -> str:
    """Short text of a field for repr: small vectors in full, larger arrays by shape and dtype."""
    if isinstance(value, np.ndarray):
        if value.ndim == 1 and value.size <= 6:
            return repr(value)
        return f"<array {value.shape} {value.dtype}>"
    if hasattr(value, "tocsr") and hasattr(value, "nnz"):
        rows, cols = value.shape
        return f"<{type(value).__name__} {rows} x {cols}, nnz {value.nnz}>"
    if isinstance(value, list):
        if len(value) > 6:
            return f"<list of {len(value)}>"
        return "[" + ", ".join(_summary(item) for item in value) + "]"
    if isinstance(value, float):
        return f"{value:.6g}"
    return repr(value)


def _plain(value: Any) -> Any:
    """Nested results (also inside lists and dicts) as dicts; everything else as is."""
    if isinstance(value, Result):
        return value.to_dict()
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


class Result:
    """Base class of every sublens result: fields as attributes and as ``r["field"]``.

    Example::

        r = sublens.ssc(x)
        isinstance(r, sublens.Result), r.keys()[:3], r["converged"] == r.converged
    """

    __slots__ = ()

    @property
    def type_name(self) -> str:
        """The class name ("SscResult"), as the dict-backed results had it."""
        return type(self).__name__

    def keys(self) -> List[str]:
        """The field names, in declaration order."""
        return [field.name for field in dataclasses.fields(self)]

    def to_dict(self) -> Dict[str, Any]:
        """The fields as a new dict; nested results become dicts, arrays are shared."""
        return {name: _plain(getattr(self, name)) for name in self.keys()}

    def __getitem__(self, name: str) -> Any:
        if isinstance(name, str) and name in self.keys():
            return getattr(self, name)
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return name in self.keys()

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={_summary(getattr(self, name))}" for name in self.keys())
        return f"{type(self).__name__}({fields})"


def _result(cls):
    """A frozen dataclass without generated eq (arrays do not compare to one bool) or repr."""
    return dataclass(frozen=True, eq=False, repr=False)(cls)


@_result
class SscResult(Result):
    """Result of ``sublens.ssc``: the sparse self-expressive code of N inputs (Saini et al. 2021).

    Attributes:
        n: N, the number of inputs (rows of the activation matrix).
        d: d, the features per input (after flattening).
        solver: the solver that ran, "lasso" or "admm" (never "auto").
        tau: the tau actually used (alpha's tau with tau_mode="relative").
        objective: ||C||_1 + tau/2 ||X^T - X^T C||_F^2 on the (normalised) inputs.
        iterations: ADMM iterations, or the most working-set rounds of any column (Lasso).
        converged: whether every column met `tolerance`.
        kkt_violation: largest violation of the optimality conditions over all columns.
        affinity: W = |C| + |C|^T, N x N scipy.sparse.csr_matrix, symmetric, zero diagonal.
        coefficients: C, N x N csr_matrix; C[j, i] = weight of input j in reconstructing input i.
        seconds: wall time of the solve.
        peak_memory_bytes: estimate of the solver's peak allocation (the input not counted).

    Example::

        r = sublens.ssc(x, tau=10)
        r.affinity.nnz, r.converged, r["tau"]
    """

    n: int
    d: int
    solver: str
    tau: float
    objective: float
    iterations: int
    converged: bool
    kkt_violation: float
    affinity: scipy.sparse.csr_matrix
    coefficients: scipy.sparse.csr_matrix
    seconds: float
    peak_memory_bytes: int


@_result
class CkaResult(Result):
    """Result of ``sublens.cka``: centred kernel alignment of two kernels or activation matrices.

    Attributes:
        cka: HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)); NaN when undefined.
        defined: False when HSIC(K, K) or HSIC(L, L) <= 0 (an empty graph, a constant kernel).
        hsic_kl: HSIC(K, L).
        hsic_kk: HSIC(K, K).
        hsic_ll: HSIC(L, L).
        estimator: "biased" (Kornblith et al. 2019) or "unbiased" (Song et al. 2012).
        method: how it was computed: "sparse", "dense", "feature", "gram" or "rbf".
        n: N, the number of inputs (kernel size).
        seconds: wall time.

    Example::

        sublens.cka(r1.affinity, r2.affinity).cka
    """

    cka: float
    defined: bool
    hsic_kl: float
    hsic_kk: float
    hsic_ll: float
    estimator: str
    method: str
    n: int
    seconds: float


@_result
class ModularityResult(Result):
    """Result of ``sublens.modularity`` (Newman 2006; the SSC paper's eq. 5).

    Attributes:
        modularity: Q = 1/(2m) sum_ij (A_ij - gamma k_i k_j / (2m)) delta(c_i, c_j).
        n_communities: distinct labels.
        n_isolated: inputs with zero degree.
        total_weight: 2m = sum_ij A_ij.

    Example::

        sublens.modularity(r.affinity, labels).modularity
    """

    modularity: float
    n_communities: int
    n_isolated: int
    total_weight: float


@_result
class CommunityResult(Result):
    """Result of ``sublens.detect_communities`` (igraph Leiden or Louvain).

    Attributes:
        membership: int64 array of length N, the 0-based community of each input (isolated
            inputs are singletons).
        n_communities: the number of communities.
        modularity: Q of the detected partition.
        method: "leiden" or "louvain".
        seconds: wall time.

    Example::

        sublens.detect_communities(r.affinity, seed=1).membership
    """

    membership: np.ndarray
    n_communities: int
    modularity: float
    method: str
    seconds: float


@_result
class EmbeddingResult(Result):
    """Result of ``sublens.spectral_embedding``.

    Attributes:
        embedding: N x k float64 array (k = dimensions), unit-length columns with a fixed sign;
            NaN rows for isolated inputs.
        eigenvalues: the k eigenvalues (of S = D^-1/2 W D^-1/2, or of W), decreasing.
        isolated: indices of the inputs with zero degree.
        converged: False when Lanczos stopped at max_iterations (values approximate).
        iterations: Lanczos restarts (0 on the dense path).
        matrix_products: matrix-vector products used.
        solver: "lanczos" or "dense".
        seconds: wall time.

    Example::

        xy = sublens.spectral_embedding(r.affinity, dimensions=2).embedding
    """

    embedding: np.ndarray
    eigenvalues: np.ndarray
    isolated: List[int]
    converged: bool
    iterations: int
    matrix_products: int
    solver: str
    seconds: float


@_result
class SpectralClusteringResult(Result):
    """Result of ``sublens.spectral_clustering`` (Ng, Jordan & Weiss 2001).

    Attributes:
        labels: int64 array of length N, the cluster of each input; -1 for isolated inputs.
        inertia: k-means inertia of the best restart (sum of squared distances to centres).
        kmeans_converged: whether the best k-means run converged.
        kmeans_iterations: its iterations.
        embedding: the EmbeddingResult that was clustered.

    Example::

        sublens.spectral_clustering(r.affinity, clusters=10, seed=0).labels
    """

    labels: np.ndarray
    inertia: float
    kmeans_converged: bool
    kmeans_iterations: int
    embedding: EmbeddingResult


@_result
class SscLabelResult(Result):
    """Result of ``sublens.ssc_labels`` (the paper's Table 1).

    Attributes:
        ssc_labels: int64 array of length N: argmax_c sum_{j != i, label_j = c} W_ij (ties to the
            lowest class), -1 for inputs without neighbours.
        unlabelled: indices of the inputs without neighbours.
        n_classes: classes 0 .. max(labels).
        accuracy: mean(ssc_labels == labels) over all N (unlabelled inputs count as wrong).
        accuracy_labelled: the same over the inputs that have neighbours.
        prediction_accuracy: mean(predictions == labels); None without predictions.
        agreement: mean(ssc_labels == predictions); None without predictions.

    Example::

        sublens.ssc_labels(r.affinity, labels, predictions).agreement
    """

    ssc_labels: np.ndarray
    unlabelled: List[int]
    n_classes: int
    accuracy: float
    accuracy_labelled: float
    prediction_accuracy: Optional[float] = None
    agreement: Optional[float] = None


@_result
class Neighbor(Result):
    """One neighbour in ``Neighborhood.top``.

    Attributes:
        index: the neighbour's input index j.
        weight: W_ij.
        label: its class label.
        predicted: its predicted class; -1 without predictions.

    Example::

        sublens.neighbors(r.affinity, 17, labels).top[0].weight
    """

    index: int
    weight: float
    label: int
    predicted: int


@_result
class Neighborhood(Result):
    """Result of ``sublens.neighbors``: one input's neighbourhood (the paper's Fig. 9).

    Attributes:
        index: the input i.
        label: its class label.
        predicted: its predicted class; -1 without predictions.
        ssc_label: its SSC label; -1 without neighbours.
        total_affinity: sum_{j != i} W_ij.
        class_affinity: float64 array of length n_classes: sum_{j != i, label_j = c} W_ij /
            total_affinity (zeros when the total is 0).
        top: the strongest neighbours (Neighbor), weight descending, index ascending.

    Example::

        nb = sublens.neighbors(r.affinity, 17, labels, top=5); nb.top[0].index
    """

    index: int
    label: int
    predicted: int
    ssc_label: int
    total_affinity: float
    class_affinity: np.ndarray
    top: List[Neighbor]


@_result
class CoupledNmfResult(Result):
    """Result of ``sublens.coupled_nmf`` (Saini & Papalexakis, eq. 1).

    Attributes:
        rmse: sqrt(sum of squared errors / sum of N d_b) over all blocks.
        relative_rmse: sqrt(sum squared errors / sum ||X_b||_F^2).
        objective: the final objective J (weighted when weight_blocks).
        iterations: iterations run.
        converged: stopped on `tolerance` (or J = 0) before max_iterations.
        solver: "mu" or "hals".
        rank: r, the number of shared factors.
        shared: F, N x r non-negative float64 array (row = input).
        input_factors: P_i, one d_i x r array per input block.
        layer_factors: O_j, one d_j x r array per layer block.
        block_rmse: {block name: sqrt(squared error / (N d_b))}.
        block_relative_rmse: {block name: ||X_b - F W_b^T||_F / ||X_b||_F}.
        squared_error: per block (inputs, then layers), unweighted ||X_b - F W_b^T||_F^2.
        objective_history: float64 array, J after each iteration (empty unless record_history).
        seconds: wall time of the iterations.
        brief_report: one line, "mu rank 20: rmse 0.0123 after 150 iterations (converged) ...".

    Example::

        r = sublens.coupled_nmf(images, {"fc": acts}, rank=20)
        r.shared.shape, r.block_rmse["fc"]
    """

    rmse: float
    relative_rmse: float
    objective: float
    iterations: int
    converged: bool
    solver: str
    rank: int
    shared: np.ndarray
    input_factors: List[np.ndarray]
    layer_factors: List[np.ndarray]
    block_rmse: Dict[str, float]
    block_relative_rmse: Dict[str, float]
    squared_error: List[float]
    objective_history: np.ndarray
    seconds: float
    brief_report: str


@_result
class SpectrumResult(Result):
    """Result of ``sublens.singular_spectrum``.

    Attributes:
        singular_values: float64 array, descending, length min(k, N, d).
        method: "dense-svd" or "lanczos-gram".
        converged: False when Lanczos hit max_restarts (the values are then approximate).
        products: Gram-vector products used by Lanczos (0 on the dense path).
        seconds: wall time.

    Example::

        sublens.singular_spectrum(acts, k=20).singular_values
    """

    singular_values: np.ndarray
    method: str
    converged: bool
    products: int
    seconds: float
