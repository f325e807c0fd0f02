/* watershed.h: private helpers of the segment stage (not installed).
 *
 * The pieces of the touching-particle split that segment.c strings together:
 * neighbour enumeration, Gaussian smoothing of the distance map, h-maxima
 * markers, and the marker-controlled watershed.  All work on caller-owned
 * scratch and allocate nothing.
 */
#ifndef XANES_PIPELINE_WATERSHED_H
#define XANES_PIPELINE_WATERSHED_H

#include <stddef.h>
#include <stdint.h>

#include "xanes/status.h"

/* Writes the in-image neighbours of pixel p (row-major, ny x nx) under 4- or
 * 8-connectivity into out[] and returns how many there are. */
static inline size_t seg_neighbours(size_t p, size_t ny, size_t nx, int conn, size_t out[8])
{
    size_t y = p / nx, x = p % nx, n = 0;
    int up = y > 0, down = y + 1 < ny, left = x > 0, right = x + 1 < nx;
    if (up)
        out[n++] = p - nx;
    if (down)
        out[n++] = p + nx;
    if (left)
        out[n++] = p - 1;
    if (right)
        out[n++] = p + 1;
    if (conn == 8) {
        if (up && left)
            out[n++] = p - nx - 1;
        if (up && right)
            out[n++] = p - nx + 1;
        if (down && left)
            out[n++] = p + nx - 1;
        if (down && right)
            out[n++] = p + nx + 1;
    }
    return n;
}

/* One entry of the flooding queue: higher priority first, then lower seq
 * (first in, first out among equals, which makes the flooding deterministic). */
typedef struct {
    double priority;
    size_t seq;
    size_t index;
} seg_heap_item;

/* The pixels of a labelling's components 1..n, grouped: component c owns
 * pix[start[c] .. start[c+1]) in raster order (start[0] = start[1] = 0,
 * start has n + 2 entries).  Lets the sweeps below run one component per
 * thread. */
typedef struct {
    size_t n;
    const size_t *start;
    const size_t *pix;
} seg_components;

/* xanes_segment_edt_sq with nthr threads (OpenMP): columns in strips, rows
 * shared out, the same values as with one.  dscratch holds nthr * (3 *
 * max(ny, nx) + 1) doubles, iscratch nthr * max(ny, nx) indices. */
void seg_edt_sq(const uint8_t *target, size_t ny, size_t nx, double *out, double *dscratch,
                size_t *iscratch, int nthr);

/* In-place separable Gaussian smoothing of img[ny * nx] with standard
 * deviation sigma_px (kernel cut at 3 sigma, edges replicated); tmp holds
 * ny * nx doubles.  sigma_px <= 0 leaves img unchanged. */
void seg_gaussian_smooth(double *img, size_t ny, size_t nx, double sigma_px, double *tmp);

/* Factor by which seg_gaussian_smooth with sigma_px scales the standard
 * deviation of white noise (away from edges and NaN); 1 for sigma_px <= 0. */
double seg_gaussian_noise_gain(double sigma_px);

/* Markers of the significant maxima of f inside mask: each maximum whose
 * dynamic (descent needed to reach a higher maximum through the mask,
 * 8-connected) is > 0, >= h and >= h_rel * its value, plus the highest
 * maximum of every connected part of the mask.  markers[ny * nx] receives 0
 * or ids 1..M at the single peak pixel of each (raster order); returns M.
 * cc, when not NULL, are the 8-connected components of the mask: then each
 * is swept on its own, in parallel, with the same result.  Scratch: order
 * (ny * nx items), parent and peak (ny * nx size_t each), keep (ny * nx
 * bytes).  Ties in f are broken by pixel index, so the result is
 * deterministic and does not depend on the thread count. */
size_t seg_dynamic_markers(const double *f, const uint8_t *mask, size_t ny, size_t nx, double h,
                           double h_rel, const seg_components *cc, seg_heap_item *order,
                           size_t *parent, size_t *peak, uint8_t *keep, int32_t *markers);

/* Marker-controlled watershed (Meyer flooding, Beucher & Meyer 1993): every
 * unlabelled mask pixel reachable from a marker through the mask takes the
 * label of the neighbour that reached it first, flooding from the highest f
 * downwards (so basins of -f are filled from their minima).  labels[ny * nx]
 * holds the markers on entry and the regions on exit; pixels outside the mask
 * or not connected to any marker keep their value.  cc, when not NULL, are
 * the conn-connected components of the mask: then each is flooded on its
 * own, in parallel, with the same labels.  heap holds ny * nx items. */
void seg_watershed(const double *f, const uint8_t *mask, size_t ny, size_t nx, int conn,
                   const seg_components *cc, int32_t *labels, seg_heap_item *heap);

/* Merges markers (ids 1..nm) of the same component comp[] whose centroids
 * are closer than dmin_px: a merged group takes its smallest id.  Allocates
 * O(nm); XANES_ENOMEM on failure. */
xanes_status seg_merge_close_markers(int32_t *markers, size_t nm, const int32_t *comp, size_t ny,
                                     size_t nx, double dmin_px, xanes_error *err);

/* Regions (ids 1..nr in reg, 0 background) smaller than min_px join the
 * 4-adjacent region they share most border with, smallest first; those with
 * no neighbour are dropped.  Counts them in *n_merged.  Allocates O(n);
 * XANES_ENOMEM on failure. */
xanes_status seg_merge_small_regions(int32_t *reg, size_t nr, size_t ny, size_t nx, size_t min_px,
                                     size_t *n_merged, xanes_error *err);

#endif
