"""fastbce.metrics.log_loss against sklearn.metrics.log_loss (scikit-learn 1.9)."""

import subprocess
import sys
import tempfile
import warnings

import numpy as np
import pytest

sklearn_metrics = pytest.importorskip("sklearn.metrics")  # a test dependency only
from sklearn.metrics import log_loss as sk_log_loss

from fastbce.metrics import log_loss


def exact_log_loss(y01, p, w=None, normalize=True):
    """sklearn's definition evaluated in float64 from the (clipped) values of p's dtype."""
    eps = np.finfo(p.dtype).eps
    p2 = p if p.ndim == 2 and p.shape[1] == 2 else np.stack([1 - p.ravel(), p.ravel()], 1)
    q = np.clip(np.where(y01, p2[:, 1], p2[:, 0]), eps, 1 - eps).astype(np.float64)
    loss = -np.log(q)
    w = np.ones_like(loss) if w is None else np.asarray(w, np.float64)
    return (loss @ w) / (w.sum() if normalize else 1.0)


def case(n, seed, shape="1d", dtype=np.float64, classes=(0, 1), edges=False):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0, 1, n)
    if edges:  # exact 0 and 1, values within eps of them, perfect and worst predictions
        k = n // 4
        p[:k] = rng.choice([0.0, 1.0, 1e-17, 1 - 1e-17, 1e-9, 1 - 1e-9, 2e-16], k)
    y01 = rng.uniform(0, 1, n) < p
    if edges:  # confident and wrong as well as confident and right
        y01[: n // 4] = rng.uniform(0, 1, n // 4) < 0.5
    y = np.where(y01, classes[1], classes[0])
    p = p.astype(dtype)
    if shape == "col":
        p = p[:, None]
    elif shape == "2col":
        p = np.stack([1 - p, p], axis=1)
    return y, p, y01


@pytest.mark.parametrize("shape", ["1d", "col", "2col"])
@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("weighted", [None, "float", "int", "signed"])
@pytest.mark.parametrize("edges", [False, True])
def test_float64_equals_sklearn(shape, normalize, weighted, edges):
    y, p, _ = case(301, seed=5, shape=shape, edges=edges)
    rng = np.random.default_rng(9)
    w = {None: None, "float": rng.uniform(0, 3, 301), "int": rng.integers(0, 4, 301),
         "signed": rng.uniform(-0.5, 3, 301)}[weighted]
    ours = log_loss(y, p, normalize=normalize, sample_weight=w)
    ref = sk_log_loss(y, p, normalize=normalize, sample_weight=w)
    assert type(ours) is float
    assert ours == pytest.approx(ref, rel=1e-12, abs=0)


@pytest.mark.parametrize("classes", [(0, 1), (-1, 1), (2, 7), (False, True), ("ham", "spam"),
                                     (0.0, 1.0), (np.uint8(3), np.uint8(200))],
                         ids=["01", "pm1", "2-7", "bool", "str", "float01", "uint8"])
def test_any_two_labels(classes):
    y, p, _ = case(200, seed=2, classes=classes)
    assert log_loss(y, p) == pytest.approx(sk_log_loss(y, p), rel=1e-12)
    # labels in the other order in y_true do not change which class is positive
    assert log_loss(list(y), list(p)) == pytest.approx(sk_log_loss(list(y), list(p)), rel=1e-12)


def test_labels_argument_single_class_present():
    y = np.ones(10, dtype=int)
    p = np.linspace(0.05, 0.95, 10)
    assert log_loss(y, p, labels=[0, 1]) == pytest.approx(sk_log_loss(y, p, labels=[0, 1]),
                                                          rel=1e-12)
    p2 = np.stack([1 - p, p], 1)
    assert log_loss(y * 0, p2, labels=[0, 1]) == pytest.approx(
        sk_log_loss(y * 0, p2, labels=[0, 1]), rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("shape", ["1d", "2col"])
@pytest.mark.parametrize("edges", [False, True])
def test_low_precision_to_its_own_rounding(dtype, shape, edges):
    y, p, y01 = case(5000, seed=3, shape=shape, dtype=dtype, edges=edges)
    exact = exact_log_loss(y01, p)
    ours, ref = log_loss(y, p), sk_log_loss(y, p)
    ulp = float(np.finfo(dtype).eps) * exact
    # ours sums in float64: within a few roundings of the exact value, and no further from it
    # than sklearn's own low-precision result
    assert abs(ours - exact) <= max(4 * ulp, abs(ref - exact))
    assert ours == pytest.approx(ref, rel=10 * float(np.finfo(dtype).eps))


def test_float32_reads_float32_labels_in_place():
    y, p, _ = case(1000, seed=4, dtype=np.float32, classes=(0.0, 1.0))
    y = y.astype(np.float32)
    assert log_loss(y, p, sample_weight=np.arange(1000)) == pytest.approx(
        sk_log_loss(y, p, sample_weight=np.arange(1000)), rel=1e-6)


def test_object_arrays_and_array_likes():
    y = np.array(["b", "a", "b", 2], dtype=object)[:3]
    p = [0.8, 0.3, 0.6]
    assert log_loss(y, p) == pytest.approx(sk_log_loss(y, p), rel=1e-12)
    y = np.array([0, 1, 1], dtype=object)
    for fn in (sk_log_loss, log_loss):
        with pytest.raises(ValueError, match="Unknown label type"):
            fn(y, p)
    assert log_loss((0, 1, 1), tuple(p)) == pytest.approx(sk_log_loss((0, 1, 1), p), rel=1e-12)
    with pytest.raises(ValueError, match="sample_weight"):
        log_loss([0, 1], [0.3, 0.6], sample_weight=2.0)


def test_integer_predictions_and_perfect_scores():
    for y, p in [([0, 1], [0, 1]), ([0, 1], [1, 0]), ([1, 0, 1], [1.0, 0.0, 1.0])]:
        ours, ref = log_loss(y, p), sk_log_loss(y, p)
        assert ours == pytest.approx(ref, rel=1e-12) and ours > 0  # clipped: never 0 or inf


# ---------------------------------------------------------------- checks and messages

ERRORS = [  # (y_true, y_pred, kwargs, regex both raise with)
    ([0, 1, 1], [0.2, 0.7], {}, r"inconsistent numbers of samples: \[2, 3\]"),
    ([0, 1], [0.2, 0.7], {"sample_weight": [1, 2, 3]}, r"inconsistent numbers of samples: \[2, 2, 3\]"),
    ([1, 1], [0.2, 0.7], {}, r"y_true contains only one label \(1\)\. Please provide"),
    ([1, 1], [0.2, 0.7], {"labels": [1]}, r"needs to contain at least two labels"),
    ([1, 2], [0.2, 0.7], {"labels": [0, 1]}, r"y_true contains values \{2\} not belonging to the passed labels \[0, 1\]"),
    ([0, 1], [0.2, 1.7], {}, r"y_prob contains values greater than 1: 1\.7"),
    ([0, 1], [-0.2, 0.7], {}, r"y_prob contains values lower than 0: -0\.2"),
    ([0, 1], [np.nan, 0.7], {}, r"Input contains NaN"),
    ([0, 1], [np.inf, 0.7], {}, r"Input contains infinity"),
    ([], [], {}, r"Found array with 0 sample\(s\)"),
    ([0, 1], np.zeros((2, 2, 1)), {}, r"Found array with dim 3"),
    ([0, 1], [0.3, 0.6], {"sample_weight": [0, 0]}, r"at least one non-zero number"),
    ([0, 1], [0.3, 0.6], {"sample_weight": [[1], [1]]}, r"Sample weights must be 1D array"),
    ([0, 1], [0.3, 0.6], {"sample_weight": [np.nan, 1]}, r"Input sample_weight contains NaN"),
    ([0, np.nan], [0.3, 0.6], {}, r"Input y contains NaN"),
    ([0.2, 0.7], [0.3, 0.6], {}, r"Unknown label type"),
    ([0, 1], np.array([0.3, 0.6], complex), {}, r"Complex data not supported"),
]


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")  # sklearn's
@pytest.mark.parametrize("y, p, kw, match", ERRORS, ids=[e[3][:30] for e in ERRORS])
def test_errors_like_sklearn(y, p, kw, match):
    with pytest.raises(ValueError, match=match):
        sk_log_loss(y, p, **kw)
    with pytest.raises(ValueError, match=match):
        log_loss(y, p, **kw)


def test_weights_summing_to_zero():
    for fn in (sk_log_loss, log_loss):
        with pytest.raises(ZeroDivisionError):
            fn([0, 1], [0.3, 0.6], sample_weight=[1.0, -1.0])
        assert fn([0, 1], [0.3, 0.6], sample_weight=[1.0, -1.0], normalize=False) == \
            pytest.approx(np.log(0.6) - np.log(0.7), rel=1e-12)


@pytest.mark.parametrize("y, p, kw", [
    ([0, 1, 2], [0.2, 0.7, 0.1], {}),
    ([0, 1, 2], [[0.2, 0.7, 0.1]] * 3, {}),
    ([0, 1, 1], [[0.2, 0.7, 0.1]] * 3, {}),
    ([0, 1, 1], [0.2, 0.7, 0.1], {"labels": [0, 1, 2]}),
])
def test_multiclass_is_rejected_pointing_to_sklearn(y, p, kw):
    with pytest.raises(ValueError, match=r"binary only; use sklearn\.metrics\.log_loss"):
        log_loss(y, p, **kw)


def test_warnings_like_sklearn():
    y, p = [0, 1], [[0.3, 0.6], [0.3, 0.6]]  # rows do not sum to one
    for fn in (sk_log_loss, log_loss):
        with pytest.warns(UserWarning, match="sum to one"):
            fn(y, p)
    for fn in (sk_log_loss, log_loss):  # labels not in sorted order
        with pytest.warns(UserWarning, match="[Oo]rder"):
            fn([0, 1], [[0.2, 0.8], [0.3, 0.7]], labels=[1, 0])
    values = []
    for fn in (sk_log_loss, log_loss):
        with pytest.warns(UserWarning):
            values.append(fn([0, 1], [[0.2, 0.8], [0.3, 0.7]], labels=[1, 0]))
    assert values[1] == pytest.approx(values[0], rel=1e-12)
    with warnings.catch_warnings():  # a 1-D probability never warns
        warnings.simplefilter("error")
        log_loss([0, 1, 1], [0.1, 1.0, 0.5])


def test_does_not_import_sklearn():
    code = ("import sys, fastbce.metrics\n"
            "print(fastbce.metrics.log_loss(['a', 'b'], [[0.9, 0.1], [0.2, 0.8]]))\n"
            "assert not any(m.split('.')[0] == 'sklearn' for m in sys.modules), 'sklearn'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       check=False, cwd=tempfile.gettempdir(), timeout=120)
    assert r.returncode == 0, r.stderr
    assert float(r.stdout) == pytest.approx(-(np.log(0.9) + np.log(0.8)) / 2, rel=1e-12)


def test_as_a_scorer_in_cross_val_score():
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import make_scorer
    from sklearn.model_selection import cross_val_score

    X, y = make_classification(n_samples=200, n_features=5, random_state=0)
    y = np.where(y == 1, "yes", "no")
    scorer = make_scorer(log_loss, greater_is_better=False, response_method="predict_proba")
    model = LogisticRegression()
    ours = cross_val_score(model, X, y, cv=3, scoring=scorer)
    ref = cross_val_score(model, X, y, cv=3, scoring="neg_log_loss")
    assert np.all(ours < 0)
    np.testing.assert_allclose(ours, ref, rtol=1e-12)
