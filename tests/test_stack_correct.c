/* test_stack_correct.c: the vectorised flat/dark correction of raw uint16
 * counts (pipeline/stack_correct.c) and its fast log.
 *
 * Truth is libm: stack_neglog must stay within its documented error bound of
 * -log(x) over the whole float range (2^-149 .. 2^128), near 1 (where the
 * absorbance is small) and at powers of two (the bit split's seams); the
 * kernel's output must equal, bit for bit, the plain expression
 * (float)(-log((v - d) / (f - d))) on random counts with every invalid class
 * planted, with and without a dark, at every x86-64 level the machine has
 * (isa.h), and on ratios built to fall within
 * 1e-16 of a float rounding boundary, which must take the libm fallback.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "isa.h"
#include "stack_correct.h"
#include "testutil.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static double uniform(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

static void check_log(double x, double *worst)
{
    const double want = -log(x), got = stack_neglog(x);
    const double err = fabs(got - want), bound = STACK_NEGLOG_ERR(want);
    if (!(err <= bound))
        fail_msg("stack_neglog(%.17g) = %.17g, log gives %.17g: error %.3g over the bound %.3g", x,
                 got, want, err, bound);
    const double rel = err / (fabs(want) + 0x1p-60);
    *worst = rel > *worst ? rel : *worst;
}

static void test_neglog_bound(void **state)
{
    (void)state;
    double worst = 0.0;
    /* Log-uniform over the float range, denormal floats included. */
    for (int i = 0; i < 2000000; i++)
        check_log(ldexp(1.0 + uniform(), -149 + (int)(277.0 * uniform())), &worst);
    /* Near 1: absorbances down to 1e-12. */
    for (int i = 0; i < 200000; i++) {
        const double d = pow(10.0, -12.0 + 11.0 * uniform());
        check_log(1.0 + (uniform() < 0.5 ? d : -d), &worst);
    }
    /* Powers of two and their neighbours, and the split point. */
    for (int e = -149; e <= 127; e++) {
        const double p = ldexp(1.0, e);
        check_log(p, &worst);
        check_log(nextafter(p, 0.0), &worst);
        check_log(nextafter(p, INFINITY), &worst);
        check_log(ldexp(0x1.6955500000000p-1, e), &worst);
        check_log(ldexp(nextafter(0x1.6955500000000p-1, 0.0), e), &worst);
    }
    check_log(1.0, &worst);
    check_log((double)3.40282346638528859812e+38, &worst);
    /* The bound leaves room (the rounding test relies on it): the error
     * seen is far below 2^-46 relative. */
    print_message("stack_neglog: largest relative error %.3g (2^%.1f)\n", worst, log2(worst));
    assert_true(worst < 0x1p-49);
}

typedef struct {
    size_t nonfinite, saturated, nonpositive;
} plain_counts;

/* The plain correction of stack.c, voxel by voxel, as the tests of
 * test_stack.c compute it. */
static float plain(double v, double f, double d, int has_dark, double sat_img, double sat_flat,
                   plain_counts *c)
{
    if (!isfinite(f) || (has_dark && !isfinite(d))) {
        c->nonfinite++;
        return NAN;
    }
    if (v >= sat_img || f >= sat_flat) {
        c->saturated++;
        return NAN;
    }
    if (v - d <= 0.0 || f - d <= 0.0) {
        c->nonpositive++;
        return NAN;
    }
    return (float)(-log((v - d) / (f - d)));
}

/* Runs the kernel over n voxels of counts v16 with flats f and darks d (d
 * NULL: none) and compares each voxel and the counts with plain().
 * Returns the kernel's fallback count. */
static size_t run_and_compare(size_t n, const uint16_t *v16, const double *f, const double *d)
{
    const double sat_img = 65535.0, sat_flat = 65535.0;
    double *den = malloc(n * sizeof *den), *inv = malloc(n * sizeof *inv);
    unsigned char *cls = malloc(n);
    float *out = malloc(n * sizeof *out);
    assert_non_null(den);
    assert_non_null(inv);
    assert_non_null(cls);
    assert_non_null(out);
    /* The references as stack.c's prepare_fixed_refs classifies them. */
    for (size_t i = 0; i < n; i++) {
        const double dd = d != NULL ? d[i] : 0.0;
        cls[i] = !isfinite(f[i]) || !isfinite(dd) ? STACK_REF_NONFINITE
                 : f[i] >= sat_flat               ? STACK_REF_SATURATED
                 : f[i] - dd <= 0.0               ? STACK_REF_NONPOSITIVE
                                                  : STACK_REF_OK;
        den[i] = f[i] - dd;
        inv[i] = cls[i] == STACK_REF_OK ? 1.0 / den[i] : 1.0;
    }
    stack_fixed_refs refs = {d, den, inv, cls, sat_img};
    stack_correct_counts c = {0, 0, 0, 0, 65536, 0};
    stack_correct_u16_fixed(n, v16, &refs, out, &c);
    /* Every x86-64 level this machine has gives the same floats and counts
     * as the one picked. */
    float *lvl = malloc(n * sizeof *lvl);
    assert_non_null(lvl);
    for (int level = 0; level <= xanes_isa_best(); level += level == 0 ? 3 : 1) {
        stack_correct_counts cl = {0, 0, 0, 0, 65536, 0};
        stack_correct_u16_fixed_at(level, n, v16, &refs, lvl, &cl);
        assert_memory_equal(lvl, out, n * sizeof *out);
        assert_memory_equal(&cl, &c, sizeof cl);
    }
    free(lvl);
    plain_counts pc = {0, 0, 0};
    unsigned lo = 65536, hi = 0;
    for (size_t i = 0; i < n; i++) {
        const float want =
            plain((double)v16[i], f[i], d != NULL ? d[i] : 0.0, d != NULL, sat_img, sat_flat, &pc);
        lo = v16[i] < lo ? v16[i] : lo;
        hi = v16[i] > hi ? v16[i] : hi;
        if (isnan(want) ? !isnan(out[i]) : out[i] != want)
            fail_msg("voxel %zu (v %u, f %.17g, d %.17g): got %.9g, want %.9g", i, (unsigned)v16[i],
                     f[i], d != NULL ? d[i] : 0.0, (double)out[i], (double)want);
    }
    assert_int_equal(c.nonfinite, pc.nonfinite);
    assert_int_equal(c.saturated, pc.saturated);
    assert_int_equal(c.nonpositive, pc.nonpositive);
    assert_int_equal(c.lo, lo);
    assert_int_equal(c.hi, hi);
    free(out);
    free(cls);
    free(inv);
    free(den);
    return c.fallbacks;
}

static void test_kernel_equals_plain(void **state)
{
    (void)state;
    enum { N = 300007 }; /* not a multiple of the block */
    uint16_t *v = malloc(N * sizeof *v);
    double *f = malloc(N * sizeof *f), *d = malloc(N * sizeof *d);
    assert_non_null(v);
    assert_non_null(f);
    assert_non_null(d);
    for (size_t i = 0; i < N; i++) {
        /* Darks averaged from 3 frames (thirds), flats from 4 (quarters). */
        d[i] = (double)(270 + (int)(60.0 * uniform())) / 3.0;
        f[i] = (double)(4 * 3000 + (int)(4.0 * 50000.0 * uniform())) / 4.0;
        v[i] = (uint16_t)(d[i] + 1.0 + (f[i] - d[i]) * uniform());
    }
    /* Every class, several times. */
    for (size_t i = 11; i < N; i += 9973) {
        v[i] = 65535;                          /* saturated count      */
        f[i + 1] = 65535.0;                    /* saturated flat       */
        v[i + 2] = 0;                          /* I - D < 0            */
        v[i + 3] = (uint16_t)d[i + 3];         /* I - D <= 0 (d > v)   */
        f[i + 4] = d[i + 4] - 1.0;             /* F - D < 0            */
        f[i + 5] = NAN;                        /* broken flat          */
        d[i + 6] = INFINITY;                   /* broken dark          */
        v[i + 7] = 65535, f[i + 7] = d[i + 7]; /* saturation first     */
        v[i + 8] = 65535, f[i + 8] = NAN;      /* non-finite first     */
        f[i + 9] = d[i + 9], v[i + 9] = 200;   /* F - D = 0            */
    }
    run_and_compare(N, v, f, d);
    /* No dark: integer counts over integer flats. */
    for (size_t i = 0; i < N; i++) {
        f[i] = (double)(3000 + (int)(50000.0 * uniform()));
        v[i] = (uint16_t)(f[i] * uniform());
    }
    run_and_compare(N, v, f, NULL);
    free(d);
    free(f);
    free(v);
}

/* Ratios whose -ln falls within ~1e-16 of the midpoint between two floats:
 * the fast log cannot decide them, the kernel must fall back to log() and
 * still give the plain float. */
static void test_kernel_rounding_fallback(void **state)
{
    (void)state;
    enum { N = 4096 };
    uint16_t v[N];
    double f[N];
    for (size_t i = 0; i < N; i++) {
        const float a = (float)(0.02 + 2.5 * uniform());
        const double mid = (double)a + 0.5 * (double)(nextafterf(a, INFINITY) - a);
        v[i] = (uint16_t)(1000 + (int)(30000.0 * uniform()));
        f[i] = (double)v[i] / exp(-mid);
    }
    const size_t fb = run_and_compare(N, v, f, NULL);
    print_message("fallback blocks: %zu of %d\n", fb, (N + 255) / 256);
    assert_true(fb > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_neglog_bound),
        cmocka_unit_test(test_kernel_equals_plain),
        cmocka_unit_test(test_kernel_rounding_fallback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
