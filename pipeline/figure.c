/* figure.c: map figures (edge energy, SoC) and the particle figure.
 *
 * A map is drawn at an integer nearest-neighbour zoom by writing the viridis
 * colours straight into the cairo image surface, so every output pixel of the
 * map is exactly the colour of one data pixel (no smoothing that would invent
 * values between particles and background); cairo then adds the frame, title,
 * colour bar with nice ticks, its label and an optional scale bar.  The colour
 * limits and unit go into PNG tEXt chunks (figure_png.c), so the picture can
 * be read back quantitatively.  The particle figure is the paper's Fig. 3
 * (d)-(f): the edge map, label boundaries drawn on the sides of boundary
 * pixels that face another label, and at each centroid the particle's number
 * and mean edge energy, with the mean +- std over particles in a subtitle.
 */
#include "xanes/figure.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "figure_draw.h"

/* Layout constants, output pixels.  The auto zoom aims the longer side of the
 * map at MAP_TARGET_PX so that a 64 px map and a 512 px map give figures of
 * the same size. */
enum {
    MAP_TARGET_PX = 640,
    MARGIN_PX = 18,
    TITLE_H_PX = 40,
    SUBTITLE_H_PX = 26,
    BAR_GAP_PX = 22,
    BAR_W_PX = 26,
    TICK_LEN_PX = 6,
    TICK_TEXT_W_PX = 64,
    BAR_LABEL_W_PX = 30,
    SCALE_H_PX = 40
};

static const double TITLE_FONT_PX = 21.0, TICK_FONT_PX = 15.0, LABEL_FONT_PX = 16.0,
                    PARTICLE_FONT_PX = 14.0;

void xanes_figure_map_default_options(xanes_figure_map_options *opt)
{
    opt->vmin = NAN;
    opt->vmax = NAN;
    opt->title = NULL;
    opt->label = NULL;
    opt->unit = NULL;
    opt->pixel_um = 0.0;
    opt->zoom = 0;
}

/* Layout with room for a subtitle line under the title (particle figure). */
static xanes_status map_layout(size_t ny, size_t nx, const xanes_figure_map_options *opt,
                               int subtitle, xanes_figure_map_layout *l, xanes_error *err)
{
    if (ny == 0 || nx == 0)
        return XANES_RAISE(err, XANES_EINVAL, "cannot draw an empty map (%zu x %zu)", ny, nx);
    size_t longer = ny > nx ? ny : nx;
    size_t zoom = opt->zoom > 0 ? opt->zoom : MAP_TARGET_PX / longer;
    if (zoom == 0)
        zoom = 1;
    l->zoom = zoom;
    l->map_x0 = MARGIN_PX;
    l->map_y0 = (opt->title != NULL ? TITLE_H_PX : MARGIN_PX) + (subtitle ? SUBTITLE_H_PX : 0);
    l->bar_x0 = l->map_x0 + nx * zoom + BAR_GAP_PX;
    l->bar_y0 = l->map_y0;
    l->bar_w = BAR_W_PX;
    l->bar_h = ny * zoom;
    l->width = l->bar_x0 + BAR_W_PX + TICK_LEN_PX + TICK_TEXT_W_PX + BAR_LABEL_W_PX + MARGIN_PX;
    l->height = l->map_y0 + ny * zoom + (opt->pixel_um > 0.0 ? SCALE_H_PX : MARGIN_PX);
    return XANES_OK;
}

xanes_status xanes_figure_map_layout_get(size_t ny, size_t nx, const xanes_figure_map_options *opt,
                                         int particle_figure, xanes_figure_map_layout *layout,
                                         xanes_error *err)
{
    xanes_figure_map_options def;
    if (opt == NULL) {
        xanes_figure_map_default_options(&def);
        opt = &def;
    }
    return map_layout(ny, nx, opt, particle_figure != 0, layout, err);
}

/* Writes colour c into the w x h block at (x0, y0) of the ARGB32 data. */
static void fill_block(unsigned char *data, size_t stride, size_t x0, size_t y0, size_t w,
                       size_t h, const uint8_t c[3])
{
    uint32_t p = 0xFF000000u | ((uint32_t)c[0] << 16) | ((uint32_t)c[1] << 8) | c[2];
    for (size_t y = y0; y < y0 + h; y++) {
        uint32_t *row = (uint32_t *)(void *)(data + y * stride);
        for (size_t x = x0; x < x0 + w; x++)
            row[x] = p;
    }
}

/* Map pixels and colour-bar pixels, written directly into the surface. */
static void paint_pixels(cairo_surface_t *s, const xanes_figure_map_layout *l, const float *map,
                         size_t ny, size_t nx, double vmin, double vmax)
{
    cairo_surface_flush(s);
    unsigned char *data = cairo_image_surface_get_data(s);
    size_t stride = (size_t)cairo_image_surface_get_stride(s), z = l->zoom;
    uint8_t c[3];
    for (size_t y = 0; y < ny; y++)
        for (size_t x = 0; x < nx; x++) {
            xanes_colormap_rgb(map[y * nx + x], vmin, vmax, c);
            fill_block(data, stride, l->map_x0 + x * z, l->map_y0 + y * z, z, z, c);
        }
    /* Row r of the bar shows the value at its centre, vmax at the top. */
    for (size_t r = 0; r < l->bar_h; r++) {
        double v = vmax - ((double)r + 0.5) / (double)l->bar_h * (vmax - vmin);
        xanes_colormap_rgb(v, vmin, vmax, c);
        fill_block(data, stride, l->bar_x0, l->bar_y0 + r, l->bar_w, 1, c);
    }
    cairo_surface_mark_dirty(s);
}

/* Frame, title, colour-bar ticks and label, scale bar. */
static void draw_decorations(cairo_t *cr, const xanes_figure_map_layout *l,
                             const xanes_figure_map_options *opt, size_t ny, size_t nx,
                             double vmin, double vmax)
{
    double mw = (double)(nx * l->zoom), mh = (double)(ny * l->zoom);
    cairo_set_line_width(cr, 1.0);
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    cairo_rectangle(cr, (double)l->map_x0 - 0.5, (double)l->map_y0 - 0.5, mw + 1.0, mh + 1.0);
    cairo_stroke(cr);
    cairo_rectangle(cr, (double)l->bar_x0 - 0.5, (double)l->bar_y0 - 0.5, (double)l->bar_w + 1.0,
                    (double)l->bar_h + 1.0);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.0, 0.0, 0.0);
    if (opt->title != NULL)
        fig_text(cr, (double)l->map_x0, TITLE_H_PX / 2.0 + 2.0, opt->title, TITLE_FONT_PX, 1,
                 FIG_LEFT, FIG_MIDDLE, 0.0);

    double ticks[32];
    size_t n_ticks;
    int dec;
    size_t want = l->bar_h >= 300 ? 7 : l->bar_h >= 150 ? 5 : 3;
    xanes_figure_nice_ticks(vmin, vmax, want, ticks, 32, &n_ticks, &dec);
    double bx1 = (double)(l->bar_x0 + l->bar_w);
    for (size_t i = 0; i < n_ticks; i++) {
        double y = (double)l->bar_y0 + (vmax - ticks[i]) / (vmax - vmin) * (double)l->bar_h;
        y = floor(y) + 0.5;
        cairo_move_to(cr, bx1, y);
        cairo_line_to(cr, bx1 + TICK_LEN_PX, y);
        cairo_stroke(cr);
        char buf[64];
        fig_format_tick(buf, sizeof buf, ticks[i], dec);
        fig_text(cr, bx1 + TICK_LEN_PX + 4.0, y, buf, TICK_FONT_PX, 0, FIG_LEFT, FIG_MIDDLE, 0.0);
    }
    char label[256];
    const char *unit = opt->unit != NULL ? opt->unit : "";
    if (opt->label != NULL && unit[0] != '\0')
        snprintf(label, sizeof label, "%s (%s)", opt->label, unit);
    else
        snprintf(label, sizeof label, "%s", opt->label != NULL ? opt->label : unit);
    if (label[0] != '\0')
        fig_text(cr, (double)(l->width - MARGIN_PX) - BAR_LABEL_W_PX / 2.0,
                 (double)l->bar_y0 + (double)l->bar_h / 2.0, label, LABEL_FONT_PX, 0, FIG_CENTER,
                 FIG_MIDDLE, 90.0);

    if (opt->pixel_um > 0.0) {
        /* Scale bar of a nice length near a fifth of the map width. */
        double target_um = 0.2 * (double)nx * opt->pixel_um, len_um;
        double e = pow(10.0, floor(log10(target_um))), f = target_um / e;
        len_um = (f >= 5.0 ? 5.0 : f >= 2.0 ? 2.0 : 1.0) * e;
        double len_px = len_um / opt->pixel_um * (double)l->zoom;
        double y = (double)l->map_y0 + mh + 12.0;
        cairo_rectangle(cr, (double)l->map_x0, y, len_px, 5.0);
        cairo_fill(cr);
        char buf[64];
        snprintf(buf, sizeof buf, "%g \xC2\xB5m", len_um);
        fig_text(cr, (double)l->map_x0 + len_px + 8.0, y + 2.5, buf, TICK_FONT_PX, 0, FIG_LEFT,
                 FIG_MIDDLE, 0.0);
    }
}

/* Resolves the colour limits: given ones must be ordered, NaN ones are
 * replaced by the robust percentiles. */
static xanes_status resolve_limits(const char *path, const float *map, size_t n,
                                   const xanes_figure_map_options *opt, double *vmin,
                                   double *vmax, xanes_error *err)
{
    double lo = opt->vmin, hi = opt->vmax;
    if (isnan(lo) || isnan(hi)) {
        double alo, ahi;
        xanes_status st = xanes_figure_auto_limits(map, n, &alo, &ahi, err);
        if (st != XANES_OK)
            return st;
        if (isnan(lo))
            lo = alo;
        if (isnan(hi))
            hi = ahi;
    }
    if (!isfinite(lo) || !isfinite(hi) || !(hi > lo))
        return XANES_RAISE(err, XANES_EINVAL,
                           "figure '%s': colour limits vmin = %g, vmax = %g are not an interval",
                           path, lo, hi);
    *vmin = lo;
    *vmax = hi;
    return XANES_OK;
}

/* Boundary segments of the label image: the side of a labelled pixel's block
 * that faces a different label (or the image border) is painted white with a
 * thickness of a quarter of the zoom. */
static void paint_outlines(cairo_surface_t *s, const xanes_figure_map_layout *l,
                           const int32_t *labels, size_t ny, size_t nx)
{
    static const uint8_t white[3] = {(XANES_FIGURE_OUTLINE_RGB >> 16) & 0xFF,
                                     (XANES_FIGURE_OUTLINE_RGB >> 8) & 0xFF,
                                     XANES_FIGURE_OUTLINE_RGB & 0xFF};
    cairo_surface_flush(s);
    unsigned char *data = cairo_image_surface_get_data(s);
    size_t stride = (size_t)cairo_image_surface_get_stride(s), z = l->zoom;
    size_t t = z / 4 > 0 ? z / 4 : 1;
    for (size_t y = 0; y < ny; y++)
        for (size_t x = 0; x < nx; x++) {
            int32_t v = labels[y * nx + x];
            if (v == 0)
                continue;
            size_t bx = l->map_x0 + x * z, by = l->map_y0 + y * z;
            if (y == 0 || labels[(y - 1) * nx + x] != v)
                fill_block(data, stride, bx, by, z, t, white);
            if (y + 1 == ny || labels[(y + 1) * nx + x] != v)
                fill_block(data, stride, bx, by + z - t, z, t, white);
            if (x == 0 || labels[y * nx + x - 1] != v)
                fill_block(data, stride, bx, by, t, z, white);
            if (x + 1 == nx || labels[y * nx + x + 1] != v)
                fill_block(data, stride, bx + z - t, by, t, z, white);
        }
    cairo_surface_mark_dirty(s);
}

/* Shared body of the map and particle figures. */
static xanes_status draw_map_figure(const char *path, const float *map, const int32_t *labels,
                                    size_t ny, size_t nx, const xanes_figure_particle_label *info,
                                    size_t n_info, const xanes_figure_map_options *opt_in,
                                    double *used_vmin, double *used_vmax, xanes_error *err)
{
    xanes_status st = XANES_OK;
    cairo_surface_t *s = NULL;
    cairo_t *cr = NULL;
    xanes_figure_map_options opt;
    xanes_figure_map_layout l = {0};
    double vmin = 0.0, vmax = 1.0;
    if (opt_in != NULL)
        opt = *opt_in;
    else
        xanes_figure_map_default_options(&opt);
    if (path == NULL || map == NULL) {
        st = XANES_RAISE(err, XANES_EINVAL, "figure: NULL path or map");
        goto done;
    }
    if ((st = map_layout(ny, nx, &opt, labels != NULL, &l, err)) != XANES_OK)
        goto done;
    if ((st = resolve_limits(path, map, ny * nx, &opt, &vmin, &vmax, err)) != XANES_OK)
        goto done;
    s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, (int)l.width, (int)l.height);
    cr = cairo_create(s);
    if ((st = fig_cairo_check(cr, path, err)) != XANES_OK)
        goto done;
    cairo_set_source_rgb(cr, 1.0, 1.0, 1.0);
    cairo_paint(cr);
    paint_pixels(s, &l, map, ny, nx, vmin, vmax);
    draw_decorations(cr, &l, &opt, ny, nx, vmin, vmax);
    if (labels != NULL) {
        paint_outlines(s, &l, labels, ny, nx);
        double sum = 0.0, sum2 = 0.0;
        size_t m = 0;
        for (size_t i = 0; i < n_info; i++) {
            char num[32], val[32];
            double cx = (double)l.map_x0 + (info[i].centroid_x_px + 0.5) * (double)l.zoom;
            double cy = (double)l.map_y0 + (info[i].centroid_y_px + 0.5) * (double)l.zoom;
            snprintf(num, sizeof num, "%d", (int)info[i].label);
            snprintf(val, sizeof val, "%.2f", info[i].edge_mean_ev);
            fig_text_halo(cr, cx, cy - 1.0, num, PARTICLE_FONT_PX + 1.0, 1, FIG_CENTER,
                          FIG_BOTTOM);
            fig_text_halo(cr, cx, cy + 1.0, val, PARTICLE_FONT_PX, 0, FIG_CENTER, FIG_TOP);
            if (isfinite(info[i].edge_mean_ev)) {
                sum += info[i].edge_mean_ev;
                m++;
            }
        }
        double mean = m > 0 ? sum / (double)m : NAN;
        for (size_t i = 0; i < n_info; i++)
            if (isfinite(info[i].edge_mean_ev))
                sum2 += (info[i].edge_mean_ev - mean) * (info[i].edge_mean_ev - mean);
        double sd = m > 1 ? sqrt(sum2 / (double)(m - 1)) : 0.0;
        char sub[160];
        const char *unit = opt.unit != NULL && opt.unit[0] != '\0' ? opt.unit : "";
        if (m > 0)
            snprintf(sub, sizeof sub, "%zu particles: mean %.2f \xC2\xB1 %.2f %s", m, mean, sd,
                     unit);
        else
            snprintf(sub, sizeof sub, "no particles");
        cairo_set_source_rgb(cr, 0.25, 0.25, 0.25);
        fig_text(cr, (double)l.map_x0, (double)l.map_y0 - SUBTITLE_H_PX / 2.0, sub,
                 LABEL_FONT_PX, 0, FIG_LEFT, FIG_MIDDLE, 0.0);
    }
    if ((st = fig_cairo_check(cr, path, err)) != XANES_OK)
        goto done;

    char vmin_s[40], vmax_s[40];
    snprintf(vmin_s, sizeof vmin_s, "%.17g", vmin);
    snprintf(vmax_s, sizeof vmax_s, "%.17g", vmax);
    fig_png_text text[] = {
        {"Title", opt.title != NULL ? opt.title : ""},
        {"vmin", vmin_s},
        {"vmax", vmax_s},
        {"unit", opt.unit != NULL ? opt.unit : ""},
        {"colormap", "viridis"},
    };
    if ((st = fig_png_write(s, path, text, sizeof text / sizeof text[0], err)) != XANES_OK)
        goto done;
    if (used_vmin != NULL)
        *used_vmin = vmin;
    if (used_vmax != NULL)
        *used_vmax = vmax;
done:
    if (cr != NULL)
        cairo_destroy(cr);
    if (s != NULL)
        cairo_surface_destroy(s);
    return st;
}

xanes_status xanes_figure_map_png(const char *path, const float *map, size_t ny, size_t nx,
                                  const xanes_figure_map_options *opt, double *used_vmin,
                                  double *used_vmax, xanes_error *err)
{
    return draw_map_figure(path, map, NULL, ny, nx, NULL, 0, opt, used_vmin, used_vmax, err);
}

xanes_status xanes_figure_particles_png(const char *path, const float *edge_map,
                                        const int32_t *labels, size_t ny, size_t nx,
                                        const xanes_figure_particle_label *info, size_t n,
                                        const xanes_figure_map_options *opt, xanes_error *err)
{
    if (labels == NULL || (info == NULL && n > 0))
        return XANES_RAISE(err, XANES_EINVAL,
                           "particle figure '%s': NULL label image or particle table",
                           path != NULL ? path : "(null)");
    return draw_map_figure(path, edge_map, labels, ny, nx, info, n, opt, NULL, NULL, err);
}
