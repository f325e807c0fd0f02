/* edge.h: edge energies of one spectrum on plain arrays.
 *
 * Three definitions, all allocation-free and thread-safe:
 *   - find_e0: larch's find_e0 (0.9.58) rule, a sample index;
 *   - half edge: the energy where the normalized spectrum first reaches a
 *     level (0.5) at or after a start index (the end of the pre-edge range),
 *     linearly interpolated between the two bracketing samples;
 *   - derivative edge: the maximum of dmu/dE refined below the sample
 *     spacing by the vertex of the parabola through the three derivative
 *     values around the largest one (exact for a quadratic peak, valid on a
 *     non-uniform grid).  The secant slopes smooth the derivative, so the
 *     vertex carries an O(h^2) bias for asymmetric edges: for an arctan edge
 *     (gamma 1.9 eV) with a white line, 2e-4 eV at h = 0.1 eV, 2.5e-3 eV at
 *     0.25 eV, 0.01 eV at 0.5 eV, 0.02 eV at 1 eV (tests/test_normalize.c);
 *     a local quintic fit is more accurate noise-free but amplifies noise,
 *     which matters more per pixel.
 */
#ifndef XANES_EDGE_H
#define XANES_EDGE_H

#include <stddef.h>

#include "xanes/status.h"

/* dmude[i] = gradient(mu)/gradient(E) exactly as larch's
 * np.gradient(mu)/np.gradient(energy): central differences
 * (mu[i+1]-mu[i-1])/(E[i+1]-E[i-1]) inside, one-sided at both ends.  n >= 2.
 * dmude is caller-owned [n].  Thread-safe. */
void xanes_edge_dmude(const double *energy_ev, const double *mu, size_t n, double *dmude);

/* larch find_e0 (0.9.58 _finde0): with dmu = xanes_edge_dmude,
 * nmin = max(3, floor(0.05 n)), the index i in [nmin, n-nmin] with the
 * largest dmu[i] > 0 whose neighbours i-1 and i+1 both exceed 10% of the
 * maximum of dmu over [nmin, n-nmin).  scratch is [n] doubles (receives
 * dmude).  Returns XANES_EDATA (n < 7, or no such point: larch would then
 * silently return energy[0]) or XANES_EINVAL (NULL).  Thread-safe. */
xanes_status xanes_edge_find_e0(const double *energy_ev, const double *mu, size_t n,
                                double *scratch, size_t *ie0, xanes_error *err);

/* Half-edge energy: the first i >= start+1 with norm[i-1] < level <= norm[i];
 * returns the linear interpolation between (E[i-1], norm[i-1]) and
 * (E[i], norm[i]).  Starting at the end of the pre-edge range means "first
 * crossing above the pre-edge": pre-edge peaks far below the level and noise
 * before the range cannot be picked.  Returns XANES_EDATA when norm[start] is
 * already >= level or no crossing exists (*edge_ev = NaN), XANES_EINVAL for
 * NULL or start >= n.  Thread-safe. */
xanes_status xanes_edge_half(const double *energy_ev, const double *norm, size_t n, size_t start,
                             double level, double *edge_ev, xanes_error *err);

/* How the half edge is interpolated between its two bracketing samples. */
typedef enum {
    XANES_EDGE_CROSS_LINEAR = 0, /* straight line (larch)                       */
    XANES_EDGE_CROSS_STEFFEN     /* Steffen's monotone cubic through the samples
                                  * (GSL gsl_interp_steffen): unbiased to a few
                                  * hundredths of an eV where the linear
                                  * crossing is a tenth early on 1.75 eV steps */
} xanes_edge_crossing;

/* xanes_edge_half with a choice of interpolation (same bracket, statuses and
 * thread-safety); the Steffen crossing is the root of the cubic on the
 * bracket to 1e-10 of its width (2e-10 eV on 1.75 eV steps). */
xanes_status xanes_edge_half_interp(const double *energy_ev, const double *norm, size_t n,
                                    size_t start, double level, xanes_edge_crossing how,
                                    double *edge_ev, xanes_error *err);

/* The crossing of level inside the bracket [energy_ev[i], energy_ev[i+1]]
 * (norm[i] < level <= norm[i+1], i + 1 < n), interpolated as `how` says;
 * the Steffen slopes read norm[i-1] and norm[i+2] where they exist, so a
 * caller may pass any window of the spectrum that holds them (the ends of
 * the whole spectrum must stay ends).  Pure. */
double xanes_edge_cross_bracket(const double *energy_ev, const double *norm, size_t n, size_t i,
                                double level, xanes_edge_crossing how);

/* Steffen's cubic through (x[j], y[j]), j = 0..n-1 (n >= 2, x increasing),
 * evaluated at e in [x[i], x[i+1]], i + 1 < n: equal to GSL's
 * gsl_interp_steffen (tests/test_edge.c) without its allocation.  Pure. */
double xanes_edge_steffen_eval(const double *x, const double *y, size_t n, size_t i, double e);

/* Derivative edge: finds i in [lo, hi) with the largest dmude[i] (dmude as
 * from xanes_edge_dmude), then the vertex of the parabola through the three
 * points (x[j], dmude[j]), j = i-1, i, i+1, where x[j] is the midpoint
 * (E[j-1]+E[j+1])/2 of the central difference (the abscissa at which the
 * secant slope is second-order accurate on a non-uniform grid; E[j] at the
 * two ends).  When i is the first or last sample, or the three points are
 * not concave, returns x[i].  Returns XANES_EINVAL (NULL, lo >= hi, hi > n,
 * n < 3).  Thread-safe. */
xanes_status xanes_edge_deriv(const double *energy_ev, const double *dmude, size_t n, size_t lo,
                              size_t hi, double *edge_ev, xanes_error *err);

#endif
