/* stack_correct.c: the Beer-Lambert correction A = -ln((I - D) / (F - D)) of
 * raw uint16 counts under fixed (averaged) references, vectorised, with the
 * same float result as the plain expression.
 *
 * The plain per-voxel form, (float)(-log(num / den)) with libm's double log,
 * spent a third of the read in log().  Here each block of CHUNK voxels goes
 * through one branch-free loop that the compiler vectorises: the class of
 * the voxel (reference class, saturated count, non-positive numerator), the
 * ratio num * (1/den), and stack_neglog (stack_correct.h), a bit-split plus
 * atanh-series log in double whose absolute error is below a known bound E.
 * The float is then decided without libm: if r - E and r + E round to the
 * same float, every value in between does too (rounding is monotone), and
 * the libm value lies in between, so the float equals the plain one.  Where
 * they round apart (the exact value lies within E of a rounding boundary:
 * about one voxel in 10^5 for absorbances of order 0.1), the block is
 * recomputed with the plain expression.  So the result is bit-identical to
 * the plain correction (tests/test_stack.c compares every voxel exactly;
 * tests/test_stack_correct.c forces the fallback).  The idea of deciding a
 * correctly rounded result from a fast approximation plus an error bound is
 * Ziv's rounding test (A. Ziv, ACM TOMS 17, 410 (1991)).
 */
#include "stack_correct.h"

#include <math.h>
#include <string.h>

#include "isa.h"

/* Voxels per block: the fallback recomputes a block, so small enough that
 * a rare rounding case costs little, large enough for a long vector loop. */
#define CHUNK 256

/* The plain expression, for the blocks whose rounding the fast log leaves
 * open; also counts nothing (the fast loop counted). */
static void plain_block(size_t n, const uint16_t *restrict img16, const stack_fixed_refs *refs,
                        float *restrict out)
{
    for (size_t i = 0; i < n; i++) {
        const double v = (double)img16[i];
        const unsigned char c = refs->cls[i];
        if (c != STACK_REF_OK || v >= refs->sat_img)
            continue;
        const double num = v - (refs->dark != NULL ? refs->dark[i] : 0.0);
        if (num > 0.0)
            out[i] = (float)(-log(num / refs->den[i]));
    }
}

/* Bitwise selects: a ?: on floating-point values is not if-converted under
 * -ftrapping-math (the compiler will not speculate a conversion that might
 * trap), an integer select is, so the loop stays branch-free. */
static inline double sel_f64(unsigned ok, double a, double b)
{
    uint64_t ia, ib;
    memcpy(&ia, &a, sizeof ia);
    memcpy(&ib, &b, sizeof ib);
    const uint64_t m = (uint64_t)0 - (uint64_t)ok;
    ia = (ia & m) | (ib & ~m);
    memcpy(&a, &ia, sizeof a);
    return a;
}

static inline float sel_f32(unsigned ok, float a, float b)
{
    uint32_t ia, ib;
    memcpy(&ia, &a, sizeof ia);
    memcpy(&ib, &b, sizeof ib);
    const uint32_t m = 0u - ok;
    ia = (ia & m) | (ib & ~m);
    memcpy(&a, &ia, sizeof a);
    return a;
}

/* One voxel: count v with numerator num = v - d and reference class k;
 * adds to the class counters and returns the absorbance (NaN if invalid),
 * setting *open when its float rounding is not decided. */
static inline float voxel(double v, double num, unsigned k, double inv, double sat,
                          size_t *nonfinite, size_t *saturated, size_t *nonpositive, unsigned *open)
{
    const unsigned is_nf = k == STACK_REF_NONFINITE;
    const unsigned is_sat = (is_nf ^ 1u) & ((v >= sat) | (k == STACK_REF_SATURATED));
    const unsigned is_np =
        (is_nf ^ 1u) & (is_sat ^ 1u) & ((k == STACK_REF_NONPOSITIVE) | !(num > 0.0));
    const unsigned ok = !(is_nf | is_sat | is_np);
    *nonfinite += is_nf;
    *saturated += is_sat;
    *nonpositive += is_np;
    /* Invalid voxels take x = 1 (a harmless log), then NaN. */
    const double r = stack_neglog(sel_f64(ok, num * inv, 1.0));
    const double e = STACK_NEGLOG_ERR(r);
    const float rf = (float)r, rlo = (float)(r - e), rhi = (float)(r + e);
    *open |= ok & (rlo != rhi);
    return sel_f32(ok, rf, NAN);
}

/* One block of m voxels, branch-free; returns nonzero when some voxel's
 * float rounding is left open.  dd NULL: no dark.  Defined once per
 * instruction-set level by a macro, because `omp simd` sizes its lane
 * arrays by the target of the function that holds the loop. */
typedef unsigned (*chunk_fn)(size_t m, const uint16_t *restrict vv, const double *restrict dd,
                             const unsigned char *restrict cc, const double *restrict iv,
                             double sat, float *restrict o, size_t *restrict cnt,
                             unsigned *restrict lo_io, unsigned *restrict hi_io);

/* _Pragma takes one unbroken string literal, which clang-format would split. */
// clang-format off
#define SIMD_REDUCTIONS                                                                            \
    _Pragma("omp simd reduction(+ : nonfinite, saturated, nonpositive) reduction(| : open) reduction(min : lo) reduction(max : hi)")
// clang-format on

#define DEFINE_CHUNK(NAME, ATTR)                                                                   \
    ATTR static unsigned NAME(size_t m, const uint16_t *restrict vv, const double *restrict dd,    \
                              const unsigned char *restrict cc, const double *restrict iv,         \
                              double sat, float *restrict o, size_t *restrict cnt,                 \
                              unsigned *restrict lo_io, unsigned *restrict hi_io)                  \
    {                                                                                              \
        size_t nonfinite = 0, saturated = 0, nonpositive = 0;                                      \
        unsigned open = 0, lo = *lo_io, hi = *hi_io;                                               \
        if (dd != NULL) {                                                                          \
            SIMD_REDUCTIONS                                                                        \
            for (size_t i = 0; i < m; i++) {                                                       \
                const unsigned u = vv[i];                                                          \
                lo = u < lo ? u : lo;                                                              \
                hi = u > hi ? u : hi;                                                              \
                const double v = (double)u;                                                        \
                o[i] = voxel(v, v - dd[i], cc[i], iv[i], sat, &nonfinite, &saturated,              \
                             &nonpositive, &open);                                                 \
            }                                                                                      \
        } else {                                                                                   \
            SIMD_REDUCTIONS                                                                        \
            for (size_t i = 0; i < m; i++) {                                                       \
                const unsigned u = vv[i];                                                          \
                lo = u < lo ? u : lo;                                                              \
                hi = u > hi ? u : hi;                                                              \
                const double v = (double)u;                                                        \
                o[i] =                                                                             \
                    voxel(v, v, cc[i], iv[i], sat, &nonfinite, &saturated, &nonpositive, &open);   \
            }                                                                                      \
        }                                                                                          \
        cnt[0] += nonfinite;                                                                       \
        cnt[1] += saturated;                                                                       \
        cnt[2] += nonpositive;                                                                     \
        *lo_io = lo;                                                                               \
        *hi_io = hi;                                                                               \
        return open;                                                                               \
    }

DEFINE_CHUNK(chunk_base, )

/* The block for two more x86-64 levels, the best picked at run time: 2, 4
 * or 8 doubles a vector.  Every level does the same IEEE operations in the
 * same order (ISO C: no contraction into FMA), so the output does not
 * depend on the machine. */
#ifdef XANES_ISA_DISPATCH
#define CORRECT_DISPATCH 1
DEFINE_CHUNK(chunk_v3, __attribute__((target("arch=x86-64-v3"))))
DEFINE_CHUNK(chunk_v4, __attribute__((target("arch=x86-64-v4"))))
#endif

void stack_correct_u16_fixed(size_t n, const uint16_t *restrict img16, const stack_fixed_refs *refs,
                             float *restrict out, stack_correct_counts *c)
{
    stack_correct_u16_fixed_at(xanes_isa_best(), n, img16, refs, out, c);
}

void stack_correct_u16_fixed_at(int level, size_t n, const uint16_t *restrict img16,
                                const stack_fixed_refs *refs, float *restrict out,
                                stack_correct_counts *c)
{
    chunk_fn chunk = chunk_base;
#ifdef CORRECT_DISPATCH
    if (level >= 4)
        chunk = chunk_v4;
    else if (level >= 3)
        chunk = chunk_v3;
#else
    (void)level;
#endif
    size_t cnt[3] = {0, 0, 0}, fallbacks = 0;
    for (size_t c0 = 0; c0 < n; c0 += CHUNK) {
        const size_t m = n - c0 < CHUNK ? n - c0 : CHUNK;
        const double *dd = refs->dark != NULL ? refs->dark + c0 : NULL;
        if (chunk(m, img16 + c0, dd, refs->cls + c0, refs->inv_den + c0, refs->sat_img, out + c0,
                  cnt, &c->lo, &c->hi)) {
            stack_fixed_refs sub = *refs;
            sub.dark = dd;
            sub.den = refs->den + c0;
            sub.cls = refs->cls + c0;
            plain_block(m, img16 + c0, &sub, out + c0);
            fallbacks++;
        }
    }
    c->nonfinite += cnt[0];
    c->saturated += cnt[1];
    c->nonpositive += cnt[2];
    c->fallbacks += fallbacks;
}
