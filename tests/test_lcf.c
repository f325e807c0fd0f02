/* test_lcf.c: linear combination fitting.
 *
 * Truth: (1) noise-free mixtures of analytic references with known weights;
 * (2) an independent brute-force solver that enumerates every support set,
 * solves each by gsl_multifit_linear (sum-to-one by eliminating the last
 * weight) and keeps the best feasible one, which is the exact constrained
 * optimum for small k; (3) Monte Carlo spread of the weights against the
 * reported uncertainties; (4) real Ni references (NiO = Ni2+, LaNiO3 =
 * Ni3+, Ni metal; tests/data, normalized by normalize.c) mixed with known
 * weights plus Gaussian noise on a TXM-like grid; (5) every bad input with
 * its message. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_multifit.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "testutil.h"
#include "xanes/lcf.h"
#include "xanes/normalize.h"
#include "xanes/spectrum.h"

#define assert_near(a, b, tol)                                                                     \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (!(fabs(a_ - b_) <= (tol)))                                                             \
            fail_msg("%s = %.12g, expected %.12g (tol %g)", #a, a_, b_, (double)(tol));            \
    } while (0)

#define NG 240
#define KMAX 5

/* Analytic "normalized XANES" reference: arctan edge at e0 with a white line
 * (Gaussian) and a post-edge oscillation, so references differ in shape as
 * real valence standards do. */
static double model_ref(double e, double e0, double wl_amp, double wl_width, double osc)
{
    double edge = 0.5 + atan((e - e0) / 1.3) / M_PI;
    double wl = wl_amp * exp(-0.5 * pow((e - e0 - 3.0) / wl_width, 2));
    double post = e > e0 ? osc * sin((e - e0) / 9.0) * exp(-(e - e0) / 60.0) : 0.0;
    return edge + wl + post;
}

typedef struct {
    double energy[NG];
    double ref[KMAX][NG];
    const double *refp[KMAX];
} refset;

static void make_refs(refset *rs)
{
    static const double e0[KMAX] = {8340.4, 8343.1, 8345.3, 8341.7, 8347.2};
    static const double amp[KMAX] = {0.35, 0.62, 0.48, 0.20, 0.75};
    static const double wid[KMAX] = {2.1, 3.3, 2.6, 4.0, 1.8};
    static const double osc[KMAX] = {0.08, -0.05, 0.11, 0.03, -0.09};
    for (size_t i = 0; i < NG; i++)
        rs->energy[i] = 8300.0 + 0.37 * (double)i + 0.0004 * (double)(i * i);
    for (size_t j = 0; j < KMAX; j++) {
        for (size_t i = 0; i < NG; i++)
            rs->ref[j][i] = model_ref(rs->energy[i], e0[j], amp[j], wid[j], osc[j]);
        rs->refp[j] = rs->ref[j];
    }
}

static void fit_one(const refset *rs, size_t k, const double *y, double emin, double emax,
                    const xanes_lcf_params *p, xanes_lcf_result *res)
{
    xanes_lcf_plan *plan = NULL;
    xanes_error err;
    xanes_error_clear(&err);
    if (xanes_lcf_plan_alloc(rs->energy, NG, rs->refp, k, emin, emax, p, &plan, &err) != XANES_OK)
        fail_msg("plan: %s", err.message);
    xanes_lcf_workspace *ws = xanes_lcf_workspace_alloc(plan);
    assert_non_null(ws);
    if (xanes_lcf_plan_fit(plan, y, 1, ws, res, &err) != XANES_OK)
        fail_msg("fit: %s", err.message);
    xanes_lcf_workspace_free(ws);
    xanes_lcf_plan_free(plan);
}

static void test_noise_free_exact(void **state)
{
    (void)state;
    refset rs;
    make_refs(&rs);
    const double w[3] = {0.213, 0.5, 0.287};
    double y[NG];
    for (size_t i = 0; i < NG; i++)
        y[i] = w[0] * rs.ref[0][i] + w[1] * rs.ref[1][i] + w[2] * rs.ref[2][i];
    for (int sum1 = 0; sum1 <= 1; sum1++) {
        xanes_lcf_params p;
        xanes_lcf_default_params(&p);
        p.sum_to_one = sum1;
        xanes_lcf_result res;
        fit_one(&rs, 3, y, 8310.0, 8380.0, &p, &res);
        for (size_t j = 0; j < 3; j++) {
            assert_near(res.weight[j], w[j], 1e-10);
            assert_false(res.at_bound[j]);
        }
        assert_near(res.weight_sum, 1.0, 1e-10);
        assert_true(res.chi2 < 1e-20);
        assert_true(res.r_factor < 1e-20);
        assert_int_equal(res.n_free, 3 - (size_t)sum1);
        /* The window [8310, 8380] on this grid. */
        size_t m = 0;
        for (size_t i = 0; i < NG; i++)
            m += rs.energy[i] >= 8310.0 && rs.energy[i] <= 8380.0;
        assert_int_equal(res.n_points, m);
    }
}

/* Brute force: every non-empty support S; unconstrained (or sum-to-one)
 * least squares on S by gsl_multifit_linear; keep the best with all weights
 * >= 0.  Returns the best chi2 and weights. */
static double brute_force(const refset *rs, size_t k, const double *y, size_t i0, size_t m,
                          int sum1, double *wbest)
{
    double best = INFINITY;
    if (!sum1) { /* the empty support, w = 0 */
        best = 0.0;
        for (size_t i = 0; i < m; i++)
            best += y[i0 + i] * y[i0 + i];
        for (size_t j = 0; j < k; j++)
            wbest[j] = 0.0;
    }
    for (unsigned mask = 1; mask < (1u << k); mask++) {
        size_t s[KMAX], ns = 0;
        for (size_t j = 0; j < k; j++)
            if (mask & (1u << j))
                s[ns++] = j;
        size_t nv = sum1 ? ns - 1 : ns;
        double w[KMAX] = {0};
        if (nv == 0) {
            w[s[0]] = 1.0; /* sum-to-one with one reference */
        } else {
            gsl_matrix *X = gsl_matrix_alloc(m, nv);
            gsl_vector *yy = gsl_vector_alloc(m), *c = gsl_vector_alloc(nv);
            gsl_matrix *cov = gsl_matrix_alloc(nv, nv);
            gsl_multifit_linear_workspace *ws = gsl_multifit_linear_alloc(m, nv);
            for (size_t i = 0; i < m; i++) {
                double last = sum1 ? rs->ref[s[ns - 1]][i0 + i] : 0.0;
                gsl_vector_set(yy, i, y[i0 + i] - last);
                for (size_t q = 0; q < nv; q++)
                    gsl_matrix_set(X, i, q, rs->ref[s[q]][i0 + i] - last);
            }
            double chi;
            gsl_multifit_linear(X, yy, c, cov, &chi, ws);
            double sum = 0.0;
            for (size_t q = 0; q < nv; q++) {
                w[s[q]] = gsl_vector_get(c, q);
                sum += w[s[q]];
            }
            if (sum1)
                w[s[ns - 1]] = 1.0 - sum;
            gsl_multifit_linear_free(ws);
            gsl_matrix_free(cov);
            gsl_vector_free(c);
            gsl_vector_free(yy);
            gsl_matrix_free(X);
        }
        int feasible = 1;
        for (size_t j = 0; j < k; j++)
            feasible &= w[j] >= 0.0;
        if (!feasible)
            continue;
        double chi2 = 0.0;
        for (size_t i = 0; i < m; i++) {
            double r = y[i0 + i];
            for (size_t j = 0; j < k; j++)
                r -= w[j] * rs->ref[j][i0 + i];
            chi2 += r * r;
        }
        if (chi2 < best) {
            best = chi2;
            memcpy(wbest, w, sizeof w);
        }
    }
    return best;
}

static void test_matches_brute_force(void **state)
{
    (void)state;
    refset rs;
    make_refs(&rs);
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    size_t n_bound = 0;
    for (unsigned long seed = 1; seed <= 60; seed++) {
        gsl_rng_set(rng, seed);
        size_t k = 2 + seed % 4; /* 2..5 references */
        double wt[KMAX];
        for (size_t j = 0; j < k; j++)
            wt[j] = gsl_ran_flat(rng, -0.3, 1.0); /* some negative: bounds bite */
        double y[NG];
        for (size_t i = 0; i < NG; i++) {
            y[i] = gsl_ran_gaussian(rng, 0.02);
            for (size_t j = 0; j < k; j++)
                y[i] += wt[j] * rs.ref[j][i];
        }
        for (int sum1 = 0; sum1 <= 1; sum1++) {
            xanes_lcf_params p;
            xanes_lcf_default_params(&p);
            p.sum_to_one = sum1;
            xanes_lcf_result res;
            fit_one(&rs, k, y, 8305.0, 8390.0, &p, &res);
            size_t i0 = 0;
            while (rs.energy[i0] < 8305.0)
                i0++;
            double wb[KMAX];
            double chib = brute_force(&rs, k, y, i0, res.n_points, sum1, wb);
            assert_true(isfinite(chib));
            assert_near(res.chi2, chib, 1e-9 * (1.0 + chib));
            for (size_t j = 0; j < k; j++) {
                if (fabs(res.weight[j] - wb[j]) > 1e-7)
                    fail_msg("seed %lu k %zu sum1 %d: weight %zu = %.9f, brute force %.9f "
                             "(chi2 %.9g vs %.9g)",
                             seed, k, sum1, j, res.weight[j], wb[j], res.chi2, chib);
                assert_true(res.weight[j] >= 0.0);
                if (res.at_bound[j]) {
                    assert_true(res.weight[j] == 0.0);
                    assert_true(res.weight_err[j] == 0.0);
                    n_bound++;
                }
            }
            if (sum1)
                assert_near(res.weight_sum, 1.0, 1e-12);
        }
    }
    print_message("%zu weights held at the bound over 120 fits\n", n_bound);
    assert_true(n_bound > 10); /* the bound-active path really ran */
    gsl_rng_free(rng);
}

static void test_unconstrained_matches_multifit(void **state)
{
    (void)state;
    refset rs;
    make_refs(&rs);
    double y[NG];
    for (size_t i = 0; i < NG; i++)
        y[i] = 0.7 * rs.ref[0][i] - 0.25 * rs.ref[1][i] + 0.4 * rs.ref[2][i] +
               0.01 * sin(0.7 * (double)i);
    xanes_lcf_params p;
    xanes_lcf_default_params(&p);
    p.nonnegative = 0;
    xanes_lcf_result res;
    fit_one(&rs, 3, y, -INFINITY, INFINITY, &p, &res);
    /* Independent: GSL's SVD-based multifit with its covariance. */
    gsl_matrix *X = gsl_matrix_alloc(NG, 3), *cov = gsl_matrix_alloc(3, 3);
    gsl_vector *yy = gsl_vector_alloc(NG), *c = gsl_vector_alloc(3);
    for (size_t i = 0; i < NG; i++) {
        gsl_vector_set(yy, i, y[i]);
        for (size_t j = 0; j < 3; j++)
            gsl_matrix_set(X, i, j, rs.ref[j][i]);
    }
    gsl_multifit_linear_workspace *ws = gsl_multifit_linear_alloc(NG, 3);
    double chi2;
    gsl_multifit_linear(X, yy, c, cov, &chi2, ws);
    double redchi = chi2 / (NG - 3);
    assert_near(res.chi2, chi2, 1e-10 * chi2);
    assert_near(res.redchi, redchi, 1e-10 * redchi);
    for (size_t j = 0; j < 3; j++) {
        assert_near(res.weight[j], gsl_vector_get(c, j), 1e-9);
        /* GSL's cov is already scaled by chi2 / (n - p). */
        assert_near(res.weight_err[j], sqrt(gsl_matrix_get(cov, j, j)), 1e-6 * res.weight_err[j]);
    }
    assert_true(res.weight[1] < 0.0);
    gsl_multifit_linear_free(ws);
    gsl_vector_free(c);
    gsl_vector_free(yy);
    gsl_matrix_free(cov);
    gsl_matrix_free(X);
}

static void test_stride_and_model(void **state)
{
    (void)state;
    refset rs;
    make_refs(&rs);
    const size_t stride = 7;
    double *block = malloc(NG * stride * sizeof *block);
    double y[NG];
    for (size_t i = 0; i < NG; i++) {
        y[i] = 0.33 * rs.ref[0][i] + 0.67 * rs.ref[2][i] + 0.004 * cos(1.3 * (double)i);
        for (size_t s = 0; s < stride; s++)
            block[i * stride + s] = (s == 3) ? y[i] : NAN;
    }
    xanes_lcf_plan *plan = NULL;
    xanes_error err;
    xanes_error_clear(&err);
    assert_int_equal(
        xanes_lcf_plan_alloc(rs.energy, NG, rs.refp, 3, 8320.0, 8370.0, NULL, &plan, &err),
        XANES_OK);
    xanes_lcf_workspace *ws = xanes_lcf_workspace_alloc(plan);
    xanes_lcf_result r1, r2;
    assert_int_equal(xanes_lcf_plan_fit(plan, y, 1, ws, &r1, &err), XANES_OK);
    assert_int_equal(xanes_lcf_plan_fit(plan, block + 3, stride, ws, &r2, &err), XANES_OK);
    assert_memory_equal(&r1, &r2, sizeof r1);
    /* model() is the weighted sum, also outside the window. */
    for (size_t i = 0; i < NG; i += 17) {
        double want = 0.0;
        for (size_t j = 0; j < 3; j++)
            want += r1.weight[j] * rs.ref[j][i];
        assert_near(xanes_lcf_plan_model(plan, &r1, i), want, 1e-14);
    }
    assert_true(isnan(xanes_lcf_plan_model(plan, &r1, NG)));
    xanes_lcf_workspace_free(ws);
    xanes_lcf_plan_free(plan);
    xanes_lcf_plan_free(NULL);
    xanes_lcf_workspace_free(NULL);
    free(block);
}

/* Reported 1-sigma uncertainties agree with the spread of fitted weights
 * over many noise realizations (200 seeds). */
static void test_uncertainty_consistent(void **state)
{
    (void)state;
    refset rs;
    make_refs(&rs);
    const double w[3] = {0.27, 0.46, 0.27};
    const double sigma = 0.01;
    const size_t nrun = 2000;
    for (int sum1 = 0; sum1 <= 1; sum1++) {
        xanes_lcf_params p;
        xanes_lcf_default_params(&p);
        p.sum_to_one = sum1;
        xanes_lcf_plan *plan = NULL;
        xanes_error err;
        xanes_error_clear(&err);
        assert_int_equal(
            xanes_lcf_plan_alloc(rs.energy, NG, rs.refp, 3, 8310.0, 8390.0, &p, &plan, &err),
            XANES_OK);
        xanes_lcf_workspace *ws = xanes_lcf_workspace_alloc(plan);
        gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
        gsl_rng_set(rng, 4242 + (unsigned long)sum1);
        double s1[3] = {0}, s2[3] = {0}, serr[3] = {0}, sred = 0.0;
        for (size_t run = 0; run < nrun; run++) {
            double y[NG];
            for (size_t i = 0; i < NG; i++)
                y[i] = w[0] * rs.ref[0][i] + w[1] * rs.ref[1][i] + w[2] * rs.ref[2][i] +
                       gsl_ran_gaussian(rng, sigma);
            xanes_lcf_result res;
            assert_int_equal(xanes_lcf_plan_fit(plan, y, 1, ws, &res, &err), XANES_OK);
            sred += res.redchi;
            for (size_t j = 0; j < 3; j++) {
                double d = res.weight[j] - w[j];
                s1[j] += d;
                s2[j] += d * d;
                serr[j] += res.weight_err[j];
            }
        }
        /* Mean reduced chi-square estimates sigma^2 (unbiased), to ~1 %. */
        assert_near(sred / nrun, sigma * sigma, 0.05 * sigma * sigma);
        for (size_t j = 0; j < 3; j++) {
            double mean = s1[j] / nrun;
            double sd = sqrt(s2[j] / nrun - mean * mean);
            double rep = serr[j] / nrun;
            print_message("sum_to_one=%d weight %zu: MC spread %.5f, mean reported %.5f\n", sum1, j,
                          sd, rep);
            /* 2000 samples: the sample SD scatters 1.6 % (1 sigma) around the truth;
             * 8 % is a 5-sigma bound. */
            if (fabs(sd / rep - 1.0) > 0.08)
                fail_msg("sum1=%d weight %zu: spread %.5f vs reported %.5f", sum1, j, sd, rep);
            assert_true(fabs(mean) < 4.0 * rep / sqrt((double)nrun));
        }
        gsl_rng_free(rng);
        xanes_lcf_workspace_free(ws);
        xanes_lcf_plan_free(plan);
    }
}

/* Normalized real reference resampled onto grid[ng]. */
static void load_norm_ref(const char *name, const double *grid, size_t ng, double *out)
{
    char path[1024];
    tu_data_path(path, sizeof path, name);
    xanes_spectrum *s = NULL;
    xanes_error err;
    xanes_error_clear(&err);
    if (xanes_spectrum_read(path, NULL, &s, &err) != XANES_OK)
        fail_msg("%s", err.message);
    double *norm = malloc(s->n * sizeof *norm);
    xanes_normalize_workspace *ws = xanes_normalize_workspace_alloc(s->n);
    xanes_normalize_result nr;
    if (xanes_normalize_run(s->energy_ev, s->mu, s->n, NULL, ws, &nr, norm, NULL, &err) != XANES_OK)
        fail_msg("%s: %s", name, err.message);
    if (xanes_lcf_resample(s->energy_ev, norm, s->n, grid, ng, out, &err) != XANES_OK)
        fail_msg("%s", err.message);
    xanes_normalize_workspace_free(ws);
    free(norm);
    xanes_spectrum_free(s);
}

/* Real Ni references mixed with known weights, Gaussian noise of 0.5 % of
 * the (normalized) edge step on a 0.5 eV TXM-like grid (the noise of a
 * particle-averaged TXM spectrum), 8 seeds: every weight within 0.01
 * (absolute weight fraction) of the truth and within 4 reported sigma.  At
 * this noise the reported 1-sigma is ~0.002 for NiO/LaNiO3, so 0.01 is a
 * 4-5 sigma bound; at 1 % noise it would be ~2 sigma and fail by chance. */
static void real_mixture_case(size_t k, const double *w_true, int sum1)
{
    enum { NR = 161 };
    static const char *const names[3] = {"NiO_111.xdi", "LaNiO3_Ni_80K_111.xdi",
                                         "Ni_metal_rt_01.xdi"};
    double grid[NR], ref[3][NR];
    const double *refp[3] = {ref[0], ref[1], ref[2]};
    for (size_t i = 0; i < NR; i++)
        grid[i] = 8322.25 + 0.5 * (double)i;
    for (size_t j = 0; j < k; j++)
        load_norm_ref(names[j], grid, NR, ref[j]);
    xanes_lcf_params p;
    xanes_lcf_default_params(&p);
    p.sum_to_one = sum1;
    xanes_lcf_plan *plan = NULL;
    xanes_error err;
    xanes_error_clear(&err);
    if (xanes_lcf_plan_alloc(grid, NR, refp, k, 8325.0, 8400.0, &p, &plan, &err) != XANES_OK)
        fail_msg("%s", err.message);
    xanes_lcf_workspace *ws = xanes_lcf_workspace_alloc(plan);
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    double worst = 0.0, worst_z = 0.0, err_mean = 0.0;
    const size_t nseed = 8;
    for (unsigned long seed = 101; seed < 101 + nseed; seed++) {
        gsl_rng_set(rng, seed);
        double y[NR];
        for (size_t i = 0; i < NR; i++) {
            y[i] = gsl_ran_gaussian(rng, 0.005);
            for (size_t j = 0; j < k; j++)
                y[i] += w_true[j] * ref[j][i];
        }
        xanes_lcf_result res;
        if (xanes_lcf_plan_fit(plan, y, 1, ws, &res, &err) != XANES_OK)
            fail_msg("%s", err.message);
        for (size_t j = 0; j < k; j++) {
            double d = fabs(res.weight[j] - w_true[j]);
            worst = fmax(worst, d);
            worst_z = fmax(worst_z, d / res.weight_err[j]);
            err_mean += res.weight_err[j] / (double)(k * nseed);
            if (d > 0.01 || d > 4.0 * res.weight_err[j])
                fail_msg("k=%zu sum1=%d seed %lu: weight %zu = %.5f +- %.5f, truth %.5f", k, sum1,
                         seed, j, res.weight[j], res.weight_err[j], w_true[j]);
        }
        assert_near(sqrt(res.redchi), 0.005, 0.001);
    }
    print_message("real refs k=%zu sum_to_one=%d: worst |w - truth| %.4f, worst |w - truth| / "
                  "err %.2f, mean reported err %.4f (8 seeds, noise 0.005)\n",
                  k, sum1, worst, worst_z, err_mean);
    gsl_rng_free(rng);
    xanes_lcf_workspace_free(ws);
    xanes_lcf_plan_free(plan);
}

static void test_real_references(void **state)
{
    (void)state;
    const double w2[2] = {0.3719, 0.6281};
    real_mixture_case(2, w2, 0);
    real_mixture_case(2, w2, 1);
    const double w3[3] = {0.2137, 0.4829, 0.3034};
    real_mixture_case(3, w3, 0);
    real_mixture_case(3, w3, 1);
}

/* Per-pixel use: an energy-major block [E][npix] fitted with stride npix
 * from several OpenMP threads, one workspace each, gives bit-identical
 * results to a serial loop, and so does the float32 entry point. */
static void test_threads_identical(void **state)
{
    (void)state;
    refset rs;
    make_refs(&rs);
    enum { NPIX = 300 };
    double *block = malloc((size_t)NG * NPIX * sizeof *block);
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 777);
    for (size_t p = 0; p < NPIX; p++) {
        double w0 = gsl_rng_uniform(rng), w1 = 1.0 - w0, w2 = 0.2 * gsl_rng_uniform(rng) - 0.05;
        for (size_t i = 0; i < NG; i++)
            /* Values representable in float, so the float path must agree
             * bit for bit. */
            block[i * NPIX + p] = (double)(float)(w0 * rs.ref[0][i] + w1 * rs.ref[1][i] +
                                                  w2 * rs.ref[2][i] + gsl_ran_gaussian(rng, 0.01));
    }
    gsl_rng_free(rng);
    xanes_lcf_params prm;
    xanes_lcf_default_params(&prm);
    prm.sum_to_one = 1;
    xanes_lcf_plan *plan = NULL;
    assert_int_equal(
        xanes_lcf_plan_alloc(rs.energy, NG, rs.refp, 3, 8310.0, 8390.0, &prm, &plan, NULL),
        XANES_OK);
    xanes_lcf_result *serial = calloc(NPIX, sizeof *serial);
    xanes_lcf_result *par = calloc(NPIX, sizeof *par);
    xanes_lcf_workspace *ws = xanes_lcf_workspace_alloc(plan);
    for (size_t p = 0; p < NPIX; p++)
        assert_int_equal(xanes_lcf_plan_fit(plan, block + p, NPIX, ws, &serial[p], NULL), XANES_OK);
    xanes_lcf_workspace_free(ws);
    int failures = 0;
#pragma omp parallel default(none) shared(plan, block, par) reduction(+ : failures) num_threads(4)
    {
        xanes_lcf_workspace *tws = xanes_lcf_workspace_alloc(plan);
#pragma omp for schedule(static)
        for (size_t p = 0; p < NPIX; p++)
            failures += xanes_lcf_plan_fit(plan, block + p, NPIX, tws, &par[p], NULL) != XANES_OK;
        xanes_lcf_workspace_free(tws);
    }
    assert_int_equal(failures, 0);
    assert_memory_equal(serial, par, NPIX * sizeof *serial);
    /* float32 stack layout through xanes_lcf_plan_fit_float. */
    float *fblock = malloc((size_t)NG * NPIX * sizeof *fblock);
    for (size_t q = 0; q < (size_t)NG * NPIX; q++)
        fblock[q] = (float)block[q];
    ws = xanes_lcf_workspace_alloc(plan);
    for (size_t p = 0; p < NPIX; p++) {
        xanes_lcf_result fr;
        assert_int_equal(xanes_lcf_plan_fit_float(plan, fblock + p, NPIX, ws, &fr, NULL), XANES_OK);
        assert_memory_equal(&fr, &serial[p], sizeof fr);
    }
    xanes_lcf_workspace_free(ws);
    free(fblock);
    xanes_lcf_plan_free(plan);
    free(par);
    free(serial);
    free(block);
}

static void expect_plan_error(const refset *rs, const double *const *refs, size_t k, double emin,
                              double emax, xanes_status want, const char *needle)
{
    xanes_lcf_plan *plan = (xanes_lcf_plan *)0x1;
    xanes_error err;
    xanes_error_clear(&err);
    assert_int_equal(xanes_lcf_plan_alloc(rs->energy, NG, refs, k, emin, emax, NULL, &plan, &err),
                     want);
    assert_null(plan);
    if (strstr(err.message, needle) == NULL)
        fail_msg("message '%s' lacks '%s'", err.message, needle);
}

static void test_bad_inputs(void **state)
{
    (void)state;
    refset rs;
    make_refs(&rs);
    expect_plan_error(&rs, rs.refp, 1, 8300, 8400, XANES_EINVAL, "1 reference(s) given");
    expect_plan_error(&rs, rs.refp, 3, 8400, 8300, XANES_EINVAL, "is empty");
    /* Window beyond the grid: no overlap. */
    expect_plan_error(&rs, rs.refp, 3, 8500, 8600, XANES_EDATA, "holds 0 grid point(s)");
    /* NaN in a reference inside the window, named with its energy. */
    refset bad = rs;
    for (size_t j = 0; j < KMAX; j++)
        bad.refp[j] = bad.ref[j];
    bad.ref[1][100] = NAN;
    char needle[64];
    snprintf(needle, sizeof needle, "reference 2 is not finite at %.3f eV", rs.energy[100]);
    expect_plan_error(&bad, bad.refp, 3, 8300, 8400, XANES_EDATA, needle);
    /* Outside the window a NaN is harmless. */
    {
        xanes_lcf_plan *plan = NULL;
        assert_int_equal(xanes_lcf_plan_alloc(bad.energy, NG, bad.refp, 3, 8300,
                                              bad.energy[99] - 1e-9, NULL, &plan, NULL),
                         XANES_OK);
        xanes_lcf_plan_free(plan);
    }
    /* Linearly dependent references: ref 3 = 0.4 ref 1 + 0.6 ref 2. */
    bad = rs;
    for (size_t j = 0; j < KMAX; j++)
        bad.refp[j] = bad.ref[j];
    for (size_t i = 0; i < NG; i++)
        bad.ref[2][i] = 0.4 * rs.ref[0][i] + 0.6 * rs.ref[1][i];
    expect_plan_error(&bad, bad.refp, 3, 8300, 8400, XANES_EDATA, "linearly dependent");

    /* NaN in the spectrum inside the window. */
    xanes_lcf_plan *plan = NULL;
    xanes_error err;
    xanes_error_clear(&err);
    assert_int_equal(xanes_lcf_plan_alloc(rs.energy, NG, rs.refp, 2, 8300, 8400, NULL, &plan, &err),
                     XANES_OK);
    xanes_lcf_workspace *ws = xanes_lcf_workspace_alloc(plan);
    double y[NG];
    for (size_t i = 0; i < NG; i++)
        y[i] = rs.ref[0][i];
    y[57] = NAN;
    xanes_lcf_result res;
    assert_int_equal(xanes_lcf_plan_fit(plan, y, 1, ws, &res, &err), XANES_EDATA);
    snprintf(needle, sizeof needle, "at %.3f eV", rs.energy[57]);
    assert_non_null(strstr(err.message, needle));
    xanes_error_clear(&err);
    assert_int_equal(xanes_lcf_plan_fit(plan, y, 0, ws, &res, &err), XANES_EINVAL);
    xanes_lcf_workspace_free(ws);
    xanes_lcf_plan_free(plan);
}

static void test_resample(void **state)
{
    (void)state;
    const double se[5] = {1.0, 2.0, 4.0, 5.0, 9.0};
    const double sm[5] = {0.0, 1.0, 5.0, 2.0, 6.0};
    const double de[6] = {0.5, 1.0, 1.5, 3.0, 7.0, 9.5};
    double dm[6];
    assert_int_equal(xanes_lcf_resample(se, sm, 5, de, 6, dm, NULL), XANES_OK);
    assert_true(isnan(dm[0]));
    assert_near(dm[1], 0.0, 1e-15);
    assert_near(dm[2], 0.5, 1e-15);
    assert_near(dm[3], 3.0, 1e-15);
    assert_near(dm[4], 4.0, 1e-15);
    assert_true(isnan(dm[5]));
    const double bad_e[3] = {1.0, 1.0, 2.0};
    xanes_error err;
    xanes_error_clear(&err);
    assert_int_equal(xanes_lcf_resample(bad_e, sm, 3, de, 6, dm, &err), XANES_EDATA);
    assert_non_null(strstr(err.message, "not increasing at point 2"));
}

int main(void)
{
    gsl_set_error_handler_off();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_noise_free_exact),
        cmocka_unit_test(test_matches_brute_force),
        cmocka_unit_test(test_unconstrained_matches_multifit),
        cmocka_unit_test(test_stride_and_model),
        cmocka_unit_test(test_uncertainty_consistent),
        cmocka_unit_test(test_real_references),
        cmocka_unit_test(test_threads_identical),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_resample),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
