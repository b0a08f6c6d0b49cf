"""Any array-like in, NumPy out: views, orders, read-only memory, byte orders, dtypes, out=."""

import numpy as np
import pytest
from helpers import assert_close, make, torch_bce

import fastbce

SHAPE = (6, 7)


def reference(x, t, w=None, reduction="none"):
    """fastbce on plain C-contiguous native float64 copies: what every variant must equal."""
    c = [None if a is None else np.array(a, dtype=np.float64, order="C") for a in (x, t, w)]
    return fastbce.binary_cross_entropy_and_grad(*c, reduction=reduction)


def check_same(x, t, w=None):
    for reduction in ("none", "mean", "sum"):
        loss, grad = fastbce.binary_cross_entropy_and_grad(x, t, w, reduction=reduction)
        ref_loss, ref_grad = reference(x, t, w, reduction)
        dt = np.result_type(np.asarray(x).dtype.newbyteorder("="))
        if dt.kind != "f":
            dt = np.dtype(np.float64)
        assert loss.dtype == dt and grad.dtype == dt
        np.testing.assert_allclose(loss, ref_loss, rtol=1e-6 if dt == np.float32 else 1e-15)
        np.testing.assert_allclose(grad, ref_grad, rtol=1e-6 if dt == np.float32 else 1e-15)


@pytest.fixture
def xt(dtype):
    return make(SHAPE, dtype, seed=1, lo=0.01, hi=0.99), make(SHAPE, dtype, seed=2)


def test_python_lists_and_scalars():
    check_same([0.2, 0.7, 0.9], [0.0, 1.0, 0.5])
    check_same([[0.2, 0.7], [0.9, 0.1]], [[0, 1], [1, 0]])
    loss = fastbce.binary_cross_entropy(0.25, 1.0, reduction="none")
    assert isinstance(loss, np.ndarray) and loss.shape == () and loss.dtype == np.float64
    np.testing.assert_allclose(loss, -np.log(0.25))
    assert fastbce.binary_cross_entropy(np.float32(0.25), np.float32(1.0)).dtype == np.float32


def test_views_strides_and_orders(xt):
    x, t = xt
    check_same(x[:, ::2], t[:, ::2])  # strided view
    check_same(x[::-1, ::-1], t[::-1, ::-1])  # negative strides
    check_same(np.asfortranarray(x), np.asfortranarray(t))
    check_same(x.T, t.T)
    check_same(np.asfortranarray(x), t, np.asfortranarray(x)[0])  # mixed orders, weight view


def test_read_only_arrays(xt):
    x, t = (a.copy() for a in xt)
    w = np.linspace(0.5, 1.5, SHAPE[1]).astype(x.dtype)
    for a in (x, t, w):
        a.flags.writeable = False
    check_same(x, t, w)


def test_read_only_memmap(tmp_path, xt):
    x, t = xt
    arrays = []
    for name, a in (("x", x), ("t", t)):
        path = tmp_path / f"{name}.dat"
        a.tofile(path)
        arrays.append(np.memmap(path, dtype=a.dtype, mode="r", shape=a.shape))
    mx, mt = arrays
    assert not mx.flags.writeable
    check_same(mx, mt)
    check_same(mx[1:, ::3], mt[1:, ::3])
    ref_loss, ref_grad = torch_bce(np.array(mx), np.array(mt), reduction="sum")
    loss, grad = fastbce.binary_cross_entropy_and_grad(mx, mt, reduction="sum")
    assert_close(loss, ref_loss, x.dtype)
    assert_close(grad, ref_grad, x.dtype)


def test_big_endian(xt):
    x, t = xt
    be = x.dtype.newbyteorder(">")
    w = np.linspace(0.5, 1.5, SHAPE[1])
    check_same(x.astype(be), t.astype(be), w.astype(">f8"))
    loss = fastbce.binary_cross_entropy(x.astype(be), t, reduction="none")
    assert loss.dtype == x.dtype and loss.dtype.isnative


@pytest.mark.parametrize("tdtype", [np.bool_, np.int8, np.uint8, np.int64, np.float16, np.float64])
def test_target_and_weight_dtypes_are_cast_to_the_input_dtype(dtype, tdtype):
    x = make(SHAPE, dtype, seed=3, lo=0.01, hi=0.99)
    t = (make(SHAPE, np.float64, seed=4) > 0.5).astype(tdtype)
    w = np.arange(1, SHAPE[1] + 1).astype(tdtype) if tdtype is not np.bool_ else np.ones(SHAPE[1], bool)
    loss, grad = fastbce.binary_cross_entropy_and_grad(x, t, w, reduction="none")
    assert loss.dtype == dtype and grad.dtype == dtype
    ref_loss, ref_grad = torch_bce(x, t.astype(dtype), w.astype(dtype), "none")
    assert_close(loss, ref_loss, dtype)
    assert_close(grad, ref_grad, dtype)


@pytest.mark.parametrize("xdtype", [np.bool_, np.uint8, np.int32, np.int64])
def test_bool_and_int_inputs_compute_in_float64(xdtype):
    x = np.array([0, 1, 1, 0], dtype=xdtype)
    t = np.array([0.0, 1.0, 0.5, 0.25])
    loss, grad = fastbce.binary_cross_entropy_and_grad(x, t, reduction="none")
    assert loss.dtype == np.float64 and grad.dtype == np.float64
    ref_loss, ref_grad = torch_bce(x.astype(np.float64), t, reduction="none")
    np.testing.assert_array_equal(loss, ref_loss)
    np.testing.assert_array_equal(grad, ref_grad)
    assert isinstance(fastbce.binary_cross_entropy(x, t), np.float64)


@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_outputs_must_not_overlap_each_other(reduction):
    x = make((64,), np.float64, seed=14, lo=0.01, hi=0.99)
    buf = np.empty(65)
    with pytest.raises(ValueError, match="loss_out and grad_out overlap"):
        if reduction == "none":
            fastbce.binary_cross_entropy_and_grad(x, x, reduction="none", loss_out=buf[:64], grad_out=buf[1:])
        else:
            fastbce.binary_cross_entropy_and_grad(x, x, loss_out=buf[:1].reshape(()), grad_out=buf[:64])
    with pytest.raises(ValueError, match="grad_out and hess_out overlap"):
        fastbce.binary_cross_entropy_with_logits_grad_hess(x, x, grad_out=buf[:64], hess_out=buf[:64])


def test_fast_path_never_modifies_inputs():
    x = make((5000,), np.float32, seed=15, lo=0.01, hi=0.99)
    t = make((5000,), np.float32, seed=16)
    saved = x.copy(), t.copy()
    fastbce.binary_cross_entropy(x, t)
    fastbce.binary_cross_entropy_and_grad(x, t, reduction="sum")
    fastbce.binary_cross_entropy_with_logits_and_grad(x, t, reduction="none")
    fastbce.binary_cross_entropy_with_logits_grad_hess(x, t)
    np.testing.assert_array_equal(x, saved[0])
    np.testing.assert_array_equal(t, saved[1])


def test_inputs_are_never_modified(xt):
    x, t = xt
    w = np.linspace(0.5, 1.5, SHAPE[1]).astype(x.dtype)
    g = np.full(SHAPE, 2.0, x.dtype)
    saved = [a.copy() for a in (x, t, w, g)]
    fastbce.binary_cross_entropy(x, t, w, "none")
    fastbce.binary_cross_entropy_grad(x, t, w, "none", grad_output=g)
    fastbce.binary_cross_entropy_and_grad(x, t, w, "sum")
    for a, b in zip((x, t, w, g), saved):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ weights


@pytest.mark.parametrize(
    "shape,wshape",
    [
        ((6, 7), ()),
        ((6, 7), (7,)),
        ((6, 7), (1, 7)),
        ((6, 7), (6, 1)),
        ((5, 3, 4, 2), (3, 1, 1)),
        ((5, 3, 4, 2), (5, 1, 4, 1)),  # alternating broadcast axes
        ((5, 3, 4, 2), (3, 4, 2)),
        ((5, 3, 4, 2), (1, 1, 1, 2)),
        ((4, 1, 6), (1, 1, 6)),  # size-1 axes in the input
        ((3000, 3), (3,)),  # short period, tiled
        ((3, 5000), (3, 1)),  # long rows, one weight each
        ((70_000,), (70_000,)),
    ],
    ids=str,
)
def test_weight_broadcast_patterns(dtype, shape, wshape):
    x = make(shape, dtype, seed=5, lo=0.01, hi=0.99)
    t = make(shape, dtype, seed=6)
    w = make(wshape, dtype, seed=7, lo=0.5, hi=2.0)
    for reduction in ("none", "sum"):
        ref_loss, ref_grad = torch_bce(x, t, w, reduction)
        loss, grad = fastbce.binary_cross_entropy_and_grad(x, t, w, reduction)
        assert_close(loss, ref_loss, dtype)
        assert_close(grad, ref_grad, dtype)


def test_weight_layout_describes_the_broadcast():
    from fastbce._bce import weight_layout

    # per-column weight on (N, C): rows of C elements, weight index advancing by 1
    assert weight_layout((4,), (3, 4)) == (4, 1, [], [], [])
    # per-row weight (N, 1): rows of C elements with one weight each, row r uses w[r]
    assert weight_layout((3, 1), (3, 4)) == (4, 0, [1], [3], [1])
    # scalar and full weights: a single row
    assert weight_layout((), (3, 4)) == (12, 0, [], [], [])
    assert weight_layout((3, 4), (3, 4)) == (12, 1, [], [], [])
    # (C, 1, 1) over (N, C, H, W): rows of H*W, row r uses w[r % C]
    assert weight_layout((3, 1, 1), (2, 3, 4, 5)) == (20, 0, [1], [3], [1])


# ------------------------------------------------------------------ out buffers


def test_out_buffers_are_filled_and_returned(xt):
    x, t = xt
    dt = x.dtype
    out = np.full(SHAPE, -1.0, dt)
    res = fastbce.binary_cross_entropy(x, t, reduction="none", out=out)
    assert res is out
    np.testing.assert_array_equal(out, fastbce.binary_cross_entropy(x, t, reduction="none"))

    gout = np.empty(SHAPE, dt)
    res = fastbce.binary_cross_entropy_grad(x, t, out=gout)
    assert res is gout
    np.testing.assert_array_equal(gout, fastbce.binary_cross_entropy_grad(x, t))

    lo, go = np.empty((), dt), np.empty(SHAPE, dt)
    loss, grad = fastbce.binary_cross_entropy_and_grad(x, t, reduction="sum", loss_out=lo, grad_out=go)
    assert loss is lo and grad is go
    ref_loss, ref_grad = fastbce.binary_cross_entropy_and_grad(x, t, reduction="sum")
    assert lo[()] == ref_loss
    np.testing.assert_array_equal(go, ref_grad)
    # reused: a second call overwrites
    fastbce.binary_cross_entropy_and_grad(x, t, reduction="mean", loss_out=lo, grad_out=go)
    assert lo[()] == fastbce.binary_cross_entropy(x, t)


def test_out_non_contiguous_and_float16():
    x = make(SHAPE, np.float64, seed=8, lo=0.01, hi=0.99)
    t = make(SHAPE, np.float64, seed=9)
    big = np.zeros((SHAPE[0], 2 * SHAPE[1]))
    view = big[:, ::2]
    res = fastbce.binary_cross_entropy(x, t, reduction="none", out=view)
    assert res is view
    np.testing.assert_array_equal(view, fastbce.binary_cross_entropy(x, t, reduction="none"))
    assert np.all(big[:, 1::2] == 0)

    h = x.astype(np.float16)
    out16 = np.empty(SHAPE, np.float16)
    fastbce.binary_cross_entropy_grad(h, t, reduction="none", out=out16)
    np.testing.assert_array_equal(out16, fastbce.binary_cross_entropy_grad(h, t, reduction="none"))


def test_out_aliasing_an_input_gives_the_same_result():
    x = make((50_000,), np.float64, seed=10, lo=0.01, hi=0.99)
    t = make((50_000,), np.float64, seed=11)
    expected_loss, expected_grad = fastbce.binary_cross_entropy_and_grad(x, t, reduction="none")
    xa, ta = x.copy(), t.copy()
    loss, grad = fastbce.binary_cross_entropy_and_grad(xa, ta, reduction="none", loss_out=xa, grad_out=ta)
    np.testing.assert_array_equal(loss, expected_loss)
    np.testing.assert_array_equal(grad, expected_grad)
    # shifted overlap: out is the input moved by one element
    buf = np.concatenate([[0.5], x])
    out = buf[:-1]
    fastbce.binary_cross_entropy(buf[1:], t, reduction="none", out=out)
    np.testing.assert_array_equal(out, expected_loss)


def test_criterion_object():
    x = make(SHAPE, np.float64, seed=12, lo=0.01, hi=0.99)
    t = make(SHAPE, np.float64, seed=13)
    w = np.linspace(0.5, 1.5, SHAPE[1])
    crit = fastbce.BCELoss(weight=w, reduction="sum")
    ref_loss, ref_grad = torch_bce(x, t, w, "sum", 3.0)
    assert_close(crit(x, t), ref_loss, np.float64)
    assert_close(crit.grad(x, t, grad_output=3.0), ref_grad, np.float64)
    loss, grad = crit.loss_and_grad(x, t)
    assert_close(loss, ref_loss, np.float64)
    assert_close(3.0 * grad, ref_grad, np.float64)
    assert "reduction='sum'" in repr(crit)


@pytest.mark.parametrize("logits", [False, True])
def test_fortran_input_gives_fortran_outputs(logits):
    """Outputs keep a Fortran-ordered input's layout (np.empty_like's rule), with the same
    values as for the C-ordered copy; the weight, pos_weight and per-element grad_output
    broadcast in the caller's shape."""
    rng = np.random.default_rng(5)
    shape = (40, 3, 30)
    xc = rng.random(shape) * (8 - 4 if logits else 0.98) + (-4 if logits else 0.01)
    tc = rng.random(shape)
    w = rng.random((3, 1)) + 0.5
    go = rng.random(shape)
    x, t = np.asfortranarray(xc), np.asfortranarray(tc)
    kw = {"pos_weight": rng.random(30) + 0.5} if logits else {}
    grad_fn = (fastbce.binary_cross_entropy_with_logits_grad if logits
               else fastbce.binary_cross_entropy_grad)
    both = (fastbce.binary_cross_entropy_with_logits_and_grad if logits
            else fastbce.binary_cross_entropy_and_grad)
    loss, grad = both(x, t, w, reduction="none", **kw)
    ref_loss, ref_grad = both(xc, tc, w, reduction="none", **kw)
    assert loss.flags.f_contiguous and grad.flags.f_contiguous
    np.testing.assert_array_equal(loss, ref_loss)
    np.testing.assert_array_equal(grad, ref_grad)
    g = grad_fn(x, t, w, reduction="none", grad_output=go, **kw)
    np.testing.assert_array_equal(g, grad_fn(xc, tc, w, reduction="none", grad_output=go, **kw))
    np.testing.assert_allclose(both(x, t, w, reduction="sum", **kw)[0],
                               both(xc, tc, w, reduction="sum", **kw)[0], rtol=1e-13)
    out = np.empty(shape)  # a C-ordered out is filled and returned as given
    assert grad_fn(x, t, w, out=out, **kw) is out
    np.testing.assert_array_equal(out, grad_fn(xc, tc, w, **kw))
    with pytest.raises(ValueError, match=r"weight shape \(40,\) does not broadcast to input shape \(40, 3, 30\)"):
        grad_fn(x, t, np.ones(40), **kw)


def test_criterion_repr_names_every_option():
    crit = fastbce.BCEWithLogitsLoss(weight=np.ones(3), pos_weight=np.ones(3), num_threads=2)
    text = repr(crit)
    assert "pos_weight=<ndarray>" in text and "weight=<ndarray>" in text and "num_threads=2" in text
    assert repr(fastbce.BCEWithLogitsLoss()) == (
        "BCEWithLogitsLoss(weight=None, reduction='mean', pos_weight=None, label_smoothing=0.0)")
