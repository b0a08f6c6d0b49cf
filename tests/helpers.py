"""Test helpers: the torch reference and data makers. torch is imported directly, so the
suite fails (not skips) where it is missing."""

import numpy as np
import torch
import torch.nn.functional as F

# tolerances against torch: float64 evaluates torch's own formula in the same order, float32
# is evaluated in float64 and rounded once (at least as accurate as torch's float32 math)
TOL = {np.float64: {"rtol": 1e-12, "atol": 0.0}, np.float32: {"rtol": 1e-5, "atol": 1e-7}}


def torch_bce(x, t, weight=None, reduction="mean", grad_output=1.0):
    """(loss, grad) from torch CPU autograd, as NumPy."""
    xt = torch.tensor(np.asarray(x), requires_grad=True)
    tt = torch.tensor(np.asarray(t))
    wt = None if weight is None else torch.tensor(np.asarray(weight))
    loss = F.binary_cross_entropy(xt, tt, weight=wt, reduction=reduction)
    g = np.asarray(grad_output, dtype=np.asarray(x).dtype)
    gt = torch.tensor(np.broadcast_to(g, loss.shape).copy())
    loss.backward(gt)
    return loss.detach().numpy(), xt.grad.numpy()


def make(shape, dtype, seed=0, lo=0.0, hi=1.0):
    rng = np.random.default_rng(seed)
    return rng.uniform(lo, hi, size=shape).astype(dtype)


def assert_close(actual, expected, dtype):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), **TOL[np.dtype(dtype).type])
