"""scikit-learn style metrics on fastbce's kernels; needs only NumPy (never imports sklearn).

``log_loss`` is the binary case of ``sklearn.metrics.log_loss`` (scikit-learn 1.9 semantics):
use it in its place, or as a scorer::

    from sklearn.metrics import make_scorer
    scorer = make_scorer(fastbce.metrics.log_loss, greater_is_better=False,
                         response_method="predict_proba")
"""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import ArrayLike

from . import _api, _checks

__all__ = ["log_loss"]

_FLOATS = (np.float16, np.float32, np.float64)  # kept as they are; anything else -> float64
_MULTICLASS_HINT = "fastbce.metrics.log_loss is binary only; use sklearn.metrics.log_loss"


def _probabilities(y_pred):
    """y_pred as a 1-D or 2-D floating array, checked the way scikit-learn checks it."""
    p = np.asarray(y_pred)
    _checks.check_pred_dtype(p.dtype)
    if p.dtype.type not in _FLOATS:
        try:
            p = p.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"y_pred must hold numbers: {exc}") from None
    _checks.check_pred_shape(p, y_pred, _MULTICLASS_HINT)
    _checks.check_probabilities(p)
    return p


def _sample_weight(w):
    """The checked sample weights' values (their shape and dtype: _checks.check_samples)."""
    _checks.check_sample_weight_values(w)
    if not w.any():
        raise ValueError("Sample weights must contain at least one non-zero number.")
    return w


def _two_values(y):
    """The distinct values of y if there are at most two (sorted), else None."""
    if y.dtype.kind in "biuf":
        lo, hi = y.min(), y.max()
        if lo == hi:
            return np.array([lo])
        if np.count_nonzero((y == lo) | (y == hi)) == y.size:
            return np.array([lo, hi])
        return None
    values = _checks.unique_labels(y, "y_true")
    if y.dtype.kind == "O" and not all(isinstance(v, str) for v in values.tolist()):
        raise ValueError("Unknown label type: an object array of y_true labels must hold "
                         "strings (numbers belong in a numeric array)")
    return values if values.size <= 2 else None


def _classes(y, labels):
    """The two classes, sorted (the second is the positive class), checked like sklearn."""
    _checks.check_no_nan_labels(y)
    if labels is not None:
        classes = _checks.check_labels(labels, _MULTICLASS_HINT, stacklevel=3)
        try:
            inside = np.count_nonzero((y == classes[0]) | (y == classes[1])) == y.size
        except TypeError:
            inside = False
        if not inside:
            extra = set(_checks.unique_labels(y, "y_true").tolist()) - set(classes.tolist())
            raise ValueError(f"y_true contains values {extra} not belonging to the passed "
                             f"labels {labels}.")
        return classes
    classes = _two_values(y)
    if classes is None:
        found = _checks.unique_labels(y, "y_true")
        raise ValueError(f"y_true has {found.size} classes {found}: {_MULTICLASS_HINT} for "
                         "multiclass input")
    _checks.check_classes_found(classes.tolist(), y.dtype.kind)
    return classes


def log_loss(
    y_true: ArrayLike, y_pred: ArrayLike, *, normalize: bool = True,
    sample_weight: ArrayLike | None = None, labels: ArrayLike | None = None,
) -> float:
    """Log loss (binary cross entropy) of predicted probabilities, as scikit-learn computes it.

    The binary case of ``sklearn.metrics.log_loss`` (scikit-learn 1.9's semantics)::

        loss_i = -log(clip(q_i, eps, 1 - eps))

    where ``q_i`` is the predicted probability of sample i's true class and ``eps`` is the
    machine epsilon of ``y_pred``'s dtype; then the (weighted) mean, or the sum when
    ``normalize=False``. The per-element logs and the sum run in fastbce's kernels (sums
    accumulate in float64); no scikit-learn is needed.

    Parameters
    ----------
    y_true : array_like of shape (n_samples,)
        True labels: any two values (numbers, bools or strings). Sorted, the second is the
        positive class.
    y_pred : array_like of shape (n_samples,), (n_samples, 1) or (n_samples, 2)
        Probability of the positive class, or ``predict_proba``'s two columns (the classes in
        sorted order). Values must lie in [0, 1]. float16, float32 and float64 are kept;
        other dtypes become float64.
    normalize : bool, default True
        Mean (weighted by ``sample_weight``) if true, else the (weighted) sum.
    sample_weight : array_like of shape (n_samples,), optional
    labels : array_like, optional
        The two class labels, when ``y_true`` may hold only one of them.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        Inconsistent numbers of samples; ``y_pred`` with NaN, infinity, values outside [0, 1],
        no samples or more than two dimensions; a single class in ``y_true`` without
        ``labels``; ``labels`` with fewer than two classes or not covering ``y_true``;
        continuous ``y_true``; multiclass input (more than two classes or columns: use
        ``sklearn.metrics.log_loss``); bad ``sample_weight`` (not 1-D, NaN, all zero).
    ZeroDivisionError
        ``normalize=True`` with sample weights that sum to zero.

    Warns
    -----
    UserWarning
        Rows of a two-column ``y_pred`` that do not sum to one (within ``sqrt(eps)``), and
        ``labels`` given in unsorted order.
    """
    p = _probabilities(y_pred)
    y = np.asarray(y_true)
    w = None
    if sample_weight is not None:
        _checks.check_weight_not_scalar(sample_weight)
        w = np.asarray(sample_weight)
    _checks.check_samples(p, y, w, _MULTICLASS_HINT)
    w = None if w is None else _sample_weight(w)
    normalize = _checks.check_normalize(normalize)
    classes = _classes(y, labels)

    dtype = p.dtype
    eps = np.finfo(dtype).eps
    # targets: 1 where the true class is the positive one, written in the computation dtype
    if y.dtype == dtype and classes[0] == 0 and classes[1] == 1:
        target = y  # already 0/1 in this dtype: read in place
    elif y.dtype.kind in "biuf":
        target = np.equal(y, classes[1], out=np.empty(y.shape, dtype=dtype))
    else:  # strings, objects
        target = np.asarray(y == classes[1], dtype=bool).astype(dtype)
    if p.ndim == 2 and p.shape[1] == 2:
        total = p[:, 0] + p[:, 1]
        if not np.all(np.abs(total - 1) <= 1e-8 + np.sqrt(eps)):
            warnings.warn("The rows of y_pred do not sum to one: pass probabilities "
                          "(predict_proba's output).", UserWarning, stacklevel=2)
        # the probability of each sample's true class, then -log of it (target 1)
        q = np.where(target.astype(bool, copy=False), p[:, 1], p[:, 0])
        np.clip(q, eps, 1 - eps, out=q)
        target = np.ones(q.shape, dtype=dtype)
    else:
        # the positive-class probability; for a clipped x and a 0/1 target the loss is -log(x)
        # or -log(1 - x), which is sklearn's clip(1 - p) (both clips meet at eps and 1 - eps)
        q = np.clip(p.reshape(-1), eps, 1 - eps)
    # the sum (and mean) into a float64 0-d out: never rounded to y_pred's dtype, whose
    # range a weighted sum can leave (float16) -- one rounding, at the end
    total = np.empty((), np.float64)
    if w is None:
        _api.binary_cross_entropy(q, target, reduction="mean" if normalize else "sum", out=total)
        return float(total)
    _api.binary_cross_entropy(q, target, w, reduction="sum", out=total)
    if not normalize:
        return float(total)
    weight_sum = float(w.sum(dtype=np.float64))
    if weight_sum == 0:
        raise ZeroDivisionError("Weights sum to zero, can't be normalized")
    return float(total) / weight_sum
