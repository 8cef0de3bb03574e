# Type stubs of the `sublens` package: the extension's functions (typed in _sublens.pyi), the
# result classes (sublens/_results.py) and the lazily imported submodules.
# python/tests/test_stubs.py checks that every public name of the module is declared here.
from . import plot as plot
from . import run_folder as run_folder
from . import torch as torch
from ._results import CkaResult as CkaResult
from ._results import CommunityResult as CommunityResult
from ._results import CoupledNmfResult as CoupledNmfResult
from ._results import EmbeddingResult as EmbeddingResult
from ._results import ModularityResult as ModularityResult
from ._results import Neighbor as Neighbor
from ._results import Neighborhood as Neighborhood
from ._results import Result as Result
from ._results import SpectralClusteringResult as SpectralClusteringResult
from ._results import SpectrumResult as SpectrumResult
from ._results import SscLabelResult as SscLabelResult
from ._results import SscResult as SscResult
from ._sublens import cka as cka
from ._sublens import cka_matrix as cka_matrix
from ._sublens import coupled_nmf as coupled_nmf
from ._sublens import detect_communities as detect_communities
from ._sublens import list_arrays as list_arrays
from ._sublens import load_activations as load_activations
from ._sublens import modularity as modularity
from ._sublens import neighbors as neighbors
from ._sublens import read_npy as read_npy
from ._sublens import read_npz as read_npz
from ._sublens import read_safetensors as read_safetensors
from ._sublens import read_sparse_npz as read_sparse_npz
from ._sublens import singular_spectrum as singular_spectrum
from ._sublens import spectral_clustering as spectral_clustering
from ._sublens import spectral_embedding as spectral_embedding
from ._sublens import ssc as ssc
from ._sublens import ssc_labels as ssc_labels
from ._sublens import write_npy as write_npy
from ._sublens import write_npz as write_npz
from ._sublens import write_safetensors as write_safetensors
from ._sublens import write_sparse_npz as write_sparse_npz

__version__: str
__all__: list[str]
