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
 * drawn with GSL (gsl_ran_poisson, gsl_ran_gaussian).  Each image row of
 * each frame has its own mt19937 stream, seeded by a splitmix64 hash of
 * (seed, kind of frame, frame index, row), noise_seed standing for seed when
 * given: rows are drawn in parallel
 * (OpenMP, one generator per thread, reseeded per row), and the bytes do not
 * depend on the thread count or order.  Noise-free mode writes the
 * expectations.
 * Rounding to integers and clipping happen in sim_write.c.
 */
#include "sim_private.h"

#include <math.h>
#include <omp.h>

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

/* splitmix64 finalizer (Steele, Lea, Flood 2014): decorrelates the stream
 * seeds of neighbouring rows and frames. */
static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

unsigned long sim_stream_seed(const xanes_simulate_scene *sc, int kind, size_t k, size_t row)
{
    uint64_t h = mix64((uint64_t)(sc->p.noise_seed != 0 ? sc->p.noise_seed : sc->p.seed));
    h = mix64(h ^ (uint64_t)kind);
    h = mix64(h ^ (uint64_t)k);
    h = mix64(h ^ (uint64_t)row);
    return (unsigned long)(h & 0xffffffffUL);
}

void sim_detector_counts(const xanes_simulate_scene *sc, int kind, size_t k, const float *flat,
                         const float *absorbance, double *out)
{
    const size_t nx = sc->nx, ny = sc->ny;
    const int noise = sc->p.noise;
    const double offset = sc->p.dark_offset_counts, rn = sc->p.read_noise_counts;
    gsl_rng **rngs = sc->rngs;
#pragma omp parallel for default(none) shared(sc, flat, absorbance, out, rngs)                     \
    firstprivate(nx, ny, noise, offset, rn, kind, k) schedule(static)
    for (size_t y = 0; y < ny; y++) {
        gsl_rng *r = rngs[omp_get_thread_num()];
        if (noise)
            gsl_rng_set(r, sim_stream_seed(sc, kind, k, y));
        for (size_t x = 0; x < nx; x++) {
            size_t i = y * nx + x;
            double mean = 0.0;
            if (flat != NULL)
                mean = absorbance != NULL ? flat[i] * exp(-(double)absorbance[i]) : flat[i];
            double c = mean + offset;
            if (noise) {
                c = (mean > 0 ? (double)gsl_ran_poisson(r, mean) : 0.0) + offset;
                if (rn > 0)
                    c += gsl_ran_gaussian(r, rn);
            }
            out[i] = c;
        }
    }
}
