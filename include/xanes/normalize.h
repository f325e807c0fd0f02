/* normalize.h: larch-compatible pre-edge subtraction and normalization of
 * XANES spectra (one spectrum, or many spectra on one energy grid).
 *
 * Semantics follow larch's pre_edge()/preedge()/find_e0() as shipped in the
 * Debian package python3-xraylarch 0.9.58 (larch/xafs/pre_edge.py):
 *   - e0: larch's find_e0 rule (maximum of dmu/dE with glitch checks) when not
 *     given, then snapped to the nearest energy sample, as larch does;
 *   - pre-edge: a line fitted to mu*E^nvict over samples [e0+pre1, e0+pre2);
 *   - post-edge: a polynomial of degree nnorm fitted to mu - pre_edge over
 *     [e0+norm1, e0+norm2);
 *   - edge_step = |post(e0) - pre(e0)|, norm = (mu - pre_edge)/edge_step,
 *     flat = norm minus a quadratic (degree min(nnorm,2)) fitted to norm over
 *     the post-edge range, offset to vanish at e0, for E >= e0.
 * The default range rules and why we follow 0.9.58's are in normalize.c.
 *
 * Two entry points:
 *   (a) xanes_normalize_run: one spectrum, any grid, any defaults; needs a
 *       caller workspace (allocation-free, thread-safe with one workspace per
 *       thread).
 *   (b) xanes_normalize_plan: many spectra on one grid with e0 and ranges
 *       fixed (e.g. from the mean spectrum of a stack).  The least-squares
 *       projections are precomputed once; plan_apply is O(n) per spectrum,
 *       reads float data with a stride (a pixel of an [E][y][x] stack has
 *       stride ny*nx), allocates nothing and is thread-safe.
 */
#ifndef XANES_NORMALIZE_H
#define XANES_NORMALIZE_H

#include <stddef.h>

#include "xanes/edge.h"
#include "xanes/status.h"

/* Largest post-edge polynomial degree (larch MAX_NNORM). */
#define XANES_NORMALIZE_MAX_NNORM 5

/* Knobs of the normalization.  NaN (or nnorm = -1) means "choose by larch's
 * default rule".  pre1/pre2/norm1/norm2 are relative to e0, in eV. */
typedef struct {
    double e0_ev;                 /* absolute edge energy; NaN: find_e0 */
    double pre1_ev;               /* start of the pre-edge fit range, e.g. -150 */
    double pre2_ev;               /* end of the pre-edge fit range, e.g. -30 */
    double norm1_ev;              /* start of the post-edge fit range, e.g. 150 */
    double norm2_ev;              /* end of the post-edge fit range; negative: end of data */
    int nnorm;                    /* post-edge polynomial degree 0..5; -1: default rule */
    double nvict;                 /* energy exponent of the pre-edge fit (larch nvict), 0 */
    double half_level;            /* norm level of the "half-edge" energy, 0.5 */
    xanes_edge_crossing crossing; /* interpolation of that crossing between
                                     samples: linear (larch, default) or
                                     Steffen's monotone cubic (edge.h) */
    int fit_interpolant;          /* 0 (larch): fit the samples inside each window; nonzero:
                                     fit the piecewise-linear interpolant over the window
                                     (uniform weight in energy, continuous in e0 and the
                                     window ends, so sparse TXM grids give the spectrum's
                                     edge, not the sampling's).  Needs e0, the windows and
                                     nnorm explicit and nvict 0; e0 is then used as given,
                                     not snapped to a sample */
    unsigned edges;               /* which edge energies to find: XANES_NORMALIZE_EDGE_* bits
                                     (default both); the per-pixel path asks for one only,
                                     since the derivative costs a third of its time */
} xanes_normalize_params;

#define XANES_NORMALIZE_EDGE_HALF 1u
#define XANES_NORMALIZE_EDGE_DERIV 2u

/* Fills p with larch's defaults: everything NaN/-1 (chosen from the data),
 * nvict 0, half_level 0.5, both edge energies. */
void xanes_normalize_default_params(xanes_normalize_params *p);

/* Everything a normalization found and every parameter it actually used,
 * so the same result can be reproduced in larch by passing e0, pre1, pre2,
 * norm1, norm2, nnorm, nvict explicitly. */
typedef struct {
    double e0_ev;            /* used e0: an energy sample (larch snaps e0) */
    size_t ie0;              /* index of e0 in the energy array */
    double edge_step;        /* |post(e0) - pre(e0)| as larch (always >= 0) */
    double edge_step_signed; /* post(e0) - pre(e0): negative for an inverted edge */
    double pre_slope;        /* larch precoefs[0]: pre_edge = (slope*E + offset)*E^-nvict */
    double pre_offset;       /* larch precoefs[1] (E in eV, absolute) */
    /* post_edge(E) - pre_edge(E) = sum_k post_coef[k] * (E - e0)^k, k = 0..nnorm.
     * Same polynomial as larch's norm_c0.. (which are in powers of E), written
     * about e0 for conditioning, so post_coef[0] is the signed edge step. */
    double post_coef[XANES_NORMALIZE_MAX_NNORM + 1];
    double pre1_ev, pre2_ev, norm1_ev, norm2_ev; /* used ranges, relative to e0 */
    int nnorm;                                   /* used degree */
    double nvict;
    size_t pre_lo, pre_hi;   /* sample range [lo, hi) of the pre-edge fit */
    size_t post_lo, post_hi; /* sample range [lo, hi) of the post-edge fit */
    /* RMS residuals of the two fits (mu units).  With white noise sigma they
     * estimate sigma*sqrt((m-p)/m) (m samples, p coefficients), so
     * edge_step / pre_rms is the edge jump over noise for gating pixels
     * (tests/test_normalize_plan.c checks this on simulated noise). */
    double pre_rms;
    double post_rms;
    xanes_edge_crossing crossing; /* interpolation of the half-edge crossing used */
    double half_edge_ev;          /* first crossing of norm = half_level (edge.h), NaN if none */
    double deriv_edge_ev;         /* refined maximum of dmu/dE (edge.h), NaN if none */
} xanes_normalize_result;

typedef struct xanes_normalize_workspace xanes_normalize_workspace;

/* Workspace for spectra of up to n_max points.  NULL on allocation failure.
 * One per thread; _free(NULL) is a no-op. */
xanes_normalize_workspace *xanes_normalize_workspace_alloc(size_t n_max);
void xanes_normalize_workspace_free(xanes_normalize_workspace *w);

/* Normalizes one spectrum.  energy_ev[n] strictly increasing eV, mu[n]
 * finite.  p NULL means defaults.  On success fills *r and, when non-NULL,
 * norm[n] and flat[n] (caller-owned).  The half-edge and derivative edge
 * are searched between the end of the pre-edge range and the start of the
 * post-edge range; when none is found they are NaN and the call still
 * succeeds (the fit itself is valid).
 * Returns XANES_EINVAL (NULL pointers, n > workspace size, nnorm < -1 or > 5,
 * an explicit e0 outside [E[1], E[n-2]], non-finite nvict or half_level),
 * XANES_EDATA (fewer than 7 points, non-finite or non-increasing energy,
 * non-finite mu, no edge found by find_e0, too few samples in a fit range,
 * zero edge step).  Messages give the values.  Allocation-free; thread-safe
 * for distinct workspaces. */
xanes_status xanes_normalize_run(const double *energy_ev, const double *mu, size_t n,
                                 const xanes_normalize_params *p, xanes_normalize_workspace *w,
                                 xanes_normalize_result *r, double *norm, double *flat,
                                 xanes_error *err);

/* Evaluates the fitted pre-edge and post-edge curves of r at energy_ev[n]
 * (either output may be NULL). */
void xanes_normalize_curves(const double *energy_ev, size_t n, const xanes_normalize_result *r,
                            double *pre_edge, double *post_edge);

/* ---- fixed-grid plan ---------------------------------------------------- */

typedef struct xanes_normalize_plan xanes_normalize_plan;

/* Builds a plan for spectra sampled on energy_ev[n] (copied; caller keeps
 * ownership).  p must give a finite e0_ev (typically the e0 of the mean
 * spectrum); NaN ranges and nnorm = -1 are resolved once by larch's rules,
 * which depend only on the grid and e0.  Returns NULL and records the error
 * (XANES_EINVAL, XANES_EDATA, XANES_ENOMEM, XANES_EFAIL) on failure.  Not
 * meant for per-pixel use (allocates); free with xanes_normalize_plan_free. */
xanes_normalize_plan *xanes_normalize_plan_alloc(const double *energy_ev, size_t n,
                                                 const xanes_normalize_params *p, xanes_error *err);
void xanes_normalize_plan_free(xanes_normalize_plan *plan); /* NULL no-op */

/* Number of doubles of scratch one plan_apply call needs. */
size_t xanes_normalize_plan_scratch_size(const xanes_normalize_plan *plan);

/* The edge jump (edge_step_signed) is a fixed linear function g . mu of the
 * spectrum under a plan (its fits are least-squares projections).  Writes
 * g[n] (n the plan's grid size), found by adding 1 to each sample of mu_at
 * in turn (a spectrum the plan normalizes, e.g. a stack's mean spectrum;
 * exact up to rounding since the jump is linear).  ||g|| is the standard
 * error of the jump for unit white noise.  Returns plan_apply's XANES_EDATA
 * (and message) when mu_at, or mu_at plus a unit step, has no edge step,
 * XANES_ENOMEM.  Allocates; meant for set-up, not per pixel. */
xanes_status xanes_normalize_plan_jump_weights(const xanes_normalize_plan *plan,
                                               const double *mu_at, double *g, xanes_error *err);

/* The resolved parameters of the plan (e0, ranges, nnorm, index ranges);
 * the per-spectrum fields of *r are NaN. */
void xanes_normalize_plan_describe(const xanes_normalize_plan *plan, xanes_normalize_result *r);

/* Normalizes one spectrum mu[i * stride], i = 0..n-1 (float, e.g. one pixel
 * of a float32 [E][y][x] stack with stride = ny*nx).  scratch holds at least
 * xanes_normalize_plan_scratch_size(plan) doubles (caller-owned, one per
 * thread).  Fills *r (fit, edge step, RMS residuals, half-edge and
 * derivative edge energies; NaN edges when not found) and, when non-NULL,
 * norm[n] and flat[n].  Returns XANES_EDATA for non-finite mu or a zero
 * edge step (r's per-spectrum fields are then NaN); err may be NULL (no
 * message is formatted then, the cheap path for pixels).  O(n), no
 * allocation, thread-safe (the plan is read-only). */
xanes_status xanes_normalize_plan_apply(const xanes_normalize_plan *plan, const float *mu,
                                        size_t stride, double *scratch, xanes_normalize_result *r,
                                        double *norm, double *flat, xanes_error *err);

/* ---- block form ---------------------------------------------------------- */

/* Spectra one block call handles: a row segment of a stack. */
#define XANES_NORMALIZE_BLOCK 64

/* What became of one spectrum of a block. */
enum {
    XANES_NORMALIZE_BLOCK_OK = 0,
    XANES_NORMALIZE_BLOCK_NONFINITE = 1, /* a non-finite mu (plan_apply: XANES_EDATA) */
    XANES_NORMALIZE_BLOCK_NO_STEP = 2    /* zero or non-finite edge step (XANES_EDATA) */
};

/* Caller-owned outputs of a block call, each [w]. */
typedef struct {
    unsigned char *status;    /* XANES_NORMALIZE_BLOCK_*                      */
    double *edge_step_signed; /* as plan_apply's r.edge_step_signed; NaN unless OK */
    double *pre_rms;          /* r.pre_rms; NaN unless OK                     */
    double *half_edge_ev;     /* r.half_edge_ev (NaN: none, not asked, not OK) */
    double *deriv_edge_ev;    /* r.deriv_edge_ev (likewise)                   */
} xanes_normalize_block;

/* Doubles of scratch one apply_block call needs (one per thread). */
size_t xanes_normalize_plan_block_scratch_size(const xanes_normalize_plan *plan);

/* plan_apply for w <= XANES_NORMALIZE_BLOCK spectra at once, stored
 * energy-major: spectrum j is mu[i * stride + j], i = 0..n-1 (w adjacent
 * pixels of one row of a float32 [E][y][x] stack, stride = ny*nx).  Writes
 * the listed fields of each spectrum into *out.  Every value equals, bit
 * for bit, the one plan_apply gives for that spectrum: the arithmetic is
 * the same, in the same order, with the spectra in the vector lanes
 * (tests/test_normalize_plan.c compares them).  Returns XANES_EINVAL for
 * NULL arguments or w outside 1..XANES_NORMALIZE_BLOCK; per-spectrum
 * failures are in out->status.  No allocation; thread-safe with one scratch
 * per thread. */
xanes_status xanes_normalize_plan_apply_block(const xanes_normalize_plan *plan, const float *mu,
                                              size_t stride, size_t w, double *scratch,
                                              xanes_normalize_block *out, xanes_error *err);

#endif
