/* run.c: the orchestration of `xanes run` (stages 1-6 of the pipeline; the
 * outputs are written by run_write.c).
 *
 * One stack file goes through the stages of ARCHITECTURE.md in order, each
 * called through its own header: stack (read + correction to absorbance),
 * calibrate (energy offset of a measured reference spectrum, or a given
 * offset), align (drift estimate, resampling in place), edgemap (per-pixel
 * normalization + edge + jump + noise gate, with e0 and the fit ranges taken
 * from the mean spectrum), segment (labels from the jump map, smoothed more
 * when it is noise-limited), denoise (footprints, spectral subspace, edge map
 * of the projected particle pixels) and particles (per-label statistics,
 * averaged-spectrum edge, SoC); the stages after the edge map are called from
 * run_stages.c.  The particles' averaged spectra are normalized with exactly
 * the e0, ranges and degree the pixel map used, so pixel and particle edges
 * share one definition.
 *
 * Nothing here computes science of its own: this file owns the buffers that
 * travel between the stages (the one float32 copy of the stack, freed as soon
 * as the particle spectra are averaged, and a few [ny][nx] maps), times each
 * stage, and maps the edge energies to SoC and valence with the standards'
 * scales.  Memory peak: the stack plus ~10 float maps plus the stages'
 * per-thread scratch (see their headers).
 */
#define _POSIX_C_SOURCE 200809L

#include "xanes/run.h"

#include "run_private.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <omp.h>

#include "xanes/standards.h"

static const char *const stage_names[XANES_RUN_N_STAGES] = {
    "read", "calibrate", "align", "edgemap", "segment", "denoise", "particles", "write"};

const char *xanes_run_stage_name(xanes_run_stage stage)
{
    return (unsigned)stage < XANES_RUN_N_STAGES ? stage_names[stage] : "unknown";
}

void xanes_run_default_params(xanes_run_params *p)
{
    memset(p, 0, sizeof *p);
    xanes_stack_default_options(&p->stack);
    p->calib_path = NULL;
    xanes_spectrum_default_options(&p->calib_spectrum);
    p->ref_edge_ev = NAN;
    p->energy_offset_ev = NAN;
    xanes_calibrate_default_params(&p->calibrate);
    p->edge = XANES_EDGEMAP_HALF;
    p->use_edge_definition = 1;
    p->align = 1;
    xanes_align_default_params(&p->align_params);
    xanes_edgemap_default_params(&p->edgemap);
    xanes_segment_default_params(&p->segment);
    p->denoise = 1;
    p->footprint_px = NAN;
    p->noise_limited_contrast = 20.0;
    p->segment_smooth_auto = 1;
    p->segment_smooth_noisy_px = 2.0;
    p->segment_smooth_min_gain = 1.5;
    xanes_subspace_default_params(&p->subspace);
    p->overcharge_ev = NAN;
    p->standards_path = NULL;
    p->command_line = NULL;
    p->progress = NULL;
    p->progress_user = NULL;
}

void xanes_run_result_free(xanes_run_result *r)
{
    if (r == NULL)
        return;
    free(r->energy_raw_ev);
    free(r->energy_ev);
    free(r->shifts_px);
    free(r->frame_ok);
    free(r->footprints);
    free(r->edge_ev);
    free(r->soc);
    free(r->valence);
    free(r->edge_jump);
    free(r->noise);
    free(r->labels);
    xanes_particles_free(r->particles);
    free(r);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU time of the whole process (all threads), s. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
    double wall, cpu;
} stage_clock;

/* Starts a stage: tells the progress callback and returns the start times. */
static stage_clock stage_begin(const xanes_run_params *p, xanes_run_stage s)
{
    if (p->progress != NULL)
        p->progress(p->progress_user, s);
    return (stage_clock){now_s(), cpu_s()};
}

static void stage_end(xanes_run_result *r, xanes_run_stage s, stage_clock t0)
{
    r->seconds[s] = now_s() - t0.wall;
    r->cpu_seconds[s] = cpu_s() - t0.cpu;
}

/* Puts "<what> <file>: " in front of the message a stage recorded (the
 * stage does not know the file), keeping its status.  err may be NULL. */
xanes_status run_with_context(xanes_error *err, xanes_status st, const char *what, const char *file)
{
    if (err == NULL)
        return st;
    xanes_error inner = *err;
    xanes_error_clear(err);
    return XANES_RAISE(err, st, "%s %s: %s", what, file, inner.message);
}

/* The normalization behind every edge energy of the run: p->edgemap.norm,
 * with what it leaves open (NaN, nnorm -1) taken from the standards file's
 * edge definition when p->use_edge_definition is set. */
void run_edge_norm_params(const xanes_run_params *p, const xanes_standards *std,
                          xanes_normalize_params *out)
{
    *out = p->edgemap.norm;
    if (!p->use_edge_definition)
        return;
    xanes_normalize_params def;
    xanes_standards_edge_params(std, &def);
    if (isnan(out->e0_ev))
        out->e0_ev = def.e0_ev;
    if (isnan(out->pre1_ev))
        out->pre1_ev = def.pre1_ev;
    if (isnan(out->pre2_ev))
        out->pre2_ev = def.pre2_ev;
    if (isnan(out->norm1_ev))
        out->norm1_ev = def.norm1_ev;
    if (isnan(out->norm2_ev))
        out->norm2_ev = def.norm2_ev;
    if (out->nnorm < 0)
        out->nnorm = def.nnorm;
    out->half_level = def.half_level;
    out->fit_interpolant = def.fit_interpolant;
    out->crossing = def.crossing;
}

/* Says in r->window_warning when the normalization of `what` (energies
 * lo..hi) used fit windows shorter than the requested ones in np: it cuts
 * them to the scan (by up to half a window, normalize_interp.c), and the
 * edge is then not exactly the standard's definition (on the simulated NiO
 * reference, about 0.013 eV per eV cut from the post-edge window, 0.001 eV
 * per eV from the pre-edge one). */
static void window_warning(xanes_run_result *r, const char *what, const char *path,
                           const xanes_normalize_params *np, const xanes_normalize_result *used,
                           double lo, double hi)
{
    if (!np->fit_interpolant)
        return;
    const double cut_pre = used->pre1_ev - np->pre1_ev, cut_post = np->norm2_ev - used->norm2_ev;
    if (!(cut_pre > 0.0) && !(cut_post > 0.0))
        return;
    size_t n = strlen(r->window_warning);
    snprintf(r->window_warning + n, sizeof r->window_warning - n,
             "%s%s %s: its scan %.2f..%.2f eV cuts %.2f eV from the pre-edge and %.2f eV from "
             "the post-edge fit window (e0 %.2f eV), so its edges are not exactly by the "
             "standard's definition",
             n > 0 ? "; " : "", what, path, lo, hi, cut_pre > 0.0 ? cut_pre : 0.0,
             cut_post > 0.0 ? cut_post : 0.0, used->e0_ev);
}

/* Offset of the energy axis from the measured reference spectrum
 * p->calib_path, whose true edge is p->ref_edge_ev.  The reference must have
 * been measured on the stack's axis: its edge has to fall inside the stack's
 * raw energy range, else the two do not belong together. */
static xanes_status calibrate_stage(const xanes_run_params *p, const xanes_stack *s,
                                    const xanes_standards *std, xanes_run_result *r,
                                    xanes_error *err)
{
    /* With a fixed e0 (the edge definition's anchor, a true energy), the
     * reference is normalized with e0 placed on its own, uncalibrated axis:
     * e0_raw = e0 - offset, iterated from offset 0 until the offset moves by
     * less than offset_tol_ev (two or three passes: the windows are wide). */
    enum { MAX_PASSES = 4 };
    const double offset_tol_ev = 1e-4;
    xanes_status st = XANES_OK;
    xanes_spectrum *ref = NULL;
    xanes_calibrate_params cp = p->calibrate;
    cp.edge =
        p->edge == XANES_EDGEMAP_DERIV ? XANES_CALIBRATE_EDGE_DERIV : XANES_CALIBRATE_EDGE_HALF;
    run_edge_norm_params(p, std, &cp.norm);
    const double e0_true = cp.norm.e0_ev;
    xanes_calibrate_edge_result er;

    st = xanes_spectrum_read(p->calib_path, &p->calib_spectrum, &ref, err);
    if (st != XANES_OK)
        goto done;
    /* A reference from another edge or axis does not even overlap the
     * stack's energies (or misses the fixed e0): say so in those words. */
    const double slo = s->energy_ev[0], shi = s->energy_ev[s->n_energy - 1];
    const double rlo = ref->energy_ev[0], rhi = ref->energy_ev[ref->n - 1];
    if (!(rlo < shi && rhi > slo) || (!isnan(e0_true) && !(rlo < e0_true && rhi > e0_true))) {
        st = XANES_RAISE(err, XANES_EDATA,
                         "reference spectrum %s covers %.3f .. %.3f eV, stack %s %.3f .. %.3f eV "
                         "(edge definition e0 %.2f eV): the two were not measured on the same "
                         "axis (or not at the same edge)",
                         p->calib_path, rlo, rhi, s->path, slo, shi, e0_true);
        goto done;
    }
    double offset = 0.0;
    for (int pass = 0; pass < MAX_PASSES; pass++) {
        if (!isnan(e0_true))
            cp.norm.e0_ev = e0_true - offset;
        st = xanes_calibrate_offset(ref->energy_ev, ref->mu, ref->n, p->ref_edge_ev, &cp, &er, err);
        if (st != XANES_OK) {
            st = run_with_context(err, st, "reference spectrum", p->calib_path);
            goto done;
        }
        const double moved = fabs(er.offset_ev - offset);
        offset = er.offset_ev;
        if (isnan(e0_true) || moved < offset_tol_ev)
            break;
    }
    r->ref_norm = er.norm;
    window_warning(r, "reference spectrum", p->calib_path, &cp.norm, &er.norm, rlo, rhi);
    const double lo = s->energy_ev[0], hi = s->energy_ev[s->n_energy - 1];
    if (!(er.measured_edge_ev > lo && er.measured_edge_ev < hi)) {
        st = XANES_RAISE(err, XANES_EDATA,
                         "reference spectrum %s: its edge at %.3f eV lies outside the energies "
                         "of stack %s (%.3f .. %.3f eV): the two were not measured on the same "
                         "axis (or not at the same edge)",
                         p->calib_path, er.measured_edge_ev, s->path, lo, hi);
        goto done;
    }
    r->energy_offset_ev = er.offset_ev;
    r->ref_measured_edge_ev = er.measured_edge_ev;
    r->ref_edge_ev = er.reference_edge_ev;
    r->offset_source = "reference spectrum";
done:
    xanes_spectrum_free(ref);
    return st;
}

/* Drift alignment: estimate, then resample the stack in place. */
static xanes_status align_stage(const xanes_run_params *p, xanes_stack *s, xanes_run_result *r,
                                xanes_error *err)
{
    xanes_status st = XANES_OK;
    xanes_align *a = xanes_align_alloc(s->ny, s->nx, &p->align_params, err);
    if (a == NULL) {
        /* The parameters were checked when the run started, so a refusal
         * here is about the stack's frames (too small to correlate): a data
         * error about that file, not a usage error. */
        xanes_status why = err != NULL ? err->status : XANES_EFAIL;
        if (err != NULL && why == XANES_EINVAL) {
            xanes_error inner = *err;
            xanes_error_clear(err);
            return XANES_RAISE(err, XANES_EDATA, "stack %s: %s (use --no-align)", s->path,
                               inner.message);
        }
        return run_with_context(err, why, "stack", s->path);
    }
    st = xanes_align_estimate(a, s->absorbance, s->n_energy, r->energy_ev, r->shifts_px,
                              r->frame_ok, err);
    if (st == XANES_OK)
        st = xanes_align_apply(a, s->absorbance, s->n_energy, r->shifts_px, err);
    xanes_align_free(a);
    if (st != XANES_OK)
        return st;
    /* A frame that could not be aligned is left where it was: its shift is
     * reported as NaN (unknown), not as a measured zero. */
    for (size_t k = 0; k < s->n_energy; k++)
        if (!r->frame_ok[k]) {
            r->n_frames_not_aligned++;
            r->shifts_px[2 * k] = NAN;
            r->shifts_px[2 * k + 1] = NAN;
        }
    return XANES_OK;
}

/* Per-pixel maps: e0 and fit ranges from the mean spectrum of all valid
 * pixels, then every row. */
static xanes_status edgemap_stage(const xanes_run_params *p, const xanes_stack *s,
                                  const xanes_standards *std, xanes_run_result *r, xanes_error *err)
{
    xanes_status st = XANES_OK;
    xanes_edgemap *m = NULL;
    const size_t ne = s->n_energy;
    double *sum = calloc(ne, sizeof *sum);
    size_t n_valid = 0;
    if (sum == NULL)
        return XANES_RAISE(err, XANES_ENOMEM, "edge map of %s: out of memory", s->path);
    st = xanes_edgemap_mean_spectrum(s->absorbance, ne, s->ny, s->nx, 0, s->ny, sum, &n_valid, err);
    if (st != XANES_OK)
        goto done;
    if (n_valid == 0) {
        st = XANES_RAISE(err, XANES_EDATA,
                         "stack %s: no pixel has a finite absorbance at every energy (after "
                         "correction%s), nothing to map",
                         s->path, p->align ? " and alignment" : "");
        goto done;
    }
    for (size_t k = 0; k < ne; k++)
        sum[k] /= (double)n_valid;
    xanes_edgemap_params ep = p->edgemap;
    ep.method = p->edge;
    run_edge_norm_params(p, std, &ep.norm);
    m = xanes_edgemap_alloc(r->energy_ev, ne, s->nx, sum, &ep, err);
    if (m == NULL) {
        st = run_with_context(err, err != NULL ? err->status : XANES_EDATA,
                              "mean spectrum of stack", s->path);
        goto done;
    }
    xanes_edgemap_describe(m, &r->norm);
    window_warning(r, "stack", s->path, &ep.norm, &r->norm, r->energy_ev[0], r->energy_ev[ne - 1]);
    st = xanes_edgemap_run(m, s->absorbance, ne, s->ny, s->nx, 0, s->ny, r->edge_ev, r->edge_jump,
                           r->noise, &r->edgemap_counts, err);
done:
    xanes_edgemap_free(m);
    free(sum);
    return st;
}

static xanes_status alloc_result(const xanes_stack *s, xanes_run_result **out, xanes_error *err)
{
    xanes_run_result *r = calloc(1, sizeof *r);
    if (r == NULL)
        return XANES_RAISE(err, XANES_ENOMEM, "run: out of memory");
    const size_t ne = s->n_energy, n = s->ny * s->nx;
    r->ny = s->ny;
    r->nx = s->nx;
    r->n_energy = ne;
    r->energy_raw_ev = malloc(ne * sizeof *r->energy_raw_ev);
    r->energy_ev = malloc(ne * sizeof *r->energy_ev);
    r->shifts_px = calloc(2 * ne, sizeof *r->shifts_px);
    r->frame_ok = calloc(ne, 1);
    r->edge_ev = malloc(n * sizeof *r->edge_ev);
    r->soc = malloc(n * sizeof *r->soc);
    r->valence = malloc(n * sizeof *r->valence);
    r->edge_jump = malloc(n * sizeof *r->edge_jump);
    r->noise = malloc(n * sizeof *r->noise);
    r->labels = calloc(n, sizeof *r->labels);
    if (r->energy_raw_ev == NULL || r->energy_ev == NULL || r->shifts_px == NULL ||
        r->frame_ok == NULL || r->edge_ev == NULL || r->soc == NULL || r->valence == NULL ||
        r->edge_jump == NULL || r->noise == NULL || r->labels == NULL) {
        xanes_run_result_free(r);
        return XANES_RAISE(err, XANES_ENOMEM, "run: out of memory for the %zu x %zu maps", s->ny,
                           s->nx);
    }
    memcpy(r->energy_raw_ev, s->energy_ev, ne * sizeof *r->energy_raw_ev);
    r->energy_offset_ev = 0.0;
    r->offset_source = "none";
    r->ref_measured_edge_ev = NAN;
    r->ref_norm.e0_ev = r->ref_norm.pre1_ev = r->ref_norm.pre2_ev = NAN;
    r->ref_norm.norm1_ev = r->ref_norm.norm2_ev = NAN;
    r->ref_norm.nnorm = -1;
    r->ref_edge_ev = NAN;
    r->particle_edge_mean_ev = NAN;
    r->particle_edge_std_ev = NAN;
    r->pixel_size_nm = s->pixel_size_nm;
    snprintf(r->layout_name, sizeof r->layout_name, "%s", s->layout_name);
    snprintf(r->stack_file, sizeof r->stack_file, "%s", s->path);
    r->threads = omp_get_max_threads();
    snprintf(r->stack_warning, sizeof r->stack_warning, "%s", s->warning);
    *out = r;
    return XANES_OK;
}

static xanes_status check_params(const xanes_run_params *p, xanes_error *err)
{
    if (p->calib_path != NULL && isfinite(p->energy_offset_ev))
        return XANES_RAISE(err, XANES_EINVAL,
                           "give either a reference spectrum (%s) or an energy offset (%g eV), "
                           "not both",
                           p->calib_path, p->energy_offset_ev);
    if (p->calib_path != NULL && !isfinite(p->ref_edge_ev))
        return XANES_RAISE(err, XANES_EINVAL,
                           "reference spectrum %s given without its true edge energy "
                           "(--ref-edge EV)",
                           p->calib_path);
    if (p->calib_path == NULL && isfinite(p->ref_edge_ev))
        return XANES_RAISE(err, XANES_EINVAL,
                           "a reference edge energy (%g eV) without a reference spectrum "
                           "(--calib FILE)",
                           p->ref_edge_ev);
    if (isnan(p->energy_offset_ev) == 0 && !isfinite(p->energy_offset_ev))
        return XANES_RAISE(err, XANES_EINVAL, "energy offset is not finite");
    if (!isnan(p->overcharge_ev) && !isfinite(p->overcharge_ev))
        return XANES_RAISE(err, XANES_EINVAL, "overcharge threshold is not finite");
    if (!isnan(p->footprint_px) &&
        !(p->footprint_px >= 0.0 && p->footprint_px <= XANES_FOOTPRINT_MAX_PX))
        return XANES_RAISE(err, XANES_EINVAL, "footprint radius %g px is outside 0..%g px",
                           p->footprint_px, XANES_FOOTPRINT_MAX_PX);
    return XANES_OK;
}

xanes_status xanes_run_process(const char *stack_path, const xanes_run_params *params,
                               xanes_run_result **out, xanes_error *err)
{
    xanes_status st = XANES_OK;
    xanes_run_params defaults;
    xanes_stack *s = NULL;
    xanes_run_result *r = NULL;
    run_spectral sp = {0};
    xanes_standards std;
    stage_clock t0;

    if (out != NULL)
        *out = NULL;
    if (stack_path == NULL || out == NULL)
        return XANES_RAISE(err, XANES_EINVAL, "run: no stack path or no output given");
    if (params == NULL) {
        xanes_run_default_params(&defaults);
        params = &defaults;
    }
    const xanes_run_params *p = params;
    st = check_params(p, err);
    if (st != XANES_OK)
        return st;
    st = xanes_standards_load(p->standards_path, &std, err);
    if (st != XANES_OK)
        return st;
    if (isfinite(p->overcharge_ev))
        std.overcharge_threshold_ev = p->overcharge_ev;

    t0 = stage_begin(p, XANES_RUN_STAGE_READ);
    st = xanes_stack_read(stack_path, &p->stack, &s, err);
    if (st != XANES_OK)
        goto done;
    st = alloc_result(s, &r, err);
    if (st != XANES_OK)
        goto done;
    r->overcharge_ev = std.overcharge_threshold_ev;
    stage_end(r, XANES_RUN_STAGE_READ, t0);

    t0 = stage_begin(p, XANES_RUN_STAGE_CALIBRATE);
    if (p->calib_path != NULL) {
        st = calibrate_stage(p, s, &std, r, err);
        if (st != XANES_OK)
            goto done;
    } else if (isfinite(p->energy_offset_ev)) {
        r->energy_offset_ev = p->energy_offset_ev;
        r->offset_source = "given";
    }
    for (size_t k = 0; k < s->n_energy; k++)
        r->energy_ev[k] = r->energy_raw_ev[k] + r->energy_offset_ev;
    stage_end(r, XANES_RUN_STAGE_CALIBRATE, t0);

    t0 = stage_begin(p, XANES_RUN_STAGE_ALIGN);
    if (p->align) {
        st = align_stage(p, s, r, err);
        if (st != XANES_OK)
            goto done;
        r->aligned = 1;
    } else {
        memset(r->frame_ok, 1, s->n_energy);
    }
    stage_end(r, XANES_RUN_STAGE_ALIGN, t0);

    t0 = stage_begin(p, XANES_RUN_STAGE_EDGEMAP);
    st = edgemap_stage(p, s, &std, r, err);
    if (st != XANES_OK)
        goto done;
    stage_end(r, XANES_RUN_STAGE_EDGEMAP, t0);

    t0 = stage_begin(p, XANES_RUN_STAGE_SEGMENT);
    st = run_segment_stage(p, r, err);
    if (st != XANES_OK) {
        st = run_with_context(err, st, "edge-jump map segmentation of stack", stack_path);
        goto done;
    }
    stage_end(r, XANES_RUN_STAGE_SEGMENT, t0);

    t0 = stage_begin(p, XANES_RUN_STAGE_DENOISE);
    st = run_denoise_stage(p, s, &std, r, &sp, err);
    if (st != XANES_OK)
        goto done;
    stage_end(r, XANES_RUN_STAGE_DENOISE, t0);

    t0 = stage_begin(p, XANES_RUN_STAGE_PARTICLES);
    st = run_particles_stage(p, s, &std, &sp, r, err);
    if (st != XANES_OK)
        goto done;
    /* The stack is not needed any more: give its memory back before the
     * outputs are drawn. */
    xanes_stack_free(s);
    s = NULL;
    st = run_finish_maps(&std, r, err);
    if (st != XANES_OK)
        goto done;
    stage_end(r, XANES_RUN_STAGE_PARTICLES, t0);

done:
    run_spectral_free(&sp);
    xanes_stack_free(s);
    if (st != XANES_OK) {
        xanes_run_result_free(r);
        r = NULL;
    }
    *out = r;
    return st;
}
