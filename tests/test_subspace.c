/* test_subspace.c: the spectral subspace (principal components of block
 * spectra) against analytic truth.
 *
 * The stack is a two-state system, as Ni between two oxidation states:
 * every pixel is a + b (E - e0) + t [(1 - w) fA(E) + w fB(E)] with fA, fB
 * arctan edges (different positions and widths) plus a white line, and a,
 * b, t, w varying smoothly over the image, so the noise-free spectra span
 * exactly {1, E, fA, fB}.  Checked: noise-free, the rank is the line's 2 +
 * 2 components with an orthonormal basis and the projection returns a
 * particle's averaged spectrum unchanged (1e-6); with white noise it removes
 * much of the noise (error norm below 0.55 of the raw average's) and the
 * edge of the projected spectrum is closer to the noise-free edge (rms over
 * 48 particles below 0.5 of the raw average's); an added line passes
 * through the projection unchanged; the result is the same for 1 and 2
 * threads (bitwise); too few blocks give rank 0 and an identity projection;
 * bad arguments are refused.  The subspace of the particles' averaged
 * spectra (xanes_subspace_fit_means): exact on noise-free means; on a
 * family that bends by a third shape too weak for the blocks, it keeps that
 * component and beats both the raw averages and the block projection;
 * too few means or no noise level give rank 0.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <omp.h>

#include "testutil.h"
#include "xanes/normalize.h"
#include "xanes/status.h"
#include "xanes/subspace.h"

#include "twostate.h"

static double edge_of(const double *mu)
{
    double e[NE], norm[NE];
    for (size_t k = 0; k < NE; k++)
        e[k] = energy(k);
    xanes_normalize_params p;
    xanes_normalize_default_params(&p);
    p.e0_ev = E0;
    p.pre1_ev = -50.0;
    p.pre2_ev = -20.0;
    p.norm1_ev = 25.0;
    p.norm2_ev = 80.0;
    p.nnorm = 1;
    p.fit_interpolant = 1;
    xanes_normalize_workspace *w = xanes_normalize_workspace_alloc(NE);
    xanes_normalize_result res;
    assert_int_equal(xanes_normalize_run(e, mu, NE, &p, w, &res, norm, NULL, NULL), XANES_OK);
    xanes_normalize_workspace_free(w);
    return res.half_edge_ev;
}

static void test_noise_free_unchanged(void **state)
{
    (void)state;
    double ev[NE];
    energies(ev);
    float *stack = malloc((size_t)NE * NY * NX * sizeof *stack);
    int32_t *labels = malloc((size_t)NY * NX * sizeof *labels);
    make_stack(stack, labels, 0.0, 1);
    xanes_subspace *s = NULL;
    xanes_error err;
    xanes_error_clear(&err);
    assert_int_equal(xanes_subspace_fit(stack, ev, NE, NY, NX, labels, NULL, &s, &err), XANES_OK);
    print_message("noise-free: rank %zu, eigenvalues %.3g %.3g %.3g %.3g %.3g\n",
                  xanes_subspace_rank(s), xanes_subspace_eigenvalue(s, 0),
                  xanes_subspace_eigenvalue(s, 1), xanes_subspace_eigenvalue(s, 2),
                  xanes_subspace_eigenvalue(s, 3), xanes_subspace_eigenvalue(s, 4));
    /* The spectra span {1, E, fA, fB}: with their lines removed, fA and fB
     * are two components, the third eigenvalue is rounding, and the rank
     * is the line's 2 + 2. */
    assert_true(xanes_subspace_eigenvalue(s, 1) > 1e-6 * xanes_subspace_eigenvalue(s, 0));
    assert_true(xanes_subspace_eigenvalue(s, 2) < 1e-8 * xanes_subspace_eigenvalue(s, 0));
    assert_int_equal(xanes_subspace_rank(s), 4);
    const double *v = xanes_subspace_basis_view(s);
    for (size_t i = 0; i < 4; i++)
        for (size_t j = 0; j < 4; j++) {
            double dot = 0.0;
            for (size_t k = 0; k < NE; k++)
                dot += v[i * NE + k] * v[j * NE + k];
            assert_true(fabs(dot - (i == j ? 1.0 : 0.0)) < 1e-12);
        }
    for (int32_t id = 1; id <= 16; id++) {
        double m[NE], q[NE];
        particle_mean(stack, labels, id, m);
        xanes_subspace_project(s, m, q);
        for (size_t k = 0; k < NE; k++)
            if (!(fabs(q[k] - m[k]) < 1e-6))
                fail_msg("particle %d energy %zu: projected %.9g, raw %.9g", (int)id, k, q[k],
                         m[k]);
    }
    xanes_subspace_free(s);
    free(stack);
    free(labels);
}

static void test_noise_removed(void **state)
{
    (void)state;
    double ev[NE];
    energies(ev);
    float *clean = malloc((size_t)NE * NY * NX * sizeof *clean);
    float *noisy = malloc((size_t)NE * NY * NX * sizeof *noisy);
    int32_t *labels = malloc((size_t)NY * NX * sizeof *labels);
    make_stack(clean, labels, 0.0, 1);
    double ss_raw = 0.0, ss_proj = 0.0, se_raw = 0.0, se_proj = 0.0;
    for (unsigned long seed = 11; seed < 14; seed++) {
        make_stack(noisy, labels, 0.05, seed);
        xanes_subspace *s = NULL;
        assert_int_equal(xanes_subspace_fit(noisy, ev, NE, NY, NX, labels, NULL, &s, NULL),
                         XANES_OK);
        print_message("seed %lu: rank %zu of %zu blocks; eigenvalues %.3g %.3g %.3g %.3g %.3g, "
                      "threshold %.3g\n",
                      seed, xanes_subspace_rank(s), xanes_subspace_n_blocks(s),
                      xanes_subspace_eigenvalue(s, 0), xanes_subspace_eigenvalue(s, 1),
                      xanes_subspace_eigenvalue(s, 2), xanes_subspace_eigenvalue(s, 3),
                      xanes_subspace_eigenvalue(s, 4), xanes_subspace_threshold(s));
        for (int32_t id = 1; id <= 16; id++) {
            double m[NE], q[NE], c[NE];
            particle_mean(clean, labels, id, c);
            particle_mean(noisy, labels, id, m);
            xanes_subspace_project(s, m, q);
            for (size_t k = 0; k < NE; k++) {
                ss_raw += (m[k] - c[k]) * (m[k] - c[k]);
                ss_proj += (q[k] - c[k]) * (q[k] - c[k]);
            }
            double et = edge_of(c), er = edge_of(m), ep = edge_of(q);
            se_raw += (er - et) * (er - et);
            se_proj += (ep - et) * (ep - et);
        }
        xanes_subspace_free(s);
    }
    double ratio = sqrt(ss_proj / ss_raw), erms_raw = sqrt(se_raw / 48),
           erms_proj = sqrt(se_proj / 48);
    print_message("noise 0.05: projected/raw error norm %.3f; edge rms raw %.4f eV, projected "
                  "%.4f eV\n",
                  ratio, erms_raw, erms_proj);
    /* Noise inside the rank-4 subspace alone would give sqrt(4/48) = 0.29;
     * the second component's eigenvalue (about 40) stands clear of the
     * noise bulk (about 4) but its direction is still estimated from noisy
     * blocks: 0.45 measured, and the edges' rms 0.44 of the raw averages'.
     * An identity projection gives 1. */
    assert_true(ratio < 0.55);
    assert_true(erms_proj < 0.5 * erms_raw);
    free(clean);
    free(noisy);
    free(labels);
}

/* The edge definition does not see an added line a + b E, so the projection
 * keeps any line as it is: P(m + a + b E) = P(m) + a + b E. */
static void test_line_kept(void **state)
{
    (void)state;
    double ev[NE];
    energies(ev);
    float *stack = malloc((size_t)NE * NY * NX * sizeof *stack);
    int32_t *labels = malloc((size_t)NY * NX * sizeof *labels);
    make_stack(stack, labels, 0.05, 9);
    xanes_subspace *s = NULL;
    assert_int_equal(xanes_subspace_fit(stack, ev, NE, NY, NX, labels, NULL, &s, NULL), XANES_OK);
    double m[NE], ml[NE], q[NE], ql[NE];
    particle_mean(stack, labels, 6, m);
    for (size_t k = 0; k < NE; k++)
        ml[k] = m[k] + 0.37 - 2.1e-3 * (ev[k] - E0);
    xanes_subspace_project(s, m, q);
    xanes_subspace_project(s, ml, ql);
    for (size_t k = 0; k < NE; k++)
        if (!(fabs(ql[k] - (q[k] + 0.37 - 2.1e-3 * (ev[k] - E0))) < 1e-12))
            fail_msg("energy %zu: projection of m + line %.15g, of m plus the line %.15g", k, ql[k],
                     q[k] + 0.37 - 2.1e-3 * (ev[k] - E0));
    /* A pure line is its own projection. */
    for (size_t k = 0; k < NE; k++)
        ml[k] = 1.5 + 4e-3 * (ev[k] - E0);
    xanes_subspace_project(s, ml, ql);
    for (size_t k = 0; k < NE; k++)
        assert_true(fabs(ql[k] - ml[k]) < 1e-12);
    xanes_subspace_free(s);
    free(stack);
    free(labels);
}

static void test_threads_identical(void **state)
{
    (void)state;
    double ev[NE];
    energies(ev);
    float *stack = malloc((size_t)NE * NY * NX * sizeof *stack);
    int32_t *labels = malloc((size_t)NY * NX * sizeof *labels);
    make_stack(stack, labels, 0.05, 5);
    xanes_subspace *s1 = NULL, *s2 = NULL;
    int nthr = omp_get_max_threads();
    omp_set_num_threads(1);
    assert_int_equal(xanes_subspace_fit(stack, ev, NE, NY, NX, labels, NULL, &s1, NULL), XANES_OK);
    omp_set_num_threads(2);
    assert_int_equal(xanes_subspace_fit(stack, ev, NE, NY, NX, labels, NULL, &s2, NULL), XANES_OK);
    omp_set_num_threads(nthr);
    assert_int_equal(xanes_subspace_rank(s1), xanes_subspace_rank(s2));
    double m[NE], q1[NE], q2[NE];
    particle_mean(stack, labels, 3, m);
    xanes_subspace_project(s1, m, q1);
    xanes_subspace_project(s2, m, q2);
    assert_memory_equal(q1, q2, sizeof q1);
    xanes_subspace_free(s1);
    xanes_subspace_free(s2);
    free(stack);
    free(labels);
}

static void test_few_blocks_and_errors(void **state)
{
    (void)state;
    double ev[NE];
    energies(ev);
    float *stack = malloc((size_t)NE * NY * NX * sizeof *stack);
    int32_t *labels = malloc((size_t)NY * NX * sizeof *labels);
    make_stack(stack, labels, 0.05, 7);
    /* One particle of 4 pixels: far fewer blocks than 4 x 48 energies. */
    memset(labels, 0, (size_t)NY * NX * sizeof *labels);
    labels[10 * NX + 10] = labels[10 * NX + 11] = labels[11 * NX + 10] = labels[11 * NX + 11] = 1;
    xanes_subspace *s = NULL;
    assert_int_equal(xanes_subspace_fit(stack, ev, NE, NY, NX, labels, NULL, &s, NULL), XANES_OK);
    assert_int_equal(xanes_subspace_rank(s), 0);
    double m[NE], q[NE];
    particle_mean(stack, labels, 1, m);
    xanes_subspace_project(s, m, q);
    assert_memory_equal(m, q, sizeof m);
    xanes_subspace_free(s);
    xanes_subspace_free(NULL);

    xanes_error err;
    xanes_error_clear(&err);
    assert_int_equal(xanes_subspace_fit(NULL, ev, NE, NY, NX, labels, NULL, &s, &err),
                     XANES_EINVAL);
    assert_null(s);
    xanes_subspace_params p;
    xanes_subspace_default_params(&p);
    p.min_rank = 7;
    p.max_rank = 3;
    xanes_error_clear(&err);
    assert_int_equal(xanes_subspace_fit(stack, ev, NE, NY, NX, labels, &p, &s, &err), XANES_EINVAL);
    assert_non_null(strstr(err.message, "rank 7..3"));
    assert_int_equal(xanes_subspace_fit(stack, ev, 2, NY, NX, labels, NULL, &s, &err),
                     XANES_EINVAL);
    free(stack);
    free(labels);
}

/* The 16 particles' averaged spectra [16][NE] and pixel counts. */
static void all_means(const float *stack, const int32_t *labels, double *means, size_t *count)
{
    for (int32_t id = 1; id <= 16; id++) {
        particle_mean(stack, labels, id, means + (size_t)(id - 1) * NE);
        count[id - 1] = 0;
        for (size_t p = 0; p < (size_t)NY * NX; p++)
            count[id - 1] += labels[p] == id;
    }
}

/* Subspace of the averaged spectra themselves: noise-free, the line and
 * fA, fB (rank 4) and every mean projects onto itself. */
static void test_means_noise_free(void **state)
{
    (void)state;
    double ev[NE];
    energies(ev);
    float *stack = malloc((size_t)NE * NY * NX * sizeof *stack);
    int32_t *labels = malloc((size_t)NY * NX * sizeof *labels);
    double *means = malloc(16 * NE * sizeof *means);
    size_t count[16];
    make_stack(stack, labels, 0.0, 1);
    all_means(stack, labels, means, count);
    xanes_subspace *s = NULL;
    xanes_error err;
    xanes_error_clear(&err);
    assert_int_equal(xanes_subspace_fit_means(means, count, 16, ev, NE, 1e-6, NULL, &s, &err),
                     XANES_OK);
    assert_int_equal(xanes_subspace_rank(s), 4);
    assert_int_equal(xanes_subspace_n_blocks(s), 16);
    for (size_t l = 0; l < 16; l++) {
        double q[NE];
        xanes_subspace_project(s, means + l * NE, q);
        for (size_t k = 0; k < NE; k++)
            assert_true(fabs(q[k] - means[l * NE + k]) < 1e-6);
    }
    xanes_subspace_free(s);
    free(means);
    free(stack);
    free(labels);
}

/* A family that bends (twostate.h, make_stack_bent with bend B), white noise
 * sd 0.05 per pixel.  The block fit's noise variance is that of the pixels
 * (its bulk estimator reads the lower half of the Marchenko-Pastur law, a
 * little low: 0.83 of it measured); the bend (1.0) is too weak to stand out of the
 * noise of 2 x 2 blocks, so the block subspace has rank 4 and bends the
 * middle states' averaged spectra back; the means, tested against that
 * noise variance, keep it as a third component, and their projected edges
 * are closer to the noise-free ones than both the raw averages' and the
 * block projection's. */
static void test_means_noisy(void **state)
{
    (void)state;
    double ev[NE];
    energies(ev);
    const double bend = 1.0;
    float *clean = malloc((size_t)NE * NY * NX * sizeof *clean);
    float *noisy = malloc((size_t)NE * NY * NX * sizeof *noisy);
    int32_t *labels = malloc((size_t)NY * NX * sizeof *labels);
    double *cm = malloc(16 * NE * sizeof *cm), *nm = malloc(16 * NE * sizeof *nm);
    size_t count[16];
    make_stack_bent(clean, labels, 0.0, 1, bend);
    all_means(clean, labels, cm, count);
    double se_raw = 0.0, se_block = 0.0, se_means = 0.0;
    for (unsigned long seed = 21; seed < 24; seed++) {
        make_stack_bent(noisy, labels, 0.05, seed, bend);
        all_means(noisy, labels, nm, count);
        xanes_subspace *b = NULL, *s = NULL;
        assert_int_equal(xanes_subspace_fit(noisy, ev, NE, NY, NX, labels, NULL, &b, NULL),
                         XANES_OK);
        double nv = xanes_subspace_noise_var(b);
        assert_int_equal(xanes_subspace_fit_means(nm, count, 16, ev, NE, nv, NULL, &s, NULL),
                         XANES_OK);
        print_message("seed %lu: noise variance %.3g (pixels 0.0025); block rank %zu, means rank "
                      "%zu, eigenvalues %.3g %.3g %.3g, threshold %.3g\n",
                      seed, nv, xanes_subspace_rank(b), xanes_subspace_rank(s),
                      xanes_subspace_eigenvalue(s, 0), xanes_subspace_eigenvalue(s, 1),
                      xanes_subspace_eigenvalue(s, 2), xanes_subspace_threshold(s));
        assert_true(nv > 0.7 * 0.0025 && nv < 0.95 * 0.0025);
        assert_int_equal(xanes_subspace_rank(b), 4);
        assert_int_equal(xanes_subspace_rank(s), 5);
        for (size_t l = 0; l < 16; l++) {
            double qb[NE], qm[NE];
            xanes_subspace_project(b, nm + l * NE, qb);
            xanes_subspace_project(s, nm + l * NE, qm);
            double et = edge_of(cm + l * NE), er = edge_of(nm + l * NE), eb = edge_of(qb),
                   em = edge_of(qm);
            se_raw += (er - et) * (er - et);
            se_block += (eb - et) * (eb - et);
            se_means += (em - et) * (em - et);
        }
        xanes_subspace_free(s);
        xanes_subspace_free(b);
    }
    double rr = sqrt(se_raw / 48), rb = sqrt(se_block / 48), rm = sqrt(se_means / 48);
    print_message(
        "bend %g: edge rms raw %.4f eV, block subspace %.4f eV, means' subspace %.4f eV\n", bend,
        rr, rb, rm);
    /* Measured 0.046, 0.053 and 0.031 eV. */
    assert_true(rm < 0.75 * rr);
    assert_true(rm < 0.7 * rb);
    free(cm);
    free(nm);
    free(clean);
    free(noisy);
    free(labels);
}

/* Too few usable means (zero counts and non-finite ones skipped), no noise
 * level: rank 0 and an identity projection; bad arguments refused. */
static void test_means_degenerate(void **state)
{
    (void)state;
    double ev[NE];
    energies(ev);
    float *stack = malloc((size_t)NE * NY * NX * sizeof *stack);
    int32_t *labels = malloc((size_t)NY * NX * sizeof *labels);
    double *means = malloc(16 * NE * sizeof *means);
    size_t count[16];
    make_stack(stack, labels, 0.05, 4);
    all_means(stack, labels, means, count);
    for (size_t l = 5; l < 16; l++)
        count[l] = 0;
    means[2 * NE + 7] = NAN; /* 4 usable means left of the default 6 */
    xanes_subspace *s = NULL;
    assert_int_equal(xanes_subspace_fit_means(means, count, 16, ev, NE, 2.5e-3, NULL, &s, NULL),
                     XANES_OK);
    assert_int_equal(xanes_subspace_rank(s), 0);
    assert_int_equal(xanes_subspace_n_blocks(s), 4);
    double q[NE];
    xanes_subspace_project(s, means, q);
    assert_memory_equal(q, means, sizeof q);
    xanes_subspace_free(s);
    all_means(stack, labels, means, count);
    assert_int_equal(xanes_subspace_fit_means(means, count, 16, ev, NE, 0.0, NULL, &s, NULL),
                     XANES_OK);
    assert_int_equal(xanes_subspace_rank(s), 0);
    xanes_subspace_free(s);
    xanes_error err;
    xanes_error_clear(&err);
    assert_int_equal(xanes_subspace_fit_means(NULL, count, 16, ev, NE, 1.0, NULL, &s, &err),
                     XANES_EINVAL);
    assert_null(s);
    xanes_subspace_params p;
    xanes_subspace_default_params(&p);
    p.min_means = 1;
    xanes_error_clear(&err);
    assert_int_equal(xanes_subspace_fit_means(means, count, 16, ev, NE, 1.0, &p, &s, &err),
                     XANES_EINVAL);
    assert_non_null(strstr(err.message, "at least 1 means"));
    free(means);
    free(stack);
    free(labels);
}

int main(void)
{
    xanes_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_noise_free_unchanged),
        cmocka_unit_test(test_noise_removed),
        cmocka_unit_test(test_line_kept),
        cmocka_unit_test(test_threads_identical),
        cmocka_unit_test(test_few_blocks_and_errors),
        cmocka_unit_test(test_means_noise_free),
        cmocka_unit_test(test_means_noisy),
        cmocka_unit_test(test_means_degenerate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
