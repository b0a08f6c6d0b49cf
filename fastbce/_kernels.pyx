"""Layer 2 of fastbce: blocked, parallel loops over the scalar math of ``_math.pxd``.

This one source is compiled several times, once per x86-64 level (``_kernels_baseline``,
``_kernels_avx2`` with ``-march=x86-64-v3``, ``_kernels_avx512`` with ``-march=x86-64-v4``;
only the baseline elsewhere); ``fastbce._config`` imports the best one the CPU runs, once.

Everything here works on flat, C-contiguous float32/float64 buffers that the Python layer
(``fastbce/_bce.pyx``) has coerced and checked. The data is cut into fixed blocks of BLOCK
elements, run in parallel with ``prange(schedule="static")``; each block sums its losses in
float64 (16 lanes, combined pairwise in a fixed order) and the block sums are added in block
order, so results are the same bits for every thread count. Inside a block, chunks of CHUNK
elements go through small loops that the C compiler vectorises: per-element math into local
buffers (so that no store can alias an input), then weighting, sums and stores. Nothing here
allocates input-sized memory.
"""

from cpython.buffer cimport (
    PyBUF_C_CONTIGUOUS, PyBUF_FORMAT, PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer,
)
from cython cimport floating
from cython.parallel cimport prange
from cpython.pystate cimport PyThreadState
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

from fastbce._math cimport (
    FB_FUSED, FB_WIDE_REGS, d2u, exp_neg_f32, f2u, fb_fmaf, focal_f32, focal_f64, log_f64,
    logit_grad_f32, logit_grad_f64, logit_loss_f32, logit_loss_f64, out_of_unit_f32,
    out_of_unit_f64, prob_grad_exact_f32, prob_grad_exact_f64, prob_grad_f32, prob_grad_f64,
    prob_loss_exact_f32, prob_loss_exact_f64, prob_loss_f32, prob_loss_f64, prob_loss_hard_f32,
    prob_loss_hard_f64, u2d, u2f,
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


cdef extern from "Python.h":
    PyThreadState* PyEval_SaveThread()
    void PyEval_RestoreThread(PyThreadState* state)


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
    # Below this many elements the GIL is kept: the pass takes less time than releasing
    # and taking back the GIL would (NumPy's loops keep it below 500 elements, likewise).
    NOGIL_MIN = 1024
    # numpy.ndim never exceeds 64 (NPY_MAXDIMS in NumPy 2)
    MAXDIMS = 64

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


# ---------------------------------------------------------------- broadcast weights

cdef struct Layout:
    # A broadcast weight seen through the flat input: the input is cut into rows of
    # row_len elements; inside a row the weight index moves by row_step (0 or 1); the
    # row's first weight index is sum_k ((row // div[k]) % mod[k]) * stride[k].
    Py_ssize_t row_len
    Py_ssize_t row_step
    int nouter
    Py_ssize_t div[MAXDIMS]
    Py_ssize_t mod[MAXDIMS]
    Py_ssize_t stride[MAXDIMS]


cdef struct Cursor:
    # where a sequential walk through the input stands in a weight's layout
    Py_ssize_t col              # position inside the row
    Py_ssize_t base             # weight index of the row's first element
    Py_ssize_t cnt[MAXDIMS]     # row % div[k]
    Py_ssize_t digit[MAXDIMS]   # (row // div[k]) % mod[k]


cdef void _seek(Cursor* c, const Layout* lay, Py_ssize_t i) noexcept nogil:
    cdef Py_ssize_t row = i // lay.row_len
    cdef Py_ssize_t q
    cdef int k
    c.col = i - row * lay.row_len
    c.base = 0
    for k in range(lay.nouter):
        q = row // lay.div[k]
        c.cnt[k] = row - q * lay.div[k]
        c.digit[k] = q % lay.mod[k]
        c.base += c.digit[k] * lay.stride[k]


cdef inline void _next_row(Cursor* c, const Layout* lay) noexcept nogil:
    # an odometer: no division per row
    cdef int k
    c.col = 0
    for k in range(lay.nouter):
        c.cnt[k] += 1
        if c.cnt[k] == lay.div[k]:
            c.cnt[k] = 0
            c.digit[k] += 1
            c.base += lay.stride[k]
            if c.digit[k] == lay.mod[k]:
                c.digit[k] = 0
                c.base -= lay.mod[k] * lay.stride[k]


ctypedef fused gathered:
    float
    double
    uint8_t


cdef void _gather(gathered* out, const gathered* w, const Layout* lay, Cursor* c,
                  Py_ssize_t m) noexcept nogil:
    """The next m weights (or mask values) of the walk, into out."""
    cdef Py_ssize_t p = 0, take, j, col, base, digit, r = lay.row_len
    cdef gathered v
    if lay.row_step == 0 and r < 16 and lay.nouter == 1 and lay.div[0] == 1:
        # short rows of one weight each, rows walking the weight with one stride (a per-row
        # (N, 1) weight on (N, 2), say): element by element, no call per row
        col, base, digit = c.col, c.base, c.digit[0]
        for j in range(m):
            out[j] = w[base]
            col += 1
            if col == r:
                col = 0
                digit += 1
                base += lay.stride[0]
                if digit == lay.mod[0]:
                    digit = 0
                    base = 0
        c.col, c.base, c.digit[0] = col, base, digit
        c.cnt[0] = 0
        return
    while p < m:
        take = lay.row_len - c.col
        if take > m - p:
            take = m - p
        if lay.row_step:
            memcpy(out + p, w + c.base + c.col, take * sizeof(gathered))
        else:
            v = w[c.base]
            for j in range(take):
                out[p + j] = v
        p += take
        c.col += take
        if c.col == lay.row_len:
            _next_row(c, lay)


# ---------------------------------------------------------------- one dtype's math

cdef inline floating _ploss(floating x, floating t) noexcept nogil:
    if floating is float:
        return prob_loss_f32(x, t)
    else:
        return prob_loss_f64(x, t)


cdef inline floating _ploss_hard(floating x, floating t) noexcept nogil:
    if floating is float:
        return prob_loss_hard_f32(x, t)
    else:
        return prob_loss_hard_f64(x, t)


cdef inline floating _pgrad(floating x, floating t) noexcept nogil:
    if floating is float:
        return prob_grad_f32(x, t)
    else:
        return prob_grad_f64(x, t)


cdef inline floating _pexact_loss(floating x, floating t) noexcept nogil:
    if floating is float:
        return prob_loss_exact_f32(x, t)
    else:
        return prob_loss_exact_f64(x, t)


cdef inline floating _pexact_grad(floating x, floating t) noexcept nogil:
    if floating is float:
        return prob_grad_exact_f32(x, t)
    else:
        return prob_grad_exact_f64(x, t)


cdef inline floating _focal(floating x, floating t, floating alpha, floating gamma,
                            floating* g, floating* h) noexcept nogil:
    if floating is float:
        return focal_f32(x, t, alpha, gamma, g, h)
    else:
        return focal_f64(x, t, alpha, gamma, g, h)


cdef inline floating _lloss(floating x, floating t, floating pw, bint unit) noexcept nogil:
    if floating is float:
        return logit_loss_f32(x, t, pw, unit)
    else:
        return logit_loss_f64(x, t, pw, unit)


cdef inline floating _lgrad(floating x, floating t, floating pw, floating* h,
                           bint unit) noexcept nogil:
    if floating is float:
        return logit_grad_f32(x, t, pw, h, unit)
    else:
        return logit_grad_f64(x, t, pw, h, unit)


# Range flags accumulate in an unsigned integer as wide as the data (GCC vectorises a loop
# only when its integer and float lanes have one width): b32 for float32, b64 for float64.
# Each loop returns 1 if an input element is invalid (outside [0, 1] or NaN for
# probabilities, NaN for logits), | 2 if a target element is outside [0, 1] or NaN.

cdef inline floating _scaled(floating q, floating hi, floating lo) noexcept nogil:
    """q g, g = hi + lo: in float32 q hi + q lo rounded once (lo is 0 where g is a float,
    and this is then q hi rounded once, as float64 arithmetic would give); in float64 q hi."""
    if floating is float:
        return fb_fmaf(q, hi, q * lo)
    else:
        return q * hi


cdef inline uint32_t _flags_prob(floating x, floating t) noexcept nogil:
    if floating is float:
        return out_of_unit_f32(x) | (out_of_unit_f32(t) << 1)
    else:
        return 0


cdef inline uint64_t _flags_prob64(floating x, floating t) noexcept nogil:
    if floating is float:
        return 0
    else:
        return out_of_unit_f64(x) | (out_of_unit_f64(t) << 1)


cdef inline uint32_t _flags_logit(floating x, floating t) noexcept nogil:
    if floating is float:
        return (x != x) | (out_of_unit_f32(t) << 1)
    else:
        return 0


cdef inline uint64_t _flags_logit64(floating x, floating t) noexcept nogil:
    if floating is float:
        return 0
    else:
        return <uint64_t>(x != x) | (out_of_unit_f64(t) << 1)


cdef inline uint64_t _signs_outside_f64(floating v) noexcept nogil:
    """Sign bit set if v (float64) is outside [0, 1] or NaN (see _prob_loop). AVX-512 has
    the unsigned comparison (into a mask register): there it is one instruction, and the
    sums 2-3% slower (in-process A/B)."""
    if FB_WIDE_REGS:
        return out_of_unit_f64(<double>v) << 63
    cdef uint64_t b = d2u(<double>v + 0.0)
    return b | (b + <uint64_t>0x400fffffffffffff)


cdef inline uint32_t _flags_target(floating t) noexcept nogil:
    if floating is float:
        return out_of_unit_f32(t) << 1
    else:
        return <uint32_t>(out_of_unit_f64(t) << 1)


# The float64 loops run over groups of 16 elements (two 64-byte cache lines of each input)
# and ask for the lines two chunks ahead as they go: spread through the loop, where one
# burst of prefetches at a chunk's start stalled it, and the hardware prefetcher alone left
# arrays beyond the caches 25-30% slower than arrays in them (AVX2, soft targets, 1e7).
# Groups of 16: a loop of 8 paid GCC's run-time alias checks and the range flags'
# reduction too often (fwd+grad and grad_hess 10-20% slower in cache). So each loop
# function below has a float64 loop over groups (flags in b64) and a flat float32 loop
# (flags in b32), which keeps the chunk-start prefetch of _block: the same nesting with
# prefetches inside measured slower in float32 (soft-target forward 0.785 against 0.725
# ns per element in cache, 4.03 against 3.81 ms at 1e7 on AVX-512).

cdef inline void _ahead(const void* x, const void* t) noexcept nogil:
    fb_prefetch(<const char*>x + 2 * CHUNK * sizeof(double))
    fb_prefetch(<const char*>t + 2 * CHUNK * sizeof(double))
    fb_prefetch(<const char*>x + 2 * CHUNK * sizeof(double) + 64)
    fb_prefetch(<const char*>t + 2 * CHUNK * sizeof(double) + 64)


cdef inline void _ahead64(const void* x, const void* t) noexcept nogil:
    """_ahead for a group of 64 float64 elements (4 LANES), asked at the group's start."""
    cdef Py_ssize_t a
    for a in range(4):
        _ahead(<const double*>x + a * LANES, <const double*>t + a * LANES)


# What a probability loop computes, a compile-time switch passed as a NULL pointer of one
# of these types (as gradmode below): one loop body per variant, no run-time test in it.
cdef struct LossOnly:
    char unused


cdef struct GradOnly:
    char unused


cdef struct LossGrad:
    char unused


ctypedef fused pmode:
    LossOnly
    GradOnly
    LossGrad


cdef inline void _prob_one(const floating* x, const floating* t, floating* l, floating* g,
                           Py_ssize_t j, bint hard, floating hi, floating lo,
                           pmode* mode) noexcept nogil:
    """Element j: its loss into l (one log where the chunk's targets are all 0 or 1: the
    same values), its scaled gradient into g, as the mode asks."""
    if pmode is not GradOnly:
        l[j] = _ploss_hard(x[j], t[j]) if hard else _ploss(x[j], t[j])
    if pmode is not LossOnly:
        g[j] = _scaled(_pgrad(x[j], t[j]), hi, lo)


cdef inline uint32_t _prob_loop(const floating* x, const floating* t, floating* l,
                                floating* g, Py_ssize_t m, bint hard, floating hi,
                                floating lo, pmode* mode) noexcept nogil:
    """The probability loss and/or gradient of a chunk (hard: its targets are all 0 or 1,
    so only the inputs' range is checked); returns the range flags."""
    cdef uint32_t b32 = 0, mx = 0, mt = 0, ux, ut
    cdef uint64_t ox = 0, ot = 0
    cdef Py_ssize_t j, jj, k
    if floating is double:
        # the range check without a comparison (AVX2 has no unsigned 64-bit one): the
        # sign bits of b and of b + U, OR-ed over the chunk, with b the bits of v + 0
        # and U = 2^63 - 1 - bits(1.0): b + U has its sign set exactly for b above
        # bits(1.0) and below 2^63 (v > 1, +inf, NaN), b itself for the rest outside
        # [+0, 1] (v < 0, negative NaN)
        if hard and pmode is not GradOnly:
            for jj in range(0, m, 16):
                _ahead(x + jj, t + jj)
                for k in range(LANES):
                    ox |= _signs_outside_f64(x[jj + k])
                    _prob_one(x, t, l, g, jj + k, True, hi, lo, mode)
            return <uint32_t>(ox >> 63)
        if m % 64 == 0:
            # whole chunks: groups of 4 LANES, their lines asked for at the group's start
            # (in-process A/B against groups of LANES: 2-3% faster on AVX-512, fwd+grad
            # 2-3% on AVX2, in cache and at 1e7)
            for jj in range(0, m, 64):
                _ahead64(x + jj, t + jj)
                for k in range(64):
                    ox |= _signs_outside_f64(x[jj + k])
                    ot |= _signs_outside_f64(t[jj + k])
                    _prob_one(x, t, l, g, jj + k, False, hi, lo, mode)
            return <uint32_t>(ox >> 63) | (<uint32_t>(ot >> 63) << 1)
        for jj in range(0, m, 16):
            _ahead(x + jj, t + jj)
            for k in range(LANES):
                ox |= _signs_outside_f64(x[jj + k])
                ot |= _signs_outside_f64(t[jj + k])
                _prob_one(x, t, l, g, jj + k, False, hi, lo, mode)
        return <uint32_t>(ox >> 63) | (<uint32_t>(ot >> 63) << 1)
    if hard and pmode is not GradOnly:
        for j in range(m):
            b32 |= _flags_prob(x[j], <floating>0)
            _prob_one(x, t, l, g, j, True, hi, lo, mode)
        return b32
    # the range check as the largest bit pattern seen (one unsigned max per operand; see
    # out_of_unit_f32), compared once at the end
    for j in range(m):
        ux = f2u(x[j] + <float>0.0)
        ut = f2u(t[j] + <float>0.0)
        mx = mx if mx > ux else ux
        mt = mt if mt > ut else ut
        _prob_one(x, t, l, g, j, False, hi, lo, mode)
    return (<uint32_t>(mx > <uint32_t>0x3f800000)
            | (<uint32_t>(mt > <uint32_t>0x3f800000) << 1))


cdef uint32_t _prob_exact(const floating* x, const floating* t, floating* l, floating* g,
                         Py_ssize_t m) noexcept nogil:
    """clamp_log=False: the unclamped loss and gradient (unscaled), both (see _math.pxd)."""
    cdef uint32_t b32 = 0
    cdef uint64_t b64 = 0
    cdef Py_ssize_t j
    for j in range(m):
        b32 |= _flags_prob(x[j], t[j])
        b64 |= _flags_prob64(x[j], t[j])
        l[j] = _pexact_loss(x[j], t[j])
        g[j] = _pexact_grad(x[j], t[j])
    return b32 | <uint32_t>b64


cdef uint32_t _focal_loop(const floating* x, const floating* t, floating* l, floating* g,
                          floating* h, Py_ssize_t m, floating alpha,
                          floating gamma) noexcept nogil:
    """The focal loss into l, its gradient and hessian into g and h (unscaled)."""
    cdef uint32_t b32 = 0
    cdef uint64_t b64 = 0
    cdef Py_ssize_t j
    for j in range(m):
        b32 |= _flags_logit(x[j], t[j])
        b64 |= _flags_logit64(x[j], t[j])
        l[j] = _focal(x[j], t[j], alpha, gamma, &g[j], &h[j])
    return b32 | <uint32_t>b64


# Compile-time variants of the logits gradient loops, passed as a NULL pointer of one of
# these types (Cython makes one specialisation per type): General reads pos_weight and
# scales by (hi, lo); NoPw takes pw = 1 as a constant and scales; Plain takes pw = 1 and no
# scaling (grad_hess, or grad_output 1 with "sum"). The constants fold away.
cdef struct General:
    char unused


cdef struct NoPw:
    char unused


cdef struct Plain:
    char unused


ctypedef fused lmode:
    General
    NoPw
    Plain


cdef inline floating _pwv(const floating* pw, Py_ssize_t j, lmode* mode) noexcept nogil:
    if lmode is General:
        return pw[j]
    else:
        return 1


cdef inline bint _unit(lmode* mode) noexcept nogil:
    """pw is the constant 1 (see _math.pxd: a = 1 then)."""
    if lmode is General:
        return False
    else:
        return True


cdef inline floating _lscaled(floating q, floating hi, floating lo, lmode* mode) noexcept nogil:
    if lmode is Plain:
        return q
    else:
        return _scaled(q, hi, lo)


cdef inline uint32_t _logit_loss(const floating* x, const floating* t, const floating* pw,
                                 floating* l, Py_ssize_t m, lmode* mode) noexcept nogil:
    cdef uint32_t b32 = 0
    cdef uint64_t b64 = 0
    cdef Py_ssize_t j, jj, k
    if floating is double:
        for jj in range(0, m, 16):
            _ahead(x + jj, t + jj)
            for k in range(LANES):
                j = jj + k
                b64 |= _flags_logit64(x[j], t[j])
                l[j] = _lloss(x[j], t[j], _pwv(pw, j, mode), _unit(mode))
        return <uint32_t>b64
    for j in range(m):
        b32 |= _flags_logit(x[j], t[j])
        l[j] = _lloss(x[j], t[j], _pwv(pw, j, mode), _unit(mode))
    return b32


cdef inline uint32_t _logit_grad(const floating* x, const floating* t, const floating* pw,
                                 floating* g, floating* h, Py_ssize_t m, floating hi,
                                 floating lo, lmode* mode) noexcept nogil:
    cdef uint32_t b32 = 0
    cdef uint64_t b64 = 0
    cdef Py_ssize_t j, jj, k
    if floating is double:
        if m % 64 == 0:
            # whole chunks: groups of 4 LANES as in _prob_loop (AVX2 and AVX-512 6% faster)
            for jj in range(0, m, 64):
                _ahead64(x + jj, t + jj)
                for k in range(64):
                    j = jj + k
                    b64 |= _flags_logit64(x[j], t[j])
                    g[j] = _lscaled(_lgrad(x[j], t[j], _pwv(pw, j, mode), &h[j],
                                           _unit(mode)), hi, lo, mode)
            return <uint32_t>b64
        for jj in range(0, m, 16):
            _ahead(x + jj, t + jj)
            for k in range(LANES):
                j = jj + k
                b64 |= _flags_logit64(x[j], t[j])
                g[j] = _lscaled(_lgrad(x[j], t[j], _pwv(pw, j, mode), &h[j], _unit(mode)),
                                hi, lo, mode)
        return <uint32_t>b64
    for j in range(m):
        b32 |= _flags_logit(x[j], t[j])
        g[j] = _lscaled(_lgrad(x[j], t[j], _pwv(pw, j, mode), &h[j], _unit(mode)),
                        hi, lo, mode)
    return b32


cdef inline uint32_t _logit_loss_grad(const floating* x, const floating* t, const floating* pw,
                                      floating* l, floating* g, floating* h,
                                      Py_ssize_t m, floating hi, floating lo,
                                      lmode* mode) noexcept nogil:
    cdef uint32_t b32 = 0
    cdef uint64_t b64 = 0
    cdef Py_ssize_t j, jj, k
    if floating is double:
        for jj in range(0, m, 16):
            _ahead(x + jj, t + jj)
            for k in range(LANES):
                j = jj + k
                b64 |= _flags_logit64(x[j], t[j])
                l[j] = _lloss(x[j], t[j], _pwv(pw, j, mode), _unit(mode))
                g[j] = _lscaled(_lgrad(x[j], t[j], _pwv(pw, j, mode), &h[j], _unit(mode)),
                                hi, lo, mode)
        return <uint32_t>b64
    for j in range(m):
        b32 |= _flags_logit(x[j], t[j])
        l[j] = _lloss(x[j], t[j], _pwv(pw, j, mode), _unit(mode))
        g[j] = _lscaled(_lgrad(x[j], t[j], _pwv(pw, j, mode), &h[j], _unit(mode)),
                        hi, lo, mode)
    return b32


cdef inline bint _all_hard(const floating* t, Py_ssize_t m) noexcept nogil:
    """Every target is 0 or 1."""
    cdef uint32_t hard = 1
    cdef Py_ssize_t j
    for j in range(m):
        hard &= (t[j] == 0) | (t[j] == 1)
    return hard


# ---------------------------------------------------------------- summed logs as products
#
# With 0/1 targets, no weight and no label smoothing, the summed loss is -sum log q, q = x
# where t = 1 and 1 - x where t = 0: the log of a product. The factors are multiplied in
# float64 (in float32 first in pairs, element j with element j + CHUNK / 2), one of 16
# lanes each, and after every 4 factors (or pairs) per lane the exponents of the running
# products move into an integer count: no log per element, one per lane at the end of the
# block. An element takes this path only where a per-element log would keep nothing
# the product loses: in float32, q normal (no clamp at -100 near) and, for t = 0,
# q <= 1 - 2^-20 (1 - x is then exact in float64 and every loss above 2^-20, so the
# product's 2^-53 roundings cost under 2^-30 of it); in float64, q in [2^-63, 1 - 2^-10]
# (losses above 2^-10: the roundings of 1 - x and of the products stay under 2^-43 of
# each). Other elements add their per-element losses to the block's sum (in float32 both
# elements of their pair), one at a time; where a chunk holds many (confident predictions:
# in float64 more than PROD_MAX_OUT of them, in float32 any in more than PROD_MAX_OUT_F32
# groups of LANES pairs), or a target other than 0 or 1, the chunk takes the per-element
# path instead, vectorised (with one log per element where the targets are all 0 or 1).

cdef inline bint _prod_ok(floating x, floating t) noexcept nogil:
    """1 if the element may take the product path (see above): t is 0 or 1 and q in range,
    which also makes x a valid probability."""
    cdef floating tm1 = t - 1
    cdef floating q, hi
    if floating is float:
        # x for t = 1, 1 - x (rounded) for t = 0; x (t + tm1) is exact, so one rounding
        # or two give the same q (and hi is exact)
        q = fb_fmaf(x, t + tm1, -tm1)
        hi = fb_fmaf(t, <float>9.5367431640625e-07, <float>(1.0 - 9.5367431640625e-07))
        return (t * tm1 == 0) & (q >= <float>1.1754943508222875e-38) & (q <= hi)
    else:
        # the factor x + (t - 1) (x, or -(1 - x) rounded) times 2t - 1 = +-1: q itself,
        # negative for an input out of range (which then stays outside)
        q = (x + tm1) * (t + tm1)
        return (t * tm1 == 0) & (q >= 1.0842021724855044e-19) & (q <= 1.0 - 0.0009765625)


cdef inline void _renorm(double* prod, uint64_t* expo) noexcept nogil:
    """Move the exponents of the products into expo (biased: 1023 each time)."""
    cdef uint64_t b
    cdef Py_ssize_t k
    for k in range(LANES):
        b = d2u(prod[k])
        expo[k] += (b >> 52) & <uint64_t>0x7ff  # the sign (of factors x - 1) is dropped
        prod[k] = u2d((b & <uint64_t>0x000fffffffffffff) | <uint64_t>0x3ff0000000000000)


# Compile-time switches passed as a pointer of one of these types (NULL): Cython makes one
# specialisation per type, so the loops carry no run-time test of what to compute.
cdef struct WithGrad:
    char unused


cdef struct NoGrad:
    char unused


ctypedef fused gradmode:
    WithGrad
    NoGrad


cdef inline void _multiply_lanes(const double* qbuf, Py_ssize_t nq, double* prod,
                                 uint64_t* expo, Py_ssize_t* renorms,
                                 bint once) noexcept nogil:
    """Multiply nq factors (a multiple of 4 LANES, at most CHUNK) into the 16 product lanes,
    four factors a lane at a time, and move the exponents out: after every four factors
    (once=False: each factor >= 2^-252, so their product and the running one, in [1, 2),
    stay normal), or once at the end (once=True: at most 16 factors a lane, each in
    [2^-63, 2], the running product stays in [2^-1008, 2^17]). (On the lanes in place:
    local copies made by memcpy were written and read back in pieces of different widths,
    which stalled store forwarding: 15% of the float32 0/1-target forward on AVX2.)"""
    cdef Py_ssize_t c, k, j
    for c in range(nq // (4 * LANES)):
        for k in range(LANES):
            j = 4 * LANES * c + k
            prod[k] = prod[k] * ((qbuf[j] * qbuf[j + LANES])
                                 * (qbuf[j + 2 * LANES] * qbuf[j + 3 * LANES]))
        if not once:
            _renorm(prod, expo)
    if once:
        _renorm(prod, expo)
        renorms[0] += 1
    else:
        renorms[0] += nq // (4 * LANES)


cdef inline uint32_t _prob_product(const floating* x, const floating* t, Py_ssize_t m,
                                   double* prod, uint64_t* expo, Py_ssize_t* renorms,
                                   double* extra, uint32_t* bad, floating* g, floating hi,
                                   floating lo, gradmode* mode) noexcept nogil:
    """Multiply a chunk of 0/1-target losses into the lanes, and with WithGrad write the
    (scaled) gradient into g in the same loop. float32: a whole chunk (m = CHUNK); float64:
    any m up to CHUNK, the chunk read up to m rounded up to LANES (the caller's padding
    there, x = t = 0, is outside the path and adds nothing). The elements outside the path
    add their own losses to extra, and their range flags to bad. Returns 1, changing
    nothing but g (which the per-element path rewrites), if the chunk must take the
    per-element path instead."""
    cdef double qbuf[CHUNK]
    cdef uint8_t gout[GROUPS]
    cdef uint32_t h32 = 0, nout32 = 0, a32
    cdef uint32_t okb[CHUNK]
    cdef uint64_t s64 = 0, h64 = 0, a64, nout = 0
    cdef Py_ssize_t j, c, k, ngroups, nq
    if floating is float:
        # factors >= 2^-126 in pairs (each pair's product >= 2^-252, exact to 2^-53 as one
        # more product of the lanes would be): half the factors for the lanes
        for j in range(CHUNK // 2):
            # x for t = 1, x - 1 = -(1 - x) for t = 0 (the sign is dropped with the exponent)
            okb[j] = _prod_ok(x[j], t[j]) & _prod_ok(x[j + CHUNK // 2], t[j + CHUNK // 2])
            qbuf[j] = ((<double>x[j] + <double>(t[j] - 1))
                       * (<double>x[j + CHUNK // 2] + <double>(t[j + CHUNK // 2] - 1)))
            # the gradient in the same loop with 16 vector registers; in a loop of its own
            # with 32 (in-process A/B: AVX2 8-15% slower apart, AVX-512 4-5% faster)
            if gradmode is WithGrad and not FB_WIDE_REGS:
                g[j] = _scaled(_pgrad(x[j], t[j]), hi, lo)
                g[j + CHUNK // 2] = _scaled(_pgrad(x[j + CHUNK // 2], t[j + CHUNK // 2]), hi, lo)
        # are all pairs on the path? (a reduction of the stored checks, out of the loop)
        a32 = 1
        for j in range(CHUNK // 2):
            a32 &= okb[j]
        if not a32:
            # a target other than 0 or 1 sends the chunk to the per-element path; pairs
            # with an element outside the path (an input out of range among them) get the
            # factor 1 and their own losses, unless too many groups of LANES pairs hold
            # one. Those groups are noted first (float32 lanes only: a select of the
            # float64 factors here cost more than the rest of the loop).
            for c in range(CHUNK // 2 // LANES):
                a32 = 1
                for k in range(LANES):
                    a32 &= okb[c * LANES + k]
                gout[c] = <uint8_t>(a32 == 0)
                nout32 += a32 ^ 1
            if nout32 > PROD_MAX_OUT_F32:
                return 1
            for c in range(CHUNK // 2 // LANES):
                if gout[c]:
                    for k in range(LANES):
                        j = c * LANES + k
                        h32 |= ((t[j] * (t[j] - <float>1) != 0)
                                | (t[j + CHUNK // 2] * (t[j + CHUNK // 2] - <float>1) != 0))
            if h32:
                return 1
            for c in range(CHUNK // 2 // LANES):
                if gout[c]:
                    for j in range(c * LANES, c * LANES + LANES):
                        if not okb[j]:
                            qbuf[j] = 1.0
                            bad[0] |= (_flags_prob(x[j], t[j])
                                       | _flags_prob(x[j + CHUNK // 2], t[j + CHUNK // 2]))
                            extra[0] += <double>_ploss(x[j], t[j])
                            extra[0] += <double>_ploss(x[j + CHUNK // 2], t[j + CHUNK // 2])
        if gradmode is WithGrad and FB_WIDE_REGS:
            for j in range(CHUNK):
                g[j] = _scaled(_pgrad(x[j], t[j]), hi, lo)
        _multiply_lanes(qbuf, CHUNK // 2, prod, expo, renorms, False)
        return 0
    # float64: an element outside the path gets the factor 1 and its own loss below. The
    # loop notes which groups of LANES elements hold one (an AND of the elements' checks
    # per group, factors written unconditionally); those groups' factors are then fixed
    ngroups = (m + LANES - 1) // LANES
    for c in range(ngroups):
        a64 = 1
        _ahead(x + c * LANES, t + c * LANES)
        for k in range(LANES):
            j = c * LANES + k
            a64 &= _prod_ok(x[j], t[j])
            qbuf[j] = x[j] + (t[j] - 1)
            if gradmode is WithGrad:
                g[j] = _scaled(_pgrad(x[j], t[j]), hi, lo)
        gout[c] = <uint8_t>(a64 == 0)
        s64 |= a64 ^ 1
    if s64:
        # targets other than 0 or 1 send the chunk to the per-element path (such a target
        # puts its group among those noted); elsewhere in those groups, the factor 1 for
        # the elements outside, counted
        for c in range(ngroups):
            if gout[c]:
                for k in range(LANES):
                    j = c * LANES + k
                    h64 |= <uint64_t>(t[j] * (t[j] - 1) != 0)
                    a64 = _prod_ok(x[j], t[j])
                    nout += a64 ^ 1
                    qbuf[j] = qbuf[j] if a64 else 1.0
        # so do too many elements outside: each costs a loss of its own, one at a time,
        # and the per-element path (vectorised) is then faster
        if h64 or nout > PROD_MAX_OUT:
            return 1
    # a partial chunk: factors of 1 up to a multiple of 4 LANES
    nq = (ngroups + 3) // 4 * (4 * LANES)
    for j in range(ngroups * LANES, nq):
        qbuf[j] = 1.0
    _multiply_lanes(qbuf, nq, prod, expo, renorms, True)
    if s64:
        # the elements outside the path (their factor is exactly 1; every factor taken is
        # below 1 in size), looked for only in the groups that hold one
        for c in range(ngroups):
            if gout[c]:
                for j in range(c * LANES, min(c * LANES + LANES, m)):
                    if qbuf[j] == 1.0:
                        bad[0] |= <uint32_t>_flags_prob64(x[j], t[j])
                        extra[0] += <double>_ploss(x[j], t[j])
    return 0


cdef inline uint32_t _logit_product(const float* x, const float* t, double* prod,
                                    uint64_t* expo, Py_ssize_t* renorms, double* acc,
                                    float* g, float* h, bint want_grad, float hi,
                                    float lo) noexcept nogil:
    """Logits without pos_weight (float32, a whole chunk): the loss is
    max(x, 0) - t x + log1p(e), e = exp(-|x|), for any t. The first part is summed in float64
    (t x is exact there) into the block's lanes; log1p(e) is the log of the product of
    1 + e (exact in float64), multiplied into the product lanes as on the probability path.
    Taken only if every e >= 2^-20 (|x| < 13.8, no NaN), where the products' rounding stays
    below 2^-30 of log1p(e), and every target is in [0, 1]; returns 1, changing nothing but
    the gradient outputs (which the per-element path rewrites), otherwise."""
    cdef double qbuf[CHUNK]
    cdef double lbuf[CHUNK]
    cdef uint32_t s32 = 0
    cdef float e
    cdef Py_ssize_t j
    for j in range(CHUNK):
        e = exp_neg_f32(u2f(f2u(x[j]) | <uint32_t>0x80000000))
        s32 |= (e < <float>9.5367431640625e-07) | (e != e) | out_of_unit_f32(t[j])
        qbuf[j] = 1.0 + <double>e
        lbuf[j] = <double>(x[j] if x[j] > 0 else <float>0.0) - <double>t[j] * <double>x[j]
        if want_grad:
            g[j] = _scaled(_lgrad(x[j], t[j], <float>1.0, &h[j], True), hi, lo)
    if s32:
        return 1
    _multiply_lanes(qbuf, CHUNK, prod, expo, renorms, True)
    _sum16(acc, lbuf, CHUNK)
    return 0


cdef inline double _prod_sum(const double* prod, const uint64_t* expo,
                             Py_ssize_t renorms) noexcept nogil:
    """The sum of log q over every factor taken, with one log: the lanes' mantissa products
    (each in [1, 2), so theirs is below 2^16) multiplied in a fixed order, plus (all
    exponents less their bias) ln 2, ln 2 split so that k * LN2_HI is exact (|k| < 2^21:
    at most 8192 factors, each at least 2^-252 as a float32 pair, 2^-63 in float64)."""
    cdef double p = 1.0, kk
    cdef int64_t k_total = 0
    cdef Py_ssize_t k
    for k in range(LANES):
        p *= prod[k]
        k_total += <int64_t>expo[k]
    kk = <double>(k_total - 1023 * LANES * <int64_t>renorms)
    return (kk * 6.93147180369123816490e-01 + log_f64(p)) + kk * 1.9082149292705877000e-10


cdef inline void _sum16(double* acc, const floating* l, Py_ssize_t m) noexcept nogil:
    """acc[k] += l[16 c + k]; m a multiple of 16."""
    cdef Py_ssize_t c, k
    for c in range(m // LANES):
        for k in range(LANES):
            acc[k] += <double>l[c * LANES + k]


cdef inline void _store_grad(floating* out, const floating* q, const floating* w,
                             const floating* gv, double g, Py_ssize_t m) noexcept nogil:
    """out = q * g * w (w, gv may be NULL; gv replaces g), the scaling in float64 so that a
    float32 result is rounded once more at most and an infinite or subnormal g is exact."""
    cdef Py_ssize_t j
    if gv == NULL and w == NULL:
        for j in range(m):
            out[j] = <floating>(<double>q[j] * g)
    elif gv == NULL:
        for j in range(m):
            out[j] = <floating>(<double>q[j] * (g * <double>w[j]))
    elif w == NULL:
        for j in range(m):
            out[j] = <floating>(<double>q[j] * <double>gv[j])
    else:
        for j in range(m):
            out[j] = <floating>(<double>q[j] * (<double>gv[j] * <double>w[j]))


# ---------------------------------------------------------------- blocks

cdef struct Job:
    Py_ssize_t n
    const void* x
    const void* t
    const void* w             # NULL: unweighted; else read through wlay
    const void* pw            # logits: NULL or the positive-class weight, through pwlay
    const void* gvec          # NULL or a per-element upstream gradient
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


cdef void _mask_chunk(const floating* x, const floating* t, floating* xo, floating* to,
                             floating* w, const uint8_t* mk, bint have_w, floating safe,
                             Py_ssize_t m) noexcept nogil:
    """where=: a skipped element's x and t become a valid pair (safe, 0), so that it is not
    range-checked and its math is finite, and its weight 0; kept ones are copied."""
    cdef Py_ssize_t j
    for j in range(m):
        xo[j] = x[j] if mk[j] else safe
        to[j] = t[j] if mk[j] else 0
    _mask_weights(w, mk, have_w, m)


cdef inline void _mask_weights(floating* w, const uint8_t* mk, bint have_w,
                               Py_ssize_t m) noexcept nogil:
    cdef Py_ssize_t j
    if have_w:
        for j in range(m):
            w[j] = w[j] if mk[j] else 0
    else:
        for j in range(m):
            w[j] = 1 if mk[j] else 0


cdef void _zero_skipped(floating* out, const uint8_t* mk, Py_ssize_t m) noexcept nogil:
    """Exact zeros where where= is False (a weight 0 times an infinite or NaN grad_output
    would not give one)."""
    cdef Py_ssize_t j
    for j in range(m):
        out[j] = out[j] if mk[j] else 0


cdef inline int64_t _count(const uint8_t* mk, Py_ssize_t m) noexcept nogil:
    cdef int64_t c = 0
    cdef Py_ssize_t j
    for j in range(m):
        c += mk[j] != 0
    return c


cdef void _den_chunk(const Job* jb, floating* wbuf, const uint8_t* mbuf, Py_ssize_t m,
                            Py_ssize_t mv, double* accw, int64_t* cnt) noexcept nogil:
    """The denominators' share of one chunk (wbuf: its effective weights)."""
    cdef Py_ssize_t j
    if jb.den & 1:
        cnt[0] += _count(mbuf, m)
    if jb.den & 2:
        for j in range(m, mv):
            wbuf[j] = 0
        _sum16(accw, wbuf, mv)


cdef void _den_block(const Job* jb, Py_ssize_t lo, Py_ssize_t hi, double* wsum, int64_t* cnt,
                     const floating* tag) noexcept nogil:
    """The denominators of elements [lo, hi) alone, with the very operations _block does
    (so the same bits): for a gradient, which needs them before its pass."""
    cdef floating wbuf[CHUNK]
    cdef uint8_t mbuf[CHUNK]
    cdef double accw[LANES]
    cdef Cursor wc, mc
    cdef Py_ssize_t ci, c0, m, k, nchunks = (hi - lo + CHUNK - 1) // CHUNK
    for k in range(LANES):
        accw[k] = 0.0
    cnt[0] = 0
    if jb.w != NULL:
        _seek(&wc, jb.wlay, lo)
    if jb.mask != NULL:
        _seek(&mc, jb.mlay, lo)
    for ci in range(nchunks):
        c0 = lo + ci * CHUNK
        m = hi - c0
        if m > CHUNK:
            m = CHUNK
        if jb.w != NULL:
            _gather(wbuf, <const floating*>jb.w, jb.wlay, &wc, m)
        if jb.mask != NULL:
            _gather(mbuf, jb.mask, jb.mlay, &mc, m)
            _mask_weights(wbuf, mbuf, jb.w != NULL, m)
        _den_chunk(jb, wbuf, mbuf, m, (m + LANES - 1) // LANES * LANES, accw, cnt)
    wsum[0] = _fold16(accw)


cdef inline double _fold16(double* acc) noexcept nogil:
    """The 16 lanes' sum, pairwise in a fixed order."""
    cdef Py_ssize_t k
    for k in range(8):
        acc[k] += acc[k + 8]
    for k in range(4):
        acc[k] += acc[k + 4]
    return (acc[0] + acc[2]) + (acc[1] + acc[3])


cdef double _block(const Job* jb, const floating* xs, Py_ssize_t lo, Py_ssize_t hi,
                   uint32_t* flags, double* wsum, int64_t* cnt) noexcept nogil:
    """Elements [lo, hi): the loss sum in float64 (returned), outputs, range flags, and the
    denominators jb.den asks for (the kept elements' count, their weights' sum)."""
    cdef uint8_t mbuf[CHUNK]
    cdef double accw[LANES]
    cdef floating xbuf[CHUNK]
    cdef floating tbuf[CHUNK]
    cdef floating wbuf[CHUNK]
    cdef floating pwbuf[CHUNK]
    cdef floating lbuf[CHUNK]
    cdef floating gbuf[CHUNK]
    cdef floating hbuf[CHUNK]
    cdef double acc[LANES]
    cdef double prod[LANES]
    cdef uint64_t expo[LANES]
    cdef double extra = 0.0
    cdef Py_ssize_t renorms = 0
    cdef bint summed, hard, looked
    # outputs the math may write in place: no weighting or scaling after it
    # The gradient is scaled by g inside the math loops (and written in place) when g is a
    # scalar and no weight follows: in float64 as q g; in float32 as q g_hi + q g_lo
    # rounded once, g = g_hi + g_lo, where g is a float (g_lo = 0: q g rounded once, the
    # same as the float64 product rounded) or, with FMA, |g| is in [2^-100, 2^100] (no part
    # subnormal or near overflow; g_hi + g_lo is g to 2^-48). Else _store_grad scales later.
    cdef bint gin = False
    cdef floating ghi = 1, glo = 0
    # with where=, the elements are weighted by 0 or 1 (times the weight)
    cdef bint unweighted = jb.w == NULL and jb.mask == NULL
    if jb.grad != NULL and unweighted and jb.gvec == NULL:
        if floating is double:
            gin = True
            ghi = jb.g
        else:
            ghi = <float>jb.g
            if <double>ghi == jb.g:
                gin = True
            elif FB_FUSED and 7.888609052210118e-31 <= abs(jb.g) <= 1.2676506002282294e30:
                gin = True
                glo = <float>(jb.g - <double>ghi)
        if not gin:
            ghi, glo = 1, 0
    cdef bint direct_h = jb.hess != NULL and unweighted
    cdef bint direct_l = jb.loss != NULL and unweighted
    cdef floating* ld
    cdef floating* gd
    cdef floating* hd
    cdef int skip = 0, backoff = 0
    cdef bint hard_next = False
    # logits without pos_weight take a product path of their own (float32)
    cdef bint lproduct = (floating is float and jb.logits and jb.pw == NULL and jb.want_sum
                          and jb.loss == NULL and unweighted and jb.hess == NULL)
    cdef bint product = (not jb.logits and jb.want_sum and jb.loss == NULL and unweighted
                         and jb.ls == 0.0)
    cdef Cursor wc, pwc, mc
    cdef const uint8_t* mk = NULL
    cdef const floating* ts = <const floating*>jb.t
    cdef const floating* x
    cdef const floating* t
    cdef const floating* w = NULL
    cdef const floating* pw
    cdef const floating* gv = NULL
    cdef floating* lout
    cdef floating a = <floating>(1.0 - jb.ls)
    cdef floating b = <floating>(0.5 * jb.ls)
    cdef Py_ssize_t c0, m, mv, j, k, nchunks = (hi - lo + CHUNK - 1) // CHUNK, ci
    cdef uint32_t bad = 0
    cdef bint want_loss = jb.loss != NULL or jb.want_sum
    cdef bint want_grad = jb.grad != NULL or jb.hess != NULL
    for k in range(LANES):
        acc[k] = 0.0
        accw[k] = 0.0
        prod[k] = 1.0
        expo[k] = 0
    cnt[0] = 0
    if floating is float:
        pw = ONES_F32
    else:
        pw = ONES_F64
    if jb.w != NULL:
        _seek(&wc, jb.wlay, lo)
    if jb.pw != NULL:
        _seek(&pwc, jb.pwlay, lo)
    if jb.mask != NULL:
        _seek(&mc, jb.mlay, lo)
    # float32 prefetch distance: the next chunk, or two ahead for the logits gradient without
    # the loss (grad_hess: its loop is short, and one chunk's lead was too little beyond
    # the caches on one thread, 11% slower at 1e7 on AVX2; two chunks made the slower
    # loops 2-5% slower)
    cdef Py_ssize_t ahead = CHUNK
    if jb.logits and not want_loss:
        ahead = 2 * CHUNK
    for ci in range(nchunks):
        c0 = lo + ci * CHUNK
        m = hi - c0
        if m > CHUNK:
            m = CHUNK
        x = xs + c0
        t = ts + c0
        # float32: the next chunk's inputs, asked for at the chunk's start (the loops
        # below leave gaps in the stream of loads that the hardware prefetcher alone does
        # not cover: without this, 1e7 elements ran 8-33% slower on AVX2; two chunks
        # ahead was 2-4% slower than one, four 7-12% at 1e6). float64 asks inside its
        # loops (see _ahead): a chunk spans twice the cache lines, and a burst of that
        # size stalled the loop.
        if floating is float and c0 + ahead + CHUNK <= hi:
            for j in range(0, CHUNK * sizeof(floating), 64):
                fb_prefetch(<const char*>(x + ahead) + j)
                fb_prefetch(<const char*>(t + ahead) + j)
        if jb.w != NULL:
            _gather(wbuf, <const floating*>jb.w, jb.wlay, &wc, m)
            w = wbuf
        if jb.mask != NULL:
            _gather(mbuf, jb.mask, jb.mlay, &mc, m)
            mk = mbuf
            _mask_chunk(x, t, xbuf, tbuf, wbuf, mbuf, jb.w != NULL,
                        <floating>(0.0 if jb.logits else 0.5), m)
            x, t, w = xbuf, tbuf, wbuf
        if jb.den:
            _den_chunk(jb, wbuf, mbuf, m, (m + LANES - 1) // LANES * LANES, accw, cnt)
        if jb.ls != 0.0:
            for j in range(m):
                bad |= _flags_target(t[j])
                tbuf[j] = t[j] * a + b
            t = tbuf
        if jb.pw != NULL:
            _gather(pwbuf, <const floating*>jb.pw, jb.pwlay, &pwc, m)
            if mk != NULL:  # a skipped element's pos_weight (inf, NaN) must not reach 0 * it
                for j in range(m):
                    pwbuf[j] = pwbuf[j] if mk[j] else 1
            pw = pwbuf
        if jb.gvec != NULL:
            gv = <const floating*>jb.gvec + c0
        # The math runs over whole vectors: a chunk that ends inside one (the last of the
        # array) is copied and padded with x = t = 0, valid in both families. So every
        # element goes through the same vector code, never a scalar epilogue, and a result
        # does not depend on where its element sits.
        mv = (m + LANES - 1) // LANES * LANES
        if mv != m:
            if x != &xbuf[0]:
                memcpy(xbuf, x, m * sizeof(floating))
            if t != &tbuf[0]:
                memcpy(tbuf, t, m * sizeof(floating))
            for j in range(m, mv):
                xbuf[j] = 0
                tbuf[j] = 0
                pwbuf[j] = 1
            x = xbuf
            t = tbuf
        # the math, into local buffers or, where nothing follows it, the outputs
        ld, gd, hd = &lbuf[0], &gbuf[0], &hbuf[0]
        if mv == m:
            if direct_l:
                ld = <floating*>jb.loss + c0
            if gin:
                gd = <floating*>jb.grad + c0
            if direct_h:
                hd = <floating*>jb.hess + c0
        summed = False
        # Are the chunk's targets all 0 or 1? Asked with a back-off: after k misses in a
        # row the next min(2^k - 1, 31) chunks are not asked (soft targets pay for one
        # look in 32 chunks). The product path looks at the targets itself; where it
        # refuses a chunk of 0/1 targets (confident predictions: many losses too small for
        # it), the chunk takes the one-log path, and so do the chunks the back-off then
        # keeps from the product path, each asked (hard_next) as on the other paths.
        hard = looked = False
        if jb.logits and not lproduct:
            pass
        elif skip > 0:
            skip -= 1
            if hard_next:
                hard = _all_hard(t, mv)
        elif lproduct:
            if m == CHUNK:
                looked = True
                if floating is float:
                    summed = _logit_product(x, t, prod, expo, &renorms, acc, gd, hbuf,
                                            want_grad, ghi, glo) == 0
        elif product and (m == CHUNK or floating is double):
            looked = True
            if want_grad:
                summed = _prob_product(x, t, m, prod, expo, &renorms, &extra, &bad, gd, ghi,
                                       glo, <WithGrad*>NULL) == 0
            else:
                summed = _prob_product(x, t, m, prod, expo, &renorms, &extra, &bad, gd, ghi,
                                       glo, <NoGrad*>NULL) == 0
            if not summed:
                hard = _all_hard(t, mv)
            hard_next = hard
        else:
            looked = True
            hard = _all_hard(t, mv)
        if looked:
            if summed or (hard and not hard_next):
                backoff = 0
            else:
                skip = backoff
                backoff = 2 * backoff + 1 if backoff < 31 else 31
        if summed:
            pass
        elif jb.logits:
            if want_loss and want_grad:
                # local buffers only: with three outputs beside three inputs GCC would need
                # more run-time alias checks than it makes, and not vectorise
                ld, gd, hd = &lbuf[0], &gbuf[0], &hbuf[0]
                if jb.pw != NULL:
                    bad |= _logit_loss_grad(x, t, pw, ld, gd, hd, mv, ghi, glo, <General*>NULL)
                else:
                    bad |= _logit_loss_grad(x, t, pw, ld, gd, hd, mv, ghi, glo, <NoPw*>NULL)
            elif want_loss:
                if jb.pw != NULL:
                    bad |= _logit_loss(x, t, pw, ld, mv, <General*>NULL)
                else:
                    bad |= _logit_loss(x, t, pw, ld, mv, <NoPw*>NULL)
            elif jb.pw != NULL:
                bad |= _logit_grad(x, t, pw, gd, hd, mv, ghi, glo, <General*>NULL)
            elif ghi == 1 and glo == 0:
                bad |= _logit_grad(x, t, pw, gd, hd, mv, ghi, glo, <Plain*>NULL)
            else:
                bad |= _logit_grad(x, t, pw, gd, hd, mv, ghi, glo, <NoPw*>NULL)
        else:
            if want_loss and want_grad:
                bad |= _prob_loop(x, t, ld, gd, mv, hard, ghi, glo, <LossGrad*>NULL)
            elif want_loss:
                bad |= _prob_loop(x, t, ld, gd, mv, hard, ghi, glo, <LossOnly*>NULL)
            else:
                bad |= _prob_loop(x, t, ld, gd, mv, False, ghi, glo, <GradOnly*>NULL)
        # weighting, sums and stores
        if want_loss and ld == &lbuf[0]:
            if jb.loss == NULL:
                lout = &lbuf[0]
            else:
                lout = <floating*>jb.loss + c0
            if w != NULL:
                for j in range(m):
                    lout[j] = lbuf[j] * w[j]
            elif jb.loss != NULL:
                memcpy(lout, lbuf, m * sizeof(floating))
            if jb.want_sum and not summed:
                if jb.loss != NULL and w != NULL:
                    memcpy(lbuf, lout, m * sizeof(floating))
                for j in range(m, mv):
                    lbuf[j] = 0
                _sum16(acc, lbuf, mv)
        if jb.grad != NULL and gd == &gbuf[0]:
            if gin:
                memcpy(<floating*>jb.grad + c0, gbuf, m * sizeof(floating))
            else:
                _store_grad(<floating*>jb.grad + c0, gbuf, w, gv, jb.g, m)
        if jb.hess != NULL and hd == &hbuf[0]:
            lout = <floating*>jb.hess + c0
            if w != NULL:
                for j in range(m):
                    lout[j] = hbuf[j] * w[j]
            else:
                memcpy(lout, hbuf, m * sizeof(floating))
        if mk != NULL:
            if jb.grad != NULL:
                _zero_skipped(<floating*>jb.grad + c0, mk, m)
            if jb.hess != NULL:
                _zero_skipped(<floating*>jb.hess + c0, mk, m)
    flags[0] = bad
    wsum[0] = _fold16(accw)
    if renorms:
        if jb.logits:
            extra += _prod_sum(prod, expo, renorms)
        else:
            extra -= _prod_sum(prod, expo, renorms)
    return _fold16(acc) + extra


cdef double _block_other(const Job* jb, const floating* xs, Py_ssize_t lo, Py_ssize_t hi,
                         uint32_t* flags, double* wsum, int64_t* cnt) noexcept nogil:
    """_block for the losses it leaves out -- the focal loss and the unclamped probability
    loss -- and for the denominators alone: a plainer loop (every result through local
    buffers, no product paths), kept apart so that the compilers still inline all of
    _block's math into it."""
    cdef uint8_t mbuf[CHUNK]
    cdef double accw[LANES]
    cdef double acc[LANES]
    cdef floating xbuf[CHUNK]
    cdef floating tbuf[CHUNK]
    cdef floating wbuf[CHUNK]
    cdef floating lbuf[CHUNK]
    cdef floating gbuf[CHUNK]
    cdef floating hbuf[CHUNK]
    cdef Cursor wc, mc
    cdef const floating* x
    cdef const floating* t
    cdef const floating* w = NULL
    cdef const floating* gv = NULL
    cdef floating* out
    cdef floating a = <floating>(1.0 - jb.ls)
    cdef floating b = <floating>(0.5 * jb.ls)
    cdef Py_ssize_t c0, m, mv, j, k, nchunks = (hi - lo + CHUNK - 1) // CHUNK, ci
    cdef uint32_t bad = 0
    if jb.den_only:
        flags[0] = 0
        _den_block(jb, lo, hi, wsum, cnt, xs)
        return 0.0
    for k in range(LANES):
        acc[k] = 0.0
        accw[k] = 0.0
    cnt[0] = 0
    if jb.w != NULL:
        _seek(&wc, jb.wlay, lo)
    if jb.mask != NULL:
        _seek(&mc, jb.mlay, lo)
    for ci in range(nchunks):
        c0 = lo + ci * CHUNK
        m = hi - c0
        if m > CHUNK:
            m = CHUNK
        mv = (m + LANES - 1) // LANES * LANES
        x = xs + c0
        t = <const floating*>jb.t + c0
        if jb.w != NULL:
            _gather(wbuf, <const floating*>jb.w, jb.wlay, &wc, m)
            w = wbuf
        if jb.mask != NULL:
            _gather(mbuf, jb.mask, jb.mlay, &mc, m)
            _mask_chunk(x, t, xbuf, tbuf, wbuf, mbuf, jb.w != NULL,
                        <floating>(0.0 if jb.logits else 0.5), m)
            x, t, w = xbuf, tbuf, wbuf
        if jb.den:
            _den_chunk(jb, wbuf, mbuf, m, mv, accw, cnt)
        if jb.ls != 0.0:
            for j in range(m):
                bad |= _flags_target(t[j])
                tbuf[j] = t[j] * a + b
            t = tbuf
        if jb.gvec != NULL:
            gv = <const floating*>jb.gvec + c0
        if mv != m:  # padded to whole vectors, as in _block
            if x != &xbuf[0]:
                memcpy(xbuf, x, m * sizeof(floating))
            if t != &tbuf[0]:
                memcpy(tbuf, t, m * sizeof(floating))
            for j in range(m, mv):
                xbuf[j] = 0
                tbuf[j] = 0
            x = xbuf
            t = tbuf
        if jb.focal:
            bad |= _focal_loop(x, t, lbuf, gbuf, hbuf, mv, <floating>jb.alpha,
                               <floating>jb.gamma)
        else:
            bad |= _prob_exact(x, t, lbuf, gbuf, mv)
        if w != NULL:
            for j in range(m):
                lbuf[j] = lbuf[j] * w[j]
        if jb.loss != NULL:
            memcpy(<floating*>jb.loss + c0, lbuf, m * sizeof(floating))
        if jb.want_sum:
            for j in range(m, mv):
                lbuf[j] = 0
            _sum16(acc, lbuf, mv)
        if jb.grad != NULL:
            _store_grad(<floating*>jb.grad + c0, gbuf, w, gv, jb.g, m)
        if jb.hess != NULL:
            out = <floating*>jb.hess + c0
            if w != NULL:
                for j in range(m):
                    out[j] = hbuf[j] * w[j]
            else:
                memcpy(out, hbuf, m * sizeof(floating))
        if jb.mask != NULL:
            if jb.grad != NULL:
                _zero_skipped(<floating*>jb.grad + c0, mbuf, m)
            if jb.hess != NULL:
                _zero_skipped(<floating*>jb.hess + c0, mbuf, m)
    flags[0] = bad
    wsum[0] = _fold16(accw)
    return _fold16(acc)


cdef inline double _any_block(const Job* jb, const floating* xs, Py_ssize_t lo, Py_ssize_t hi,
                              uint32_t* flags, double* wsum, int64_t* cnt) noexcept nogil:
    if jb.focal or not jb.clamp or jb.den_only:
        return _block_other(jb, xs, lo, hi, flags, wsum, cnt)
    return _block(jb, xs, lo, hi, flags, wsum, cnt)


cdef double _run(const Job* jb, const floating* xs, int nthreads, double* wsum,
                 int64_t* cnt) except? -1.0:
    """All blocks, in parallel when worth it; the loss sum in block order (and the
    denominators jb.den asks for, also in block order). Raises ValueError with torch's
    message when an input or target element is out of range."""
    cdef Py_ssize_t n = jb.n
    cdef Py_ssize_t nblocks = (n + BLOCK - 1) // BLOCK
    cdef Py_ssize_t b
    cdef double total = 0.0
    cdef uint32_t bad = 0
    cdef double* partial
    cdef double* pw
    cdef int64_t* pc
    cdef uint32_t* flags
    cdef PyThreadState* ts
    wsum[0] = 0.0
    cnt[0] = 0
    if nblocks == 0:
        return 0.0
    if n < PARALLEL_MIN or nthreads < 1:
        nthreads = 1
    if nthreads > nblocks:
        nthreads = <int>nblocks
    if nblocks == 1:
        # (one call site: GCC's inlining of the math into _block depends on how many there
        # are; tools/check_isa.py checks it)
        ts = PyEval_SaveThread() if n >= NOGIL_MIN else NULL  # (the GIL, released)
        total = _any_block(jb, xs, 0, n, &bad, wsum, cnt)
        if ts != NULL:
            PyEval_RestoreThread(ts)
    else:
        partial = <double*>malloc(nblocks * 2 * sizeof(double))
        pc = <int64_t*>malloc(nblocks * sizeof(int64_t))
        flags = <uint32_t*>malloc(nblocks * sizeof(uint32_t))
        if partial == NULL or flags == NULL or pc == NULL:
            free(partial)
            free(flags)
            free(pc)
            raise MemoryError()
        pw = partial + nblocks
        with nogil:
            if nthreads > 1:
                for b in prange(nblocks, schedule="static", num_threads=nthreads):
                    partial[b] = _any_block(jb, xs, b * BLOCK, min(n, (b + 1) * BLOCK),
                                            &flags[b], &pw[b], &pc[b])
            else:
                for b in range(nblocks):
                    partial[b] = _any_block(jb, xs, b * BLOCK, min(n, (b + 1) * BLOCK),
                                            &flags[b], &pw[b], &pc[b])
            for b in range(nblocks):
                total += partial[b]
                bad |= flags[b]
                wsum[0] += pw[b]
                cnt[0] += pc[b]
        free(partial)
        free(flags)
        free(pc)
    if bad & 1:
        if jb.logits:
            raise ValueError("input (logits) contains NaN")
        raise ValueError("all elements of input should be between 0 and 1")
    if bad & 2:
        raise ValueError("all elements of target should be between 0 and 1")
    return total


# ---------------------------------------------------------------- the entry point

cdef Py_buffer* _acquire(Py_buffer* views, int* nheld, obj, bint writable) except NULL:
    """Hold ``obj``'s C-contiguous buffer in the next free slot of ``views`` (released by
    ``run`` when the call ends, whatever happens) and return it."""
    cdef int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (PyBUF_WRITABLE if writable else 0)
    PyObject_GetBuffer(obj, &views[nheld[0]], flags)
    nheld[0] += 1
    return &views[nheld[0] - 1]


cdef int _kind(const Py_buffer* v) noexcept:
    # 0 float32, 1 float64, -1 anything else (native byte order only)
    cdef const char* f = v.format
    if f[0] == b"@" or f[0] == b"=" or f[0] == b"<":
        f += 1
    if f[0] == 0 or f[1] != 0:
        return -1
    if f[0] == b"f" and v.itemsize == 4:
        return 0
    if f[0] == b"d" and v.itemsize == 8:
        return 1
    return -1


cdef _fill_layout(Layout* lay, layout, const Py_buffer* buf, Py_ssize_t n, Py_ssize_t itemsize):
    """Copy (row_len, row_step, div, mod, stride) into lay; refuse one that would read past
    buf."""
    row_len, row_step, div, mod, stride = layout
    cdef Py_ssize_t nouter = len(div), k, last
    if nouter > MAXDIMS or len(mod) != nouter or len(stride) != nouter:
        raise ValueError("internal error: bad weight layout")
    lay.row_len = row_len
    lay.row_step = row_step
    lay.nouter = <int>nouter
    last = (row_len - 1) * row_step  # the largest index the layout can reach
    for k in range(nouter):
        lay.div[k] = div[k]
        lay.mod[k] = mod[k]
        lay.stride[k] = stride[k]
        if n > 0 and (lay.div[k] < 1 or lay.mod[k] < 1 or lay.stride[k] < 0):
            raise ValueError("internal error: bad weight layout")
        last += (lay.mod[k] - 1) * lay.stride[k]
    if n > 0 and (row_len < 1 or row_step < 0 or row_step > 1 or last * itemsize >= buf.len):
        raise ValueError("internal error: weight layout reaches past the weight")


def run(x, t, w, w_layout, pw, pw_layout, mask, mask_layout, loss_out, grad_out, hess_out,
        gvec, double g, bint want_sum, bint logits, double label_smoothing, int num_threads,
        bint clamp=True, bint focal=False, double alpha=-1.0, double gamma=0.0, int den=0,
        bint den_only=False):
    """One pass over the data; returns the float64 sum of the (weighted) element losses
    (0.0 unless ``want_sum``), or with ``den`` nonzero ``(sum, weight_sum, count)``: the
    float64 sum of the kept elements' weights (``den & 2``) and their count (``den & 1``).
    ``den_only`` computes only these, without reading ``x`` and ``t``.

    ``mask`` (where=) is a compact bool array read through ``mask_layout`` like a weight;
    ``clamp`` False gives the unclamped probability loss; ``focal`` the logits family's
    focal loss with ``alpha`` and ``gamma``.

    ``x``, ``t`` and the outputs ``loss_out``, ``grad_out``, ``hess_out`` and ``gvec`` (a
    per-element upstream gradient; the scalar ``g`` is used without it) are C-contiguous
    arrays of one dtype, float32 or float64, and one length; ``None`` stands for an absent
    one. ``w`` and ``pw`` are compact and read through their layouts
    ``(row_len, row_step, div, mod, stride)`` (see ``fastbce._bce.weight_layout``). Raises
    ValueError with torch's message when an element is out of range; the outputs' contents
    are then unspecified.
    """
    cdef Py_buffer views[9]  # every buffer this call holds (6 read, 3 written), released at the end
    cdef int nheld = 0, i
    try:
        return _run_held(views, &nheld, x, t, w, w_layout, pw, pw_layout, mask, mask_layout,
                         loss_out, grad_out, hess_out, gvec, g, want_sum, logits,
                         label_smoothing, num_threads, clamp, focal, alpha, gamma, den,
                         den_only)
    finally:
        for i in range(nheld):
            PyBuffer_Release(&views[i])


cdef _run_held(Py_buffer* views, int* nheld, x, t, w, w_layout, pw, pw_layout, mask,
               mask_layout, loss_out, grad_out, hess_out, gvec, double g, bint want_sum,
               bint logits, double label_smoothing, int num_threads, bint clamp, bint focal,
               double alpha, double gamma, int den, bint den_only):
    cdef Layout wlay, pwlay, mlay
    cdef double wsum = 0.0
    cdef int64_t cnt = 0
    cdef Job jb
    cdef Py_buffer* bx = _acquire(views, nheld, x, False)
    cdef Py_buffer* bt = _acquire(views, nheld, t, False)
    cdef Py_buffer* bw = NULL
    cdef Py_buffer* bpw = NULL
    cdef Py_buffer* bv = NULL
    cdef Py_buffer* bm = NULL
    cdef int kind = _kind(bx)
    cdef Py_ssize_t size = bx.itemsize
    cdef const Py_buffer* ins[6]     # what the pass reads
    cdef const Py_buffer* outs[3]    # what it writes: loss, grad, hess (NULL: absent)
    cdef void* dest[3]
    cdef void* scratch[3]
    cdef int nin = 2, i, k
    cdef double total
    if kind < 0:
        raise ValueError("internal error: input is neither float32 nor float64")
    ins[0], ins[1] = bx, bt
    outs[0] = outs[1] = outs[2] = NULL
    if w is not None:
        bw = _acquire(views, nheld, w, False)
        ins[nin] = bw
        nin += 1
    if pw is not None:
        bpw = _acquire(views, nheld, pw, False)
        ins[nin] = bpw
        nin += 1
    if gvec is not None:
        bv = _acquire(views, nheld, gvec, False)
        ins[nin] = bv
        nin += 1
    if mask is not None:
        bm = _acquire(views, nheld, mask, False)
        if bm.itemsize != 1 or bm.format[0] != b"?" or bm.format[1] != 0:
            raise ValueError("internal error: the mask must be a bool array")
        ins[nin] = bm
        nin += 1
    if loss_out is not None:
        outs[0] = _acquire(views, nheld, loss_out, True)
    if grad_out is not None:
        outs[1] = _acquire(views, nheld, grad_out, True)
    if hess_out is not None:
        outs[2] = _acquire(views, nheld, hess_out, True)
    # every buffer but the weights (read through their layouts) is input-sized
    for i in range(3):
        if outs[i] != NULL and (_kind(outs[i]) != kind or outs[i].len != bx.len):
            raise ValueError("internal error: buffers of different dtypes or lengths")
    if _kind(bt) != kind or bt.len != bx.len or (
            bv != NULL and (_kind(bv) != kind or bv.len != bx.len)):
        raise ValueError("internal error: buffers of different dtypes or lengths")
    jb.n = bx.len // size
    jb.x = bx.buf
    jb.t = bt.buf
    jb.w = NULL
    jb.pw = NULL
    jb.wlay = &wlay
    jb.pwlay = &pwlay
    if bw != NULL:
        if _kind(bw) != kind:
            raise ValueError("internal error: weight of another dtype")
        _fill_layout(&wlay, w_layout, bw, jb.n, size)
        jb.w = bw.buf
    if bpw != NULL:
        if _kind(bpw) != kind:
            raise ValueError("internal error: pos_weight of another dtype")
        _fill_layout(&pwlay, pw_layout, bpw, jb.n, size)
        jb.pw = bpw.buf
    jb.mask = NULL
    jb.mlay = &mlay
    if bm != NULL:
        _fill_layout(&mlay, mask_layout, bm, jb.n, 1)
        jb.mask = <const uint8_t*>bm.buf
    if (den & 1 and bm == NULL) or (den & 2 and bw == NULL) or (den_only and not den):
        raise ValueError("internal error: a denominator without its operand")
    jb.gvec = NULL if bv == NULL else bv.buf
    jb.g = g
    jb.ls = label_smoothing
    jb.want_sum = want_sum
    jb.logits = logits
    jb.focal = focal
    jb.clamp = clamp
    jb.alpha = alpha
    jb.gamma = gamma
    jb.den = den
    jb.den_only = den_only
    if focal and not logits or not clamp and logits:
        raise ValueError("internal error: focal is a logits loss, clamp a probability one")
    # Outputs: two that overlap are an error; one that overlaps an input is computed into
    # scratch memory and copied over after the pass.
    for i in range(3):
        for k in range(i + 1, 3):
            if outs[i] != NULL and outs[k] != NULL and _overlap(outs[i], outs[k]):
                names = ("loss_out", "grad_out", "hess_out")
                raise ValueError(f"{names[i]} and {names[k]} overlap: each output needs its "
                                 "own memory")
    for i in range(3):
        dest[i] = NULL if outs[i] == NULL else outs[i].buf
        scratch[i] = NULL
    for i in range(3):
        if outs[i] == NULL:
            continue
        for k in range(nin):
            if _overlap(outs[i], ins[k]):
                scratch[i] = malloc(bx.len)
                if scratch[i] == NULL:
                    free(scratch[0])
                    free(scratch[1])
                    raise MemoryError()
                break
    jb.loss = scratch[0] if scratch[0] != NULL else dest[0]
    jb.grad = scratch[1] if scratch[1] != NULL else dest[1]
    jb.hess = scratch[2] if scratch[2] != NULL else dest[2]
    try:
        if kind == 0:
            total = _run(&jb, <const float*>jb.x, num_threads, &wsum, &cnt)
        else:
            total = _run(&jb, <const double*>jb.x, num_threads, &wsum, &cnt)
        for i in range(3):
            if scratch[i] != NULL:
                memcpy(dest[i], scratch[i], bx.len)
    finally:
        for i in range(3):
            free(scratch[i])
    if den:
        return total, wsum, cnt
    return total


cdef bint _overlap(const Py_buffer* a, const Py_buffer* b) noexcept:
    """Whether two buffers' byte ranges meet (empty ones never do)."""
    cdef const char* pa = <const char*>a.buf
    cdef const char* pb = <const char*>b.buf
    return a.len > 0 and b.len > 0 and pa < pb + b.len and pb < pa + a.len
