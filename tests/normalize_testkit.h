/* normalize_testkit.h: analytic spectra and larch-fixture helpers shared by
 * test_normalize.c and test_normalize_plan.c (header-only, test code). */
#ifndef XANES_NORMALIZE_TESTKIT_H
#define XANES_NORMALIZE_TESTKIT_H

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
#include "xanes/normalize.h"

static const double PI_ = 3.14159265358979323846;

/* |a - b| <= tol with both values in the failure message (cmocka 1.1.5 has
 * no double comparison).  NaN never passes. */
#define assert_double_equal(a, b, tol) assert_near_((a), (b), (tol), #a, __FILE__, __LINE__)
static inline void assert_near_(double a, double b, double tol, const char *what, const char *file,
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

/* A plain edge (erf step at 8350 eV on a sloped line, flat post-edge, a
 * small white line), where the test is not about the edge's shape. */
static inline model plain_edge_model(void)
{
    return (model){.pre0 = 0.3,
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
}

static inline double model_pre(const model *m, double e)
{
    return m->pre0 + m->pre1 * (e - 8000.0);
}

static inline double model_mu(const model *m, double e)
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
static inline double model_dmu(const model *m, double e)
{
    double x = e - m->e0, u = (e - m->wl_e) / m->wl_w;
    double s = 0.5 + atan(x / m->width) / PI_;
    double ds = 1.0 / (PI_ * m->width * (1.0 + (x / m->width) * (x / m->width)));
    double post = 1.0 + m->b1 * x + m->b2 * x * x, dpost = m->b1 + 2.0 * m->b2 * x;
    double dwl = -2.0 * m->wl_amp * u / (m->wl_w * (1.0 + u * u) * (1.0 + u * u));
    return m->pre1 + m->step * (ds * post + s * dpost) + dwl;
}

static inline double *grid(double lo, double hi, double h, size_t *n)
{
    *n = (size_t)floor((hi - lo) / h + 0.5) + 1;
    double *e = malloc(*n * sizeof(double));
    assert_non_null(e);
    for (size_t i = 0; i < *n; i++)
        e[i] = lo + h * (double)i;
    return e;
}

static inline void check_no_nan_params(const xanes_normalize_result *r)
{
    assert_true(isfinite(r->e0_ev) && isfinite(r->pre1_ev) && isfinite(r->pre2_ev) &&
                isfinite(r->norm1_ev) && isfinite(r->norm2_ev));
}

/* erf step: everything is exactly polynomial in the fit ranges, so the fitted
 * step is the model's step at the snapped e0 to rounding, and the half edge
 * is the root of the model's norm. */
/* ---- larch fixture ------------------------------------------------------- */

static inline cJSON *load_fixture(void)
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

static inline double *json_array(const cJSON *obj, const char *key, size_t n)
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

static inline double json_num(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    assert_non_null(v);
    if (cJSON_IsNull(v))
        return NAN;
    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

static inline double rms_diff(const double *a, const double *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (a[i] - b[i]) * (a[i] - b[i]);
    return sqrt(s / (double)n);
}

#endif
