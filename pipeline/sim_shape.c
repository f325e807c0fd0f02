/* sim_shape.c: the simulator's Ni K-edge shapes, their edges by the standards'
 * edge definition, and their placement.
 *
 * The shapes are the larch-normalized ('flat') spectra of two measured
 * references, NiO (Ni2+) and LaNiO3 (Ni3+), on a uniform 0.1 eV grid in
 * calibration/ni_references/ni_k_references.json (made by
 * tools/make_ni_references.py; CC BY 4.0, "Based on the LISA XAS Repository
 * by Alessandro Puri", DOI 10.5281/zenodo.10778098).  They are interpolated
 * with GSL's Steffen spline, which is monotone between nodes, so the steep
 * edge never overshoots.
 *
 * Edges follow the one edge definition of calibration/standards.json
 * ("edge_definition": larch pre_edge with e0 fixed at the anchor standard,
 * fixed windows, first crossing of half_level), evaluated by the spectral
 * core (xanes_normalize_run) on the simulator's fine grid, E_k = e0 + k/20
 * eV over the windows plus 5 eV: the "physical" edge of a spectrum.  The
 * definition is not shift-covariant (the windows stay at the anchor), so a
 * spectrum is placed at a target edge by solving edge(f(E - d)) = target
 * for the shift d with secant steps (sim_place), to 1e-10 eV.
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

xanes_status sim_fine_grid(const xanes_normalize_params *ep, double **e_out, size_t *n_out,
                           xanes_error *err)
{
    /* E_k = e0 + k/20: k/20 is exact for the window ends (whole or half eV),
     * so the samples sit exactly on e0 and on the window boundaries and the
     * larch index rules pick them without rounding ambiguity. */
    long k_lo = (long)floor(SIM_FINE_PER_EV * (ep->pre1_ev - SIM_FINE_PAD_EV));
    long k_hi = (long)ceil(SIM_FINE_PER_EV * (ep->norm2_ev + SIM_FINE_PAD_EV));
    if (!(k_hi > k_lo + 20) || k_hi - k_lo > 200000)
        return XANES_RAISE(err, XANES_EDATA,
                           "edge definition windows e0%+g..e0%+g eV give no usable fine grid",
                           ep->pre1_ev, ep->norm2_ev);
    size_t n = (size_t)(k_hi - k_lo + 1);
    double *e = malloc(n * sizeof *e);
    if (e == NULL)
        return XANES_RAISE(err, XANES_ENOMEM, "out of memory for a %zu-point fine grid", n);
    for (size_t i = 0; i < n; i++)
        e[i] = ep->e0_ev + (double)(k_lo + (long)i) / SIM_FINE_PER_EV;
    *e_out = e;
    *n_out = n;
    return XANES_OK;
}

xanes_status sim_fine_ws_alloc(const xanes_simulate_scene *sc, sim_fine_ws *w, xanes_error *err)
{
    w->nw = xanes_normalize_workspace_alloc(sc->fine_n);
    w->mu = malloc(sc->fine_n * sizeof *w->mu);
    if (w->nw == NULL || w->mu == NULL) {
        sim_fine_ws_free(w);
        return XANES_RAISE(err, XANES_ENOMEM, "out of memory for a fine-grid workspace");
    }
    return XANES_OK;
}

void sim_fine_ws_free(sim_fine_ws *w)
{
    if (w == NULL)
        return;
    xanes_normalize_workspace_free(w->nw);
    free(w->mu);
    w->nw = NULL;
    w->mu = NULL;
}

xanes_status sim_edge_fine(const xanes_simulate_scene *sc, const sim_shape *s,
                           const sim_component *c, size_t nc, double extra_shift_ev, sim_fine_ws *w,
                           double *out_ev, xanes_error *err)
{
    sim_component cc[16];
    if (nc > 16)
        return XANES_RAISE(err, XANES_EINVAL, "edge of %zu components (at most 16)", nc);
    for (size_t i = 0; i < nc; i++) {
        cc[i] = c[i];
        cc[i].shift_ev += extra_shift_ev;
    }
    for (size_t i = 0; i < sc->fine_n; i++)
        w->mu[i] = sim_spectrum_eval(s, cc, nc, sc->fine_e[i]);
    xanes_normalize_result r;
    xanes_status st = xanes_normalize_run(sc->fine_e, w->mu, sc->fine_n, &sc->edge_par, w->nw, &r,
                                          NULL, NULL, err);
    if (st != XANES_OK)
        return st;
    if (isnan(r.half_edge_ev))
        return XANES_RAISE(err, XANES_EDATA,
                           "edge definition: the normalized spectrum (shift %+.3f eV) never "
                           "reaches %g on the fine grid",
                           extra_shift_ev, sc->edge_par.half_level);
    *out_ev = r.half_edge_ev;
    return XANES_OK;
}

xanes_status sim_place(const xanes_simulate_scene *sc, const sim_shape *s, const sim_component *c,
                       size_t nc, double target_ev, sim_fine_ws *w, double *delta_ev,
                       xanes_error *err)
{
    /* G(d) = edge(spectrum shifted by d) - target is d plus a slowly varying
     * term (the windows stay put while the spectrum moves), so secant steps
     * from a unit-slope start converge in a few evaluations. */
    double d0 = 0.0, g0 = NAN, d1, g1 = NAN;
    xanes_status st = sim_edge_fine(sc, s, c, nc, d0, w, &g0, err);
    if (st != XANES_OK)
        return st;
    g0 -= target_ev;
    d1 = d0 - g0;
    for (int it = 0; it < 50; it++) {
        st = sim_edge_fine(sc, s, c, nc, d1, w, &g1, err);
        if (st != XANES_OK)
            return st;
        g1 -= target_ev;
        if (fabs(g1) < 1e-10) {
            *delta_ev = d1;
            return XANES_OK;
        }
        double slope = (d1 != d0) ? (g1 - g0) / (d1 - d0) : 1.0;
        if (!(slope > 0.5 && slope < 2.0))
            slope = 1.0;
        d0 = d1;
        g0 = g1;
        d1 -= g1 / slope;
    }
    return XANES_RAISE(err, XANES_ENOCONV,
                       "placing a spectrum at %.4f eV: edge still %.2e eV off after 50 steps",
                       target_ev, g1);
}

/* Spectral components of SoC s with unit weight, before delta(s). */
static size_t base_components(const xanes_simulate_scene *sc, double soc, sim_component c[2])
{
    double w = soc < 0 ? 0 : soc > 1 ? 1 : soc;
    c[0] = (sim_component){1.0 - w, sc->s0_ev};
    c[1] = (sim_component){w, sc->s0_ev + sc->d34_ev};
    return 2;
}

double sim_place_delta(const xanes_simulate_scene *sc, double soc)
{
    int g = soc < 0 ? 0 : soc > 1 ? 2 : 1;
    if (sc->place[g] == NULL)
        g = 1; /* unreachable for SoC inside the tabulated range */
    double s = soc < sc->place_lo[g]   ? sc->place_lo[g]
               : soc > sc->place_hi[g] ? sc->place_hi[g]
                                       : soc;
    return gsl_spline_eval(sc->place[g], s, NULL);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Tabulates delta(s) on [lo, hi]: nodes <= 0.025 SoC apart plus, without a
 * gradient, every drawn particle SoC inside (lo, hi) as a node of its own
 * (uniform nodes closer than 0.005 to one are dropped), so a uniform
 * particle's pixels are placed exactly (the spline passes through its
 * nodes); natural cubic spline, delta is smooth inside a segment. */
static xanes_status place_segment(xanes_simulate_scene *sc, int g, double lo, double hi,
                                  sim_fine_ws *w, xanes_error *err)
{
    size_t nu = (size_t)ceil((hi - lo) / 0.025) + 1, npart = sc->p.gradient ? 0 : sc->np;
    if (nu < 3)
        nu = 3;
    double *s = malloc((nu + npart) * sizeof *s), *d = malloc((nu + npart) * sizeof *d);
    xanes_status st = XANES_OK;
    size_t n = 0;
    if (s == NULL || d == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM, "out of memory for the placement table");
        goto done;
    }
    for (size_t i = 0; i < npart; i++)
        if (sc->parts[i].soc > lo && sc->parts[i].soc < hi)
            s[n++] = sc->parts[i].soc;
    const size_t n_own = n;
    for (size_t j = 0; j < nu; j++) {
        double u = j + 1 == nu ? hi : lo + (hi - lo) * (double)j / (double)(nu - 1);
        int keep = 1;
        for (size_t i = 0; i < n_own && keep && j > 0 && j + 1 < nu; i++)
            keep = fabs(u - s[i]) >= 0.005;
        if (keep)
            s[n++] = u;
    }
    qsort(s, n, sizeof *s, cmp_double);
    size_t m = 0; /* drop repeats (particles sharing a SoC) */
    for (size_t i = 0; i < n; i++)
        if (m == 0 || s[i] > s[m - 1])
            s[m++] = s[i];
    n = m;
    sc->place[g] = gsl_spline_alloc(gsl_interp_cspline, n);
    if (sc->place[g] == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM, "out of memory for the placement table");
        goto done;
    }
    for (size_t i = 0; i < n && st == XANES_OK; i++) {
        sim_component c[2];
        size_t nc = base_components(sc, s[i], c);
        st = sim_place(sc, &sc->ni3, c, nc, sim_edge_from_soc(sc, s[i]), w, &d[i], err);
    }
    if (st == XANES_OK)
        gsl_spline_init(sc->place[g], s, d, n);
    sc->place_lo[g] = lo;
    sc->place_hi[g] = hi;
done:
    free(s);
    free(d);
    return st;
}

/* Places the shapes by the standards' edge definition: Ni3+ at the pristine
 * edge (s0), Ni4+ d34 above, NiO at its standard, and delta(s) over the SoC
 * range of the drawn particles (gradient included). */
xanes_status sim_spectral_model_build(xanes_simulate_scene *sc, xanes_error *err)
{
    sim_fine_ws w = {0};
    xanes_status st = sim_fine_ws_alloc(sc, &w, err);
    if (st != XANES_OK)
        return st;
    const sim_component one = {1.0, 0.0};
    sc->s0_ev = 0.0;
    st = sim_place(sc, &sc->ni3, &one, 1, sc->soc0_edge_ev, &w, &sc->s0_ev, err);
    if (st == XANES_OK)
        st = sim_place(sc, &sc->ni2, &one, 1, sc->nio_edge_ev, &w, &sc->nio_shift_ev, err);
    sc->d34_ev = sc->soc1_edge_ev - sc->soc0_edge_ev;
    double lo = 0.0, hi = 1.0, half = sc->p.gradient ? 0.5 * fabs(sc->p.gradient_soc) : 0.0;
    for (size_t i = 0; i < sc->np; i++) {
        lo = fmin(lo, sc->parts[i].soc - half);
        hi = fmax(hi, sc->parts[i].soc + half);
    }
    if (st == XANES_OK && !(lo > -20.0 && hi < 21.0))
        st = XANES_RAISE(err, XANES_EINVAL,
                         "particle SoC range %.3f..%.3f is outside -20..21 (edge %.2f..%.2f eV)",
                         lo, hi, sim_edge_from_soc(sc, lo), sim_edge_from_soc(sc, hi));
    if (st == XANES_OK)
        st = place_segment(sc, 1, 0.0, 1.0, &w, err);
    if (st == XANES_OK && lo < 0.0)
        st = place_segment(sc, 0, lo - 0.01, 0.0, &w, err);
    if (st == XANES_OK && hi > 1.0)
        st = place_segment(sc, 2, 1.0, hi + 0.01, &w, err);
    sim_fine_ws_free(&w);
    return st;
}
