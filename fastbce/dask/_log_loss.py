"""fastbce.dask.log_loss: scikit-learn's binary log loss over chunks, on the checks of
``fastbce.metrics`` (``fastbce._checks``)."""

from __future__ import annotations

import warnings
from functools import partial
from typing import TYPE_CHECKING, NamedTuple, overload

import dask.array as da
import numpy as np

from .. import _checks
from ._graph import _identity, _kernel_pass, _known_shape, _Spec
from ._sums import _flatten, _leaf, _merge, _rounded

if TYPE_CHECKING:
    from typing import Literal

    from dask.array import Array
    from numpy.typing import ArrayLike
    from typing_extensions import TypeAlias

    _Operand: TypeAlias = "Array | ArrayLike"

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)

# --------------------------------------------------------------------------------------
# log_loss: the binary case of sklearn.metrics.log_loss, as fastbce.metrics computes it.
# Each chunk checks its data, finds its labels and sums its losses; a chunk that holds one
# label only sums them both ways (as the positive and as the negative class), since which
# one it is depends on the labels of the other chunks.

_MULTICLASS_HINT = "fastbce.dask.log_loss is binary only; use sklearn.metrics.log_loss"
_EMPTY: tuple[list[float], int] = ([], 0)


class _LogLossSpec(NamedTuple):
    classes: object        # the two labels (sorted) when ``labels`` was given, else None
    labels: object         # ``labels`` as given, for messages
    two_columns: bool      # y_pred holds predict_proba's two columns
    weighted: bool
    num_threads: object
    pdt: np.dtype          # y_pred's dtype (float16, float32 or float64)


def _too_many(seen):
    shown = ", ".join(repr(v) for v in seen[:5]) + (", ..." if len(seen) > 5 else "")
    return (f"y_true has at least {len(seen)} classes [{shown}]: {_MULTICLASS_HINT} for "
            "multiclass input")


def _chunk_labels(y):
    """The distinct labels of a chunk, sorted, as Python objects (all of them, for the
    message, when there are more than two). Numbers take two reductions and a count, not a
    sort."""
    if y.dtype.kind not in "biuf":
        return _checks.unique_labels(y, "y_true").tolist()
    if not y.size:
        return []
    lo, hi = y.min(), y.max()
    if y.dtype.kind == "f" and (np.isnan(lo) or np.isnan(hi)):
        raise ValueError("Input y contains NaN.")
    if lo == hi:
        return [lo.item()]
    if np.count_nonzero((y == lo) | (y == hi)) == y.size:
        return [lo.item(), hi.item()]
    return _checks.unique_labels(y, "y_true").tolist()


def _log_loss_task(spec, y, p, w):
    y, p = np.asarray(y), np.asarray(p)
    w = None if w is None else np.asarray(w)
    dtype = spec.pdt
    eps = dtype.type(np.finfo(dtype).eps)
    inside = False  # all of y_pred in [eps, 1 - eps]: nothing to clip
    if p.size:
        lo, hi = _checks.check_probabilities(p)
        inside = lo >= eps and hi <= 1 - eps
    if w is not None:
        _checks.check_sample_weight_values(w)
    rows_off = False
    if spec.two_columns:
        if p.size:
            total = p[:, 0] + p[:, 1]
            rows_off = not np.all(np.abs(total - 1) <= 1e-8 + np.sqrt(eps))
        q0, q1 = p[:, 0], p[:, 1]
        if not inside:
            q0, q1 = np.clip(q0, eps, 1 - eps), np.clip(q1, eps, 1 - eps)
    else:
        q = p.reshape(-1)
        if not inside:
            q = np.clip(q, eps, 1 - eps)
    kspec = _Spec(False, 0.0, spec.num_threads, _F32 if dtype.itemsize <= 4 else _F64, dtype,
                  ("sum",))

    def summed(positive=None, every=None):
        """The chunk's partial loss sum, the positive class being the label ``positive``;
        or, without it, all samples positive (``every=True``) or none (``every=False``)."""
        if positive is None:
            if spec.two_columns:  # -log of the probability of each sample's true class
                qq, target = (q1 if every else q0), np.ones(p.shape[:1], dtype)
            else:
                qq, target = q, np.full(q.shape, every, dtype)
        elif spec.two_columns:
            qq, target = np.where(y == positive, q1, q0), np.ones(p.shape[:1], dtype)
        elif y.dtype == dtype and positive == 1 and seen_01:
            qq, target = q, y  # already 0/1 in this dtype: read in place
        else:
            qq, target = q, np.equal(y, positive, out=np.empty(y.shape, dtype=dtype))
        return _kernel_pass(kspec, qq, target, w, None, None, 1.0)[0]

    seen, both, one = None, _EMPTY, {}
    if spec.classes is not None:
        neg, pos = spec.classes
        try:
            member = np.count_nonzero((y == neg) | (y == pos)) == y.size
        except TypeError:
            member = False
        if not member:
            _checks.check_no_nan_labels(y)
            extra = set(_checks.unique_labels(y, "y_true").tolist()) - {neg, pos}
            raise ValueError(f"y_true contains values {extra} not belonging to the passed "
                             f"labels {spec.labels}.")
        seen_01 = (neg, pos) == (0, 1)
        if y.size:
            both = summed(pos)
    else:
        seen = _chunk_labels(y)
        if len(seen) > 2:
            raise ValueError(_too_many(seen))
        seen_01 = seen == [0, 1]
        if len(seen) == 2:
            both = summed(seen[1])
        elif len(seen) == 1:
            one = {seen[0]: (summed(every=True), summed(every=False))}
    wsum, nonzero = _EMPTY, False
    if w is not None:
        wsum = _leaf(np.sum(w, dtype=_F64), w.size)
        nonzero = bool(w.any())
    return {"seen": seen, "both": both, "one": one, "wsum": wsum, "nonzero": nonzero,
            "rows_off": rows_off}


def _log_loss_merge(items):
    items = _flatten(items, [])
    seen = None
    if items[0]["seen"] is not None:
        labels = set()
        for item in items:
            labels.update(item["seen"])
        try:
            seen = sorted(labels)
        except TypeError:
            raise ValueError("Mix of label input types in y_true (string and number): "
                             "labels must be all numbers or all strings") from None
        if len(seen) > 2:
            raise ValueError(_too_many(seen))
    one = {}
    for item in items:
        for label, (pos, neg) in item["one"].items():
            if label in one:
                pos = _merge([one[label][0], pos])
                neg = _merge([one[label][1], neg])
            one[label] = (pos, neg)
    return {
        "seen": seen, "both": _merge([item["both"] for item in items]), "one": one,
        "wsum": _merge([item["wsum"] for item in items]),
        "nonzero": any(item["nonzero"] for item in items),
        "rows_off": any(item["rows_off"] for item in items),
    }


def _log_loss_combine(x_chunk, axis=None, keepdims=None):
    return _log_loss_merge(x_chunk)


def _log_loss_aggregate(x_chunk, spec, n, normalize, ydt, axis=None, keepdims=None):
    """The log loss as fastbce.metrics.log_loss computes it, and whether rows of a two-column
    y_pred do not sum to one: a 0-d object array holding ``(value, rows_off)``."""
    m = _log_loss_merge(x_chunk)
    if spec.weighted and not m["nonzero"]:
        raise ValueError("Sample weights must contain at least one non-zero number.")
    if spec.classes is not None:
        classes = spec.classes
    else:
        classes = m["seen"]
        _checks.check_classes_found(classes, ydt.kind)
    parts = [m["both"]]
    for label, (pos, neg) in m["one"].items():
        parts.append(pos if label == classes[1] else neg)
    # in float64 throughout, never rounded to y_pred's dtype (as fastbce.metrics.log_loss)
    value = _rounded(_merge(parts))
    if normalize and not spec.weighted:
        value = value / n
    elif normalize:
        wsum = _rounded(m["wsum"])
        if wsum == 0:
            raise ZeroDivisionError("Weights sum to zero, can't be normalized")
        value = value / wsum
    out = np.empty((), dtype=object)
    out[()] = (value, m["rows_off"])
    return out


def _lazy_1d(value, name):
    if isinstance(value, da.Array):
        _known_shape(value, name)
        return value
    arr = np.asarray(value)
    return da.from_array(arr, chunks=arr.shape or ())


def _operands(y_true, y_pred, sample_weight):
    """y_pred, y_true and sample_weight as lazy arrays, their shapes, lengths and dtypes
    checked as ``fastbce.metrics.log_loss`` checks them (y_pred integers made float64)."""
    if isinstance(y_pred, da.Array):
        _known_shape(y_pred, "y_pred")
        p = y_pred
    else:
        p = _lazy_1d(np.asarray(y_pred), "y_pred")
    _checks.check_pred_dtype(p.dtype)
    if p.dtype.type not in (np.float16, np.float32, np.float64):
        if p.dtype.kind not in "biuf":
            raise ValueError(f"y_pred must hold numbers, got dtype {p.dtype}")
        p = p.astype(np.float64)
    _checks.check_pred_shape(p, y_pred, _MULTICLASS_HINT)
    y = _lazy_1d(y_true, "y_true")
    w = None
    if sample_weight is not None:
        _checks.check_weight_not_scalar(sample_weight)
        w = _lazy_1d(sample_weight, "sample_weight")
    _checks.check_samples(p, y, w, _MULTICLASS_HINT)
    return p, y, w


@overload
def log_loss(
    y_true: _Operand,
    y_pred: _Operand,
    *,
    normalize: bool = ...,
    sample_weight: _Operand | None = ...,
    labels: ArrayLike | None = ...,
    num_threads: int | None = ...,
    compute: Literal[True] = ...,
    split_every: int | None = ...,
) -> float: ...
@overload
def log_loss(
    y_true: _Operand,
    y_pred: _Operand,
    *,
    normalize: bool = ...,
    sample_weight: _Operand | None = ...,
    labels: ArrayLike | None = ...,
    num_threads: int | None = ...,
    compute: Literal[False],
    split_every: int | None = ...,
) -> Array: ...
def log_loss(
    y_true: _Operand, y_pred: _Operand, *, normalize: bool = True,
    sample_weight: _Operand | None = None, labels: ArrayLike | None = None,
    num_threads: int | None = 1, compute: bool = True, split_every: int | None = None,
) -> float | Array:
    """Log loss of predicted probabilities over dask arrays, as scikit-learn computes it.

    ``fastbce.metrics.log_loss`` (the binary case of ``sklearn.metrics.log_loss``,
    scikit-learn 1.9's semantics) computed chunk by chunk in one pass over the data::

        loss_i = -log(clip(q_i, eps, 1 - eps))

    with ``q_i`` the predicted probability of sample i's true class and ``eps`` the machine
    epsilon of ``y_pred``'s dtype; then the (weighted) mean, or the sum when
    ``normalize=False``. Unlike dask-ml's ``log_loss``, the mean is over samples, not an
    unweighted mean of per-chunk means, and no ``eps`` argument is passed to scikit-learn
    (none is imported).

    Parameters
    ----------
    y_true : dask.array.Array or array_like of shape (n_samples,)
        Any two labels (numbers, bools, strings); sorted, the second is the positive class.
        The labels are found in the same pass as the loss: a chunk holding one label sums
        its loss both ways and the reduction keeps the right one.
    y_pred : dask.array.Array or array_like of shape (n_samples,), (n_samples, 1) or (n_samples, 2)
        Probability of the positive class, or ``predict_proba``'s two columns. Its row
        chunks decide; ``y_true`` and ``sample_weight`` are rechunked to them.
    normalize : bool, default True
        Mean (weighted by ``sample_weight``) if true, else the (weighted) sum.
    sample_weight : dask.array.Array or array_like of shape (n_samples,), optional
    labels : array_like, optional
        The two class labels, when ``y_true`` may hold only one of them.
    num_threads : int or None, default 1
        fastbce threads per chunk task.
    compute : bool, default True
        Compute and return a float. ``False`` returns a lazy 0-d float64 dask array (then
        the rows-do-not-sum-to-one warning cannot be given).
    split_every : int, optional
        Fan-in of the reduction tree.

    Returns
    -------
    float, or a 0-d dask.array.Array with ``compute=False``

    Raises
    ------
    ValueError
        As ``fastbce.metrics.log_loss``: inconsistent lengths, values outside [0, 1], NaN
        or infinity (the value named is the extreme of the failing chunk), one label without
        ``labels``, more than two labels or columns, continuous labels, bad sample weights.
        Shape errors are raised when the graph is built; data errors when it is computed.
    ZeroDivisionError
        ``normalize=True`` and sample weights that sum to zero.

    Warns
    -----
    UserWarning
        Rows of a two-column ``y_pred`` that do not sum to one (only with ``compute=True``),
        ``labels`` in unsorted order.
    """
    p, y, w = _operands(y_true, y_pred, sample_weight)
    normalize = _checks.check_normalize(normalize)
    if num_threads is not None:
        _checks.check_num_threads(num_threads)
    classes = None if labels is None else tuple(
        _checks.check_labels(labels, _MULTICLASS_HINT, stacklevel=2).tolist())

    result = _reduction(p, y, w, classes, labels, num_threads, bool(normalize), split_every)
    if not compute:
        return da.blockwise(_item_value, (), result, (), dtype=_F64, meta=np.empty((), _F64),
                            token="fastbce-log-loss-value")
    value, rows_off = result.compute()[()]
    if rows_off:
        warnings.warn("The rows of y_pred do not sum to one: pass probabilities "
                      "(predict_proba's output).", UserWarning, stacklevel=2)
    return value


def _reduction(p, y, w, classes, labels, num_threads, normalize, split_every):
    """The lazy (value, rows-off flag) of log_loss: the operands aligned on y_pred's row
    chunks, one task per chunk, their partials reduced."""
    two_columns = p.ndim == 2 and p.shape[1] == 2
    if p.ndim == 2 and not two_columns:
        p = p[:, 0]
    rows = (p.chunks[0],)
    if y.chunks != rows:
        y = y.rechunk(rows)
    if w is not None and w.chunks != rows:
        w = w.rechunk(rows)
    if two_columns and len(p.chunks[1]) != 1:
        p = p.rechunk({1: -1})
    spec = _LogLossSpec(classes, None if labels is None else list(np.asarray(labels).tolist()),
                        two_columns, w is not None, num_threads, p.dtype)
    args = [y, (0,), p, (0, 1) if two_columns else (0,)]
    args += [w, (0,)] if w is not None else [None, None]
    parts = da.blockwise(_log_loss_task, (0,), spec, None, *args, dtype=object,
                         meta=np.empty((0,), object), concatenate=True,
                         token="fastbce-log-loss")
    aggregate = partial(_log_loss_aggregate, spec=spec, n=p.shape[0], normalize=normalize,
                        ydt=y.dtype)
    result = da.reduction(
        parts, chunk=_identity, combine=_log_loss_combine, aggregate=aggregate, axis=None,
        keepdims=False, dtype=object, split_every=split_every, concatenate=False,
        meta=np.empty((), object), name="fastbce-log-loss-reduce",
    )
    return result


def _item_value(result):
    return np.float64(result[()][0])
