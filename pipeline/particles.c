/* particles.c: stage 6 of `xanes run`, per-particle statistics and SoC.
 *
 * Pixels are grouped by label with a counting sort (one pass, raster order
 * kept inside each particle), so every per-particle sum runs over the same
 * pixels in the same order whatever the thread count.  Pixel statistics use
 * GSL (gsl_stats_mean, gsl_stats_sd_m with n - 1, gsl_stats_median on the
 * sorted values).  The averaged spectrum of a particle is the mean, energy by
 * energy, of the spectra of its pixels that are finite at every energy (so a
 * pixel masked by the alignment at one frame does not bias one energy); the
 * stack is read frame by frame with OpenMP over frames, each thread owning
 * whole frames, which keeps the sums in raster order.  The averaged spectra
 * are then normalized by the same core code as the pixels (a shared
 * xanes_normalize_plan, or xanes_normalize_run) and its half-height or
 * derivative edge is reported.  SoC and valence are the calibration scales of
 * standards.h applied to each valid pixel and averaged; for the linear scales
 * of calibration/standards.json this equals the scale of the mean edge.
 * Memory: one double per labelled pixel, n_labels * n_energy doubles of
 * sums, and 25 bytes per pixel (validity and runs of one label).
 */
#include "xanes/particles.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>

void xanes_particles_free(xanes_particle *p)
{
    free(p);
}

static xanes_status check_input(const xanes_particles_input *in, int need_stack, xanes_error *err)
{
    if (in == NULL)
        return XANES_RAISE(err, XANES_EINVAL, "particles: no input given");
    if (in->ny == 0 || in->nx == 0 || in->labels == NULL)
        return XANES_RAISE(err, XANES_EINVAL,
                           "particles: need a non-empty label map, got %zu x %zu%s", in->ny, in->nx,
                           in->labels == NULL ? " without labels" : "");
    if (!need_stack && in->edge_ev == NULL)
        return XANES_RAISE(err, XANES_EINVAL, "particles: no edge-energy map given");
    if (need_stack && in->stack == NULL)
        return XANES_RAISE(err, XANES_EINVAL, "particles: no absorbance stack given");
    if (in->stack != NULL) {
        if (in->energy_ev == NULL || in->n_energy < 7)
            return XANES_RAISE(err, XANES_EINVAL,
                               "particles: the stack needs at least 7 energies "
                               "to normalize averaged spectra, got %zu%s",
                               in->n_energy, in->energy_ev == NULL ? " and no energy array" : "");
        for (size_t k = 0; k < in->n_energy; k++)
            if (!isfinite(in->energy_ev[k]) ||
                (k > 0 && !(in->energy_ev[k] > in->energy_ev[k - 1])))
                return XANES_RAISE(err, XANES_EDATA,
                                   "particles: energies must be finite and "
                                   "increasing: energy[%zu] = %.4f eV after %.4f eV",
                                   k, in->energy_ev[k], k > 0 ? in->energy_ev[k - 1] : NAN);
    }
    size_t n = in->ny * in->nx;
    for (size_t p = 0; p < n; p++) {
        int32_t l = in->labels[p];
        int32_t f = in->spectrum_labels != NULL ? in->spectrum_labels[p] : 0;
        const int bad_l = l < 0 || (size_t)l > in->n_labels;
        if (bad_l || f < 0 || (size_t)f > in->n_labels)
            return XANES_RAISE(err, XANES_EDATA,
                               "particles: %slabel %d at pixel (y %zu, x %zu) is "
                               "outside 0..%zu",
                               bad_l ? "" : "spectrum ", (int)(bad_l ? l : f), p / in->nx,
                               p % in->nx, in->n_labels);
    }
    return XANES_OK;
}

/* A run of consecutive valid pixels (in memory order) of one label. */
typedef struct {
    size_t start, len;
    int32_t label;
} pixel_run;

/* Sums of the finite spectra into mean[] and count[], then divides.  valid is
 * [ny * nx] bytes and runs [ny * nx] run records of scratch. */
static void mean_spectra(const xanes_particles_input *in, double *mean, size_t *count,
                         uint8_t *valid, pixel_run *runs)
{
    const size_t ny = in->ny, nx = in->nx, n = ny * nx, ne = in->n_energy;
    const size_t nl = in->n_labels;
    /* The averaged spectra use the footprints when given (footprint.h). */
    const int32_t *labels = in->spectrum_labels != NULL ? in->spectrum_labels : in->labels;
    const float *stack = in->stack;
    long lny = (long)ny;
    /* A pixel counts only if its spectrum is finite at every energy: from
     * the caller's hint when there is one, else from a pass over the stack
     * (v - v is 0 for finite v, NaN for NaN and Inf: vectorises). */
    const float *hint = in->finite_hint;
#pragma omp parallel for default(none) shared(labels, stack, valid, hint)                          \
    firstprivate(lny, nx, n, ne) schedule(static)
    for (long y = 0; y < lny; y++) {
        size_t row = (size_t)y * nx;
        if (hint != NULL) {
            for (size_t x = 0; x < nx; x++)
                valid[row + x] = labels[row + x] > 0 && !isnan(hint[row + x]);
            continue;
        }
        for (size_t x = 0; x < nx; x++)
            valid[row + x] = labels[row + x] > 0;
        for (size_t k = 0; k < ne; k++) {
            const float *f = stack + k * n + row;
#pragma omp simd
            for (size_t x = 0; x < nx; x++)
                valid[row + x] &= (uint8_t)((f[x] - f[x]) == 0.0f);
        }
    }
    /* Runs of one label turn the per-frame pass into contiguous sums. */
    memset(count, 0, nl * sizeof *count);
    size_t nr = 0;
    for (size_t p = 0; p < n; p++) {
        if (!valid[p])
            continue;
        count[labels[p] - 1]++;
        if (nr > 0 && runs[nr - 1].label == labels[p] && runs[nr - 1].start + runs[nr - 1].len == p)
            runs[nr - 1].len++;
        else
            runs[nr++] = (pixel_run){p, 1, labels[p]};
    }
    memset(mean, 0, nl * ne * sizeof *mean);
    long lne = (long)ne;
    /* Each thread owns whole frames: column k of every particle's sum is
     * written by one thread, run after run in raster order. */
#pragma omp parallel for default(none) shared(runs, stack, mean) firstprivate(lne, n, ne, nr)      \
    schedule(static)
    for (long k = 0; k < lne; k++) {
        const float *f = stack + (size_t)k * n;
        for (size_t r = 0; r < nr; r++) {
            const float *v = f + runs[r].start;
            double acc = 0.0;
            for (size_t i = 0; i < runs[r].len; i++)
                acc += (double)v[i];
            mean[(size_t)(runs[r].label - 1) * ne + (size_t)k] += acc;
        }
    }
    for (size_t l = 0; l < nl; l++)
        for (size_t k = 0; k < ne; k++)
            mean[l * ne + k] = count[l] > 0 ? mean[l * ne + k] / (double)count[l] : NAN;
}

xanes_status xanes_particles_mean_spectra(const xanes_particles_input *in, double *mean,
                                          size_t *count, xanes_error *err)
{
    xanes_status st = XANES_OK;
    uint8_t *valid = NULL;
    pixel_run *runs = NULL;
    size_t *cnt = NULL;
    if ((st = check_input(in, 1, err)) != XANES_OK)
        goto done;
    if (mean == NULL) {
        st = XANES_RAISE(err, XANES_EINVAL, "particles: no output array for the mean spectra");
        goto done;
    }
    valid = malloc(in->ny * in->nx);
    runs = malloc(in->ny * in->nx * sizeof *runs);
    cnt = malloc((in->n_labels + 1) * sizeof *cnt);
    if (valid == NULL || runs == NULL || cnt == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM,
                         "particles: cannot allocate scratch for %zu x %zu "
                         "pixels",
                         in->ny, in->nx);
        goto done;
    }
    mean_spectra(in, mean, cnt, valid, runs);
    if (count != NULL)
        memcpy(count, cnt, in->n_labels * sizeof *count);
done:
    free(valid);
    free(runs);
    free(cnt);
    return st;
}

/* Edge of one averaged spectrum with the core code; NaN when the core finds
 * none.  fbuf holds n_fbuf >= n_energy floats, NaN past n_energy, scratch
 * the plan's scratch. */
static void spectrum_edge(const xanes_particles_input *in, double *mu, float *fbuf, double *scratch,
                          xanes_normalize_workspace *ws, xanes_particle *out)
{
    xanes_normalize_result r;
    xanes_status st;
    if (in->subspace != NULL)
        xanes_subspace_project(in->subspace, mu, mu); /* in place: mean[] is scratch here */
    if (in->plan != NULL) {
        for (size_t k = 0; k < in->n_energy; k++)
            fbuf[k] = (float)mu[k];
        st = xanes_normalize_plan_apply(in->plan, fbuf, 1, scratch, &r, NULL, NULL, NULL);
    } else {
        st = xanes_normalize_run(in->energy_ev, mu, in->n_energy, in->norm_params, ws, &r, NULL,
                                 NULL, NULL);
    }
    if (st != XANES_OK)
        return;
    out->edge_step_spectrum = r.edge_step;
    out->edge_mean_spectrum_ev =
        in->edge_kind == XANES_PARTICLES_EDGE_DERIV ? r.deriv_edge_ev : r.half_edge_ev;
}

/* Statistics of one particle from its valid edge energies e[m] (sorted in
 * place, after the raster-order sums). */
static void pixel_stats(double *e, size_t m, const xanes_standards *std, xanes_particle *out)
{
    out->n_valid_px = m;
    if (m == 0)
        return;
    out->edge_mean_ev = gsl_stats_mean(e, 1, m);
    if (m >= 2)
        out->edge_std_ev = gsl_stats_sd_m(e, 1, m, out->edge_mean_ev);
    if (std != NULL) {
        double soc = 0.0, val = 0.0;
        size_t over = 0;
        for (size_t i = 0; i < m; i++) {
            soc += xanes_standards_soc(std, e[i]);
            val += xanes_standards_valence(std, e[i]);
            over += xanes_standards_is_overcharged(std, e[i]) ? 1 : 0;
        }
        out->soc_mean = soc / (double)m;
        out->valence_mean = val / (double)m;
        out->overcharged_fraction = (double)over / (double)m;
    }
    gsl_sort(e, 1, m);
    out->edge_median_ev = gsl_stats_median_from_sorted_data(e, 1, m);
}

xanes_status xanes_particles_compute(const xanes_particles_input *in, xanes_particle **out,
                                     size_t *n_out, xanes_error *err)
{
    xanes_status st = XANES_OK;
    xanes_particle *res = NULL;
    size_t *start = NULL, *cursor = NULL, *count = NULL;
    double *edges = NULL, *mean = NULL, *sx = NULL, *sy = NULL, *scratch = NULL;
    uint8_t *valid = NULL;
    pixel_run *runs = NULL;
    float *fbuf = NULL;
    xanes_normalize_workspace *ws = NULL;
    if (out == NULL || n_out == NULL) {
        st = XANES_RAISE(err, XANES_EINVAL, "particles: no output pointers given");
        goto done;
    }
    *out = NULL;
    *n_out = 0;
    if ((st = check_input(in, 0, err)) != XANES_OK)
        goto done;
    const size_t nl = in->n_labels, nx = in->nx, n = in->ny * in->nx, ne = in->n_energy;
    if (nl == 0)
        goto done;
    res = malloc(nl * sizeof *res);
    start = calloc(nl + 1, sizeof *start);
    cursor = malloc(nl * sizeof *cursor);
    sx = calloc(nl, sizeof *sx);
    sy = calloc(nl, sizeof *sy);
    if (!res || !start || !cursor || !sx || !sy) {
        st = XANES_RAISE(err, XANES_ENOMEM, "particles: cannot allocate records for %zu particles",
                         nl);
        goto done;
    }
    for (size_t l = 0; l < nl; l++)
        res[l] = (xanes_particle){.label = (int32_t)(l + 1),
                                  .edge_mean_ev = NAN,
                                  .edge_std_ev = NAN,
                                  .edge_median_ev = NAN,
                                  .edge_mean_spectrum_ev = NAN,
                                  .edge_step_spectrum = NAN,
                                  .soc_mean = NAN,
                                  .valence_mean = NAN,
                                  .overcharged_fraction = NAN};

    /* Area, centroid and the valid edges grouped by label (counting sort). */
    size_t n_edges = 0;
    for (size_t p = 0; p < n; p++) {
        int32_t l = in->labels[p];
        if (l == 0)
            continue;
        res[l - 1].area_px++;
        sx[l - 1] += (double)(p % nx);
        sy[l - 1] += (double)(p / nx);
        if (isfinite(in->edge_ev[p])) {
            start[l]++;
            n_edges++;
        }
    }
    for (size_t l = 1; l <= nl; l++)
        start[l] += start[l - 1]; /* start[l] = end of label l's block */
    edges = malloc((n_edges > 0 ? n_edges : 1) * sizeof *edges);
    if (edges == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM, "particles: cannot allocate %zu edge values", n_edges);
        goto done;
    }
    for (size_t l = 0; l < nl; l++)
        cursor[l] = start[l];
    for (size_t p = 0; p < n; p++) {
        int32_t l = in->labels[p];
        if (l != 0 && isfinite(in->edge_ev[p]))
            edges[cursor[l - 1]++] = (double)in->edge_ev[p];
    }
    for (size_t l = 0; l < nl; l++)
        if (res[l].area_px > 0) {
            res[l].centroid_x_px = sx[l] / (double)res[l].area_px;
            res[l].centroid_y_px = sy[l] / (double)res[l].area_px;
        } else {
            res[l].centroid_x_px = res[l].centroid_y_px = NAN;
        }
    const xanes_standards *std = in->standards;
    long lnl = (long)nl;
#pragma omp parallel for default(none) shared(res, edges, start, std) firstprivate(lnl)            \
    schedule(static)
    for (long l = 0; l < lnl; l++)
        pixel_stats(edges + start[l], start[l + 1] - start[l], std, &res[l]);

    if (in->stack != NULL) {
        /* Given averaged spectra need no pass over the stack, nor its 17
         * bytes a pixel of scratch. */
        const int given = in->mean_spectra != NULL && in->mean_counts != NULL;
        mean = malloc(nl * ne * sizeof *mean);
        count = malloc(nl * sizeof *count);
        if (!given) {
            valid = malloc(n);
            runs = malloc(n * sizeof *runs);
        }
        /* A plan built on a longer grid than energy_ev would read past the
         * spectrum; the plan does not tell its length, but its scratch is at
         * least that long, so the buffer is padded to it with NaN, which the
         * plan rejects (edge NaN) instead of reading out of bounds. */
        size_t n_fbuf = ne;
        if (in->plan != NULL) {
            size_t ns = xanes_normalize_plan_scratch_size(in->plan);
            n_fbuf = ns > ne ? ns : ne;
            scratch = malloc(ns * sizeof *scratch);
        } else {
            ws = xanes_normalize_workspace_alloc(ne);
        }
        fbuf = malloc(n_fbuf * sizeof *fbuf);
        if (fbuf != NULL)
            for (size_t k = ne; k < n_fbuf; k++)
                fbuf[k] = NAN;
        if (!mean || !count || (!given && (!valid || !runs)) || !fbuf ||
            (in->plan != NULL ? !scratch : !ws)) {
            st = XANES_RAISE(err, XANES_ENOMEM,
                             "particles: cannot allocate %zu averaged spectra "
                             "of %zu energies",
                             nl, ne);
            goto done;
        }
        if (given) {
            memcpy(mean, in->mean_spectra, nl * ne * sizeof *mean);
            memcpy(count, in->mean_counts, nl * sizeof *count);
        } else {
            mean_spectra(in, mean, count, valid, runs);
        }
        for (size_t l = 0; l < nl; l++) {
            res[l].n_spectrum_px = count[l];
            if (count[l] > 0)
                spectrum_edge(in, mean + l * ne, fbuf, scratch, ws, &res[l]);
        }
    }
    *out = res;
    *n_out = nl;
    res = NULL;
done:
    xanes_particles_free(res);
    free(start);
    free(cursor);
    free(count);
    free(edges);
    free(mean);
    free(sx);
    free(sy);
    free(scratch);
    free(valid);
    free(runs);
    free(fbuf);
    xanes_normalize_workspace_free(ws);
    return st;
}
