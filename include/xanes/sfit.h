/* sfit.h: S K-edge peak deconvolution with areas and honest uncertainties.
 *
 * The model of a normalized spectrum over a fit range is an edge step
 * (arctan or erf; position, width and height free) plus N peaks (Gaussian,
 * Lorentzian or pseudo-Voigt; centre, FWHM and height free), fitted by GSL's
 * trust-region Levenberg-Marquardt with an analytic Jacobian.  Bounds are
 * enforced by the sine transform of MINUIT/lmfit, so every internal parameter
 * is unbounded.  Uncertainties come from the covariance scaled by the reduced
 * chi-square (lmfit's scale_covar), propagated through the transform and, for
 * areas, through the full covariance.  The paper's peak-4 figure of merit is
 * the area of the data in an energy window after subtracting the fitted step
 * and the other peaks, with its exact linear-propagation uncertainty.
 *
 * Step forms (lmfit StepModel):  arctan  H * (1/2 + atan((E - E0)/w) / pi)
 *                                erf     H * (1 + erf((E - E0)/w)) / 2
 * Peak forms with height A, centre c, FWHM f, q = (E - c)/f:
 *   gauss    A exp(-4 ln2 q^2)                      area A f sqrt(pi/(4 ln2))
 *   lorentz  A / (1 + 4 q^2)                         area A f pi/2
 *   pvoigt   A [(1-eta) gauss + eta lorentz]         area A f [(1-eta) Kg + eta Kl]
 * with the pseudo-Voigt fraction eta fixed (params.pvoigt_fraction).
 */
#ifndef XANES_SFIT_H
#define XANES_SFIT_H

#include <stddef.h>

#include "xanes/status.h"

#define XANES_SFIT_MAX_PEAKS 8
#define XANES_SFIT_MAX_PARAMS (3 + 3 * XANES_SFIT_MAX_PEAKS)
#define XANES_SFIT_MAX_WARNINGS 16

typedef enum { XANES_SFIT_GAUSS = 0, XANES_SFIT_LORENTZ, XANES_SFIT_PVOIGT } xanes_sfit_shape;
typedef enum { XANES_SFIT_ARCTAN = 0, XANES_SFIT_ERF } xanes_sfit_step_form;

/* Everything a fit depends on.  Energies in eV; NaN range ends mean "derive
 * from the centres" (see xanes_sfit_default_params). */
typedef struct {
    xanes_sfit_shape shape;
    xanes_sfit_step_form step;
    size_t n_peaks;
    double center_ev[XANES_SFIT_MAX_PEAKS]; /* starting (or fixed) centres */
    int fix_centers;                        /* nonzero: centres are not fitted */
    double emin_ev, emax_ev;                /* fit range; NaN = centres -/+ range_pad_ev */
    double range_pad_ev;                    /* default range margin around the centres */
    double window_lo_ev, window_hi_ev;      /* window-area figure of merit */
    /* Bounds (the transform keeps parameters inside them). */
    double center_tol_ev; /* centre within start +- this */
    double fwhm_min_ev, fwhm_max_ev;
    double step_width_min_ev, step_width_max_ev;
    double step_e0_pad_ev;  /* E0 within [min c - pad, max c + pad] */
    double amp_max_factor;  /* heights in [0, factor * max|mu|] */
    double pvoigt_fraction; /* eta of the pseudo-Voigt, fixed */
    /* Solver. */
    size_t max_iter;
    double xtol, gtol, ftol;
    double rcond_min;        /* below this the fit counts as ill-conditioned */
    size_t min_starts;       /* starts always tried (the best is kept) */
    size_t max_starts;       /* starts tried when ill-conditioned or at a bound */
    double covar_epsrel;     /* rank cut of gsl_multifit_nlinear_covar */
    double fwhm_start_ev[4]; /* common FWHMs tried for the data-derived start */
    /* Warnings. */
    double corr_warn;  /* |correlation| above this is reported */
    double bound_frac; /* within this fraction of the bound span = "at bound" */
} xanes_sfit_params;

/* Fills p with the defaults: pvoigt, arctan, the paper's four centres
 * 2472, 2473, 2477, 2483 eV, centres free, range NaN (centres -15/+15 eV),
 * window 2480-2487 eV, centre tolerance 1 eV, FWHM 0.3-10 eV, step width
 * 0.05-10 eV, eta 0.5, 500 iterations, xtol 1e-8, gtol 6e-6 (GSL's advice:
 * about eps^(1/3)), ftol 1e-10 (relative SSR decrease, MINPACK's meaning),
 * rcond_min 1e-9, 4 starts always and up to 8 when ill-conditioned or at a
 * bound, covariance rank cut 1e-10, correlation warning 0.95.  Thread-safe. */
void xanes_sfit_default_params(xanes_sfit_params *p);

typedef struct {
    double center_ev, center_err_ev;
    double fwhm_ev, fwhm_err_ev;
    double height, height_err;
    double area, area_err; /* area in (normalized mu) * eV */
    int at_bound;          /* nonzero when c, f or A sits on a bound */
} xanes_sfit_peak;

typedef struct {
    size_t n_peaks;
    xanes_sfit_peak peak[XANES_SFIT_MAX_PEAKS];
    double step_e0_ev, step_e0_err_ev;
    double step_width_ev, step_width_err_ev;
    double step_height, step_height_err;
    long window_peak;                    /* peak left in the window (index), -1 if none */
    double window_area, window_area_err; /* NaN (with a warning) when no peak centre
                                          * or fewer than 2 fit points are in the window */
    double emin_ev, emax_ev;             /* range actually fitted (clipped to the data) */
    size_t n_points, n_params;
    double noise_sigma;  /* high-frequency noise estimate of the data */
    double chi2_red;     /* (SSR / (n - p)) / noise_sigma^2 */
    double rms_residual; /* sqrt(SSR / n) */
    double rcond;        /* reciprocal condition number of J at the best fit */
    size_t n_starts;     /* starts tried */
    size_t best_start;   /* which was kept (0 = the start whose linear fit of
                          * the heights had the lowest residual) */
    size_t n_iter;       /* iterations of the kept start */
    /* Every parameter, external values: E0, w, H, then per peak c, f, A
     * (c omitted when centres are fixed); error is the standard error from
     * the covariance scaled by SSR/(n-p) (0 for a parameter pinned on a
     * bound); corr is the correlation matrix of the parameters. */
    double value[XANES_SFIT_MAX_PARAMS], error[XANES_SFIT_MAX_PARAMS];
    double start[XANES_SFIT_MAX_PARAMS];
    double lower[XANES_SFIT_MAX_PARAMS], upper[XANES_SFIT_MAX_PARAMS];
    char name[XANES_SFIT_MAX_PARAMS][16];
    double corr[XANES_SFIT_MAX_PARAMS * XANES_SFIT_MAX_PARAMS]; /* row-major p x p */
    size_t n_warnings;
    char warnings[XANES_SFIT_MAX_WARNINGS][160];
} xanes_sfit_result;

/* Caller-owned scratch for fits of up to n_max points with the parameter
 * layout of p (number of peaks, fixed or free centres).  NULL on allocation
 * failure or bad sizes (XANES_ENOMEM / XANES_EINVAL in err).  One workspace
 * per thread; free with xanes_sfit_workspace_free (NULL is a no-op). */
typedef struct xanes_sfit_workspace xanes_sfit_workspace;
xanes_sfit_workspace *xanes_sfit_workspace_alloc(size_t n_max, const xanes_sfit_params *p,
                                                 xanes_error *err);
void xanes_sfit_workspace_free(xanes_sfit_workspace *ws);

/* Fits the model to (energy_ev[i], mu[i]), i < n (normalized mu, strictly
 * increasing energies) over the range of p.  Allocates nothing; res is filled
 * completely on success.
 * Returns XANES_EINVAL (bad params: no peaks, too many, peak centre outside
 * the range, window empty, p does not match the workspace layout),
 * XANES_EDATA (NaN/Inf, energies not increasing, range outside the data
 * by more than half a sample spacing, fewer than 2 points per parameter in
 * the range, mu zero throughout), XANES_ENOCONV (no start converged),
 * XANES_EFAIL (covariance failed).  Messages give the values.  Warnings
 * (correlations above corr_warn, parameters on a bound, ill-conditioning,
 * no window area) go to res->warnings.  Thread-safe for distinct
 * workspaces. */
xanes_status xanes_sfit_run(xanes_sfit_workspace *ws, const double *energy_ev, const double *mu,
                            size_t n, const xanes_sfit_params *p, xanes_sfit_result *res,
                            xanes_error *err);

/* Evaluates the fitted model at energy_ev[i]: total into total[i] (may be
 * NULL), the step into step[i] (may be NULL) and peak k into
 * peaks[k * n + i] (may be NULL).  Uses res->value and p's shapes.
 * Thread-safe, allocates nothing. */
void xanes_sfit_eval(const xanes_sfit_params *p, const xanes_sfit_result *res,
                     const double *energy_ev, size_t n, double *total, double *step, double *peaks);

/* Noise sigma of a spectrum from its high-frequency content: the 7-point
 * divided difference (which annihilates polynomials up to degree 5, on any
 * grid) at every position, scaled to unit variance for white noise, and
 * summarised by the MAD (x 1.4826) so that the few points where a sharp
 * white line still leaks in do not count.  scratch[n] is caller-owned.  NaN
 * when n < 7.  Thread-safe, allocates nothing. */
double xanes_sfit_noise_sigma(const double *energy_ev, const double *mu, size_t n, double *scratch);

/* Names "gauss", "lorentz", "pvoigt", "arctan", "erf" and back; the parsers
 * return XANES_EINVAL for an unknown name. */
const char *xanes_sfit_shape_name(xanes_sfit_shape s);
const char *xanes_sfit_step_name(xanes_sfit_step_form s);
xanes_status xanes_sfit_shape_parse(const char *name, xanes_sfit_shape *out);
xanes_status xanes_sfit_step_parse(const char *name, xanes_sfit_step_form *out);

#endif
