# cython: language_level=3, boundscheck=True, wraparound=True, cdivision=False
# (Python semantics throughout: negative indices, checked indexing, division by zero raises)
"""Layer 3 of fastbce: array coercion, dtype policy, shape checks, outputs and threads.

Every public function goes one way: ``compute`` coerces and checks its arguments, describes
the work once and makes one call of the compiled pass (``kernels.run``). No per-element work
happens here. The only input-sized allocations are the outputs, the copies that coercion
cannot avoid (a non-contiguous, non-native or non-float operand) and a scratch buffer for an
``out`` the kernel cannot write directly (strided, float16, or overlapping an input).

This is Python code compiled by Cython (once, not per instruction set), so that a call on
100 elements costs little more than the kernel: the checks that find an array plain (exact
ndarray, native float32/float64, C-contiguous, aligned), the fresh outputs and the NumPy
scalar of a reduced loss use NumPy's C API instead of attribute lookups and constructors.
"""

import functools
import math

import numpy as np

cimport numpy as cnp

from . import _config
from ._config import kernels

cnp.import_array()

cdef extern from "numpy/arrayobject.h":
    object PyArray_Scalar(void* data, cnp.dtype descr, object base)

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_REDUCTIONS = {"none": 0, "mean": 1, "sum": 2, "weighted_mean": 3}
_BOOL = np.dtype(bool)
_PARALLEL_MIN = kernels.PARALLEL_THRESHOLD

cdef double _F32_MAX = float(np.finfo(np.float32).max)
cdef int _BEHAVED = cnp.NPY_ARRAY_C_CONTIGUOUS | cnp.NPY_ARRAY_ALIGNED


cdef inline bint _plain(object a, object dtype):
    """``a`` is an exact ndarray of this (native) dtype, C-contiguous and aligned: the
    kernels read it as it is."""
    return (type(a) is cnp.ndarray and <object>cnp.PyArray_DESCR(<cnp.ndarray>a) is dtype
            and cnp.PyArray_CHKFLAGS(<cnp.ndarray>a, _BEHAVED))


cdef inline bint _fortran_only(object a):
    """``a`` is an exact ndarray of 2 or more dimensions, Fortran- but not C-contiguous."""
    return (type(a) is cnp.ndarray and cnp.PyArray_NDIM(<cnp.ndarray>a) > 1
            and cnp.PyArray_CHKFLAGS(<cnp.ndarray>a, cnp.NPY_ARRAY_F_CONTIGUOUS)
            and not cnp.PyArray_CHKFLAGS(<cnp.ndarray>a, cnp.NPY_ARRAY_C_CONTIGUOUS))


cdef inline bint _same_shape(cnp.ndarray a, cnp.ndarray b):
    cdef int k, nd = cnp.PyArray_NDIM(a)
    if cnp.PyArray_NDIM(b) != nd:
        return False
    for k in range(nd):
        if cnp.PyArray_DIM(a, k) != cnp.PyArray_DIM(b, k):
            return False
    return True


cdef inline object _empty_as(cnp.ndarray x):
    """A fresh C-ordered array of ``x``'s shape and dtype (``x`` is in the computation
    dtype)."""
    return cnp.PyArray_EMPTY(cnp.PyArray_NDIM(x), cnp.PyArray_DIMS(x), cnp.PyArray_TYPE(x), 0)


cdef object _result_scalar(double value, object rdt):
    """A float64 sum or mean as a NumPy scalar of the result dtype (overflow to inf is
    silent, as in torch)."""
    cdef float v32
    if rdt is _F64:
        return PyArray_Scalar(&value, <cnp.dtype>rdt, None)
    if rdt is _F32 and -_F32_MAX <= value <= _F32_MAX:
        v32 = <float>value
        return PyArray_Scalar(&v32, <cnp.dtype>rdt, None)
    with np.errstate(over="ignore", invalid="ignore"):
        return rdt.type(value)


# A per-column weight whose period is shorter than this is tiled (a small copy, never
# input-sized) so that the kernel copies long runs of it.
_TILE_MIN = 4096


def to_array(obj, name, what="a numeric array"):
    """``np.asarray(obj)``, or an error that names the argument."""
    if getattr(obj, "requires_grad", False) is True:  # a torch.Tensor in an autograd graph
        raise TypeError(
            f"{name} is a torch.Tensor that requires grad: the NumPy API cannot take part in "
            f"autograd. Use fastbce.torch (drop-in for torch.nn.functional and torch.nn), or "
            f"pass {name}.detach() if no gradient should flow through it"
        )
    try:
        return np.asarray(obj)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name} could not be converted to {what}: {exc}") from None


def as_real_array(obj, name):
    """``obj`` as an ndarray of a real (bool, integer or float) dtype, or a clear error."""
    if isinstance(obj, np.ndarray):
        arr = obj
    else:
        if isinstance(obj, str):
            hint = (f": reduction is a keyword argument, reduction={obj!r}"
                    if obj in _REDUCTIONS else "")
            raise TypeError(f"{name} must be an array-like of numbers, got the string {obj!r}{hint}")
        arr = to_array(obj, name)
    kind = arr.dtype.kind
    if kind == "c":
        raise TypeError(f"{name} has complex dtype {arr.dtype}; binary cross entropy needs real numbers")
    if kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers (bool, int or float), got dtype {arr.dtype}")
    if kind == "f" and arr.dtype.itemsize > 8:
        raise TypeError(f"{name} has dtype {arr.dtype}, wider than float64; cast it to float64 first")
    return arr


def _cast(arr, dtype):
    """C-contiguous, native, of this dtype; a copy only when needed. Values beyond float32's
    range become inf silently, as in torch."""
    if _plain(arr, dtype):
        return arr
    with np.errstate(over="ignore", invalid="ignore"):
        # (np.asarray with order="C", not np.ascontiguousarray: that makes a 0-d array 1-d;
        # a misaligned array -- a view at an odd byte offset -- is copied: the kernels read
        # whole, aligned elements)
        if not arr.flags.aligned:
            return np.array(arr, dtype=dtype, order="C", copy=True)
        return np.asarray(arr, dtype=dtype, order="C")


def check_reduction(reduction):
    """The reduction's name as a plain ``str``. Any ``str`` whose value is a valid name is
    accepted, subclasses included (``np.str_``, a ``StrEnum`` member), as torch does."""
    if isinstance(reduction, str):
        name = str.__str__(reduction)  # the value, whatever a subclass's __str__ says
        if name in _REDUCTIONS:
            return name
    raise ValueError(
        f"reduction must be one of 'none', 'mean', 'sum', 'weighted_mean', got {reduction!r}"
    )


def check_focal(alpha, gamma):
    """(alpha, gamma) of the focal loss as floats: alpha any finite number (< 0 turns the
    alpha term off, as in torchvision), gamma finite and >= 0."""
    values = []
    for name, value in (("alpha", alpha), ("gamma", gamma)):
        if isinstance(value, (bool, np.bool_)) or not isinstance(
                value, (int, float, np.integer, np.floating)):
            raise TypeError(f"{name} must be a real number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value!r}")
        values.append(value)
    if values[1] < 0:
        raise ValueError(f"gamma must be >= 0, got {gamma!r}")
    return values[0], values[1]


def _where_mask(where, shape, n):
    """where= as a compact C-contiguous bool array and its layout, or (None, None) when it
    keeps every element."""
    if where is None or where is True:
        return None, None
    wa = where if isinstance(where, np.ndarray) else to_array(where, "where", "a boolean array")
    if wa.dtype != _BOOL:
        raise TypeError(f"where must be a boolean array (True: counted), got dtype {wa.dtype}")
    if wa.ndim == 0 and wa:  # a scalar True keeps every element
        return None, None
    return _compact(wa, "where", shape, n, _BOOL)


def _unmask(value, name, masks):
    """A numpy.ma.MaskedArray's data, its mask (inverted: True = counted) put in masks."""
    mask = np.ma.getmask(value)
    if mask is not np.ma.nomask:
        masks.append(~mask)
    return np.ma.getdata(value)


def check_label_smoothing(value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"label_smoothing must be a float in [0, 1), got {value!r}")
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {value!r}")
    return float(value)


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
    div, mod, stride = [], [], []
    inner = 1
    for size, st in reversed(dims[:-1]):
        if st != 0:
            div.append(inner)
            mod.append(size)
            stride.append(st)
        inner *= size
    return row_len, row_step, div, mod, stride


def _broadcast_operand(value, name, shape, n, cdt):
    """A weight-like operand: its compact copy in the computation dtype, and its layout."""
    if value is None:
        return None, None
    return _compact(as_real_array(value, name), name, shape, n, cdt)


def broadcasts_to(op_shape, shape):
    """An operand of shape ``op_shape`` broadcasts to ``shape`` (and nothing larger)."""
    try:
        return np.broadcast_shapes(op_shape, shape) == shape
    except ValueError:
        return False


def check_broadcast(op_shape, shape, name):
    if not broadcasts_to(op_shape, shape):
        raise ValueError(f"{name} shape {op_shape} does not broadcast to input shape {shape}")


def _compact(wa, name, shape, n, dtype):
    """An operand read in place through a layout (a weight, pos_weight, where=): its compact
    C-contiguous copy in ``dtype`` (no copy when it is one already) and its layout."""
    if wa.shape == shape:  # full-shape: read element for element
        return _cast(wa, dtype).reshape(-1), (max(n, 1), 1, [], [], [])
    check_broadcast(wa.shape, shape, name)
    flat = _cast(wa, dtype).reshape(-1)
    row_len, row_step, div, mod, stride = weight_layout(wa.shape, shape)
    if not div and row_step == 1 and row_len < _TILE_MIN and n > row_len:
        # a short periodic weight (per-column): tile it so that rows are long
        reps = -(-_TILE_MIN // row_len)
        flat = np.tile(flat, reps)
        row_len *= reps
    return flat, (row_len, row_step, div, mod, stride)


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


def _target_buffer(out, name, shape, cdt, rdt):
    """(buffer the kernel writes, out to fill from it afterwards or None). The kernel itself
    computes into scratch memory an out that overlaps an input, and refuses two outputs that
    overlap each other."""
    if out is None:
        return np.empty(shape, cdt), None
    check_out(out, shape, rdt, name)
    if out.dtype == cdt and out.flags.c_contiguous and out.flags.aligned:
        return out, None
    return np.empty(shape, cdt), out


def compute(
    logits, input, target, weight, reduction, pos_weight, label_smoothing, num_threads,
    want_loss, want_grad, want_hess, grad_output=1.0, loss_out=None, grad_out=None,
    hess_out=None, where=None, clamp_log=True, focal=None,
):
    """The one route from a public function to the kernel: returns ``(loss, grad, hess)``,
    each None unless asked for. The loss is a NumPy scalar for "mean"/"sum" (or the 0-d
    ``loss_out``) and an input-shaped array for "none".

    Written for small calls too: plain arrays and default arguments cost only the checks
    that find them plain (the per-call overhead at N = 100 is a benchmark row).

    A Fortran-ordered input is computed in its memory order (as the C-ordered transpose of
    everything), so its outputs are Fortran-ordered, as ``np.empty_like`` would make them."""
    if _fortran_only(input):
        done = _fortran(
            logits, input, target, weight, reduction, pos_weight, label_smoothing, num_threads,
            want_loss, want_grad, want_hess, grad_output, loss_out, grad_out, hess_out,
            where, clamp_log, focal,
        )
        if done is not None:
            return done
    red = _REDUCTIONS.get(reduction) if type(reduction) is str else None
    if red is None:
        reduction = check_reduction(reduction)
        red = _REDUCTIONS[reduction]
    if type(label_smoothing) is not float or label_smoothing != 0.0:
        label_smoothing = check_label_smoothing(label_smoothing)
    if num_threads is not None:
        num_threads = _config._check_num_threads(num_threads)
    if clamp_log is not True and clamp_log is not False:
        raise TypeError(f"clamp_log must be True or False, got {clamp_log!r}")
    masks = None

    # input and target: no copy for C-contiguous native float32/float64 arrays
    if _plain(input, _F32) or _plain(input, _F64):
        x = input
        cdt = rdt = input.dtype
    else:
        if isinstance(input, np.ma.MaskedArray):
            masks = []
            input = _unmask(input, "input", masks)
        a = as_real_array(input, "input")
        cdt = _F32 if (a.dtype.kind == "f" and a.dtype.itemsize <= 4) else _F64
        rdt = a.dtype.newbyteorder("=") if a.dtype.kind == "f" else cdt
        x = _cast(a, cdt)
    shape = x.shape
    if _plain(target, cdt):
        t = target
    else:
        if isinstance(target, np.ma.MaskedArray):
            masks = [] if masks is None else masks
            target = _unmask(target, "target", masks)
        t = _cast(as_real_array(target, "target"), cdt)
    if not _same_shape(x, t):
        raise ValueError(
            f"target shape {t.shape} must equal input shape {shape} "
            "(fastbce does not broadcast the target)"
        )
    n = x.size
    if num_threads is not None:
        nthreads = num_threads
    elif n < _PARALLEL_MIN:
        nthreads = 1  # the kernel runs small inputs on the calling thread anyway
    else:
        nthreads = _config._global_num_threads or kernels.max_threads()
    w = w_layout = pw = pw_layout = None
    if weight is not None:
        w, w_layout = _broadcast_operand(weight, "weight", shape, n, cdt)
    if pos_weight is not None:
        pw, pw_layout = _broadcast_operand(pos_weight, "pos_weight", shape, n, cdt)
    mask = m_layout = None
    den_kind = 0
    den = n
    special = not (where is None and masks is None and clamp_log and focal is None)
    if special or red == 3:
        if where is not None:
            mask, m_layout = _where_mask(where, shape, n)
        if masks:  # masked arrays: where=~mask, with any explicit where (0-d ones too)
            if mask is not None:
                masks.append(np.asarray(where))
            mask, m_layout = _where_mask(functools.reduce(np.logical_and, masks), shape, n)
        # the denominator of "mean" and "weighted_mean": the kept elements' count or weight
        # sum, from the pass itself, or for a gradient (scaled by it) from a first pass over
        # the mask and weight alone
        if red == 3 and w is not None:
            den_kind = 2
        elif mask is not None and red & 1:
            den_kind = 1

    # upstream gradient: a scalar, or per element for "none"
    g, gvec = 1.0, None
    if want_grad and (type(grad_output) is not float or grad_output != 1.0):
        ga = as_real_array(grad_output, "grad_output")
        if ga.ndim == 0:
            with np.errstate(over="ignore", invalid="ignore"):
                g = float(ga.astype(cdt))
        elif red != 0:
            raise ValueError(
                f"grad_output must be a scalar for reduction={reduction!r}, got shape {ga.shape}"
            )
        elif ga.shape != shape:
            raise ValueError(f"grad_output shape {ga.shape} must equal input shape {shape}")
        else:
            gvec = _cast(ga, cdt)
    if want_grad and red & 1:  # "mean", "weighted_mean"
        if den_kind:
            _, wsum, cnt = kernels.run(
                x, t, w, w_layout, None, None, mask, m_layout, None, None, None, None, 1.0,
                False, logits, 0.0, nthreads, True, False, -1.0, 0.0, den_kind, True,
            )
            den = wsum if den_kind == 2 else cnt
        g = g / den if den else float("nan")

    # outputs
    lbuf = lfill = gbuf = gfill = hbuf = hfill = None
    if loss_out is None and grad_out is None and hess_out is None:
        if want_loss and red == 0:
            lbuf = _empty_as(x)
        if want_grad:
            gbuf = _empty_as(x)
        if want_hess:
            hbuf = _empty_as(x)
    else:
        if want_grad:  # outputs the kernel cannot see overlap (scratch-copied ones)
            _separate(loss_out if want_loss else None, "loss_out", grad_out, "grad_out")
            if want_hess:
                _separate(grad_out, "grad_out", hess_out, "hess_out")
        lname = "loss_out" if want_grad else "out"
        if want_loss and red == 0:
            lbuf, lfill = _target_buffer(loss_out, lname, shape, cdt, rdt)
        elif want_loss and loss_out is not None:  # 0-d: the result dtype, or float64 unrounded
            f64 = isinstance(loss_out, np.ndarray) and loss_out.dtype == _F64
            check_out(loss_out, (), _F64 if f64 else rdt, lname)
        if want_grad:
            gname = "out" if not (want_loss or want_hess) else "grad_out"
            gbuf, gfill = _target_buffer(grad_out, gname, shape, cdt, rdt)
        if want_hess:
            hbuf, hfill = _target_buffer(hess_out, "hess_out", shape, cdt, rdt)

    in_pass = 0
    try:
        if not (special or den_kind):
            total = kernels.run(
                x, t, w, w_layout, pw, pw_layout, None, None, lbuf, gbuf, hbuf, gvec, g,
                want_loss and red != 0, logits, label_smoothing, nthreads,
            )
        else:
            alpha, gamma = (-1.0, 0.0) if focal is None else focal
            in_pass = den_kind if (want_loss and not want_grad and red & 1) else 0
            total = kernels.run(
                x, t, w, w_layout, pw, pw_layout, mask, m_layout, lbuf, gbuf, hbuf, gvec, g,
                want_loss and red != 0, logits, label_smoothing, nthreads, clamp_log,
                focal is not None, alpha, gamma, in_pass,
            )
    except ValueError as exc:
        raise with_hint(exc, x, t) from None
    if in_pass:
        total, wsum, cnt = total
        den = wsum if den_kind == 2 else cnt

    loss = grad = hess = None
    if want_loss:
        if red == 0:
            loss = lbuf if lfill is None and cdt is rdt else _finish(lbuf, lfill, rdt)
        else:
            value = total if red == 2 else (total / den if den else float("nan"))
            if loss_out is None:
                loss = _result_scalar(value, rdt)
            else:
                with np.errstate(over="ignore", invalid="ignore"):
                    loss_out[()] = value
                loss = loss_out
    if want_grad:
        grad = gbuf if gfill is None and cdt is rdt else _finish(gbuf, gfill, rdt)
    if want_hess:
        hess = hbuf if hfill is None and cdt is rdt else _finish(hbuf, hfill, rdt)
    return loss, grad, hess


def with_hint(exc, x, t):
    """The kernel's range error (torch's message) with a hint at the likely fix, found by a
    pass over the data made only now, on the error path."""
    msg = str(exc)
    if msg == "all elements of input should be between 0 and 1":
        with np.errstate(invalid="ignore"):
            outside = x[(x < 0) | (x > 1)]
        if outside.size:
            msg += (f"; input holds values outside [0, 1] (such as {float(outside[0])}): "
                    "for logits (raw scores), use binary_cross_entropy_with_logits")
    elif msg == "all elements of target should be between 0 and 1" and np.isnan(t).any():
        msg += "; target holds NaN: pass where=~np.isnan(target) to skip missing labels"
    return ValueError(msg)


def _as_array_or_none(value):
    try:
        return value if isinstance(value, np.ndarray) else np.asarray(value)
    except (ValueError, TypeError, RuntimeError):  # the ordinary route reports it
        return None


def _fortran(logits, input, target, weight, reduction, pos_weight, label_smoothing, num_threads,
             want_loss, want_grad, want_hess, grad_output, loss_out, grad_out, hess_out,
             where, clamp_log, focal):
    """``compute`` on the transposes: a Fortran-ordered input becomes a C-ordered one.

    Returns None, and the caller goes the ordinary way (which reports any error in the
    caller's own shapes), unless every argument fits the input's shape."""
    shape = input.shape
    nd = len(shape)
    t = _as_array_or_none(target)
    if t is None or t.shape != shape:
        return None
    ops = []
    for value in (weight, pos_weight, where):
        if value is None or value is True:
            ops.append(None)
            continue
        arr = _as_array_or_none(value)
        if arr is None or arr.ndim > nd or arr.dtype.kind not in "biuf":
            return None
        if not broadcasts_to(arr.shape, shape):
            return None
        ops.append(arr.reshape((1,) * (nd - arr.ndim) + arr.shape).T)
    if want_grad and not (type(grad_output) is float or type(grad_output) is int):
        g = _as_array_or_none(grad_output)
        if g is None or (g.ndim and g.shape != shape):
            return None
        grad_output = g.T
    outs = []
    for i, value in enumerate((loss_out, grad_out, hess_out)):
        if value is not None and isinstance(value, np.ndarray) and value.shape == shape:
            value = value.T
        elif value is not None and not (
                i == 0 and reduction != "none" and isinstance(value, np.ndarray) and value.ndim == 0):
            return None
        outs.append(value)
    loss, grad, hess = compute(
        logits, input.T, t.T, ops[0], reduction, ops[1], label_smoothing, num_threads,
        want_loss, want_grad, want_hess, grad_output, *outs, where=ops[2], clamp_log=clamp_log,
        focal=focal,
    )
    if loss is not None and loss.ndim:
        loss = loss_out if loss_out is not None else loss.T
    if grad is not None:
        grad = grad_out if grad_out is not None else grad.T
    if hess is not None:
        hess = hess_out if hess_out is not None else hess.T
    return loss, grad, hess


def _separate(a, a_name, b, b_name):
    if a is not None and b is not None and np.may_share_memory(a, b):
        raise ValueError(f"{a_name} and {b_name} overlap: each output needs its own memory")


def _finish(buf, fill, rdt):
    """What the caller gets for an input-shaped output."""
    # (a float16 result may overflow to inf: silently, as every other overflow)
    if fill is not None:
        with np.errstate(over="ignore", invalid="ignore"):
            np.copyto(fill, buf, casting="same_kind")
        return fill
    if buf.dtype != rdt:
        with np.errstate(over="ignore", invalid="ignore"):
            return buf.astype(rdt)
    return buf
