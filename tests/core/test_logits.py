"""BCE on logits: extreme and infinite logits, closed forms, finite differences, label
smoothing, sums against the truth, float32 accuracy against torch's. (Every crossing of
shape, layout, broadcast, reduction and option against torch is in test_properties.py;
bad input in test_errors.py and test_hostile.py.)"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import assert_close, make, torch_bce

import fastbce

# float32: atol of a few ulp at the largest magnitudes here (weights and pos_weight up to 3
# multiply terms near 1), where a * sigmoid(x) - pw * t cancels in both implementations
TOL = {np.float64: {"rtol": 1e-12, "atol": 1e-14}, np.float32: {"rtol": 1e-5, "atol": 1e-5}}


def close(actual, expected, dtype):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), **TOL[np.dtype(dtype).type])


def torch_logits(x, t, weight=None, reduction="mean", pos_weight=None, grad_output=1.0):
    """(loss, grad) from torch CPU autograd, as NumPy."""
    xt = torch.tensor(np.asarray(x), requires_grad=True)
    opt = {k: None if v is None else torch.tensor(np.asarray(v)) for k, v in
           (("weight", weight), ("pos_weight", pos_weight))}
    loss = F.binary_cross_entropy_with_logits(xt, torch.tensor(np.asarray(t)), reduction=reduction, **opt)
    g = np.broadcast_to(np.asarray(grad_output, dtype=np.asarray(x).dtype), loss.shape).copy()
    loss.backward(torch.tensor(g))
    return loss.detach().numpy(), xt.grad.numpy()


def logits(shape, dtype, seed, scale=4.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


def operand(pattern, shape, dtype, seed):
    rng = np.random.default_rng(seed)
    wshape = {"column": shape[-1:], "row": shape[:-1] + (1,)}[pattern]
    return rng.uniform(0.5, 3.0, size=wshape).astype(dtype)


EXTREME = [1e4, -1e4, 88.7, -88.7, 100.0, -100.0, 20.0, -20.0, 0.0, -0.0, 1e-30, -1e-30]


def test_extreme_logits_are_finite_and_match_torch(dtype, isa):
    x, t = (np.array(v, dtype=dtype).ravel() for v in np.meshgrid(EXTREME, [0.0, 1.0, 0.3]))
    pw = np.full(x.shape, 2.5, dtype)
    for pos_weight in (None, pw):
        ref_loss, ref_grad = torch_logits(x, t, None, "none", pos_weight)
        loss, grad = fastbce.binary_cross_entropy_with_logits_and_grad(x, t, None, "none", pos_weight)
        g, h = fastbce.binary_cross_entropy_with_logits_grad_hess(x, t, None, pos_weight)
        for a in (loss, grad, g, h):
            assert np.all(np.isfinite(a))
        close(loss, ref_loss, dtype)
        close(grad, ref_grad, dtype)
        np.testing.assert_array_equal(g, grad)


def test_infinite_logits_are_accepted():
    x = np.array([np.inf, -np.inf, np.inf, -np.inf])
    t = np.array([0.0, 1.0, 0.5, 0.5])
    ref_loss, ref_grad = torch_logits(x, t, reduction="none")
    loss, grad = fastbce.binary_cross_entropy_with_logits_and_grad(x, t, reduction="none")
    # the loss's limits; torch agrees at +inf, and gives NaN at -inf (inf - inf in its sum)
    np.testing.assert_array_equal(loss, [np.inf] * 4)
    np.testing.assert_array_equal(loss[0::2], ref_loss[0::2])
    assert np.all(np.isnan(ref_loss[1::2]))
    np.testing.assert_array_equal(grad, ref_grad)


def test_grad_and_hess_closed_forms():
    shape = (200, 6)
    x = logits(shape, np.float64, 9, scale=6.0)
    t = make(shape, np.float64, seed=10)
    w = operand("row", shape, np.float64, 11)
    pw = operand("column", shape, np.float64, 12)
    grad, hess = fastbce.binary_cross_entropy_with_logits_grad_hess(x, t, w, pw)
    sig = 1.0 / (1.0 + np.exp(-x))
    one_minus_sig = 1.0 / (1.0 + np.exp(x))  # not 1 - sig: that cancels for large x
    a = pw * t + 1.0 - t
    np.testing.assert_allclose(grad, w * (a * sig - pw * t), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(hess, w * a * sig * one_minus_sig, rtol=1e-12, atol=1e-300)
    assert np.all(hess >= 0)
    # grad_hess's gradient is the unreduced gradient
    np.testing.assert_array_equal(grad, fastbce.binary_cross_entropy_with_logits_grad(x, t, w, "none", pw))


def test_finite_differences():
    shape = (5, 4)
    x = logits(shape, np.float64, 13, scale=3.0)
    t = make(shape, np.float64, seed=14)
    pw = operand("column", shape, np.float64, 15)
    h = 1e-4

    def diff(f):
        vals = [f(x + k * h) for k in (-2, -1, 1, 2)]
        return (vals[0] - 8 * vals[1] + 8 * vals[2] - vals[3]) / (12 * h)

    # elementwise loss depends on its own logit only: the derivative of the "none" loss
    def loss_of(xx):
        return fastbce.binary_cross_entropy_with_logits(xx, t, None, "none", pw)

    def grad_of(xx):
        return fastbce.binary_cross_entropy_with_logits_grad_hess(xx, t, None, pw)[0]

    grad, hess = fastbce.binary_cross_entropy_with_logits_grad_hess(x, t, None, pw)
    np.testing.assert_allclose(grad, diff(loss_of), rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(hess, diff(grad_of), rtol=1e-7, atol=1e-10)


# ------------------------------------------------------------------ label smoothing


@pytest.mark.parametrize("ls", [0.1, 0.5, 0.99])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_label_smoothing_is_keras_rule(dtype, ls, reduction):
    shape = (30, 4)
    t = (make(shape, dtype, seed=16) > 0.5).astype(dtype)
    smoothed = (t * (1 - ls) + 0.5 * ls).astype(dtype)
    x = logits(shape, dtype, 17)
    ref_loss, ref_grad = torch_logits(x, smoothed, None, reduction)
    loss, grad = fastbce.binary_cross_entropy_with_logits_and_grad(x, t, reduction=reduction, label_smoothing=ls)
    close(loss, ref_loss, dtype)
    close(grad, ref_grad, dtype)
    p = make(shape, dtype, seed=18, lo=0.01, hi=0.99)
    ploss, pgrad = fastbce.binary_cross_entropy_and_grad(p, t, reduction=reduction, label_smoothing=ls)
    rloss, rgrad = torch_bce(p, smoothed, None, reduction)
    assert_close(ploss, rloss, dtype)
    assert_close(pgrad, rgrad, dtype)
    crit = fastbce.BCELoss(reduction=reduction, label_smoothing=ls)
    np.testing.assert_array_equal(crit(p, t), ploss)


# ------------------------------------------------------------------ summed through a product

def hostile_logits(dtype):
    """Runs of ordinary logits and soft targets, confident logits (|x| > 14: the per-element
    path), extreme ones, 0/1 labels and lengths that leave partial groups of 32."""
    rng = np.random.default_rng(71)
    parts = []
    for n, scale in [(5000, 3.0), (37, 30.0), (4096, 1.0), (1, 3.0), (700, 200.0)]:
        parts.append((rng.standard_normal(n) * scale, rng.uniform(0, 1, n)))
        parts.append((rng.standard_normal(n) * 3, rng.integers(0, 2, n)))
    for k in range(40):  # confident runs between ordinary ones
        n = int(rng.integers(8, 200))
        parts.append((rng.standard_normal(n) * (40.0 if k % 2 else 3.0), rng.integers(0, 2, n)))
    parts.append((np.array([88.7, -88.7, 1e4, -1e4, 88.7, -1e4]), np.array([1, 1, 0, 0, 0, 1])))
    x = np.concatenate([p[0] for p in parts]).astype(dtype)
    t = np.concatenate([p[1] for p in parts]).astype(dtype)
    return x, t


@pytest.mark.parametrize("weight", [None, 0.75])
@pytest.mark.parametrize("ls", [0.0, 0.2])
def test_sums_against_the_truth(dtype, weight, ls, isa):
    x, t = hostile_logits(dtype)
    w = None if weight is None else np.array(weight, dtype)
    ts = t * (1 - ls) + 0.5 * ls
    wfull = None if w is None else np.full(x.shape, w)
    truth = float(torch_logits(x.astype(np.float64), ts.astype(np.float64), wfull, "sum")[0])
    ref = float(torch_logits(x, ts.astype(dtype), None if w is None else wfull.astype(dtype), "sum")[0])
    loss, grad = fastbce.binary_cross_entropy_with_logits_and_grad(x, t, w, "sum", label_smoothing=ls)
    err = abs(float(loss) - truth)
    if dtype == np.float32:
        assert err <= max(abs(ref - truth), 2**-24 * abs(truth))
    else:
        assert err <= 1e-13 * abs(truth)
    # the gradient has the same bits as without the loss
    alone = fastbce.binary_cross_entropy_with_logits_grad(x, t, w, "sum", label_smoothing=ls)
    np.testing.assert_array_equal(grad, alone)


def test_sums_of_tiny_losses_keep_their_precision(dtype, isa):
    # confident and right: every loss log1p(e^-|x|) is near 1e-6
    rng = np.random.default_rng(72)
    t = rng.integers(0, 2, 50_000).astype(dtype)
    x = (np.where(t == 1, 1, -1) * rng.uniform(13.0, 14.5, t.size)).astype(dtype)
    # exactly log1p(e^-|x|) each (torch's float64 sum cancels here, so it is no truth)
    truth = math.fsum(np.log1p(np.exp(-np.abs(x.astype(np.float64)))))
    got = float(fastbce.binary_cross_entropy_with_logits(x, t, reduction="sum"))
    assert abs(got - truth) <= (2**-24 if dtype == np.float32 else 1e-13) * truth


@pytest.mark.parametrize("weights", [True, False])
def test_bit_identical_across_thread_counts(dtype, weights):
    shape = (1000, 301)
    x, t = logits(shape, dtype, 21), make(shape, dtype, seed=22)
    pw, w = operand("column", shape, dtype, 23), operand("row", shape, dtype, 24)
    if not weights:  # summed through a product (see _kernels.pyx)
        pw = w = None
    runs = [
        fastbce.binary_cross_entropy_with_logits_and_grad(x, t, w, "mean", pw, num_threads=n)
        + fastbce.binary_cross_entropy_with_logits_grad_hess(x, t, w, pw, num_threads=n)
        for n in (1, 2, 3, 8)
    ]
    for run in runs[1:]:
        for a, b in zip(runs[0], run):
            assert np.asarray(a).tobytes() == np.asarray(b).tobytes()


@pytest.mark.parametrize("ls", [0.0, 0.3])
def test_pos_weight_of_ones_gives_the_same_bits_as_none(dtype, ls, isa):
    # without pos_weight the kernels take a = pw t + (1 - t) as exactly 1 (true for every t
    # in [0, 1]: 1 - t rounds by at most 2^-54 below t = 1/2, and the sum rounds it away);
    # pos_weight=ones computes it. Targets with every rounding of 1 - t, and tiny ones.
    rng = np.random.default_rng(31)
    n = 3000
    t = np.concatenate([rng.uniform(0, 1, n), rng.uniform(0, 1e-3, n), 2.0 ** -rng.integers(1, 60, n),
                        [0.0, 1.0, 0.5, np.nextafter(0.5, 0), np.nextafter(1, 0)]]).astype(dtype)
    x = logits(t.shape, dtype, 32, scale=6.0)
    ones = np.ones_like(x)
    for reduction in ("none", "mean"):
        a = fastbce.binary_cross_entropy_with_logits_and_grad(x, t, None, reduction, None,
                                                              label_smoothing=ls)
        b = fastbce.binary_cross_entropy_with_logits_and_grad(x, t, None, reduction, ones,
                                                              label_smoothing=ls)
        for u, v in zip(a, b):
            assert np.asarray(u).tobytes() == np.asarray(v).tobytes()
    assert fastbce.binary_cross_entropy_with_logits(x, t, reduction="none").tobytes() == \
        fastbce.binary_cross_entropy_with_logits(x, t, reduction="none", pos_weight=ones).tobytes()
    gh = fastbce.binary_cross_entropy_with_logits_grad_hess(x, t)
    gh1 = fastbce.binary_cross_entropy_with_logits_grad_hess(x, t, pos_weight=ones)
    for u, v in zip(gh, gh1):
        assert u.tobytes() == v.tobytes()


def test_criterion_object():
    shape = (20, 3)
    x, t = logits(shape, np.float64, 25), make(shape, np.float64, seed=26)
    pw = np.array([1.0, 2.0, 3.0])
    crit = fastbce.BCEWithLogitsLoss(reduction="sum", pos_weight=pw)
    ref_loss, ref_grad = torch_logits(x, t, None, "sum", pw)
    close(crit(x, t), ref_loss, np.float64)
    close(crit.grad(x, t), ref_grad, np.float64)
    loss, grad = crit.loss_and_grad(x, t)
    close(loss, ref_loss, np.float64)
    close(grad, ref_grad, np.float64)
    g, h = crit.grad_hess(x, t)
    close(g, ref_grad, np.float64)
    assert h.shape == shape
    assert crit.pos_weight is pw and "BCEWithLogitsLoss" in repr(crit)


@pytest.mark.parametrize("pw", [None, 1.5])
def test_float32_sums_of_ordinary_logits_are_within_a_rounding(pw):
    # Ordinary logits (|x| < 10) and soft targets: without pos_weight the sum is taken as
    # a float64 linear part plus the log of a product of 1 + exp(-|x|); either way the
    # float32 result is the float64 truth rounded, give or take a rounding
    rng = np.random.default_rng(73)
    x = np.clip(rng.normal(0, 3, 200_000), -10, 10).astype(np.float32)
    t = rng.uniform(0, 1, x.size).astype(np.float32)
    xd, td = x.astype(np.float64), t.astype(np.float64)
    pwd = 1.0 if pw is None else pw
    exact = (1 - td) * xd + (1 + (pwd - 1) * td) * (np.maximum(-xd, 0) + np.log1p(np.exp(-np.abs(xd))))
    truth = math.fsum(exact)
    got = float(fastbce.binary_cross_entropy_with_logits(
        x, t, reduction="sum", pos_weight=None if pw is None else np.float32(pw)))
    assert abs(got - truth) <= 2**-23 * truth
