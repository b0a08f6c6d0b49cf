"""Dask adapter: fastbce's functions on ``dask.array`` arrays, on one machine or a cluster.

Each chunk is computed by the in-memory kernels (one ``blockwise`` task per chunk, with
``num_threads=1`` by default: a dask worker already runs one task per thread). Per-element
results (``reduction="none"``, gradients, hessians) are lazy dask arrays chunked exactly as
``input``. ``"mean"``, ``"sum"`` and ``"weighted_mean"`` are a tree reduction
(``dask.array.reduction``) of float64 partial sums, one per chunk, added without rounding
error (an exact floating-point expansion, rounded once at the end): the result does not
depend on the shape of the tree, the scheduler or the order in which partial sums arrive,
and equals the in-memory result up to the rounding of the per-chunk sums themselves.

Works with any dask scheduler: the default threaded one, ``dask.distributed`` (a
``LocalCluster`` or ``Client("scheduler-address")``), or ``scheduler="synchronous"``.
"""

try:
    import dask.array as da
    from dask.array.core import normalize_chunks
    from dask.base import tokenize
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "fastbce.dask needs dask.array, which is not installed: "
        'pip install "fastbce[dask]" (dask[array] and distributed)'
    ) from exc

import math
import os
import warnings
from functools import partial
from typing import NamedTuple

import numpy as np

from . import _api, _bce, _checks

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_and_grad",
    "binary_cross_entropy_grad",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_and_grad",
    "binary_cross_entropy_with_logits_grad",
    "binary_cross_entropy_with_logits_grad_hess",
    "from_npy",
    "log_loss",
]

_F32 = np.dtype(np.float32)
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
# Exact sums of float64 partials. A partial is (parts, special, count): ``parts`` is a
# list of non-overlapping float64 numbers whose exact sum is the exact sum of the finite
# chunk totals so far (Shewchuk's expansion, what math.fsum keeps internally), ``special``
# the sum of the non-finite ones (0.0 if none), ``count`` an element count. Adding in any
# order or grouping gives the same expansion's value, so the result is rounded once, at
# the end, and does not depend on the reduction tree. (A total beyond float64's range, about
# 1.8e308, becomes +-inf, or NaN if both signs overflow, and no longer keeps this promise.)


def _grow(parts, x):
    """Add the float ``x`` to the expansion ``parts`` in place, exactly; returns the
    non-finite value an overflow produced, else 0.0."""
    i = 0
    for y in parts:
        if abs(x) < abs(y):
            x, y = y, x
        hi = x + y
        if not math.isfinite(hi):  # the exact total left float64's range
            del parts[:]
            return hi
        lo = y - (hi - x)
        if lo:
            parts[i] = lo
            i += 1
        x = hi
    parts[i:] = [x]
    return 0.0


def _leaf(total, count):
    """The partial of one chunk whose float64 total is ``total``."""
    total = float(total)
    if math.isfinite(total):
        return ([total], 0.0, count)
    return ([], total, count)


def _flatten(obj, out):
    """The partials in what dask hands a combine step: one, or nested lists of them."""
    if isinstance(obj, list):
        for item in obj:
            _flatten(item, out)
    else:
        out.append(obj)
    return out


def _merge(items):
    parts, special, count = [], 0.0, 0
    for p_parts, p_special, p_count in _flatten(items, []):
        special += p_special
        for x in p_parts:
            special += _grow(parts, x)
        count += p_count
    return (parts, special, count)


def _rounded(partial):
    """The exact sum held by a partial, rounded once to float64."""
    parts, special, _ = partial
    if special != 0.0 or math.isnan(special):
        return special  # +-inf or NaN: finite parts do not change it
    try:
        return math.fsum(parts)
    except OverflowError:  # the correctly rounded sum is beyond float64: +-inf
        return parts[-1] * math.inf


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
    return _as_scalar(_REDUCTIONS[reduction].value(_rounded(merged), merged[2], None), rdt)


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
    w = _bce._cast(np.asarray(block), cdt)  # the weights the kernel multiplies by
    return _leaf(np.sum(w, dtype=_F64), w.size)


def _reduce(arr, chunk, aggregate, dtype, split_every):
    return da.reduction(
        arr, chunk=chunk, combine=_combine, aggregate=aggregate, axis=None, keepdims=False,
        dtype=dtype, split_every=split_every, concatenate=False,
        meta=np.empty((), dtype=dtype), name="fastbce-reduce",
    )


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


# --------------------------------------------------------------------------------------
# Public functions


def binary_cross_entropy(input, target, weight=None, reduction="mean", *, label_smoothing=0.0,
                         num_threads=1, split_every=None):
    p = _prepare(False, input, target, weight, None, reduction, label_smoothing, num_threads,
                 split_every=split_every)
    return _loss(p)


def binary_cross_entropy_grad(input, target, weight=None, reduction="mean", *,
                              label_smoothing=0.0, grad_output=1.0, num_threads=1,
                              split_every=None):
    p = _prepare(False, input, target, weight, None, reduction, label_smoothing, num_threads,
                 True, grad_output, split_every)
    return _grad(p)


def binary_cross_entropy_and_grad(input, target, weight=None, reduction="mean", *,
                                  label_smoothing=0.0, num_threads=1, split_every=None):
    p = _prepare(False, input, target, weight, None, reduction, label_smoothing, num_threads,
                 True, split_every=split_every)
    return _loss_and_grad(p)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean",
                                     pos_weight=None, *, label_smoothing=0.0, num_threads=1,
                                     split_every=None):
    p = _prepare(True, input, target, weight, pos_weight, reduction, label_smoothing,
                 num_threads, split_every=split_every)
    return _loss(p)


def binary_cross_entropy_with_logits_grad(input, target, weight=None, reduction="mean",
                                          pos_weight=None, *, label_smoothing=0.0,
                                          grad_output=1.0, num_threads=1, split_every=None):
    p = _prepare(True, input, target, weight, pos_weight, reduction, label_smoothing,
                 num_threads, True, grad_output, split_every)
    return _grad(p)


def binary_cross_entropy_with_logits_and_grad(input, target, weight=None, reduction="mean",
                                              pos_weight=None, *, label_smoothing=0.0,
                                              num_threads=1, split_every=None):
    p = _prepare(True, input, target, weight, pos_weight, reduction, label_smoothing,
                 num_threads, True, split_every=split_every)
    return _loss_and_grad(p)


def binary_cross_entropy_with_logits_grad_hess(input, target, weight=None, pos_weight=None, *,
                                               label_smoothing=0.0, num_threads=1):
    p = _prepare(True, input, target, weight, pos_weight, "none", label_smoothing,
                 num_threads, True)
    rdt, nd = p.base.rdt, p.x.ndim
    blocks = _graph(p, ["grad", "hess"], 1.0)
    return _split(blocks, 0, rdt, nd), _split(blocks, 1, rdt, nd)


_LOSS = "loss_i = -w_i * (t_i * max(log x_i, -100) + (1 - t_i) * max(log(1 - x_i), -100))"
_GRAD = "grad_i = g * w_i * (x_i - t_i) / max(x_i * (1 - x_i), 1e-12), times 1/N for mean"
_LOGIT_FORMULAS = """
        loss = w * ((1 - t) * x + (1 + (pw - 1) * t) * softplus(-x))
        grad = g * w * ((pw * t + 1 - t) * sigmoid(x) - pw * t), times 1/N for mean
        hess = w * (pw * t + 1 - t) * sigmoid(x) * (1 - sigmoid(x))"""

_COMMON = """
    Parameters
    ----------
    input : dask.array.Array or array_like
        Any shape and chunking; its chunks decide the chunks of every per-element result.
        Its dtype decides the computation, as in memory: float32 and float64 stay, float16
        is computed in float32 and returned as float16, bool and integers in float64.
        A NumPy array is wrapped as one chunk. Chunk sizes must be known (not NaN).
    target : dask.array.Array or array_like
        Exactly input's shape (never broadcast), values in [0, 1]. Chunked otherwise than
        ``input``, it is rechunked to input's chunks (``dask.array.rechunk``).
    weight : dask.array.Array, array_like or scalar, optional
        Rescaling weight that broadcasts to input's shape by NumPy's rules (a scalar,
        ``(C,)``, ``(N, 1)``, full-shape, ...). Each chunk task gets the slice of it that its
        chunk needs, never an input-sized expansion; a dask weight is rechunked to match.
    reduction : {"mean", "sum", "weighted_mean", "none"}
        "none": a lazy array chunked like ``input``. "mean", "sum", "weighted_mean": a lazy
        0-d array whose ``.compute()`` is a NumPy scalar of the result dtype (the mean of an
        empty input is NaN, the sum 0). "weighted_mean" is ``sum(w * loss) / sum(w)`` over
        the elements (``w`` broadcast; 1 without a weight); NaN if ``sum(w)`` is 0.
        Chunk sums accumulate in float64 and are added without rounding error.
    label_smoothing : float in [0, 1), default 0
        Targets become ``t * (1 - label_smoothing) + label_smoothing / 2``.
    num_threads : int or None, default 1
        fastbce threads per chunk task. 1 because a dask worker already runs one task per
        thread; ``None`` uses the worker's fastbce default (``fastbce.set_num_threads`` or
        OpenMP's, which follows ``OMP_NUM_THREADS``).
    split_every : int, optional
        Fan-in of the reduction tree (``dask.array.reduction``); the result does not depend
        on it.
"""

_RAISES = """
    Raises
    ------
    ValueError
        When the graph is built: mismatched shapes, a weight that does not broadcast, an
        unknown reduction, unknown chunk sizes, a bad ``num_threads`` or ``label_smoothing``.
        When computed: an element out of range, with the in-memory message (the first
        failing chunk's).
    TypeError
        Complex, string or object dtypes (when the graph is built).

    Returns lazy dask arrays; nothing is computed until ``.compute()`` / ``dask.compute``.
"""

_GRAD_OUTPUT = """
    grad_output : float or array, default 1.0
        Upstream gradient: a scalar, or for ``reduction="none"`` also a (dask) array of
        input's shape.
"""

_LOGITS = """
    pos_weight : dask.array.Array, array_like or scalar, optional
        Weight of the positive class, broadcast like ``weight``.
"""

binary_cross_entropy.__doc__ = f"""Binary cross entropy of probabilities, chunk by chunk.

    ``fastbce.binary_cross_entropy`` on dask arrays::

        {_LOSS}

    then reduced over all elements.
{_COMMON}
    Returns
    -------
    dask.array.Array
        0-d for "mean", "sum", "weighted_mean"; input's shape and chunks for "none".
{_RAISES}"""

binary_cross_entropy_grad.__doc__ = f"""Gradient of the binary cross entropy with respect to
    ``input``, a lazy array chunked like ``input``::

        {_GRAD}

    For "mean" the scale is 1/N with N the total number of elements (not per chunk); for
    "weighted_mean" it is ``grad_output / sum(w)``, which needs the weight sum first (a
    reduction over ``weight`` only). Each element equals the in-memory gradient.
{_COMMON}{_GRAD_OUTPUT}
    Returns
    -------
    dask.array.Array
{_RAISES}"""

binary_cross_entropy_and_grad.__doc__ = f"""Loss and gradient from one pass over each chunk.

    Returns ``(loss, grad)``, both lazy; ``dask.compute(loss, grad)`` runs each chunk's
    kernel once, keeps its gradient and sends only its partial sum to the reduction.
{_COMMON}
    Returns
    -------
    (dask.array.Array, dask.array.Array)
{_RAISES}"""

binary_cross_entropy_with_logits.__doc__ = f"""Binary cross entropy on logits, chunk by chunk:
    ``fastbce.binary_cross_entropy_with_logits`` on dask arrays::
{_LOGIT_FORMULAS}
{_COMMON}{_LOGITS}
    Returns
    -------
    dask.array.Array
{_RAISES}"""

binary_cross_entropy_with_logits_grad.__doc__ = f"""Gradient of the logits loss with respect to
    ``input``, a lazy array chunked like ``input``; the scale as in
    ``binary_cross_entropy_grad`` (1/N for "mean" with N the total element count).
{_COMMON}{_LOGITS}{_GRAD_OUTPUT}
    Returns
    -------
    dask.array.Array
{_RAISES}"""

binary_cross_entropy_with_logits_and_grad.__doc__ = f"""Logits loss and gradient from one pass
    over each chunk; ``(loss, grad)``, both lazy.
{_COMMON}{_LOGITS}
    Returns
    -------
    (dask.array.Array, dask.array.Array)
{_RAISES}"""

binary_cross_entropy_with_logits_grad_hess.__doc__ = f"""Per-element ``(grad, hess)`` of the
    unreduced logits loss, two lazy arrays chunked like ``input`` from one pass over each
    chunk (for gradient boosting on dask, e.g. XGBoost's dask interface)::
{_LOGIT_FORMULAS}

    Same parameters as ``binary_cross_entropy_with_logits`` without ``reduction``.
{_RAISES}"""


def from_npy(path, chunks="auto"):
    """A ``.npy`` file on disk as a lazy dask array, each chunk a memory-mapped slice.

    Only the path travels in the task graph: each task opens the file with
    ``numpy.load(path, mmap_mode="r")`` on the worker that runs it and reads its slice,
    so a file larger than memory is read a chunk at a time, and a distributed cluster
    needs the file at the same path on every worker (a shared or local disk). (Wrapping
    ``numpy.load(path, mmap_mode="r")`` in ``dask.array.from_array`` instead would copy the
    whole array into the graph when it is sent to a distributed scheduler.)

    Parameters
    ----------
    path : str or os.PathLike
    chunks : int, tuple or "auto", default "auto"
        As in ``dask.array.from_array`` (``"auto"`` follows dask's ``array.chunk-size``).

    Returns
    -------
    dask.array.Array
    """
    path = os.path.abspath(os.fspath(path))
    header = np.load(path, mmap_mode="r")  # reads the header only
    shape, dtype = header.shape, header.dtype
    del header
    chunks = normalize_chunks(chunks, shape, dtype=dtype)
    stat = os.stat(path)  # a rewritten file gets new task keys
    name = "fastbce-from-npy-" + tokenize(path, stat.st_mtime_ns, stat.st_size, shape, dtype,
                                          chunks)
    return da.map_blocks(_npy_block, path, dtype=dtype, chunks=chunks,
                         meta=np.empty((0,) * len(shape), dtype), name=name)


def _npy_block(path, block_info=None):
    where = tuple(slice(start, stop) for start, stop in block_info[None]["array-location"])
    return np.load(path, mmap_mode="r")[where]


# --------------------------------------------------------------------------------------
# log_loss: the binary case of sklearn.metrics.log_loss, as fastbce.metrics computes it.
# Each chunk checks its data, finds its labels and sums its losses; a chunk that holds one
# label only sums them both ways (as the positive and as the negative class), since which
# one it is depends on the labels of the other chunks.

_MULTICLASS_HINT = "fastbce.dask.log_loss is binary only; use sklearn.metrics.log_loss"
_EMPTY = ([], 0.0, 0)


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


def log_loss(y_true, y_pred, *, normalize=True, sample_weight=None, labels=None,
             num_threads=1, compute=True, split_every=None):
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
    if isinstance(y_pred, da.Array):
        _known_shape(y_pred, "y_pred")
        p = y_pred
    else:
        p = _lazy_1d(np.asarray(y_pred), "y_pred")
    if p.dtype.kind == "c":
        raise ValueError("Complex data not supported")
    if p.dtype.type not in (np.float16, np.float32, np.float64):
        if p.dtype.kind not in "biuf":
            raise ValueError(f"y_pred must hold numbers, got dtype {p.dtype}")
        p = p.astype(np.float64)
    _checks.check_pred_shape(p, y_pred, _MULTICLASS_HINT)
    y = _lazy_1d(y_true, "y_true")
    if y.ndim != 1:
        raise ValueError(f"y_true must be 1-D (n_samples,), got shape {y.shape}; "
                         f"{_MULTICLASS_HINT} for label-indicator matrices")
    lengths = [p.shape[0], y.shape[0]]
    w = None
    if sample_weight is not None:
        if np.ndim(sample_weight) == 0 and not isinstance(sample_weight, da.Array):
            raise ValueError(f"sample_weight must be an array-like of shape (n_samples,), got "
                             f"{sample_weight!r}")
        w = _lazy_1d(sample_weight, "sample_weight")
        lengths.append(w.shape[0] if w.ndim else 0)
    if len(set(lengths)) > 1:
        raise ValueError(f"Found input variables with inconsistent numbers of samples: {lengths}")
    if w is not None:
        n = p.shape[0]
        if w.ndim != 1:
            raise ValueError(f"Sample weights must be 1D array or scalar, got {w.ndim}D array. "
                             f"Expected either a scalar value or a 1D array of length {n}.")
        if w.dtype.kind not in "biuf":
            raise ValueError(f"sample_weight must hold real numbers, got dtype {w.dtype}")
    normalize = _checks.check_normalize(normalize)
    if num_threads is not None:
        _checks.check_num_threads(num_threads)
    classes = None if labels is None else tuple(
        _checks.check_labels(labels, _MULTICLASS_HINT, stacklevel=2).tolist())

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
    aggregate = partial(_log_loss_aggregate, spec=spec, n=p.shape[0], normalize=bool(normalize),
                        ydt=y.dtype)
    result = da.reduction(
        parts, chunk=_identity, combine=_log_loss_combine, aggregate=aggregate, axis=None,
        keepdims=False, dtype=object, split_every=split_every, concatenate=False,
        meta=np.empty((), object), name="fastbce-log-loss-reduce",
    )
    if not compute:
        return da.blockwise(_item_value, (), result, (), dtype=_F64, meta=np.empty((), _F64),
                            token="fastbce-log-loss-value")
    value, rows_off = result.compute()[()]
    if rows_off:
        warnings.warn("The rows of y_pred do not sum to one: pass probabilities "
                      "(predict_proba's output).", UserWarning, stacklevel=2)
    return value


def _item_value(result):
    return np.float64(result[()][0])
