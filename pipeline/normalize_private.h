/* normalize_private.h: helpers shared by normalize.c (one spectrum) and
 * normalize_plan.c (many spectra on one grid).  Not installed. */
#ifndef XANES_NORMALIZE_PRIVATE_H
#define XANES_NORMALIZE_PRIVATE_H

#include <stddef.h>

#include "xanes/normalize.h"
#include "xanes/status.h"

#define NP_MAX (XANES_NORMALIZE_MAX_NNORM + 1)

/* Checks energy[n] (finite, strictly increasing, n >= 7) and p's values. */
xanes_status norm_check_inputs(const double *energy_ev, size_t n, const xanes_normalize_params *p,
                               xanes_error *err);

/* Given the used e0 sample ie0, resolves pre1/pre2/norm1/norm2/nnorm by
 * larch 0.9.58's rules and the fit sample ranges; fills those fields of r
 * (e0_ev, ie0, ranges, nnorm, nvict, pre_lo..post_hi).  Returns XANES_EDATA
 * when a range holds too few samples for its fit. */
xanes_status norm_resolve_ranges(const double *energy_ev, size_t n, size_t ie0,
                                 const xanes_normalize_params *p, xanes_normalize_result *r,
                                 xanes_error *err);

/* Index of the sample nearest to e (larch index_nearest: first minimum). */
size_t norm_index_nearest(const double *energy_ev, size_t n, double e);

/* Scale of the fit variable t = (E - e0)/scale over samples [lo, hi). */
double norm_fit_scale(const double *energy_ev, size_t lo, size_t hi, double e0);

/* Sets every per-spectrum field of r to NaN (keeps the used parameters). */
void norm_result_clear_values(xanes_normalize_result *r);

/* Finds the half edge and derivative edge of a normalized spectrum with the
 * windows implied by r (after the pre-edge range; before the post-edge
 * range); sets NaN where none is found.  dmu is [n] scratch. */
void norm_find_edges(const double *energy_ev, const double *mu, const double *norm, size_t n,
                     double half_level, xanes_edge_crossing crossing, unsigned edges,
                     double *dmu,
                     xanes_normalize_result *r);

/* Interpolant fits (normalize_interp.c).  The sample range [lo, hi) whose
 * piecewise-linear interpolant covers [a, b]. */
void norm_interp_range(const double *energy_ev, size_t n, double a, double b, size_t *lo,
                       size_t *hi);

/* P (np x (hi-lo), row-major), c = P y[lo..hi): least-squares polynomial of
 * np coefficients in t = (E - e0)/scale fitted to the piecewise-linear
 * interpolant of the samples over [a, b].  No allocation. */
xanes_status norm_interp_projection(const double *energy_ev, size_t lo, size_t hi, double a,
                                    double b, double e0, double scale, size_t np, double *p,
                                    xanes_error *err);

/* For fit_interpolant: e0 exactly p->e0_ev (must be finite), explicit
 * windows, the bracketing sample ranges; fills r like norm_resolve_ranges. */
xanes_status norm_interp_resolve(const double *energy_ev, size_t n,
                                 const xanes_normalize_params *p, xanes_normalize_result *r,
                                 xanes_error *err);

#endif
