"""BCE on logits: against torch, extreme logits, closed forms, finite differences, label
smoothing, pos_weight broadcasting and bad input."""

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


SHAPES = {"0d": (), "empty": (0, 3), "1d": (7,), "2d": (6, 5), "4d": (2, 3, 4, 5), "large": (300, 257)}


def operand(pattern, shape, dtype, seed):
    rng = np.random.default_rng(seed)
    if pattern == "none":
        return None
    if pattern == "scalar":
        return dtype(rng.uniform(0.5, 3.0))
    wshape = {"column": shape[-1:], "row": shape[:-1] + (1,), "full": shape}[pattern]
    return rng.uniform(0.5, 3.0, size=wshape).astype(dtype)


def grid():
    for sname, shape in SHAPES.items():
        for pw in ("none", "scalar", "column"):
            for w in ("none", "row", "full"):
                if not shape and ("column" in (pw,) or w == "row"):
                    continue
                if len(shape) < 2 and w == "row":
                    continue
                yield pytest.param(shape, pw, w, id=f"{sname}-pw_{pw}-w_{w}")


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape,pw,w", list(grid()))
def test_against_torch(dtype, isa, shape, pw, w, reduction):
    x = logits(shape, dtype, 1)
    t = make(shape, dtype, seed=2)
    weight = operand(w, shape, dtype, 3)
    pos_weight = operand(pw, shape, dtype, 4)
    ref_loss, ref_grad = torch_logits(x, t, weight, reduction, pos_weight)
    loss = fastbce.binary_cross_entropy_with_logits(x, t, weight, reduction, pos_weight)
    grad = fastbce.binary_cross_entropy_with_logits_grad(x, t, weight, reduction, pos_weight)
    fused = fastbce.binary_cross_entropy_with_logits_and_grad(x, t, weight, reduction, pos_weight)
    for value in (loss, fused[0]):
        assert np.asarray(value).dtype == dtype and np.shape(value) == (shape if reduction == "none" else ())
        close(value, ref_loss, dtype)
    for value in (grad, fused[1]):
        assert value.dtype == dtype and value.shape == shape
        close(value, ref_grad, dtype)
    np.testing.assert_array_equal(fused[0], loss)
    np.testing.assert_array_equal(fused[1], grad)


@pytest.mark.parametrize("reduction,grad_output", [("mean", 2.5), ("sum", -0.5), ("none", "array")])
def test_grad_output_against_torch(dtype, reduction, grad_output):
    shape = (40, 9)
    if grad_output == "array":
        grad_output = make(shape, dtype, seed=5, lo=-2.0, hi=2.0)
    x, t = logits(shape, dtype, 6), make(shape, dtype, seed=7)
    pw = operand("column", shape, dtype, 8)
    _, ref = torch_logits(x, t, None, reduction, pw, grad_output)
    got = fastbce.binary_cross_entropy_with_logits_grad(x, t, None, reduction, pw, grad_output=grad_output)
    close(got, ref, dtype)


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


@pytest.mark.parametrize("ls,exc", [(1.0, ValueError), (-0.1, ValueError), (np.nan, ValueError),
                                    ("0.1", TypeError), (True, TypeError), (False, TypeError),
                                    (0j, TypeError), (np.zeros(2), TypeError), (None, TypeError)])
def test_bad_label_smoothing(ls, exc):
    x = np.zeros(3)
    with pytest.raises(exc, match="label_smoothing"):
        fastbce.binary_cross_entropy_with_logits(x, x, label_smoothing=ls)
    with pytest.raises(exc, match="label_smoothing"):
        fastbce.binary_cross_entropy(x + 0.5, x, label_smoothing=ls)
    with pytest.raises(exc, match="label_smoothing"):
        fastbce.binary_cross_entropy_and_grad(x + 0.5, x, label_smoothing=ls)
    with pytest.raises(exc, match="label_smoothing"):
        fastbce.BCEWithLogitsLoss(label_smoothing=ls)


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


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize("n,pos", [(5, 2), (100_003, 77_777), (100_003, 31)])
def test_nan_logits_raise(dtype, n, pos, isa):
    x = np.zeros(n, dtype)
    x[pos] = np.nan
    for f in (fastbce.binary_cross_entropy_with_logits, fastbce.binary_cross_entropy_with_logits_grad,
              fastbce.binary_cross_entropy_with_logits_and_grad):
        for reduction in ("mean", "sum", "none"):
            with pytest.raises(ValueError, match="NaN"):
                f(x, np.zeros(n, dtype), reduction=reduction)
    with pytest.raises(ValueError, match="NaN"):
        fastbce.binary_cross_entropy_with_logits_grad_hess(x, np.zeros(n, dtype))


@pytest.mark.parametrize("bad", [1.5, -0.1, np.nan])
@pytest.mark.parametrize("pos", [0, 40_000, 99_000])
def test_target_outside_unit_interval_raises(dtype, bad, pos, isa):
    t = np.full(100_003, 0.5, dtype)
    t[pos] = bad
    x = np.zeros(100_003, dtype)
    with pytest.raises(ValueError, match="all elements of target should be between 0 and 1"):
        fastbce.binary_cross_entropy_with_logits_grad_hess(x, t)
    for reduction in ("mean", "sum"):
        with pytest.raises(ValueError, match="all elements of target should be between 0 and 1"):
            fastbce.binary_cross_entropy_with_logits_and_grad(x, t, reduction=reduction)


def test_bad_shapes_and_types():
    x = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"pos_weight shape \(4,\) does not broadcast"):
        fastbce.binary_cross_entropy_with_logits(x, x, pos_weight=np.ones(4))
    with pytest.raises(ValueError, match="target shape"):
        fastbce.binary_cross_entropy_with_logits(x, x[:, :2])
    with pytest.raises(TypeError, match="pos_weight"):
        fastbce.binary_cross_entropy_with_logits(x, x, pos_weight=np.ones(3, complex))
    with pytest.raises(ValueError, match="read-only"):
        ro = np.empty((4, 3))
        ro.flags.writeable = False
        fastbce.binary_cross_entropy_with_logits_grad_hess(x, x, hess_out=ro)


def test_inputs_are_never_modified():
    x, t = logits((50, 3), np.float64, 19), make((50, 3), np.float64, seed=20)
    pw, w = np.ones(3) * 2, np.ones((50, 1))
    saved = [a.copy() for a in (x, t, pw, w)]
    fastbce.binary_cross_entropy_with_logits_and_grad(x, t, w, "none", pw, label_smoothing=0.2)
    fastbce.binary_cross_entropy_with_logits_grad_hess(x, t, w, pw)
    for a, b in zip((x, t, pw, w), saved):
        np.testing.assert_array_equal(a, b)


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
