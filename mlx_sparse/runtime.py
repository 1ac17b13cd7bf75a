"""Runtime settings of the native kernels (the reference package's ``runtime`` module): threads."""

from ._kernels import get_num_threads, set_num_threads

__all__ = ["get_num_threads", "set_num_threads"]
