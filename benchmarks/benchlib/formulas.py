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


def numpy_loss_over_axis(x, t, axis):
    """The mean loss over ``axis`` of a 2-D input: the per-element loss, then its mean."""
    log_x = np.maximum(np.log(x), LOG_CLAMP)
    log_1mx = np.maximum(np.log1p(-x), LOG_CLAMP)
    return -(t * log_x + (1 - t) * log_1mx).mean(axis=axis)


def torch_loss_over_axis(torch, x, t, axis):
    """The torch idiom: ``reduction="none"``, then ``.mean(dim)``."""
    return torch.nn.functional.binary_cross_entropy(x, t, reduction="none").mean(dim=axis)


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


def numpy_masked_loss_and_grad(x, t, keep):
    """A mean over the kept elements, as NumPy users write it: the missing labels filled,
    then the loss multiplied by the mask."""
    count = keep.sum()
    tf = np.where(keep, t, 0)
    log_x = np.maximum(np.log(x), LOG_CLAMP)
    log_1mx = np.maximum(np.log1p(-x), LOG_CLAMP)
    loss = -((tf * log_x + (1 - tf) * log_1mx) * keep).sum() / count
    grad = (x - tf) / np.maximum(x * (1 - x), GRAD_EPS) * keep / count
    return loss, grad


def torch_masked_loss(torch, x, t, keep):
    """The torch idiom for missing labels: per-element loss times the mask, over the count."""
    tf = torch.where(keep, t, torch.zeros_like(t))
    per = torch.nn.functional.binary_cross_entropy(x, tf, reduction="none")
    return (per * keep).sum() / keep.sum()


def numpy_weighted_loss_and_grad(x, t, w):
    log_x = np.maximum(np.log(x), LOG_CLAMP)
    log_1mx = np.maximum(np.log1p(-x), LOG_CLAMP)
    wsum = w.sum()
    loss = -(w * (t * log_x + (1 - t) * log_1mx)).sum() / wsum
    return loss, w * (x - t) / np.maximum(x * (1 - x), GRAD_EPS) / wsum


def torch_weighted_mean(torch, x, t, w):
    per = torch.nn.functional.binary_cross_entropy(x, t, w, reduction="sum")
    return per / w.sum()


FOCAL_ALPHA, FOCAL_GAMMA = 0.25, 2.0


def torch_focal(torch, x, t):
    """torchvision.ops.sigmoid_focal_loss (its own code when installed, else its formula),
    reduced by the mean."""
    try:
        from torchvision.ops import sigmoid_focal_loss
    except ImportError:
        p = torch.sigmoid(x)
        ce = torch.nn.functional.binary_cross_entropy_with_logits(x, t, reduction="none")
        p_t = p * t + (1 - p) * (1 - t)
        loss = ce * ((1 - p_t) ** FOCAL_GAMMA)
        loss = (FOCAL_ALPHA * t + (1 - FOCAL_ALPHA) * (1 - t)) * loss
        return loss.mean()
    return sigmoid_focal_loss(x, t, FOCAL_ALPHA, FOCAL_GAMMA, reduction="mean")


def numpy_focal_loss_and_grad(x, t):
    """The focal loss and its analytic gradient, written plainly in NumPy."""
    e = np.exp(-np.abs(x))
    s = numpy_sigmoid(x, e)
    ce = np.maximum(x, 0) - x * t + np.log1p(e)
    u = t * (1 - s) + (1 - t) * s
    a = FOCAL_ALPHA * t + (1 - FOCAL_ALPHA) * (1 - t)
    ug = u**FOCAL_GAMMA
    loss = (a * ce * ug).mean()
    grad = a * ug * ((s - t) + FOCAL_GAMMA * (1 - 2 * t) * ce * s * (1 - s) / u) / x.size
    return loss, grad


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
