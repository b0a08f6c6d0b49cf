"""Bad input: a clear ValueError or TypeError naming what is wrong, never a crash."""

import numpy as np
import pytest

import fastbce

FUNCS = {
    "loss": fastbce.binary_cross_entropy,
    "grad": fastbce.binary_cross_entropy_grad,
    "fused": fastbce.binary_cross_entropy_and_grad,
}


@pytest.fixture(params=list(FUNCS), ids=list(FUNCS))
def func(request):
    return FUNCS[request.param]


def good(n=5, dtype=np.float64):
    return np.linspace(0.1, 0.9, n).astype(dtype)


# ------------------------------------------------------------------ values outside [0, 1]

BAD_VALUES = [1.5, -0.1, np.nan, np.inf, -np.inf, "just-above-1", "just-below-0"]


def bad_value(bad, dtype):
    """The value itself, or the nearest representable neighbour of [0, 1] in this dtype."""
    if bad == "just-above-1":
        return np.nextafter(dtype(1), dtype(2))
    if bad == "just-below-0":
        return -np.finfo(dtype).smallest_subnormal
    return bad


@pytest.mark.parametrize("bad", BAD_VALUES, ids=str)
@pytest.mark.parametrize("n,pos", [(5, 2), (200_003, 150_001), (200_003, 0), (200_003, 200_002)])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_input_out_of_range(func, dtype, bad, n, pos, reduction, isa):
    x = good(n, dtype)
    x[pos] = bad_value(bad, dtype)
    t = good(n, dtype)
    x_before, t_before = x.copy(), t.copy()
    with pytest.raises(ValueError, match="all elements of input should be between 0 and 1"):
        func(x, t, reduction=reduction)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(t, t_before)


@pytest.mark.parametrize("bad", BAD_VALUES, ids=str)
@pytest.mark.parametrize("which", ["input", "target"])
@pytest.mark.parametrize("pos", [0, 31, 40_000, 99_999])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_out_of_range_among_hard_targets(func, dtype, bad, which, pos, reduction, isa):
    # 0/1 targets with a sum take the product path, which must still see every bad value
    x = good(100_000, dtype)
    t = (np.arange(100_000) % 3 == 0).astype(dtype)
    (x if which == "input" else t)[pos] = bad_value(bad, dtype)
    with pytest.raises(ValueError, match=f"all elements of {which} should be between 0 and 1"):
        func(x, t, reduction=reduction)


@pytest.mark.parametrize("bad", BAD_VALUES, ids=str)
@pytest.mark.parametrize("n,pos", [(5, 4), (200_003, 99_999)])
def test_target_out_of_range(func, bad, n, pos, isa):
    t = good(n)
    t[pos] = bad_value(bad, np.float64)
    with pytest.raises(ValueError, match="all elements of target should be between 0 and 1"):
        func(good(n), t)


def test_input_error_reported_before_target_error(func):
    x, t = good(), good()
    x[1], t[3] = 2.0, -1.0
    with pytest.raises(ValueError, match="of input"):
        func(x, t)


def test_range_error_with_weight_and_grad_output():
    x = good(100_000)
    x[77_777] = np.nan
    w = np.ones(100_000)
    with pytest.raises(ValueError, match="input"):
        fastbce.binary_cross_entropy_grad(x, good(100_000), w, "none", grad_output=np.ones(100_000))


def test_bool_and_int_inputs_are_range_checked():
    with pytest.raises(ValueError, match="input"):
        fastbce.binary_cross_entropy(np.array([0, 2]), np.array([0, 1]))
    with pytest.raises(ValueError, match="target"):
        fastbce.binary_cross_entropy(np.array([0.5, 0.5]), np.array([0, -1]))


# ------------------------------------------------------------------ shapes


def test_target_shape_must_match_exactly(func):
    with pytest.raises(ValueError, match=r"target shape \(5, 1\) must equal input shape \(5,\)"):
        func(good(), good().reshape(5, 1))
    with pytest.raises(ValueError, match="target shape"):
        func(good(5), good(4))
    with pytest.raises(ValueError, match="target shape"):
        func(0.5, [0.5])


@pytest.mark.parametrize("wshape", [(4,), (2, 4), (1, 6), (3, 1, 5), (1, 2, 5), (6, 1)])
def test_weight_must_broadcast_without_enlarging(func, wshape):
    x = good(10).reshape(2, 5)
    with pytest.raises(ValueError, match=r"weight shape .* does not broadcast to input shape \(2, 5\)"):
        func(x, x, np.ones(wshape))


@pytest.mark.parametrize("reduction", ["avg", "MEAN", "", None, 1, ["mean"]], ids=repr)
def test_unknown_reduction(func, reduction):
    with pytest.raises(ValueError, match="reduction must be one of"):
        func(good(), good(), reduction=reduction)
    with pytest.raises(ValueError, match="reduction must be one of"):
        fastbce.BCELoss(reduction=reduction)


# ------------------------------------------------------------------ types

NOT_REAL = {
    "complex": (np.array([0.5 + 0j, 0.5]), TypeError, "complex"),
    "complex-list": ([0.5j, 0.5], TypeError, "complex"),
    "string": (np.array(["0.5", "0.5"]), TypeError, "real numbers"),
    "string-scalar": ("0.5", TypeError, "real numbers"),
    "object": (np.array([0.5, None], dtype=object), TypeError, "real numbers"),
    "object-list": ([0.5, None], TypeError, "real numbers"),
    "dict": ({"a": 1}, TypeError, "real numbers"),
    "bytes": (b"ab", TypeError, "real numbers"),
    "datetime": (np.array(["2020-01-01"], dtype="datetime64[D]"), TypeError, "real numbers"),
    "ragged": ([[0.5, 0.5], [0.5]], ValueError, "could not be converted"),
    "longdouble": (np.array([0.5, 0.5], dtype=np.longdouble), TypeError, "wider than float64"),
}


@pytest.mark.parametrize("which", ["input", "target", "weight"])
@pytest.mark.parametrize("case", list(NOT_REAL))
def test_non_real_data(func, which, case):
    value, exc, msg = NOT_REAL[case]
    if which == "weight" and case == "longdouble" and np.dtype(np.longdouble).itemsize == 8:
        pytest.skip("longdouble is float64 on this platform")
    args = {"input": good(2), "target": good(2), "weight": None}
    args[which] = value
    with pytest.raises(exc, match=f"{which}.*{msg}|{msg}.*{which}"):
        func(args["input"], args["target"], args["weight"])


@pytest.mark.parametrize("n,exc", [(0, ValueError), (-3, ValueError), (1.5, TypeError),
                                   ("2", TypeError), (True, TypeError)])
def test_bad_num_threads(func, n, exc):
    with pytest.raises(exc, match="num_threads"):
        func(good(), good(), num_threads=n)
    with pytest.raises(exc, match="num_threads"):
        fastbce.set_num_threads(n)
    with pytest.raises(exc, match="num_threads"):
        fastbce.BCELoss(num_threads=n)


# ------------------------------------------------------------------ outputs


def _call_with_out(func, out, reduction="none", **kw):
    x = good(6).reshape(2, 3)
    if func is fastbce.binary_cross_entropy_and_grad:
        return func(x, x, reduction=reduction, grad_out=out, **kw)
    return func(x, x, reduction=reduction, out=out, **kw)


@pytest.mark.parametrize(
    "out,exc,msg",
    [
        (np.empty((3, 2)), ValueError, r"shape \(3, 2\), expected \(2, 3\)"),
        (np.empty(6), ValueError, "shape"),
        (np.empty((2, 3), np.float32), TypeError, "dtype float32, expected float64"),
        (np.empty((2, 3), np.int64), TypeError, "dtype"),
        (np.empty((2, 3), ">f8"), TypeError, "dtype"),
        ([[0.0] * 3] * 2, TypeError, "numpy.ndarray"),
    ],
    ids=["shape", "flat", "f32", "int", "bigendian", "list"],
)
def test_bad_out(func, out, exc, msg):
    with pytest.raises(exc, match=msg):
        _call_with_out(func, out)


def test_read_only_out(func):
    out = np.empty((2, 3))
    out.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        _call_with_out(func, out)


def test_bad_scalar_out_for_reductions():
    x = good()
    with pytest.raises(ValueError, match="shape"):
        fastbce.binary_cross_entropy(x, x, out=np.empty(5))
    with pytest.raises(TypeError, match="dtype"):
        fastbce.binary_cross_entropy(x, x, reduction="sum", out=np.empty((), np.float32))
    with pytest.raises(ValueError, match="shape"):
        fastbce.binary_cross_entropy_and_grad(x, x, loss_out=np.empty(1))
    ro = np.empty(())
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        fastbce.binary_cross_entropy(x, x, out=ro)


def test_bad_grad_output():
    x = good(6).reshape(2, 3)
    with pytest.raises(ValueError, match="grad_output must be a scalar for reduction='mean'"):
        fastbce.binary_cross_entropy_grad(x, x, grad_output=np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"grad_output shape \(3,\) must equal input shape \(2, 3\)"):
        fastbce.binary_cross_entropy_grad(x, x, reduction="none", grad_output=np.ones(3))
    with pytest.raises(TypeError, match="grad_output"):
        fastbce.binary_cross_entropy_grad(x, x, grad_output="one")
    with pytest.raises(TypeError, match="grad_output"):
        fastbce.binary_cross_entropy_grad(x, x, grad_output=1j)


def test_kernel_refuses_an_inconsistent_weight_layout():
    # the Python layer never builds one; the kernel still checks before reading memory
    from fastbce._config import kernels

    x = np.full(10, 0.5)
    w = np.ones(3)
    layout = (10, 1, [], [], [])
    # run(x, t, w, w_layout, pw, pw_layout, mask, mask_layout, loss, grad, hess, gvec, g, want_sum,
    #     logits, ls, nthreads)
    with pytest.raises(ValueError, match="weight layout"):
        kernels.run(x, x, w, layout, None, None, None, None, None, None, None, None, 1.0, True, False, 0.0, 1)
    with pytest.raises(ValueError, match="weight layout"):
        kernels.run(x, x, None, None, w, layout, None, None, None, None, None, None, 1.0, True, True, 0.0, 1)
    with pytest.raises(ValueError, match="different dtypes or lengths"):
        kernels.run(x, x[:5], None, None, None, None, None, None, None, None, None, None, 1.0, True, False, 0.0, 1)
