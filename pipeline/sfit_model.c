/* sfit_model.c: the model of the S K-edge fit and its analytic gradient.
 *
 * An edge step (lmfit's StepModel forms, arctan or erf) plus N peaks
 * parametrized by height A, centre c and FWHM f (see include/xanes/sfit.h for
 * the formulas).  The gradient is written out by hand so that the
 * Levenberg-Marquardt solver gets an exact Jacobian; tests/test_sfit.c checks
 * it against central finite differences.  Also here: the sine transform that
 * enforces bounds (F. James, MINUIT manual, section 1.3.1; the same one lmfit
 * uses, so the lmfit cross-check in tools/lmfit_reference.py sees the same
 * parametrization), the high-frequency noise estimate, and the name tables.
 * Everything here is a pure function: thread-safe, no allocation.
 */
#include "sfit_model.h"

#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

#define LN2 0.69314718055994530942

void sfit_layout_from_params(const xanes_sfit_params *p, sfit_layout *L)
{
    memset(L, 0, sizeof *L);
    L->shape = p->shape;
    L->step = p->step;
    L->n_peaks = p->n_peaks;
    L->fix_centers = p->fix_centers != 0;
    L->eta = p->pvoigt_fraction;
    for (size_t k = 0; k < p->n_peaks && k < XANES_SFIT_MAX_PEAKS; k++)
        L->fixed_center[k] = p->center_ev[k];
}

size_t sfit_n_params(const sfit_layout *L)
{
    return SFIT_P_PEAK0 + L->n_peaks * (L->fix_centers ? 2u : 3u);
}

size_t sfit_idx_center(const sfit_layout *L, size_t k)
{
    return L->fix_centers ? SIZE_MAX : SFIT_P_PEAK0 + 3 * k;
}

size_t sfit_idx_fwhm(const sfit_layout *L, size_t k)
{
    return L->fix_centers ? SFIT_P_PEAK0 + 2 * k : SFIT_P_PEAK0 + 3 * k + 1;
}

size_t sfit_idx_height(const sfit_layout *L, size_t k)
{
    return sfit_idx_fwhm(L, k) + 1;
}

double sfit_area_factor(const sfit_layout *L)
{
    const double kg = sqrt(M_PI / (4.0 * LN2));
    const double kl = M_PI / 2.0;
    switch (L->shape) {
    case XANES_SFIT_GAUSS:
        return kg;
    case XANES_SFIT_LORENTZ:
        return kl;
    case XANES_SFIT_PVOIGT:
    default:
        return (1.0 - L->eta) * kg + L->eta * kl;
    }
}

/* Unit-height profile s(E; c, f) and its partials with respect to c and f. */
static void profile(const sfit_layout *L, double e, double c, double f, double *s, double *ds_dc,
                    double *ds_df)
{
    const double d = e - c;
    const double f2 = f * f;
    double g = 0.0, dg_dc = 0.0, dg_df = 0.0;
    double l = 0.0, dl_dc = 0.0, dl_df = 0.0;
    if (L->shape != XANES_SFIT_LORENTZ) {
        g = exp(-4.0 * LN2 * d * d / f2);
        dg_dc = g * 8.0 * LN2 * d / f2;
        dg_df = g * 8.0 * LN2 * d * d / (f2 * f);
    }
    if (L->shape != XANES_SFIT_GAUSS) {
        l = 1.0 / (1.0 + 4.0 * d * d / f2);
        dl_dc = l * l * 8.0 * d / f2;
        dl_df = l * l * 8.0 * d * d / (f2 * f);
    }
    double wg = 1.0, wl = 0.0;
    if (L->shape == XANES_SFIT_LORENTZ) {
        wg = 0.0;
        wl = 1.0;
    } else if (L->shape == XANES_SFIT_PVOIGT) {
        wg = 1.0 - L->eta;
        wl = L->eta;
    }
    *s = wg * g + wl * l;
    *ds_dc = wg * dg_dc + wl * dl_dc;
    *ds_df = wg * dg_df + wl * dl_df;
}

static double peak_center(const sfit_layout *L, const double *x, size_t k)
{
    return L->fix_centers ? L->fixed_center[k] : x[sfit_idx_center(L, k)];
}

void sfit_peak_point(const sfit_layout *L, const double *x, size_t k, double e, double *val,
                     double *grad)
{
    const double c = peak_center(L, x, k);
    const double f = x[sfit_idx_fwhm(L, k)];
    const double a = x[sfit_idx_height(L, k)];
    double s, ds_dc, ds_df;
    profile(L, e, c, f, &s, &ds_dc, &ds_df);
    if (val != NULL)
        *val = a * s;
    if (grad != NULL) {
        memset(grad, 0, sfit_n_params(L) * sizeof *grad);
        if (!L->fix_centers)
            grad[sfit_idx_center(L, k)] = a * ds_dc;
        grad[sfit_idx_fwhm(L, k)] = a * ds_df;
        grad[sfit_idx_height(L, k)] = s;
    }
}

void sfit_model_point(const sfit_layout *L, const double *x, double e, double *total, double *step,
                      double *peaks, double *grad)
{
    const double e0 = x[SFIT_P_E0], w = x[SFIT_P_W], h = x[SFIT_P_H];
    const double t = (e - e0) / w;
    double unit, dunit_dt;
    if (L->step == XANES_SFIT_ERF) {
        unit = 0.5 * (1.0 + erf(t));
        dunit_dt = exp(-t * t) / sqrt(M_PI);
    } else {
        unit = 0.5 + atan(t) / M_PI;
        dunit_dt = 1.0 / (M_PI * (1.0 + t * t));
    }
    double sum = h * unit;
    if (step != NULL)
        *step = h * unit;
    if (grad != NULL) {
        grad[SFIT_P_E0] = h * dunit_dt * (-1.0 / w);
        grad[SFIT_P_W] = h * dunit_dt * (-t / w);
        grad[SFIT_P_H] = unit;
    }
    for (size_t k = 0; k < L->n_peaks; k++) {
        const double c = peak_center(L, x, k);
        const double f = x[sfit_idx_fwhm(L, k)];
        const double a = x[sfit_idx_height(L, k)];
        double s, ds_dc, ds_df;
        profile(L, e, c, f, &s, &ds_dc, &ds_df);
        sum += a * s;
        if (peaks != NULL)
            peaks[k] = a * s;
        if (grad != NULL) {
            if (!L->fix_centers)
                grad[sfit_idx_center(L, k)] = a * ds_dc;
            grad[sfit_idx_fwhm(L, k)] = a * ds_df;
            grad[sfit_idx_height(L, k)] = s;
        }
    }
    if (total != NULL)
        *total = sum;
}

double sfit_to_ext(double u, double lo, double hi)
{
    return lo + (hi - lo) * (sin(u) + 1.0) / 2.0;
}

double sfit_dext_du(double u, double lo, double hi)
{
    return (hi - lo) * cos(u) / 2.0;
}

double sfit_to_int(double x, double lo, double hi)
{
    double r = 2.0 * (x - lo) / (hi - lo) - 1.0;
    if (r > 1.0)
        r = 1.0;
    if (r < -1.0)
        r = -1.0;
    return asin(r);
}

/* Points of the divided difference used by the noise estimate: 7 points
 * annihilate polynomials up to degree 5, so the signal of a white line
 * sampled at a fifth of its FWHM leaks in at well under 1e-3 of its height
 * (a 3-point second difference would leak about 10 %). */
#define NOISE_STENCIL 7

double xanes_sfit_noise_sigma(const double *energy_ev, const double *mu, size_t n, double *scratch)
{
    if (n < NOISE_STENCIL)
        return NAN;
    size_t m = 0;
    for (size_t i = 0; i + NOISE_STENCIL <= n; i++) {
        const double *x = energy_ev + i;
        /* Weights of the divided difference f[x_0..x_6]: c_j = 1 / prod
         * (x_j - x_l).  Divided by |c| the combination has unit variance
         * for white noise, whatever the (non-uniform) spacing. */
        double c[NOISE_STENCIL], norm2 = 0.0, r = 0.0;
        int ok = 1;
        for (size_t j = 0; j < NOISE_STENCIL; j++) {
            double prod = 1.0;
            for (size_t l = 0; l < NOISE_STENCIL; l++)
                if (l != j)
                    prod *= x[j] - x[l];
            if (prod == 0.0 || !isfinite(prod)) {
                ok = 0;
                break;
            }
            c[j] = 1.0 / prod;
        }
        if (!ok)
            continue;
        /* Rescale before squaring: the weights grow like 1/h^6. */
        const double c0 = fabs(c[0]);
        for (size_t j = 0; j < NOISE_STENCIL; j++) {
            c[j] /= c0;
            norm2 += c[j] * c[j];
            r += c[j] * mu[i + j];
        }
        scratch[m++] = fabs(r) / sqrt(norm2);
    }
    if (m == 0)
        return NAN;
    gsl_sort(scratch, 1, m);
    /* 1.4826 makes the MAD a consistent estimator of a Gaussian sigma. */
    return 1.4826 * gsl_stats_median_from_sorted_data(scratch, 1, m);
}

static const char *const shape_names[] = {"gauss", "lorentz", "pvoigt"};
static const char *const step_names[] = {"arctan", "erf"};

const char *xanes_sfit_shape_name(xanes_sfit_shape s)
{
    return (unsigned)s < 3u ? shape_names[s] : "unknown";
}

const char *xanes_sfit_step_name(xanes_sfit_step_form s)
{
    return (unsigned)s < 2u ? step_names[s] : "unknown";
}

xanes_status xanes_sfit_shape_parse(const char *name, xanes_sfit_shape *out)
{
    for (unsigned i = 0; name != NULL && i < 3u; i++)
        if (strcmp(name, shape_names[i]) == 0) {
            *out = (xanes_sfit_shape)i;
            return XANES_OK;
        }
    return XANES_EINVAL;
}

xanes_status xanes_sfit_step_parse(const char *name, xanes_sfit_step_form *out)
{
    for (unsigned i = 0; name != NULL && i < 2u; i++)
        if (strcmp(name, step_names[i]) == 0) {
            *out = (xanes_sfit_step_form)i;
            return XANES_OK;
        }
    return XANES_EINVAL;
}
