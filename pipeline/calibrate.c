/* calibrate.c: energy offset of a measured reference spectrum, by its edge
 * energy or by aligning its derivative to a stored reference spectrum.
 *
 * Edge-based: the measured reference is normalized with larch's pre_edge
 * rules (normalize.c) and its half-height or derivative-maximum edge
 * (edge.c) is compared with the known edge energy of the reference
 * material; offset = known - measured, so calibrated E = raw E + offset.
 *
 * Alignment: both spectra are interpolated (GSL cubic spline) onto one
 * uniform lattice E_q = E_ref[0] + q h.  On that lattice dmu/dE is the slope
 * of a Gaussian-weighted local straight line,
 *     d_i = sum_j w_j x_j mu_{i+j} / sum_j w_j x_j^2,  x_j = j h,
 *     w_j = exp(-x_j^2 / 2 sigma^2),  |j| <= ceil(4 sigma / h),
 * which is exact for a straight line, reduces to the central difference for
 * sigma = 0, and filters noise the same way for both spectra (so it cannot
 * bias the shift).  The Pearson correlation of the two derivatives over a
 * window around the stored reference's derivative maximum is scanned over
 * whole-lattice shifts; the best shift is then refined off the lattice by
 * Brent's method on -r(s) (gsl_min_fminimizer_brent), the measured
 * derivative being evaluated between lattice points by a cubic spline.
 * Precision (tests/test_calibrate.c, real NiO and LaNiO3 spectra re-sampled
 * on another grid): a pure shift is recovered to < 1e-4 eV; with noise of
 * 0.1 % of the edge step the error is < 0.005 eV, with 1 % it is unbiased
 * with a spread of ~0.015 eV (sigma 1 eV).
 * Pearson correlation is blind to edge step, pre-edge slope and offset, so
 * the result depends on no normalization and no edge definition - the
 * cross-check the issue asks for.  This is the derivative cross-correlation
 * used for XANES energy alignment in Athena/larch ("align" by minimizing the
 * difference of derivatives), made scale-free.
 */
#include "xanes/calibrate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_min.h>
#include <gsl/gsl_spline.h>

#include "xanes/edge.h"

void xanes_calibrate_default_params(xanes_calibrate_params *p)
{
    p->edge = XANES_CALIBRATE_EDGE_HALF;
    xanes_normalize_default_params(&p->norm);
    p->min_edge_snr = 5.0;
    p->max_offset_ev = 100.0;
    p->align_step_ev = 0.05;
    p->align_sigma_ev = 0.5;
    p->align_max_shift_ev = 20.0;
    p->align_emin_ev = -30.0;
    p->align_emax_ev = 50.0;
    p->align_tol_ev = 1e-5;
    p->align_max_iter = 100;
}

xanes_status xanes_calibrate_edge_energy(const double *energy_ev, const double *mu, size_t n,
                                         const xanes_calibrate_params *p, double *edge_ev,
                                         xanes_normalize_result *norm, xanes_error *err)
{
    xanes_calibrate_params defaults;
    if (p == NULL) {
        xanes_calibrate_default_params(&defaults);
        p = &defaults;
    }
    if (energy_ev == NULL || mu == NULL || edge_ev == NULL)
        return XANES_RAISE(err, XANES_EINVAL, "calibrate: NULL spectrum or output");
    xanes_status st = XANES_OK;
    xanes_normalize_result nr;
    xanes_normalize_workspace *ws = xanes_normalize_workspace_alloc(n);
    if (ws == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM, "calibrate: out of memory for %zu points", n);
        goto done;
    }
    st = xanes_normalize_run(energy_ev, mu, n, &p->norm, ws, &nr, NULL, NULL, err);
    if (st != XANES_OK)
        goto done;
    /* A calibration reference must show a real, rising jump: normalization
     * of a featureless spectrum "succeeds" with a step at rounding level. */
    double resid = fmax(nr.pre_rms, nr.post_rms);
    if (!(nr.edge_step_signed > 0.0)) {
        st = XANES_RAISE(err, XANES_EDATA,
                         "calibrate: no absorption edge: the jump at e0 %.3f eV is negative "
                         "(%.3g); is mu inverted?",
                         nr.e0_ev, nr.edge_step_signed);
        goto done;
    }
    if (!(nr.edge_step > p->min_edge_snr * resid)) {
        st = XANES_RAISE(err, XANES_EDATA,
                         "calibrate: no absorption edge: edge step %.3g (e0 %.3f eV) is not "
                         "above %g x the pre-/post-edge fit residual %.3g",
                         nr.edge_step, nr.e0_ev, p->min_edge_snr, resid);
        goto done;
    }
    double e = p->edge == XANES_CALIBRATE_EDGE_DERIV ? nr.deriv_edge_ev : nr.half_edge_ev;
    if (!isfinite(e)) {
        st = XANES_RAISE(err, XANES_EDATA,
                         "calibrate: no %s edge found between the pre-edge and post-edge "
                         "ranges (e0 %.3f eV, pre-edge ends at %+.1f eV, post-edge starts at "
                         "%+.1f eV)",
                         p->edge == XANES_CALIBRATE_EDGE_DERIV ? "derivative" : "half-height",
                         nr.e0_ev, nr.pre2_ev, nr.norm1_ev);
        goto done;
    }
    *edge_ev = e;
    if (norm != NULL)
        *norm = nr;
done:
    xanes_normalize_workspace_free(ws);
    return st;
}

xanes_status xanes_calibrate_offset(const double *energy_ev, const double *mu, size_t n,
                                    double reference_edge_ev, const xanes_calibrate_params *p,
                                    xanes_calibrate_edge_result *r, xanes_error *err)
{
    if (r == NULL)
        return XANES_RAISE(err, XANES_EINVAL, "calibrate: NULL result");
    if (!isfinite(reference_edge_ev))
        return XANES_RAISE(err, XANES_EINVAL, "calibrate: reference edge energy %g is not finite",
                           reference_edge_ev);
    xanes_calibrate_params defaults;
    if (p == NULL) {
        xanes_calibrate_default_params(&defaults);
        p = &defaults;
    }
    double measured = NAN;
    xanes_status st = xanes_calibrate_edge_energy(energy_ev, mu, n, p, &measured, &r->norm, err);
    if (st != XANES_OK)
        return st;
    /* A wrong standard (another element or edge) or a keV/eV slip gives an
     * offset of hundreds or thousands of eV that would silently shift every
     * map; refuse it instead. */
    if (!(fabs(reference_edge_ev - measured) <= p->max_offset_ev))
        return XANES_RAISE(err, XANES_EDATA,
                           "calibrate: offset %+.2f eV (reference edge %.2f eV - measured edge "
                           "%.2f eV) exceeds %g eV: the reference is not this element and edge, "
                           "or its energy unit is wrong",
                           reference_edge_ev - measured, reference_edge_ev, measured,
                           p->max_offset_ev);
    r->measured_edge_ev = measured;
    r->reference_edge_ev = reference_edge_ev;
    r->offset_ev = reference_edge_ev - measured;
    return XANES_OK;
}

/* ---- derivative alignment ------------------------------------------------ */

static xanes_status check_spectrum(const char *what, const double *e, const double *mu, size_t n,
                                   xanes_error *err)
{
    if (e == NULL || mu == NULL)
        return XANES_RAISE(err, XANES_EINVAL, "align: %s spectrum is NULL", what);
    if (n < 4)
        return XANES_RAISE(err, XANES_EDATA, "align: %s spectrum has %zu points, need 4", what, n);
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(e[i]) || !isfinite(mu[i]))
            return XANES_RAISE(err, XANES_EDATA,
                               "align: %s spectrum has a non-finite value at point %zu "
                               "(E %g, mu %g)",
                               what, i + 1, e[i], mu[i]);
        if (i > 0 && !(e[i] > e[i - 1]))
            return XANES_RAISE(err, XANES_EDATA,
                               "align: %s spectrum energies not increasing at point %zu (%g eV)",
                               what, i + 1, e[i]);
    }
    return XANES_OK;
}

/* Interpolates (e, mu) at lattice points x0 + q h, q = 0..nq-1, and writes
 * the local-slope derivative to d[q] for q in [half, nq - half) (NaN
 * elsewhere).  mu_fine is scratch [nq]. */
static xanes_status lattice_derivative(const double *e, const double *mu, size_t n, double x0,
                                       double h, size_t nq, const double *kern, size_t half,
                                       double *mu_fine, double *d, xanes_error *err)
{
    gsl_interp_accel *acc = gsl_interp_accel_alloc();
    gsl_spline *sp = gsl_spline_alloc(gsl_interp_cspline, n);
    xanes_status st = XANES_OK;
    if (acc == NULL || sp == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM, "align: out of memory for spline");
        goto done;
    }
    if (gsl_spline_init(sp, e, mu, n) != GSL_SUCCESS) {
        st = XANES_RAISE(err, XANES_EFAIL, "align: spline initialisation failed");
        goto done;
    }
    for (size_t q = 0; q < nq; q++) {
        double x = x0 + (double)q * h;
        /* Rounding may put the last lattice point a hair outside. */
        if (x < e[0])
            x = e[0];
        if (x > e[n - 1])
            x = e[n - 1];
        mu_fine[q] = gsl_spline_eval(sp, x, acc);
    }
    for (size_t q = 0; q < nq; q++) {
        if (q < half || q + half >= nq) {
            d[q] = NAN;
            continue;
        }
        double s = 0.0;
        for (size_t j = 1; j <= half; j++)
            s += kern[j] * (mu_fine[q + j] - mu_fine[q - j]);
        d[q] = s;
    }
done:
    gsl_spline_free(sp);
    gsl_interp_accel_free(acc);
    return st;
}

/* Minus the Pearson correlation of the centred reference derivative a[k]
 * (norm anorm) at energies w0 + k h with the measured derivative at
 * w0 + k h - s, the latter from a cubic spline (for Brent's method). */
typedef struct {
    const double *a; /* centred reference derivative over the window [nw] */
    double anorm;
    size_t nw;
    double w0; /* energy of the window's first point, eV */
    double h;
    const gsl_spline *sp; /* measured derivative vs lattice coordinate */
    gsl_interp_accel *acc;
} corr_ctx;

static double corr_at(double s_ev, void *vctx)
{
    corr_ctx *c = vctx;
    double sb = 0.0, sbb = 0.0, sab = 0.0;
    for (size_t k = 0; k < c->nw; k++) {
        double x = c->w0 + (double)k * c->h - s_ev;
        double b = gsl_spline_eval(c->sp, x, c->acc);
        sb += b;
        sbb += b * b;
        sab += c->a[k] * b;
    }
    double var = sbb - sb * sb / (double)c->nw;
    if (!(var > 0.0))
        return 0.0;
    /* a is centred, so sum a (b - mean b) = sum a b. */
    return -(sab / (c->anorm * sqrt(var)));
}

xanes_status xanes_calibrate_align(const double *meas_energy_ev, const double *meas_mu,
                                   size_t meas_n, const double *ref_energy_ev, const double *ref_mu,
                                   size_t ref_n, const xanes_calibrate_params *p,
                                   xanes_calibrate_align_result *r, xanes_error *err)
{
    xanes_calibrate_params defaults;
    if (p == NULL) {
        xanes_calibrate_default_params(&defaults);
        p = &defaults;
    }
    if (r == NULL)
        return XANES_RAISE(err, XANES_EINVAL, "align: NULL result");
    const double h = p->align_step_ev, sigma = p->align_sigma_ev;
    if (!(h > 0.0) || !(sigma >= 0.0) || !(p->align_max_shift_ev >= 0.0) ||
        !(p->align_emin_ev < p->align_emax_ev) || !(p->align_tol_ev > 0.0) ||
        !isfinite(h + sigma + p->align_max_shift_ev + p->align_emin_ev + p->align_emax_ev))
        return XANES_RAISE(err, XANES_EINVAL,
                           "align: bad parameters (step %g eV, sigma %g eV, max shift %g eV, "
                           "window %g..%g eV, tol %g eV)",
                           h, sigma, p->align_max_shift_ev, p->align_emin_ev, p->align_emax_ev,
                           p->align_tol_ev);
    xanes_status st = check_spectrum("stored reference", ref_energy_ev, ref_mu, ref_n, err);
    if (st != XANES_OK)
        return st;
    st = check_spectrum("measured", meas_energy_ev, meas_mu, meas_n, err);
    if (st != XANES_OK)
        return st;

    double *kern = NULL, *ref_fine = NULL, *ref_d = NULL, *meas_fine = NULL, *meas_d = NULL;
    double *a = NULL, *lat = NULL;
    gsl_spline *msp = NULL;
    gsl_interp_accel *macc = NULL;
    gsl_min_fminimizer *fmin = NULL;

    /* Kernel of the local-slope derivative: kern[j] = w_j x_j / sum w x^2
     * (antisymmetric, so only j >= 1 is stored). */
    size_t half = sigma > 0.0 ? (size_t)ceil(4.0 * sigma / h) : 1;
    if (half < 1)
        half = 1;
    kern = calloc(half + 1, sizeof *kern);
    if (kern == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM, "align: out of memory");
        goto done;
    }
    {
        double den = 0.0;
        for (size_t j = 1; j <= half; j++) {
            double x = (double)j * h;
            double w = sigma > 0.0 ? exp(-0.5 * x * x / (sigma * sigma)) : 1.0;
            kern[j] = w * x;
            den += 2.0 * w * x * x;
        }
        for (size_t j = 1; j <= half; j++)
            kern[j] /= den;
    }

    /* Stored reference on its lattice x_q = ref_e[0] + q h. */
    const double x0 = ref_energy_ev[0];
    size_t nr = (size_t)floor((ref_energy_ev[ref_n - 1] - x0) / h) + 1;
    if (nr < 2 * half + 8) {
        st = XANES_RAISE(err, XANES_EDATA,
                         "align: stored reference spans %.3f eV, too short for the %.3f eV "
                         "derivative filter",
                         ref_energy_ev[ref_n - 1] - x0, 2.0 * (double)half * h);
        goto done;
    }
    ref_fine = malloc(nr * sizeof *ref_fine);
    ref_d = malloc(nr * sizeof *ref_d);
    if (ref_fine == NULL || ref_d == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM, "align: out of memory for %zu lattice points", nr);
        goto done;
    }
    st = lattice_derivative(ref_energy_ev, ref_mu, ref_n, x0, h, nr, kern, half, ref_fine, ref_d,
                            err);
    if (st != XANES_OK)
        goto done;
    size_t qc = half;
    for (size_t q = half; q + half < nr; q++)
        if (ref_d[q] > ref_d[qc])
            qc = q;
    r->center_ev = x0 + (double)qc * h;

    /* Window on the reference lattice, clipped to where its derivative is
     * defined. */
    double qlo_d = ceil((r->center_ev + p->align_emin_ev - x0) / h);
    double qhi_d = floor((r->center_ev + p->align_emax_ev - x0) / h);
    if (qlo_d < (double)half)
        qlo_d = (double)half;
    if (qhi_d > (double)(nr - half - 1))
        qhi_d = (double)(nr - half - 1);
    if (!(qhi_d - qlo_d + 1.0 >= 8.0 + 2.0 * (double)half)) {
        st = XANES_RAISE(err, XANES_EDATA,
                         "align: comparison window %.2f..%.2f eV around the stored reference's "
                         "edge (%.2f eV) is not covered by the stored reference (%.2f..%.2f eV)",
                         r->center_ev + p->align_emin_ev, r->center_ev + p->align_emax_ev,
                         r->center_ev, ref_energy_ev[0], ref_energy_ev[ref_n - 1]);
        goto done;
    }
    const size_t qlo = (size_t)qlo_d, nw = (size_t)(qhi_d - qlo_d) + 1;
    r->window_lo_ev = x0 + (double)qlo * h;
    r->window_hi_ev = x0 + (double)(qlo + nw - 1) * h;
    r->n_window = nw;

    a = malloc(nw * sizeof *a);
    if (a == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM, "align: out of memory");
        goto done;
    }
    double amean = 0.0, anorm = 0.0;
    for (size_t k = 0; k < nw; k++)
        amean += ref_d[qlo + k];
    amean /= (double)nw;
    for (size_t k = 0; k < nw; k++) {
        a[k] = ref_d[qlo + k] - amean;
        anorm += a[k] * a[k];
    }
    anorm = sqrt(anorm);
    if (!(anorm > 0.0)) {
        st = XANES_RAISE(err, XANES_EDATA,
                         "align: stored reference derivative is flat over %.2f..%.2f eV",
                         r->window_lo_ev, r->window_hi_ev);
        goto done;
    }

    /* Measured spectrum on the same lattice: integer lattice coordinates
     * m_lo..m_hi (relative to x0, possibly negative). */
    double mlo = ceil((meas_energy_ev[0] - x0) / h);
    double mhi = floor((meas_energy_ev[meas_n - 1] - x0) / h);
    size_t nm = mhi >= mlo ? (size_t)(mhi - mlo) + 1 : 0;
    if (nm < 2 * half + 8) {
        st = XANES_RAISE(err, XANES_EDATA,
                         "align: measured spectrum spans %.3f eV, too short to align",
                         meas_energy_ev[meas_n - 1] - meas_energy_ev[0]);
        goto done;
    }
    meas_fine = malloc(nm * sizeof *meas_fine);
    meas_d = malloc(nm * sizeof *meas_d);
    lat = malloc(nm * sizeof *lat);
    if (meas_fine == NULL || meas_d == NULL || lat == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM, "align: out of memory for %zu lattice points", nm);
        goto done;
    }
    st = lattice_derivative(meas_energy_ev, meas_mu, meas_n, x0 + mlo * h, h, nm, kern, half,
                            meas_fine, meas_d, err);
    if (st != XANES_OK)
        goto done;
    /* Measured derivative defined on lattice coordinates [dlo, dhi]. */
    const double dlo = mlo + (double)half, dhi = mhi - (double)half;

    /* Whole-step scan.  Shift j pairs reference lattice point q with
     * measured lattice point q - j. */
    const long jmax = (long)floor(p->align_max_shift_ev / h);
    long jbest = 0;
    double rbest = -INFINITY;
    int found = 0;
    for (long j = -jmax; j <= jmax; j++) {
        double first = (double)qlo - (double)j, last = first + (double)(nw - 1);
        if (first < dlo || last > dhi)
            continue;
        size_t off = (size_t)(first - mlo);
        double sb = 0.0, sbb = 0.0, sab = 0.0;
        for (size_t k = 0; k < nw; k++) {
            double b = meas_d[off + k];
            sb += b;
            sbb += b * b;
            sab += a[k] * b;
        }
        double var = sbb - sb * sb / (double)nw;
        double rr = var > 0.0 ? sab / (anorm * sqrt(var)) : 0.0;
        if (rr > rbest) {
            rbest = rr;
            jbest = j;
        }
        found = 1;
    }
    if (!found) {
        st = XANES_RAISE(err, XANES_EDATA,
                         "align: no shift within +-%.2f eV lets the measured spectrum "
                         "(%.2f..%.2f eV) cover the comparison window %.2f..%.2f eV",
                         p->align_max_shift_ev, meas_energy_ev[0], meas_energy_ev[meas_n - 1],
                         r->window_lo_ev, r->window_hi_ev);
        goto done;
    }
    r->coarse_offset_ev = (double)jbest * h;
    if (labs(jbest) == jmax && jmax > 0) {
        st = XANES_RAISE(err, XANES_EDATA,
                         "align: best shift %.3f eV lies at the search limit +-%.2f eV; the "
                         "spectra may not match (raise the maximum shift if the offset is "
                         "really that large)",
                         r->coarse_offset_ev, p->align_max_shift_ev);
        goto done;
    }

    /* Sub-sample refinement: Brent on -r(s), the measured derivative
     * splined over its defined lattice range. */
    size_t i_dlo = (size_t)(dlo - mlo), n_def = (size_t)(dhi - dlo) + 1;
    for (size_t i = 0; i < n_def; i++)
        lat[i] = x0 + (dlo + (double)i) * h;
    msp = gsl_spline_alloc(gsl_interp_cspline, n_def);
    macc = gsl_interp_accel_alloc();
    fmin = gsl_min_fminimizer_alloc(gsl_min_fminimizer_brent);
    if (msp == NULL || macc == NULL || fmin == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM, "align: out of memory for refinement");
        goto done;
    }
    if (gsl_spline_init(msp, lat, meas_d + i_dlo, n_def) != GSL_SUCCESS) {
        st = XANES_RAISE(err, XANES_EFAIL, "align: spline of the measured derivative failed");
        goto done;
    }
    corr_ctx ctx = {a, anorm, nw, x0 + (double)qlo * h, h, msp, macc};
    gsl_function F = {corr_at, &ctx};
    double s0 = r->coarse_offset_ev;
    /* Bracket [s0 - h, s0 + h] needs both neighbours inside the measured
     * range. */
    double lo = s0 - h, hi = s0 + h;
    double wlo = ctx.w0, whi = ctx.w0 + (double)(nw - 1) * h;
    int can_refine = (wlo - hi >= lat[0] - 1e-9 * h) && (whi - lo <= lat[n_def - 1] + 1e-9 * h);
    double f0 = corr_at(s0, &ctx);
    r->offset_ev = s0;
    r->correlation = -f0;
    r->n_iter = 0;
    if (can_refine && f0 < corr_at(lo, &ctx) && f0 < corr_at(hi, &ctx)) {
        if (gsl_min_fminimizer_set(fmin, &F, s0, lo, hi) != GSL_SUCCESS) {
            st = XANES_RAISE(err, XANES_EFAIL, "align: Brent bracket rejected at %.4f eV", s0);
            goto done;
        }
        int status = GSL_CONTINUE;
        size_t it = 0;
        while (status == GSL_CONTINUE && it < p->align_max_iter) {
            it++;
            if (gsl_min_fminimizer_iterate(fmin) != GSL_SUCCESS)
                break;
            status = gsl_min_test_interval(gsl_min_fminimizer_x_lower(fmin),
                                           gsl_min_fminimizer_x_upper(fmin), p->align_tol_ev, 0.0);
        }
        if (status != GSL_SUCCESS) {
            st = XANES_RAISE(err, XANES_ENOCONV,
                             "align: Brent refinement did not reach %.1e eV in %zu iterations",
                             p->align_tol_ev, p->align_max_iter);
            goto done;
        }
        r->offset_ev = gsl_min_fminimizer_x_minimum(fmin);
        r->correlation = -gsl_min_fminimizer_f_minimum(fmin);
        r->n_iter = it;
    }

done:
    gsl_min_fminimizer_free(fmin);
    gsl_interp_accel_free(macc);
    gsl_spline_free(msp);
    free(lat);
    free(a);
    free(meas_d);
    free(meas_fine);
    free(ref_d);
    free(ref_fine);
    free(kern);
    return st;
}
