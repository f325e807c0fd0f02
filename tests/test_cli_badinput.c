/* test_cli_badinput.c: the bad-input catalogue of `xanes info`.
 *
 * Each case writes a broken file (or passes a broken option), runs the real
 * CLI and checks the exit code (1 data error, 2 usage error, never a signal)
 * and that the one message names the file and the problem.  The files are
 * made here at run time: a valid file truncated or overwritten with random
 * bytes, a chunk of compressed data scribbled over, missing datasets, wrong
 * ranks, shapes that disagree, unrecognisable layouts, bad energy axes (NaN,
 * Inf, duplicated, decreasing, too few, keV/eV confusion).  A few good files
 * check the control case: exit 0 and the facts printed.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "h5fixture.h"
#include "testutil.h"
#include "xanes/status.h"

#define NE 12
#define NY 6
#define NX 5

static char dir[512];

static const char *path_of(char *buf, const char *name)
{
    snprintf(buf, 600, "%s/%s", dir, name);
    return buf;
}

static void default_energies(double *e, size_t n)
{
    for (size_t k = 0; k < n; k++)
        e[k] = 8.33 + 0.0025 * (double)k; /* keV, FXI style */
}

/* An FXI-layout file: stack [ne][ny][nx] (rank `rank`), energies e[n_e]
 * (NULL: none).  The values are transmission 0.25 .. 0.75. */
static void write_fxi(const char *path, size_t ne, int rank, const double *e, size_t n_e,
                      const char *units)
{
    hid_t f = fx_create(path);
    size_t n = ne * NY * NX;
    float *t = malloc((n ? n : 1) * sizeof *t);
    assert_non_null(t);
    for (size_t i = 0; i < n; i++)
        t[i] = 0.25f + 0.5f * (float)(i % 97) / 97.0f;
    hsize_t dims[4] = {ne, NY, NX, 1};
    if (rank == 2) {
        dims[0] = NY;
        dims[1] = ne * NX;
    }
    fx_write_f32(f, "/img_xanes", rank, dims, t);
    free(t);
    if (e != NULL) {
        fx_energy(f, "/X_eng", n_e, e);
        if (units != NULL)
            fx_attr_string(f, "/X_eng", "units", units);
    }
    fx_write_vstring(f, "/Pixel Size", "21.3nm");
    fx_close(f);
}

/* An APS-layout file with uint16 counts; flat [n_flat][fy][fx], dark
 * [n_dark][dy][dx] (n_dark 0: none). */
static void write_aps(const char *path, size_t n_flat, size_t fy, size_t fx, size_t n_dark,
                      size_t dy, size_t dx)
{
    hid_t f = fx_create(path);
    static unsigned short buf[64 * 64 * 16];
    for (size_t i = 0; i < sizeof buf / sizeof buf[0]; i++)
        buf[i] = (unsigned short)(1000 + i % 500);
    hsize_t d3[3] = {NE, NY, NX};
    fx_write_u16(f, "/exchange/data", 3, d3, buf);
    if (n_flat > 0) {
        hsize_t df[3] = {n_flat, fy, fx};
        fx_write_u16(f, "/exchange/data_white", 3, df, buf);
    }
    if (n_dark > 0) {
        hsize_t dd[3] = {n_dark, dy, dx};
        fx_write_u16(f, "/exchange/data_dark", 3, dd, buf);
    }
    double e[NE];
    for (size_t k = 0; k < NE; k++)
        e[k] = 8330.0 + 2.5 * (double)k;
    fx_energy(f, "/exchange/energy", NE, e);
    fx_close(f);
}

/* Runs `xanes info '<file>' <extra>` and checks the exit code and that
 * stderr names the file and holds every needle (NULL-terminated). */
static void expect(int code, const char *file, const char *extra, ...)
{
    tu_cli_result r = tu_run_cli("info '%s' %s", file, extra != NULL ? extra : "");
    if (r.exit_code != code)
        fail_msg("info %s %s: exit %d, want %d; stderr: %s", file, extra ? extra : "", r.exit_code,
                 code, r.err);
    if (code != 0) {
        if (strstr(r.err, file) == NULL && code == 1)
            fail_msg("message does not name the file %s: %s", file, r.err);
        va_list ap;
        va_start(ap, extra);
        for (const char *needle = va_arg(ap, const char *); needle != NULL;
             needle = va_arg(ap, const char *))
            if (strstr(r.err, needle) == NULL)
                fail_msg("info %s: message lacks '%s': %s", file, needle, r.err);
        va_end(ap);
        /* One clear message, not HDF5's error stack. */
        assert_null(strstr(r.err, "HDF5-DIAG"));
    }
    tu_cli_result_free(&r);
}

/* ---- corrupt files ---------------------------------------------------- */

static void test_not_hdf5(void **state)
{
    (void)state;
    char p[600];
    unsigned long long s = 11ULL;
    char bytes[4096];
    for (size_t i = 0; i < sizeof bytes; i++)
        bytes[i] = (char)(1 + (int)(254.0 * fx_uniform(&s)));
    bytes[sizeof bytes - 1] = '\0';
    tu_write_file(path_of(p, "random.h5"), bytes);
    expect(1, p, NULL, "not an HDF5 file", NULL);
    expect(1, path_of(p, "does-not-exist.h5"), NULL, "cannot open", "No such file", NULL);
}

static void truncate_copy(const char *from, const char *to, size_t keep)
{
    size_t n = 0;
    char *buf = tu_read_file(from, &n);
    assert_non_null(buf);
    assert_true(keep < n);
    FILE *f = fopen(to, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, keep, f), keep);
    fclose(f);
    free(buf);
}

static void test_truncated(void **state)
{
    (void)state;
    char good[600], p[600];
    double e[NE];
    default_energies(e, NE);
    write_fxi(path_of(good, "good.h5"), NE, 3, e, NE, NULL);
    expect(0, good, NULL, NULL);
    size_t n = 0;
    free(tu_read_file(good, &n));
    truncate_copy(good, path_of(p, "half.h5"), n / 2);
    expect(1, p, NULL, "corrupt or truncated", NULL);
    truncate_copy(good, path_of(p, "head.h5"), 64);
    expect(1, p, NULL, "corrupt or truncated", NULL);
    truncate_copy(good, path_of(p, "n-1.h5"), n - 1);
    expect(1, p, NULL, "corrupt or truncated", NULL);
}

/* A chunked, gzip-compressed stack with one chunk's bytes overwritten: the
 * file opens, the metadata is fine, and the read of that frame must fail
 * cleanly. */
static void test_corrupt_chunk(void **state)
{
    (void)state;
    char p[600];
    double e[NE];
    default_energies(e, NE);
    hid_t f = fx_create(path_of(p, "badchunk.h5"));
    static float t[NE * NY * NX];
    for (size_t i = 0; i < NE * NY * NX; i++)
        t[i] = 0.3f + 0.001f * (float)i;
    hsize_t dims[3] = {NE, NY, NX}, chunk[3] = {1, NY, NX};
    fx_write(f, "/img_xanes", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, 3, dims, t, chunk, 6);
    fx_energy(f, "/X_eng", NE, e);
    fx_close(f);
    f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "/img_xanes", H5P_DEFAULT);
    hsize_t off[3];
    unsigned mask = 0;
    haddr_t addr = 0;
    hsize_t size = 0;
    hid_t space = H5Dget_space(d);
    assert_true(H5Dget_chunk_info(d, space, 5, off, &mask, &addr, &size) >= 0);
    assert_int_equal(off[0], 5);
    H5Sclose(space);
    H5Dclose(d);
    H5Fclose(f);
    FILE *fp = fopen(p, "r+b");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, (long)addr, SEEK_SET), 0);
    for (hsize_t i = 0; i < size; i++)
        fputc(0xff, fp);
    fclose(fp);
    expect(1, p, NULL, "cannot read frame 5", "/img_xanes", NULL);
}

/* An acquisition that stopped after 5 of 12 frames: the chunks of the
 * others were never written and would read as zeros. */
static void test_partial_acquisition(void **state)
{
    (void)state;
    char p[600];
    double e[NE];
    default_energies(e, NE);
    hid_t f = fx_create(path_of(p, "partial.h5"));
    hsize_t dims[3] = {NE, NY, NX}, chunk[3] = {1, NY, NX};
    hid_t space = H5Screate_simple(3, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 3, chunk);
    hid_t d = H5Dcreate2(f, "/img_xanes", H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    static float frames[5 * NY * NX];
    for (size_t i = 0; i < 5 * NY * NX; i++)
        frames[i] = 0.5f;
    hsize_t start[3] = {0, 0, 0}, count[3] = {5, NY, NX};
    H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, count, NULL);
    hid_t mspace = H5Screate_simple(3, count, NULL);
    assert_true(H5Dwrite(d, H5T_NATIVE_FLOAT, mspace, space, H5P_DEFAULT, frames) >= 0);
    H5Sclose(mspace);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(space);
    fx_energy(f, "/X_eng", NE, e);
    fx_close(f);
    expect(1, p, NULL, "/img_xanes", "only 5 of its 12 chunks", NULL);
}

/* The "Pixel Size" string's global heap with one object size overwritten:
 * HDF5 1.10 loops forever on it; the reader must refuse it first. */
static void test_corrupt_string_heap(void **state)
{
    (void)state;
    char p[600];
    double e[NE];
    default_energies(e, NE);
    write_fxi(path_of(p, "heap.h5"), NE, 3, e, NE, NULL);
    size_t n = 0;
    char *buf = tu_read_file(p, &n);
    assert_non_null(buf);
    char *gcol = NULL;
    for (size_t i = 0; i + 4 <= n && gcol == NULL; i++)
        if (memcmp(buf + i, "GCOL", 4) == 0)
            gcol = buf + i;
    assert_non_null(gcol);
    /* header 16 bytes; object 1: index(2) refcount(2) reserved(4) size(8) */
    assert_int_equal(gcol[16], 1);
    assert_int_equal(gcol[24], 6); /* strlen("21.3nm") */
    gcol[24] = (char)0xff;
    FILE *fp = fopen(p, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(buf, 1, n, fp), n);
    fclose(fp);
    free(buf);
    expect(1, p, NULL, "Pixel Size", "corrupt", NULL);
}

/* ---- structure -------------------------------------------------------- */

static void test_structure(void **state)
{
    (void)state;
    char p[600];
    double e[NE];
    default_energies(e, NE);

    write_fxi(path_of(p, "no_energy.h5"), NE, 3, NULL, 0, NULL);
    expect(1, p, NULL, "missing dataset /X_eng", NULL);

    write_fxi(path_of(p, "rank2.h5"), NE, 2, e, NE, NULL);
    expect(1, p, NULL, "/img_xanes", "rank 2", NULL);

    write_fxi(path_of(p, "rank4.h5"), NE, 4, e, NE, NULL);
    expect(1, p, NULL, "/img_xanes", "rank 4", NULL);

    write_fxi(path_of(p, "empty_stack.h5"), 0, 3, e, NE, NULL);
    expect(1, p, NULL, "/img_xanes", "empty", NULL);

    write_fxi(path_of(p, "count.h5"), NE, 3, e, NE - 1, NULL);
    expect(1, p, NULL, "shape mismatch", "/X_eng has 11 energies", "12 frames", NULL);

    write_aps(path_of(p, "flat_shape.h5"), NE, NY, NX + 1, 0, 0, 0);
    expect(1, p, NULL, "shape mismatch", "/exchange/data_white", NULL);

    write_aps(path_of(p, "dark_shape.h5"), 2, NY, NX, 2, NY + 1, NX);
    expect(1, p, NULL, "shape mismatch", "/exchange/data_dark", NULL);

    write_aps(path_of(p, "no_flat.h5"), 0, 0, 0, 0, 0, 0);
    expect(1, p, NULL, "no flat field", "/exchange/data_white", NULL);

    write_fxi(path_of(p, "raw_no_bkg.h5"), NE, 3, e, NE, NULL);
    expect(1, p, "--raw", "no flat field", "/img_bkg", NULL);
    expect(1, p, "--flat-path /nope", "missing dataset /nope", NULL);

    hid_t f = fx_create(path_of(p, "unknown.h5"));
    hsize_t d3[3] = {NE, NY, NX}, d1[1] = {NE};
    static float z[NE * NY * NX];
    fx_write_f32(f, "/scan/frames", 3, d3, z);
    fx_write_f64(f, "/scan/mono", 1, d1, e);
    fx_close(f);
    expect(1, p, NULL, "layout not recognised", "/scan/frames [12x6x5]", "/scan/mono [12]", NULL);
    expect(1, p, "--stack-path /scan --energy-path /scan/mono", "/scan", "is a group", NULL);
    expect(2, p, "--layout custom --stack-path /scan/frames", "--energy-path", NULL);

    f = fx_create(path_of(p, "energy_last.h5"));
    hsize_t dl[3] = {NY, NX, NE};
    fx_write_f32(f, "/img_xanes", 3, dl, z);
    fx_energy(f, "/X_eng", NE, e);
    fx_close(f);
    expect(1, p, NULL, "shape mismatch", "energy axis looks last", NULL);

    f = fx_create(path_of(p, "dangling.h5"));
    assert_true(H5Lcreate_soft("/nowhere", f, "/img_xanes", H5P_DEFAULT, H5P_DEFAULT) >= 0);
    fx_energy(f, "/X_eng", NE, e);
    fx_close(f);
    expect(1, p, NULL, "/img_xanes", "dangling link", NULL);

    f = fx_create(path_of(p, "strings.h5"));
    fx_write_vstring(f, "/img_xanes", "not a stack");
    fx_energy(f, "/X_eng", NE, e);
    fx_close(f);
    expect(1, p, NULL, "/img_xanes", "string", NULL);
}

/* ---- energies --------------------------------------------------------- */

static void test_energies(void **state)
{
    (void)state;
    char p[600];
    double e[NE];

    default_energies(e, NE);
    e[6] = e[5];
    write_fxi(path_of(p, "dup.h5"), NE, 3, e, NE, NULL);
    expect(1, p, NULL, "/X_eng", "duplicated", NULL);

    default_energies(e, NE);
    e[7] = e[6] - 0.001;
    write_fxi(path_of(p, "decreasing.h5"), NE, 3, e, NE, NULL);
    expect(1, p, NULL, "/X_eng", "not strictly increasing", NULL);

    default_energies(e, NE);
    e[3] = NAN;
    write_fxi(path_of(p, "nan.h5"), NE, 3, e, NE, NULL);
    expect(1, p, NULL, "/X_eng", "not finite", NULL);

    default_energies(e, NE);
    e[11] = INFINITY;
    write_fxi(path_of(p, "inf.h5"), NE, 3, e, NE, NULL);
    expect(1, p, NULL, "/X_eng", "not finite", NULL);

    default_energies(e, NE);
    write_fxi(path_of(p, "few.h5"), 9, 3, e, 9, NULL);
    expect(1, p, NULL, "/X_eng", "only 9 energy points", NULL);

    /* keV / eV confusion */
    default_energies(e, NE);
    write_fxi(path_of(p, "says_ev.h5"), NE, 3, e, NE, "eV");
    expect(1, p, NULL, "units attribute says 'eV'", "look like keV", NULL);
    expect(0, p, "--energy-unit kev", NULL);
    for (size_t k = 0; k < NE; k++)
        e[k] *= 1000.0;
    write_fxi(path_of(p, "says_kev.h5"), NE, 3, e, NE, "keV");
    expect(1, p, NULL, "units attribute says 'keV'", "look like eV", NULL);
    expect(1, p, "--energy-unit kev", "plausible range", NULL);
    default_energies(e, NE);
    write_fxi(path_of(p, "kev_as_ev.h5"), NE, 3, e, NE, NULL);
    expect(1, p, "--energy-unit ev", "plausible range", NULL);
    default_energies(e, NE);
    for (size_t k = 6; k < NE; k++)
        e[k] *= 1000.0; /* half the scan written in eV */
    write_fxi(path_of(p, "mixed.h5"), NE, 3, e, NE, NULL);
    expect(1, p, NULL, "plausible range", NULL);
}

/* ---- options and text files ------------------------------------------- */

static void test_usage_and_text(void **state)
{
    (void)state;
    char p[600], q[600];
    double e[NE];
    default_energies(e, NE);
    write_fxi(path_of(p, "ok.h5"), NE, 3, e, NE, NULL);
    expect(2, p, "--layout bogus", "bogus", NULL);
    expect(2, p, "--stack-path entry/data", "entry/data", NULL);
    expect(2, p, "--no-such-option", "--no-such-option", NULL);
    expect(2, p, "--energy-unit mev", "mev", NULL);
    expect(2, p, "--energy-path", "needs a value", NULL);
    expect(2, p, "--raw --absorbance", "contradict", NULL);
    expect(2, p, path_of(q, "second.h5"), "one file at a time", NULL);
    tu_cli_result r = tu_run_cli("info");
    assert_int_equal(r.exit_code, 2);
    tu_cli_result_free(&r);
    r = tu_run_cli("info --help");
    assert_int_equal(r.exit_code, 0);
    assert_non_null(strstr(r.out, "--stack-path"));
    tu_cli_result_free(&r);

    tu_write_file(path_of(p, "empty.txt"), "");
    expect(1, p, NULL, NULL);
    tu_write_file(path_of(p, "binary.dat"), "\x01\x02\x03\x7f\x10\x11\x12\x05\x06\x07");
    expect(1, p, NULL, NULL);
}

/* ---- control: good files say what they hold -------------------------- */

static void test_good_files(void **state)
{
    (void)state;
    char p[600];
    double e[NE];
    default_energies(e, NE);
    write_fxi(path_of(p, "fxi.h5"), NE, 3, e, NE, NULL);
    tu_cli_result r = tu_run_cli("info '%s'", p);
    assert_int_equal(r.exit_code, 0);
    assert_non_null(strstr(r.out, "layout fxi"));
    assert_non_null(strstr(r.out, "12 energies x 6 rows x 5 columns"));
    assert_non_null(strstr(r.out, "21.3 nm"));
    assert_non_null(strstr(r.out, "8330.00 .. 8357.50 eV"));
    tu_cli_result_free(&r);

    r = tu_run_cli("info '%s' --json", p);
    assert_int_equal(r.exit_code, 0);
    cJSON *j = cJSON_Parse(r.out);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "layout")->valuestring, "fxi");
    assert_string_equal(cJSON_GetObjectItem(j, "energy_unit")->valuestring, "keV");
    assert_true(cJSON_GetObjectItem(j, "pixel_size_nm")->valuedouble == 21.3);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "invalid_per_frame")), NE);
    assert_true(cJSON_GetObjectItem(j, "energy_max_ev")->valuedouble == e[NE - 1] * 1000.0);
    cJSON_Delete(j);
    tu_cli_result_free(&r);

    write_aps(path_of(p, "aps.h5"), 2, NY, NX, 0, 0, 0);
    r = tu_run_cli("info '%s'", p);
    assert_int_equal(r.exit_code, 0);
    assert_non_null(strstr(r.out, "layout aps"));
    assert_non_null(strstr(r.out, "no dark field, dark = 0"));
    assert_non_null(strstr(r.out, "averaged"));
    assert_non_null(strstr(r.out, "saturation at 65535"));
    tu_cli_result_free(&r);

    /* A plain two-column spectrum. */
    char text[2048] = "# energy mu\n";
    for (int k = 0; k < 15; k++) {
        size_t l = strlen(text);
        snprintf(text + l, sizeof text - l, "%.1f %.4f\n", 8320.0 + 2.0 * k, 0.1 + 0.05 * k);
    }
    tu_write_file(path_of(p, "spec.txt"), text);
    r = tu_run_cli("info '%s'", p);
    assert_int_equal(r.exit_code, 0);
    assert_non_null(strstr(r.out, "15"));
    assert_non_null(strstr(r.out, "8320.000 .. 8348.000 eV"));
    tu_cli_result_free(&r);
}

static int setup(void **state)
{
    (void)state;
    xanes_init();
    tu_make_tempdir(dir, sizeof dir);
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
        cmocka_unit_test(test_not_hdf5),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_corrupt_chunk),
        cmocka_unit_test(test_partial_acquisition),
        cmocka_unit_test(test_corrupt_string_heap),
        cmocka_unit_test(test_structure),
        cmocka_unit_test(test_energies),
        cmocka_unit_test(test_usage_and_text),
        cmocka_unit_test(test_good_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
