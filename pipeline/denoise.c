/* denoise.c: edge map of the particle pixels from their spectra projected
 * onto the stack's spectral subspace (see denoise.h for why and the gate).
 *
 * The jump weights g of the edge definition on this grid come from the
 * plan at the subspace mean (xanes_normalize_plan_jump_weights, as for
 * edgemap.c's ||g||); P g follows from the basis.  Rows are shared among threads with a static schedule; each
 * row is taken XANES_NORMALIZE_BLOCK pixels at a time (segments without a
 * labelled pixel are skipped): the segment's spectra are projected in
 * double with the pixels in the vector lanes, reading every frame row
 * once, and normalized together by the plan's block form, which equals
 * plan_apply spectrum by spectrum.  No allocation per pixel.  Work: about
 * 4 k n_energy flops per pixel for the projection (k <= 6) on top of the
 * plan's O(n_energy).
 */
#include "xanes/denoise.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "isa.h"

/* The raw and projected noise gains of the jump, ||g|| and ||P g||, with g
 * the plan's jump weights at the subspace mean (g[ne] is scratch). */
static xanes_status jump_gains(const xanes_normalize_plan *plan, const xanes_subspace *sub,
                               size_t ne, double *g, xanes_denoise_info *info, xanes_error *err)
{
    const double *v = xanes_subspace_basis_view(sub);
    const size_t k = xanes_subspace_rank(sub);
    xanes_status st =
        xanes_normalize_plan_jump_weights(plan, xanes_subspace_mean_view(sub), g, err);
    if (st != XANES_OK)
        return st;
    double g2 = 0.0, pg2 = 0.0;
    for (size_t i = 0; i < ne; i++) {
        g2 += g[i] * g[i];
        double acc = 0.0; /* (V^T V g)_i */
        for (size_t j = 0; j < k; j++) {
            double c = 0.0;
            for (size_t m = 0; m < ne; m++)
                c += v[j * ne + m] * g[m];
            acc += c * v[j * ne + i];
        }
        pg2 += acc * acc;
    }
    info->jump_gain_raw = sqrt(g2);
    info->jump_gain_projected = sqrt(pg2);
    return XANES_OK;
}

/* Projects the w spectra of row y, columns x0..x0+w-1, onto the subspace:
 * fb[e * XANES_NORMALIZE_BLOCK + j] = sum_k c_kj v_ke with
 * c_kj = sum_e v_ke y_ej, in double, sums in the order of
 * xanes_subspace_project (so each spectrum is what that function gives),
 * the pixels in the vector lanes.  A non-finite sample makes the whole
 * projected spectrum NaN, which the plan reports as non-finite. */
static inline __attribute__((always_inline)) void
project_row(const xanes_subspace *sub, const float *stack, size_t ne, size_t ny, size_t nx,
            size_t y, size_t x0, size_t w, double *c, float *fb)
{
    enum { B = XANES_NORMALIZE_BLOCK };
    const double *v = xanes_subspace_basis_view(sub);
    const size_t k = xanes_subspace_rank(sub);
    for (size_t j = 0; j < k * B; j++)
        c[j] = 0.0;
    for (size_t e = 0; e < ne; e++) {
        const float *row = stack + (e * ny + y) * nx + x0;
        for (size_t q = 0; q < k; q++) {
            const double vq = v[q * ne + e];
            double *cq = c + q * B;
#pragma omp simd
            for (size_t j = 0; j < w; j++)
                cq[j] += vq * (double)row[j];
        }
    }
    for (size_t e = 0; e < ne; e++) {
        double acc[B];
        for (size_t j = 0; j < w; j++)
            acc[j] = 0.0;
        for (size_t q = 0; q < k; q++) {
            const double vq = v[q * ne + e];
            const double *cq = c + q * B;
#pragma omp simd
            for (size_t j = 0; j < w; j++)
                acc[j] += cq[j] * vq;
        }
        for (size_t j = 0; j < w; j++)
            fb[e * B + j] = (float)acc[j];
    }
}

/* project_row for the baseline and two more x86-64 levels (isa.h), the best
 * picked at run time: the same double operations in the same order on each
 * (ISO C: no FMA contraction), 2, 4 or 8 pixels a vector. */
typedef void (*project_fn)(const xanes_subspace *sub, const float *stack, size_t ne, size_t ny,
                           size_t nx, size_t y, size_t x0, size_t w, double *c, float *fb);

static void project_base(const xanes_subspace *sub, const float *stack, size_t ne, size_t ny,
                         size_t nx, size_t y, size_t x0, size_t w, double *c, float *fb)
{
    project_row(sub, stack, ne, ny, nx, y, x0, w, c, fb);
}

#ifdef XANES_ISA_DISPATCH
__attribute__((target("arch=x86-64-v3"))) static void
project_v3(const xanes_subspace *sub, const float *stack, size_t ne, size_t ny, size_t nx, size_t y,
           size_t x0, size_t w, double *c, float *fb)
{
    project_row(sub, stack, ne, ny, nx, y, x0, w, c, fb);
}

__attribute__((target("arch=x86-64-v4"))) static void
project_v4(const xanes_subspace *sub, const float *stack, size_t ne, size_t ny, size_t nx, size_t y,
           size_t x0, size_t w, double *c, float *fb)
{
    project_row(sub, stack, ne, ny, nx, y, x0, w, c, fb);
}
#endif

xanes_status xanes_denoise_edgemap(const xanes_subspace *sub, const double *energy_ev,
                                   size_t n_energy, const xanes_normalize_params *norm,
                                   xanes_edgemap_method method, double min_jump_over_noise,
                                   const float *stack, size_t ny, size_t nx, const int32_t *labels,
                                   const float *noise, float *edge_ev, xanes_denoise_info *info,
                                   xanes_error *err)
{
    xanes_status st = XANES_OK;
    xanes_normalize_plan *plan = NULL;
    float *proj = NULL;
    unsigned char *stat = NULL;
    double *scratch = NULL, *g = NULL;
    if (sub == NULL || energy_ev == NULL || norm == NULL || stack == NULL || labels == NULL ||
        noise == NULL || edge_ev == NULL || info == NULL)
        return XANES_RAISE(err, XANES_EINVAL, "denoise: NULL argument");
    memset(info, 0, sizeof *info);
    if (xanes_subspace_n_energy(sub) != n_energy || ny == 0 || nx == 0)
        return XANES_RAISE(err, XANES_EINVAL,
                           "denoise: a subspace of %zu energies for a %zu x %zu x %zu stack",
                           xanes_subspace_n_energy(sub), n_energy, ny, nx);
    if (xanes_subspace_rank(sub) == 0)
        return XANES_OK;
    const size_t ne = n_energy;
    xanes_normalize_params np = *norm;
    np.edges =
        method == XANES_EDGEMAP_HALF ? XANES_NORMALIZE_EDGE_HALF : XANES_NORMALIZE_EDGE_DERIV;
    plan = xanes_normalize_plan_alloc(energy_ev, ne, &np, err);
    if (plan == NULL)
        return err != NULL ? err->status : XANES_EDATA;
    const int nthr = omp_get_max_threads();
    enum { B = XANES_NORMALIZE_BLOCK };
    const size_t nbs = xanes_normalize_plan_block_scratch_size(plan);
    const size_t k = xanes_subspace_rank(sub);
    /* Per thread: projected block [ne][B] floats, coefficients [k][B],
     * the plan's block scratch, and the block outputs (4 x B doubles). */
    const size_t per_thread = k * B + nbs + 4 * B;
    proj = malloc((size_t)nthr * ne * B * sizeof *proj);
    scratch = malloc((size_t)nthr * per_thread * sizeof *scratch);
    stat = malloc((size_t)nthr * B);
    g = malloc(ne * sizeof *g);
    if (proj == NULL || scratch == NULL || stat == NULL || g == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM, "denoise: out of memory for %d threads", nthr);
        goto done;
    }
    st = jump_gains(plan, sub, ne, g, info, err);
    if (st != XANES_OK)
        goto done;
    const double gain_raw = info->jump_gain_raw, gain_proj = info->jump_gain_projected;
    size_t n_pix = 0, n_edge = 0, n_low = 0, n_none = 0, n_inv = 0;
    const long lny = (long)ny;
    project_fn project = project_base;
#ifdef XANES_ISA_DISPATCH
    const int level = xanes_isa_best();
    project = level >= 4 ? project_v4 : level >= 3 ? project_v3 : project;
#endif
#pragma omp parallel num_threads(nthr) default(none)                                           \
    shared(sub, plan, stack, labels, noise, edge_ev, proj, stat, scratch, project)             \
    firstprivate(lny, ny, nx, ne, k, nbs, per_thread, method, min_jump_over_noise, gain_raw,   \
                     gain_proj) reduction(+ : n_pix, n_edge, n_low, n_none, n_inv)
    {
        const size_t t = (size_t)omp_get_thread_num();
        float *fb = proj + t * ne * B;
        double *c = scratch + t * per_thread;
        double *bs = c + k * B;
        double *step = bs + nbs, *rms = step + B, *half = rms + B, *deriv = half + B;
        double *edge = method == XANES_EDGEMAP_HALF ? half : deriv;
        unsigned char *status = stat + t * B;
        xanes_normalize_block out = {status, step, rms, half, deriv};
#pragma omp for schedule(static)
        for (long ly = 0; ly < lny; ly++) {
            const size_t yrow = (size_t)ly;
            for (size_t x0 = 0; x0 < nx; x0 += B) {
                const size_t w = nx - x0 < B ? nx - x0 : B;
                int any = 0;
                for (size_t i = 0; i < w; i++)
                    any |= labels[yrow * nx + x0 + i] > 0;
                if (!any)
                    continue;
                project(sub, stack, ne, ny, nx, yrow, x0, w, c, fb);
                xanes_normalize_plan_apply_block(plan, fb, B, w, bs, &out, NULL);
                for (size_t i = 0; i < w; i++) {
                    const size_t o = yrow * nx + x0 + i;
                    if (labels[o] <= 0)
                        continue;
                    n_pix++;
                    edge_ev[o] = NAN;
                    if (status[i] == XANES_NORMALIZE_BLOCK_NONFINITE) {
                        n_inv++;
                        continue;
                    }
                    if (status[i] != XANES_NORMALIZE_BLOCK_OK) {
                        n_none++;
                        continue;
                    }
                    /* Per-sample noise of the raw spectrum from edgemap's
                     * noise map, times the projected jump's gain. */
                    double sigma = (double)noise[o] / (gain_raw > 1.0 ? gain_raw : 1.0);
                    double jn = sigma * gain_proj;
                    if (!(step[i] > 0.0) || !isfinite(jn) || step[i] < min_jump_over_noise * jn) {
                        n_low++;
                        continue;
                    }
                    if (!isfinite(edge[i])) {
                        n_none++;
                        continue;
                    }
                    edge_ev[o] = (float)edge[i];
                    n_edge++;
                }
            }
        }
    }
    info->counts.n_pixels = n_pix;
    info->counts.n_edge = n_edge;
    info->counts.n_low_jump = n_low;
    info->counts.n_no_edge = n_none;
    info->counts.n_invalid = n_inv;
done:
    free(g);
    free(stat);
    free(scratch);
    free(proj);
    xanes_normalize_plan_free(plan);
    return st;
}
