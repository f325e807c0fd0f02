/* figure_draw.h: private drawing helpers shared by figure.c and plot.c.
 *
 * Not installed; only the figure files include it (and with it cairo.h,
 * STYLE rule 3).  All sizes are in output pixels.
 */
#ifndef XANES_FIGURE_DRAW_H
#define XANES_FIGURE_DRAW_H

#include <stddef.h>

#include <cairo.h>

#include "xanes/status.h"

/* Font used for every label: DejaVu Sans (Debian fonts-dejavu-core), via
 * cairo's toy text API so no pango is needed. */
#define FIG_FONT "DejaVu Sans"

/* Text anchors: where (x, y) sits on the text's ink box. */
typedef enum { FIG_LEFT, FIG_CENTER, FIG_RIGHT } fig_halign;
typedef enum { FIG_TOP, FIG_MIDDLE, FIG_BASELINE, FIG_BOTTOM } fig_valign;

/* Draws s at (x, y) with the given anchors, size in px, bold if nonzero,
 * in the current source colour.  angle_deg rotates about (x, y) (90 = reads
 * bottom to top, for y-axis labels). */
void fig_text(cairo_t *cr, double x, double y, const char *s, double size_px, int bold,
              fig_halign ha, fig_valign va, double angle_deg);

/* Width in px of s at that size (advance, not ink). */
double fig_text_width(cairo_t *cr, const char *s, double size_px, int bold);

/* Draws s (one line) with a dark halo, for labels over an image. */
void fig_text_halo(cairo_t *cr, double x, double y, const char *s, double size_px, int bold,
                   fig_halign ha, fig_valign va);

/* Multi-line text box ('\n'-separated) with a translucent white fill and a
 * grey frame; (x, y) is the top-left corner, or top-right when right != 0.
 * Returns the box height. */
double fig_text_box(cairo_t *cr, double x, double y, const char *text, double size_px, int right);

/* Prints tick value v with the given decimals into buf; "-0" becomes "0" and
 * the minus is the typographic one (U+2212). */
void fig_format_tick(char *buf, size_t size, double v, int decimals);

/* Sets the source colour from 0xRRGGBB. */
void fig_set_rgb(cairo_t *cr, unsigned rgb);

/* Checks cr and its surface; on an error raises XANES_EFAIL naming path and
 * cairo's message. */
xanes_status fig_cairo_check(cairo_t *cr, const char *path, xanes_error *err);

/* One PNG tEXt entry. */
typedef struct {
    const char *key;
    const char *text;
} fig_png_text;

/* Writes the (opaque) ARGB32 image surface s to path as an 8-bit RGB PNG with
 * the given tEXt entries plus "Software" = "xanes <version>", atomically.
 * Statuses as xanes_atomic_*: XANES_EIO naming path, XANES_ENOMEM. */
xanes_status fig_png_write(cairo_surface_t *s, const char *path, const fig_png_text *text,
                           size_t n_text, xanes_error *err);

#endif
