/* sim_shape.c: the simulator's Ni K-edge shapes and the half-edge solver.
 *
 * The shapes are the larch-normalized ('flat') spectra of two measured
 * references, NiO (Ni2+) and LaNiO3 (Ni3+), on a uniform 0.1 eV grid in
 * calibration/ni_references/ni_k_references.json (made by
 * tools/make_ni_references.py; CC BY 4.0, "Based on the LISA XAS Repository
 * by Alessandro Puri", DOI 10.5281/zenodo.10778098).  They are interpolated
 * with GSL's Steffen spline, which is monotone between nodes, so the steep
 * edge never overshoots.
 *
 * The half-edge solver implements the edge definition of simulate.h: a
 * fixed-point iteration E_h <- crossing(normalize(f; windows anchored at
 * E_h)).  Window integrals use composite Simpson on a grid anchored at the
 * window ends (so the windows are continuous, not snapped to samples); the
 * crossing is bracketed on a 0.05 eV scan and refined by bisection to 1e-12
 * eV.  Each evaluation of the spectrum is a sum of shifted shapes.  The
 * iteration is a contraction (the windows move with E_h but the step barely
 * changes), converging in ~5-8 steps.
 */
#include "sim_private.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <gsl/gsl_errno.h>

static char *read_text(const char *path, xanes_error *err)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    if (f == NULL) {
        XANES_RAISE(err, XANES_EIO, "%s: cannot open the Ni reference shapes", path);
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0)
        goto fail;
    long n = ftell(f);
    if (n <= 0 || fseek(f, 0, SEEK_SET) != 0)
        goto fail;
    buf = malloc((size_t)n + 1);
    if (buf == NULL) {
        fclose(f);
        XANES_RAISE(err, XANES_ENOMEM, "%s: out of memory reading %ld bytes", path, n);
        return NULL;
    }
    if (fread(buf, 1, (size_t)n, f) != (size_t)n)
        goto fail;
    buf[n] = '\0';
    fclose(f);
    return buf;
fail:
    free(buf);
    fclose(f);
    XANES_RAISE(err, XANES_EIO, "%s: cannot read the file", path);
    return NULL;
}

static xanes_status load_one(const char *path, const cJSON *shapes, const char *key, double e0,
                             double step, size_t n, sim_shape *out, xanes_error *err)
{
    xanes_status st = XANES_OK;
    double *e = NULL, *y = NULL;
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(shapes, key);
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(obj, "norm");
    if (!cJSON_IsArray(arr) || (size_t)cJSON_GetArraySize(arr) != n) {
        st = XANES_RAISE(err, XANES_EDATA, "%s: shapes.%s.norm must be an array of %zu numbers",
                         path, key, n);
        goto done;
    }
    e = malloc(n * sizeof *e);
    y = malloc(n * sizeof *y);
    out->spline = gsl_spline_alloc(gsl_interp_steffen, n);
    if (e == NULL || y == NULL || out->spline == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM, "%s: out of memory for shape %s", path, key);
        goto done;
    }
    size_t i = 0;
    const cJSON *it = NULL;
    cJSON_ArrayForEach(it, arr)
    {
        if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble)) {
            st = XANES_RAISE(err, XANES_EDATA, "%s: shapes.%s.norm[%zu] is not a finite number",
                             path, key, i);
            goto done;
        }
        e[i] = e0 + step * (double)i;
        y[i] = it->valuedouble;
        i++;
    }
    if (gsl_spline_init(out->spline, e, y, n) != GSL_SUCCESS) {
        st = XANES_RAISE(err, XANES_EDATA, "%s: shape %s cannot be interpolated", path, key);
        goto done;
    }
    out->lo_ev = e[0];
    out->hi_ev = e[n - 1];
done:
    free(e);
    free(y);
    return st;
}

xanes_status sim_shapes_load(const char *calib_dir, sim_shape *ni2, sim_shape *ni3,
                             xanes_error *err)
{
    char path[1024];
    xanes_status st = XANES_OK;
    cJSON *root = NULL;
    snprintf(path, sizeof path, "%s/ni_references/ni_k_references.json", calib_dir);
    char *text = read_text(path, err);
    if (text == NULL)
        return err != NULL ? err->status : XANES_EIO;
    root = cJSON_Parse(text);
    if (root == NULL || !cJSON_IsObject(root)) {
        st = XANES_RAISE(err, XANES_EFORMAT, "%s: not a JSON object", path);
        goto done;
    }
    const cJSON *je0 = cJSON_GetObjectItemCaseSensitive(root, "energy_start_ev");
    const cJSON *jst = cJSON_GetObjectItemCaseSensitive(root, "energy_step_ev");
    const cJSON *jn = cJSON_GetObjectItemCaseSensitive(root, "n");
    const cJSON *shapes = cJSON_GetObjectItemCaseSensitive(root, "shapes");
    if (!cJSON_IsNumber(je0) || !cJSON_IsNumber(jst) || !cJSON_IsNumber(jn) ||
        !(jst->valuedouble > 0) || !(jn->valuedouble >= 10) || !cJSON_IsObject(shapes)) {
        st = XANES_RAISE(err, XANES_EDATA,
                         "%s: needs energy_start_ev, energy_step_ev > 0, n >= 10 and shapes", path);
        goto done;
    }
    size_t n = (size_t)jn->valuedouble;
    st = load_one(path, shapes, "Ni2+", je0->valuedouble, jst->valuedouble, n, ni2, err);
    if (st == XANES_OK)
        st = load_one(path, shapes, "Ni3+", je0->valuedouble, jst->valuedouble, n, ni3, err);
done:
    cJSON_Delete(root);
    free(text);
    return st;
}

void sim_shape_free(sim_shape *s)
{
    if (s == NULL)
        return;
    gsl_spline_free(s->spline);
    s->spline = NULL;
}

double sim_shape_eval(const sim_shape *s, double e_ev)
{
    /* Outside the measured range the shape is held at its end values: the
     * simulator never needs more than a few eV beyond it. */
    if (e_ev <= s->lo_ev)
        e_ev = s->lo_ev;
    else if (e_ev >= s->hi_ev)
        e_ev = s->hi_ev;
    return gsl_spline_eval(s->spline, e_ev, NULL);
}

double sim_spectrum_eval(const sim_shape *s, const sim_component *c, size_t nc, double e_ev)
{
    double v = 0.0;
    for (size_t i = 0; i < nc; i++)
        v += c[i].weight * sim_shape_eval(s, e_ev - c[i].shift_ev);
    return v;
}

/* Least-squares line a + b (E - anchor) through f over the continuous window
 * [lo, hi] (Simpson weights), optionally of f minus a given line. */
static void fit_line(const sim_shape *s, const sim_component *c, size_t nc, double lo, double hi,
                     double anchor, const double sub[2], double out[2])
{
    const size_t n = 2 * (size_t)ceil((hi - lo) / 0.05); /* even, h <= 0.025 eV */
    const double h = (hi - lo) / (double)n;
    double s0 = 0, s1 = 0, s2 = 0, sf = 0, sef = 0;
    for (size_t i = 0; i <= n; i++) {
        double w = (i == 0 || i == n) ? 1.0 : (i % 2 ? 4.0 : 2.0);
        double e = lo + h * (double)i;
        double x = e - anchor;
        double f = sim_spectrum_eval(s, c, nc, e);
        if (sub != NULL)
            f -= sub[0] + sub[1] * x;
        s0 += w;
        s1 += w * x;
        s2 += w * x * x;
        sf += w * f;
        sef += w * x * f;
    }
    double det = s0 * s2 - s1 * s1;
    out[1] = (s0 * sef - s1 * sf) / det;
    out[0] = (sf - out[1] * s1) / s0;
}

static double normed(const sim_shape *s, const sim_component *c, size_t nc, const double pre[2],
                     double step, double anchor, double e)
{
    return (sim_spectrum_eval(s, c, nc, e) - (pre[0] + pre[1] * (e - anchor))) / step;
}

xanes_status sim_half_edge(const sim_shape *s, const sim_component *c, size_t nc,
                           const sim_edge_conv *conv, double guess_ev, double *out_ev,
                           xanes_error *err)
{
    double eh = guess_ev;
    for (int iter = 0; iter < 200; iter++) {
        double pre[2], post[2];
        fit_line(s, c, nc, eh + conv->pre1_ev, eh + conv->pre2_ev, eh, NULL, pre);
        fit_line(s, c, nc, eh + conv->norm1_ev, eh + conv->norm2_ev, eh, pre, post);
        double step = post[0]; /* post line minus pre line, at the anchor */
        if (!(step > 0) || !isfinite(step))
            return XANES_RAISE(err, XANES_EDATA,
                               "half-edge: edge step %g at %.4f eV is not positive", step, eh);
        /* First crossing: scan upward from the end of the pre-edge window. */
        const double h = 0.05;
        double lo = eh + conv->pre2_ev, hi = NAN;
        double vlo = normed(s, c, nc, pre, step, eh, lo);
        if (vlo >= conv->half_level)
            return XANES_RAISE(err, XANES_EDATA,
                               "half-edge: normalized spectrum already %g at %.4f eV", vlo, lo);
        for (double e = lo + h; e <= eh + conv->norm2_ev; e += h) {
            if (normed(s, c, nc, pre, step, eh, e) >= conv->half_level) {
                hi = e;
                break;
            }
            lo = e;
        }
        if (isnan(hi))
            return XANES_RAISE(err, XANES_EDATA,
                               "half-edge: normalized spectrum never reaches %g near %.4f eV",
                               conv->half_level, eh);
        for (int b = 0; b < 60 && hi - lo > 1e-12; b++) {
            double mid = 0.5 * (lo + hi);
            if (normed(s, c, nc, pre, step, eh, mid) >= conv->half_level)
                hi = mid;
            else
                lo = mid;
        }
        double next = 0.5 * (lo + hi);
        if (fabs(next - eh) < 1e-10) {
            *out_ev = next;
            return XANES_OK;
        }
        eh = next;
    }
    return XANES_RAISE(err, XANES_ENOCONV, "half-edge: fixed point did not settle near %.4f eV",
                       eh);
}
