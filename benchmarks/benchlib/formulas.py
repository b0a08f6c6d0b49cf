"""The peers' formulas for each op: NumPy expressions, torch tensor ops, a numexpr string
and Numba kernels, written as PyTorch defines the loss (logs clamped at -100, the gradient's
denominator floored at 1e-12), so that their results can be checked against fastbce's."""

from __future__ import annotations

import math

import numpy as np

LOG_CLAMP = -100.0  # torch clamps log(x) and log(1 - x) at -100
GRAD_EPS = 1e-12  # torch's floor for x * (1 - x) in the gradient


def numpy_loss(x, t):
    log_x = np.maximum(np.log(x), LOG_CLAMP)
    log_1mx = np.maximum(np.log1p(-x), LOG_CLAMP)
    return -(t * log_x + (1 - t) * log_1mx).mean()


def numpy_loss_and_grad(x, t):
    grad = (x - t) / np.maximum(x * (1 - x), GRAD_EPS) / x.size
    return numpy_loss(x, t), grad


def numpy_sigmoid(x, e):
    """sigmoid(x) from e = exp(-|x|), without overflow."""
    return np.where(x >= 0, 1, e) / (1 + e)


def numpy_logits_loss_and_grad(x, t):
    e = np.exp(-np.abs(x))
    loss = (np.maximum(x, 0) - x * t + np.log1p(e)).mean()
    return loss, (numpy_sigmoid(x, e) - t) / x.size


def numpy_logits_grad_hess(x, t):
    s = numpy_sigmoid(x, np.exp(-np.abs(x)))
    return s - t, s * (1 - s)


def torch_grad_hess(torch, x, t):
    s = torch.sigmoid(x)
    return s - t, s * (1 - s)


NUMEXPR_LOSS = (
    "-(t * where(log(x) < -100, -100, log(x)) + (1 - t) * where(log1p(-x) < -100, -100, log1p(-x)))"
)


def compile_numba(numba):
    """Parallel Numba kernels; compiled for each dtype by their first (untimed) call."""
    njit, prange = numba.njit, numba.prange

    @njit(parallel=True, fastmath=False)
    def loss(x, t):
        total = 0.0
        for i in prange(x.size):
            xi, ti = x[i], t[i]
            total += ti * max(math.log(xi), LOG_CLAMP) + (1 - ti) * max(math.log1p(-xi), LOG_CLAMP)
        return -total / x.size

    @njit(parallel=True, fastmath=False)
    def loss_and_grad(x, t):
        n = x.size
        grad = np.empty_like(x)
        total = 0.0
        for i in prange(n):
            xi, ti = x[i], t[i]
            total += ti * max(math.log(xi), LOG_CLAMP) + (1 - ti) * max(math.log1p(-xi), LOG_CLAMP)
            grad[i] = (xi - ti) / max(xi * (1 - xi), GRAD_EPS) / n
        return -total / n, grad

    return {"loss": loss, "loss_and_grad": loss_and_grad}
