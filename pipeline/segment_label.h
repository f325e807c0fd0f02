/* segment_label.h: connected components, hole filling and raster
 * renumbering for the segmentation stage (segment.c, watershed.c).
 * Private to pipeline/, not installed. */
#ifndef XANES_SEGMENT_LABEL_H
#define XANES_SEGMENT_LABEL_H

#include <stddef.h>
#include <stdint.h>

#include "xanes/status.h"

/* Labels the connected components of the pixels with sel[p] == want under
 * connectivity conn (4 or 8) into comp[ny*nx] (1..N in raster order of each
 * component's first pixel, 0 elsewhere); queue is [ny*nx] scratch.  Returns
 * N.  Bands of rows in parallel, thread-count independent. */
size_t seg_label_components(const uint8_t *sel, uint8_t want, size_t ny, size_t nx, int conn,
                            int32_t *comp, size_t *queue);

/* Fills the background holes of mask (components of background under the
 * complementary connectivity of conn) of at most max_px pixels that do not
 * touch the border.  comp_scratch [ny*nx] and queue [ny*nx] are scratch.
 * XANES_ENOMEM on allocation failure. */
xanes_status seg_fill_holes(uint8_t *mask, size_t ny, size_t nx, int conn, size_t max_px,
                            int32_t *comp_scratch, size_t *queue, xanes_error *err);

/* Renumbers the regions in reg (ids 1..n_ids, 0 background) to 1..N in
 * raster order of their first pixel, dropping regions under min_px; writes
 * labels and returns N.  map and area hold n_ids entries; *n_dropped counts
 * the dropped regions. */
size_t seg_relabel_raster(const int32_t *reg, size_t n, size_t n_ids, size_t min_px,
                          int32_t *labels, int32_t *map, size_t *area, size_t *n_dropped);

#endif
