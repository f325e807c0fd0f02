/* test_particles_hint.c: the particles stage with a finite-spectrum hint
 * (xanes_particles_input.finite_hint, the edge map's jump map in `xanes run`)
 * gives the same particles and averaged spectra, bit for bit, as the pass
 * over the stack that the hint replaces.
 *
 * Truth is the stage without the hint on the same data: random labels,
 * arctan spectra with noise, and non-finite samples (NaN, Inf, at one energy
 * or many) planted in labelled and unlabelled pixels; the hint is NaN
 * exactly at those pixels, as xanes_edgemap_run writes its jump map.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "xanes/particles.h"

static uint64_t rng = 0xD1B54A32D192ED03ull;

static double uniform(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return ((double)(rng >> 11) + 0.5) / 9007199254740992.0;
}

static void test_hint_equals_scan(void **state)
{
    (void)state;
    const size_t ny = 61, nx = 73, ne = 40, n = ny * nx, nl = 7;
    int32_t *lab = malloc(n * sizeof *lab);
    float *edge = malloc(n * sizeof *edge), *hint = malloc(n * sizeof *hint);
    float *stack = malloc(ne * n * sizeof *stack);
    double *energy = malloc(ne * sizeof *energy);
    assert_non_null(lab);
    assert_non_null(edge);
    assert_non_null(hint);
    assert_non_null(stack);
    assert_non_null(energy);
    for (size_t k = 0; k < ne; k++)
        energy[k] = 8300.0 + 150.0 * (double)k / (double)(ne - 1);
    size_t n_bad_labelled = 0;
    for (size_t p = 0; p < n; p++) {
        lab[p] = (int32_t)(uniform() * (double)(nl + 1));
        const double e0 = 8352.0 + 6.0 * uniform();
        edge[p] = (float)e0;
        hint[p] = (float)(0.5 + uniform());
        for (size_t k = 0; k < ne; k++)
            stack[k * n + p] =
                (float)(0.1 + 0.9 * (0.5 + atan((energy[k] - e0) / 1.5) / 3.141592653589793) +
                        0.02 * (uniform() - 0.5));
        if (uniform() < 0.08) { /* a broken spectrum: one sample or a run */
            const size_t k0 = (size_t)(uniform() * (double)ne);
            const size_t len = uniform() < 0.5 ? 1 : ne - k0;
            for (size_t k = k0; k < k0 + len; k++)
                stack[k * n + p] = p % 3 ? NAN : (p % 2 ? INFINITY : -INFINITY);
            hint[p] = NAN;
            edge[p] = NAN;
            n_bad_labelled += lab[p] > 0;
        }
    }
    assert_true(n_bad_labelled > 50);
    xanes_particles_input in = {0};
    in.ny = ny;
    in.nx = nx;
    in.labels = lab;
    in.n_labels = nl;
    in.edge_ev = edge;
    in.stack = stack;
    in.energy_ev = energy;
    in.n_energy = ne;
    in.edge_kind = XANES_PARTICLES_EDGE_HALF;
    double *ma = malloc(nl * ne * sizeof *ma), *mb = malloc(nl * ne * sizeof *mb);
    size_t ca[7], cb[7];
    assert_int_equal(xanes_particles_mean_spectra(&in, ma, ca, NULL), XANES_OK);
    xanes_particle *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    assert_int_equal(xanes_particles_compute(&in, &a, &na, NULL), XANES_OK);
    in.finite_hint = hint;
    assert_int_equal(xanes_particles_mean_spectra(&in, mb, cb, NULL), XANES_OK);
    assert_int_equal(xanes_particles_compute(&in, &b, &nb, NULL), XANES_OK);
    assert_memory_equal(ca, cb, sizeof ca);
    assert_memory_equal(ma, mb, nl * ne * sizeof *ma);
    assert_int_equal(na, nl);
    assert_int_equal(nb, nl);
    for (size_t l = 0; l < nl; l++) {
        assert_true(ca[l] > 0);
        assert_true(isfinite(a[l].edge_mean_spectrum_ev));
        assert_int_equal(a[l].n_spectrum_px, b[l].n_spectrum_px);
        assert_int_equal(a[l].n_spectrum_px, ca[l]);
        const double fa[] = {a[l].edge_mean_spectrum_ev, a[l].edge_step_spectrum, a[l].edge_mean_ev,
                             a[l].edge_median_ev};
        const double fb[] = {b[l].edge_mean_spectrum_ev, b[l].edge_step_spectrum, b[l].edge_mean_ev,
                             b[l].edge_median_ev};
        assert_memory_equal(fa, fb, sizeof fa);
    }
    xanes_particles_free(a);
    xanes_particles_free(b);
    free(mb);
    free(ma);
    free(energy);
    free(stack);
    free(hint);
    free(edge);
    free(lab);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hint_equals_scan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
