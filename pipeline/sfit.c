/* sfit.c: S K-edge peak deconvolution (edge step + N peaks) with areas and
 * honest uncertainties; the fit driver behind `xanes sfit`.
 *
 * Algorithm.  The model of sfit_model.c is fitted to normalized mu over a
 * range by GSL's trust-region Levenberg-Marquardt (gsl_multifit_nlinear,
 * gsl_multifit_nlinear_trs_lm) with the analytic Jacobian; bounds come from
 * the MINUIT sine transform, so GSL sees unbounded internal parameters u.
 * Starting values come from the data: centres as given, E0 where the data
 * first reach half of their level at the end of the range, and, for each
 * candidate common FWHM (and E0 shift), the step height and the peak heights
 * from an ordinary linear least-squares fit (the model is linear in them).
 * The candidates are ranked by that linear residual and fitted in that
 * order: min_starts of them always (overlapping peaks 1 and 2 have local
 * minima), and more, up to max_starts, while the best fit so far failed, is
 * ill-conditioned (rcond of J below rcond_min) or leaves a peak parameter on
 * a bound; the lowest chi-square is kept.  A parameter that runs into a
 * bound is pinned there (see run_start), as a bounded LM would.
 *
 * Uncertainties.  With s^2 = SSR / (n - p) the covariance of the internal
 * parameters is s^2 (J'J)^-1 (lmfit's scale_covar: the covariance scaled by
 * the reduced chi-square), mapped to the external parameters by the
 * transform's derivative D: C = D C_u D.  Areas A f K use the full 2x2 block
 * of (A, f).  The per-point noise sigma reported for chi2_red is estimated
 * independently from the high-frequency content of the data
 * (xanes_sfit_noise_sigma), so chi2_red ~ 1 means the model describes the
 * data to the noise; the error bars themselves rest on the residual, which
 * also absorbs any misfit (conservative).
 *
 * Window area.  W = sum_i t_i (y_i - bg_i) over the fit points in the window
 * (trapezoid weights t), bg = step + every peak except the one whose centre
 * lies in the window.  Linearizing the fit, u_hat - u = (J'J)^-1 J' eps, so
 * W - W_true = (t - J (J'J)^-1 g)' eps with g = J_bg' t, hence
 * var W = s^2 |t - J (J'J)^-1 g|^2: the data noise in the window and the
 * uncertainty of the subtracted background, with their correlation.
 *
 * Sizes: a few hundred points, up to 27 parameters.  Allocation happens
 * only in xanes_sfit_workspace_alloc.
 */
#include "xanes/sfit.h"

#include <gsl/gsl_blas.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_multifit.h>
#include <gsl/gsl_multifit_nlinear.h>
#include <gsl/gsl_vector.h>
#include <math.h>

#ifndef M_PI_2
#define M_PI_2 1.57079632679489661923
#endif
#include <stdlib.h>
#include <string.h>

#include "sfit_model.h"

#define N_E0_SHIFTS 4
#define MAX_CANDIDATES (4 * N_E0_SHIFTS)

void xanes_sfit_default_params(xanes_sfit_params *p)
{
    memset(p, 0, sizeof *p);
    p->shape = XANES_SFIT_PVOIGT;
    p->step = XANES_SFIT_ARCTAN;
    p->n_peaks = 4;
    p->center_ev[0] = 2472.0;
    p->center_ev[1] = 2473.0;
    p->center_ev[2] = 2477.0;
    p->center_ev[3] = 2483.0;
    p->emin_ev = NAN;
    p->emax_ev = NAN;
    p->range_pad_ev = 15.0;
    p->window_lo_ev = 2480.0;
    p->window_hi_ev = 2487.0;
    p->center_tol_ev = 1.0;
    p->fwhm_min_ev = 0.3;
    p->fwhm_max_ev = 10.0;
    p->step_width_min_ev = 0.05;
    p->step_width_max_ev = 10.0;
    p->step_e0_pad_ev = 10.0;
    p->amp_max_factor = 5.0;
    p->pvoigt_fraction = 0.5;
    p->max_iter = 500;
    p->xtol = 1e-8;
    p->gtol = 6e-6;
    p->ftol = 1e-10;
    p->rcond_min = 1e-9;
    p->min_starts = 4;
    p->max_starts = 8;
    p->covar_epsrel = 1e-10;
    p->fwhm_start_ev[0] = 0.8;
    p->fwhm_start_ev[1] = 1.3;
    p->fwhm_start_ev[2] = 2.0;
    p->fwhm_start_ev[3] = 3.0;
    p->corr_warn = 0.95;
    p->bound_frac = 1e-3;
}

xanes_sfit_workspace *xanes_sfit_workspace_alloc(size_t n_max, const xanes_sfit_params *p,
                                                 xanes_error *err)
{
    xanes_sfit_workspace *ws = NULL;
    if (p == NULL || p->n_peaks == 0 || p->n_peaks > XANES_SFIT_MAX_PEAKS) {
        XANES_RAISE(err, XANES_EINVAL, "sfit: number of peaks %zu is outside 1..%d",
                    p == NULL ? (size_t)0 : p->n_peaks, XANES_SFIT_MAX_PEAKS);
        return NULL;
    }
    sfit_layout L;
    sfit_layout_from_params(p, &L);
    const size_t np = sfit_n_params(&L);
    if (n_max < 2 * np) {
        XANES_RAISE(err, XANES_EINVAL, "sfit: workspace for %zu points cannot fit %zu parameters",
                    n_max, np);
        return NULL;
    }
    ws = calloc(1, sizeof *ws);
    if (ws == NULL)
        goto nomem;
    ws->n_max = n_max;
    ws->p = np;
    ws->n_peaks = p->n_peaks;
    ws->fix_centers = L.fix_centers;
    ws->L = L;
    ws->e = calloc(n_max, sizeof(double));
    ws->y = calloc(n_max, sizeof(double));
    ws->scratch = calloc(n_max, sizeof(double));
    ws->twin = calloc(n_max, sizeof(double));
    if (ws->e == NULL || ws->y == NULL || ws->scratch == NULL || ws->twin == NULL)
        goto nomem;
    gsl_multifit_nlinear_parameters fp = gsl_multifit_nlinear_default_parameters();
    fp.trs = gsl_multifit_nlinear_trs_lm;
    ws->nl = gsl_multifit_nlinear_alloc(gsl_multifit_nlinear_trust, &fp, n_max, np);
    ws->jbest = gsl_matrix_alloc(n_max, np);
    ws->covar = gsl_matrix_alloc(np, np);
    ws->u0 = gsl_vector_alloc(np);
    ws->lin = gsl_multifit_linear_alloc(n_max, p->n_peaks + 1);
    ws->xlin = gsl_matrix_calloc(n_max, p->n_peaks + 1);
    ws->covlin = gsl_matrix_alloc(p->n_peaks + 1, p->n_peaks + 1);
    ws->ylin = gsl_vector_calloc(n_max);
    ws->clin = gsl_vector_alloc(p->n_peaks + 1);
    if (ws->nl == NULL || ws->jbest == NULL || ws->covar == NULL || ws->u0 == NULL ||
        ws->lin == NULL || ws->xlin == NULL || ws->covlin == NULL || ws->ylin == NULL ||
        ws->clin == NULL)
        goto nomem;
    return ws;
nomem:
    xanes_sfit_workspace_free(ws);
    XANES_RAISE(err, XANES_ENOMEM, "sfit: cannot allocate a workspace for %zu points", n_max);
    return NULL;
}

void xanes_sfit_workspace_free(xanes_sfit_workspace *ws)
{
    if (ws == NULL)
        return;
    if (ws->clin != NULL)
        gsl_vector_free(ws->clin);
    if (ws->ylin != NULL)
        gsl_vector_free(ws->ylin);
    if (ws->covlin != NULL)
        gsl_matrix_free(ws->covlin);
    if (ws->xlin != NULL)
        gsl_matrix_free(ws->xlin);
    if (ws->lin != NULL)
        gsl_multifit_linear_free(ws->lin);
    if (ws->u0 != NULL)
        gsl_vector_free(ws->u0);
    if (ws->covar != NULL)
        gsl_matrix_free(ws->covar);
    if (ws->jbest != NULL)
        gsl_matrix_free(ws->jbest);
    if (ws->nl != NULL)
        gsl_multifit_nlinear_free(ws->nl);
    free(ws->twin);
    free(ws->scratch);
    free(ws->y);
    free(ws->e);
    free(ws);
}

/* ---- GSL callbacks: residual model - y and its Jacobian in u ------------ */

static void u_to_x(const xanes_sfit_workspace *ws, const double *u, double *x)
{
    for (size_t j = 0; j < ws->p; j++)
        x[j] = sfit_to_ext(u[j], ws->lo[j], ws->hi[j]);
}

static int cb_f(const gsl_vector *u, void *data, gsl_vector *f)
{
    const xanes_sfit_workspace *ws = data;
    double x[MAX_P];
    u_to_x(ws, u->data, x);
    for (size_t i = 0; i < ws->n_max; i++) {
        double m = 0.0;
        if (i < ws->n)
            sfit_model_point(&ws->L, x, ws->e[i], &m, NULL, NULL, NULL);
        /* Rows past n pad the fixed-size GSL workspace; zero rows do not
         * change the least-squares problem. */
        gsl_vector_set(f, i, i < ws->n ? m - ws->y[i] : 0.0);
    }
    return GSL_SUCCESS;
}

void sfit_jacobian(const xanes_sfit_workspace *ws, const double *u, gsl_matrix *J)
{
    double x[MAX_P], d[MAX_P], g[MAX_P];
    u_to_x(ws, u, x);
    for (size_t j = 0; j < ws->p; j++)
        d[j] = sfit_dext_du(u[j], ws->lo[j], ws->hi[j]);
    for (size_t i = 0; i < ws->n_max; i++) {
        if (i < ws->n)
            sfit_model_point(&ws->L, x, ws->e[i], NULL, NULL, NULL, g);
        for (size_t j = 0; j < ws->p; j++)
            gsl_matrix_set(J, i, j, (i < ws->n && !ws->frozen[j]) ? g[j] * d[j] : 0.0);
    }
}

static int cb_df(const gsl_vector *u, void *data, gsl_matrix *J)
{
    sfit_jacobian(data, u->data, J);
    return GSL_SUCCESS;
}

/* ---- starting values ---------------------------------------------------- */

typedef struct {
    double ssr;
    double x[MAX_P];
} candidate;

static int cmp_candidate(const void *a, const void *b)
{
    const double sa = ((const candidate *)a)->ssr, sb = ((const candidate *)b)->ssr;
    return (sa > sb) - (sa < sb);
}

static double clamp_inside(double v, double lo, double hi)
{
    /* Strictly inside, so the sine transform starts with a usable slope. */
    const double m = 0.01 * (hi - lo);
    if (!(v > lo + m))
        return lo + m;
    if (!(v < hi - m))
        return hi - m;
    return v;
}

/* Heights of the step and peaks for fixed E0, w, centres and FWHM f by linear
 * least squares; fills x completely and returns the SSR. */
static double linear_start(xanes_sfit_workspace *ws, const xanes_sfit_params *p, double e0,
                           double f, double *x)
{
    const sfit_layout *L = &ws->L;
    const size_t npk = L->n_peaks;
    x[SFIT_P_E0] = clamp_inside(e0, ws->lo[SFIT_P_E0], ws->hi[SFIT_P_E0]);
    x[SFIT_P_W] = clamp_inside(0.5 * f, ws->lo[SFIT_P_W], ws->hi[SFIT_P_W]);
    x[SFIT_P_H] = 1.0;
    for (size_t k = 0; k < npk; k++) {
        if (!L->fix_centers)
            x[sfit_idx_center(L, k)] = p->center_ev[k];
        x[sfit_idx_fwhm(L, k)] =
            clamp_inside(f, ws->lo[sfit_idx_fwhm(L, k)], ws->hi[sfit_idx_fwhm(L, k)]);
        x[sfit_idx_height(L, k)] = 1.0;
    }
    for (size_t i = 0; i < ws->n; i++) {
        double step, pk[XANES_SFIT_MAX_PEAKS];
        sfit_model_point(L, x, ws->e[i], NULL, &step, pk, NULL);
        gsl_matrix_set(ws->xlin, i, 0, step);
        for (size_t k = 0; k < npk; k++)
            gsl_matrix_set(ws->xlin, i, k + 1, pk[k]);
        gsl_vector_set(ws->ylin, i, ws->y[i]);
    }
    for (size_t i = ws->n; i < ws->n_max; i++) {
        for (size_t k = 0; k <= npk; k++)
            gsl_matrix_set(ws->xlin, i, k, 0.0);
        gsl_vector_set(ws->ylin, i, 0.0);
    }
    double chisq = HUGE_VAL;
    if (gsl_multifit_linear(ws->xlin, ws->ylin, ws->clin, ws->covlin, &chisq, ws->lin) !=
        GSL_SUCCESS)
        chisq = HUGE_VAL;
    x[SFIT_P_H] = clamp_inside(gsl_vector_get(ws->clin, 0), ws->lo[SFIT_P_H], ws->hi[SFIT_P_H]);
    for (size_t k = 0; k < npk; k++) {
        const size_t ia = sfit_idx_height(L, k);
        x[ia] = clamp_inside(gsl_vector_get(ws->clin, k + 1), ws->lo[ia], ws->hi[ia]);
    }
    return isfinite(chisq) ? chisq : HUGE_VAL;
}

/* Checks the inputs and selects the points of the fit range into ws. */
static xanes_status setup(xanes_sfit_workspace *ws, const double *energy_ev, const double *mu,
                          size_t n, const xanes_sfit_params *p, xanes_sfit_result *res,
                          xanes_error *err)
{
    if (p->n_peaks != ws->n_peaks || (p->fix_centers != 0) != ws->fix_centers)
        return XANES_RAISE(err, XANES_EINVAL,
                           "sfit: parameters (%zu peaks, centres %s) do not match the workspace "
                           "(%zu peaks, centres %s)",
                           p->n_peaks, p->fix_centers ? "fixed" : "free", ws->n_peaks,
                           ws->fix_centers ? "fixed" : "free");
    if ((unsigned)p->shape > XANES_SFIT_PVOIGT || (unsigned)p->step > XANES_SFIT_ERF)
        return XANES_RAISE(err, XANES_EINVAL, "sfit: unknown peak shape %d or step form %d",
                           (int)p->shape, (int)p->step);
    if (!(p->fwhm_min_ev > 0.0 && p->fwhm_max_ev > p->fwhm_min_ev && p->center_tol_ev > 0.0 &&
          p->step_width_min_ev > 0.0 && p->step_width_max_ev > p->step_width_min_ev &&
          p->amp_max_factor > 0.0 && p->pvoigt_fraction >= 0.0 && p->pvoigt_fraction <= 1.0))
        return XANES_RAISE(err, XANES_EINVAL,
                           "sfit: inconsistent bounds (FWHM %g..%g eV, centre tolerance %g eV, "
                           "step width %g..%g eV, pseudo-Voigt fraction %g)",
                           p->fwhm_min_ev, p->fwhm_max_ev, p->center_tol_ev, p->step_width_min_ev,
                           p->step_width_max_ev, p->pvoigt_fraction);
    if (!(p->window_lo_ev < p->window_hi_ev))
        return XANES_RAISE(err, XANES_EINVAL, "sfit: window %g:%g eV is empty", p->window_lo_ev,
                           p->window_hi_ev);
    if (n < 3)
        return XANES_RAISE(err, XANES_EDATA, "sfit: spectrum has only %zu points", n);
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(energy_ev[i]) || !isfinite(mu[i]))
            return XANES_RAISE(err, XANES_EDATA, "sfit: point %zu is not finite (E=%g, mu=%g)", i,
                               energy_ev[i], mu[i]);
        if (i > 0 && !(energy_ev[i] > energy_ev[i - 1]))
            return XANES_RAISE(err, XANES_EDATA,
                               "sfit: energies not strictly increasing at point %zu (%g after %g)",
                               i, energy_ev[i], energy_ev[i - 1]);
    }
    double cmin = HUGE_VAL, cmax = -HUGE_VAL;
    for (size_t k = 0; k < p->n_peaks; k++) {
        if (!isfinite(p->center_ev[k]))
            return XANES_RAISE(err, XANES_EINVAL, "sfit: peak %zu centre is not finite", k + 1);
        cmin = fmin(cmin, p->center_ev[k]);
        cmax = fmax(cmax, p->center_ev[k]);
    }
    const double d0 = energy_ev[0], d1 = energy_ev[n - 1];
    double emin = p->emin_ev, emax = p->emax_ev;
    if (isnan(emin))
        emin = fmax(cmin - p->range_pad_ev, d0);
    if (isnan(emax))
        emax = fmin(cmax + p->range_pad_ev, d1);
    if (!(emin < emax))
        return XANES_RAISE(err, XANES_EINVAL, "sfit: fit range %g:%g eV is empty", emin, emax);
    /* Half a sample spacing of slack at each end, so "--range" may name the
     * nominal scan limits. */
    const double tol0 = 0.5 * (energy_ev[1] - energy_ev[0]);
    const double tol1 = 0.5 * (energy_ev[n - 1] - energy_ev[n - 2]);
    if (emin < d0 - tol0 || emax > d1 + tol1)
        return XANES_RAISE(err, XANES_EDATA,
                           "sfit: fit range %g:%g eV lies outside the data (%g to %g eV)", emin,
                           emax, d0, d1);
    for (size_t k = 0; k < p->n_peaks; k++)
        if (p->center_ev[k] < emin || p->center_ev[k] > emax)
            return XANES_RAISE(err, XANES_EINVAL,
                               "sfit: peak %zu centre %g eV is outside the fit range %g:%g eV",
                               k + 1, p->center_ev[k], emin, emax);
    size_t m = 0;
    /* The slack only excuses a nominal limit; the points fitted are those in
     * the range clipped to the data. */
    emin = fmax(emin, d0);
    emax = fmin(emax, d1);
    for (size_t i = 0; i < n; i++)
        if (energy_ev[i] >= emin && energy_ev[i] <= emax) {
            if (m == ws->n_max)
                return XANES_RAISE(err, XANES_EINVAL,
                                   "sfit: %g:%g eV holds more points than the workspace (%zu)",
                                   emin, emax, ws->n_max);
            ws->e[m] = energy_ev[i];
            ws->y[m] = mu[i];
            m++;
        }
    if (m < 2 * ws->p)
        return XANES_RAISE(err, XANES_EDATA,
                           "sfit: only %zu points in the fit range %g:%g eV, need at least %zu "
                           "(2 per parameter) for %zu parameters",
                           m, emin, emax, 2 * ws->p, ws->p);
    ws->n = m;
    res->emin_ev = emin;
    res->emax_ev = emax;

    /* Bounds. */
    double ymax = 0.0;
    for (size_t i = 0; i < m; i++)
        ymax = fmax(ymax, fabs(ws->y[i]));
    if (!(ymax > 0.0))
        return XANES_RAISE(err, XANES_EDATA, "sfit: mu is zero throughout %g:%g eV", emin, emax);
    const sfit_layout *L = &ws->L;
    ws->lo[SFIT_P_E0] = fmax(cmin - p->step_e0_pad_ev, emin);
    ws->hi[SFIT_P_E0] = fmin(cmax + p->step_e0_pad_ev, emax);
    ws->lo[SFIT_P_W] = p->step_width_min_ev;
    ws->hi[SFIT_P_W] = p->step_width_max_ev;
    ws->lo[SFIT_P_H] = 0.0;
    ws->hi[SFIT_P_H] = p->amp_max_factor * ymax;
    for (size_t k = 0; k < p->n_peaks; k++) {
        if (!L->fix_centers) {
            ws->lo[sfit_idx_center(L, k)] = p->center_ev[k] - p->center_tol_ev;
            ws->hi[sfit_idx_center(L, k)] = p->center_ev[k] + p->center_tol_ev;
        }
        ws->lo[sfit_idx_fwhm(L, k)] = p->fwhm_min_ev;
        ws->hi[sfit_idx_fwhm(L, k)] = p->fwhm_max_ev;
        ws->lo[sfit_idx_height(L, k)] = 0.0;
        ws->hi[sfit_idx_height(L, k)] = p->amp_max_factor * ymax;
    }
    return XANES_OK;
}

/* Ranked data-derived starting points (see the file comment). */
static size_t make_candidates(xanes_sfit_workspace *ws, const xanes_sfit_params *p, candidate *cand)
{
    /* Level at the end of the range: mean of the last tenth of the points. */
    const size_t tail = ws->n / 10 > 0 ? ws->n / 10 : 1;
    double level = 0.0;
    for (size_t i = ws->n - tail; i < ws->n; i++)
        level += ws->y[i];
    level /= (double)tail;
    double e_half = ws->e[0];
    for (size_t i = 0; i < ws->n; i++)
        if (ws->y[i] >= 0.5 * level) {
            e_half = ws->e[i];
            break;
        }
    static const double e0_shift_ev[N_E0_SHIFTS] = {0.0, 1.5, -1.5, 3.0};
    size_t nc = 0;
    for (size_t s = 0; s < N_E0_SHIFTS; s++)
        for (size_t j = 0; j < 4; j++) {
            const double f = p->fwhm_start_ev[j];
            if (!(f > 0.0))
                continue;
            cand[nc].ssr = linear_start(ws, p, e_half + e0_shift_ev[s], f, cand[nc].x);
            nc++;
        }
    qsort(cand, nc, sizeof cand[0], cmp_candidate);
    return nc;
}

typedef struct {
    int ok;
    double ssr, rcond;
    size_t n_iter;
    double u[MAX_P];
    int frozen[MAX_P];
} start_outcome;

/* Up to max_iter LM iterations from the current state of ws->nl.  Returns 1
 * converged, 0 out of iterations, -1 solver failure.  Convergence: GSL's own
 * tests (xtol on the step, gtol on the gradient) or MINPACK's ftol, which
 * GSL 2.7 does not implement: a relative decrease of SSR below ftol for
 * three iterations in a row moves chi^2 by ~ftol (n - p), far below
 * anything statistical.  GSL_ENOPROG (no step lowers the cost) means the
 * minimum is reached to rounding. */
static int lm_iterate(xanes_sfit_workspace *ws, const xanes_sfit_params *p, size_t max_iter,
                      size_t *n_iter)
{
    const gsl_vector *fres = gsl_multifit_nlinear_residual(ws->nl);
    double cost = 0.0;
    gsl_blas_ddot(fres, fres, &cost);
    int flat = 0;
    for (size_t it = 0; it < max_iter; it++) {
        const int st = gsl_multifit_nlinear_iterate(ws->nl);
        (*n_iter)++;
        if (st == GSL_ENOPROG)
            return 1;
        if (st != GSL_SUCCESS)
            return -1;
        int info = 0;
        if (gsl_multifit_nlinear_test(p->xtol, p->gtol, 0.0, &info, ws->nl) == GSL_SUCCESS)
            return 1;
        double next = 0.0;
        gsl_blas_ddot(fres, fres, &next);
        flat = (cost - next <= p->ftol * next) ? flat + 1 : 0;
        if (flat >= 3)
            return 1;
        cost = next;
    }
    return 0;
}

/* One start.  The iterations run in five chunks; after a chunk that did
 * not converge, parameters that have reached a bound are pinned there (u =
 * +-pi/2, Jacobian column zero, so LM leaves them alone) and the solver is
 * restarted from the current point.  Without this, a parameter running into
 * a bound dithers across the flat top of the sine transform and LM crawls
 * for thousands of iterations (the constrained minimum is the same). */
static void run_start(xanes_sfit_workspace *ws, const xanes_sfit_params *p, const double *x0,
                      start_outcome *out)
{
    gsl_multifit_nlinear_fdf fdf;
    fdf.f = cb_f;
    fdf.df = cb_df;
    fdf.fvv = NULL;
    fdf.n = ws->n_max;
    fdf.p = ws->p;
    fdf.params = ws;
    memset(out, 0, sizeof *out);
    memset(ws->frozen, 0, sizeof ws->frozen);
    for (size_t j = 0; j < ws->p; j++)
        gsl_vector_set(ws->u0, j, sfit_to_int(x0[j], ws->lo[j], ws->hi[j]));
    const size_t chunk = p->max_iter / 5 > 0 ? p->max_iter / 5 : 1;
    size_t n_iter = 0;
    int converged = 0;
    while (n_iter < p->max_iter && !converged) {
        if (gsl_multifit_nlinear_init(ws->u0, &fdf, ws->nl) != GSL_SUCCESS)
            return;
        const int rc = lm_iterate(ws, p, chunk, &n_iter);
        if (rc < 0)
            return;
        converged = rc;
        gsl_vector_memcpy(ws->u0, gsl_multifit_nlinear_position(ws->nl));
        if (!converged)
            for (size_t j = 0; j < ws->p; j++) {
                const double u = gsl_vector_get(ws->u0, j);
                const double x = sfit_to_ext(u, ws->lo[j], ws->hi[j]);
                if (!ws->frozen[j] && sfit_at_bound(p, x, ws->lo[j], ws->hi[j])) {
                    ws->frozen[j] = 1;
                    gsl_vector_set(ws->u0, j, sin(u) > 0.0 ? M_PI_2 : -M_PI_2);
                }
            }
    }
    if (!converged)
        return;
    const gsl_vector *f = gsl_multifit_nlinear_residual(ws->nl);
    double ssr = 0.0;
    gsl_blas_ddot(f, f, &ssr);
    double rc = 0.0;
    gsl_multifit_nlinear_rcond(&rc, ws->nl);
    for (size_t j = 0; j < ws->p; j++) {
        out->u[j] = gsl_vector_get(ws->u0, j);
        out->frozen[j] = ws->frozen[j];
    }
    out->ssr = ssr;
    out->rcond = rc;
    out->n_iter = n_iter;
    out->ok = isfinite(ssr);
}

static int needs_more_starts(const xanes_sfit_workspace *ws, const xanes_sfit_params *p,
                             const start_outcome *o)
{
    if (!o->ok || !(o->rcond >= p->rcond_min))
        return 1;
    for (size_t j = SFIT_P_PEAK0; j < ws->p; j++)
        if (sfit_at_bound(p, sfit_to_ext(o->u[j], ws->lo[j], ws->hi[j]), ws->lo[j], ws->hi[j]))
            return 1;
    return 0;
}

xanes_status xanes_sfit_run(xanes_sfit_workspace *ws, const double *energy_ev, const double *mu,
                            size_t n, const xanes_sfit_params *p, xanes_sfit_result *res,
                            xanes_error *err)
{
    if (ws == NULL || energy_ev == NULL || mu == NULL || p == NULL || res == NULL)
        return XANES_RAISE(err, XANES_EINVAL, "sfit: NULL argument");
    memset(res, 0, sizeof *res);
    xanes_status st = setup(ws, energy_ev, mu, n, p, res, err);
    if (st != XANES_OK)
        return st;
    candidate cand[MAX_CANDIDATES];
    const size_t nc = make_candidates(ws, p, cand);
    start_outcome best, cur;
    memset(&best, 0, sizeof best);
    size_t tried = 0, best_idx = 0;
    const size_t max_starts = p->max_starts > 0 ? p->max_starts : 1;
    for (size_t s = 0; s < nc && s < max_starts; s++) {
        run_start(ws, p, cand[s].x, &cur);
        tried++;
        if (cur.ok && (!best.ok || cur.ssr < best.ssr)) {
            best = cur;
            best_idx = s;
        }
        /* The data-derived start is enough when it converged well inside
         * the bounds with a well-conditioned Jacobian. */
        if (s + 1 >= p->min_starts && best.ok && !needs_more_starts(ws, p, &best))
            break;
    }
    if (!best.ok)
        return XANES_RAISE(err, XANES_ENOCONV,
                           "sfit: no fit converged in %zu iterations from %zu starts over "
                           "%g:%g eV",
                           p->max_iter, tried, res->emin_ev, res->emax_ev);
    res->n_starts = tried;
    res->best_start = best_idx;
    res->n_iter = best.n_iter;
    res->rcond = best.rcond;
    for (size_t j = 0; j < ws->p; j++) {
        res->start[j] = cand[best_idx].x[j];
        ws->frozen[j] = best.frozen[j];
    }
    return sfit_uncertainties(ws, p, best.u, best.ssr, res, err);
}
