/* plot.c: x-y plots and histograms (cairo), for sfit overlays, model
 * distributions and the edge-energy histogram of `xanes run`.
 *
 * One main panel and an optional lower panel sharing the x axis (residuals
 * under a fit, the usual layout of a spectroscopy fit figure).  Axis limits
 * come from the data unless given; ticks are Heckbert's nice numbers
 * (colormap.c); colours default to the Okabe-Ito palette, which stays
 * distinguishable under the common colour-vision deficiencies (Okabe & Ito,
 * "Color Universal Design", 2002).  Series styles: lines (broken at
 * non-finite points), dashed lines, points, histogram bars and step outlines,
 * vertical marker lines and shaded bands.  The histogram bins with the
 * Freedman-Diaconis rule (bin width 2 IQR n^(-1/3)) and plots densities so
 * that pixel and particle distributions share one axis.
 */
#include "xanes/figure.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_histogram.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>

#include "figure_draw.h"

static const unsigned PALETTE[] = {0x0072B2, 0xD55E00, 0x009E73, 0xE69F00,
                                   0xCC79A7, 0x56B4E9, 0x000000, 0xF0E442};
enum { N_PALETTE = sizeof PALETTE / sizeof PALETTE[0] };

static const double FONT_TITLE = 20.0, FONT_LABEL = 16.0, FONT_TICK = 14.0, FONT_LEGEND = 14.0;
enum { RUG_MAX_PARTICLES = 20 };
enum { ML = 92, MR = 26, MT_TITLE = 50, MT = 22, MB = 66, PANEL_GAP = 12 };

void xanes_plot_default(xanes_plot *p)
{
    memset(p, 0, sizeof *p);
    p->xmin = p->xmax = p->ymin = p->ymax = p->ymin2 = p->ymax2 = NAN;
}

/* Width of one bar of a BARS/STEPS series (equal-width bins, centres in x). */
static double bar_width(const xanes_plot_series *s)
{
    if (s->n < 2)
        return 1.0;
    double w = (s->x[s->n - 1] - s->x[0]) / (double)(s->n - 1);
    return w > 0.0 ? w : 1.0;
}

static void grow(double *lo, double *hi, double v)
{
    if (!isfinite(v))
        return;
    if (v < *lo)
        *lo = v;
    if (v > *hi)
        *hi = v;
}

static xanes_status check_series(const char *path, const xanes_plot *p, xanes_error *err)
{
    if (p->series == NULL || p->n_series == 0)
        return XANES_RAISE(err, XANES_EINVAL, "plot '%s': no series to draw", path);
    for (size_t i = 0; i < p->n_series; i++) {
        const xanes_plot_series *s = &p->series[i];
        int needs_y = s->style != XANES_PLOT_VLINE && s->style != XANES_PLOT_VBAND;
        if (s->n == 0 || s->x == NULL || (needs_y && s->y == NULL))
            return XANES_RAISE(err, XANES_EINVAL, "plot '%s': series %zu (%s) has no data", path,
                               i, s->label != NULL ? s->label : "unlabelled");
        if (s->style == XANES_PLOT_VBAND && s->n < 2)
            return XANES_RAISE(err, XANES_EINVAL, "plot '%s': band series %zu needs two x", path,
                               i);
        if (s->panel != 0 && (s->panel != 1 || !p->two_panels))
            return XANES_RAISE(err, XANES_EINVAL,
                               "plot '%s': series %zu is on panel %d but the plot has %s", path,
                               i, s->panel, p->two_panels ? "panels 0 and 1" : "one panel");
    }
    return XANES_OK;
}

/* Data limits of x and of each panel's y. */
static xanes_status data_limits(const char *path, const xanes_plot *p, xanes_plot_layout *L,
                                xanes_error *err)
{
    double xlo = INFINITY, xhi = -INFINITY, ylo[2] = {INFINITY, INFINITY},
           yhi[2] = {-INFINITY, -INFINITY};
    int from_zero[2] = {0, 0};
    for (size_t i = 0; i < p->n_series; i++) {
        const xanes_plot_series *s = &p->series[i];
        int k = s->panel;
        int bars = s->style == XANES_PLOT_BARS || s->style == XANES_PLOT_STEPS;
        double hw = bars ? bar_width(s) / 2.0 : 0.0;
        for (size_t j = 0; j < s->n; j++) {
            grow(&xlo, &xhi, s->x[j] - hw);
            grow(&xlo, &xhi, s->x[j] + hw);
            if (s->y != NULL && s->style != XANES_PLOT_VLINE && s->style != XANES_PLOT_VBAND &&
                isfinite(s->x[j]))
                grow(&ylo[k], &yhi[k], s->y[j]);
        }
        if (bars) {
            from_zero[k] = 1;
            grow(&ylo[k], &yhi[k], 0.0);
        }
    }
    L->xmin = isnan(p->xmin) ? xlo : p->xmin;
    L->xmax = isnan(p->xmax) ? xhi : p->xmax;
    if (!isfinite(L->xmin) || !isfinite(L->xmax))
        return XANES_RAISE(err, XANES_EINVAL, "plot '%s': no finite x value to scale the axis",
                           path);
    if (!(L->xmax > L->xmin)) {
        L->xmin -= 0.5;
        L->xmax += 0.5;
    }
    for (int k = 0; k < (p->two_panels ? 2 : 1); k++) {
        double lo = k == 0 ? p->ymin : p->ymin2, hi = k == 0 ? p->ymax : p->ymax2;
        if (isnan(lo) || isnan(hi)) {
            if (!isfinite(ylo[k]))
                return XANES_RAISE(err, XANES_EINVAL,
                                   "plot '%s': no finite y value in panel %d to scale the axis",
                                   path, k);
            double dlo = ylo[k], dhi = yhi[k];
            if (k == 1) { /* residuals: symmetric about zero */
                double a = fmax(fabs(dlo), fabs(dhi));
                dlo = -a;
                dhi = a;
            }
            if (!(dhi > dlo)) {
                dlo -= 0.5;
                dhi += 0.5;
            }
            double pad = 0.06 * (dhi - dlo);
            if (isnan(lo))
                lo = (from_zero[k] && dlo == 0.0) ? 0.0 : dlo - pad;
            if (isnan(hi))
                hi = dhi + pad;
        }
        if (!(hi > lo))
            return XANES_RAISE(err, XANES_EINVAL, "plot '%s': y limits %g..%g of panel %d", path,
                               lo, hi, k);
        if (k == 0) {
            L->ymin = lo;
            L->ymax = hi;
        } else {
            L->ymin2 = lo;
            L->ymax2 = hi;
        }
    }
    return XANES_OK;
}

static double px_x(const xanes_plot_layout *L, double x)
{
    return L->x0 + (x - L->xmin) / (L->xmax - L->xmin) * (L->x1 - L->x0);
}

static double px_y(const xanes_plot_layout *L, int panel, double y)
{
    if (panel == 0)
        return L->y1 - (y - L->ymin) / (L->ymax - L->ymin) * (L->y1 - L->y0);
    return L->y1_2 - (y - L->ymin2) / (L->ymax2 - L->ymin2) * (L->y1_2 - L->y0_2);
}

static void draw_series(cairo_t *cr, const xanes_plot_layout *L, const xanes_plot_series *s,
                        unsigned rgb)
{
    int k = s->panel;
    double top = k == 0 ? L->y0 : L->y0_2, bot = k == 0 ? L->y1 : L->y1_2;
    cairo_save(cr);
    cairo_rectangle(cr, L->x0, top, L->x1 - L->x0, bot - top);
    cairo_clip(cr);
    fig_set_rgb(cr, rgb);
    double lw = s->width > 0.0 ? s->width : 2.0;
    cairo_set_line_width(cr, lw);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    double hw = bar_width(s) / 2.0;
    switch (s->style) {
    case XANES_PLOT_DASHED:
    case XANES_PLOT_LINE: {
        if (s->style == XANES_PLOT_DASHED) {
            double dash[2] = {3.0 * lw, 2.0 * lw};
            cairo_set_dash(cr, dash, 2, 0.0);
        }
        int pen = 0;
        for (size_t j = 0; j < s->n; j++) {
            if (!isfinite(s->x[j]) || !isfinite(s->y[j])) {
                pen = 0;
                continue;
            }
            double X = px_x(L, s->x[j]), Y = px_y(L, k, s->y[j]);
            if (pen)
                cairo_line_to(cr, X, Y);
            else
                cairo_move_to(cr, X, Y);
            pen = 1;
        }
        cairo_stroke(cr);
        break;
    }
    case XANES_PLOT_POINTS: {
        double r = s->width > 0.0 ? s->width : 3.0;
        for (size_t j = 0; j < s->n; j++)
            if (isfinite(s->x[j]) && isfinite(s->y[j])) {
                cairo_new_sub_path(cr);
                cairo_arc(cr, px_x(L, s->x[j]), px_y(L, k, s->y[j]), r, 0.0, 6.2831853);
            }
        cairo_fill(cr);
        break;
    }
    case XANES_PLOT_BARS:
        /* Drawn into a group so the white bar edges and the fill fade
         * together (overlapping bars of two series stay readable). */
        cairo_push_group(cr);
        for (size_t j = 0; j < s->n; j++)
            if (isfinite(s->x[j]) && isfinite(s->y[j])) {
                double xa = px_x(L, s->x[j] - hw), xb = px_x(L, s->x[j] + hw);
                double y0 = px_y(L, k, 0.0), y1 = px_y(L, k, s->y[j]);
                cairo_rectangle(cr, xa, y1, xb - xa, y0 - y1);
            }
        fig_set_rgb(cr, rgb);
        cairo_fill_preserve(cr);
        cairo_set_source_rgb(cr, 1.0, 1.0, 1.0);
        cairo_set_line_width(cr, 0.8);
        cairo_stroke(cr);
        cairo_pop_group_to_source(cr);
        cairo_paint_with_alpha(cr, 0.6);
        break;
    case XANES_PLOT_STEPS: {
        double base = px_y(L, k, 0.0);
        cairo_move_to(cr, px_x(L, s->x[0] - hw), base);
        for (size_t j = 0; j < s->n; j++) {
            double y = isfinite(s->y[j]) ? px_y(L, k, s->y[j]) : base;
            cairo_line_to(cr, px_x(L, s->x[j] - hw), y);
            cairo_line_to(cr, px_x(L, s->x[j] + hw), y);
        }
        cairo_line_to(cr, px_x(L, s->x[s->n - 1] + hw), base);
        cairo_stroke(cr);
        break;
    }
    case XANES_PLOT_VLINE: {
        double dash[2] = {6.0, 4.0};
        cairo_set_dash(cr, dash, 2, 0.0);
        for (size_t j = 0; j < s->n; j++)
            if (isfinite(s->x[j])) {
                cairo_move_to(cr, px_x(L, s->x[j]), top);
                cairo_line_to(cr, px_x(L, s->x[j]), bot);
            }
        cairo_stroke(cr);
        break;
    }
    case XANES_PLOT_VBAND: {
        double xa = px_x(L, s->x[0]), xb = px_x(L, s->x[1]);
        cairo_rectangle(cr, fmin(xa, xb), top, fabs(xb - xa), bot - top);
        cairo_clip(cr);
        cairo_paint_with_alpha(cr, 0.15);
        break;
    }
    }
    cairo_restore(cr);
}

/* Grid, frame and ticks of one panel; x tick labels only when labels_x. */
static void draw_axes(cairo_t *cr, const xanes_plot_layout *L, int panel, int labels_x,
                      const char *ylabel)
{
    double top = panel == 0 ? L->y0 : L->y0_2, bot = panel == 0 ? L->y1 : L->y1_2;
    double ylo = panel == 0 ? L->ymin : L->ymin2, yhi = panel == 0 ? L->ymax : L->ymax2;
    double xt[32], yt[32];
    size_t nxt, nyt;
    int dx, dy;
    xanes_figure_nice_ticks(L->xmin, L->xmax, (L->x1 - L->x0) > 500 ? 8 : 5, xt, 32, &nxt, &dx);
    xanes_figure_nice_ticks(ylo, yhi, (bot - top) > 250 ? 6 : 4, yt, 32, &nyt, &dy);
    char buf[64];
    cairo_set_line_width(cr, 1.0);
    cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
    for (size_t i = 0; i < nxt; i++) {
        double X = floor(px_x(L, xt[i])) + 0.5;
        cairo_move_to(cr, X, top);
        cairo_line_to(cr, X, bot);
    }
    for (size_t i = 0; i < nyt; i++) {
        double Y = floor(px_y(L, panel, yt[i])) + 0.5;
        cairo_move_to(cr, L->x0, Y);
        cairo_line_to(cr, L->x1, Y);
    }
    cairo_stroke(cr);
    if (panel == 1 && ylo < 0.0 && yhi > 0.0) { /* zero line of the residuals */
        cairo_set_source_rgb(cr, 0.45, 0.45, 0.45);
        double Y = floor(px_y(L, 1, 0.0)) + 0.5;
        cairo_move_to(cr, L->x0, Y);
        cairo_line_to(cr, L->x1, Y);
        cairo_stroke(cr);
    }
    cairo_set_source_rgb(cr, 0.0, 0.0, 0.0);
    cairo_rectangle(cr, floor(L->x0) + 0.5, floor(top) + 0.5, floor(L->x1) - floor(L->x0),
                    floor(bot) - floor(top));
    cairo_stroke(cr);
    for (size_t i = 0; i < nxt; i++) {
        double X = floor(px_x(L, xt[i])) + 0.5;
        cairo_move_to(cr, X, floor(bot) + 0.5);
        cairo_line_to(cr, X, floor(bot) + 6.5);
        cairo_stroke(cr);
        if (labels_x) {
            fig_format_tick(buf, sizeof buf, xt[i], dx);
            fig_text(cr, X, bot + 10.0, buf, FONT_TICK, 0, FIG_CENTER, FIG_TOP, 0.0);
        }
    }
    for (size_t i = 0; i < nyt; i++) {
        double Y = floor(px_y(L, panel, yt[i])) + 0.5;
        cairo_move_to(cr, floor(L->x0) - 5.5, Y);
        cairo_line_to(cr, floor(L->x0) + 0.5, Y);
        cairo_stroke(cr);
        fig_format_tick(buf, sizeof buf, yt[i], dy);
        fig_text(cr, L->x0 - 9.0, Y, buf, FONT_TICK, 0, FIG_RIGHT, FIG_MIDDLE, 0.0);
    }
    if (ylabel != NULL)
        fig_text(cr, 22.0, (top + bot) / 2.0, ylabel, FONT_LABEL, 0, FIG_CENTER, FIG_MIDDLE,
                 90.0);
}

/* Legend box; returns its height (0 when no series has a label). */
static double draw_legend(cairo_t *cr, const xanes_plot_layout *L, const xanes_plot *p,
                          const unsigned *colours, double y, int left)
{
    double w = 0.0, line_h = FONT_LEGEND * 1.5, pad = 8.0, sample = 28.0;
    size_t n = 0;
    for (size_t i = 0; i < p->n_series; i++)
        if (p->series[i].label != NULL) {
            w = fmax(w, fig_text_width(cr, p->series[i].label, FONT_LEGEND, 0));
            n++;
        }
    if (n == 0)
        return 0.0;
    double bw = w + sample + 3.0 * pad, bh = (double)n * line_h + 2.0 * pad - 4.0;
    double bx = left ? L->x0 + 10.0 : L->x1 - 10.0 - bw;
    cairo_rectangle(cr, bx, y, bw, bh);
    cairo_set_source_rgba(cr, 1.0, 1.0, 1.0, 0.88);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.6, 0.6, 0.6);
    cairo_set_line_width(cr, 1.0);
    cairo_stroke(cr);
    double ty = y + pad + line_h / 2.0 - 2.0;
    for (size_t i = 0; i < p->n_series; i++) {
        const xanes_plot_series *s = &p->series[i];
        if (s->label == NULL)
            continue;
        double sx = bx + pad;
        cairo_save(cr);
        fig_set_rgb(cr, colours[i]);
        cairo_set_line_width(cr, s->width > 0.0 && s->style != XANES_PLOT_POINTS ? s->width : 2.0);
        if (s->style == XANES_PLOT_POINTS) {
            cairo_arc(cr, sx + sample / 2.0, ty, s->width > 0.0 ? s->width : 3.5, 0.0, 6.2831853);
            cairo_fill(cr);
        } else if (s->style == XANES_PLOT_BARS || s->style == XANES_PLOT_VBAND) {
            cairo_rectangle(cr, sx + 4.0, ty - 6.0, sample - 8.0, 12.0);
            cairo_clip(cr);
            cairo_paint_with_alpha(cr, s->style == XANES_PLOT_BARS ? 0.6 : 0.25);
        } else {
            if (s->style == XANES_PLOT_DASHED || s->style == XANES_PLOT_VLINE) {
                double dash[2] = {5.0, 3.0};
                cairo_set_dash(cr, dash, 2, 0.0);
            }
            cairo_move_to(cr, sx, ty);
            cairo_line_to(cr, sx + sample, ty);
            cairo_stroke(cr);
        }
        cairo_restore(cr);
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        fig_text(cr, sx + sample + pad, ty, s->label, FONT_LEGEND, 0, FIG_LEFT, FIG_MIDDLE, 0.0);
        ty += line_h;
    }
    return bh;
}

xanes_status xanes_figure_plot_png(const char *path, const xanes_plot *p,
                                   xanes_plot_layout *layout, xanes_error *err)
{
    xanes_status st = XANES_OK;
    cairo_surface_t *s = NULL;
    cairo_t *cr = NULL;
    unsigned *colours = NULL;
    xanes_plot_layout L;
    memset(&L, 0, sizeof L);
    if (path == NULL || p == NULL) {
        st = XANES_RAISE(err, XANES_EINVAL, "plot: NULL path or plot");
        goto done;
    }
    if ((st = check_series(path, p, err)) != XANES_OK ||
        (st = data_limits(path, p, &L, err)) != XANES_OK)
        goto done;
    L.width = p->width_px > 0 ? p->width_px : 900;
    L.height = p->height_px > 0 ? p->height_px : (p->two_panels ? 780 : 600);
    L.x0 = ML;
    L.x1 = (double)L.width - MR;
    L.y0 = p->title != NULL ? MT_TITLE : MT;
    double bottom = (double)L.height - MB;
    if (p->two_panels) {
        double h = bottom - L.y0 - PANEL_GAP;
        L.y1 = L.y0 + 0.72 * h;
        L.y0_2 = L.y1 + PANEL_GAP;
        L.y1_2 = bottom;
    } else {
        L.y1 = bottom;
    }
    if (L.x1 - L.x0 < 50.0 || L.y1 - L.y0 < 50.0) {
        st = XANES_RAISE(err, XANES_EINVAL, "plot '%s': %zu x %zu px is too small", path,
                         L.width, L.height);
        goto done;
    }
    colours = malloc(p->n_series * sizeof *colours);
    if (colours == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM, "out of memory drawing plot '%s'", path);
        goto done;
    }
    size_t next = 0;
    for (size_t i = 0; i < p->n_series; i++)
        colours[i] = p->series[i].rgb != XANES_PLOT_AUTO ? p->series[i].rgb & 0xFFFFFFu
                                                         : PALETTE[next++ % N_PALETTE];

    s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, (int)L.width, (int)L.height);
    cr = cairo_create(s);
    if ((st = fig_cairo_check(cr, path, err)) != XANES_OK)
        goto done;
    cairo_set_source_rgb(cr, 1.0, 1.0, 1.0);
    cairo_paint(cr);
    draw_axes(cr, &L, 0, !p->two_panels, p->ylabel);
    if (p->two_panels)
        draw_axes(cr, &L, 1, 1, p->ylabel2);
    /* Bands first, then bars, then everything else, so lines stay on top. */
    for (int pass = 0; pass < 3; pass++)
        for (size_t i = 0; i < p->n_series; i++) {
            xanes_plot_style sty = p->series[i].style;
            int want = sty == XANES_PLOT_VBAND ? 0 : sty == XANES_PLOT_BARS ? 1 : 2;
            if (want == pass)
                draw_series(cr, &L, &p->series[i], colours[i]);
        }
    cairo_set_source_rgb(cr, 0.0, 0.0, 0.0);
    if (p->title != NULL)
        fig_text(cr, L.x0, MT_TITLE / 2.0, p->title, FONT_TITLE, 1, FIG_LEFT, FIG_MIDDLE, 0.0);
    if (p->xlabel != NULL)
        fig_text(cr, (L.x0 + L.x1) / 2.0, (double)L.height - 12.0, p->xlabel, FONT_LABEL, 0,
                 FIG_CENTER, FIG_BOTTOM, 0.0);
    double leg_h = draw_legend(cr, &L, p, colours, L.y0 + 10.0, p->legend_left);
    if (p->annotation != NULL) {
        int same_side = (p->annotation_left != 0) == (p->legend_left != 0);
        double ay = L.y0 + 10.0 + (same_side && leg_h > 0.0 ? leg_h + 8.0 : 0.0);
        int right = !p->annotation_left;
        fig_text_box(cr, right ? L.x1 - 10.0 : L.x0 + 10.0, ay, p->annotation, FONT_LEGEND,
                     right);
    }
    if ((st = fig_cairo_check(cr, path, err)) != XANES_OK)
        goto done;
    fig_png_text text[] = {{"Title", p->title != NULL ? p->title : ""}};
    if ((st = fig_png_write(s, path, text, 1, err)) != XANES_OK)
        goto done;
    if (layout != NULL)
        *layout = L;
done:
    if (cr != NULL)
        cairo_destroy(cr);
    if (s != NULL)
        cairo_surface_destroy(s);
    free(colours);
    return st;
}

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
                                        const double *particle_values, size_t m,
                                        const char *title, const char *xlabel,
                                        xanes_error *err)
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
        st = XANES_RAISE(err, XANES_EDATA,
                         "histogram '%s': no finite value among %zu pixel values", path, n);
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
    st = XANES_RAISE(err, XANES_ENOMEM, "out of memory for histogram '%s' (%zu values)", path,
                     n);
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
