/* footprint.h: each particle's footprint for its averaged spectrum -- the
 * segmented label grown into the surrounding background.
 *
 * Why.  The mask comes from thresholding the (smoothed) edge-jump map, and
 * the jump is a linear function g . mu of each pixel's own spectrum.  Near
 * the threshold, pixels whose noise raised their jump are kept and those
 * whose noise lowered it are dropped, so the kept pixels' noise has a mean
 * along g: a raised post-edge and lowered pre-edge, which moves the
 * normalized half crossing early.  On simulated 128^2 NCM stacks at 300
 * counts, where the masks of thin particles shrink to half their area, the
 * averaged spectra of the masks came out 0.45 eV early on average (up to
 * 1.7 eV); grown by 1, 2, 3 and 4 px the bias was -0.34, -0.18, -0.06 and
 * -0.01 eV.  Growing the label takes in the rim pixels whether their noise
 * was favourable or not, so the footprint no longer depends on it; pixels
 * outside the particle add noise and a linear background, which the edge
 * definition removes, but no bias.
 *
 * Rule.  A background pixel (label 0) within radius_px (Euclidean, pixel
 * centres) of pixels of exactly one label takes that label; within reach of
 * two or more labels it stays background (the gap between two particles
 * holds both their rims); labelled pixels keep theirs, so touching
 * particles keep their split.  NaN handling is the caller's (spectra with a non-finite
 * value are skipped when averaging).
 */
#ifndef XANES_FOOTPRINT_H
#define XANES_FOOTPRINT_H

#include <stddef.h>
#include <stdint.h>

#include "xanes/status.h"

/* Largest radius accepted, px. */
#define XANES_FOOTPRINT_MAX_PX 20.0

/* Writes the grown labels of labels [ny*nx] into out [ny*nx] (caller-owned,
 * must not alias labels).  radius_px in [0, XANES_FOOTPRINT_MAX_PX]; 0
 * copies.  Returns XANES_EINVAL (NULL, empty map, aliasing, radius out of
 * range: the message gives it).  O(ny nx (2r+1)^2), OpenMP over rows,
 * thread-count independent. */
xanes_status xanes_footprint_grow(const int32_t *labels, size_t ny, size_t nx, double radius_px,
                                  int32_t *out, xanes_error *err);

#endif
