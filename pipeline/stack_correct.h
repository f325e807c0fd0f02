/* stack_correct.h: private interface of stack_correct.c, the vectorised
 * flat/dark correction of raw uint16 counts under fixed references (the
 * common detector case of stack.c).  Not installed. */
#ifndef XANES_STACK_CORRECT_H
#define XANES_STACK_CORRECT_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* What the fixed references alone decide about a pixel, in the precedence
 * of the per-voxel correction: a non-finite flat or dark makes it
 * non-finite whatever the counts (uint16 counts are always finite); a
 * saturated flat makes it saturated; f - d <= 0 makes it non-positive unless
 * the counts are saturated, which comes first. */
enum {
    STACK_REF_OK = 0,
    STACK_REF_NONFINITE = 1,
    STACK_REF_SATURATED = 2,
    STACK_REF_NONPOSITIVE = 3
};

/* Per-pixel references of one row block, fixed for every frame. */
typedef struct {
    const double *dark;       /* [n] dark, or NULL (dark = 0)                */
    const double *den;        /* [n] f - d                                   */
    const double *inv_den;    /* [n] 1 / (f - d) (1 where cls is not OK)     */
    const unsigned char *cls; /* [n] STACK_REF_*                             */
    double sat_img;           /* counts at or above it are saturated         */
} stack_fixed_refs;

/* Counts of one call (added to by the call). */
typedef struct {
    size_t nonfinite, saturated, nonpositive;
    size_t fallbacks; /* blocks recomputed with log(): the fast log left a rounding open */
    unsigned lo, hi;  /* smallest and largest count seen (lo starts at UINT16_MAX+1) */
} stack_correct_counts;

/* The elementwise -ln(x) of the correction, for x > 0 normal and finite:
 * a double-precision bit split (x = 2^k m, m in [0.7, 1.4)) and the atanh
 * series of ln m in s = (m-1)/(m+1) to s^19, whose truncation error is below
 * 2^-50 relative.  Branch-free, so loops over it vectorise.  Its absolute
 * error is below STACK_NEGLOG_ERR(result) (tests/test_stack_correct.c checks
 * the bound against log() over [2^-149, 2^128), near 1 and at the seams of
 * the split). */
#define STACK_NEGLOG_ERR(r) (fabs(r) * 0x1p-46 + 0x1p-48)
static inline double stack_neglog(double x)
{
    /* x = 2^k z with z in [OFF, 2 OFF), OFF just under sqrt(1/2) (musl's
     * split).  The exponent is taken with logical shifts only (SSE2 has no
     * 64-bit arithmetic shift): the bias 2^62 keeps tmp positive for every
     * positive x, so k + 1024 = tmp >> 52. */
    const uint64_t off = 0x3fe6955500000000ull, bias = 1ull << 62;
    uint64_t ix;
    memcpy(&ix, &x, sizeof ix);
    const uint64_t tmp = ix - off + bias;
    const uint64_t iz = ix - (tmp & 0xfff0000000000000ull) + bias;
    /* (k + 1024) as a double: its bits below 2^52 of the double 2^52. */
    const uint64_t kb = (tmp >> 52) | 0x4330000000000000ull;
    double kd, z;
    memcpy(&kd, &kb, sizeof kd);
    memcpy(&z, &iz, sizeof z);
    kd -= 0x1p52 + 1024.0;
    const double f = z - 1.0; /* exact: z in [0.70, 1.41) */
    const double s = f / (2.0 + f), w = s * s;
    /* ln z = 2 atanh(s) = 2 s (1 + w/3 + w^2/5 + ... + w^9/19), |s| < 0.172:
     * the first omitted term, w^10/21 < 2^-52. */
    double p = 1.0 / 19.0;
    p = p * w + 1.0 / 17.0;
    p = p * w + 1.0 / 15.0;
    p = p * w + 1.0 / 13.0;
    p = p * w + 1.0 / 11.0;
    p = p * w + 1.0 / 9.0;
    p = p * w + 1.0 / 7.0;
    p = p * w + 1.0 / 5.0;
    p = p * w + 1.0 / 3.0;
    const double lnz = 2.0 * s + 2.0 * s * (w * p);
    /* ln 2 split so that k ln2_hi is exact for |k| < 2^11. */
    const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    return -((kd * ln2_hi + lnz) + kd * ln2_lo);
}

/* Corrects pixels [0, n) of one frame of raw uint16 counts img16 into out:
 * out[i] = (float)(-ln((v - d) / (f - d))) exactly as the reference
 * expression computed with libm's log in double and rounded to float (the
 * fast log decides the float; where its error bound straddles a rounding
 * boundary, the voxel is recomputed with log()), NaN for invalid voxels,
 * whose classes are added to *c.  refs point at the same pixels as img16.
 * Serial, no allocation; call it per thread on disjoint pieces. */
void stack_correct_u16_fixed(size_t n, const uint16_t *restrict img16, const stack_fixed_refs *refs,
                             float *restrict out, stack_correct_counts *c);

/* The same at x86-64 level `level` (isa.h: 0, 3, 4; the caller makes sure
 * the CPU has it), for the tests that compare the levels. */
void stack_correct_u16_fixed_at(int level, size_t n, const uint16_t *restrict img16,
                                const stack_fixed_refs *refs, float *restrict out,
                                stack_correct_counts *c);

#endif
