"""Layer 2 of fastbce: blocked, parallel loops over the scalar math of ``_math.pxd``.

This one source is compiled several times, once per x86-64 level (``_kernels_baseline``,
``_kernels_avx2`` with ``-march=x86-64-v3``, ``_kernels_avx512`` with ``-march=x86-64-v4``;
only the baseline elsewhere); ``fastbce._config`` imports the best one the CPU runs, once.

Everything here works on flat, C-contiguous float32/float64 buffers that the route
(``fastbce/_bce.pyx``) has coerced and checked and describes in one ``Job`` record
(``fastbce/_job.pxd``); the route calls ``run_job`` through the capsule ``RUN_JOB``, the
module's only entry to the loops. The data is cut into fixed blocks of BLOCK
elements, run in parallel with ``prange(schedule="static")``; each block sums its losses in
float64 (16 lanes, combined pairwise in a fixed order) and the block sums are added in block
order, so results are the same bits for every thread count. Inside a block, chunks of CHUNK
elements go through small loops that the C compiler vectorises: per-element math into local
buffers (so that no store can alias an input), then weighting, sums and stores. Nothing here
allocates input-sized memory.

The parts, one file each: ``_gather.pxi`` (broadcast operands read through their layouts),
``_loops.pxi`` (one dtype's math and the per-element loops), ``_product.pxi`` (the 0/1-target
product path), ``_blocks.pxi`` (a block's chunks and the parallel pass) and ``_axis.pxi``
(reductions over axes: the same blocks, their losses added per slot of the reduced shape).
"""

from cpython.pycapsule cimport PyCapsule_New
from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcpy, memset

from fastbce._math cimport (
    FB_FUSED, FB_WIDE_REGS, d2u, exp_neg_f32, f2u, fb_fmaf, focal, log_f64, logit_grad,
    logit_loss, out_of_unit_f32, out_of_unit_f64, prob_grad_exact, prob_grad_f32,
    prob_grad_f64, prob_loss_exact, prob_loss_f32, prob_loss_f64, prob_loss_hard_f32,
    prob_loss_hard_f64, u2d, u2f,
)
from fastbce._job cimport (
    MAXDIMS, NPATHS, PATH_HARD, PATH_LOGITS, PATH_OTHER, PATH_PRODUCT, PATH_SOFT, RUN_JOB_NAME,
    Job, Layout, Totals,
)

cdef extern from "_omp.h" nogil:
    int FASTBCE_HAVE_OPENMP
    int omp_get_max_threads()

cdef extern from *:
    """
    /* CPU features, asked of the compiler's runtime (it checks the OS saves the registers) */
    #if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
    static int fb_cpu_level(void) {
        __builtin_cpu_init();
        int v3 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")
                 && __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2");
        int v4 = v3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
                 && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
        return v4 ? 2 : (v3 ? 1 : 0);
    }
    #else
    static int fb_cpu_level(void) { return 0; }
    #endif
    #if defined(__clang__)
    #define FB_COMPILER "clang " __clang_version__
    #elif defined(__GNUC__)
    #define FB_COMPILER "gcc " __VERSION__
    #else
    #define FB_COMPILER "unknown"
    #endif
    /* a hint to fetch the cache line at p (GCC and Clang); nothing elsewhere */
    #if defined(__GNUC__) || defined(__clang__)
    #define fb_prefetch(p) __builtin_prefetch((const void*)(p))
    #else
    #define fb_prefetch(p) ((void)0)
    #endif
    """
    int fb_cpu_level() nogil
    void fb_prefetch(const void* p) nogil
    const char* FB_COMPILER


cdef enum:
    # Elements per block: the block size, not the thread count, fixes the rounding.
    BLOCK = 8192
    # Elements per chunk: the local buffers of one chunk stay in L1.
    CHUNK = 256
    # float64 accumulator lanes of a block's sum
    LANES = 16
    # groups of LANES elements in a chunk (CHUNK / LANES)
    GROUPS = 16
    # float64 product path: most elements of a chunk that may lie outside it (AVX2, 0/1
    # targets, 1e4: the product path was still 1.3x faster than the one-log path with 10%
    # of the elements outside, 2x slower with 33%)
    PROD_MAX_OUT = 48
    # float32: most groups of LANES pairs of a chunk (of 8) that may hold an element
    # outside it (AVX2, 1e5: with 1.2 such pairs a chunk the product path was 1.4x faster
    # than the one-log path; with 4, 3 groups allowed instead of 2 made it 1.3x slower)
    PROD_MAX_OUT_F32 = 2
    # Below this many elements the loop runs on the calling thread.
    PARALLEL_MIN = 2 * BLOCK
    # Below this many elements the route keeps the GIL: the pass takes less time than
    # releasing and taking back the GIL would (NumPy's loops keep it below 500 elements).
    NOGIL_MIN = 1024

BLOCK_SIZE = BLOCK
PARALLEL_THRESHOLD = PARALLEL_MIN
NOGIL_THRESHOLD = NOGIL_MIN
HAVE_OPENMP = bool(FASTBCE_HAVE_OPENMP)
COMPILER = FB_COMPILER.decode()

cdef float ONES_F32[CHUNK]
cdef double ONES_F64[CHUNK]
for _i in range(CHUNK):
    ONES_F32[_i] = 1.0
    ONES_F64[_i] = 1.0


def cpu_level():
    """0: baseline x86-64 (or another architecture), 1: x86-64-v3 (AVX2, FMA, BMI1/2),
    2: x86-64-v4 (AVX-512 F/BW/DQ/VL) -- what this CPU (and OS) can run."""
    return fb_cpu_level()


def max_threads():
    """OpenMP's default team size for the calling thread (1 in a serial build)."""
    return omp_get_max_threads()


include "fastbce/_gather.pxi"
include "fastbce/_loops.pxi"
include "fastbce/_product.pxi"
include "fastbce/_blocks.pxi"
include "fastbce/_axis.pxi"


# ---------------------------------------------------------------- the entry point

cdef int run_job(const Job* jb, int nthreads, Totals* tot) noexcept nogil:
    """One pass over the data the job describes (see _job.pxd), into tot; 0, or -1 when
    memory ran out. Called by the route, with the GIL released for large inputs."""
    if jb.rsum != NULL:
        if jb.f64:
            return _run_axis(jb, <const double*>jb.x, nthreads, tot)
        return _run_axis(jb, <const float*>jb.x, nthreads, tot)
    if jb.f64:
        return _run(jb, <const double*>jb.x, nthreads, tot)
    return _run(jb, <const float*>jb.x, nthreads, tot)


RUN_JOB = PyCapsule_New(<void*>run_job, RUN_JOB_NAME, NULL)
