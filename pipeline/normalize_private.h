/* normalize_private.h: helpers shared by normalize.c (one spectrum) and
 * normalize_plan.c (many spectra on one grid).  Not installed. */
#ifndef XANES_NORMALIZE_PRIVATE_H
#define XANES_NORMALIZE_PRIVATE_H

#include <stddef.h>

#include "xanes/normalize.h"
#include "xanes/status.h"

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
                     double half_level, unsigned edges, double *dmu,
                     xanes_normalize_result *r);

#endif
