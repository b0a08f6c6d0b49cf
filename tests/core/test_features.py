"""where= (missing labels), reduction="weighted_mean", clamp_log=False and the focal loss:
each against a reference written here (torch autograd on the counted elements, NumPy's
np.average, torchvision's focal formula in float64, mpmath), in float32 and float64."""

import mpmath
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import fastbce

REDUCTIONS = ["none", "mean", "sum", "weighted_mean"]


# ------------------------------------------------------------------ references

def reduced(per, keep, wf, reduction):
    """The per-element losses ``per`` (0 where not kept) reduced as fastbce's reduction."""
    if reduction == "none":
        return per
    if reduction == "sum":
        return per.sum()
    if reduction == "mean":
        return per.sum() / keep.sum()
    return per.sum() / wf[keep].sum()


def ref_bce(x, t, w, keep, reduction, logits, pos_weight=None):
    """(loss, grad) by torch float64 autograd over the counted elements only; skipped
    elements get loss 0 and gradient 0."""
    shape = x.shape
    wf = np.broadcast_to(1.0 if w is None else w, shape).astype(np.float64)
    keep = np.broadcast_to(keep, shape)
    xt = torch.tensor(x.astype(np.float64), requires_grad=True)
    tt = torch.tensor(np.where(keep, t, 0).astype(np.float64))
    if logits:
        pw = None if pos_weight is None else torch.tensor(
            np.broadcast_to(pos_weight, shape).astype(np.float64))
        per = F.binary_cross_entropy_with_logits(xt, tt, weight=torch.tensor(wf),
                                                 pos_weight=pw, reduction="none")
    else:
        xs = torch.where(torch.tensor(keep), xt, torch.full_like(xt, 0.5))
        per = F.binary_cross_entropy(xs, tt, weight=torch.tensor(wf), reduction="none")
    per = torch.where(torch.tensor(keep), per, torch.zeros_like(per))
    loss = reduced(per, keep, wf, reduction)
    (grad,) = torch.autograd.grad(loss.sum(), xt)
    return loss.detach().numpy(), grad.numpy()


def torchvision_focal(x, t, alpha, gamma):
    """torchvision.ops.sigmoid_focal_loss's formula, per element (no reduction)."""
    p = torch.sigmoid(x)
    ce = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    p_t = p * t + (1 - p) * (1 - t)
    loss = ce * ((1 - p_t) ** gamma)
    if alpha >= 0:
        loss = (alpha * t + (1 - alpha) * (1 - t)) * loss
    return loss


def ref_focal(x, t, alpha, gamma, w=None, keep=True, reduction="none"):
    """(loss, grad, hess) of the reduced focal loss in float64: autograd for the gradient,
    double backward for the (diagonal) hessian of the unreduced loss."""
    shape = x.shape
    keep = np.broadcast_to(keep, shape)
    wf = np.broadcast_to(1.0 if w is None else w, shape).astype(np.float64)
    xt = torch.tensor(x.astype(np.float64), requires_grad=True)
    tt = torch.tensor(np.where(keep, t, 0).astype(np.float64))
    per = torchvision_focal(xt, tt, alpha, gamma) * torch.tensor(wf)
    per = torch.where(torch.tensor(keep), per, torch.zeros_like(per))
    (g_el,) = torch.autograd.grad(per.sum(), xt, create_graph=True, retain_graph=True)
    (hess,) = torch.autograd.grad(g_el.sum(), xt, retain_graph=True)
    loss = reduced(per, keep, wf, reduction)
    (grad,) = torch.autograd.grad(loss.sum(), xt)
    return loss.detach().numpy(), grad.numpy(), hess.numpy()


def close(actual, expected, dtype, scale=None, rtol64=1e-12, rtol32=2e-6):
    """Elementwise within rtol of the larger of |expected| and ``scale`` (the size of the
    terms, for values that cancel to near zero)."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    rtol = rtol32 if np.dtype(dtype) == np.float32 else rtol64
    size = np.abs(expected) if scale is None else np.maximum(np.abs(expected), scale)
    bad = np.abs(actual - expected) > rtol * size + 1e-300
    assert not bad.any(), (
        f"{bad.sum()} of {bad.size} off; worst {actual[bad][:3]} vs {expected[bad][:3]}"
    )


def data(shape, dtype, seed, logits=False, hard_fraction=0.3):
    rng = np.random.default_rng(seed)
    if logits:
        x = rng.normal(0, 4, shape)
    else:
        x = rng.uniform(0.01, 0.99, shape)
    t = rng.uniform(0, 1, shape)
    t.flat[: int(t.size * hard_fraction)] = np.round(t.flat[: int(t.size * hard_fraction)])
    return x.astype(dtype), t.astype(dtype)


# ------------------------------------------------------------------ where=

@pytest.mark.parametrize("logits", [False, True], ids=["prob", "logits"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("mask_shape", ["full", "column", "row", "none_kept"])
def test_where_against_torch_on_the_counted_elements(dtype, logits, reduction, mask_shape):
    shape = (37, 5, 23)  # 4255 elements: several chunks and a partial one
    x, t = data(shape, dtype, 1, logits)
    rng = np.random.default_rng(2)
    keep = {"full": rng.random(shape) < 0.5, "column": rng.random(23) < 0.5,
            "row": rng.random((37, 1, 1)) < 0.5, "none_kept": np.zeros(shape, bool)}[mask_shape]
    keep_full = np.broadcast_to(keep, shape)
    t_nan = t.copy()
    t_nan[~keep_full] = np.nan  # missing labels: never read, never range-checked
    x_bad = x.copy()
    if not logits:
        x_bad[~keep_full] = 7.0  # an out-of-range prediction where nothing is counted
    w = rng.uniform(0.5, 2.0, (5, 1)).astype(dtype)
    pw = rng.uniform(0.5, 2.0, 23).astype(dtype) if logits else None
    kw = {"pos_weight": pw} if logits else {}
    if logits:
        loss_f, grad_f, both_f = (fastbce.binary_cross_entropy_with_logits,
                                  fastbce.binary_cross_entropy_with_logits_grad,
                                  fastbce.binary_cross_entropy_with_logits_and_grad)
    else:
        loss_f, grad_f, both_f = (fastbce.binary_cross_entropy, fastbce.binary_cross_entropy_grad,
                                  fastbce.binary_cross_entropy_and_grad)
    loss = loss_f(x_bad, t_nan, w, reduction, where=keep, **kw)
    grad = grad_f(x_bad, t_nan, w, reduction, where=keep, **kw)
    loss2, grad2 = both_f(x_bad, t_nan, w, reduction, where=keep, **kw)
    np.testing.assert_array_equal(loss, loss2)  # one pass or two: the same bits
    np.testing.assert_array_equal(grad, grad2)
    assert grad.dtype == dtype and np.asarray(loss).dtype == dtype
    if mask_shape == "none_kept":
        if reduction in ("mean", "weighted_mean"):
            assert np.isnan(loss)
        else:
            assert not np.any(loss)
        assert not np.any(grad) and not np.signbit(grad).any()
        return
    ref_loss, ref_grad = ref_bce(x.astype(np.float64), t.astype(np.float64), w, keep, reduction,
                                 logits, pw)
    rt = 1e-6 if dtype == np.float32 else 1e-12
    # (torch's logits loss cancels for confident logits: an absolute error of the size of
    # the largest term is allowed element by element)
    np.testing.assert_allclose(loss, ref_loss, rtol=rt, atol=rt * np.abs(ref_loss).max())
    np.testing.assert_allclose(grad, ref_grad, rtol=rt, atol=rt * np.abs(ref_grad).max())
    # skipped elements: exact +0 (not -0, not NaN)
    assert (grad[~keep_full] == 0).all() and not np.signbit(grad[~keep_full]).any()
    if reduction == "none":
        assert (loss[~keep_full] == 0).all() and not np.signbit(loss[~keep_full]).any()


def test_where_skips_hessian_and_grad_output_too(dtype):
    x, t = data((3000,), dtype, 3, logits=True)
    keep = np.arange(3000) % 3 != 0
    g, h = fastbce.binary_cross_entropy_with_logits_grad_hess(x, t, where=keep)
    g0, h0 = fastbce.binary_cross_entropy_with_logits_grad_hess(x, t)
    np.testing.assert_array_equal(g[keep], g0[keep])
    np.testing.assert_array_equal(h[keep], h0[keep])
    assert not g[~keep].any() and not h[~keep].any()
    # an infinite or NaN upstream gradient where nothing is counted still gives exact zeros
    go = np.full(3000, np.inf, dtype)
    go[keep] = 2.0
    gg = fastbce.binary_cross_entropy_with_logits_grad(x, t, reduction="none", grad_output=go,
                                                       where=keep)
    assert not gg[~keep].any()
    np.testing.assert_array_equal(gg[keep], fastbce.binary_cross_entropy_with_logits_grad(
        x, t, reduction="none", grad_output=2.0)[keep])


def test_where_is_bit_identical_across_thread_counts():
    x, t = data((300_001,), np.float32, 4)
    keep = np.random.default_rng(5).random(300_001) < 0.5
    w = np.random.default_rng(6).random(300_001).astype(np.float32)
    results = [fastbce.binary_cross_entropy_and_grad(x, t, w, "weighted_mean", where=keep,
                                                     num_threads=n) for n in (1, 2, 3)]
    for loss, grad in results[1:]:
        assert loss == results[0][0]
        np.testing.assert_array_equal(grad, results[0][1])


def test_masked_arrays_count_only_unmasked_elements(dtype):
    x, t = data((400,), dtype, 7)
    mx = np.ma.masked_array(x, mask=np.arange(400) % 4 == 0)
    mt = np.ma.masked_array(t, mask=np.arange(400) % 5 == 0)
    keep = (np.arange(400) % 4 != 0) & (np.arange(400) % 5 != 0)
    expect = fastbce.binary_cross_entropy(x[keep], t[keep])
    assert fastbce.binary_cross_entropy(mx, mt) == expect
    assert fastbce.binary_cross_entropy(mx, t, where=np.arange(400) % 5 != 0) == expect
    grad = fastbce.binary_cross_entropy_grad(mx, mt, reduction="sum")
    assert not grad[~keep].any()
    np.testing.assert_array_equal(grad[keep], fastbce.binary_cross_entropy_grad(
        x[keep], t[keep], reduction="sum"))


@pytest.mark.parametrize("bad, error", [
    (np.ones(10, dtype=np.int64), TypeError),
    (np.ones(10, dtype=np.float32), TypeError),
    (np.ones(3, dtype=bool), ValueError),
    ([[True], [False]], ValueError),
    ("yes", TypeError),
])
def test_where_errors_name_the_argument(bad, error):
    x = np.full(10, 0.5)
    with pytest.raises(error, match="where"):
        fastbce.binary_cross_entropy(x, x, where=bad)


# ------------------------------------------------------------------ weighted_mean

@pytest.mark.parametrize("logits", [False, True], ids=["prob", "logits"])
def test_weighted_mean_is_np_average_and_its_gradient(dtype, logits):
    x, t = data((61, 70), dtype, 8, logits)
    w = np.random.default_rng(9).uniform(0, 3, (61, 1)).astype(dtype)
    both = (fastbce.binary_cross_entropy_with_logits_and_grad if logits
            else fastbce.binary_cross_entropy_and_grad)
    per = both(x, t, reduction="none")[0].astype(np.float64)
    loss, grad = both(x, t, w, "weighted_mean")
    expect = np.average(per, weights=np.broadcast_to(w, per.shape).astype(np.float64))
    np.testing.assert_allclose(loss, expect, rtol=1e-6 if dtype == np.float32 else 1e-13)
    ref_loss, ref_grad = ref_bce(x.astype(np.float64), t.astype(np.float64), w, True,
                                 "weighted_mean", logits)
    rt = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(loss, ref_loss, rtol=rt)
    np.testing.assert_allclose(grad, ref_grad, rtol=rt, atol=rt * np.abs(ref_grad).max())
    # without a weight it is the mean
    assert both(x, t, reduction="weighted_mean")[0] == both(x, t, reduction="mean")[0]


def test_weighted_mean_of_zero_weights_is_nan():
    x = np.full(5, 0.3)
    t = np.full(5, 1.0)
    loss, grad = fastbce.binary_cross_entropy_and_grad(x, t, np.zeros(5), "weighted_mean")
    assert np.isnan(loss) and np.isnan(grad).all()
    keep = np.array([True, False, True, False, False])
    w = np.array([0.0, 1.0, 0.0, 2.0, 1.0])
    loss, grad = fastbce.binary_cross_entropy_and_grad(x, t, w, "weighted_mean", where=keep)
    assert np.isnan(loss)
    assert np.isnan(grad[keep]).all() and not grad[~keep].any()


def test_weighted_mean_in_the_criteria():
    x, t = data((50,), np.float64, 10)
    w = np.linspace(0, 1, 50)
    crit = fastbce.BCELoss(weight=w, reduction="weighted_mean")
    assert crit(x, t) == fastbce.binary_cross_entropy(x, t, w, "weighted_mean")
    assert "weighted_mean" in repr(crit)


# ------------------------------------------------------------------ clamp_log=False

def exact_prob(x, t):
    """Loss and gradient to 40 digits, with 0 log 0 = 0."""
    mpmath.mp.dps = 40
    x, t = mpmath.mpf(float(x)), mpmath.mpf(float(t))

    def term(c, v):
        if c == 0:
            return mpmath.mpf(0)
        return c * mpmath.log(v) if v > 0 else -mpmath.inf

    loss = -(term(t, x) + term(1 - t, 1 - x))
    if x == 0:
        grad = 1 if t == 0 else -mpmath.inf
    elif x == 1:
        grad = -1 if t == 1 else mpmath.inf
    else:
        grad = (x - t) / (x * (1 - x))
    return float(loss), float(grad)


def test_unclamped_loss_and_gradient_are_exact(dtype):
    tiny = np.finfo(dtype).smallest_subnormal
    xs = np.array([0, 0, 1, 1, tiny, tiny * 7, 1e-30, 0.5, 1 - np.finfo(dtype).epsneg, 0.3, 1e-44],
                  dtype=dtype)
    ts = np.array([0, 1, 1, 0, 1, 0.5, 1, 0.25, 0, 0.7, 1], dtype=dtype)
    loss, grad = fastbce.binary_cross_entropy_and_grad(xs, ts, reduction="none", clamp_log=False)
    for i, (x, t) in enumerate(zip(xs, ts)):
        el, eg = exact_prob(x, t)
        for got, want in ((loss[i], el), (grad[i], eg)):
            with np.errstate(over="ignore"):  # rounded (or overflowed, on purpose) to the dtype
                want = np.asarray(want, dtype=dtype)
            if np.isinf(want):
                assert got == want, (x, t, got, want)
            else:
                np.testing.assert_allclose(got, want, rtol=4 * np.finfo(dtype).eps, atol=0)
    assert not np.signbit(loss).any()  # a perfect prediction's loss is +0
    # the clamp is torch's, and the default
    clamped = fastbce.binary_cross_entropy(xs, ts, reduction="none")
    assert clamped.max() <= 100 * (1 + 1e-6) and np.array_equal(
        clamped, fastbce.binary_cross_entropy(xs, ts, reduction="none", clamp_log=True))


def test_unclamped_matches_clamped_away_from_the_ends(dtype):
    x, t = data((5000,), dtype, 11)
    a = fastbce.binary_cross_entropy_and_grad(x, t, reduction="sum", clamp_log=False)
    b = fastbce.binary_cross_entropy_and_grad(x, t, reduction="sum")
    np.testing.assert_allclose(a[0], b[0], rtol=1e-6 if dtype == np.float32 else 1e-14)
    np.testing.assert_allclose(a[1], b[1], rtol=1e-6 if dtype == np.float32 else 1e-14)
    crit = fastbce.BCELoss(clamp_log=False, reduction="sum")
    assert crit(x, t) == a[0] and "clamp_log=False" in repr(crit)
    with pytest.raises(TypeError, match="clamp_log"):
        fastbce.binary_cross_entropy(x, t, clamp_log="no")


# ------------------------------------------------------------------ focal loss

@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0, 5.0])
@pytest.mark.parametrize("alpha", [0.25, -1.0])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_focal_against_torchvision_formula(dtype, gamma, alpha, reduction):
    x, t = data((1203,), dtype, 12, logits=True)
    x = np.clip(x, -12, 12)  # where the float64 reference itself is accurate
    w = np.random.default_rng(13).uniform(0.5, 2, 1203).astype(dtype)
    keep = np.random.default_rng(14).random(1203) < 0.8
    loss, grad = fastbce.sigmoid_focal_loss_and_grad(x, t, alpha, gamma, reduction, weight=w,
                                                     where=keep)
    assert np.array_equal(loss, fastbce.sigmoid_focal_loss(x, t, alpha, gamma, reduction,
                                                           weight=w, where=keep))
    assert np.array_equal(grad, fastbce.sigmoid_focal_loss_grad(x, t, alpha, gamma, reduction,
                                                                weight=w, where=keep))
    g_el, hess = fastbce.sigmoid_focal_loss_grad_hess(x, t, alpha, gamma, weight=w, where=keep)
    x64, t64 = x.astype(np.float64), t.astype(np.float64)
    ref_loss, ref_grad, ref_hess = ref_focal(x64, t64, alpha, gamma, w, keep, reduction)
    _, ref_g_el, _ = ref_focal(x64, t64, alpha, gamma, w, keep, "sum")
    # the float64 reference loses up to ~1e-9 of its value to cancellation in 1 - p_t
    close(loss, ref_loss, dtype, rtol64=1e-8, rtol32=2e-5)
    scale = np.abs(ref_grad).max() * 1e-3
    close(grad, ref_grad, dtype, scale=scale, rtol64=1e-8, rtol32=2e-5)
    close(g_el, ref_g_el, dtype, scale=np.abs(ref_g_el).max() * 1e-3, rtol64=1e-8, rtol32=2e-5)
    # the hessian's terms cancel where it crosses zero: errors of the size of its terms
    close(hess, ref_hess, dtype, scale=np.abs(ref_hess).max() * 1e-2, rtol64=1e-8, rtol32=2e-5)


def mp_focal(x, t, alpha, gamma):
    """Loss, gradient and hessian of the focal loss (mpmath's derivatives, at 120 digits so
    that its finite differences resolve hessians far below the loss)."""
    mpmath.mp.dps = 120
    t = mpmath.mpf(float(t))

    def f(z):
        p = 1 / (1 + mpmath.exp(-z))
        ce = -(t * mpmath.log(p) + (1 - t) * mpmath.log(1 - p)) if 0 < t < 1 else (
            -mpmath.log(p) if t == 1 else -mpmath.log(1 - p))
        u = t * (1 - p) + (1 - t) * p
        a = alpha * t + (1 - alpha) * (1 - t) if alpha >= 0 else 1
        return a * ce * (u ** gamma if gamma else 1)

    z = mpmath.mpf(float(x))
    return float(f(z)), float(mpmath.diff(f, z)), float(mpmath.diff(f, z, 2))


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0, 5.0])
def test_focal_is_stable_for_huge_logits_and_every_gamma(dtype, gamma):
    xs = np.array([-1e4, -300, -80, -20, -3, -1e-3, 0, 2e-3, 4, 25, 90, 400, 1e4], dtype=dtype)
    for tval in (0.0, 1.0, 0.3):
        t = np.full(xs.shape, tval, dtype)
        loss, grad = fastbce.sigmoid_focal_loss_and_grad(xs, t, 0.25, gamma, "none")
        g2, hess = fastbce.sigmoid_focal_loss_grad_hess(xs, t, 0.25, gamma)
        assert np.isfinite(loss).all() and np.isfinite(grad).all() and np.isfinite(hess).all()
        np.testing.assert_array_equal(grad, g2)
        for i, x in enumerate(xs):
            if abs(float(x)) > 100:
                continue  # mpmath's numerical derivatives need moderate values
            el, eg, eh = mp_focal(x, tval, 0.25, gamma)
            tol = 3e-5 if dtype == np.float32 else 1e-12
            for got, want in ((loss[i], el), (grad[i], eg), (hess[i], eh)):
                assert abs(got - want) <= tol * abs(want) + np.finfo(dtype).tiny * 4, (
                    x, tval, got, want)


def test_focal_float32_at_least_as_accurate_as_torch():
    x, t = data((20000,), np.float32, 15, logits=True)
    truth = torchvision_focal(torch.tensor(x.astype(np.float64)),
                              torch.tensor(t.astype(np.float64)), 0.25, 2.0).numpy()
    ours = fastbce.sigmoid_focal_loss(x, t, 0.25, 2.0)
    theirs = torchvision_focal(torch.tensor(x), torch.tensor(t), 0.25, 2.0).numpy()
    assert np.abs(ours - truth).max() <= np.abs(theirs - truth).max()


def test_focal_with_gamma_zero_is_alpha_weighted_bce(dtype):
    x, t = data((999,), dtype, 16, logits=True)
    alpha_t = 0.25 * t + 0.75 * (1 - t)
    bce = fastbce.binary_cross_entropy_with_logits(x, t, alpha_t, "none")
    np.testing.assert_allclose(fastbce.sigmoid_focal_loss(x, t, 0.25, 0.0), bce,
                               rtol=1e-6 if dtype == np.float32 else 1e-14)
    np.testing.assert_allclose(fastbce.sigmoid_focal_loss(x, t, -1, 0.0),
                               fastbce.binary_cross_entropy_with_logits(x, t, reduction="none"),
                               rtol=1e-6 if dtype == np.float32 else 1e-14)


def test_focal_criterion_and_errors():
    x, t = data((64,), np.float64, 17, logits=True)
    crit = fastbce.SigmoidFocalLoss(alpha=0.5, gamma=1.5, reduction="mean")
    assert crit(x, t) == fastbce.sigmoid_focal_loss(x, t, 0.5, 1.5, "mean")
    np.testing.assert_array_equal(crit.grad(x, t), fastbce.sigmoid_focal_loss_grad(x, t, 0.5, 1.5, "mean"))
    np.testing.assert_array_equal(crit.grad_hess(x, t)[1],
                                  fastbce.sigmoid_focal_loss_grad_hess(x, t, 0.5, 1.5)[1])
    assert crit.alpha == 0.5 and crit.gamma == 1.5 and "gamma=1.5" in repr(crit)
    with pytest.raises(ValueError, match="gamma"):
        fastbce.sigmoid_focal_loss(x, t, gamma=-1.0)
    with pytest.raises(ValueError, match="alpha"):
        fastbce.sigmoid_focal_loss(x, t, alpha=float("nan"))
    with pytest.raises(TypeError, match="gamma"):
        fastbce.sigmoid_focal_loss(x, t, gamma="2")
    with pytest.raises(ValueError, match="target"):
        fastbce.sigmoid_focal_loss(x, t + 1)
    with pytest.raises(ValueError, match="NaN"):
        fastbce.sigmoid_focal_loss(np.full(3, np.nan), np.zeros(3))
