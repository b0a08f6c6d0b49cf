# Included by _kernels.pyx: summed logs as products (the 0/1-target fast path).

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
            # the gradient in the same loop (in-process A/B: AVX2 8-15% slower in a loop of
            # its own; AVX-512 4-5% faster apart on a Xeon, but 5-8% slower on Zen 4 at
            # 1e4-1e6, so it is in the loop everywhere)
            if gradmode is WithGrad:
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
