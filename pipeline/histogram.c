/* histogram.c: the edge-energy histogram of `xanes run` (pixels and
 * particles on one density axis), drawn through the generic plot of plot.c.
 *
 * Bins follow the Freedman-Diaconis rule on the pixel values (width
 * 2 IQR n^(-1/3), Freedman & Diaconis, Z. Wahrscheinlichkeitstheorie 57, 453
 * (1981)), clamped to 10..80 bins; both distributions are probability
 * densities on the same bins, so a 5-particle electrode and its 10^5 pixels
 * share one axis.  Fewer than RUG_MAX_PARTICLES particles would make a
 * histogram of spikes, so they are drawn as a rug of points instead.  GSL
 * provides the selection, moments and the histogram itself.
 */
#include "xanes/figure.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_histogram.h>
#include <gsl/gsl_statistics_double.h>

enum { RUG_MAX_PARTICLES = 20 };

/* Unit inside the last "(...)" of label, e.g. "eV" of "Edge energy (eV)". */
static void unit_of(const char *label, char *unit, size_t size)
{
    unit[0] = '\0';
    const char *open = label != NULL ? strrchr(label, '(') : NULL;
    const char *close = open != NULL ? strchr(open, ')') : NULL;
    if (open != NULL && close != NULL && close > open + 1)
        snprintf(unit, size, " %.*s", (int)(close - open - 1), open + 1);
}

/* Appends "name: mean +- std unit (n = N)" and, with a threshold, the share
 * above it, to note. */
static void describe(char *note, size_t size, const char *name, const double *v, size_t n,
                     const char *unit, double threshold)
{
    size_t len = strlen(note);
    if (n == 0 || len >= size)
        return;
    double mean = gsl_stats_mean(v, 1, n);
    double sd = n > 1 ? gsl_stats_sd_m(v, 1, n, mean) : 0.0;
    int w = snprintf(note + len, size - len, "%s%s: %.2f \xC2\xB1 %.2f%s (n = %zu)",
                     len > 0 ? "\n" : "", name, mean, sd, unit, n);
    if (isnan(threshold) || w < 0)
        return;
    size_t above = 0;
    for (size_t i = 0; i < n; i++)
        above += v[i] > threshold;
    len = strlen(note);
    if (len < size)
        snprintf(note + len, size - len, ", %.1f %% above", 100.0 * (double)above / (double)n);
}

/* GSL's quantile definition (linear interpolation between elements
 * floor((n-1) f) and the next of the sorted data) by quickselect, O(n): a
 * megapixel map needs no sort.  Reorders v. */
static double quantile_select(double *v, size_t n, double f)
{
    double idx = (double)(n - 1) * f;
    size_t k = (size_t)floor(idx);
    double delta = idx - (double)k;
    double a = gsl_stats_select(v, 1, n, k);
    if (delta == 0.0 || k + 1 >= n)
        return a;
    return (1.0 - delta) * a + delta * gsl_stats_select(v, 1, n, k + 1);
}

/* Probability density of v[0..n) on the bins of h. */
static void density(gsl_histogram *h, const double *v, size_t n, double *dens)
{
    gsl_histogram_reset(h);
    for (size_t i = 0; i < n; i++)
        gsl_histogram_increment(h, v[i]);
    for (size_t b = 0; b < h->n; b++) {
        double a, c;
        gsl_histogram_get_range(h, b, &a, &c);
        dens[b] = n > 0 ? gsl_histogram_get(h, b) / ((double)n * (c - a)) : 0.0;
    }
}

void xanes_figure_histogram_default_options(xanes_figure_histogram_options *opt)
{
    opt->title = NULL;
    opt->xlabel = NULL;
    opt->name = "pixels";
    opt->name2 = "particles";
    opt->threshold = NAN;
    opt->threshold_label = "threshold";
}

xanes_status xanes_figure_distribution_png(const char *path, const double *values, size_t n,
                                           const double *values2, size_t m,
                                           const xanes_figure_histogram_options *opt_in,
                                           xanes_plot_layout *layout, xanes_error *err)
{
    xanes_status st = XANES_OK;
    double *pix = NULL, *par = NULL, *rug_y = NULL, *centres = NULL, *dens_pix = NULL,
           *dens_par = NULL;
    gsl_histogram *h = NULL;
    size_t np = 0, mp = 0;
    xanes_figure_histogram_options opt;
    if (opt_in != NULL)
        opt = *opt_in;
    else
        xanes_figure_histogram_default_options(&opt);
    if (path == NULL || (values == NULL && n > 0) || (values2 == NULL && m > 0)) {
        st = XANES_RAISE(err, XANES_EINVAL, "histogram: NULL path or values");
        goto done;
    }
    pix = malloc((n > 0 ? n : 1) * sizeof *pix);
    par = malloc((m > 0 ? m : 1) * sizeof *par);
    rug_y = malloc((m > 0 ? m : 1) * sizeof *rug_y);
    if (pix == NULL || par == NULL || rug_y == NULL)
        goto nomem;
    for (size_t i = 0; i < n; i++)
        if (isfinite(values[i]))
            pix[np++] = values[i];
    for (size_t i = 0; i < m; i++)
        if (isfinite(values2[i]))
            par[mp++] = values2[i];
    if (np == 0) {
        st = XANES_RAISE(err, XANES_EDATA, "histogram '%s': no finite value among %zu %s values",
                         path, n, opt.name != NULL ? opt.name : "");
        goto done;
    }
    double lo, hi, lo2, hi2;
    gsl_stats_minmax(&lo, &hi, pix, 1, np);
    if (mp > 0) {
        gsl_stats_minmax(&lo2, &hi2, par, 1, mp);
        lo = fmin(lo, lo2);
        hi = fmax(hi, hi2);
    }
    if (!(hi > lo)) {
        lo -= 0.5;
        hi += 0.5;
    }
    /* Freedman-Diaconis on the first set; 10..80 bins keeps both a 20-pixel
     * particle and a megapixel map readable. */
    double iqr = quantile_select(pix, np, 0.75) - quantile_select(pix, np, 0.25);
    double fd = 2.0 * iqr / cbrt((double)np);
    size_t nb = fd > 0.0 ? (size_t)ceil((hi - lo) / fd) : 10;
    nb = nb < 10 ? 10 : nb > 80 ? 80 : nb;
    double bw = (hi - lo) / (double)nb;
    h = gsl_histogram_alloc(nb);
    centres = malloc(nb * sizeof *centres);
    dens_pix = malloc(nb * sizeof *dens_pix);
    dens_par = malloc(nb * sizeof *dens_par);
    if (h == NULL || centres == NULL || dens_pix == NULL || dens_par == NULL)
        goto nomem;
    /* The upper range is nudged by a thousandth of a bin so the largest
     * value falls in the last bin (GSL bins are half-open). */
    gsl_histogram_set_ranges_uniform(h, lo, hi + 1e-3 * bw);
    for (size_t b = 0; b < nb; b++)
        centres[b] = 0.5 * (h->range[b] + h->range[b + 1]);
    density(h, pix, np, dens_pix);
    density(h, par, mp, dens_par);

    char unit[64], note[600] = "", ylab[128], name_mean[96], name2_mean[96], thr_label[128];
    unit_of(opt.xlabel, unit, sizeof unit);
    const char *name = opt.name != NULL ? opt.name : "values";
    const char *name2 = opt.name2 != NULL ? opt.name2 : "values 2";
    describe(note, sizeof note, name, pix, np, unit, opt.threshold);
    describe(note, sizeof note, name2, par, mp, unit, opt.threshold);
    snprintf(ylab, sizeof ylab, "Probability density%s%s%s", unit[0] ? " (1/" : "",
             unit[0] ? unit + 1 : "", unit[0] ? ")" : "");
    snprintf(name_mean, sizeof name_mean, "%s mean", name);
    snprintf(name2_mean, sizeof name2_mean, "%s mean", name2);
    snprintf(thr_label, sizeof thr_label, "%s (%.2f%s)",
             opt.threshold_label != NULL ? opt.threshold_label : "threshold", opt.threshold, unit);

    /* A handful of particles makes a histogram of spikes: below
     * RUG_MAX_PARTICLES they are drawn as a rug of points near the axis. */
    double top = 0.0;
    for (size_t b = 0; b < nb; b++)
        top = fmax(top, fmax(dens_pix[b], mp >= RUG_MAX_PARTICLES ? dens_par[b] : 0.0));
    for (size_t i = 0; i < mp; i++)
        rug_y[i] = 0.04 * top;
    double mark_pix[1] = {gsl_stats_mean(pix, 1, np)};
    double mark_par[1] = {mp > 0 ? gsl_stats_mean(par, 1, mp) : NAN};
    double mark_thr[1] = {opt.threshold};
    xanes_plot_series ser[5];
    size_t ns = 0;
    ser[ns++] = (xanes_plot_series){centres, dens_pix, nb, name, XANES_PLOT_BARS, 0x56B4E9, 0.0, 0};
    ser[ns++] =
        (xanes_plot_series){mark_pix, NULL, 1, name_mean, XANES_PLOT_VLINE, 0x0072B2, 2.0, 0};
    if (mp > 0) {
        if (mp < RUG_MAX_PARTICLES)
            ser[ns++] =
                (xanes_plot_series){par, rug_y, mp, name2, XANES_PLOT_POINTS, 0xD55E00, 5.0, 0};
        else
            ser[ns++] = (xanes_plot_series){centres,          dens_par, nb,  name2,
                                            XANES_PLOT_STEPS, 0xD55E00, 2.5, 0};
        ser[ns++] =
            (xanes_plot_series){mark_par, NULL, 1, name2_mean, XANES_PLOT_VLINE, 0xD55E00, 2.0, 0};
    }
    if (isfinite(opt.threshold))
        ser[ns++] =
            (xanes_plot_series){mark_thr, NULL, 1, thr_label, XANES_PLOT_VLINE, 0x000000, 1.5, 0};
    xanes_plot p;
    xanes_plot_default(&p);
    p.title = opt.title;
    p.xlabel = opt.xlabel;
    p.ylabel = ylab;
    p.series = ser;
    p.n_series = ns;
    p.annotation = note;
    p.annotation_left = 1;
    p.ymax = 1.25 * top; /* headroom for the legend and the annotation box */
    p.xmin = fmin(lo, isfinite(opt.threshold) ? opt.threshold : lo) - bw;
    p.xmax = fmax(hi, isfinite(opt.threshold) ? opt.threshold : hi) + 2.0 * bw;
    st = xanes_figure_plot_png(path, &p, layout, err);
    goto done;
nomem:
    st = XANES_RAISE(err, XANES_ENOMEM, "out of memory for histogram '%s' (%zu values)", path, n);
done:
    gsl_histogram_free(h);
    free(dens_par);
    free(dens_pix);
    free(centres);
    free(rug_y);
    free(par);
    free(pix);
    return st;
}

xanes_status xanes_figure_histogram_png(const char *path, const float *pixel_values, size_t n,
                                        const double *particle_values, size_t m, const char *title,
                                        const char *xlabel, xanes_error *err)
{
    if (pixel_values == NULL && n > 0)
        return XANES_RAISE(err, XANES_EINVAL, "histogram '%s': NULL pixel values",
                           path != NULL ? path : "(null)");
    double *v = malloc((n > 0 ? n : 1) * sizeof *v);
    if (v == NULL)
        return XANES_RAISE(err, XANES_ENOMEM, "out of memory for histogram '%s' (%zu values)",
                           path != NULL ? path : "(null)", n);
    for (size_t i = 0; i < n; i++)
        v[i] = pixel_values[i];
    xanes_figure_histogram_options opt;
    xanes_figure_histogram_default_options(&opt);
    opt.title = title;
    opt.xlabel = xlabel;
    xanes_status st =
        xanes_figure_distribution_png(path, v, n, particle_values, m, &opt, NULL, err);
    free(v);
    return st;
}
