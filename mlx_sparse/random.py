"""Random sparse arrays (scipy.sparse.random / rand / random_array): ``ms.random.random(...)``."""

from __future__ import annotations

from typing import Any, Optional

import mlx.core as mx
import numpy as np

from ._construct import _check_format, _index_dtype
from ._coo import coo_array
from ._device import StreamLike, resolve_stream


def _generator(random_state: Any) -> np.random.Generator:
    """A NumPy generator from None, an int seed, an MLX PRNG key or a NumPy generator. The structure is
    drawn on the host from it, so one seed or key gives one structure on every device."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, mx.array):  # an MLX key (mx.random.key(seed)): its two words seed NumPy
        words = np.array(random_state.astype(mx.uint32)).reshape(-1).astype(np.uint64)
        return np.random.default_rng([int(w) for w in words])
    return np.random.default_rng(random_state)


def random(m: int, n: int, density: float = 0.01, format: str = "coo", dtype: mx.Dtype = mx.float32,
           random_state: Any = None, data_rvs=None, index_dtype: Optional[mx.Dtype] = None,
           stream: StreamLike = None):
    """An (m, n) array with ``round(density * m * n)`` entries at distinct random positions and values
    uniform in [0, 1) (or from ``data_rvs(k)``), canonical, in ``format`` (scipy's ``random``)."""
    op = "random"
    f = _check_format(op, format, "coo")
    if not 0 <= density <= 1:
        raise ValueError(f"{op}: density must be in [0, 1], got {density}")
    m, n = int(m), int(n)
    if m < 0 or n < 0:
        raise ValueError(f"{op}: shape must be non-negative, got ({m}, {n})")
    rng = _generator(random_state)
    k = int(round(density * m * n))
    pos = np.sort(rng.choice(m * n, size=k, replace=False)) if k else np.zeros(0, np.int64)
    if data_rvs is not None:
        vals = np.asarray(data_rvs(k))
    elif dtype == mx.complex64:
        vals = rng.uniform(size=k) + 1j * rng.uniform(size=k)
    else:
        vals = rng.uniform(size=k)
    it = _index_dtype(op, index_dtype, m, n, k)
    np_it = np.int32 if it == mx.int32 else np.int64
    s = resolve_stream(stream)
    data = mx.array(vals.astype(np.complex64 if dtype == mx.complex64 else np.float64)).astype(dtype)
    out = coo_array((data, ((pos // max(n, 1)).astype(np_it), (pos % max(n, 1)).astype(np_it))), shape=(m, n),
                    index_dtype=it)
    return out if f == "coo" else getattr(out, "to" + f)(stream=s)


def rand(m: int, n: int, density: float = 0.01, format: str = "coo", dtype: mx.Dtype = mx.float32,
         random_state: Any = None, stream: StreamLike = None):
    """scipy's ``rand``: :func:`random` with uniform values."""
    return random(m, n, density, format, dtype, random_state, stream=stream)


def random_array(shape, *, density: float = 0.01, format: str = "coo", dtype: mx.Dtype = mx.float32,
                 random_state: Any = None, data_sampler=None, stream: StreamLike = None):
    """scipy's ``random_array``: :func:`random` with the shape as one argument."""
    m, n = shape
    return random(m, n, density, format, dtype, random_state, data_rvs=data_sampler, stream=stream)
