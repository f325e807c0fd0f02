/* run_testkit.h: closed-loop helpers shared by test_run.c and
 * test_closed_loop.c: simulate a stack with known truth (simulate.h), run the
 * pipeline (run.h), and score the result against the truth with the accuracy
 * figures of issue 4.
 *
 * Scoring conventions (the same as tools/accuracy_table.py):
 *  - drift: align.h's shift is the displacement APPLIED to frame k, the
 *    simulator's is where the sample sits in frame k, so estimate + truth is
 *    one common offset c (the reference image's own position) plus the error.
 *    The drift error is the rms over aligned frames and both axes of
 *    (estimate + truth - c), c their mean (as tests/test_align.c);
 *  - particles: the aligned maps show the scene displaced by c, so detected
 *    label d at (y, x) is compared with truth label t at (y - round(cy),
 *    x - round(cx)); d matches t when each is the other's largest overlap
 *    and at least half of d lies inside t (one-to-one; a merged pair or a
 *    split particle leaves one side unmatched; a particle whose thin rim
 *    falls under the jump threshold still counts as detected, which an IoU
 *    rule would punish for small spheres), F1 = 2 TP / (detected + true);
 *  - edge error: for each matched pair, the detected particle's edge
 *    (pixel mean, or the averaged spectrum's edge) minus the particle's
 *    grid truth (xanes_simulate_particle_edge_grid_ev: the edge definition
 *    applied to the particle's noise-free mean spectrum on the stack's true
 *    energies, what a perfect pipeline recovers from this grid); the error
 *    against the physical truth (the same definition on a fine grid,
 *    xanes_simulate_particle_edge_mean_ev) is reported beside it;
 *  - calibration: the simulator stores energy_offset_ev = stored - true, the
 *    pipeline's offset is added to the stored energies, so the error is
 *    offset + energy_offset_ev.
 */
#ifndef XANES_RUN_TESTKIT_H
#define XANES_RUN_TESTKIT_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xanes/run.h"
#include "xanes/simulate.h"

typedef struct {
    size_t n_det, n_truth, tp;
    double f1;
    double common_dy, common_dx; /* c, px                                   */
    double drift_rms_px;         /* NaN without alignment                   */
    double edge_err_max_ev;      /* max |pixel-mean edge - truth| (matched) */
    double edge_err_rms_ev;
    double spec_err_max_ev; /* max |averaged-spectrum edge - truth|    */
    double spec_err_rms_ev;
    double phys_err_max_ev; /* max |averaged-spectrum edge - physical
                               truth| (matched), the grid's own bias
                               included                                */
    double offset_err_ev;   /* pipeline offset + simulated offset      */
} rt_accuracy;

/* Scores run result r against the scene s (built from the same params as
 * the simulated stack). */
static inline void rt_score(const xanes_simulate_scene *s, double sim_offset_ev,
                            const xanes_run_result *r, rt_accuracy *a)
{
    const size_t ny = r->ny, nx = r->nx, ne = r->n_energy;
    const double *ts = xanes_simulate_shifts_px(s);
    const int32_t *tl = xanes_simulate_truth_labels(s);
    const double *tedge = xanes_simulate_particle_edge_grid_ev(s);
    const double *tphys = xanes_simulate_particle_edge_mean_ev(s);
    const size_t nt = xanes_simulate_scene_n_particles(s), nd = r->n_particles;
    memset(a, 0, sizeof *a);
    a->n_det = nd;
    a->n_truth = nt;
    a->offset_err_ev = r->energy_offset_ev + sim_offset_ev;

    /* Common offset and drift error over the aligned frames. */
    double cy = 0.0, cx = 0.0;
    size_t m = 0;
    for (size_t k = 0; k < ne; k++)
        if (r->frame_ok[k] && isfinite(r->shifts_px[2 * k])) {
            cy += r->shifts_px[2 * k] + ts[2 * k];
            cx += r->shifts_px[2 * k + 1] + ts[2 * k + 1];
            m++;
        }
    a->drift_rms_px = NAN;
    if (m > 0) {
        cy /= (double)m;
        cx /= (double)m;
        double ss = 0.0;
        for (size_t k = 0; k < ne; k++)
            if (r->frame_ok[k] && isfinite(r->shifts_px[2 * k])) {
                const double ey = r->shifts_px[2 * k] + ts[2 * k] - cy;
                const double ex = r->shifts_px[2 * k + 1] + ts[2 * k + 1] - cx;
                ss += ey * ey + ex * ex;
            }
        a->drift_rms_px = sqrt(ss / (2.0 * (double)m));
    }
    a->common_dy = cy;
    a->common_dx = cx;

    /* Contingency table of detected x truth labels. */
    const long oy = lround(cy), ox = lround(cx);
    size_t *tab = calloc((nd + 1) * (nt + 1), sizeof *tab);
    size_t *area_d = calloc(nd + 1, sizeof *area_d), *area_t = calloc(nt + 1, sizeof *area_t);
    if (tab == NULL || area_d == NULL || area_t == NULL)
        abort();
    for (size_t i = 0; i < ny * nx; i++)
        if (tl[i] > 0)
            area_t[tl[i]]++;
    for (size_t y = 0; y < ny; y++)
        for (size_t x = 0; x < nx; x++) {
            const int32_t d = r->labels[y * nx + x];
            if (d <= 0)
                continue;
            area_d[d]++;
            const long ty = (long)y - oy, tx = (long)x - ox;
            if (ty < 0 || tx < 0 || ty >= (long)ny || tx >= (long)nx)
                continue;
            const int32_t t = tl[(size_t)ty * nx + (size_t)tx];
            if (t > 0)
                tab[(size_t)d * (nt + 1) + (size_t)t]++;
        }
    /* Mutual best overlap: t is d's largest overlap and d is t's, and at
     * least half of d lies inside t. */
    size_t *best_t = calloc(nd + 1, sizeof *best_t), *best_d = calloc(nt + 1, sizeof *best_d);
    if (best_t == NULL || best_d == NULL)
        abort();
    for (size_t d = 1; d <= nd; d++)
        for (size_t t = 1; t <= nt; t++) {
            const size_t v = tab[d * (nt + 1) + t];
            if (v > 0 && (best_t[d] == 0 || v > tab[d * (nt + 1) + best_t[d]]))
                best_t[d] = t;
            if (v > 0 && (best_d[t] == 0 || v > tab[best_d[t] * (nt + 1) + t]))
                best_d[t] = d;
        }
    double se = 0.0, ss = 0.0;
    a->edge_err_max_ev = 0.0;
    a->spec_err_max_ev = 0.0;
    for (size_t d = 1; d <= nd; d++) {
        const size_t t = best_t[d];
        if (t == 0 || best_d[t] != d || 2 * tab[d * (nt + 1) + t] < area_d[d])
            continue;
        a->tp++;
        const double e1 = r->particles[d - 1].edge_mean_ev - tedge[t - 1];
        const double e2 = r->particles[d - 1].edge_mean_spectrum_ev - tedge[t - 1];
        /* A NaN edge of a matched particle counts as an infinite error. */
        const double f1 = isfinite(e1) ? fabs(e1) : INFINITY;
        const double f2 = isfinite(e2) ? fabs(e2) : INFINITY;
        const double e3 = r->particles[d - 1].edge_mean_spectrum_ev - tphys[t - 1];
        a->phys_err_max_ev = fmax(a->phys_err_max_ev, isfinite(e3) ? fabs(e3) : INFINITY);
        a->edge_err_max_ev = fmax(a->edge_err_max_ev, f1);
        a->spec_err_max_ev = fmax(a->spec_err_max_ev, f2);
        se += f1 * f1;
        ss += f2 * f2;
    }
    free(best_t);
    free(best_d);
    a->f1 = nd + nt > 0 ? 2.0 * (double)a->tp / (double)(nd + nt) : 1.0;
    a->edge_err_rms_ev = a->tp > 0 ? sqrt(se / (double)a->tp) : NAN;
    a->spec_err_rms_ev = a->tp > 0 ? sqrt(ss / (double)a->tp) : NAN;
    free(tab);
    free(area_d);
    free(area_t);
}

/* Simulates p into dir/<name>.h5 (+ dir/<name>_ref.xdi), runs the pipeline
 * on it (calibrating on the reference with NiO's true edge when calib is
 * nonzero, else with the true offset given), scores it.  Returns the run's
 * status; *out (may be NULL) receives the result. */
static inline xanes_status rt_loop(const char *dir, const char *name,
                                   const xanes_simulate_params *p, int calib,
                                   const xanes_run_params *rp_in, rt_accuracy *acc,
                                   xanes_run_result **out, xanes_error *err)
{
    char stack[1024], ref[1024];
    snprintf(stack, sizeof stack, "%s/%s.h5", dir, name);
    snprintf(ref, sizeof ref, "%s/%s_ref.xdi", dir, name);
    xanes_simulate_summary sum;
    xanes_status st = xanes_simulate_run(p, stack, NULL, ref, &sum, err);
    if (st != XANES_OK)
        return st;
    xanes_simulate_scene *scene = NULL;
    st = xanes_simulate_scene_alloc(p, &scene, err);
    if (st != XANES_OK)
        return st;
    xanes_run_params rp;
    if (rp_in != NULL)
        rp = *rp_in;
    else
        xanes_run_default_params(&rp);
    if (calib) {
        rp.calib_path = ref;
        rp.ref_edge_ev = sum.ref_edge_true_ev;
    } else {
        rp.energy_offset_ev = -p->energy_offset_ev;
    }
    xanes_run_result *r = NULL;
    st = xanes_run_process(stack, &rp, &r, err);
    if (st == XANES_OK)
        rt_score(scene, p->energy_offset_ev, r, acc);
    xanes_simulate_scene_free(scene);
    if (out != NULL && st == XANES_OK)
        *out = r;
    else
        xanes_run_result_free(r);
    return st;
}

#endif
