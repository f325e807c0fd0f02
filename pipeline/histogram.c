/* histogram.c: the edge-energy histogram of `xanes run` (pixels and
 * particles on one density axis), drawn through the generic plot of plot.c.
 *
 * Bins follow the Freedman-Diaconis rule on the pixel values (width
 * 2 IQR n^(-1/3), Freedman & Diaconis, Z. Wahrscheinlichkeitstheorie 57, 453
 * (1981)), clamped to 10..80 bins; both distributions are probability
 * densities on the same bins, so a 5-particle electrode and its 10^5 pixels
 * share one axis.  Fewer than RUG_MAX_PARTICLES particles would make a
 * histogram of spikes, so they are drawn as a rug of points instead.  GSL
 * provides the sort, quantiles, moments and the histogram itself.
 */
#include "xanes/figure.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_histogram.h>
#include <gsl/gsl_sort.h>
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

xanes_status xanes_figure_histogram_png(const char *path, const float *pixel_values, size_t n,
                                        const double *particle_values, size_t m, const char *title,
                                        const char *xlabel, xanes_error *err)
{
    xanes_status st = XANES_OK;
    double *pix = NULL, *par = NULL, *rug_y = NULL, *centres = NULL, *dens_pix = NULL,
           *dens_par = NULL;
    gsl_histogram *h = NULL;
    size_t np = 0, mp = 0;
    if (path == NULL || (pixel_values == NULL && n > 0) || (particle_values == NULL && m > 0)) {
        st = XANES_RAISE(err, XANES_EINVAL, "histogram: NULL path or values");
        goto done;
    }
    pix = malloc((n > 0 ? n : 1) * sizeof *pix);
    par = malloc((m > 0 ? m : 1) * sizeof *par);
    rug_y = malloc((m > 0 ? m : 1) * sizeof *rug_y);
    if (pix == NULL || par == NULL || rug_y == NULL)
        goto nomem;
    for (size_t i = 0; i < n; i++)
        if (isfinite(pixel_values[i]))
            pix[np++] = pixel_values[i];
    for (size_t i = 0; i < m; i++)
        if (isfinite(particle_values[i]))
            par[mp++] = particle_values[i];
    if (np == 0) {
        st = XANES_RAISE(err, XANES_EDATA, "histogram '%s': no finite value among %zu pixel values",
                         path, n);
        goto done;
    }
    gsl_sort(pix, 1, np);
    gsl_sort(par, 1, mp);
    double lo = pix[0], hi = pix[np - 1];
    if (mp > 0) {
        lo = fmin(lo, par[0]);
        hi = fmax(hi, par[mp - 1]);
    }
    if (!(hi > lo)) {
        lo -= 0.5;
        hi += 0.5;
    }
    /* Freedman-Diaconis on the pixels; 10..80 bins keeps both a 20-pixel
     * particle and a megapixel map readable. */
    double iqr = gsl_stats_quantile_from_sorted_data(pix, 1, np, 0.75) -
                 gsl_stats_quantile_from_sorted_data(pix, 1, np, 0.25);
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
    for (size_t i = 0; i < np; i++)
        gsl_histogram_increment(h, pix[i]);
    for (size_t b = 0; b < nb; b++) {
        double a, c;
        gsl_histogram_get_range(h, b, &a, &c);
        centres[b] = 0.5 * (a + c);
        dens_pix[b] = gsl_histogram_get(h, b) / ((double)np * (c - a));
    }
    gsl_histogram_reset(h);
    for (size_t i = 0; i < mp; i++)
        gsl_histogram_increment(h, par[i]);
    for (size_t b = 0; b < nb; b++) {
        double a, c;
        gsl_histogram_get_range(h, b, &a, &c);
        dens_par[b] = mp > 0 ? gsl_histogram_get(h, b) / ((double)mp * (c - a)) : 0.0;
    }

    double mean_pix = gsl_stats_mean(pix, 1, np);
    double sd_pix = np > 1 ? gsl_stats_sd_m(pix, 1, np, mean_pix) : 0.0;
    double mean_par = mp > 0 ? gsl_stats_mean(par, 1, mp) : NAN;
    double sd_par = mp > 1 ? gsl_stats_sd_m(par, 1, mp, mean_par) : 0.0;
    char unit[64], note[400], ylab[128];
    unit_of(xlabel, unit, sizeof unit);
    int off = snprintf(note, sizeof note, "pixels: %.2f \xC2\xB1 %.2f%s (n = %zu)", mean_pix,
                       sd_pix, unit, np);
    if (mp > 0 && off > 0 && (size_t)off < sizeof note)
        snprintf(note + off, sizeof note - (size_t)off,
                 "\nparticles: %.2f \xC2\xB1 %.2f%s (n = %zu)", mean_par, sd_par, unit, mp);
    snprintf(ylab, sizeof ylab, "Probability density%s%s%s", unit[0] ? " (1/" : "",
             unit[0] ? unit + 1 : "", unit[0] ? ")" : "");

    /* A handful of particles makes a histogram of spikes: below
     * RUG_MAX_PARTICLES they are drawn as a rug of points near the axis. */
    double top = 0.0;
    for (size_t b = 0; b < nb; b++)
        top = fmax(top, dens_pix[b]);
    for (size_t i = 0; i < mp; i++)
        rug_y[i] = 0.04 * top;
    int rug = mp < RUG_MAX_PARTICLES;
    double mark_pix[1] = {mean_pix}, mark_par[1] = {mean_par};
    xanes_plot_series ser[4] = {
        {centres, dens_pix, nb, "pixels", XANES_PLOT_BARS, 0x56B4E9, 0.0, 0},
        {mark_pix, NULL, 1, "pixel mean", XANES_PLOT_VLINE, 0x0072B2, 2.0, 0},
        {centres, dens_par, nb, "particles", XANES_PLOT_STEPS, 0xD55E00, 2.5, 0},
        {mark_par, NULL, 1, "particle mean", XANES_PLOT_VLINE, 0xD55E00, 2.0, 0},
    };
    if (rug) {
        ser[2].x = par;
        ser[2].y = rug_y;
        ser[2].n = mp;
        ser[2].style = XANES_PLOT_POINTS;
        ser[2].width = 5.0;
    }
    xanes_plot p;
    xanes_plot_default(&p);
    p.title = title;
    p.xlabel = xlabel;
    p.ylabel = ylab;
    p.series = ser;
    p.n_series = mp > 0 ? 4 : 2;
    p.annotation = note;
    p.annotation_left = 1;
    p.ymax = 1.25 * top; /* headroom for the legend and the annotation box */
    p.xmin = lo - bw;
    p.xmax = hi + 2.0 * bw;
    st = xanes_figure_plot_png(path, &p, NULL, err);
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
