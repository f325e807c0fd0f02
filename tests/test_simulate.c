/* test_simulate.c: the forward simulator's model against independent truth.
 *
 * - truth consistency: the edge of noise-free pixel spectra sampled here on
 *   a 0.05 eV grid and normalized by the spectral core with the standards'
 *   edge definition (xanes_normalize_run, sim_testkit.h; not the simulator's
 *   placement path) equals the physical truth map to 1e-3 eV (measured
 *   1.9e-4), touching-pair necks included; particle edges equal E(SoC) of
 *   the published standards (8355.10 eV at SoC 0, 8358.0 at 1);
 * - grid truth: the same definition on the stack's true energies, applied
 *   here in double precision to each pixel's spectrum, to each particle's
 *   mean spectrum and to the NiO reference, equals edge_energy_grid /
 *   particle_edge_grid_ev / reference_edge_grid to 1e-4 eV (measured
 *   1.3e-6), and differs from the physical truth (the grid is sparse);
 * - drift: an imposed integer shift moves the frame content exactly; a
 *   sub-pixel shift moves a particle's centroid; the random walk has the
 *   asked rms and is what the truth file holds;
 * - configurations: SoC from the SoC-heterogeneity model, as an independent
 *   xanes_model_run gives it;
 * - bad input: library statuses and CLI exit codes with messages.
 * File formats and detector statistics: test_simulate_io.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <hdf5.h>
#include <omp.h>

#include "sim_testkit.h"
#include "testutil.h"
#include "xanes/model.h"
#include "xanes/simulate.h"
#include "xanes/standards.h"

static void test_truth_consistency(void **state)
{
    (void)state;
    xanes_simulate_params p;
    small_params(&p);
    p.noise = 0;
    p.touching = 1;
    p.gradient = 1;
    p.gradient_soc = 0.35;
    p.soc_mean = 0.45;
    p.soc_std = 0.4;
    p.radius_min_px = 6;
    p.radius_max_px = 9;
    xanes_error err;
    xanes_error_clear(&err);
    xanes_simulate_scene *sc = NULL;
    assert_int_equal(xanes_simulate_scene_alloc(&p, &sc, &err), XANES_OK);
    const size_t nx = xanes_simulate_scene_nx(sc), ny = xanes_simulate_scene_ny(sc);
    const double *truth = xanes_simulate_truth_edge_ev(sc);
    const int32_t *lab = xanes_simulate_truth_labels(sc);
    const float *jump = xanes_simulate_truth_edge_jump(sc);

    const size_t n = FINE_N;
    double *e = malloc(n * sizeof *e), *mu = malloc(n * sizeof *mu);
    assert_non_null(e);
    assert_non_null(mu);
    fine_grid(e);
    size_t checked = 0, mixed = 0;
    double worst = 0.0, lo = INFINITY, hi = -INFINITY;
    for (size_t y = 1; y < ny; y += 3) {
        for (size_t x = 2; x < nx; x += 3) {
            size_t idx = y * nx + x;
            if (lab[idx] == 0) {
                assert_true(isnan(truth[idx]));
                continue;
            }
            if (jump[idx] < 0.02) /* rim pixels: edge step too small to matter */
                continue;
            for (size_t i = 0; i < n; i++)
                mu[i] = xanes_simulate_pixel_absorbance(sc, y, x, e[i]);
            double eh = std_edge(e, mu, n);
            double d = fabs(eh - truth[idx]);
            if (d > worst)
                worst = d;
            lo = truth[idx] < lo ? truth[idx] : lo;
            hi = truth[idx] > hi ? truth[idx] : hi;
            checked++;
        }
    }
    /* The touching pair's neck: pixels covered by two particles. */
    for (size_t y = 0; y < ny && mixed < 3; y++)
        for (size_t x = 0; x < nx && mixed < 3; x++) {
            size_t idx = y * nx + x;
            if (lab[idx] == 0 || jump[idx] < 0.05)
                continue;
            int other = 0;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    long yy = (long)y + dy, xx = (long)x + dx;
                    if (yy >= 0 && xx >= 0 && yy < (long)ny && xx < (long)nx &&
                        lab[yy * (long)nx + xx] != 0 && lab[yy * (long)nx + xx] != lab[idx])
                        other = 1;
                }
            if (!other)
                continue;
            for (size_t i = 0; i < n; i++)
                mu[i] = xanes_simulate_pixel_absorbance(sc, y, x, e[i]);
            double d = fabs(std_edge(e, mu, n) - truth[idx]);
            worst = d > worst ? d : worst;
            mixed++;
        }
    printf("truth consistency: %zu pixels + %zu neck pixels, worst |core edge - truth| = "
           "%.2e eV, truth range %.3f..%.3f eV\n",
           checked, mixed, worst, lo, hi);
    assert_true(checked >= 30);
    assert_true(mixed >= 1);
    assert_true(worst < 1e-3);
    /* A gradient of 0.35 SoC spreads edges inside particles by ~1 eV. */
    assert_true(hi - lo > 0.5);

    /* Particle edges are E(SoC) on the published scale. */
    const double *ps = xanes_simulate_particle_soc(sc), *pe = xanes_simulate_particle_edge_ev(sc);
    for (size_t i = 0; i < xanes_simulate_scene_n_particles(sc); i++)
        assert_true(fabs(pe[i] - (E_PRISTINE + ps[i] * (E_DELITH - E_PRISTINE))) < 1e-9);
    free(e);
    free(mu);
    xanes_simulate_scene_free(sc);
}

static void test_uniform_particle_edge_and_frames(void **state)
{
    (void)state;
    /* Without a gradient every interior pixel's edge is its particle's
     * E(SoC), and a frame at the stack energies matches the pixel model. */
    xanes_simulate_params p;
    small_params(&p);
    p.noise = 0;
    p.soc_mean = 1.2; /* overcharged: beyond the Ni4+ standard */
    p.soc_std = 0.3;
    xanes_error err;
    xanes_error_clear(&err);
    xanes_simulate_scene *sc = NULL;
    assert_int_equal(xanes_simulate_scene_alloc(&p, &sc, &err), XANES_OK);
    const size_t nx = xanes_simulate_scene_nx(sc), ny = xanes_simulate_scene_ny(sc);
    const double *truth = xanes_simulate_truth_edge_ev(sc),
                 *pe = xanes_simulate_particle_edge_ev(sc);
    const int32_t *lab = xanes_simulate_truth_labels(sc);
    for (size_t i = 0; i < nx * ny; i++)
        if (lab[i] > 0)
            assert_true(fabs(truth[i] - pe[lab[i] - 1]) < 1e-9);
    const size_t n = FINE_N;
    double *e = malloc(n * sizeof *e), *mu = malloc(n * sizeof *mu);
    fine_grid(e);
    /* centre pixel of particle 1 */
    size_t best = 0;
    const float *jump = xanes_simulate_truth_edge_jump(sc);
    for (size_t i = 0; i < nx * ny; i++)
        if (lab[i] == 1 && jump[i] > jump[best])
            best = i;
    for (size_t i = 0; i < n; i++)
        mu[i] = xanes_simulate_pixel_absorbance(sc, best / nx, best % nx, e[i]);
    double eh = std_edge(e, mu, n);
    printf("uniform particle: core edge %.6f eV, truth %.6f eV (diff %.1e)\n", eh, pe[0],
           eh - pe[0]);
    /* Without a gradient the particle's SoC is a node of the placement
     * table: exact up to this test's own grid (8290 + 0.05 i vs e0 + k/20). */
    assert_true(fabs(eh - pe[0]) < 1e-5);

    float *fr = malloc(nx * ny * sizeof *fr);
    const double *et = xanes_simulate_energy_true_ev(sc);
    for (size_t k = 0; k < xanes_simulate_scene_ne(sc); k += 5) {
        xanes_simulate_absorbance_frame(sc, k, fr);
        for (size_t i = 0; i < nx * ny; i += 7)
            assert_true(fabs(fr[i] - xanes_simulate_pixel_absorbance(sc, i / nx, i % nx, et[k])) <
                        1e-5);
    }
    free(fr);
    free(e);
    free(mu);
    xanes_simulate_scene_free(sc);
}

static void test_grid_truth(void **state)
{
    (void)state;
    xanes_simulate_params p;
    small_params(&p);
    p.noise = 0;
    p.touching = 1;
    p.gradient = 1;
    p.drift_px = 1.0; /* the grid truth is drift-free whatever the drift */
    p.energy_offset_ev = 1.37;
    p.ne = 50;
    xanes_error err;
    xanes_error_clear(&err);
    xanes_simulate_scene *sc = NULL;
    assert_int_equal(xanes_simulate_scene_alloc(&p, &sc, &err), XANES_OK);
    const size_t nx = xanes_simulate_scene_nx(sc), ny = xanes_simulate_scene_ny(sc),
                 ne = xanes_simulate_scene_ne(sc), np = xanes_simulate_scene_n_particles(sc);
    const double *et = xanes_simulate_energy_true_ev(sc),
                 *en = xanes_simulate_energy_nominal_ev(sc);
    const double *phys = xanes_simulate_truth_edge_ev(sc),
                 *grid = xanes_simulate_truth_edge_grid_ev(sc);
    const double *pgrid = xanes_simulate_particle_edge_grid_ev(sc);
    const int32_t *lab = xanes_simulate_truth_labels(sc);
    /* Default grid: 8300-8450 eV nominal, 40 % of the points in 8340-8375. */
    size_t in_edge = 0;
    for (size_t k = 0; k < ne; k++) {
        assert_true(fabs(et[k] - (en[k] - 1.37)) < 1e-12);
        in_edge += en[k] >= 8340.0 && en[k] < 8375.0;
    }
    assert_true(fabs(en[0] - 8300.0) < 1e-9 && fabs(en[ne - 1] - 8450.0) < 1e-9);
    assert_int_equal(in_edge, 20);

    double *mu = malloc(ne * sizeof *mu), *sum = calloc(np * ne, sizeof *sum);
    size_t *cnt = calloc(np, sizeof *cnt);
    assert_non_null(mu);
    assert_non_null(sum);
    assert_non_null(cnt);
    double worst = 0.0, dmax = 0.0, dsum = 0.0;
    size_t n = 0;
    for (size_t i = 0; i < nx * ny; i++) {
        if (lab[i] == 0) {
            assert_true(isnan(grid[i]));
            continue;
        }
        for (size_t k = 0; k < ne; k++) {
            mu[k] = xanes_simulate_pixel_absorbance(sc, i / nx, i % nx, et[k]);
            sum[(size_t)(lab[i] - 1) * ne + k] += mu[k];
        }
        cnt[lab[i] - 1]++;
        double g = std_edge(et, mu, ne);
        worst = fmax(worst, fabs(g - grid[i]));
        dmax = fmax(dmax, fabs(grid[i] - phys[i]));
        dsum += grid[i] - phys[i];
        n++;
    }
    double pworst = 0.0;
    for (size_t j = 0; j < np; j++) {
        for (size_t k = 0; k < ne; k++)
            mu[k] = sum[j * ne + k] / (double)cnt[j];
        pworst = fmax(pworst, fabs(std_edge(et, mu, ne) - pgrid[j]));
    }
    for (size_t k = 0; k < ne; k++)
        mu[k] = xanes_simulate_reference_absorbance(sc, et[k]);
    double rg = std_edge(et, mu, ne);
    printf("reference grid edge %.4f eV (physical %.2f)\n", rg, E_NIO);
    assert_true(fabs(rg - xanes_simulate_reference_edge_grid_ev(sc)) < 1e-4);
    printf("grid truth: %zu pixels, worst |core - map| = %.2e eV, particles %.2e eV; "
           "grid - physical: mean %+.3f, max |.| %.3f eV\n",
           n, worst, pworst, dsum / (double)n, dmax);
    assert_true(n > 100);
    assert_true(worst < 1e-4);
    assert_true(pworst < 1e-4);
    /* On 50 energies the grid edge is not the physical one. */
    assert_true(dmax > 0.01);

    /* A grid that cannot carry the definition (no post-edge window): NaN. */
    xanes_simulate_scene_free(sc);
    double e_short[12];
    for (size_t k = 0; k < 12; k++)
        e_short[k] = 8340.0 + 2.0 * (double)k;
    p.energy_ev = e_short;
    p.ne = 12;
    p.drift_px = 0;
    assert_int_equal(xanes_simulate_scene_alloc(&p, &sc, &err), XANES_OK);
    grid = xanes_simulate_truth_edge_grid_ev(sc);
    lab = xanes_simulate_truth_labels(sc);
    for (size_t i = 0; i < nx * ny; i++)
        assert_true(isnan(grid[i]));
    assert_true(isnan(xanes_simulate_particle_edge_grid_ev(sc)[0]));
    assert_true(isnan(xanes_simulate_reference_edge_grid_ev(sc)));
    free(mu);
    free(sum);
    free(cnt);
    xanes_simulate_scene_free(sc);
}

static void test_drift(void **state)
{
    (void)state;
    xanes_simulate_params p;
    small_params(&p);
    p.noise = 0;
    p.margin_px = 6;
    double shifts[24 * 2] = {0};
    shifts[2 * 5] = 3.0;
    shifts[2 * 5 + 1] = -2.0;
    shifts[2 * 9] = 0.37;
    shifts[2 * 9 + 1] = -1.285;
    p.shifts_px = shifts;
    xanes_error err;
    xanes_error_clear(&err);
    xanes_simulate_scene *a = NULL, *b = NULL;
    assert_int_equal(xanes_simulate_scene_alloc(&p, &a, &err), XANES_OK);
    p.shifts_px = NULL;
    assert_int_equal(xanes_simulate_scene_alloc(&p, &b, &err), XANES_OK);
    const size_t nx = 48, ny = 48;
    float *fa = malloc(nx * ny * sizeof *fa), *fb = malloc(nx * ny * sizeof *fb);
    /* Integer shift: frame content moves exactly. */
    xanes_simulate_absorbance_frame(a, 5, fa);
    xanes_simulate_absorbance_frame(b, 5, fb);
    double worst = 0;
    for (size_t y = 3; y < ny; y++)
        for (size_t x = 0; x + 2 < nx; x++) {
            double d = fabs(fa[y * nx + x] - fb[(y - 3) * nx + (x + 2)]);
            worst = d > worst ? d : worst;
        }
    assert_true(worst < 1e-6);
    assert_memory_equal(xanes_simulate_shifts_px(a), shifts, sizeof shifts);

    /* Sub-pixel: the centroid of the particle signal (frame minus the same
     * frame with matrix only) moves by the imposed shift. */
    p.matrix_absorbance = 0.0;
    p.n_particles = 1;
    p.radius_min_px = 12; /* point sampling of a small disc aliases */
    p.radius_max_px = 14;
    p.shifts_px = shifts;
    xanes_simulate_scene *c = NULL;
    assert_int_equal(xanes_simulate_scene_alloc(&p, &c, &err), XANES_OK);
    double cy[2], cx[2];
    size_t ks[2] = {0, 9};
    for (int j = 0; j < 2; j++) {
        xanes_simulate_absorbance_frame(c, ks[j], fa);
        double s = 0, sy = 0, sx = 0;
        for (size_t i = 0; i < nx * ny; i++) {
            s += fa[i];
            sy += fa[i] * (double)(i / nx);
            sx += fa[i] * (double)(i % nx);
        }
        cy[j] = sy / s;
        cx[j] = sx / s;
    }
    printf("centroid moved by (%.4f, %.4f), imposed (0.37, -1.285)\n", cy[1] - cy[0],
           cx[1] - cx[0]);
    /* Point sampling of the particle rim aliases the centroid by ~0.01 px. */
    assert_true(fabs(cy[1] - cy[0] - 0.37) < 0.02);
    assert_true(fabs(cx[1] - cx[0] + 1.285) < 0.02);

    /* Random walk: mean zero, rms as asked, written to the truth file. */
    xanes_simulate_scene_free(b);
    p.shifts_px = NULL;
    p.drift_px = 2.5;
    p.n_particles = 3;
    p.radius_min_px = p.radius_max_px = 0;
    assert_int_equal(xanes_simulate_scene_alloc(&p, &b, &err), XANES_OK);
    const double *sh = xanes_simulate_shifts_px(b);
    for (int ax = 0; ax < 2; ax++) {
        double m = 0, ss = 0;
        for (size_t k = 0; k < 24; k++) {
            m += sh[2 * k + ax] / 24.0;
            ss += sh[2 * k + ax] * sh[2 * k + ax] / 24.0;
        }
        assert_true(fabs(m) < 1e-12);
        assert_true(fabs(sqrt(ss) - 2.5) < 1e-12);
    }
    char dir[512], s[600], t[600];
    tu_make_tempdir(dir, sizeof dir);
    run_to(&p, dir, "drift", s, t, NULL, sizeof s);
    size_t n;
    double *fs = read_doubles(t, "shifts", &n);
    assert_int_equal(n, 48);
    assert_memory_equal(fs, sh, 48 * sizeof *fs);
    free(fs);
    tu_remove_tree(dir);
    free(fa);
    free(fb);
    xanes_simulate_scene_free(a);
    xanes_simulate_scene_free(b);
    xanes_simulate_scene_free(c);
}

static void test_config_and_bad_input(void **state)
{
    (void)state;
    xanes_simulate_params p;
    xanes_simulate_default_params(&p);
    xanes_error err;
    xanes_error_clear(&err);
    /* A configuration draws the particles' SoC from the model: the same
     * values an independent xanes_model_run gives for that seed and count. */
    small_params(&p);
    p.config = "NCM-B";
    xanes_simulate_scene *sm = NULL;
    assert_int_equal(xanes_simulate_scene_alloc(&p, &sm, &err), XANES_OK);
    xanes_standards std;
    assert_int_equal(xanes_standards_load(NULL, &std, &err), XANES_OK);
    xanes_model_data *md = NULL;
    assert_int_equal(xanes_model_data_load(NULL, &md, &err), XANES_OK);
    xanes_model_config cfg;
    assert_int_equal(xanes_model_data_config(md, "NCM-B", &cfg, &err), XANES_OK);
    xanes_model_params mp;
    xanes_model_default_params(&mp);
    mp.n_particles = 200; /* the default ensemble; the image shows its first particles */
    mp.seed = p.seed;
    xanes_model_result *mr = NULL;
    assert_int_equal(xanes_model_run(md, &cfg, &std, &mp, &mr, &err), XANES_OK);
    const double *ps = xanes_simulate_particle_soc(sm), *pe = xanes_simulate_particle_edge_ev(sm);
    for (size_t i = 0; i < p.n_particles; i++) {
        assert_true(ps[i] == mr->particle[i].soc);
        assert_true(fabs(pe[i] - mr->particle[i].edge_ev) < 1e-9);
    }
    xanes_model_result_free(mr);
    xanes_model_data_free(md);
    xanes_simulate_scene_free(sm);
    p.config = "NCM-Z";
    xanes_error_clear(&err);
    assert_int_not_equal(xanes_simulate_scene_alloc(&p, &sm, &err), XANES_OK);
    assert_non_null(strstr(err.message, "NCM-Z"));
    char dir[512], bad[600];
    tu_make_tempdir(dir, sizeof dir);
    snprintf(bad, sizeof bad, "%s/cfg.json", dir);
    tu_write_file(bad, "{\"coverage_alpha\": 2}");
    p.config = bad;
    xanes_error_clear(&err);
    assert_int_equal(xanes_simulate_scene_alloc(&p, &sm, &err), XANES_EFORMAT);
    assert_non_null(strstr(err.message, bad));
    assert_non_null(strstr(err.message, "coverage_beta"));
    tu_remove_tree(dir);
    p.config = NULL;

    xanes_simulate_scene *sc = NULL;
    small_params(&p);
    p.nx = 4;
    xanes_error_clear(&err);
    assert_int_equal(xanes_simulate_scene_alloc(&p, &sc, &err), XANES_EINVAL);
    assert_non_null(strstr(err.message, "image size"));
    small_params(&p);
    p.n_particles = 400;
    xanes_error_clear(&err);
    assert_int_equal(xanes_simulate_scene_alloc(&p, &sc, &err), XANES_EDATA);
    assert_non_null(strstr(err.message, "cannot place"));
    assert_null(sc);
    small_params(&p);
    p.calibration_dir = "/nonexistent-calibration";
    xanes_error_clear(&err);
    assert_int_equal(xanes_simulate_scene_alloc(&p, &sc, &err), XANES_EIO);
    assert_non_null(strstr(err.message, "/nonexistent-calibration/standards.json"));

    tu_cli_expect(2, "-o", "simulate --nx 32");
    tu_cli_expect(2, "nexus", "simulate -o /tmp/x.h5 --layout nexus");
    tu_cli_expect(2, "--ref-grid: 'coarse' is not stack or fine",
                  "simulate -o /tmp/x.h5 --ref-grid coarse");
    tu_cli_expect(2, "--dose", "simulate -o /tmp/x.h5 --dose -5");
    tu_cli_expect(2, "would clip the 16-bit detector at 65535",
                  "simulate -o /tmp/x.h5 --dose 100000");
    tu_cli_expect(2, "--noise-seed", "simulate -o /tmp/x.h5 --noise-seed 0");
    tu_cli_expect(0, "--noise-seed S", "simulate --help");
    tu_cli_expect(1, "/nonexistent-dir/x.h5",
                  "simulate -o /nonexistent-dir/x.h5 --nx 16 --ny 16 --ne 10 --particles 1");
    tu_cli_expect(0, "--energy-offset-ev", "simulate --help");
    tu_cli_expect(0, "--ref-grid stack|fine", "simulate --help");
}

int main(void)
{
    xanes_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_truth_consistency),
        cmocka_unit_test(test_uniform_particle_edge_and_frames),
        cmocka_unit_test(test_grid_truth),
        cmocka_unit_test(test_drift),
        cmocka_unit_test(test_config_and_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
