# cython: language_level=3
"""Layer 1 of fastbce: the scalar math of one element, as branch-free ``cdef inline``
functions over plain C types, written so that GCC and Clang vectorise the loops of
``_kernels.pyx`` that call them (compiled with ``-O3 -fno-trapping-math -fno-math-errno``;
``-ffast-math`` is never used: it would delete the error-compensation terms below).

Conventions:
- bit casts go through the unions ``F32Bits`` / ``F64Bits`` inside small inline functions;
- on the float32 path every literal is cast with ``<float>`` (C would promote to double),
  and in the functions written once for both dtypes (over the fused type ``floating``)
  with ``<floating>``;
- ``x + 0.0`` turns -0.0 into +0.0 before any bit trick, so -0.0 takes the zero path;
- the polynomials are our own fits (coefficients and error bounds in the comments).
"""

from cython cimport floating
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t

# a * b + c. The modules are compiled with -ffp-contract=off, so that the compiler fuses
# nothing by itself: vector and scalar code, and the fused and separate calls, give the
# same bits. The FMAs that speed the polynomials up are written out here: one rounding
# where the instruction set has FMA (fmaf/fma are then one instruction), two elsewhere
# (the baseline, where the libm call would be slow). FB_FUSED says which: 1 where they
# round once.
cdef extern from *:
    """
    #if defined(__FMA__) || defined(__aarch64__)
    #define fb_fmaf(a, b, c) fmaf((a), (b), (c))
    #define fb_fma(a, b, c) fma((a), (b), (c))
    #define FB_FUSED 1
    #else
    #define fb_fmaf(a, b, c) ((a) * (b) + (c))
    #define fb_fma(a, b, c) ((a) * (b) + (c))
    #define FB_FUSED 0
    #endif
    """
    float fb_fmaf(float a, float b, float c) nogil
    double fb_fma(double a, double b, double c) nogil
    int FB_FUSED


# 1 where the module is built for AVX-512 (32 vector registers): the soft-target losses
# (float32 and float64) then take the form with fewer operations and more values live at
# once, which is faster there and slower with the 16 registers of AVX2 (both forms are
# equally accurate: the tests hold every module to the same bounds). Re-measured on Zen 4
# (in-process, 1e4 to 1e7): float64 soft forward 3-6% faster; float32 soft rows 0.98 to
# 1.03 of the two-log form, but with the two-log form the float32 0/1-target forward at 1e7
# ran 8-10% slower (the block loop's code laid out otherwise), so both stay.
cdef extern from *:
    """
    #if defined(__AVX512F__)
    #define FB_WIDE_REGS 1
    #else
    #define FB_WIDE_REGS 0
    #endif
    """
    int FB_WIDE_REGS


cdef union F32Bits:
    float f
    uint32_t u


cdef union F64Bits:
    double f
    uint64_t u


cdef inline uint32_t f2u(float v) noexcept nogil:
    cdef F32Bits c
    c.f = v
    return c.u


cdef inline float u2f(uint32_t v) noexcept nogil:
    cdef F32Bits c
    c.u = v
    return c.f


cdef inline uint64_t d2u(double v) noexcept nogil:
    cdef F64Bits c
    c.f = v
    return c.u


cdef inline double u2d(uint64_t v) noexcept nogil:
    cdef F64Bits c
    c.u = v
    return c.f


# ------------------------------------------------------------------ float32 log

cdef inline float log_reduced_f32(float f, float k) noexcept nogil:
    """log(2^k (1 + f)) for f in [sqrt(1/2) - 1, sqrt(2) - 1]:
    log1p(f) = f - f^2/2 + f^3 q(f), q a near-minimax fit of degree 7 (6e-9 relative error
    of the log on the interval), evaluated by Estrin's scheme; ln 2 = LN2_HI + LN2_LO with
    LN2_HI = 0.693359375 (9 significant bits, so k * LN2_HI is exact)."""
    cdef float f2 = f * f
    cdef float f4 = f2 * f2
    cdef float q01 = fb_fmaf(f, <float>-0.25000822336020007, <float>0.3333333183926342)
    cdef float q23 = fb_fmaf(f, <float>-0.1662330509562883, <float>0.20001213314155894)
    cdef float q45 = fb_fmaf(f, <float>-0.13160966666830157, <float>0.1420204767362698)
    cdef float q67 = fb_fmaf(f, <float>-0.07630274821743878, <float>0.12759843314723363)
    cdef float q = fb_fmaf(fb_fmaf(q67, f2, q45), f4, fb_fmaf(q23, f2, q01))
    cdef float r = fb_fmaf(q, f, <float>-0.5) * f2
    r = fb_fmaf(k, <float>-2.12194440e-4, r)
    r = r + f
    return fb_fmaf(k, <float>0.693359375, r)


cdef inline float clamp_log_f32(float r) noexcept nogil:
    """max(r, -100) for r not NaN, as an unsigned min of the bit patterns (one instruction;
    the float comparison and select it replaces are two or three): the patterns of +0 ...
    +inf sort below those of -0 ... -inf, and negative floats sort by magnitude."""
    cdef uint32_t b = f2u(r)
    cdef uint32_t c = <uint32_t>0xc2c80000  # -100
    return u2f(b if b < c else c)


cdef inline float log_f32(float v) noexcept nogil:
    """max(log v, -100) for v in [+0, 2] (+0 included: log 0 = -100, torch's clamp).
    v is first scaled by 2^25 (unconditionally: a select would double the loop), so
    subnormals split like normals and 0 lands on -152 ln 2 < -100."""
    cdef uint32_t b = f2u(v * <float>33554432.0)
    # k = exponent of v * 2^25 relative to [sqrt(1/2), sqrt(2)); 0x3f3504f3 = sqrt(1/2)
    cdef int32_t k = (<int32_t>(b - <uint32_t>0x3f3504f3)) >> 23
    cdef float f = u2f(b - (<uint32_t>k << 23)) - <float>1.0
    return clamp_log_f32(log_reduced_f32(f, <float>(k - 25)))


cdef inline float log_err_f32(float v, float err) noexcept nogil:
    """max(log(v + err), -100) for v in [+0, 2] and |err| <= ulp(v) / 2, err nonzero only
    where v >= 1/2 (a rounding error of 1 - x or 1 + e)."""
    return clamp_log_f32(log_split_f32(v, err))


cdef inline float log_split_f32(float v, float err) noexcept nogil:
    """log(v + err) for v in (0, 2] (v = 0 gives a finite value below -100): v = 2^(k - 25)
    (1 + f), so err moves f by err * 2^(25 - k); that scale's exponent field, 152 - k, is
    capped at 254 so it never overflows to inf (k < -102 only for v below 2^-127, where err
    is 0). Subnormal v split exactly, thanks to the 2^25 scaling."""
    cdef uint32_t b = f2u(v * <float>33554432.0)
    cdef int32_t k = (<int32_t>(b - <uint32_t>0x3f3504f3)) >> 23
    cdef float f = u2f(b - (<uint32_t>k << 23)) - <float>1.0
    cdef int32_t e = 152 - k
    e = e if e < 254 else 254
    f = f + err * u2f(<uint32_t>e << 23)
    return log_reduced_f32(f, <float>(k - 25))


cdef inline float exp_neg_f32(float y) noexcept nogil:
    """e^y for y <= 0: y = k ln2 + r, |r| <= ln2 / 2, e^r by its Taylor polynomial to r^7
    (5e-9 relative); 2^k applied in two halves so that subnormal results round correctly;
    0 below e^-150."""
    y = y if y > <float>-150.0 else <float>-150.0
    # round to an integer with the 1.5 * 2^23 trick
    cdef float kf = fb_fmaf(y, <float>1.44269504088896341, <float>12582912.0) - <float>12582912.0
    cdef float r = fb_fmaf(kf, <float>2.12194440e-4, fb_fmaf(-kf, <float>0.693359375, y))
    cdef float p = fb_fmaf(r, <float>(1.0 / 5040), <float>(1.0 / 720))
    p = fb_fmaf(p, r, <float>(1.0 / 120))
    p = fb_fmaf(p, r, <float>(1.0 / 24))
    p = fb_fmaf(p, r, <float>(1.0 / 6))
    p = fb_fmaf(p, r, <float>0.5)
    p = fb_fmaf(p, r, <float>1.0)
    p = fb_fmaf(p, r, <float>1.0)
    cdef uint32_t u = <uint32_t>(-<int32_t>kf)  # -k >= 0
    cdef uint32_t h = u >> 1
    return p * u2f((<uint32_t>127 - h) << 23) * u2f((<uint32_t>127 - (u - h)) << 23)


# ------------------------------------------------------------------ float64 log

cdef inline double log_reduced_f64(double f, double s, double k) noexcept nogil:
    """log(2^k (1 + f)), f in [sqrt(1/2) - 1, sqrt(2) - 1], given s = f / (2 + f):
    log1p(f) = f - f^2/2 + s (f^2/2 + R), R = z P(z), z = s^2, P fitted (our own fit) to
    3e-16 absolute on [0, 0.0295]: under 1e-17 relative error of the log. s enters only
    the small last term, so a few roundings in it cost nothing visible."""
    cdef double z = s * s
    cdef double z2 = z * z
    cdef double p = fb_fma(
        z2 * z2,
        fb_fma(z2, 0.14617715567681663116,
               fb_fma(z, 0.15331609841484721018, 0.18182892825032573217)),
        fb_fma(z2, fb_fma(z, 0.22222211078348269202, 0.28571428626364704901),
               fb_fma(z, 0.39999999999898523173, 0.66666666666666697262)))
    cdef double hfsq = 0.5 * f * f
    cdef double r = fb_fma(s, fb_fma(z, p, hfsq), k * 1.9082149292705877000e-10)  # ln2 - LN2_HI
    return fb_fma(k, 6.93147180369123816490e-01, -((hfsq - r) - f))              # LN2_HI: 32 bits


# v = 2^k m with m in [sqrt(1/2), sqrt(2)), v >= 0 given by its bits (+0 and subnormals
# give k <= -1022, so their clamped logs are -100). Three small functions rather than one
# with pointer outputs: GCC vectorises only the former. No select anywhere: with one (m or
# m / 2 by a comparison), GCC evaluated the division that follows in log_pair_f64 on both
# values, two divisions per element (AVX-512).

cdef inline uint64_t _kbits_f64(uint64_t bits) noexcept nogil:
    """k + 1023: the biased exponent, plus one where the mantissa is above sqrt(2)'s (its
    field 0x6a09e667f3bcd: adding 2^52 - that - 1 carries into the exponent exactly for
    larger ones)."""
    return (bits + <uint64_t>0x00095f619980c432) >> 52


cdef inline double mant_f64(uint64_t bits) noexcept nogil:
    """m - 1, m in [sqrt(1/2), sqrt(2)) (exact: m in [1/2, 2])."""
    return u2d(bits - (_kbits_f64(bits) << 52) + <uint64_t>0x3ff0000000000000) - 1.0


cdef inline double expo_f64(uint64_t bits) noexcept nogil:
    """k as a double: exact int -> double for 0 <= biased < 2^52 from the bits of
    2^52 + biased, less 2^52 (no 64-bit integer conversion, which SIMD lacks before
    AVX-512DQ)."""
    return u2d(_kbits_f64(bits) | <uint64_t>0x4330000000000000) - (4503599627370496.0 + 1023.0)


cdef inline double inv_scale_f64(uint64_t bits) noexcept nogil:
    """2^-k, for err scaling (only meaningful where v >= 1/2)."""
    return u2d(((<uint64_t>2046 - _kbits_f64(bits)) & <uint64_t>0x7ff) << 52)


cdef inline double log_err_f64(double v, double err) noexcept nogil:
    """log(v + err) for v in [1, 2] and |err| <= ulp(v) / 2: log1p(e) = log((1 + e) + err)."""
    cdef uint64_t b = d2u(v)
    cdef double f = mant_f64(b) + err * inv_scale_f64(b)
    return log_reduced_f64(f, f / (2.0 + f), expo_f64(b))


cdef inline double log_f64(double v) noexcept nogil:
    """log v for a positive normal v."""
    cdef uint64_t b = d2u(v)
    cdef double f = mant_f64(b)
    return log_reduced_f64(f, f / (2.0 + f), expo_f64(b))


cdef inline double exp_neg_f64(double y) noexcept nogil:
    """As exp_neg_f32: Taylor to r^13 (2e-17 relative), 0 below e^-1100."""
    y = y if y > -1100.0 else -1100.0
    cdef double big = fb_fma(y, 1.4426950408889634074, 6755399441055744.0)  # 1.5 * 2^52
    cdef double kf = big - 6755399441055744.0
    cdef double r = fb_fma(-kf, 1.9082149292705877000e-10,
                           fb_fma(-kf, 6.93147180369123816490e-01, y))
    cdef double p = fb_fma(r, 1.0 / 6227020800.0, 1.0 / 479001600.0)
    p = fb_fma(p, r, 1.0 / 39916800.0)
    p = fb_fma(p, r, 1.0 / 3628800.0)
    p = fb_fma(p, r, 1.0 / 362880.0)
    p = fb_fma(p, r, 1.0 / 40320.0)
    p = fb_fma(p, r, 1.0 / 5040.0)
    p = fb_fma(p, r, 1.0 / 720.0)
    p = fb_fma(p, r, 1.0 / 120.0)
    p = fb_fma(p, r, 1.0 / 24.0)
    p = fb_fma(p, r, 1.0 / 6.0)
    p = fb_fma(p, r, 0.5)
    p = fb_fma(p, r, 1.0)
    p = fb_fma(p, r, 1.0)
    # -k from the bits of the rounding constant's sum: exact, no 64-bit conversion
    cdef uint64_t u = d2u(6755399441055744.0) - d2u(big)
    cdef uint64_t h = u >> 1
    return p * u2d((<uint64_t>1023 - h) << 52) * u2d((<uint64_t>1023 - (u - h)) << 52)


# ------------------------------------------------------------------ range checks

cdef inline uint32_t out_of_unit_f32(float v) noexcept nogil:
    """1 if v is outside [0, 1] or NaN: the bit patterns of +0 ... 1 are exactly the
    integers 0 ... 0x3f800000, and v + 0 turns -0 into +0."""
    return f2u(v + <float>0.0) > <uint32_t>0x3f800000


cdef inline uint64_t out_of_unit_f64(double v) noexcept nogil:
    return d2u(v + 0.0) > <uint64_t>0x3ff0000000000000


# ------------------------------------------------------------------ probabilities

cdef inline float prob_loss_f32(float x, float t) noexcept nogil:
    """-(t max(log x, -100) + (1 - t) max(log(1 - x), -100)), torch's loss.

    With 16 vector registers: two general logs, log x and log(1 - x) = log(w + err), w =
    1 - x rounded and err its exact rounding error (Fast2Sum, as 1 >= |x|), so that it
    stays accurate for tiny x without a separate log1p.

    With 32 (AVX-512): one general log, of u = min(x, 1 - x) (exact: 1 - x is exact for
    x >= 1/2), which may be tiny or subnormal. The other of x and 1 - x is v = 1 - u in
    [1/2, 1], whose log needs no exponent split: log v = log1p(-u) for u <= 1 - sqrt(1/2),
    else -ln 2 + log1p(1 - 2u), both arguments exact and in the polynomial's interval."""
    x = x + <float>0.0
    cdef float w = <float>1.0 - x
    cdef float err
    if not FB_WIDE_REGS:
        err = (<float>1.0 - w) - x
        return (t - <float>1.0) * log_err_f32(w, err) - t * log_f32(x)
    cdef bint low = x <= <float>0.5
    cdef float u = x if low else w
    cdef bint near = u <= <float>0.29289323
    # -u (near) or 1 - 2u as one FMA whose constants are selected (the same bits as a
    # select of the two results; that form measured 6-7% slower in the AVX-512 float32
    # 0/1-target fwd+grad, in-process A/B, and no faster elsewhere)
    cdef float lv = log_reduced_f32(fb_fmaf(u, <float>-1.0 if near else <float>-2.0,
                                            <float>0.0 if near else <float>1.0),
                                    <float>0.0 if near else <float>-1.0)
    cdef float lu = log_f32(u)
    return (t - <float>1.0) * (lv if low else lu) - t * (lu if low else lv)


cdef inline float prob_loss_hard_f32(float x, float t) noexcept nogil:
    """prob_loss_f32 for t = 0 or 1, with one log: -log x (t = 1) or -log(1 - x) (t = 0),
    the same value (the products by 0 and 1 above are exact; a zero loss may differ in
    sign)."""
    x = x + <float>0.0
    cdef float w = <float>1.0 - x
    cdef float err = (<float>1.0 - w) - x
    cdef bint one = t == <float>1.0
    return -log_err_f32(x if one else w, <float>0.0 if one else err)


cdef inline double log_pair_f64(double x, bint of_x) noexcept nogil:
    """max(log x, -100) (of_x) or max(log(1 - x), -100), for x in [+0, 1] with -0 already
    turned into +0. Both logs' s = f / (2 + f) come from one division, 1 / ((2 + fx)(2 + fw)),
    so a log is the same value computed alone or beside the other (the compiler shares the
    common work of two calls). x = 0, subnormal x and 1 - x = 0 land below -708: clamped."""
    cdef double w = 1.0 - x
    cdef double err = (1.0 - w) - x
    cdef uint64_t bx = d2u(x)
    cdef uint64_t bw = d2u(w)
    cdef double fx = mant_f64(bx)
    cdef double fw = mant_f64(bw) + err * inv_scale_f64(bw)
    cdef double ax = 2.0 + fx
    cdef double aw = 2.0 + fw
    cdef double r = 1.0 / (ax * aw)
    cdef double l = log_reduced_f64(fx if of_x else fw, fx * aw * r if of_x else fw * ax * r,
                                    expo_f64(bx) if of_x else expo_f64(bw))
    return l if l > -100.0 else -100.0


cdef inline double prob_loss_f64(double x, double t) noexcept nogil:
    """As prob_loss_f32, with two logs that share one division (log_pair_f64); with 32
    registers, as prob_loss_f32 there: one general log, of u = min(x, 1 - x), and log(1 - u)
    from the polynomial alone, the two s = f / (2 + f) again from one division."""
    x = x + 0.0
    if not FB_WIDE_REGS:
        return (t - 1.0) * log_pair_f64(x, False) - t * log_pair_f64(x, True)
    cdef double w = 1.0 - x
    cdef bint low = x <= 0.5
    cdef double u = x if low else w
    cdef bint near = u <= 0.29289321881345254
    # -u (near) or 1 - 2u as in prob_loss_f32 (here the two forms measured the same)
    cdef double fv = fb_fma(u, -1.0 if near else -2.0, 0.0 if near else 1.0)
    cdef uint64_t bu = d2u(u)
    cdef double fu = mant_f64(bu)
    cdef double au = 2.0 + fu
    cdef double av = 2.0 + fv
    cdef double r = 1.0 / (au * av)
    cdef double lu = log_reduced_f64(fu, fu * av * r, expo_f64(bu))
    lu = lu if lu > -100.0 else -100.0
    cdef double lv = log_reduced_f64(fv, fv * au * r, 0.0 if near else -1.0)
    return (t - 1.0) * (lv if low else lu) - t * (lu if low else lv)


cdef inline double prob_loss_hard_f64(double x, double t) noexcept nogil:
    """prob_loss_f64 for t = 0 or 1 with one log polynomial: -log x (t = 1) or -log(1 - x)
    (t = 0), the same value (a zero loss may differ in sign)."""
    x = x + 0.0
    return -log_pair_f64(x, t == 1.0)


cdef inline float prob_grad_f32(float x, float t) noexcept nogil:
    """d loss / dx before scaling: (x - t) / max(x (1 - x), eps), torch's formula. x (1 - x)
    is x - x^2 rounded once where FMA is one instruction, else torch's (1 - x) x (1 - x is
    exact for x >= 1/2; a second rounding below). eps is torch's: 1e-12 stored as a float32
    (9.99999996e-13), for every dtype."""
    cdef float eps = <float>1e-12
    cdef float d
    if FB_FUSED:
        d = fb_fmaf(x, -x, x)
    else:
        d = (<float>1.0 - x) * x
    # max(d, eps) as a signed integer max of the bit patterns (one instruction where a float
    # comparison compiles to a compare and a blend): the order of the floats d >= +0, and
    # -0 (x = -0) is below eps (other x raise an error)
    return (x - t) / u2f(<uint32_t>(<int32_t>f2u(d) if <int32_t>f2u(d) > <int32_t>f2u(eps)
                                    else <int32_t>f2u(eps)))


cdef inline double prob_grad_f64(double x, double t) noexcept nogil:
    cdef double eps = <double>(<float>1e-12)
    cdef double d
    if FB_FUSED:
        d = fb_fma(x, -x, x)
    else:
        d = (1.0 - x) * x
    return (x - t) / (d if d > eps else eps)


# ------------------------------------------------------------------ probabilities, unclamped
#
# clamp_log=False: the exact loss -(t log x + (1 - t) log(1 - x)), with 0 log 0 = 0 (a term
# whose weight t or 1 - t is 0 contributes 0, even where its log is -inf), so +inf only at a
# wrong saturated prediction (x = 0 with t > 0, x = 1 with t < 1); and the exact derivative
# (x - t) / (x (1 - x)) = (1 - t) / (1 - x) - t / x, with its limits at x = 0 and 1.

cdef inline float log_raw_f32(float v, float err) noexcept nogil:
    """log(v + err) for v in [+0, 2], err as in log_err_f32, without the clamp: -inf at
    v = 0."""
    cdef float r = log_split_f32(v, err)
    return r if v > <float>0.0 else -u2f(<uint32_t>0x7f800000)


cdef inline double log_raw_f64(double v, double err) noexcept nogil:
    """log(v + err) for v in (0, 2], |err| <= ulp(v) / 2, any v > 0 (a subnormal is scaled
    by 2^54 first); -inf at v = 0."""
    cdef bint sub = v < 2.2250738585072014e-308
    cdef uint64_t b = d2u(v * 18014398509481984.0 if sub else v)
    cdef double f = mant_f64(b) + err * inv_scale_f64(b)
    cdef double r = log_reduced_f64(f, f / (2.0 + f), expo_f64(b) - (54.0 if sub else 0.0))
    return r if v > 0.0 else -u2d(<uint64_t>0x7ff0000000000000)


# ------------------------------------------------------------------ one name for both dtypes
#
# The closed forms that are the same code in float32 and float64 are written once over the
# fused type ``floating``; these pick each dtype's primitive. (The logs and exp(-|x|) above
# really differ between the dtypes and stay apart.)

cdef inline floating fma_of(floating a, floating b, floating c) noexcept nogil:
    if floating is float:
        return fb_fmaf(a, b, c)
    else:
        return fb_fma(a, b, c)


cdef inline floating neg_abs(floating x) noexcept nogil:
    """-|x|, by setting the sign bit."""
    if floating is float:
        return u2f(f2u(x) | <uint32_t>0x80000000)
    else:
        return u2d(d2u(x) | <uint64_t>0x8000000000000000)


cdef inline floating infinity(floating like) noexcept nogil:
    if floating is float:
        return u2f(<uint32_t>0x7f800000)
    else:
        return u2d(<uint64_t>0x7ff0000000000000)


cdef inline floating exp_neg(floating y) noexcept nogil:
    if floating is float:
        return exp_neg_f32(y)
    else:
        return exp_neg_f64(y)


cdef inline floating log_err(floating v, floating err) noexcept nogil:
    if floating is float:
        return log_err_f32(v, err)
    else:
        return log_err_f64(v, err)


cdef inline floating log_raw(floating v, floating err) noexcept nogil:
    if floating is float:
        return log_raw_f32(v, err)
    else:
        return log_raw_f64(v, err)


# ------------------------------------------------------------------ logits
#
# With pw the positive-class weight (1 without pos_weight), a = pw t + (1 - t):
#   loss = (1 - t) x + lw softplus(-x),  lw = 1 + (pw - 1) t = a
#   grad = a sigmoid(x) - pw t,  hess = a sigmoid(x) (1 - sigmoid(x))
# softplus(-x) = max(-x, 0) + log1p(e), e = exp(-|x|): finite for every finite x.
# unit (a constant at every call): pw is 1, and then a = t + (1 - t) = 1 exactly for t in
# [0, 1] (1 - t is exact for t >= 1/2; below, it is off by at most 2^-54, which the sum
# rounds away, ties to the even 1), so a is taken as 1: the same bits, fewer operations.
# (1 - t) x + lw max(-x, 0) is (1 - t) x for x >= 0 and -pw t x below: two terms that
# cannot cancel (torch's sum of three does, for confident logits).

cdef inline floating logit_loss(floating x, floating t, floating pw, bint unit) noexcept nogil:
    cdef floating e = exp_neg(neg_abs(x))  # exp(-|x|)
    cdef floating v = <floating>1.0 + e
    cdef floating lin = (<floating>1.0 - t) * x if x >= <floating>0.0 else -(pw * (t * x))
    # a right answer at an infinite logit: its limit 0, not 0 * inf
    lin = lin if (t != <floating>1.0) & (x >= <floating>0.0) | (t != <floating>0.0) & (
        x < <floating>0.0) else <floating>0.0
    # pw t + (1 - t), never 1 + (pw - 1) t (which cancels for a small pw)
    cdef floating lw = <floating>1.0 if unit else pw * t + (<floating>1.0 - t)
    return lin + lw * log_err(v, (<floating>1.0 - v) + e)


cdef inline floating logit_grad(floating x, floating t, floating pw, floating* hess,
                                bint unit) noexcept nogil:
    """grad (returned) and hess (stored) of the logits loss. Where sigmoid(x) is near 1,
    a sigmoid(x) - pw t is computed as (1 - t) - a (1 - sigmoid(x)): no cancellation;
    a = pw t + (1 - t), never (pw t + 1) - t (which cancels for small pw)."""
    cdef floating e = exp_neg(neg_abs(x))
    cdef floating r = <floating>1.0 / (<floating>1.0 + e)
    cdef bint pos = x >= <floating>0.0
    cdef floating sig = r if pos else e * r
    cdef floating omsig = e * r if pos else r
    cdef floating pt = pw * t
    cdef floating a = <floating>1.0 if unit else pt + (<floating>1.0 - t)
    hess[0] = a * sig * omsig
    return (<floating>1.0 - t) - a * omsig if pos else a * sig - pt


# (probabilities, unclamped: the forms described above log_raw_f32)

cdef inline floating prob_loss_exact(floating x, floating t) noexcept nogil:
    x = x + <floating>0.0
    cdef floating w = <floating>1.0 - x
    cdef floating err = (<floating>1.0 - w) - x
    cdef floating a = t * log_raw(x, <floating>0.0)
    cdef floating b = (t - <floating>1.0) * log_raw(w, err)
    # (+ 0 turns the -0 of a perfect prediction into +0)
    return ((b if t != <floating>1.0 else <floating>0.0)
            - (a if t != <floating>0.0 else <floating>0.0)) + <floating>0.0


cdef inline floating prob_grad_exact(floating x, floating t) noexcept nogil:
    cdef floating inf = infinity(x)
    cdef floating r = (x - t) / ((<floating>1.0 - x) * x)
    r = r if x != <floating>0.0 else (<floating>1.0 if t == <floating>0.0 else -inf)
    return r if x != <floating>1.0 else (<floating>-1.0 if t == <floating>1.0 else inf)


# ------------------------------------------------------------------ focal loss (logits)
#
# torchvision's sigmoid_focal_loss: with s = sigmoid(x), ce the logits BCE (pw = 1),
# u = 1 - p_t = t (1 - s) + (1 - t) s and A = alpha t + (1 - alpha)(1 - t) (1 if alpha < 0):
#   loss = A ce u^g
#   grad = A u^g B,  B = (s - t) + k ce r,  k = g (1 - 2t),  r = s (1 - s) / u
#   hess = A u^g (s (1 - s) + 2 k (s - t) r + k ce r (1 - 2s) + g (g - 1)(1 - 2t)^2 ce r^2)
# (d u / dx = (1 - 2t) s (1 - s) and d r / dx = r (1 - 2s) - (1 - 2t) r^2). Everything is
# written with e = exp(-|x|): u = D / (1 + e), D = t e + (1 - t) for x >= 0 and
# (1 - t) e + t below; r = e / ((1 + e) D) lies in [0, 2]; u^g = exp(g (log D - log1p e)), with
# u^0 = 1 (0^0 included, as torch's pow). No term overflows for any finite x: ce <= |x| +
# ln 2, r <= 2, u^g <= 1. D = 0 (a 0/1 target on the right side, e = 0) is the limit
# r = 1 / (1 + e). At x = +-inf, r = 0 and ce = inf: ce r is taken as its limit, 0, so the
# gradient and hessian are the limits (A u^g (s - t) and 0).


cdef inline floating focal(floating x, floating t, floating alpha, floating gamma,
                           floating* grad, floating* hess) noexcept nogil:
    """The focal loss (returned), its gradient and hessian (stored) for one element."""
    cdef floating e = exp_neg(neg_abs(x))
    cdef floating v = <floating>1.0 + e
    cdef floating sp = log_err(v, (<floating>1.0 - v) + e)  # log1p(e)
    cdef floating q = <floating>1.0 / v
    cdef bint pos = x >= <floating>0.0
    cdef floating s = q if pos else e * q
    cdef floating oms = e * q if pos else q
    cdef floating ce = (((<floating>1.0 - t) * x if pos else -(t * x))
                        if (t != <floating>1.0) & pos | (t != <floating>0.0) & (not pos)
                        else <floating>0.0) + sp
    cdef floating dce = (<floating>1.0 - t) - oms if pos else s - t
    cdef floating omt1 = <floating>1.0 - t
    # D = tt e + (1 - tt), tt = t (x >= 0) or 1 - t, with 1 - tt never formed (it would
    # round away the low bits of a small t)
    cdef floating d = fma_of(t, e, omt1) if pos else fma_of(omt1, e, t)
    cdef floating lu = log_raw(d, <floating>0.0) - sp
    cdef floating ug = exp_neg(gamma * lu) if gamma != <floating>0.0 else <floating>1.0
    cdef floating r = (e * q) / d if d > <floating>0.0 else q
    cdef floating a = (alpha * t + (<floating>1.0 - alpha) * (<floating>1.0 - t)
                       if alpha >= <floating>0.0 else <floating>1.0)
    cdef floating omt = <floating>1.0 - <floating>2.0 * t
    cdef floating k = gamma * omt
    # (ce r -> 0 as |x| -> inf: at x = +-inf, ce = inf and r = 0, whose product is NaN)
    cdef floating cer = ce * r if r != <floating>0.0 else <floating>0.0
    cdef floating au = a * ug
    grad[0] = au * fma_of(k, cer, dce)
    hess[0] = au * (s * oms + k * (<floating>2.0 * dce * r + cer * (oms - s))
                    + gamma * (gamma - <floating>1.0) * omt * omt * cer * r)
    return au * ce
