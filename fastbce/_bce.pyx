# cython: language_level=3, boundscheck=True, wraparound=True, cdivision=False
# (Python semantics throughout: negative indices, checked indexing, division by zero raises)
"""Layer 3 of fastbce: array coercion, dtype policy, shape checks, outputs and threads.

Every public function, criterion and adapter goes one way: ``compute`` coerces and checks
its arguments, describes the work in one typed record (``Job``, ``fastbce/_job.pxd``) and
hands it to the kernel module's ``run_job`` (a C function reached through a capsule: no
Python call, no argument list). No per-element work happens here. The only input-sized
allocations are the outputs, the copies that coercion cannot avoid (a non-contiguous,
non-native or non-float operand) and a scratch buffer for an ``out`` the kernel cannot write
directly (strided, float16, or overlapping an input).

This is Python code compiled by Cython (once, not per instruction set), so that a call on
100 elements costs little more than the kernel: the checks that find an array plain (exact
ndarray, native float32/float64, C-contiguous, aligned), the fresh outputs and the NumPy
scalar of a reduced loss use NumPy's C API instead of attribute lookups and constructors.
"""

import functools
import math

import numpy as np

cimport numpy as cnp

cimport cython
from cpython.pycapsule cimport PyCapsule_GetPointer
from libc.stdint cimport uint8_t
from libc.string cimport memset

from fastbce._job cimport (
    NPATHS, PATH_HARD, PATH_LOGITS, PATH_OTHER, PATH_PRODUCT, PATH_SOFT, RUN_JOB_NAME, Job,
    Layout, RunJob, Totals,
)

from . import _config
from ._checks import (
    broadcasts_to, check_axis, check_broadcast, check_clamp_log, check_focal,
    check_grad_output_shape, check_keepdims, check_label_smoothing, check_num_threads, check_out,
    check_reduction, check_target_shape, reduced_shape,
)

cnp.import_array()

# ---------------------------------------------------------------- the kernel module

cdef RunJob _run_job = NULL
cdef Totals _last  # the totals of the process's last pass (its chunks per path: for tests)
kernels = None


def use_kernels(module):
    """Send every pass to this kernel module's run_job (``fastbce._config`` chose one at
    import; the tests switch between the modules the CPU runs)."""
    global kernels, _run_job
    _run_job = <RunJob>PyCapsule_GetPointer(module.RUN_JOB, RUN_JOB_NAME)
    kernels = module


use_kernels(_config.kernels)


def path_counts():
    """Chunks per kernel path in the process's last pass (a test's proof that a path that
    exists only for speed is taken): product (0/1 targets summed as products), hard (one log
    per element), soft (two logs, or the gradient alone), logits, other (focal, unclamped,
    denominators)."""
    return {"product": _last.chunks[PATH_PRODUCT], "hard": _last.chunks[PATH_HARD],
            "soft": _last.chunks[PATH_SOFT], "logits": _last.chunks[PATH_LOGITS],
            "other": _last.chunks[PATH_OTHER]}

cdef extern from "numpy/arrayobject.h":
    object PyArray_Scalar(void* data, cnp.dtype descr, object base)

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_REDUCTIONS = {"none": 0, "mean": 1, "sum": 2, "weighted_mean": 3}
_BOOL = np.dtype(bool)

cdef double _F32_MAX = float(np.finfo(np.float32).max)
cdef int _BEHAVED = cnp.NPY_ARRAY_C_CONTIGUOUS | cnp.NPY_ARRAY_ALIGNED
cdef Py_ssize_t _PARALLEL_MIN = kernels.PARALLEL_THRESHOLD
# A reduction over axes: elements per work unit (whole rows, or a segment of a long row;
# the units depend on the shape alone, so the result does not depend on the thread count)
cdef Py_ssize_t _BLOCK = kernels.BLOCK_SIZE
cdef Py_ssize_t _UNIT = 8 * kernels.BLOCK_SIZE


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


def _target_buffer(out, name, shape, cdt, rdt):
    """(buffer the kernel writes, out to fill from it afterwards or None)."""
    if out is None:
        return np.empty(shape, cdt), None
    check_out(out, shape, rdt, name)
    if out.dtype == cdt and out.flags.c_contiguous and out.flags.aligned:
        return out, None
    return np.empty(shape, cdt), out


def compute(input, target, *, bint logits=False, weight=None, reduction="mean", pos_weight=None,
            label_smoothing=0.0, num_threads=None, bint want_loss=False, bint want_grad=False,
            bint want_hess=False, grad_output=1.0, loss_out=None, grad_out=None, hess_out=None,
            where=None, clamp_log=True, focal=None, grad_scale=None, axis=None, keepdims=False):
    """The one route from a public function or an adapter to the kernels: returns
    ``(loss, grad, hess)``, each None unless asked for. The loss is a NumPy scalar for
    "mean"/"sum"/"weighted_mean" (or the 0-d ``loss_out``, which may be float64 whatever the
    input: the unrounded float64 result) and an input-shaped array for "none".

    ``grad_scale`` (adapters): the gradient's scale as a float64, used as it is (not rounded
    to the computation dtype like ``grad_output``, nor divided by a mean's denominator): a
    dask chunk's share of a gradient scaled over the whole array.

    Written for small calls too: plain arrays and default arguments cost only the checks
    that find them plain (the per-call overhead at N = 100 is a benchmark row).

    A Fortran-ordered input is computed in its memory order (as the C-ordered transpose of
    everything), so its outputs are Fortran-ordered, as ``np.empty_like`` would make them."""
    cdef _Pass p
    # weight, pos_weight, where=, and a reduction's slots over axes: filled when given
    cdef Layout layouts[4]
    if _fortran_only(input):
        done = _fortran(input, target, logits, weight, reduction, pos_weight, label_smoothing,
                        num_threads, want_loss, want_grad, want_hess, grad_output, loss_out,
                        grad_out, hess_out, where, clamp_log, focal, grad_scale, axis, keepdims)
        if done is not None:
            return done
    p = _Pass.__new__(_Pass)
    p.options(logits, reduction, label_smoothing, num_threads, clamp_log, focal, layouts)
    p.operands(input, target)
    if axis is not None or keepdims is not False:
        loss_out, grad_output = p.over_axes(axis, keepdims, loss_out, grad_output)
    p.broadcasts(weight, pos_weight, where, clamp_log is True and focal is None)
    if p.axes is not None:
        p.slot_denominators(weight)
        if want_grad:
            p.slot_gradient(grad_output)
    elif want_grad and grad_scale is not None:
        p.job.g = grad_scale
    elif want_grad:
        p.gradient_scale(grad_output)
    p.outputs(want_loss, want_grad, want_hess, loss_out, grad_out, hess_out)
    p.launch(want_loss and not want_grad)
    return p.results(want_loss, want_grad, want_hess, loss_out)


cdef Py_ssize_t _NOGIL_MIN = kernels.NOGIL_THRESHOLD


@cython.final
@cython.freelist(4)
cdef class _Pass:
    """One call on its way to the kernels: the Job record and the arrays it points into
    (held here, so that they live as long as the pass). The layouts (1.5 kB each) live on
    compute's stack: zero-filling them in every new object cost more than the whole pass at
    N = 100."""
    cdef Job job
    cdef Totals tot
    cdef int red, den_kind, nthreads
    cdef double den
    cdef object reduction, cdt, rdt, shape, masks
    cdef object x, t, w, pw, mask, gvec, lbuf, gbuf, hbuf, lfill, gfill, hfill
    # axis=: the axes reduced (None: all), the result's shape, keepdims' shape (the slots),
    # the float64 sums per slot and each slot's denominator (an array, a count, or None)
    cdef object axes, oshape, kshape, rsum, rden, all_kept, msrc

    cdef over_axes(self, axis, keepdims, loss_out, grad_output):
        """axis=, checked, and the work units over the slots of the reduced shape. Axes
        covering the whole input reduce to the ordinary scalar pass (with keepdims, its result
        as an array of ones' shape). Returns loss_out and grad_output as that pass takes them."""
        shape = self.shape
        nd = len(shape)
        axes = check_axis(axis, nd, self.reduction)
        keep = check_keepdims(keepdims, self.reduction)
        if axes is None or len(axes) == nd:
            if keep and nd:
                self.all_kept = (1,) * nd
                if loss_out is not None:
                    check_out(loss_out, self.all_kept, getattr(loss_out, "dtype", None), "out")
                    self.lfill = loss_out  # returned as it is; the pass fills a 0-d view
                    loss_out = loss_out.reshape(())
                if type(grad_output) is not float:
                    ga = as_real_array(grad_output, "grad_output")
                    _broadcast_to(ga, self.all_kept, "grad_output")
                    grad_output = ga.reshape(())
            return loss_out, grad_output
        self.axes = axes
        self.kshape = tuple(1 if k in axes else size for k, size in enumerate(shape))
        self.oshape = reduced_shape(shape, axes, keep)
        _set_layout(self.job.olay, weight_layout(self.kshape, shape), None)
        cdef Py_ssize_t n = self.job.n, nslots = math.prod(self.kshape)
        cdef Py_ssize_t rows = math.prod(shape[:axes[0]]) if axes else n
        cdef Py_ssize_t rowlen, big
        if n == 0:
            return loss_out, grad_output
        rowlen = n // rows
        self.job.arows, self.job.rowlen, self.job.rowslots = rows, rowlen, nslots // rows
        big = max(_UNIT, 64 * self.job.rowslots)
        if rowlen >= 2 * big:  # long rows: segments of fixed length, summed apart
            self.job.seglen = -(-big // _BLOCK) * _BLOCK
            self.job.segs = -(-rowlen // self.job.seglen)
        else:
            self.job.segs = 1
            self.job.rows_per_unit = max(1, _UNIT // rowlen)
        return loss_out, grad_output

    cdef slot_denominators(self, weight):
        """Each slot's denominator: for "mean" its count of kept elements, for
        "weighted_mean" with a weight their weight sum, in float64 (NumPy's reduction of the
        mask and weight alone, read in place); a number where every slot has the same."""
        shape, axes = self.shape, self.axes
        if self.red == 2:
            return
        if self.red == 3 and self.w is not None:
            wa = as_real_array(weight, "weight")
            w = self.w.reshape(wa.shape) if self.w.size == wa.size else _cast(wa, self.cdt)
            mask = None if self.mask is None else np.broadcast_to(self.mask_shaped(), shape)
            self.rden = np.add.reduce(np.broadcast_to(w, shape), axis=axes, dtype=_F64,
                                      keepdims=True, where=True if mask is None else mask)
        elif self.mask is not None:
            self.rden = np.add.reduce(np.broadcast_to(self.mask_shaped(), shape), axis=axes,
                                      dtype=_F64, keepdims=True)
        else:
            self.rden = float(math.prod(shape[k] for k in axes))

    cdef object mask_shaped(self):
        """where= (with masked arrays' masks) as a bool array that broadcasts to the input."""
        mshape = np.shape(self.msrc)
        if self.mask.size == math.prod(mshape):
            return self.mask.reshape(mshape)
        return np.asarray(self.msrc)  # a short mask the route tiled

    cdef slot_gradient(self, grad_output):
        """The upstream gradient of a reduction over axes: grad_output (broadcast to the
        reduced shape) over each slot's denominator, read per element through the slots'
        layout; a scalar where it is one number."""
        den = 1.0 if self.rden is None else self.rden
        ga = None if type(grad_output) is float else as_real_array(grad_output, "grad_output")
        if ga is None or ga.ndim == 0:
            g = grad_output
            if ga is not None:
                with np.errstate(over="ignore", invalid="ignore"):
                    g = float(ga.astype(self.cdt))
            if type(den) is float:
                self.job.g = g / den if den else float("nan")
                return
            ga = np.asarray(g, self.cdt)
        else:
            ga = _broadcast_to(ga, self.oshape, "grad_output").astype(self.cdt)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ge = np.asarray(ga.reshape(ga.shape if ga.ndim == 0 else self.kshape), _F64) / den
            self.gvec = np.ascontiguousarray(np.broadcast_to(ge, self.kshape), self.cdt)
        self.job.gvec = cnp.PyArray_DATA(<cnp.ndarray>self.gvec)
        self.job.glay = self.job.olay

    cdef options(self, bint logits, reduction, label_smoothing, num_threads, clamp_log, focal,
                 Layout* layouts):
        """The scalar arguments, checked, into the job (num_threads: 0 for the default)."""
        red = _REDUCTIONS.get(reduction) if type(reduction) is str else None
        if red is None:
            reduction = check_reduction(reduction)
            red = _REDUCTIONS[reduction]
        self.red = red
        self.reduction = reduction
        if type(label_smoothing) is not float or label_smoothing != 0.0:
            label_smoothing = check_label_smoothing(label_smoothing)
        if num_threads is not None:
            self.nthreads = check_num_threads(num_threads)
        if clamp_log is not True and clamp_log is not False:
            check_clamp_log(clamp_log)
        memset(&self.job, 0, sizeof(Job))
        self.job.logits = logits
        self.job.ls = label_smoothing
        self.job.clamp = clamp_log
        self.job.focal = focal is not None
        self.job.alpha, self.job.gamma = (-1.0, 0.0) if focal is None else focal
        self.job.g = 1.0
        self.job.wlay = &layouts[0]
        self.job.pwlay = &layouts[1]
        self.job.mlay = &layouts[2]
        self.job.olay = &layouts[3]

    cdef operands(self, input, target):
        """input and target in the computation dtype (no copy for C-contiguous native
        float32/float64 arrays), their shape and the thread count."""
        if _plain(input, _F32) or _plain(input, _F64):
            x = input
            cdt = rdt = input.dtype
        else:
            if isinstance(input, np.ma.MaskedArray):
                self.masks = []
                input = _unmask(input, "input", self.masks)
            a = as_real_array(input, "input")
            cdt = _F32 if (a.dtype.kind == "f" and a.dtype.itemsize <= 4) else _F64
            rdt = a.dtype.newbyteorder("=") if a.dtype.kind == "f" else cdt
            x = _cast(a, cdt)
        if _plain(target, cdt):
            t = target
        else:
            if isinstance(target, np.ma.MaskedArray):
                if self.masks is None:
                    self.masks = []
                target = _unmask(target, "target", self.masks)
            t = _cast(as_real_array(target, "target"), cdt)
        if not _same_shape(x, t):
            check_target_shape(t.shape, x.shape)
        self.x, self.t, self.cdt, self.rdt, self.shape = x, t, cdt, rdt, x.shape
        self.job.n = x.size
        self.job.f64 = cdt is _F64
        self.job.x = cnp.PyArray_DATA(<cnp.ndarray>x)
        self.job.t = cnp.PyArray_DATA(<cnp.ndarray>t)
        if self.nthreads:
            pass
        elif self.job.n < _PARALLEL_MIN:
            self.nthreads = 1  # the kernel runs small inputs on the calling thread anyway
        else:
            self.nthreads = _config._global_num_threads or kernels.max_threads()

    cdef broadcasts(self, weight, pos_weight, where, bint plain):
        """weight, pos_weight and where= (with the masks of masked arrays), each read in
        place through a layout; which denominator "mean" and "weighted_mean" need."""
        cdef Py_ssize_t n = self.job.n
        if weight is not None:
            self.w, lay = _broadcast_operand(weight, "weight", self.shape, n, self.cdt)
            self.job.w = _set_layout(self.job.wlay, lay, self.w)
        if pos_weight is not None:
            self.pw, lay = _broadcast_operand(pos_weight, "pos_weight", self.shape, n, self.cdt)
            self.job.pw = _set_layout(self.job.pwlay, lay, self.pw)
        if plain and where is None and self.masks is None and self.red != 3:
            return
        mask = lay = None
        if where is not None:
            mask, lay = _where_mask(where, self.shape, n)
            self.msrc = where
        if self.masks:  # masked arrays: where=~mask, with any explicit where (0-d ones too)
            if mask is not None:
                self.masks.append(np.asarray(where))
            self.msrc = functools.reduce(np.logical_and, self.masks)
            mask, lay = _where_mask(self.msrc, self.shape, n)
        if mask is not None:
            self.mask = mask
            self.job.mask = <const uint8_t*>_set_layout(self.job.mlay, lay, mask)
        # the denominator of "mean" and "weighted_mean": the kept elements' count or weight
        # sum, from the pass itself, or for a gradient (scaled by it) from a first pass over
        # the mask and weight alone
        if self.red == 3 and self.w is not None:
            self.den_kind = 2
        elif mask is not None and self.red & 1:
            self.den_kind = 1

    cdef gradient_scale(self, grad_output):
        """The upstream gradient: a scalar (divided by the denominator for the means), or
        per element for "none"."""
        self.den = self.job.n
        if type(grad_output) is not float or grad_output != 1.0:
            ga = as_real_array(grad_output, "grad_output")
            if ga.ndim == 0:
                with np.errstate(over="ignore", invalid="ignore"):
                    self.job.g = float(ga.astype(self.cdt))
            else:
                check_grad_output_shape(ga.shape, self.shape, self.reduction)
                self.gvec = _cast(ga, self.cdt)
                self.job.gvec = cnp.PyArray_DATA(<cnp.ndarray>self.gvec)
        if self.red & 1:  # "mean", "weighted_mean"
            if self.den_kind:
                self.job.den, self.job.den_only = self.den_kind, 1
                self.run()
                self.job.den, self.job.den_only = 0, 0
                self.den = self.tot.wsum if self.den_kind == 2 else self.tot.count
            self.job.g = self.job.g / self.den if self.den else float("nan")

    cdef outputs(self, bint want_loss, bint want_grad, bint want_hess, loss_out, grad_out,
                 hess_out):
        """The buffers the kernel writes: fresh ones, or the caller's outs (through scratch
        memory where an out is strided, of another dtype or overlaps an input)."""
        shape, cdt, rdt, x = self.shape, self.cdt, self.rdt, <cnp.ndarray>self.x
        if loss_out is None and grad_out is None and hess_out is None:
            if want_loss and self.red == 0:
                self.lbuf = _empty_as(x)
            if want_grad:
                self.gbuf = _empty_as(x)
            if want_hess:
                self.hbuf = _empty_as(x)
        else:
            if want_grad:  # outputs the kernel cannot see overlap (scratch-copied ones)
                _separate(loss_out if want_loss else None, "loss_out", grad_out, "grad_out")
                if want_hess:
                    _separate(grad_out, "grad_out", hess_out, "hess_out")
            lname = "loss_out" if want_grad else "out"
            if want_loss and self.red == 0:
                self.lbuf, self.lfill = self._buffer(loss_out, lname)
            elif want_loss and loss_out is not None:  # reduced: the result dtype, or float64
                f64 = isinstance(loss_out, np.ndarray) and loss_out.dtype == _F64
                check_out(loss_out, () if self.axes is None else self.oshape,
                          _F64 if f64 else rdt, lname)
            if want_grad:
                gname = "out" if not (want_loss or want_hess) else "grad_out"
                self.gbuf, self.gfill = self._buffer(grad_out, gname)
            if want_hess:
                self.hbuf, self.hfill = self._buffer(hess_out, "hess_out")
        self.job.want_sum = want_loss and self.red != 0 and self.axes is None
        if want_loss and self.axes is not None:
            self.rsum = np.zeros(math.prod(self.kshape), _F64)
            self.job.rsum = <double*>cnp.PyArray_DATA(<cnp.ndarray>self.rsum)
        self.job.loss = NULL if self.lbuf is None else cnp.PyArray_DATA(<cnp.ndarray>self.lbuf)
        self.job.grad = NULL if self.gbuf is None else cnp.PyArray_DATA(<cnp.ndarray>self.gbuf)
        self.job.hess = NULL if self.hbuf is None else cnp.PyArray_DATA(<cnp.ndarray>self.hbuf)

    cdef tuple _buffer(self, out, name):
        buf, fill = _target_buffer(out, name, self.shape, self.cdt, self.rdt)
        if fill is None and out is not None and (
                _overlap(out, self.x) or _overlap(out, self.t) or _overlap(out, self.w)
                or _overlap(out, self.pw) or _overlap(out, self.mask)
                or _overlap(out, self.gvec)):
            return np.empty(self.shape, self.cdt), out  # computed aside, copied after
        return buf, fill

    cdef launch(self, bint den_in_pass):
        """The pass; with den_in_pass, the means' denominator comes from the pass itself."""
        if den_in_pass and self.red & 1 and self.axes is None:
            self.job.den = self.den_kind
        try:
            self.run()
        except ValueError as exc:
            raise with_hint(exc, self.x, self.t) from None
        if self.job.den:
            self.den = self.tot.wsum if self.den_kind == 2 else self.tot.count
        elif self.red & 1 and not self.den_kind:
            self.den = self.job.n

    cdef run(self):
        """One call of the kernel module's run_job, the GIL released for large inputs."""
        cdef int status
        global _last
        if self.job.n >= _NOGIL_MIN:
            with nogil:
                status = _run_job(&self.job, self.nthreads, &self.tot)
        else:
            status = _run_job(&self.job, self.nthreads, &self.tot)
        _last = self.tot
        if status < 0:
            raise MemoryError()
        if self.tot.flags & 1:
            if self.job.logits:
                raise ValueError("input (logits) contains NaN")
            raise ValueError("all elements of input should be between 0 and 1")
        if self.tot.flags & 2:
            raise ValueError("all elements of target should be between 0 and 1")

    cdef tuple results(self, bint want_loss, bint want_grad, bint want_hess, loss_out):
        loss = grad = hess = None
        rdt = self.rdt
        plain = self.cdt is rdt
        if want_loss and self.axes is not None:
            loss = self.slot_results(loss_out)
        elif want_loss:
            if self.red == 0:
                loss = self.lbuf if self.lfill is None and plain else _finish(self.lbuf, self.lfill, rdt)
            else:
                total = self.tot.sum
                value = total if self.red == 2 else (total / self.den if self.den else float("nan"))
                if loss_out is None:
                    loss = _result_scalar(value, rdt)
                else:
                    with np.errstate(over="ignore", invalid="ignore"):
                        loss_out[()] = value
                    loss = loss_out
            if self.all_kept is not None:
                loss = self.lfill if self.lfill is not None else np.full(self.all_kept, loss, rdt)
        if want_grad:
            grad = self.gbuf if self.gfill is None and plain else _finish(self.gbuf, self.gfill, rdt)
        if want_hess:
            hess = self.hbuf if self.hfill is None and plain else _finish(self.hbuf, self.hfill, rdt)
        return loss, grad, hess

    cdef object slot_results(self, loss_out):
        """A reduction over axes: each slot's sum, or mean (over its denominator: NaN
        where that is 0), in the result dtype or the caller's out."""
        value = self.rsum.reshape(self.kshape)
        if self.rden is not None:  # (in place: a fresh output-sized array costs page faults)
            with np.errstate(divide="ignore", invalid="ignore"):
                np.divide(value, self.rden, out=value)
        value = value.reshape(self.oshape)
        if loss_out is None:
            with np.errstate(over="ignore", invalid="ignore"):
                return value.astype(self.rdt)
        with np.errstate(over="ignore", invalid="ignore"):
            np.copyto(loss_out, value, casting="unsafe")
        return loss_out


def _broadcast_to(arr, shape, name):
    """arr broadcast (read-only view) to shape, or an error naming the argument."""
    if not broadcasts_to(arr.shape, shape):
        raise ValueError(f"{name} shape {arr.shape} does not broadcast to the reduced shape "
                         f"{shape}")
    return np.broadcast_to(arr, shape)


cdef inline bint _overlap(cnp.ndarray out, a):
    """Whether the contiguous out's bytes meet those of the contiguous operand ``a`` (the
    route's own coerced copy, or None)."""
    if a is None:
        return False
    cdef char* p = <char*>cnp.PyArray_DATA(out)
    cdef char* q = <char*>cnp.PyArray_DATA(<cnp.ndarray>a)
    cdef Py_ssize_t np_ = cnp.PyArray_NBYTES(out), nq = cnp.PyArray_NBYTES(<cnp.ndarray>a)
    return np_ > 0 and nq > 0 and p < q + nq and q < p + np_


cdef const void* _set_layout(const Layout* dest, layout, arr):
    """Fill ``lay`` from ``(row_len, row_step, div, mod, stride)`` (``weight_layout``'s
    description of ``arr`` over the input) and return ``arr``'s data."""
    cdef Py_ssize_t k
    cdef Layout* lay = <Layout*>dest  # the job reads it as const; the route fills it
    row_len, row_step, div, mod, stride = layout
    lay.row_len = max(row_len, 1)
    lay.row_step = row_step
    lay.nouter = len(div)
    for k in range(lay.nouter):
        lay.div[k] = div[k]
        lay.mod[k] = mod[k]
        lay.stride[k] = stride[k]
    return NULL if arr is None else cnp.PyArray_DATA(<cnp.ndarray>arr)


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


def _mirror_axes(shape, axis, keepdims, reduction, loss_out, grad_output):
    """A reduction over axes, for the transposes: the mirrored axes, and out= and
    grad_output (of the reduced shape, or broadcasting to it) transposed to match; None
    where one does not fit (the ordinary route then reports it)."""
    nd = len(shape)
    red = check_reduction(reduction)
    axes = check_axis(axis, nd, red)
    oshape = reduced_shape(shape, axes, check_keepdims(keepdims, red))
    if loss_out is not None:
        if not isinstance(loss_out, np.ndarray) or loss_out.shape != oshape:
            return None
        loss_out = loss_out.T
    if type(grad_output) is not float:
        g = _as_array_or_none(grad_output)
        if g is None or g.ndim > len(oshape) or not broadcasts_to(g.shape, oshape):
            return None
        grad_output = g.reshape((1,) * (len(oshape) - g.ndim) + g.shape).T
    return tuple(nd - 1 - k for k in axes), loss_out, grad_output


def _fortran(input, target, logits, weight, reduction, pos_weight, label_smoothing, num_threads,
             want_loss, want_grad, want_hess, grad_output, loss_out, grad_out, hess_out,
             where, clamp_log, focal, grad_scale, axis, keepdims):
    """``compute`` on the transposes: a Fortran-ordered input becomes a C-ordered one
    (reduced over the mirrored axes, the result transposed back).

    Returns None, and the caller goes the ordinary way (which reports any error in the
    caller's own shapes), unless every argument fits the input's shape."""
    shape = input.shape
    nd = len(shape)
    reduced_out = None  # out= of a reduction over axes, transposed
    if axis is not None:
        mirrored = _mirror_axes(shape, axis, keepdims, reduction, loss_out, grad_output)
        if mirrored is None:
            return None
        axis, reduced_out, grad_output = mirrored
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
    if want_grad and axis is None and not (type(grad_output) is float or type(grad_output) is int):
        g = _as_array_or_none(grad_output)
        if g is None or (g.ndim and g.shape != shape):
            return None
        grad_output = g.T
    outs = []
    for i, value in enumerate((loss_out, grad_out, hess_out)):
        if i == 0 and axis is not None:
            value = reduced_out
        elif value is not None and isinstance(value, np.ndarray) and value.shape == shape:
            value = value.T
        elif value is not None and not (
                i == 0 and reduction != "none" and isinstance(value, np.ndarray) and value.ndim == 0):
            return None
        outs.append(value)
    loss, grad, hess = compute(
        input.T, t.T, logits=logits, weight=ops[0], reduction=reduction, pos_weight=ops[1],
        label_smoothing=label_smoothing, num_threads=num_threads, want_loss=want_loss,
        want_grad=want_grad, want_hess=want_hess, grad_output=grad_output, loss_out=outs[0],
        grad_out=outs[1], hess_out=outs[2], where=ops[2], clamp_log=clamp_log, focal=focal,
        grad_scale=grad_scale, axis=axis, keepdims=keepdims,
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
