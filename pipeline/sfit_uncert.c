/* sfit_uncert.c: uncertainties, correlations, warnings and the window area
 * of an S K-edge fit (the stage after the solver in sfit.c).
 *
 * The covariance of the internal parameters u is (J'J)^-1 from
 * gsl_multifit_nlinear_covar (QR with column pivoting; columns below
 * covar_epsrel are dropped, which happens when a parameter sits on a bound
 * where the transform's slope vanishes), scaled by s^2 = SSR / (n - p): the
 * covariance scaled by the reduced chi-square, as lmfit does with
 * scale_covar=True.  External covariance C = D C_u D with D = dx/du
 * (first-order propagation through the transform, lmfit's
 * _int2ext_cov_x).  Areas A f K use the full (A, f) block.  The window area
 * and its variance follow the linear propagation derived in sfit.c's file
 * comment.  Thread-safe for distinct workspaces; allocates nothing.
 */
#include <gsl/gsl_errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sfit_model.h"

int sfit_at_bound(const xanes_sfit_params *p, double x, double lo, double hi)
{
    const double m = p->bound_frac * (hi - lo);
    return x <= lo + m || x >= hi - m;
}

static void add_warning(xanes_sfit_result *res, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void add_warning(xanes_sfit_result *res, const char *fmt, ...)
{
    if (res->n_warnings >= XANES_SFIT_MAX_WARNINGS)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->warnings[res->n_warnings], sizeof res->warnings[0], fmt, ap);
    va_end(ap);
    res->n_warnings++;
}

static void name_params(const sfit_layout *L, xanes_sfit_result *res)
{
    snprintf(res->name[SFIT_P_E0], sizeof res->name[0], "step_e0");
    snprintf(res->name[SFIT_P_W], sizeof res->name[0], "step_width");
    snprintf(res->name[SFIT_P_H], sizeof res->name[0], "step_height");
    for (size_t k = 0; k < L->n_peaks; k++) {
        if (!L->fix_centers)
            snprintf(res->name[sfit_idx_center(L, k)], sizeof res->name[0], "center%u",
                     (unsigned)(k + 1) % 100u);
        snprintf(res->name[sfit_idx_fwhm(L, k)], sizeof res->name[0], "fwhm%u",
                 (unsigned)(k + 1) % 100u);
        snprintf(res->name[sfit_idx_height(L, k)], sizeof res->name[0], "height%u",
                 (unsigned)(k + 1) % 100u);
    }
}

/* Peak whose centre lies in the window, the one nearest its middle; -1. */
static long window_peak(const sfit_layout *L, const double *x, const xanes_sfit_params *p)
{
    const double mid = 0.5 * (p->window_lo_ev + p->window_hi_ev);
    long best = -1;
    double dbest = HUGE_VAL;
    for (size_t k = 0; k < L->n_peaks; k++) {
        const double c = L->fix_centers ? L->fixed_center[k] : x[sfit_idx_center(L, k)];
        if (c >= p->window_lo_ev && c <= p->window_hi_ev && fabs(c - mid) < dbest) {
            dbest = fabs(c - mid);
            best = (long)k;
        }
    }
    return best;
}

/* Window area W = sum t_i (y_i - bg_i) and var W = s2 |t - J C g|^2 (see
 * sfit.c).  C is the unscaled internal covariance in ws->covar. */
static void window_area(xanes_sfit_workspace *ws, const xanes_sfit_params *p, const double *x,
                        const double *d, double s2, xanes_sfit_result *res)
{
    const sfit_layout *L = &ws->L;
    const size_t np = ws->p, n = ws->n;
    res->window_area = NAN;
    res->window_area_err = NAN;
    res->window_peak = window_peak(L, x, p);
    if (res->window_peak < 0) {
        add_warning(res, "no peak centre lies in the window %g:%g eV; window area not computed",
                    p->window_lo_ev, p->window_hi_ev);
        return;
    }
    double *t = ws->twin;
    size_t first = n, last = n, m = 0;
    for (size_t i = 0; i < n; i++) {
        t[i] = 0.0;
        if (ws->e[i] >= p->window_lo_ev && ws->e[i] <= p->window_hi_ev) {
            if (first == n)
                first = i;
            last = i;
            m++;
        }
    }
    if (m < 2) {
        add_warning(res, "window %g:%g eV holds %zu fit points; window area not computed",
                    p->window_lo_ev, p->window_hi_ev, m);
        return;
    }
    for (size_t i = first; i < last; i++) {
        const double h = ws->e[i + 1] - ws->e[i];
        t[i] += 0.5 * h;
        t[i + 1] += 0.5 * h;
    }
    const size_t kw = (size_t)res->window_peak;
    double g[MAX_P], gp[MAX_P], cg[MAX_P];
    memset(g, 0, sizeof g);
    double w_area = 0.0;
    for (size_t i = first; i <= last; i++) {
        double total, pk;
        sfit_model_point(L, x, ws->e[i], &total, NULL, NULL, NULL);
        sfit_peak_point(L, x, kw, ws->e[i], &pk, gp);
        w_area += t[i] * (ws->y[i] - (total - pk));
        for (size_t j = 0; j < np; j++)
            g[j] += t[i] * (gsl_matrix_get(ws->jbest, i, j) - gp[j] * d[j]);
    }
    for (size_t j = 0; j < np; j++) {
        cg[j] = 0.0;
        for (size_t l = 0; l < np; l++)
            cg[j] += gsl_matrix_get(ws->covar, j, l) * g[l];
    }
    double var = 0.0;
    for (size_t i = 0; i < n; i++) {
        double v = t[i];
        for (size_t j = 0; j < np; j++)
            v -= gsl_matrix_get(ws->jbest, i, j) * cg[j];
        var += v * v;
    }
    res->window_area = w_area;
    res->window_area_err = sqrt(s2 * var);
}

xanes_status sfit_uncertainties(xanes_sfit_workspace *ws, const xanes_sfit_params *p,
                                const double *u, double ssr, xanes_sfit_result *res,
                                xanes_error *err)
{
    const sfit_layout *L = &ws->L;
    const size_t np = ws->p, n = ws->n;
    double x[MAX_P], d[MAX_P];
    for (size_t j = 0; j < np; j++) {
        x[j] = sfit_to_ext(u[j], ws->lo[j], ws->hi[j]);
        d[j] = sfit_dext_du(u[j], ws->lo[j], ws->hi[j]);
    }
    sfit_jacobian(ws, u, ws->jbest);
    if (gsl_multifit_nlinear_covar(ws->jbest, p->covar_epsrel, ws->covar) != GSL_SUCCESS)
        return XANES_RAISE(err, XANES_EFAIL, "sfit: covariance of the fit over %g:%g eV failed",
                           res->emin_ev, res->emax_ev);
    const double s2 = ssr / (double)(n - np);
    res->n_points = n;
    res->n_params = np;
    res->n_peaks = L->n_peaks;
    name_params(L, res);
    for (size_t j = 0; j < np; j++) {
        res->value[j] = x[j];
        res->lower[j] = ws->lo[j];
        res->upper[j] = ws->hi[j];
        const double v = s2 * d[j] * d[j] * gsl_matrix_get(ws->covar, j, j);
        res->error[j] = v > 0.0 ? sqrt(v) : 0.0;
    }
    for (size_t i = 0; i < np; i++)
        for (size_t j = 0; j < np; j++) {
            const double cii = gsl_matrix_get(ws->covar, i, i);
            const double cjj = gsl_matrix_get(ws->covar, j, j);
            const double cij = gsl_matrix_get(ws->covar, i, j);
            /* The transform's D cancels in a correlation (up to its sign). */
            double r = (cii > 0.0 && cjj > 0.0) ? cij / sqrt(cii * cjj) : 0.0;
            if (d[i] * d[j] < 0.0)
                r = -r;
            res->corr[i * np + j] = r;
        }
    res->step_e0_ev = x[SFIT_P_E0];
    res->step_e0_err_ev = res->error[SFIT_P_E0];
    res->step_width_ev = x[SFIT_P_W];
    res->step_width_err_ev = res->error[SFIT_P_W];
    res->step_height = x[SFIT_P_H];
    res->step_height_err = res->error[SFIT_P_H];

    const double kf = sfit_area_factor(L);
    for (size_t k = 0; k < L->n_peaks; k++) {
        xanes_sfit_peak *pk = &res->peak[k];
        const size_t jf = sfit_idx_fwhm(L, k), ja = sfit_idx_height(L, k);
        const double f = x[jf], a = x[ja];
        if (L->fix_centers) {
            pk->center_ev = L->fixed_center[k];
            pk->center_err_ev = 0.0;
        } else {
            pk->center_ev = x[sfit_idx_center(L, k)];
            pk->center_err_ev = res->error[sfit_idx_center(L, k)];
        }
        pk->fwhm_ev = f;
        pk->fwhm_err_ev = res->error[jf];
        pk->height = a;
        pk->height_err = res->error[ja];
        pk->area = a * f * kf;
        /* var(A f K) = K^2 (f^2 var A + A^2 var f + 2 A f cov(A, f)). */
        const double caa = s2 * d[ja] * d[ja] * gsl_matrix_get(ws->covar, ja, ja);
        const double cff = s2 * d[jf] * d[jf] * gsl_matrix_get(ws->covar, jf, jf);
        const double caf = s2 * d[ja] * d[jf] * gsl_matrix_get(ws->covar, ja, jf);
        const double va = kf * kf * (f * f * caa + a * a * cff + 2.0 * a * f * caf);
        pk->area_err = va > 0.0 ? sqrt(va) : 0.0;
        pk->at_bound = sfit_at_bound(p, f, ws->lo[jf], ws->hi[jf]) ||
                       sfit_at_bound(p, a, ws->lo[ja], ws->hi[ja]);
        if (!L->fix_centers) {
            const size_t jc = sfit_idx_center(L, k);
            pk->at_bound = pk->at_bound || sfit_at_bound(p, x[jc], ws->lo[jc], ws->hi[jc]);
        }
    }

    res->noise_sigma = xanes_sfit_noise_sigma(ws->e, ws->y, n, ws->scratch);
    res->chi2_red = res->noise_sigma > 0.0 ? s2 / (res->noise_sigma * res->noise_sigma) : NAN;
    res->rms_residual = sqrt(ssr / (double)n);

    for (size_t j = 0; j < np; j++)
        if (sfit_at_bound(p, x[j], ws->lo[j], ws->hi[j]))
            add_warning(res, "%s = %g is at its %s bound %g; its error is not meaningful",
                        res->name[j], x[j], x[j] - ws->lo[j] < ws->hi[j] - x[j] ? "lower" : "upper",
                        x[j] - ws->lo[j] < ws->hi[j] - x[j] ? ws->lo[j] : ws->hi[j]);
    for (size_t i = 0; i < np; i++)
        for (size_t j = i + 1; j < np; j++)
            if (fabs(res->corr[i * np + j]) > p->corr_warn)
                add_warning(res, "%s and %s correlate at %.3f", res->name[i], res->name[j],
                            res->corr[i * np + j]);
    int pinned = 0;
    for (size_t j = 0; j < np; j++)
        pinned |= ws->frozen[j];
    /* A pinned parameter has a zero Jacobian column, hence rcond 0; the
     * bound warning above already says so. */
    if (!pinned && !(res->rcond >= p->rcond_min))
        add_warning(res, "ill-conditioned fit (rcond %.2e) after %zu starts", res->rcond,
                    res->n_starts);
    window_area(ws, p, x, d, s2, res);
    return XANES_OK;
}

void xanes_sfit_eval(const xanes_sfit_params *p, const xanes_sfit_result *res,
                     const double *energy_ev, size_t n, double *total, double *step, double *peaks)
{
    sfit_layout L;
    sfit_layout_from_params(p, &L);
    for (size_t i = 0; i < n; i++) {
        double pk[XANES_SFIT_MAX_PEAKS];
        sfit_model_point(&L, res->value, energy_ev[i], total != NULL ? &total[i] : NULL,
                         step != NULL ? &step[i] : NULL, pk, NULL);
        if (peaks != NULL)
            for (size_t k = 0; k < L.n_peaks; k++)
                peaks[k * n + i] = pk[k];
    }
}
