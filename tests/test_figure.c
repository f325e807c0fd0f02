/* test_figure.c: colour map, ticks, and the PNG figures read back with libpng.
 *
 * Truth: the published viridis colours (matplotlib's viridis(0) = #440154,
 * 0.25 = #3b528b, 0.5 = #21918c, 0.75 = #5ec962, 1 = #fde725), GSL's
 * quantile definition worked by hand, and the geometry the layout functions
 * promise.  Set XANES_TEST_KEEP=1 to keep the PNGs (their directory is
 * printed) for a look.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <png.h>

#include "testutil.h"
#include "xanes/figure.h"

/* ---- reading PNGs back ---- */

typedef struct {
    size_t w, h;
    uint8_t *rgb; /* w*h*3 */
    char keys[16][80];
    char texts[16][200];
    int n_text;
} image;

static void image_read(const char *path, image *im)
{
    memset(im, 0, sizeof *im);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    assert_non_null(png);
    assert_non_null(info);
    if (setjmp(png_jmpbuf(png)))
        fail_msg("libpng could not read %s", path);
    png_init_io(png, f);
    png_read_info(png, info);
    assert_int_equal(png_get_color_type(png, info), PNG_COLOR_TYPE_RGB);
    assert_int_equal(png_get_bit_depth(png, info), 8);
    im->w = png_get_image_width(png, info);
    im->h = png_get_image_height(png, info);
    im->rgb = malloc(im->w * im->h * 3);
    assert_non_null(im->rgb);
    for (size_t y = 0; y < im->h; y++)
        png_read_row(png, im->rgb + y * im->w * 3, NULL);
    png_read_end(png, info);
    png_textp text;
    int n = 0;
    png_get_text(png, info, &text, &n);
    for (int i = 0; i < n && i < 16; i++) {
        snprintf(im->keys[i], sizeof im->keys[i], "%s", text[i].key);
        snprintf(im->texts[i], sizeof im->texts[i], "%s", text[i].text);
    }
    im->n_text = n < 16 ? n : 16;
    png_destroy_read_struct(&png, &info, NULL);
    fclose(f);
}

static const char *image_text(const image *im, const char *key)
{
    for (int i = 0; i < im->n_text; i++)
        if (strcmp(im->keys[i], key) == 0)
            return im->texts[i];
    return NULL;
}

static const uint8_t *px(const image *im, size_t x, size_t y)
{
    assert_true(x < im->w && y < im->h);
    return im->rgb + (y * im->w + x) * 3;
}

static void assert_rgb(const uint8_t *p, unsigned r, unsigned g, unsigned b)
{
    if (p[0] != r || p[1] != g || p[2] != b)
        fail_msg("pixel (%u,%u,%u), expected (%u,%u,%u)", p[0], p[1], p[2], r, g, b);
}

/* Number of entries of dir (excluding . and ..). */
static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

/* |a - b| <= tol, with both values in the failure message. */
#define assert_near(a, b, tol) assert_near_((a), (b), (tol), #a, __LINE__)
static void assert_near_(double a, double b, double tol, const char *what, int line)
{
    if (!(fabs(a - b) <= tol))
        fail_msg("line %d: %s = %.17g, expected %.17g +- %g", line, what, a, b, tol);
}

static char g_dir[512];

static int setup(void **state)
{
    (void)state;
    tu_make_tempdir(g_dir, sizeof g_dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (getenv("XANES_TEST_KEEP") != NULL)
        fprintf(stderr, "figures kept in %s\n", g_dir);
    else
        tu_remove_tree(g_dir);
    return 0;
}

/* ---- colour map and ticks ---- */

static void test_viridis_published_colours(void **state)
{
    (void)state;
    uint8_t c[3];
    /* On a scale 8355..8358 eV, matplotlib's viridis at t = 0, .25, .5, .75, 1 */
    const double v[5] = {8355.0, 8355.75, 8356.5, 8357.25, 8358.0};
    const unsigned want[5] = {0x440154, 0x3b528b, 0x21918c, 0x5ec962, 0xfde725};
    for (int i = 0; i < 5; i++) {
        xanes_colormap_rgb(v[i], 8355.0, 8358.0, c);
        assert_rgb(c, want[i] >> 16, (want[i] >> 8) & 0xFF, want[i] & 0xFF);
    }
    xanes_colormap_rgb(8350.0, 8355.0, 8358.0, c); /* below: clamped to the first entry */
    assert_rgb(c, 0x44, 0x01, 0x54);
    xanes_colormap_rgb(1e30, 8355.0, 8358.0, c);
    assert_rgb(c, 0xfd, 0xe7, 0x25);
    xanes_colormap_rgb(NAN, 8355.0, 8358.0, c);
    assert_rgb(c, XANES_FIGURE_NAN_GREY, XANES_FIGURE_NAN_GREY, XANES_FIGURE_NAN_GREY);
    assert_int_equal(xanes_colormap_index(c), -1); /* grey is not a viridis colour */
    for (int k = 0; k < 256; k++) {
        /* entries 112/113 and 129/130 share one 8-bit colour: the index is
         * the first entry with that colour */
        uint8_t c2[3];
        xanes_colormap_rgb((k + 0.5) / 256.0, 0.0, 1.0, c);
        int k2 = xanes_colormap_index(c);
        assert_true(k2 == k || (k2 == k - 1 && (k == 113 || k == 130)));
        xanes_colormap_rgb((k2 + 0.5) / 256.0, 0.0, 1.0, c2);
        assert_memory_equal(c, c2, 3);
    }
}

static void test_nice_ticks(void **state)
{
    (void)state;
    double t[32];
    size_t n;
    int dec;
    xanes_figure_nice_ticks(8355.3, 8357.2, 7, t, 32, &n, &dec);
    assert_int_equal(n, 4);
    assert_int_equal(dec, 1);
    const double want[4] = {8355.5, 8356.0, 8356.5, 8357.0};
    for (size_t i = 0; i < n; i++)
        assert_near(t[i], want[i], 1e-9);
    xanes_figure_nice_ticks(-0.013, 0.021, 5, t, 32, &n, &dec);
    assert_int_equal(n, 4);
    assert_int_equal(dec, 2);
    assert_near(t[0], -0.01, 1e-15);
    assert_true(t[1] == 0.0);
    assert_near(t[3], 0.02, 1e-15);
    xanes_figure_nice_ticks(0.0, 1.0, 6, t, 32, &n, &dec);
    assert_int_equal(n, 6);
    assert_near(t[3], 0.6, 1e-15);
    xanes_figure_nice_ticks(1.0, 1.0, 6, t, 32, &n, &dec); /* empty range */
    assert_int_equal(n, 0);
}

static void test_auto_limits(void **state)
{
    (void)state;
    float v[1003];
    for (int i = 0; i < 1000; i++)
        v[i] = (float)(999 - i);
    v[1000] = NAN;
    v[1001] = INFINITY;
    v[1002] = NAN;
    double lo, hi;
    xanes_error err;
    xanes_error_clear(&err);
    assert_int_equal(xanes_figure_auto_limits(v, 1003, &lo, &hi, &err), XANES_OK);
    /* GSL quantile of sorted 0..999: x[(n-1) f] interpolated: 9.99 and 989.01 */
    assert_near(lo, 9.99, 1e-9);
    assert_near(hi, 989.01, 1e-9);
    for (int i = 0; i < 10; i++)
        v[i] = 8356.25f;
    assert_int_equal(xanes_figure_auto_limits(v, 10, &lo, &hi, &err), XANES_OK);
    assert_near(lo, 8355.75, 1e-9);
    assert_near(hi, 8356.75, 1e-9);
    v[0] = v[1] = NAN;
    assert_int_equal(xanes_figure_auto_limits(v, 2, &lo, &hi, &err), XANES_EDATA);
    assert_non_null(strstr(err.message, "no finite value"));
}

/* ---- map figure ---- */

enum { NY = 37, NX = 53 };

static void make_map(float *map)
{
    for (size_t y = 0; y < NY; y++)
        for (size_t x = 0; x < NX; x++)
            map[y * NX + x] = (float)(8355.2 + 2.7 * (double)x / (NX - 1) + 0.01 * (double)y);
    for (size_t y = 5; y < 9; y++) /* a masked block */
        for (size_t x = 30; x < 36; x++)
            map[y * NX + x] = NAN;
    map[20 * NX + 11] = 8356.5f; /* t = 0.5 on 8355..8358: #21918c */
}

static void test_map_png(void **state)
{
    (void)state;
    static float map[NY * NX];
    make_map(map);
    char path[600];
    snprintf(path, sizeof path, "%s/edge_map.png", g_dir);
    xanes_figure_map_options opt;
    xanes_figure_map_default_options(&opt);
    opt.vmin = 8355.0;
    opt.vmax = 8358.0;
    opt.title = "Edge energy, NCM-B charged";
    opt.label = "Edge energy";
    opt.unit = "eV";
    opt.pixel_um = 0.0328;
    xanes_error err;
    xanes_error_clear(&err);
    double used_lo, used_hi;
    assert_int_equal(xanes_figure_map_png(path, map, NY, NX, &opt, &used_lo, &used_hi, &err),
                     XANES_OK);
    assert_true(used_lo == 8355.0 && used_hi == 8358.0);
    xanes_figure_map_layout l;
    assert_int_equal(xanes_figure_map_layout_get(NY, NX, &opt, 0, &l, &err), XANES_OK);
    assert_int_equal(l.zoom, 640 / NX);

    image im;
    image_read(path, &im);
    assert_int_equal(im.w, l.width);
    assert_int_equal(im.h, l.height);
    assert_string_equal(image_text(&im, "vmin"), "8355");
    assert_string_equal(image_text(&im, "vmax"), "8358");
    assert_string_equal(image_text(&im, "unit"), "eV");
    assert_string_equal(image_text(&im, "colormap"), "viridis");
    assert_non_null(image_text(&im, "Software"));
    assert_non_null(strstr(image_text(&im, "Software"), "xanes"));

    size_t z = l.zoom;
    /* every output pixel of the NaN block is the neutral grey */
    for (size_t y = 5 * z; y < 9 * z; y++)
        for (size_t x = 30 * z; x < 36 * z; x++)
            assert_rgb(px(&im, l.map_x0 + x, l.map_y0 + y), XANES_FIGURE_NAN_GREY,
                       XANES_FIGURE_NAN_GREY, XANES_FIGURE_NAN_GREY);
    /* the 8356.5 eV pixel is viridis(0.5) over its whole block */
    for (size_t dy = 0; dy < z; dy++)
        for (size_t dx = 0; dx < z; dx++)
            assert_rgb(px(&im, l.map_x0 + 11 * z + dx, l.map_y0 + 20 * z + dy), 0x21, 0x91, 0x8c);
    /* every map pixel maps to the colour of its value */
    for (size_t y = 0; y < NY; y++)
        for (size_t x = 0; x < NX; x++) {
            uint8_t c[3];
            xanes_colormap_rgb(map[y * NX + x], 8355.0, 8358.0, c);
            const uint8_t *p = px(&im, l.map_x0 + x * z + z / 2, l.map_y0 + y * z + z / 2);
            assert_rgb(p, c[0], c[1], c[2]);
        }
    /* colour bar: viridis in every row, top = last entry, bottom = first,
     * never increasing downwards */
    int prev = 256;
    size_t bx = l.bar_x0 + l.bar_w / 2;
    for (size_t r = 0; r < l.bar_h; r++) {
        int k = xanes_colormap_index(px(&im, bx, l.bar_y0 + r));
        assert_true(k >= 0);
        assert_true(k <= prev);
        prev = k;
        if (r == 0)
            assert_int_equal(k, 255);
    }
    assert_int_equal(prev, 0);
    /* white margin, left of the map frame */
    assert_rgb(px(&im, 2, l.map_y0 + 40), 255, 255, 255);
    /* only the final file in the directory: no temporary left behind */
    assert_int_equal(dir_entries(g_dir), 1);
    free(im.rgb);
}

static void test_map_auto_limits_in_text_chunks(void **state)
{
    (void)state;
    static float map[NY * NX];
    make_map(map);
    map[3] = 9000.0f; /* a hot pixel the percentiles must ignore */
    char path[600];
    snprintf(path, sizeof path, "%s/auto_map.png", g_dir);
    xanes_figure_map_options opt;
    xanes_figure_map_default_options(&opt);
    opt.unit = "";
    opt.label = "SoC";
    opt.zoom = 3;
    xanes_error err;
    xanes_error_clear(&err);
    double lo, hi, want_lo, want_hi;
    assert_int_equal(xanes_figure_map_png(path, map, NY, NX, &opt, &lo, &hi, &err), XANES_OK);
    assert_int_equal(xanes_figure_auto_limits(map, NY * NX, &want_lo, &want_hi, &err), XANES_OK);
    assert_true(lo == want_lo && hi == want_hi);
    assert_true(hi < 8358.3);
    image im;
    image_read(path, &im);
    assert_true(strtod(image_text(&im, "vmin"), NULL) == lo); /* %.17g round-trips */
    assert_true(strtod(image_text(&im, "vmax"), NULL) == hi);
    assert_string_equal(image_text(&im, "unit"), "");
    xanes_figure_map_layout l;
    assert_int_equal(xanes_figure_map_layout_get(NY, NX, &opt, 0, &l, &err), XANES_OK);
    assert_int_equal(im.w, l.width);
    assert_int_equal(l.zoom, 3);
    /* the hot pixel is clamped to the top colour */
    assert_rgb(px(&im, l.map_x0 + 3 * 3 + 1, l.map_y0 + 1), 0xfd, 0xe7, 0x25);
    free(im.rgb);
    remove(path);
}

static void test_map_errors(void **state)
{
    (void)state;
    static float map[NY * NX];
    make_map(map);
    xanes_error err;
    xanes_error_clear(&err);
    xanes_figure_map_options opt;
    xanes_figure_map_default_options(&opt);
    assert_int_equal(
        xanes_figure_map_png("/nonexistent-xanes-dir/m.png", map, NY, NX, &opt, NULL, NULL, &err),
        XANES_EIO);
    assert_non_null(strstr(err.message, "/nonexistent-xanes-dir/m.png"));

    char path[600];
    snprintf(path, sizeof path, "%s/bad.png", g_dir);
    opt.vmin = 8357.0;
    opt.vmax = 8356.0;
    xanes_error_clear(&err);
    assert_int_equal(xanes_figure_map_png(path, map, NY, NX, &opt, NULL, NULL, &err),
                     XANES_EINVAL);
    assert_non_null(strstr(err.message, "bad.png"));
    xanes_figure_map_default_options(&opt);
    for (size_t i = 0; i < NY * NX; i++)
        map[i] = NAN;
    xanes_error_clear(&err);
    assert_int_equal(xanes_figure_map_png(path, map, NY, NX, &opt, NULL, NULL, &err),
                     XANES_EDATA);
    xanes_error_clear(&err);
    assert_int_equal(xanes_figure_map_png(path, map, 0, NX, &opt, NULL, NULL, &err),
                     XANES_EINVAL);
    assert_int_equal(dir_entries(g_dir), 0); /* nothing written, nothing left */
}

/* ---- particle figure ---- */

static void test_particles_png(void **state)
{
    (void)state;
    enum { PY = 48, PX = 64 };
    static float edge[PY * PX];
    static int32_t lab[PY * PX];
    /* particles 1 and 2 touch along x = 20|21; particle 3 reaches the right
     * border; the background is NaN */
    for (size_t y = 0; y < PY; y++)
        for (size_t x = 0; x < PX; x++) {
            int32_t v = 0;
            if (y >= 8 && y < 30 && x >= 6 && x <= 20)
                v = 1;
            else if (y >= 8 && y < 30 && x >= 21 && x < 36)
                v = 2;
            else if (y >= 32 && y < 44 && x >= 44)
                v = 3;
            lab[y * PX + x] = v;
            edge[y * PX + x] = v == 0 ? NAN : (float)(8355.9 + 0.4 * v + 0.002 * (double)x);
        }
    xanes_figure_particle_label info[3] = {
        {1, 13.0, 18.5, 8356.33}, {2, 28.0, 18.5, 8356.76}, {3, 53.5, 37.5, 8357.21}};
    xanes_figure_map_options opt;
    xanes_figure_map_default_options(&opt);
    opt.vmin = 8355.5;
    opt.vmax = 8357.5;
    opt.title = "Particles, NCM-B charged";
    opt.label = "Edge energy";
    opt.unit = "eV";
    opt.pixel_um = 0.0328;
    char path[600];
    snprintf(path, sizeof path, "%s/particles.png", g_dir);
    xanes_error err;
    xanes_error_clear(&err);
    assert_int_equal(xanes_figure_particles_png(path, edge, lab, PY, PX, info, 3, &opt, &err),
                     XANES_OK);
    xanes_figure_map_layout l;
    assert_int_equal(xanes_figure_map_layout_get(PY, PX, &opt, 1, &l, &err), XANES_OK);
    image im;
    image_read(path, &im);
    assert_int_equal(im.w, l.width);
    assert_int_equal(im.h, l.height);
    size_t z = l.zoom, t = z / 4;
    assert_int_equal(z, 10);
    /* boundary between particles 1 and 2: the facing columns of both blocks
     * are white over the whole block height (row 12, far from the labels) */
    for (size_t dy = 0; dy < z; dy++) {
        size_t y = l.map_y0 + 12 * z + dy;
        for (size_t k = 0; k < t; k++) {
            assert_rgb(px(&im, l.map_x0 + 20 * z + z - 1 - k, y), 255, 255, 255);
            assert_rgb(px(&im, l.map_x0 + 21 * z + k, y), 255, 255, 255);
        }
    }
    /* the outline of particle 3 runs along the right border of the image */
    assert_rgb(px(&im, l.map_x0 + PX * z - 1, l.map_y0 + 40 * z + 3), 255, 255, 255);
    /* top edge of particle 1 at row 8 */
    assert_rgb(px(&im, l.map_x0 + 9 * z + 5, l.map_y0 + 8 * z), 255, 255, 255);
    /* interior pixels keep their viridis colour; background is grey */
    uint8_t c[3];
    xanes_colormap_rgb(edge[12 * PX + 9], 8355.5, 8357.5, c);
    assert_rgb(px(&im, l.map_x0 + 9 * z + z / 2, l.map_y0 + 12 * z + z / 2), c[0], c[1], c[2]);
    assert_rgb(px(&im, l.map_x0 + 2 * z + 3, l.map_y0 + 2 * z + 3), XANES_FIGURE_NAN_GREY,
               XANES_FIGURE_NAN_GREY, XANES_FIGURE_NAN_GREY);
    /* a label is drawn at each centroid: dark halo pixels in a 40 px box */
    for (int i = 0; i < 3; i++) {
        size_t cx = l.map_x0 + (size_t)((info[i].centroid_x_px + 0.5) * (double)z);
        size_t cy = l.map_y0 + (size_t)((info[i].centroid_y_px + 0.5) * (double)z);
        int dark = 0;
        for (size_t y = cy - 20; y < cy + 20; y++)
            for (size_t x = cx - 20; x < cx + 20; x++) {
                const uint8_t *p = px(&im, x, y);
                dark += p[0] < 40 && p[1] < 40 && p[2] < 40;
            }
        assert_true(dark > 20);
    }
    assert_string_equal(image_text(&im, "unit"), "eV");
    free(im.rgb);
    xanes_error_clear(&err);
    assert_int_equal(xanes_figure_particles_png(path, edge, lab, PY, PX, NULL, 3, &opt, &err),
                     XANES_EINVAL);
}

/* ---- plots ---- */

static void test_plot_geometry(void **state)
{
    (void)state;
    double x[2] = {0.0, 1.0}, y[2] = {0.5, 0.5};
    double rx[1] = {0.3}, ry[1] = {0.0};
    xanes_plot_series ser[2] = {
        {x, y, 2, "level", XANES_PLOT_LINE, 0xD55E00, 3.0, 0},
        {rx, ry, 1, NULL, XANES_PLOT_POINTS, 0x009E73, 4.0, 1},
    };
    xanes_plot p;
    xanes_plot_default(&p);
    p.title = "Geometry";
    p.xlabel = "x";
    p.ylabel = "y";
    p.ylabel2 = "residual";
    p.series = ser;
    p.n_series = 2;
    p.two_panels = 1;
    p.ymin = 0.0;
    p.ymax = 1.0;
    p.ymin2 = -1.0;
    p.ymax2 = 1.0;
    char path[600];
    snprintf(path, sizeof path, "%s/geometry.png", g_dir);
    xanes_plot_layout L;
    xanes_error err;
    xanes_error_clear(&err);
    assert_int_equal(xanes_figure_plot_png(path, &p, &L, &err), XANES_OK);
    image im;
    image_read(path, &im);
    assert_int_equal(im.w, 900);
    assert_int_equal(im.h, 780);
    assert_true(L.xmin == 0.0 && L.xmax == 1.0);
    /* the line at y = 0.5, x = 0.45 (away from the legend) is vermillion */
    double X = L.x0 + 0.45 * (L.x1 - L.x0), Y = L.y1 - 0.5 * (L.y1 - L.y0);
    assert_rgb(px(&im, (size_t)X, (size_t)Y), 0xD5, 0x5E, 0x00);
    /* 0.3 above it the panel is empty (white or grid grey) */
    const uint8_t *q = px(&im, (size_t)X, (size_t)(Y - 0.3 * (L.y1 - L.y0)));
    assert_true(q[0] == q[1] && q[1] == q[2] && q[0] >= 200);
    /* the point in the lower panel at (0.3, 0) */
    X = L.x0 + 0.3 * (L.x1 - L.x0);
    Y = 0.5 * (L.y0_2 + L.y1_2);
    assert_rgb(px(&im, (size_t)X, (size_t)Y), 0x00, 0x9E, 0x73);
    free(im.rgb);

    ser[1].panel = 1;
    p.two_panels = 0;
    xanes_error_clear(&err);
    assert_int_equal(xanes_figure_plot_png(path, &p, NULL, &err), XANES_EINVAL);
    assert_non_null(strstr(err.message, "geometry.png"));
    p.n_series = 0;
    xanes_error_clear(&err);
    assert_int_equal(xanes_figure_plot_png(path, &p, NULL, &err), XANES_EINVAL);
}

static void test_histogram_png(void **state)
{
    (void)state;
    /* 4000 pixels from a deterministic bimodal sample, 5 particle means */
    static float pixels[4000];
    uint32_t s = 12345u;
    for (int i = 0; i < 4000; i++) {
        double u = 0.0;
        for (int k = 0; k < 12; k++) { /* Irwin-Hall approximation of a normal */
            s = s * 1664525u + 1013904223u;
            u += (double)(s >> 8) / 16777216.0;
        }
        pixels[i] = (float)((i % 3 == 0 ? 8357.1 : 8356.2) + 0.25 * (u - 6.0));
    }
    pixels[7] = NAN;
    double particles[5] = {8356.1, 8356.4, 8357.2, 8357.05, 8356.3};
    char path[600];
    snprintf(path, sizeof path, "%s/edge_histogram.png", g_dir);
    xanes_error err;
    xanes_error_clear(&err);
    assert_int_equal(xanes_figure_histogram_png(path, pixels, 4000, particles, 5,
                                                "Edge-energy distribution", "Edge energy (eV)",
                                                &err),
                     XANES_OK);
    image im;
    image_read(path, &im);
    assert_int_equal(im.w, 900);
    assert_int_equal(im.h, 600);
    /* bars: sky blue (86, 180, 233) at 60 % over white = (154, 210, 242), +-2 */
    int bar = 0, step = 0;
    for (size_t i = 0; i < im.w * im.h; i++) {
        const uint8_t *p = im.rgb + 3 * i;
        bar += abs(p[0] - 154) <= 2 && abs(p[1] - 210) <= 2 && abs(p[2] - 242) <= 2;
        step += p[0] == 0xD5 && p[1] == 0x5E && p[2] == 0x00;
    }
    assert_true(bar > 5000);
    assert_true(step > 200); /* 5 particles: rug points and the mean line */
    free(im.rgb);
    float nan_only[3] = {NAN, NAN, NAN};
    xanes_error_clear(&err);
    assert_int_equal(xanes_figure_histogram_png(path, nan_only, 3, NULL, 0, NULL, NULL, &err),
                     XANES_EDATA);
    assert_non_null(strstr(err.message, "edge_histogram.png"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_viridis_published_colours),
        cmocka_unit_test(test_nice_ticks),
        cmocka_unit_test(test_auto_limits),
        cmocka_unit_test_setup_teardown(test_map_png, setup, teardown),
        cmocka_unit_test_setup_teardown(test_map_auto_limits_in_text_chunks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_map_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_particles_png, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plot_geometry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_histogram_png, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
