/* test_stack.c: the HDF5 stack reader and the correction to absorbance.
 *
 * Every fixture is written here at run time with the HDF5 C API, one per
 * layout the reader must recognise (FXI with a string and a numeric pixel
 * size, FXI raw counts (with --raw, or integer without it), APS uint16 with
 * one flat per energy and a dark stack,
 * APS with a few flats to average and no dark, a NeXus-like custom file,
 * chunked + gzip).  The truth is computed independently in the test from the
 * values written: -ln(T) or -ln((I - D) / (F - D)) in double, rounded to
 * float, and compared for exact equality; invalid pixels are planted at known
 * places and their per-frame counts asserted.
 */
#include <math.h>
#include <omp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "h5fixture.h"
#include "testutil.h"
#include "xanes/stack.h"

#define NE 12
#define NY 7
#define NX 9
#define NPIX (NY * NX)

/* Uneven grid (keV), as a real scan around the Ni K edge. */
static const double kev[NE] = {8.3000, 8.3105, 8.3211, 8.3302, 8.3337, 8.3391,
                               8.3433, 8.3478, 8.3521, 8.3605, 8.3780, 8.4012};

static char dir[512];

static const char *fixture(char *buf, const char *name)
{
    snprintf(buf, 600, "%s/%s", dir, name);
    return buf;
}

/* -------- FXI: transmission with planted invalid pixels ------------------ */

static float T[NE * NPIX];

static void make_transmission(void)
{
    unsigned long long s = 20260525ULL;
    for (size_t i = 0; i < NE * NPIX; i++)
        T[i] = (float)(0.05 + 1.1 * fx_uniform(&s));
    T[(2 * NY + 3) * NX + 4] = 0.0f; /* FXI writes NaN/Inf as 0       */
    T[(2 * NY + 0) * NX + 0] = 0.0f;
    T[(7 * NY + 6) * NX + 8] = NAN;
    T[(9 * NY + 1) * NX + 2] = -0.01f; /* non-positive                  */
    T[(10 * NY + 5) * NX + 5] = INFINITY;
}

static void write_fxi(const char *path, int numeric_pixel, const hsize_t *chunk, int gzip)
{
    hid_t f = fx_create(path);
    hsize_t d3[3] = {NE, NY, NX};
    fx_write(f, "/img_xanes", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, 3, d3, T, chunk, gzip);
    static float bkg[2 * NPIX], dark[NPIX];
    for (size_t i = 0; i < 2 * NPIX; i++)
        bkg[i] = 3000.0f + (float)i;
    for (size_t i = 0; i < NPIX; i++)
        dark[i] = 100.0f;
    hsize_t db[3] = {2, NY, NX}, dd[3] = {1, NY, NX};
    fx_write_f32(f, "/img_bkg", 3, db, bkg);
    fx_write_f32(f, "/img_dark", 3, dd, dark);
    fx_energy(f, "/X_eng", NE, kev);
    if (numeric_pixel) {
        double px = 30.5;
        fx_write_f64(f, "/Pixel Size", 0, NULL, &px);
    } else {
        fx_write_vstring(f, "/Pixel Size", "21.3nm");
    }
    double mag = 47.5;
    fx_write_f64(f, "/Magnification", 0, NULL, &mag);
    fx_close(f);
}

static xanes_stack *read_ok(const char *path, const xanes_stack_options *opt)
{
    xanes_error err;
    xanes_error_clear(&err);
    xanes_stack *s = NULL;
    xanes_status st = xanes_stack_read(path, opt, &s, &err);
    if (st != XANES_OK)
        fail_msg("xanes_stack_read(%s): %s", path, err.message);
    assert_non_null(s);
    return s;
}

/* Exact comparison; NaN must meet NaN. */
static void assert_same_float(float got, float want, size_t i)
{
    if (isnan(want)) {
        if (!isnan(got))
            fail_msg("pixel %zu: got %.9g, want NaN", i, (double)got);
        return;
    }
    if (got != want)
        fail_msg("pixel %zu: got %.9g, want %.9g", i, (double)got, (double)want);
}

static float want_transmission(float t)
{
    if (!isfinite(t) || t <= 0.0f)
        return NAN;
    return (float)(-log((double)t));
}

static void check_fxi_transmission(const xanes_stack *s, size_t y0, size_t ny)
{
    assert_int_equal(s->n_energy, NE);
    assert_int_equal(s->ny, ny);
    assert_int_equal(s->nx, NX);
    assert_int_equal(s->row_begin, y0);
    assert_int_equal(s->ny_file, NY);
    for (size_t k = 0; k < NE; k++)
        for (size_t y = 0; y < ny; y++)
            for (size_t x = 0; x < NX; x++) {
                size_t i = (k * ny + y) * NX + x;
                assert_same_float(s->absorbance[i],
                                  want_transmission(T[(k * NY + y0 + y) * NX + x]), i);
            }
}

static void test_fxi_string_pixel(void **state)
{
    (void)state;
    char path[600];
    write_fxi(fixture(path, "fxi_str.h5"), 0, NULL, 0);
    xanes_stack *s = read_ok(path, NULL);
    check_fxi_transmission(s, 0, NY);
    assert_string_equal(s->warning, "");
    assert_int_equal(s->layout, XANES_LAYOUT_FXI);
    assert_string_equal(s->layout_name, "fxi");
    assert_int_equal(s->kind, XANES_STACK_TRANSMISSION);
    assert_int_equal(s->energy_unit_file, XANES_UNIT_KEV);
    for (size_t k = 0; k < NE; k++) {
        assert_true(s->energy_file[k] == kev[k]);
        assert_true(s->energy_ev[k] == kev[k] * 1000.0);
    }
    assert_true(s->pixel_size_nm == 21.3);
    assert_true(s->magnification == 47.5);
    /* Planted: frame 2 two zeros, frame 7 NaN, frame 9 negative, frame 10 Inf. */
    for (size_t k = 0; k < NE; k++) {
        const xanes_stack_frame_counts *c = &s->frame_counts[k];
        assert_int_equal(c->saturated, 0);
        assert_int_equal(c->nonpositive, k == 2 ? 2 : k == 9 ? 1 : 0);
        assert_int_equal(c->nonfinite, (k == 7 || k == 10) ? 1 : 0);
    }
    assert_int_equal(s->n_invalid, 5);
    assert_int_equal(s->n_flats, 0); /* kept for reference, not applied */
    assert_int_equal(s->dark_missing, 0);
    xanes_stack_free(s);
    xanes_stack_free(NULL);
}

static void test_fxi_numeric_pixel_and_probe(void **state)
{
    (void)state;
    char path[600];
    write_fxi(fixture(path, "fxi_num.h5"), 1, NULL, 0);
    xanes_stack *s = read_ok(path, NULL);
    check_fxi_transmission(s, 0, NY);
    assert_true(s->pixel_size_nm == 30.5);
    xanes_stack_free(s);

    xanes_error err;
    xanes_error_clear(&err);
    xanes_stack_info *in = NULL;
    assert_int_equal(xanes_stack_probe(path, NULL, &in, &err), XANES_OK);
    assert_string_equal(in->layout_name, "fxi");
    assert_string_equal(in->stack_dataset, "/img_xanes");
    assert_string_equal(in->stack_dtype, "float32");
    assert_string_equal(in->flat_dataset, "/img_bkg");
    assert_string_equal(in->dark_dataset, "/img_dark");
    assert_string_equal(in->energy_dataset, "/X_eng");
    assert_string_equal(in->energy_dtype, "float64");
    assert_int_equal(in->n_energy, NE);
    assert_int_equal(in->ny, NY);
    assert_int_equal(in->nx, NX);
    assert_int_equal(in->n_flats, 2);
    assert_int_equal(in->n_darks, 1);
    assert_int_equal(in->flats_applied, 0);
    assert_int_equal(in->energy_unit_file, XANES_UNIT_KEV);
    assert_non_null(strstr(in->energy_unit_source, "magnitude"));
    assert_true(in->energy_min_ev == kev[0] * 1000.0);
    assert_true(in->energy_max_ev == kev[NE - 1] * 1000.0);
    assert_true(isnan(in->saturation_value));
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < NE * NPIX; i++)
        if (isfinite(T[i])) {
            lo = fmin(lo, T[i]);
            hi = fmax(hi, T[i]);
        }
    assert_true(in->value_min == lo);
    assert_true(in->value_max == hi);
    assert_int_equal(in->n_invalid, 5);
    assert_int_equal(in->frame_counts[2].nonpositive, 2);
    assert_int_equal(in->frame_counts[10].nonfinite, 1);
    assert_true(in->pixel_size_nm == 30.5);
    xanes_stack_info_free(in);
    xanes_stack_info_free(NULL);
}

static void test_fxi_chunked_gzip_and_row_block(void **state)
{
    (void)state;
    char path[600];
    /* Chunks that span several frames and do not divide the frame. */
    hsize_t chunk[3] = {5, 4, 4};
    write_fxi(fixture(path, "fxi_gz.h5"), 0, chunk, 6);
    xanes_stack_info *in = NULL;
    xanes_error err;
    xanes_error_clear(&err);
    assert_int_equal(xanes_stack_probe(path, NULL, &in, &err), XANES_OK);
    assert_true(in->stack_chunked);
    assert_true(in->stack_gzip);
    xanes_stack_info_free(in);
    xanes_stack *s = read_ok(path, NULL);
    check_fxi_transmission(s, 0, NY);
    xanes_stack_free(s);

    xanes_stack_options opt;
    xanes_stack_default_options(&opt);
    opt.row_begin = 2;
    opt.n_rows = 4;
    s = read_ok(path, &opt);
    check_fxi_transmission(s, 2, 4);
    xanes_stack_free(s);
    opt.row_begin = 5;
    opt.n_rows = 0; /* to the end */
    s = read_ok(path, &opt);
    check_fxi_transmission(s, 5, 2);
    xanes_stack_free(s);
    opt.n_rows = 3; /* 5..7 is past the 7 rows */
    s = NULL;
    assert_int_equal(xanes_stack_read(path, &opt, &s, &err), XANES_EINVAL);
    assert_null(s);
    assert_non_null(strstr(err.message, "ends past"));
}

/* -------- FXI --raw: img_xanes holds counts, img_bkg/img_dark applied ---- */

static void test_fxi_raw(void **state)
{
    (void)state;
    char path[600];
    static float I[NE * NPIX], F[2 * NPIX], D[NPIX];
    unsigned long long s = 7ULL;
    for (size_t i = 0; i < NE * NPIX; i++)
        I[i] = (float)(200.0 + 3000.0 * fx_uniform(&s));
    for (size_t i = 0; i < 2 * NPIX; i++)
        F[i] = (float)(3500.0 + 500.0 * fx_uniform(&s));
    for (size_t i = 0; i < NPIX; i++)
        D[i] = (float)(100.0 + 10.0 * fx_uniform(&s));
    I[(4 * NY + 2) * NX + 2] = D[2 * NX + 2]; /* I - D = 0 */
    hid_t f = fx_create(fixture(path, "fxi_raw.h5"));
    hsize_t d3[3] = {NE, NY, NX}, db[3] = {2, NY, NX}, dd[2] = {NY, NX};
    fx_write_f32(f, "/img_xanes", 3, d3, I);
    fx_write_f32(f, "/img_bkg", 3, db, F);
    fx_write_f32(f, "/img_dark_avg", 2, dd, D); /* older exports: averaged dark only */
    fx_energy(f, "/X_eng", NE, kev);
    fx_close(f);

    xanes_stack_options opt;
    xanes_stack_default_options(&opt);
    opt.raw = 1;
    xanes_stack *st = read_ok(path, &opt);
    assert_int_equal(st->kind, XANES_STACK_RAW_COUNTS);
    assert_int_equal(st->n_flats, 2);
    assert_int_equal(st->n_darks, 1);
    for (size_t k = 0; k < NE; k++)
        for (size_t p = 0; p < NPIX; p++) {
            double fm = ((double)F[p] + (double)F[NPIX + p]) / 2.0;
            double num = (double)I[k * NPIX + p] - (double)D[p];
            double den = fm - (double)D[p];
            float want = num > 0 ? (float)(-log(num / den)) : NAN;
            assert_same_float(st->absorbance[k * NPIX + p], want, k * NPIX + p);
        }
    assert_int_equal(st->frame_counts[4].nonpositive, 1);
    assert_int_equal(st->n_invalid, 1);
    assert_string_equal(st->warning, "");
    xanes_stack_free(st);

    /* Read as the default transmission, the counts are flagged. */
    xanes_stack_info *in = NULL;
    xanes_error err;
    xanes_error_clear(&err);
    assert_int_equal(xanes_stack_probe(path, NULL, &in, &err), XANES_OK);
    assert_int_equal(in->kind, XANES_STACK_TRANSMISSION);
    assert_non_null(strstr(in->warning, "raw counts?"));
    assert_non_null(strstr(in->warning, "--raw"));
    xanes_stack_info_free(in);
}

/* -------- FXI with an integer /img_xanes: raw counts without --raw ------- */

static void test_fxi_integer_counts(void **state)
{
    (void)state;
    char path[600], bare[600];
    static unsigned short I[NE * NPIX], F[NE * NPIX], D[NPIX];
    unsigned long long s = 11ULL;
    for (size_t i = 0; i < NE * NPIX; i++) {
        I[i] = (unsigned short)(300 + (unsigned)(3000.0 * fx_uniform(&s)));
        F[i] = (unsigned short)(3500 + (unsigned)(500.0 * fx_uniform(&s)));
    }
    for (size_t i = 0; i < NPIX; i++)
        D[i] = (unsigned short)(100 + (unsigned)(10.0 * fx_uniform(&s)));
    hid_t f = fx_create(fixture(path, "fxi_u16.h5"));
    hsize_t d3[3] = {NE, NY, NX}, dd[3] = {1, NY, NX};
    fx_write_u16(f, "/img_xanes", 3, d3, I);
    fx_write_u16(f, "/img_bkg", 3, d3, F);
    fx_write_u16(f, "/img_dark", 3, dd, D);
    fx_energy(f, "/X_eng", NE, kev);
    fx_close(f);
    /* No --raw: integer counts are corrected by the flat of their energy. */
    xanes_stack *st = read_ok(path, NULL);
    assert_int_equal(st->kind, XANES_STACK_RAW_COUNTS);
    for (size_t k = 0; k < NE; k++)
        for (size_t p = 0; p < NPIX; p++) {
            double num = (double)I[k * NPIX + p] - (double)D[p];
            double den = (double)F[k * NPIX + p] - (double)D[p];
            assert_same_float(st->absorbance[k * NPIX + p], (float)(-log(num / den)), k * NPIX + p);
        }
    assert_string_equal(st->warning, "");
    xanes_stack_free(st);
    /* Without a flat field they stay transmission, and are flagged. */
    f = fx_create(fixture(bare, "fxi_u16_noflat.h5"));
    fx_write_u16(f, "/img_xanes", 3, d3, I);
    fx_energy(f, "/X_eng", NE, kev);
    fx_close(f);
    xanes_stack_info *in = NULL;
    xanes_error err;
    xanes_error_clear(&err);
    assert_int_equal(xanes_stack_probe(bare, NULL, &in, &err), XANES_OK);
    assert_int_equal(in->kind, XANES_STACK_TRANSMISSION);
    assert_non_null(strstr(in->warning, "raw counts?"));
    xanes_stack_info_free(in);
}

/* -------- APS: uint16 counts, flats per energy, dark stack, saturation --- */

static unsigned short aI[NE * NPIX], aF[NE * NPIX], aD[3 * NPIX];

/* write_aps with the storage of the stack and flats as given (chunk NULL:
 * contiguous). */
static void write_aps_stored(const char *path, int per_energy_flats, int with_dark,
                             const char *units, const double *energy, const hsize_t *chunk,
                             int gzip, int shuffle);

static void write_aps(const char *path, int per_energy_flats, int with_dark, const char *units,
                      const double *energy)
{
    write_aps_stored(path, per_energy_flats, with_dark, units, energy, NULL, 0, 0);
}

static void write_aps_stored(const char *path, int per_energy_flats, int with_dark,
                             const char *units, const double *energy, const hsize_t *chunk,
                             int gzip, int shuffle)
{
    unsigned long long s = 99ULL;
    for (size_t i = 0; i < NE * NPIX; i++)
        aI[i] = (unsigned short)(300 + (int)(20000.0 * fx_uniform(&s)));
    for (size_t i = 0; i < NE * NPIX; i++)
        aF[i] = (unsigned short)(40000 + (int)(20000.0 * fx_uniform(&s)));
    for (size_t i = 0; i < 3 * NPIX; i++)
        aD[i] = (unsigned short)(90 + (int)(20.0 * fx_uniform(&s)));
    aI[4 * NPIX + 10] = 65535; /* saturated sample pixel         */
    aF[1 * NPIX + 20] = 65535; /* saturated flat (frame 1, or in the average) */
    aI[8 * NPIX + 30] = 0;     /* dead pixel: I - D < 0          */
    hid_t f = fx_create(path);
    hsize_t d3[3] = {NE, NY, NX}, df[3] = {per_energy_flats ? NE : 2, NY, NX};
    hsize_t dd[3] = {3, NY, NX};
    fx_write_ex(f, "/exchange/data", H5T_NATIVE_USHORT, H5T_STD_U16LE, 3, d3, aI, chunk, gzip,
                shuffle);
    fx_write_ex(f, "/exchange/data_white", H5T_NATIVE_USHORT, H5T_STD_U16LE, 3, df, aF, chunk, gzip,
                shuffle);
    if (with_dark)
        fx_write_u16(f, "/exchange/data_dark", 3, dd, aD);
    fx_energy(f, "/exchange/energy", NE, energy);
    if (units != NULL)
        fx_attr_string(f, "/exchange/energy", "units", units);
    fx_close(f);
}

static double aps_flat(size_t k, size_t p, int per_energy)
{
    if (per_energy)
        return aF[k * NPIX + p];
    return ((double)aF[p] + (double)aF[NPIX + p]) / 2.0;
}

static double aps_dark(size_t p, int with_dark)
{
    if (!with_dark)
        return 0.0;
    return ((double)aD[p] + (double)aD[NPIX + p] + (double)aD[2 * NPIX + p]) / 3.0;
}

static void check_aps(const xanes_stack *s, int per_energy, int with_dark)
{
    for (size_t k = 0; k < NE; k++) {
        size_t sat = 0, nonpos = 0;
        for (size_t p = 0; p < NPIX; p++) {
            double I = aI[k * NPIX + p], F = aps_flat(k, p, per_energy), D = aps_dark(p, with_dark);
            int flat_sat =
                per_energy ? aF[k * NPIX + p] == 65535 : (aF[p] == 65535 || aF[NPIX + p] == 65535);
            float want = NAN;
            if (I == 65535 || flat_sat)
                sat++;
            else if (I - D <= 0 || F - D <= 0)
                nonpos++;
            else
                want = (float)(-log((I - D) / (F - D)));
            assert_same_float(s->absorbance[k * NPIX + p], want, k * NPIX + p);
        }
        assert_int_equal(s->frame_counts[k].saturated, sat);
        assert_int_equal(s->frame_counts[k].nonpositive, nonpos);
        assert_int_equal(s->frame_counts[k].nonfinite, 0);
    }
}

static void test_aps_per_energy_flats(void **state)
{
    (void)state;
    char path[600];
    double ev[NE];
    for (size_t k = 0; k < NE; k++)
        ev[k] = kev[k] * 1000.0;
    write_aps(fixture(path, "aps.h5"), 1, 1, "eV", ev);
    xanes_stack *s = read_ok(path, NULL);
    assert_string_equal(s->layout_name, "aps");
    assert_int_equal(s->kind, XANES_STACK_RAW_COUNTS);
    assert_int_equal(s->energy_unit_file, XANES_UNIT_EV);
    assert_int_equal(s->n_flats, NE);
    assert_int_equal(s->n_darks, 3);
    assert_int_equal(s->dark_missing, 0);
    assert_true(isnan(s->pixel_size_nm));
    for (size_t k = 0; k < NE; k++)
        assert_true(s->energy_ev[k] == ev[k]);
    check_aps(s, 1, 1);
    /* Saturated sample pixel in frame 4, saturated flat in frame 1 only,
     * dead pixel in frame 8. */
    assert_int_equal(s->frame_counts[4].saturated, 1);
    assert_int_equal(s->frame_counts[1].saturated, 1);
    assert_int_equal(s->frame_counts[8].nonpositive, 1);
    assert_int_equal(s->n_invalid, 3);

    /* The result does not depend on the number of threads, bit for bit. */
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    xanes_stack *one = read_ok(path, NULL);
    omp_set_num_threads(3);
    xanes_stack *three = read_ok(path, NULL);
    omp_set_num_threads(saved);
    assert_memory_equal(one->absorbance, three->absorbance, NE * NPIX * sizeof(float));
    assert_memory_equal(one->absorbance, s->absorbance, NE * NPIX * sizeof(float));
    xanes_stack_free(one);
    xanes_stack_free(three);
    xanes_stack_free(s);

    xanes_stack_info *in = NULL;
    xanes_error err;
    xanes_error_clear(&err);
    assert_int_equal(xanes_stack_probe(path, NULL, &in, &err), XANES_OK);
    assert_string_equal(in->stack_dtype, "uint16");
    assert_true(in->saturation_value == 65535.0);
    assert_true(in->flat_per_energy);
    assert_true(in->flats_applied);
    assert_non_null(strstr(in->energy_unit_source, "units attribute"));
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < NE * NPIX; i++) {
        lo = fmin(lo, aI[i]);
        hi = fmax(hi, aI[i]);
    }
    assert_true(in->value_min == lo);
    assert_true(in->value_max == hi);
    xanes_stack_info_free(in);
}

/* Stacks and flats deflated in chunks one frame deep are inflated by the
 * reader's own threads (stack_chunks.c), not HDF5's filter: the floats must
 * be those of the reference expression all the same, for chunks that do not
 * divide the frame, with and without the shuffle filter, with 1 and 3
 * threads; and a float32 FXI stack so stored reads as the contiguous one. */
static void test_compressed_frame_chunks(void **state)
{
    (void)state;
    char path[600];
    double ev[NE];
    for (size_t k = 0; k < NE; k++)
        ev[k] = kev[k] * 1000.0;
    const hsize_t chunk[3] = {1, 3, 4}; /* 7 x 9 frames: edge chunks both ways */
    for (int shuffle = 0; shuffle <= 1; shuffle++) {
        write_aps_stored(fixture(path, "aps_gz.h5"), 1, 1, "eV", ev, chunk, 4, shuffle);
        int saved = omp_get_max_threads();
        omp_set_num_threads(1);
        xanes_stack *one = read_ok(path, NULL);
        omp_set_num_threads(3);
        xanes_stack *three = read_ok(path, NULL);
        omp_set_num_threads(saved);
        check_aps(one, 1, 1);
        assert_memory_equal(one->absorbance, three->absorbance, NE * NPIX * sizeof(float));
        assert_int_equal(three->n_invalid, 3);
        xanes_stack_free(one);
        xanes_stack_free(three);
    }
    /* A damaged chunk: frame 5's first chunk overwritten in the file.  zlib's
     * checksum refuses it; one message naming the file and frame, no
     * stack. */
    {
        write_aps_stored(fixture(path, "aps_bad.h5"), 1, 1, "eV", ev, chunk, 4, 1);
        hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
        hid_t d = H5Dopen2(f, "/exchange/data", H5P_DEFAULT);
        hid_t sp = H5Dget_space(d);
        haddr_t at = HADDR_UNDEF;
        for (hsize_t i = 0; i < (hsize_t)NE * 3 * 3 && at == HADDR_UNDEF; i++) {
            hsize_t off[3], size = 0;
            unsigned mask = 0;
            haddr_t addr = HADDR_UNDEF;
            assert_true(H5Dget_chunk_info(d, sp, i, off, &mask, &addr, &size) >= 0);
            if (off[0] == 5 && off[1] == 0 && off[2] == 0)
                at = addr;
        }
        H5Sclose(sp);
        H5Dclose(d);
        H5Fclose(f);
        assert_true(at != HADDR_UNDEF);
        FILE *fp = fopen(path, "r+b");
        assert_non_null(fp);
        unsigned char junk[12];
        memset(junk, 0xA5, sizeof junk);
        assert_int_equal(fseek(fp, (long)at + 4, SEEK_SET), 0);
        assert_int_equal(fwrite(junk, 1, sizeof junk, fp), sizeof junk);
        fclose(fp);
        xanes_error err;
        xanes_error_clear(&err);
        xanes_stack *bad = NULL;
        assert_int_equal(xanes_stack_read(path, NULL, &bad, &err), XANES_EIO);
        assert_null(bad);
        assert_non_null(strstr(err.message, path));
        assert_non_null(strstr(err.message, "frame 5 of /exchange/data"));
    }
    /* Averaged flats, the stack alone compressed. */
    write_aps_stored(fixture(path, "aps_gz2.h5"), 0, 0, "keV", kev, chunk, 6, 1);
    xanes_stack *s = read_ok(path, NULL);
    check_aps(s, 0, 0);
    xanes_stack_free(s);

    const hsize_t fchunk[3] = {1, 4, 4};
    write_fxi(fixture(path, "fxi_gz1.h5"), 0, fchunk, 5);
    s = read_ok(path, NULL);
    check_fxi_transmission(s, 0, NY);
    xanes_stack_free(s);
}

static void test_aps_few_flats_no_dark_kev(void **state)
{
    (void)state;
    char path[600];
    write_aps(fixture(path, "aps2.h5"), 0, 0, "keV", kev);
    xanes_stack *s = read_ok(path, NULL);
    assert_int_equal(s->n_flats, 2);
    assert_int_equal(s->dark_missing, 1);
    assert_int_equal(s->energy_unit_file, XANES_UNIT_KEV);
    for (size_t k = 0; k < NE; k++)
        assert_true(s->energy_ev[k] == kev[k] * 1000.0);
    check_aps(s, 0, 0);
    /* The flat saturated in one of the two averaged frames spoils that pixel
     * in every frame. */
    for (size_t k = 0; k < NE; k++)
        assert_true(s->frame_counts[k].saturated >= 1);
    xanes_stack_free(s);
}

/* -------- custom: NeXus-like /entry/data/data ---------------------------- */

static void test_custom_nexus(void **state)
{
    (void)state;
    char path[600];
    static double A[NE * NPIX];
    unsigned long long s = 3ULL;
    for (size_t i = 0; i < NE * NPIX; i++)
        A[i] = 0.2 + 2.0 * fx_uniform(&s);
    A[5 * NPIX + 7] = NAN;
    double ev[NE];
    for (size_t k = 0; k < NE; k++)
        ev[k] = 7100.0 + 3.75 * (double)k * (double)k; /* Fe K, uneven */
    hid_t f = fx_create(fixture(path, "nexus.h5"));
    hsize_t d3[3] = {NE, NY, NX};
    fx_write_f64(f, "/entry/data/data", 3, d3, A);
    fx_energy(f, "/entry/data/energy", NE, ev);
    fx_close(f);

    xanes_stack_options opt;
    xanes_stack_default_options(&opt);
    opt.stack_path = "/entry/data/data";
    opt.energy_path = "/entry/data/energy";
    opt.absorbance = 1;
    xanes_stack *st = read_ok(path, &opt); /* layout AUTO + stack_path = custom */
    assert_int_equal(st->layout, XANES_LAYOUT_CUSTOM);
    assert_int_equal(st->kind, XANES_STACK_ABSORBANCE);
    assert_int_equal(st->energy_unit_file, XANES_UNIT_EV);
    for (size_t i = 0; i < NE * NPIX; i++)
        assert_same_float(st->absorbance[i], (float)A[i], i);
    assert_int_equal(st->frame_counts[5].nonfinite, 1);
    assert_int_equal(st->n_invalid, 1);
    xanes_stack_free(st);

    /* The same values read as transmission. */
    opt.absorbance = 0;
    opt.layout = XANES_LAYOUT_CUSTOM;
    st = read_ok(path, &opt);
    assert_int_equal(st->kind, XANES_STACK_TRANSMISSION);
    for (size_t i = 0; i < NE * NPIX; i++)
        assert_same_float(st->absorbance[i], isfinite(A[i]) ? (float)(-log(A[i])) : NAN, i);
    xanes_stack_free(st);
}

/* -------- energy units ---------------------------------------------------- */

static void test_energy_units(void **state)
{
    (void)state;
    char path[600];
    xanes_error err;
    xanes_stack *s = NULL;
    xanes_stack_options opt;
    xanes_stack_default_options(&opt);
    write_fxi(fixture(path, "fxi_units.h5"), 0, NULL, 0);

    opt.energy_unit = XANES_UNIT_KEV; /* agrees with the magnitude */
    s = read_ok(path, &opt);
    assert_true(s->energy_ev[3] == kev[3] * 1000.0);
    xanes_stack_free(s);

    opt.energy_unit = XANES_UNIT_EV; /* 8.3 eV is not an X-ray edge */
    xanes_error_clear(&err);
    s = NULL;
    assert_int_equal(xanes_stack_read(path, &opt, &s, &err), XANES_EDATA);
    assert_null(s);
    assert_non_null(strstr(err.message, "plausible range"));
    assert_non_null(strstr(err.message, "/X_eng"));
    assert_non_null(strstr(err.message, path));

    /* A units attribute that contradicts the values. */
    write_aps(fixture(path, "aps_bad_units.h5"), 1, 0, "eV", kev);
    xanes_error_clear(&err);
    assert_int_equal(xanes_stack_read(path, NULL, &s, &err), XANES_EDATA);
    assert_non_null(strstr(err.message, "units attribute says 'eV'"));
    /* ... which the option settles. */
    opt.energy_unit = XANES_UNIT_KEV;
    s = read_ok(path, &opt);
    assert_true(s->energy_ev[0] == kev[0] * 1000.0);
    xanes_stack_free(s);

    /* Lower-case attribute, and one that is not a unit (magnitude decides). */
    write_aps(fixture(path, "aps_kev_lc.h5"), 1, 0, "kev", kev);
    s = read_ok(path, NULL);
    assert_int_equal(s->energy_unit_file, XANES_UNIT_KEV);
    xanes_stack_free(s);
    double ev[NE];
    for (size_t k = 0; k < NE; k++)
        ev[k] = kev[k] * 1000.0;
    write_aps(fixture(path, "aps_arb.h5"), 1, 0, "arb. units", ev);
    xanes_stack_info *in = NULL;
    xanes_error_clear(&err);
    assert_int_equal(xanes_stack_probe(path, NULL, &in, &err), XANES_OK);
    assert_int_equal(in->energy_unit_file, XANES_UNIT_EV);
    assert_non_null(strstr(in->energy_unit_source, "not understood"));
    xanes_stack_info_free(in);
}

static void test_missing_file(void **state)
{
    (void)state;
    char path[600];
    xanes_error err;
    xanes_error_clear(&err);
    xanes_stack *s = (xanes_stack *)&err; /* must be reset to NULL */
    assert_int_equal(xanes_stack_read(fixture(path, "nope.h5"), NULL, &s, &err), XANES_EIO);
    assert_null(s);
    assert_non_null(strstr(err.message, "nope.h5"));
    assert_non_null(strstr(err.message, "No such file"));
}

static int setup(void **state)
{
    (void)state;
    xanes_init();
    tu_make_tempdir(dir, sizeof dir);
    make_transmission();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_remove_tree(dir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fxi_string_pixel),
        cmocka_unit_test(test_fxi_numeric_pixel_and_probe),
        cmocka_unit_test(test_fxi_chunked_gzip_and_row_block),
        cmocka_unit_test(test_fxi_raw),
        cmocka_unit_test(test_fxi_integer_counts),
        cmocka_unit_test(test_aps_per_energy_flats),
        cmocka_unit_test(test_compressed_frame_chunks),
        cmocka_unit_test(test_aps_few_flats_no_dark_kev),
        cmocka_unit_test(test_custom_nexus),
        cmocka_unit_test(test_energy_units),
        cmocka_unit_test(test_missing_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
