"""Fit the conductances of a resistor network to measured voltages by gradient descent through
ms.linalg.spsolve (its gradient is one adjoint solve with the kept factorization).

A k x k grid of nodes, node 0 grounded, unknown edge conductances g > 0. A unit current is injected
at each other node in turn (one experiment per column of the right-hand side); the voltages at every
node are measured. The loss is the squared voltage misfit; the parameters are log g (positivity).

    python examples/resistor_fit.py [--k 6] [--steps 300]
"""

from __future__ import annotations

import argparse

import mlx.core as mx
import numpy as np

import mlx_sparse as ms  # noqa: E402


def grid_edges(k: int) -> np.ndarray:
    idx = np.arange(k * k).reshape(k, k)
    return np.concatenate([np.stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()], 1),
                           np.stack([idx[:-1, :].ravel(), idx[1:, :].ravel()], 1)])


def laplacian(g: mx.array, edges: np.ndarray, n: int):
    """The weighted graph Laplacian of the network plus a unit conductance from node 0 to ground, as a
    COO array whose duplicate entries our canonicalization sums (differentiably)."""
    i, j = edges[:, 0], edges[:, 1]
    rows = np.concatenate([i, j, i, j, [0]])
    cols = np.concatenate([i, j, j, i, [0]])
    vals = mx.concatenate([g, g, -g, -g, mx.ones((1,), dtype=g.dtype)])
    return ms.coo_array((vals, (rows, cols)), shape=(n, n))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--k", type=int, default=6)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--lr", type=float, default=0.05)
    args = p.parse_args()
    mx.set_default_device(mx.cpu)  # the direct solver runs on the CPU
    n, edges = args.k * args.k, grid_edges(args.k)
    rng = np.random.default_rng(0)
    g_true = mx.array(rng.uniform(0.5, 2.0, len(edges)), dtype=mx.float64)
    I = mx.array(np.eye(n)[:, 1:], dtype=mx.float64)
    V_meas = ms.linalg.spsolve(laplacian(g_true, edges, n), I)

    def loss(theta):
        V = ms.linalg.spsolve(laplacian(mx.exp(theta), edges, n), I)
        return mx.sum((V - V_meas) ** 2)

    theta = mx.zeros((len(edges),), dtype=mx.float64)  # start from g = 1 everywhere
    value_and_grad = mx.value_and_grad(loss)
    m = mx.zeros_like(theta)
    v = mx.zeros_like(theta)
    first = None
    for step in range(1, args.steps + 1):  # Adam
        val, grad = value_and_grad(theta)
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad * grad
        theta = theta - args.lr * (m / (1 - 0.9 ** step)) / (mx.sqrt(v / (1 - 0.999 ** step)) + 1e-12)
        mx.eval(theta, m, v)
        first = float(val.item()) if first is None else first
        if step == 1 or step % 100 == 0:
            print(f"step {step:4d}  loss {float(val.item()):.3e}")
    err = float(mx.max(mx.abs(mx.exp(theta) - g_true) / g_true).item())
    final = float(loss(theta).item())
    print(f"loss {first:.3e} -> {final:.3e}; largest relative conductance error {err:.2e}")
    if not (final < 1e-4 * first and err < 0.05):
        raise SystemExit("the fit did not converge")


if __name__ == "__main__":
    main()
