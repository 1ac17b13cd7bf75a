"""Package settings: ``get_config()``, ``set_config(**settings)``, ``config_context(**settings)``.

Settings (their environment variables give the defaults):
  num_threads     threads of the CPU kernels; 0 = all cores (MLX_SPARSE_NUM_THREADS)
  spmv_schedule   GPU SpMV schedule: "" (planned), "rows", "merge" or "g1".."g32" (MLX_SPARSE_SPMV)
  validate        default ``validate=`` of the constructors: "metadata", "full" or False
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator

import mlx.core  # noqa: F401  (loads libmlx before the extension that links it)

from . import _ext

_SETTINGS: dict = {"validate": "metadata"}
_SCHEDULES = ("", "rows", "merge", "g1", "g2", "g4", "g8", "g16", "g32")


def get_config() -> dict:
    """The current settings."""
    return {"num_threads": int(_ext.get_num_threads()), "spmv_schedule": os.environ.get("MLX_SPARSE_SPMV", ""),
            "validate": _SETTINGS["validate"]}


def set_config(num_threads: Any = None, spmv_schedule: Any = None, validate: Any = None) -> None:
    """Change settings (those given); see the module docstring."""
    if num_threads is not None:
        if int(num_threads) < 0:
            raise ValueError(f"set_config: num_threads must be >= 0, got {num_threads}")
        _ext.set_num_threads(int(num_threads))
    if spmv_schedule is not None:
        if spmv_schedule not in _SCHEDULES:
            raise ValueError(f"set_config: spmv_schedule must be one of {_SCHEDULES}, got {spmv_schedule!r}")
        if spmv_schedule:
            os.environ["MLX_SPARSE_SPMV"] = spmv_schedule  # read by every product (the variable is the setting)
        else:
            os.environ.pop("MLX_SPARSE_SPMV", None)
    if validate is not None:
        if validate not in ("metadata", "full", False):
            raise ValueError(f"set_config: validate must be 'metadata', 'full' or False, got {validate!r}")
        _SETTINGS["validate"] = validate


@contextlib.contextmanager
def config_context(**settings) -> Iterator[dict]:
    """Settings changed inside a ``with`` block and restored after it."""
    before = get_config()
    set_config(**settings)
    try:
        yield get_config()
    finally:
        restore = {k: before[k] for k in settings}  # only what the block changed
        set_config(**restore)


def default_validate() -> Any:
    return _SETTINGS["validate"]
