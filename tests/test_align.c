/* test_align.c: drift alignment against stacks with known, imposed drift.
 *
 * The synthetic stacks are made here, analytically: Gaussian "particles"
 * whose absorbance follows an arctan edge with a white line (contrast changes
 * across the edge, as in a real XANES stack), evaluated at sub-pixel
 * displaced centres (so the truth is exact, not an interpolation), turned
 * into counts I = dose exp(-A), given Poisson-like noise (Gaussian of
 * variance I) and converted back to absorbance.  Shifts are compared after
 * removing their common offset, since the reference is a mean of drifted
 * frames and only the shifts between frames are determined.
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

/* C11 has no M_PI. */
#define PI 3.14159265358979323846

#include "align_private.h"
#include "testutil.h"
#include "xanes/align.h"

/* xorshift64* and Box-Muller: a fixed, platform-independent noise source. */
static uint64_t rng_state;
static double urand(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ULL) >> 11) * (1.0 / 9007199254740992.0);
}
static double nrand(void)
{
    double u = urand(), v = urand();
    return sqrt(-2.0 * log(u + 1e-300)) * cos(2.0 * PI * v);
}

#define NB 70
typedef struct {
    double cy[NB], cx[NB], sigma[NB], thick[NB], e0[NB];
} scene;

static void make_scene(scene *sc, size_t ny, size_t nx, uint64_t seed)
{
    rng_state = seed;
    for (int b = 0; b < NB; b++) {
        sc->cy[b] = 10.0 + urand() * ((double)ny - 20.0);
        sc->cx[b] = 10.0 + urand() * ((double)nx - 20.0);
        sc->sigma[b] = 2.5 + 7.0 * urand();
        sc->thick[b] = 0.4 + 0.8 * urand();
        sc->e0[b] = 8343.0 + 6.0 * urand();
    }
}

/* Absorbance per unit thickness: pre-edge 0.25, jump 0.75, white line. */
static double mu_of(double e, double e0)
{
    double edge = 0.5 + atan((e - e0) / 1.5) / PI;
    double wl = 0.35 * exp(-0.5 * pow((e - e0 - 4.0) / 2.5, 2));
    return 0.25 + 0.75 * edge + wl;
}

/* Frame at energy e, content displaced by (ty, tx) px; dose <= 0: no noise. */
static void make_frame(const scene *sc, float *f, size_t ny, size_t nx, double e, double ty,
                       double tx, double dose)
{
    for (size_t i = 0; i < ny * nx; i++)
        f[i] = 0.02f;
    for (int b = 0; b < NB; b++) {
        double cy = sc->cy[b] + ty, cx = sc->cx[b] + tx, s = sc->sigma[b];
        double amp = sc->thick[b] * mu_of(e, sc->e0[b]);
        long y0 = (long)floor(cy - 4 * s), y1 = (long)ceil(cy + 4 * s);
        long x0 = (long)floor(cx - 4 * s), x1 = (long)ceil(cx + 4 * s);
        for (long y = y0 < 0 ? 0 : y0; y <= y1 && y < (long)ny; y++)
            for (long x = x0 < 0 ? 0 : x0; x <= x1 && x < (long)nx; x++) {
                double r2 =
                    ((double)y - cy) * ((double)y - cy) + ((double)x - cx) * ((double)x - cx);
                f[(size_t)y * nx + (size_t)x] += (float)(amp * exp(-0.5 * r2 / (s * s)));
            }
    }
    if (dose > 0.0)
        for (size_t i = 0; i < ny * nx; i++) {
            double counts = dose * exp(-(double)f[i]);
            counts += sqrt(counts) * nrand();
            f[i] = (float)-log(fmax(counts, 1.0) / dose);
        }
}

#define NY 256
#define NX 256
#define NE 24

/* Smooth drift of several px with non-round values; frame 5 carries the
 * (3.385, -2.71) named in the task. */
static void drift(size_t k, double *ty, double *tx)
{
    *ty = 3.2 * sin(0.37 * (double)k + 0.4) + 0.9 * cos(1.3 * (double)k);
    *tx = -2.9 * cos(0.23 * (double)k) + 1.1 * sin(0.81 * (double)k + 1.0);
    if (k == 5) {
        *ty = 3.385;
        *tx = -2.71;
    }
}

static float *make_stack(double dose, uint64_t seed, double *energy, double (*truth)[2])
{
    scene sc;
    make_scene(&sc, NY, NX, seed);
    float *stack = malloc((size_t)NE * NY * NX * sizeof *stack);
    assert_non_null(stack);
    for (size_t k = 0; k < NE; k++) {
        energy[k] = 8310.0 + 80.0 * (double)k / (NE - 1);
        drift(k, &truth[k][0], &truth[k][1]);
        make_frame(&sc, stack + k * NY * NX, NY, NX, energy[k], truth[k][0], truth[k][1], dose);
    }
    return stack;
}

/* rms over frames and both axes of (estimate + drift) minus its mean: the
 * estimate should be -drift up to one common offset. */
static double shift_rms_error(const double *shift, double (*truth)[2], const unsigned char *ok,
                              size_t n)
{
    double mean[2] = {0, 0}, sum2 = 0.0;
    size_t cnt = 0;
    for (size_t k = 0; k < n; k++)
        if (ok[k]) {
            for (int a = 0; a < 2; a++)
                mean[a] += shift[2 * k + a] + truth[k][a];
            cnt++;
        }
    assert_true(cnt > 1);
    for (int a = 0; a < 2; a++)
        mean[a] /= (double)cnt;
    for (size_t k = 0; k < n; k++)
        if (ok[k])
            for (int a = 0; a < 2; a++) {
                double e = shift[2 * k + a] + truth[k][a] - mean[a];
                sum2 += e * e;
            }
    return sqrt(sum2 / (double)(2 * cnt));
}

/* Estimates the shifts of a fresh stack with parameters p (NULL =
 * defaults), optionally after mutate() damaged it; returns the rms error. */
static double run_precision(double dose, uint64_t seed, const xanes_align_params *p,
                            void (*mutate)(float *stack), unsigned char *ok_out)
{
    double energy[NE], truth[NE][2], shift[2 * NE];
    unsigned char ok[NE];
    float *stack = make_stack(dose, seed, energy, truth);
    if (mutate != NULL)
        mutate(stack);
    xanes_error err;
    xanes_error_clear(&err);
    xanes_align *a = xanes_align_alloc(NY, NX, p, &err);
    assert_non_null(a);
    assert_int_equal(xanes_align_estimate(a, stack, NE, energy, shift, ok, &err), XANES_OK);
    if (ok_out != NULL) {
        memcpy(ok_out, ok, NE);
        for (size_t k = 0; k < NE; k++)
            if (!ok[k]) {
                assert_true(shift[2 * k] == 0.0);
                assert_true(shift[2 * k + 1] == 0.0);
            }
    } else {
        for (size_t k = 0; k < NE; k++)
            assert_int_equal(ok[k], 1);
    }
    double rms = shift_rms_error(shift, truth, ok, NE);
    xanes_align_free(a);
    free(stack);
    return rms;
}

static void test_precision_noise_free(void **state)
{
    (void)state;
    /* What remains without noise is the contrast change across the edge
     * (each particle has its own edge energy), the fixed window and the
     * interpolation of the resampled pass.  Measured 0.015 px; without that
     * pass (binned frames registered at the phase their drift gave them)
     * 0.037 px. */
    double rms = run_precision(0.0, 10, NULL, NULL, NULL);
    print_message("drift rms error noise-free (defaults): %.4f px\n", rms);
    assert_true(rms <= 0.02);
}

static void test_precision_normal_dose(void **state)
{
    (void)state;
    double rms = run_precision(3000.0, 11, NULL, NULL, NULL);
    print_message("drift rms error at 3000 counts (defaults): %.4f px\n", rms);
    /* 0.029 px measured, 0.041 without the resampled pass. */
    assert_true(rms <= 0.035);
}

static void test_precision_low_dose(void **state)
{
    (void)state;
    double rms = run_precision(300.0, 12, NULL, NULL, NULL);
    print_message("drift rms error at 300 counts (defaults): %.4f px\n", rms);
    /* 0.043 px measured, 0.061 without the resampled pass. */
    assert_true(rms <= 0.05);
}

static void test_precision_other_settings(void **state)
{
    (void)state;
    xanes_align_params p;
    xanes_align_default_params(&p);
    p.reference = XANES_ALIGN_REF_SUM;
    double rms = run_precision(3000.0, 13, &p, NULL, NULL);
    print_message("drift rms error at 3000 counts (sum reference): %.4f px\n", rms);
    assert_true(rms <= 0.035); /* 0.025 measured, 0.046 without the resampled pass */
    xanes_align_default_params(&p);
    p.bin = 2;
    rms = run_precision(3000.0, 14, &p, NULL, NULL);
    print_message("drift rms error at 3000 counts (bin 2): %.4f px\n", rms);
    assert_true(rms <= 0.035); /* 0.030 measured, 0.037 without the resampled pass */
}

static void test_single_reference_frame_is_absolute(void **state)
{
    (void)state;
    /* With one reference frame there is no common offset: frame k must get
     * exactly -(t_k - t_ref), and the reference itself 0. */
    double energy[NE], truth[NE][2], shift[2 * NE];
    unsigned char ok[NE];
    float *stack = make_stack(3000.0, 15, energy, truth);
    xanes_align_params p;
    xanes_align_default_params(&p);
    p.reference = XANES_ALIGN_REF_FRAME;
    p.ref_frame = 20;
    xanes_align *a = xanes_align_alloc(NY, NX, &p, NULL);
    assert_non_null(a);
    assert_int_equal(xanes_align_estimate(a, stack, NE, energy, shift, ok, NULL), XANES_OK);
    assert_true(fabs(shift[40]) < 1e-9 && fabs(shift[41]) < 1e-9);
    double sum2 = 0.0;
    for (size_t k = 0; k < NE; k++) {
        assert_int_equal(ok[k], 1);
        for (int ax = 0; ax < 2; ax++) {
            double e = shift[2 * k + ax] + (truth[k][ax] - truth[20][ax]);
            sum2 += e * e;
        }
    }
    double rms = sqrt(sum2 / (2.0 * NE));
    print_message("absolute drift rms error, single reference frame: %.4f px\n", rms);
    /* 0.030 px measured, 0.050 without the resampled pass. */
    assert_true(rms <= 0.04);
    xanes_align_free(a);
    free(stack);
}

static void damage_frames(float *stack)
{
    /* Frame 3 flat, frame 9 featureless noise, frame 14 all NaN. */
    float *f3 = stack + 3 * (size_t)NY * NX, *f9 = stack + 9 * (size_t)NY * NX;
    float *f14 = stack + 14 * (size_t)NY * NX;
    rng_state = 99;
    for (size_t i = 0; i < (size_t)NY * NX; i++) {
        f3[i] = 0.7f;
        f9[i] = (float)(0.5 + 0.05 * nrand());
        f14[i] = NAN;
    }
}

static void test_unalignable_frames_flagged(void **state)
{
    (void)state;
    unsigned char ok[NE];
    double rms = run_precision(3000.0, 16, NULL, damage_frames, ok);
    for (size_t k = 0; k < NE; k++)
        assert_int_equal(ok[k], (k == 3 || k == 9 || k == 14) ? 0 : 1);
    print_message("drift rms error with 3 damaged frames: %.4f px\n", rms);
    assert_true(rms <= 0.06);
}

static void nan_patches(float *stack)
{
    /* A 20 x 30 block of dead pixels moving through the stack and a dead
     * column in every frame. */
    for (size_t k = 0; k < NE; k++) {
        float *f = stack + k * (size_t)NY * NX;
        for (size_t y = 40 + 5 * k; y < 60 + 5 * k && y < NY; y++)
            for (size_t x = 100; x < 130; x++)
                f[y * NX + x] = NAN;
        for (size_t y = 0; y < NY; y++)
            f[y * NX + 200] = NAN;
    }
}

static void test_nan_pixels_tolerated(void **state)
{
    (void)state;
    double rms = run_precision(3000.0, 17, NULL, nan_patches, NULL);
    print_message("drift rms error with NaN patches: %.4f px\n", rms);
    assert_true(rms <= 0.06);
}

/* Smooth analytic test image: low frequencies only, so that bicubic
 * interpolation is accurate to a few 1e-4 of its amplitude. */
static double smooth(double y, double x)
{
    return 1.0 + 0.5 * sin(0.21 * y + 0.3) * cos(0.17 * x - 0.2) + 0.2 * cos(0.05 * (x + y));
}

#define SY 64
#define SX 80

static void test_apply_border_nan_exact(void **state)
{
    (void)state;
    const double dy = 3.385, dx = -2.71;
    float *f = malloc((size_t)SY * SX * sizeof *f);
    assert_non_null(f);
    for (size_t y = 0; y < SY; y++)
        for (size_t x = 0; x < SX; x++)
            f[y * SX + x] = (float)smooth((double)y, (double)x);
    xanes_align *a = xanes_align_alloc(SY, SX, NULL, NULL);
    assert_non_null(a);
    double shift[2] = {dy, dx};
    assert_int_equal(xanes_align_apply(a, f, 1, shift, NULL), XANES_OK);
    /* Content moves by +shift: out(y, x) = in(y - dy, x - dx).  Rows 0..3
     * (y - 3.385 < 0) and columns 77..79 (x + 2.71 > 79) have no data. */
    size_t nan_count = 0;
    double maxerr = 0.0;
    for (size_t y = 0; y < SY; y++)
        for (size_t x = 0; x < SX; x++) {
            float v = f[y * SX + x];
            int outside = y <= 3 || x >= 77;
            assert_int_equal(isnan(v) ? 1 : 0, outside);
            if (outside) {
                nan_count++;
                continue;
            }
            double ys = (double)y - dy, xs = (double)x - dx;
            if (ys >= 1.0 && ys <= SY - 2.0 && xs >= 1.0 && xs <= SX - 2.0)
                maxerr = fmax(maxerr, fabs(v - smooth(ys, xs)));
        }
    assert_int_equal(nan_count, 4 * SX + 3 * (SY - 4));
    print_message("bicubic shift max error on a smooth image: %.2e\n", maxerr);
    assert_true(maxerr < 2e-3);
    xanes_align_free(a);
    free(f);
}

static void test_apply_integer_and_nan_spread(void **state)
{
    (void)state;
    float *f = malloc((size_t)SY * SX * sizeof *f), *g = malloc((size_t)SY * SX * sizeof *g);
    assert_non_null(f);
    assert_non_null(g);
    for (size_t i = 0; i < (size_t)SY * SX; i++)
        f[i] = g[i] = (float)(0.001 * (double)(i % 977) + 0.1);
    f[30 * SX + 40] = g[30 * SX + 40] = NAN;
    xanes_align *a = xanes_align_alloc(SY, SX, NULL, NULL);
    assert_non_null(a);
    /* An integer shift is an exact copy; the NaN moves with its pixel. */
    double shift[2] = {-2.0, 5.0};
    assert_int_equal(xanes_align_apply(a, f, 1, shift, NULL), XANES_OK);
    for (size_t y = 0; y < SY; y++)
        for (size_t x = 0; x < SX; x++) {
            float v = f[y * SX + x];
            if (y >= SY - 2 || x < 5) {
                assert_true(isnan(v));
                continue;
            }
            float want = g[(y + 2) * SX + (x - 5)];
            if (y + 2 == 30 && x - 5 == 40)
                assert_true(isnan(v));
            else
                assert_true(v == want);
        }
    /* A half-pixel shift: taps at source rows y - 2 .. y + 1 (floor(-0.5)
     * = -1), so the NaN at (30, 40) reaches rows and columns 29..32 only. */
    memcpy(f, g, (size_t)SY * SX * sizeof *f);
    shift[0] = shift[1] = 0.5;
    assert_int_equal(xanes_align_apply(a, f, 1, shift, NULL), XANES_OK);
    for (size_t y = 1; y < SY; y++)
        for (size_t x = 1; x < SX; x++) {
            int hit = y >= 29 && y <= 32 && x >= 39 && x <= 42;
            assert_int_equal(isnan(f[y * SX + x]) ? 1 : 0, hit);
        }
    for (size_t x = 0; x < SX; x++)
        assert_true(isnan(f[x])); /* row 0: source -0.5 */
    /* A zero shift leaves the frame untouched. */
    memcpy(f, g, (size_t)SY * SX * sizeof *f);
    shift[0] = shift[1] = 0.0;
    assert_int_equal(xanes_align_apply(a, f, 1, shift, NULL), XANES_OK);
    assert_memory_equal(f, g, (size_t)SY * SX * sizeof *f);
    xanes_align_free(a);
    free(f);
    free(g);
}

/* Estimate + apply on a noise-free drifted stack: every aligned frame must
 * match the frame made with the common residual offset, which also pins
 * down the sign convention end to end. */
static void test_estimate_then_apply_registers(void **state)
{
    (void)state;
    double energy[NE], truth[NE][2], shift[2 * NE];
    float *stack = make_stack(0.0, 18, energy, truth);
    xanes_align *a = xanes_align_alloc(NY, NX, NULL, NULL);
    assert_non_null(a);
    assert_int_equal(xanes_align_estimate(a, stack, NE, energy, shift, NULL, NULL), XANES_OK);
    double off[2] = {0, 0};
    for (size_t k = 0; k < NE; k++)
        for (int ax = 0; ax < 2; ax++)
            off[ax] += (shift[2 * k + ax] + truth[k][ax]) / NE;
    assert_int_equal(xanes_align_apply(a, stack, NE, shift, NULL), XANES_OK);
    scene sc;
    make_scene(&sc, NY, NX, 18);
    float *want = malloc((size_t)NY * NX * sizeof *want);
    assert_non_null(want);
    double worst = 0.0;
    for (size_t k = 0; k < NE; k++) {
        make_frame(&sc, want, NY, NX, energy[k], off[0], off[1], 0.0);
        double sum2 = 0.0;
        size_t n = 0;
        for (size_t y = 10; y < NY - 10; y++)
            for (size_t x = 10; x < NX - 10; x++) {
                float v = stack[(k * NY + y) * NX + x];
                assert_false(isnan(v));
                double d = v - want[y * NX + x];
                sum2 += d * d;
                n++;
            }
        worst = fmax(worst, sqrt(sum2 / (double)n));
    }
    /* The absorbance gradients reach ~0.1 per px, so the 0.04 px
     * registration error allows a few 1e-3 rms. */
    print_message("aligned frames vs truth: worst rms %.4f (absorbance)\n", worst);
    assert_true(worst < 0.01);
    free(want);
    xanes_align_free(a);
    free(stack);
}

static void test_thread_count_independent(void **state)
{
    (void)state;
    double energy[NE], truth[NE][2], s1[2 * NE], s2[2 * NE];
    unsigned char ok1[NE], ok2[NE];
    float *st1 = make_stack(300.0, 19, energy, truth);
    float *st2 = malloc((size_t)NE * NY * NX * sizeof *st2);
    assert_non_null(st2);
    memcpy(st2, st1, (size_t)NE * NY * NX * sizeof *st2);
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    xanes_align *a1 = xanes_align_alloc(NY, NX, NULL, NULL);
    omp_set_num_threads(3);
    xanes_align *a3 = xanes_align_alloc(NY, NX, NULL, NULL);
    omp_set_num_threads(saved);
    assert_non_null(a1);
    assert_non_null(a3);
    assert_int_equal(xanes_align_estimate(a1, st1, NE, energy, s1, ok1, NULL), XANES_OK);
    assert_int_equal(xanes_align_estimate(a3, st2, NE, energy, s2, ok2, NULL), XANES_OK);
    assert_memory_equal(s1, s2, sizeof s1);
    assert_memory_equal(ok1, ok2, sizeof ok1);
    assert_int_equal(xanes_align_apply(a1, st1, NE, s1, NULL), XANES_OK);
    assert_int_equal(xanes_align_apply(a3, st2, NE, s2, NULL), XANES_OK);
    assert_memory_equal(st1, st2, (size_t)NE * NY * NX * sizeof *st1);
    xanes_align_free(a1);
    xanes_align_free(a3);
    free(st1);
    free(st2);
}

#define EY 128
#define EX 160

static void test_errors(void **state)
{
    (void)state;
    xanes_error err;
    xanes_align_params p;
    xanes_align_free(NULL);
    xanes_align_default_params(&p);
    p.whiten = 2.0;
    xanes_error_clear(&err);
    assert_null(xanes_align_alloc(64, 64, &p, &err));
    assert_int_equal(err.status, XANES_EINVAL);
    assert_non_null(strstr(err.message, "whiten 2"));
    xanes_error_clear(&err);
    assert_null(xanes_align_alloc(4, 64, NULL, &err));
    assert_int_equal(err.status, XANES_EINVAL);
    assert_non_null(strstr(err.message, "4 x 64"));

    enum { N = 4 };
    float *stack = malloc((size_t)N * EY * EX * sizeof *stack);
    assert_non_null(stack);
    double energy[N] = {8330.0, 8340.0, 8350.0, 8360.0}, shift[2 * N];
    scene sc;
    make_scene(&sc, EY, EX, 20);
    for (size_t k = 0; k < N; k++)
        make_frame(&sc, stack + k * EY * EX, EY, EX, energy[k], 0.0, 0.0, 0.0);
    xanes_align *a = xanes_align_alloc(EY, EX, NULL, NULL);
    assert_non_null(a);
    energy[2] = NAN;
    xanes_error_clear(&err);
    assert_int_equal(xanes_align_estimate(a, stack, N, energy, shift, NULL, &err), XANES_EINVAL);
    assert_non_null(strstr(err.message, "energy of frame 2"));
    energy[2] = 8350.0;
    xanes_error_clear(&err);
    assert_int_equal(xanes_align_estimate(a, stack, 0, energy, shift, NULL, &err), XANES_EINVAL);
    /* The post-edge frames (>= 8350 eV) unusable, the pivot (frame 2) flat
     * and frame 3 all NaN, while the pre-edge frames are fine: no
     * reference.  With frame 3 usable, it becomes the pivot. */
    for (size_t i = 0; i < (size_t)EY * EX; i++) {
        stack[2 * (size_t)EY * EX + i] = 0.25f;
        stack[3 * (size_t)EY * EX + i] = NAN;
    }
    unsigned char ok[N];
    xanes_error_clear(&err);
    assert_int_equal(xanes_align_estimate(a, stack, N, energy, shift, ok, &err), XANES_EDATA);
    assert_non_null(strstr(err.message, "all 2 reference frames (8350.00..8360.00 eV)"));
    make_frame(&sc, stack + 3 * EY * EX, EY, EX, energy[3], 0.0, 0.0, 0.0);
    assert_int_equal(xanes_align_estimate(a, stack, N, energy, shift, ok, NULL), XANES_OK);
    assert_true(ok[0] == 1 && ok[1] == 1 && ok[2] == 0 && ok[3] == 1);
    for (size_t i = 0; i < 2 * N; i++)
        assert_true(fabs(shift[i]) < 0.01);
    xanes_align_free(a);

    p.whiten = 0.5;
    p.post_edge_min_ev = 8400.0;
    a = xanes_align_alloc(EY, EX, &p, NULL);
    assert_non_null(a);
    xanes_error_clear(&err);
    assert_int_equal(xanes_align_estimate(a, stack, N, energy, shift, NULL, &err), XANES_EDATA);
    assert_non_null(strstr(err.message, "8400.00 eV"));
    xanes_align_free(a);

    xanes_align_default_params(&p);
    p.reference = XANES_ALIGN_REF_FRAME;
    p.ref_frame = 7;
    a = xanes_align_alloc(EY, EX, &p, NULL);
    assert_non_null(a);
    xanes_error_clear(&err);
    assert_int_equal(xanes_align_estimate(a, stack, N, energy, shift, NULL, &err), XANES_EINVAL);
    assert_non_null(strstr(err.message, "reference frame 7 of a 4-frame"));
    shift[0] = shift[1] = 0.0;
    shift[2] = NAN;
    shift[3] = 0.0;
    xanes_error_clear(&err);
    assert_int_equal(xanes_align_apply(a, stack, 2, shift, &err), XANES_EINVAL);
    assert_non_null(strstr(err.message, "frame 1"));
    shift[2] = 130.0;
    xanes_error_clear(&err);
    assert_int_equal(xanes_align_apply(a, stack, 2, shift, &err), XANES_EINVAL);
    assert_int_equal(xanes_align_apply(a, NULL, 2, shift, NULL), XANES_EINVAL);
    xanes_align_free(a);
    free(stack);
}

/* align_prepare_shifted against its definition written out here in double:
 * the frame shifted by the Keys kernel with the edge pixels repeated, bin x
 * bin block means, all-NaN rows standing in as the mean of the finite
 * pixels, that mean removed, the windows applied.  Shifts of both signs,
 * integer and fractional, larger than a bin; bins 2 and 3 (the general
 * path of the binning), frame sides not multiples of the bin; a frame with
 * an all-NaN row. */
static double keys_w(double t, int i)
{
    double t2 = t * t, t3 = t2 * t;
    switch (i) {
    case 0:
        return -0.5 * t3 + t2 - 0.5 * t;
    case 1:
        return 1.5 * t3 - 2.5 * t2 + 1.0;
    case 2:
        return -1.5 * t3 + 2.0 * t2 + 0.5 * t;
    default:
        return 0.5 * t3 - 0.5 * t2;
    }
}

static long clampi(long i, long n)
{
    return i < 0 ? 0 : i >= n ? n - 1 : i;
}

static void check_prepare_shifted(size_t py, size_t px, size_t bin, int with_nan_row)
{
    float *f = malloc(py * px * sizeof *f), *got = malloc(py * px * sizeof *got);
    assert_true(f != NULL && got != NULL);
    rng_state = 1234 + bin;
    for (size_t i = 0; i < py * px; i++)
        f[i] = (float)(urand() + 0.3 * sin(0.2 * (double)(i % px)));
    if (with_nan_row)
        for (size_t x = 0; x < px; x++)
            f[33 * px + x] = NAN;
    xanes_align_params p;
    xanes_align_default_params(&p);
    p.bin = bin;
    xanes_align *a = xanes_align_alloc(py, px, &p, NULL);
    assert_non_null(a);
    assert_int_equal(a->p.bin, bin); /* frames large enough to keep it */
    double mean = 0.0;
    size_t cnt = 0;
    for (size_t i = 0; i < py * px; i++)
        if (isfinite(f[i])) {
            mean += f[i];
            cnt++;
        }
    mean /= (double)cnt;
    const double shifts[][2] = {{0.0, 0.0}, {0.3, -0.7}, {-2.0, 1.0}, {-3.6, 5.25}, {4.9, -0.01}};
    for (size_t c = 0; c < sizeof shifts / sizeof shifts[0]; c++) {
        double dy = shifts[c][0], dx = shifts[c][1];
        assert_int_equal(align_prepare_shifted(a, &a->s[0], f, dy, dx, got), 1);
        double sy = floor(-dy), sx = floor(-dx), fy = -dy - sy, fx = -dx - sx;
        double worst = 0.0;
        for (size_t yb = 0; yb < a->nyb; yb++)
            for (size_t xb = 0; xb < a->nxb; xb++) {
                double acc = 0.0;
                for (size_t y = yb * bin; y < (yb + 1) * bin; y++)
                    for (size_t x = xb * bin; x < (xb + 1) * bin; x++)
                        for (int i = 0; i < 4; i++) {
                            long q = clampi((long)y + (long)sy + i - 1, (long)py);
                            for (int j = 0; j < 4; j++) {
                                long r = clampi((long)x + (long)sx + j - 1, (long)px);
                                double v = f[q * (long)px + r];
                                if (isnan(v))
                                    v = mean;
                                acc += keys_w(fy, i) * keys_w(fx, j) * v;
                            }
                        }
                double v = (acc / (double)(bin * bin) - mean) * a->win_y[yb] * a->win_x[xb];
                worst = fmax(worst, fabs(v - got[yb * a->nxb + xb]));
            }
        if (!(worst < 2e-5))
            fail_msg("bin %zu shift (%g, %g): worst difference %g", bin, dy, dx, worst);
    }
    xanes_align_free(a);
    free(f);
    free(got);
}

static void test_prepare_shifted_matches_definition(void **state)
{
    (void)state;
    check_prepare_shifted(130, 150, 2, 0);
    check_prepare_shifted(200, 193, 3, 0);
    check_prepare_shifted(131, 128, 2, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_precision_noise_free),
        cmocka_unit_test(test_precision_normal_dose),
        cmocka_unit_test(test_precision_low_dose),
        cmocka_unit_test(test_precision_other_settings),
        cmocka_unit_test(test_single_reference_frame_is_absolute),
        cmocka_unit_test(test_unalignable_frames_flagged),
        cmocka_unit_test(test_nan_pixels_tolerated),
        cmocka_unit_test(test_apply_border_nan_exact),
        cmocka_unit_test(test_apply_integer_and_nan_spread),
        cmocka_unit_test(test_estimate_then_apply_registers),
        cmocka_unit_test(test_thread_count_independent),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_prepare_shifted_matches_definition),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
