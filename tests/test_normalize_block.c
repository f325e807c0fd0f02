/* test_normalize_block.c: xanes_normalize_plan_apply_block, the form of the
 * fixed-grid plan that the edge map runs on 64 pixels at once, equals
 * xanes_normalize_plan_apply spectrum by spectrum, bit for bit.
 *
 * Truth is the scalar plan_apply (itself tested against the one-spectrum
 * normalization in test_normalize_plan.c).  Spectra: arctan edges at
 * energies drawn over the grid, Gaussian noise from none to larger than the
 * edge step (so the first crossing falls early, late or nowhere), inverted
 * edges, spectra already above the half level where the search starts, flat
 * zero spectra (zero edge step) and NaN/Inf samples; plans for larch's
 * sample fit (with nvict 0 and 1) and the interpolant fit with both edge
 * kinds; blocks of 64, 37 and 1 spectra with a stride wider than the block;
 * every x86-64 level the machine has (isa.h) gives the same values.
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
#include "normalize_block.h"
#include "testutil.h"
#include "xanes/normalize.h"

enum { NE = 80, NPIX = 64 * 40 + 37 };

static uint64_t rng = 0x2545F4914F6CDD1Dull;

static double uniform(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return ((double)(rng >> 11) + 0.5) / 9007199254740992.0;
}

static double normal(void)
{
    return sqrt(-2.0 * log(uniform())) * cos(6.283185307179586 * uniform());
}

/* The TXM grid of bench_run: 8300..8450 eV, 60 % of the points on the edge. */
static void grid(double *e)
{
    const size_t n_edge = (size_t)(0.6 * NE), n_lo = (NE - n_edge) / 3, n_hi = NE - n_edge - n_lo;
    for (size_t k = 0; k < n_lo; k++)
        e[k] = 8300.0 + 40.0 * (double)k / (double)n_lo;
    for (size_t k = 0; k < n_edge; k++)
        e[n_lo + k] = 8340.0 + 35.0 * (double)k / (double)n_edge;
    for (size_t k = 0; k < n_hi; k++)
        e[n_lo + n_edge + k] = 8375.0 + 75.0 * (double)k / (double)(n_hi - 1);
}

/* stack[i * NPIX + p]: spectrum p. */
static void make_stack(const double *e, float *stack)
{
    for (size_t p = 0; p < NPIX; p++) {
        const double e0 = 8345.0 + 20.0 * uniform(), jump = 0.2 + 1.5 * uniform();
        const double sigma = jump * pow(10.0, -4.0 + 4.3 * uniform());
        const double sign = p % 17 == 5 ? -1.0 : 1.0;
        const double base = 0.1 + 0.5 * uniform(), slope = 1e-4 * normal();
        for (size_t i = 0; i < NE; i++) {
            const double step = 0.5 + atan((e[i] - e0) / 1.5) / 3.141592653589793;
            stack[i * NPIX + p] =
                (float)(base + slope * (e[i] - 8300.0) + sign * jump * step + sigma * normal());
        }
    }
    for (size_t p = 3; p < NPIX; p += 101) /* flat zero: zero edge step */
        for (size_t i = 0; i < NE; i++)
            stack[i * NPIX + p] = 0.0f;
    for (size_t p = 7; p < NPIX; p += 89) /* one bad sample */
        stack[(p % NE) * NPIX + p] = p % 2 ? NAN : INFINITY;
    for (size_t p = 11; p < NPIX; p += 97) /* above the half level from the start */
        for (size_t i = 0; i < NE; i++)
            stack[i * NPIX + p] = (float)(i < 12 ? 2.0 : 1.0 + 0.001 * (double)i);
}

static void same(double got, double want, const char *what, size_t p)
{
    if (isnan(want) ? !isnan(got) : got != want)
        fail_msg("pixel %zu: block %s %.17g, plan_apply %.17g", p, what, got, want);
}

static void check_plan(const double *e, const float *stack, const xanes_normalize_params *prm,
                       size_t *n_half, size_t *n_status)
{
    xanes_error err;
    xanes_error_clear(&err);
    xanes_normalize_plan *plan = xanes_normalize_plan_alloc(e, NE, prm, &err);
    if (plan == NULL)
        fail_msg("plan: %s", err.message);
    double *bs = malloc(xanes_normalize_plan_block_scratch_size(plan) * sizeof *bs);
    double *ss = malloc(xanes_normalize_plan_scratch_size(plan) * sizeof *ss);
    assert_non_null(bs);
    assert_non_null(ss);
    enum { B = XANES_NORMALIZE_BLOCK };
    unsigned char status[B];
    double step[B], rms[B], half[B], deriv[B];
    xanes_normalize_block out = {status, step, rms, half, deriv};
    const size_t widths[3] = {B, 37, 1};
    size_t p0 = 0, wi = 0;
    while (p0 < NPIX) {
        size_t w = widths[wi++ % 3];
        w = NPIX - p0 < w ? NPIX - p0 : w;
        assert_int_equal(
            xanes_normalize_plan_apply_block(plan, stack + p0, NPIX, w, bs, &out, &err), XANES_OK);
        /* Every x86-64 level this machine has gives the same values. */
        for (int level = 0; level < xanes_isa_best(); level += level == 0 ? 3 : 1) {
            unsigned char ls[B];
            double l1[B], l2[B], l3[B], l4[B];
            xanes_normalize_block lo = {ls, l1, l2, l3, l4};
            assert_int_equal(
                normalize_plan_apply_block_at(level, plan, stack + p0, NPIX, w, bs, &lo, &err),
                XANES_OK);
            assert_memory_equal(ls, status, w);
            assert_memory_equal(l1, step, w * sizeof *l1);
            assert_memory_equal(l2, rms, w * sizeof *l2);
            assert_memory_equal(l3, half, w * sizeof *l3);
            assert_memory_equal(l4, deriv, w * sizeof *l4);
        }
        for (size_t j = 0; j < w; j++) {
            const size_t p = p0 + j;
            xanes_normalize_result r;
            const xanes_status st =
                xanes_normalize_plan_apply(plan, stack + p, NPIX, ss, &r, NULL, NULL, NULL);
            int finite = 1;
            for (size_t i = 0; i < NE; i++)
                finite = finite && isfinite(stack[i * NPIX + p]);
            const int want = st == XANES_OK ? XANES_NORMALIZE_BLOCK_OK
                             : !finite      ? XANES_NORMALIZE_BLOCK_NONFINITE
                                            : XANES_NORMALIZE_BLOCK_NO_STEP;
            if (status[j] != want)
                fail_msg("pixel %zu: block status %d, plan_apply says %d", p, status[j], want);
            n_status[want]++;
            if (want != XANES_NORMALIZE_BLOCK_OK)
                continue;
            same(step[j], r.edge_step_signed, "edge step", p);
            same(rms[j], r.pre_rms, "pre rms", p);
            same(half[j], (prm->edges & XANES_NORMALIZE_EDGE_HALF) ? r.half_edge_ev : NAN,
                 "half edge", p);
            same(deriv[j], (prm->edges & XANES_NORMALIZE_EDGE_DERIV) ? r.deriv_edge_ev : NAN,
                 "derivative edge", p);
            *n_half += isfinite(half[j]);
        }
        p0 += w;
    }
    free(ss);
    free(bs);
    xanes_normalize_plan_free(plan);
}

static void test_block_equals_scalar(void **state)
{
    (void)state;
    double e[NE];
    grid(e);
    float *stack = malloc((size_t)NE * NPIX * sizeof *stack);
    assert_non_null(stack);
    make_stack(e, stack);
    for (int c = 0; c < 5; c++) {
        xanes_normalize_params p;
        xanes_normalize_default_params(&p);
        p.e0_ev = 8355.1;
        p.edges = XANES_NORMALIZE_EDGE_HALF;
        if (c == 1)
            p.nvict = 1.0;
        if (c >= 2) { /* the standards' edge definition: interpolant fit */
            p.pre1_ev = -50.0;
            p.pre2_ev = -25.0;
            p.norm1_ev = 30.0;
            p.norm2_ev = 90.0;
            p.nnorm = 1;
            p.fit_interpolant = 1;
            p.edges = c == 2 ? XANES_NORMALIZE_EDGE_HALF
                             : XANES_NORMALIZE_EDGE_HALF | XANES_NORMALIZE_EDGE_DERIV;
        }
        if (c == 4) /* ... with its Steffen crossing (the window around the bracket) */
            p.crossing = XANES_EDGE_CROSS_STEFFEN;
        size_t n_half = 0, n_status[3] = {0, 0, 0};
        check_plan(e, stack, &p, &n_half, n_status);
        print_message("plan %d: %zu ok (%zu with a half edge), %zu non-finite, %zu no step\n", c,
                      n_status[0], n_half, n_status[1], n_status[2]);
        /* Every path was taken. */
        assert_true(n_half > NPIX / 2);
        assert_true(n_half < n_status[0]);
        assert_true(n_status[1] > 10);
        assert_true(n_status[2] > 10);
    }
    free(stack);
}

static void test_block_bad_arguments(void **state)
{
    (void)state;
    double e[NE];
    grid(e);
    xanes_normalize_params p;
    xanes_normalize_default_params(&p);
    p.e0_ev = 8355.1;
    xanes_error err;
    xanes_error_clear(&err);
    xanes_normalize_plan *plan = xanes_normalize_plan_alloc(e, NE, &p, &err);
    assert_non_null(plan);
    double *bs = malloc(xanes_normalize_plan_block_scratch_size(plan) * sizeof *bs);
    float mu[NE] = {0};
    unsigned char status[XANES_NORMALIZE_BLOCK + 1];
    double d[4][XANES_NORMALIZE_BLOCK + 1];
    xanes_normalize_block out = {status, d[0], d[1], d[2], d[3]};
    assert_int_equal(xanes_normalize_plan_apply_block(plan, mu, 1, 0, bs, &out, &err),
                     XANES_EINVAL);
    assert_non_null(strstr(err.message, "0 spectra"));
    xanes_error_clear(&err);
    assert_int_equal(
        xanes_normalize_plan_apply_block(plan, mu, 1, XANES_NORMALIZE_BLOCK + 1, bs, &out, &err),
        XANES_EINVAL);
    assert_non_null(strstr(err.message, "65 spectra"));
    free(bs);
    xanes_normalize_plan_free(plan);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_block_equals_scalar),
        cmocka_unit_test(test_block_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
