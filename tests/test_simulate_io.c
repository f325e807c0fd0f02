/* test_simulate_io.c: what the simulator writes.
 *
 * - determinism: the same seed gives byte-identical datasets (also with one
 *   thread), another seed not; a noise seed alone redraws the noise of the
 *   same scene (truth, drift and flat expectation unchanged), and a noise
 *   seed equal to the seed is the default;
 * - Poisson statistics of flats and samples, Gaussian darks;
 * - the dose limit of the 16-bit detector: at the largest dose allowed the
 *   flat expectation with its noise fits under 65535 and nothing clips; a
 *   dose above it is refused with the limit in the message;
 * - layouts: datasets, dtypes, shapes, keV energies with units, offset;
 *   noise-free FXI transmission = exp(-absorbance);
 * - reference spectrum: XDI 1.0, by default on the stack's own nominal
 *   energies; on a 0.05 eV grid its edge (standards' definition, by the
 *   spectral core) is the NiO standard 8353.01 eV on the true axis;
 * - truth file: physical and grid edge maps, per-particle grid edges;
 * - the CLI writes exactly the files asked for (no temporaries left).
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

static void test_determinism(void **state)
{
    (void)state;
    char dir[512], s1[600], t1[600], r1[600], s2[600], t2[600], r2[600], s3[600], t3[600];
    tu_make_tempdir(dir, sizeof dir);
    xanes_simulate_params p;
    small_params(&p);
    p.drift_px = 1.3;
    p.touching = 1;
    p.energy_offset_ev = 0.83;
    run_to(&p, dir, "a", s1, t1, r1, sizeof s1);
    run_to(&p, dir, "b", s2, t2, r2, sizeof s2);
    const char *fxi[] = {"img_xanes", "img_bkg", "img_dark", "X_eng"};
    for (size_t i = 0; i < 4; i++)
        assert_true(same_bytes(s1, s2, fxi[i]));
    const char *tr[] = {"edge_energy", "labels", "shifts", "soc", "particle_edge_ev"};
    for (size_t i = 0; i < 5; i++)
        assert_true(same_bytes(t1, t2, tr[i]));
    /* Whole files too (no modification times are stored): reference,
     * stack and truth. */
    const char *pairs[3][2] = {{r1, r2}, {s1, s2}, {t1, t2}};
    for (size_t i = 0; i < 3; i++) {
        size_t n1, n2;
        char *x1 = tu_read_file(pairs[i][0], &n1), *x2 = tu_read_file(pairs[i][1], &n2);
        assert_non_null(x1);
        assert_non_null(x2);
        assert_true(n1 == n2 && memcmp(x1, x2, n1) == 0);
        free(x1);
        free(x2);
    }
    /* The noise streams are per row: one thread gives the same bytes. */
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    run_to(&p, dir, "d", s3, t3, NULL, sizeof s3);
    omp_set_num_threads(threads);
    for (size_t i = 0; i < 4; i++)
        assert_true(same_bytes(s1, s3, fxi[i]));
    assert_true(same_bytes(t1, t3, "edge_energy"));
    /* --noise-seed: the same truth, another noise draw; equal to the seed
     * it is the default. */
    p.noise_seed = 977;
    run_to(&p, dir, "e", s3, t3, NULL, sizeof s3);
    assert_false(same_bytes(s1, s3, "img_xanes"));
    assert_false(same_bytes(s1, s3, "img_bkg"));
    for (size_t i = 0; i < 5; i++)
        assert_true(same_bytes(t1, t3, tr[i]));
    assert_true(same_bytes(s1, s3, "X_eng"));
    p.noise_seed = p.seed;
    run_to(&p, dir, "f", s3, t3, NULL, sizeof s3);
    for (size_t i = 0; i < 4; i++)
        assert_true(same_bytes(s1, s3, fxi[i]));
    p.noise_seed = 0;
    p.seed = 4243;
    run_to(&p, dir, "c", s3, t3, NULL, sizeof s3);
    assert_false(same_bytes(s1, s3, "img_xanes"));
    assert_false(same_bytes(t1, t3, "labels"));
    tu_remove_tree(dir);
}

static void z_stats(const double *c, const float *expect, size_t n, double offset, double *mean,
                    double *var)
{
    double s = 0, ss = 0;
    for (size_t i = 0; i < n; i++) {
        double z = (c[i] - offset - expect[i]) / sqrt(expect[i]);
        s += z;
        ss += z * z;
    }
    *mean = s / (double)n;
    *var = ss / (double)n - *mean * *mean;
}

/* small_params, 64 x 64 px, 20 energies, APS layout (raw counts, flats and
 * darks as stored). */
static void aps_64_params(xanes_simulate_params *p)
{
    small_params(p);
    p->nx = p->ny = 64;
    p->ne = 20;
    p->layout = XANES_SIMULATE_APS;
}

static void test_poisson_statistics(void **state)
{
    (void)state;
    char dir[512], s[600], t[600];
    tu_make_tempdir(dir, sizeof dir);
    xanes_simulate_params p;
    aps_64_params(&p);
    p.read_noise_counts = 0.0; /* counts - dark offset are then pure Poisson */
    p.dose_counts = 800.0;
    run_to(&p, dir, "aps", s, t, NULL, sizeof s);
    xanes_error err;
    xanes_error_clear(&err);
    xanes_simulate_scene *sc = NULL;
    assert_int_equal(xanes_simulate_scene_alloc(&p, &sc, &err), XANES_OK);
    size_t nf, nd, npx = 64 * 64;
    double *flat = read_doubles(s, "/exchange/data_white", &nf);
    double *data = read_doubles(s, "/exchange/data", &nd);
    assert_int_equal(nf, 20 * npx);
    float *fe = malloc(npx * sizeof *fe), *ab = malloc(npx * sizeof *ab);
    float *ee = malloc(20 * npx * sizeof *ee);
    double mean, var;
    for (size_t k = 0; k < 20; k++) {
        xanes_simulate_flat_frame(sc, k, fe + 0);
        memcpy(ee + k * npx, fe, npx * sizeof *fe);
    }
    z_stats(flat, ee, nf, 100.0, &mean, &var);
    printf("flats: z mean %.4f, z variance %.4f over %zu pixels\n", mean, var, nf);
    /* N = 81920: sd(mean) = 0.0035, sd(var) ~ 0.005; 4 sd bounds */
    assert_true(fabs(mean) < 0.014);
    assert_true(fabs(var - 1.0) < 0.02);
    for (size_t k = 0; k < 20; k++) {
        xanes_simulate_flat_frame(sc, k, fe);
        xanes_simulate_absorbance_frame(sc, k, ab);
        for (size_t i = 0; i < npx; i++)
            ee[k * npx + i] = (float)(fe[i] * exp(-(double)ab[i]));
    }
    z_stats(data, ee, nd, 100.0, &mean, &var);
    printf("samples: z mean %.4f, z variance %.4f\n", mean, var);
    assert_true(fabs(mean) < 0.014);
    assert_true(fabs(var - 1.0) < 0.02);
    free(flat);
    free(data);

    /* Darks: offset 100, read noise 3, rounded: variance 9 + 1/12. */
    p.read_noise_counts = 3.0;
    run_to(&p, dir, "aps2", s, t, NULL, sizeof s);
    double *dark = read_doubles(s, "/exchange/data_dark", &nd);
    assert_int_equal(nd, 5 * npx);
    double sm = 0, sq = 0;
    for (size_t i = 0; i < nd; i++)
        sm += dark[i];
    sm /= (double)nd;
    for (size_t i = 0; i < nd; i++)
        sq += (dark[i] - sm) * (dark[i] - sm);
    sq /= (double)(nd - 1);
    printf("darks: mean %.4f, variance %.4f\n", sm, sq);
    assert_true(fabs(sm - 100.0) < 0.1);            /* sd 0.023 */
    assert_true(fabs(sq - (9.0 + 1.0 / 12)) < 0.4); /* sd ~0.1 */
    free(dark);
    free(fe);
    free(ab);
    free(ee);
    xanes_simulate_scene_free(sc);
    tu_remove_tree(dir);
}

static void test_dose_limit(void **state)
{
    (void)state;
    char dir[512], s[600], t[600];
    tu_make_tempdir(dir, sizeof dir);
    xanes_simulate_params p;
    aps_64_params(&p);
    const double dmax = xanes_simulate_max_dose_counts(&p);
    p.dose_counts = floor(dmax);
    xanes_error err;
    xanes_error_clear(&err);
    xanes_simulate_scene *sc = NULL;
    assert_int_equal(xanes_simulate_scene_alloc(&p, &sc, &err), XANES_OK);
    /* The bound against the flat pattern itself: its brightest expected
     * count of any frame, the dark offset and 5 sigma fit; and the bound
     * wastes little (the pattern's factors peak in different frames). */
    size_t npx = 64 * 64;
    float *fe = malloc(npx * sizeof *fe);
    double fmax = 0.0;
    for (size_t k = 0; k < 20; k++) {
        xanes_simulate_flat_frame(sc, k, fe);
        for (size_t i = 0; i < npx; i++)
            fmax = fmax > fe[i] ? fmax : fe[i];
    }
    double top = fmax + p.dark_offset_counts;
    double sigma = sqrt(top + p.read_noise_counts * p.read_noise_counts);
    printf("dose limit %.0f: brightest flat pixel expects %.0f counts with the dark, "
           "+ 5 sigma %.0f\n",
           dmax, top, top + 5.0 * sigma);
    assert_true(top + 5.0 * sigma <= XANES_SIMULATE_MAX_COUNT);
    assert_true(top + 5.0 * sigma > 0.9 * XANES_SIMULATE_MAX_COUNT);
    xanes_simulate_scene_free(sc);
    free(fe);
    /* Nothing clips at that dose: the summary's count and the stored flats. */
    snprintf(s, sizeof s, "%s/d.h5", dir);
    snprintf(t, sizeof t, "%s/d_truth.h5", dir);
    xanes_simulate_summary sum;
    assert_int_equal(xanes_simulate_run(&p, s, t, NULL, &sum, &err), XANES_OK);
    assert_int_equal(sum.n_saturated, 0);
    size_t nf;
    double *flat = read_doubles(s, "/exchange/data_white", &nf);
    double cmax = 0.0;
    for (size_t i = 0; i < nf; i++)
        cmax = cmax > flat[i] ? cmax : flat[i];
    assert_true(cmax < XANES_SIMULATE_MAX_COUNT);
    assert_true(cmax > 0.8 * XANES_SIMULATE_MAX_COUNT);
    free(flat);
    /* Above it: refused, with the limit, and no file. */
    p.dose_counts = ceil(dmax * 1.001);
    snprintf(s, sizeof s, "%s/e.h5", dir);
    xanes_error_clear(&err);
    assert_int_equal(xanes_simulate_run(&p, s, NULL, NULL, NULL, &err), XANES_EINVAL);
    char want[64];
    snprintf(want, sizeof want, "use at most %.0f", floor(dmax));
    assert_non_null(strstr(err.message, "clip the 16-bit detector at 65535"));
    assert_non_null(strstr(err.message, want));
    struct stat st;
    assert_int_not_equal(stat(s, &st), 0);
    tu_remove_tree(dir);
}

static void test_layout_fxi(void **state)
{
    (void)state;
    char dir[512], s[600], t[600], r[600];
    tu_make_tempdir(dir, sizeof dir);
    xanes_simulate_params p;
    small_params(&p);
    p.noise = 0;
    p.energy_offset_ev = 1.37;
    run_to(&p, dir, "fxi", s, t, r, sizeof s);
    hsize_t st[3] = {24, 48, 48}, e1[1] = {24}, dk[3] = {5, 48, 48}, map[2] = {48, 48};
    expect_dataset(s, "img_xanes", H5T_FLOAT, 4, 3, st);
    expect_dataset(s, "img_bkg", H5T_FLOAT, 4, 3, st);
    expect_dataset(s, "img_dark", H5T_FLOAT, 4, 3, dk);
    expect_dataset(s, "X_eng", H5T_FLOAT, 8, 1, e1);
    expect_dataset(s, "Magnification", H5T_FLOAT, 8, 0, NULL);
    expect_units(s, "X_eng", "keV");
    expect_dataset(t, "edge_energy", H5T_FLOAT, 8, 2, map);
    expect_dataset(t, "labels", H5T_INTEGER, 4, 2, map);
    hsize_t sh[2] = {24, 2};
    expect_dataset(t, "shifts", H5T_FLOAT, 8, 2, sh);
    size_t n, nt, nx;
    double *kev = read_doubles(s, "X_eng", &n);
    double *etrue = read_doubles(t, "energy_true_ev", &nt);
    double *off = read_doubles(t, "energy_offset_ev", &nx);
    assert_int_equal(n, 24);
    assert_true(kev[0] > 8.2 && kev[23] < 8.5); /* keV, not eV */
    for (size_t k = 0; k < n; k++)
        assert_true(fabs(kev[k] * 1000.0 - etrue[k] - 1.37) < 1e-9);
    assert_true(fabs(off[0] - 1.37) < 1e-15);
    /* Noise-free transmission is exp(-absorbance). */
    xanes_error err;
    xanes_error_clear(&err);
    xanes_simulate_scene *sc = NULL;
    assert_int_equal(xanes_simulate_scene_alloc(&p, &sc, &err), XANES_OK);
    double *tr = read_doubles(s, "img_xanes", &n);
    float *ab = malloc(48 * 48 * sizeof *ab);
    double worst = 0;
    for (size_t k = 0; k < 24; k++) {
        xanes_simulate_absorbance_frame(sc, k, ab);
        for (size_t i = 0; i < 48 * 48; i++) {
            double d = fabs(tr[k * 48 * 48 + i] - exp(-(double)ab[i]));
            worst = d > worst ? d : worst;
        }
    }
    assert_true(worst < 1e-5);
    /* Pixel Size is a string like "21.3nm". */
    hid_t f = H5Fopen(s, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "Pixel Size", H5P_DEFAULT);
    hid_t ty = H5Dget_type(d);
    assert_int_equal(H5Tget_class(ty), H5T_STRING);
    char buf[32] = "";
    assert_true(H5Tget_size(ty) < sizeof buf);
    H5Dread(d, ty, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    assert_string_equal(buf, "21.3nm");
    H5Tclose(ty);
    H5Dclose(d);
    H5Fclose(f);

    /* Reference spectrum: XDI 1.0 with energy and mu, by default on the
     * stack's energies; on a fine grid its edge is the NiO standard. */
    size_t len;
    char *x = tu_read_file(r, &len);
    assert_non_null(x);
    assert_true(strncmp(x, "# XDI/1.0", 9) == 0);
    assert_non_null(strstr(x, "# Column.1: energy eV"));
    assert_non_null(strstr(x, "# Column.2: mu"));
    assert_non_null(strstr(x, "# Simulation.energy_grid: stack"));
    free(x);
    {
        /* Default --ref-grid stack: the stack's own nominal energies, mu the
         * reference model at the true energies. */
        FILE *fr = fopen(r, "r");
        assert_non_null(fr);
        char ln[256];
        size_t k = 0;
        double ek, mk;
        while (fgets(ln, sizeof ln, fr) != NULL)
            if (ln[0] != '#' && sscanf(ln, "%lf %lf", &ek, &mk) == 2) {
                assert_true(k < 24);
                assert_true(fabs(ek - kev[k] * 1000.0) < 1e-4);
                assert_true(fabs(mk - xanes_simulate_reference_absorbance(sc, etrue[k])) < 1e-8);
                k++;
            }
        fclose(fr);
        assert_int_equal(k, 24);
    }
    hsize_t p1[1] = {3};
    expect_dataset(t, "edge_energy_grid", H5T_FLOAT, 8, 2, map);
    expect_dataset(t, "particle_edge_grid_ev", H5T_FLOAT, 8, 1, p1);
    expect_units(t, "edge_energy_grid", "eV");
    p.ref_grid = XANES_SIMULATE_REF_FINE;
    p.ref_noise = 0.0;
    p.ref_step_ev = 0.05;
    /* true axis 8290 + 0.05 i: e0 (8355.10) on a sample, as on the fine grid
     * (e0 snaps to a sample, so a grid 0.03 eV off moves the edge ~1e-3 eV) */
    p.ref_lo_ev = 8290 + 1.37;
    p.ref_hi_ev = 8460 + 1.37;
    run_to(&p, dir, "fine", s, t, r, sizeof s);
    FILE *fp = fopen(r, "r");
    assert_non_null(fp);
    size_t cap = 40000, m = 0;
    double *ee = malloc(cap * sizeof *ee), *mu = malloc(cap * sizeof *mu);
    char line[256];
    while (fgets(line, sizeof line, fp) != NULL && m < cap)
        if (line[0] != '#' && sscanf(line, "%lf %lf", &ee[m], &mu[m]) == 2)
            m++;
    fclose(fp);
    assert_int_equal(m, FINE_N);
    for (size_t i = 0; i < m; i++)
        ee[i] -= 1.37; /* stored -> true axis */
    double eh = std_edge(ee, mu, m);
    printf("reference edge %.5f eV on the true axis (expect %.5f)\n", eh, E_NIO);
    assert_true(fabs(eh - E_NIO) < 1e-3);
    free(ee);
    free(mu);
    free(kev);
    free(etrue);
    free(off);
    free(tr);
    free(ab);
    xanes_simulate_scene_free(sc);
    tu_remove_tree(dir);
}

static void test_layout_aps(void **state)
{
    (void)state;
    char dir[512], s[600], t[600];
    tu_make_tempdir(dir, sizeof dir);
    xanes_simulate_params p;
    small_params(&p);
    p.layout = XANES_SIMULATE_APS;
    p.flat_per_energy = 0;
    run_to(&p, dir, "aps", s, t, NULL, sizeof s);
    hsize_t st[3] = {24, 48, 48}, fl[3] = {5, 48, 48}, e1[1] = {24};
    expect_dataset(s, "/exchange/data", H5T_INTEGER, 2, 3, st);
    expect_dataset(s, "/exchange/data_white", H5T_INTEGER, 2, 3, fl);
    expect_dataset(s, "/exchange/data_dark", H5T_INTEGER, 2, 3, fl);
    expect_dataset(s, "/exchange/energy", H5T_FLOAT, 8, 1, e1);
    expect_units(s, "/exchange/energy", "keV");
    p.dtype = XANES_SIMULATE_DTYPE_FLOAT32;
    run_to(&p, dir, "apsf", s, t, NULL, sizeof s);
    expect_dataset(s, "/exchange/data", H5T_FLOAT, 4, 3, st);
    tu_remove_tree(dir);
}

static void test_cli_writes_files(void **state)
{
    (void)state;
    char dir[512];
    tu_make_tempdir(dir, sizeof dir);
    tu_cli_result r = tu_run_cli("simulate -o '%s/s.h5' --truth '%s/t.h5' --ref-out '%s/r.xdi' "
                                 "--config NCM-B --nx 40 --ny 40 --ne 16 --particles 3 --seed 9 "
                                 "--energy-offset-ev 1.37 --json",
                                 dir, dir, dir);
    assert_int_equal(r.exit_code, 0);
    assert_non_null(strstr(r.out, "\"particles\":\t3"));
    tu_cli_result_free(&r);
    char path[700];
    struct stat sb;
    snprintf(path, sizeof path, "%s/s.h5", dir);
    assert_int_equal(stat(path, &sb), 0);
    snprintf(path, sizeof path, "%s/t.h5", dir);
    assert_int_equal(stat(path, &sb), 0);
    snprintf(path, sizeof path, "%s/r.xdi", dir);
    assert_int_equal(stat(path, &sb), 0);
    /* nothing else (no temporary files) */
    snprintf(path, sizeof path, "ls -A '%s' | wc -l", dir);
    FILE *pp = popen(path, "r");
    int count = 0;
    assert_int_equal(fscanf(pp, "%d", &count), 1);
    pclose(pp);
    assert_int_equal(count, 3);
    tu_remove_tree(dir);
}

int main(void)
{
    xanes_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_determinism), cmocka_unit_test(test_poisson_statistics),
        cmocka_unit_test(test_dose_limit),  cmocka_unit_test(test_layout_fxi),
        cmocka_unit_test(test_layout_aps),  cmocka_unit_test(test_cli_writes_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
