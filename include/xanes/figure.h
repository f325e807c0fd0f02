/* figure.h: publication figures of libxanes (PNG, drawn with cairo).
 *
 * Four kinds of figure, all written atomically (temporary file in the target
 * directory, then rename) so that a failure never leaves a partial PNG:
 *   - a scalar map (edge energy, SoC) in the viridis colour map with a colour
 *     bar, title and optional scale bar; the colour limits and unit are stored
 *     in PNG tEXt chunks ("vmin", "vmax", "unit", "colormap", "Software");
 *   - the particle map: edge map, label boundaries, and at each centroid the
 *     particle number and its mean edge energy (seed paper Fig. 3 (d)-(f));
 *   - the edge-energy histogram, per pixel and per particle, with mean +- std;
 *   - a generic x-y plot (lines, points, bars, vertical marks, bands) with an
 *     optional second panel below for residuals, used by sfit and model.
 *
 * NaN pixels are drawn in a neutral grey (XANES_FIGURE_NAN_GREY) that is not
 * part of viridis.  Every function here is thread-safe for distinct paths
 * (cairo's image backend and libpng hold no shared state we touch).
 */
#ifndef XANES_FIGURE_H
#define XANES_FIGURE_H

#include <stddef.h>
#include <stdint.h>

#include "xanes/status.h"

/* ---- colour map (pipeline/colormap.c, no cairo) ---- */

/* NaN (masked) pixels: R = G = B = this value, a neutral grey that viridis
 * never produces (viridis always has B != G or R != G). */
#define XANES_FIGURE_NAN_GREY 200

/* Colour of value v on the scale [vmin, vmax] as 8-bit sRGB.  Follows
 * matplotlib's lookup: t = (v - vmin)/(vmax - vmin) clamped to [0, 1], entry
 * min(floor(256 t), 255) of the 256-entry viridis table.  A NaN v, or a
 * degenerate scale (vmax <= vmin or non-finite limits), gives the NaN grey
 * for NaN v and the middle entry otherwise.  Thread-safe. */
void xanes_colormap_rgb(double v, double vmin, double vmax, uint8_t rgb[3]);

/* Index (0..255) of the viridis entry whose 8-bit colour is rgb, or -1 when
 * rgb is not a viridis colour.  Used by tests and by tools that read the map
 * back from a PNG.  Thread-safe. */
int xanes_colormap_index(const uint8_t rgb[3]);

/* "Nice" axis ticks (Heckbert, "Nice numbers for graph labels", Graphics
 * Gems, 1990): step 1, 2 or 5 x 10^k, about max_ticks ticks, every tick inside
 * [lo, hi].  Writes up to cap values to ticks, the count to *n and the number
 * of decimals to print them with to *decimals.  lo < hi must be finite
 * (otherwise *n = 0).  Thread-safe. */
void xanes_figure_nice_ticks(double lo, double hi, size_t max_ticks, double *ticks, size_t cap,
                             size_t *n, int *decimals);

/* Robust colour limits: the 1st and 99th percentiles of the finite values of
 * map[0..n).  XANES_EDATA when no value is finite; when the two percentiles
 * coincide the range is widened by +-min(0.5, 1 % of |value|) (+-0.5 at 0) so
 * the scale is never empty.  Allocates a copy of the finite values.  Thread-safe. */
xanes_status xanes_figure_auto_limits(const float *map, size_t n, double *vmin, double *vmax,
                                      xanes_error *err);

/* ---- maps (pipeline/figure.c) ---- */

typedef struct {
    double vmin, vmax;         /* colour limits; NaN = auto (1-99 % percentiles) */
    const char *title;         /* drawn above the map; NULL = none */
    const char *label;         /* colour-bar label, e.g. "Edge energy"; NULL = none */
    const char *unit;          /* e.g. "eV"; "" = dimensionless; NULL = "" */
    double pixel_um;           /* pixel size for a scale bar; 0 = no scale bar */
    size_t zoom;               /* integer nearest-neighbour zoom; 0 = auto */
} xanes_figure_map_options;

/* Defaults: auto limits, no title or label, no unit, no scale bar, auto zoom
 * (the largest integer zoom that keeps the longer side within 640 px, at
 * least 1). */
void xanes_figure_map_default_options(xanes_figure_map_options *opt);

/* Where things land in a map figure (all in output pixels).  The map occupies
 * [map_x0, map_x0 + nx*zoom) x [map_y0, map_y0 + ny*zoom); map pixel (y, x)
 * fills the zoom x zoom block starting at (map_x0 + x*zoom, map_y0 + y*zoom).
 * The colour bar is the rectangle at (bar_x0, bar_y0) of bar_w x bar_h, vmax
 * at its top row and vmin at its bottom row. */
typedef struct {
    size_t width, height, zoom;
    size_t map_x0, map_y0;
    size_t bar_x0, bar_y0, bar_w, bar_h;
} xanes_figure_map_layout;

/* Layout of the map figure (particle_figure = 0) or of the particle figure
 * (nonzero: a subtitle line moves the map down) for a ny x nx map with these
 * options (NULL = defaults).  Pure arithmetic, thread-safe; XANES_EINVAL for
 * an empty map. */
xanes_status xanes_figure_map_layout_get(size_t ny, size_t nx, const xanes_figure_map_options *opt,
                                         int particle_figure, xanes_figure_map_layout *layout,
                                         xanes_error *err);

/* Writes map (row-major float [ny*nx], NaN = masked) to path as a PNG figure.
 * opt NULL = defaults.  When used_vmin/used_vmax are non-NULL they receive the
 * limits actually drawn (after auto).  Returns XANES_EINVAL (empty map, vmin
 * >= vmax given), XANES_EDATA (auto limits with no finite value), XANES_EIO
 * (cannot create or write path: the message names it), XANES_ENOMEM, XANES_EFAIL
 * (cairo error).  No file is left at path or beside it on failure. */
xanes_status xanes_figure_map_png(const char *path, const float *map, size_t ny, size_t nx,
                                  const xanes_figure_map_options *opt, double *used_vmin,
                                  double *used_vmax, xanes_error *err);

/* One particle to annotate on the particle figure. */
typedef struct {
    int32_t label;           /* label value in the label image (1..N) */
    double centroid_x_px;    /* column of the centroid, map pixels */
    double centroid_y_px;    /* row of the centroid, map pixels */
    double edge_mean_ev;     /* mean edge energy of the particle */
} xanes_figure_particle_label;

/* Writes the particle figure: edge_map in viridis (opt as for the map figure),
 * a white outline on every map pixel whose 4-neighbour has a different label
 * (so touching particles are separated, and outlines lie inside particles),
 * and at each centroid the label number and its edge_mean_ev.  A corner box
 * gives the mean +- std of the n particle means ("particles: mean ... eV").
 * labels is int32 [ny*nx], 0 = background.  Same statuses as
 * xanes_figure_map_png, plus XANES_EINVAL when info is NULL with n > 0. */
xanes_status xanes_figure_particles_png(const char *path, const float *edge_map,
                                        const int32_t *labels, size_t ny, size_t nx,
                                        const xanes_figure_particle_label *info, size_t n,
                                        const xanes_figure_map_options *opt, xanes_error *err);

/* Outline colour of xanes_figure_particles_png (white), for tests. */
#define XANES_FIGURE_OUTLINE_RGB 0xFFFFFFu

/* ---- plots (pipeline/plot.c) ---- */

typedef enum {
    XANES_PLOT_LINE = 0,   /* polyline through (x[i], y[i]) */
    XANES_PLOT_DASHED,     /* dashed polyline */
    XANES_PLOT_POINTS,     /* filled circles */
    XANES_PLOT_BARS,       /* histogram bars: x = bin centres (equal width), y = heights */
    XANES_PLOT_STEPS,      /* histogram outline: x = bin centres (equal width), y = heights */
    XANES_PLOT_VLINE,      /* vertical line at each x[i] across the panel (y unused) */
    XANES_PLOT_VBAND       /* shaded band between x[0] and x[1] (y unused) */
} xanes_plot_style;

/* Colour 0xRRGGBB, or XANES_PLOT_AUTO for the next colour of the palette
 * (Okabe-Ito, colour-blind safe). */
#define XANES_PLOT_AUTO 0xFFFFFFFFu

typedef struct {
    const double *x;          /* [n] */
    const double *y;          /* [n]; may be NULL for VLINE/VBAND */
    size_t n;
    const char *label;        /* legend text; NULL = not in the legend */
    xanes_plot_style style;
    uint32_t rgb;             /* 0xRRGGBB or XANES_PLOT_AUTO */
    double width;             /* line width / point radius in px; 0 = default */
    int panel;                /* 0 = main panel, 1 = lower panel */
} xanes_plot_series;

typedef struct {
    const char *title;        /* NULL = none */
    const char *xlabel;
    const char *ylabel;       /* main panel */
    const char *ylabel2;      /* lower panel (e.g. "Residual") */
    const xanes_plot_series *series;
    size_t n_series;
    int two_panels;           /* nonzero: a lower panel sharing x (residuals) */
    double xmin, xmax;        /* NaN = from the data */
    double ymin, ymax;        /* main panel; NaN = from the data (bars start at 0) */
    double ymin2, ymax2;      /* lower panel; NaN = from the data, symmetric about 0 */
    const char *annotation;   /* text box, lines separated by '\n'; NULL = none */
    int annotation_left;      /* nonzero: box at the upper left, else upper right */
    int legend_left;          /* nonzero: legend at the upper left, else upper right */
    size_t width_px, height_px; /* 0 = 900 x 600 (x 780 with two panels) */
} xanes_plot;

/* Fills p with defaults: no series, auto limits, 900 x 600. */
void xanes_plot_default(xanes_plot *p);

/* Geometry of a plot, for tests and for callers placing extra marks. */
typedef struct {
    size_t width, height;
    double x0, x1;            /* left and right pixel of the plotting area */
    double y0, y1;            /* top and bottom pixel of the main panel */
    double y0_2, y1_2;        /* lower panel (0, 0 when there is none) */
    double xmin, xmax, ymin, ymax, ymin2, ymax2; /* data limits actually used */
} xanes_plot_layout;

/* Writes the plot to path as a PNG.  layout (may be NULL) receives the
 * geometry drawn.  Returns XANES_EINVAL (no series, a series with n = 0 or
 * NULL arrays its style needs, panel 1 without two_panels, no finite data to
 * scale an axis), XANES_EIO (cannot create or write path), XANES_ENOMEM,
 * XANES_EFAIL (cairo).  Non-finite points are skipped (lines break there).
 * No file is left behind on failure.  Thread-safe for distinct paths. */
xanes_status xanes_figure_plot_png(const char *path, const xanes_plot *plot,
                                   xanes_plot_layout *layout, xanes_error *err);

/* Edge-energy histogram: per-pixel values (float, NaN skipped) as filled
 * bars and per-particle values (double, NaN skipped) as a step outline, both
 * as probability density on the same bins (Freedman-Diaconis width on the
 * pixel values, 10..80 bins) -- or, with fewer than 20 particles, as a rug of
 * points near the axis -- dashed vertical lines at both means, and a box
 * with "pixels: mean +- std eV (n)" and "particles: mean +- std eV (m)".
 * particle_values may be NULL with m = 0.  XANES_EDATA when no pixel value
 * is finite; otherwise as xanes_figure_plot_png. */
xanes_status xanes_figure_histogram_png(const char *path, const float *pixel_values, size_t n,
                                        const double *particle_values, size_t m,
                                        const char *title, const char *xlabel,
                                        xanes_error *err);

#endif
