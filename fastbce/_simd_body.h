/* Vectorised segment kernels. Included by _simd.h once per instruction set, with FB_ISA(name)
 * renaming every function; nothing here may depend on which set it is compiled for, except
 * through the compiler's own code generation.
 *
 * A segment is a contiguous run of elements that shares one weight mode: no weight, one
 * weight for all (wstep 0) or a weight per element (wstep 1). Work is done on whole vectors;
 * the last partial vector is padded with zeros (valid for both families) and masked out of
 * the sums, so every element -- whatever its position -- goes through the same arithmetic
 * (except that a vector of 0/1 targets evaluates one log, with the same values). Summed
 * losses may instead be taken as the log of a product ("summed logs as products" below);
 * per-element outputs and gradients are the same bits either way.
 */

/* ------------------------------------------------------------------ lane helpers */

/* max(a, b) lane by lane (b where a is NaN; never reached for valid data) */
static inline fb_f32x8 FB_ISA(max_f32)(fb_f32x8 a, fb_f32x8 b)
{
#ifdef __AVX__
    return __builtin_ia32_maxps256(a, b);
#else
    return FB_SEL(fb_f32x8, a > b, a, b);
#endif
}

static inline fb_f64x4 FB_ISA(max_f64)(fb_f64x4 a, fb_f64x4 b)
{
#ifdef __AVX__
    return __builtin_ia32_maxpd256(a, b);
#else
    return FB_SEL(fb_f64x4, a > b, a, b);
#endif
}

static inline fb_u32x8 FB_ISA(max_u32)(fb_u32x8 a, fb_u32x8 b)
{
#ifdef __AVX2__
    return (fb_u32x8)__builtin_ia32_pmaxud256((fb_i32x8)a, (fb_i32x8)b);
#else
    return FB_SEL(fb_u32x8, (fb_i32x8)(a > b), a, b);
#endif
}

/* ------------------------------------------------------------------ summed logs as products */

/* Probabilities: with 0/1 targets, no label smoothing and no per-element weight, the summed
 * loss is -sum log q, q = x where t = 1 and 1 - x where t = 0: the log of a product. The
 * factors are multiplied in float64 a group of vectors at a time, and after each group the
 * exponents of the running products move into an integer count, so no log is taken per
 * element: one per lane at the end of the segment. A group takes this path only if every element in it is
 * valid and far enough from the clamp and from a tiny loss that a float64 product loses
 * nothing a per-element log would keep (group_f32 / group_f64 say how far); any other group
 * goes through the per-element path, which also raises the range flags.
 * Logits: without pos_weight, the loss is max(x, 0) - t x + log1p(e), e = exp(-|x|), for any
 * t: the first part is summed in float64 (t x is exact there) and the log1p is the log of the
 * product of 1 + e (group_logit_f32). */
typedef struct {
    fb_f64x4 p0, p1;     /* running products, renormalised to [1, 2) after every group */
    fb_i64x4 e;          /* the biased exponents taken out of them */
    ptrdiff_t renorms;   /* groups taken: each added 2 * 1023 of bias to every lane of e */
    fb_f64x4 lin;        /* logits: the part of their loss outside the log, summed */
} FB_ISA(prod);

static inline fb_f64x4 FB_ISA(renorm)(fb_f64x4 p, fb_i64x4* e)
{
    fb_u64x4 bits = (fb_u64x4)p;
    *e += (fb_i64x4)((bits >> 52) & 0x7ffu);  /* the sign (of factors x - 1) is dropped */
    return (fb_f64x4)((bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull);
}

static inline void FB_ISA(prod_mul)(FB_ISA(prod)* a, fb_f64x4 g0, fb_f64x4 g1)
{
    a->p0 = FB_ISA(renorm)(a->p0 * g0, &a->e);
    a->p1 = FB_ISA(renorm)(a->p1 * g1, &a->e);
    a->renorms++;
}

static inline fb_f64x4 FB_ISA(log_f64)(fb_f64x4 v, fb_f64x4 err);

/* the sum of log q over every factor taken */
static double FB_ISA(prod_log)(const FB_ISA(prod)* a)
{
    fb_f64x4 l = FB_ISA(log_f64)(a->p0, FB_SPLAT4D(0.0)) + FB_ISA(log_f64)(a->p1, FB_SPLAT4D(0.0));
    double sum = 0.0;
    for (int j = 0; j < 4; j++) {
        double k = (double)(a->e[j] - 2046 * (int64_t)a->renorms);  /* exact */
        sum += (k * 6.93147180369123816490e-01 + l[j]) + k * 1.9082149292705877000e-10;
    }
    return sum;
}

/* ------------------------------------------------------------------ float32, 8 lanes */

/* log(2^k * (1 + f)) for f in [sqrt(1/2) - 1, sqrt(2) - 1]:
 * log1p(f) = f - f^2/2 + f^3 q(f), q fitted (near-minimax, our own fit) to 6e-9 relative error
 * of the log on that interval; ln 2 split so that k * LN2_HI is exact. */
static inline fb_f32x8 FB_ISA(log_reduced_f32)(fb_f32x8 f, fb_f32x8 k)
{
    /* Estrin's scheme: a shallow dependency chain, so vectors overlap in the pipeline */
    fb_f32x8 f2 = f * f;
    fb_f32x8 f4 = f2 * f2;
    fb_f32x8 q01 = f * -0.25000822336020007f + 0.3333333183926342f;
    fb_f32x8 q23 = f * -0.1662330509562883f + 0.20001213314155894f;
    fb_f32x8 q45 = f * -0.13160966666830157f + 0.1420204767362698f;
    fb_f32x8 q67 = f * -0.07630274821743878f + 0.12759843314723363f;
    fb_f32x8 q = (q67 * f2 + q45) * f4 + (q23 * f2 + q01);
    fb_f32x8 r = (q * f - 0.5f) * f2;
    r = k * -2.12194440e-4f + r;      /* ln2 - LN2_HI */
    r = r + f;
    return k * 0.693359375f + r;      /* LN2_HI: 9 significant bits, k * LN2_HI exact */
}

/* log(v) for v in [0, 1], clamped at -100 as torch does (so log(0) = -100): v is scaled by
 * 2^25 first, so subnormals split like normals, and 0 lands on -152 ln 2 < -100.
 * With WITH_ERR, log(v + err) for |err| <= ulp(v) / 2. */
static inline __attribute__((always_inline)) fb_f32x8 FB_ISA(log_f32)(
    fb_f32x8 v, fb_f32x8 err, const int WITH_ERR)
{
    /* unsigned arithmetic: negative v (invalid, flagged elsewhere) must not overflow */
    fb_u32x8 bits = (fb_u32x8)(v * 0x1p25f);
    fb_i32x8 k = (fb_i32x8)(bits - 0x3f3504f3u) >> 23;   /* 0x3f3504f3: sqrt(1/2) */
    fb_f32x8 f = (fb_f32x8)(bits - ((fb_u32x8)k << 23)) - 1.0f;
    if (WITH_ERR) {
        /* v = 2^(k - 25) m, so err moves the reduced argument by err * 2^(25 - k) */
        f += err * (fb_f32x8)((fb_u32x8)(152 - k) << 23);
    }
    fb_f32x8 l = FB_ISA(log_reduced_f32)(f, __builtin_convertvector(k - 25, fb_f32x8));
    return FB_ISA(max_f32)(l, FB_SPLAT8(-100.0f));
}

/* per-element loss (t - 1) * max(log1p(-x), -100) - t * max(log(x), -100) */
/* 1 if every lane of the mask is set */
static inline int FB_ISA(all_f32)(fb_i32x8 m)
{
#if defined(__AVX__)
    return __builtin_ia32_movmskps256((fb_f32x8)m) == 0xff;
#elif defined(__SSE__)
    typedef float f32x4 __attribute__((vector_size(16)));
    fb_f32x8 v = (fb_f32x8)m;
    f32x4 lo = __builtin_shufflevector(v, v, 0, 1, 2, 3), hi = __builtin_shufflevector(v, v, 4, 5, 6, 7);
    return (__builtin_ia32_movmskps(lo) & __builtin_ia32_movmskps(hi)) == 0xf;
#else
    int all = 1;
    for (int j = 0; j < 8; j++)
        all &= m[j] != 0;
    return all;
#endif
}

/* 1 if every lane of the mask is set */
static inline int FB_ISA(all_f64)(fb_i64x4 m)
{
#if defined(__AVX__)
    return __builtin_ia32_movmskpd256((fb_f64x4)m) == 0xf;
#else
    return FB_ISA(all_f32)((fb_i32x8)m);  /* the halves of each 64-bit lane are equal */
#endif
}

static inline fb_f32x8 FB_ISA(loss_f32)(fb_f32x8 x, fb_f32x8 t)
{
    /* log1p(-x) = log(w + err): w = 1 - x rounded, err its exact rounding error (Fast2Sum,
     * as 1 >= |x|), so log1p stays accurate for tiny x without a separate kernel */
    fb_f32x8 w = 1.0f - x;
    fb_f32x8 err = (1.0f - w) - x;
    fb_i32x8 one = t == 1.0f;
    if (FB_ISA(all_f32)(one | (t == 0.0f))) {
        /* hard 0/1 targets: one log per element. The same value as below, whose products
         * with t = 0 or 1 are exact: -log(x) for t = 1, -log1p(-x) for t = 0 (a zero loss
         * may differ in sign) */
        fb_f32x8 v = FB_SEL(fb_f32x8, one, x, w);
        fb_f32x8 e = (fb_f32x8)(~one & (fb_i32x8)err);
        return -FB_ISA(log_f32)(v, e, 1);
    }
    fb_f32x8 lx = FB_ISA(log_f32)(x, err, 0);
    fb_f32x8 l1x = FB_ISA(log_f32)(w, err, 1);
    return (t - 1.0f) * l1x - t * lx;
}

/* bit patterns of floats in [+0, 1] are exactly the unsigned integers 0 ... 0x3f800000, and
 * v + 0 turns -0 into +0: the running unsigned maximum of these tells if any v was outside
 * [0, 1] or NaN */
static inline fb_u32x8 FB_ISA(range_f32)(fb_u32x8 acc, fb_f32x8 v)
{
    return FB_ISA(max_u32)(acc, (fb_u32x8)(v + 0.0f));
}

/* float32 lanes 0-3 (lo) or 4-7 (hi) widened to float64. With AVX, the builtins: GCC 12
 * lowers the generic conversions and shuffles partly through memory (store-forwarding
 * stalls in the hot loop). */
static inline fb_f64x4 FB_ISA(lo_f64)(fb_f32x8 v)
{
    typedef float f32x4 __attribute__((vector_size(16)));
    f32x4 h = __builtin_shufflevector(v, v, 0, 1, 2, 3);
#ifdef __AVX__
    return __builtin_ia32_cvtps2pd256(h);
#else
    return __builtin_convertvector(h, fb_f64x4);
#endif
}

static inline fb_f64x4 FB_ISA(hi_f64)(fb_f32x8 v)
{
#ifdef __AVX__
    return __builtin_ia32_cvtps2pd256(__builtin_ia32_vextractf128_ps256(v, 1));
#else
    return __builtin_convertvector(__builtin_shufflevector(v, v, 4, 5, 6, 7), fb_f64x4);
#endif
}

/* float32(q * c), lanes 0-3 scaled by c0 and 4-7 by c1, the product taken in float64 */
static inline fb_f32x8 FB_ISA(join_f32)(fb_f32x8 q, fb_f64x4 c0, fb_f64x4 c1)
{
    typedef float f32x4 __attribute__((vector_size(16)));
#ifdef __AVX__
    f32x4 lo = __builtin_ia32_cvtpd2ps256(FB_ISA(lo_f64)(q) * c0);
    f32x4 hi = __builtin_ia32_cvtpd2ps256(FB_ISA(hi_f64)(q) * c1);
#else
    f32x4 lo = __builtin_convertvector(FB_ISA(lo_f64)(q) * c0, f32x4);
    f32x4 hi = __builtin_convertvector(FB_ISA(hi_f64)(q) * c1, f32x4);
#endif
    return __builtin_shufflevector(lo, hi, 0, 1, 2, 3, 4, 5, 6, 7);
}

/* e^y for y <= 0, y = k ln2 + r, |r| <= ln2 / 2, e^r by its Taylor polynomial to r^7
 * (5e-9 relative); 2^k applied in two halves so subnormal results round correctly; 0 below
 * e^-150 */
static inline fb_f32x8 FB_ISA(exp_neg_f32)(fb_f32x8 y)
{
    y = FB_ISA(max_f32)(y, FB_SPLAT8(-150.0f));
    fb_f32x8 kf = (y * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  /* round: 1.5 * 2^23 */
    fb_f32x8 r = (y - kf * 0.693359375f) + kf * 2.12194440e-4f;          /* ln2 split as in log */
    fb_f32x8 p = r * (1.0f / 5040) + (1.0f / 720);
    p = p * r + (1.0f / 120);
    p = p * r + (1.0f / 24);
    p = p * r + (1.0f / 6);
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    fb_u32x8 u = (fb_u32x8)(-__builtin_convertvector(kf, fb_i32x8));  /* -k >= 0 */
    fb_u32x8 h = u >> 1;
    return p * (fb_f32x8)((127u - h) << 23) * (fb_f32x8)((127u - (u - h)) << 23);
}

/* the logits family at one vector: loss, d loss / dx and d2 loss / dx2 per element,
 * a = pw t + 1 - t the positive-class weighting (1 without pos_weight):
 *   loss = (1 - t) x + a' softplus(-x), a' = 1 + (pw - 1) t
 *   grad = a sigmoid(x) - pw t,  hess = a sigmoid(x) (1 - sigmoid(x))
 * softplus(-x) = max(-x, 0) + log1p(e), e = exp(-|x|): finite for every finite x */
typedef struct {
    fb_f32x8 loss, grad, hess;
} FB_ISA(logit_f32);

/* a b + c, rounded once where the instruction set has FMA */
static inline fb_f32x8 FB_ISA(fma_f32)(fb_f32x8 a, fb_f32x8 b, fb_f32x8 c)
{
#ifdef __FMA__
    return __builtin_ia32_vfmaddps256(a, b, c);
#else
    return a * b + c;
#endif
}

/* grad and hess from e = exp(-|x|), pt = pw t and a = pw t + 1 - t */
static inline void FB_ISA(logit_sig_f32)(
    FB_ISA(logit_f32)* o, fb_f32x8 x, fb_f32x8 t, fb_f32x8 e, fb_f32x8 pt, fb_f32x8 a)
{
    fb_f32x8 r = 1.0f / (1.0f + e);
    fb_i32x8 pos = x >= 0.0f;
    fb_f32x8 sig = FB_SEL(fb_f32x8, pos, FB_SPLAT8(1.0f), e) * r;
    fb_f32x8 omsig = FB_SEL(fb_f32x8, pos, e, FB_SPLAT8(1.0f)) * r;
    /* a sig - pw t, written as (1 - t) - a (1 - sig) where sig is near 1: no cancellation.
     * Explicit FMAs: the compiler's own contraction depends on whether a is a known
     * constant, and the group and per-element paths must give the same bits */
    fb_f32x8 g_pos = FB_ISA(fma_f32)(-a, omsig, 1.0f - t), g_neg = FB_ISA(fma_f32)(a, sig, -pt);
    o->grad = FB_SEL(fb_f32x8, pos, g_pos, g_neg);
    o->hess = a * sig * omsig;
}

static inline __attribute__((always_inline)) FB_ISA(logit_f32) FB_ISA(logit_math_f32)(
    fb_f32x8 x, fb_f32x8 t, fb_f32x8 pw, const int PW, const int LOSS, const int NEED_SIG)
{
    FB_ISA(logit_f32) o;
    fb_f32x8 e = FB_ISA(exp_neg_f32)((fb_f32x8)((fb_i32x8)x | (fb_i32x8)FB_SPLAT8(-0.0f)));
    fb_f32x8 v = 1.0f + e;
    fb_f32x8 pt = PW ? pw * t : t;
    fb_f32x8 a = PW ? pt + 1.0f - t : FB_SPLAT8(1.0f);
    if (LOSS) {
        /* (1 - t) x + lw max(-x, 0) is (1 - t) x for x >= 0 and -pw t x below: two terms
         * that cannot cancel (torch's sum of the three does, for confident logits) */
        fb_f32x8 lin = FB_SEL(fb_f32x8, x >= 0.0f, (1.0f - t) * x, -(pt * x));
        fb_f32x8 lw = PW ? (pw - 1.0f) * t + 1.0f : FB_SPLAT8(1.0f);
        o.loss = lin + lw * FB_ISA(log_f32)(v, (1.0f - v) + e, 1);
    }
    if (NEED_SIG)
        FB_ISA(logit_sig_f32)(&o, x, t, e, pt, a);
    return o;
}

/* d loss / dx of the probability family before scaling: (x - t) / max(x (1 - x), eps) */
static inline fb_f32x8 FB_ISA(prob_grad_f32)(fb_f32x8 x, fb_f32x8 t)
{
#ifdef __FMA__
    fb_f32x8 d = x - x * x;  /* fused: x - x^2 rounded once */
#else
    fb_f32x8 d = (1.0f - x) * x;  /* torch's form; 1 - x is exact for x >= 1/2 */
#endif
    return (x - t) / FB_ISA(max_f32)(d, FB_SPLAT8(FB_GRAD_EPS_F));
}

/* stores q times g * w (g already divided by N for "mean"), rounded once more at most: the
 * scaling is done in float64, or, for one upstream gradient and no weight, with FMA, as
 * q g_hi + q g_lo, g split into two floats */
static inline __attribute__((always_inline)) void FB_ISA(store_grad_f32)(
    const fb_seg* s, ptrdiff_t i, int rem, fb_f32x8 q, fb_f32x8 wv, fb_f32x8 gv,
    const int W, const int GRAD)
{
    fb_f32x8 gr;
#ifdef __FMA__
    if (GRAD == 1 && !W) {
        float hi = (float)s->gscale, lo = (float)(s->gscale - (double)hi);
        gr = FB_ISA(fma_f32)(q, FB_SPLAT8(hi), q * lo);
        memcpy((float*)s->grad + i, &gr, rem * sizeof(float));
        return;
    }
#endif
    fb_f64x4 c0 = FB_SPLAT4D(s->gscale), c1 = c0;
    if (GRAD == 2) {
        c0 = FB_ISA(lo_f64)(gv);
        c1 = FB_ISA(hi_f64)(gv);
    }
    if (W) {
        c0 *= FB_ISA(lo_f64)(wv);
        c1 *= FB_ISA(hi_f64)(wv);
    }
    gr = FB_ISA(join_f32)(q, c0, c1);
    memcpy((float*)s->grad + i, &gr, rem * sizeof(float));
}

typedef struct {
    fb_f64x4 sum0, sum1;
    fb_u32x8 rx, rt;
} FB_ISA(acc_f32);

/* one vector of 8 elements. LOSS: 0 none, 1 store, 2 sum; W: 0 none, 1 one weight, 2 per
 * element; GRAD: 0 none, 1 scalar upstream gradient, 2 per element; LOGITS: the family.
 * Constant arguments at every call, so each combination compiles to its own loop. */
static inline __attribute__((always_inline)) void FB_ISA(step_f32)(
    const fb_seg* s, ptrdiff_t i, int rem, FB_ISA(acc_f32)* a,
    const int LOSS, const int W, const int GRAD, const int LOGITS)
{
    fb_f32x8 xv, tv, wv = FB_SPLAT8(1.0f), gv = FB_SPLAT8(1.0f), pwv = FB_SPLAT8(1.0f);
    const int PW = LOGITS && s->pw != NULL;
    /* the last partial vector is padded with zeros (x = t = 0: valid for both families) */
    FB_LOAD(float, 8, xv, s->x, i, rem);
    FB_LOAD(float, 8, tv, s->t, i, rem);
    if (W == 2)
        FB_LOAD(float, 8, wv, s->w, i, rem);
    if (W == 1)
        wv = FB_SPLAT8(((const float*)s->w)[0]);
    if (GRAD == 2)
        FB_LOAD(float, 8, gv, s->gvec, i, rem);
    if (PW) {
        if (s->pwstep)
            FB_LOAD(float, 8, pwv, s->pw, i, rem);
        else
            pwv = FB_SPLAT8(((const float*)s->pw)[0]);
    }
    if (LOGITS)
        a->rx |= (fb_u32x8)(xv != xv);  /* NaN logits */
    else
        a->rx = FB_ISA(range_f32)(a->rx, xv);
    a->rt = FB_ISA(range_f32)(a->rt, tv);
    if (s->ls != 0.0)
        tv = tv * (float)(1.0 - s->ls) + (float)(0.5 * s->ls);
    fb_f32x8 l = FB_SPLAT8(0.0f), q = FB_SPLAT8(0.0f);
    if (LOGITS) {
        FB_ISA(logit_f32) o = FB_ISA(logit_math_f32)(xv, tv, pwv, PW, LOSS, GRAD || s->hess != NULL);
        l = o.loss;
        q = o.grad;
        if (s->hess != NULL) {
            fb_f32x8 h = W ? o.hess * wv : o.hess;
            memcpy((float*)s->hess + i, &h, rem * sizeof(float));
        }
    } else {
        if (LOSS)
            l = FB_ISA(loss_f32)(xv, tv);
        if (GRAD)
            q = FB_ISA(prob_grad_f32)(xv, tv);
    }
    if (LOSS) {
        if (W)
            l = l * wv;
        if (LOSS == 1) {
            memcpy((float*)s->loss + i, &l, rem * sizeof(float));
        } else {
            if (rem < 8)  /* padding lanes out of the sum */
                l = (fb_f32x8)((fb_i32x8)l & (FB_LANES8 < rem));
            a->sum0 += FB_ISA(lo_f64)(l);
            a->sum1 += FB_ISA(hi_f64)(l);
        }
    }
    if (GRAD)
        FB_ISA(store_grad_f32)(s, i, rem, q, wv, gv, W, GRAD);
}

/* group_f32: 4 vectors (32 elements) at i on the product path, with the gradient if GRAD.
 * Returns 0, having changed nothing but gradient stores the general path redoes, unless
 * every t is 0 or 1 and q (x or 1 - x) lies in [2^-126, 1], and 1 - x <= 1 - 2^-20: then
 * q is exact in float64 (1 - x is exact for x >= 2^-29), no loss reaches the -100 clamp, and
 * the products' rounding (2^-53 per factor) is below a float32 ulp of every element's loss. */
static inline __attribute__((always_inline)) int FB_ISA(group_f32)(
    const fb_seg* s, ptrdiff_t i, FB_ISA(prod)* a, fb_f32x8 wv, const int W, const int GRAD)
{
    fb_i32x8 ok = ~(fb_i32x8){0};
    fb_f64x4 g0 = FB_SPLAT4D(1.0), g1 = g0;
    for (int v = 0; v < 4; v++) {
        fb_f32x8 x, t;
        memcpy(&x, (const float*)s->x + i + 8 * v, sizeof(x));
        memcpy(&t, (const float*)s->t + i + 8 * v, sizeof(t));
        fb_f32x8 tm1 = t - 1.0f;
        fb_f32x8 q = x * (t + tm1) - tm1;  /* x for t = 1, 1 - x (rounded) for t = 0 */
        fb_f32x8 hi = t * 0x1p-20f + (1.0f - 0x1p-20f);
        ok &= (t * tm1 == 0.0f) & (q >= 0x1p-126f) & (q <= hi);
        /* exact: x, or x - 1 = -(1 - x) (the sign is dropped with the exponent) */
        g0 *= FB_ISA(lo_f64)(x) + FB_ISA(lo_f64)(tm1);
        g1 *= FB_ISA(hi_f64)(x) + FB_ISA(hi_f64)(tm1);
        if (GRAD)
            FB_ISA(store_grad_f32)(s, i + 8 * v, 8, FB_ISA(prob_grad_f32)(x, t), wv, wv, W, 1);
    }
    if (!FB_ISA(all_f32)(ok))
        return 0;
    FB_ISA(prod_mul)(a, g0, g1);
    return 1;
}

/* the logits' group_f32 (no pos_weight, no per-element weight, the loss summed): taken if
 * every e = exp(-|x|) >= 2^-20 (so |x| < 13.8 and not NaN), where the products' rounding
 * stays below 2^-30 of log1p(e); label smoothing is applied to t as on the general path, and
 * the targets' range is checked (a flag, raised at the end) */
static inline __attribute__((always_inline)) int FB_ISA(group_logit_f32)(
    const fb_seg* s, ptrdiff_t i, FB_ISA(prod)* a, fb_u32x8* rt, fb_f32x8 wv, const int W,
    const int GRAD)
{
    fb_i32x8 ok = ~(fb_i32x8){0};
    fb_f64x4 g0 = FB_SPLAT4D(1.0), g1 = g0, l0 = FB_SPLAT4D(0.0), l1 = l0;
    for (int v = 0; v < 4; v++) {
        fb_f32x8 x, t;
        memcpy(&x, (const float*)s->x + i + 8 * v, sizeof(x));
        memcpy(&t, (const float*)s->t + i + 8 * v, sizeof(t));
        *rt = FB_ISA(range_f32)(*rt, t);
        if (s->ls != 0.0)
            t = t * (float)(1.0 - s->ls) + (float)(0.5 * s->ls);
        fb_f32x8 e = FB_ISA(exp_neg_f32)((fb_f32x8)((fb_i32x8)x | (fb_i32x8)FB_SPLAT8(-0.0f)));
        ok &= e >= 0x1p-20f;
        fb_f32x8 m = FB_ISA(max_f32)(x, FB_SPLAT8(0.0f));
        l0 += FB_ISA(lo_f64)(m) - FB_ISA(lo_f64)(t) * FB_ISA(lo_f64)(x);
        l1 += FB_ISA(hi_f64)(m) - FB_ISA(hi_f64)(t) * FB_ISA(hi_f64)(x);
        g0 *= 1.0 + FB_ISA(lo_f64)(e);
        g1 *= 1.0 + FB_ISA(hi_f64)(e);
        if (GRAD) {
            FB_ISA(logit_f32) o;
            FB_ISA(logit_sig_f32)(&o, x, t, e, t, FB_SPLAT8(1.0f));
            FB_ISA(store_grad_f32)(s, i + 8 * v, 8, o.grad, wv, wv, W, 1);
        }
    }
    if (!FB_ISA(all_f32)(ok))
        return 0;
    a->lin += l0 + l1;
    FB_ISA(prod_mul)(a, g0, g1);
    return 1;
}

static inline __attribute__((always_inline)) double FB_ISA(loop_f32)(
    const fb_seg* s, int* flags, const int LOSS, const int W, const int GRAD, const int LOGITS)
{
    FB_ISA(acc_f32) a = {{0, 0, 0, 0}, {0, 0, 0, 0}, {0}, {0}};
    /* a private copy: stores to the outputs cannot alias it, so its fields stay in registers */
    const fb_seg c = *s;
    ptrdiff_t i = 0;
    double prod_sum = 0.0;
    if (LOSS == 2 && W != 2 && c.n >= 32 && (LOGITS ? c.pw == NULL && c.hess == NULL : c.ls == 0.0)
        && (!W || fb_prod_weight_ok(((const float*)c.w)[0]))) {
        FB_ISA(prod) p = {FB_SPLAT4D(1.0), FB_SPLAT4D(1.0), {0}, 0, {0}};
        fb_f32x8 wv = FB_SPLAT8(W ? ((const float*)c.w)[0] : 1.0f);
        fb_backoff b = {0, 0};
        for (; i + 32 <= c.n; i += 32) {
            if (fb_prod_try(&b, LOGITS ? FB_ISA(group_logit_f32)(&c, i, &p, &a.rt, wv, W, GRAD)
                                       : FB_ISA(group_f32)(&c, i, &p, wv, W, GRAD)))
                continue;
            for (int v = 0; v < 32; v += 8)
                FB_ISA(step_f32)(&c, i + v, 8, &a, LOSS, W, GRAD, LOGITS);
        }
        double lin = (p.lin[0] + p.lin[1]) + (p.lin[2] + p.lin[3]);
        double logs = FB_ISA(prod_log)(&p);
        prod_sum = (LOGITS ? lin + logs : -logs) * (W ? (double)wv[0] : 1.0);
    }
    for (; i + 8 <= c.n; i += 8)
        FB_ISA(step_f32)(&c, i, 8, &a, LOSS, W, GRAD, LOGITS);
    if (i < c.n)
        FB_ISA(step_f32)(&c, i, (int)(c.n - i), &a, LOSS, W, GRAD, LOGITS);
    for (int j = 0; j < 8; j++) {
        *flags |= (LOGITS ? a.rx[j] != 0 : a.rx[j] > 0x3f800000u) ? 1 : 0;
        *flags |= a.rt[j] > 0x3f800000u ? 2 : 0;
    }
    fb_f64x4 acc = a.sum0 + a.sum1;
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + prod_sum;
}

static inline __attribute__((always_inline)) double FB_ISA(loop_prob_f32)(
    const fb_seg* s, int* flags, const int LOSS, const int W, const int GRAD)
{
    return FB_ISA(loop_f32)(s, flags, LOSS, W, GRAD, 0);
}

static inline __attribute__((always_inline)) double FB_ISA(loop_logit_f32)(
    const fb_seg* s, int* flags, const int LOSS, const int W, const int GRAD)
{
    return FB_ISA(loop_f32)(s, flags, LOSS, W, GRAD, 1);
}

/* ------------------------------------------------------------------ float64, 4 lanes */

/* log(2^k (1 + f)), f in [sqrt(1/2) - 1, sqrt(2) - 1], given s = f / (2 + f):
 * log1p(f) = f - f^2/2 + s (f^2/2 + R), R = z P(z), z = s^2, P fitted (our own fit) to
 * 3e-16 absolute on [0, 0.0295]: under 1e-17 relative error of the log. s enters only the
 * small last term, so a few roundings in it cost nothing visible. */
static inline fb_f64x4 FB_ISA(log_reduced_f64)(fb_f64x4 f, fb_f64x4 s, fb_f64x4 k)
{
    fb_f64x4 z = s * s;
    fb_f64x4 z2 = z * z;
    /* Estrin's scheme: a shallow dependency chain, as in log_reduced_f32 */
    fb_f64x4 p = (z * 0.39999999999898523173 + 0.66666666666666697262)
                 + z2 * (z * 0.22222211078348269202 + 0.28571428626364704901)
                 + (z2 * z2) * ((z * 0.15331609841484721018 + 0.18182892825032573217)
                                + z2 * 0.14617715567681663116);
    fb_f64x4 hfsq = 0.5 * f * f;
    fb_f64x4 r = s * (hfsq + z * p) + k * 1.9082149292705877000e-10;  /* ln2 - LN2_HI */
    return k * 6.93147180369123816490e-01 - ((hfsq - r) - f);         /* LN2_HI, 32 bits */
}

/* v = 2^k m, m in [sqrt(1/2), sqrt(2)); v a positive normal double. k returned as double
 * and as the 64-bit pattern of 2^-k. */
static inline fb_f64x4 FB_ISA(split_f64)(fb_f64x4 v, fb_f64x4* kf, fb_u64x4* inv_scale)
{
    fb_u64x4 bits = (fb_u64x4)v;
    fb_u64x4 biased = bits >> 52;
    fb_f64x4 m = (fb_f64x4)((bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull);
    fb_i64x4 big = m > 1.4142135623730951;
    m = FB_SEL(fb_f64x4, big, m * 0.5, m);
    fb_u64x4 up = (fb_u64x4)big & 1u;
    /* exact int -> double for 0 <= biased < 2^52: the bits of 2^52 + biased */
    *kf = (fb_f64x4)(biased | 0x4330000000000000ull) - (0x1p52 + 1023.0)
          + (fb_f64x4)(big & (fb_i64x4)FB_SPLAT4D(1.0));
    *inv_scale = (2046u - biased - up) << 52;
    return m;
}

static inline fb_f64x4 FB_ISA(loss_f64)(fb_f64x4 x, fb_f64x4 t)
{
    /* as loss_f32: log1p(-x) = log(w + err), w = 1 - x rounded, err exact */
    fb_f64x4 w = 1.0 - x;
    fb_f64x4 err = (1.0 - w) - x;
    fb_f64x4 kx, kw;
    fb_u64x4 invx, invw;
    fb_f64x4 fx = FB_ISA(split_f64)(x, &kx, &invx) - 1.0;
    fb_f64x4 fw = (FB_ISA(split_f64)(w, &kw, &invw) - 1.0) + err * (fb_f64x4)invw;
    /* both s = f / (2 + f) from one division: 1 / ((2 + fx)(2 + fw)) */
    fb_f64x4 ax = 2.0 + fx, aw = 2.0 + fw;
    fb_f64x4 r = 1.0 / (ax * aw);
    fb_f64x4 lx = FB_ISA(log_reduced_f64)(fx, fx * aw * r, kx);
    fb_f64x4 l1x = FB_ISA(log_reduced_f64)(fw, fw * ax * r, kw);
    /* clamp at -100: x = 0, subnormal x and w = 0 all land below -708 */
    lx = FB_ISA(max_f64)(lx, FB_SPLAT4D(-100.0));
    l1x = FB_ISA(max_f64)(l1x, FB_SPLAT4D(-100.0));
    return (t - 1.0) * l1x - t * lx;
}

/* log(v + err) for v in [1, 2]: used for log1p(e) = log((1 + e) + err) */
static inline fb_f64x4 FB_ISA(log_f64)(fb_f64x4 v, fb_f64x4 err)
{
    fb_f64x4 k;
    fb_u64x4 inv;
    fb_f64x4 f = (FB_ISA(split_f64)(v, &k, &inv) - 1.0) + err * (fb_f64x4)inv;
    return FB_ISA(log_reduced_f64)(f, f / (2.0 + f), k);
}

/* as exp_neg_f32: Taylor to r^13 (2e-17 relative), 0 below e^-1100 */
static inline fb_f64x4 FB_ISA(exp_neg_f64)(fb_f64x4 y)
{
    y = FB_ISA(max_f64)(y, FB_SPLAT4D(-1100.0));
    fb_f64x4 big = y * 1.4426950408889634074 + 6755399441055744.0;  /* round: 1.5 * 2^52 */
    fb_f64x4 kf = big - 6755399441055744.0;
    fb_f64x4 r = (y - kf * 6.93147180369123816490e-01) - kf * 1.9082149292705877000e-10;
    static const double c[] = {1.0 / 6227020800.0, 1.0 / 479001600.0, 1.0 / 39916800.0,
                               1.0 / 3628800.0,    1.0 / 362880.0,    1.0 / 40320.0,
                               1.0 / 5040.0,       1.0 / 720.0,       1.0 / 120.0,
                               1.0 / 24.0,         1.0 / 6.0,         0.5, 1.0, 1.0};
    fb_f64x4 p = FB_SPLAT4D(c[0]);
    for (int j = 1; j < 14; j++)
        p = p * r + c[j];
    /* -k from the bits of the rounding constant's sum: exact, no 64-bit conversion */
    fb_u64x4 u = (fb_u64x4)FB_SPLAT4D(6755399441055744.0) - (fb_u64x4)big;
    fb_u64x4 h = u >> 1;
    return p * (fb_f64x4)((1023u - h) << 52) * (fb_f64x4)((1023u - (u - h)) << 52);
}

typedef struct {
    fb_f64x4 loss, grad, hess;
} FB_ISA(logit_f64);

/* as logit_math_f32 */
static inline __attribute__((always_inline)) FB_ISA(logit_f64) FB_ISA(logit_math_f64)(
    fb_f64x4 x, fb_f64x4 t, fb_f64x4 pw, const int PW, const int LOSS, const int NEED_SIG)
{
    FB_ISA(logit_f64) o;
    fb_f64x4 e = FB_ISA(exp_neg_f64)((fb_f64x4)((fb_i64x4)x | (fb_i64x4)FB_SPLAT4D(-0.0)));
    fb_f64x4 v = 1.0 + e;
    fb_f64x4 pt = PW ? pw * t : t;
    fb_f64x4 a = PW ? pt + 1.0 - t : FB_SPLAT4D(1.0);
    if (LOSS) {
        fb_f64x4 lin = FB_SEL(fb_f64x4, x >= 0.0, (1.0 - t) * x, -(pt * x));
        fb_f64x4 lw = PW ? (pw - 1.0) * t + 1.0 : FB_SPLAT4D(1.0);
        o.loss = lin + lw * FB_ISA(log_f64)(v, (1.0 - v) + e);
    }
    if (NEED_SIG) {
        fb_f64x4 r = 1.0 / v;
        fb_i64x4 pos = x >= 0.0;
        fb_f64x4 sig = FB_SEL(fb_f64x4, pos, FB_SPLAT4D(1.0), e) * r;
        fb_f64x4 omsig = FB_SEL(fb_f64x4, pos, e, FB_SPLAT4D(1.0)) * r;
        o.grad = FB_SEL(fb_f64x4, pos, (1.0 - t) - a * omsig, a * sig - pt);
        o.hess = a * sig * omsig;
    }
    return o;
}

typedef struct {
    fb_f64x4 sum;
    fb_i64x4 rx, rt;
} FB_ISA(acc_f64);

/* as prob_grad_f32 */
static inline fb_f64x4 FB_ISA(prob_grad_f64)(fb_f64x4 x, fb_f64x4 t)
{
    fb_f64x4 d = (1.0 - x) * x;  /* torch's form, no cancellation near x = 1 */
    return (x - t) / FB_ISA(max_f64)(d, FB_SPLAT4D(FB_GRAD_EPS_D));
}

/* as group_f32, 4 vectors (16 elements), with q in [2^-144, 1 - 2^-10]: every loss is then
 * above 2^-10 (the clamp is at e^-100 > 2^-145), so the rounding of 1 - x and of the
 * products (2^-53 each) stays below 2^-43 of it */
static inline __attribute__((always_inline)) int FB_ISA(group_f64)(
    const fb_seg* s, ptrdiff_t i, FB_ISA(prod)* a, fb_f64x4 gw, const int GRAD)
{
    fb_i64x4 ok = ~(fb_i64x4){0};
    fb_f64x4 g[2] = {FB_SPLAT4D(1.0), FB_SPLAT4D(1.0)};
    for (int v = 0; v < 4; v++) {
        fb_f64x4 x, t;
        memcpy(&x, (const double*)s->x + i + 4 * v, sizeof(x));
        memcpy(&t, (const double*)s->t + i + 4 * v, sizeof(t));
        fb_f64x4 tm1 = t - 1.0;
        fb_f64x4 q = x * (t + tm1) - tm1;
        ok &= (t * tm1 == 0.0) & (q >= 0x1p-144) & (q <= 1.0 - 0x1p-10);
        g[v & 1] *= x + tm1;
        if (GRAD) {
            fb_f64x4 gr = gw * FB_ISA(prob_grad_f64)(x, t);
            memcpy((double*)s->grad + i + 4 * v, &gr, sizeof(gr));
        }
    }
    if (!FB_ISA(all_f64)(ok))
        return 0;
    FB_ISA(prod_mul)(a, g[0], g[1]);
    return 1;
}

/* as step_f32, 4 elements */
static inline __attribute__((always_inline)) void FB_ISA(step_f64)(
    const fb_seg* s, ptrdiff_t i, int rem, FB_ISA(acc_f64)* a,
    const int LOSS, const int W, const int GRAD, const int LOGITS)
{
    fb_f64x4 xv, tv, wv = FB_SPLAT4D(1.0), gv = FB_SPLAT4D(s->gscale), pwv = FB_SPLAT4D(1.0);
    const int PW = LOGITS && s->pw != NULL;
    FB_LOAD(double, 4, xv, s->x, i, rem);
    FB_LOAD(double, 4, tv, s->t, i, rem);
    if (W == 2)
        FB_LOAD(double, 4, wv, s->w, i, rem);
    if (W == 1)
        wv = FB_SPLAT4D(((const double*)s->w)[0]);
    if (GRAD == 2)
        FB_LOAD(double, 4, gv, s->gvec, i, rem);
    if (PW) {
        if (s->pwstep)
            FB_LOAD(double, 4, pwv, s->pw, i, rem);
        else
            pwv = FB_SPLAT4D(((const double*)s->pw)[0]);
    }
    if (LOGITS)
        a->rx |= (xv != xv);
    else
        a->rx |= ~((xv >= 0.0) & (xv <= 1.0));
    a->rt |= ~((tv >= 0.0) & (tv <= 1.0));
    if (s->ls != 0.0)
        tv = tv * (1.0 - s->ls) + 0.5 * s->ls;
    fb_f64x4 l = FB_SPLAT4D(0.0), q = FB_SPLAT4D(0.0);
    if (LOGITS) {
        FB_ISA(logit_f64) o = FB_ISA(logit_math_f64)(xv, tv, pwv, PW, LOSS, GRAD || s->hess != NULL);
        l = o.loss;
        q = o.grad;
        if (s->hess != NULL) {
            fb_f64x4 h = W ? o.hess * wv : o.hess;
            memcpy((double*)s->hess + i, &h, rem * sizeof(double));
        }
    } else {
        if (LOSS)
            l = FB_ISA(loss_f64)(xv, tv);
        if (GRAD)
            q = FB_ISA(prob_grad_f64)(xv, tv);
    }
    if (LOSS) {
        if (W)
            l = l * wv;
        if (LOSS == 1) {
            memcpy((double*)s->loss + i, &l, rem * sizeof(double));
        } else {
            if (rem < 4)
                l = (fb_f64x4)((fb_i64x4)l & (FB_LANES4 < rem));
            a->sum += l;
        }
    }
    if (GRAD) {
        fb_f64x4 gr = (W ? gv * wv : gv) * q;
        memcpy((double*)s->grad + i, &gr, rem * sizeof(double));
    }
}

static inline __attribute__((always_inline)) double FB_ISA(loop_f64)(
    const fb_seg* s, int* flags, const int LOSS, const int W, const int GRAD, const int LOGITS)
{
    FB_ISA(acc_f64) a = {{0, 0, 0, 0}, {0}, {0}};
    /* a private copy: stores to the outputs cannot alias it, so its fields stay in registers */
    const fb_seg c = *s;
    ptrdiff_t i = 0;
    double prod_sum = 0.0;
    if (!LOGITS && LOSS == 2 && W != 2 && c.ls == 0.0 && c.n >= 16
        && (!W || fb_prod_weight_ok(((const double*)c.w)[0]))) {
        FB_ISA(prod) p = {FB_SPLAT4D(1.0), FB_SPLAT4D(1.0), {0}, 0, {0}};
        double w = W ? ((const double*)c.w)[0] : 1.0;
        fb_f64x4 gw = FB_SPLAT4D(c.gscale * w);
        fb_backoff b = {0, 0};
        for (; i + 16 <= c.n; i += 16) {
            if (fb_prod_try(&b, FB_ISA(group_f64)(&c, i, &p, gw, GRAD)))
                continue;
            for (int v = 0; v < 16; v += 4)
                FB_ISA(step_f64)(&c, i + v, 4, &a, LOSS, W, GRAD, LOGITS);
        }
        prod_sum = -FB_ISA(prod_log)(&p) * w;
    }
    for (; i + 4 <= c.n; i += 4)
        FB_ISA(step_f64)(&c, i, 4, &a, LOSS, W, GRAD, LOGITS);
    if (i < c.n)
        FB_ISA(step_f64)(&c, i, (int)(c.n - i), &a, LOSS, W, GRAD, LOGITS);
    for (int j = 0; j < 4; j++)
        *flags |= (a.rx[j] ? 1 : 0) | (a.rt[j] ? 2 : 0);
    return ((a.sum[0] + a.sum[1]) + (a.sum[2] + a.sum[3])) + prod_sum;
}

static inline __attribute__((always_inline)) double FB_ISA(loop_prob_f64)(
    const fb_seg* s, int* flags, const int LOSS, const int W, const int GRAD)
{
    return FB_ISA(loop_f64)(s, flags, LOSS, W, GRAD, 0);
}

static inline __attribute__((always_inline)) double FB_ISA(loop_logit_f64)(
    const fb_seg* s, int* flags, const int LOSS, const int W, const int GRAD)
{
    return FB_ISA(loop_f64)(s, flags, LOSS, W, GRAD, 1);
}

/* ------------------------------------------------------------------ dispatch by mode */

static int FB_ISA(mode_loss)(const fb_seg* s) { return s->loss ? 1 : (s->want_sum ? 2 : 0); }
static int FB_ISA(mode_w)(const fb_seg* s) { return s->w ? (s->wstep ? 2 : 1) : 0; }
static int FB_ISA(mode_grad)(const fb_seg* s) { return s->grad ? (s->gvec ? 2 : 1) : 0; }

static double FB_ISA(seg_f32)(const fb_seg* s, int* flags)
{
    if (s->logits)
        FB_MODES(FB_ISA(loop_logit_f32), s, flags, FB_ISA(mode_loss)(s), FB_ISA(mode_w)(s), FB_ISA(mode_grad)(s));
    FB_MODES(FB_ISA(loop_prob_f32), s, flags, FB_ISA(mode_loss)(s), FB_ISA(mode_w)(s), FB_ISA(mode_grad)(s));
}

static double FB_ISA(seg_f64)(const fb_seg* s, int* flags)
{
    if (s->logits)
        FB_MODES(FB_ISA(loop_logit_f64), s, flags, FB_ISA(mode_loss)(s), FB_ISA(mode_w)(s), FB_ISA(mode_grad)(s));
    FB_MODES(FB_ISA(loop_prob_f64), s, flags, FB_ISA(mode_loss)(s), FB_ISA(mode_w)(s), FB_ISA(mode_grad)(s));
}
