/* test_denoise.c: the edge map of projected pixel spectra (denoise.h) on the
 * analytic two-state stack of twostate.h.
 *
 * Truth is the edge definition applied to each noise-free pixel spectrum.
 * Checked: noise-free, the denoised map equals the raw map (the projection
 * is exact inside the subspace); with white noise (sd 0.05, the jump of a
 * disc centre being about 0.45) the particle means of the denoised map are
 * at least twice as close to the truth as those of the raw gated map, and
 * more pixels keep an edge; the counts add up; a rank-0 subspace leaves the
 * map untouched; a subspace of another size is refused.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "twostate.h"
#include "xanes/denoise.h"
#include "xanes/edgemap.h"
#include "xanes/status.h"
#include "xanes/subspace.h"

#define NPIX ((size_t)NY * NX)

static void edge_params(xanes_edgemap_params *ep)
{
    xanes_edgemap_default_params(ep);
    ep->norm.e0_ev = E0;
    ep->norm.pre1_ev = -50.0;
    ep->norm.pre2_ev = -20.0;
    ep->norm.norm1_ev = 25.0;
    ep->norm.norm2_ev = 80.0;
    ep->norm.nnorm = 1;
    ep->norm.fit_interpolant = 1;
}

/* Raw edge, jump and noise maps of a stack with edgemap.h. */
static void raw_maps(const float *stack, float *edge, float *jump, float *noise)
{
    double e[NE], mean[NE] = {0}; /* the mean spectrum accumulates into its output */
    size_t nv = 0;
    for (size_t k = 0; k < NE; k++)
        e[k] = energy(k);
    assert_int_equal(xanes_edgemap_mean_spectrum(stack, NE, NY, NX, 0, NY, mean, &nv, NULL),
                     XANES_OK);
    for (size_t k = 0; k < NE; k++)
        mean[k] /= (double)nv;
    xanes_edgemap_params ep;
    edge_params(&ep);
    xanes_error err;
    xanes_error_clear(&err);
    xanes_edgemap *m = xanes_edgemap_alloc(e, NE, NX, mean, &ep, &err);
    if (m == NULL)
        fail_msg("edgemap: %s", err.message);
    assert_int_equal(xanes_edgemap_run(m, stack, NE, NY, NX, 0, NY, edge, jump, noise, NULL, NULL),
                     XANES_OK);
    xanes_edgemap_free(m);
}

static void denoised_map(const float *stack, const int32_t *labels, const float *noise, float *edge,
                         xanes_denoise_info *info)
{
    double e[NE];
    for (size_t k = 0; k < NE; k++)
        e[k] = energy(k);
    xanes_subspace *s = NULL;
    assert_int_equal(xanes_subspace_fit(stack, e, NE, NY, NX, labels, NULL, &s, NULL), XANES_OK);
    xanes_edgemap_params ep;
    edge_params(&ep);
    xanes_error err;
    xanes_error_clear(&err);
    xanes_status st =
        xanes_denoise_edgemap(s, e, NE, &ep.norm, XANES_EDGEMAP_HALF, ep.min_jump_over_noise, stack,
                              NY, NX, labels, noise, edge, info, &err);
    if (st != XANES_OK)
        fail_msg("denoise: %s", err.message);
    xanes_subspace_free(s);
}

/* Per-particle mean of the finite values of map over each label. */
static void particle_means(const float *map, const int32_t *labels, double *mean, size_t *n)
{
    for (int i = 0; i < 16; i++) {
        mean[i] = 0.0;
        n[i] = 0;
    }
    for (size_t p = 0; p < NPIX; p++)
        if (labels[p] > 0 && isfinite(map[p])) {
            mean[labels[p] - 1] += map[p];
            n[labels[p] - 1]++;
        }
    for (int i = 0; i < 16; i++)
        mean[i] = n[i] > 0 ? mean[i] / (double)n[i] : NAN;
}

static void test_noise_free_equals_raw(void **state)
{
    (void)state;
    float *stack = malloc(NE * NPIX * sizeof *stack);
    int32_t *labels = malloc(NPIX * sizeof *labels);
    float *edge = malloc(NPIX * sizeof *edge), *jump = malloc(NPIX * sizeof *jump);
    float *noise = malloc(NPIX * sizeof *noise), *dn = malloc(NPIX * sizeof *dn);
    make_stack(stack, labels, 0.0, 1);
    raw_maps(stack, edge, jump, noise);
    /* Noise-free: the raw noise map is rounding; a floor keeps the gate
     * meaningful (the jump is at least 0.05). */
    for (size_t p = 0; p < NPIX; p++)
        noise[p] = 1e-5f;
    memcpy(dn, edge, NPIX * sizeof *dn);
    xanes_denoise_info info;
    denoised_map(stack, labels, noise, dn, &info);
    size_t nl = 0, compared = 0;
    for (size_t p = 0; p < NPIX; p++) {
        if (labels[p] <= 0) {
            assert_memory_equal(&dn[p], &edge[p], sizeof(float));
            continue;
        }
        nl++;
        if (isfinite(edge[p])) {
            compared++;
            if (!(fabs(dn[p] - edge[p]) < 2e-4))
                fail_msg("pixel %zu: denoised %.5f eV, raw %.5f eV", p, dn[p], edge[p]);
        }
    }
    assert_int_equal(info.counts.n_pixels, nl);
    assert_true(compared > nl / 2);
    free(stack);
    free(labels);
    free(edge);
    free(jump);
    free(noise);
    free(dn);
}

static void test_noisy_closer_to_truth(void **state)
{
    (void)state;
    float *clean = malloc(NE * NPIX * sizeof *clean), *stack = malloc(NE * NPIX * sizeof *stack);
    int32_t *labels = malloc(NPIX * sizeof *labels);
    float *truth = malloc(NPIX * sizeof *truth), *edge = malloc(NPIX * sizeof *edge);
    float *jump = malloc(NPIX * sizeof *jump), *noise = malloc(NPIX * sizeof *noise);
    float *dn = malloc(NPIX * sizeof *dn), *tj = malloc(NPIX * sizeof *tj);
    float *tn = malloc(NPIX * sizeof *tn);
    make_stack(clean, labels, 0.0, 1);
    raw_maps(clean, truth, tj, tn);
    double tmean[16], rmean[16], dmean[16], ss_raw = 0.0, ss_dn = 0.0;
    size_t tcount[16], rcount[16], dcount[16], kept_raw = 0, kept_dn = 0;
    particle_means(truth, labels, tmean, tcount);
    for (unsigned long seed = 21; seed < 24; seed++) {
        make_stack(stack, labels, 0.05, seed);
        raw_maps(stack, edge, jump, noise);
        memcpy(dn, edge, NPIX * sizeof *dn);
        xanes_denoise_info info;
        denoised_map(stack, labels, noise, dn, &info);
        assert_int_equal(info.counts.n_pixels, info.counts.n_edge + info.counts.n_low_jump +
                                                   info.counts.n_no_edge + info.counts.n_invalid);
        assert_true(info.jump_gain_projected < info.jump_gain_raw);
        particle_means(edge, labels, rmean, rcount);
        particle_means(dn, labels, dmean, dcount);
        for (int i = 0; i < 16; i++) {
            ss_raw += (rmean[i] - tmean[i]) * (rmean[i] - tmean[i]);
            ss_dn += (dmean[i] - tmean[i]) * (dmean[i] - tmean[i]);
            kept_raw += rcount[i];
            kept_dn += dcount[i];
        }
    }
    double rms_raw = sqrt(ss_raw / 48.0), rms_dn = sqrt(ss_dn / 48.0);
    print_message("particle means of the pixel map vs truth: raw %.4f eV rms (%zu pixels kept), "
                  "denoised %.4f eV rms (%zu pixels kept)\n",
                  rms_raw, kept_raw, rms_dn, kept_dn);
    assert_true(rms_dn < 0.5 * rms_raw);
    assert_true(kept_dn > kept_raw);
    free(clean);
    free(stack);
    free(labels);
    free(truth);
    free(edge);
    free(jump);
    free(noise);
    free(dn);
    free(tj);
    free(tn);
}

static void test_rank0_and_mismatch(void **state)
{
    (void)state;
    float *stack = malloc(NE * NPIX * sizeof *stack);
    int32_t *labels = calloc(NPIX, sizeof *labels);
    float *edge = malloc(NPIX * sizeof *edge), *noise = malloc(NPIX * sizeof *noise);
    int32_t *full = malloc(NPIX * sizeof *full);
    make_stack(stack, full, 0.05, 3);
    labels[5 * NX + 5] = labels[5 * NX + 6] = 1;
    for (size_t p = 0; p < NPIX; p++) {
        edge[p] = 8355.5f;
        noise[p] = 0.05f;
    }
    double e[NE];
    for (size_t k = 0; k < NE; k++)
        e[k] = energy(k);
    xanes_subspace *s = NULL;
    assert_int_equal(xanes_subspace_fit(stack, e, NE, NY, NX, labels, NULL, &s, NULL), XANES_OK);
    assert_int_equal(xanes_subspace_rank(s), 0);
    xanes_edgemap_params ep;
    edge_params(&ep);
    xanes_denoise_info info;
    assert_int_equal(xanes_denoise_edgemap(s, e, NE, &ep.norm, XANES_EDGEMAP_HALF, 8.0, stack, NY,
                                           NX, labels, noise, edge, &info, NULL),
                     XANES_OK);
    for (size_t p = 0; p < NPIX; p++)
        assert_true(edge[p] == 8355.5f);
    assert_int_equal(info.counts.n_pixels, 0);
    xanes_subspace_free(s);
    assert_int_equal(xanes_subspace_fit(stack, e, NE, NY, NX, full, NULL, &s, NULL), XANES_OK);
    xanes_error err;
    xanes_error_clear(&err);
    assert_int_equal(xanes_denoise_edgemap(s, e, NE - 1, &ep.norm, XANES_EDGEMAP_HALF, 8.0, stack,
                                           NY, NX, full, noise, edge, &info, &err),
                     XANES_EINVAL);
    assert_non_null(strstr(err.message, "subspace of 48 energies"));
    xanes_subspace_free(s);
    free(stack);
    free(labels);
    free(edge);
    free(noise);
    free(full);
}

int main(void)
{
    xanes_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_noise_free_equals_raw),
        cmocka_unit_test(test_noisy_closer_to_truth),
        cmocka_unit_test(test_rank0_and_mismatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
