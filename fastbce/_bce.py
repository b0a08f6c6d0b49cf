"""Layer 3 of fastbce: array coercion, dtype policy, shape checks, outputs and threads.

No per-element work happens here; every element is touched once, by one call of the compiled
pass in ``_kernels``. The only input-sized allocations are the outputs, the copies that
coercion cannot avoid (a non-contiguous, non-native or non-float input) and a scratch buffer
for an ``out`` the kernel cannot write directly (strided, float16, or overlapping an input).
"""

import numpy as np

from . import _kernels
from ._config import resolve_num_threads

REDUCTIONS = ("none", "mean", "sum")

# A per-column weight whose period is shorter than this is tiled (a small copy, never
# input-sized) so that the kernel's rows stay long enough to amortise their set-up.
_TILE_MIN = 4096


def as_real_array(obj, name):
    """``obj`` as an ndarray of a real (bool, integer or float) dtype, or a clear error."""
    if isinstance(obj, np.ndarray):
        arr = obj
    else:
        try:
            arr = np.asarray(obj)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{name} could not be converted to a numeric array: {exc}") from None
    kind = arr.dtype.kind
    if kind == "c":
        raise TypeError(f"{name} has complex dtype {arr.dtype}; binary cross entropy needs real numbers")
    if kind not in "biuf":
        raise TypeError(
            f"{name} must hold real numbers (bool, int or float), got dtype {arr.dtype}"
        )
    if kind == "f" and arr.dtype.itemsize > 8:
        raise TypeError(
            f"{name} has dtype {arr.dtype}, wider than float64; cast it to float64 first"
        )
    return arr


def _compute_dtype(dtype):
    """The input decides: float16/float32 compute in float32, everything else in float64."""
    if dtype.kind == "f" and dtype.itemsize <= 4:
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def _flat(arr, dtype):
    # no copy when arr is already C-contiguous, native-endian and of this dtype
    return np.ascontiguousarray(arr, dtype=dtype).reshape(-1)


def weight_layout(wshape, shape):
    """Describe a weight of shape ``wshape`` broadcast over a C-ordered input of ``shape``.

    The weight is read from its own compact, C-contiguous copy; the input is cut into rows of
    ``row_len`` elements inside which the weight index advances by ``row_step`` (0 or 1); the
    first weight index of row r is ``sum(((r // div) % mod) * stride)``.
    Returns ``(row_len, row_step, div, mod, stride)``.
    """
    wshape = (1,) * (len(shape) - len(wshape)) + tuple(wshape)
    strides = []
    step = 1
    for size in reversed(wshape):
        strides.append(step if size != 1 else 0)
        step *= size
    strides.reverse()
    # merge neighbouring dimensions that the weight walks through in one way
    dims = []
    for size, stride in zip(shape, strides):
        if size == 1:
            continue
        if dims:
            psize, pstride = dims[-1]
            if (pstride == 0 and stride == 0) or (stride != 0 and pstride == stride * size):
                dims[-1] = (psize * size, stride)
                continue
        dims.append((size, stride))
    if not dims:
        dims = [(1, 0)]
    row_len, row_step = dims[-1]
    outer = dims[:-1]
    div, mod, stride = [], [], []
    inner = 1
    for size, st in reversed(outer):
        if st != 0:
            div.append(inner)
            mod.append(size)
            stride.append(st)
        inner *= size
    return row_len, row_step, div, mod, stride


def check_out(out, shape, dtype, name):
    """Raise unless ``out`` is a writeable ndarray of exactly this shape and dtype."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != shape:
        raise ValueError(f"{name} has shape {out.shape}, expected {shape}")
    if out.dtype != dtype:
        raise TypeError(f"{name} has dtype {out.dtype}, expected {dtype}")
    if not out.flags.writeable:
        raise ValueError(f"{name} is read-only")


class Out:
    """An input-shaped output: the flat buffer the kernel writes, and what the caller gets."""

    __slots__ = ("direct", "dtype", "flat", "out", "shape")

    def __init__(self, out, problem, name):
        self.shape, self.dtype, self.out = problem.shape, problem.rdt, out
        self.direct = False
        if out is not None:
            check_out(out, problem.shape, problem.rdt, name)
            # write in place when we can; else into scratch that is copied over at the end
            self.direct = (
                out.dtype == problem.cdt
                and out.flags.c_contiguous
                and not any(np.may_share_memory(out, a) for a in problem.sources)
            )
        self.flat = out.reshape(-1) if self.direct else np.empty(problem.n, problem.cdt)

    def result(self):
        if self.direct:
            return self.out
        arr = self.flat.reshape(self.shape)
        if self.out is None:
            return arr if arr.dtype == self.dtype else arr.astype(self.dtype)
        np.copyto(self.out, arr, casting="same_kind")
        return self.out


def check_reduction(reduction):
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of 'none', 'mean', 'sum', got {reduction!r}")
    return reduction


def check_label_smoothing(value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"label_smoothing must be a float in [0, 1), got {value!r}")
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {value!r}")
    return float(value)


class Problem:
    """Inputs coerced and checked once; runs the compiled pass for every public function."""

    def __init__(
        self, input, target, weight, reduction, num_threads, *,
        logits=False, pos_weight=None, label_smoothing=0.0,
    ):
        self.reduction = check_reduction(reduction)
        self.num_threads = resolve_num_threads(num_threads)
        self.logits = logits
        self.label_smoothing = check_label_smoothing(label_smoothing)
        a = as_real_array(input, "input")
        b = as_real_array(target, "target")
        if b.shape != a.shape:
            raise ValueError(
                f"target shape {b.shape} must equal input shape {a.shape} "
                "(fastbce does not broadcast the target)"
            )
        self.shape = a.shape
        self.cdt = _compute_dtype(a.dtype)
        self.rdt = a.dtype.newbyteorder("=") if a.dtype.kind == "f" else self.cdt
        self.x = _flat(a, self.cdt)
        self.t = _flat(b, self.cdt)
        self.n = self.x.shape[0]
        self.sources = [self.x, self.t]
        self.w, self.w_layout = self._broadcast_operand(weight, "weight")
        self.pw, self.pw_layout = self._broadcast_operand(pos_weight, "pos_weight")

    def _broadcast_operand(self, value, name):
        """A weight-like array: compact copy in the computation dtype, and its layout."""
        if value is None:
            return None, None
        wa = as_real_array(value, name)
        try:
            fits = np.broadcast_shapes(wa.shape, self.shape) == self.shape
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(f"{name} shape {wa.shape} does not broadcast to input shape {self.shape}")
        flat = _flat(wa, self.cdt)
        row_len, row_step, div, mod, stride = weight_layout(wa.shape, self.shape)
        if not div and row_step == 1 and row_len < _TILE_MIN and self.n > row_len:
            # a short periodic weight (per-column): tile it so rows are long
            reps = -(-_TILE_MIN // row_len)
            flat = np.tile(flat, reps)
            row_len *= reps
        self.sources.append(flat)
        layout = (row_len, row_step) + tuple(np.asarray(v, dtype=np.intp) for v in (div, mod, stride))
        return flat, layout

    def grad_output(self, grad_output):
        """(scalar g, flat per-element array or empty) for the kernel."""
        g = as_real_array(grad_output, "grad_output")
        if g.ndim == 0:
            return float(g.astype(self.cdt)), None
        if self.reduction != "none":
            raise ValueError(
                f"grad_output must be a scalar for reduction={self.reduction!r}, got shape {g.shape}"
            )
        if g.shape != self.shape:
            raise ValueError(f"grad_output shape {g.shape} must equal input shape {self.shape}")
        gvec = _flat(g, self.cdt)
        self.sources.append(gvec)
        return 1.0, gvec

    def run(self, loss=None, grad=None, g=1.0, gvec=None, want_sum=False, hess=None):
        gdiv = float(self.n) if (self.reduction == "mean" and self.n) else 1.0
        return _kernels.bce_pass(
            self.x, self.t, self.w, self.w_layout,
            None if loss is None else loss.flat,
            None if grad is None else grad.flat,
            gvec, g, gdiv, want_sum, self.num_threads,
            logits=self.logits, label_smoothing=self.label_smoothing,
            pos_weight=self.pw, pw_layout=self.pw_layout,
            hess_out=None if hess is None else hess.flat,
        )

    def check_scalar_out(self, out, name):
        if out is not None:
            check_out(out, (), self.rdt, name)

    def reduced(self, total, out):
        """The mean or sum as a NumPy scalar of the result dtype (or written into ``out``)."""
        if self.reduction == "mean":
            value = total / self.n if self.n else float("nan")
        else:
            value = total
        if out is None:
            return self.rdt.type(value)
        out[()] = value
        return out
