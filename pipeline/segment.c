/* segment.c: stage 5 of `xanes run`, particle mask and labels from the
 * edge-jump map.
 *
 * Steps: (1) smooth the jump map and threshold its finite values, by default
 * with Otsu's method (N. Otsu, IEEE Trans. SMC 9 (1979) 62) on a GSL
 * histogram; a split whose class means differ by too few noise standard
 * deviations (pure noise, or particles too few to make a class) gives way to
 * a threshold of the median plus a multiple of the noise;
 * (2) binary opening then closing by a disc: small discs by scanning their
 * offsets, large ones exactly through the squared Euclidean distance transform
 * (a pixel survives erosion by a disc of radius r when its nearest background
 * pixel is farther than r, and joins a dilation when its nearest foreground
 * pixel is within r); then background holes of at most max_hole_px that do
 * not touch the border are filled; (3) connected-component labelling by
 * union-find (bands of rows in parallel, numbered in raster order of each
 * component's first pixel), components under min_area_px dropped; (4)
 * optionally, touching particles are split by a marker-controlled watershed
 * on the distance map (watershed.c): h-maxima markers, an optional minimum
 * marker distance, flooding restricted to each component; watershed
 * fragments under min_area_px merge into the neighbour they share the longest
 * border with; (5) labels renumbered 1..N in raster order of each particle's
 * first pixel.  See segment.h for the conventions.  Scratch is about 80
 * bytes per pixel, allocated once per call.
 */
#include "xanes/segment.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include <gsl/gsl_histogram.h>
#include <gsl/gsl_math.h>
#include <gsl/gsl_statistics_double.h>

#include "segment_label.h"
#include "watershed.h"

void xanes_segment_default_params(xanes_segment_params *p)
{
    p->threshold_method = XANES_THRESHOLD_OTSU;
    p->threshold_value = 0.0;
    p->otsu_bins = 256;
    p->otsu_min_contrast = 2.5;
    p->noise_threshold_sigma = 5.0;
    p->smooth_px = 1.0;
    p->opening_radius_px = 1.0;
    p->closing_radius_px = 1.0;
    p->max_hole_px = 64;
    p->connectivity = 8;
    p->min_area_px = 20;
    p->split_touching = 1;
    p->distance_smooth_px = 0.5;
    p->h_maxima_px = 0.3;
    p->h_relative = 0.0;
    p->min_marker_distance_px = 6.0;
}

xanes_status xanes_segment_otsu(const float *x, size_t n, size_t bins, double *threshold,
                                double class_mean[2], xanes_error *err)
{
    xanes_status st = XANES_OK;
    gsl_histogram *h = NULL;
    if (class_mean != NULL)
        class_mean[0] = class_mean[1] = NAN;
    if (x == NULL || threshold == NULL || bins < 2) {
        st = XANES_RAISE(err, XANES_EINVAL,
                         "segment: Otsu threshold needs values, an output and "
                         "at least 2 bins (got %zu)",
                         bins);
        goto done;
    }
    double lo = HUGE_VAL, hi = -HUGE_VAL;
    size_t nf = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(x[i])) {
            lo = x[i] < lo ? x[i] : lo;
            hi = x[i] > hi ? x[i] : hi;
            nf++;
        }
    if (nf == 0) {
        st = XANES_RAISE(err, XANES_EDATA, "segment: Otsu threshold of %zu values: none is finite",
                         n);
        goto done;
    }
    if (!(hi > lo)) {
        *threshold = lo;
        st = XANES_RAISE(err, XANES_EDATA,
                         "segment: Otsu threshold: all %zu finite values equal "
                         "%g, no contrast to split",
                         nf, lo);
        goto done;
    }
    h = gsl_histogram_alloc(bins);
    if (h == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM, "segment: cannot allocate a %zu-bin histogram", bins);
        goto done;
    }
    gsl_histogram_set_ranges_uniform(h, lo, hi);
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]))
            continue;
        /* GSL bins are half-open, so the maximum itself goes into the last
         * bin by hand. */
        if (gsl_histogram_increment(h, x[i]) != 0)
            h->bin[bins - 1] += 1.0;
    }
    double total = (double)nf, mu_t = 0.0;
    for (size_t k = 0; k < bins; k++)
        mu_t += h->bin[k] / total * 0.5 * (h->range[k] + h->range[k + 1]);
    /* Between-class variance sigma_B^2(k) = (mu_t w - mu)^2 / (w (1 - w)) for
     * the split after bin k.  Empty bins between the modes give a plateau of
     * exactly equal values; the threshold is put in its middle. */
    double w = 0.0, mu = 0.0, best = -1.0;
    size_t k_first = 0, k_last = 0;
    double best_w = 0.0, best_mu = 0.0;
    for (size_t k = 0; k + 1 < bins; k++) {
        double p = h->bin[k] / total;
        w += p;
        mu += p * 0.5 * (h->range[k] + h->range[k + 1]);
        if (w <= 0.0 || w >= 1.0)
            continue;
        double num = mu_t * w - mu;
        double sb = num * num / (w * (1.0 - w));
        if (sb > best) {
            best = sb;
            k_first = k_last = k;
            best_w = w;
            best_mu = mu;
        } else if (sb == best && k_last + 1 == k) {
            k_last = k;
        }
    }
    *threshold = 0.5 * (h->range[k_first + 1] + h->range[k_last + 1]);
    if (class_mean != NULL) {
        class_mean[0] = best_mu / best_w;
        class_mean[1] = (mu_t - best_mu) / (1.0 - best_w);
    }
done:
    gsl_histogram_free(h);
    return st;
}

/* Robust noise standard deviation of the map: differences of horizontal
 * neighbours are pure noise (times sqrt 2) except across particle borders,
 * which the median ignores; 1.4826 MAD is sigma for Gaussian noise.  The
 * median of |d| is used directly, since d has zero median.  scratch holds
 * ny * nx doubles.  0 when fewer than 2 pairs are finite. */
static double noise_sigma(const float *map, size_t ny, size_t nx, double *scratch)
{
    size_t m = 0;
    for (size_t y = 0; y < ny; y++)
        for (size_t x = 0; x + 1 < nx; x++) {
            float a = map[y * nx + x], b = map[y * nx + x + 1];
            if (isfinite(a) && isfinite(b))
                scratch[m++] = fabs((double)a - (double)b);
        }
    if (m < 2)
        return 0.0;
    return 1.4826 * gsl_stats_median(scratch, 1, m) / M_SQRT2;
}

/* Gaussian smoothing of the finite values of map into out (NaN stays NaN):
 * normalized convolution, sum(w x) / sum(w) over finite neighbours, so NaN
 * pixels and the border neither pull values down nor spread.  v and wt hold
 * ny * nx doubles each, tmp too. */
static void smooth_map(const float *map, size_t ny, size_t nx, double sigma_px, float *out,
                       double *v, double *wt, double *tmp)
{
    size_t n = ny * nx, n_nan = 0;
#pragma omp parallel for schedule(static) default(none) shared(map, v, wt) firstprivate(n)         \
    reduction(+ : n_nan)
    for (size_t p = 0; p < n; p++) {
        int ok = isfinite(map[p]);
        v[p] = ok ? (double)map[p] : 0.0;
        wt[p] = ok ? 1.0 : 0.0;
        n_nan += !ok;
    }
    seg_gaussian_smooth(v, ny, nx, sigma_px, tmp);
    /* Without NaN the weights smooth to 1 everywhere (normalized kernel,
     * replicated edges): skip that pass. */
    if (n_nan > 0)
        seg_gaussian_smooth(wt, ny, nx, sigma_px, tmp);
#pragma omp parallel for schedule(static) default(none) shared(map, v, wt, out) firstprivate(n)
    for (size_t p = 0; p < n; p++)
        out[p] = isfinite(map[p]) && wt[p] > 0.0 ? (float)(v[p] / wt[p]) : NAN;
}

/* Scratch of one segmentation call, allocated together and freed together. */
typedef struct {
    float *smooth;
    uint8_t *mask, *aux;
    double *d2, *dist, *tmp;
    double *dscratch;
    size_t *iscratch, *queue, *peak, *pix, *cstart;
    int32_t *comp, *reg;
    seg_heap_item *heap;
    int nthr; /* threads the distance transform's scratch is for */
} seg_work;

static void work_free(seg_work *w)
{
    free(w->smooth);
    free(w->mask);
    free(w->aux);
    free(w->d2);
    free(w->dist);
    free(w->tmp);
    free(w->dscratch);
    free(w->iscratch);
    free(w->queue);
    free(w->peak);
    free(w->pix);
    free(w->cstart);
    free(w->comp);
    free(w->reg);
    free(w->heap);
}

static int work_alloc(seg_work *w, size_t ny, size_t nx)
{
    size_t n = ny * nx, m = ny > nx ? ny : nx;
    memset(w, 0, sizeof *w);
    w->smooth = malloc(n * sizeof *w->smooth);
    w->mask = malloc(n);
    w->aux = malloc(n);
    w->d2 = malloc(n * sizeof *w->d2);
    w->dist = malloc(n * sizeof *w->dist);
    w->tmp = malloc(n * sizeof *w->tmp);
    w->nthr = omp_get_max_threads();
    w->dscratch = malloc((size_t)w->nthr * (3 * m + 1) * sizeof *w->dscratch);
    w->iscratch = malloc((size_t)w->nthr * m * sizeof *w->iscratch);
    w->queue = malloc(n * sizeof *w->queue);
    w->peak = malloc(n * sizeof *w->peak);
    w->pix = malloc(n * sizeof *w->pix);
    w->comp = malloc(n * sizeof *w->comp);
    w->reg = malloc(n * sizeof *w->reg);
    w->heap = malloc(n * sizeof *w->heap);
    return w->smooth && w->mask && w->aux && w->d2 && w->dist && w->tmp && w->dscratch &&
           w->iscratch && w->queue && w->peak && w->pix && w->comp && w->reg && w->heap;
}

/* Discs up to this radius are applied by scanning their offsets (at most 29
 * for r < 3); larger ones through the distance transform, whose cost does
 * not grow with r.  Both are exact, so the switch changes only the speed. */
#define DISC_DIRECT_MAX_PX 3.0

/* Binary erosion (erode != 0) or dilation of mask by the disc of radius r,
 * in place; the border is neutral (outside pixels are ignored). */
static void morph_disc(uint8_t *mask, size_t ny, size_t nx, double r, int erode, seg_work *w)
{
    size_t n = ny * nx;
    /* Squared pixel distances are integers: the slack keeps d^2 == r^2 (a
     * radius given as sqrt(2) = 1.41421...) inside the disc despite rounding. */
    double r2 = r * r + 1e-9;
    if (r < DISC_DIRECT_MAX_PX) {
        long off[64][2], R = (long)floor(r), no = 0;
        for (long dy = -R; dy <= R; dy++)
            for (long dx = -R; dx <= R; dx++)
                if ((double)(dx * dx + dy * dy) <= r2 && (dx != 0 || dy != 0)) {
                    off[no][0] = dy;
                    off[no][1] = dx;
                    no++;
                }
        memcpy(w->aux, mask, n);
        long lny = (long)ny, lnx = (long)nx;
        const uint8_t *aux = w->aux;
        /* Rows in parallel: each pixel reads the unchanged copy and writes
         * only itself, so the result does not depend on the threads. */
#pragma omp parallel for default(none) schedule(static) shared(mask, aux, off)                     \
    firstprivate(lny, lnx, no, erode)
        for (long y = 0; y < lny; y++)
            for (long x = 0; x < lnx; x++) {
                size_t p = (size_t)(y * lnx + x);
                /* Erosion keeps p when no in-image disc pixel is background;
                 * dilation sets p when some in-image disc pixel is set. */
                if (erode ? !aux[p] : aux[p])
                    continue;
                for (long k = 0; k < no; k++) {
                    long yy = y + off[k][0], xx = x + off[k][1];
                    if (yy < 0 || xx < 0 || yy >= lny || xx >= lnx)
                        continue;
                    if (aux[yy * lnx + xx] != (uint8_t)erode) {
                        mask[p] = (uint8_t)!erode;
                        break;
                    }
                }
            }
        return;
    }
    for (size_t p = 0; p < n; p++)
        w->aux[p] = erode ? !mask[p] : mask[p];
    seg_edt_sq(w->aux, ny, nx, w->d2, w->dscratch, w->iscratch, w->nthr);
    for (size_t p = 0; p < n; p++)
        mask[p] = erode ? (mask[p] && w->d2[p] > r2) : (w->d2[p] <= r2);
}

static xanes_status check_params(const xanes_segment_params *p, xanes_error *err)
{
    if (p->connectivity != 4 && p->connectivity != 8)
        return XANES_RAISE(err, XANES_EINVAL, "segment: connectivity must be 4 or 8, got %d",
                           p->connectivity);
    if (!(p->opening_radius_px >= 0.0) || !(p->closing_radius_px >= 0.0))
        return XANES_RAISE(err, XANES_EINVAL,
                           "segment: opening/closing radius must be >= 0 px, "
                           "got %g and %g",
                           p->opening_radius_px, p->closing_radius_px);
    if (!(p->smooth_px >= 0.0 && p->smooth_px <= 20.0))
        return XANES_RAISE(err, XANES_EINVAL,
                           "segment: smoothing of the jump map must be 0..20 px, got %g",
                           p->smooth_px);
    if (p->threshold_method == XANES_THRESHOLD_OTSU) {
        if (p->otsu_bins < 2)
            return XANES_RAISE(err, XANES_EINVAL, "segment: Otsu needs at least 2 bins, got %zu",
                               p->otsu_bins);
        if (!(p->otsu_min_contrast >= 0.0) || !(p->noise_threshold_sigma >= 0.0))
            return XANES_RAISE(err, XANES_EINVAL,
                               "segment: otsu_min_contrast and noise_threshold_sigma must be "
                               ">= 0, got %g and %g",
                               p->otsu_min_contrast, p->noise_threshold_sigma);
    } else if (p->threshold_method == XANES_THRESHOLD_VALUE) {
        if (!isfinite(p->threshold_value))
            return XANES_RAISE(err, XANES_EINVAL,
                               "segment: threshold value must be finite, "
                               "got %g",
                               p->threshold_value);
    } else {
        return XANES_RAISE(err, XANES_EINVAL, "segment: unknown threshold method %d",
                           (int)p->threshold_method);
    }
    if (p->split_touching &&
        (!(p->distance_smooth_px >= 0.0) || !(p->h_maxima_px >= 0.0) ||
         !(p->h_relative >= 0.0 && p->h_relative < 1.0) || !(p->min_marker_distance_px >= 0.0)))
        return XANES_RAISE(err, XANES_EINVAL,
                           "segment: split parameters must be >= 0 (h_relative < 1): smoothing "
                           "%g px, h-maxima %g px, h_relative %g, marker distance %g px",
                           p->distance_smooth_px, p->h_maxima_px, p->h_relative,
                           p->min_marker_distance_px);
    return XANES_OK;
}

xanes_status xanes_segment_run(const float *jump, size_t ny, size_t nx,
                               const xanes_segment_params *params, int32_t *labels,
                               xanes_segment_info *info, xanes_error *err)
{
    xanes_status st = XANES_OK;
    seg_work w;
    memset(&w, 0, sizeof w);
    xanes_segment_params defaults;
    xanes_segment_info inf;
    memset(&inf, 0, sizeof inf);
    inf.threshold = NAN;
    inf.otsu_contrast = NAN;
    inf.noise_sigma = NAN;
    if (params == NULL) {
        xanes_segment_default_params(&defaults);
        params = &defaults;
    }
    if (jump == NULL || labels == NULL || ny == 0 || nx == 0) {
        st = XANES_RAISE(err, XANES_EINVAL,
                         "segment: need a non-empty edge-jump map and a label "
                         "array, got %zu x %zu",
                         ny, nx);
        goto done;
    }
    size_t n = ny * nx;
    memset(labels, 0, n * sizeof *labels);
    if ((st = check_params(params, err)) != XANES_OK)
        goto done;
    size_t n_finite = 0;
#pragma omp parallel for schedule(static) default(none) shared(jump) firstprivate(n)              \
    reduction(+ : n_finite)
    for (size_t p = 0; p < n; p++)
        n_finite += isfinite(jump[p]) ? 1 : 0;
    inf.n_finite_px = n_finite;
    if (inf.n_finite_px == 0) {
        st = XANES_RAISE(err, XANES_EDATA,
                         "segment: the edge-jump map (%zu x %zu) has no finite "
                         "pixel; nothing to segment",
                         ny, nx);
        goto done;
    }
    if (!work_alloc(&w, ny, nx)) {
        st = XANES_RAISE(err, XANES_ENOMEM,
                         "segment: cannot allocate scratch for a %zu x %zu "
                         "map",
                         ny, nx);
        goto done;
    }

    /* Thresholding a smoothed map gives clean outlines on noisy data; the
     * noise estimate below still uses the raw map. */
    const float *map = jump;
    if (params->smooth_px > 0.0) {
        smooth_map(jump, ny, nx, params->smooth_px, w.smooth, w.d2, w.dist, w.tmp);
        map = w.smooth;
    }
    if (params->threshold_method == XANES_THRESHOLD_OTSU) {
        xanes_error local;
        xanes_error_clear(&local);
        double cm[2], sigma = NAN, thr = NAN;
        /* Otsu's threshold and the noise estimate (a median over the raw
         * map) are independent: computed side by side. */
        const size_t bins = params->otsu_bins;
        double *d2 = w.d2;
#pragma omp parallel for schedule(static, 1) default(none)                                         \
    shared(st, sigma, thr, cm, local, map, jump, d2) firstprivate(n, ny, nx, bins)
        for (int job = 0; job < 2; job++) {
            if (job == 0)
                st = xanes_segment_otsu(map, n, bins, &thr, cm, &local);
            else
                sigma = noise_sigma(jump, ny, nx, d2);
        }
        inf.threshold = thr;
        if (st == XANES_EDATA) {
            /* Finite but constant: no contrast, zero particles (segment.h). */
            inf.no_contrast = 1;
            st = XANES_OK;
            goto done;
        }
        if (st != XANES_OK) {
            st = XANES_RAISE(err, st, "%s", local.message);
            goto done;
        }
        inf.noise_sigma = sigma;
        /* The classes are those of the smoothed map, so the noise they are
         * compared with is the raw noise times the smoothing's noise gain:
         * pure white noise then scores 1.6 whatever the smoothing. */
        double noise = inf.noise_sigma * seg_gaussian_noise_gain(params->smooth_px);
        inf.otsu_contrast = noise > 0.0 ? (cm[1] - cm[0]) / noise : HUGE_VAL;
        if (inf.otsu_contrast < params->otsu_min_contrast) {
            /* Otsu split the noise: either there is nothing, or the particles
             * are too few to form a class of their own (one small particle
             * in a large field).  A noise threshold tells them apart. */
            inf.no_contrast = 1;
            if (!(params->noise_threshold_sigma > 0.0) || !(noise > 0.0))
                goto done;
            size_t m = 0;
            for (size_t p = 0; p < n; p++)
                if (isfinite(map[p]))
                    w.d2[m++] = (double)map[p];
            inf.threshold = gsl_stats_median(w.d2, 1, m) + params->noise_threshold_sigma * noise;
            inf.noise_threshold = 1;
        }
    } else {
        inf.threshold = params->threshold_value;
    }

    uint8_t *mask = w.mask;
    const double thr = inf.threshold;
#pragma omp parallel for schedule(static) default(none) shared(mask, map) firstprivate(n, thr)
    for (size_t p = 0; p < n; p++)
        mask[p] = isfinite(map[p]) && (double)map[p] > thr;
    if (params->opening_radius_px > 0.0) {
        morph_disc(mask, ny, nx, params->opening_radius_px, 1, &w);
        morph_disc(mask, ny, nx, params->opening_radius_px, 0, &w);
    }
    if (params->closing_radius_px > 0.0) {
        morph_disc(mask, ny, nx, params->closing_radius_px, 0, &w);
        morph_disc(mask, ny, nx, params->closing_radius_px, 1, &w);
    }
    if (params->max_hole_px > 0 &&
        (st = seg_fill_holes(mask, ny, nx, params->connectivity, params->max_hole_px, w.comp,
                             w.queue, err)) != XANES_OK)
        goto done;

    int conn = params->connectivity;
    inf.n_components = seg_label_components(mask, 1, ny, nx, conn, w.comp, w.queue);
    /* Specks go first, so that they neither seed markers nor count as
     * split fragments.  w.reg and w.iscratch-sized buffers are reused as the
     * renumbering map and area table (both n long). */
    size_t *area = (size_t *)w.heap; /* heap is idle here and holds >= n size_t */
    size_t n_kept = seg_relabel_raster(w.comp, n, inf.n_components, params->min_area_px, w.comp,
                                       w.reg, area, &inf.n_removed_small);
    const int32_t *comp = w.comp;
    uint8_t *aux = w.aux;
#pragma omp parallel for schedule(static) default(none) shared(mask, comp, aux) firstprivate(n)
    for (size_t p = 0; p < n; p++) {
        mask[p] = comp[p] != 0;
        aux[p] = !mask[p];
    }

    if (params->split_touching && n_kept > 0) {
        /* Distance of each particle pixel to the nearest background pixel. */
        double *dist = w.dist, *d2 = w.d2;
        seg_edt_sq(w.aux, ny, nx, w.d2, w.dscratch, w.iscratch, w.nthr);
#pragma omp parallel for schedule(static) default(none) shared(mask, dist, d2) firstprivate(n)
        for (size_t p = 0; p < n; p++)
            dist[p] = mask[p] ? sqrt(d2[p]) : 0.0;
        seg_gaussian_smooth(w.dist, ny, nx, params->distance_smooth_px, w.tmp);
#pragma omp parallel for schedule(static) default(none) shared(mask, dist) firstprivate(n)
        for (size_t p = 0; p < n; p++)
            if (!mask[p])
                dist[p] = 0.0;
        /* The kept components (labels 1..n_kept), their pixels grouped, so
         * that markers and flooding run one component per thread.  The
         * marker sweep joins 8-neighbours, so it takes them only when the
         * components are 8-connected. */
        seg_components cc = {n_kept, NULL, w.pix};
        if ((w.cstart = calloc(n_kept + 2, sizeof *w.cstart)) == NULL) {
            st = XANES_RAISE(err, XANES_ENOMEM, "segment: cannot allocate %zu component starts",
                             n_kept);
            goto done;
        }
        for (size_t p = 0; p < n; p++)
            w.cstart[w.comp[p] + 1] += w.comp[p] != 0;
        for (size_t c = 1; c <= n_kept + 1; c++)
            w.cstart[c] += w.cstart[c - 1];
        for (size_t p = 0; p < n; p++)
            if (w.comp[p] != 0)
                w.pix[w.cstart[w.comp[p]]++] = p;
        for (size_t c = n_kept + 1; c > 0; c--)
            w.cstart[c] = w.cstart[c - 1];
        w.cstart[0] = 0;
        cc.start = w.cstart;
        size_t nm =
            seg_dynamic_markers(w.dist, mask, ny, nx, params->h_maxima_px, params->h_relative,
                                conn == 8 ? &cc : NULL, w.heap, w.queue, w.peak, w.aux, w.reg);
        if (params->min_marker_distance_px > 0.0 &&
            (st = seg_merge_close_markers(w.reg, nm, w.comp, ny, nx, params->min_marker_distance_px,
                                          err)) != XANES_OK)
            goto done;
        seg_watershed(w.dist, mask, ny, nx, conn, &cc, w.reg, w.heap);
        /* A component without a marker (impossible for h >= 0: its highest
         * plateau is a regional maximum; kept as a guard) stays whole under a
         * fresh id.  Unflooded mask pixels form whole components, so a flood
         * through them stays inside one. */
        int32_t next = (int32_t)nm;
        for (size_t s = 0; s < n; s++) {
            if (!mask[s] || w.reg[s] != 0)
                continue;
            size_t head = 0, tail = 0;
            w.reg[s] = ++next;
            w.queue[tail++] = s;
            while (head < tail) {
                size_t nb[8];
                size_t k = seg_neighbours(w.queue[head++], ny, nx, conn, nb);
                for (size_t i = 0; i < k; i++)
                    if (mask[nb[i]] && w.reg[nb[i]] == 0) {
                        w.reg[nb[i]] = next;
                        w.queue[tail++] = nb[i];
                    }
            }
        }
        size_t n_merged = 0;
        if ((st = seg_merge_small_regions(w.reg, (size_t)next, ny, nx, params->min_area_px,
                                          &n_merged, err)) != XANES_OK)
            goto done;
        inf.n_removed_small += n_merged;
        size_t dropped = 0;
        inf.n_labels = seg_relabel_raster(w.reg, n, (size_t)next, params->min_area_px, labels,
                                          w.comp, area, &dropped);
        inf.n_split = inf.n_labels > n_kept ? inf.n_labels - n_kept : 0;
    } else {
        memcpy(labels, w.comp, n * sizeof *labels);
        inf.n_labels = n_kept;
    }
    size_t n_mask = 0;
#pragma omp parallel for schedule(static) default(none) shared(labels) firstprivate(n)            \
    reduction(+ : n_mask)
    for (size_t p = 0; p < n; p++)
        n_mask += labels[p] != 0;
    inf.n_mask_px = n_mask;
done:
    if (st != XANES_OK && labels != NULL && ny > 0 && nx > 0)
        memset(labels, 0, ny * nx * sizeof *labels);
    if (info != NULL)
        *info = inf;
    work_free(&w);
    return st;
}
