"""Compiled core of fastbce: the blocked, parallel loops (layer 2) over the vector kernels
of ``_simd.h`` (layer 1: the scalar math, written once, compiled per instruction set).

Everything here works on flat, C-contiguous float32/float64 buffers that the Python layer
(``fastbce/_bce.py``) has already coerced and checked. Nothing in this file allocates
input-sized memory.
"""

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
    double fb_seg_f32(const fb_seg* s, int* flags)
    double fb_seg_f64(const fb_seg* s, int* flags)
    int fb_select_isa(const char* name)
    const char* fb_isa_name()

ctypedef fused real:
    float
    double

# Elements per block. Partial sums are taken per block and combined in block order, so the
# block size -- not the thread count -- fixes the rounding: results are the same bits for
# any number of threads.
cdef enum:
    BLOCK = 16384
    # Below this many elements the loop runs on the calling thread: starting a team costs
    # more than it saves.
    PARALLEL_MIN = 4 * BLOCK
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

cdef double _block(
    const real* x, const real* t, const real* w, const Layout* lay,
    real* loss_out, real* grad_out, const real* gvec, double g,
    bint want_sum, Py_ssize_t lo, Py_ssize_t hi, int* flags,
) noexcept nogil:
    """One block [lo, hi): loss sum (returned), element losses, gradients, range flags.

    The block is cut where the weight's rows end; each piece goes to the vector kernel.
    """
    cdef double s = 0.0
    cdef Py_ssize_t i = lo, seg_end, row, wofs
    cdef fb_seg seg
    seg.w = NULL
    seg.wstep = 0
    seg.gscale = g
    seg.want_sum = want_sum
    flags[0] = 0
    while i < hi:
        seg_end = hi
        if w != NULL:
            # the part of one weight row inside this block
            row = i // lay.row_len
            seg_end = min(hi, (row + 1) * lay.row_len)
            wofs = _row_start(lay, row) + (i - row * lay.row_len) * lay.row_step
            seg.w = w + wofs
            seg.wstep = lay.row_step
        seg.n = seg_end - i
        seg.x = x + i
        seg.t = t + i
        seg.loss = loss_out + i if loss_out != NULL else NULL
        seg.grad = grad_out + i if grad_out != NULL else NULL
        seg.gvec = gvec + i if gvec != NULL else NULL
        if real is float:
            s += fb_seg_f32(&seg, flags)
        else:
            s += fb_seg_f64(&seg, flags)
        i = seg_end
    return s


cdef inline const real* _in(const real[::1] a) noexcept:
    # an empty buffer stands for "absent"
    return &a[0] if a.shape[0] > 0 else NULL


cdef inline real* _out(real[::1] a) noexcept:
    return &a[0] if a.shape[0] > 0 else NULL


def bce_pass(
    const real[::1] x, const real[::1] t, const real[::1] w,
    Py_ssize_t row_len, Py_ssize_t row_step,
    const Py_ssize_t[::1] div, const Py_ssize_t[::1] mod, const Py_ssize_t[::1] stride,
    real[::1] loss_out, real[::1] grad_out, const real[::1] gvec,
    double g, double gdiv, bint want_sum, int num_threads,
):
    """One pass over the data; returns the float64 sum of the (weighted) element losses.

    Empty arrays stand for "absent": no weight, no element-loss output, no gradient output,
    scalar grad_output ``g``. ``want_sum`` asks for the loss sum (0.0 is returned otherwise).
    Raises ValueError, with torch's message, when an input or target element is outside
    [0, 1] or NaN; the outputs' contents are then unspecified.
    """
    cdef Py_ssize_t n = x.shape[0]
    cdef Py_ssize_t nblocks = (n + BLOCK - 1) // BLOCK
    cdef Py_ssize_t b, k
    cdef Layout lay
    cdef double total = 0.0
    cdef int bad = 0
    cdef int nthreads = num_threads
    if t.shape[0] != n or (loss_out.shape[0] not in (0, n)) or (grad_out.shape[0] not in (0, n)):
        raise ValueError("internal error: buffer lengths differ")
    if gvec.shape[0] not in (0, n) or div.shape[0] > MAXDIMS:
        raise ValueError("internal error: bad grad_output or weight layout")
    if nblocks == 0:
        return 0.0
    lay.row_len = row_len
    lay.row_step = row_step
    lay.nouter = div.shape[0]
    for k in range(lay.nouter):
        lay.div[k] = div[k]
        lay.mod[k] = mod[k]
        lay.stride[k] = stride[k]

    cdef const real* px = _in(x)
    cdef const real* pt = _in(t)
    cdef const real* pw = _in(w)
    cdef real* pl = _out(loss_out)
    cdef real* pg = _out(grad_out)
    cdef const real* pgv = _in(gvec)
    cdef double* partial = <double*>malloc(nblocks * sizeof(double))
    cdef int* flags = <int*>malloc(nblocks * sizeof(int))
    if partial == NULL or flags == NULL:
        free(partial)
        free(flags)
        raise MemoryError()

    if n < PARALLEL_MIN or nthreads < 1:
        nthreads = 1
    if nthreads > nblocks:
        nthreads = <int>nblocks
    with nogil:
        if nthreads > 1:
            for b in prange(nblocks, schedule="static", num_threads=nthreads):
                partial[b] = _block(px, pt, pw, &lay, pl, pg, pgv, g / gdiv, want_sum,
                                    b * BLOCK, min(n, (b + 1) * BLOCK), &flags[b])
        else:
            for b in range(nblocks):
                partial[b] = _block(px, pt, pw, &lay, pl, pg, pgv, g / gdiv, want_sum,
                                    b * BLOCK, min(n, (b + 1) * BLOCK), &flags[b])
        # fixed order, whatever the thread count
        for b in range(nblocks):
            total += partial[b]
            bad |= flags[b]
    free(partial)
    free(flags)
    if bad & 1:
        raise ValueError("all elements of input should be between 0 and 1")
    if bad & 2:
        raise ValueError("all elements of target should be between 0 and 1")
    return total


def max_threads():
    """OpenMP's default team size for the calling thread (1 in a serial build)."""
    return omp_get_max_threads()
