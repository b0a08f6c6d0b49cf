"""Regression tests for the defects found by trying fastbce as a new user would (issue "Wrong
numbers and rough edges"): masked elements that leaked, 0-d masked arrays, reductions given as
str subclasses, float16 log_loss, focal limits at infinite logits, and errors that point to
the fix. Each failed on the code before the fix; CI runs them once per kernel module."""

import enum
import subprocess
import sys

import numpy as np
import pytest
import torch

import fastbce
import fastbce.metrics

# ------------------------------------------------------------ a masked element adds nothing

N = 3000  # a few chunks, so that masked elements sit in several of them
BAD = [np.inf, -np.inf, np.nan]


def _family_calls():
    """(name, operands that may hold garbage where masked, call(x, t, ops, where, reduction))."""
    def probs(clamp):
        def loss(x, t, o, where, red):
            return fastbce.binary_cross_entropy_and_grad(x, t, o["weight"], red, where=where,
                                                         clamp_log=clamp)
        return loss

    def logits(x, t, o, where, red):
        return fastbce.binary_cross_entropy_with_logits_and_grad(
            x, t, o["weight"], red, o["pos_weight"], where=where)

    def focal(x, t, o, where, red):
        return fastbce.sigmoid_focal_loss_and_grad(x, t, 0.25, 2.0, red, weight=o["weight"],
                                                   where=where)

    return {
        "probs": (["input", "target", "weight"], probs(True)),
        "probs-exact": (["input", "target", "weight"], probs(False)),
        "logits": (["input", "target", "weight", "pos_weight"], logits),
        "focal": (["input", "target", "weight"], focal),
    }


FAMILIES = _family_calls()


def _operands(family, dtype):
    rng = np.random.default_rng(5)
    logits = family in ("logits", "focal")
    x = (rng.normal(0, 2, N) if logits else rng.uniform(0.01, 0.99, N)).astype(dtype)
    t = rng.uniform(0, 1, N).astype(dtype)
    ops = {"weight": rng.uniform(0.5, 2, N).astype(dtype),
           "pos_weight": rng.uniform(0.5, 3, N).astype(dtype)}
    where = np.ones(N, bool)
    where[::7] = False
    return x, t, ops, where


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("bad", BAD, ids=["inf", "-inf", "nan"])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean", "weighted_mean"])
def test_masked_elements_add_exactly_nothing(family, bad, reduction, dtype):
    """Garbage at masked positions of any operand (a per-class pos_weight = n_neg / n_pos of
    a class without positives is inf) gives the very bits of the same call with clean values
    there: loss 0 and gradient 0 where masked, the kept elements' sum elsewhere."""
    names, call = FAMILIES[family]
    x, t, ops, where = _operands(family, dtype)
    clean = call(x, t, ops, where, reduction)
    for name in names:
        x2, t2, ops2 = x.copy(), t.copy(), {k: v.copy() for k, v in ops.items()}
        arr = {"input": x2, "target": t2}.get(name, ops2.get(name))
        arr[~where] = bad
        got = call(x2, t2, ops2, where, reduction)
        for a, b in zip(got, clean):
            np.testing.assert_array_equal(a, b, err_msg=f"{name} = {bad} where masked")
        if reduction == "none":
            assert not np.any(got[0][~where]) and not np.any(got[1][~where])


@pytest.mark.parametrize("bad", BAD, ids=["inf", "-inf", "nan"])
def test_masked_elements_ignore_grad_output_and_hessian_inputs(bad, dtype):
    x, t, ops, where = _operands("logits", dtype)
    go = np.ones(N, dtype)
    go[~where] = bad
    for fn in (fastbce.binary_cross_entropy_grad, fastbce.binary_cross_entropy_with_logits_grad,
               fastbce.sigmoid_focal_loss_grad):
        xx = np.clip(x, 0.01, 0.99) if fn is fastbce.binary_cross_entropy_grad else x
        g = fn(xx, t, reduction="none", where=where, grad_output=go)
        assert np.all(np.isfinite(g)) and not np.any(g[~where])
    pw = ops["pos_weight"].copy()
    pw[~where] = bad
    for gh in (fastbce.binary_cross_entropy_with_logits_grad_hess(x, t, pos_weight=pw, where=where),
               fastbce.sigmoid_focal_loss_grad_hess(np.where(where, x, bad), t, where=where)):
        for arr in gh:
            assert np.all(np.isfinite(arr)) and not np.any(arr[~where])


def test_per_class_pos_weight_of_a_class_without_positives():
    """The issue's case: pos_weight = n_neg / n_pos per class is inf for a class with no
    positives; masking that class leaves the other classes' loss."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(64, 3))
    t = (rng.uniform(size=(64, 3)) < 0.3).astype(float)
    t[:, 2] = 0
    with np.errstate(divide="ignore"):
        pw = (t == 0).sum(0) / t.sum(0)
    assert np.isinf(pw[2])
    keep = np.array([True, True, False])
    got = fastbce.binary_cross_entropy_with_logits(z, t, reduction="sum", pos_weight=pw,
                                                   where=keep)
    ref = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.tensor(z[:, :2]), torch.tensor(t[:, :2]), pos_weight=torch.tensor(pw[:2]),
        reduction="sum")
    assert got == pytest.approx(ref.item(), rel=1e-12)


# ------------------------------------------------------------------- 0-d masked arrays

ZERO_D = {
    "bce": lambda x, t, **kw: fastbce.binary_cross_entropy(x, t, **kw),
    "bce_grad": lambda x, t, **kw: fastbce.binary_cross_entropy_grad(x, t, **kw),
    "logits": lambda x, t, **kw: fastbce.binary_cross_entropy_with_logits(x, t, **kw),
    "logits_and_grad": lambda x, t, **kw: fastbce.binary_cross_entropy_with_logits_and_grad(
        x, t, **kw)[0],
    "focal": lambda x, t, **kw: fastbce.sigmoid_focal_loss(x, t, **kw),
}


@pytest.mark.parametrize("fn", list(ZERO_D))
@pytest.mark.parametrize("masked", ["input", "target"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_zero_d_masked_arrays(fn, masked, reduction):
    f = ZERO_D[fn]
    x, t = np.float64(0.5), np.float64(0.3)
    plain = f(np.array(x), np.array(t), reduction=reduction)

    def wrap(mask):
        if masked == "input":
            return np.ma.masked_array(x, mask=mask), np.array(t)
        return np.array(x), np.ma.masked_array(t, mask=mask)

    kept = f(*wrap(False), reduction=reduction)
    np.testing.assert_array_equal(kept, plain)
    assert np.shape(kept) == np.shape(plain)
    gone = f(*wrap(True), reduction=reduction)  # the documented empty result
    assert np.shape(gone) == np.shape(plain)
    if reduction == "mean" and fn != "bce_grad":  # a mean over nothing
        assert np.isnan(gone)
    else:
        assert gone == 0


# ------------------------------------------------------- reductions as str subclasses

class Red(str, enum.Enum):  # a StrEnum before Python 3.11
    SUM = "sum"
    NONE = "none"


class Loud(str):
    def __str__(self):
        return "not a reduction"


@pytest.mark.parametrize("name", [np.str_("sum"), Red.SUM, Loud("sum")],
                         ids=["np.str_", "str-enum", "str-subclass"])
def test_reduction_may_be_any_str_with_a_valid_value(name):
    x, t = np.array([0.2, 0.7, 0.9]), np.array([0.0, 1.0, 0.5])
    want = fastbce.binary_cross_entropy(x, t, reduction="sum")
    assert fastbce.binary_cross_entropy(x, t, reduction=name) == want
    assert fastbce.binary_cross_entropy_and_grad(x, t, reduction=name)[0] == want
    np.testing.assert_array_equal(fastbce.binary_cross_entropy_grad(x, t, reduction=name),
                                  fastbce.binary_cross_entropy_grad(x, t, reduction="sum"))
    assert fastbce.binary_cross_entropy_with_logits(x, t, reduction=name) == (
        fastbce.binary_cross_entropy_with_logits(x, t, reduction="sum"))
    assert fastbce.sigmoid_focal_loss(x, t, reduction=name) == (
        fastbce.sigmoid_focal_loss(x, t, reduction="sum"))
    crit = fastbce.BCELoss(reduction=name)
    assert type(crit.reduction) is str and crit.reduction == "sum"
    assert crit(x, t) == want
    assert fastbce.BCEWithLogitsLoss(reduction=name)(x, t) == (
        fastbce.binary_cross_entropy_with_logits(x, t, reduction="sum"))
    assert fastbce.SigmoidFocalLoss(reduction=name)(x, t) == (
        fastbce.sigmoid_focal_loss(x, t, reduction="sum"))
    with pytest.raises(ValueError, match="reduction must be one of"):
        fastbce.binary_cross_entropy(x, t, reduction=np.str_("avg"))


def test_reduction_as_str_subclass_in_dask():
    da = pytest.importorskip("dask.array")
    import fastbce.dask as fd

    x, t = np.array([0.2, 0.7, 0.9, 0.4]), np.array([0.0, 1.0, 0.5, 0.5])
    dx, dt = da.from_array(x, chunks=2), da.from_array(t, chunks=2)
    for name in (np.str_("mean"), Red.SUM, Red.NONE):
        want = fastbce.binary_cross_entropy(x, t, reduction=str.__str__(name))
        np.testing.assert_allclose(fd.binary_cross_entropy(dx, dt, reduction=name).compute(),
                                   want, rtol=1e-15)


# ------------------------------------------------------------ log_loss sums in float64

@pytest.mark.parametrize("pdt", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("weights", [1000.0, 1e-30, 1e30, 1e-5],
                         ids=["1000", "1e-30", "1e30", "1e-5"])
@pytest.mark.parametrize("wdt", [np.float32, np.float64])
@pytest.mark.parametrize("normalize", [True, False])
def test_log_loss_weighted_sum_in_float64(pdt, weights, wdt, normalize):
    y = np.array([0, 1] * 50)
    p = np.full(100, 0.5, pdt)
    w = np.full(100, weights, wdt)
    # every element's loss is ln 2 (0.5 is exact in every dtype); the exact weighted mean
    exact = np.log(2.0) * (1.0 if normalize else float(w.astype(np.float64).sum()))
    got = fastbce.metrics.log_loss(y, p, sample_weight=w, normalize=normalize)
    assert got == pytest.approx(exact, rel=1e-6)
    try:
        import dask.array as da

        import fastbce.dask as fd
    except ImportError:
        return
    lazy = fd.log_loss(da.from_array(y, chunks=30), da.from_array(p, chunks=30),
                       sample_weight=da.from_array(w, chunks=30), normalize=normalize)
    assert lazy == pytest.approx(exact, rel=1e-6)


def test_log_loss_float16_matches_sklearn():
    sk = pytest.importorskip("sklearn.metrics")
    y = np.array([0, 1] * 50)
    p = np.full(100, 0.5, np.float16)
    w = np.full(100, 1000.0)
    ref = sk.log_loss(y, p, sample_weight=w)  # float16 arithmetic: 0.6934
    got = fastbce.metrics.log_loss(y, p, sample_weight=w)
    assert got == pytest.approx(ref, rel=float(np.finfo(np.float16).eps))


def test_float64_out_for_a_reduced_loss_of_lower_precision():
    x = np.full(100, 0.5, np.float16)
    t = np.zeros(100, np.float16)
    w = np.full(100, 1000.0, np.float16)
    out = np.empty((), np.float64)
    r = fastbce.binary_cross_entropy(x, t, w, reduction="sum", out=out)
    assert r is out and out[()] == pytest.approx(69314.718, rel=1e-6)
    assert np.isinf(fastbce.binary_cross_entropy(x, t, w, reduction="sum"))  # float16's range
    with pytest.raises(TypeError, match="out has dtype float32, expected float16"):
        fastbce.binary_cross_entropy(x, t, reduction="sum", out=np.empty((), np.float32))


# --------------------------------------------------- focal derivatives at infinite logits

@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0, 3.0])
@pytest.mark.parametrize("alpha", [0.25, -1.0])
def test_focal_derivatives_at_infinite_logits_are_the_limits(gamma, alpha, dtype):
    """At x = +-inf the gradient is A u^g (s - t) and the hessian 0: the values at a logit so
    large that exp(-|x|) is 0 in both dtypes (there, ce r = |x| e^-|x| is exactly 0)."""
    t = np.array([0.0, 1.0, 0.3, 0.0, 1.0, 0.7], dtype)
    inf = np.array([np.inf, -np.inf, np.inf, -np.inf, np.inf, -np.inf], dtype)
    big = np.where(inf > 0, 1000.0, -1000.0).astype(dtype)
    g_inf, h_inf = fastbce.sigmoid_focal_loss_grad_hess(inf, t, alpha, gamma)
    g_big, h_big = fastbce.sigmoid_focal_loss_grad_hess(big, t, alpha, gamma)
    np.testing.assert_array_equal(g_inf, g_big)
    np.testing.assert_array_equal(h_inf, h_big)
    np.testing.assert_array_equal(
        fastbce.sigmoid_focal_loss_grad(inf, t, alpha, gamma), g_big)
    if gamma == 0.0 and alpha == 0.25:  # the numbers: alpha_t times the BCE gradient
        np.testing.assert_array_equal(g_inf[:2], [0.75, -0.25])
        alpha_t = 0.25 * t + 0.75 * (1 - t)
        bce = fastbce.binary_cross_entropy_with_logits_grad(inf, t, reduction="none")
        np.testing.assert_allclose(g_inf, alpha_t * bce, rtol=1e-6)


# ------------------------------------------------------------- errors that point to the fix

@pytest.mark.parametrize("where", ["input", "target", "weight"])
def test_torch_tensor_that_requires_grad_names_the_argument(where):
    x, t = torch.rand(4, dtype=torch.float64), torch.rand(4, dtype=torch.float64)
    args = {"input": x, "target": t, "weight": None}
    args[where] = torch.rand(4, dtype=torch.float64, requires_grad=True)
    with pytest.raises(TypeError, match=rf"^{where} is a torch.Tensor that requires grad.*fastbce\.torch"):
        fastbce.binary_cross_entropy(args["input"], args["target"], args["weight"])
    # without grad, a tensor is an array-like like any other
    assert np.isfinite(fastbce.binary_cross_entropy(x.numpy(), t))


def test_probabilities_that_look_like_logits_say_so():
    with pytest.raises(ValueError, match=r"^all elements of input should be between 0 and 1; "
                       r".*\(such as 2\.5\).*use binary_cross_entropy_with_logits$"):
        fastbce.binary_cross_entropy(np.array([0.5, 2.5, -1.0]), np.array([1.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match=r"^all elements of input should be between 0 and 1$"):
        fastbce.binary_cross_entropy(np.array([0.5, np.nan]), np.array([1.0, 0.0]))


def test_nan_target_suggests_where():
    t = np.array([1.0, np.nan, 0.0])
    for fn, x in ((fastbce.binary_cross_entropy, np.array([0.2, 0.5, 0.7])),
                  (fastbce.binary_cross_entropy_with_logits, np.array([0.2, -3.0, 1.0]))):
        with pytest.raises(ValueError, match=r"^all elements of target should be between 0 and 1; "
                           r"target holds NaN: pass where=~np\.isnan\(target\) to skip missing labels$"):
            fn(x, t)
        fn(x, t, where=~np.isnan(t))  # the fix it names works
    with pytest.raises(ValueError, match=r"^all elements of target should be between 0 and 1$"):
        fastbce.binary_cross_entropy(np.array([0.2]), np.array([1.5]))


def test_a_reduction_name_where_weight_stands_says_reduction_is_a_keyword():
    x, t = np.array([0.2, 0.7]), np.array([0.0, 1.0])
    with pytest.raises(TypeError, match=r"^weight must be an array-like of numbers, got the "
                       r"string 'sum': reduction is a keyword argument, reduction='sum'$"):
        fastbce.binary_cross_entropy(x, t, "sum")
    with pytest.raises(TypeError, match=r"^weight must be an array-like of numbers, got the "
                       r"string 'ones'$"):
        fastbce.binary_cross_entropy(x, t, "ones")


def test_label_smoothing_is_keyword_only_in_both_criteria():
    for cls in (fastbce.BCELoss, fastbce.BCEWithLogitsLoss):
        with pytest.raises(TypeError, match="positional argument"):
            cls(None, "mean", None, 0.1)
        assert cls(label_smoothing=0.1).label_smoothing == 0.1


def test_show_config_prints_once_in_a_repl(tmp_path):
    # (run where no fastbce source tree is on the path: the installed package's config)
    import os

    root = os.path.dirname(os.path.dirname(os.path.abspath(fastbce.__file__)))
    env = {**os.environ, "PYTHONPATH": root}
    code = "import fastbce\nfastbce.show_config(print_=True)\n"
    r = subprocess.run([sys.executable, "-i"], input=code, capture_output=True, text=True,
                       check=True, timeout=60, cwd=tmp_path, env=env)
    assert r.stdout.count("kernels_runnable") == 1, r.stdout
    assert fastbce.show_config(print_=False)["kernels"] in fastbce.show_config()["kernels_runnable"]
