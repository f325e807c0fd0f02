/* edgemap.h: per-pixel normalization and edge energy of an aligned stack.
 *
 * Every pixel's spectrum goes through the same larch-compatible code as a
 * 1-D spectrum (normalize.h's fixed-grid plan): one e0 and one set of fit
 * ranges for the whole stack, taken from the mean spectrum of the valid
 * pixels (find_e0 and larch's default range rules, unless the parameters fix
 * them), so every pixel is normalized over the same energies and pixels stay
 * comparable.  Per pixel the stage writes the edge energy (half-edge or
 * derivative edge), the signed edge jump (larch's post(e0) - pre(e0),
 * absorbance) and a noise measure:
 *     noise = pre_rms * max(1, G),
 * pre_rms being the RMS residual of the pre-edge line fit (the per-sample
 * noise) and G = ||g|| the noise gain of the jump: the jump is a fixed linear
 * function g . mu of the spectrum on this grid and ranges, so pre_rms * G is
 * its standard error (G is computed once, xanes_edgemap_jump_gain).
 *
 * The gate.  A pixel's edge energy is kept only when
 *     edge_jump > 0  and  edge_jump >= min_jump_over_noise * noise,
 * otherwise it is NaN and counted as rejected.  It guards two things.  A
 * first-crossing (half-edge) estimate is biased early when the noise is
 * large: a pre-edge sample that noise lifts above the half level is taken as
 * the edge; with the default 8, that takes a 4-sigma excursion (probability
 * 3e-5 per sample), so even 30 samples between the pre-edge range and the
 * edge give under 0.1% early crossings.  And the jump must be significant:
 * 8 standard errors, so background pixels (no particle, jump ~ 0) do not
 * pass by chance.  (With noise = pre_rms alone, the jump's own error is
 * 1.8x larger on a typical 8300..8400 eV TXM grid, and background pixels
 * passed at a rate of 1e-3 in tests/test_edgemap.c.)
 *
 * Work splits by rows: the mean spectrum accumulates over any row block (sums
 * and counts add across blocks, e.g. MPI ranks), and the map is computed for
 * any row range [y0, y1) into caller-owned [y1-y0][nx] outputs.
 */
#ifndef XANES_EDGEMAP_H
#define XANES_EDGEMAP_H

#include <stddef.h>

#include "xanes/normalize.h"
#include "xanes/status.h"

typedef enum {
    XANES_EDGEMAP_HALF = 0, /* norm first reaches half_level (default 0.5)   */
    XANES_EDGEMAP_DERIV     /* maximum of dmu/dE, parabola-refined           */
} xanes_edgemap_method;

typedef struct {
    xanes_edgemap_method method; /* default XANES_EDGEMAP_HALF */
    /* Normalization knobs.  e0_ev NaN (default): find_e0 on the mean
     * spectrum; NaN ranges: larch's rules for that e0 and the grid. */
    xanes_normalize_params norm;
    double min_jump_over_noise; /* the gate above; default 8; 0 disables */
} xanes_edgemap_params;

/* Fills p with the defaults documented above. */
void xanes_edgemap_default_params(xanes_edgemap_params *p);

/* Adds to sum_mu [n_energy] the spectra of the valid pixels of rows
 * [y0, y1) of stack [n_energy][ny][nx] (valid: finite at every energy) and
 * their number to *n_valid.  The caller zeroes sum_mu and *n_valid once and
 * may call this for several row blocks; mean = sum_mu / n_valid.  Each
 * row's sum is a vectorised float sum in a fixed order (about 1e-6 relative),
 * the rows are then added in double in row order, so the sums do not depend
 * on the thread count.  Returns XANES_EINVAL (NULL, empty or bad row range),
 * XANES_ENOMEM.  Allocates (per-row partial sums); thread-safe. */
xanes_status xanes_edgemap_mean_spectrum(const float *stack, size_t n_energy, size_t ny, size_t nx,
                                         size_t y0, size_t y1, double *sum_mu, size_t *n_valid,
                                         xanes_error *err);

typedef struct xanes_edgemap xanes_edgemap;

/* Prepares the map for frames nx pixels wide on the grid energy_ev
 * [n_energy] (strictly increasing eV): normalizes mean_mu [n_energy] (the
 * mean spectrum) with p->norm to fix e0, the ranges and the post-edge
 * degree, builds the normalization plan, and allocates per-thread scratch
 * for omp_get_max_threads() threads.  p NULL = defaults (copied).  Returns
 * NULL with err set: XANES_EINVAL (bad arguments or parameters), XANES_EDATA
 * (the mean spectrum has no edge or cannot be normalized; the message says
 * why), XANES_ENOMEM. */
xanes_edgemap *xanes_edgemap_alloc(const double *energy_ev, size_t n_energy, size_t nx,
                                   const double *mean_mu, const xanes_edgemap_params *p,
                                   xanes_error *err);
void xanes_edgemap_free(xanes_edgemap *m); /* NULL is a no-op */

/* The resolved normalization (e0, ranges, nnorm, sample ranges) used for
 * every pixel; per-spectrum fields are NaN. */
void xanes_edgemap_describe(const xanes_edgemap *m, xanes_normalize_result *r);

/* G, the noise gain of the edge jump (see above): the jump's standard
 * error for unit white noise on every sample. */
double xanes_edgemap_jump_gain(const xanes_edgemap *m);

/* What happened to the pixels of one run.  n_pixels = n_edge + n_invalid
 * + n_low_jump + n_no_edge. */
typedef struct {
    size_t n_pixels;
    size_t n_edge;     /* edge energy written                                 */
    size_t n_invalid;  /* a non-finite value in the spectrum (alignment
                        * border, dead pixel): every output NaN              */
    size_t n_low_jump; /* failed the gate: jump <= 0 or jump/noise too small */
    size_t n_no_edge;  /* passed the gate but no edge found in the window, or
                        * a zero edge step                                  */
} xanes_edgemap_counts;

/* Computes rows [y0, y1) of the maps of stack [n_energy][ny][nx] (float
 * absorbance, NaN = invalid; n_energy and nx as given to alloc).  Writes
 * edge_ev, jump and noise, each [(y1-y0)][nx] floats, caller-owned; jump
 * or noise may be NULL.  edge_ev is NaN where rejected; jump and noise are
 * written for every pixel whose spectrum is finite (the jump map also feeds
 * segmentation), NaN otherwise.  *counts is overwritten with this run's counts
 * (counts may be NULL).  One pass over the rows (each row of every frame is
 * read once, 64 pixels at a time in vector lanes), OpenMP over rows, no
 * allocation; results do not depend on the thread count.  Returns
 * XANES_EINVAL (NULL, nx or n_energy differ from alloc, bad row range).
 * Not thread-safe on one object (it uses the object's scratch). */
xanes_status xanes_edgemap_run(xanes_edgemap *m, const float *stack, size_t n_energy, size_t ny,
                               size_t nx, size_t y0, size_t y1, float *edge_ev, float *jump,
                               float *noise, xanes_edgemap_counts *counts, xanes_error *err);

#endif
