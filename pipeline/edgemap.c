/* edgemap.c: per-pixel normalization, edge energy, edge jump and noise of a
 * TXM-XANES stack, with the jump-over-noise gate (see edgemap.h).
 *
 * Algorithm.  The mean spectrum of the valid pixels is normalized once with
 * xanes_normalize_run (larch 0.9.58 pre_edge semantics: find_e0, default
 * ranges); its e0, fit ranges and post-edge degree then define one
 * xanes_normalize_plan, the fixed-grid form of the same code, whose
 * least-squares projections are precomputed so that each pixel costs O(n)
 * (normalize_plan.c).  Each pixel's spectrum goes through
 * xanes_normalize_plan_apply, which also finds the half-edge and derivative
 * edge with edge.c, exactly as for a 1-D spectrum.
 *
 * Memory access.  A pixel's spectrum is strided by ny*nx in the [E][y][x]
 * stack, which is just the layout xanes_normalize_plan_apply_block wants:
 * 64 neighbouring pixels of a row, one vector lane each, every frame row
 * read once, sequentially, with no transposition.  The block form gives the
 * same values as plan_apply bit for bit.  Each thread takes whole rows
 * (static schedule).  Sizes: 10^5..4x10^6 pixels, 20..200 energies;
 * scratch per thread: about 2 * 64 * n_energy doubles.
 */
#include "xanes/edgemap.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "isa.h"

struct xanes_edgemap {
    size_t n_energy, nx;
    xanes_edgemap_params p;
    xanes_normalize_plan *plan;
    double jump_gain; /* ||g||: sd of the edge jump per unit sample noise */
    int nthr;
    double **scratch; /* [nthr][plan block scratch] */
};

void xanes_edgemap_default_params(xanes_edgemap_params *p)
{
    p->method = XANES_EDGEMAP_HALF;
    xanes_normalize_default_params(&p->norm);
    p->min_jump_over_noise = 8.0;
}

/* Row y of the mean spectrum: acc[e] = sum of frame e's row over the
 * pixels finite at every energy, acc[n_energy] = their number.  The sum is
 * in float, 16 interleaved partial sums combined in a fixed order, so it is
 * the same on every instruction set and thread count (1e-6 relative is
 * ample for e0 and the fit ranges); the row's frames (n_energy x nx floats)
 * are still in L2 from the validity pass.  Invalid pixels (after
 * alignment: every row has some, at the shifted borders) are masked by an
 * integer select (a float ?: is not if-converted).  Defined per x86-64
 * level by a macro: `omp simd` loops take the target of their function. */
typedef void (*row_fn)(const float *stack, size_t n_energy, size_t ny, size_t nx, size_t y,
                       unsigned char *restrict ok, double *restrict acc);

#define ROW_PARTS 16
#define DEFINE_ROW_SUMS(NAME, ATTR)                                                                \
    ATTR static void NAME(const float *stack, size_t n_energy, size_t ny, size_t nx, size_t y,     \
                          unsigned char *restrict ok, double *restrict acc)                        \
    {                                                                                              \
        memset(ok, 1, nx);                                                                         \
        /* v - v is 0 for finite v, NaN for NaN and Inf: vectorises. */                            \
        for (size_t e = 0; e < n_energy; e++) {                                                    \
            const float *restrict r = stack + (e * ny + y) * nx;                                   \
            _Pragma("omp simd") for (size_t x = 0; x < nx; x++) ok[x] &=                           \
                (unsigned char)((r[x] - r[x]) == 0.0f);                                            \
        }                                                                                          \
        size_t cnt = 0;                                                                            \
        for (size_t x = 0; x < nx; x++)                                                            \
            cnt += ok[x];                                                                          \
        acc[n_energy] = (double)cnt;                                                               \
        for (size_t e = 0; e < n_energy; e++) {                                                    \
            const float *restrict r = stack + (e * ny + y) * nx;                                   \
            float part[ROW_PARTS] = {0};                                                           \
            size_t x = 0;                                                                          \
            for (; x + ROW_PARTS <= nx; x += ROW_PARTS)                                            \
                for (size_t j = 0; j < ROW_PARTS; j++)                                             \
                    part[j] += masked(r[x + j], ok[x + j]);                                        \
            float f = 0.0f;                                                                        \
            for (size_t j = 0; j < ROW_PARTS; j++)                                                 \
                f += part[j];                                                                      \
            for (; x < nx; x++)                                                                    \
                f += masked(r[x], ok[x]);                                                          \
            acc[e] = f;                                                                            \
        }                                                                                          \
    }

/* v where ok, +0 elsewhere, by an integer select. */
static inline float masked(float v, unsigned char ok)
{
    uint32_t b;
    memcpy(&b, &v, sizeof b);
    b &= 0u - (uint32_t)ok;
    memcpy(&v, &b, sizeof v);
    return v;
}

DEFINE_ROW_SUMS(row_sums_base, )
#ifdef XANES_ISA_DISPATCH
#define ROW_DISPATCH 1
DEFINE_ROW_SUMS(row_sums_v3, __attribute__((target("arch=x86-64-v3"))))
DEFINE_ROW_SUMS(row_sums_v4, __attribute__((target("arch=x86-64-v4"))))
#endif

xanes_status xanes_edgemap_mean_spectrum(const float *stack, size_t n_energy, size_t ny, size_t nx,
                                         size_t y0, size_t y1, double *sum_mu, size_t *n_valid,
                                         xanes_error *err)
{
    xanes_status st = XANES_OK;
    double *rows = NULL;
    unsigned char *valid = NULL;
    if (stack == NULL || sum_mu == NULL || n_valid == NULL || n_energy == 0 || nx == 0 ||
        y0 >= y1 || y1 > ny)
        return XANES_RAISE(err, XANES_EINVAL,
                           "edgemap: mean spectrum of rows [%zu, %zu) of a %zu x %zu x %zu stack: "
                           "bad arguments",
                           y0, y1, n_energy, ny, nx);
    size_t nrow = y1 - y0;
    int nthr = omp_get_max_threads();
    rows = calloc(nrow * (n_energy + 1), sizeof *rows);
    valid = malloc((size_t)nthr * nx);
    if (rows == NULL || valid == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM, "edgemap: cannot allocate %zu row sums", nrow);
        goto done;
    }
    row_fn row = row_sums_base;
#ifdef ROW_DISPATCH
    const int level = xanes_isa_best();
    row = level >= 4 ? row_sums_v4 : level >= 3 ? row_sums_v3 : row;
#endif
#pragma omp parallel num_threads(nthr) default(none) shared(stack, rows, valid, row)               \
    firstprivate(n_energy, ny, nx, y0, nrow)
    {
        unsigned char *ok = valid + (size_t)omp_get_thread_num() * nx;
#pragma omp for schedule(static)
        for (size_t j = 0; j < nrow; j++)
            row(stack, n_energy, ny, nx, y0 + j, ok, rows + j * (n_energy + 1));
    }
    for (size_t j = 0; j < nrow; j++) {
        const double *acc = rows + j * (n_energy + 1);
        for (size_t e = 0; e < n_energy; e++)
            sum_mu[e] += acc[e];
        *n_valid += (size_t)acc[n_energy];
    }
done:
    free(valid);
    free(rows);
    return st;
}

void xanes_edgemap_free(xanes_edgemap *m)
{
    if (m == NULL)
        return;
    for (int t = 0; m->scratch != NULL && t < m->nthr; t++)
        free(m->scratch[t]);
    free(m->scratch);
    xanes_normalize_plan_free(m->plan);
    free(m);
}

/* The edge jump is a fixed linear function of the spectrum, jump = g . mu
 * (plan_apply's edge_step_signed: pre-edge line and post-edge polynomial
 * are least-squares projections).  g_i is found by adding 1 to sample i of
 * the mean spectrum; ||g|| is the standard error of the jump for unit white
 * noise.  With larch's nnorm = 0 the jump is the post-edge mean minus the
 * pre-edge line extrapolated to the middle of the post-edge range, so ||g||
 * exceeds 1 on short pre-edge ranges (1.82 for 8300..8330 / 8365..8400 eV). */
static xanes_status jump_gain(xanes_edgemap *m, const double *mean_mu, xanes_error *err)
{
    double *g = malloc(m->n_energy * sizeof *g);
    if (g == NULL)
        return XANES_RAISE(err, XANES_ENOMEM, "edgemap: cannot allocate %zu samples",
                           m->n_energy);
    xanes_status st = xanes_normalize_plan_jump_weights(m->plan, mean_mu, g, err);
    if (st == XANES_OK) {
        double g2 = 0.0;
        for (size_t i = 0; i < m->n_energy; i++)
            g2 += g[i] * g[i];
        m->jump_gain = sqrt(g2);
    }
    free(g);
    return st;
}

xanes_edgemap *xanes_edgemap_alloc(const double *energy_ev, size_t n_energy, size_t nx,
                                   const double *mean_mu, const xanes_edgemap_params *p,
                                   xanes_error *err)
{
    xanes_normalize_workspace *ws = NULL;
    xanes_edgemap *m = NULL;
    if (energy_ev == NULL || mean_mu == NULL || n_energy == 0 || nx == 0) {
        XANES_RAISE(err, XANES_EINVAL,
                    "edgemap: alloc needs energies, a mean spectrum and a "
                    "width (got n_energy %zu, nx %zu)",
                    n_energy, nx);
        goto fail;
    }
    m = calloc(1, sizeof *m);
    if (m == NULL)
        goto nomem;
    if (p != NULL)
        m->p = *p;
    else
        xanes_edgemap_default_params(&m->p);
    if ((m->p.method != XANES_EDGEMAP_HALF && m->p.method != XANES_EDGEMAP_DERIV) ||
        !(m->p.min_jump_over_noise >= 0.0) || !isfinite(m->p.min_jump_over_noise)) {
        XANES_RAISE(err, XANES_EINVAL,
                    "edgemap: bad parameters (method %d, min_jump_over_noise %g)", (int)m->p.method,
                    m->p.min_jump_over_noise);
        goto fail;
    }
    m->n_energy = n_energy;
    m->nx = nx;
    /* e0, ranges and degree from the mean spectrum, by the 1-D code. */
    ws = xanes_normalize_workspace_alloc(n_energy);
    if (ws == NULL)
        goto nomem;
    xanes_normalize_result r;
    xanes_error sub;
    xanes_error_clear(&sub);
    xanes_status st =
        xanes_normalize_run(energy_ev, mean_mu, n_energy, &m->p.norm, ws, &r, NULL, NULL, &sub);
    if (st != XANES_OK) {
        XANES_RAISE(err, st, "edgemap: the mean spectrum of the stack cannot be normalized: %s",
                    sub.message);
        goto fail;
    }
    xanes_normalize_params fixed = m->p.norm;
    fixed.e0_ev = r.e0_ev;
    fixed.pre1_ev = r.pre1_ev;
    fixed.pre2_ev = r.pre2_ev;
    fixed.norm1_ev = r.norm1_ev;
    fixed.norm2_ev = r.norm2_ev;
    fixed.nnorm = r.nnorm;
    fixed.edges =
        m->p.method == XANES_EDGEMAP_HALF ? XANES_NORMALIZE_EDGE_HALF : XANES_NORMALIZE_EDGE_DERIV;
    m->plan = xanes_normalize_plan_alloc(energy_ev, n_energy, &fixed, err);
    if (m->plan == NULL)
        goto fail;
    if (jump_gain(m, mean_mu, err) != XANES_OK)
        goto fail;
    m->nthr = omp_get_max_threads();
    m->scratch = calloc((size_t)m->nthr, sizeof *m->scratch);
    if (m->scratch == NULL)
        goto nomem;
    size_t ns = xanes_normalize_plan_block_scratch_size(m->plan);
    for (int t = 0; t < m->nthr; t++) {
        m->scratch[t] = malloc(ns * sizeof *m->scratch[t]);
        if (m->scratch[t] == NULL)
            goto nomem;
    }
    xanes_normalize_workspace_free(ws);
    return m;
nomem:
    XANES_RAISE(err, XANES_ENOMEM, "edgemap: cannot allocate scratch for %zu energies", n_energy);
fail:
    xanes_normalize_workspace_free(ws);
    xanes_edgemap_free(m);
    return NULL;
}

void xanes_edgemap_describe(const xanes_edgemap *m, xanes_normalize_result *r)
{
    xanes_normalize_plan_describe(m->plan, r);
}

double xanes_edgemap_jump_gain(const xanes_edgemap *m)
{
    return m->jump_gain;
}

enum { PIX_EDGE, PIX_INVALID, PIX_LOW_JUMP, PIX_NO_EDGE };

/* One pixel from its block result j.  Returns its class. */
static int pixel(const xanes_edgemap *m, const xanes_normalize_block *b, size_t j, float *edge,
                 float *jump, float *noise)
{
    *edge = *jump = *noise = NAN;
    if (b->status[j] == XANES_NORMALIZE_BLOCK_NONFINITE)
        return PIX_INVALID;
    if (b->status[j] == XANES_NORMALIZE_BLOCK_NO_STEP) {
        *jump = 0.0f;
        return PIX_NO_EDGE;
    }
    const double step = b->edge_step_signed[j];
    double sigma = b->pre_rms[j] * (m->jump_gain > 1.0 ? m->jump_gain : 1.0);
    *jump = (float)step;
    *noise = (float)sigma;
    if (!(step > 0.0) || step < m->p.min_jump_over_noise * sigma)
        return PIX_LOW_JUMP;
    double e = m->p.method == XANES_EDGEMAP_HALF ? b->half_edge_ev[j] : b->deriv_edge_ev[j];
    if (!isfinite(e))
        return PIX_NO_EDGE;
    *edge = (float)e;
    return PIX_EDGE;
}

xanes_status xanes_edgemap_run(xanes_edgemap *m, const float *stack, size_t n_energy, size_t ny,
                               size_t nx, size_t y0, size_t y1, float *edge_ev, float *jump,
                               float *noise, xanes_edgemap_counts *counts, xanes_error *err)
{
    if (m == NULL || stack == NULL || edge_ev == NULL)
        return XANES_RAISE(err, XANES_EINVAL, "edgemap: run needs a map, a stack and an output");
    if (n_energy != m->n_energy || nx != m->nx || y0 >= y1 || y1 > ny)
        return XANES_RAISE(err, XANES_EINVAL,
                           "edgemap: rows [%zu, %zu) of a %zu x %zu x %zu stack do not fit a map "
                           "made for %zu energies and %zu columns",
                           y0, y1, n_energy, ny, nx, m->n_energy, m->nx);
    size_t n_edge = 0, n_invalid = 0, n_low = 0, n_none = 0, nrow = y1 - y0;
    const xanes_edgemap *mc = m;
#pragma omp parallel num_threads(m->nthr) default(none)                                        \
    shared(mc, stack, edge_ev, jump, noise) firstprivate(n_energy, ny, nx, y0, nrow)            \
    reduction(+ : n_edge, n_invalid, n_low, n_none)
    {
        int t = omp_get_thread_num();
        double *scratch = mc->scratch[t];
        enum { BW = XANES_NORMALIZE_BLOCK };
        unsigned char status[BW];
        double step[BW], rms[BW], half[BW], deriv[BW];
        xanes_normalize_block b = {status, step, rms, half, deriv};
#pragma omp for schedule(static)
        for (size_t j = 0; j < nrow; j++) {
            size_t y = y0 + j;
            for (size_t x0 = 0; x0 < nx; x0 += BW) {
                size_t w = nx - x0 < BW ? nx - x0 : BW;
                /* The stack's own layout: pixel x0 + i of every frame is
                 * mu[e * ny * nx + i], no transposition. */
                xanes_normalize_plan_apply_block(mc->plan, stack + y * nx + x0, ny * nx, w, scratch,
                                                 &b, NULL);
                for (size_t i = 0; i < w; i++) {
                    size_t o = j * nx + x0 + i;
                    float ee, jj, nn;
                    int cls = pixel(mc, &b, i, &ee, &jj, &nn);
                    edge_ev[o] = ee;
                    if (jump != NULL)
                        jump[o] = jj;
                    if (noise != NULL)
                        noise[o] = nn;
                    n_edge += cls == PIX_EDGE;
                    n_invalid += cls == PIX_INVALID;
                    n_low += cls == PIX_LOW_JUMP;
                    n_none += cls == PIX_NO_EDGE;
                }
            }
        }
    }
    if (counts != NULL) {
        counts->n_pixels = nrow * nx;
        counts->n_edge = n_edge;
        counts->n_invalid = n_invalid;
        counts->n_low_jump = n_low;
        counts->n_no_edge = n_none;
    }
    return XANES_OK;
}
