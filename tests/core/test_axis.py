"""Reductions over axes (``axis=``, ``keepdims=``): each slot of the reduced shape against
NumPy's reduction of the per-element loss (torch's, in float64), the gradient against torch
autograd of ``(loss_none.sum(dim) / den).backward(grad_output)``, for both families and the
focal loss, 1-D to 3-D, every reduction, with ``where=`` and broadcast weights; then the
errors, the outputs, the memory (no input-sized temporary), thread bit-identity and the
kernel path."""

import tracemalloc

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import fastbce
from fastbce import _bce

FAMILIES = {
    "probs": (fastbce.binary_cross_entropy, fastbce.binary_cross_entropy_grad,
              fastbce.binary_cross_entropy_and_grad),
    "logits": (fastbce.binary_cross_entropy_with_logits,
               fastbce.binary_cross_entropy_with_logits_grad,
               fastbce.binary_cross_entropy_with_logits_and_grad),
    "focal": (fastbce.sigmoid_focal_loss, fastbce.sigmoid_focal_loss_grad,
              fastbce.sigmoid_focal_loss_and_grad),
}

# (shape, axis): ints, negative ints, tuples, the empty tuple and every axis
CASES = [
    ((7,), 0), ((7,), -1), ((7,), ()),
    ((6, 5), 0), ((6, 5), 1), ((6, 5), -1), ((6, 5), (0, 1)), ((6, 5), ()),
    ((3, 4, 5), 0), ((3, 4, 5), 1), ((3, 4, 5), -1), ((3, 4, 5), (0, 2)),
    ((3, 4, 5), (-1, -2)), ((3, 4, 5), (0, 1)), ((3, 4, 5), (2, 0, 1)),
]


def data(family, shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    if family == "probs":
        x = rng.uniform(0.02, 0.98, shape)
    else:
        x = rng.normal(0, 3, shape)
    t = rng.uniform(0, 1, shape)  # soft targets, as in the tutorial
    return x.astype(dtype), t.astype(dtype)


def per_element(family, xt, tt, pos_weight):
    """torch's unreduced loss (autograd-tracked), in float64."""
    if family == "probs":
        return F.binary_cross_entropy(xt, tt, reduction="none")
    if family == "logits":
        pw = None if pos_weight is None else torch.tensor(pos_weight, dtype=torch.float64)
        return F.binary_cross_entropy_with_logits(xt, tt, reduction="none", pos_weight=pw)
    p = torch.sigmoid(xt)  # torchvision.ops.sigmoid_focal_loss's formula, alpha 0.25, gamma 2
    p_t = p * tt + (1 - p) * (1 - tt)
    return (0.25 * tt + 0.75 * (1 - tt)) * F.binary_cross_entropy_with_logits(
        xt, tt, reduction="none") * (1 - p_t) ** 2


def reference(family, x, t, reduction, axis, keepdims, weight=None, where=None,
              pos_weight=None, grad_output=1.0):
    """(loss, grad): the loss as NumPy's reduction of torch's per-element loss, the gradient
    from torch autograd of the same reduction written in torch."""
    shape = x.shape
    keep = np.ones(shape, bool) if where is None else np.broadcast_to(where, shape)
    w = np.broadcast_to(1.0 if weight is None else weight, shape).astype(np.float64)
    xt = torch.tensor(x.astype(np.float64), requires_grad=True)
    tt = torch.tensor(t.astype(np.float64))
    per = per_element(family, xt, tt, pos_weight) * torch.tensor(w)
    per = torch.where(torch.tensor(keep), per, torch.zeros_like(per))
    ax = axis if isinstance(axis, tuple) else (axis,)
    # NumPy's reductions of the per-element loss
    per_np = per.detach().numpy()
    total = np.sum(per_np, axis=axis, keepdims=keepdims)
    den = {"sum": None,
           "mean": np.sum(keep, axis=axis, keepdims=keepdims),
           "weighted_mean": np.sum(np.where(keep, w, 0), axis=axis, keepdims=keepdims)}
    with np.errstate(divide="ignore", invalid="ignore"):
        loss = total if den[reduction] is None else total / den[reduction]
    # torch autograd through torch's own reduction
    dims = [d % len(shape) for d in ax]
    red = per.sum(dim=dims, keepdim=keepdims) if dims else per
    if reduction != "sum":
        d = torch.tensor(np.asarray(den[reduction], np.float64))
        red = red / d
    go = torch.tensor(np.broadcast_to(np.asarray(grad_output, np.float64), red.shape).copy())
    (grad,) = torch.autograd.grad(red, xt, go)
    return loss, grad.numpy()


def assert_close(got, expected, dtype, name):
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape, (name, got.shape, expected.shape)
    scale = np.nanmax(np.abs(expected), initial=0.0)
    if np.dtype(dtype) == np.float64:
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14 * scale, err_msg=name)
    else:
        np.testing.assert_allclose(got, expected, rtol=2e-6, atol=1e-6 * scale, err_msg=name)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("shape,axis", CASES, ids=[f"{s}-{a}" for s, a in CASES])
@pytest.mark.parametrize("reduction", ["mean", "sum", "weighted_mean"])
def test_each_slot_matches_numpy_and_torch(family, shape, axis, reduction, dtype):
    x, t = data(family, shape, dtype)
    loss_fn, grad_fn, both_fn = FAMILIES[family]
    kw = {"reduction": reduction}
    for keepdims in (False, True):
        want_loss, want_grad = reference(family, x, t, reduction, axis, keepdims)
        loss = loss_fn(x, t, axis=axis, keepdims=keepdims, **kw)
        assert np.asarray(loss).dtype == dtype  # (a NumPy scalar where no axis is left)
        assert_close(loss, want_loss, dtype, "loss")
        go = np.random.default_rng(1).normal(size=np.shape(want_loss))
        _, want_grad = reference(family, x, t, reduction, axis, keepdims, grad_output=go)
        grad = grad_fn(x, t, axis=axis, keepdims=keepdims, grad_output=go, **kw)
        assert_close(grad, want_grad, dtype, "grad")
        both = both_fn(x, t, axis=axis, keepdims=keepdims, **kw)
        _, want_grad1 = reference(family, x, t, reduction, axis, keepdims)
        assert_close(both[0], want_loss, dtype, "and_grad loss")
        assert_close(both[1], want_grad1, dtype, "and_grad grad")


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("shape,axis", CASES, ids=[f"{s}-{a}" for s, a in CASES])
@pytest.mark.parametrize("reduction", ["mean", "sum", "weighted_mean"])
def test_where_and_broadcast_weights(family, shape, axis, reduction, dtype):
    """A weight over the last axis (per class), a per-element mask (with a slice fully
    masked where there is one: NaN for the means), a pos_weight for the logits."""
    x, t = data(family, shape, dtype, seed=2)
    rng = np.random.default_rng(3)
    weight = rng.uniform(0.2, 2.0, shape[-1:]).astype(dtype)
    where = rng.uniform(size=shape) < 0.7
    where[..., 0] = False  # the first class counts nowhere
    pos = rng.uniform(0.5, 3.0, shape[-1:]) if family == "logits" else None
    kw = {"reduction": reduction, "weight": weight, "where": where}
    if pos is not None:
        kw["pos_weight"] = pos
    loss_fn, grad_fn, _ = FAMILIES[family]
    want_loss, _ = reference(family, x, t, reduction, axis, False, weight, where, pos)
    assert_close(loss_fn(x, t, axis=axis, **kw), want_loss, dtype, "loss")
    go = np.random.default_rng(4).normal(size=np.shape(want_loss))
    _, want_grad = reference(family, x, t, reduction, axis, False, weight, where, pos, go)
    assert_close(grad_fn(x, t, axis=axis, grad_output=go, **kw), want_grad, dtype, "grad")


def test_grad_output_broadcasts_to_the_reduced_shape():
    x, t = data("probs", (6, 5), np.float64)
    go = np.array([1.0, -2.0, 0.5, 3.0, 0.0])  # per class: broadcasts to the (5,) result
    _, want = reference("probs", x, t, "mean", 0, True, grad_output=go)
    got = fastbce.binary_cross_entropy_grad(x, t, axis=0, keepdims=True, grad_output=go)
    assert_close(got, want, np.float64, "grad")
    with pytest.raises(ValueError, match="grad_output"):
        fastbce.binary_cross_entropy_grad(x, t, axis=0, grad_output=np.ones(6))


def test_an_empty_slice_is_nan_for_the_means_and_zero_for_the_sum():
    x, t = data("probs", (4, 3), np.float64)
    where = np.ones((4, 3), bool)
    where[:, 1] = False
    mean = fastbce.binary_cross_entropy(x, t, where=where, axis=0)
    total = fastbce.binary_cross_entropy(x, t, where=where, axis=0, reduction="sum")
    assert np.isnan(mean[1]) and np.isfinite(mean[[0, 2]]).all()
    assert total[1] == 0.0
    grad = fastbce.binary_cross_entropy_grad(x, t, where=where, axis=0)
    assert (grad[:, 1] == 0).all()  # a masked element's gradient is 0, not NaN


def test_zero_size_and_all_axes():
    x = np.empty((0, 3))
    assert fastbce.binary_cross_entropy(x, x, axis=0, reduction="sum").tolist() == [0, 0, 0]
    assert np.isnan(fastbce.binary_cross_entropy(x, x, axis=0)).all()
    assert fastbce.binary_cross_entropy(x, x, axis=1).shape == (0,)
    x, t = data("probs", (3, 4), np.float32)
    every = fastbce.binary_cross_entropy(x, t, axis=(0, 1))
    assert every == fastbce.binary_cross_entropy(x, t) and np.ndim(every) == 0
    kept = fastbce.binary_cross_entropy(x, t, axis=(1, 0), keepdims=True)
    assert kept.shape == (1, 1) and kept.dtype == np.float32 and kept[0, 0] == every
    assert fastbce.binary_cross_entropy(x, t, keepdims=True).shape == (1, 1)


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize("axis,error,match", [
    (2, np.exceptions.AxisError, "axis 2"),
    (-3, np.exceptions.AxisError, "axis -3"),
    ((0, 0), ValueError, "axis"),
    ((1, -1), ValueError, "axis"),
    (1.0, TypeError, "axis"),
    (True, TypeError, "axis"),
    ("0", TypeError, "axis"),
])
def test_bad_axes_name_axis(axis, error, match):
    x, t = data("probs", (3, 4), np.float64)
    with pytest.raises(error, match=match):
        fastbce.binary_cross_entropy(x, t, axis=axis)
    with pytest.raises(error, match=match):
        fastbce.sigmoid_focal_loss_grad(x, t, reduction="sum", axis=axis)


def test_axis_with_reduction_none_is_refused():
    x, t = data("probs", (3, 4), np.float64)
    with pytest.raises(ValueError, match="axis"):
        fastbce.binary_cross_entropy(x, t, reduction="none", axis=0)
    with pytest.raises(ValueError, match="axis"):
        fastbce.sigmoid_focal_loss(x, t, axis=0)  # the focal loss's default is "none"
    with pytest.raises(ValueError, match="axis"):
        fastbce.BCELoss(reduction="none", axis=0)
    with pytest.raises(TypeError, match="keepdims"):
        fastbce.binary_cross_entropy(x, t, axis=0, keepdims="yes")


def test_out_of_the_reduced_shape():
    x, t = data("probs", (5, 4), np.float32)
    want = fastbce.binary_cross_entropy(x, t, axis=0)
    out = np.empty(4, np.float32)
    assert fastbce.binary_cross_entropy(x, t, axis=0, out=out) is out
    np.testing.assert_array_equal(out, want)
    out64 = np.empty(4)  # float64: the unrounded means
    fastbce.binary_cross_entropy(x, t, axis=0, out=out64)
    np.testing.assert_allclose(out64, want, rtol=1e-6)
    with pytest.raises(ValueError, match="out has shape"):
        fastbce.binary_cross_entropy(x, t, axis=0, out=np.empty(5, np.float32))
    with pytest.raises(TypeError, match="out"):
        fastbce.binary_cross_entropy(x, t, axis=0, out=np.empty(4, np.int32))
    kept = np.empty((1, 1), np.float32)
    assert fastbce.binary_cross_entropy(x, t, axis=(0, 1), keepdims=True, out=kept) is kept


def test_inputs_are_not_modified_and_layouts_agree():
    """Fortran order, a strided view and big-endian data give the C-ordered result."""
    x, t = data("logits", (40, 30, 3), np.float64)
    x0, t0 = x.copy(), t.copy()
    want = fastbce.binary_cross_entropy_with_logits(x, t, axis=1)
    for xv, tv in [(np.asfortranarray(x), np.asfortranarray(t)),
                   (x.astype(">f8"), t),
                   (np.ascontiguousarray(x[:, ::-1])[:, ::-1], t)]:
        np.testing.assert_allclose(fastbce.binary_cross_entropy_with_logits(xv, tv, axis=1),
                                   want, rtol=1e-13)
    gf = fastbce.binary_cross_entropy_with_logits_grad(np.asfortranarray(x), t, axis=(0, 2))
    g = fastbce.binary_cross_entropy_with_logits_grad(x, t, axis=(0, 2))
    np.testing.assert_allclose(gf, g, rtol=1e-13)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(t, t0)


@pytest.mark.parametrize("axis", [(0, 2), 0])
@pytest.mark.parametrize("keepdims", [False, True])
def test_fortran_input_with_out_and_grad_output_is_not_copied(axis, keepdims):
    """A Fortran-ordered input with out= or an array grad_output is reduced in its memory
    order, as it is without them: the same bits, and no copy of the input."""
    x, t = data("probs", (3000, 40, 2), np.float64)
    xf, tf = np.asfortranarray(x), np.asfortranarray(t)
    want = fastbce.binary_cross_entropy(xf, tf, axis=axis, keepdims=keepdims)
    out = np.full(want.shape, np.nan)
    g = np.linspace(0, 1, want.size).reshape(want.shape)
    gwant = fastbce.binary_cross_entropy_grad(x, t, axis=axis, keepdims=keepdims,
                                              grad_output=g)  # (C order: the ordinary route)
    tracemalloc.start()
    try:
        got = fastbce.binary_cross_entropy(xf, tf, axis=axis, keepdims=keepdims, out=out)
        grad = fastbce.binary_cross_entropy_grad(xf, tf, axis=axis, keepdims=keepdims,
                                                 grad_output=g)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got is out and out.tobytes() == want.tobytes()
    assert grad.flags.f_contiguous
    np.testing.assert_allclose(grad, gwant, rtol=1e-13, atol=1e-300)
    assert peak < 1.5 * x.nbytes, (peak, x.nbytes)  # the gradient, and no copy of x or t
    np.testing.assert_allclose(out, fastbce.binary_cross_entropy(x, t, axis=axis,
                                                                 keepdims=keepdims), rtol=1e-13)


def test_criteria_take_axis():
    x, t = data("logits", (8, 3), np.float64)
    crit = fastbce.BCEWithLogitsLoss(pos_weight=np.array([1.0, 2.0, 3.0]), axis=-1,
                                     keepdims=True)
    assert "axis=-1" in repr(crit) and "keepdims=True" in repr(crit)
    want, _ = reference("logits", x, t, "mean", -1, True, pos_weight=np.array([1.0, 2.0, 3.0]))
    assert_close(crit(x, t), want, np.float64, "criterion")
    assert crit.grad(x, t, grad_output=np.ones((8, 1))).shape == (8, 3)
    assert crit.grad_hess(x, t)[0].shape == (8, 3)  # per element: no reduction applies
    focal = fastbce.SigmoidFocalLoss(reduction="sum", axis=0)
    want, _ = reference("focal", x, t, "sum", 0, False)
    assert_close(focal(x, t), want, np.float64, "focal criterion")
    assert fastbce.BCELoss(axis=0)(1 / (1 + np.exp(-x)), t).shape == (3,)


# ------------------------------------------------------------------ big inputs: units, threads


# row slices long enough to be cut into segments (axis=-1 of a (3, 140000) input, axis=0 of a
# (20000, 8) one), and many short rows per unit (axis=1 of (40000, 5))
BIG = [((3, 140_000), -1), ((20_000, 8), 0), ((40_000, 5), 1), ((50, 40, 60), (0, 2))]


@pytest.mark.parametrize("shape,axis", BIG, ids=[f"{s}-{a}" for s, a in BIG])
def test_big_inputs_match_numpy_and_every_thread_count_gives_the_same_bits(shape, axis, dtype):
    x, t = data("probs", shape, dtype, seed=5)
    where = np.random.default_rng(6).uniform(size=shape) < 0.9
    each = fastbce.binary_cross_entropy(x.astype(np.float64), t.astype(np.float64),
                                        reduction="none")
    with np.errstate(invalid="ignore"):  # (a row with nothing counted: NaN)
        want = np.sum(np.where(where, each, 0), axis=axis) / np.sum(where, axis=axis)
    results = [fastbce.binary_cross_entropy_and_grad(x, t, where=where, axis=axis,
                                                     num_threads=n) for n in (1, 2, 3)]
    np.testing.assert_allclose(results[0][0], want, rtol=1e-12 if dtype == np.float64 else 2e-6)
    for loss, grad in results[1:]:
        assert loss.tobytes() == results[0][0].tobytes()
        assert grad.tobytes() == results[0][1].tobytes()


@pytest.mark.parametrize("axis", [0, -1])
def test_no_input_sized_temporary(axis):
    """Python-side allocations (NumPy's are traced) stay far below the input's size: the
    per-element loss is never materialised."""
    x, t = data("probs", (20_000, 64), np.float64)
    w = np.linspace(0.5, 1.5, 64)
    where = np.ones(64, bool)
    fastbce.binary_cross_entropy(x, t, w, "weighted_mean", where=where, axis=axis)  # warm
    tracemalloc.start()
    try:
        fastbce.binary_cross_entropy(x, t, w, "weighted_mean", where=where, axis=axis)
        fastbce.binary_cross_entropy_with_logits(x, t, axis=axis, reduction="sum")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # (the result, its sums and denominators: 3 x 160 kB for axis=-1; a temporary of the
    # input's size, even a bool mask of it, would be 1.3 MB or more)
    assert peak < x.nbytes / 10, (peak, x.nbytes)


def test_the_axis_route_runs_the_block_kernels():
    """Every chunk of the pass is counted once, on the path its data calls for (soft
    targets: two logs; 0/1 targets: one)."""
    x, t = data("probs", (256, 256), np.float32)
    fastbce.binary_cross_entropy(x, t, axis=0, num_threads=1)
    got = _bce.path_counts()
    assert got["soft"] == 256 and sum(got.values()) == 256, got
    fastbce.binary_cross_entropy(x, np.round(t), axis=-1, num_threads=1)
    got = _bce.path_counts()
    assert got["hard"] == 256 and sum(got.values()) == 256, got
