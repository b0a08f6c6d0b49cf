"""fastbce.dask's graph: one call of fastbce's route per chunk (``_bce.compute``), outputs
chunked like the input, reduced losses through ``_sums``."""

import math
from functools import partial
from typing import NamedTuple

import dask.array as da
import numpy as np

from .. import _api, _bce, _checks
from ._sums import (
    _REDUCTIONS,
    _agg_total,
    _agg_value,
    _agg_wsum,
    _grad_scale_task,
    _last,
    _leaf,
    _reduce,
    _Reduction,
    _weighted_value,
    _wsum_task,
)

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)

# --------------------------------------------------------------------------------------
# One chunk: the same single pass ``fastbce._bce.compute`` makes, keeping the float64
# total that the in-memory API rounds to the result dtype.


class _Spec(NamedTuple):
    logits: bool
    label_smoothing: float
    num_threads: object    # int, or None for the worker's fastbce default
    cdt: np.dtype          # computation dtype (float32 or float64)
    rdt: np.dtype          # result dtype (the input's float dtype; float64 for int/bool)
    outputs: tuple         # what the task returns, in order: "loss", "grad", "hess", "sum"


def _kernel_pass(spec, x, t, w, pw, gvec, g):
    """One chunk through fastbce's route (``_bce.compute``, as every in-memory call): a tuple
    with one item per name in ``spec.outputs``: "loss" (per element), "grad" and "hess" as
    arrays of the result dtype, "sum" as the chunk's partial (its float64 total, unrounded,
    and its element count). ``g`` scales the gradient as it is (float64), ``gvec`` is a
    per-element upstream gradient."""
    outs = spec.outputs
    x = np.asarray(x)
    total = np.empty((), _F64) if "sum" in outs else None
    loss, grad, hess = _bce.compute(
        x, np.asarray(t), logits=spec.logits, weight=w, pos_weight=pw,
        reduction="none" if total is None else "sum", label_smoothing=spec.label_smoothing,
        num_threads=spec.num_threads, want_loss="loss" in outs or total is not None,
        want_grad="grad" in outs, want_hess="hess" in outs, loss_out=total,
        grad_output=1.0 if gvec is None else np.asarray(gvec),
        grad_scale=None if gvec is not None else float(g),
    )
    found = {"loss": loss, "grad": grad, "hess": hess}
    if total is not None:
        found["sum"] = _leaf(float(total), x.size)
    return tuple(found[name] for name in outs)


def _chunk_task(spec, x, t, w, pw, gvec, g):
    out = _kernel_pass(spec, x, t, w, pw, gvec, g)
    return out[0] if len(out) == 1 else out


def _item(block, i):
    return block[i]


# --------------------------------------------------------------------------------------
# Building the graph


def _known_shape(arr, name):
    if any(math.isnan(size) for size in arr.shape):
        raise ValueError(
            f"{name} has unknown chunk sizes (shape {arr.shape}); call "
            f"{name}.compute_chunk_sizes() first"
        )


def _as_dask(value, name, chunks=None):
    """A dask array of ``value``; NumPy arrays and array-likes are wrapped (in chunks
    ``chunks`` when given, else one chunk)."""
    if isinstance(value, da.Array):
        return value
    arr = _bce.as_real_array(value, name)
    if chunks is not None and arr.shape == tuple(map(sum, chunks)):
        return da.from_array(arr, chunks=chunks)
    return da.from_array(arr, chunks=arr.shape or ())


def _aligned(value, name, x):
    """A weight-like operand as a dask array with input's number of dimensions, size 1
    (one chunk) where it broadcasts and input's chunks elsewhere. Never expanded."""
    if value is None:
        return None
    if not isinstance(value, da.Array):
        value = _bce.as_real_array(value, name)
    else:
        _known_shape(value, name)
    shape = x.shape
    _checks.check_broadcast(value.shape, shape, name)
    full = (1,) * (len(shape) - value.ndim) + tuple(value.shape)
    chunks = tuple((1,) if full[i] == 1 else x.chunks[i] for i in range(len(shape)))
    if isinstance(value, da.Array):
        arr = value.reshape(full) if full != value.shape else value
        return arr if arr.chunks == chunks else arr.rechunk(chunks)
    return da.from_array(value.reshape(full), chunks=chunks)


def _result_dtypes(fn, x, t, w, pw, label_smoothing, num_threads):
    """(computation dtype, result dtype) by the in-memory rules, found by calling the
    in-memory function on one element of each operand's dtype: the same TypeError for a
    complex, string or object dtype, the same checks of label_smoothing and num_threads."""
    kw = {"label_smoothing": label_smoothing, "num_threads": num_threads, "reduction": "none"}
    if w is not None:
        kw["weight"] = np.ones(1, w.dtype)
    if pw is not None:
        kw["pos_weight"] = np.ones(1, pw.dtype)
    rdt = fn(np.zeros(1, x.dtype), np.zeros(1, t.dtype), **kw).dtype
    cdt = _F32 if rdt.itemsize <= 4 else _F64
    return cdt, rdt


class _Problem(NamedTuple):
    x: object
    t: object
    w: object
    pw: object
    gvec: object
    g: float
    red: _Reduction
    reduction: str
    base: _Spec
    wsum: object        # 0-d dask array (float64) when the reduction needs it, else None
    split_every: object


def _prepare(logits, input, target, weight, pos_weight, reduction, label_smoothing,
             num_threads, want_grad=False, grad_output=1.0, split_every=None):
    reduction = _checks.check_reduction(reduction)  # a plain str from here on
    red = _REDUCTIONS[reduction]
    if not isinstance(input, da.Array):
        input = _as_dask(input, "input")
    x = input
    _known_shape(x, "input")
    shape = x.shape
    t = _as_dask(target, "target", x.chunks)
    _known_shape(t, "target")
    if t.shape != shape:
        raise ValueError(
            f"target shape {t.shape} must equal input shape {shape} "
            "(fastbce does not broadcast the target)"
        )
    if t.chunks != x.chunks:
        t = t.rechunk(x.chunks)  # input's chunks decide; the outputs are chunked like it
    w = _aligned(weight, "weight", x)
    pw = _aligned(pos_weight, "pos_weight", x)
    fn = _api.binary_cross_entropy_with_logits if logits else _api.binary_cross_entropy
    cdt, rdt = _result_dtypes(fn, x, t, w, pw, label_smoothing, num_threads)

    g, gvec = 1.0, None
    if want_grad:
        if isinstance(grad_output, da.Array) or np.ndim(grad_output) != 0:
            ga = _as_dask(grad_output, "grad_output", x.chunks)
            _known_shape(ga, "grad_output")
            _bce.as_real_array(np.zeros(0, ga.dtype), "grad_output")
            if not red.per_element:
                raise ValueError(
                    f"grad_output must be a scalar for reduction={reduction!r}, got shape "
                    f"{ga.shape}"
                )
            if ga.shape != shape:
                raise ValueError(f"grad_output shape {ga.shape} must equal input shape {shape}")
            gvec = ga if ga.chunks == x.chunks else ga.rechunk(x.chunks)
        else:
            ga = _bce.as_real_array(grad_output, "grad_output")
            with np.errstate(over="ignore", invalid="ignore"):
                g = float(ga.astype(cdt))  # as in memory: in the computation dtype first

    wsum = None
    if red.needs_wsum:
        if w is None:
            wsum = da.from_array(np.array(float(x.size)), chunks=())
        else:
            multiplier = x.size // w.size if w.size else 0
            ind = tuple(range(w.ndim))
            parts = da.blockwise(_wsum_task, ind, w, ind, cdt, None, dtype=object,
                                 meta=np.empty((0,) * w.ndim, object), token="fastbce-wsum")
            wsum = _reduce(parts, _identity, partial(_agg_wsum, multiplier=multiplier), _F64,
                           split_every)
    base = _Spec(logits, _checks.check_label_smoothing(label_smoothing), num_threads, cdt, rdt,
                 ())
    return _Problem(x, t, w, pw, gvec, g, red, reduction, base, wsum, split_every)


def _graph(p, outputs, scale):
    """The per-chunk tasks: a dask array chunked like input whose blocks are the tuples
    (or single arrays) ``_chunk_task`` returns for ``outputs``."""
    x = p.x
    ind = tuple(range(x.ndim))
    spec = p.base._replace(outputs=tuple(outputs))
    args = [x, ind, p.t, ind]
    for operand in (p.w, p.pw, p.gvec):
        args += [operand, ind] if operand is not None else [None, None]
    args += [scale, () if isinstance(scale, da.Array) else None]
    single = len(outputs) == 1
    meta = np.empty((0,) * x.ndim, dtype=p.base.rdt if single else object)
    return da.blockwise(
        _chunk_task, ind, spec, None, *args,
        dtype=p.base.rdt if single else object, meta=meta, token="fastbce-chunk",
    )


def _split(blocks, i, dtype, ndim):
    ind = tuple(range(ndim))
    return da.blockwise(_item, ind, blocks, ind, i, None, dtype=dtype,
                        meta=np.empty((0,) * ndim, dtype=dtype), token="fastbce-item")


def _grad_scale(p):
    """The per-element gradient scale: a float, or a 0-d dask array when it needs the
    lazily computed weight sum."""
    n = p.x.size
    if p.red.needs_wsum:
        return da.blockwise(_grad_scale_task, (), p.wsum, (), p.reduction, None, p.g, None,
                            n, None, dtype=_F64, meta=np.empty((), _F64),
                            token="fastbce-grad-scale")
    return p.red.grad_scale(p.g, n, None)


def _reduced(p, blocks, from_tuple):
    """The reduced loss from the chunks' partial sums (a 0-d dask array)."""
    rdt = p.base.rdt
    chunk = _last if from_tuple else _identity
    if p.red.needs_wsum:
        total = _reduce(blocks, chunk, _agg_total, _F64, p.split_every)
        return da.blockwise(_weighted_value, (), total, (), p.wsum, (), p.reduction, None,
                            rdt, None, dtype=rdt, meta=np.empty((), rdt),
                            token="fastbce-value")
    agg = partial(_agg_value, reduction=p.reduction, rdt=rdt)
    return _reduce(blocks, chunk, agg, rdt, p.split_every)


def _identity(block, axis=None, keepdims=None):
    return block


def _loss(p):
    if p.red.per_element:
        return _graph(p, ["loss"], 1.0)
    return _reduced(p, _graph(p, ["sum"], 1.0), from_tuple=False)


def _grad(p):
    return _graph(p, ["grad"], _grad_scale(p))


def _loss_and_grad(p):
    rdt, nd = p.base.rdt, p.x.ndim
    if p.red.per_element:
        blocks = _graph(p, ["loss", "grad"], _grad_scale(p))
        return _split(blocks, 0, rdt, nd), _split(blocks, 1, rdt, nd)
    blocks = _graph(p, ["grad", "sum"], _grad_scale(p))
    return _reduced(p, blocks, from_tuple=True), _split(blocks, 0, rdt, nd)
