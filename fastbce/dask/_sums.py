"""fastbce.dask's reductions: what the chunks' float64 partial sums turn into (a loss value,
a gradient scale), added exactly."""

import math
from typing import NamedTuple

import dask.array as da
import numpy as np

_F64 = np.dtype(np.float64)

# --------------------------------------------------------------------------------------
# Reductions: what a chunk's partial sums turn into, and how the gradient is scaled.
# A new reduction is one entry here (its value from the exact totals, and the scale of
# the per-element gradient); the graph code below does not name reductions.


def _value_sum(total, n, wsum):
    return total


def _value_mean(total, n, wsum):
    return total / n if n else math.nan


def _value_weighted_mean(total, n, wsum):
    return total / wsum if wsum != 0 else math.nan


def _scale_one(g, n, wsum):
    return g


def _scale_mean(g, n, wsum):
    return g / n if n else g  # as in memory: an empty input's gradient is empty anyway


def _scale_weighted_mean(g, n, wsum):
    return g / wsum if wsum != 0 else math.nan


class _Reduction(NamedTuple):
    per_element: bool      # "none": the loss is an input-shaped array
    needs_wsum: bool       # the value or the gradient needs the sum of the weights
    value: object          # (exact loss total, element count, weight sum) -> float
    grad_scale: object     # (grad_output, element count, weight sum) -> per-element scale


_REDUCTIONS = {
    "none": _Reduction(True, False, None, _scale_one),
    "mean": _Reduction(False, False, _value_mean, _scale_mean),
    "sum": _Reduction(False, False, _value_sum, _scale_one),
    "weighted_mean": _Reduction(False, True, _value_weighted_mean, _scale_weighted_mean),
}


# --------------------------------------------------------------------------------------
# Exact sums of float64 partials. A partial is (totals, count): ``totals`` the float64
# totals of the chunks it covers, ``count`` their elements. Partials combine by joining
# their lists; the value is math.fsum of the list: the exact sum of the chunk totals,
# correctly rounded once, so it does not depend on the shape of the reduction tree, the
# scheduler or the order in which partials arrive. (One float per chunk is kept until the
# end: 8 bytes per chunk.)


def _leaf(total, count):
    """The partial of one chunk whose float64 total is ``total``."""
    return ([float(total)], count)


def _flatten(obj, out):
    """The partials in what dask hands a combine step: one, or nested lists of them."""
    if isinstance(obj, list):
        for item in obj:
            _flatten(item, out)
    else:
        out.append(obj)
    return out


def _merge(items):
    totals, count = [], 0
    for p_totals, p_count in _flatten(items, []):
        totals += p_totals
        count += p_count
    return (totals, count)


def _rounded(part):
    """The exact sum of a partial's totals, rounded once to float64 (inf and NaN totals
    propagate as in any sum)."""
    try:
        return math.fsum(part[0])
    except OverflowError:  # finite totals whose exact sum is beyond float64: +-inf
        return math.copysign(math.inf, math.fsum(t / 2 for t in part[0]))


def _combine(x_chunk, axis=None, keepdims=None):
    return _merge(x_chunk)


def _last(block, axis=None, keepdims=None):
    """The partial a chunk task returned (last item of its tuple)."""
    return block[-1]


def _agg_total(x_chunk, axis=None, keepdims=None):
    """The exact total as a 0-d float64 array."""
    return np.array(_rounded(_merge(x_chunk)), dtype=_F64)


def _agg_value(x_chunk, reduction, rdt, axis=None, keepdims=None):
    """The reduced loss: a NumPy scalar of the result dtype, as in memory."""
    merged = _merge(x_chunk)
    return _as_scalar(_REDUCTIONS[reduction].value(_rounded(merged), merged[1], None), rdt)


def _agg_wsum(x_chunk, multiplier, axis=None, keepdims=None):
    """The sum of the broadcast weights over the input: the compact weight's exact sum
    times the number of input elements each of its elements covers."""
    return np.array(_rounded(_merge(x_chunk)) * multiplier, dtype=_F64)


def _as_scalar(value, rdt):
    with np.errstate(over="ignore", invalid="ignore"):
        return rdt.type(value)


def _weighted_value(total, wsum, reduction, rdt):
    return _as_scalar(_REDUCTIONS[reduction].value(float(total), None, float(wsum)), rdt)


def _grad_scale_task(wsum, reduction, g, n):
    return np.array(_REDUCTIONS[reduction].grad_scale(g, n, float(wsum)), dtype=_F64)


def _wsum_task(block, cdt):
    with np.errstate(over="ignore", invalid="ignore"):  # as the route casts them
        w = np.asarray(block, dtype=cdt)  # the weights the kernel multiplies by
    return _leaf(np.sum(w, dtype=_F64), w.size)


def _reduce(arr, chunk, aggregate, dtype, split_every):
    return da.reduction(
        arr, chunk=chunk, combine=_combine, aggregate=aggregate, axis=None, keepdims=False,
        dtype=dtype, split_every=split_every, concatenate=False,
        meta=np.empty((), dtype=dtype), name="fastbce-reduce",
    )
