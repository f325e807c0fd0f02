/* twostate.h: an analytic two-state TXM stack for the subspace and denoise
 * tests.  Every pixel of a 4 x 4 grid of discs is
 *   a + b (E - e0) + t [(1 - w) fA(E) + w fB(E)]
 * (fA, fB: arctan edges with white lines at different energies and widths;
 * a, b vary smoothly over the image, t is the disc's thickness profile, w
 * the disc's state), so the noise-free spectra span exactly
 * {1, E, fA, fB}; optional white noise in absorbance.  make_stack_bent adds
 * bend w (1 - w) fC(E), a third shape strongest between the two states. */
#ifndef XANES_TEST_TWOSTATE_H
#define XANES_TEST_TWOSTATE_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include <gsl/gsl_math.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#define NE 48
#define NY 96
#define NX 96
#define E0 8355.1

static inline double energy(size_t k)
{
    /* sparse below and above the edge, 1.75 eV across it, like a TXM scan */
    double e = 8300.0;
    for (size_t i = 0; i < k; i++)
        e += (e < 8340.0 || e > 8372.0) ? 4.1 : 1.75;
    return e;
}

static inline void energies(double *e)
{
    for (size_t k = 0; k < NE; k++)
        e[k] = energy(k);
}

static inline double fA(double e)
{
    return 0.5 + atan((e - 8354.3) / 1.4) / M_PI + 0.5 * exp(-pow((e - 8358.0) / 2.6, 2));
}

static inline double fB(double e)
{
    return 0.5 + atan((e - 8357.2) / 1.9) / M_PI + 0.3 * exp(-pow((e - 8361.0) / 3.1, 2));
}

/* Particle index of pixel (y, x) on a 4 x 4 grid of discs (0 = none) and
 * its state w (particle-dependent, 0.05..0.95). */
static inline int32_t particle_at(size_t y, size_t x, double *w, double *t)
{
    size_t gy = y / 24, gx = x / 24;
    double cy = (double)gy * 24.0 + 11.5, cx = (double)gx * 24.0 + 11.5;
    double r2 = ((double)y - cy) * ((double)y - cy) + ((double)x - cx) * ((double)x - cx);
    if (r2 > 9.3 * 9.3)
        return 0;
    int32_t id = (int32_t)(gy * 4 + gx + 1);
    *w = 0.05 + 0.9 * (double)((id * 7) % 16) / 15.0;
    *t = 0.4 * sqrt(1.0 - r2 / (9.3 * 9.3)) + 0.05;
    return id;
}

/* A third, weak shape: a peak between the two edges, which a mixture
 * (1 - w) fA + w fB + bend w (1 - w) fC carries most in the middle of the
 * two states (a spectrum family that bends, as real ones do). */
static inline double fC(double e)
{
    return exp(-pow((e - 8356.0) / 1.5, 2));
}

/* stack [NE][NY][NX], labels, optional noise (sd in absorbance) and bend
 * (0: exactly two states). */
static inline void make_stack_bent(float *stack, int32_t *labels, double noise_sd,
                                   unsigned long seed, double bend)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    for (size_t y = 0; y < NY; y++)
        for (size_t x = 0; x < NX; x++) {
            double w = 0.0, t = 0.0;
            labels[y * NX + x] = particle_at(y, x, &w, &t);
            double a = 0.2 + 0.05 * sin(0.07 * (double)x),
                   b = -1.0e-3 * (1.0 + 0.3 * cos(0.05 * (double)y));
            for (size_t k = 0; k < NE; k++) {
                double e = energy(k);
                double v = a + b * (e - E0) +
                           t * ((1.0 - w) * fA(e) + w * fB(e) + bend * w * (1.0 - w) * fC(e));
                stack[(k * NY + y) * NX + x] =
                    (float)(v + (noise_sd > 0 ? gsl_ran_gaussian(r, noise_sd) : 0.0));
            }
        }
    gsl_rng_free(r);
}

static inline void make_stack(float *stack, int32_t *labels, double noise_sd, unsigned long seed)
{
    make_stack_bent(stack, labels, noise_sd, seed, 0.0);
}

static inline void particle_mean(const float *stack, const int32_t *labels, int32_t id, double *m)
{
    size_t n = 0;
    for (size_t k = 0; k < NE; k++)
        m[k] = 0.0;
    for (size_t p = 0; p < (size_t)NY * NX; p++)
        if (labels[p] == id) {
            for (size_t k = 0; k < NE; k++)
                m[k] += stack[k * NY * NX + p];
            n++;
        }
    for (size_t k = 0; k < NE; k++)
        m[k] /= (double)n;
}

#endif
