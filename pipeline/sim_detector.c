/* sim_detector.c: the TXM detector -- flat field, counting noise, darks.
 *
 * Flat field of frame k (expected counts, before dark):
 *   F_k(y,x) = dose * I0(u) * [1 - q/2 + q exp(-|r - c(u)|^2 / 2 s^2)] * (1 + 0.02 fringe)
 * with u = k/(ne-1) the scan position, I0 a ring-current-like drift of
 * relative size flat_drift plus a small wiggle, q = flat_nonuniformity, and a
 * beam centre c(u) that walks by flat_drift times the width over the scan
 * (u is fixed at 1/2 when the flat does not drift).  Counts are
 *   sample = Poisson(F exp(-A)) + dark,  flat = Poisson(F) + dark,
 *   dark   = dark_offset + Normal(0, read_noise),
 * drawn with GSL (gsl_ran_poisson, gsl_ran_gaussian) from the scene's
 * mt19937 in a fixed order: the dark frames, then the fixed flats (when the
 * flat does not drift), then for each energy its flat (when it drifts) and
 * its sample frame, each row-major.  Noise-free mode writes the expectations.
 * Rounding to integers and clipping happen in sim_write.c.
 */
#include "sim_private.h"

#include <math.h>

#include <gsl/gsl_math.h>
#include <gsl/gsl_randist.h>

void sim_flat_build(xanes_simulate_scene *sc)
{
    gsl_rng *r = sc->rng;
    for (int j = 0; j < 4; j++)
        sc->flat_phase[j] = gsl_ran_flat(r, 0.0, 2.0 * M_PI);
    sc->flat_cy = gsl_ran_flat(r, 0.3, 0.7) * (double)sc->ny;
    sc->flat_cx = gsl_ran_flat(r, 0.3, 0.7) * (double)sc->nx;
    sc->flat_sigma = 0.6 * (double)(sc->nx > sc->ny ? sc->nx : sc->ny);
}

void xanes_simulate_flat_frame(const xanes_simulate_scene *sc, size_t k, float *out)
{
    const xanes_simulate_params *p = &sc->p;
    double u = (sc->ne > 1 && p->flat_per_energy) ? (double)k / (double)(sc->ne - 1) : 0.5;
    double i0 = 1.0 + p->flat_drift * (u - 0.5) + 0.01 * sin(6.0 * M_PI * u + sc->flat_phase[0]);
    double cy = sc->flat_cy + p->flat_drift * (double)sc->ny * (u - 0.5);
    double cx = sc->flat_cx - p->flat_drift * (double)sc->nx * (u - 0.5);
    double q = p->flat_nonuniformity, s2 = 2.0 * sc->flat_sigma * sc->flat_sigma;
    double lam = 0.37 * (double)sc->nx + 3.0;
    for (size_t y = 0; y < sc->ny; y++)
        for (size_t x = 0; x < sc->nx; x++) {
            double ry = (double)y - cy, rx = (double)x - cx;
            double beam = 1.0 - 0.5 * q + q * exp(-(ry * ry + rx * rx) / s2);
            double fringe = sin(2.0 * M_PI * ((double)x * 0.8 + (double)y * 0.6) / lam +
                                sc->flat_phase[1] + 2.0 * u);
            out[y * sc->nx + x] = (float)(p->dose_counts * i0 * beam * (1.0 + 0.02 * fringe));
        }
}

static double dark_value(xanes_simulate_scene *sc)
{
    const xanes_simulate_params *p = &sc->p;
    if (!p->noise || p->read_noise_counts <= 0)
        return p->dark_offset_counts;
    return p->dark_offset_counts + gsl_ran_gaussian(sc->rng, p->read_noise_counts);
}

static double counts(xanes_simulate_scene *sc, double expected)
{
    if (!sc->p.noise)
        return expected + sc->p.dark_offset_counts;
    double c = expected > 0 ? (double)gsl_ran_poisson(sc->rng, expected) : 0.0;
    return c + dark_value(sc);
}

void sim_detector_dark(xanes_simulate_scene *sc, double *dark_counts)
{
    for (size_t i = 0; i < sc->nx * sc->ny; i++)
        dark_counts[i] = dark_value(sc);
}

void sim_detector_frame(xanes_simulate_scene *sc, size_t k, const float *absorbance,
                        const float *flat_expected, double *sample_counts, double *flat_counts)
{
    (void)k;
    const size_t n = sc->nx * sc->ny;
    if (flat_counts != NULL)
        for (size_t i = 0; i < n; i++)
            flat_counts[i] = counts(sc, flat_expected[i]);
    if (sample_counts != NULL)
        for (size_t i = 0; i < n; i++)
            sample_counts[i] = counts(sc, flat_expected[i] * exp(-(double)absorbance[i]));
}
