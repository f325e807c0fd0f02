/* test_cli_run.c: `xanes run` end to end, on stacks written by
 * `xanes simulate` (the two meet only through files, as in production).
 *
 * - a run with --calib writes the six outputs, prints the summary on stdout
 *   and nothing on stderr (not a terminal: no progress);
 * - --json: one object whose numbers are those of results.h5 and
 *   particles.csv (offset, particle count, per-particle edges);
 * - results.h5: raw energies kept with the offset beside them (energy =
 *   energy_raw + offset), the command line, the version and the parameters;
 * - the offset recovered from the reference is within 0.3 eV of the
 *   simulated one (plumbing check; the accuracy is test_closed_loop's job);
 * - usage errors exit 2 with one message naming the option; data errors
 *   (missing, truncated, mismatched files) exit 1 naming the file, and leave
 *   no OUTDIR and no temporary directory.
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>
#include <hdf5.h>

#include "h5fixture.h"
#include "testutil.h"
#include "xanes/status.h"

static char g_dir[512];
static const double SIM_OFFSET_EV = 1.215; /* stored - true, as `xanes simulate` takes it */

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static size_t count_prefix(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    if (d == NULL)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

static int setup(void **state)
{
    (void)state;
    tu_make_tempdir(g_dir, sizeof g_dir);
    tu_cli_result r = tu_run_cli("simulate -o '%s/s.h5' --ref-out '%s/s_ref.xdi' --config NCM-B "
                                 "--nx 120 --ny 112 --ne 46 --particles 7 --seed 77 --drift-px 1.5 "
                                 "--energy-offset-ev %.3f",
                                 g_dir, g_dir, SIM_OFFSET_EV);
    int rc = r.exit_code;
    if (rc != 0)
        fprintf(stderr, "simulate failed: %s\n", r.err);
    tu_cli_result_free(&r);
    return rc;
}

static int teardown(void **state)
{
    (void)state;
    tu_remove_tree(g_dir);
    return 0;
}

static double attr_double(hid_t f, const char *obj, const char *name)
{
    hid_t a = H5Aopen_by_name(f, obj, name, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0)
        fail_msg("no attribute %s@%s", obj, name);
    double v = NAN;
    assert_true(H5Aread(a, H5T_NATIVE_DOUBLE, &v) >= 0);
    H5Aclose(a);
    return v;
}

static void attr_string(hid_t f, const char *obj, const char *name, char *buf, size_t size)
{
    hid_t a = H5Aopen_by_name(f, obj, name, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0)
        fail_msg("no attribute %s@%s", obj, name);
    hid_t t = H5Aget_type(a);
    buf[0] = '\0';
    if (H5Tis_variable_str(t) > 0) {
        char *v = NULL;
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(t));
        assert_true(H5Aread(a, mt, &v) >= 0);
        snprintf(buf, size, "%s", v);
        H5free_memory(v);
        H5Tclose(mt);
    } else {
        size_t n = H5Tget_size(t);
        char *v = calloc(n + 1, 1);
        assert_true(H5Aread(a, t, v) >= 0);
        snprintf(buf, size, "%s", v);
        free(v);
    }
    H5Tclose(t);
    H5Aclose(a);
}

static void read_dataset(hid_t f, const char *name, double *buf, size_t n)
{
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0)
        fail_msg("no dataset %s", name);
    hid_t s = H5Dget_space(d);
    assert_int_equal((size_t)H5Sget_simple_extent_npoints(s), n);
    assert_true(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    H5Sclose(s);
    H5Dclose(d);
}

static void test_help(void **state)
{
    (void)state;
    tu_cli_result r = tu_run_cli("run --help");
    assert_int_equal(r.exit_code, 0);
    assert_non_null(strstr(r.out, "usage: xanes run STACK.h5 -o OUTDIR"));
    assert_non_null(strstr(r.out, "--calib"));
    assert_non_null(strstr(r.out, "--stack-path")); /* the reader's options */
    tu_cli_result_free(&r);
}

static void test_run_summary_and_outputs(void **state)
{
    (void)state;
    static const char *const files[] = {"results.h5",  "particles.csv", "edge_map.png",
                                        "soc_map.png", "particles.png", "edge_histogram.png"};
    char path[1024];
    tu_cli_result r = tu_run_cli("run '%s/s.h5' --calib '%s/s_ref.xdi' --ref-edge 8353.01 -o "
                                 "'%s/out'",
                                 g_dir, g_dir, g_dir);
    if (r.exit_code != 0)
        fail_msg("exit %d: %s", r.exit_code, r.err);
    print_message("%s", r.out);
    /* Nothing from xanes on stderr (no progress: not a terminal).  Only
     * the sanitizer's exit statistics may appear there in the ASan build. */
    assert_null(strstr(r.err, "xanes"));
    assert_non_null(strstr(r.out, "particles: "));
    assert_non_null(strstr(r.out, "edge energy: "));
    assert_non_null(strstr(r.out, "overcharged particles: "));
    assert_non_null(strstr(r.out, "energy offset: "));
    for (size_t i = 0; i < 6; i++) {
        snprintf(path, sizeof path, "%s/out/%s", g_dir, files[i]);
        if (!exists(path))
            fail_msg("missing output %s", path);
    }
    assert_int_equal(count_prefix(g_dir, "out.tmp"), 0);
    tu_cli_result_free(&r);
}

static void test_json_matches_files(void **state)
{
    (void)state;
    char path[1024], buf[2048];
    tu_cli_result r = tu_run_cli("run '%s/s.h5' --calib '%s/s_ref.xdi' --ref-edge 8353.01 -o "
                                 "'%s/outj' --json --threads 1",
                                 g_dir, g_dir, g_dir);
    if (r.exit_code != 0)
        fail_msg("exit %d: %s", r.exit_code, r.err);
    cJSON *o = cJSON_Parse(r.out);
    assert_non_null(o);
    const double offset = cJSON_GetObjectItem(o, "energy_offset_ev")->valuedouble;
    const size_t np = (size_t)cJSON_GetObjectItem(o, "n_particles")->valuedouble;
    assert_string_equal(cJSON_GetObjectItem(o, "energy_offset_source")->valuestring,
                        "reference spectrum");
    assert_int_equal((int)cJSON_GetObjectItem(o, "threads")->valuedouble, 1);
    /* Plumbing: the offset undoes the simulated monochromator offset. */
    assert_true(fabs(offset + SIM_OFFSET_EV) < 0.3);
    assert_true(np >= 5 && np <= 9);
    cJSON *parts = cJSON_GetObjectItem(o, "particles");
    assert_int_equal((size_t)cJSON_GetArraySize(parts), np);

    /* particles.csv: the same particles and edges (4 decimals). */
    snprintf(path, sizeof path, "%s/outj/particles.csv", g_dir);
    char *csv = tu_read_file(path, NULL);
    assert_non_null(csv);
    char *line = strchr(csv, '\n');
    for (size_t i = 0; i < np; i++) {
        assert_non_null(line);
        line++;
        int label;
        size_t area;
        double cx, cy, em;
        assert_int_equal(sscanf(line, "%d,%zu,%lf,%lf,%lf", &label, &area, &cx, &cy, &em), 5);
        cJSON *e = cJSON_GetArrayItem(parts, (int)i);
        assert_int_equal(label, (int)cJSON_GetObjectItem(e, "label")->valuedouble);
        assert_int_equal(area, (size_t)cJSON_GetObjectItem(e, "area_px")->valuedouble);
        assert_true(fabs(em - cJSON_GetObjectItem(e, "edge_mean_ev")->valuedouble) < 1e-4);
        line = strchr(line, '\n');
    }
    free(csv);

    /* results.h5: raw energies + offset = energies; attributes. */
    snprintf(path, sizeof path, "%s/outj/results.h5", g_dir);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    const size_t ne = (size_t)cJSON_GetObjectItem(o, "n_energy")->valuedouble;
    assert_int_equal(ne, 46);
    double e[46], raw[46];
    read_dataset(f, "/results/energy", e, ne);
    read_dataset(f, "/results/energy_raw", raw, ne);
    for (size_t k = 0; k < ne; k++)
        assert_true(fabs(e[k] - (raw[k] + offset)) < 1e-6);
    assert_true(fabs(attr_double(f, "/parameters", "energy_offset_ev") - offset) < 1e-9);
    assert_true(isfinite(attr_double(f, "/parameters", "norm_e0_ev")));
    assert_true(attr_double(f, "/parameters", "segment_min_area_px") == 20.0);
    attr_string(f, "/", "command_line", buf, sizeof buf);
    assert_non_null(strstr(buf, "run "));
    assert_non_null(strstr(buf, "--ref-edge 8353.01"));
    attr_string(f, "/", "program_version", buf, sizeof buf);
    assert_true(strlen(buf) > 0);
    attr_string(f, "/parameters", "edge", buf, sizeof buf);
    assert_string_equal(buf, "half");
    attr_string(f, "/parameters", "window_warning", buf, sizeof buf); /* no window was cut */
    assert_string_equal(buf, "");
    attr_string(f, "/parameters", "stack_warning", buf, sizeof buf);
    assert_string_equal(buf, "");
    H5Fclose(f);
    cJSON_Delete(o);
    tu_cli_result_free(&r);
}

static void test_no_align_and_offset(void **state)
{
    (void)state;
    tu_cli_result r = tu_run_cli("run '%s/s.h5' --no-align --energy-offset -1.215 --edge deriv "
                                 "--min-area 30 -o '%s/outn' --json",
                                 g_dir, g_dir);
    if (r.exit_code != 0)
        fail_msg("exit %d: %s", r.exit_code, r.err);
    cJSON *o = cJSON_Parse(r.out);
    assert_non_null(o);
    assert_true(cJSON_GetObjectItem(o, "energy_offset_ev")->valuedouble == -1.215);
    assert_string_equal(cJSON_GetObjectItem(o, "energy_offset_source")->valuestring, "given");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(o, "aligned")));
    assert_true(cJSON_GetObjectItem(o, "max_shift_px")->valuedouble == 0.0);
    cJSON *parts = cJSON_GetObjectItem(o, "particles");
    for (int i = 0; i < cJSON_GetArraySize(parts); i++)
        assert_true(cJSON_GetObjectItem(cJSON_GetArrayItem(parts, i), "area_px")->valuedouble >=
                    30.0);
    cJSON_Delete(o);
    tu_cli_result_free(&r);
}

/* A threshold above every edge jump: no particle, still a complete output
 * set (maps on fixed scales, a histogram that says so), and exit 0. */
static void test_no_particle_outputs(void **state)
{
    (void)state;
    static const char *const files[] = {"results.h5",  "particles.csv", "edge_map.png",
                                        "soc_map.png", "particles.png", "edge_histogram.png"};
    char path[1024];
    tu_cli_result r =
        tu_run_cli("run '%s/s.h5' --threshold 1000 -o '%s/out0' --json", g_dir, g_dir);
    if (r.exit_code != 0)
        fail_msg("exit %d: %s", r.exit_code, r.err);
    cJSON *o = cJSON_Parse(r.out);
    assert_non_null(o);
    assert_true(cJSON_GetObjectItem(o, "n_particles")->valuedouble == 0.0);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "edge_mean_ev")));
    cJSON_Delete(o);
    for (size_t i = 0; i < 6; i++) {
        snprintf(path, sizeof path, "%s/out0/%s", g_dir, files[i]);
        if (!exists(path))
            fail_msg("missing output %s", path);
    }
    snprintf(path, sizeof path, "%s/out0/particles.csv", g_dir);
    char *csv = tu_read_file(path, NULL);
    assert_non_null(csv);
    assert_non_null(strstr(csv, "overcharged_fraction\n"));
    assert_null(strchr(strchr(csv, '\n') + 1, '\n')); /* header only */
    free(csv);
    tu_cli_result_free(&r);
}

/* Usage errors: exit 2, one message naming the problem, nothing written. */
static void test_usage_errors(void **state)
{
    (void)state;
    static const struct {
        const char *args;
        const char *msg;
    } cases[] = {
        {"", "no stack given"},
        {"'%s/s.h5'", "-o OUTDIR"},
        {"'%s/s.h5' -o '%s/u' --frobnicate", "--frobnicate"},
        {"'%s/s.h5' -o '%s/u' --calib '%s/s_ref.xdi'", "--ref-edge"},
        {"'%s/s.h5' -o '%s/u' --ref-edge 8353", "--calib"},
        {"'%s/s.h5' -o '%s/u' --calib '%s/s_ref.xdi' --ref-edge 8353 --energy-offset 1",
         "not both"},
        {"'%s/s.h5' -o '%s/u' --edge middle", "--edge"},
        {"'%s/s.h5' -o '%s/u' --denoise pcaa", "--denoise must be pca or none"},
        {"'%s/s.h5' -o '%s/u' --threads 0", "--threads"},
        {"'%s/s.h5' -o '%s/u' --min-area -3", "--min-area"},
        {"'%s/s.h5' -o '%s/u' --align-ref top", "--align-ref"},
        {"'%s/s.h5' -o '%s/u' --layout zzz", "--layout"},
        {"'%s/s.h5' -o '%s/u' --no-align --align-ref sum", "--no-align"},
        {"'%s/s.h5' '%s/s.h5' -o '%s/u'", "one stack"},
        {"'%s/s.h5' -o", "needs a value"},
    };
    char args[2048];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(args, sizeof args, cases[i].args, g_dir, g_dir, g_dir);
        tu_cli_result r = tu_run_cli("run %s", args);
        if (r.exit_code != 2 || strstr(r.err, cases[i].msg) == NULL)
            fail_msg("run %s: exit %d, stderr '%s' (expected 2 and '%s')", args, r.exit_code, r.err,
                     cases[i].msg);
        assert_string_equal(r.out, "");
        tu_cli_result_free(&r);
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/u", g_dir);
    assert_false(exists(path));
}

/* Data errors: exit 1 naming the file; no OUTDIR, no temporary directory. */
static void test_data_errors(void **state)
{
    (void)state;
    char path[1024], ref[1024];
    /* A truncated stack. */
    snprintf(path, sizeof path, "%s/s.h5", g_dir);
    size_t size = 0;
    char *bytes = tu_read_file(path, &size);
    assert_non_null(bytes);
    snprintf(path, sizeof path, "%s/cut.h5", g_dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, size / 3, f), size / 3);
    fclose(f);
    free(bytes);
    /* A reference spectrum of another edge. */
    tu_data_path(ref, sizeof ref, "Fe_Foil_rt_2016Foils.xdi");
    /* A text file given as the stack. */
    snprintf(path, sizeof path, "%s/notes.txt", g_dir);
    tu_write_file(path, "not a stack\n");

    static const struct {
        const char *fmt;
        const char *msg;
    } cases[] = {
        {"run '%s/missing.h5' -o '%s/bad'", "missing.h5"},
        {"run '%s/cut.h5' -o '%s/bad'", "cut.h5"},
        {"run '%s/notes.txt' -o '%s/bad'", "notes.txt"},
        {"run '%s/s.h5' -o '%s/bad' --layout aps", "s.h5"},
        {"run '%s/s.h5' -o '%s/bad/deeper/out'", "does not exist"},
    };
    char args[2048];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(args, sizeof args, cases[i].fmt, g_dir, g_dir);
        tu_cli_result r = tu_run_cli("%s", args);
        print_message("%s -> %s", args, r.err);
        if (r.exit_code != 1 || strstr(r.err, cases[i].msg) == NULL)
            fail_msg("%s: exit %d, stderr '%s'", args, r.exit_code, r.err);
        assert_string_equal(r.out, "");
        tu_cli_result_free(&r);
    }
    tu_cli_result r =
        tu_run_cli("run '%s/s.h5' -o '%s/bad' --calib '%s' --ref-edge 7112", g_dir, g_dir, ref);
    print_message("wrong reference -> %s", r.err);
    assert_int_equal(r.exit_code, 1);
    assert_non_null(strstr(r.err, "Fe_Foil_rt_2016Foils.xdi"));
    tu_cli_result_free(&r);
    /* Frames too small to align: a data error naming the stack. */
    snprintf(path, sizeof path, "%s/tiny.h5", g_dir);
    {
        hid_t fid = fx_create(path);
        hsize_t d3[3] = {20, 7, 8};
        float *t = malloc(20 * 7 * 8 * sizeof(float));
        double e[20];
        for (size_t i = 0; i < 20 * 7 * 8; i++)
            t[i] = 0.3f + 0.5f * (float)(i % 13) / 13.0f;
        for (int k = 0; k < 20; k++)
            e[k] = 8.30 + 0.0075 * k;
        fx_write_f32(fid, "img_xanes", 3, d3, t);
        fx_energy(fid, "X_eng", 20, e);
        fx_close(fid);
        free(t);
    }
    r = tu_run_cli("run '%s' -o '%s/bad'", path, g_dir);
    print_message("tiny frames -> %s", r.err);
    assert_int_equal(r.exit_code, 1);
    assert_non_null(strstr(r.err, "tiny.h5"));
    assert_non_null(strstr(r.err, "too small"));
    tu_cli_result_free(&r);
    snprintf(path, sizeof path, "%s/bad", g_dir);
    assert_false(exists(path));
    assert_int_equal(count_prefix(g_dir, "bad"), 0);
}

int main(void)
{
    xanes_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_run_summary_and_outputs),
        cmocka_unit_test(test_json_matches_files),
        cmocka_unit_test(test_no_align_and_offset),
        cmocka_unit_test(test_no_particle_outputs),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_data_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
