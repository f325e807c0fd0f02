/* test_normalize.c: larch-compatible normalization of one spectrum against
 * analytic truth and against larch 0.9.58 on every permitted real spectrum.
 *
 * Truth sources:
 *   - analytic spectra (linear pre-edge + erf step with a quadratic post-edge
 *     + Gaussian white line; arctan step + Lorentzian white line) whose step,
 *     half-edge energy and derivative maximum are known in closed form or by
 *     bisection on the closed form;
 *   - tests/data/larch_reference.json, written by tools/larch_reference.py
 *     (larch's pre_edge with default parameters on the real spectra);
 *   - the GPL file nmc_exp_xas.json in ../shared, only when it exists.
 * The fixed-grid plan is tested in test_normalize_plan.c.
 */
#include "normalize_testkit.h"
#include "xanes/edge.h"

static void test_analytic_erf(void **state)
{
    (void)state;
    model m = {.pre0 = 0.412,
               .pre1 = -3.1e-4,
               .step = 1.373,
               .e0 = 8345.3217,
               .width = 1.6,
               .b1 = -2.2e-4,
               .b2 = 1.3e-7,
               .wl_amp = 0.31,
               .wl_e = 8351.7,
               .wl_w = 2.2,
               .arctan = 0};
    size_t n;
    double *e = grid(8150.0, 8900.0, 0.25, &n);
    double *mu = malloc(n * sizeof(double)), *norm = malloc(n * sizeof(double));
    double *flat = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++)
        mu[i] = model_mu(&m, e[i]);
    xanes_normalize_workspace *w = xanes_normalize_workspace_alloc(n);
    xanes_normalize_params p;
    xanes_normalize_default_params(&p);
    p.e0_ev = m.e0;
    p.pre1_ev = -180.0;
    p.pre2_ev = -40.0;
    p.norm1_ev = 60.0;
    p.norm2_ev = 540.0;
    p.nnorm = 2;
    xanes_normalize_result r;
    xanes_error err;
    xanes_error_clear(&err);
    assert_int_equal(xanes_normalize_run(e, mu, n, &p, w, &r, norm, flat, &err), XANES_OK);
    check_no_nan_params(&r);
    /* e0 is snapped to the nearest sample, as larch does. */
    assert_double_equal(r.e0_ev, 8345.25, 1e-12);
    double d = r.e0_ev - m.e0;
    double step_true = m.step * (1.0 + m.b1 * d + m.b2 * d * d);
    assert_double_equal(r.edge_step, step_true, 1e-9 * step_true);
    assert_double_equal(r.pre_slope, m.pre1, 1e-12);
    assert_double_equal(r.pre_offset, m.pre0 - 8000.0 * m.pre1, 1e-8);
    assert_true(r.pre_rms < 1e-12 && r.post_rms < 1e-12);
    /* Half edge: bisection on the model's norm. */
    double lo = m.e0 - 5.0, hi = m.e0 + 3.0;
    for (int it = 0; it < 200; it++) {
        double mid = 0.5 * (lo + hi);
        double nv = (model_mu(&m, mid) - model_pre(&m, mid)) / step_true;
        if (nv < 0.5)
            lo = mid;
        else
            hi = mid;
    }
    double half_true = 0.5 * (lo + hi);
    assert_double_equal(r.half_edge_ev, half_true, 1e-3);
    /* Flat: above e0 the post-edge curvature is removed, so flat -> 1 far out. */
    assert_double_equal(flat[n - 1], 1.0 + (step_true - step_true) / step_true, 1e-9);
    double pre[1], post[1];
    xanes_normalize_curves(&e[n - 1], 1, &r, pre, post);
    assert_double_equal(post[0] - pre[0], mu[n - 1] - model_pre(&m, e[n - 1]), 1e-9);
    xanes_normalize_workspace_free(w);
    free(flat);
    free(norm);
    free(mu);
    free(e);
}

/* arctan + Lorentzian: the derivative edge against the analytic maximum of
 * dmu/dE, and find_e0 against it (within one sample). */
static void test_analytic_arctan_deriv(void **state)
{
    (void)state;
    /* h = 0.1 eV: within 1e-3 eV.  h = 0.5 eV: the parabola through secant
     * slopes is biased by O(h^2) (documented in edge.h), within 5% of h. */
    const double hs[] = {0.1, 0.5}, tol[] = {1e-3, 0.025};
    for (size_t k = 0; k < 2; k++) {
        model m = {.pre0 = 0.205,
                   .pre1 = -1.7e-4,
                   .step = 0.917,
                   .e0 = 8347.4183,
                   .width = 1.9,
                   .b1 = -1.1e-4,
                   .b2 = 0.0,
                   .wl_amp = 0.27,
                   .wl_e = 8355.6,
                   .wl_w = 3.1,
                   .arctan = 1};
        size_t n;
        double *e = grid(8200.0, 8750.0, hs[k], &n);
        double *mu = malloc(n * sizeof(double));
        for (size_t i = 0; i < n; i++)
            mu[i] = model_mu(&m, e[i]);
        /* True maximum of dmu/dE: golden section on the analytic derivative. */
        double a = m.e0 - 3.0, b = m.e0 + 3.0, g = (sqrt(5.0) - 1.0) / 2.0;
        for (int it = 0; it < 200; it++) {
            double c = b - g * (b - a), d = a + g * (b - a);
            if (model_dmu(&m, c) > model_dmu(&m, d))
                b = d;
            else
                a = c;
        }
        double emax = 0.5 * (a + b);
        xanes_normalize_workspace *w = xanes_normalize_workspace_alloc(n);
        xanes_normalize_result r;
        xanes_error err;
        xanes_error_clear(&err);
        assert_int_equal(xanes_normalize_run(e, mu, n, NULL, w, &r, NULL, NULL, &err), XANES_OK);
        print_message("arctan h=%.2f: deriv edge %.6f true %.6f (diff %.2e), find_e0 %.3f\n", hs[k],
                      r.deriv_edge_ev, emax, r.deriv_edge_ev - emax, r.e0_ev);
        assert_double_equal(r.deriv_edge_ev, emax, tol[k]);
        assert_true(fabs(r.e0_ev - emax) <= hs[k]);
        xanes_normalize_workspace_free(w);
        free(mu);
        free(e);
    }
}

static void test_larch_agreement(void **state)
{
    (void)state;
    cJSON *root = load_fixture();
    const cJSON *spectra = cJSON_GetObjectItemCaseSensitive(root, "spectra");
    assert_true(cJSON_GetArraySize(spectra) >= 24);
    double worst_step = 0, worst_half = 0, worst_norm = 0, worst_flat = 0, worst_e0 = 0;
    const cJSON *s;
    cJSON_ArrayForEach(s, spectra)
    {
        const char *file = cJSON_GetObjectItemCaseSensitive(s, "file")->valuestring;
        size_t n = (size_t)json_num(s, "n");
        double *e = json_array(s, "energy", n), *mu = json_array(s, "mu", n);
        double *lnorm = json_array(s, "norm", n), *lflat = json_array(s, "flat", n);
        double *norm = malloc(n * sizeof(double)), *flat = malloc(n * sizeof(double));
        xanes_normalize_workspace *w = xanes_normalize_workspace_alloc(n);
        xanes_error err;
        xanes_error_clear(&err);

        /* Larch's parameters passed explicitly. */
        xanes_normalize_params p;
        xanes_normalize_default_params(&p);
        p.e0_ev = json_num(s, "e0");
        p.pre1_ev = json_num(s, "pre1");
        p.pre2_ev = json_num(s, "pre2");
        p.norm1_ev = json_num(s, "norm1");
        p.norm2_ev = json_num(s, "norm2");
        p.nnorm = (int)json_num(s, "nnorm");
        xanes_normalize_result r;
        xanes_status st = xanes_normalize_run(e, mu, n, &p, w, &r, norm, flat, &err);
        if (st != XANES_OK)
            fail_msg("%s: %s", file, err.message);
        double lstep = json_num(s, "edge_step"), lhalf = json_num(s, "half_edge");
        double dstep = fabs(r.edge_step - lstep) / lstep;
        double dhalf = fabs(r.half_edge_ev - lhalf);
        double dnorm = rms_diff(norm, lnorm, n), dflat = rms_diff(flat, lflat, n);
        if (dstep > 0.005 || !(dhalf <= 0.05) || dnorm >= 0.005 || dflat >= 0.005)
            fail_msg("%s: step %.6g vs larch %.6g, half %.4f vs %.4f, norm rms %.3g, flat rms "
                     "%.3g",
                     file, r.edge_step, lstep, r.half_edge_ev, lhalf, dnorm, dflat);
        assert_double_equal(r.pre_slope, json_num(s, "pre_slope"),
                            1e-6 * fabs(json_num(s, "pre_slope")) + 1e-12);
        assert_double_equal(r.deriv_edge_ev, json_num(s, "deriv_edge"), 1e-6);
        worst_step = fmax(worst_step, dstep);
        worst_half = fmax(worst_half, dhalf);
        worst_norm = fmax(worst_norm, dnorm);
        worst_flat = fmax(worst_flat, dflat);

        /* Our defaults: the same e0 (find_e0) and the same ranges. */
        xanes_normalize_params d;
        xanes_normalize_default_params(&d);
        xanes_normalize_result rd;
        st = xanes_normalize_run(e, mu, n, &d, w, &rd, NULL, NULL, &err);
        if (st != XANES_OK)
            fail_msg("%s (defaults): %s", file, err.message);
        double spacing = e[rd.ie0 + 1] - e[rd.ie0 - 1];
        double de0 = fabs(rd.e0_ev - json_num(s, "find_e0"));
        if (de0 > 0.5 * spacing)
            fail_msg("%s: e0 %.4f vs larch find_e0 %.4f", file, rd.e0_ev, json_num(s, "find_e0"));
        worst_e0 = fmax(worst_e0, de0);
        assert_double_equal(rd.pre1_ev, json_num(s, "pre1"), 1e-9);
        assert_double_equal(rd.pre2_ev, json_num(s, "pre2"), 1e-9);
        assert_double_equal(rd.norm1_ev, json_num(s, "norm1"), 1e-9);
        assert_double_equal(rd.norm2_ev, json_num(s, "norm2"), 1e-9);
        assert_int_equal(rd.nnorm, (int)json_num(s, "nnorm"));
        assert_int_equal(rd.pre_lo, (size_t)json_num(s, "pre_lo"));
        assert_int_equal(rd.pre_hi, (size_t)json_num(s, "pre_hi"));
        assert_int_equal(rd.post_lo, (size_t)json_num(s, "post_lo"));
        assert_int_equal(rd.post_hi, (size_t)json_num(s, "post_hi"));
        assert_double_equal(rd.edge_step, lstep, 0.005 * lstep);

        xanes_normalize_workspace_free(w);
        free(flat);
        free(norm);
        free(lflat);
        free(lnorm);
        free(mu);
        free(e);
    }
    print_message("larch agreement over %d spectra: step rel %.2e, half %.2e eV, norm rms "
                  "%.2e, flat rms %.2e, e0 %.2e eV\n",
                  cJSON_GetArraySize(spectra), worst_step, worst_half, worst_norm, worst_flat,
                  worst_e0);
    cJSON_Delete(root);
}

/* The GPL file stays in ../shared: compare larch's scalars only when present. */
static void test_larch_gpl_nmc(void **state)
{
    (void)state;
    char dir[1024];
    if (tu_shared_dir(dir, sizeof dir) == NULL) {
        print_message("no ../shared: nmc_exp_xas.json comparison skipped\n");
        skip();
    }
    char path[1200];
    snprintf(path, sizeof path, "%s/data/real/nmc_exp_xas.json", dir);
    char *text = tu_read_file(path, NULL);
    if (text == NULL)
        skip();
    cJSON *data = cJSON_Parse(text);
    free(text);
    assert_non_null(data);
    cJSON *root = load_fixture();
    const cJSON *intensity = cJSON_GetObjectItemCaseSensitive(data, "intensity");
    const cJSON *s;
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(root, "gpl_scalars"))
    {
        char key[16];
        snprintf(key, sizeof key, "%d", (int)json_num(s, "index"));
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(intensity, key);
        size_t n = (size_t)cJSON_GetArraySize(arr);
        double *e = malloc(n * sizeof(double)), *mu = malloc(n * sizeof(double));
        size_t i = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, arr)
        {
            e[i] = 8330.0 + 0.4 * (double)i;
            mu[i++] = it->valuedouble;
        }
        xanes_normalize_workspace *w = xanes_normalize_workspace_alloc(n);
        xanes_normalize_result r;
        xanes_error err;
        xanes_error_clear(&err);
        assert_int_equal(xanes_normalize_run(e, mu, n, NULL, w, &r, NULL, NULL, &err), XANES_OK);
        assert_double_equal(r.e0_ev, json_num(s, "find_e0"), 0.4);
        assert_double_equal(r.edge_step, json_num(s, "edge_step"),
                            0.005 * json_num(s, "edge_step"));
        double lh = json_num(s, "half_edge");
        if (isnan(lh))
            assert_true(isnan(r.half_edge_ev));
        else
            assert_double_equal(r.half_edge_ev, lh, 0.05);
        xanes_normalize_workspace_free(w);
        free(mu);
        free(e);
    }
    cJSON_Delete(root);
    cJSON_Delete(data);
}

/* ---- bad input ----------------------------------------------------------- */

static void expect(xanes_status got, xanes_status want, const xanes_error *err, const char *sub)
{
    assert_int_equal(got, want);
    if (strstr(err->message, sub) == NULL)
        fail_msg("message '%s' lacks '%s'", err->message, sub);
}

static void test_bad_input(void **state)
{
    (void)state;
    model m = plain_edge_model();
    size_t n;
    double *e = grid(8200.0, 8700.0, 2.0, &n);
    double *mu = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++)
        mu[i] = model_mu(&m, e[i]);
    xanes_normalize_workspace *w = xanes_normalize_workspace_alloc(n);
    xanes_normalize_params p;
    xanes_normalize_result r;
    xanes_error err;

    xanes_normalize_default_params(&p);
    xanes_error_clear(&err);
    expect(xanes_normalize_run(e, mu, 5, &p, w, &r, NULL, NULL, &err), XANES_EDATA, &err,
           "5 points");

    double keep = mu[40];
    mu[40] = NAN;
    xanes_error_clear(&err);
    expect(xanes_normalize_run(e, mu, n, &p, w, &r, NULL, NULL, &err), XANES_EDATA, &err,
           "8280.0000 eV (point 40) is not finite");
    mu[40] = keep;

    double ek = e[10];
    e[10] = e[9];
    xanes_error_clear(&err);
    expect(xanes_normalize_run(e, mu, n, &p, w, &r, NULL, NULL, &err), XANES_EDATA, &err,
           "increase strictly");
    e[10] = ek;

    p.e0_ev = 9000.0;
    xanes_error_clear(&err);
    expect(xanes_normalize_run(e, mu, n, &p, w, &r, NULL, NULL, &err), XANES_EINVAL, &err,
           "e0 = 9000.0000 eV is outside");
    xanes_normalize_default_params(&p);
    p.nnorm = 7;
    xanes_error_clear(&err);
    expect(xanes_normalize_run(e, mu, n, &p, w, &r, NULL, NULL, &err), XANES_EINVAL, &err,
           "nnorm = 7");
    xanes_normalize_default_params(&p);
    xanes_error_clear(&err);
    expect(xanes_normalize_run(e, mu, n + 1, &p, w, &r, NULL, NULL, &err), XANES_EINVAL, &err,
           "exceeds the workspace");

    /* Post-edge range with 3 samples for a degree-5 polynomial. */
    p.norm1_ev = 100.0;
    p.norm2_ev = 104.0;
    p.nnorm = 5;
    xanes_error_clear(&err);
    expect(xanes_normalize_run(e, mu, n, &p, w, &r, NULL, NULL, &err), XANES_EDATA, &err,
           "post-edge range e0+100.0..e0+104.0 eV");

    /* No edge at all: a straight line. */
    for (size_t i = 0; i < n; i++)
        mu[i] = 0.5 - 1e-4 * (double)i;
    xanes_normalize_default_params(&p);
    xanes_error_clear(&err);
    expect(xanes_normalize_run(e, mu, n, &p, w, &r, NULL, NULL, &err), XANES_EDATA, &err,
           "no edge");
    /* Exactly linear data with e0 given: the edge step is zero. */
    for (size_t i = 0; i < n; i++)
        mu[i] = 0.25;
    p.e0_ev = 8350.0;
    xanes_error_clear(&err);
    expect(xanes_normalize_run(e, mu, n, &p, w, &r, NULL, NULL, &err), XANES_EDATA, &err,
           "edge step at e0 = 8350.00 eV is zero");

    /* Plan: e0 is required; NaN pixels are refused cheaply. */
    xanes_normalize_default_params(&p);
    xanes_error_clear(&err);
    assert_null(xanes_normalize_plan_alloc(e, n, &p, &err));
    expect(err.status, XANES_EINVAL, &err, "e0 must be given");
    p.e0_ev = 8350.0;
    xanes_error_clear(&err);
    xanes_normalize_plan *plan = xanes_normalize_plan_alloc(e, n, &p, &err);
    assert_non_null(plan);
    float *fm = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        fm[i] = (float)model_mu(&m, e[i]);
    fm[3] = NAN;
    double *sc = malloc(xanes_normalize_plan_scratch_size(plan) * sizeof(double));
    assert_int_equal(xanes_normalize_plan_apply(plan, fm, 1, sc, &r, NULL, NULL, NULL),
                     XANES_EDATA);
    assert_true(isnan(r.edge_step) && isnan(r.half_edge_ev));
    free(sc);
    free(fm);
    xanes_normalize_plan_free(plan);
    xanes_normalize_plan_free(NULL);
    xanes_normalize_workspace_free(w);
    xanes_normalize_workspace_free(NULL);
    free(mu);
    free(e);
}

int main(void)
{
    xanes_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_analytic_erf),    cmocka_unit_test(test_analytic_arctan_deriv),
        cmocka_unit_test(test_larch_agreement), cmocka_unit_test(test_larch_gpl_nmc),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
