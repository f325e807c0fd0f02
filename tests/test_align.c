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
                double r2 = ((double)y - cy) * ((double)y - cy) + ((double)x - cx) * ((double)x - cx);
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
     * (each particle has its own edge energy) and the fixed window. */
    double rms = run_precision(0.0, 10, NULL, NULL, NULL);
    print_message("drift rms error noise-free (defaults): %.4f px\n", rms);
    assert_true(rms <= 0.05);
}

static void test_precision_normal_dose(void **state)
{
    (void)state;
    double rms = run_precision(3000.0, 11, NULL, NULL, NULL);
    print_message("drift rms error at 3000 counts (defaults): %.4f px\n", rms);
    assert_true(rms <= 0.06);
}

static void test_precision_low_dose(void **state)
{
    (void)state;
    double rms = run_precision(300.0, 12, NULL, NULL, NULL);
    print_message("drift rms error at 300 counts (defaults): %.4f px\n", rms);
    assert_true(rms <= 0.1);
}

static void test_precision_other_settings(void **state)
{
    (void)state;
    xanes_align_params p;
    xanes_align_default_params(&p);
    p.reference = XANES_ALIGN_REF_SUM;
    double rms = run_precision(3000.0, 13, &p, NULL, NULL);
    print_message("drift rms error at 3000 counts (sum reference): %.4f px\n", rms);
    assert_true(rms <= 0.1);
    xanes_align_default_params(&p);
    p.bin = 2;
    rms = run_precision(3000.0, 14, &p, NULL, NULL);
    print_message("drift rms error at 3000 counts (bin 2): %.4f px\n", rms);
    assert_true(rms <= 0.1);
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
    assert_true(rms <= 0.1);
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
