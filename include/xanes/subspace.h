/* subspace.h: the spectral subspace of a TXM-XANES stack (principal
 * components of its particle spectra), for denoising averaged spectra.
 *
 * Why.  The edge definition (normalize.h) extrapolates a pre-edge line fitted
 * to a few samples 25-50 eV below the edge and reads one crossing between
 * two samples, so on its own it uses the information of a noisy spectrum
 * poorly: on simulated NCM particles at 300 counts its edge scatters about
 * 4x the Cramer-Rao bound of a shift.  The spectra of one sample are
 * a background line in energy + thickness x (a one-parameter family of Ni
 * spectra), so they span a few dimensions; projecting a particle's averaged
 * spectrum onto the leading components of all particle pixels (the PCA
 * denoising of TXM-XANES tools such as TXM-Wizard and PyXAS) removes the
 * noise outside that subspace before the same edge definition is applied.
 * Noise-free spectra inside the subspace are unchanged.
 *
 * Model.  The subspace is linear (through zero, not about a mean) and always
 * holds the lines a + b E: the edge definition does not see an added line
 * (pre- and post-edge lines absorb it), so the line of a spectrum is kept
 * as it is and only what remains is modelled.  The components are those of
 * the spectra with their least-squares line removed, uncentred, so
 * thickness is a scale (one direction: the mean Ni shape) and the state of
 * charge the next.  Against centred components of the raw spectra this
 * removes a systematic error of the projected edges: on simulated NCM
 * stacks (10^4 counts, 108 particles, truth labels) the worst particle
 * 0.16 -> 0.06 eV and the rms 0.034 -> 0.020 eV, because the centred model
 * spends components on the background and on thickness x shape products.
 *
 * Algorithm.  Labelled pixels whose spectra are finite are averaged in
 * block_px x block_px blocks (a block needs half its pixels), which lowers
 * the noise of each sample so the components stand clear of it; each block
 * spectrum loses its least-squares line, and the count-weighted second
 * moment of what remains (energies x energies) is diagonalised with GSL
 * (gsl_eigen_symmv).  It keeps the k components whose eigenvalues exceed
 * noise_margin times the Marchenko-Pastur upper edge
 * sigma^2 n (1 + sqrt(p/n))^2 of p = n_energy - 2 dimensional white noise
 * over n blocks, with sigma^2 n estimated by the median of the lower half of
 * the eigenvalues (the noise bulk); the rank is 2 (the line) + k, clamped
 * to [min_rank, max_rank].  Sums run in fixed chunks of block rows, added
 * in order, so the result does not depend on the thread count.  Sizes: up
 * to 4x10^6 pixels, 20-200 energies.
 */
#ifndef XANES_SUBSPACE_H
#define XANES_SUBSPACE_H

#include <stddef.h>
#include <stdint.h>

#include "xanes/status.h"

typedef struct {
    size_t block_px;              /* side of the averaged blocks, 2 */
    size_t min_rank;              /* 4: the line, the shape and the state of charge
                                     (at least 3) */
    size_t max_rank;              /* 8 (at most 16) */
    double noise_margin;          /* 1.5: eigenvalue / Marchenko-Pastur edge to keep */
    size_t min_blocks_per_energy; /* 4: fewer blocks than 4 x energies and the
                                     covariance is too noisy: rank 0 (no
                                     projection) */
    double means_margin;          /* 1.5: eigenvalue / Marchenko-Pastur edge to keep,
                                     for xanes_subspace_fit_means */
    size_t min_means;             /* 6: fewer averaged spectra: rank 0 */
} xanes_subspace_params;

void xanes_subspace_default_params(xanes_subspace_params *p);

typedef struct xanes_subspace xanes_subspace;

/* Fits the subspace of stack [n_energy][ny][nx] (absorbance, energies
 * energy_ev[n_energy] in eV) over the pixels with labels[y*nx+x] > 0.
 * p NULL = defaults.  *out is new (free with
 * xanes_subspace_free); its rank is 0 when there are too few blocks or no more
 * energies than min_rank, and then xanes_subspace_project copies its input.
 * Returns XANES_EINVAL (NULL arguments, n_energy < 3, empty map,
 * non-finite or all-equal energies, bad params: block_px 0, min_rank < 3 or
 * > max_rank, max_rank > 16, noise_margin not > 0),
 * XANES_EDATA (the eigen-solver failed: message says so), XANES_ENOMEM.
 * Uses OpenMP over block rows; thread-count independent. */
xanes_status xanes_subspace_fit(const float *stack, const double *energy_ev, size_t n_energy,
                                size_t ny, size_t nx, const int32_t *labels,
                                const xanes_subspace_params *p, xanes_subspace **out,
                                xanes_error *err);

/* The subspace of n_means averaged spectra means[n_means][n_energy] (e.g.
 * the particles' averaged spectra, row l averaged over count[l] pixels),
 * for projecting those same spectra.  The model is that of
 * xanes_subspace_fit (lines kept, components of the rest, uncentred), the
 * moment weighted by count; a component is kept when its eigenvalue exceeds
 * means_margin x noise_var (sqrt n + sqrt(n_energy - 2))^2, the
 * Marchenko-Pastur edge of n count-weighted means of white noise with
 * per-pixel variance noise_var (xanes_subspace_noise_var of the block
 * subspace of the same stack), at most one component per two means.
 * Why: within-particle noise averages out in the means, so the components
 * that separate particles (the state of charge and how the spectrum bends
 * with it) stand far clearer of the noise than among 2 x 2 blocks, and
 * alignment jitter at particle rims, which dominates the blocks' weaker
 * components, averages out too.  In `xanes run` on 48 simulated drifted
 * stacks at 10^4 counts (432 particles) the averaged-spectrum edges had
 * 0.028 eV rms error against 0.031 eV with the block components, and 32
 * particles off by more than 0.05 eV against 39.  With few, noisy means
 * (300 counts) the component between them also fits their own noise, and
 * it did worse than the block components there; xanes run uses it only
 * when the jump map is not noise-limited.
 * Means with a zero count or a non-finite value are skipped; fewer than
 * min_means usable means, no more energies than min_rank, or a noise_var
 * that is not positive give rank 0 (xanes_subspace_project copies).
 * xanes_subspace_n_blocks reports the means used.  Returns XANES_EINVAL
 * (NULL arguments, n_energy < 3, non-finite or all-equal energies, bad
 * params), XANES_EDATA (eigen-solver), XANES_ENOMEM. */
xanes_status xanes_subspace_fit_means(const double *means, const size_t *count, size_t n_means,
                                      const double *energy_ev, size_t n_energy, double noise_var,
                                      const xanes_subspace_params *p, xanes_subspace **out,
                                      xanes_error *err);

void xanes_subspace_free(xanes_subspace *s); /* NULL is a no-op */

/* Dimension of the subspace: 2 (the line) + the components kept; 0: no
 * projection. */
size_t xanes_subspace_rank(const xanes_subspace *s);

/* Number of blocks the covariance was built from. */
size_t xanes_subspace_n_blocks(const xanes_subspace *s);

/* Eigenvalue j (descending, j < n_energy) of the weighted second moment of
 * the block spectra less their lines (the last two are rounding), and the
 * noise threshold the components were chosen with (same units). */
double xanes_subspace_eigenvalue(const xanes_subspace *s, size_t j);
double xanes_subspace_threshold(const xanes_subspace *s);

/* Per-pixel noise variance of the absorbance (per energy, averaged over
 * energies): for a block fit, the noise bulk over the blocks; for a means
 * fit, the value it was given.  NaN for a rank-0 block fit. */
double xanes_subspace_noise_var(const xanes_subspace *s);

/* Lent views: the weighted mean of the block spectra [n_energy] (a
 * representative spectrum of the particles) and the basis [rank][n_energy]
 * (orthonormal rows, the line's two first; NULL when the rank is 0), valid
 * until xanes_subspace_free. */
size_t xanes_subspace_n_energy(const xanes_subspace *s);
const double *xanes_subspace_mean_view(const xanes_subspace *s);
const double *xanes_subspace_basis_view(const xanes_subspace *s);

/* out = V V^T in (V the basis): in and out are [n_energy] (may alias).
 * Pure, no allocation, thread-safe. */
void xanes_subspace_project(const xanes_subspace *s, const double *in, double *out);

#endif
