/* watershed.c: distance transform, h-maxima markers and marker-controlled
 * watershed, the tools segment.c uses to split touching particles.
 *
 * Touching particles form one connected blob whose Euclidean distance map (the
 * distance of each foreground pixel to the nearest background pixel) has one
 * hill per particle and a saddle at each neck.  The distance is computed
 * exactly in O(n): column distances by two scans (Meijster et al. 2000),
 * rows by the lower envelope of parabolas of Felzenszwalb and Huttenlocher
 * (Theory of Computing 8 (2012) 415).  Pixel-grid artefacts and ragged
 * outlines put small spurious bumps on each hill, so a maximum seeds a
 * particle only if its dynamic (M. Grimaud, Proc. SPIE 1769 (1992) 292: the
 * depth one must descend from it to reach a higher maximum) is at least h px
 * and at least h_rel times its height; with h_rel = 0 these are the h-maxima
 * markers (Soille, Morphological Image Analysis, 2nd ed. 2003, sec. 6.3.4).
 * The dynamics come from one top-down sweep with a union-find.  From the
 * markers the
 * blob is flooded in order of decreasing distance with a priority queue
 * (Meyer's algorithm, Beucher & Meyer 1993), so every pixel joins the hill it
 * is attached to and the cut falls on the neck.  Two clean-ups complete the
 * split: markers of one blob closer than a minimum distance are merged, and
 * fragments under the minimum area join the neighbour they share the longest
 * border with.  The distance, marker and flooding functions work on
 * caller-owned scratch and allocate nothing.
 */
#include "xanes/segment.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "watershed.h"

/* A squared distance that no image reaches, standing for "no target pixel";
 * finite so that the envelope intersections never compute inf - inf. */
#define EDT_FAR 1e20

/* 1-D squared distance transform of the sampled function f[n] (FH 2012,
 * algorithm DT(f)): d[q] = min_p (q - p)^2 + f[p].  v holds n indices, z n+1
 * doubles. */
static void edt_1d(const double *restrict f, size_t n, double *restrict d, size_t *restrict v,
                   double *restrict z)
{
    size_t k = 0;
    v[0] = 0;
    z[0] = -HUGE_VAL;
    z[1] = HUGE_VAL;
    for (size_t q = 1; q < n; q++) {
        double fq = f[q] + (double)q * (double)q;
        double s;
        for (;;) {
            double vk = (double)v[k];
            s = (fq - (f[v[k]] + vk * vk)) / (2.0 * (double)q - 2.0 * vk);
            if (s > z[k] || k == 0)
                break;
            k--;
        }
        /* k == 0 with s <= z[0] = -inf cannot happen (s is finite), so the
         * parabola of q always enters the envelope after v[k]. */
        k++;
        v[k] = q;
        z[k] = s;
        z[k + 1] = HUGE_VAL;
    }
    k = 0;
    for (size_t q = 0; q < n; q++) {
        while (z[k + 1] < (double)q)
            k++;
        double dq = (double)q - (double)v[k];
        d[q] = dq * dq + f[v[k]];
    }
}

void seg_edt_sq(const uint8_t *target, size_t ny, size_t nx, double *out, double *dscratch,
                size_t *iscratch, int nthr)
{
    const size_t m = ny > nx ? ny : nx;
    /* Phase 1, along columns: for a binary image the 1-D transform is the
     * distance to the nearest target in the column, found by a forward and
     * a backward scan (Meijster et al. 2000 phase 1, equal to FH's column
     * pass on a 0/inf function).  Each thread takes a strip of columns and
     * scans it row by row (cache-friendly); columns are independent. */
#pragma omp parallel num_threads(nthr) default(none) shared(target, out) firstprivate(ny, nx)
    {
        /* The team may be smaller than asked for: split by its real size. */
        const size_t t = (size_t)omp_get_thread_num(), team = (size_t)omp_get_num_threads();
        const size_t x0 = nx * t / team, x1 = nx * (t + 1) / team;
        for (size_t x = x0; x < x1; x++)
            out[x] = target[x] ? 0.0 : EDT_FAR;
        for (size_t y = 1; y < ny; y++) {
            const uint8_t *tr = target + y * nx;
            double *o = out + y * nx;
            const double *prev = o - nx;
            for (size_t x = x0; x < x1; x++)
                o[x] = tr[x] ? 0.0 : (prev[x] >= EDT_FAR ? EDT_FAR : prev[x] + 1.0);
        }
        for (size_t y = ny - 1; y-- > 0;) {
            double *o = out + y * nx;
            const double *next = o + nx;
            for (size_t x = x0; x < x1; x++)
                if (next[x] + 1.0 < o[x])
                    o[x] = next[x] + 1.0;
        }
    }
    /* Phase 2, along rows: FH's lower envelope of parabolas on the squared
     * column distances; rows are independent, each thread with its own
     * scratch. */
#pragma omp parallel num_threads(nthr) default(none) shared(out, dscratch, iscratch)               \
    firstprivate(ny, nx, m)
    {
        const size_t t = (size_t)omp_get_thread_num();
        double *f = dscratch + t * (3 * m + 1), *d = f + m, *z = f + 2 * m;
        size_t *v = iscratch + t * m;
#pragma omp for schedule(static)
        for (size_t y = 0; y < ny; y++) {
            double *o = out + y * nx;
            for (size_t x = 0; x < nx; x++)
                f[x] = o[x] >= EDT_FAR ? EDT_FAR : o[x] * o[x];
            edt_1d(f, nx, d, v, z);
            for (size_t x = 0; x < nx; x++)
                o[x] = d[x] >= EDT_FAR ? EDT_FAR : d[x];
        }
    }
}

void xanes_segment_edt_sq(const uint8_t *target, size_t ny, size_t nx, double *out,
                          double *dscratch, size_t *iscratch)
{
    seg_edt_sq(target, ny, nx, out, dscratch, iscratch, 1);
}

enum { MAX_HALF = 64 };

/* The normalized 1-D kernel of seg_gaussian_smooth; returns its half width. */
static long gaussian_kernel(double sigma_px, double kern[2 * MAX_HALF + 1])
{
    long half = (long)ceil(3.0 * sigma_px);
    if (half > MAX_HALF)
        half = MAX_HALF;
    double sum = 0.0;
    for (long i = -half; i <= half; i++) {
        kern[i + half] = exp(-0.5 * (double)(i * i) / (sigma_px * sigma_px));
        sum += kern[i + half];
    }
    for (long i = -half; i <= half; i++)
        kern[i + half] /= sum;
    return half;
}

double seg_gaussian_noise_gain(double sigma_px)
{
    if (!(sigma_px > 0.0))
        return 1.0;
    double kern[2 * MAX_HALF + 1], ss = 0.0;
    long half = gaussian_kernel(sigma_px, kern);
    for (long i = -half; i <= half; i++)
        ss += kern[i + half] * kern[i + half];
    /* 2-D kernel k(x) k(y): sqrt(sum k(x)^2 k(y)^2) = sum k^2. */
    return ss;
}

void seg_gaussian_smooth(double *img, size_t ny, size_t nx, double sigma_px, double *tmp)
{
    if (!(sigma_px > 0.0))
        return;
    double kern[2 * MAX_HALF + 1];
    long half = gaussian_kernel(sigma_px, kern);
    long lnx = (long)nx, lny = (long)ny;
    /* Along x into tmp, then along y back into img; the edges are replicated
     * so that the border does not pull the distance down.  Rows are shared
     * out between threads; every output value is one thread's fixed sum. */
#pragma omp parallel for default(none) shared(img, tmp, kern) firstprivate(lnx, lny, half)         \
    schedule(static)
    for (long y = 0; y < lny; y++)
        for (long x = 0; x < lnx; x++) {
            double acc = 0.0;
            for (long i = -half; i <= half; i++) {
                long xx = x + i;
                xx = xx < 0 ? 0 : (xx >= lnx ? lnx - 1 : xx);
                acc += kern[i + half] * img[y * lnx + xx];
            }
            tmp[y * lnx + x] = acc;
        }
#pragma omp parallel for default(none) shared(img, tmp, kern) firstprivate(lnx, lny, half)         \
    schedule(static)
    for (long y = 0; y < lny; y++)
        for (long x = 0; x < lnx; x++) {
            double acc = 0.0;
            for (long i = -half; i <= half; i++) {
                long yy = y + i;
                yy = yy < 0 ? 0 : (yy >= lny ? lny - 1 : yy);
                acc += kern[i + half] * tmp[yy * lnx + x];
            }
            img[y * lnx + x] = acc;
        }
}

/* Order of the sweep: higher f first, then lower index. */
static int item_cmp(const void *a, const void *b)
{
    const seg_heap_item *x = a, *y = b;
    if (x->priority != y->priority)
        return x->priority > y->priority ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

/* Ascending sort key of a priority: the IEEE bits, sign-flipped so that
 * unsigned order is numeric order (-0 folded into +0, as item_cmp has them
 * equal), then complemented: higher priority first. */
static uint64_t priority_key(double v)
{
    uint64_t u;
    v += 0.0;
    memcpy(&u, &v, sizeof u);
    u = (u >> 63) ? ~u : u | ((uint64_t)1 << 63);
    return ~u;
}

/* Sorts a[0..m) into item_cmp's order when the items come in increasing
 * index: a stable LSD radix sort on the priority bits keeps equal priorities
 * in index order, so the result is qsort's exactly (item_cmp is a total
 * order), at a few linear passes instead of ~log2(m) calls of item_cmp per
 * item, the bulk of the sweep's time.  Byte positions that all keys share
 * are skipped (distances span few exponents).  Falls back to qsort when the
 * m-item buffer cannot be had. */
static void sort_items(seg_heap_item *a, size_t m)
{
    seg_heap_item *b = m > 1 ? malloc(m * sizeof *b) : NULL;
    uint64_t *key = m > 1 ? malloc(m * sizeof *key) : NULL;
    uint64_t *kb = m > 1 ? malloc(m * sizeof *kb) : NULL;
    if (b == NULL || key == NULL || kb == NULL) {
        if (m > 1)
            qsort(a, m, sizeof *a, item_cmp);
        goto done;
    }
    uint64_t all_and = ~(uint64_t)0, all_or = 0;
    for (size_t i = 0; i < m; i++) {
        key[i] = priority_key(a[i].priority);
        all_and &= key[i];
        all_or |= key[i];
    }
    seg_heap_item *src = a, *dst = b;
    uint64_t *ks = key, *kd = kb;
    for (unsigned shift = 0; shift < 64; shift += 8) {
        if ((((all_and ^ all_or) >> shift) & 0xff) == 0)
            continue; /* every key has this byte: the pass would not move anything */
        size_t count[257] = {0};
        for (size_t i = 0; i < m; i++)
            count[((ks[i] >> shift) & 0xff) + 1]++;
        for (size_t j = 1; j < 257; j++)
            count[j] += count[j - 1];
        for (size_t i = 0; i < m; i++) {
            size_t at = count[(ks[i] >> shift) & 0xff]++;
            dst[at] = src[i];
            kd[at] = ks[i];
        }
        seg_heap_item *t = src;
        src = dst;
        dst = t;
        uint64_t *tk = ks;
        ks = kd;
        kd = tk;
    }
    if (src != a)
        memcpy(a, src, m * sizeof *a);
done:
    free(kb);
    free(key);
    free(b);
}

static size_t root_of(size_t *parent, size_t a)
{
    while (parent[a] != a) {
        parent[a] = parent[parent[a]];
        a = parent[a];
    }
    return a;
}

/* The top-down sweep over items[0..m) (sorted), growing one region per
 * maximum with a union-find; see seg_dynamic_markers.  Touches only the
 * pixels of the items and their 8-neighbours inside the mask. */
static void sweep(const double *f, size_t ny, size_t nx, double h, double h_rel,
                  const seg_heap_item *items, size_t m, size_t *parent, size_t *peak, uint8_t *keep)
{
    const size_t unseen = (size_t)-1;
    /* Sweep the pixels from the top down, growing one region per maximum
     * with a union-find.  When two regions meet at pixel p, the one with the
     * lower peak ends there: its dynamic is peak - f[p], the depth one must
     * descend from it to reach a higher maximum (Grimaud 1992).  It is kept
     * as a marker when that depth is at least h and at least h_rel times its
     * own height, so a bump on a large particle (a few px on a radius of 50)
     * is not a particle, while a small particle on a large one is. */
    for (size_t i = 0; i < m; i++) {
        size_t p = items[i].index;
        parent[p] = p;
        peak[p] = p;
        size_t nb[8];
        size_t k = seg_neighbours(p, ny, nx, 8, nb);
        for (size_t j = 0; j < k; j++) {
            if (parent[nb[j]] == unseen)
                continue;
            size_t ra = root_of(parent, nb[j]), rb = root_of(parent, p);
            if (ra == rb)
                continue;
            size_t pa = peak[ra], pb = peak[rb];
            /* The lower peak (ties: the later one in the sweep order) ends. */
            int a_lower = f[pa] < f[pb] || (f[pa] == f[pb] && pa > pb);
            size_t low = a_lower ? ra : rb, high = a_lower ? rb : ra;
            double top = f[peak[low]], dyn = top - f[p];
            double need = h > h_rel * top ? h : h_rel * top;
            if (dyn > 0.0 && dyn >= need)
                keep[peak[low]] = 1;
            parent[low] = high;
        }
    }
    /* The highest maximum of every component never ends: always a marker. */
    for (size_t i = 0; i < m; i++) {
        size_t p = items[i].index;
        if (root_of(parent, p) == p)
            keep[peak[p]] = 1;
    }
}

size_t seg_dynamic_markers(const double *f, const uint8_t *mask, size_t ny, size_t nx, double h,
                           double h_rel, const seg_components *cc, seg_heap_item *order,
                           size_t *parent, size_t *peak, uint8_t *keep, int32_t *markers)
{
    const size_t n = ny * nx, unseen = (size_t)-1;
#pragma omp parallel for schedule(static) default(none) shared(parent, keep) firstprivate(n, unseen)
    for (size_t p = 0; p < n; p++) {
        parent[p] = unseen;
        keep[p] = 0;
    }
    if (cc == NULL) {
        size_t m = 0;
        for (size_t p = 0; p < n; p++)
            if (mask[p])
                order[m++] = (seg_heap_item){f[p], 0, p};
        sort_items(order, m);
        sweep(f, ny, nx, h, h_rel, order, m, parent, peak, keep);
    } else {
        /* Components never meet in the sweep (a union needs 8-adjacent mask
         * pixels), and each one's items keep their relative order, so the
         * sweeps of different components are independent: one per thread,
         * the same marks as the single sweep.  Their items lie at the
         * component's slice of order, in raster order before the sort, as
         * the single sweep collects them. */
        const size_t nc = cc->n;
        const size_t *start = cc->start, *pix = cc->pix;
#pragma omp parallel for schedule(static, 1) default(none)                                         \
    shared(f, order, parent, peak, keep, start, pix) firstprivate(nc, ny, nx, h, h_rel)
        for (size_t c = 1; c <= nc; c++) {
            seg_heap_item *it = order + start[c];
            const size_t m = start[c + 1] - start[c];
            for (size_t i = 0; i < m; i++)
                it[i] = (seg_heap_item){f[pix[start[c] + i]], 0, pix[start[c] + i]};
            sort_items(it, m);
            sweep(f, ny, nx, h, h_rel, it, m, parent, peak, keep);
        }
    }
    memset(markers, 0, n * sizeof *markers);
    int32_t nm = 0;
    for (size_t p = 0; p < n; p++)
        if (keep[p])
            markers[p] = ++nm;
    return (size_t)nm;
}

static int heap_before(const seg_heap_item *a, const seg_heap_item *b)
{
    if (a->priority != b->priority)
        return a->priority > b->priority;
    return a->seq < b->seq;
}

static void heap_push(seg_heap_item *heap, size_t *len, seg_heap_item it)
{
    size_t i = (*len)++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!heap_before(&it, &heap[parent]))
            break;
        heap[i] = heap[parent];
        i = parent;
    }
    heap[i] = it;
}

static seg_heap_item heap_pop(seg_heap_item *heap, size_t *len)
{
    seg_heap_item top = heap[0];
    seg_heap_item last = heap[--(*len)];
    size_t i = 0, n = *len;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && heap_before(&heap[c + 1], &heap[c]))
            c++;
        if (!heap_before(&heap[c], &last))
            break;
        heap[i] = heap[c];
        i = c;
    }
    if (n > 0)
        heap[i] = last;
    return top;
}

/* Meyer flooding from the marked pixels among seeds[0..m) (raster order;
 * seeds NULL: pixels 0..m-1) inside the mask; heap holds as many items as
 * the pixels it can reach. */
static void flood(const double *f, const uint8_t *mask, size_t ny, size_t nx, int conn,
                  int32_t *labels, seg_heap_item *heap, const size_t *seeds, size_t m)
{
    size_t len = 0, seq = 0;
    /* A pixel is labelled when it is pushed, so it enters the queue once and
     * keeps the label of its first claimant. */
    for (size_t i = 0; i < m; i++) {
        const size_t p = seeds != NULL ? seeds[i] : i;
        if (mask[p] && labels[p] > 0)
            heap_push(heap, &len, (seg_heap_item){f[p], seq++, p});
    }
    while (len > 0) {
        seg_heap_item it = heap_pop(heap, &len);
        size_t nb[8];
        size_t k = seg_neighbours(it.index, ny, nx, conn, nb);
        for (size_t i = 0; i < k; i++) {
            size_t q = nb[i];
            if (!mask[q] || labels[q] != 0)
                continue;
            labels[q] = labels[it.index];
            heap_push(heap, &len, (seg_heap_item){f[q], seq++, q});
        }
    }
}

void seg_watershed(const double *f, const uint8_t *mask, size_t ny, size_t nx, int conn,
                   const seg_components *cc, int32_t *labels, seg_heap_item *heap)
{
    if (cc == NULL) {
        flood(f, mask, ny, nx, conn, labels, heap, NULL, ny * nx);
        return;
    }
    /* The flood never leaves a component (conn-connected), and within one
     * the order of its queue items is that of the single flood (their
     * sequence numbers keep their relative order), so each component is
     * flooded on its own, one per thread, with the same labels. */
    const size_t nc = cc->n;
    const size_t *start = cc->start, *pix = cc->pix;
#pragma omp parallel for schedule(static, 1) default(none)                                         \
    shared(f, mask, labels, heap, start, pix) firstprivate(nc, ny, nx, conn)
    for (size_t c = 1; c <= nc; c++)
        flood(f, mask, ny, nx, conn, labels, heap + start[c], pix + start[c],
              start[c + 1] - start[c]);
}

static int32_t uf_find(int32_t *parent, int32_t a)
{
    while (parent[a] != a) {
        parent[a] = parent[parent[a]];
        a = parent[a];
    }
    return a;
}

/* Merges markers of the same component whose centroids are closer than
 * dmin_px: all markers of a merged group get the smallest id among them. */
xanes_status seg_merge_close_markers(int32_t *markers, size_t nm, const int32_t *comp, size_t ny,
                                     size_t nx, double dmin_px, xanes_error *err)
{
    xanes_status st = XANES_OK;
    double *sx = calloc(nm + 1, sizeof *sx), *sy = calloc(nm + 1, sizeof *sy);
    double *cnt = calloc(nm + 1, sizeof *cnt);
    int32_t *owner = calloc(nm + 1, sizeof *owner), *parent = malloc((nm + 1) * sizeof *parent);
    if (!sx || !sy || !cnt || !owner || !parent) {
        st = XANES_RAISE(err, XANES_ENOMEM, "segment: cannot allocate %zu marker records", nm);
        goto done;
    }
    for (size_t p = 0; p < ny * nx; p++) {
        int32_t m = markers[p];
        if (m == 0)
            continue;
        sx[m] += (double)(p % nx);
        sy[m] += (double)(p / nx);
        cnt[m] += 1.0;
        owner[m] = comp[p];
    }
    for (size_t m = 0; m <= nm; m++) {
        parent[m] = (int32_t)m;
        if (cnt[m] > 0) {
            sx[m] /= cnt[m];
            sy[m] /= cnt[m];
        }
    }
    for (size_t a = 1; a <= nm; a++)
        for (size_t b = a + 1; b <= nm; b++) {
            if (owner[a] != owner[b])
                continue;
            double dx = sx[a] - sx[b], dy = sy[a] - sy[b];
            if (dx * dx + dy * dy < dmin_px * dmin_px) {
                int32_t ra = uf_find(parent, (int32_t)a), rb = uf_find(parent, (int32_t)b);
                if (ra != rb)
                    parent[ra > rb ? ra : rb] = ra < rb ? ra : rb;
            }
        }
    for (size_t p = 0; p < ny * nx; p++)
        if (markers[p] != 0)
            markers[p] = uf_find(parent, markers[p]);
done:
    free(sx);
    free(sy);
    free(cnt);
    free(owner);
    free(parent);
    return st;
}

/* Watershed fragments smaller than min_px join the 4-adjacent region they
 * share most border pixels with (ties: the lower id), smallest fragment
 * first; fragments with no neighbouring region are dropped.  reg holds
 * region ids 1..nr (0 background) and is rewritten; *n_merged counts them. */
xanes_status seg_merge_small_regions(int32_t *reg, size_t nr, size_t ny, size_t nx, size_t min_px,
                                     size_t *n_merged, xanes_error *err)
{
    xanes_status st = XANES_OK;
    size_t n = ny * nx;
    size_t *area = calloc(nr + 1, sizeof *area), *start = calloc(nr + 2, sizeof *start);
    size_t *pix = malloc(n * sizeof *pix), *order = malloc((nr + 1) * sizeof *order);
    size_t *shared = calloc(nr + 1, sizeof *shared);
    int32_t *parent = malloc((nr + 1) * sizeof *parent);
    if (!area || !start || !pix || !order || !shared || !parent) {
        st = XANES_RAISE(err, XANES_ENOMEM, "segment: cannot allocate %zu region records", nr);
        goto done;
    }
    for (size_t p = 0; p < n; p++)
        area[reg[p]]++;
    /* Pixel lists per region by counting sort, in raster order. */
    for (size_t r = 1; r <= nr; r++)
        start[r + 1] = start[r] + area[r];
    for (size_t p = 0; p < n; p++)
        if (reg[p] != 0)
            pix[start[reg[p]]++] = p;
    /* The fill advanced start[r] to the end of region r; rebuild it. */
    start[1] = 0;
    for (size_t r = 2; r <= nr + 1; r++)
        start[r] = start[r - 1] + area[r - 1];
    size_t nsmall = 0;
    for (size_t r = 1; r <= nr; r++) {
        parent[r] = (int32_t)r;
        if (area[r] < min_px)
            order[nsmall++] = r;
    }
    parent[0] = 0;
    /* Insertion sort by (area, id): few small fragments, and it is stable. */
    for (size_t i = 1; i < nsmall; i++) {
        size_t v = order[i], j = i;
        while (j > 0 && area[order[j - 1]] > area[v]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = v;
    }
    for (size_t i = 0; i < nsmall; i++) {
        int32_t r = (int32_t)order[i];
        if (uf_find(parent, r) != r || area[r] >= min_px)
            continue; /* already absorbed, or grown by absorbing others */
        int32_t best = 0;
        for (size_t j = start[r]; j < start[r + 1]; j++) {
            size_t nb[8];
            size_t k = seg_neighbours(pix[j], ny, nx, 4, nb);
            for (size_t t = 0; t < k; t++) {
                int32_t q = reg[nb[t]] == 0 ? 0 : uf_find(parent, reg[nb[t]]);
                if (q == 0 || q == r)
                    continue;
                shared[q]++;
                if (best == 0 || shared[q] > shared[best] ||
                    (shared[q] == shared[best] && q < best))
                    best = q;
            }
        }
        for (size_t j = start[r]; j < start[r + 1]; j++) {
            size_t nb[8];
            size_t k = seg_neighbours(pix[j], ny, nx, 4, nb);
            for (size_t t = 0; t < k; t++)
                if (reg[nb[t]] != 0)
                    shared[uf_find(parent, reg[nb[t]])] = 0;
        }
        parent[r] = best; /* 0: isolated, dropped */
        if (best != 0)
            area[best] += area[r];
        (*n_merged)++;
    }
    for (size_t p = 0; p < n; p++)
        if (reg[p] != 0)
            reg[p] = uf_find(parent, reg[p]);
done:
    free(area);
    free(start);
    free(pix);
    free(order);
    free(shared);
    free(parent);
    return st;
}
