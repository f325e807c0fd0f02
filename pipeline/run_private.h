/* run_private.h: the stages of xanes_run_process (run.c) that follow the
 * edge map, in run_stages.c, and the helpers both files use.  Private to
 * pipeline/, not installed. */
#ifndef XANES_RUN_PRIVATE_H
#define XANES_RUN_PRIVATE_H

#include "xanes/normalize.h"
#include "xanes/run.h"
#include "xanes/stack.h"
#include "xanes/standards.h"
#include "xanes/subspace.h"

/* Puts "<what> <file>: " in front of the message a stage recorded (the
 * stage does not know the file), keeping its status.  err may be NULL. */
xanes_status run_with_context(xanes_error *err, xanes_status st, const char *what,
                              const char *file);

/* The normalization behind every edge energy of the run: p->edgemap.norm,
 * with what it leaves open taken from the standards file's edge definition
 * when p->use_edge_definition is set. */
void run_edge_norm_params(const xanes_run_params *p, const xanes_standards *std,
                          xanes_normalize_params *out);

/* Mask and labels from the edge-jump map, smoothed more when noise-limited. */
xanes_status run_segment_stage(const xanes_run_params *p, xanes_run_result *r, xanes_error *err);

/* The spectral subspaces of a run and the averaged spectra behind the
 * second; all NULL when not made.  Owned; run_spectral_free releases them
 * and zeroes the struct. */
typedef struct {
    xanes_subspace *blocks; /* of the particle pixels' 2 x 2 blocks        */
    xanes_subspace *means;  /* of the particles' averaged spectra          */
    double *mean;           /* [n_labels][n_energy] those averaged spectra */
    size_t *count;          /* [n_labels] their pixel counts               */
} run_spectral;
void run_spectral_free(run_spectral *sp);

/* Footprints, the spectral subspaces (the averaged spectra's own only when
 * the jump map is not noise-limited) and the edge map of the projected
 * pixels; sp (zeroed by the caller) stays empty when denoising is off or
 * there is no particle. */
xanes_status run_denoise_stage(const xanes_run_params *p, const xanes_stack *s,
                               const xanes_standards *std, xanes_run_result *r, run_spectral *sp,
                               xanes_error *err);

/* Per-particle statistics, the averaged spectra projected onto sp->means
 * when it has a rank, else onto sp->blocks when given. */
xanes_status run_particles_stage(const xanes_run_params *p, const xanes_stack *s,
                                 const xanes_standards *std, const run_spectral *sp,
                                 xanes_run_result *r, xanes_error *err);

/* Masks the maps to the particles, derives SoC and valence maps, sums up. */
xanes_status run_finish_maps(const xanes_standards *std, xanes_run_result *r, xanes_error *err);

#endif
