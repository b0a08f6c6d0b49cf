"""Compiled core of fastbce: the blocked, parallel loops (layer 2) over the vector kernels
of ``_simd.h`` (layer 1: the scalar math, written once, compiled per instruction set).

Everything here works on flat, C-contiguous float32/float64 buffers that the Python layer
(``fastbce/_bce.py``) has already coerced and checked. Nothing in this file allocates
input-sized memory.
"""

from cpython.buffer cimport (
    PyBUF_C_CONTIGUOUS, PyBUF_FORMAT, PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer,
)
from cython.parallel cimport prange
from libc.stdlib cimport free, malloc

cdef extern from "_omp.h" nogil:
    int FASTBCE_HAVE_OPENMP
    int omp_get_max_threads()

cdef extern from "_simd.h" nogil:
    ctypedef struct fb_seg:
        Py_ssize_t n
        const void* x
        const void* t
        const void* w
        Py_ssize_t wstep
        void* loss
        void* grad
        const void* gvec
        double gscale
        int want_sum
        int logits
        double ls
        const void* pw
        Py_ssize_t pwstep
        void* hess
    double fb_seg_f32(const fb_seg* s, int* flags)
    double fb_seg_f64(const fb_seg* s, int* flags)
    int fb_select_isa(const char* name)
    const char* fb_isa_name()

# Elements per block. Partial sums are taken per block and combined in block order, so the
# block size -- not the thread count -- fixes the rounding: results are the same bits for
# any number of threads.
cdef enum:
    BLOCK = 8192
    # Below this many elements the loop runs on the calling thread: starting a team costs
    # more than it saves.
    PARALLEL_MIN = 2 * BLOCK
    # numpy.ndim never exceeds 64 (NPY_MAXDIMS in NumPy 2)
    MAXDIMS = 64

BLOCK_SIZE = BLOCK
PARALLEL_THRESHOLD = PARALLEL_MIN
HAVE_OPENMP = bool(FASTBCE_HAVE_OPENMP)


def select_isa(name="auto"):
    """Choose the vector kernels: "avx2" (AVX2 + FMA), "baseline" (any x86-64) or "auto".

    Import time picks "auto", or the ``FASTBCE_ISA`` environment variable's choice. Raises
    ValueError when this CPU or build cannot run the set asked for.
    """
    if fb_select_isa(name.encode()) != 0:
        raise ValueError(f"instruction set {name!r} is not available here (have: {available_isas()})")
    return isa()


def isa():
    """Name of the vector kernels in use."""
    return fb_isa_name().decode()


def available_isas():
    current = isa()
    names = [n for n in ("baseline", "avx2") if fb_select_isa(n.encode()) == 0]
    fb_select_isa(current.encode())
    return names


# ---------------------------------------------------------------- weight layout

cdef struct Layout:
    # The broadcast weight seen through the flat input: the input is cut into rows of
    # row_len elements; inside a row the weight index moves by row_step (0 or 1); the
    # row's first weight index is sum_k ((row // div[k]) % mod[k]) * stride[k].
    Py_ssize_t row_len
    Py_ssize_t row_step
    int nouter
    Py_ssize_t div[MAXDIMS]
    Py_ssize_t mod[MAXDIMS]
    Py_ssize_t stride[MAXDIMS]


cdef inline Py_ssize_t _row_start(const Layout* lay, Py_ssize_t row) noexcept nogil:
    cdef Py_ssize_t base = 0
    cdef int k
    for k in range(lay.nouter):
        base += ((row // lay.div[k]) % lay.mod[k]) * lay.stride[k]
    return base


# ---------------------------------------------------------------- layer 2: loops

cdef struct Pass:
    # one pass over n elements of one dtype; NULL pointers are absent outputs/inputs
    int f64                   # 0: float32, 1: float64
    Py_ssize_t n
    const char* x
    const char* t
    const char* w
    const Layout* lay
    char* loss                # per-element losses ("none")
    char* grad
    const char* gvec          # per-element upstream gradient
    double g                  # scalar upstream gradient, already divided by N for "mean"
    int want_sum
    int logits                # 0: probabilities, 1: logits
    double ls                 # label smoothing
    const char* pw            # logits: positive-class weight, read through pwlay
    const Layout* pwlay
    char* hess                # logits: per-element second derivative


cdef double _block(const Pass* p, Py_ssize_t lo, Py_ssize_t hi, int* flags) noexcept nogil:
    """One block [lo, hi): loss sum (returned), element losses, gradients, range flags.

    The block is cut where the weight's rows end; each piece goes to the vector kernel.
    """
    cdef double s = 0.0
    cdef Py_ssize_t i = lo, seg_end, row
    cdef Py_ssize_t size = 8 if p.f64 else 4
    cdef const Layout* lay = p.lay
    cdef const Layout* pwl = p.pwlay
    cdef fb_seg seg
    seg.w = NULL
    seg.wstep = 0
    seg.pw = NULL
    seg.pwstep = 0
    seg.gscale = p.g
    seg.want_sum = p.want_sum
    seg.logits = p.logits
    seg.ls = p.ls
    flags[0] = 0
    while i < hi:
        # a segment ends where this block, a weight row or a pos_weight row ends
        seg_end = hi
        if p.w != NULL:
            row = i // lay.row_len
            seg_end = min(seg_end, (row + 1) * lay.row_len)
            seg.w = p.w + (_row_start(lay, row) + (i - row * lay.row_len) * lay.row_step) * size
            seg.wstep = lay.row_step
        if p.pw != NULL:
            row = i // pwl.row_len
            seg_end = min(seg_end, (row + 1) * pwl.row_len)
            seg.pw = p.pw + (_row_start(pwl, row) + (i - row * pwl.row_len) * pwl.row_step) * size
            seg.pwstep = pwl.row_step
        seg.n = seg_end - i
        seg.x = p.x + i * size
        seg.t = p.t + i * size
        seg.loss = p.loss + i * size if p.loss != NULL else NULL
        seg.grad = p.grad + i * size if p.grad != NULL else NULL
        seg.hess = p.hess + i * size if p.hess != NULL else NULL
        seg.gvec = p.gvec + i * size if p.gvec != NULL else NULL
        if p.f64:
            s += fb_seg_f64(&seg, flags)
        else:
            s += fb_seg_f32(&seg, flags)
        i = seg_end
    return s


cdef double _run(const Pass* p, int nthreads) except? -1.0:
    """All blocks, in parallel when worth it; the loss sum in block order. Raises ValueError
    with torch's message when an input or target element is outside [0, 1] or NaN."""
    cdef Py_ssize_t n = p.n
    cdef Py_ssize_t nblocks = (n + BLOCK - 1) // BLOCK
    cdef Py_ssize_t b
    cdef double total = 0.0
    cdef int bad = 0
    if nblocks == 0:
        return 0.0
    if n < PARALLEL_MIN or nthreads < 1:
        nthreads = 1
    if nthreads > nblocks:
        nthreads = <int>nblocks
    if nblocks == 1:
        with nogil:
            total = _block(p, 0, n, &bad)
    else:
        partial = <double*>malloc(nblocks * sizeof(double))
        flags = <int*>malloc(nblocks * sizeof(int))
        if partial == NULL or flags == NULL:
            free(partial)
            free(flags)
            raise MemoryError()
        with nogil:
            if nthreads > 1:
                for b in prange(nblocks, schedule="static", num_threads=nthreads):
                    partial[b] = _block(p, b * BLOCK, min(n, (b + 1) * BLOCK), &flags[b])
            else:
                for b in range(nblocks):
                    partial[b] = _block(p, b * BLOCK, min(n, (b + 1) * BLOCK), &flags[b])
            # fixed order, whatever the thread count
            for b in range(nblocks):
                total += partial[b]
                bad |= flags[b]
        free(partial)
        free(flags)
    if bad & 1:
        if p.logits:
            raise ValueError("input (logits) contains NaN")
        raise ValueError("all elements of input should be between 0 and 1")
    if bad & 2:
        raise ValueError("all elements of target should be between 0 and 1")
    return total


cdef class _Buf:
    """A C-contiguous buffer's pointer, held for the duration of a call."""
    cdef Py_buffer view
    cdef bint held

    def __cinit__(self, obj, bint writable=False):
        flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (PyBUF_WRITABLE if writable else 0)
        PyObject_GetBuffer(obj, &self.view, flags)
        self.held = True

    def __dealloc__(self):
        if self.held:
            PyBuffer_Release(&self.view)


cdef inline int _kind(const Py_buffer* v) noexcept:
    # 0 float32, 1 float64, -1 anything else (native byte order only)
    cdef const char* f = v.format
    if f[0] == b"@" or f[0] == b"=" or f[0] == b"<":
        f += 1
    if f[1] != 0:
        return -1
    if f[0] == b"f" and v.itemsize == 4:
        return 0
    if f[0] == b"d" and v.itemsize == 8:
        return 1
    return -1


cdef inline char* _ptr(buf) noexcept:
    # the memory of a held buffer; NULL for an absent (None) one
    return NULL if buf is None else <char*>(<_Buf>buf).view.buf


cdef void _pass_io(Pass* p, _Buf bx, _Buf bt, bl, bg, bh, bint logits, const Layout* lay) noexcept:
    """The fields every pass sets; weights, per-element grad_output and smoothing absent."""
    p.n = bx.view.len // bx.view.itemsize
    p.x = <const char*>bx.view.buf
    p.t = <const char*>bt.view.buf
    p.loss = _ptr(bl)
    p.grad = _ptr(bg)
    p.hess = _ptr(bh)
    p.logits = logits
    p.w = NULL
    p.pw = NULL
    p.gvec = NULL
    p.lay = lay
    p.pwlay = lay
    p.ls = 0.0


cdef _fill_layout(Layout* lay, layout, _Buf buf, Py_ssize_t n, Py_ssize_t itemsize):
    """Copy (row_len, row_step, div, mod, stride) into ``lay``; refuse one that would read
    past ``buf``."""
    cdef const Py_ssize_t[::1] div
    cdef const Py_ssize_t[::1] mod
    cdef const Py_ssize_t[::1] stride
    row_len, row_step, div, mod, stride = layout
    if div.shape[0] > MAXDIMS or mod.shape[0] != div.shape[0] or stride.shape[0] != div.shape[0]:
        raise ValueError("internal error: bad weight layout")
    lay.row_len = row_len
    lay.row_step = row_step
    lay.nouter = div.shape[0]
    last = (row_len - 1) * row_step  # the largest index the layout can reach
    for k in range(lay.nouter):
        lay.div[k] = div[k]
        lay.mod[k] = mod[k]
        lay.stride[k] = stride[k]
        last += (mod[k] - 1) * stride[k]
    if n > 0 and (row_len < 1 or last * itemsize >= buf.view.len):
        raise ValueError("internal error: weight layout reaches past the weight")


def bce_pass(
    x, t, w, w_layout, loss_out, grad_out, gvec, double g, double gdiv, bint want_sum,
    int num_threads, *, bint logits=False, double label_smoothing=0.0, pos_weight=None,
    pw_layout=None, hess_out=None,
):
    """One pass over the data; returns the float64 sum of the (weighted) element losses.

    Arrays are C-contiguous float32 or float64, all of one dtype; ``None`` stands for an
    absent weight, per-element loss output, gradient output or per-element grad_output (the
    scalar ``g`` is used then). Weights are compact and read through their layouts,
    ``(row_len, row_step, div, mod, stride)`` (see ``fastbce._bce.weight_layout``).
    ``want_sum`` asks for the loss sum (0.0 is returned otherwise). Raises ValueError, with
    torch's message, when an input element is outside [0, 1] (probabilities) or NaN, or a
    target element is outside [0, 1]; the outputs' contents are then unspecified.
    """
    cdef Layout lay, pwlay
    cdef Pass p
    bx, bt = _Buf(x), _Buf(t)
    bw = None if w is None else _Buf(w)
    bpw = None if pos_weight is None else _Buf(pos_weight)
    bl = None if loss_out is None else _Buf(loss_out, True)
    bg = None if grad_out is None else _Buf(grad_out, True)
    bh = None if hess_out is None else _Buf(hess_out, True)
    bv = None if gvec is None else _Buf(gvec)
    p.f64 = _kind(&(<_Buf>bx).view)
    if p.f64 < 0:
        raise ValueError("internal error: input is neither float32 nor float64")
    _pass_io(&p, bx, bt, bl, bg, bh, logits, &lay)
    for buf in (bt, bw, bpw, bl, bg, bh, bv):
        # weights are compact (their layouts say how they are read); the rest input-sized
        if buf is not None and (
            _kind(&(<_Buf>buf).view) != p.f64
            or (buf is not bw and buf is not bpw and (<_Buf>buf).view.len != (<_Buf>bx).view.len)
        ):
            raise ValueError("internal error: buffers of different dtypes or lengths")
    if bw is not None:
        _fill_layout(&lay, w_layout, bw, p.n, (<_Buf>bx).view.itemsize)
    if bpw is not None:
        _fill_layout(&pwlay, pw_layout, bpw, p.n, (<_Buf>bx).view.itemsize)
    p.w = _ptr(bw)
    p.pw = _ptr(bpw)
    p.pwlay = &pwlay
    p.gvec = _ptr(bv)
    p.g = g / gdiv
    p.want_sum = want_sum
    p.ls = label_smoothing
    return _run(&p, num_threads)


cdef bint _same_layout(const Py_buffer* a, const Py_buffer* b) noexcept:
    cdef int k
    if _kind(a) != _kind(b) or a.ndim != b.ndim:
        return False
    for k in range(a.ndim):
        if a.shape[k] != b.shape[k]:
            return False
    return True


cdef bint _overlap(const Py_buffer* a, const Py_buffer* b) noexcept:
    cdef const char* pa = <const char*>a.buf
    cdef const char* pb = <const char*>b.buf
    return a.len > 0 and b.len > 0 and pa < pb + b.len and pb < pa + a.len


def quick(x, t, int reduction, loss_out, grad_out, hess_out, int num_threads, bint logits):
    """Fast path for plain arrays: the unweighted loss (per element into ``loss_out`` for
    reduction 0, "none"; else 1 mean, 2 sum, returned as a float), the gradient into
    ``grad_out`` and (logits) the hessian into ``hess_out``, each if not None.

    ``x`` and ``t``: C-contiguous native float32/float64 of one dtype and shape (checked
    here); outputs like ``x``. Returns None when the inputs do not qualify: the caller takes
    the general path.
    """
    cdef Pass p
    cdef Layout lay
    cdef int k
    try:
        bx, bt = _Buf(x), _Buf(t)
    except (BufferError, TypeError, ValueError):
        return None
    p.f64 = _kind(&(<_Buf>bx).view)
    if p.f64 < 0 or _kind(&(<_Buf>bt).view) != p.f64 or (<_Buf>bx).view.ndim != (<_Buf>bt).view.ndim:
        return None
    for k in range((<_Buf>bx).view.ndim):
        if (<_Buf>bx).view.shape[k] != (<_Buf>bt).view.shape[k]:
            return None
    # outputs: written in place only if C-contiguous, writeable, of x's dtype and shape, and
    # overlapping neither an input nor each other; anything else goes the general way
    outs = []
    for out in (loss_out, grad_out, hess_out):
        if out is None:
            outs.append(None)
            continue
        try:
            bo = _Buf(out, True)
        except (BufferError, TypeError, ValueError):
            return None
        if not _same_layout(&(<_Buf>bo).view, &(<_Buf>bx).view):
            return None
        for other in [bx, bt] + [b for b in outs if b is not None]:
            if _overlap(&(<_Buf>bo).view, &(<_Buf>other).view):
                return None
        outs.append(bo)
    _pass_io(&p, bx, bt, outs[0], outs[1], outs[2], logits, &lay)
    p.g = 1.0 / p.n if (reduction == 1 and p.n > 0) else 1.0
    p.want_sum = reduction != 0
    total = _run(&p, num_threads)
    if reduction == 1:
        return total / p.n if p.n > 0 else float("nan")
    return total


def max_threads():
    """OpenMP's default team size for the calling thread (1 in a serial build)."""
    return omp_get_max_threads()
