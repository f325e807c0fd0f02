/* segment_label.c: connected-component labelling (union-find over bands of
 * rows, joined across band borders, roots at each component's first pixel
 * so the numbering is raster order whatever the thread count), filling of
 * small background holes, and renumbering of regions in raster order, for
 * the segmentation stage (segment.c, segment_label.h).  Moved out of
 * segment.c, which had grown past one stage's size; no change of
 * behaviour. */
#include "segment_label.h"

#include <stdlib.h>
#include <string.h>

#include <omp.h>

/* Root of p in a union-find forest whose links always point to a smaller
 * index (so a root is its component's first pixel in raster order); path
 * halving. */
static size_t uf_root(size_t *parent, size_t p)
{
    while (parent[p] != p) {
        parent[p] = parent[parent[p]];
        p = parent[p];
    }
    return p;
}

static void uf_join(size_t *parent, size_t a, size_t b)
{
    a = uf_root(parent, a);
    b = uf_root(parent, b);
    if (a < b)
        parent[b] = a;
    else if (b < a)
        parent[a] = b;
}

/* Joins pixel p = (y, x) to its selected neighbours in the row above
 * (y - 1 >= top) and on its left. */
static void join_back(const uint8_t *sel, uint8_t want, size_t nx, int conn, size_t y, size_t x,
                      size_t top, size_t *parent)
{
    const size_t p = y * nx + x;
    if (x > 0 && sel[p - 1] == want)
        uf_join(parent, p, p - 1);
    if (y == top)
        return;
    if (sel[p - nx] == want)
        uf_join(parent, p, p - nx);
    if (conn == 8) {
        if (x > 0 && sel[p - nx - 1] == want)
            uf_join(parent, p, p - nx - 1);
        if (x + 1 < nx && sel[p - nx + 1] == want)
            uf_join(parent, p, p - nx + 1);
    }
}

/* Labels the connected components of {p : sel[p] == want} under conn into
 * lab (0 elsewhere), numbered 1.. in raster order of their first pixel;
 * returns the count.  Union-find: each thread joins the pixels of its own
 * band of rows, the bands are then stitched along their borders, and one
 * raster pass numbers the roots (each component's first pixel) and labels
 * every pixel by its root, so the labels are those of a raster-order flood
 * fill whatever the number of threads.  parent holds ny * nx indices. */
size_t seg_label_components(const uint8_t *sel, uint8_t want, size_t ny, size_t nx, int conn,
                            int32_t *lab, size_t *parent)
{
    const size_t n = ny * nx;
    size_t team = 1;
#pragma omp parallel default(none) shared(sel, parent, team) firstprivate(want, ny, nx, conn)
    {
        /* Bands by the team's real size, which the stitching below needs. */
        const size_t t = (size_t)omp_get_thread_num(), nt = (size_t)omp_get_num_threads();
        if (t == 0)
            team = nt;
        const size_t y0 = ny * t / nt, y1 = ny * (t + 1) / nt;
        for (size_t y = y0; y < y1; y++)
            for (size_t x = 0; x < nx; x++) {
                const size_t p = y * nx + x;
                parent[p] = p;
                if (sel[p] == want)
                    join_back(sel, want, nx, conn, y, x, y0, parent);
            }
    }
    /* Stitch each band to the one above it. */
    for (size_t t = 1; t < team; t++) {
        const size_t y = ny * t / team;
        if (y == 0 || y >= ny)
            continue;
        for (size_t x = 0; x < nx; x++)
            if (sel[y * nx + x] == want)
                join_back(sel, want, nx, conn, y, x, 0, parent);
    }
    /* In raster order every earlier pixel already points at its root, and
     * a pixel's parent is earlier (or itself): one step reaches the root. */
    int32_t nl = 0;
    for (size_t p = 0; p < n; p++) {
        if (sel[p] != want) {
            lab[p] = 0;
            continue;
        }
        parent[p] = parent[parent[p]];
        lab[p] = parent[p] == p ? ++nl : lab[parent[p]];
    }
    return (size_t)nl;
}

/* Fills background components (complementary connectivity) of at most
 * max_px pixels that do not touch the image border. */
xanes_status seg_fill_holes(uint8_t *mask, size_t ny, size_t nx, int conn, size_t max_px,
                            int32_t *comp_scratch, size_t *queue, xanes_error *err)
{
    size_t n = ny * nx;
    size_t nh = seg_label_components(mask, 0, ny, nx, conn == 8 ? 4 : 8, comp_scratch, queue);
    size_t *area = calloc(nh + 1, sizeof *area);
    uint8_t *border = calloc(nh + 1, 1);
    xanes_status st = XANES_OK;
    if (area == NULL || border == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM, "segment: cannot allocate %zu hole records", nh);
        goto done;
    }
    /* Rows and columns by loops, not by dividing every index. */
    const int32_t *comp = comp_scratch;
    for (size_t y = 0; y < ny; y++) {
        const int32_t *row = comp + y * nx;
        for (size_t x = 0; x < nx; x++)
            area[row[x]]++;
        border[row[0]] = border[row[nx - 1]] = 1;
        if (y == 0 || y + 1 == ny)
            for (size_t x = 0; x < nx; x++)
                border[row[x]] = 1;
    }
#pragma omp parallel for schedule(static) default(none) shared(mask, comp, area, border)           \
    firstprivate(n, max_px)
    for (size_t p = 0; p < n; p++) {
        int32_t c = comp[p];
        if (c != 0 && !border[c] && area[c] <= max_px)
            mask[p] = 1;
    }
done:
    free(area);
    free(border);
    return st;
}

/* Renumbers the regions in reg (ids 1..n_ids, 0 background) to 1..N in
 * raster order of their first pixel, dropping regions under min_px; writes
 * labels and returns N.  map and area hold n_ids entries. */
size_t seg_relabel_raster(const int32_t *reg, size_t n, size_t n_ids, size_t min_px,
                          int32_t *labels, int32_t *map, size_t *area, size_t *n_dropped)
{
    memset(map, 0, n_ids * sizeof *map);
    memset(area, 0, n_ids * sizeof *area);
    for (size_t p = 0; p < n; p++)
        if (reg[p] != 0)
            area[reg[p] - 1]++;
    int32_t nl = 0;
    for (size_t p = 0; p < n; p++) {
        int32_t r = reg[p];
        if (r == 0 || map[r - 1] != 0)
            continue;
        if (area[r - 1] < min_px) {
            map[r - 1] = -1;
            (*n_dropped)++;
        } else {
            map[r - 1] = ++nl;
        }
    }
#pragma omp parallel for schedule(static) default(none) shared(reg, labels, map) firstprivate(n)
    for (size_t p = 0; p < n; p++)
        labels[p] = reg[p] == 0 || map[reg[p] - 1] < 0 ? 0 : map[reg[p] - 1];
    return (size_t)nl;
}
