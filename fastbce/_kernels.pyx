"""Compiled core of fastbce: scalar math (layer 1) and the blocked, parallel loops (layer 2).

Everything here works on flat, C-contiguous float32/float64 buffers that the Python layer
(``fastbce/_bce.py``) has already coerced and checked. Nothing in this file allocates
input-sized memory.
"""

from cython.parallel cimport prange
from libc.math cimport log, log1p
from libc.stdlib cimport free, malloc

cdef extern from "_omp.h" nogil:
    int FASTBCE_HAVE_OPENMP
    int omp_get_max_threads()

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
KERNELS = "scalar (libm log/log1p, float64 arithmetic)"

# Torch clamps each log term at -100 (aten/src/ATen/native/Loss.cpp), so the loss of one
# element is at most 100 * weight even at x = 0 or x = 1.
cdef double LOG_CLAMP = -100.0
# Torch's gradient divides by max(x * (1 - x), EPSILON) with EPSILON = 1e-12 stored as a
# float32, i.e. 9.999999960041972e-13, for every dtype. Matched exactly.
cdef double GRAD_EPS = <double>(<float>1e-12)


# ---------------------------------------------------------------- layer 1: scalar math

cdef inline double _clamped(double v) noexcept nogil:
    # max(v, -100) with std::max's NaN behaviour: a NaN stays NaN
    return LOG_CLAMP if v < LOG_CLAMP else v


cdef inline double bce_loss1(double x, double t) noexcept nogil:
    """-(t * log(x) + (1 - t) * log(1 - x)), each log clamped at -100; torch's order."""
    return (t - 1.0) * _clamped(log1p(-x)) - t * _clamped(log(x))


cdef inline double bce_grad1(double g, double x, double t) noexcept nogil:
    """d loss1 / dx times g: g * (x - t) / max(x * (1 - x), eps); torch's order."""
    cdef double d = (1.0 - x) * x
    if d < GRAD_EPS:
        d = GRAD_EPS
    return g * (x - t) / d


cdef inline int in_unit(double v) noexcept nogil:
    # 1 for 0 <= v <= 1; 0 otherwise, NaN included
    return (v >= 0.0) & (v <= 1.0)


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
    real* loss_out, real* grad_out, const real* gvec, double g, double gdiv,
    bint want_sum, Py_ssize_t lo, Py_ssize_t hi, int* flags,
) noexcept nogil:
    """One block [lo, hi): loss sum (returned), element losses, gradients, range flags."""
    cdef double s = 0.0
    cdef double xi, ti, wi = 1.0, li, gi
    cdef int ok_x = 1, ok_t = 1
    cdef Py_ssize_t i = lo, j, seg, row, wofs = 0
    cdef bint want_loss = want_sum or loss_out != NULL
    while i < hi:
        seg = hi
        if w != NULL:
            # a segment is the part of one weight row inside this block
            row = i // lay.row_len
            seg = min(hi, (row + 1) * lay.row_len)
            wofs = _row_start(lay, row) - row * lay.row_len * lay.row_step
        for j in range(i, seg):
            xi = x[j]
            ti = t[j]
            ok_x &= in_unit(xi)
            ok_t &= in_unit(ti)
            if w != NULL:
                wi = w[wofs + j * lay.row_step]
            if want_loss:
                li = bce_loss1(xi, ti)
                if w != NULL:
                    li = li * wi
                if loss_out != NULL:
                    loss_out[j] = <real>li
                else:
                    s += li
            if grad_out != NULL:
                gi = bce_grad1(<double>gvec[j] if gvec != NULL else g, xi, ti)
                if w != NULL:
                    gi = gi * wi
                grad_out[j] = <real>(gi / gdiv)
        i = seg
    flags[0] = (1 - ok_x) | ((1 - ok_t) << 1)
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
                partial[b] = _block(px, pt, pw, &lay, pl, pg, pgv, g, gdiv, want_sum,
                                    b * BLOCK, min(n, (b + 1) * BLOCK), &flags[b])
        else:
            for b in range(nblocks):
                partial[b] = _block(px, pt, pw, &lay, pl, pg, pgv, g, gdiv, want_sum,
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
