/* test_normalize_plan.c: the fixed-grid plan (float stacks with a stride)
 * equals the one-spectrum path on real and analytic spectra, is thread-safe
 * and refuses bad pixels cheaply. */
#include "normalize_testkit.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

/* ---- fixed-grid plan ----------------------------------------------------- */

static size_t n_nan_half;

static void check_plan_equals_run(const double *e, size_t n, const float *stack, size_t stride,
                                  size_t npix, const xanes_normalize_params *p)
{
    xanes_error err;
    xanes_error_clear(&err);
    xanes_normalize_plan *plan = xanes_normalize_plan_alloc(e, n, p, &err);
    if (plan == NULL)
        fail_msg("plan: %s", err.message);
    double *scratch = malloc(xanes_normalize_plan_scratch_size(plan) * sizeof(double));
    double *mu = malloc(n * sizeof(double));
    double *n1 = malloc(n * sizeof(double)), *n2 = malloc(n * sizeof(double));
    double *f1 = malloc(n * sizeof(double)), *f2 = malloc(n * sizeof(double));
    xanes_normalize_workspace *w = xanes_normalize_workspace_alloc(n);
    xanes_normalize_result desc;
    xanes_normalize_plan_describe(plan, &desc);
    for (size_t px = 0; px < npix; px++) {
        for (size_t i = 0; i < n; i++)
            mu[i] = (double)stack[i * stride + px];
        xanes_normalize_result ra, rb;
        assert_int_equal(
            xanes_normalize_plan_apply(plan, stack + px, stride, scratch, &ra, n1, f1, &err),
            XANES_OK);
        xanes_normalize_params q = *p;
        q.e0_ev = desc.e0_ev;
        q.pre1_ev = desc.pre1_ev;
        q.pre2_ev = desc.pre2_ev;
        q.norm1_ev = desc.norm1_ev;
        q.norm2_ev = desc.norm2_ev;
        q.nnorm = desc.nnorm;
        assert_int_equal(xanes_normalize_run(e, mu, n, &q, w, &rb, n2, f2, &err), XANES_OK);
        assert_int_equal(ra.ie0, rb.ie0);
        assert_double_equal(ra.edge_step, rb.edge_step, 1e-9 * rb.edge_step);
        assert_double_equal(ra.pre_slope, rb.pre_slope, 1e-9 * fabs(rb.pre_slope) + 1e-15);
        assert_double_equal(ra.pre_offset, rb.pre_offset, 1e-9 * fabs(rb.pre_offset) + 1e-12);
        for (int k = 0; k <= rb.nnorm; k++)
            assert_double_equal(ra.post_coef[k], rb.post_coef[k],
                                1e-9 * fabs(rb.post_coef[k]) + 1e-15);
        assert_double_equal(ra.pre_rms, rb.pre_rms, 1e-9 * rb.pre_rms + 1e-15);
        assert_double_equal(ra.post_rms, rb.post_rms, 1e-9 * rb.post_rms + 1e-15);
        /* Both paths must agree, NaN (no crossing) included. */
        assert_int_equal(isnan(ra.half_edge_ev), isnan(rb.half_edge_ev));
        if (!isnan(rb.half_edge_ev))
            assert_double_equal(ra.half_edge_ev, rb.half_edge_ev, 1e-9);
        else
            n_nan_half++;
        assert_double_equal(ra.deriv_edge_ev, rb.deriv_edge_ev, 1e-9);
        for (size_t i = 0; i < n; i++) {
            assert_double_equal(n1[i], n2[i], 1e-9);
            assert_double_equal(f1[i], f2[i], 1e-9);
        }
    }
    xanes_normalize_workspace_free(w);
    free(f2);
    free(f1);
    free(n2);
    free(n1);
    free(mu);
    free(scratch);
    xanes_normalize_plan_free(plan);
}

static void test_plan_equals_run(void **state)
{
    (void)state;
    cJSON *root = load_fixture();
    const cJSON *s;
    int tested = 0;
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(root, "spectra"))
    {
        const char *file = cJSON_GetObjectItemCaseSensitive(s, "file")->valuestring;
        if (strcmp(file, "Ni_foil_111.xdi") != 0 && strcmp(file, "NiO_111.xdi") != 0 &&
            strcmp(file, "MnO2_rt_01.xdi") != 0)
            continue;
        size_t n = (size_t)json_num(s, "n");
        double *e = json_array(s, "energy", n), *mu = json_array(s, "mu", n);
        /* A 3x4 "stack" [E][y][x] of the spectrum scaled, tilted and shifted per pixel. */
        const size_t npix = 12;
        float *stack = malloc(n * npix * sizeof(float));
        for (size_t px = 0; px < npix; px++)
            for (size_t i = 0; i < n; i++)
                stack[i * npix + px] =
                    (float)((0.3 + 0.17 * (double)px) * mu[i] + 0.01 * (double)px -
                            2e-5 * (double)px * (e[i] - e[0]));
        xanes_normalize_params p;
        xanes_normalize_default_params(&p);
        /* Off-sample e0 (snapped by both paths) on the Ni spectra; MnO2's short
         * pre-edge would then take in its pre-edge peak and lose the edge. */
        p.e0_ev = json_num(s, "e0") + (file[0] == 'N' ? 0.7 : 0.0);
        n_nan_half = 0;
        check_plan_equals_run(e, n, stack, npix, npix, &p);
        assert_int_equal(n_nan_half, 0);
        p.nvict = 1.0;
        p.nnorm = 3;
        check_plan_equals_run(e, n, stack, npix, npix, &p);
        tested++;
        free(stack);
        free(mu);
        free(e);
    }
    assert_int_equal(tested, 3);
    cJSON_Delete(root);
}

/* Many threads, one plan: identical results to a serial pass. */
static void test_plan_threads(void **state)
{
    (void)state;
    model m = plain_edge_model();
    size_t n;
    double *e = grid(8250.0, 8600.0, 1.0, &n);
    const size_t npix = 64;
    float *stack = malloc(n * npix * sizeof(float));
    for (size_t px = 0; px < npix; px++) {
        model mp = m;
        mp.e0 = m.e0 + 0.05 * (double)px;
        mp.step = 0.5 + 0.01 * (double)px;
        for (size_t i = 0; i < n; i++)
            stack[i * npix + px] = (float)model_mu(&mp, e[i]);
    }
    xanes_normalize_params p;
    xanes_normalize_default_params(&p);
    p.e0_ev = 8350.0;
    xanes_error err;
    xanes_error_clear(&err);
    xanes_normalize_plan *plan = xanes_normalize_plan_alloc(e, n, &p, &err);
    assert_non_null(plan);
    size_t ns = xanes_normalize_plan_scratch_size(plan);
    double serial[64], par[64];
    double *scratch = malloc(ns * sizeof(double));
    for (size_t px = 0; px < npix; px++) {
        xanes_normalize_result r;
        assert_int_equal(
            xanes_normalize_plan_apply(plan, stack + px, npix, scratch, &r, NULL, NULL, NULL),
            XANES_OK);
        serial[px] = r.half_edge_ev;
        /* The half edge moves with the edge: 0.05 eV per pixel. */
        if (px > 0)
            assert_double_equal(serial[px] - serial[px - 1], 0.05, 0.02);
    }
    int failures = 0;
#pragma omp parallel default(none) shared(plan, stack, par, failures) firstprivate(ns, npix)
    {
        double *sc = malloc(ns * sizeof(double));
#pragma omp for schedule(static)
        for (size_t px = 0; px < npix; px++) {
            xanes_normalize_result r;
            if (sc == NULL || xanes_normalize_plan_apply(plan, stack + px, npix, sc, &r, NULL, NULL,
                                                         NULL) != XANES_OK) {
#pragma omp atomic
                failures++;
                par[px] = NAN;
            } else {
                par[px] = r.half_edge_ev;
            }
        }
        free(sc);
    }
    assert_int_equal(failures, 0);
    assert_memory_equal(serial, par, sizeof serial);
    free(scratch);
    xanes_normalize_plan_free(plan);
    free(stack);
    free(e);
}

/* The quality measures: with Gaussian noise of known sigma on a spectrum whose
 * pre- and post-edge are exactly a line and a quadratic, the RMS residuals
 * estimate sigma * sqrt((m - p)/m) (p fitted coefficients), and the edge step
 * is unbiased; so edge_step / pre_rms gates pixels by jump over noise. */
static void test_plan_noise_measure(void **state)
{
    (void)state;
    model m = {.pre0 = 0.41,
               .pre1 = -2.3e-4,
               .step = 0.0731,
               .e0 = 8349.613,
               .width = 1.4,
               .b1 = -3e-4,
               .b2 = 2e-7,
               .wl_amp = 0.02,
               .wl_e = 8355.0,
               .wl_w = 2.0,
               .arctan = 0};
    size_t n;
    double *e = grid(8200.0, 8700.0, 1.0, &n);
    const size_t npix = 400;
    const double sigma = 0.0042;
    float *stack = malloc(n * npix * sizeof(float));
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 20261125);
    for (size_t i = 0; i < n; i++)
        for (size_t px = 0; px < npix; px++)
            stack[i * npix + px] = (float)(model_mu(&m, e[i]) + gsl_ran_gaussian(rng, sigma));
    gsl_rng_free(rng);
    xanes_normalize_params p;
    xanes_normalize_default_params(&p);
    p.e0_ev = m.e0;
    p.pre1_ev = -140.0;
    p.pre2_ev = -30.0;
    p.norm1_ev = 40.0;
    p.norm2_ev = 330.0;
    p.nnorm = 2;
    xanes_error err;
    xanes_error_clear(&err);
    xanes_normalize_plan *plan = xanes_normalize_plan_alloc(e, n, &p, &err);
    assert_non_null(plan);
    xanes_normalize_result d;
    xanes_normalize_plan_describe(plan, &d);
    double mpre = (double)(d.pre_hi - d.pre_lo), mpost = (double)(d.post_hi - d.post_lo);
    double *scratch = malloc(xanes_normalize_plan_scratch_size(plan) * sizeof(double));
    double s_pre = 0, s_post = 0, s_step = 0, s_step2 = 0;
    for (size_t px = 0; px < npix; px++) {
        xanes_normalize_result r;
        assert_int_equal(
            xanes_normalize_plan_apply(plan, stack + px, npix, scratch, &r, NULL, NULL, NULL),
            XANES_OK);
        s_pre += r.pre_rms * r.pre_rms;
        s_post += r.post_rms * r.post_rms;
        s_step += r.edge_step;
        s_step2 += r.edge_step * r.edge_step;
    }
    double pre_rms = sqrt(s_pre / (double)npix), post_rms = sqrt(s_post / (double)npix);
    double mean_step = s_step / (double)npix;
    double sd_step = sqrt(s_step2 / (double)npix - mean_step * mean_step);
    double x = d.e0_ev - m.e0, step_true = m.step * (1.0 + m.b1 * x + m.b2 * x * x);
    print_message("noise %.4g: pre rms %.4g post rms %.4g, step %.5g +- %.2g (true %.5g)\n", sigma,
                  pre_rms, post_rms, mean_step, sd_step, step_true);
    /* 400 spectra x ~100 residuals: the RMS estimates hold to about 1%. */
    assert_double_equal(pre_rms, sigma * sqrt((mpre - 2.0) / mpre), 0.03 * sigma);
    assert_double_equal(post_rms, sigma * sqrt((mpost - 3.0) / mpost), 0.03 * sigma);
    /* Unbiased step: the mean within 4 standard errors. */
    assert_double_equal(mean_step, step_true, 4.0 * sd_step / sqrt((double)npix));
    free(scratch);
    xanes_normalize_plan_free(plan);
    free(stack);
    free(e);
}

int main(void)
{
    xanes_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_equals_run),
        cmocka_unit_test(test_plan_threads),
        cmocka_unit_test(test_plan_noise_measure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
