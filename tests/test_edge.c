/* test_edge.c: edge energies on plain arrays against closed-form truth. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "xanes/edge.h"

#define N 200

static void near(double a, double b, double tol, const char *what)
{
    if (!(fabs(a - b) <= tol))
        fail_msg("%s = %.12g, expected %.12g within %.3g", what, a, b, tol);
}

/* Non-uniform grid: spacing grows smoothly from 0.3 to about 1.1 eV. */
static void nonuniform_grid(double *e, size_t n)
{
    e[0] = 8300.0;
    for (size_t i = 1; i < n; i++)
        e[i] = e[i - 1] + 0.3 + 0.8 * (double)i / (double)n + 0.05 * sin(0.7 * (double)i);
}

/* For a quadratic mu the central secant slope is exact at the midpoint of its
 * interval, on any grid; the ends are one-sided differences. */
static void test_dmude_quadratic(void **state)
{
    (void)state;
    double e[N], mu[N], d[N];
    nonuniform_grid(e, N);
    const double a = 0.0173, b = -2.9e-3, c = 1.7, e0 = 8351.0;
    for (size_t i = 0; i < N; i++)
        mu[i] = c + a * (e[i] - e0) + b * (e[i] - e0) * (e[i] - e0);
    xanes_edge_dmude(e, mu, N, d);
    for (size_t i = 1; i + 1 < N; i++) {
        double m = 0.5 * (e[i - 1] + e[i + 1]);
        near(d[i], a + 2.0 * b * (m - e0), 1e-9, "interior slope");
    }
    near(d[0], (mu[1] - mu[0]) / (e[1] - e[0]), 1e-15, "first slope");
    near(d[N - 1], (mu[N - 1] - mu[N - 2]) / (e[N - 1] - e[N - 2]), 1e-15, "last slope");
}

/* A tanh edge plus a one-point glitch whose slope beats the edge's: larch's
 * rule (both neighbours above 10% of the maximum) skips the glitch. */
static void test_find_e0_glitch(void **state)
{
    (void)state;
    double e[N], mu[N], scratch[N];
    for (size_t i = 0; i < N; i++) {
        e[i] = 8200.0 + 1.5 * (double)i;
        mu[i] = 0.2 + 0.5 * (1.0 + tanh((e[i] - 8371.3) / 2.0));
    }
    mu[40] += 3.0; /* glitch at 8260 eV */
    xanes_edge_dmude(e, mu, N, scratch);
    assert_true(scratch[39] > scratch[114]); /* the glitch has the larger slope */
    size_t ie0 = 0;
    xanes_error err;
    xanes_error_clear(&err);
    assert_int_equal(xanes_edge_find_e0(e, mu, N, scratch, &ie0, &err), XANES_OK);
    /* Largest slope sample of the edge: nearest to 8371.3 on the 1.5 eV grid. */
    assert_int_equal(ie0, 114);

    /* Rising only inside the first 5% of the points: no edge. */
    for (size_t i = 0; i < N; i++)
        mu[i] = (i < 4) ? 0.1 * (double)i : 0.3;
    xanes_error_clear(&err);
    assert_int_equal(xanes_edge_find_e0(e, mu, N, scratch, &ie0, &err), XANES_EDATA);
    assert_non_null(strstr(err.message, "no edge"));
    xanes_error_clear(&err);
    assert_int_equal(xanes_edge_find_e0(e, mu, 6, scratch, &ie0, &err), XANES_EDATA);
    assert_non_null(strstr(err.message, "6 points"));
}

static void test_half_edge(void **state)
{
    (void)state;
    double e[N], y[N];
    nonuniform_grid(e, N);
    /* A pre-edge bump above the level before the start, then a linear rise
     * from 0 to 1 between samples 100 and 120: the crossing is exact. */
    for (size_t i = 0; i < N; i++) {
        if (i < 100)
            y[i] = 0.0;
        else if (i < 120)
            y[i] = (e[i] - e[100]) / (e[120] - e[100]);
        else
            y[i] = 1.0;
    }
    y[30] = 0.8;
    double he = NAN;
    xanes_error err;
    xanes_error_clear(&err);
    assert_int_equal(xanes_edge_half(e, y, N, 50, 0.5, &he, &err), XANES_OK);
    near(he, 0.5 * (e[100] + e[120]), 1e-9, "half edge");
    /* From the start of the data the bump is the first crossing. */
    assert_int_equal(xanes_edge_half(e, y, N, 0, 0.5, &he, &err), XANES_OK);
    near(he, e[29] + (0.5 / 0.8) * (e[30] - e[29]), 1e-9, "bump crossing");
    /* Already above the level at the start; never reaching it; bad start. */
    xanes_error_clear(&err);
    assert_int_equal(xanes_edge_half(e, y, N, 150, 0.5, &he, &err), XANES_EDATA);
    assert_true(isnan(he));
    assert_non_null(strstr(err.message, "already"));
    xanes_error_clear(&err);
    assert_int_equal(xanes_edge_half(e, y, N, 50, 1.5, &he, &err), XANES_EDATA);
    assert_non_null(strstr(err.message, "never reaches"));
    xanes_error_clear(&err);
    assert_int_equal(xanes_edge_half(e, y, N, N, 0.5, &he, &err), XANES_EINVAL);
}

/* mu = k (E-c) - (E-c)^3/3: dmu/dE = k - (E-c)^2 peaks at c.  On a uniform
 * grid the secant slopes are the true slopes minus h^2/3, a parabola with the
 * same vertex, so the refined maximum is c to rounding. */
static void test_deriv_edge(void **state)
{
    (void)state;
    double e[N], mu[N], d[N];
    const double c = 8351.237, k = 4.0, h = 0.35;
    for (size_t i = 0; i < N; i++) {
        e[i] = 8320.0 + h * (double)i;
        double x = (e[i] - c) / 3.0; /* scale so the peak spans many samples */
        mu[i] = k * x - x * x * x / 3.0;
    }
    xanes_edge_dmude(e, mu, N, d);
    double de = NAN;
    xanes_error err;
    xanes_error_clear(&err);
    assert_int_equal(xanes_edge_deriv(e, d, N, 10, N - 10, &de, &err), XANES_OK);
    near(de, c, 1e-9, "derivative edge");
    /* A window that excludes the peak: the largest slope is at its last
     * sample, still rising, so no vertex: that sample's midpoint abscissa. */
    size_t ic = (size_t)((c - 8320.0) / h);
    assert_int_equal(xanes_edge_deriv(e, d, N, 0, ic - 20, &de, &err), XANES_OK);
    near(de, 0.5 * (e[ic - 22] + e[ic - 20]), 1e-9, "edge at window end");
    /* Bad windows. */
    xanes_error_clear(&err);
    assert_int_equal(xanes_edge_deriv(e, d, N, 50, 50, &de, &err), XANES_EINVAL);
    assert_non_null(strstr(err.message, "window"));
    assert_int_equal(xanes_edge_deriv(e, d, N, 0, N + 1, &de, NULL), XANES_EINVAL);
    /* Maximum at the first sample: its energy. */
    for (size_t i = 0; i < N; i++)
        d[i] = -(double)i;
    assert_int_equal(xanes_edge_deriv(e, d, N, 0, N, &de, NULL), XANES_OK);
    near(de, e[0], 0.0, "edge at first sample");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dmude_quadratic),
        cmocka_unit_test(test_find_e0_glitch),
        cmocka_unit_test(test_half_edge),
        cmocka_unit_test(test_deriv_edge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
