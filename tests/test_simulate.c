/* test_simulate.c: the forward simulator against independent truth.
 *
 * - truth consistency: the half-edge of noise-free pixel spectra, computed
 *   here by an independent discrete implementation of the edge definition
 *   (plain least squares on a 0.005 eV grid), equals the truth map to 1e-3 eV;
 *   particle edges equal E(SoC) of the published standards (8355.10 eV at
 *   SoC 0, 8358.0 eV at SoC 1);
 * - determinism: the same seed gives byte-identical datasets, another seed not;
 * - Poisson statistics of flats and samples, Gaussian darks;
 * - drift: an imposed integer shift moves the frame content exactly; a
 *   sub-pixel shift moves a particle's centroid; the random walk has the
 *   asked rms;
 * - layouts: datasets, dtypes, shapes, keV energies with units, offset;
 *   noise-free FXI transmission = exp(-absorbance);
 * - reference spectrum: its half-edge is 8353.01 eV + offset;
 * - bad input: library statuses and CLI exit codes with messages.
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

#include "testutil.h"
#include "xanes/model.h"
#include "xanes/simulate.h"
#include "xanes/standards.h"

/* Published standards (Lee et al. 2025, sec. 2.3), typed in independently of
 * calibration/standards.json. */
#define E_PRISTINE 8355.10
#define E_DELITH 8358.0
#define E_NIO 8353.01

/* ---- independent half-edge: discrete least squares on samples ---- */

static void line_fit(const double *e, const double *y, const double *sub, size_t n, double lo,
                     double hi, double anchor, double out[2])
{
    double s0 = 0, s1 = 0, s2 = 0, sf = 0, sxf = 0;
    for (size_t i = 0; i < n; i++) {
        if (e[i] < lo || e[i] > hi)
            continue;
        double x = e[i] - anchor;
        double f = y[i] - (sub ? sub[0] + sub[1] * x : 0.0);
        s0 += 1;
        s1 += x;
        s2 += x * x;
        sf += f;
        sxf += x * f;
    }
    out[1] = (s0 * sxf - s1 * sf) / (s0 * s2 - s1 * s1);
    out[0] = (sf - out[1] * s1) / s0;
}

static double half_edge(const double *e, const double *mu, size_t n, double guess)
{
    double eh = guess;
    for (int it = 0; it < 200; it++) {
        double pre[2], post[2];
        line_fit(e, mu, NULL, n, eh - 50, eh - 15, eh, pre);
        line_fit(e, mu, pre, n, eh + 30, eh + 90, eh, post);
        double next = NAN, prev = NAN;
        for (size_t i = 0; i < n; i++) {
            if (e[i] < eh - 15)
                continue;
            double v = (mu[i] - pre[0] - pre[1] * (e[i] - eh)) / post[0];
            if (v >= 0.5 && !isnan(prev)) {
                double vp = (mu[i - 1] - pre[0] - pre[1] * (e[i - 1] - eh)) / post[0];
                next = e[i - 1] + (0.5 - vp) * (e[i] - e[i - 1]) / (v - vp);
                break;
            }
            prev = v;
        }
        if (isnan(next))
            return NAN;
        if (fabs(next - eh) < 1e-7)
            return next;
        eh = next;
    }
    return eh;
}

/* ---- HDF5 reading helpers ---- */

static double *read_doubles(const char *file, const char *name, size_t *n_out)
{
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    assert_true(d >= 0);
    hid_t s = H5Dget_space(d);
    hssize_t n = H5Sget_simple_extent_npoints(s);
    double *buf = malloc((size_t)(n > 0 ? n : 1) * sizeof *buf);
    assert_non_null(buf);
    assert_true(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    H5Sclose(s);
    H5Dclose(d);
    H5Fclose(f);
    *n_out = (size_t)n;
    return buf;
}

/* Raw bytes of a dataset in its file type, for byte-for-byte comparison. */
static unsigned char *read_raw(const char *file, const char *name, size_t *bytes)
{
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    assert_true(d >= 0);
    hid_t t = H5Dget_type(d), s = H5Dget_space(d);
    size_t n = (size_t)H5Sget_simple_extent_npoints(s) * H5Tget_size(t);
    unsigned char *buf = malloc(n + 1);
    assert_non_null(buf);
    assert_true(H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    H5Tclose(t);
    H5Sclose(s);
    H5Dclose(d);
    H5Fclose(f);
    *bytes = n;
    return buf;
}

static void expect_dataset(const char *file, const char *name, H5T_class_t cls, size_t size,
                           int rank, const hsize_t *dims)
{
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0)
        fail_msg("%s: dataset %s missing", file, name);
    hid_t t = H5Dget_type(d), s = H5Dget_space(d);
    assert_int_equal(H5Tget_class(t), cls);
    assert_int_equal(H5Tget_size(t), size);
    assert_int_equal(H5Sget_simple_extent_ndims(s), rank);
    hsize_t got[4];
    H5Sget_simple_extent_dims(s, got, NULL);
    for (int i = 0; i < rank; i++)
        assert_int_equal(got[i], dims[i]);
    H5Tclose(t);
    H5Sclose(s);
    H5Dclose(d);
    H5Fclose(f);
}

static void expect_units(const char *file, const char *name, const char *units)
{
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    assert_true(d >= 0);
    hid_t a = H5Aopen(d, "units", H5P_DEFAULT);
    assert_true(a >= 0);
    hid_t t = H5Aget_type(a);
    char buf[64] = "";
    size_t n = H5Tget_size(t);
    assert_true(n < sizeof buf);
    assert_true(H5Aread(a, t, buf) >= 0);
    buf[n] = '\0';
    assert_string_equal(buf, units);
    H5Tclose(t);
    H5Aclose(a);
    H5Dclose(d);
    H5Fclose(f);
}

static void small_params(xanes_simulate_params *p)
{
    xanes_simulate_default_params(p);
    p->nx = p->ny = 48;
    p->ne = 24;
    p->n_particles = 3;
    p->seed = 4242;
}

/* ---- tests ---- */

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

    const size_t n = 34001;
    double *e = malloc(n * sizeof *e), *mu = malloc(n * sizeof *mu);
    assert_non_null(e);
    assert_non_null(mu);
    for (size_t i = 0; i < n; i++)
        e[i] = 8290.0 + 0.005 * (double)i;
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
            double eh = half_edge(e, mu, n, truth[idx]);
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
            double d = fabs(half_edge(e, mu, n, truth[idx]) - truth[idx]);
            worst = d > worst ? d : worst;
            mixed++;
        }
    printf("truth consistency: %zu pixels + %zu neck pixels, worst |half-edge - truth| = "
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
    const double *truth = xanes_simulate_truth_edge_ev(sc), *pe = xanes_simulate_particle_edge_ev(sc);
    const int32_t *lab = xanes_simulate_truth_labels(sc);
    for (size_t i = 0; i < nx * ny; i++)
        if (lab[i] > 0)
            assert_true(fabs(truth[i] - pe[lab[i] - 1]) < 1e-9);
    const size_t n = 34001;
    double *e = malloc(n * sizeof *e), *mu = malloc(n * sizeof *mu);
    for (size_t i = 0; i < n; i++)
        e[i] = 8290.0 + 0.005 * (double)i;
    /* centre pixel of particle 1 */
    size_t best = 0;
    const float *jump = xanes_simulate_truth_edge_jump(sc);
    for (size_t i = 0; i < nx * ny; i++)
        if (lab[i] == 1 && jump[i] > jump[best])
            best = i;
    for (size_t i = 0; i < n; i++)
        mu[i] = xanes_simulate_pixel_absorbance(sc, best / nx, best % nx, e[i]);
    double eh = half_edge(e, mu, n, pe[0]);
    printf("uniform particle: half-edge %.6f eV, truth %.6f eV\n", eh, pe[0]);
    assert_true(fabs(eh - pe[0]) < 1e-3);

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

static void run_to(const xanes_simulate_params *p, const char *dir, const char *tag, char *stack,
                   char *truth, char *ref, size_t size)
{
    snprintf(stack, size, "%s/%s.h5", dir, tag);
    snprintf(truth, size, "%s/%s_truth.h5", dir, tag);
    if (ref != NULL)
        snprintf(ref, size, "%s/%s_ref.xdi", dir, tag);
    xanes_error err;
    xanes_error_clear(&err);
    xanes_status st = xanes_simulate_run(p, stack, truth, ref, NULL, &err);
    if (st != XANES_OK)
        fail_msg("simulate: %s", err.message);
}

static int same_bytes(const char *a, const char *b, const char *name)
{
    size_t na, nb;
    unsigned char *x = read_raw(a, name, &na), *y = read_raw(b, name, &nb);
    int same = na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

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
    size_t n1, n2;
    char *x1 = tu_read_file(r1, &n1), *x2 = tu_read_file(r2, &n2);
    assert_true(n1 == n2 && memcmp(x1, x2, n1) == 0);
    free(x1);
    free(x2);
    /* The noise streams are per row: one thread gives the same bytes. */
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    run_to(&p, dir, "d", s3, t3, NULL, sizeof s3);
    omp_set_num_threads(threads);
    for (size_t i = 0; i < 4; i++)
        assert_true(same_bytes(s1, s3, fxi[i]));
    assert_true(same_bytes(t1, t3, "edge_energy"));
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

static void test_poisson_statistics(void **state)
{
    (void)state;
    char dir[512], s[600], t[600];
    tu_make_tempdir(dir, sizeof dir);
    xanes_simulate_params p;
    small_params(&p);
    p.nx = p.ny = 64;
    p.ne = 20;
    p.layout = XANES_SIMULATE_APS;
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
    assert_true(fabs(sm - 100.0) < 0.1);           /* sd 0.023 */
    assert_true(fabs(sq - (9.0 + 1.0 / 12)) < 0.4); /* sd ~0.1 */
    free(dark);
    free(fe);
    free(ab);
    free(ee);
    xanes_simulate_scene_free(sc);
    tu_remove_tree(dir);
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

    /* Reference spectrum: XDI 1.0 with energy and mu; on a fine grid its
     * half-edge is the NiO standard plus the offset. */
    size_t len;
    char *x = tu_read_file(r, &len);
    assert_non_null(x);
    assert_true(strncmp(x, "# XDI/1.0", 9) == 0);
    assert_non_null(strstr(x, "# Column.1: energy eV"));
    assert_non_null(strstr(x, "# Column.2: mu"));
    free(x);
    p.ref_step_ev = 0.005;
    p.ref_lo_ev = 8290;
    p.ref_hi_ev = 8460;
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
    assert_int_equal(m, 34001);
    double eh = half_edge(ee, mu, m, E_NIO + 1.37);
    printf("reference half-edge %.5f eV on the stored axis (expect %.5f)\n", eh, E_NIO + 1.37);
    assert_true(fabs(eh - (E_NIO + 1.37)) < 1e-3);
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
    mp.n_particles = p.n_particles;
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

    tu_cli_result r = tu_run_cli("simulate --nx 32");
    assert_int_equal(r.exit_code, 2);
    assert_non_null(strstr(r.err, "-o"));
    tu_cli_result_free(&r);
    r = tu_run_cli("simulate -o /tmp/x.h5 --layout nexus");
    assert_int_equal(r.exit_code, 2);
    assert_non_null(strstr(r.err, "nexus"));
    tu_cli_result_free(&r);
    r = tu_run_cli("simulate -o /tmp/x.h5 --dose -5");
    assert_int_equal(r.exit_code, 2);
    assert_non_null(strstr(r.err, "--dose"));
    tu_cli_result_free(&r);
    r = tu_run_cli("simulate -o /nonexistent-dir/x.h5 --nx 16 --ny 16 --ne 10 --particles 1");
    assert_int_equal(r.exit_code, 1);
    assert_non_null(strstr(r.err, "/nonexistent-dir/x.h5"));
    tu_cli_result_free(&r);
    r = tu_run_cli("simulate --help");
    assert_int_equal(r.exit_code, 0);
    assert_non_null(strstr(r.out, "--energy-offset-ev"));
    tu_cli_result_free(&r);
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
        cmocka_unit_test(test_truth_consistency),
        cmocka_unit_test(test_uniform_particle_edge_and_frames),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_poisson_statistics),
        cmocka_unit_test(test_drift),
        cmocka_unit_test(test_layout_fxi),
        cmocka_unit_test(test_layout_aps),
        cmocka_unit_test(test_config_and_bad_input),
        cmocka_unit_test(test_cli_writes_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
