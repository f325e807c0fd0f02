/* normalize_plan.c: larch-compatible normalization of many spectra that share
 * one energy grid, e0 and fit ranges (the pixels of a TXM-XANES stack).
 *
 * With the grid, e0 and the ranges fixed, every least-squares coefficient of
 * normalize.c (pre-edge line, post-edge polynomial, flattening quadratic) is
 * a fixed linear function of the data: c = P y with P = R^-1 Q^T of the
 * design matrix.  The plan computes each P once (GSL Householder QR, one
 * least-squares solve per unit vector) so that applying it to a spectrum is
 * a few dot products: O(n) per spectrum, no allocation, and thread-safe
 * because the plan is read-only.  This is FFTW's plan/execute split (house
 * style).  Results equal xanes_normalize_run with the same explicit e0 and
 * ranges up to rounding (tested to 1e-9).  Sizes: grids of 20-5000 samples;
 * the plan holds about (2 + nnorm + 1 + 3) * n doubles.
 *
 * The block form (xanes_normalize_plan_apply_block) applies the plan to 64
 * spectra stored as a stack row stores them, each spectrum in a vector
 * lane: the same operations in the same order per spectrum, so the same
 * values bit for bit, for what the edge map needs (edge step, pre-edge RMS,
 * half edge; the derivative edge goes through plan_apply per spectrum).
 */
#include "xanes/normalize.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_vector.h>

#include "isa.h"
#include "normalize_block.h"
#include "normalize_private.h"
#include "xanes/edge.h"

struct xanes_normalize_plan {
    size_t n;
    double *energy_ev; /* [n] */
    double *pre_t;     /* [n] (E - e0)/s_pre */
    double *pre_w;     /* [n] E^-nvict (1 when nvict = 0) */
    double *post_u;    /* [n] (E - e0)/s_post */
    double *p_pre;     /* [2][m_pre] projection onto the line coefficients */
    double *p_post;    /* [nnorm+1][m_post] */
    double *p_flat;    /* [dflat+1][m_post], NULL when no flattening */
    int dflat;
    double s_pre, s_post;
    double half_level;
    xanes_edge_crossing crossing;
    unsigned edges;
    xanes_normalize_result desc; /* resolved parameters, values NaN */
};

void xanes_normalize_plan_free(xanes_normalize_plan *plan)
{
    if (plan == NULL)
        return;
    free(plan->p_flat);
    free(plan->p_post);
    free(plan->p_pre);
    free(plan->post_u);
    free(plan->pre_w);
    free(plan->pre_t);
    free(plan->energy_ev);
    free(plan);
}

/* P (np x m, row-major) with c = P y the least-squares coefficients of
 * sum_k c[k] t[i]^k over t[0..m). */
static xanes_status projection(const double *t, size_t m, size_t np, double **out, xanes_error *err)
{
    xanes_status st = XANES_OK;
    gsl_matrix *a = gsl_matrix_alloc(m, np);
    gsl_vector *tau = gsl_vector_alloc(np);
    gsl_vector *b = gsl_vector_calloc(m);
    gsl_vector *x = gsl_vector_alloc(np);
    gsl_vector *res = gsl_vector_alloc(m);
    double *p = malloc(np * m * sizeof(double));
    if (a == NULL || tau == NULL || b == NULL || x == NULL || res == NULL || p == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM, "normalize plan: out of memory (%zu x %zu)", m, np);
        goto done;
    }
    for (size_t i = 0; i < m; i++) {
        double tk = 1.0;
        for (size_t k = 0; k < np; k++) {
            gsl_matrix_set(a, i, k, tk);
            tk *= t[i];
        }
    }
    int gs = gsl_linalg_QR_decomp(a, tau);
    for (size_t j = 0; j < m && gs == GSL_SUCCESS; j++) {
        gsl_vector_set_zero(b);
        gsl_vector_set(b, j, 1.0);
        gs = gsl_linalg_QR_lssolve(a, tau, b, x, res);
        for (size_t k = 0; k < np; k++) {
            double v = gsl_vector_get(x, k);
            if (!isfinite(v))
                gs = GSL_ESING;
            p[k * m + j] = v;
        }
    }
    if (gs != GSL_SUCCESS) {
        st = XANES_RAISE(err, XANES_EFAIL, "normalize plan: least-squares projection failed (%s)",
                         gsl_strerror(gs));
        goto done;
    }
    *out = p;
    p = NULL;
done:
    free(p);
    gsl_vector_free(res);
    gsl_vector_free(x);
    gsl_vector_free(b);
    gsl_vector_free(tau);
    gsl_matrix_free(a);
    return st;
}

xanes_normalize_plan *xanes_normalize_plan_alloc(const double *energy_ev, size_t n,
                                                 const xanes_normalize_params *p, xanes_error *err)
{
    xanes_normalize_plan *plan = NULL;
    if (energy_ev == NULL || p == NULL) {
        XANES_RAISE(err, XANES_EINVAL, "normalize plan: NULL argument");
        return NULL;
    }
    if (!isfinite(p->e0_ev)) {
        XANES_RAISE(err, XANES_EINVAL,
                    "normalize plan: e0 must be given (e.g. from the mean spectrum), got %g",
                    p->e0_ev);
        return NULL;
    }
    if (norm_check_inputs(energy_ev, n, p, err) != XANES_OK)
        return NULL;
    plan = calloc(1, sizeof *plan);
    if (plan == NULL)
        goto nomem;
    plan->n = n;
    plan->half_level = p->half_level;
    plan->crossing = p->crossing;
    plan->edges = p->edges;
    xanes_normalize_result *d = &plan->desc;
    norm_result_clear_values(d);
    if (p->fit_interpolant) {
        if (norm_interp_resolve(energy_ev, n, p, d, err) != XANES_OK)
            goto fail;
    } else {
        size_t ie0 = norm_index_nearest(energy_ev, n, p->e0_ev);
        if (norm_resolve_ranges(energy_ev, n, ie0, p, d, err) != XANES_OK)
            goto fail;
    }
    d->crossing = p->crossing;
    double e0 = d->e0_ev;
    plan->energy_ev = malloc(n * sizeof(double));
    plan->pre_t = malloc(n * sizeof(double));
    plan->pre_w = malloc(n * sizeof(double));
    plan->post_u = malloc(n * sizeof(double));
    if (plan->energy_ev == NULL || plan->pre_t == NULL || plan->pre_w == NULL ||
        plan->post_u == NULL)
        goto nomem;
    memcpy(plan->energy_ev, energy_ev, n * sizeof(double));
    double spre = norm_fit_scale(energy_ev, d->pre_lo, d->pre_hi, e0);
    plan->s_pre = spre;
    plan->s_post = norm_fit_scale(energy_ev, d->post_lo, d->post_hi, e0);
    for (size_t i = 0; i < n; i++) {
        plan->pre_t[i] = (energy_ev[i] - e0) / spre;
        plan->pre_w[i] = (p->nvict == 0.0) ? 1.0 : pow(energy_ev[i], -p->nvict);
        plan->post_u[i] = (energy_ev[i] - e0) / plan->s_post;
    }
    size_t mpre = d->pre_hi - d->pre_lo, mpost = d->post_hi - d->post_lo;
    if (p->fit_interpolant) {
        /* Same projections as xanes_normalize_run's interpolant fits; no
         * flattening (the per-pixel path does not write flat). */
        plan->p_pre = malloc(2 * mpre * sizeof(double));
        plan->p_post = malloc(((size_t)d->nnorm + 1) * mpost * sizeof(double));
        if (plan->p_pre == NULL || plan->p_post == NULL)
            goto nomem;
        if (norm_interp_projection(energy_ev, d->pre_lo, d->pre_hi, e0 + d->pre1_ev,
                                   e0 + d->pre2_ev, e0, spre, 2, plan->p_pre, err) != XANES_OK ||
            norm_interp_projection(energy_ev, d->post_lo, d->post_hi, e0 + d->norm1_ev,
                                   e0 + d->norm2_ev, e0, plan->s_post, (size_t)d->nnorm + 1,
                                   plan->p_post, err) != XANES_OK)
            goto fail;
        return plan;
    }
    if (projection(plan->pre_t + d->pre_lo, mpre, 2, &plan->p_pre, err) != XANES_OK ||
        projection(plan->post_u + d->post_lo, mpost, (size_t)d->nnorm + 1, &plan->p_post, err) !=
            XANES_OK)
        goto fail;
    plan->dflat = d->nnorm < 2 ? d->nnorm : 2;
    if (mpost > 4 && projection(plan->post_u + d->post_lo, mpost, (size_t)plan->dflat + 1,
                                &plan->p_flat, err) != XANES_OK)
        goto fail;
    return plan;
nomem:
    XANES_RAISE(err, XANES_ENOMEM, "normalize plan: out of memory for %zu samples", n);
fail:
    xanes_normalize_plan_free(plan);
    return NULL;
}

size_t xanes_normalize_plan_scratch_size(const xanes_normalize_plan *plan)
{
    return 4 * plan->n;
}

void xanes_normalize_plan_describe(const xanes_normalize_plan *plan, xanes_normalize_result *r)
{
    *r = plan->desc;
    norm_result_clear_values(r);
}

/* c[k] = sum_j P[k][j] y[j], k < np. */
static void project(const double *p, size_t np, size_t m, const double *restrict y, double *c)
{
    for (size_t k = 0; k < np; k++) {
        const double *row = p + k * m;
        double s = 0.0;
        for (size_t j = 0; j < m; j++)
            s += row[j] * y[j];
        c[k] = s;
    }
}

static double poly(const double *c, int deg, double t)
{
    double v = 0.0;
    for (int k = deg; k >= 0; k--)
        v = v * t + c[k];
    return v;
}

xanes_status xanes_normalize_plan_apply(const xanes_normalize_plan *plan, const float *mu,
                                        size_t stride, double *scratch, xanes_normalize_result *r,
                                        double *norm, double *flat, xanes_error *err)
{
    if (plan == NULL || mu == NULL || scratch == NULL || r == NULL)
        return XANES_RAISE(err, XANES_EINVAL, "normalize plan apply: NULL argument");
    const size_t n = plan->n;
    const xanes_normalize_result *d = &plan->desc;
    const double *e = plan->energy_ev;
    double spre = plan->s_pre;
    *r = *d;
    norm_result_clear_values(r);
    double *y = scratch, *pre = scratch + n, *z = scratch + 2 * n, *dmu = scratch + 3 * n;
    for (size_t i = 0; i < n; i++) {
        y[i] = (double)mu[i * stride];
        if (!isfinite(y[i]))
            return XANES_RAISE(err, XANES_EDATA, "mu at %.4f eV (point %zu) is not finite", e[i],
                               i);
    }
    /* Pre-edge line of mu*E^nvict: the data times 1/pre_w. */
    size_t mpre = d->pre_hi - d->pre_lo, mpost = d->post_hi - d->post_lo;
    for (size_t i = d->pre_lo; i < d->pre_hi; i++)
        z[i] = y[i] / plan->pre_w[i];
    double a[2];
    project(plan->p_pre, 2, mpre, z + d->pre_lo, a);
    double ss = 0.0;
    for (size_t i = 0; i < n; i++) {
        pre[i] = (a[0] + a[1] * plan->pre_t[i]) * plan->pre_w[i];
        z[i] = y[i] - pre[i];
    }
    for (size_t i = d->pre_lo; i < d->pre_hi; i++)
        ss += z[i] * z[i];
    r->pre_rms = sqrt(ss / (double)mpre);
    r->pre_slope = a[1] / spre;
    r->pre_offset = a[0] - a[1] * d->e0_ev / spre;

    double c[XANES_NORMALIZE_MAX_NNORM + 1];
    project(plan->p_post, (size_t)d->nnorm + 1, mpost, z + d->post_lo, c);
    ss = 0.0;
    for (size_t i = d->post_lo; i < d->post_hi; i++) {
        double res = z[i] - poly(c, d->nnorm, plan->post_u[i]);
        ss += res * res;
    }
    r->post_rms = sqrt(ss / (double)mpost);
    double sk = 1.0;
    for (int k = 0; k <= d->nnorm; k++) {
        r->post_coef[k] = c[k] / sk;
        sk *= plan->s_post;
    }
    r->edge_step_signed = c[0];
    r->edge_step = fabs(c[0]);
    if (!(r->edge_step > 0.0) || !isfinite(r->edge_step)) {
        norm_result_clear_values(r);
        return XANES_RAISE(err, XANES_EDATA, "edge step at e0 = %.2f eV is zero: no edge",
                           d->e0_ev);
    }
    for (size_t i = 0; i < n; i++)
        z[i] /= r->edge_step; /* z is now norm */
    norm_find_edges(e, y, z, n, plan->half_level, plan->crossing, plan->edges, dmu, r);
    if (norm != NULL)
        memcpy(norm, z, n * sizeof(double));
    if (flat != NULL) {
        memcpy(flat, z, n * sizeof(double));
        if (plan->p_flat != NULL) {
            double f[3];
            project(plan->p_flat, (size_t)plan->dflat + 1, mpost, z + d->post_lo, f);
            for (size_t i = d->ie0; i < n; i++)
                flat[i] = z[i] - (poly(f, plan->dflat, plan->post_u[i]) - f[0]);
        }
    }
    return XANES_OK;
}

xanes_status xanes_normalize_plan_jump_weights(const xanes_normalize_plan *plan,
                                               const double *mu_at, double *g, xanes_error *err)
{
    const size_t n = plan->n;
    xanes_status st = XANES_OK;
    float *y = calloc(n, sizeof *y); /* calloc: GCC cannot see that n > 0 */
    double *scratch = malloc(xanes_normalize_plan_scratch_size(plan) * sizeof *scratch);
    if (y == NULL || scratch == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM, "normalize plan: cannot allocate %zu samples", n);
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        y[i] = (float)mu_at[i];
    xanes_normalize_result r;
    st = xanes_normalize_plan_apply(plan, y, 1, scratch, &r, NULL, NULL, err);
    if (st != XANES_OK)
        goto done;
    const double j0 = r.edge_step_signed;
    for (size_t i = 0; i < n; i++) {
        float keep = y[i];
        y[i] = keep + 1.0f;
        double step = (double)y[i] - (double)keep;
        st = xanes_normalize_plan_apply(plan, y, 1, scratch, &r, NULL, NULL, err);
        y[i] = keep;
        if (st != XANES_OK)
            goto done;
        g[i] = (r.edge_step_signed - j0) / step;
    }
done:
    free(scratch);
    free(y);
    return st;
}

/* ---- the block form: XANES_NORMALIZE_BLOCK spectra at once ------------- */

#define BW XANES_NORMALIZE_BLOCK

size_t xanes_normalize_plan_block_scratch_size(const xanes_normalize_plan *plan)
{
    /* y and z [n][BW], the per-lane state, and one contiguous spectrum and
     * plan_apply scratch for the scalar route (derivative edge). */
    return 2 * plan->n * BW + 6 * BW + plan->n + xanes_normalize_plan_scratch_size(plan);
}

/* Bitwise select (mask all ones or zero): a ?: on doubles is not
 * if-converted under -ftrapping-math, an integer select is, so the lane
 * loops below stay branch-free and vectorise. */
static inline double sel(uint64_t mask, double a, double b)
{
    uint64_t ia, ib;
    memcpy(&ia, &a, sizeof ia);
    memcpy(&ib, &b, sizeof ib);
    ia = (ia & mask) | (ib & ~mask);
    memcpy(&a, &ia, sizeof a);
    return a;
}

/* The lane loops run over the constant BW, so the compiler vectorises them
 * without an epilogue; the body is compiled once per x86-64 level below. */
static inline __attribute__((always_inline)) void block_body(const xanes_normalize_plan *plan,
                                                             const float *mu, size_t stride,
                                                             size_t w, double *scratch,
                                                             xanes_normalize_block *out)
{
    const size_t n = plan->n;
    const xanes_normalize_result *d = &plan->desc;
    const double *e = plan->energy_ev;
    double *restrict y = scratch, *restrict z = scratch + n * BW;
    double *restrict a0 = z + n * BW, *restrict a1 = a0 + BW, *restrict ss = a1 + BW;
    double *restrict step = ss + BW, *restrict prev = step + BW, *restrict hit_i = prev + BW;
    double *spec = hit_i + BW, *one = spec + n;
    uint64_t bad[BW], alive[BW];

    /* Load and widen; lanes past w repeat lane 0 (their results are
     * dropped).  v - v is 0 for finite v, NaN for NaN and Inf. */
#pragma omp simd
    for (size_t j = 0; j < BW; j++)
        bad[j] = 0;
    for (size_t i = 0; i < n; i++) {
        const float *restrict row = mu + i * stride;
        double *restrict yi = y + i * BW;
        if (w == BW) {
#pragma omp simd
            for (size_t j = 0; j < BW; j++)
                yi[j] = (double)row[j];
        } else {
#pragma omp simd
            for (size_t j = 0; j < BW; j++)
                yi[j] = (double)row[j < w ? j : 0];
        }
#pragma omp simd
        for (size_t j = 0; j < BW; j++)
            bad[j] |= (uint64_t)0 - (uint64_t) !((yi[j] - yi[j]) == 0.0);
    }
    /* Pre-edge line: a = P_pre (y / pre_w) over the window, the same sums
     * in the same order as plan_apply's project(). */
    const size_t mpre = d->pre_hi - d->pre_lo, mpost = d->post_hi - d->post_lo;
#pragma omp simd
    for (size_t j = 0; j < BW; j++)
        a0[j] = a1[j] = 0.0;
    for (size_t q = 0; q < mpre; q++) {
        const size_t i = d->pre_lo + q;
        const double p0 = plan->p_pre[q], p1 = plan->p_pre[mpre + q], wi = plan->pre_w[i];
        const double *restrict yi = y + i * BW;
#pragma omp simd
        for (size_t j = 0; j < BW; j++) {
            const double zz = yi[j] / wi;
            a0[j] += p0 * zz;
            a1[j] += p1 * zz;
        }
    }
    /* z = y - pre everywhere; residual sum of squares over the window. */
    for (size_t i = 0; i < n; i++) {
        const double ti = plan->pre_t[i], wi = plan->pre_w[i];
        const double *restrict yi = y + i * BW;
        double *restrict zi = z + i * BW;
#pragma omp simd
        for (size_t j = 0; j < BW; j++)
            zi[j] = yi[j] - (a0[j] + a1[j] * ti) * wi;
    }
#pragma omp simd
    for (size_t j = 0; j < BW; j++)
        ss[j] = 0.0;
    for (size_t i = d->pre_lo; i < d->pre_hi; i++) {
        const double *restrict zi = z + i * BW;
#pragma omp simd
        for (size_t j = 0; j < BW; j++)
            ss[j] += zi[j] * zi[j];
    }
    /* The edge step is post-edge coefficient 0: row 0 of P_post. */
#pragma omp simd
    for (size_t j = 0; j < BW; j++)
        step[j] = 0.0;
    for (size_t q = 0; q < mpost; q++) {
        const double p0 = plan->p_post[q];
        const double *restrict zi = z + (d->post_lo + q) * BW;
#pragma omp simd
        for (size_t j = 0; j < BW; j++)
            step[j] += p0 * zi[j];
    }
    for (size_t j = 0; j < w; j++) {
        out->half_edge_ev[j] = NAN;
        out->deriv_edge_ev[j] = NAN;
        const double s = fabs(step[j]);
        out->status[j] = bad[j]                       ? XANES_NORMALIZE_BLOCK_NONFINITE
                         : !(s > 0.0) || !isfinite(s) ? XANES_NORMALIZE_BLOCK_NO_STEP
                                                      : XANES_NORMALIZE_BLOCK_OK;
        const int ok = out->status[j] == XANES_NORMALIZE_BLOCK_OK;
        out->edge_step_signed[j] = ok ? step[j] : NAN;
        out->pre_rms[j] = ok ? sqrt(ss[j] / (double)mpre) : NAN;
    }
    /* Half edge (xanes_edge_half on norm = z / |step|): the first upward
     * crossing after `start`, all lanes stepping together until every lane
     * has crossed or given up. */
    const size_t start = d->pre_hi > 0 ? d->pre_hi - 1 : 0;
    if ((plan->edges & XANES_NORMALIZE_EDGE_HALF) && start < n) {
        const double level = plan->half_level;
        uint64_t any = 0;
        for (size_t j = 0; j < BW; j++) {
            step[j] = fabs(step[j]);
            prev[j] = z[start * BW + j] / step[j];
            const int ok = j < w && out->status[j] == XANES_NORMALIZE_BLOCK_OK && prev[j] < level;
            alive[j] = (uint64_t)0 - (uint64_t)ok;
            any |= alive[j];
            hit_i[j] = 0.0;
        }
        for (size_t i = start + 1; i < n && any; i++) {
            const double *restrict zi = z + i * BW;
            const double di = (double)i;
#pragma omp simd
            for (size_t j = 0; j < BW; j++) {
                const double cur = zi[j] / step[j];
                const uint64_t hit = alive[j] & ((uint64_t)0 - (uint64_t)(cur >= level));
                hit_i[j] = sel(hit, di, hit_i[j]);
                alive[j] &= ~hit;
            }
            any = 0;
            for (size_t j = 0; j < BW; j++)
                any |= alive[j];
        }
        for (size_t j = 0; j < w; j++) {
            if (hit_i[j] == 0.0)
                continue;
            const size_t i = (size_t)hit_i[j];
            /* The crossing through the edge code, on the samples around the
             * bracket (a cubic's slopes need them): the window i-2..i+1
             * (clipped to the spectrum, whose ends stay ends), normalized as
             * plan_apply does (z / |step|). */
            const size_t lo = i >= 2 ? i - 2 : 0, hi = i + 1 < n ? i + 1 : n - 1;
            double wn[4];
            for (size_t q = lo; q <= hi; q++)
                wn[q - lo] = z[q * BW + j] / step[j];
            out->half_edge_ev[j] =
                xanes_edge_cross_bracket(e + lo, wn, hi - lo + 1, i - 1 - lo, level, plan->crossing);
        }
    }
    /* The derivative edge is rare on this path (--edge deriv): each lane
     * through the scalar code. */
    if (plan->edges & XANES_NORMALIZE_EDGE_DERIV) {
        float *f = (float *)spec;
        for (size_t j = 0; j < w; j++) {
            if (out->status[j] != XANES_NORMALIZE_BLOCK_OK)
                continue;
            for (size_t i = 0; i < n; i++)
                f[i] = mu[i * stride + j];
            xanes_normalize_result r;
            if (xanes_normalize_plan_apply(plan, f, 1, one, &r, NULL, NULL, NULL) == XANES_OK)
                out->deriv_edge_ev[j] = r.deriv_edge_ev;
        }
    }
}

/* The body for two more x86-64 levels, the best picked at run time (2, 4
 * or 8 doubles a vector).  Every level does the same IEEE operations in the
 * same order (ISO C: no contraction into FMA), so the results do not depend
 * on the machine. */
#ifdef XANES_ISA_DISPATCH
#define BLOCK_DISPATCH 1
__attribute__((target("arch=x86-64-v4"))) static void block_v4(const xanes_normalize_plan *plan,
                                                               const float *mu, size_t stride,
                                                               size_t w, double *scratch,
                                                               xanes_normalize_block *out)
{
    block_body(plan, mu, stride, w, scratch, out);
}

__attribute__((target("arch=x86-64-v3"))) static void block_v3(const xanes_normalize_plan *plan,
                                                               const float *mu, size_t stride,
                                                               size_t w, double *scratch,
                                                               xanes_normalize_block *out)
{
    block_body(plan, mu, stride, w, scratch, out);
}
#endif

xanes_status xanes_normalize_plan_apply_block(const xanes_normalize_plan *plan, const float *mu,
                                              size_t stride, size_t w, double *scratch,
                                              xanes_normalize_block *out, xanes_error *err)
{
    return normalize_plan_apply_block_at(xanes_isa_best(), plan, mu, stride, w, scratch, out, err);
}

xanes_status normalize_plan_apply_block_at(int level, const xanes_normalize_plan *plan,
                                           const float *mu, size_t stride, size_t w,
                                           double *scratch, xanes_normalize_block *out,
                                           xanes_error *err)
{
    if (plan == NULL || mu == NULL || scratch == NULL || out == NULL || w == 0 || w > BW)
        return XANES_RAISE(err, XANES_EINVAL,
                           "normalize plan block: NULL argument or %zu spectra (1..%d)", w, BW);
#ifdef BLOCK_DISPATCH
    if (level >= 4) {
        block_v4(plan, mu, stride, w, scratch, out);
        return XANES_OK;
    }
    if (level >= 3) {
        block_v3(plan, mu, stride, w, scratch, out);
        return XANES_OK;
    }
#else
    (void)level;
#endif
    block_body(plan, mu, stride, w, scratch, out);
    return XANES_OK;
}
