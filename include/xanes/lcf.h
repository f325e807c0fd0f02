/* lcf.h: linear combination fitting of a normalized spectrum to 2..N
 * normalized reference spectra over an energy window.
 *
 * Plan once, fit many (the FFTW pattern): a xanes_lcf_plan holds the energy
 * grid window and the references' Gram matrix for a fixed grid, so a fit per
 * pixel costs two passes over the window plus a few k x k solves.  The plan is
 * read-only after xanes_lcf_plan_alloc and may be shared between threads;
 * each thread brings its own xanes_lcf_workspace.  A fit allocates nothing.
 */
#ifndef XANES_LCF_H
#define XANES_LCF_H

#include <stddef.h>

#include "xanes/status.h"

/* Most references one plan accepts (results are fixed-size structs). */
#define XANES_LCF_MAX_REFS 16

typedef struct {
    int sum_to_one;   /* nonzero: constrain sum of weights to 1            */
    int nonnegative;  /* nonzero: constrain every weight >= 0 (default on)  */
    size_t max_iter;  /* active-set iterations before XANES_ENOCONV         */
    double dual_tol;  /* KKT tolerance, relative to |a_i||y|                */
    double min_rcond; /* plan refuses references whose Gram matrix has a
                         reciprocal condition number below this (nearly
                         linearly dependent references in the window)      */
} xanes_lcf_params;

/* Defaults: nonnegative on, sum_to_one off, max_iter 200 (3*k suffices in
 * practice; Lawson-Hanson), dual_tol 1e-12, min_rcond 1e-12. */
void xanes_lcf_default_params(xanes_lcf_params *p);

typedef struct xanes_lcf_plan xanes_lcf_plan;
typedef struct xanes_lcf_workspace xanes_lcf_workspace;

typedef struct {
    size_t n_refs;
    double weight[XANES_LCF_MAX_REFS];     /* fitted weights                      */
    double weight_err[XANES_LCF_MAX_REFS]; /* 1-sigma from the covariance, scaled
                                              by the reduced chi-square (as lmfit
                                              and larch do); 0 for a weight held
                                              at its bound                        */
    int at_bound[XANES_LCF_MAX_REFS];      /* nonzero: weight held at 0           */
    double weight_sum;                     /* sum of weights                      */
    double chi2;                           /* sum of squared residuals            */
    double redchi;                         /* chi2 / (n_points - n_free)          */
    double r_factor;                       /* sum r^2 / sum y^2 (larch's rfactor) */
    size_t n_points;                       /* grid points inside the window       */
    size_t n_free;                         /* free parameters at the optimum      */
    size_t n_iter;                         /* active-set iterations used          */
} xanes_lcf_result;

/* Builds a plan for spectra sampled on energy_ev[0..n-1] (strictly
 * increasing, eV).  refs[j][i] is reference j (normalized mu) on that grid,
 * j < n_refs, 2 <= n_refs <= XANES_LCF_MAX_REFS.  Only points with
 * emin_ev <= energy <= emax_ev enter the fit (pass -INFINITY / INFINITY for
 * the whole grid); references must be finite there (NaN elsewhere is fine,
 * e.g. from resampling outside their measured range).  The plan copies what
 * it needs: the caller keeps ownership of the arrays.  params NULL means
 * defaults.  On success *out is a new plan (free with xanes_lcf_plan_free).
 * Returns XANES_EINVAL (fewer than 2 or more than XANES_LCF_MAX_REFS refs,
 * NULL arrays, emin >= emax), XANES_EDATA (energies not increasing or not
 * finite; window holds fewer than n_refs + 2 grid points, i.e. no overlap;
 * a reference not finite in the window; references linearly dependent in the
 * window), XANES_ENOMEM.  Messages name the reference index, the energy and
 * the window.  Thread-safe for distinct outputs. */
xanes_status xanes_lcf_plan_alloc(const double *energy_ev, size_t n, const double *const *refs,
                                  size_t n_refs, double emin_ev, double emax_ev,
                                  const xanes_lcf_params *params, xanes_lcf_plan **out,
                                  xanes_error *err);
void xanes_lcf_plan_free(xanes_lcf_plan *plan); /* NULL is a no-op */

/* Points in the plan's window and their first index on the grid. */
size_t xanes_lcf_plan_n_points(const xanes_lcf_plan *plan);
size_t xanes_lcf_plan_first_index(const xanes_lcf_plan *plan);

/* Scratch for one thread, sized for the plan (references and window
 * points).  NULL on allocation failure.  One workspace must not be used by two threads at
 * once. */
xanes_lcf_workspace *xanes_lcf_workspace_alloc(const xanes_lcf_plan *plan);
void xanes_lcf_workspace_free(xanes_lcf_workspace *ws); /* NULL is a no-op */

/* Fits mu (normalized, on the plan's full grid: point i is mu[i * stride],
 * stride >= 1 lets a caller read a pixel's spectrum straight from an
 * energy-major block) by weights minimizing sum over the window of
 * (mu - sum_j w_j ref_j)^2, with w >= 0 and/or sum w = 1 as the plan's params
 * say.  Lawson-Hanson active-set NNLS (Lawson & Hanson, "Solving Least
 * Squares Problems", 1974, ch. 23) on the Gram matrix, extended with the
 * equality constraint through its Lagrange multiplier.  Allocates nothing.
 * Returns XANES_EINVAL (NULL pointers, stride 0, workspace built for another
 * plan), XANES_EDATA (mu not finite in the window: the message names
 * the energy), XANES_ENOCONV (max_iter reached), XANES_EFAIL (a subproblem
 * lost positive definiteness).  Thread-safe with one workspace per thread. */
xanes_status xanes_lcf_plan_fit(const xanes_lcf_plan *plan, const double *mu, size_t stride,
                                xanes_lcf_workspace *ws, xanes_lcf_result *result,
                                xanes_error *err);

/* Same as xanes_lcf_plan_fit for float data, e.g. one pixel of a float32
 * [E][y][x] stack with stride ny*nx (read once into the workspace as
 * double; same statuses, same thread-safety). */
xanes_status xanes_lcf_plan_fit_float(const xanes_lcf_plan *plan, const float *mu, size_t stride,
                                      xanes_lcf_workspace *ws, xanes_lcf_result *result,
                                      xanes_error *err);

/* Evaluates the fitted combination sum_j w_j ref_j at grid point i (any i on
 * the plan's grid, inside the window or not; NaN where a reference is). */
double xanes_lcf_plan_model(const xanes_lcf_plan *plan, const xanes_lcf_result *result, size_t i);

/* Resamples (src_energy_ev, src_mu) onto dst_energy_ev by linear
 * interpolation (GSL); points outside the source range become NaN.  src
 * energies strictly increasing, n_src >= 2.  Returns XANES_EINVAL / XANES_EDATA
 * (source not increasing) / XANES_ENOMEM.  Thread-safe. */
xanes_status xanes_lcf_resample(const double *src_energy_ev, const double *src_mu, size_t n_src,
                                const double *dst_energy_ev, size_t n_dst, double *dst_mu,
                                xanes_error *err);

#endif
