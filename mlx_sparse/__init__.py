"""mlx_sparse: sparse arrays for MLX with native C (CPU) and CUDA (GPU) kernels, scipy.sparse-style."""

from ._construct import from_dense, fromdense, tril, triu
from ._coo import coo_array
from ._csc import csc_array
from ._csr import csr_array
from ._device import use_cpu, use_device, use_gpu
from ._kernels import get_num_threads, gpu_available, set_num_threads
from ._ops import sddmm
from ._products import csr_matmul, csr_matvec, rmatmul

__version__ = "0.1.0"

__all__ = [
    "coo_array",
    "fromdense",
    "from_dense",
    "tril",
    "triu",
    "csr_array",
    "csr_matvec",
    "csr_matmul",
    "csc_array",
    "rmatmul",
    "sddmm",
    "use_cpu",
    "use_gpu",
    "use_device",
    "set_num_threads",
    "get_num_threads",
    "gpu_available",
]
