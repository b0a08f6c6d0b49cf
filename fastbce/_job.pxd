# The record the route (_bce.pyx) fills and the kernels (_kernels.pyx, once per ISA) read:
# one pass over the data, described in C types. The route builds it from arrays it has
# coerced itself (C-contiguous, aligned, native float32 or float64, one length), so a job
# is valid by construction and the kernels check nothing.

from libc.stdint cimport int64_t, uint8_t, uint32_t

cdef enum:
    # numpy.ndim never exceeds 64 (NPY_MAXDIMS in NumPy 2)
    MAXDIMS = 64

# The paths a chunk can take; Totals.chunks counts them, so that tests prove each speed-only
# path is taken where it should be (tests/core/test_paths.py).
cdef enum:
    PATH_PRODUCT = 0    # summed as products of factors (0/1 targets: _product.pxi)
    PATH_HARD = 1       # probabilities with 0/1 targets, one log per element
    PATH_SOFT = 2       # probabilities, two logs per element (or the gradient alone)
    PATH_LOGITS = 3     # logits, per element
    PATH_OTHER = 4      # _block_other: focal, unclamped, or the denominators alone
    NPATHS = 5


cdef struct Layout:
    # A broadcast operand seen through the flat input: the input is cut into rows of
    # row_len elements; inside a row the operand's index moves by row_step (0 or 1); the
    # row's first index is sum_k ((row // div[k]) % mod[k]) * stride[k].
    Py_ssize_t row_len
    Py_ssize_t row_step
    int nouter
    Py_ssize_t div[MAXDIMS]
    Py_ssize_t mod[MAXDIMS]
    Py_ssize_t stride[MAXDIMS]


cdef struct Job:
    Py_ssize_t n
    int f64                   # the dtype of every buffer: 1 float64, 0 float32
    const void* x
    const void* t
    const void* w             # NULL: unweighted; else read through wlay
    const void* pw            # logits: NULL or the positive-class weight, through pwlay
    const void* gvec          # NULL or the upstream gradient: per element, or through glay
    const Layout* glay        # NULL (gvec per element) or gvec's broadcast layout
    void* loss                # NULL or per-element losses ("none")
    void* grad                # NULL or the gradient
    void* hess                # logits: NULL or the second derivative
    const Layout* wlay
    const Layout* pwlay
    const uint8_t* mask       # where=: NULL, or read through mlay (0: the element is skipped)
    const Layout* mlay
    double g                  # scalar upstream gradient, already divided by N for "mean"
    double ls                 # label smoothing: t' = t (1 - ls) + ls / 2
    double alpha              # focal loss: alpha (< 0: no alpha term) and gamma
    double gamma
    int want_sum
    int logits
    int focal                 # logits family: the focal loss instead of BCE
    int clamp                 # probabilities: logs clamped at -100 (torch), else exact
    int den                   # 1: count the kept elements; 2: sum the (kept) weights
    int den_only              # only the denominators: x and t are not read
    # A reduction over axes (reduction over some axes: _axis.pxi): NULL, or the float64 sum
    # of each slot of the reduced shape, element i adding to slot olay(i) (a layout of the
    # keepdims result over the input). The input is arows rows of rowlen elements, row a
    # owning slots [a * rowslots, (a + 1) * rowslots); work units are either runs of
    # rows_per_unit whole rows (segs == 1) or, for long rows, segs segments of seglen
    # elements per row, each summed apart and added in order.
    double* rsum
    const Layout* olay
    Py_ssize_t arows
    Py_ssize_t rowlen
    Py_ssize_t rowslots
    Py_ssize_t rows_per_unit
    Py_ssize_t segs
    Py_ssize_t seglen


cdef struct Totals:
    # What a pass (or one block of it) returns besides its outputs
    double sum                # the float64 sum of the (weighted) element losses
    double wsum               # den & 2: the kept elements' weight sum
    int64_t count             # den & 1: the kept elements' count
    uint32_t flags            # 1: an input out of range (or NaN logit), 2: a target
    int64_t chunks[NPATHS]    # chunks per path


ctypedef int (*RunJob)(const Job* jb, int nthreads, Totals* tot) noexcept nogil

# the capsule name of a kernel module's run_job (its attribute RUN_JOB)
cdef extern from *:
    """
    #define FB_RUN_JOB_NAME "fastbce._job.RunJob"
    """
    const char* RUN_JOB_NAME "FB_RUN_JOB_NAME"
