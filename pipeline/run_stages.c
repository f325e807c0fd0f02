/* run_stages.c: the stages of `xanes run` after the per-pixel edge map --
 * segmentation (noise-adaptive smoothing), footprints, spectral subspace and
 * denoised edge map, per-particle statistics, and the final maps -- as
 * called by xanes_run_process (run.c; run_private.h).  Split from run.c,
 * which had grown past one file's size; the algorithms are in their own
 * stages (segment.c, footprint.c, subspace.c, denoise.c, particles.c). */
#include "run_private.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_statistics_double.h>

#include "xanes/denoise.h"
#include "xanes/footprint.h"
#include "xanes/particles.h"
#include "xanes/segment.h"

/* Mask and labels from the edge-jump map.  When the map is noise-limited
 * (Otsu contrast below p->noise_limited_contrast) and p->segment_smooth_auto
 * is set, the segmentation runs again with the jump map smoothed at
 * segment_smooth_noisy_px: at 300 counts the sigma-1 masks are ragged, a
 * ragged particle can split in two, and the rim pixels that noise let
 * through bias the averaged spectra (simulated 128^2 NCM stacks, 9 at 300
 * counts: F1 0.941 in one, averaged-spectrum edges 0.21 eV rms on average
 * with sigma 1 against F1 1.000 and 0.15 eV with sigma 2). */
xanes_status run_segment_stage(const xanes_run_params *p, xanes_run_result *r, xanes_error *err)
{
    r->segment_smooth_px = p->segment.smooth_px;
    xanes_status st = xanes_segment_run(r->edge_jump, r->ny, r->nx, &p->segment, r->labels,
                                        &r->segment_info, err);
    /* Decided once, on the map as first smoothed: the footprints follow the
     * same decision even though the re-smoothed map scores higher. */
    r->noise_limited = st == XANES_OK && r->segment_info.otsu_contrast < p->noise_limited_contrast;
    if (st != XANES_OK || !p->segment_smooth_auto || !r->noise_limited ||
        !(p->segment.smooth_px < p->segment_smooth_noisy_px))
        return st;
    /* The smoother map is kept only when it earns most of what smoothing
     * promises.  Going from sigma 1 to 2 px halves white noise in 2-D, so
     * the Otsu contrast (class separation in smoothed-noise sigmas) of
     * particles much larger than 2 px nearly doubles (simulated 128^2 NCM
     * stacks at 300 counts: 6.8-7.4 -> 12.5-13.6); particles of a few px
     * radius blur into the background instead (97 x 83 px, radii 3-6 px:
     * 10.8 -> 12.0, 13.9 -> 16.2, and at 500 counts 2.5 (refused) -> 3.2 with
     * 22 "particles" for 4 true ones).  Kept when the contrast grows by at
     * least segment_smooth_min_gain (1.5). */
    xanes_segment_params sp = p->segment;
    sp.smooth_px = p->segment_smooth_noisy_px;
    const size_t n = r->ny * r->nx;
    int32_t *labels2 = malloc(n * sizeof *labels2);
    if (labels2 == NULL)
        return XANES_RAISE(err, XANES_ENOMEM, "segmentation: out of memory for %zu labels", n);
    xanes_segment_info info2;
    st = xanes_segment_run(r->edge_jump, r->ny, r->nx, &sp, labels2, &info2, err);
    if (st == XANES_OK && !info2.no_contrast &&
        info2.otsu_contrast >= p->segment_smooth_min_gain * r->segment_info.otsu_contrast) {
        memcpy(r->labels, labels2, n * sizeof *labels2);
        r->segment_info = info2;
        r->segment_smooth_px = sp.smooth_px;
    }
    free(labels2);
    return st;
}

/* The normalization of the edge map as resolved (e0, windows, degree), for
 * everything normalized after it. */
static void resolved_norm_params(const xanes_run_params *p, const xanes_standards *std,
                                 const xanes_run_result *r, xanes_normalize_params *np)
{
    run_edge_norm_params(p, std, np);
    np->e0_ev = r->norm.e0_ev;
    np->pre1_ev = r->norm.pre1_ev;
    np->pre2_ev = r->norm.pre2_ev;
    np->norm1_ev = r->norm.norm1_ev;
    np->norm2_ev = r->norm.norm2_ev;
    np->nnorm = r->norm.nnorm;
    np->nvict = r->norm.nvict;
}

void run_spectral_free(run_spectral *sp)
{
    xanes_subspace_free(sp->blocks);
    xanes_subspace_free(sp->means);
    free(sp->mean);
    free(sp->count);
    *sp = (run_spectral){0};
}

/* The particles' input for this run (labels, stack, footprints, the edge
 * definition in *np); its subspace and averaged spectra are left NULL. */
static xanes_particles_input particles_input(const xanes_run_params *p, const xanes_stack *s,
                                             const xanes_standards *std, const xanes_run_result *r,
                                             xanes_normalize_params *np)
{
    resolved_norm_params(p, std, r, np);
    return (xanes_particles_input){
        .ny = s->ny,
        .nx = s->nx,
        .labels = r->labels,
        .n_labels = r->segment_info.n_labels,
        .edge_ev = r->edge_ev,
        .stack = s->absorbance,
        .energy_ev = r->energy_ev,
        .n_energy = s->n_energy,
        .plan = NULL,
        .norm_params = np,
        .edge_kind =
            p->edge == XANES_EDGEMAP_DERIV ? XANES_PARTICLES_EDGE_DERIV : XANES_PARTICLES_EDGE_HALF,
        .standards = std,
        .spectrum_labels = r->footprints,
        /* NaN exactly where a spectrum is not finite (edgemap.h). */
        .finite_hint = r->edge_jump,
    };
}

/* The particles' averaged spectra and their own subspace (subspace.h,
 * xanes_subspace_fit_means) into sp, when the jump map is not
 * noise-limited: then the few, noisy means fit their own noise along the
 * component that separates them, and on 48 simulated 300-count stacks 111
 * of 422 particle edges were off by more than 0.15 eV against 94 with the
 * block components. */
static xanes_status means_subspace(const xanes_run_params *p, const xanes_stack *s,
                                   const xanes_standards *std, xanes_run_result *r,
                                   run_spectral *sp, xanes_error *err)
{
    if (r->noise_limited)
        return XANES_OK;
    const size_t nl = r->segment_info.n_labels, ne = s->n_energy;
    xanes_normalize_params np;
    xanes_particles_input in = particles_input(p, s, std, r, &np);
    sp->mean = malloc(nl * ne * sizeof *sp->mean);
    sp->count = malloc(nl * sizeof *sp->count);
    if (sp->mean == NULL || sp->count == NULL)
        return XANES_RAISE(err, XANES_ENOMEM, "run: out of memory for %zu averaged spectra", nl);
    xanes_status st = xanes_particles_mean_spectra(&in, sp->mean, sp->count, err);
    if (st != XANES_OK)
        return st;
    st = xanes_subspace_fit_means(sp->mean, sp->count, nl, r->energy_ev, ne,
                                  xanes_subspace_noise_var(sp->blocks), &p->subspace, &sp->means,
                                  err);
    if (st != XANES_OK)
        return run_with_context(err, st, "spectral subspace of the averaged spectra of stack",
                                s->path);
    r->means_subspace_rank = xanes_subspace_rank(sp->means);
    r->means_subspace_spectra = xanes_subspace_n_blocks(sp->means);
    r->means_subspace_threshold = xanes_subspace_threshold(sp->means);
    return XANES_OK;
}

/* The spectral subspaces of the particle pixels and of the particles'
 * averaged spectra, and the edge map of the pixels projected onto the
 * second when it has a rank, else onto the first (denoise.h); sp stays
 * empty when p->denoise is off or there is no particle. */
xanes_status run_denoise_stage(const xanes_run_params *p, const xanes_stack *s,
                               const xanes_standards *std, xanes_run_result *r, run_spectral *sp,
                               xanes_error *err)
{
    r->subspace_rank = r->subspace_blocks = 0;
    r->subspace_threshold = NAN;
    for (size_t j = 0; j < XANES_RUN_N_EIGENVALUES; j++)
        r->subspace_eval[j] = NAN;
    r->means_subspace_rank = r->means_subspace_spectra = 0;
    r->means_subspace_threshold = NAN;
    r->footprints = malloc(s->ny * s->nx * sizeof *r->footprints);
    if (r->footprints == NULL)
        return XANES_RAISE(err, XANES_ENOMEM, "run: out of memory for the particle footprints");
    r->footprint_px = p->footprint_px;
    if (isnan(r->footprint_px))
        r->footprint_px = r->noise_limited ? 1.0 : 0.0;
    xanes_status st =
        xanes_footprint_grow(r->labels, s->ny, s->nx, r->footprint_px, r->footprints, err);
    if (st != XANES_OK)
        return st;
    if (!p->denoise || r->segment_info.n_labels == 0)
        return XANES_OK;
    st = xanes_subspace_fit(s->absorbance, r->energy_ev, s->n_energy, s->ny, s->nx, r->footprints,
                            &p->subspace, &sp->blocks, err);
    if (st != XANES_OK)
        return run_with_context(err, st, "spectral subspace of stack", s->path);
    r->subspace_rank = xanes_subspace_rank(sp->blocks);
    r->subspace_blocks = xanes_subspace_n_blocks(sp->blocks);
    r->subspace_threshold = xanes_subspace_threshold(sp->blocks);
    for (size_t j = 0; j < XANES_RUN_N_EIGENVALUES && j < s->n_energy; j++)
        r->subspace_eval[j] = xanes_subspace_eigenvalue(sp->blocks, j);
    if (r->subspace_rank == 0)
        return XANES_OK;
    if ((st = means_subspace(p, s, std, r, sp, err)) != XANES_OK)
        return st;
    xanes_normalize_params np;
    resolved_norm_params(p, std, r, &np);
    /* The pixels too are projected onto the averaged spectra's subspace
     * when there is one: on 48 simulated 10^4-count stacks the particle
     * means of the pixel map had 0.029 eV rms error against 0.037 eV with
     * the block subspace (36 against 59 of 432 particles beyond 0.05 eV,
     * tools/accuracy_compare.py),
     * and on stacks with a core-shell SoC gradient the pixel map's rms error
     * went 0.18-0.21 -> 0.17-0.20 eV: the state-of-charge direction within
     * a particle is the one between particles. */
    const xanes_subspace *pix = sp->blocks;
    if (sp->means != NULL && xanes_subspace_rank(sp->means) > 0)
        pix = sp->means;
    st = xanes_denoise_edgemap(pix, r->energy_ev, s->n_energy, &np, p->edge,
                               p->edgemap.min_jump_over_noise, s->absorbance, s->ny, s->nx,
                               r->labels, r->noise, r->edge_ev, &r->denoise_info, err);
    if (st != XANES_OK)
        return run_with_context(err, st, "denoised edge map of stack", s->path);
    return XANES_OK;
}

/* Per-particle statistics with the averaged spectra normalized like the
 * pixels (same e0, ranges and degree) and projected onto the averaged
 * spectra's own subspace when there is one, else onto the block subspace,
 * else not at all. */
xanes_status run_particles_stage(const xanes_run_params *p, const xanes_stack *s,
                                 const xanes_standards *std, const run_spectral *sp,
                                 xanes_run_result *r, xanes_error *err)
{
    xanes_normalize_params np;
    xanes_particles_input in = particles_input(p, s, std, r, &np);
    in.subspace = sp->means != NULL && xanes_subspace_rank(sp->means) > 0 ? sp->means : sp->blocks;
    if (sp->mean != NULL) {
        in.mean_spectra = sp->mean;
        in.mean_counts = sp->count;
    }
    return xanes_particles_compute(&in, &r->particles, &r->n_particles, err);
}

/* Masks the maps to the particles and derives SoC and valence maps; sums up
 * the particles for the summary. */
xanes_status run_finish_maps(const xanes_standards *std, xanes_run_result *r, xanes_error *err)
{
    const size_t n = r->ny * r->nx;
    float *edge = r->edge_ev, *soc = r->soc, *valence = r->valence;
    const int32_t *labels = r->labels;
#pragma omp parallel for schedule(static) default(none) shared(edge, soc, valence, labels, std)    \
    firstprivate(n)
    for (size_t i = 0; i < n; i++) {
        if (labels[i] == 0)
            edge[i] = NAN;
        const double e = edge[i];
        soc[i] = isfinite(e) ? (float)xanes_standards_soc(std, e) : NAN;
        valence[i] = isfinite(e) ? (float)xanes_standards_valence(std, e) : NAN;
    }
    double *means = malloc((r->n_particles + 1) * sizeof *means);
    if (means == NULL)
        return XANES_RAISE(err, XANES_ENOMEM, "run: out of memory for %zu particles",
                           r->n_particles);
    size_t m = 0;
    r->n_overcharged = 0;
    for (size_t i = 0; i < r->n_particles; i++) {
        const double e = r->particles[i].edge_mean_ev;
        if (!isfinite(e))
            continue;
        means[m++] = e;
        if (xanes_standards_is_overcharged(std, e))
            r->n_overcharged++;
    }
    r->particle_edge_mean_ev = m > 0 ? gsl_stats_mean(means, 1, m) : NAN;
    r->particle_edge_std_ev = m > 1 ? gsl_stats_sd(means, 1, m) : NAN;
    free(means);
    return XANES_OK;
}
