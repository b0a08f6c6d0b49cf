"""fastbce.dask's reductions over axes (``axis=``): each chunk's in-memory pass sums its
losses per slot of the reduced shape (float64, keepdims), and dask's own reduction adds the
chunks' slot sums over the reduced axes; the means divide by each slot's count or weight
sum. The gradient's per-slot scale (``grad_output / denominator``) reaches each chunk as the
in-memory ``grad_output`` of a "sum" over the same axes."""

import math
from typing import NamedTuple

import dask.array as da
import numpy as np

from .. import _bce, _checks

_F64 = np.dtype(np.float64)


class _Axes(NamedTuple):
    axes: tuple      # the reduced axes, sorted and non-negative
    keepdims: bool
    kshape: tuple    # the result's shape with keepdims: reduced axes of length 1
    oshape: tuple    # the result's shape


def check(axis, keepdims, shape, reduction):
    """axis= and keepdims= as the in-memory route checks them; None for axis=None without
    keepdims (the whole-input reduction)."""
    axes = _checks.check_axis(axis, len(shape), reduction)
    keep = _checks.check_keepdims(keepdims, reduction)
    if axes is None and not keep:
        return None
    if axes is None:
        axes = tuple(range(len(shape)))
    kshape = tuple(1 if k in axes else n for k, n in enumerate(shape))
    return _Axes(axes, keep, kshape, _checks.reduced_shape(shape, axes, keep))


def _chunk(spec, axes, x, t, w, pw, scale):
    """One chunk: its float64 slot sums (keepdims) and, when asked, its gradient, from one
    in-memory pass ("sum" over ``axes``, upstream gradient ``scale`` per slot)."""
    x = np.asarray(x)
    kshape = tuple(1 if k in axes else n for k, n in enumerate(x.shape))
    sums = np.empty(kshape, _F64) if "sum" in spec.outputs else None
    _, grad, _ = _bce.compute(  # (the sums land in sums)
        x, np.asarray(t), logits=spec.logits, weight=w, pos_weight=pw, reduction="sum",
        label_smoothing=spec.label_smoothing, num_threads=spec.num_threads,
        want_loss=sums is not None, want_grad="grad" in spec.outputs, loss_out=sums,
        grad_output=1.0 if scale is None else np.asarray(scale), axis=axes, keepdims=True,
    )
    found = {"sum": sums, "grad": grad}
    out = tuple(found[name] for name in spec.outputs)
    return out[0] if len(out) == 1 else out


def _blocks(p, ax, outputs, scale):
    """The chunk tasks; with one output "sum", an array of the slot sums (reduced axes of
    one element per chunk)."""
    x = p.x
    ind = tuple(range(x.ndim))
    spec = p.base._replace(outputs=tuple(outputs))
    args = [x, ind, p.t, ind]
    for operand in (p.w, p.pw, scale):
        args += [operand, ind] if operand is not None else [None, None]
    sums_only = tuple(outputs) == ("sum",)
    dtype = {("sum",): _F64, ("grad",): p.base.rdt}.get(tuple(outputs), object)
    return da.blockwise(
        _chunk, ind, spec, None, ax.axes, None, *args, dtype=dtype,
        adjust_chunks={k: 1 for k in ax.axes} if sums_only else None,
        meta=np.empty((0,) * x.ndim, dtype), token="fastbce-axis-chunk",
    )


def _sums_of(blocks, ax, ndim):
    """The slot sums out of chunk tuples (the last item)."""
    ind = tuple(range(ndim))
    return da.blockwise(_last, ind, blocks, ind, dtype=_F64,
                        adjust_chunks={k: 1 for k in ax.axes},
                        meta=np.empty((0,) * ndim, _F64), token="fastbce-axis-sums")


def _grad_of(blocks, rdt, ndim):
    ind = tuple(range(ndim))
    return da.blockwise(_first, ind, blocks, ind, dtype=rdt,
                        meta=np.empty((0,) * ndim, rdt), token="fastbce-axis-grad")


def _last(block):
    return block[-1]


def _first(block):
    return block[0]


def _denominator(p, ax):
    """Each slot's denominator in keepdims shape (a dask array, float64), or a float where
    every slot has the same; None for "sum"."""
    if p.reduction == "sum":
        return None
    if p.reduction == "mean" or p.w is None:
        return float(math.prod(p.x.shape[k] for k in ax.axes))
    # the weight sum over the reduced axes: summed where the weight has the axis, times
    # the axis' length where it broadcasts along it (never expanded)
    w = p.w.astype(p.base.cdt).astype(_F64)
    along = tuple(k for k in ax.axes if w.shape[k] != 1)
    repeat = math.prod(p.x.shape[k] for k in ax.axes if w.shape[k] == 1)
    wsum = w.sum(axis=along, keepdims=True) if along else w
    return wsum * float(repeat)


def _scale(p, ax, den, grad_output):
    """The gradient's upstream value per slot (keepdims shape): grad_output over the
    slot's denominator, in the computation dtype first as in memory."""
    ga = grad_output
    if not isinstance(ga, da.Array):
        ga = _bce.as_real_array(ga, "grad_output")
    else:
        _bce.as_real_array(np.zeros(0, ga.dtype), "grad_output")
    if not _checks.broadcasts_to(tuple(ga.shape), ax.oshape):
        raise ValueError(f"grad_output shape {tuple(ga.shape)} does not broadcast to the "
                         f"reduced shape {ax.oshape}")
    with np.errstate(over="ignore", invalid="ignore"):
        g = da.broadcast_to(da.asarray(ga).astype(p.base.cdt).astype(_F64), ax.oshape)
    g = g.reshape(ax.kshape)
    if den is not None:
        g = g / den
    chunks = tuple((1,) if k in ax.axes else p.x.chunks[k] for k in range(p.x.ndim))
    return g.rechunk(chunks)


def _value(p, ax, sums, den):
    """The reduced loss: the slot sums added over the reduced axes, divided, in the result
    dtype and shape."""
    total = sums.sum(axis=ax.axes, keepdims=True, dtype=_F64, split_every=p.split_every)
    if den is not None:
        total = total / den
    if not ax.keepdims:
        total = total.reshape(ax.oshape)
    return total.astype(p.base.rdt)


def loss(p, ax):
    sums = _blocks(p, ax, ["sum"], None)
    return _value(p, ax, sums, _denominator(p, ax))


def grad(p, ax, grad_output):
    den = _denominator(p, ax)
    return _blocks(p, ax, ["grad"], _scale(p, ax, den, grad_output))


def loss_and_grad(p, ax):
    den = _denominator(p, ax)
    blocks = _blocks(p, ax, ["grad", "sum"], _scale(p, ax, den, 1.0))
    nd = p.x.ndim
    return _value(p, ax, _sums_of(blocks, ax, nd), den), _grad_of(blocks, p.base.rdt, nd)
