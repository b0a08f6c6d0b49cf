"""Every argument check of fastbce and its message, written once.

The route (``_bce.compute``), the public functions and criteria (``_api``), and the adapters
(``metrics``, ``dask``, ``torch``) call these; none writes a check of its own. The route keeps
only fast tests that recognise a plain, valid argument (an exact ndarray, a default) and
calls here for everything else, so a call with ordinary arguments pays for no Python-level
check. Pure Python, imported by ``import fastbce``: needs only NumPy.
"""

from __future__ import annotations

import math
import numbers
import operator
from typing import Any

import numpy as np

REDUCTIONS = ("none", "mean", "sum", "weighted_mean")


# ------------------------------------------------------------------ options


def check_reduction(reduction: object) -> str:
    """The reduction's name as a plain ``str``. Any ``str`` whose value is a valid name is
    accepted, subclasses included (``np.str_``, a ``StrEnum`` member), as torch does."""
    if isinstance(reduction, str):
        name = str.__str__(reduction)  # the value, whatever a subclass's __str__ says
        if name in REDUCTIONS:
            return name
    names = ", ".join(repr(name) for name in REDUCTIONS)
    raise ValueError(f"reduction must be one of {names}, got {reduction!r}")


def _is_real_number(value: object) -> bool:
    return not isinstance(value, (bool, np.bool_)) and isinstance(
        value, (int, float, np.integer, np.floating))


def check_label_smoothing(value: object) -> float:
    if not _is_real_number(value):
        raise TypeError(f"label_smoothing must be a float in [0, 1), got {value!r}")
    if not 0.0 <= float(value) < 1.0:  # type: ignore[arg-type]
        raise ValueError(f"label_smoothing must be in [0, 1), got {value!r}")
    return float(value)  # type: ignore[arg-type]


def check_focal(alpha: object, gamma: object) -> tuple[float, float]:
    """(alpha, gamma) of the focal loss as floats: alpha any finite number (< 0 turns the
    alpha term off, as in torchvision), gamma finite and >= 0."""
    values = []
    for name, value in (("alpha", alpha), ("gamma", gamma)):
        if not _is_real_number(value):
            raise TypeError(f"{name} must be a real number, got {value!r}")
        number = float(value)  # type: ignore[arg-type]
        if not math.isfinite(number):
            raise ValueError(f"{name} must be finite, got {value!r}")
        values.append(number)
    if values[1] < 0:
        raise ValueError(f"gamma must be >= 0, got {gamma!r}")
    return values[0], values[1]


def check_clamp_log(value: object) -> bool:
    if value is not True and value is not False:
        raise TypeError(f"clamp_log must be True or False, got {value!r}")
    return value


def check_num_threads(n: object) -> int:
    if isinstance(n, (bool, np.bool_)):
        raise TypeError(f"num_threads must be an integer, got {n!r}")
    try:
        count = operator.index(n)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"num_threads must be an integer or None, got {type(n).__name__}") from None
    if count < 1:
        raise ValueError(f"num_threads must be at least 1, got {count}")
    if count > 1 << 16:
        raise ValueError(f"num_threads must be at most 65536, got {count}")
    return count


# ------------------------------------------------------------------ shapes and outputs

try:
    _AxisError = np.exceptions.AxisError
except AttributeError:  # NumPy < 1.25
    _AxisError = np.AxisError  # type: ignore[attr-defined]


def check_axis(axis: object, ndim: int, reduction: str) -> tuple[int, ...] | None:
    """``axis=`` as NumPy reads it: None (every axis), or the sorted tuple of the distinct
    axes reduced (an int or a tuple of ints, negative ones counted from the end)."""
    if axis is None:
        return None
    if reduction == "none":
        raise ValueError("axis applies to the reductions 'mean', 'sum' and 'weighted_mean', "
                         "not to reduction='none'")
    items = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    axes = []
    for item in items:
        if isinstance(item, (bool, np.bool_)):
            raise TypeError(f"axis must be an int or a tuple of ints, got {axis!r}")
        try:
            k = operator.index(item)  # type: ignore[arg-type]
        except TypeError:
            raise TypeError(f"axis must be an int or a tuple of ints, got {axis!r}") from None
        if not -ndim <= k < ndim:
            raise _AxisError(f"axis {k} is out of bounds for an input of dimension {ndim}")
        axes.append(k % ndim if ndim else k)
    if len(set(axes)) != len(axes):
        raise ValueError(f"axis {axis!r} names an axis twice")
    return tuple(sorted(axes))


def check_keepdims(keepdims: object, reduction: str) -> bool:
    if not isinstance(keepdims, (bool, np.bool_)):
        raise TypeError(f"keepdims must be True or False, got {keepdims!r}")
    if keepdims and reduction == "none":
        raise ValueError("keepdims applies to the reductions 'mean', 'sum' and "
                         "'weighted_mean', not to reduction='none'")
    return bool(keepdims)


def reduced_shape(shape: tuple[int, ...], axes: tuple[int, ...], keepdims: bool) -> tuple[int, ...]:
    """The shape of a reduction of ``shape`` over ``axes``."""
    if keepdims:
        return tuple(1 if k in axes else size for k, size in enumerate(shape))
    return tuple(size for k, size in enumerate(shape) if k not in axes)



def broadcasts_to(op_shape: tuple[int, ...], shape: tuple[int, ...]) -> bool:
    """An operand of shape ``op_shape`` broadcasts to ``shape`` (and nothing larger)."""
    try:
        return np.broadcast_shapes(op_shape, shape) == shape
    except ValueError:
        return False


def check_broadcast(op_shape: tuple[int, ...], shape: tuple[int, ...], name: str) -> None:
    if not broadcasts_to(op_shape, shape):
        raise ValueError(f"{name} shape {op_shape} does not broadcast to input shape {shape}")


def check_target_shape(tshape: tuple[int, ...], shape: tuple[int, ...]) -> None:
    if tuple(tshape) != tuple(shape):
        raise ValueError(f"target shape {tuple(tshape)} must equal input shape {tuple(shape)} "
                         "(fastbce does not broadcast the target)")


def check_grad_output_shape(gshape: tuple[int, ...], shape: tuple[int, ...],
                            reduction: str) -> None:
    """A non-scalar grad_output: only for "none", and of the input's shape."""
    if reduction != "none":
        raise ValueError(f"grad_output must be a scalar for reduction={reduction!r}, got shape "
                         f"{tuple(gshape)}")
    if tuple(gshape) != tuple(shape):
        raise ValueError(f"grad_output shape {tuple(gshape)} must equal input shape "
                         f"{tuple(shape)}")


def check_out(out: object, shape: tuple[int, ...], dtype: Any, name: str) -> None:
    """Raise unless ``out`` is a writeable ndarray of exactly this shape and dtype."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != shape:
        raise ValueError(f"{name} has shape {out.shape}, expected {shape}")
    if out.dtype != dtype:
        raise TypeError(f"{name} has dtype {out.dtype}, expected {dtype}")
    if not out.flags.writeable:
        raise ValueError(f"{name} is read-only")


# ------------------------------------------------------------------ log_loss (metrics, dask)


def check_pred_shape(p: Any, y_pred: object, hint: str) -> None:
    """scikit-learn's checks of y_pred's shape (``p``: y_pred as an array, NumPy or dask)."""
    if p.ndim == 0:
        raise ValueError(f"y_pred must be an array of shape (n_samples,) or (n_samples, 2), "
                         f"got a scalar {y_pred!r}")
    if p.ndim > 2:
        raise ValueError(f"Found array with dim {p.ndim}, while dim <= 2 is required.")
    if p.shape[0] == 0:
        raise ValueError(f"Found array with 0 sample(s) (shape={p.shape}) while a minimum of 1 "
                         "is required.")
    if p.ndim == 2 and p.shape[1] > 2:
        raise ValueError(f"y_pred has {p.shape[1]} columns: {hint} for multiclass "
                         "probabilities")


def check_probabilities(p: np.ndarray) -> tuple[Any, Any]:
    """scikit-learn's checks of y_pred's values (all of it, or one dask chunk: an extreme
    value named in a message is then the chunk's); returns (min, max)."""
    lo, hi = p.min(), p.max()  # NaN propagates into both
    if np.isnan(lo) or np.isnan(hi):
        raise ValueError("Input contains NaN.")
    if np.isinf(lo) or np.isinf(hi):
        raise ValueError(f"Input contains infinity or a value too large for {p.dtype!r}.")
    if hi > 1:
        raise ValueError(f"y_prob contains values greater than 1: {hi}")
    if lo < 0:
        raise ValueError(f"y_prob contains values lower than 0: {lo}")
    return lo, hi


def check_sample_weight_values(w: np.ndarray) -> None:
    """No NaN or infinity among the weights (one reduction; the culprit only on failure)."""
    if w.dtype.kind == "f" and w.size and not np.isfinite(w.sum()):
        bad = "NaN" if np.isnan(w).any() else "infinity or a value too large"
        raise ValueError(f"Input sample_weight contains {bad}.")


def unique_labels(a: Any, name: str) -> np.ndarray:
    try:
        return np.unique(a)
    except TypeError:  # unorderable mix, e.g. strings and numbers
        raise ValueError(f"Mix of label input types in {name} (string and number): "
                         "labels must be all numbers or all strings") from None


def check_no_nan_labels(y: np.ndarray) -> None:
    if y.dtype.kind == "f" and y.size:
        lo, hi = y.min(), y.max()  # NaN propagates into both; no temporary
        if np.isnan(lo) or np.isnan(hi):
            raise ValueError("Input y contains NaN.")


def check_pred_dtype(dtype: np.dtype) -> None:
    """y_pred's dtype as scikit-learn refuses it (NumPy or dask)."""
    if dtype.kind == "c":
        raise ValueError("Complex data not supported")


def check_weight_not_scalar(sample_weight: object) -> None:
    """sample_weight given as one number (scikit-learn would broadcast it; log_loss wants one
    weight per sample)."""
    if np.ndim(sample_weight) == 0:
        raise ValueError(f"sample_weight must be an array-like of shape (n_samples,), got "
                         f"{sample_weight!r}")


def check_samples(p: Any, y: Any, w: Any, hint: str) -> None:
    """log_loss's shapes: y_true 1-D, y_pred, y_true and sample_weight (``w``, None when not
    given) of one length, sample_weight 1-D and of real numbers (NumPy or dask arrays)."""
    if y.ndim != 1:
        raise ValueError(f"y_true must be 1-D (n_samples,), got shape {y.shape}; "
                         f"{hint} for label-indicator matrices")
    lengths = [p.shape[0], y.shape[0]]
    if w is not None:
        lengths.append(w.shape[0] if w.ndim else 0)
    if len(set(lengths)) > 1:
        raise ValueError(f"Found input variables with inconsistent numbers of samples: {lengths}")
    if w is None:
        return
    if w.ndim != 1:
        raise ValueError(f"Sample weights must be 1D array or scalar, got {w.ndim}D array. "
                         f"Expected either a scalar value or a 1D array of length {p.shape[0]}.")
    if w.dtype.kind not in "biuf":
        raise ValueError(f"sample_weight must hold real numbers, got dtype {w.dtype}")


def check_labels(labels: object, hint: str, stacklevel: int) -> np.ndarray:
    """``labels=``: exactly two classes, returned sorted (a warning when given unsorted,
    ``stacklevel`` frames above this function)."""
    import warnings

    arr = np.asarray(labels)
    classes = unique_labels(arr, "labels")
    if classes.size < 2:
        raise ValueError(f"The labels array needs to contain at least two labels, got "
                         f"{classes}.")
    if classes.size > 2:
        raise ValueError(f"labels has {classes.size} classes {classes}: {hint} for multiclass "
                         "input")
    if not np.array_equal(classes, arr):
        first, second = classes.tolist()
        warnings.warn(f"labels={labels} are taken in sorted order, {[first, second]}: the "
                      f"first column of y_pred is the probability of {first!r}, the second "
                      f"(or a 1-D y_pred) that of {second!r}.", UserWarning,
                      stacklevel=stacklevel + 1)
    return classes


def check_classes_found(classes: list[Any], y_kind: str) -> None:
    """The classes y_true holds (without ``labels=``): two, and not continuous."""
    if len(classes) == 1:
        raise ValueError(f"y_true contains only one label ({classes[0]}). Please provide the "
                         "list of all expected class labels explicitly through the labels "
                         "argument.")
    if y_kind == "f" and any(c != round(c) for c in classes):
        raise ValueError(f"Unknown label type: continuous (y_true holds {np.array(classes)}); "
                         "class labels are needed, e.g. 0 and 1")


def check_normalize(normalize: object) -> bool:
    if not isinstance(normalize, (bool, np.bool_, numbers.Integral)):
        raise TypeError(f"normalize must be a bool, got {normalize!r}")
    return bool(normalize)
