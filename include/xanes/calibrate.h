/* calibrate.h: energy calibration of a measured reference spectrum.
 *
 * Two independent ways to find the energy offset of a beamline's energy
 * axis from a reference (e.g. a NiO pellet or a Ni foil measured with the
 * sample):
 *   - edge-based: normalize the measured reference (larch rules, normalize.h),
 *     find its edge energy (half-height or derivative maximum, edge.h) and
 *     compare with the reference's known edge energy;
 *   - alignment: shift the measured reference until its derivative dmu/dE
 *     best matches that of a stored reference spectrum (maximum Pearson
 *     correlation, sub-sample), which needs no edge definition at all.
 * Sign convention throughout: calibrated E = raw E + offset_ev, so
 * offset_ev = reference edge - measured edge.
 */
#ifndef XANES_CALIBRATE_H
#define XANES_CALIBRATE_H

#include <stddef.h>

#include "xanes/normalize.h"
#include "xanes/status.h"

typedef enum {
    XANES_CALIBRATE_EDGE_HALF = 0, /* norm first reaches half_level (0.5) */
    XANES_CALIBRATE_EDGE_DERIV     /* refined maximum of dmu/dE            */
} xanes_calibrate_edge;

typedef struct {
    xanes_calibrate_edge edge;   /* edge definition of the edge-based offset   */
    xanes_normalize_params norm; /* normalization of the measured reference    */
    double min_edge_snr;         /* edge step must exceed this many times the
                                    larger RMS residual of the pre-/post-edge
                                    fits (5), else "no edge"                   */
    double max_offset_ev;        /* |offset| above this (100 eV) is refused: a
                                    monochromator is off by a few eV, not by
                                    the distance to another element's edge   */
    /* Derivative alignment. */
    double align_step_ev;      /* fine uniform grid spacing (0.05 eV)        */
    double align_sigma_ev;     /* Gaussian width of the derivative filter
                                  (0.5 eV; 0 = plain central differences)    */
    double align_max_shift_ev; /* search |offset| <= this (20 eV)            */
    double align_emin_ev;      /* window start relative to the stored
                                  reference's derivative maximum (-30 eV)   */
    double align_emax_ev;      /* window end, relative likewise (+50 eV)     */
    double align_tol_ev;       /* Brent tolerance on the shift (1e-5 eV)     */
    size_t align_max_iter;     /* Brent iterations (100)                     */
} xanes_calibrate_params;

void xanes_calibrate_default_params(xanes_calibrate_params *p);

typedef struct {
    double measured_edge_ev;     /* edge of the measured reference, raw axis       */
    double reference_edge_ev;    /* the known edge energy it should have           */
    double offset_ev;            /* reference_edge_ev - measured_edge_ev           */
    xanes_normalize_result norm; /* everything the normalization used/found   */
} xanes_calibrate_edge_result;

/* Edge-based offset of a measured reference spectrum (energy_ev[n] strictly
 * increasing eV, mu[n] finite) whose true edge is reference_edge_ev (finite).
 * p NULL = defaults.  Returns XANES_EINVAL (NULL, non-finite reference edge),
 * XANES_EDATA (normalization fails; the edge jump is negative or not above
 * min_edge_snr times the fit residuals; no edge by the chosen definition:
 * the message says which, with the values; |offset| above max_offset_ev), XANES_ENOMEM.  Allocates
 * a normalization workspace (not meant per pixel).  Thread-safe. */
xanes_status xanes_calibrate_offset(const double *energy_ev, const double *mu, size_t n,
                                    double reference_edge_ev, const xanes_calibrate_params *p,
                                    xanes_calibrate_edge_result *r, xanes_error *err);

/* Edge energy of a spectrum by the definition in p (used for the stored
 * reference when no --ref-edge is given).  Same statuses as above. */
xanes_status xanes_calibrate_edge_energy(const double *energy_ev, const double *mu, size_t n,
                                         const xanes_calibrate_params *p, double *edge_ev,
                                         xanes_normalize_result *norm, xanes_error *err);

typedef struct {
    double offset_ev;        /* add to the measured energies to match the stored
                                reference (sub-sample, Brent-refined)          */
    double coarse_offset_ev; /* best shift on the fine grid before refinement  */
    double correlation;      /* Pearson r of the derivatives at offset_ev      */
    double window_lo_ev;     /* comparison window, stored reference's axis     */
    double window_hi_ev;
    double center_ev; /* stored reference's derivative maximum          */
    size_t n_window;  /* fine-grid points in the window                 */
    size_t n_iter;    /* Brent iterations; 0 when the lattice maximum could
                         not be bracketed (it touches the edge of the
                         measured range) and offset_ev is the lattice value */
} xanes_calibrate_align_result;

/* Aligns a measured reference (meas_*) to a stored reference spectrum
 * (ref_*) by maximizing the Pearson correlation of their derivatives.
 * Both spectra are interpolated (GSL cubic spline) onto one uniform grid of
 * spacing align_step_ev; dmu/dE is the slope of a Gaussian-weighted local
 * line (width align_sigma_ev), which filters noise identically for both; the
 * correlation over the window is scanned at whole grid steps, then the
 * maximum is refined by Brent's method (gsl_min_fminimizer_brent) with the
 * measured derivative evaluated off-grid by cubic spline.  Pearson
 * correlation ignores edge step, pre-edge slope and offset, so neither
 * spectrum needs normalizing and no edge definition enters.  Precision on
 * real spectra resampled on a different grid: a few meV (see
 * tests/test_calibrate.c).  Returns XANES_EINVAL (NULL, bad params),
 * XANES_EDATA (fewer than 4 points, non-increasing energies, non-finite mu,
 * window not covered by the stored reference, no shift within
 * +-align_max_shift_ev at which the measured spectrum covers the window, flat
 * derivative), XANES_ENOCONV, XANES_ENOMEM.  Allocates (not per pixel).
 * Thread-safe. */
xanes_status xanes_calibrate_align(const double *meas_energy_ev, const double *meas_mu,
                                   size_t meas_n, const double *ref_energy_ev, const double *ref_mu,
                                   size_t ref_n, const xanes_calibrate_params *p,
                                   xanes_calibrate_align_result *r, xanes_error *err);

#endif
