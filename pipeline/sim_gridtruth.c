/* sim_gridtruth.c: the "grid truth" -- the standards' edge definition
 * applied to noise-free, drift-free spectra sampled at the stack's TRUE
 * energies, i.e. what a perfect pipeline can recover from data on that grid.
 *
 * The physical truth (edge_energy) is the same definition on a 0.05 eV fine
 * grid.  On a stack grid of ~50 energies the pre- and post-edge lines are
 * fitted to a handful of samples that fall on the pre-edge peak or the EXAFS
 * wiggles, and the half-level crossing is interpolated linearly between
 * samples ~1-2 eV apart, so the two differ by up to a few tenths of an eV,
 * erratically with the grid: a property of the measurement design, not of
 * the software.  Here each particle pixel's spectrum (xanes_simulate_pixel_
 * absorbance, full absorbance: the linear non-Ni terms cancel in the
 * definition) is sampled at energy_true[k] and normalized with one
 * xanes_normalize_plan on that grid (e0 fixed at the anchor, snapped to the
 * nearest sample as larch does); per particle, the plan is applied to the
 * mean spectrum over the particle's label.  Work goes in blocks of rows:
 * energies in parallel fill a float block [ne][rows*nx] and accumulate the
 * per-particle sums (each energy owned by one thread, summed in pixel order,
 * so the result does not depend on the thread count), then pixels in
 * parallel apply the plan with stride rows*nx.  The NiO reference's grid
 * edge is its noise-free spectrum at the stack's true energies.  When the stack's energies
 * cannot carry the definition (the plan cannot be built: windows outside
 * the grid), both grid truths are NaN.
 */
#include "sim_private.h"

#include <math.h>
#include <stdlib.h>

#include <omp.h>

xanes_status sim_grid_truth_build(xanes_simulate_scene *sc, xanes_error *err)
{
    const size_t nx = sc->nx, ny = sc->ny, ne = sc->ne, np = sc->np;
    for (size_t i = 0; i < nx * ny; i++)
        sc->truth_edge_grid[i] = NAN;
    for (size_t i = 0; i < np; i++)
        sc->p_edge_grid[i] = NAN;
    sc->ref_edge_grid = NAN;
    xanes_error perr;
    xanes_error_clear(&perr);
    xanes_normalize_plan *plan = xanes_normalize_plan_alloc(sc->e_true, ne, &sc->edge_par, &perr);
    if (plan == NULL)
        return perr.status == XANES_ENOMEM ? XANES_RAISE(err, XANES_ENOMEM, "%s", perr.message)
                                           : XANES_OK; /* grid cannot carry the definition */
    xanes_status st = XANES_OK;
    size_t rows = (size_t)4 << 20; /* block of at most 4 Mi floats */
    rows = rows / (ne * nx) > 0 ? rows / (ne * nx) : 1;
    rows = rows < ny ? rows : ny;
    const size_t nscr = xanes_normalize_plan_scratch_size(plan);
    const size_t nthr = (size_t)omp_get_max_threads();
    float *blk = malloc(ne * rows * nx * sizeof *blk);
    double *psum = calloc(np * ne + 1, sizeof *psum);
    size_t *pcount = calloc(np + 1, sizeof *pcount);
    double *scr = malloc(nthr * nscr * sizeof *scr);
    float *pmean = malloc(ne * sizeof *pmean);
    if (blk == NULL || psum == NULL || pcount == NULL || scr == NULL || pmean == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM, "out of memory for the grid truth");
        goto done;
    }
    for (size_t y0 = 0; y0 < ny; y0 += rows) {
        const size_t y1 = y0 + rows < ny ? y0 + rows : ny, bn = (y1 - y0) * nx;
        const int32_t *lab = sc->labels + y0 * nx;
#pragma omp parallel for default(none) shared(sc, blk, psum, lab) firstprivate(ne, nx, y0, y1, bn) \
    schedule(static)
        for (size_t k = 0; k < ne; k++) {
            const double e = sc->e_true[k];
            for (size_t j = 0; j < bn; j++) {
                if (lab[j] == 0) {
                    blk[k * bn + j] = 0.0f;
                    continue;
                }
                double a = xanes_simulate_pixel_absorbance(sc, y0 + j / nx, j % nx, e);
                blk[k * bn + j] = (float)a;
                psum[(size_t)(lab[j] - 1) * ne + k] += a;
            }
        }
        for (size_t j = 0; j < bn; j++)
            if (lab[j] > 0)
                pcount[lab[j] - 1]++;
#pragma omp parallel for default(none) shared(sc, blk, lab, plan, scr)                             \
    firstprivate(nscr, bn, y0, nx) schedule(static)
        for (size_t j = 0; j < bn; j++) {
            if (lab[j] == 0)
                continue;
            xanes_normalize_result r;
            double *s = scr + (size_t)omp_get_thread_num() * nscr;
            if (xanes_normalize_plan_apply(plan, blk + j, bn, s, &r, NULL, NULL, NULL) == XANES_OK)
                sc->truth_edge_grid[y0 * nx + j] = r.half_edge_ev;
        }
    }
    for (size_t i = 0; i < np; i++) {
        if (pcount[i] == 0)
            continue;
        for (size_t k = 0; k < ne; k++)
            pmean[k] = (float)(psum[i * ne + k] / (double)pcount[i]);
        xanes_normalize_result r;
        if (xanes_normalize_plan_apply(plan, pmean, 1, scr, &r, NULL, NULL, NULL) == XANES_OK)
            sc->p_edge_grid[i] = r.half_edge_ev;
    }
    /* The NiO reference imaged with the stack's energy list, noise-free. */
    for (size_t k = 0; k < ne; k++)
        pmean[k] = (float)xanes_simulate_reference_absorbance(sc, sc->e_true[k]);
    xanes_normalize_result rr;
    if (xanes_normalize_plan_apply(plan, pmean, 1, scr, &rr, NULL, NULL, NULL) == XANES_OK)
        sc->ref_edge_grid = rr.half_edge_ev;
done:
    free(blk);
    free(psum);
    free(pcount);
    free(scr);
    free(pmean);
    xanes_normalize_plan_free(plan);
    return st;
}
