/* segment.h: stage 5 of `xanes run`, particle mask and labels from the
 * edge-jump map.
 *
 * The edge-jump map (float [ny][nx], row-major, NaN = no data) is smoothed
 * (Gaussian, NaN-aware), thresholded (Otsu by default), cleaned with a binary opening and closing
 * by a disc and a fill of small holes, labelled into connected components, and touching particles
 * are split by a marker-controlled watershed on the Euclidean distance transform.  The result is an
 * int32 label image: 0 = background, 1..N = particles, numbered in raster order of each particle's
 * first pixel (top row first, then left to right), so the numbering is reproducible.
 *
 * Conventions (documented once here):
 *  - foreground is `smoothed jump > threshold` (strictly greater); NaN
 *    pixels are background (holes inside a particle are filled);
 *  - the segmentation needs the whole map (it is not a per-row stage);
 *  - particles are connected components under `connectivity` (8 by default;
 *    4 is allowed); background holes use the complementary connectivity;
 *  - the image border is neutral for the morphology: pixels outside the
 *    image neither erode a particle nor are added by a dilation, so a
 *    particle cut by the field of view keeps its cut edge;
 *  - a map without any finite pixel is an error (XANES_EDATA): it means the
 *    stages before produced nothing, which should not pass as "no particles";
 *  - a constant map gives zero particles and XANES_OK (no_contrast set);
 *  - when Otsu's class means are closer than `otsu_min_contrast` noise
 *    standard deviations (pure noise, or a few small particles in a large
 *    field), the threshold is the median plus `noise_threshold_sigma` noise
 *    standard deviations instead: pure noise then gives zero particles and
 *    XANES_OK; both flags are in xanes_segment_info.
 */
#ifndef XANES_SEGMENT_H
#define XANES_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "xanes/status.h"

typedef enum {
    XANES_THRESHOLD_OTSU = 0, /* Otsu (1979) on a histogram of the finite values */
    XANES_THRESHOLD_VALUE     /* the given threshold_value                       */
} xanes_threshold_method;

typedef struct {
    /* Gaussian sigma applied to the finite jump values before the threshold
     * (NaN-aware), 0 = none, at most 20 (1.0).  Fields of large particles
     * (radius >> 20 px) want more: 3 px gave clean masks on the SSRL 6-2c
     * NCA frames (31 nm pixels, particle radii 30-130 px). */
    double smooth_px;
    xanes_threshold_method threshold_method;
    double threshold_value; /* used with XANES_THRESHOLD_VALUE (units of the jump map)  */
    size_t otsu_bins;       /* histogram bins between min and max finite value (256)    */
    /* Otsu's class means must differ by at least this many noise standard
     * deviations (noise estimated from differences of horizontal neighbours,
     * of the raw map, 1.4826 MAD / sqrt 2, times the noise gain of smooth_px):
     * white noise alone gives 1.6 (2.5; 0 = off). */
    double otsu_min_contrast;
    /* When Otsu's split is refused, the threshold becomes the median of the
     * smoothed map plus this many smoothed-noise standard deviations: a
     * field without particles then yields none (white noise passes 5 sigma
     * once in 3.5 million pixels, and the clean-up removes such specks),
     * while a few particles that are too few for Otsu's classes are still
     * found (5; 0 = zero particles whenever Otsu is refused). */
    double noise_threshold_sigma;
    double opening_radius_px; /* disc radius of the binary opening, 0 = none (1.0) */
    double closing_radius_px; /* disc radius of the binary closing, 0 = none (1.0) */
    size_t max_hole_px;       /* background holes of at most this area are filled (64) */
    int connectivity;         /* 4 or 8 (8)                                            */
    size_t min_area_px;       /* particles smaller than this are dropped (20)          */
    int split_touching;       /* nonzero: watershed split of touching particles (1)    */
    /* Marker rule.  The defaults were chosen on synthetic scenes (discs and
     * ellipses of radius 6-20 px, touching pairs 0.8-1.0 (r1 + r2) apart,
     * noise 0.1 and 0.4 of the jump) with seeds other than those of the tests. */
    double distance_smooth_px; /* Gaussian sigma applied to the distance map before the
                                * marker search, 0 = none (0.5)                        */
    /* A distance maximum seeds a particle only if its dynamic (the descent
     * needed to reach a higher maximum) is at least h_maxima_px (0.3) and at
     * least h_relative (0 = off) times its own height: the absolute part is
     * the h-maxima rule (Soille 2003 sec. 6.3.4) against pixel-grid bumps;
     * the relative part can keep ragged outlines of large particles from
     * seeding, at the cost of unsplit pairs of very unequal size. */
    double h_maxima_px;
    double h_relative;
    double min_marker_distance_px; /* markers of one blob whose centroids are closer than
                                    * this are merged into one particle: below the
                                    * smallest particle radius of interest (6; 0 = off) */
} xanes_segment_params;

/* Fills p with the defaults given in the comments above. */
void xanes_segment_default_params(xanes_segment_params *p);

/* What the segmentation did, for the report and for the log. */
typedef struct {
    double threshold;       /* threshold used (Otsu's or the given value)               */
    double otsu_contrast;   /* (mu1 - mu0) / (noise_sigma x smoothing gain), NaN unused */
    double noise_sigma;     /* noise estimate of the jump map (its units), NaN unused  */
    int no_contrast;        /* nonzero: Otsu's split was refused (or the map is constant) */
    int noise_threshold;    /* nonzero: the threshold is median + k noise (see params)  */
    size_t n_finite_px;     /* finite pixels of the jump map                            */
    size_t n_mask_px;       /* pixels carrying a label in the output                    */
    size_t n_components;    /* connected components before splitting and area filter   */
    size_t n_split;         /* extra particles created by the watershed split          */
    size_t n_removed_small; /* objects dropped (or fragments merged) for min_area_px   */
    size_t n_labels;        /* particles in the output, labels 1..n_labels             */
} xanes_segment_info;

/* Segments the edge-jump map jump[ny * nx] into labels[ny * nx] (caller-owned,
 * written completely: 0 background, 1..info->n_labels particles).  info may be
 * NULL; params NULL means the defaults.
 * Returns XANES_EINVAL (NULL arrays, ny or nx zero, bad params: connectivity
 * not 4/8, a negative radius or smoothing, smooth_px > 20, otsu_bins < 2,
 * non-finite threshold_value, h_relative outside [0, 1)),
 * XANES_EDATA (no finite pixel in the map), XANES_ENOMEM.  On error labels
 * is all zero.  Allocates about 80 bytes per pixel of scratch internally;
 * thread-safe (no shared state); the smoothing runs OpenMP over rows, and the
 * result does not depend on the thread count. */
xanes_status xanes_segment_run(const float *jump, size_t ny, size_t nx,
                               const xanes_segment_params *params, int32_t *labels,
                               xanes_segment_info *info, xanes_error *err);

/* Otsu's threshold of the finite values of x[n] with `bins` histogram bins
 * between their minimum and maximum: the upper edge of the last bin of the
 * lower class that maximises the between-class variance (when empty bins make
 * a plateau of equal maxima, the middle of the plateau).  class_mean (may be
 * NULL) receives the means of the lower and upper class, from the bin
 * centres.  Returns XANES_EINVAL (NULL, bins < 2), XANES_EDATA (no finite
 * value, or all finite values equal: *threshold is then that value).
 * Thread-safe. */
xanes_status xanes_segment_otsu(const float *x, size_t n, size_t bins, double *threshold,
                                double class_mean[2], xanes_error *err);

/* Exact squared Euclidean distance transform: for every pixel, out[ny * nx]
 * receives the squared distance in px^2 to the nearest pixel with
 * target[p] != 0, or 1e20 when there is none.  Column distances by a forward
 * and backward scan (Meijster et al. 2000, phase 1), then the rows by the
 * lower envelope of parabolas of Felzenszwalb & Huttenlocher (Theory of
 * Computing 8 (2012) 415, doi:10.4086/toc.2012.v008a019).  dscratch must hold
 * 3 * max(ny, nx) + 1 doubles and iscratch max(ny, nx) size_t.  Allocates
 * nothing; thread-safe. */
void xanes_segment_edt_sq(const uint8_t *target, size_t ny, size_t nx, double *out,
                          double *dscratch, size_t *iscratch);

#endif
