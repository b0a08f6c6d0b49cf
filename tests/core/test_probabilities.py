"""BCE on probabilities: the seed examples, exact edge values, sums of 0/1 targets against
the truth, finite differences, float32 accuracy against torch's. (Every crossing of shape,
layout, weight broadcast, reduction and option against torch is in test_properties.py.)"""

import math

import numpy as np
import pytest
import torch
from helpers import assert_close, make, torch_bce
from torch import nn

import fastbce

# ------------------------------------------------------------------ the seed document

SEED_INPUT = [0.3440, 0.7944, 0.8919, 0.3551, 0.9817, 0.8871]
SEED_TARGET = [0.1639, 0.4745, 0.1537, 0.5444, 0.6933, 0.1129]


def test_seed_example_1_printed_loss_and_backward():
    x = np.array(SEED_INPUT, dtype=np.float32)
    t = np.array(SEED_TARGET, dtype=np.float32)
    loss = fastbce.BCELoss()(x, t)
    assert isinstance(loss, np.float32)
    assert round(float(loss), 4) == 1.2200  # the value the seed prints
    ref_loss, ref_grad = torch_bce(x, t)
    assert_close(loss, ref_loss, np.float32)
    assert_close(fastbce.BCELoss().grad(x, t), ref_grad, np.float32)


def test_seed_example_2_criterion_on_2d():
    # input = torch.rand(3, 5); target = torch.randn(3, 5).softmax(dim=1)
    gen = torch.Generator().manual_seed(0)
    xt = torch.rand(3, 5, generator=gen, requires_grad=True)
    tt = torch.randn(3, 5, generator=gen).softmax(dim=1)
    out = nn.BCELoss()(xt, tt)
    out.backward()
    crit = fastbce.BCELoss()
    x, t = xt.detach().numpy(), tt.numpy()
    loss, grad = crit.loss_and_grad(x, t)
    assert_close(crit(x, t), out.item(), np.float32)
    assert_close(loss, out.item(), np.float32)
    assert_close(grad, xt.grad.numpy(), np.float32)


def test_mean_of_empty_is_nan_and_sum_is_zero(dtype):
    x = np.empty((0, 3), dtype)
    assert np.isnan(fastbce.binary_cross_entropy(x, x))
    assert fastbce.binary_cross_entropy(x, x, reduction="sum") == 0
    loss, grad = fastbce.binary_cross_entropy_and_grad(x, x)
    assert np.isnan(loss) and grad.shape == (0, 3) and grad.dtype == dtype


# ------------------------------------------------------------------ exact values at the edges

EDGE_X = [0.0, 1.0, 1e-30, 1 - 1e-7, 0.5]
EDGE_T = [0.0, 1.0, 0.5, 0.3]


def test_edges_against_torch(dtype, isa):
    x, t = (np.array(v, dtype=dtype).ravel() for v in np.meshgrid(EDGE_X, EDGE_T))
    ref_loss, ref_grad = torch_bce(x, t, reduction="none")
    loss, grad = fastbce.binary_cross_entropy_and_grad(x, t, reduction="none")
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))
    assert_close(loss, ref_loss, dtype)
    assert_close(grad, ref_grad, dtype)


def test_exact_clamp_and_eps_values(dtype, isa):
    x = np.array([0.0, 1.0, 0.0, 1.0], dtype)
    t = np.array([1.0, 0.0, 0.0, 1.0], dtype)
    loss, grad = fastbce.binary_cross_entropy_and_grad(x, t, reduction="none")
    # each log is clamped at -100, so a confident wrong answer costs exactly 100
    np.testing.assert_array_equal(loss, np.array([100.0, 100.0, 0.0, 0.0], dtype))
    # the gradient divides by max(x(1-x), eps), eps being float32(1e-12) for every dtype
    eps = np.float64(np.float32(1e-12))
    np.testing.assert_array_equal(grad, np.array([-1 / eps, 1 / eps, 0.0, 0.0]).astype(dtype))


def test_sum_of_clamped_losses_is_exact(isa):
    x = np.zeros(100_001)
    t = np.ones(100_001)
    assert fastbce.binary_cross_entropy(x, t, reduction="sum") == 100.0 * 100_001
    assert fastbce.binary_cross_entropy(x, t) == 100.0


# ------------------------------------------------------------------ 0/1 targets, summed as a product

def hostile_hard_mix(dtype):
    """0/1 targets in runs that take the product path and runs that must not: confident
    predictions, tiny and subnormal x, exact 0 and 1 (clamped and zero losses), soft targets,
    hard and soft alternating run by run, and lengths that leave partial groups."""
    rng = np.random.default_rng(61)
    tiny = np.finfo(dtype).smallest_subnormal * 64
    xs, ts = [], []

    def run(n, x, t):
        xs.append(np.broadcast_to(np.asarray(x, dtype), n))
        ts.append(np.broadcast_to(np.asarray(t, dtype), n))

    for n in (5000, 37, 4096, 1):
        t = rng.integers(0, 2, n)
        run(n, rng.uniform(0, 1, n), t)
        u = rng.uniform(0, 1e-6, n)
        run(n, np.where(t == 1, 1 - u, u), t)  # confident and right
    for x, t in [(1e-30, 0), (1e-30, 1), (tiny, 1), (tiny, 0), (0, 1), (1, 0), (1, 1), (0, 0)]:
        run(33, x, t)
        run(3000, rng.uniform(0, 1, 3000), rng.integers(0, 2, 3000))
    for k in range(40):  # hard and soft runs of a few groups each
        n = int(rng.integers(8, 200))
        run(n, rng.uniform(0, 1, n), rng.integers(0, 2, n) if k % 2 else rng.uniform(0, 1, n))
    return np.concatenate(xs), np.concatenate(ts)


def exact_losses(x, t):
    """The float64 truth of every element's loss (x and t exact in float64)."""
    x, t = np.asarray(x, np.float64), np.asarray(t, np.float64)
    with np.errstate(divide="ignore"):
        lx = np.maximum(np.log(x), -100.0)
        l1x = np.maximum(np.log1p(-x), -100.0)
    return (t - 1) * l1x - t * lx


@pytest.mark.parametrize("weight", [None, 0.75])
def test_hard_target_sums_against_the_truth(dtype, weight, isa):
    x, t = hostile_hard_mix(dtype)
    w = None if weight is None else np.array(weight, dtype)
    truth = math.fsum(exact_losses(x, t) * (1.0 if weight is None else float(w)))
    got = fastbce.binary_cross_entropy(x, t, w, reduction="sum")
    ref = torch_bce(x, t, None if w is None else np.full(x.shape, w), "sum")[0]
    err, torch_err = abs(float(got) - truth), abs(float(ref) - truth)
    if dtype == np.float32:
        assert err <= max(torch_err, 2**-24 * abs(truth))
    else:
        assert err <= 1e-13 * abs(truth)
    # the same as the per-element losses, summed
    elements = fastbce.binary_cross_entropy(x, t, w, reduction="none")
    np.testing.assert_allclose(float(got), math.fsum(elements.astype(np.float64)),
                               rtol=2**-22 if dtype == np.float32 else 1e-13)


@pytest.mark.parametrize("n", [1, 15, 16, 17, 100, 255, 257, 1000, 8191, 8193, 20001])
def test_hard_target_sums_of_any_length_against_the_truth(dtype, n, isa):
    # float64 takes the product path on partial chunks too (the array's last, and the last
    # of every block): lengths around the chunk (256) and block (8192) sizes, with elements
    # outside the path (q tiny, 0 or near 1) among them
    rng = np.random.default_rng(n)
    t = rng.integers(0, 2, n).astype(dtype)
    x = rng.uniform(0, 1, n)
    pick = rng.integers(0, n, max(1, n // 50))
    x[pick] = rng.choice([0.0, 1e-300, 1e-30, 1 - 2**-30, 1.0, 0.5], pick.size)
    x = x.astype(dtype)
    truth = math.fsum(exact_losses(x, t))
    for threads in (1, 2):
        got = float(fastbce.binary_cross_entropy(x, t, reduction="sum", num_threads=threads))
        assert abs(got - truth) <= (2**-22 if dtype == np.float32 else 1e-13) * abs(truth) + 1e-300
        loss, grad = fastbce.binary_cross_entropy_and_grad(x, t, reduction="sum",
                                                           num_threads=threads)
        assert float(loss) == got
        alone = fastbce.binary_cross_entropy_grad(x, t, reduction="sum", num_threads=threads)
        np.testing.assert_array_equal(grad, alone)


@pytest.mark.parametrize("x", [1e-18, 1e-25, 1e-30, 1e-40, 3e-39])
def test_hard_target_sums_of_confident_wrong_predictions(dtype, x, isa):
    # every element a tiny factor, around the product path's lower bounds (float64 2^-63,
    # float32 2^-126): thousands of them in a row must not underflow a product lane
    n = 5000
    xs = np.full(n, x, dtype)
    ts = np.ones(n, dtype)
    truth = math.fsum(exact_losses(xs, ts))
    got = float(fastbce.binary_cross_entropy(xs, ts, reduction="sum"))
    assert abs(got - truth) <= (2**-22 if dtype == np.float32 else 1e-13) * abs(truth)


@pytest.mark.parametrize("weight", [np.inf, 1e37, 1e-43, 0.0, -2.0])
def test_hard_target_sums_with_extreme_single_weights(dtype, weight, isa):
    # extreme single weights: each loss is weighted in the input's dtype, as torch does
    # (overflow to inf, underflow, 0 * inf) -- no weight is ever applied to a sum
    x = np.full(64, 0.5, dtype)
    x[0], x[1] = 1.0, np.finfo(dtype).tiny
    t = np.ones(64, dtype)
    w = np.array(weight, dtype)
    for reduction in ("sum", "mean"):
        got = fastbce.binary_cross_entropy(x, t, w, reduction=reduction)
        ref = torch_bce(x, t, np.full(x.shape, w), reduction)[0]
        if np.isfinite(ref):
            assert_close(got, ref, dtype)
        else:
            np.testing.assert_equal(got, ref)


def test_hard_target_sums_of_tiny_losses_keep_their_precision(dtype, isa):
    # all losses near 1e-6 (and 1e-30): a product of factors near 1 would round them away
    n = 50_000
    t = (make(n, dtype, seed=62) > 0.5).astype(dtype)
    u = make(n, np.float64, seed=63, lo=1e-7, hi=2e-6)
    x = np.where(t == 1, 1 - u, u).astype(dtype)
    x[::7] = np.where(t[::7] == 1, 1, 1e-30)
    truth = math.fsum(exact_losses(x, t))
    got = float(fastbce.binary_cross_entropy(x, t, reduction="sum"))
    assert abs(got - truth) <= (2**-24 if dtype == np.float32 else 1e-13) * truth


@pytest.mark.parametrize("confident", [0.0, 0.01, 0.05, 0.15, 0.3, 0.6, 1.0])
def test_hard_target_sums_with_any_share_of_confident_predictions(dtype, confident, isa):
    # confident predictions (losses below the product path's window) in any share: a few
    # per chunk are summed one by one beside the product, many send their chunks to the
    # one-log path; every share gives the truth, and the same gradient fused or alone
    n = 20_000
    rng = np.random.default_rng(int(confident * 100))
    t = rng.integers(0, 2, n).astype(dtype)
    u = np.where(rng.uniform(0, 1, n) < confident, rng.uniform(1e-9, 1e-4, n),
                 rng.uniform(0.01, 0.99, n))
    x = np.where(t == 1, 1 - u, u).astype(dtype)
    truth = math.fsum(exact_losses(x, t))
    for threads in (1, 2):
        loss, grad = fastbce.binary_cross_entropy_and_grad(x, t, reduction="sum",
                                                           num_threads=threads)
        assert abs(float(loss) - truth) <= (2**-22 if dtype == np.float32 else 1e-13) * truth
        assert float(fastbce.binary_cross_entropy(x, t, reduction="sum",
                                                  num_threads=threads)) == float(loss)
        alone = fastbce.binary_cross_entropy_grad(x, t, reduction="sum", num_threads=threads)
        np.testing.assert_array_equal(grad, alone)


def test_hard_target_gradient_is_the_same_with_or_without_the_loss(dtype, isa):
    x, t = hostile_hard_mix(dtype)
    for reduction in ("mean", "sum"):
        _, fused = fastbce.binary_cross_entropy_and_grad(x, t, reduction=reduction)
        alone = fastbce.binary_cross_entropy_grad(x, t, reduction=reduction)
        np.testing.assert_array_equal(fused, alone)
        ref = torch_bce(x, t, None, reduction)[1]
        assert_close(fused, ref, dtype)


# ------------------------------------------------------------------ gradients vs finite differences


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gradient_matches_fourth_order_differences(reduction, isa):
    shape = (6, 5)
    x = make(shape, np.float64, seed=11, lo=0.05, hi=0.95)
    t = make(shape, np.float64, seed=12)
    w = make((5,), np.float64, seed=13, lo=0.5, hi=2.0)
    h = 1e-4

    def f(xx):
        # total loss; for "none" the elementwise losses depend on their own x only
        return np.sum(fastbce.binary_cross_entropy(xx, t, w, reduction))

    numeric = np.empty(shape)
    for idx in np.ndindex(shape):
        vals = []
        for k in (-2, -1, 1, 2):
            xx = x.copy()
            xx[idx] += k * h
            vals.append(f(xx))
        fm2, fm1, fp1, fp2 = vals
        numeric[idx] = (fm2 - 8 * fm1 + 8 * fp1 - fp2) / (12 * h)
    analytic = fastbce.binary_cross_entropy_grad(x, t, w, reduction)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-7, atol=1e-10)


# ------------------------------------------------------------------ float32 accuracy

# the documented bounds on float32 elements, relative to the exact value: the loss within
# 4 ulp (two vectorised logs, ~1 ulp each, and the combination), the gradient within 5 half-ulp
# roundings; sums are taken in float64 and end within one rounding
F32_LOSS_REL = 8 * 2**-24
F32_GRAD_REL = 5 * 2**-24


@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_float32_at_least_as_accurate_as_torch(reduction, isa):
    n = 200_000
    x = make(n, np.float32, seed=21, lo=1e-6, hi=1 - 1e-6)
    t = make(n, np.float32, seed=22)
    # the truth: torch's float64 evaluation on exactly the same float32 values
    truth_loss, truth_grad = torch_bce(x.astype(np.float64), t.astype(np.float64), None, reduction)
    torch_loss, torch_grad = torch_bce(x, t, None, reduction)
    loss, grad = fastbce.binary_cross_entropy_and_grad(x, t, reduction=reduction)

    def rel_err(a, truth):
        return np.max(np.abs(np.asarray(a, np.float64) - truth) / np.abs(truth))

    assert rel_err(loss, truth_loss) <= rel_err(torch_loss, truth_loss)
    assert rel_err(grad, truth_grad) <= rel_err(torch_grad, truth_grad)
    # and a few roundings from the truth, as documented
    assert rel_err(loss, truth_loss) <= (F32_LOSS_REL if reduction == "none" else 2**-24)
    assert rel_err(grad, truth_grad) <= F32_GRAD_REL


def test_float32_agrees_with_float64(isa):
    x = make((300, 301), np.float64, seed=31, lo=1e-4, hi=1 - 1e-4)
    t = make((300, 301), np.float64, seed=32)
    x32, t32 = x.astype(np.float32), t.astype(np.float32)
    for reduction in ("none", "mean", "sum"):
        l32, g32 = fastbce.binary_cross_entropy_and_grad(x32, t32, reduction=reduction)
        l64, g64 = fastbce.binary_cross_entropy_and_grad(
            x32.astype(np.float64), t32.astype(np.float64), reduction=reduction
        )
        # same inputs, different output precision: a few float32 roundings apart
        np.testing.assert_allclose(l32, l64, rtol=F32_LOSS_REL if reduction == "none" else 2**-24)
        np.testing.assert_allclose(g32, g64, rtol=F32_GRAD_REL)


def test_float16_is_computed_in_float32_and_returned_as_float16():
    x = make((40,), np.float32, seed=41, lo=0.01, hi=0.99).astype(np.float16)
    t = make((40,), np.float32, seed=42).astype(np.float16)
    loss, grad = fastbce.binary_cross_entropy_and_grad(x, t, reduction="none")
    assert loss.dtype == np.float16 and grad.dtype == np.float16
    l32, g32 = fastbce.binary_cross_entropy_and_grad(x.astype(np.float32), t.astype(np.float32), reduction="none")
    np.testing.assert_array_equal(loss, l32.astype(np.float16))
    np.testing.assert_array_equal(grad, g32.astype(np.float16))
    mean = fastbce.binary_cross_entropy(x, t)
    assert isinstance(mean, np.float16)
    ref, _ = torch_bce(x.astype(np.float32), t.astype(np.float32))
    np.testing.assert_allclose(np.float32(mean), ref, rtol=1e-3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_hard_targets_take_one_log_with_the_same_values(isa, dtype):
    # vectors whose targets are all 0 or 1 evaluate one log per element; the values must be
    # those of the general two-log formula, which interleaved soft targets force
    n = 4099
    x = make(n, dtype, seed=51, lo=0.0, hi=1.0)
    x[:4] = [0.0, 1.0, 0.0, 1.0]
    x[4:8] = [1e-300, 1 - 1e-16, 5e-324, 0.5] if dtype == np.float64 else [1e-40, 1 - 6e-8, 1e-45, 0.5]
    t = (make(n, dtype, seed=52) > 0.5).astype(dtype)
    t[:4] = [0.0, 0.0, 1.0, 1.0]
    mixed_x = np.empty(2 * n, dtype)
    mixed_t = np.empty(2 * n, dtype)
    mixed_x[0::2], mixed_x[1::2] = x, 0.25
    mixed_t[0::2], mixed_t[1::2] = t, 0.5
    hard = fastbce.binary_cross_entropy(x, t, reduction="none")
    general = fastbce.binary_cross_entropy(mixed_x, mixed_t, reduction="none")[0::2]
    np.testing.assert_array_equal(hard, general)
    np.testing.assert_array_equal(hard[:4], [0.0, 100.0, 100.0, 0.0])
