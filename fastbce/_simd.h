/* fastbce's vector kernels: the per-segment inner loops, compiled once for baseline x86-64
 * (or whatever the compiler targets by default) and once more for AVX2 + FMA, the set chosen
 * at run time. Written with GCC/Clang vector extensions, so the compiler emits the SIMD and
 * no intrinsics tie the source to one instruction set. */
#ifndef FASTBCE_SIMD_H
#define FASTBCE_SIMD_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* the 32-byte vectors only ever pass between static inline functions: no ABI to keep */
#pragma GCC diagnostic ignored "-Wpsabi"

typedef float fb_f32x8 __attribute__((vector_size(32)));
typedef double fb_f64x4 __attribute__((vector_size(32)));
typedef int32_t fb_i32x8 __attribute__((vector_size(32)));
typedef uint32_t fb_u32x8 __attribute__((vector_size(32)));
typedef int64_t fb_i64x4 __attribute__((vector_size(32)));
typedef uint64_t fb_u64x4 __attribute__((vector_size(32)));

#define FB_SPLAT8(v) ((fb_f32x8){(v), (v), (v), (v), (v), (v), (v), (v)})
#define FB_SPLAT4D(v) ((fb_f64x4){(v), (v), (v), (v)})
/* mask ? a : b, lane by lane; mask lanes are all ones or all zeros */
#define FB_SEL(T, mask, a, b) \
    ((T)(((mask) & (__typeof__(mask))(a)) | (~(mask) & (__typeof__(mask))(b))))

/* V = the first rem (1 ... N) elements of type T at p + i, zero-padded to N lanes */
#define FB_LOAD(T, N, V, p, i, rem)                                      \
    do {                                                                 \
        if ((rem) == (N)) {                                              \
            memcpy(&(V), (const T*)(p) + (i), sizeof(V));                \
        } else {                                                         \
            T buf_[N] = {0};                                             \
            memcpy(buf_, (const T*)(p) + (i), (size_t)(rem) * sizeof(T)); \
            memcpy(&(V), buf_, sizeof(V));                               \
        }                                                                \
    } while (0)
#define FB_LANES8 ((fb_i32x8){0, 1, 2, 3, 4, 5, 6, 7})
#define FB_LANES4 ((fb_i64x4){0, 1, 2, 3})

/* torch's gradient denominator floor: 1e-12 as a float32, for every dtype */
#define FB_GRAD_EPS_F 9.99999996e-13f
#define FB_GRAD_EPS_D ((double)9.99999996e-13f)

/* Failed tries of the product path (see _simd_body.h) back off: after k failed groups in a
 * row, the next min(2^(k-1) - 1, 31) go straight to the general path. Soft targets then pay
 * for one try in 32 groups, and a lone failure (one element near its target) costs one group. */
typedef struct {
    int skip, backoff;
} fb_backoff;

/* A single weight w scales the product path's sum once, the per-element path's losses one
 * by one (rounded in the input's dtype). Both agree unless w * loss could overflow,
 * underflow or be 0 * inf there: the product path takes 0 and 2^-100 <= |w| <= 2^100 only. */
static inline int fb_prod_weight_ok(double w)
{
    double a = w < 0 ? -w : w;
    return w == 0.0 || (a >= 0x1p-100 && a <= 0x1p100);
}

/* whether a group took the product path; try_group is evaluated only when a try is due */
#define fb_prod_try(b, try_group) \
    ((b)->skip > 0 ? ((b)->skip--, 0) : fb_prod_done((b), (try_group)))

static inline int fb_prod_done(fb_backoff* b, int ok)
{
    if (ok) {
        b->backoff = 0;
    } else {
        b->skip = b->backoff;
        b->backoff = b->backoff < 31 ? 2 * b->backoff + 1 : 31;
    }
    return ok;
}

/* call LOOP with compile-time mode constants: loss 0 none / 1 store / 2 sum, wmode 0 none /
 * 1 one weight / 2 per element, grad 0 none / 1 scalar upstream / 2 per element */
#define FB_MODES(LOOP, s, flags, loss, wmode, grad)                                    \
    do {                                                                               \
        switch ((loss) * 9 + (wmode) * 3 + (grad)) {                                   \
        case 0 * 9 + 0 * 3 + 1: return LOOP(s, flags, 0, 0, 1);                        \
        case 0 * 9 + 0 * 3 + 2: return LOOP(s, flags, 0, 0, 2);                        \
        case 0 * 9 + 1 * 3 + 1: return LOOP(s, flags, 0, 1, 1);                        \
        case 0 * 9 + 1 * 3 + 2: return LOOP(s, flags, 0, 1, 2);                        \
        case 0 * 9 + 2 * 3 + 1: return LOOP(s, flags, 0, 2, 1);                        \
        case 0 * 9 + 2 * 3 + 2: return LOOP(s, flags, 0, 2, 2);                        \
        case 1 * 9 + 0 * 3 + 0: return LOOP(s, flags, 1, 0, 0);                        \
        case 1 * 9 + 0 * 3 + 1: return LOOP(s, flags, 1, 0, 1);                        \
        case 1 * 9 + 1 * 3 + 0: return LOOP(s, flags, 1, 1, 0);                        \
        case 1 * 9 + 1 * 3 + 1: return LOOP(s, flags, 1, 1, 1);                        \
        case 1 * 9 + 2 * 3 + 0: return LOOP(s, flags, 1, 2, 0);                        \
        case 1 * 9 + 2 * 3 + 1: return LOOP(s, flags, 1, 2, 1);                        \
        case 2 * 9 + 0 * 3 + 0: return LOOP(s, flags, 2, 0, 0);                        \
        case 2 * 9 + 0 * 3 + 1: return LOOP(s, flags, 2, 0, 1);                        \
        case 2 * 9 + 1 * 3 + 0: return LOOP(s, flags, 2, 1, 0);                        \
        case 2 * 9 + 1 * 3 + 1: return LOOP(s, flags, 2, 1, 1);                        \
        case 2 * 9 + 2 * 3 + 0: return LOOP(s, flags, 2, 2, 0);                        \
        case 2 * 9 + 2 * 3 + 1: return LOOP(s, flags, 2, 2, 1);                        \
        default: return 0.0; /* nothing asked (an element-wise grad_output needs "none") */ \
        }                                                                              \
    } while (0)

/* one contiguous run of elements */
typedef struct {
    ptrdiff_t n;
    const void* x;
    const void* t;
    const void* w;      /* NULL: unweighted */
    ptrdiff_t wstep;    /* 0: w[0] for every element, 1: w[i] */
    void* loss;         /* NULL: no per-element loss (the sum is returned if want_sum) */
    void* grad;         /* NULL: no gradient */
    const void* gvec;   /* NULL: the scalar gscale is the upstream gradient */
    double gscale;      /* upstream gradient, already divided by N for "mean" */
    int want_sum;
    int logits;         /* 0: input holds probabilities, 1: logits */
    double ls;          /* label smoothing: t' = t (1 - ls) + ls / 2 */
    const void* pw;     /* logits only: NULL, or the positive-class weight */
    ptrdiff_t pwstep;   /* 0: pw[0] for every element, 1: pw[i] */
    void* hess;         /* logits only: NULL, or where the second derivative goes */
} fb_seg;

#define FB_ISA(name) name##_baseline
#include "_simd_body.h"
#undef FB_ISA

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FB_HAVE_AVX2_BUILD 1
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#define FB_ISA(name) name##_avx2
#include "_simd_body.h"
#undef FB_ISA
#pragma GCC pop_options
#else
#define FB_HAVE_AVX2_BUILD 0
#endif

typedef double (*fb_seg_fn)(const fb_seg*, int*);
static fb_seg_fn fb_seg_f32_impl = seg_f32_baseline;
static fb_seg_fn fb_seg_f64_impl = seg_f64_baseline;
static const char* fb_isa = "baseline";

static inline double fb_seg_f32(const fb_seg* s, int* flags) { return fb_seg_f32_impl(s, flags); }
static inline double fb_seg_f64(const fb_seg* s, int* flags) { return fb_seg_f64_impl(s, flags); }

static int fb_cpu_has_avx2(void)
{
#if FB_HAVE_AVX2_BUILD
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

/* "avx2" (if the CPU has it), "baseline", or "auto" (the best this CPU runs). 0 on success. */
static int fb_select_isa(const char* name)
{
    int avx2 = fb_cpu_has_avx2();
    if (strcmp(name, "auto") == 0)
        name = avx2 ? "avx2" : "baseline";
    if (strcmp(name, "baseline") == 0) {
        fb_seg_f32_impl = seg_f32_baseline;
        fb_seg_f64_impl = seg_f64_baseline;
        fb_isa = "baseline";
        return 0;
    }
#if FB_HAVE_AVX2_BUILD
    if (strcmp(name, "avx2") == 0 && avx2) {
        fb_seg_f32_impl = seg_f32_avx2;
        fb_seg_f64_impl = seg_f64_avx2;
        fb_isa = "avx2";
        return 0;
    }
#endif
    return -1;
}

static const char* fb_isa_name(void) { return fb_isa; }

#endif
