"""sublens: explain neural networks through the sparse-subspace graphs of their activations.

The analysis functions are C++ (pybind11) and take numpy arrays (float32 or float64, C or Fortran
order), CPU torch tensors and scipy.sparse matrices; they return numpy arrays,
``scipy.sparse.csr_matrix`` and one result class per kind (``SscResult``, ``CkaResult``, ...:
documented fields, attribute and ``r["field"]`` access, ``repr``, ``to_dict()``). The GIL is
released while they compute; bad arguments, including a string option outside its values,
raise ``ValueError``. The package is typed (``.pyi`` stubs, ``py.typed``).

Example::

    import numpy as np, sublens
    x = np.random.default_rng(0).standard_normal((200, 32))
    r = sublens.ssc(x, tau=10)                # SscResult: r.affinity is a csr_matrix
    q = sublens.modularity(r.affinity, labels).modularity

``sublens.torch`` (activation capture with forward hooks) and ``sublens.plot`` (matplotlib
figures) are imported on first use, so ``import sublens`` loads neither torch nor matplotlib.
"""

from . import _results, _sublens
from ._results import (  # noqa: F401
    CkaResult,
    CommunityResult,
    CoupledNmfResult,
    EmbeddingResult,
    ModularityResult,
    Neighbor,
    Neighborhood,
    Result,
    SpectralClusteringResult,
    SpectrumResult,
    SscLabelResult,
    SscResult,
)
from ._sublens import (  # noqa: F401
    cka,
    cka_matrix,
    coupled_nmf,
    detect_communities,
    list_arrays,
    load_activations,
    modularity,
    neighbors,
    read_npy,
    read_npz,
    read_safetensors,
    read_sparse_npz,
    singular_spectrum,
    spectral_clustering,
    spectral_embedding,
    ssc,
    ssc_labels,
    write_npy,
    write_npz,
    write_safetensors,
    write_sparse_npz,
)

__version__: str = _sublens.__version__  # the C++ library's version (CMakeLists.txt project())

__all__ = [
    *_results.__all__,
    "cka",
    "cka_matrix",
    "coupled_nmf",
    "detect_communities",
    "list_arrays",
    "load_activations",
    "modularity",
    "neighbors",
    "read_npy",
    "read_npz",
    "read_safetensors",
    "read_sparse_npz",
    "singular_spectrum",
    "spectral_clustering",
    "spectral_embedding",
    "ssc",
    "ssc_labels",
    "write_npy",
    "write_npz",
    "write_safetensors",
    "write_sparse_npz",
]


def _check_blas():
    """Say once when the process's OpenBLAS (shared with numpy, which loaded it first) runs generic
    kernels on a CPU that supports better ones. The `sublens` command chooses by itself
    (core/blas.hpp); an interpreter cannot: OpenBLAS reads OPENBLAS_CORETYPE only when loaded."""
    import os
    import warnings

    from ._sublens import _blas_kernels

    core, better = _blas_kernels()
    if better and "OPENBLAS_CORETYPE" not in os.environ and os.environ.get("SUBLENS_BLAS_KEEP") != "1":
        warnings.warn(
            f"OpenBLAS runs its generic '{core}' kernels on this CPU, which supports the '{better}' "
            f"ones (numpy's linear algebra and sublens's are several times slower). Start Python "
            f"with OPENBLAS_CORETYPE={better} in the environment to use them.",
            RuntimeWarning,
            stacklevel=2,
        )


_check_blas()


def __getattr__(name):
    # Lazy submodules: `sublens.torch` imports torch, `sublens.plot` imports matplotlib.
    if name in ("torch", "plot"):
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'sublens' has no attribute '{name}'")
