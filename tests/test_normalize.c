/* test_normalize.c: larch-compatible normalization against analytic truth and
 * against larch 0.9.58 on every permitted real spectrum.
 *
 * Truth sources:
 *   - analytic spectra (linear pre-edge + erf step with a quadratic post-edge
 *     + Gaussian white line; arctan step + Lorentzian white line) whose step,
 *     half-edge energy and derivative maximum are known in closed form or by
 *     bisection on the closed form;
 *   - tests/data/larch_reference.json, written by tools/larch_reference.py
 *     (larch's pre_edge with default parameters on the real spectra);
 *   - the GPL file nmc_exp_xas.json in ../shared, only when it exists.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "testutil.h"
#include "xanes/edge.h"
#include "xanes/normalize.h"

static const double PI_ = 3.14159265358979323846;

/* |a - b| <= tol with both values in the failure message (cmocka 1.1.5 has
 * no double comparison).  NaN never passes. */
#define assert_double_equal(a, b, tol) assert_near_((a), (b), (tol), #a, __FILE__, __LINE__)
static void assert_near_(double a, double b, double tol, const char *what, const char *file,
                         int line)
{
    if (!(fabs(a - b) <= tol))
        fail_msg("%s:%d: %s = %.12g, expected %.12g within %.3g (diff %.3g)", file, line, what, a,
                 b, tol, a - b);
}

/* ---- analytic spectra ---------------------------------------------------- */

typedef struct {
    double pre0, pre1;         /* pre-edge line: pre0 + pre1 (E - 8000) */
    double step, e0, width;    /* edge: erf (width = sigma) or arctan (width = gamma) */
    double b1, b2;             /* post-edge shape: step (1 + b1 x + b2 x^2), x = E - e0 */
    double wl_amp, wl_e, wl_w; /* white line */
    int arctan;                /* 0: erf + Gaussian, 1: arctan + Lorentzian */
} model;

static double model_pre(const model *m, double e)
{
    return m->pre0 + m->pre1 * (e - 8000.0);
}

static double model_mu(const model *m, double e)
{
    double x = e - m->e0, s, wl;
    if (m->arctan) {
        s = 0.5 + atan(x / m->width) / PI_;
        double u = (e - m->wl_e) / m->wl_w;
        wl = m->wl_amp / (1.0 + u * u);
    } else {
        s = 0.5 * (1.0 + erf(x / (m->width * sqrt(2.0))));
        double u = (e - m->wl_e) / m->wl_w;
        wl = m->wl_amp * exp(-0.5 * u * u);
    }
    return model_pre(m, e) + m->step * s * (1.0 + m->b1 * x + m->b2 * x * x) + wl;
}

/* Analytic dmu/dE of the arctan model. */
static double model_dmu(const model *m, double e)
{
    double x = e - m->e0, u = (e - m->wl_e) / m->wl_w;
    double s = 0.5 + atan(x / m->width) / PI_;
    double ds = 1.0 / (PI_ * m->width * (1.0 + (x / m->width) * (x / m->width)));
    double post = 1.0 + m->b1 * x + m->b2 * x * x, dpost = m->b1 + 2.0 * m->b2 * x;
    double dwl = -2.0 * m->wl_amp * u / (m->wl_w * (1.0 + u * u) * (1.0 + u * u));
    return m->pre1 + m->step * (ds * post + s * dpost) + dwl;
}

static double *grid(double lo, double hi, double h, size_t *n)
{
    *n = (size_t)floor((hi - lo) / h + 0.5) + 1;
    double *e = malloc(*n * sizeof(double));
    assert_non_null(e);
    for (size_t i = 0; i < *n; i++)
        e[i] = lo + h * (double)i;
    return e;
}

static void check_no_nan_params(const xanes_normalize_result *r)
{
    assert_true(isfinite(r->e0_ev) && isfinite(r->pre1_ev) && isfinite(r->pre2_ev) &&
                isfinite(r->norm1_ev) && isfinite(r->norm2_ev));
}

/* erf step: everything is exactly polynomial in the fit ranges, so the fitted
 * step is the model's step at the snapped e0 to rounding, and the half edge
 * is the root of the model's norm. */
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

/* ---- larch fixture ------------------------------------------------------- */

static cJSON *load_fixture(void)
{
    char path[1024];
    tu_data_path(path, sizeof path, "larch_reference.json");
    char *text = tu_read_file(path, NULL);
    assert_non_null(text);
    cJSON *root = cJSON_Parse(text);
    free(text);
    assert_non_null(root);
    return root;
}

static double *json_array(const cJSON *obj, const char *key, size_t n)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(obj, key);
    assert_true(cJSON_IsArray(a));
    assert_int_equal((size_t)cJSON_GetArraySize(a), n);
    double *v = malloc(n * sizeof(double));
    assert_non_null(v);
    size_t i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, a) v[i++] = it->valuedouble;
    return v;
}

static double json_num(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    assert_non_null(v);
    if (cJSON_IsNull(v))
        return NAN;
    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

static double rms_diff(const double *a, const double *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (a[i] - b[i]) * (a[i] - b[i]);
    return sqrt(s / (double)n);
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
    model m = {.pre0 = 0.3,
               .pre1 = -2e-4,
               .step = 1.0,
               .e0 = 8350.0,
               .width = 1.5,
               .b1 = 0,
               .b2 = 0,
               .wl_amp = 0.2,
               .wl_e = 8356.0,
               .wl_w = 2.0,
               .arctan = 0};
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
    model m = {.pre0 = 0.3,
               .pre1 = -2e-4,
               .step = 1.0,
               .e0 = 8350.0,
               .width = 1.5,
               .b1 = 0,
               .b2 = 0,
               .wl_amp = 0.2,
               .wl_e = 8356.0,
               .wl_w = 2.0,
               .arctan = 0};
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
        cmocka_unit_test(test_plan_equals_run), cmocka_unit_test(test_plan_threads),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
