/* test_cli_hostile.c: inputs a hostile user feeds the CLI, each found broken
 * by hand or by byte-flip fuzzing (tools: a bounded loop over mutated FXI/APS
 * HDF5 files and real XDI files under ASan+UBSan) and fixed.
 *
 * Each case runs the real CLI and checks the exit code (1 data, 2 usage, 0
 * where the file is fine), that the one message names the file and the
 * problem, and that no output file is left behind.  Files are generated here.
 */
#define _POSIX_C_SOURCE 200809L /* mkfifo */

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "h5fixture.h"
#include "testutil.h"

static char dir[512];

static const char *path_of(char *buf, const char *name)
{
    snprintf(buf, 600, "%s/%s", dir, name);
    return buf;
}

/* A smooth K-edge: arctan step at e0_ev plus a small slope, n points. */
static void write_edge(const char *path, const char *header, double e0_ev, double step_ev, size_t n,
                       const char *line_end)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (header != NULL)
        fputs(header, f);
    for (size_t i = 0; i < n; i++) {
        double e = e0_ev - 0.5 * step_ev * (double)n + step_ev * (double)i;
        double mu = 0.1 + 0.001 * (e - e0_ev) / step_ev + 0.5 + atan((e - e0_ev) / 2.0) / 3.14159;
        fprintf(f, "%.4f %.6f%s", e, mu, line_end);
    }
    fclose(f);
}

/* Runs the CLI with the formatted arguments and checks the exit code and
 * that stderr holds every needle (NULL-terminated). */
static tu_cli_result run_expect(int code, const char *args, ...)
{
    tu_cli_result r = tu_run_cli("%s", args);
    if (r.exit_code != code)
        fail_msg("xanes %s: exit %d, want %d; stderr: %s", args, r.exit_code, code, r.err);
    va_list ap;
    va_start(ap, args);
    for (const char *needle = va_arg(ap, const char *); needle != NULL;
         needle = va_arg(ap, const char *))
        if (strstr(r.err, needle) == NULL && strstr(r.out, needle) == NULL)
            fail_msg("xanes %s: output lacks '%s': stderr %s stdout %s", args, needle, r.err,
                     r.out);
    va_end(ap);
    return r;
}

#define EXPECT(code, ...)                                                                          \
    do {                                                                                           \
        tu_cli_result r_ = run_expect(code, __VA_ARGS__, NULL);                                    \
        tu_cli_result_free(&r_);                                                                   \
    } while (0)

static int exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* ---- text spectra ------------------------------------------------------ */

static void test_spectrum_text(void **state)
{
    (void)state;
    char p[600], cmd[4096];
    /* A UTF-8 byte-order mark used to turn the first data line into a
     * "header": one point silently lost. */
    write_edge(path_of(p, "bom.txt"), "\xEF\xBB\xBF", 8333.0, 1.0, 40, "\r\n");
    snprintf(cmd, sizeof cmd, "info '%s'", p);
    EXPECT(0, cmd, "points        40", "8313.000 .. 8352.000 eV");
    /* Energies that are no X-ray energy: garbage, negative, meV. */
    write_edge(path_of(p, "huge.txt"), NULL, 1e300, 1e297, 30, "\n");
    snprintf(cmd, sizeof cmd, "info '%s'", p);
    EXPECT(1, cmd, p, "line 1: energy", "is outside 1 eV .. 1e+06 eV", "--energy-unit");
    write_edge(path_of(p, "neg.txt"), NULL, -8333.0, 1.0, 30, "\n");
    snprintf(cmd, sizeof cmd, "norm '%s'", p);
    EXPECT(1, cmd, p, "energy -8348 eV is outside");
    write_edge(path_of(p, "mev.txt"), NULL, 8.333e6, 1000.0, 30, "\n");
    snprintf(cmd, sizeof cmd, "info '%s'", p);
    EXPECT(1, cmd, p, "is outside 1 eV");
    /* keV values near zero read as keV are still below 1 eV. */
    write_edge(path_of(p, "zero.txt"), NULL, 1e-4, 1e-6, 30, "\n");
    snprintf(cmd, sizeof cmd, "info '%s'", p);
    EXPECT(1, cmd, p, "(read as keV) is outside");
    /* A Latin-1 header: names go into JSON, which must be UTF-8. */
    write_edge(path_of(p, "latin1.txt"), "# \xE9nergie \xB5\n", 8333.0, 1.0, 30, "\n");
    snprintf(cmd, sizeof cmd, "info --json '%s'", p);
    EXPECT(0, cmd, "\"?nergie\", \"?\"");
    /* Spreadsheet exports: ';' separators with decimal commas, quoted
     * fields, comments after the numbers; all were "no numeric data". */
    FILE *f = fopen(path_of(p, "euro.csv"), "w");
    assert_non_null(f);
    fprintf(f, "energy;mu\n");
    for (int i = 0; i < 30; i++)
        fprintf(f, "%d,5;0,%03d\n", 8320 + i, 100 + 20 * i);
    fclose(f);
    snprintf(cmd, sizeof cmd, "info '%s'", p);
    EXPECT(0, cmd, "columns       2: energy mu", "points        30", "8320.500 .. 8349.500 eV");
    f = fopen(path_of(p, "quoted.csv"), "w");
    assert_non_null(f);
    fprintf(f, "\"energy\",\"mu\"\n");
    for (int i = 0; i < 30; i++)
        fprintf(f, "\"%d.25\",\"0.%03d\" # point %d\n", 8320 + i, 100 + 20 * i, i);
    fclose(f);
    snprintf(cmd, sizeof cmd, "info '%s'", p);
    EXPECT(0, cmd, "columns       2: energy mu", "points        30", "8320.250 .. 8349.250 eV");
    /* A JSON array index that is not a number was read as element 0. */
    tu_write_file(path_of(p, "arr.json"), "{\"a\": [[1,2,3,4,5,6,7,8,9,10,11], [1]]}");
    snprintf(cmd, sizeof cmd,
             "info '%s' --json-key a --json-index abc --grid-start 8300 "
             "--grid-step 1",
             p);
    EXPECT(2, cmd, p, "'a' has no entry 'abc'");
    snprintf(cmd, sizeof cmd,
             "info '%s' --json-key a --json-index 0 --grid-start 8300 "
             "--grid-step 1",
             p);
    EXPECT(0, cmd, "points        11");
    /* Binary files say what they probably are. */
    f = fopen(path_of(p, "frame.tif"), "wb");
    assert_non_null(f);
    fwrite("II*\0\x08\0\0\0\0\0", 1, 10, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "info '%s'", p);
    EXPECT(1, cmd, p, "binary file (a TIFF image), not a text spectrum");
    f = fopen(path_of(p, "utf16.txt"), "wb");
    assert_non_null(f);
    fwrite("\xFF\xFE"
           "8\0"
           "3\0"
           "3\0"
           "3\0",
           1, 10, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "info '%s'", p);
    EXPECT(1, cmd, p, "UTF-16 text: save it as UTF-8");
    /* An image in text form (ALS .xim): many unnamed columns. */
    f = fopen(path_of(p, "frame.xim"), "w");
    assert_non_null(f);
    for (int y = 0; y < 40; y++) {
        for (int x = 0; x < 40; x++)
            fprintf(f, "%d ", 300 + (x * 7 + y * 13) % 97);
        fputc('\n', f);
    }
    fclose(f);
    snprintf(cmd, sizeof cmd, "info '%s'", p);
    EXPECT(1, cmd, p, "40 rows of 40 unnamed numbers: an image or matrix, not a spectrum");
    /* A directory given as a spectrum. */
    snprintf(cmd, sizeof cmd, "info '%s'", dir);
    EXPECT(1, cmd, dir, "Is a directory");
    snprintf(cmd, sizeof cmd, "lcf '%s' --ref '%s' --ref '%s'", path_of(p, "bom.txt"), dir, p);
    EXPECT(1, cmd, dir, "Is a directory");
}

/* `xanes info` describes a spectrum whose mu needs options and says which. */
static void test_info_describe_only(void **state)
{
    (void)state;
    char p[600], cmd[4096];
    /* APS 12-BM style: numbered labels, 4 columns, no mu-like name. */
    FILE *f = fopen(path_of(p, "aps12.dat"), "w");
    assert_non_null(f);
    fprintf(f, "#S 29 exafsscan\n#C 1_Energy (keV) 2_sec 3_det1 4_det2\n");
    for (int i = 0; i < 20; i++)
        fprintf(f, "%.4f 1 %d %d\n", 8.3 + 0.002 * i, 190000 + i, i == 7 ? -3 : 80000 + i);
    fclose(f);
    snprintf(cmd, sizeof cmd, "info '%s'", p);
    EXPECT(0, cmd, "columns       4: Energy (keV) sec det1 det2", "points        20",
           "8300.000 .. 8338.000 eV (converted from keV)", "mu            not built:");
    snprintf(cmd, sizeof cmd, "info --json '%s'", p);
    EXPECT(0, cmd, "\"mu\":\tnull", "\"mu_problem\":");
    /* With the columns named, the reader still needs the user to choose. */
    snprintf(cmd, sizeof cmd, "norm '%s'", p);
    EXPECT(2, cmd, p, "--mu-col");
    /* ln(i0/itrans) with a non-positive itrans: info says where, norm fails. */
    f = fopen(path_of(p, "trans.dat"), "w");
    assert_non_null(f);
    fprintf(f, "# energy i0 itrans\n");
    for (int i = 0; i < 20; i++)
        fprintf(f, "%.1f %d %d\n", 8300.0 + 2.0 * i, 1000, i == 4 ? 0 : 500);
    fclose(f);
    snprintf(cmd, sizeof cmd, "info '%s'", p);
    EXPECT(0, cmd, "not built: line 6: ln(i0/itrans) undefined", "--trans I0,IT");
    snprintf(cmd, sizeof cmd, "norm '%s'", p);
    EXPECT(1, cmd, p, "line 6: ln(i0/itrans) undefined");
    /* A bad energy column is still an error. */
    snprintf(cmd, sizeof cmd, "info '%s' --energy-col 9", p);
    EXPECT(2, cmd, p, "energy column 9 requested but the file has 3 columns");
}

/* ---- calibrate, model ---------------------------------------------------- */

static void test_calibrate_offset(void **state)
{
    (void)state;
    char p[600], cmd[4096];
    write_edge(path_of(p, "sulfur.txt"), NULL, 2472.0, 0.25, 400, "\n");
    snprintf(cmd, sizeof cmd, "calibrate '%s' --standard nio", p);
    EXPECT(1, cmd, "exceeds 100 eV", "not this element and edge");
    snprintf(cmd, sizeof cmd, "calibrate '%s' --ref-edge 2475.5", p);
    EXPECT(0, cmd, "offset_ev");
}

static void test_model_configs(void **state)
{
    (void)state;
    char p[600], cmd[4096];
    /* 1e400 parses as infinity: GSL's Beta quantile never returned. */
    tu_write_file(path_of(p, "inf.json"),
                  "{\"name\":\"x\",\"coverage_alpha\":1e400,\"coverage_beta\":2}");
    snprintf(cmd, sizeof cmd, "model --config '%s' --particles 20", p);
    EXPECT(1, cmd, p, "in (0, 1e5]");
    tu_write_file(path_of(p, "big.json"),
                  "{\"name\":\"big\",\"coverage_alpha\":1e300,\"coverage_beta\":2}");
    snprintf(cmd, sizeof cmd, "model --config '%s' --particles 20", p);
    EXPECT(1, cmd, p, "in (0, 1e5]");
    EXPECT(2, "model --fit --predict", "give one");
}

/* ---- outputs ---------------------------------------------------------------- */

static void test_no_partial_outputs(void **state)
{
    (void)state;
    char spec[600], csv[600], png[600], cmd[4096];
    write_edge(path_of(spec, "s.txt"), NULL, 2472.0, 0.2, 300, "\n");
    path_of(csv, "out.csv");
    path_of(png, "missing/out.png");
    /* The CSV used to be written before the PNG failed. */
    snprintf(cmd, sizeof cmd, "sfit '%s' -o '%s' --png '%s'", spec, csv, png);
    EXPECT(1, cmd, "missing/out.png");
    assert_false(exists(csv));
    snprintf(cmd, sizeof cmd, "model --config NCM-C --particles 20 -o '%s' --png '%s'", csv, png);
    EXPECT(1, cmd, "missing/out.png");
    assert_false(exists(csv));
    /* An empty field in --peaks was skipped silently. */
    snprintf(cmd, sizeof cmd, "sfit '%s' --peaks 2472,,2477", spec);
    EXPECT(2, cmd, "empty centre in '2472,,2477'");
    /* A directory as the output. */
    snprintf(cmd, sizeof cmd, "norm '%s' -o '%s'", spec, dir);
    EXPECT(2, cmd, dir, "exists and is a directory, not a regular file");
    /* A pipe or device (-o /dev/null as root) was replaced by a regular
     * file through the final rename. */
    char fifo[600];
    assert_int_equal(mkfifo(path_of(fifo, "pipe"), 0600), 0);
    snprintf(cmd, sizeof cmd, "norm '%s' -o '%s'", spec, fifo);
    EXPECT(2, cmd, fifo, "exists and is a pipe");
    struct stat sb;
    assert_int_equal(stat(fifo, &sb), 0);
    assert_true(S_ISFIFO(sb.st_mode));
    snprintf(cmd, sizeof cmd, "lcf '%s' --ref '%s' --ref '%s' -o '%s/missing/x.csv'", spec, spec,
             spec, dir);
    EXPECT(1, cmd, "missing/x.csv");
}

/* ---- HDF5 ---------------------------------------------------------------- */

/* Offset of needle in buf[n], or -1. */
static long find_bytes(const char *buf, size_t n, const void *needle, size_t len)
{
    for (size_t i = 0; i + len <= n; i++)
        if (memcmp(buf + i, needle, len) == 0)
            return (long)i;
    return -1;
}

static void patch(const char *path, long off, const void *bytes, size_t len)
{
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, off, SEEK_SET), 0);
    assert_int_equal(fwrite(bytes, 1, len, f), len);
    fclose(f);
}

/* A stack with energies whose `units` attribute is a variable-length string
 * (as h5py writes it), alone in its global heap collection. */
static void write_vlen_units(const char *path)
{
    hid_t f = fx_create(path);
    static float t[12 * 6 * 5];
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        t[i] = 0.5f;
    hsize_t dims[3] = {12, 6, 5};
    fx_write_f32(f, "/img_xanes", 3, dims, t);
    double e[12];
    for (int k = 0; k < 12; k++)
        e[k] = 8.33 + 0.0025 * k;
    fx_energy(f, "/X_eng", 12, e);
    hid_t d = H5Dopen2(f, "/X_eng", H5P_DEFAULT);
    hid_t ty = H5Tcopy(H5T_C_S1);
    H5Tset_size(ty, H5T_VARIABLE);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(d, "units", ty, sp, H5P_DEFAULT, H5P_DEFAULT);
    const char *kev = "keV";
    assert_true(H5Awrite(a, ty, &kev) >= 0);
    H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(ty);
    H5Dclose(d);
    fx_close(f);
}

static void test_hdf5_fuzz_finds(void **state)
{
    (void)state;
    char p[600], cmd[4096];
    /* 1. A corrupt heap under the `units` attribute sent H5HG_read into an
     * endless loop: the free-space object no longer covers the rest. */
    write_vlen_units(path_of(p, "units.h5"));
    snprintf(cmd, sizeof cmd, "info '%s'", p);
    EXPECT(0, cmd, "unit from units attribute 'keV'");
    size_t n = 0;
    char *buf = tu_read_file(p, &n);
    assert_non_null(buf);
    long g = find_bytes(buf, n, "GCOL", 4);
    free(buf);
    assert_true(g > 0);
    /* header 16, object 1 (16 + "keV" padded to 8), then object 0's size. */
    uint64_t small = 16;
    patch(p, g + 16 + 24 + 8, &small, 8);
    EXPECT(0, cmd, "unit from magnitude");
    /* 2. The reference to that string naming heap object 0 (the free
     * space): HDF5 copied out of bounds. */
    write_vlen_units(path_of(p, "index0.h5"));
    buf = tu_read_file(p, &n);
    assert_non_null(buf);
    g = find_bytes(buf, n, "GCOL", 4);
    unsigned char ref[16] = {3, 0, 0, 0};
    for (int b = 0; b < 8; b++)
        ref[4 + b] = (unsigned char)((unsigned long long)g >> (8 * b));
    ref[12] = 1;
    long at_ref = find_bytes(buf, n, ref, sizeof ref);
    free(buf);
    assert_true(at_ref > 0);
    uint32_t zero = 0;
    patch(p, at_ref + 12, &zero, 4);
    snprintf(cmd, sizeof cmd, "info '%s'", p);
    EXPECT(0, cmd, "unit from magnitude");
    /* 3. The attribute message declaring a dataspace longer than itself:
     * H5Aexists decoded past the message (heap overflow). */
    write_vlen_units(path_of(p, "attrmsg.h5"));
    buf = tu_read_file(p, &n);
    assert_non_null(buf);
    long name_at = find_bytes(buf, n, "units", 6);
    free(buf);
    assert_true(name_at > 8);
    unsigned char big = 4; /* high byte of the dataspace size, just before the name */
    patch(p, name_at - 1, &big, 1);
    snprintf(cmd, sizeof cmd, "info '%s'", p);
    EXPECT(1, cmd, p, "/X_eng: corrupt attribute message in its object header");
    /* 4. The string's character type grown to 2 GiB: HDF5 allocated and
     * cleared gigabytes per read (seconds, then garbage). */
    write_vlen_units(path_of(p, "charsize.h5"));
    buf = tu_read_file(p, &n);
    assert_non_null(buf);
    name_at = find_bytes(buf, n, "units", 6);
    long base_at = find_bytes(buf + name_at, 64, "\x10\x00\x00\x00\x01\x00\x00\x00", 8);
    free(buf);
    assert_true(name_at > 0 && base_at > 0);
    uint32_t char_size = 0x7f000001u;
    patch(p, name_at + base_at + 4, &char_size, 4);
    snprintf(cmd, sizeof cmd, "info '%s'", p);
    tu_cli_result r = run_expect(0, cmd, "unit from magnitude", NULL);
    assert_null(strstr(r.out, "not understood"));
    tu_cli_result_free(&r);
    /* 5. The collection's own size set to 2^64 - 1: the bounds check
     * wrapped around and HDF5 tried to allocate it. */
    write_vlen_units(path_of(p, "collsize.h5"));
    buf = tu_read_file(p, &n);
    assert_non_null(buf);
    g = find_bytes(buf, n, "GCOL", 4);
    free(buf);
    uint64_t all_ones = ~(uint64_t)0;
    patch(p, g + 8, &all_ones, 8);
    snprintf(cmd, sizeof cmd, "info '%s'", p);
    r = run_expect(0, cmd, "unit from magnitude", NULL);
    assert_string_equal(r.err, "");
    tu_cli_result_free(&r);
    /* 6. Strings that are not UTF-8 (a Latin-1 micro sign) made
     * `info --json` print invalid JSON. */
    write_vlen_units(path_of(p, "latin1.h5"));
    hid_t fl = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(fl >= 0);
    fx_write_vstring(fl, "/Pixel Size", "21\xB5m");
    fx_close(fl);
    snprintf(cmd, sizeof cmd, "info --json '%s'", p);
    EXPECT(0, cmd, "\"pixel_size_text\":\t\"21?m\"");
    /* 7. The root group's B-tree child at the undefined address (all
     * ones): HDF5 read it from memory address 0 (segmentation fault). */
    write_vlen_units(path_of(p, "btree.h5"));
    buf = tu_read_file(p, &n);
    assert_non_null(buf);
    long tree = find_bytes(buf, n, "TREE", 4);
    free(buf);
    assert_true(tree > 0);
    patch(p, tree + 8 + 2 * 8 + 8, &all_ones, 8); /* header, siblings, key 0 */
    snprintf(cmd, sizeof cmd, "info '%s'", p);
    EXPECT(1, cmd, p, "corrupt file: a group's symbol table points outside the file");
    /* 7b. The same B-tree address in the root group's own symbol table
     * message (what HDF5 follows; the superblock keeps a cached copy). */
    write_vlen_units(path_of(p, "stab.h5"));
    buf = tu_read_file(p, &n);
    assert_non_null(buf);
    uint64_t ohdr = 0;
    memcpy(&ohdr, buf + 64, 8); /* superblock 0: root entry's header address */
    uint16_t first_type = 0;
    assert_true(ohdr + 32 < n);
    memcpy(&first_type, buf + ohdr + 16, 2);
    free(buf);
    assert_int_equal(first_type, 0x11); /* the symbol table message comes first */
    patch(p, (long)ohdr + 24, &all_ones, 8);
    snprintf(cmd, sizeof cmd, "info '%s'", p);
    EXPECT(1, cmd, p, "corrupt file: a group's symbol table points outside the file");
    /* 8. A directory with an HDF5 name was "not an HDF5 file
     * (9223372036854775807 bytes)". */
    assert_int_equal(mkdir(path_of(p, "scan.h5"), 0700), 0);
    snprintf(cmd, sizeof cmd, "info '%s'", p);
    EXPECT(1, cmd, p, "cannot read: Is a directory");
    /* 9. A dataspace whose size exceeds its maximum made HDF5 allocate a
     * chunk index of exabytes. */
    hid_t f = fx_create(path_of(p, "dims.h5"));
    static float t[12 * 6 * 5];
    hsize_t dims[3] = {12, 6, 5}, chunk[3] = {1, 6, 5};
    fx_write(f, "/img_xanes", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, 3, dims, t, chunk, 4);
    double e[12];
    for (int k = 0; k < 12; k++)
        e[k] = 8.33 + 0.0025 * k;
    fx_energy(f, "/X_eng", 12, e);
    fx_close(f);
    buf = tu_read_file(p, &n);
    assert_non_null(buf);
    uint64_t le[6] = {12, 6, 5, 12, 6, 5}; /* dims then maxdims, little-endian hosts */
    long at = find_bytes(buf, n, le, sizeof le);
    free(buf);
    assert_true(at > 0);
    uint64_t huge = 72057594021150727ULL;
    patch(p, at + 16, &huge, 8);
    snprintf(cmd, sizeof cmd, "info '%s'", p);
    EXPECT(1, cmd, p,
           "/img_xanes (stack): corrupt dataspace (dimension 2 is 72057594021150727, "
           "above its maximum 5)");
}

static int setup(void **state)
{
    (void)state;
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
        cmocka_unit_test(test_spectrum_text),      cmocka_unit_test(test_info_describe_only),
        cmocka_unit_test(test_calibrate_offset),   cmocka_unit_test(test_model_configs),
        cmocka_unit_test(test_no_partial_outputs), cmocka_unit_test(test_hdf5_fuzz_finds),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
