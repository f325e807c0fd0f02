/* test_normalize_interp.c: the interpolant fit of the normalization
 * (xanes_normalize_params.fit_interpolant) on analytic spectra: exact on
 * linear data whatever the sampling, equal to the sample fit on fine grids,
 * far less dependent on the grid than the sample fit on sparse TXM-like
 * grids, identical between the one-spectrum and the plan paths, and with
 * outer window ends past a scan clipped to it (by up to half a window). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <gsl/gsl_math.h>

#include "xanes/normalize.h"

/* Ni-K-like spectrum: E^-3 background, a small pre-edge peak, an arctan
 * step at 8355.37 eV with a white line, and slow post-edge wiggles. */
static double model(double e)
{
    double bg = 0.35 * pow(8300.0 / e, 3.0);
    double pre = 0.02 * exp(-0.5 * pow((e - 8333.0) / 1.2, 2.0));
    double step = 0.5 + atan((e - 8355.37) / 1.1) / M_PI;
    double wl = 0.45 * exp(-0.5 * pow((e - 8360.0) / 2.5, 2.0));
    double exafs = e > 8365.0 ? 0.06 * sin((e - 8365.0) / 9.0) * exp(-(e - 8365.0) / 60.0) : 0.0;
    return bg + pre + 1.0 * (step + wl + exafs);
}

static void params(xanes_normalize_params *p, int interp)
{
    xanes_normalize_default_params(p);
    p->e0_ev = 8355.10;
    p->pre1_ev = -50.0;
    p->pre2_ev = -25.0;
    p->norm1_ev = 30.0;
    p->norm2_ev = 90.0;
    p->nnorm = 1;
    p->fit_interpolant = interp;
}

/* TXM-like grid: 8300..8455 with sparse pre- and post-edge steps, shifted. */
static size_t sparse_grid(double *e, double shift)
{
    size_t n = 0;
    for (double x = 8300.0; x < 8340.0; x += 3.64)
        e[n++] = x + shift;
    for (double x = 8340.0; x < 8375.0; x += 1.75)
        e[n++] = x + shift;
    for (double x = 8375.0; x <= 8456.0; x += 4.17)
        e[n++] = x + shift;
    return n;
}

/* The fine grid 8300, 8300.05, ... of n points (malloc'd). */
static double *fine_grid(size_t n)
{
    double *e = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++)
        e[i] = 8300.0 + 0.05 * (double)i;
    return e;
}

/* Normalizes the model sampled at e[n] with params(interp) into *r. */
static void normalize_model(const double *e, size_t n, int interp, xanes_normalize_result *r)
{
    double *mu = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++)
        mu[i] = model(e[i]);
    xanes_normalize_params p;
    params(&p, interp);
    xanes_normalize_workspace *w = xanes_normalize_workspace_alloc(n);
    xanes_error err;
    xanes_error_clear(&err);
    if (xanes_normalize_run(e, mu, n, &p, w, r, NULL, NULL, &err) != XANES_OK)
        fail_msg("%s", err.message);
    xanes_normalize_workspace_free(w);
    free(mu);
}

static double half_edge(const double *e, size_t n, int interp, double *step)
{
    xanes_normalize_result r;
    normalize_model(e, n, interp, &r);
    if (step != NULL)
        *step = r.edge_step;
    return r.half_edge_ev;
}

static void test_linear_data_exact_on_any_grid(void **state)
{
    (void)state;
    /* mu = line below, another line above: both fits must return them
     * exactly, so the step at e0 is exact. */
    double e[200];
    size_t n = sparse_grid(e, 0.37);
    double mu[200];
    for (size_t i = 0; i < n; i++)
        mu[i] = e[i] < 8355.1 ? 0.1 + 1e-4 * (e[i] - 8300.0) : 1.3 - 2e-4 * (e[i] - 8400.0);
    xanes_normalize_params p;
    params(&p, 1);
    xanes_normalize_workspace *w = xanes_normalize_workspace_alloc(n);
    xanes_normalize_result r;
    xanes_error err;
    xanes_error_clear(&err);
    assert_int_equal(xanes_normalize_run(e, mu, n, &p, w, &r, NULL, NULL, &err), XANES_OK);
    double pre_e0 = 0.1 + 1e-4 * (8355.1 - 8300.0), post_e0 = 1.3 - 2e-4 * (8355.1 - 8400.0);
    assert_true(fabs(r.edge_step - (post_e0 - pre_e0)) < 1e-10);
    assert_true(fabs(r.pre_slope - 1e-4) < 1e-12);
    assert_true(fabs(r.e0_ev - 8355.10) < 1e-12); /* used as given, not snapped */
    xanes_normalize_workspace_free(w);
}

static void test_fine_grid_agrees_with_sample_fit(void **state)
{
    (void)state;
    size_t n = 3001;
    double *e = fine_grid(n);
    double s_pts, s_int;
    double h_pts = half_edge(e, n, 0, &s_pts), h_int = half_edge(e, n, 1, &s_int);
    if (fabs(h_pts - h_int) > 0.003 || fabs(s_pts - s_int) > 1e-3 * s_pts)
        fail_msg("fine grid: points %.5f eV (step %.6f), interpolant %.5f (step %.6f)", h_pts,
                 s_pts, h_int, s_int);
    free(e);
}

static void test_sparse_grids_give_the_spectrums_edge(void **state)
{
    (void)state;
    size_t nf = 3001;
    double *ef = fine_grid(nf);
    double step_fine;
    double truth = half_edge(ef, nf, 1, &step_fine);
    double worst_int = 0.0, worst_pts = 0.0, wstep_int = 0.0, wstep_pts = 0.0;
    for (int k = 0; k < 12; k++) {
        double e[200], s_int, s_pts;
        size_t n = sparse_grid(e, 0.31 * k - 1.7);
        double d_int = half_edge(e, n, 1, &s_int) - truth, d_pts = half_edge(e, n, 0, &s_pts) - truth;
        worst_int = fmax(worst_int, fabs(d_int));
        worst_pts = fmax(worst_pts, fabs(d_pts));
        wstep_int = fmax(wstep_int, fabs(s_int / step_fine - 1.0));
        wstep_pts = fmax(wstep_pts, fabs(s_pts / step_fine - 1.0));
    }
    print_message("sparse grids, 12 offsets: worst |edge - fine| interpolant %.4f eV, sample "
                  "fit %.4f eV; worst relative step error %.4f vs %.4f\n",
                  worst_int, worst_pts, wstep_int, wstep_pts);
    assert_true(wstep_int < 0.01);
    free(ef);
}

static void test_plan_equals_run(void **state)
{
    (void)state;
    double e[200];
    size_t n = sparse_grid(e, 0.83);
    float mu[200];
    double mud[200];
    for (size_t i = 0; i < n; i++) {
        mu[i] = (float)model(e[i]);
        mud[i] = (double)mu[i];
    }
    xanes_normalize_params p;
    params(&p, 1);
    xanes_error err;
    xanes_error_clear(&err);
    xanes_normalize_plan *plan = xanes_normalize_plan_alloc(e, n, &p, &err);
    assert_non_null(plan);
    double *scratch = malloc(xanes_normalize_plan_scratch_size(plan) * sizeof(double));
    xanes_normalize_result rp, rr;
    assert_int_equal(xanes_normalize_plan_apply(plan, mu, 1, scratch, &rp, NULL, NULL, &err),
                     XANES_OK);
    xanes_normalize_workspace *w = xanes_normalize_workspace_alloc(n);
    assert_int_equal(xanes_normalize_run(e, mud, n, &p, w, &rr, NULL, NULL, &err), XANES_OK);
    assert_true(fabs(rp.edge_step - rr.edge_step) < 1e-9 * rr.edge_step);
    assert_true(fabs(rp.half_edge_ev - rr.half_edge_ev) < 1e-9);
    assert_true(fabs(rp.pre_rms - rr.pre_rms) < 1e-9);
    xanes_normalize_workspace_free(w);
    free(scratch);
    xanes_normalize_plan_free(plan);
}

/* A scan that ends 1.3 eV short of norm2 (and starts 0.9 eV short of pre1),
 * as a monochromator offset makes it: the windows are clipped to the data,
 * the result says so, and the edge stays within 0.005 eV of the full
 * windows' edge on the fine grid. */
static void test_windows_clipped_to_the_scan(void **state)
{
    (void)state;
    size_t nf = 3001;
    double *ef = fine_grid(nf);
    double full = half_edge(ef, nf, 1, NULL);
    size_t n = 0;
    for (size_t i = 0; i < nf; i++)
        if (ef[i] >= 8305.1 + 0.9 - 1e-9 && ef[i] <= 8445.1 - 1.3 + 1e-9)
            ef[n++] = ef[i];
    xanes_normalize_result r;
    normalize_model(ef, n, 1, &r);
    assert_true(fabs(r.pre1_ev - (ef[0] - 8355.10)) < 1e-9);
    assert_true(fabs(r.norm2_ev - (ef[n - 1] - 8355.10)) < 1e-9);
    assert_true(r.pre2_ev == -25.0 && r.norm1_ev == 30.0);
    print_message("clipped windows: edge %.5f eV, full windows %.5f eV\n", r.half_edge_ev, full);
    assert_true(fabs(r.half_edge_ev - full) < 0.005);
    /* The plan clips the same way. */
    xanes_normalize_params p;
    params(&p, 1);
    xanes_error err;
    xanes_error_clear(&err);
    xanes_normalize_plan *plan = xanes_normalize_plan_alloc(ef, n, &p, &err);
    assert_non_null(plan);
    xanes_normalize_plan_free(plan);
    free(ef);
}

static void test_bad_requests(void **state)
{
    (void)state;
    double e[200];
    size_t n = sparse_grid(e, 0.0);
    double mu[200];
    for (size_t i = 0; i < n; i++)
        mu[i] = model(e[i]);
    xanes_normalize_params p;
    params(&p, 1);
    p.nnorm = -1; /* the interpolant fit wants everything explicit */
    xanes_normalize_workspace *w = xanes_normalize_workspace_alloc(n);
    xanes_normalize_result r;
    xanes_error err;
    xanes_error_clear(&err);
    assert_int_equal(xanes_normalize_run(e, mu, n, &p, w, &r, NULL, NULL, &err), XANES_EINVAL);
    params(&p, 1);
    p.norm2_ev = 200.0; /* beyond the data */
    xanes_error_clear(&err);
    assert_int_equal(xanes_normalize_run(e, mu, n, &p, w, &r, NULL, NULL, &err), XANES_EDATA);
    assert_non_null(strstr(err.message, "beyond"));
    xanes_normalize_workspace_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_data_exact_on_any_grid),
        cmocka_unit_test(test_fine_grid_agrees_with_sample_fit),
        cmocka_unit_test(test_sparse_grids_give_the_spectrums_edge),
        cmocka_unit_test(test_plan_equals_run),
        cmocka_unit_test(test_windows_clipped_to_the_scan),
        cmocka_unit_test(test_bad_requests),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
