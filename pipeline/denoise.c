/* denoise.c: edge map of the particle pixels from their spectra projected
 * onto the stack's spectral subspace (see denoise.h for why and the gate).
 *
 * The jump functional g of the edge definition on this grid is found once
 * by finite differences of the plan at the subspace mean (the jump is a
 * linear function of the spectrum, so a unit step per sample gives g
 * exactly up to rounding, as edgemap.c does for ||g||); P g follows from
 * the basis.  Rows are shared among threads with a static schedule; each
 * thread transposes TILE pixels x n_energy of a row into a pixel-major
 * buffer (every frame row read once, sequentially), projects the labelled
 * pixels in double and normalizes them with the plan (no allocation per
 * pixel).  Work: about 4 k n_energy flops per labelled pixel for the
 * projection (k <= 6) on top of the plan's O(n_energy).
 */
#include "xanes/denoise.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#define TILE 64

/* g[k] = d jump / d mu[k] at the subspace mean, and the raw and projected
 * gains. */
static xanes_status jump_functional(const xanes_normalize_plan *plan, const xanes_subspace *sub,
                                    size_t ne, double *scratch, float *y, double *g,
                                    xanes_denoise_info *info, xanes_error *err)
{
    const double *mean = xanes_subspace_mean_view(sub);
    const double *v = xanes_subspace_basis_view(sub);
    const size_t k = xanes_subspace_rank(sub);
    xanes_normalize_result r;
    for (size_t i = 0; i < ne; i++)
        y[i] = (float)mean[i];
    if (xanes_normalize_plan_apply(plan, y, 1, scratch, &r, NULL, NULL, NULL) != XANES_OK)
        return XANES_RAISE(err, XANES_EDATA,
                           "denoise: the mean spectrum of the particle pixels has no edge step "
                           "under the edge definition");
    const double j0 = r.edge_step_signed;
    double g2 = 0.0;
    for (size_t i = 0; i < ne; i++) {
        float keep = y[i];
        y[i] = keep + 1.0f;
        double step = (double)y[i] - (double)keep;
        xanes_status st = xanes_normalize_plan_apply(plan, y, 1, scratch, &r, NULL, NULL, NULL);
        y[i] = keep;
        if (st != XANES_OK)
            return XANES_RAISE(err, XANES_EDATA,
                               "denoise: the edge definition fails at energy %zu of the mean "
                               "spectrum plus one",
                               i);
        g[i] = (r.edge_step_signed - j0) / step;
        g2 += g[i] * g[i];
    }
    double pg2 = 0.0;
    for (size_t i = 0; i < ne; i++) {
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

typedef enum { PX_EDGE, PX_LOW, PX_NONE, PX_INVALID } px_outcome;

static px_outcome one_pixel(const xanes_subspace *sub, const xanes_normalize_plan *plan,
                            xanes_edgemap_method method, double min_snr, double gain_raw,
                            double gain_proj, float noise, const float *tile_px, size_t ne,
                            double *y, float *fy, double *scratch, float *edge)
{
    *edge = NAN;
    for (size_t i = 0; i < ne; i++) {
        if (!isfinite(tile_px[i]))
            return PX_INVALID;
        y[i] = (double)tile_px[i];
    }
    xanes_subspace_project(sub, y, y);
    for (size_t i = 0; i < ne; i++)
        fy[i] = (float)y[i];
    xanes_normalize_result r;
    if (xanes_normalize_plan_apply(plan, fy, 1, scratch, &r, NULL, NULL, NULL) != XANES_OK)
        return PX_NONE;
    /* Per-sample noise of the raw spectrum from edgemap's noise map. */
    double sigma = (double)noise / (gain_raw > 1.0 ? gain_raw : 1.0);
    double jn = sigma * gain_proj;
    if (!(r.edge_step_signed > 0.0) || !isfinite(jn) || r.edge_step_signed < min_snr * jn)
        return PX_LOW;
    double e = method == XANES_EDGEMAP_HALF ? r.half_edge_ev : r.deriv_edge_ev;
    if (!isfinite(e))
        return PX_NONE;
    *edge = (float)e;
    return PX_EDGE;
}

xanes_status xanes_denoise_edgemap(const xanes_subspace *sub, const double *energy_ev,
                                   size_t n_energy, const xanes_normalize_params *norm,
                                   xanes_edgemap_method method, double min_jump_over_noise,
                                   const float *stack, size_t ny, size_t nx,
                                   const int32_t *labels, const float *noise, float *edge_ev,
                                   xanes_denoise_info *info, xanes_error *err)
{
    xanes_status st = XANES_OK;
    xanes_normalize_plan *plan = NULL;
    float *tiles = NULL, *fys = NULL;
    double *ys = NULL, *scratch = NULL, *g = NULL;
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
    np.edges = method == XANES_EDGEMAP_HALF ? XANES_NORMALIZE_EDGE_HALF : XANES_NORMALIZE_EDGE_DERIV;
    plan = xanes_normalize_plan_alloc(energy_ev, ne, &np, err);
    if (plan == NULL)
        return err != NULL ? err->status : XANES_EDATA;
    const int nthr = omp_get_max_threads();
    const size_t ns = xanes_normalize_plan_scratch_size(plan);
    tiles = malloc((size_t)nthr * TILE * ne * sizeof *tiles);
    fys = malloc((size_t)nthr * ne * sizeof *fys);
    ys = malloc((size_t)nthr * ne * sizeof *ys);
    scratch = malloc((size_t)nthr * ns * sizeof *scratch);
    g = malloc(ne * sizeof *g);
    if (tiles == NULL || fys == NULL || ys == NULL || scratch == NULL || g == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM, "denoise: out of memory for %d threads", nthr);
        goto done;
    }
    st = jump_functional(plan, sub, ne, scratch, fys, g, info, err);
    if (st != XANES_OK)
        goto done;
    const double gain_raw = info->jump_gain_raw, gain_proj = info->jump_gain_projected;
    size_t n_pix = 0, n_edge = 0, n_low = 0, n_none = 0, n_inv = 0;
    const long lny = (long)ny;
#pragma omp parallel num_threads(nthr) default(none)                                           \
    shared(sub, plan, stack, labels, noise, edge_ev, tiles, fys, ys, scratch)                  \
    firstprivate(lny, ny, nx, ne, ns, method, min_jump_over_noise, gain_raw, gain_proj)        \
    reduction(+ : n_pix, n_edge, n_low, n_none, n_inv)
    {
        const size_t t = (size_t)omp_get_thread_num();
        float *tile = tiles + t * TILE * ne, *fy = fys + t * ne;
        double *y = ys + t * ne, *sc = scratch + t * ns;
#pragma omp for schedule(static)
        for (long ly = 0; ly < lny; ly++) {
            const size_t yrow = (size_t)ly;
            for (size_t x0 = 0; x0 < nx; x0 += TILE) {
                const size_t w = nx - x0 < TILE ? nx - x0 : TILE;
                int any = 0;
                for (size_t i = 0; i < w; i++)
                    any |= labels[yrow * nx + x0 + i] > 0;
                if (!any)
                    continue;
                for (size_t e = 0; e < ne; e++) {
                    const float *row = stack + (e * ny + yrow) * nx + x0;
                    for (size_t i = 0; i < w; i++)
                        tile[i * ne + e] = row[i];
                }
                for (size_t i = 0; i < w; i++) {
                    const size_t o = yrow * nx + x0 + i;
                    if (labels[o] <= 0)
                        continue;
                    n_pix++;
                    switch (one_pixel(sub, plan, method, min_jump_over_noise, gain_raw, gain_proj,
                                      noise[o], tile + i * ne, ne, y, fy, sc, &edge_ev[o])) {
                    case PX_EDGE:
                        n_edge++;
                        break;
                    case PX_LOW:
                        n_low++;
                        break;
                    case PX_NONE:
                        n_none++;
                        break;
                    case PX_INVALID:
                        n_inv++;
                        break;
                    }
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
    free(scratch);
    free(ys);
    free(fys);
    free(tiles);
    xanes_normalize_plan_free(plan);
    return st;
}
