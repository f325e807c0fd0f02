/* edge.c: edge energies of one spectrum (larch find_e0, half edge,
 * derivative maximum) on plain arrays.
 *
 * find_e0 reproduces larch 0.9.58 larch/xafs/pre_edge.py:_finde0 step by
 * step, including its arithmetic (np.gradient with unit spacing on both mu
 * and energy, then their ratio), so ties and thresholds fall the same way.
 * The half edge is the first upward crossing of a level by the normalized
 * spectrum after a start index, interpolated between the bracketing samples
 * either linearly (larch) or on Steffen's monotone cubic (M. Steffen, Astron.
 * Astrophys. 239, 443 (1990), the interpolant of GSL's gsl_interp_steffen,
 * whose slopes are reproduced here for the two bracketing samples only, so
 * the per-pixel path needs no allocation): at 1.75 eV sampling the linear
 * crossing of a Ni K edge sits about 0.1 eV below the crossing of the
 * sampled spectrum itself, the cubic within about 0.04 eV, and being
 * monotone the cubic has exactly one crossing in the bracket.  The derivative edge refines the largest central-difference slope
 * by the vertex of the parabola through it and its two neighbours, each slope
 * placed at the midpoint of its difference interval.  Sizes: any n >= 3;
 * O(n) work, no allocation.
 */
#include "xanes/edge.h"

#include <math.h>

void xanes_edge_dmude(const double *energy_ev, const double *mu, size_t n, double *dmude)
{
    if (n < 2)
        return;
    /* numpy.gradient(f) with unit spacing: (f[i+1]-f[i-1])/2 inside,
     * first differences at the ends; larch divides gradient(mu) by
     * gradient(energy).  Keep the same operations for identical rounding. */
    dmude[0] = (mu[1] - mu[0]) / (energy_ev[1] - energy_ev[0]);
    for (size_t i = 1; i + 1 < n; i++) {
        double gm = (mu[i + 1] - mu[i - 1]) / 2.0;
        double ge = (energy_ev[i + 1] - energy_ev[i - 1]) / 2.0;
        dmude[i] = gm / ge;
    }
    dmude[n - 1] = (mu[n - 1] - mu[n - 2]) / (energy_ev[n - 1] - energy_ev[n - 2]);
}

xanes_status xanes_edge_find_e0(const double *energy_ev, const double *mu, size_t n,
                                double *scratch, size_t *ie0, xanes_error *err)
{
    if (energy_ev == NULL || mu == NULL || scratch == NULL || ie0 == NULL)
        return XANES_RAISE(err, XANES_EINVAL, "find_e0: NULL argument");
    if (n < 7)
        return XANES_RAISE(err, XANES_EDATA,
                           "find_e0: %zu points are too few to locate an edge (need 7)", n);
    double *dmu = scratch;
    xanes_edge_dmude(energy_ev, mu, n, dmu);
    /* larch: dmu[~isfinite] = -1 (a glitch never wins). */
    for (size_t i = 0; i < n; i++)
        if (!isfinite(dmu[i]))
            dmu[i] = -1.0;
    /* nmin = max(3, int(len*0.05)); maxdmu = max(dmu[nmin:-nmin]). */
    size_t nmin = (size_t)((double)n * 0.05);
    if (nmin < 3)
        nmin = 3;
    double maxdmu = -INFINITY;
    for (size_t i = nmin; i < n - nmin; i++)
        if (dmu[i] > maxdmu)
            maxdmu = dmu[i];
    /* high_deriv_pts = dmu > 0.1*maxdmu; the best i in [nmin, n-nmin] whose
     * two neighbours are also high, starting from dmu_max = 0. */
    double thresh = maxdmu * 0.1;
    size_t best = 0;
    double dmu_max = 0.0;
    for (size_t i = nmin; i <= n - nmin && i + 1 < n; i++) {
        if (!(dmu[i] > thresh))
            continue;
        if (dmu[i] > dmu_max && dmu[i + 1] > thresh && dmu[i - 1] > thresh) {
            best = i;
            dmu_max = dmu[i];
        }
    }
    if (best == 0)
        return XANES_RAISE(err, XANES_EDATA,
                           "find_e0: no edge in %.6g..%.6g eV: no rising point with both "
                           "neighbours above 10%% of the largest slope %.6g",
                           energy_ev[0], energy_ev[n - 1], maxdmu);
    *ie0 = best;
    return XANES_OK;
}

/* Steffen's limited slope from the secants s0 (left, width h0) and s1
 * (right, width h1) at an interior sample; see steffen_slope. */
static inline double steffen_mid(double s0, double h0, double s1, double h1)
{
    double p = (s0 * h1 + s1 * h0) / (h0 + h1);
    double m = fmin(fabs(s0), fmin(fabs(s1), 0.5 * fabs(p)));
    return (copysign(1.0, s0) + copysign(1.0, s1)) * m;
}

/* Steffen's slope at sample i (GSL steffen_init): the one-sided secant at
 * both ends, else (sign s_{i-1} + sign s_i) min(|s_{i-1}|, |s_i|, |p_i|/2)
 * with p_i the slope of the parabola through i-1, i, i+1 (copysign, as GSL:
 * a zero secant counts as positive). */
static double steffen_slope(const double *x, const double *y, size_t n, size_t i)
{
    if (i == 0)
        return (y[1] - y[0]) / (x[1] - x[0]);
    if (i + 1 >= n)
        return (y[n - 1] - y[n - 2]) / (x[n - 1] - x[n - 2]);
    double h0 = x[i] - x[i - 1], h1 = x[i + 1] - x[i];
    return steffen_mid((y[i] - y[i - 1]) / h0, h0, (y[i + 1] - y[i]) / h1, h1);
}

double xanes_edge_steffen_eval(const double *x, const double *y, size_t n, size_t i, double e)
{
    double h = x[i + 1] - x[i], s = (y[i + 1] - y[i]) / h;
    double d0 = steffen_slope(x, y, n, i), d1 = steffen_slope(x, y, n, i + 1);
    double a = (d0 + d1 - 2.0 * s) / (h * h), b = (3.0 * s - 2.0 * d0 - d1) / h;
    double t = e - x[i];
    return ((a * t + b) * t + d0) * t + y[i];
}

/* Crossing of level inside [x[i], x[i+1]] with y[i] < level <= y[i+1] on
 * Steffen's cubic: monotone there, so a safeguarded Newton iteration from
 * the linear crossing, kept inside a shrinking bracket, converges (about
 * three steps to 1e-10 of the sample spacing; this runs for every pixel, so
 * the three secants are computed once for both slopes). */
static double steffen_cross(const double *x, const double *y, size_t n, size_t i, double level)
{
    double h = x[i + 1] - x[i], s = (y[i + 1] - y[i]) / h;
    double d0, d1;
    if (i == 0)
        d0 = s;
    else {
        double hl = x[i] - x[i - 1];
        d0 = steffen_mid((y[i] - y[i - 1]) / hl, hl, s, h);
    }
    if (i + 2 >= n)
        d1 = s;
    else {
        double hr = x[i + 2] - x[i + 1];
        d1 = steffen_mid(s, h, (y[i + 2] - y[i + 1]) / hr, hr);
    }
    double a = (d0 + d1 - 2.0 * s) / (h * h), b = (3.0 * s - 2.0 * d0 - d1) / h;
    double c0 = y[i] - level;
    double lo = 0.0, hi = h, t = (level - y[i]) / s;
    const double tol = 1e-10 * h;
    for (int it = 0; it < 60; it++) {
        double f = ((a * t + b) * t + d0) * t + c0;
        if (f < 0.0)
            lo = t;
        else
            hi = t;
        double df = (3.0 * a * t + 2.0 * b) * t + d0;
        double tn = df > 0.0 ? t - f / df : 0.5 * (lo + hi);
        if (!(tn > lo && tn < hi))
            tn = 0.5 * (lo + hi);
        if (fabs(tn - t) < tol || hi - lo < tol)
            return x[i] + tn;
        t = tn;
    }
    return x[i] + t;
}

double xanes_edge_cross_bracket(const double *energy_ev, const double *norm, size_t n, size_t i,
                                double level, xanes_edge_crossing how)
{
    if (how == XANES_EDGE_CROSS_STEFFEN)
        return steffen_cross(energy_ev, norm, n, i, level);
    double e1 = energy_ev[i], e2 = energy_ev[i + 1];
    double y1 = norm[i], y2 = norm[i + 1];
    return e1 + (level - y1) * (e2 - e1) / (y2 - y1);
}

xanes_status xanes_edge_half_interp(const double *energy_ev, const double *norm, size_t n,
                                    size_t start, double level, xanes_edge_crossing how,
                                    double *edge_ev, xanes_error *err)
{
    if (energy_ev == NULL || norm == NULL || edge_ev == NULL)
        return XANES_RAISE(err, XANES_EINVAL, "half edge: NULL argument");
    *edge_ev = NAN;
    if (start >= n)
        return XANES_RAISE(err, XANES_EINVAL, "half edge: start index %zu not below n = %zu", start,
                           n);
    if (!(norm[start] < level))
        return XANES_RAISE(err, XANES_EDATA,
                           "half edge: norm is already %.4g >= %.4g at %.6g eV, the end of the "
                           "pre-edge range",
                           norm[start], level, energy_ev[start]);
    for (size_t i = start + 1; i < n; i++) {
        if (norm[i] >= level) {
            *edge_ev = xanes_edge_cross_bracket(energy_ev, norm, n, i - 1, level, how);
            return XANES_OK;
        }
    }
    return XANES_RAISE(err, XANES_EDATA,
                       "half edge: norm never reaches %.4g above %.6g eV (no edge)", level,
                       energy_ev[start]);
}

xanes_status xanes_edge_half(const double *energy_ev, const double *norm, size_t n, size_t start,
                             double level, double *edge_ev, xanes_error *err)
{
    return xanes_edge_half_interp(energy_ev, norm, n, start, level, XANES_EDGE_CROSS_LINEAR,
                                  edge_ev, err);
}

/* Abscissa of the central difference at j: the midpoint of its interval. */
static double slope_x(const double *e, size_t n, size_t j)
{
    if (j == 0 || j + 1 >= n)
        return e[j];
    return 0.5 * (e[j - 1] + e[j + 1]);
}

xanes_status xanes_edge_deriv(const double *energy_ev, const double *dmude, size_t n, size_t lo,
                              size_t hi, double *edge_ev, xanes_error *err)
{
    if (energy_ev == NULL || dmude == NULL || edge_ev == NULL)
        return XANES_RAISE(err, XANES_EINVAL, "derivative edge: NULL argument");
    *edge_ev = NAN;
    if (n < 3 || lo >= hi || hi > n)
        return XANES_RAISE(err, XANES_EINVAL,
                           "derivative edge: bad sample window [%zu, %zu) of %zu points", lo, hi,
                           n);
    size_t im = lo;
    for (size_t i = lo + 1; i < hi; i++)
        if (dmude[i] > dmude[im])
            im = i;
    double xm = slope_x(energy_ev, n, im);
    *edge_ev = xm;
    if (im == 0 || im + 1 >= n)
        return XANES_OK;
    double x0 = slope_x(energy_ev, n, im - 1), x2 = slope_x(energy_ev, n, im + 1);
    double y0 = dmude[im - 1], y1 = dmude[im], y2 = dmude[im + 1];
    /* Vertex of the parabola through three points (x0,y0), (xm,y1), (x2,y2):
     * xm - 1/2 [(xm-x0)^2 (y1-y2) - (xm-x2)^2 (y1-y0)] /
     *          [(xm-x0)   (y1-y2) - (xm-x2)   (y1-y0)].
     * With y1 the largest of the three it lies in [x0, x2]. */
    double a = xm - x0, b = xm - x2;
    double den = a * (y1 - y2) - b * (y1 - y0);
    if (!(den > 0.0) || !(y1 >= y0 && y1 >= y2))
        return XANES_OK;
    double v = xm - 0.5 * (a * a * (y1 - y2) - b * b * (y1 - y0)) / den;
    if (v < x0)
        v = x0;
    if (v > x2)
        v = x2;
    *edge_ev = v;
    return XANES_OK;
}
