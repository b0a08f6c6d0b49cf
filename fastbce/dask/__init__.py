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

from __future__ import annotations

try:
    import dask.array as da
    from dask.array.core import normalize_chunks
    from dask.base import tokenize
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "fastbce.dask needs dask.array, which is not installed: "
        'pip install "fastbce[dask]" (dask[array] and distributed)'
    ) from exc

import os
from typing import TYPE_CHECKING

import numpy as np

from . import _axes
from ._graph import _grad, _graph, _loss, _loss_and_grad, _prepare, _split
from ._log_loss import log_loss

if TYPE_CHECKING:
    from typing import Literal

    from dask.array import Array
    from numpy.typing import ArrayLike
    from typing_extensions import TypeAlias

    _Operand: TypeAlias = "Array | ArrayLike"
    _Reduction: TypeAlias = Literal["mean", "sum", "weighted_mean", "none"]

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

# --------------------------------------------------------------------------------------
# Public functions


def binary_cross_entropy(
    input: _Operand, target: _Operand, weight: _Operand | None = None,
    reduction: _Reduction = "mean", *, label_smoothing: float = 0.0,
    axis: int | tuple[int, ...] | None = None, keepdims: bool = False, num_threads: int | None = 1,
    split_every: int | None = None,
) -> Array:
    return _reduced(False, input, target, weight, None, reduction, label_smoothing, axis,
                    keepdims, num_threads, split_every, "loss")


def binary_cross_entropy_grad(
    input: _Operand, target: _Operand, weight: _Operand | None = None,
    reduction: _Reduction = "mean", *, label_smoothing: float = 0.0,
    grad_output: float | _Operand = 1.0, axis: int | tuple[int, ...] | None = None,
    keepdims: bool = False, num_threads: int | None = 1, split_every: int | None = None,
) -> Array:
    return _reduced(False, input, target, weight, None, reduction, label_smoothing, axis,
                    keepdims, num_threads, split_every, "grad", grad_output)


def binary_cross_entropy_and_grad(
    input: _Operand, target: _Operand, weight: _Operand | None = None,
    reduction: _Reduction = "mean", *, label_smoothing: float = 0.0,
    axis: int | tuple[int, ...] | None = None, keepdims: bool = False, num_threads: int | None = 1,
    split_every: int | None = None,
) -> tuple[Array, Array]:
    return _reduced(False, input, target, weight, None, reduction, label_smoothing, axis,
                    keepdims, num_threads, split_every, "loss_and_grad")


def binary_cross_entropy_with_logits(
    input: _Operand, target: _Operand, weight: _Operand | None = None,
    reduction: _Reduction = "mean", pos_weight: _Operand | None = None, *,
    label_smoothing: float = 0.0, axis: int | tuple[int, ...] | None = None,
    keepdims: bool = False, num_threads: int | None = 1, split_every: int | None = None,
) -> Array:
    return _reduced(True, input, target, weight, pos_weight, reduction, label_smoothing, axis,
                    keepdims, num_threads, split_every, "loss")


def binary_cross_entropy_with_logits_grad(
    input: _Operand, target: _Operand, weight: _Operand | None = None,
    reduction: _Reduction = "mean", pos_weight: _Operand | None = None, *,
    label_smoothing: float = 0.0, grad_output: float | _Operand = 1.0,
    axis: int | tuple[int, ...] | None = None, keepdims: bool = False, num_threads: int | None = 1,
    split_every: int | None = None,
) -> Array:
    return _reduced(True, input, target, weight, pos_weight, reduction, label_smoothing, axis,
                    keepdims, num_threads, split_every, "grad", grad_output)


def binary_cross_entropy_with_logits_and_grad(
    input: _Operand, target: _Operand, weight: _Operand | None = None,
    reduction: _Reduction = "mean", pos_weight: _Operand | None = None, *,
    label_smoothing: float = 0.0, axis: int | tuple[int, ...] | None = None,
    keepdims: bool = False, num_threads: int | None = 1, split_every: int | None = None,
) -> tuple[Array, Array]:
    return _reduced(True, input, target, weight, pos_weight, reduction, label_smoothing, axis,
                    keepdims, num_threads, split_every, "loss_and_grad")


def _reduced(logits, input, target, weight, pos_weight, reduction, label_smoothing, axis,
             keepdims, num_threads, split_every, what, grad_output=1.0):
    """The six reducing functions: the graph over every element, or over axes."""
    want_grad = what != "loss"
    if axis is None and keepdims is False:
        p = _prepare(logits, input, target, weight, pos_weight, reduction, label_smoothing,
                     num_threads, want_grad, grad_output, split_every)
        return {"loss": _loss, "grad": _grad, "loss_and_grad": _loss_and_grad}[what](p)
    p = _prepare(logits, input, target, weight, pos_weight, reduction, label_smoothing,
                 num_threads, want_grad, 1.0, split_every)
    ax = _axes.check(axis, keepdims, p.x.shape, p.reduction)
    if what == "loss":
        return _axes.loss(p, ax)
    if what == "grad":
        return _axes.grad(p, ax, grad_output)
    return _axes.loss_and_grad(p, ax)


def binary_cross_entropy_with_logits_grad_hess(
    input: _Operand, target: _Operand, weight: _Operand | None = None,
    pos_weight: _Operand | None = None, *, label_smoothing: float = 0.0,
    num_threads: int | None = 1,
) -> tuple[Array, Array]:
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
    axis : int or tuple of ints, optional
        Reduce over these axes only, as in memory: a lazy array of the reduced shape, the
        chunks' float64 slot sums added by dask's reduction (within 1e-12 relative of the
        in-memory result). Not with "none".
    keepdims : bool, default False
        Keep the reduced axes, of length 1.
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
        input's shape; with ``axis``, an array that broadcasts to the reduced shape.
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


def from_npy(
    path: str | os.PathLike[str], chunks: int | tuple[int, ...] | str = "auto",
) -> Array:
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
