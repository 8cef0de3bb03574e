# Type stubs of the C++ extension (python/src/*.cpp). Defaults are `...`: their values come from
# the C++ Options structs and show in each function's docstring (help(sublens.ssc)).
# python/tests/test_stubs.py checks these signatures against the extension's own.
import os
from typing import Dict, List, Literal, Mapping, Optional, Sequence, Tuple, Union, overload

import numpy as np
import numpy.typing as npt
import scipy.sparse

from ._results import (
    CkaResult,
    CommunityResult,
    CoupledNmfResult,
    EmbeddingResult,
    ModularityResult,
    Neighborhood,
    SpectralClusteringResult,
    SpectrumResult,
    SscLabelResult,
    SscResult,
)

_Path = Union[str, os.PathLike[str]]
# N x d activations (numpy array of any float/int dtype and layout, or a CPU torch tensor);
# more than two axes are flattened per input.
_Activations = npt.ArrayLike
# An N x N graph: a scipy.sparse matrix (any format) or a dense 2-D array.
_Graph = Union[scipy.sparse.spmatrix, npt.ArrayLike]
_Blocks = Union[None, npt.ArrayLike, Sequence[npt.ArrayLike], Mapping[str, npt.ArrayLike]]

# ---- io ------------------------------------------------------------------------------------------
def read_npy(path: _Path) -> np.ndarray: ...
def write_npy(path: _Path, array: npt.ArrayLike) -> None: ...
def read_npz(path: _Path) -> Dict[str, np.ndarray]: ...
def write_npz(
    path: _Path,
    arrays: Union[Mapping[str, npt.ArrayLike], Sequence[Tuple[str, npt.ArrayLike]]],
    compress: bool = ...,
) -> None: ...
@overload
def read_safetensors(path: _Path, metadata: Literal[False] = ...) -> Dict[str, np.ndarray]: ...
@overload
def read_safetensors(
    path: _Path, metadata: Literal[True]
) -> Tuple[Dict[str, np.ndarray], Dict[str, str]]: ...
def write_safetensors(
    path: _Path,
    arrays: Union[Mapping[str, npt.ArrayLike], Sequence[Tuple[str, npt.ArrayLike]]],
    metadata: Optional[Mapping[str, object]] = ...,
) -> None: ...
def read_sparse_npz(path: _Path) -> scipy.sparse.csr_matrix: ...
def write_sparse_npz(path: _Path, matrix: _Graph) -> None: ...
def load_activations(path: _Path, layers: List[str] = ...) -> Dict[str, np.ndarray]: ...
def list_arrays(path: _Path) -> List[Tuple[str, str, Tuple[int, ...]]]: ...

# ---- factor --------------------------------------------------------------------------------------
def coupled_nmf(
    inputs: _Blocks,
    layers: _Blocks,
    *,
    rank: int = ...,
    solver: Literal["mu", "hals"] = ...,
    max_iterations: int = ...,
    tolerance: float = ...,
    epsilon: float = ...,
    seed: int = ...,
    weight_blocks: bool = ...,
    record_history: bool = ...,
) -> CoupledNmfResult: ...
def singular_spectrum(
    activations: _Activations,
    *,
    k: int = ...,
    dense_limit: int = ...,
    tolerance: float = ...,
    max_restarts: int = ...,
) -> SpectrumResult: ...

# ---- ssc -----------------------------------------------------------------------------------------
def ssc(
    activations: _Activations,
    *,
    tau: float = ...,
    tau_mode: Literal["absolute", "relative"] = ...,
    mu: float = ...,
    adaptive_mu: bool = ...,
    solver: Literal["auto", "lasso", "admm"] = ...,
    max_iterations: int = ...,
    tolerance: float = ...,
    normalize: Literal["l2", "none"] = ...,
    threads: int = ...,
    progress: bool = ...,
) -> SscResult: ...

# ---- similarity ----------------------------------------------------------------------------------
def cka(
    a: Union[_Graph, _Activations],
    b: Union[_Graph, _Activations],
    *,
    kind: Literal["auto", "graph", "linear", "rbf"] = ...,
    estimator: Literal["biased", "unbiased"] = ...,
    method: Literal["auto", "feature", "gram"] = ...,
) -> CkaResult: ...
def cka_matrix(
    a: Union[Sequence[Union[_Graph, _Activations]], Mapping[str, Union[_Graph, _Activations]]],
    b: Union[
        None, Sequence[Union[_Graph, _Activations]], Mapping[str, Union[_Graph, _Activations]]
    ] = ...,
    *,
    kind: Literal["auto", "graph", "linear", "rbf"] = ...,
    estimator: Literal["biased", "unbiased"] = ...,
) -> np.ndarray: ...

# ---- graph ---------------------------------------------------------------------------------------
def modularity(
    affinity: _Graph, labels: npt.ArrayLike, *, resolution: float = ...
) -> ModularityResult: ...
def detect_communities(
    affinity: _Graph,
    *,
    method: Literal["leiden", "louvain"] = ...,
    resolution: float = ...,
    seed: int = ...,
) -> CommunityResult: ...
def spectral_embedding(
    affinity: _Graph,
    *,
    dimensions: int = ...,
    laplacian: Literal["normalized", "none"] = ...,
    max_iterations: int = ...,
    tolerance: float = ...,
) -> EmbeddingResult: ...
def spectral_clustering(
    affinity: _Graph,
    *,
    clusters: int = ...,
    laplacian: Literal["normalized", "none"] = ...,
    restarts: int = ...,
    seed: int = ...,
    max_iterations: int = ...,
) -> SpectralClusteringResult: ...
def ssc_labels(
    affinity: _Graph, labels: npt.ArrayLike, predictions: Optional[npt.ArrayLike] = ...
) -> SscLabelResult: ...
def neighbors(
    affinity: _Graph,
    index: int,
    labels: npt.ArrayLike,
    predictions: Optional[npt.ArrayLike] = ...,
    *,
    top: int = ...,
) -> Neighborhood: ...

# ---- internal ------------------------------------------------------------------------------------
def _blas_kernels() -> Tuple[str, str]: ...

__version__: str  # the C++ library's version
