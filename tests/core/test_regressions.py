"""Regression tests for wrong numbers found in the hand-written C kernels (issue "Kernels in
typed Cython"): each failed there and must pass on every kernel module (CI runs the suite once
per module with FASTBCE_ISA)."""

import warnings

import mpmath
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import torch_bce

import fastbce

REDUCTIONS = ["none", "mean", "sum"]


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_negative_zero_input_is_zero(dtype, reduction):
    # was -710.48 (float64) and -72.09 (float32): -0.0's sign bit went into the log's exponent
    x = np.array([-0.0, 0.0, -0.0, 0.25], dtype)
    t = np.array([1.0, 1.0, 0.0, 0.5], dtype)
    loss = fastbce.binary_cross_entropy(x, t, reduction=reduction)
    ref_loss, ref_grad = torch_bce(x, t, reduction=reduction)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-6)
    if reduction == "none":
        assert loss[0] == 100.0 and loss[1] == 100.0 and loss[2] == 0.0
    _, grad = fastbce.binary_cross_entropy_and_grad(x, t, reduction=reduction)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-6)


def test_float32_subnormal_inputs_take_their_log():
    # inputs in [2.08e-39, 4.16e-39] with t = 1 gave exactly 100 (a scale overflowed to inf)
    x = np.geomspace(1.4e-45, 1.2e-38, 4001).astype(np.float32)
    x = np.unique(np.concatenate([x, np.float32([3e-39, 2.08e-39, 4.16e-39])]))
    t = np.ones_like(x)
    loss = fastbce.binary_cross_entropy(x, t, reduction="none")
    exact = np.minimum(-np.log(x.astype(np.float64)), 100.0)
    assert fastbce.binary_cross_entropy(np.float32(3e-39), np.float32(1)) == pytest.approx(88.70, abs=0.01)
    np.testing.assert_allclose(loss, exact, rtol=4 * 2.0**-24)
    # and 1 - x for t = 0 near 1 (the other log, with its rounding error term)
    y = (1 - x).astype(np.float32)
    l0 = fastbce.binary_cross_entropy(y, np.zeros_like(y), reduction="none")
    with np.errstate(divide="ignore"):
        exact0 = np.minimum(-np.log1p(-y.astype(np.float64)), 100.0)
    np.testing.assert_allclose(l0, exact0, rtol=4 * 2.0**-24)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("g", [np.inf, -np.inf, 1e39])
def test_infinite_grad_output_gives_infinite_gradients(reduction, g):
    # was all-NaN on AVX2: the scale's hi/lo split made inf - inf
    x = np.array([0.2, 0.7, 0.5, 0.9], np.float32)
    t = np.array([0.1, 0.9, 0.5, 0.2], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = fastbce.binary_cross_entropy_grad(x, t, reduction=reduction, grad_output=g)
    _, ref = torch_bce(x, t, reduction=reduction, grad_output=np.float32(np.inf) * np.sign(g))
    np.testing.assert_array_equal(got, ref)  # NaN where x == t (0 * inf), +-inf elsewhere
    assert np.isinf(got[[0, 1, 3]]).all()


def test_subnormal_grad_output_scale_is_exact():
    # was 0.4% off when grad_output / N is a float32 subnormal
    n = 1000
    x = np.linspace(0.05, 0.95, n).astype(np.float32)
    t = np.linspace(0.9, 0.1, n).astype(np.float32)
    g = 3e-36  # g / n = 3e-39: subnormal in float32
    got = fastbce.binary_cross_entropy_grad(x, t, reduction="mean", grad_output=g)
    xd, td = x.astype(np.float64), t.astype(np.float64)
    exact = (g / n) * (xd - td) / (xd * (1 - xd))
    # the float32 result of a subnormal is exact to its spacing (2^-149), not relatively
    np.testing.assert_allclose(got, exact, rtol=1e-6, atol=2.0**-149)


@pytest.mark.parametrize("pw", [1e-4, 1e-8, 1e-20])
def test_grad_hess_with_small_pos_weight(dtype, pw):
    # (pw t + 1) - t cancelled: pw = 1e-4 was 5e-5 off, pw = 1e-8 gave hess and grad of 0
    x = np.linspace(-5, 5, 41).astype(dtype)
    t = np.ones_like(x)
    grad, hess = fastbce.binary_cross_entropy_with_logits_grad_hess(x, t, pos_weight=dtype(pw))
    xd, a = x.astype(np.float64), float(dtype(pw))  # a = pw t + (1 - t) = pw at t = 1
    s = 1 / (1 + np.exp(-xd))
    np.testing.assert_allclose(grad, a * s - a, rtol=2e-6)
    np.testing.assert_allclose(hess, a * s * (1 - s), rtol=2e-6)
    assert (hess > 0).all()


def _exact_logits(x, t, pw):
    """loss and grad of the logits loss in 50-digit arithmetic (mpmath)."""
    mpmath.mp.dps = 50
    loss, grad = [], []
    for xi, ti, pi in zip(x.tolist(), t.tolist(), pw.tolist()):
        xm, tm, pm = mpmath.mpf(xi), mpmath.mpf(ti), mpmath.mpf(pi)
        sp = mpmath.log1p(mpmath.exp(-xm))  # softplus(-x)
        loss.append(float((1 - tm) * xm + (1 + (pm - 1) * tm) * sp))
        sig = 1 / (1 + mpmath.exp(-xm))
        grad.append(float((pm * tm + 1 - tm) * sig - pm * tm))
    return np.array(loss), np.array(grad)


def test_float64_logits_against_the_exact_values():
    # accuracy is promised against the exact value, not against torch (whose float64 gradient
    # with soft targets is itself ~2e-12 off where the terms cancel)
    rng = np.random.default_rng(11)
    x = np.concatenate([rng.normal(0, 4, 400), [0.0, -0.0, 30.0, -30.0, 700.0, -700.0]])
    t = rng.uniform(0, 1, x.size)
    pw = rng.uniform(0.1, 5, x.size)
    loss = fastbce.binary_cross_entropy_with_logits(x, t, pos_weight=pw, reduction="none")
    grad = fastbce.binary_cross_entropy_with_logits_grad(x, t, pos_weight=pw, reduction="sum")
    e_loss, e_grad = _exact_logits(x, t, pw)
    np.testing.assert_allclose(loss, e_loss, rtol=1e-14)
    # the gradient is a difference: its error is relative to the size of its terms
    scale = (pw * t + 1 - t) + pw * t
    assert (np.abs(grad - e_grad) <= 8 * 2.0**-53 * scale).all()


def test_no_overflow_warnings_leak():
    # float32 sums that overflow and huge float64 weights on float32 inputs: inf, silently,
    # as in torch
    x = np.full(1000, 1e-30, np.float32)
    t = np.ones_like(x)
    w = np.full(1000, 1e38, np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = fastbce.binary_cross_entropy(x, t, w, reduction="sum")
        big = fastbce.binary_cross_entropy(x, t, np.full(1000, 1e300), reduction="none")
        lw = fastbce.binary_cross_entropy_with_logits(x, t, weight=1e300, reduction="mean")
    ref = F.binary_cross_entropy(torch.tensor(x), torch.tensor(t), torch.tensor(w), reduction="sum")
    assert np.isinf(s) and s.dtype == np.float32 and torch.isinf(ref)
    assert big.dtype == np.float32 and np.isinf(big).all()
    assert np.isinf(lw)


# ------------------------------------------------------------------ found by the property and hostile tests
# (issue 13); each failed before its fix.


def test_zero_d_operands_that_need_a_cast_keep_their_shape():
    # a Python float with an int target, a float16 scalar, a big-endian scalar
    assert fastbce.binary_cross_entropy(0.25, 1, reduction="none").shape == ()
    assert fastbce.binary_cross_entropy(np.float16(0.25), np.float16(1), reduction="none").shape == ()
    x = np.array(0.25, ">f8")
    assert fastbce.binary_cross_entropy_grad(x, x, reduction="none").shape == ()
    assert fastbce.binary_cross_entropy_with_logits(np.float32(0.5), 1.0) == pytest.approx(0.474077, rel=1e-5)


@pytest.mark.parametrize("pw", [1e-4, 1e-8, 1e-20])
def test_logits_loss_with_small_pos_weight(dtype, pw):
    x = np.linspace(-5, 5, 41).astype(dtype)
    t = np.ones_like(x)
    loss = fastbce.binary_cross_entropy_with_logits(x, t, pos_weight=dtype(pw), reduction="none")
    pwd = float(dtype(pw))
    exact = [float(mpmath.mpf(pwd) * mpmath.log1p(mpmath.exp(-mpmath.mpf(float(v))))) for v in x]
    # t = 1: loss = pw softplus(-x), a product: a few roundings
    np.testing.assert_allclose(loss, exact, rtol=8 * float(np.finfo(dtype).eps))


def test_float16_results_overflow_silently():
    x = np.array([0.0, 0.5], np.float16)
    t = np.array([1.0, 0.5], np.float16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        grad = fastbce.binary_cross_entropy_grad(x, t, reduction="sum")  # -1/eps: beyond float16
        out = np.empty(2, np.float16)
        fastbce.binary_cross_entropy_grad(x, t, reduction="sum", out=out)
    assert grad[0] == -np.inf and out[0] == -np.inf


@pytest.mark.parametrize("reduction", ["none", "sum"])
def test_loss_of_a_right_infinite_logit_is_zero(dtype, reduction):
    x = np.array([np.inf, -np.inf], dtype)
    t = np.array([1.0, 0.0], dtype)
    loss = fastbce.binary_cross_entropy_with_logits(x, t, reduction=reduction)
    np.testing.assert_array_equal(loss, np.zeros(2, dtype) if reduction == "none" else 0.0)
    loss_pw = fastbce.binary_cross_entropy_with_logits(x, t, pos_weight=dtype(3), reduction=reduction)
    np.testing.assert_array_equal(loss_pw, loss)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_misaligned_arrays_are_copied_not_read_misaligned(dtype):
    """A view at an odd byte offset is C-contiguous but not aligned: the kernels read whole,
    aligned elements (UBSan reported the misaligned loads), so it is copied; the results
    are those of an aligned copy, and a misaligned out= is filled."""
    n = 3000
    size = np.dtype(dtype).itemsize

    def misaligned(values):
        raw = np.zeros(n * size + 1, np.uint8)
        view = np.frombuffer(raw.data, dtype=dtype, count=n, offset=1)
        assert not view.flags.aligned and view.flags.writeable
        view[...] = values
        return view

    rng = np.random.default_rng(0)
    x = rng.uniform(0.01, 0.99, n).astype(dtype)
    t = rng.uniform(0, 1, n).astype(dtype)
    mx, mt = misaligned(x), misaligned(t)
    np.testing.assert_array_equal(mx, x)
    for fn in (fastbce.binary_cross_entropy_and_grad,
               fastbce.binary_cross_entropy_with_logits_and_grad):
        got = fn(mx, mt, misaligned(t), reduction="none")
        want = fn(x, t, t, reduction="none")
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
    out = misaligned(np.zeros(n, dtype))
    res = fastbce.binary_cross_entropy_grad(mx, mt, reduction="sum", out=out)
    assert res is out
    np.testing.assert_array_equal(out, fastbce.binary_cross_entropy_grad(x, t, reduction="sum"))
