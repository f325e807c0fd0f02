/* normalize_interp.c: least-squares fits to the piecewise-linear interpolant
 * of a spectrum over an energy window (the "interpolant" fit of
 * xanes_normalize_params.fit_interpolant).
 *
 * larch fits its pre-edge line and post-edge polynomial to the samples that
 * fall inside each window.  On the sparse energy grids of TXM stacks (a few
 * samples 4-8 eV apart outside the edge) that fit jumps whenever a window
 * end crosses a sample, and it weighs regions by how densely they happen to
 * be sampled: the same spectrum then gives edge energies 0.1-0.5 eV apart on
 * two grids, or on one grid shifted by a fraction of a step.  Fitting the
 * piecewise-linear interpolant instead (minimise the integral over [a, b] of
 * (f(E) - p(E))^2) weighs energy uniformly and moves continuously with the
 * window, so the edge depends on the spectrum, not on where it was sampled;
 * on a fine grid both fits agree.  The integrals are exact: 4-point
 * Gauss-Legendre on each linear piece integrates t^j * (linear) and t^(j+k)
 * for degrees up to 7.
 */
#include <math.h>
#include <stddef.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>

#include "normalize_private.h"

void norm_interp_range(const double *energy_ev, size_t n, double a, double b, size_t *lo,
                       size_t *hi)
{
    size_t l = 0, h = n;
    while (l + 1 < n && energy_ev[l + 1] <= a)
        l++;
    while (h > 1 && energy_ev[h - 2] >= b)
        h--;
    *lo = l;
    *hi = h;
}

xanes_status norm_interp_projection(const double *energy_ev, size_t lo, size_t hi, double a,
                                    double b, double e0, double scale, size_t np, double *p,
                                    xanes_error *err)
{
    /* Gauss-Legendre nodes and weights on [-1, 1]. */
    static const double gx[4] = {-0.8611363115940526, -0.3399810435848563, 0.3399810435848563,
                                 0.8611363115940526};
    static const double gw[4] = {0.3478548451374538, 0.6521451548625461, 0.6521451548625461,
                                 0.3478548451374538};
    size_t m = hi - lo;
    if (np < 1 || np > NP_MAX || m < 2 || !(b > a))
        return XANES_RAISE(err, XANES_EDATA,
                           "interpolant fit over %.2f..%.2f eV: %zu sample(s) span it, degree %zu",
                           a, b, m, np - 1);
    double mm[NP_MAX * NP_MAX] = {0};
    for (size_t i = 0; i < np * m; i++)
        p[i] = 0.0;
    for (size_t k = lo; k + 1 < hi; k++) {
        double x0 = energy_ev[k], x1 = energy_ev[k + 1];
        double u = x0 > a ? x0 : a, v = x1 < b ? x1 : b;
        if (!(v > u))
            continue;
        double h = x1 - x0, half = 0.5 * (v - u), mid = 0.5 * (u + v);
        for (int q = 0; q < 4; q++) {
            double e = mid + half * gx[q], wq = half * gw[q];
            double t = (e - e0) / scale;
            double phi1 = (e - x0) / h, phi0 = 1.0 - phi1;
            double tj[2 * NP_MAX];
            tj[0] = 1.0;
            for (size_t j = 1; j < 2 * np; j++)
                tj[j] = tj[j - 1] * t;
            for (size_t j = 0; j < np; j++) {
                p[j * m + (k - lo)] += wq * tj[j] * phi0;
                p[j * m + (k + 1 - lo)] += wq * tj[j] * phi1;
                for (size_t l = 0; l < np; l++)
                    mm[j * np + l] += wq * tj[j + l];
            }
        }
    }
    /* P = M^-1 W, column by column through one Cholesky factor of M. */
    gsl_matrix_view mv = gsl_matrix_view_array(mm, np, np);
    if (gsl_linalg_cholesky_decomp1(&mv.matrix) != GSL_SUCCESS)
        return XANES_RAISE(err, XANES_EFAIL,
                           "interpolant fit of degree %zu over %.2f..%.2f eV is singular", np - 1,
                           a, b);
    for (size_t c = 0; c < m; c++) {
        gsl_vector_view col = gsl_vector_view_array_with_stride(p + c, m, np);
        if (gsl_linalg_cholesky_svx(&mv.matrix, &col.vector) != GSL_SUCCESS)
            return XANES_RAISE(err, XANES_EFAIL, "interpolant fit over %.2f..%.2f eV failed", a,
                               b);
    }
    for (size_t i = 0; i < np * m; i++)
        if (!isfinite(p[i]))
            return XANES_RAISE(err, XANES_EFAIL,
                               "interpolant fit over %.2f..%.2f eV is not finite", a, b);
    return XANES_OK;
}

xanes_status norm_interp_resolve(const double *energy_ev, size_t n,
                                 const xanes_normalize_params *p, xanes_normalize_result *r,
                                 xanes_error *err)
{
    if (!isfinite(p->e0_ev) || !isfinite(p->pre1_ev) || !isfinite(p->pre2_ev) ||
        !isfinite(p->norm1_ev) || !isfinite(p->norm2_ev) || p->nnorm < 0 || p->nvict != 0.0 ||
        !(p->pre1_ev < p->pre2_ev) || !(p->norm1_ev < p->norm2_ev))
        return XANES_RAISE(err, XANES_EINVAL,
                           "normalize: the interpolant fit needs e0, pre1 < pre2, norm1 < norm2 "
                           "and nnorm given explicitly, and nvict 0");
    double e0 = p->e0_ev;
    double a0 = e0 + p->pre1_ev, a1 = e0 + p->pre2_ev, b0 = e0 + p->norm1_ev,
           b1 = e0 + p->norm2_ev;
    double emin = energy_ev[0], emax = energy_ev[n - 1];
    /* An outer window end past the data is clipped to it, as larch's
     * pre_edge clips pre1 and norm2, as long as at least half of that
     * window is left: a monochromator offset of a few eV moves windows
     * fixed from e0 past the end of a scan that was planned without it, and
     * the interpolant fit moves continuously with its window.  A window
     * mostly outside the data means the wrong e0 or scan, and is refused. */
    if (a0 < emin && emin - a0 <= 0.5 * (a1 - a0))
        a0 = emin;
    if (b1 > emax && b1 - emax <= 0.5 * (b1 - b0))
        b1 = emax;
    if (a0 < emin || b1 > emax)
        return XANES_RAISE(err, XANES_EDATA,
                           "normalize: the fit windows %.2f..%.2f and %.2f..%.2f eV (e0 %.2f eV) "
                           "reach beyond the spectrum's %.2f..%.2f eV by more than half a window",
                           a0, a1, b0, b1, e0, emin, emax);
    r->e0_ev = e0;
    r->ie0 = norm_index_nearest(energy_ev, n, e0);
    r->pre1_ev = a0 - e0;
    r->pre2_ev = p->pre2_ev;
    r->norm1_ev = p->norm1_ev;
    r->norm2_ev = b1 - e0;
    r->nnorm = p->nnorm;
    r->nvict = 0.0;
    norm_interp_range(energy_ev, n, a0, a1, &r->pre_lo, &r->pre_hi);
    norm_interp_range(energy_ev, n, b0, b1, &r->post_lo, &r->post_hi);
    if (r->pre_hi - r->pre_lo < 2 || r->post_hi - r->post_lo < 2)
        return XANES_RAISE(err, XANES_EDATA, "normalize: a fit window holds no sample interval");
    return XANES_OK;
}
