# Included by _kernels.pyx: one dtype's math and the per-element loops over a chunk.

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


# One call site of each logits closed form per dtype (these wrappers, inlined where they are
# used): Clang 14 inlines a function with a single caller whatever its size, and with the
# loops calling logit_loss directly it left one call of it in _block (tools/check_isa.py).

cdef inline floating _lloss(floating x, floating t, floating pw, bint unit) noexcept nogil:
    return logit_loss(x, t, pw, unit)


cdef inline floating _lgrad(floating x, floating t, floating pw, floating* h,
                           bint unit) noexcept nogil:
    return logit_grad(x, t, pw, h, unit)


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
        l[j] = prob_loss_exact(x[j], t[j])
        g[j] = prob_grad_exact(x[j], t[j])
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
        l[j] = focal(x[j], t[j], alpha, gamma, &g[j], &h[j])
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
