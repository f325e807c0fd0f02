/* denoise.h: the edge map of the particle pixels recomputed from their
 * spectra projected onto the stack's spectral subspace (subspace.h).
 *
 * Why.  A single pixel's edge is noisy, and the first-crossing edge of a
 * noisy spectrum is biased early, which is why edgemap.h gates pixels by
 * jump over noise and still leaves the rim of every particle (thin, low
 * jump) either rejected or biased: on simulated NCM stacks at 10^4 counts the
 * mean of the raw pixel edges of a particle is 0.5 eV early without the gate
 * and up to 0.3 eV off with it.  Projected onto the few components that the
 * particle spectra share, a pixel's spectrum keeps its signal and loses most
 * of its noise, so the same edge definition gives pixel maps whose particle
 * means agree with the particle's averaged-spectrum edge (0.03-0.04 eV rms
 * in the same test).  This is the PCA denoising TXM-XANES users know from
 * TXM-Wizard and PyXAS, done with the stack's own components.
 *
 * The gate, after projection.  The projected jump is g . P y for the jump
 * functional g of the edge definition and P = V V^T the projector, so its
 * standard error is sigma ||P g||, sigma being
 * the pixel's per-sample noise (the pre-edge RMS of its raw spectrum, which
 * edgemap.h's noise map gives as noise / max(1, ||g||)).  A pixel keeps its
 * edge when jump > 0 and jump >= min_jump_over_noise * sigma ||P g||: the
 * rule of edgemap.h with the noise of what is actually crossed.
 */
#ifndef XANES_DENOISE_H
#define XANES_DENOISE_H

#include <stddef.h>
#include <stdint.h>

#include "xanes/edgemap.h"
#include "xanes/normalize.h"
#include "xanes/status.h"
#include "xanes/subspace.h"

/* What the projected gate did, and the noise gains behind it. */
typedef struct {
    xanes_edgemap_counts counts; /* over the labelled pixels only              */
    double jump_gain_raw;        /* ||g||                                       */
    double jump_gain_projected;  /* ||P g||                                     */
} xanes_denoise_info;

/* For every pixel with labels > 0 of stack [n_energy][ny][nx] (absorbance):
 * projects its spectrum onto sub, normalizes it with the edge definition
 * norm (e0, windows and nnorm explicit, as resolved for the raw edge map;
 * built into one fixed-grid plan on energy_ev) and overwrites edge_ev[y*nx+x]
 * with the half-height (method HALF) or derivative edge, NaN when the gate
 * above rejects it.  noise [ny*nx] is edgemap.h's raw noise map (read only).
 * Pixels outside the labels are not touched.  A subspace of rank 0 leaves
 * the raw map as it is (counts all zero).
 * Returns XANES_EINVAL (NULL arguments, size mismatch with the subspace),
 * XANES_EDATA (the plan cannot be built on this grid, or the subspace mean
 * has no edge), XANES_ENOMEM.  OpenMP over rows, per-thread scratch,
 * thread-count independent. */
xanes_status xanes_denoise_edgemap(const xanes_subspace *sub, const double *energy_ev,
                                   size_t n_energy, const xanes_normalize_params *norm,
                                   xanes_edgemap_method method, double min_jump_over_noise,
                                   const float *stack, size_t ny, size_t nx, const int32_t *labels,
                                   const float *noise, float *edge_ev, xanes_denoise_info *info,
                                   xanes_error *err);

#endif
