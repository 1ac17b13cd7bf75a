"""mlx_sparse: sparse arrays for MLX with native C (CPU) and CUDA (GPU) kernels, scipy.sparse-style."""

from . import config, io, linalg, random, runtime
from .io import load_npz, save_npz
from ._construct import (
    block_array,
    block_diag,
    bmat,
    diags,
    eye,
    from_dense,
    fromdense,
    hstack,
    identity,
    identity_like,
    kron,
    kronsum,
    spdiags,
    tril,
    triu,
    vstack,
)
from ._base import SpGEMMPlan, spgemm_plan
from ._coo import coo_array
from ._csc import csc_array
from ._csr import csr_array
from ._device import use_cpu, use_device, use_gpu
from ._kernels import get_num_threads, gpu_available, set_num_threads
from ._ops import sddmm
from ._products import csr_matmul, csr_matvec, rmatmul
from ._reference import FUNCTIONS as _REFERENCE_FUNCTIONS
from ._reference import asarray, from_numpy, from_scipy, is_available, issparse, todense
from .config import config_context, get_config, set_config

# the reference package's class names
CSRArray, CSCArray, COOArray = csr_array, csc_array, coo_array
# its per-format functions (csr_matvec, coo_matmul, csc_row_sums, ...); csr_matvec / csr_matmul above
globals().update({k: v for k, v in _REFERENCE_FUNCTIONS.items() if k not in ("csr_matvec", "csr_matmul")})

__version__ = "0.1.0"

__all__ = [
    "coo_array", "csr_array", "csc_array", "CSRArray", "CSCArray", "COOArray",
    "fromdense", "from_dense", "from_numpy", "from_scipy", "asarray", "issparse", "todense",
    "eye", "identity", "identity_like", "diags", "spdiags", "kron", "kronsum", "bmat", "block_array",
    "block_diag", "hstack", "vstack", "tril", "triu",
    "csr_matvec", "csr_matmul", "rmatmul", "sddmm", "spgemm_plan", "SpGEMMPlan",
    "use_cpu", "use_gpu", "use_device", "set_num_threads", "get_num_threads", "gpu_available", "is_available",
    "config", "get_config", "set_config", "config_context", "runtime", "random", "linalg", "io",
    "save_npz", "load_npz",
    *sorted(k for k in _REFERENCE_FUNCTIONS if k not in ("csr_matvec", "csr_matmul")),
]
