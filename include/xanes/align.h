/* align.h: drift alignment of the energy frames of a TXM-XANES stack.
 *
 * Each frame is registered on one reference image by phase correlation
 * (FFTW, single precision), refined to sub-pixel precision by a local
 * upsampled DFT around the correlation peak (Guizar-Sicairos, Thurman &
 * Fienup 2008, Opt. Lett. 33:156; the method of
 * skimage.registration.phase_cross_correlation), then resampled in place by
 * separable bicubic interpolation.  Pixels that a shift leaves without data
 * become NaN (no wrap-around).
 *
 * Sign convention (the skimage one): shift_px[k] = (dy, dx) is the
 * displacement to APPLY to frame k to register it on the reference.  A frame
 * whose content drifted by (+2, -1) px gets shift (-2, +1).  Shifts are
 * relative to the reference image: with XANES_ALIGN_REF_FRAME the reference
 * frame gets exactly (0, 0); an averaged reference is built in register with
 * its pivot frame (see xanes_align_estimate), so the shifts are relative to
 * that frame up to a few 0.01 px.  Differences between frames are what the
 * estimate guarantees (tested on analytic drifted stacks: 0.015 px rms
 * noise-free, 0.03 at 3000 counts, 0.04 at 300).
 *
 * Memory: the object holds the reference spectrum (one complex half frame)
 * and, per OpenMP thread, one full frame, three binned frames (one real,
 * two complex half frames) and, with bin >= 2, ny x nx/bin floats of
 * scratch, all allocated by xanes_align_alloc.  The stack itself is never
 * copied; xanes_align_apply modifies it in place.  While
 * xanes_align_estimate runs with bin >= 2, it keeps every frame binned and
 * windowed (1/bin^2 of the stack, 1/16 at the default), because the
 * averaged frames are read three times.
 */
#ifndef XANES_ALIGN_H
#define XANES_ALIGN_H

#include <stddef.h>

#include "xanes/status.h"

typedef enum {
    /* Mean of the frames in the post-edge part of the energy range (the
     * default): above the edge every particle absorbs strongly, so the
     * reference has the most contrast, and it averages several frames' noise. */
    XANES_ALIGN_REF_POST_EDGE = 0,
    /* Mean of all frames: keeps contrast across the edge too, at the price of
     * mixing pre-edge frames where particles are faint. */
    XANES_ALIGN_REF_SUM,
    /* One frame, params.ref_frame. */
    XANES_ALIGN_REF_FRAME
} xanes_align_ref;

typedef struct {
    xanes_align_ref reference;
    size_t ref_frame; /* frame index for XANES_ALIGN_REF_FRAME */
    /* Frames with energy_ev >= post_edge_min_ev form the post-edge mean.  When
     * NaN (the default) the post-edge part is the top post_edge_fraction of
     * the energy range [min, max] (default 1/3: for a Ni K-edge scan of
     * 8300..8400 eV that is >= 8367 eV, well above the 8340..8350 eV edge). */
    double post_edge_min_ev;
    double post_edge_fraction;
    /* Frames are binned bin x bin before correlating (1 = full size).  The
     * default 4 makes the transforms 16x cheaper and averages shot noise; the
     * features that carry the registration (particles, tens of px) survive,
     * and the sub-pixel refinement keeps its precision in full-size pixels
     * (measured, see pipeline/align.c).  Frames too small for it are binned
     * less, so that the binned frame keeps at least 64 px a side. */
    size_t bin;
    /* Sub-pixel refinement: the correlation is evaluated on a grid of
     * 1/upsample (binned) pixels over +-0.75 binned px around the integer
     * peak, then a parabola through the best grid point and its neighbours
     * gives the final position.  Default 8 (4, 6, 10, 20 and 40 gave the
     * same rms errors to 0.002 px on the test stacks: the parabola removes
     * the grid quantisation, and the local DFT costs O(upsample)). */
    size_t upsample;
    /* Tukey window against the wrap-around edges of the FFT: the fraction of
     * each axis that is tapered (0 = rectangular, 1 = Hann).  Default 0.5. */
    double window_alpha;
    /* Whitening exponent p of the cross-power spectrum R = F G* / |F G*|^p:
     * 1 = pure phase correlation (sharpest peak), 0 = plain cross-correlation
     * (broad peak).  Default 0.5 (see pipeline/align.c for the measurements
     * that chose it). */
    double whiten;
    /* A frame is alignable when its correlation peak stands out of the
     * correlation surface by at least min_peak_z standard deviations.  Pure
     * noise tops out near sqrt(2 ln N), N the binned pixels (4.7 for 64^2);
     * on the test stacks (256^2 frames binned to 64^2) textured frames
     * scored 17..28 and a featureless noise frame 4.  Default 10. */
    double min_peak_z;
} xanes_align_params;

/* Fills p with the defaults documented above. */
void xanes_align_default_params(xanes_align_params *p);

typedef struct xanes_align xanes_align;

/* Creates an aligner for frames of ny x nx pixels (row-major, frame[y*nx+x])
 * with parameters p (NULL = defaults, copied).  Plans the FFTs once (under
 * the process-wide lock `#pragma omp critical(xanes_fftw_planner)`, which
 * every FFTW planner call in libxanes must share, as FFTW's planner is not
 * thread-safe) and allocates the
 * scratch of omp_get_max_threads() threads.  Returns NULL on failure with
 * err set: XANES_EINVAL (frame smaller than 8 x 8 pixels, bad
 * parameter), XANES_ENOMEM, XANES_EFAIL (FFTW could not plan).  Thread-safe. */
xanes_align *xanes_align_alloc(size_t ny, size_t nx, const xanes_align_params *p, xanes_error *err);

/* Releases everything; NULL is a no-op.  Thread-safe for distinct objects. */
void xanes_align_free(xanes_align *a);

/* Estimates the shift of every frame of stack [n_energy][ny][nx] (absorbance
 * or any intensity-like image; NaN pixels allowed: for the correlation only,
 * runs of NaN are filled by linear interpolation along their row, and rows
 * without a finite pixel count as the frame mean; a constant fill would be
 * a sharp fixed feature that pulls every frame towards zero shift).
 * energy_ev [n_energy] chooses the
 * post-edge frames of the reference.  With an averaged reference (post-edge
 * or sum) the frames to average are first registered on one of them (the
 * one nearest the middle of their energy range), averaged in register, and
 * then every frame is registered on that mean; a frame that is part of the
 * mean is compared with the mean of the others (leave-one-out), so its own
 * noise does not pull its estimate.  With bin >= 2 (either reference) every
 * frame is then binned again as if resampled by its shift and registered on
 * the reference made the same way, near zero only, and the residual is
 * added: binning samples the scene at a phase that follows the drift,
 * which biased the binned registration periodically in the shift (0.04 px
 * at bin 2, noise-free).  Cost: one registration per frame plus one per
 * averaged frame, and with bin >= 2 one more read of the stack and a local
 * registration per frame.
 * Writes shift_px [n_energy][2] = (dy, dx) px (convention above) and
 * frame_ok [n_energy] (1 = aligned, 0 = flat, featureless or a peak below
 * min_peak_z: its shift is written as 0, 0 so that xanes_align_apply leaves
 * it untouched).  frame_ok may be NULL.
 * Returns XANES_EINVAL (NULL arrays, n_energy 0, ref_frame out of range,
 * non-finite energy), XANES_EDATA (no frame in the post-edge range, or the
 * reference frame is flat or all NaN).  Runs in parallel over frames; the
 * results do not depend on the thread count.  Not thread-safe on one object
 * (it uses the object's scratch); distinct objects are independent. */
xanes_status xanes_align_estimate(xanes_align *a, const float *stack, size_t n_energy,
                                  const double *energy_ev, double *shift_px,
                                  unsigned char *frame_ok, xanes_error *err);

/* Shifts every frame of stack [n_energy][ny][nx] in place by shift_px
 * [n_energy][2] (dy, dx) with Keys bicubic interpolation (a = -1/2).  An
 * output pixel whose source position (y - dy, x - dx) lies outside
 * [0, ny-1] x [0, nx-1] becomes NaN; inside, taps beyond the frame edge
 * repeat the edge pixel.  A NaN input pixel turns the outputs whose 4 x 4
 * taps touch it into NaN (invalid data spreads, it is never smeared into a
 * number).  Integer shifts copy pixels exactly.  Returns XANES_EINVAL (NULL
 * arrays, non-finite shift or |shift| >= the frame size).  Parallel over
 * frames; same object-level thread-safety as xanes_align_estimate. */
xanes_status xanes_align_apply(xanes_align *a, float *stack, size_t n_energy,
                               const double *shift_px, xanes_error *err);

#endif
