/* model_internal.h: helpers shared by model.c and model_fit.c (not installed). */
#ifndef XANES_MODEL_INTERNAL_H
#define XANES_MODEL_INTERNAL_H

#include <stddef.h>

#include "xanes/model.h"

/* Draws radii, coverage quantiles u_cov[] (uniform, turned into coverages
 * by model_apply_coverage so that a fit sees common random numbers) and
 * depths of p->n_particles particles, deterministically for p->seed.
 * XANES_ENOMEM.  Thread-safe. */
xanes_status model_draw_ensemble(const xanes_model_common *c, const xanes_model_params *p,
                                 xanes_model_particle *part, double *u_cov, xanes_error *err);

/* Coverage Beta(alpha, beta) quantile u_cov[i] and the carbon contact that
 * goes with it (1 - coverage, or 1 when carbon_first) for part[0..n). */
void model_apply_coverage(xanes_model_particle *part, const double *u_cov, size_t n, double alpha,
                          double beta, int carbon_first);

#endif
