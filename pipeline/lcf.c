/* lcf.c: linear combination fitting (LCF) of a normalized XANES spectrum to
 * normalized reference spectra, built to run once per pixel.
 *
 * Model: y(E) ~ sum_j w_j ref_j(E) over the grid points of an energy window,
 * least squares with unit weights (as larch's lincombo_fit), with w >= 0 and
 * optionally sum_j w_j = 1.  The plan stores the window's references
 * point-major (A[i*k + j]) and their Gram matrix G = A^T A once; a fit forms
 * b = A^T y in one pass, solves the k-variable problem
 *     min 1/2 w^T G w - b^T w   s.t.  w >= 0  [, 1^T w = 1]
 * by the Lawson-Hanson active-set method (Lawson & Hanson, "Solving Least
 * Squares Problems", 1974, ch. 23, algorithm NNLS), each subproblem being a
 * Cholesky solve of the free block G_PP (GSL).  The equality constraint
 * enters through its Lagrange multiplier mu: the subproblem is
 * G_PP z = b_P - mu 1 with mu set so that 1^T z = 1, and the KKT test for a
 * bound variable i becomes (b - G w)_i - mu <= tol.  Working on G squares the
 * condition number of A; the plan refuses references whose (column-scaled)
 * Gram matrix has rcond below min_rcond, and XANES references of distinct
 * valences have rcond ~1e-4..1e-2, far from trouble in double precision.
 * Residuals are then recomputed from the data (not from the quadratic form)
 * to avoid cancellation.  Uncertainties: cov = redchi * G_PP^-1 projected on
 * the constraint (G^-1 - u u^T / 1^T u, u = G^-1 1) for sum-to-one, as
 * lmfit/larch scale the covariance by the reduced chi-square.
 */
#include "xanes/lcf.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_interp.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_vector.h>

struct xanes_lcf_plan {
    size_t n;          /* full grid size                         */
    size_t i0;         /* first grid index in the window          */
    size_t m;          /* points in the window                    */
    size_t k;          /* references                              */
    double *energy_ev; /* [n]                                     */
    double *refs_full; /* [k][n], for xanes_lcf_plan_model        */
    double *a;         /* [m][k], the window's design matrix       */
    double gram[XANES_LCF_MAX_REFS * XANES_LCF_MAX_REFS];
    double col_norm[XANES_LCF_MAX_REFS];
    xanes_lcf_params params;
};

struct xanes_lcf_workspace {
    size_t k;
    size_t m;
    double *y; /* [m] the window of the spectrum being fitted, contiguous */
    double mat[XANES_LCF_MAX_REFS * XANES_LCF_MAX_REFS];
    double b[XANES_LCF_MAX_REFS];
    double w[XANES_LCF_MAX_REFS];
    double z[XANES_LCF_MAX_REFS]; /* subproblem solution, by position in P */
    double x[XANES_LCF_MAX_REFS];
    double u[XANES_LCF_MAX_REFS];
    double bp[XANES_LCF_MAX_REFS];
    size_t p_idx[XANES_LCF_MAX_REFS];
    int in_p[XANES_LCF_MAX_REFS];
};

void xanes_lcf_default_params(xanes_lcf_params *p)
{
    p->sum_to_one = 0;
    p->nonnegative = 1;
    p->max_iter = 200;
    p->dual_tol = 1e-12;
    p->min_rcond = 1e-12;
}

void xanes_lcf_plan_free(xanes_lcf_plan *plan)
{
    if (plan == NULL)
        return;
    free(plan->a);
    free(plan->refs_full);
    free(plan->energy_ev);
    free(plan);
}

size_t xanes_lcf_plan_n_points(const xanes_lcf_plan *plan)
{
    return plan->m;
}

size_t xanes_lcf_plan_first_index(const xanes_lcf_plan *plan)
{
    return plan->i0;
}

xanes_status xanes_lcf_plan_alloc(const double *energy_ev, size_t n, const double *const *refs,
                                  size_t n_refs, double emin_ev, double emax_ev,
                                  const xanes_lcf_params *params, xanes_lcf_plan **out,
                                  xanes_error *err)
{
    xanes_status st = XANES_OK;
    xanes_lcf_plan *plan = NULL;

    if (out == NULL || energy_ev == NULL || refs == NULL)
        return XANES_RAISE(err, XANES_EINVAL, "lcf: NULL energy grid, references or output");
    *out = NULL;
    if (n_refs < 2 || n_refs > XANES_LCF_MAX_REFS)
        return XANES_RAISE(err, XANES_EINVAL, "lcf: %zu reference(s) given, need between 2 and %d",
                           n_refs, XANES_LCF_MAX_REFS);
    for (size_t j = 0; j < n_refs; j++)
        if (refs[j] == NULL)
            return XANES_RAISE(err, XANES_EINVAL, "lcf: reference %zu is NULL", j + 1);
    if (isnan(emin_ev) || isnan(emax_ev) || !(emin_ev < emax_ev))
        return XANES_RAISE(err, XANES_EINVAL, "lcf: energy window [%g, %g] eV is empty", emin_ev,
                           emax_ev);
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(energy_ev[i]) || (i > 0 && !(energy_ev[i] > energy_ev[i - 1])))
            return XANES_RAISE(err, XANES_EDATA,
                               "lcf: energy grid not finite and strictly increasing at point "
                               "%zu (%g eV)",
                               i + 1, energy_ev[i]);
    }

    size_t i0 = 0, i1 = 0;
    while (i0 < n && energy_ev[i0] < emin_ev)
        i0++;
    i1 = i0;
    while (i1 < n && energy_ev[i1] <= emax_ev)
        i1++;
    size_t m = i1 - i0;
    if (m < n_refs + 2)
        return XANES_RAISE(err, XANES_EDATA,
                           "lcf: energy window [%g, %g] eV holds %zu grid point(s) of the "
                           "spectrum (grid %g..%g eV); need at least %zu for %zu references",
                           emin_ev, emax_ev, m, n > 0 ? energy_ev[0] : NAN,
                           n > 0 ? energy_ev[n - 1] : NAN, n_refs + 2, n_refs);
    for (size_t j = 0; j < n_refs; j++)
        for (size_t i = i0; i < i1; i++)
            if (!isfinite(refs[j][i]))
                return XANES_RAISE(err, XANES_EDATA,
                                   "lcf: reference %zu is not finite at %.3f eV inside the fit "
                                   "window [%g, %g] eV (does it cover the window?)",
                                   j + 1, energy_ev[i], emin_ev, emax_ev);

    plan = calloc(1, sizeof *plan);
    if (plan == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM, "lcf: out of memory for plan");
        goto done;
    }
    plan->n = n;
    plan->i0 = i0;
    plan->m = m;
    plan->k = n_refs;
    if (params != NULL)
        plan->params = *params;
    else
        xanes_lcf_default_params(&plan->params);
    plan->energy_ev = malloc(n * sizeof *plan->energy_ev);
    plan->refs_full = malloc(n * n_refs * sizeof *plan->refs_full);
    plan->a = malloc(m * n_refs * sizeof *plan->a);
    if (plan->energy_ev == NULL || plan->refs_full == NULL || plan->a == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM, "lcf: out of memory for %zu x %zu references", n,
                         n_refs);
        goto done;
    }
    memcpy(plan->energy_ev, energy_ev, n * sizeof *energy_ev);
    for (size_t j = 0; j < n_refs; j++) {
        memcpy(plan->refs_full + j * n, refs[j], n * sizeof *refs[j]);
        for (size_t i = 0; i < m; i++)
            plan->a[i * n_refs + j] = refs[j][i0 + i];
    }
    for (size_t p = 0; p < n_refs; p++) {
        for (size_t q = 0; q <= p; q++) {
            double s = 0.0;
            for (size_t i = 0; i < m; i++)
                s += plan->a[i * n_refs + p] * plan->a[i * n_refs + q];
            plan->gram[p * n_refs + q] = s;
            plan->gram[q * n_refs + p] = s;
        }
        plan->col_norm[p] = sqrt(plan->gram[p * n_refs + p]);
        if (!(plan->col_norm[p] > 0.0)) {
            st = XANES_RAISE(err, XANES_EDATA,
                             "lcf: reference %zu is identically zero in the window [%g, %g] eV",
                             p + 1, emin_ev, emax_ev);
            goto done;
        }
    }

    /* Linear dependence test on the column-scaled Gram matrix (a correlation
     * matrix), so the threshold does not depend on the spectra's scale. */
    {
        double scaled[XANES_LCF_MAX_REFS * XANES_LCF_MAX_REFS];
        double work[3 * XANES_LCF_MAX_REFS];
        for (size_t p = 0; p < n_refs; p++)
            for (size_t q = 0; q < n_refs; q++)
                scaled[p * n_refs + q] =
                    plan->gram[p * n_refs + q] / (plan->col_norm[p] * plan->col_norm[q]);
        gsl_matrix_view sv = gsl_matrix_view_array(scaled, n_refs, n_refs);
        gsl_vector_view wv = gsl_vector_view_array(work, 3 * n_refs);
        double rcond = 0.0;
        int gs = gsl_linalg_cholesky_decomp1(&sv.matrix);
        if (gs == GSL_SUCCESS)
            gs = gsl_linalg_cholesky_rcond(&sv.matrix, &rcond, &wv.vector);
        if (gs != GSL_SUCCESS || !(rcond >= plan->params.min_rcond)) {
            st = XANES_RAISE(err, XANES_EDATA,
                             "lcf: the %zu references are linearly dependent in the window "
                             "[%g, %g] eV (reciprocal condition number %.3g < %.3g); drop a "
                             "reference or widen the window",
                             n_refs, emin_ev, emax_ev, rcond, plan->params.min_rcond);
            goto done;
        }
    }

    *out = plan;
    plan = NULL;
done:
    xanes_lcf_plan_free(plan);
    return st;
}

xanes_lcf_workspace *xanes_lcf_workspace_alloc(const xanes_lcf_plan *plan)
{
    xanes_lcf_workspace *ws = calloc(1, sizeof *ws);
    if (ws == NULL)
        return NULL;
    ws->k = plan->k;
    ws->m = plan->m;
    ws->y = malloc(plan->m * sizeof *ws->y);
    if (ws->y == NULL) {
        free(ws);
        return NULL;
    }
    return ws;
}

void xanes_lcf_workspace_free(xanes_lcf_workspace *ws)
{
    if (ws == NULL)
        return;
    free(ws->y);
    free(ws);
}

/* Solves the subproblem on the free set P = ws->p_idx[0..np-1]: z minimizing
 * 1/2 z^T G_PP z - b_P^T z [subject to 1^T z = 1].  z goes to ws->z (by
 * position in P), the multiplier to *mu (0 without the constraint).  When
 * want_inverse is set, ws->mat holds G_PP^-1 on return and ws->u = G_PP^-1 1. */
static int solve_free(const xanes_lcf_plan *plan, xanes_lcf_workspace *ws, size_t np,
                      int want_inverse, double *mu)
{
    const size_t k = plan->k;
    for (size_t r = 0; r < np; r++) {
        ws->bp[r] = ws->b[ws->p_idx[r]];
        for (size_t c = 0; c < np; c++)
            ws->mat[r * np + c] = plan->gram[ws->p_idx[r] * k + ws->p_idx[c]];
    }
    gsl_matrix_view mv = gsl_matrix_view_array(ws->mat, np, np);
    gsl_vector_view bv = gsl_vector_view_array(ws->bp, np);
    gsl_vector_view xv = gsl_vector_view_array(ws->x, np);
    if (gsl_linalg_cholesky_decomp1(&mv.matrix) != GSL_SUCCESS)
        return -1;
    if (gsl_linalg_cholesky_solve(&mv.matrix, &bv.vector, &xv.vector) != GSL_SUCCESS)
        return -1;
    *mu = 0.0;
    if (plan->params.sum_to_one || want_inverse) {
        for (size_t r = 0; r < np; r++)
            ws->bp[r] = 1.0;
        gsl_vector_view uv = gsl_vector_view_array(ws->u, np);
        if (gsl_linalg_cholesky_solve(&mv.matrix, &bv.vector, &uv.vector) != GSL_SUCCESS)
            return -1;
    }
    if (plan->params.sum_to_one) {
        double sx = 0.0, su = 0.0;
        for (size_t r = 0; r < np; r++) {
            sx += ws->x[r];
            su += ws->u[r];
        }
        *mu = (sx - 1.0) / su;
        for (size_t r = 0; r < np; r++)
            ws->z[r] = ws->x[r] - *mu * ws->u[r];
    } else {
        for (size_t r = 0; r < np; r++)
            ws->z[r] = ws->x[r];
    }
    if (want_inverse && gsl_linalg_cholesky_invert(&mv.matrix) != GSL_SUCCESS)
        return -1;
    return 0;
}

/* Rebuilds the ordered free-set list from the in_p flags. */
static size_t collect_free(xanes_lcf_workspace *ws, size_t k)
{
    size_t np = 0;
    for (size_t j = 0; j < k; j++)
        if (ws->in_p[j])
            ws->p_idx[np++] = j;
    return np;
}

static xanes_status check_fit_args(const xanes_lcf_plan *plan, const void *mu, size_t stride,
                                   const xanes_lcf_workspace *ws, const xanes_lcf_result *result,
                                   xanes_error *err)
{
    if (plan == NULL || mu == NULL || ws == NULL || result == NULL || stride == 0)
        return XANES_RAISE(err, XANES_EINVAL, "lcf fit: NULL argument or zero stride");
    if (ws->k != plan->k || ws->m != plan->m)
        return XANES_RAISE(err, XANES_EINVAL,
                           "lcf fit: workspace built for %zu references x %zu points, plan has "
                           "%zu x %zu",
                           ws->k, ws->m, plan->k, plan->m);
    return XANES_OK;
}

static xanes_status fit_window(const xanes_lcf_plan *plan, xanes_lcf_workspace *ws,
                               xanes_lcf_result *result, xanes_error *err);

xanes_status xanes_lcf_plan_fit(const xanes_lcf_plan *plan, const double *mu, size_t stride,
                                xanes_lcf_workspace *ws, xanes_lcf_result *result, xanes_error *err)
{
    xanes_status st = check_fit_args(plan, mu, stride, ws, result, err);
    if (st != XANES_OK)
        return st;
    const double *src = mu + plan->i0 * stride;
    for (size_t i = 0; i < plan->m; i++)
        ws->y[i] = src[i * stride];
    return fit_window(plan, ws, result, err);
}

xanes_status xanes_lcf_plan_fit_float(const xanes_lcf_plan *plan, const float *mu, size_t stride,
                                      xanes_lcf_workspace *ws, xanes_lcf_result *result,
                                      xanes_error *err)
{
    xanes_status st = check_fit_args(plan, mu, stride, ws, result, err);
    if (st != XANES_OK)
        return st;
    const float *src = mu + plan->i0 * stride;
    for (size_t i = 0; i < plan->m; i++)
        ws->y[i] = (double)src[i * stride];
    return fit_window(plan, ws, result, err);
}

/* The fit proper, on the contiguous window ws->y[0..m-1]. */
static xanes_status fit_window(const xanes_lcf_plan *plan, xanes_lcf_workspace *ws,
                               xanes_lcf_result *result, xanes_error *err)
{
    const size_t k = plan->k, m = plan->m;
    const double *restrict a = plan->a;
    const double *restrict y = ws->y;
    const xanes_lcf_params *prm = &plan->params;

    double yy = 0.0;
    for (size_t j = 0; j < k; j++)
        ws->b[j] = 0.0;
    for (size_t i = 0; i < m; i++) {
        double yi = y[i];
        if (!isfinite(yi))
            return XANES_RAISE(err, XANES_EDATA,
                               "lcf fit: spectrum is not finite (%g) at %.3f eV in the window", yi,
                               plan->energy_ev[plan->i0 + i]);
        yy += yi * yi;
        for (size_t j = 0; j < k; j++)
            ws->b[j] += a[i * k + j] * yi;
    }
    const double ynorm = sqrt(yy);

    double lagr = 0.0;
    size_t np = 0, iter = 0;
    for (size_t j = 0; j < k; j++) {
        ws->w[j] = 0.0;
        ws->in_p[j] = 0;
    }

    if (!prm->nonnegative) {
        for (size_t j = 0; j < k; j++)
            ws->in_p[j] = 1;
        np = collect_free(ws, k);
        if (solve_free(plan, ws, np, 0, &lagr) != 0)
            return XANES_RAISE(err, XANES_EFAIL, "lcf fit: Cholesky solve failed");
        for (size_t r = 0; r < np; r++)
            ws->w[ws->p_idx[r]] = ws->z[r];
    } else {
        if (prm->sum_to_one) {
            /* Feasible start: the single reference that fits best alone
             * (w = e_j, objective 1/2 G_jj - b_j). */
            size_t best = 0;
            double fbest = INFINITY;
            for (size_t j = 0; j < k; j++) {
                double f = 0.5 * plan->gram[j * k + j] - ws->b[j];
                if (f < fbest) {
                    fbest = f;
                    best = j;
                }
            }
            ws->in_p[best] = 1;
            ws->w[best] = 1.0;
            lagr = ws->b[best] - plan->gram[best * k + best];
        }
        for (;;) {
            /* Dual (negative gradient minus multiplier) on the bound set. */
            size_t t = k;
            double smax = 0.0;
            for (size_t j = 0; j < k; j++) {
                if (ws->in_p[j])
                    continue;
                double s = ws->b[j] - lagr;
                for (size_t q = 0; q < k; q++)
                    s -= plan->gram[j * k + q] * ws->w[q];
                double tol = prm->dual_tol * plan->col_norm[j] * (ynorm > 0.0 ? ynorm : 1.0);
                if (s > tol && s > smax) {
                    smax = s;
                    t = j;
                }
            }
            if (t == k)
                break;
            if (++iter > prm->max_iter)
                return XANES_RAISE(err, XANES_ENOCONV,
                                   "lcf fit: active set did not settle in %zu iterations",
                                   prm->max_iter);
            ws->in_p[t] = 1;
            for (;;) {
                np = collect_free(ws, k);
                double lz = 0.0;
                if (solve_free(plan, ws, np, 0, &lz) != 0)
                    return XANES_RAISE(err, XANES_EFAIL,
                                       "lcf fit: Cholesky solve of the free block failed");
                /* Lawson-Hanson safeguard: if the variable just freed comes
                 * out non-positive, the dual test was rounding noise; keep
                 * the current point and stop. */
                int t_pos = 0;
                for (size_t r = 0; r < np; r++)
                    if (ws->p_idx[r] == t)
                        t_pos = ws->z[r] > 0.0;
                if (!t_pos && ws->w[t] == 0.0) {
                    ws->in_p[t] = 0;
                    goto converged;
                }
                double alpha = 1.0;
                int blocked = 0;
                size_t jmin = k;
                for (size_t r = 0; r < np; r++) {
                    size_t j = ws->p_idx[r];
                    if (ws->z[r] <= 0.0) {
                        double al = ws->w[j] / (ws->w[j] - ws->z[r]);
                        if (!blocked || al < alpha) {
                            alpha = al;
                            jmin = j;
                        }
                        blocked = 1;
                    }
                }
                if (!blocked) {
                    for (size_t r = 0; r < np; r++)
                        ws->w[ws->p_idx[r]] = ws->z[r];
                    lagr = lz;
                    break;
                }
                /* Step to the first constraint hit and release it. */
                for (size_t r = 0; r < np; r++) {
                    size_t j = ws->p_idx[r];
                    ws->w[j] += alpha * (ws->z[r] - ws->w[j]);
                    /* The blocking variable lands on 0 up to rounding; pin it
                     * there exactly, and release ties within rounding too. */
                    if (j == jmin ||
                        (ws->z[r] <= 0.0 && ws->w[j] <= 1e-14 * (1.0 + fabs(ws->z[r])))) {
                        ws->w[j] = 0.0;
                        ws->in_p[j] = 0;
                    }
                }
                if (++iter > prm->max_iter)
                    return XANES_RAISE(err, XANES_ENOCONV,
                                       "lcf fit: active set did not settle in %zu iterations",
                                       prm->max_iter);
            }
        }
    }
converged:
    np = collect_free(ws, k);

    /* Residual from the data, not from the quadratic form (cancellation). */
    double chi2 = 0.0;
    for (size_t i = 0; i < m; i++) {
        double r = y[i];
        for (size_t j = 0; j < k; j++)
            r -= a[i * k + j] * ws->w[j];
        chi2 += r * r;
    }
    memset(result, 0, sizeof *result);
    result->n_refs = k;
    result->n_points = m;
    result->n_iter = iter;
    result->chi2 = chi2;
    result->r_factor = yy > 0.0 ? chi2 / yy : NAN;
    size_t nfree = np - (prm->sum_to_one && np > 0 ? 1 : 0);
    result->n_free = nfree;
    result->redchi = m > nfree ? chi2 / (double)(m - nfree) : NAN;
    for (size_t j = 0; j < k; j++) {
        result->weight[j] = ws->w[j];
        result->weight_sum += ws->w[j];
        result->at_bound[j] = !ws->in_p[j];
    }

    /* Covariance of the free weights: redchi * G_PP^-1, projected onto
     * 1^T dw = 0 for sum-to-one. */
    if (np > 0) {
        double lz = 0.0;
        if (solve_free(plan, ws, np, 1, &lz) != 0)
            return XANES_RAISE(err, XANES_EFAIL, "lcf fit: covariance inversion failed");
        double su = 0.0;
        for (size_t r = 0; r < np; r++)
            su += ws->u[r];
        for (size_t r = 0; r < np; r++) {
            double c = ws->mat[r * np + r];
            if (prm->sum_to_one)
                c -= ws->u[r] * ws->u[r] / su;
            result->weight_err[ws->p_idx[r]] = sqrt(fmax(c, 0.0) * result->redchi);
        }
    }
    return XANES_OK;
}

double xanes_lcf_plan_model(const xanes_lcf_plan *plan, const xanes_lcf_result *result, size_t i)
{
    if (i >= plan->n)
        return NAN;
    double s = 0.0;
    for (size_t j = 0; j < plan->k; j++)
        s += result->weight[j] * plan->refs_full[j * plan->n + i];
    return s;
}

xanes_status xanes_lcf_resample(const double *src_energy_ev, const double *src_mu, size_t n_src,
                                const double *dst_energy_ev, size_t n_dst, double *dst_mu,
                                xanes_error *err)
{
    if (src_energy_ev == NULL || src_mu == NULL || dst_energy_ev == NULL || dst_mu == NULL ||
        n_src < 2)
        return XANES_RAISE(err, XANES_EINVAL, "lcf resample: NULL arrays or fewer than 2 points");
    for (size_t i = 1; i < n_src; i++)
        if (!(src_energy_ev[i] > src_energy_ev[i - 1]))
            return XANES_RAISE(err, XANES_EDATA,
                               "lcf resample: source energies not increasing at point %zu "
                               "(%g eV)",
                               i + 1, src_energy_ev[i]);
    gsl_interp *interp = gsl_interp_alloc(gsl_interp_linear, n_src);
    gsl_interp_accel *acc = gsl_interp_accel_alloc();
    xanes_status st = XANES_OK;
    if (interp == NULL || acc == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM, "lcf resample: out of memory");
        goto done;
    }
    if (gsl_interp_init(interp, src_energy_ev, src_mu, n_src) != GSL_SUCCESS) {
        st = XANES_RAISE(err, XANES_EDATA, "lcf resample: GSL interpolation init failed");
        goto done;
    }
    for (size_t i = 0; i < n_dst; i++) {
        double e = dst_energy_ev[i];
        if (e < src_energy_ev[0] || e > src_energy_ev[n_src - 1] || !isfinite(e))
            dst_mu[i] = NAN;
        else
            dst_mu[i] = gsl_interp_eval(interp, src_energy_ev, src_mu, e, acc);
    }
done:
    gsl_interp_accel_free(acc);
    gsl_interp_free(interp);
    return st;
}
