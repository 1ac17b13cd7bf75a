"""Device selection (use_gpu / use_cpu / use_device) and stream resolution for every operation."""

from __future__ import annotations

from typing import Union

import mlx.core as mx

StreamLike = Union[None, mx.Stream, mx.Device, mx.DeviceType, str]

_INSTALL_HINT = (
    "install MLX's CUDA backend (pip install 'mlx[cuda13]') on a Linux machine with an "
    "NVIDIA GPU and a CUDA 13 capable driver"
)


def _as_device(device: Union[str, mx.Device, mx.DeviceType]) -> mx.Device:
    if isinstance(device, mx.Device):
        return device
    if isinstance(device, mx.DeviceType):
        return mx.Device(device)
    if isinstance(device, str):
        d = device.lower()
        if d in ("gpu", "cuda"):
            return mx.Device(mx.gpu)
        if d == "cpu":
            return mx.Device(mx.cpu)
    raise ValueError(f"use_device: expected 'gpu' or 'cpu' (or an mx.Device), got {device!r}")


def use_device(device: Union[str, mx.Device, mx.DeviceType], probe: bool = True) -> mx.Device:
    """Make ``device`` MLX's default device (it persists until changed).

    With ``probe`` (default) a trivial computation is evaluated there first, so a missing or
    broken backend raises ``RuntimeError`` now rather than at the first sparse operation.
    Work already dispatched is not moved.
    """
    dev = _as_device(device)
    if dev.type == mx.DeviceType.gpu and not mx.is_available(mx.gpu):
        raise RuntimeError(f"use_device('gpu'): this MLX has no GPU backend; {_INSTALL_HINT}")
    if probe:
        try:
            mx.eval(mx.add(mx.array([1.0]), 1.0, stream=dev))
        except Exception as e:  # pragma: no cover - depends on the machine
            raise RuntimeError(f"use_device({dev}): probing the device failed ({e}); {_INSTALL_HINT}") from e
    mx.set_default_device(dev)
    return dev


def use_gpu(probe: bool = True) -> mx.Device:
    """``use_device('gpu')``: MLX's CUDA backend becomes the default device."""
    return use_device("gpu", probe)


def use_cpu(probe: bool = True) -> mx.Device:
    """``use_device('cpu')``: MLX's CPU backend becomes the default device."""
    return use_device("cpu", probe)


def resolve_stream(stream: StreamLike) -> mx.Stream:
    """The concrete stream an operation runs on: MLX's rule for ``stream=`` arguments."""
    if stream is None:
        return mx.default_stream(mx.default_device())
    if isinstance(stream, mx.Stream):
        return stream
    return mx.default_stream(_as_device(stream))


def is_gpu(s: mx.Stream) -> bool:
    return s.device.type == mx.DeviceType.gpu
