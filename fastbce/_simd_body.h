/* Vectorised segment kernels. Included by _simd.h once per instruction set, with FB_ISA(name)
 * renaming every function; nothing here may depend on which set it is compiled for, except
 * through the compiler's own code generation.
 *
 * A segment is a contiguous run of elements that shares one weight mode: no weight, one
 * weight for all (wstep 0) or a weight per element (wstep 1). Work is done on whole vectors;
 * the last partial vector is padded with valid values (x = t = 0.5) and masked out, so every
 * element -- whatever its position -- goes through exactly the same arithmetic.
 */

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

/* split v = 2^k * m with m in [sqrt(1/2), sqrt(2)); v a positive normal float */
static inline void FB_ISA(split_f32)(fb_f32x8 v, fb_i32x8* k, fb_f32x8* m)
{
    fb_i32x8 bits = (fb_i32x8)v;
    *k = (bits - 0x3f3504f3) >> 23;    /* 0x3f3504f3: sqrt(1/2) */
    *m = (fb_f32x8)(bits - (fb_i32x8)((fb_u32x8)*k << 23));
}

/* per-element loss (t - 1) * max(log1p(-x), -100) - t * max(log(x), -100) */
static inline fb_f32x8 FB_ISA(loss_f32)(fb_f32x8 x, fb_f32x8 t)
{
    fb_i32x8 k;
    fb_f32x8 m;
    /* log(x): subnormal x are scaled by 2^25 first; clamp at -100 like torch (x = 0 too) */
    fb_i32x8 sub = x < 0x1p-126f;
    fb_f32x8 xs = FB_SEL(fb_f32x8, sub, x * 0x1p25f, x);
    FB_ISA(split_f32)(xs, &k, &m);
    k += sub & -25;
    fb_f32x8 kf = __builtin_convertvector(k, fb_f32x8);
    fb_f32x8 lx = FB_ISA(log_reduced_f32)(m - 1.0f, kf);
    lx = FB_SEL(fb_f32x8, (lx < -100.0f) | (x == 0.0f), FB_SPLAT8(-100.0f), lx);

    /* log1p(-x) = log(w + err), w = 1 - x rounded, err its exact rounding error (Fast2Sum,
     * as 1 >= |x|); then log(2^k m (1 + err / w)) = k ln2 + log1p(m - 1 + err * 2^-k) */
    fb_f32x8 w = 1.0f - x;
    fb_f32x8 err = (1.0f - w) - x;
    FB_ISA(split_f32)(w, &k, &m);
    fb_f32x8 scale = (fb_f32x8)((fb_u32x8)(127 - k) << 23);  /* 2^-k */
    kf = __builtin_convertvector(k, fb_f32x8);
    fb_f32x8 l1x = FB_ISA(log_reduced_f32)((m - 1.0f) + err * scale, kf);
    /* 1 - x >= 2^-24 unless it is 0, so only x = 1 reaches the clamp */
    l1x = FB_SEL(fb_f32x8, w == 0.0f, FB_SPLAT8(-100.0f), l1x);
    return (t - 1.0f) * l1x - t * lx;
}

/* 0 where 0 <= v <= 1, else all ones (NaN too): v + 0 turns -0 into +0, and the bit
 * patterns of floats in [+0, 1] are exactly the unsigned integers 0 ... 0x3f800000 */
static inline fb_i32x8 FB_ISA(outside_unit_f32)(fb_f32x8 v)
{
    return (fb_i32x8)((fb_u32x8)(v + 0.0f) > 0x3f800000u);
}

static inline fb_f64x4 FB_ISA(lo_f64)(fb_f32x8 v)
{
    return __builtin_convertvector(__builtin_shufflevector(v, v, 0, 1, 2, 3), fb_f64x4);
}

static inline fb_f64x4 FB_ISA(hi_f64)(fb_f32x8 v)
{
    return __builtin_convertvector(__builtin_shufflevector(v, v, 4, 5, 6, 7), fb_f64x4);
}

/* float32(q * c), lanes 0-3 scaled by c0 and 4-7 by c1, the product taken in float64 */
static inline fb_f32x8 FB_ISA(join_f32)(fb_f32x8 q, fb_f64x4 c0, fb_f64x4 c1)
{
    typedef float f32x4 __attribute__((vector_size(16)));
    f32x4 lo = __builtin_convertvector(FB_ISA(lo_f64)(q) * c0, f32x4);
    f32x4 hi = __builtin_convertvector(FB_ISA(hi_f64)(q) * c1, f32x4);
    return __builtin_shufflevector(lo, hi, 0, 1, 2, 3, 4, 5, 6, 7);
}

static double FB_ISA(seg_f32)(const fb_seg* s, int* flags)
{
    const float* x = (const float*)s->x;
    const float* t = (const float*)s->t;
    const float* w = (const float*)s->w;
    const float* gvec = (const float*)s->gvec;
    float* loss = (float*)s->loss;
    float* grad = (float*)s->grad;
    const int want_loss = s->want_sum || loss != NULL;
    fb_f64x4 acc0 = {0, 0, 0, 0}, acc1 = {0, 0, 0, 0};
    fb_i32x8 badx = {0}, badt = {0};
    fb_f32x8 wv = FB_SPLAT8(1.0f);
    if (w != NULL && s->wstep == 0)
        wv = FB_SPLAT8(w[0]);
    ptrdiff_t n = s->n;
    for (ptrdiff_t i = 0; i < n; i += 8) {
        ptrdiff_t rem = n - i;
        fb_f32x8 xv, tv, gv = FB_SPLAT8(1.0f);
        fb_i32x8 live = FB_SPLAT8I(-1);
        if (rem >= 8) {
            memcpy(&xv, x + i, sizeof xv);
            memcpy(&tv, t + i, sizeof tv);
            if (w != NULL && s->wstep)
                memcpy(&wv, w + i, sizeof wv);
            if (gvec != NULL)
                memcpy(&gv, gvec + i, sizeof gv);
        } else {
            /* the last partial vector: valid padding, masked out of the sum */
            float bx[8] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
            float bt[8] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
            float bw[8] = {0}, bg[8] = {0};
            memcpy(bx, x + i, rem * sizeof(float));
            memcpy(bt, t + i, rem * sizeof(float));
            memcpy(&xv, bx, sizeof xv);
            memcpy(&tv, bt, sizeof tv);
            if (w != NULL && s->wstep) {
                memcpy(bw, w + i, rem * sizeof(float));
                memcpy(&wv, bw, sizeof wv);
            }
            if (gvec != NULL) {
                memcpy(bg, gvec + i, rem * sizeof(float));
                memcpy(&gv, bg, sizeof gv);
            }
            fb_i32x8 lane = {0, 1, 2, 3, 4, 5, 6, 7};
            live = lane < (int)rem;
        }
        badx |= FB_ISA(outside_unit_f32)(xv);
        badt |= FB_ISA(outside_unit_f32)(tv);
        if (want_loss) {
            fb_f32x8 l = FB_ISA(loss_f32)(xv, tv);
            if (w != NULL)
                l = l * wv;
            if (loss != NULL) {
                if (rem >= 8)
                    memcpy(loss + i, &l, sizeof l);
                else
                    memcpy(loss + i, &l, rem * sizeof(float));
            } else {
                l = (fb_f32x8)((fb_i32x8)l & live);
                acc0 += FB_ISA(lo_f64)(l);
                acc1 += FB_ISA(hi_f64)(l);
            }
        }
        if (grad != NULL) {
            /* g * w * (x - t) / max(x (1 - x), eps), g already divided by N for "mean":
             * the quotient in float32, the scaling by g * w in float64, one rounding each */
#ifdef __FMA__
            fb_f32x8 d = xv - xv * xv;  /* fused: x - x^2 rounded once */
#else
            fb_f32x8 d = (1.0f - xv) * xv;  /* torch's form; 1 - x is exact for x >= 1/2 */
#endif
            d = FB_SEL(fb_f32x8, d < FB_GRAD_EPS_F, FB_SPLAT8(FB_GRAD_EPS_F), d);
            fb_f32x8 q = (xv - tv) / d;
            fb_f64x4 c0 = FB_SPLAT4D(s->gscale), c1 = c0;
            if (gvec != NULL) {
                c0 = FB_ISA(lo_f64)(gv);
                c1 = FB_ISA(hi_f64)(gv);
            }
            if (w != NULL) {
                c0 *= FB_ISA(lo_f64)(wv);
                c1 *= FB_ISA(hi_f64)(wv);
            }
            fb_f32x8 gr = FB_ISA(join_f32)(q, c0, c1);
            if (rem >= 8)
                memcpy(grad + i, &gr, sizeof gr);
            else
                memcpy(grad + i, &gr, rem * sizeof(float));
        }
    }
    int f = 0;
    for (int j = 0; j < 8; j++)
        f |= (badx[j] ? 1 : 0) | (badt[j] ? 2 : 0);
    *flags |= f;
    fb_f64x4 acc = acc0 + acc1;
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

/* ------------------------------------------------------------------ float64, 4 lanes */

/* log(2^k (1 + f)), f in [sqrt(1/2) - 1, sqrt(2) - 1]: with s = f / (2 + f),
 * log1p(f) = f - f^2/2 + s (f^2/2 + R), R = z P(z), z = s^2, P fitted (our own fit) to
 * 3e-16 absolute on [0, 0.0295]: under 1e-17 relative error of the log */
static inline fb_f64x4 FB_ISA(log_reduced_f64)(fb_f64x4 f, fb_f64x4 k)
{
    fb_f64x4 s = f / (2.0 + f);
    fb_f64x4 z = s * s;
    fb_f64x4 p = z * 0.14617715567681663116 + 0.15331609841484721018;
    p = p * z + 0.18182892825032573217;
    p = p * z + 0.22222211078348269202;
    p = p * z + 0.28571428626364704901;
    p = p * z + 0.39999999999898523173;
    p = p * z + 0.66666666666666697262;
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
    fb_f64x4 kf, m;
    fb_u64x4 inv;
    m = FB_ISA(split_f64)(x, &kf, &inv);
    fb_f64x4 lx = FB_ISA(log_reduced_f64)(m - 1.0, kf);
    /* subnormal and zero x: log(x) < -708, clamped to -100 like everything below e^-100 */
    lx = FB_SEL(fb_f64x4, (lx < -100.0) | (x < 0x1p-1022), FB_SPLAT4D(-100.0), lx);
    fb_f64x4 w = 1.0 - x;
    fb_f64x4 err = (1.0 - w) - x;
    m = FB_ISA(split_f64)(w, &kf, &inv);
    fb_f64x4 l1x = FB_ISA(log_reduced_f64)((m - 1.0) + err * (fb_f64x4)inv, kf);
    l1x = FB_SEL(fb_f64x4, w == 0.0, FB_SPLAT4D(-100.0), l1x);
    return (t - 1.0) * l1x - t * lx;
}

static double FB_ISA(seg_f64)(const fb_seg* s, int* flags)
{
    const double* x = (const double*)s->x;
    const double* t = (const double*)s->t;
    const double* w = (const double*)s->w;
    const double* gvec = (const double*)s->gvec;
    double* loss = (double*)s->loss;
    double* grad = (double*)s->grad;
    const int want_loss = s->want_sum || loss != NULL;
    fb_f64x4 acc = {0, 0, 0, 0};
    fb_i64x4 badx = {0}, badt = {0};
    fb_f64x4 wv = FB_SPLAT4D(1.0);
    if (w != NULL && s->wstep == 0)
        wv = FB_SPLAT4D(w[0]);
    ptrdiff_t n = s->n;
    for (ptrdiff_t i = 0; i < n; i += 4) {
        ptrdiff_t rem = n - i;
        fb_f64x4 xv, tv, gv = FB_SPLAT4D(s->gscale);
        fb_i64x4 live = FB_SPLAT4L(-1);
        if (rem >= 4) {
            memcpy(&xv, x + i, sizeof xv);
            memcpy(&tv, t + i, sizeof tv);
            if (w != NULL && s->wstep)
                memcpy(&wv, w + i, sizeof wv);
            if (gvec != NULL)
                memcpy(&gv, gvec + i, sizeof gv);
        } else {
            double bx[4] = {0.5, 0.5, 0.5, 0.5}, bt[4] = {0.5, 0.5, 0.5, 0.5};
            double bw[4] = {0}, bg[4] = {0};
            memcpy(bx, x + i, rem * sizeof(double));
            memcpy(bt, t + i, rem * sizeof(double));
            memcpy(&xv, bx, sizeof xv);
            memcpy(&tv, bt, sizeof tv);
            if (w != NULL && s->wstep) {
                memcpy(bw, w + i, rem * sizeof(double));
                memcpy(&wv, bw, sizeof wv);
            }
            if (gvec != NULL) {
                memcpy(bg, gvec + i, rem * sizeof(double));
                memcpy(&gv, bg, sizeof gv);
            }
            fb_i64x4 lane = {0, 1, 2, 3};
            live = lane < (long long)rem;
        }
        badx |= ~((xv >= 0.0) & (xv <= 1.0));
        badt |= ~((tv >= 0.0) & (tv <= 1.0));
        if (want_loss) {
            fb_f64x4 l = FB_ISA(loss_f64)(xv, tv);
            if (w != NULL)
                l = l * wv;
            if (loss != NULL) {
                if (rem >= 4)
                    memcpy(loss + i, &l, sizeof l);
                else
                    memcpy(loss + i, &l, rem * sizeof(double));
            } else {
                acc += (fb_f64x4)((fb_i64x4)l & live);
            }
        }
        if (grad != NULL) {
            fb_f64x4 d = (1.0 - xv) * xv;
            d = FB_SEL(fb_f64x4, d < FB_GRAD_EPS_D, FB_SPLAT4D(FB_GRAD_EPS_D), d);
            if (w != NULL)
                gv = gv * wv;
            fb_f64x4 gr = gv * (xv - tv) / d;
            if (rem >= 4)
                memcpy(grad + i, &gr, sizeof gr);
            else
                memcpy(grad + i, &gr, rem * sizeof(double));
        }
    }
    int f = 0;
    for (int j = 0; j < 4; j++)
        f |= (badx[j] ? 1 : 0) | (badt[j] ? 2 : 0);
    *flags |= f;
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}
