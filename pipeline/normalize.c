/* normalize.c: larch-compatible pre-edge subtraction and normalization of
 * one XANES spectrum.
 *
 * Reference: larch 0.9.58 (Debian python3-xraylarch), larch/xafs/pre_edge.py,
 * functions preedge() and pre_edge(); find_e0 is in edge.c.  Step by step:
 *   1. e0: find_e0 when not given; larch also replaces a given e0 outside
 *      [E[1], E[n-2]] by find_e0 -- we refuse such an e0 instead (EINVAL),
 *      since silently ignoring an explicit value hides mistakes.  Then e0 is
 *      snapped to the nearest sample (preedge: ie0 = index_nearest; e0 =
 *      energy[ie0]).
 *   2. Default ranges (preedge, lines "if pre1 is None" .. "nnorm = max(min(
 *      nnorm, MAX_NNORM), 0)"), with Python's round() (ties to even, here
 *      rint()):
 *        pre1  = 5*round((E[1]-e0)/5) if ie0 > 20 else 2*round((E[1]-e0)/2)
 *        pre1  = max(pre1, E[0]-e0)                     (given or not)
 *        pre2  = 5*round(pre1/15);  swap if pre1 > pre2
 *        norm2 = 5*round((E[n-1]-e0)/5);  if norm2 < 0: norm2 = E[n-1]-e0-norm2
 *        norm2 = min(norm2, E[n-1]-e0)                  (given or not)
 *        norm1 = min(150, 5*round(norm2/15));  swap if norm1 > norm2
 *        nnorm = 2, 1 if norm2-norm1 < 350, 0 if norm2-norm1 < 50; clamp 0..5
 *   3. Fit samples: [index_of(E, e0+a), index_nearest(E, e0+b)) where
 *      index_of is the last sample <= value (0 below the data); a range of
 *      fewer than 2 samples is widened to 2 (larch "if p2-p1 < 2").
 *   4. Pre-edge: line fitted to mu*E^nvict; pre_edge = (slope E + offset)
 *      E^-nvict.  Post-edge: polynomial of degree nnorm in E fitted to
 *      mu - pre_edge (0.9.58 applies nvict to the pre-edge fit only, despite
 *      its docstring).  edge_step = |post(e0) - pre(e0)|; norm = (mu -
 *      pre_edge)/edge_step.
 *   5. flat (pre_edge(), "make_flat"): when the post-edge range holds more
 *      than 4 samples, a polynomial of degree min(nnorm, 2) is fitted to norm
 *      over it and flat = norm - (fit(E) - fit(e0)) for E >= e0, norm below.
 *      larch does this with lmfit's leastsq (xtol = ftol = 1e-6); we solve
 *      the same linear least-squares problem exactly.
 * Where we differ from larch, on purpose: energies must increase strictly
 * (larch's remove_dups nudges repeats by 1e-7 eV; our reader averages them
 * with --sort); non-finite mu is refused (larch drops NaN pairs from the
 * fits); a fit range with fewer samples than coefficients is refused (numpy
 * would return a rank-deficient fit); find_e0 finding nothing is an error
 * (larch returns energy[0]); larch's fixed `step` argument is not offered.
 * Why 0.9.58's default rules: larch's defaults have moved between releases
 * (an older pre_edge.py, xraylarch commit 01d99e6, used fixed pre2 = -50,
 * norm1 = 100 and nnorm thresholds of 100/400 eV; releases after 0.9.58
 * changed the range rules and find_e0 again).  0.9.58 is the larch that runs
 * here, so every default rule is tested against it (tools/larch_reference.py),
 * and every result reports the parameters it used, so passing them explicitly
 * reproduces it in any larch version.
 * Numerics: polynomials are fitted by Householder QR (GSL) in the scaled
 * variable t = (E - e0)/s, not in powers of E as numpy.polyfit does, so a
 * degree-5 post-edge on 9000 eV energies stays well conditioned; the fitted
 * polynomial is the same.  Expected sizes: 100-5000 samples.
 */
#include "xanes/normalize.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_vector.h>

#include "normalize_private.h"
#include "xanes/edge.h"


struct xanes_normalize_workspace {
    size_t n_max;
    double *design; /* [n_max * NP_MAX] */
    double *rhs;    /* [n_max] */
    double *resid;  /* [n_max] */
    double *dmu;    /* [n_max] */
    double *pre;    /* [n_max] */
    double *norm;   /* [n_max] */
    double tau[NP_MAX];
    double coef[NP_MAX];
};

void xanes_normalize_default_params(xanes_normalize_params *p)
{
    p->e0_ev = NAN;
    p->pre1_ev = NAN;
    p->pre2_ev = NAN;
    p->norm1_ev = NAN;
    p->norm2_ev = NAN;
    p->nnorm = -1;
    p->nvict = 0.0;
    p->half_level = 0.5;
    p->crossing = XANES_EDGE_CROSS_LINEAR;
    p->edges = XANES_NORMALIZE_EDGE_HALF | XANES_NORMALIZE_EDGE_DERIV;
    p->fit_interpolant = 0;
}

xanes_normalize_workspace *xanes_normalize_workspace_alloc(size_t n_max)
{
    xanes_normalize_workspace *w = calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    w->n_max = n_max;
    size_t nn = n_max > 0 ? n_max : 1;
    w->design = malloc(nn * NP_MAX * sizeof(double));
    w->rhs = malloc(nn * sizeof(double));
    w->resid = malloc(nn * sizeof(double));
    w->dmu = malloc(nn * sizeof(double));
    w->pre = malloc(nn * sizeof(double));
    w->norm = malloc(nn * sizeof(double));
    if (w->design == NULL || w->rhs == NULL || w->resid == NULL || w->dmu == NULL ||
        w->pre == NULL || w->norm == NULL) {
        xanes_normalize_workspace_free(w);
        return NULL;
    }
    return w;
}

void xanes_normalize_workspace_free(xanes_normalize_workspace *w)
{
    if (w == NULL)
        return;
    free(w->norm);
    free(w->pre);
    free(w->dmu);
    free(w->resid);
    free(w->rhs);
    free(w->design);
    free(w);
}

xanes_status norm_check_inputs(const double *energy_ev, size_t n, const xanes_normalize_params *p,
                               xanes_error *err)
{
    if (n < 7)
        return XANES_RAISE(err, XANES_EDATA,
                           "spectrum has %zu points; normalization needs at least 7", n);
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(energy_ev[i]))
            return XANES_RAISE(err, XANES_EDATA, "energy[%zu] is not finite", i);
        if (i > 0 && !(energy_ev[i] > energy_ev[i - 1]))
            return XANES_RAISE(err, XANES_EDATA,
                               "energies must increase strictly: energy[%zu] = %.6f eV follows "
                               "%.6f eV",
                               i, energy_ev[i], energy_ev[i - 1]);
    }
    if (p->nnorm < -1 || p->nnorm > XANES_NORMALIZE_MAX_NNORM)
        return XANES_RAISE(err, XANES_EINVAL, "nnorm = %d: must be 0..%d (or -1 for the default)",
                           p->nnorm, XANES_NORMALIZE_MAX_NNORM);
    if (!isfinite(p->nvict) || !isfinite(p->half_level))
        return XANES_RAISE(err, XANES_EINVAL, "nvict and half_level must be finite");
    if (isinf(p->e0_ev) || isinf(p->pre1_ev) || isinf(p->pre2_ev) || isinf(p->norm1_ev) ||
        isinf(p->norm2_ev))
        return XANES_RAISE(err, XANES_EINVAL, "e0 and the ranges must be finite or NaN (default)");
    if (isfinite(p->e0_ev) && (p->e0_ev < energy_ev[1] || p->e0_ev > energy_ev[n - 2]))
        return XANES_RAISE(err, XANES_EINVAL,
                           "e0 = %.4f eV is outside the spectrum (%.4f..%.4f eV without its end "
                           "points)",
                           p->e0_ev, energy_ev[1], energy_ev[n - 2]);
    return XANES_OK;
}

size_t norm_index_nearest(const double *energy_ev, size_t n, double e)
{
    size_t best = 0;
    double d = fabs(energy_ev[0] - e);
    for (size_t i = 1; i < n; i++) {
        double di = fabs(energy_ev[i] - e);
        if (di < d) {
            d = di;
            best = i;
        }
    }
    return best;
}

/* larch index_of: the last sample at or below e, 0 when e is below all. */
static size_t index_of(const double *energy_ev, size_t n, double e)
{
    if (e < energy_ev[0])
        return 0;
    size_t i = 0;
    while (i + 1 < n && energy_ev[i + 1] <= e)
        i++;
    return i;
}

/* larch: p1 = index_of(e0+a); p2 = index_nearest(e0+b); p2 >= p1+2. */
static void fit_range(const double *energy_ev, size_t n, double e0, double a, double b, size_t *lo,
                      size_t *hi)
{
    size_t p1 = index_of(energy_ev, n, e0 + a);
    size_t p2 = norm_index_nearest(energy_ev, n, e0 + b);
    if (p2 < p1 + 2)
        p2 = (p1 + 2 < n) ? p1 + 2 : n;
    *lo = p1;
    *hi = p2;
}

xanes_status norm_resolve_ranges(const double *energy_ev, size_t n, size_t ie0,
                                 const xanes_normalize_params *p, xanes_normalize_result *r,
                                 xanes_error *err)
{
    double e0 = energy_ev[ie0];
    double emin = energy_ev[0], emax = energy_ev[n - 1];
    double pre1 = p->pre1_ev, pre2 = p->pre2_ev, norm1 = p->norm1_ev, norm2 = p->norm2_ev;
    if (isnan(pre1))
        pre1 = (ie0 > 20) ? 5.0 * rint((energy_ev[1] - e0) / 5.0)
                          : 2.0 * rint((energy_ev[1] - e0) / 2.0);
    if (pre1 < emin - e0)
        pre1 = emin - e0;
    if (isnan(pre2))
        pre2 = 5.0 * rint(pre1 / 15.0);
    if (pre1 > pre2) {
        double t = pre1;
        pre1 = pre2;
        pre2 = t;
    }
    if (isnan(norm2))
        norm2 = 5.0 * rint((emax - e0) / 5.0);
    if (norm2 < 0)
        norm2 = emax - e0 - norm2;
    if (norm2 > emax - e0)
        norm2 = emax - e0;
    if (isnan(norm1)) {
        norm1 = 5.0 * rint(norm2 / 15.0);
        if (norm1 > 150.0)
            norm1 = 150.0;
    }
    if (norm1 > norm2) {
        double t = norm1;
        norm1 = norm2;
        norm2 = t;
    }
    int nnorm = p->nnorm;
    if (nnorm < 0) {
        nnorm = 2;
        if (norm2 - norm1 < 350)
            nnorm = 1;
        if (norm2 - norm1 < 50)
            nnorm = 0;
    }
    r->e0_ev = e0;
    r->ie0 = ie0;
    r->pre1_ev = pre1;
    r->pre2_ev = pre2;
    r->norm1_ev = norm1;
    r->norm2_ev = norm2;
    r->nnorm = nnorm;
    r->nvict = p->nvict;
    fit_range(energy_ev, n, e0, pre1, pre2, &r->pre_lo, &r->pre_hi);
    fit_range(energy_ev, n, e0, norm1, norm2, &r->post_lo, &r->post_hi);
    size_t mpre = r->pre_hi - r->pre_lo, mpost = r->post_hi - r->post_lo;
    if (mpre < 2)
        return XANES_RAISE(err, XANES_EDATA,
                           "pre-edge range e0%+.1f..e0%+.1f eV (e0 = %.2f eV) holds %zu sample(s) "
                           "of the spectrum (%.2f..%.2f eV); a line needs 2",
                           pre1, pre2, e0, mpre, emin, emax);
    if (mpost < (size_t)nnorm + 1)
        return XANES_RAISE(err, XANES_EDATA,
                           "post-edge range e0%+.1f..e0%+.1f eV (e0 = %.2f eV) holds %zu sample(s) "
                           "of the spectrum (%.2f..%.2f eV); a degree-%d polynomial needs %d",
                           norm1, norm2, e0, mpost, emin, emax, nnorm, nnorm + 1);
    return XANES_OK;
}

double norm_fit_scale(const double *energy_ev, size_t lo, size_t hi, double e0)
{
    double s = fmax(fabs(energy_ev[lo] - e0), fabs(energy_ev[hi - 1] - e0));
    return s > 0.0 ? s : 1.0;
}

void norm_result_clear_values(xanes_normalize_result *r)
{
    r->edge_step = r->edge_step_signed = NAN;
    r->pre_slope = r->pre_offset = NAN;
    for (int k = 0; k < NP_MAX; k++)
        r->post_coef[k] = NAN;
    r->pre_rms = r->post_rms = NAN;
    r->half_edge_ev = r->deriv_edge_ev = NAN;
}

void norm_find_edges(const double *energy_ev, const double *mu, const double *norm, size_t n,
                     double half_level, xanes_edge_crossing crossing, unsigned edges, double *dmu, xanes_normalize_result *r)
{
    size_t start = r->pre_hi > 0 ? r->pre_hi - 1 : 0;
    r->half_edge_ev = NAN;
    if ((edges & XANES_NORMALIZE_EDGE_HALF) &&
        xanes_edge_half_interp(energy_ev, norm, n, start, half_level, crossing, &r->half_edge_ev,
                               NULL) != XANES_OK)
        r->half_edge_ev = NAN;
    r->deriv_edge_ev = NAN;
    if ((edges & XANES_NORMALIZE_EDGE_DERIV) && r->post_lo > r->pre_hi) {
        xanes_edge_dmude(energy_ev, mu, n, dmu);
        if (xanes_edge_deriv(energy_ev, dmu, n, r->pre_hi, r->post_lo, &r->deriv_edge_ev, NULL) !=
            XANES_OK)
            r->deriv_edge_ev = NAN;
    }
}

/* Least-squares polynomial y ~ sum_k c[k] t^k, t = (E - e0)/scale, over
 * samples [lo, hi), by Householder QR in the workspace.  Returns the RMS
 * residual in *rms. */
static xanes_status fit_poly(xanes_normalize_workspace *w, const double *energy_ev, const double *y,
                             size_t lo, size_t hi, double e0, double scale, int deg, double *c,
                             double *rms, xanes_error *err)
{
    size_t m = hi - lo, np = (size_t)deg + 1;
    for (size_t i = 0; i < m; i++) {
        double t = (energy_ev[lo + i] - e0) / scale, tk = 1.0;
        for (size_t k = 0; k < np; k++) {
            w->design[i * np + k] = tk;
            tk *= t;
        }
        w->rhs[i] = y[lo + i];
    }
    gsl_matrix_view a = gsl_matrix_view_array(w->design, m, np);
    gsl_vector_view tau = gsl_vector_view_array(w->tau, np);
    gsl_vector_view b = gsl_vector_view_array(w->rhs, m);
    gsl_vector_view x = gsl_vector_view_array(w->coef, np);
    gsl_vector_view res = gsl_vector_view_array(w->resid, m);
    int gs = gsl_linalg_QR_decomp(&a.matrix, &tau.vector);
    if (gs == GSL_SUCCESS)
        gs = gsl_linalg_QR_lssolve(&a.matrix, &tau.vector, &b.vector, &x.vector, &res.vector);
    double ss = 0.0;
    for (size_t i = 0; i < m; i++)
        ss += w->resid[i] * w->resid[i];
    for (size_t k = 0; k < np; k++)
        c[k] = w->coef[k];
    *rms = sqrt(ss / (double)m);
    int finite = isfinite(*rms);
    for (size_t k = 0; k < np; k++)
        finite = finite && isfinite(c[k]);
    if (gs != GSL_SUCCESS || !finite)
        return XANES_RAISE(err, XANES_EFAIL,
                           "least-squares fit of degree %d over %.2f..%.2f eV failed (%s)", deg,
                           energy_ev[lo], energy_ev[hi - 1], gsl_strerror(gs));
    return XANES_OK;
}

/* The interpolant fit (normalize_interp.c) of y over [a, b], samples
 * [lo, hi) bracketing it; the projection goes into the workspace's design
 * buffer.  RMS residual over the bracketing samples. */
static xanes_status fit_interpolant(xanes_normalize_workspace *w, const double *energy_ev,
                                    const double *y, size_t lo, size_t hi, double a, double b,
                                    double e0, double scale, int deg, double *c, double *rms,
                                    xanes_error *err)
{
    size_t m = hi - lo, np = (size_t)deg + 1;
    xanes_status st =
        norm_interp_projection(energy_ev, lo, hi, a, b, e0, scale, np, w->design, err);
    if (st != XANES_OK)
        return st;
    for (size_t k = 0; k < np; k++) {
        double v = 0.0;
        for (size_t i = 0; i < m; i++)
            v += w->design[k * m + i] * y[lo + i];
        c[k] = v;
    }
    double ss = 0.0;
    for (size_t i = lo; i < hi; i++) {
        double t = (energy_ev[i] - e0) / scale, v = 0.0;
        for (int k = deg; k >= 0; k--)
            v = v * t + c[k];
        ss += (y[i] - v) * (y[i] - v);
    }
    *rms = sqrt(ss / (double)m);
    return XANES_OK;
}

static double poly_eval(const double *c, int deg, double t)
{
    double v = 0.0;
    for (int k = deg; k >= 0; k--)
        v = v * t + c[k];
    return v;
}

xanes_status xanes_normalize_run(const double *energy_ev, const double *mu, size_t n,
                                 const xanes_normalize_params *p, xanes_normalize_workspace *w,
                                 xanes_normalize_result *r, double *norm, double *flat,
                                 xanes_error *err)
{
    xanes_normalize_params defaults;
    if (p == NULL) {
        xanes_normalize_default_params(&defaults);
        p = &defaults;
    }
    if (energy_ev == NULL || mu == NULL || w == NULL || r == NULL)
        return XANES_RAISE(err, XANES_EINVAL, "normalize: NULL argument");
    norm_result_clear_values(r);
    if (n > w->n_max)
        return XANES_RAISE(err, XANES_EINVAL,
                           "normalize: spectrum of %zu points exceeds the workspace (%zu)", n,
                           w->n_max);
    xanes_status st = norm_check_inputs(energy_ev, n, p, err);
    if (st != XANES_OK)
        return st;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(mu[i]))
            return XANES_RAISE(err, XANES_EDATA, "mu at %.4f eV (point %zu) is not finite",
                               energy_ev[i], i);
    if (p->fit_interpolant) {
        st = norm_interp_resolve(energy_ev, n, p, r, err);
    } else {
        size_t ie0 = 0;
        if (isnan(p->e0_ev)) {
            st = xanes_edge_find_e0(energy_ev, mu, n, w->dmu, &ie0, err);
            if (st != XANES_OK)
                return st;
        } else {
            ie0 = norm_index_nearest(energy_ev, n, p->e0_ev);
        }
        st = norm_resolve_ranges(energy_ev, n, ie0, p, r, err);
    }
    if (st != XANES_OK)
        return st;
    double e0 = r->e0_ev;

    /* Pre-edge line through mu*E^nvict, in t = (E - e0)/s. */
    double *y = w->pre; /* mu*E^nvict first, the pre-edge curve afterwards */
    for (size_t i = r->pre_lo; i < r->pre_hi; i++)
        y[i] = (p->nvict == 0.0) ? mu[i] : mu[i] * pow(energy_ev[i], p->nvict);
    double spre = norm_fit_scale(energy_ev, r->pre_lo, r->pre_hi, e0);
    double a[2], rms = 0.0;
    if (p->fit_interpolant)
        st = fit_interpolant(w, energy_ev, y, r->pre_lo, r->pre_hi, e0 + r->pre1_ev,
                             e0 + r->pre2_ev, e0, spre, 1, a, &rms, err);
    else
        st = fit_poly(w, energy_ev, y, r->pre_lo, r->pre_hi, e0, spre, 1, a, &rms, err);
    if (st != XANES_OK)
        return st;
    r->pre_slope = a[1] / spre;
    r->pre_offset = a[0] - a[1] * e0 / spre;
    for (size_t i = 0; i < n; i++) {
        double line = a[0] + a[1] * (energy_ev[i] - e0) / spre;
        y[i] = (p->nvict == 0.0) ? line : line * pow(energy_ev[i], -p->nvict);
    }
    double ss = 0.0;
    for (size_t i = r->pre_lo; i < r->pre_hi; i++)
        ss += (mu[i] - y[i]) * (mu[i] - y[i]);
    r->pre_rms = sqrt(ss / (double)(r->pre_hi - r->pre_lo));

    /* Post-edge polynomial through mu - pre_edge, in u = (E - e0)/s. */
    double *z = w->norm;
    for (size_t i = 0; i < n; i++)
        z[i] = mu[i] - y[i];
    double spost = norm_fit_scale(energy_ev, r->post_lo, r->post_hi, e0);
    double c[NP_MAX];
    if (p->fit_interpolant)
        st = fit_interpolant(w, energy_ev, z, r->post_lo, r->post_hi, e0 + r->norm1_ev,
                             e0 + r->norm2_ev, e0, spost, r->nnorm, c, &r->post_rms, err);
    else
        st = fit_poly(w, energy_ev, z, r->post_lo, r->post_hi, e0, spost, r->nnorm, c,
                      &r->post_rms, err);
    if (st != XANES_OK)
        return st;
    double sk = 1.0;
    for (int k = 0; k <= r->nnorm; k++) {
        r->post_coef[k] = c[k] / sk;
        sk *= spost;
    }
    r->edge_step_signed = c[0];
    r->edge_step = fabs(c[0]);
    if (!(r->edge_step > 0.0)) {
        norm_result_clear_values(r);
        return XANES_RAISE(err, XANES_EDATA, "edge step at e0 = %.2f eV is zero: no edge", e0);
    }
    for (size_t i = 0; i < n; i++)
        z[i] /= r->edge_step; /* z is now norm */
    r->crossing = p->crossing;
    norm_find_edges(energy_ev, mu, z, n, p->half_level, p->crossing, p->edges, w->dmu, r);
    if (norm != NULL)
        memcpy(norm, z, n * sizeof(double));

    if (flat != NULL) {
        memcpy(flat, z, n * sizeof(double));
        if (r->post_hi - r->post_lo > 4) {
            int df = r->nnorm < 2 ? r->nnorm : 2;
            double f[3], frms;
            st = fit_poly(w, energy_ev, z, r->post_lo, r->post_hi, e0, spost, df, f, &frms, err);
            if (st != XANES_OK)
                return st;
            for (size_t i = r->ie0; i < n; i++)
                flat[i] = z[i] - (poly_eval(f, df, (energy_ev[i] - e0) / spost) - f[0]);
        }
    }
    return XANES_OK;
}

void xanes_normalize_curves(const double *energy_ev, size_t n, const xanes_normalize_result *r,
                            double *pre_edge, double *post_edge)
{
    for (size_t i = 0; i < n; i++) {
        double e = energy_ev[i];
        double pre = r->pre_slope * e + r->pre_offset;
        if (r->nvict != 0.0)
            pre *= pow(e, -r->nvict);
        if (pre_edge != NULL)
            pre_edge[i] = pre;
        if (post_edge != NULL)
            post_edge[i] = pre + poly_eval(r->post_coef, r->nnorm, e - r->e0_ev);
    }
}
