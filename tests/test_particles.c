/* test_particles.c: stage 6, per-particle statistics and SoC.
 *
 * Truth: (1) per-pixel edge maps with hand-set values, whose mean, sample
 * standard deviation, median and overcharged share are recomputed here with
 * plain loops and qsort (not GSL), and SoC / valence from straight lines
 * through the published standards (NiO 8353.01 eV = Ni2+, delithiated NCM
 * 8358.0 eV = Ni4+ / SoC 1, pristine NCM 8355.10 eV = SoC 0, threshold
 * 8357.0 eV), worked by hand; (2) noise-free synthetic stacks whose pixels
 * are arctan (or erf) edges at E0 +/- delta in symmetric pairs, so the
 * averaged spectrum of a particle is symmetric about the particle's E0: its
 * derivative maximum and its half-height crossing are both exactly E0.
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
#include <gsl/gsl_math.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <omp.h>

#include "testutil.h"
#include "xanes/normalize.h"
#include "xanes/particles.h"
#include "xanes/standards.h"

/* This cmocka has no assert_double_equal; name the values on failure. */
#define assert_near(a, b, tol)                                                                     \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (!(fabs(a_ - b_) <= (tol)))                                                             \
            fail_msg("%s = %.12g, expected %.12g (tol %g)", #a, a_, b_, (double)(tol));            \
    } while (0)

/* The published scales, written out (not read through standards.h). */
#define NIO_EV 8353.01
#define NI4_EV 8358.0
#define PRISTINE_EV 8355.10
#define OVER_EV 8357.0

static double soc_truth(double e)
{
    return (e - PRISTINE_EV) / (NI4_EV - PRISTINE_EV);
}

static double valence_truth(double e)
{
    return 2.0 + 2.0 * (e - NIO_EV) / (NI4_EV - NIO_EV);
}

static xanes_standards load_standards(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/calibration/standards.json", XANES_SOURCE_DIR);
    xanes_standards s;
    xanes_error err;
    xanes_error_clear(&err);
    if (xanes_standards_load(path, &s, &err) != XANES_OK)
        fail_msg("%s", err.message);
    return s;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Three particles with given edges, NaN (gated) pixels, a pixel exactly at
 * the threshold (not overcharged: strictly above), an empty label 4. */
static void test_pixel_statistics(void **state)
{
    (void)state;
    enum { NY = 9, NX = 11 };
    int32_t lab[NY * NX] = {0};
    float edge[NY * NX];
    for (size_t p = 0; p < NY * NX; p++)
        edge[p] = NAN;
    /* particle 1: 3x4 block at rows 1-3, cols 1-4; particle 2: 2x5 at rows
     * 6-7, cols 2-6; particle 3: a 1x3 bar at row 2, cols 7-9. */
    const float e1[12] = {8355.37f, 8356.12f, NAN,      8354.98f, 8357.0f, 8357.41f,
                          8356.66f, NAN,      8355.73f, 8356.05f, 8358.2f, 8355.51f};
    const float e2[10] = {8353.77f, 8354.02f, 8353.95f, 8354.4f,  8353.6f,
                          8354.13f, NAN,      8353.88f, 8354.21f, 8353.7f};
    const float e3[3] = {8357.6f, NAN, 8357.2f};
    size_t k = 0;
    for (size_t y = 1; y <= 3; y++)
        for (size_t x = 1; x <= 4; x++, k++) {
            lab[y * NX + x] = 1;
            edge[y * NX + x] = e1[k];
        }
    k = 0;
    for (size_t y = 6; y <= 7; y++)
        for (size_t x = 2; x <= 6; x++, k++) {
            lab[y * NX + x] = 2;
            edge[y * NX + x] = e2[k];
        }
    for (size_t x = 7; x <= 9; x++) {
        lab[2 * NX + x] = 3;
        edge[2 * NX + x] = e3[x - 7];
    }
    edge[0] = 8350.0f; /* background edges are ignored */
    xanes_standards std = load_standards();
    xanes_particles_input in = {0};
    in.ny = NY;
    in.nx = NX;
    in.labels = lab;
    in.n_labels = 4;
    in.edge_ev = edge;
    in.standards = &std;
    xanes_particle *pt = NULL;
    size_t np = 0;
    xanes_error err;
    xanes_error_clear(&err);
    assert_int_equal(xanes_particles_compute(&in, &pt, &np, &err), XANES_OK);
    assert_int_equal(np, 4);
    const float *vals[3] = {e1, e2, e3};
    const size_t nv[3] = {12, 10, 3};
    const double cx[3] = {2.5, 4.0, 8.0}, cy[3] = {2.0, 6.5, 2.0};
    for (size_t i = 0; i < 3; i++) {
        double v[12];
        size_t m = 0, over = 0;
        for (size_t j = 0; j < nv[i]; j++)
            if (isfinite(vals[i][j])) {
                v[m++] = (double)vals[i][j];
                over += (double)vals[i][j] > OVER_EV;
            }
        double sum = 0.0, ss = 0.0;
        for (size_t j = 0; j < m; j++)
            sum += v[j];
        double mean = sum / (double)m;
        for (size_t j = 0; j < m; j++)
            ss += (v[j] - mean) * (v[j] - mean);
        qsort(v, m, sizeof v[0], cmp_double);
        double median = m % 2 ? v[m / 2] : 0.5 * (v[m / 2 - 1] + v[m / 2]);
        assert_int_equal(pt[i].label, (int32_t)i + 1);
        assert_int_equal(pt[i].area_px, nv[i]);
        assert_int_equal(pt[i].n_valid_px, m);
        assert_near(pt[i].centroid_x_px, cx[i], 1e-12);
        assert_near(pt[i].centroid_y_px, cy[i], 1e-12);
        assert_near(pt[i].edge_mean_ev, mean, 1e-9);
        assert_near(pt[i].edge_std_ev, sqrt(ss / (double)(m - 1)), 1e-9);
        assert_near(pt[i].edge_median_ev, median, 0.0);
        assert_near(pt[i].soc_mean, soc_truth(mean), 1e-9);
        assert_near(pt[i].valence_mean, valence_truth(mean), 1e-9);
        assert_near(pt[i].overcharged_fraction, (double)over / (double)m, 0.0);
        assert_true(isnan(pt[i].edge_mean_spectrum_ev));
    }
    /* Worked by hand: particle 1 has 8357.41, 8358.2 above 8357.0 (8357.0
     * itself is not) out of 10 valid; particle 3 both of its 2. */
    assert_near(pt[0].overcharged_fraction, 0.2, 0.0);
    assert_near(pt[1].overcharged_fraction, 0.0, 0.0);
    assert_near(pt[2].overcharged_fraction, 1.0, 0.0);
    assert_near(pt[2].edge_median_ev, 0.5 * ((double)8357.6f + (double)8357.2f), 0.0);
    /* Empty label: area 0, everything NaN. */
    assert_int_equal(pt[3].area_px, 0);
    assert_int_equal(pt[3].n_valid_px, 0);
    assert_true(isnan(pt[3].edge_mean_ev) && isnan(pt[3].edge_std_ev) && isnan(pt[3].soc_mean) &&
                isnan(pt[3].overcharged_fraction) && isnan(pt[3].centroid_x_px));
    xanes_particles_free(pt);
    /* Without standards the calibrated columns are NaN, the rest unchanged. */
    in.standards = NULL;
    assert_int_equal(xanes_particles_compute(&in, &pt, &np, &err), XANES_OK);
    assert_true(isnan(pt[0].soc_mean) && isnan(pt[0].valence_mean) &&
                isnan(pt[0].overcharged_fraction));
    assert_true(isfinite(pt[0].edge_mean_ev));
    xanes_particles_free(pt);
    xanes_particles_free(NULL);
}

/* ---- synthetic stacks ---------------------------------------------------- */

enum { SNY = 16, SNX = 20 };

typedef struct {
    size_t ne;
    double *energy;
    float *stack; /* [ne][SNY][SNX] */
    float *edge;  /* [SNY * SNX] per-pixel true edge */
    int32_t lab[SNY * SNX];
    double e0[3];
} synth;

static const size_t rect[3][4] = {{1, 5, 1, 7}, {8, 13, 2, 9}, {2, 6, 11, 17}}; /* y0 y1 x0 x1 */

/* Pixel j of a particle: pairs (2i, 2i+1) share amplitude and base and sit at
 * E0 + d and E0 - d; an odd last pixel sits at E0.  step: 0 arctan of half
 * width 1.2 eV, 1 erf of sigma 1.5 eV (flat tails). */
static void synth_make(synth *s, int step)
{
    memset(s, 0, sizeof *s);
    double grid[400];
    size_t ne = 0;
    for (double e = 8230.0; e < 8330.0; e += 5.0)
        grid[ne++] = e;
    for (double e = 8330.0; e < 8380.0 - 1e-9; e += 0.2)
        grid[ne++] = e;
    for (double e = 8380.0; e <= 8600.0; e += 10.0)
        grid[ne++] = e;
    s->ne = ne;
    s->energy = malloc(ne * sizeof *s->energy);
    s->stack = malloc(ne * SNY * SNX * sizeof *s->stack);
    s->edge = malloc(SNY * SNX * sizeof *s->edge);
    assert_true(s->energy && s->stack && s->edge);
    memcpy(s->energy, grid, ne * sizeof *grid);
    s->e0[0] = 8354.37;
    s->e0[1] = 8356.83;
    s->e0[2] = 8357.46;
    size_t j[3] = {0, 0, 0};
    for (size_t p = 0; p < SNY * SNX; p++) {
        size_t y = p / SNX, x = p % SNX;
        int32_t l = 0;
        for (int r = 0; r < 3; r++)
            if (y >= rect[r][0] && y <= rect[r][1] && x >= rect[r][2] && x <= rect[r][3])
                l = r + 1;
        s->lab[p] = l;
        double c = 0.0, amp = 0.0, base = 0.05;
        size_t area = 0;
        if (l > 0) {
            area = (rect[l - 1][1] - rect[l - 1][0] + 1) * (rect[l - 1][3] - rect[l - 1][2] + 1);
            size_t i = j[l - 1]++, pair = i / 2;
            double d = (area % 2 == 1 && i == area - 1) ? 0.0 : 0.1 + 0.05 * (double)(pair % 4);
            c = s->e0[l - 1] + (i % 2 ? -d : d);
            amp = 0.8 + 0.1 * (double)(pair % 3);
            base = 0.1 + 0.02 * (double)(pair % 5);
        }
        s->edge[p] = l > 0 ? (float)c : NAN;
        for (size_t k = 0; k < ne; k++) {
            double e = grid[k], mu = base + 2e-4 * (e - 8350.0);
            if (l > 0)
                mu += step == 0 ? amp * (0.5 + atan((e - c) / 1.2) / M_PI)
                                : amp * 0.5 * erfc(-(e - c) / (1.5 * M_SQRT2));
            s->stack[k * SNY * SNX + p] = (float)mu;
        }
    }
}

static void synth_free(synth *s)
{
    free(s->energy);
    free(s->stack);
    free(s->edge);
}

static xanes_particles_input synth_input(const synth *s, const xanes_standards *std)
{
    xanes_particles_input in = {0};
    in.ny = SNY;
    in.nx = SNX;
    in.labels = s->lab;
    in.n_labels = 3;
    in.edge_ev = s->edge;
    in.stack = s->stack;
    in.energy_ev = s->energy;
    in.n_energy = s->ne;
    in.standards = std;
    return in;
}

/* Derivative edge of the averaged arctan spectra, through xanes_normalize_run
 * and through a shared plan: both equal each particle's E0. */
static void test_mean_spectrum_edge_arctan(void **state)
{
    (void)state;
    synth s;
    synth_make(&s, 0);
    xanes_standards std = load_standards();
    xanes_particles_input in = synth_input(&s, &std);
    in.edge_kind = XANES_PARTICLES_EDGE_DERIV;
    xanes_error err;
    xanes_error_clear(&err);
    xanes_normalize_params np;
    xanes_normalize_default_params(&np);
    np.e0_ev = 8355.8;
    xanes_normalize_plan *plan = xanes_normalize_plan_alloc(s.energy, s.ne, &np, &err);
    if (plan == NULL)
        fail_msg("%s", err.message);
    for (int use_plan = 0; use_plan < 2; use_plan++) {
        in.plan = use_plan ? plan : NULL;
        xanes_particle *pt = NULL;
        size_t n = 0;
        assert_int_equal(xanes_particles_compute(&in, &pt, &n, &err), XANES_OK);
        assert_int_equal(n, 3);
        for (size_t l = 0; l < 3; l++) {
            if (!(fabs(pt[l].edge_mean_spectrum_ev - s.e0[l]) <= 0.01))
                fail_msg("%s: particle %zu averaged-spectrum edge %.5f eV, truth %.5f eV",
                         use_plan ? "plan" : "run", l + 1, pt[l].edge_mean_spectrum_ev, s.e0[l]);
            assert_int_equal(pt[l].n_spectrum_px, pt[l].area_px);
            /* The pixel edges are the symmetric set too: mean = median = E0
             * (to float rounding of the map). */
            assert_near(pt[l].edge_mean_ev, s.e0[l], 1e-3);
            assert_near(pt[l].edge_median_ev, s.e0[l], 1e-3);
            /* amplitudes 0.8/0.9/1.0 in turn */
            assert_true(pt[l].edge_step_spectrum > 0.8 && pt[l].edge_step_spectrum < 1.0);
        }
        xanes_particles_free(pt);
    }
    /* A plan built on a longer grid than the stack's: no edge, no overrun
     * (the ASan run checks the reads). */
    in.plan = plan;
    in.n_energy = s.ne - 10;
    xanes_particle *pt = NULL;
    size_t n = 0;
    assert_int_equal(xanes_particles_compute(&in, &pt, &n, &err), XANES_OK);
    for (size_t l = 0; l < 3; l++)
        assert_true(isnan(pt[l].edge_mean_spectrum_ev));
    xanes_particles_free(pt);
    xanes_normalize_plan_free(plan);
    synth_free(&s);
}

/* Half-height edge of averaged erf spectra (flat tails, so the larch
 * normalization is exact and the half crossing is E0); a pixel with a NaN
 * at one energy is left out of the average (it is particle 1's unpaired
 * pixel at E0, so the truth does not move). */
static void test_mean_spectrum_edge_half_and_nan(void **state)
{
    (void)state;
    synth s;
    synth_make(&s, 1);
    size_t last = 5 * SNX + 7; /* particle 1's last pixel (35 px, odd) */
    assert_int_equal(s.lab[last], 1);
    s.stack[17 * SNY * SNX + last] = NAN;
    xanes_particles_input in = synth_input(&s, NULL);
    in.edge_kind = XANES_PARTICLES_EDGE_HALF;
    xanes_particle *pt = NULL;
    size_t n = 0;
    xanes_error err;
    xanes_error_clear(&err);
    assert_int_equal(xanes_particles_compute(&in, &pt, &n, &err), XANES_OK);
    assert_int_equal(pt[0].n_spectrum_px, 34);
    assert_int_equal(pt[0].area_px, 35);
    for (size_t l = 0; l < 3; l++)
        if (!(fabs(pt[l].edge_mean_spectrum_ev - s.e0[l]) <= 0.01))
            fail_msg("particle %zu half edge %.5f eV, truth %.5f eV", l + 1,
                     pt[l].edge_mean_spectrum_ev, s.e0[l]);
    xanes_particles_free(pt);
    /* The averaged spectra themselves against a direct average. */
    double *mean = malloc(3 * s.ne * sizeof *mean);
    size_t count[3];
    assert_non_null(mean);
    assert_int_equal(xanes_particles_mean_spectra(&in, mean, count, &err), XANES_OK);
    assert_int_equal(count[0], 34);
    assert_int_equal(count[1], 48);
    assert_int_equal(count[2], 35);
    for (size_t l = 0; l < 3; l++)
        for (size_t k = 0; k < s.ne; k += 7) {
            double sum = 0.0;
            size_t m = 0;
            for (size_t p = 0; p < SNY * SNX; p++)
                if (s.lab[p] == (int32_t)l + 1 && p != last) {
                    sum += s.stack[k * SNY * SNX + p];
                    m++;
                }
            assert_near(mean[l * s.ne + k], sum / (double)m, 1e-12);
        }
    free(mean);
    synth_free(&s);
}

/* Noisy stack with many particles: 1 and 3 threads give identical bits. */
static void test_thread_independence(void **state)
{
    (void)state;
    size_t ny = 96, nx = 120, n = ny * nx, ne = 60, nl = 40;
    int32_t *lab = malloc(n * sizeof *lab);
    float *edge = malloc(n * sizeof *edge), *stack = malloc(ne * n * sizeof *stack);
    double *energy = malloc(ne * sizeof *energy);
    assert_true(lab && edge && stack && energy);
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 5);
    for (size_t k = 0; k < ne; k++)
        energy[k] = 8320.0 + 1.0 * (double)k;
    for (size_t p = 0; p < n; p++) {
        lab[p] = (int32_t)gsl_rng_uniform_int(rng, nl + 1);
        edge[p] = gsl_rng_uniform(rng) < 0.1 ? NAN : (float)(8355.0 + gsl_ran_gaussian(rng, 1.0));
        for (size_t k = 0; k < ne; k++)
            stack[k * n + p] =
                (float)(0.1 + 0.9 * (0.5 + atan((energy[k] - edge[p]) / 1.5) / M_PI) +
                        gsl_ran_gaussian(rng, 0.02));
    }
    gsl_rng_free(rng);
    xanes_standards std = load_standards();
    xanes_particles_input in = {0};
    in.ny = ny;
    in.nx = nx;
    in.labels = lab;
    in.n_labels = nl;
    in.edge_ev = edge;
    in.stack = stack;
    in.energy_ev = energy;
    in.n_energy = ne;
    in.standards = &std;
    in.edge_kind = XANES_PARTICLES_EDGE_DERIV;
    xanes_particle *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    assert_int_equal(xanes_particles_compute(&in, &a, &na, NULL), XANES_OK);
    omp_set_num_threads(3);
    assert_int_equal(xanes_particles_compute(&in, &b, &nb, NULL), XANES_OK);
    omp_set_num_threads(saved);
    assert_int_equal(na, nl);
    assert_int_equal(nb, nl);
    for (size_t l = 0; l < nl; l++) {
        assert_true(isfinite(a[l].edge_mean_spectrum_ev));
        /* Field by field (struct padding is not compared); doubles bitwise. */
        assert_int_equal(a[l].label, b[l].label);
        assert_int_equal(a[l].area_px, b[l].area_px);
        assert_int_equal(a[l].n_valid_px, b[l].n_valid_px);
        assert_int_equal(a[l].n_spectrum_px, b[l].n_spectrum_px);
        const double fa[] = {a[l].centroid_x_px,      a[l].centroid_y_px,
                             a[l].edge_mean_ev,       a[l].edge_std_ev,
                             a[l].edge_median_ev,     a[l].edge_mean_spectrum_ev,
                             a[l].edge_step_spectrum, a[l].soc_mean,
                             a[l].valence_mean,       a[l].overcharged_fraction};
        const double fb[] = {b[l].centroid_x_px,      b[l].centroid_y_px,
                             b[l].edge_mean_ev,       b[l].edge_std_ev,
                             b[l].edge_median_ev,     b[l].edge_mean_spectrum_ev,
                             b[l].edge_step_spectrum, b[l].soc_mean,
                             b[l].valence_mean,       b[l].overcharged_fraction};
        assert_memory_equal(fa, fb, sizeof fa);
    }
    xanes_particles_free(a);
    xanes_particles_free(b);
    free(lab);
    free(edge);
    free(stack);
    free(energy);
}

static void test_bad_input(void **state)
{
    (void)state;
    int32_t lab[6] = {0, 1, 1, 2, 0, 3};
    float edge[6] = {NAN, 8355.0f, 8355.5f, 8356.0f, NAN, 8354.0f};
    xanes_particles_input in = {0};
    in.ny = 2;
    in.nx = 3;
    in.labels = lab;
    in.n_labels = 2;
    in.edge_ev = edge;
    xanes_particle *pt = (xanes_particle *)&in; /* must come back NULL */
    size_t n = 99;
    xanes_error err;
    xanes_error_clear(&err);
    assert_int_equal(xanes_particles_compute(&in, &pt, &n, &err), XANES_EDATA);
    assert_null(pt);
    assert_int_equal(n, 0);
    assert_non_null(strstr(err.message, "label 3 at pixel (y 1, x 2) is outside 0..2"));
    /* The same check on the spectra's footprints. */
    int32_t lab_ok[6] = {0, 1, 1, 2, 0, 2}, grown[6] = {1, 1, 1, 2, 5, 2};
    in.labels = lab_ok;
    in.spectrum_labels = grown;
    xanes_error_clear(&err);
    assert_int_equal(xanes_particles_compute(&in, &pt, &n, &err), XANES_EDATA);
    assert_non_null(strstr(err.message, "spectrum label 5 at pixel (y 1, x 1) is outside 0..2"));
    in.labels = lab;
    in.spectrum_labels = NULL;
    in.n_labels = 3;
    in.stack = edge;
    double energy[6] = {1, 2, 3, 4, 5, 6};
    in.energy_ev = energy;
    in.n_energy = 6;
    xanes_error_clear(&err);
    assert_int_equal(xanes_particles_compute(&in, &pt, &n, &err), XANES_EINVAL);
    assert_non_null(strstr(err.message, "at least 7 energies"));
    double energy7[7] = {8300, 8310, 8320, 8320, 8340, 8350, 8360};
    float stack7[7 * 6] = {0};
    in.stack = stack7;
    in.energy_ev = energy7;
    in.n_energy = 7;
    xanes_error_clear(&err);
    assert_int_equal(xanes_particles_compute(&in, &pt, &n, &err), XANES_EDATA);
    assert_non_null(strstr(err.message, "energy[3] = 8320.0000 eV after 8320.0000 eV"));
    in.stack = NULL;
    in.edge_ev = NULL;
    xanes_error_clear(&err);
    assert_int_equal(xanes_particles_compute(&in, &pt, &n, &err), XANES_EINVAL);
    assert_non_null(strstr(err.message, "no edge-energy map"));
    xanes_error_clear(&err);
    assert_int_equal(xanes_particles_compute(NULL, &pt, &n, &err), XANES_EINVAL);
    /* Zero particles: success, nothing allocated. */
    int32_t zero[6] = {0};
    in.edge_ev = edge;
    in.labels = zero;
    in.n_labels = 0;
    assert_int_equal(xanes_particles_compute(&in, &pt, &n, NULL), XANES_OK);
    assert_null(pt);
    assert_int_equal(n, 0);
    /* A flat averaged spectrum has no edge: NaN, not an error. */
    in.labels = lab;
    in.n_labels = 3;
    in.stack = NULL;
    float flat[10 * 6];
    double e10[10];
    for (size_t k = 0; k < 10; k++) {
        e10[k] = 8300.0 + 10.0 * (double)k;
        for (size_t p = 0; p < 6; p++)
            flat[k * 6 + p] = 0.5f;
    }
    in.stack = flat;
    in.energy_ev = e10;
    in.n_energy = 10;
    assert_int_equal(xanes_particles_compute(&in, &pt, &n, &err), XANES_OK);
    assert_int_equal(n, 3);
    for (size_t l = 0; l < 3; l++) {
        assert_true(isnan(pt[l].edge_mean_spectrum_ev));
        assert_int_equal(pt[l].n_spectrum_px, l == 0 ? 2 : 1);
    }
    xanes_particles_free(pt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pixel_statistics),
        cmocka_unit_test(test_mean_spectrum_edge_arctan),
        cmocka_unit_test(test_mean_spectrum_edge_half_and_nan),
        cmocka_unit_test(test_thread_independence),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
