/* test_edge.c: edge energies on plain arrays against closed-form truth. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_interp.h>
#include <gsl/gsl_math.h>

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

/* The allocation-free Steffen cubic equals GSL's gsl_interp_steffen (the
 * independent implementation) on a non-uniform grid with a non-monotone
 * wiggle, flat stretches and both ends. */
static void test_steffen_matches_gsl(void **state)
{
    (void)state;
    enum { M = 40 };
    double x[M], y[M];
    nonuniform_grid(x, M);
    for (size_t i = 0; i < M; i++)
        y[i] = atan((x[i] - x[M / 2]) / 1.3) + 0.2 * sin(1.7 * (double)i);
    y[5] = y[6]; /* a zero secant */
    gsl_interp *g = gsl_interp_alloc(gsl_interp_steffen, M);
    gsl_interp_accel *acc = gsl_interp_accel_alloc();
    assert_non_null(g);
    assert_int_equal(gsl_interp_init(g, x, y, M), GSL_SUCCESS);
    for (size_t i = 0; i + 1 < M; i++)
        for (int k = 0; k <= 8; k++) {
            double e = x[i] + (x[i + 1] - x[i]) * (double)k / 8.0;
            near(xanes_edge_steffen_eval(x, y, M, i, e), gsl_interp_eval(g, x, y, e, acc), 1e-12,
                 "steffen vs gsl");
        }
    gsl_interp_accel_free(acc);
    gsl_interp_free(g);
}

/* A K edge: arctan step (gamma 1.2 eV) plus a white line 4 eV above it,
 * normalized to a unit step; its half crossing by bisection on the
 * continuous function. */
static double kedge(double e)
{
    return 0.5 + atan((e - 8355.0) / 1.2) / M_PI + 0.6 * exp(-pow((e - 8359.0) / 2.5, 2));
}

/* Steffen crossing of that edge sampled every 1.75 eV (the TXM edge region),
 * at 16 phases of the samples against the edge: the cubic's value at the
 * returned energy is the level, and the crossing is much closer to the
 * continuous one than the linear crossing, which the white line pulls early
 * (python scan of the same case: linear 0.162 eV worst, Steffen 0.078). */
static void test_half_edge_steffen(void **state)
{
    (void)state;
    enum { M = 30 };
    double lo = 8350.0, hi = 8360.0;
    for (int it = 0; it < 200; it++) {
        double mid = 0.5 * (lo + hi);
        if (kedge(mid) >= 0.5)
            hi = mid;
        else
            lo = mid;
    }
    const double truth = 0.5 * (lo + hi);
    double worst_lin = 0.0, worst_cub = 0.0;
    for (int ph = 0; ph < 16; ph++) {
        double x[M], y[M];
        for (size_t i = 0; i < M; i++) {
            x[i] = 8330.0 + 1.75 * ((double)i + (double)ph / 16.0);
            y[i] = kedge(x[i]);
        }
        double el, ec;
        assert_int_equal(xanes_edge_half_interp(x, y, M, 0, 0.5, XANES_EDGE_CROSS_LINEAR, &el,
                                                NULL),
                         XANES_OK);
        assert_int_equal(xanes_edge_half_interp(x, y, M, 0, 0.5, XANES_EDGE_CROSS_STEFFEN, &ec,
                                                NULL),
                         XANES_OK);
        size_t i = 0;
        while (x[i + 1] < ec)
            i++;
        near(xanes_edge_steffen_eval(x, y, M, i, ec), 0.5, 1e-10, "cubic at crossing");
        worst_lin = fmax(worst_lin, fabs(el - truth));
        worst_cub = fmax(worst_cub, fabs(ec - truth));
    }
    print_message("K edge with white line, 1.75 eV steps: worst linear crossing error %.4f eV, "
                  "Steffen %.4f eV\n",
                  worst_lin, worst_cub);
    assert_true(worst_cub < 0.6 * worst_lin);
    near(worst_cub, 0.0, 0.1, "Steffen crossing error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dmude_quadratic),
        cmocka_unit_test(test_find_e0_glitch),
        cmocka_unit_test(test_half_edge),
        cmocka_unit_test(test_steffen_matches_gsl),
        cmocka_unit_test(test_half_edge_steffen),
        cmocka_unit_test(test_deriv_edge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
