/* test_cli_norm.c: `xanes norm` end to end on the real spectra in tests/data
 * (reader + normalization) against larch 0.9.58's values in
 * tests/data/larch_reference.json, the CSV output, and every bad-input path. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "testutil.h"

static void near(double a, double b, double tol, const char *what, const char *file)
{
    if (!(fabs(a - b) <= tol))
        fail_msg("%s: %s = %.10g, larch %.10g (tol %.3g)", file, what, a, b, tol);
}

static cJSON *fixture(void)
{
    char path[1024];
    char *text = tu_read_file(tu_data_path(path, sizeof path, "larch_reference.json"), NULL);
    assert_non_null(text);
    cJSON *root = cJSON_Parse(text);
    free(text);
    assert_non_null(root);
    return root;
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (v == NULL)
        fail_msg("no key %s", key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* Reader options that build mu as the fixture (shared PROVENANCE.md) does. */
static const char *options_for(const char *file)
{
    if (strcmp(file, "cu_metal_rt.xdi") == 0)
        return "--trans 2,3";
    if (strcmp(file, "APS9BM_2006.dat") == 0)
        return "--fluor 25+26+27+28+29+31,7";
    if (strcmp(file, "APS10BM_2019.dat") == 0)
        return "--sort";
    return "";
}

static cJSON *run_json(const char *args_fmt, const char *file, const char *opts, const char *extra)
{
    char path[1024];
    tu_data_path(path, sizeof path, file);
    tu_cli_result r = tu_run_cli(args_fmt, path, opts, extra);
    if (r.exit_code != 0)
        fail_msg("%s: exit %d: %s", file, r.exit_code, r.err);
    cJSON *o = cJSON_Parse(r.out);
    if (o == NULL)
        fail_msg("%s: not JSON: %s", file, r.out);
    tu_cli_result_free(&r);
    return o;
}

static void test_cli_matches_larch(void **state)
{
    (void)state;
    cJSON *root = fixture();
    int count = 0;
    const cJSON *s;
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(root, "spectra"))
    {
        const char *file = cJSON_GetObjectItemCaseSensitive(s, "file")->valuestring;
        const char *opts = options_for(file);
        /* Defaults: our find_e0 and range rules against larch's. */
        cJSON *o = run_json("norm '%s' %s --json %s", file, opts, "");
        near(num(o, "e0_ev"), num(s, "find_e0"), 1e-9, "e0_ev", file);
        near(num(o, "edge_step"), num(s, "edge_step"), 0.005 * num(s, "edge_step"), "edge_step",
             file);
        near(num(o, "half_edge_ev"), num(s, "half_edge"), 0.05, "half_edge_ev", file);
        near(num(o, "deriv_edge_ev"), num(s, "deriv_edge"), 1e-6, "deriv_edge_ev", file);
        const char *keys[] = {"pre1", "pre2", "norm1", "norm2", "nnorm"};
        for (size_t k = 0; k < 5; k++)
            near(num(o, keys[k]), num(s, keys[k]), 1e-9, keys[k], file);
        near(num(o, "pre_slope"), num(s, "pre_slope"), 1e-6 * fabs(num(s, "pre_slope")),
             "pre_slope", file);
        cJSON_Delete(o);

        /* larch's parameters passed explicitly (as the JSON reports them). */
        char extra[512];
        snprintf(extra, sizeof extra,
                 "--e0 %.17g --pre1 %.17g --pre2 %.17g --norm1 %.17g --norm2 %.17g --nnorm %d",
                 num(s, "e0"), num(s, "pre1"), num(s, "pre2"), num(s, "norm1"), num(s, "norm2"),
                 (int)num(s, "nnorm"));
        o = run_json("norm '%s' %s --json %s", file, opts, extra);
        near(num(o, "edge_step"), num(s, "edge_step"), 0.005 * num(s, "edge_step"), "edge_step",
             file);
        near(num(o, "half_edge_ev"), num(s, "half_edge"), 0.05, "half_edge_ev", file);
        cJSON_Delete(o);
        count++;
    }
    assert_int_equal(count, 24);
    cJSON_Delete(root);
}

static void test_cli_csv(void **state)
{
    (void)state;
    cJSON *root = fixture();
    const cJSON *s, *ni = NULL;
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(root, "spectra"))
    {
        if (strcmp(cJSON_GetObjectItemCaseSensitive(s, "file")->valuestring, "NiO_111.xdi") == 0)
            ni = s;
    }
    assert_non_null(ni);
    char dir[512], out[700], in[1024];
    tu_make_tempdir(dir, sizeof dir);
    snprintf(out, sizeof out, "%s/nio.csv", dir);
    tu_cli_result r = tu_run_cli("norm '%s' -o '%s' --edge deriv",
                                 tu_data_path(in, sizeof in, "NiO_111.xdi"), out);
    assert_int_equal(r.exit_code, 0);
    assert_non_null(strstr(r.out, "derivative edge 8344.317 eV"));
    tu_cli_result_free(&r);
    char *csv = tu_read_file(out, NULL);
    assert_non_null(csv);
    assert_memory_equal(csv, "energy,mu,pre_edge,post_edge,norm,flat,dmude\n", 45);
    const cJSON *lnorm = cJSON_GetObjectItemCaseSensitive(ni, "norm");
    const cJSON *lflat = cJSON_GetObjectItemCaseSensitive(ni, "flat");
    const cJSON *le = cJSON_GetObjectItemCaseSensitive(ni, "energy");
    double step = num(ni, "edge_step");
    char *line = strchr(csv, '\n') + 1;
    size_t rows = 0;
    while (line != NULL && *line != '\0') {
        double v[7];
        assert_int_equal(sscanf(line, "%lf,%lf,%lf,%lf,%lf,%lf,%lf", &v[0], &v[1], &v[2], &v[3],
                                &v[4], &v[5], &v[6]),
                         7);
        near(v[0], cJSON_GetArrayItem(le, (int)rows)->valuedouble, 1e-6, "energy", "csv");
        near(v[4], cJSON_GetArrayItem(lnorm, (int)rows)->valuedouble, 1e-8, "norm", "csv");
        near(v[5], cJSON_GetArrayItem(lflat, (int)rows)->valuedouble, 1e-5, "flat", "csv");
        /* norm = (mu - pre_edge)/step and post - pre at e0 is the step. */
        near(v[4], (v[1] - v[2]) / step, 1e-8, "norm vs columns", "csv");
        rows++;
        line = strchr(line, '\n');
        if (line != NULL)
            line++;
    }
    assert_int_equal(rows, (size_t)num(ni, "n"));
    free(csv);
    /* Only the output in the directory: the temporary was renamed. */
    tu_cli_result ls = tu_run_cli("norm --help >/dev/null; ls -A '%s'", dir);
    assert_string_equal(ls.out, "nio.csv\n");
    tu_cli_result_free(&ls);

    /* An unwritable destination leaves nothing behind and exits 1. */
    snprintf(out, sizeof out, "%s/missing/x.csv", dir);
    r = tu_run_cli("norm '%s' -o '%s'", in, out);
    assert_int_equal(r.exit_code, 1);
    assert_non_null(strstr(r.err, "x.csv"));
    tu_cli_result_free(&r);
    tu_remove_tree(dir);
    cJSON_Delete(root);
}

static void expect_fail(int code, const char *needle, const char *fmt, ...)
{
    char args[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    tu_cli_result r = tu_run_cli("%s", args);
    if (r.exit_code != code || strstr(r.err, needle) == NULL)
        fail_msg("xanes %s: exit %d (want %d), stderr '%s' (want '%s')", args, r.exit_code, code,
                 r.err, needle);
    assert_string_equal(r.out, "");
    tu_cli_result_free(&r);
}

static void test_cli_bad_input(void **state)
{
    (void)state;
    char nio[1024], a12[1024], a10[1024], dir[512], f[700];
    tu_data_path(nio, sizeof nio, "NiO_111.xdi");
    tu_data_path(a12, sizeof a12, "APS12BM_2019.dat");
    tu_data_path(a10, sizeof a10, "APS10BM_2019.dat");

    /* Usage errors: exit 2. */
    expect_fail(2, "no spectrum file given", "norm");
    expect_fail(2, "--nnorm: 9 is outside", "norm '%s' --nnorm 9", nio);
    expect_fail(2, "--pre1: 20 is outside", "norm '%s' --pre1 20", nio);
    expect_fail(2, "'half' or 'deriv'", "norm '%s' --edge middle", nio);
    expect_fail(2, "unknown option '--bogus'", "norm '%s' --bogus", nio);
    expect_fail(2, "one spectrum only", "norm '%s' '%s'", nio, nio);
    expect_fail(2, "e0 = 7000.0000 eV is outside the spectrum", "norm '%s' --e0 7000", nio);
    expect_fail(2, "not a finite number", "norm '%s' --e0 nan", nio);

    /* Data errors: exit 1, the message names the file. */
    expect_fail(1, "no-such-file", "norm /nonexistent/no-such-file.xdi");
    /* APS12BM: saturated transmission, ln(i0/i1) undefined where i1 <= 0. */
    expect_fail(1, "itrans", "norm '%s' --trans 4,5", a12);
    expect_fail(1, "strictly increasing", "norm '%s'", a10);

    tu_make_tempdir(dir, sizeof dir);
    /* A spectrum without an edge. */
    snprintf(f, sizeof f, "%s/flat.dat", dir);
    {
        char text[8192] = "# energy mu\n";
        for (int i = 0; i < 60; i++) {
            char l[64];
            snprintf(l, sizeof l, "%.1f %.6f\n", 8200.0 + 5.0 * i, 0.8 - 1e-4 * i);
            strcat(text, l);
        }
        tu_write_file(f, text);
    }
    expect_fail(1, "no edge", "norm '%s'", f);
    /* Too few post-edge samples for the requested polynomial. */
    expect_fail(1, "post-edge range e0+200.0..e0+210.0 eV",
                "norm '%s' --norm1 200 --norm2 210 "
                "--nnorm 5",
                nio);
    /* A NaN in the data. */
    snprintf(f, sizeof f, "%s/nan.dat", dir);
    tu_write_file(f, "# energy mu\n8300 0.1\n8310 0.1\n8320 nan\n8330 0.2\n8340 1\n8350 1\n"
                     "8360 1\n8370 1\n8380 1\n8390 1\n8400 1\n");
    tu_cli_result r = tu_run_cli("norm '%s'", f);
    assert_int_equal(r.exit_code, 1);
    assert_non_null(strstr(r.err, "nan.dat"));
    tu_cli_result_free(&r);
    tu_remove_tree(dir);

    /* APS12BM's own mu01 column (0 where i1 <= 0) normalizes, with a warning. */
    r = tu_run_cli("norm '%s' --mu-col 8", a12);
    assert_int_equal(r.exit_code, 0);
    assert_non_null(strstr(r.err, "warning"));
    assert_non_null(strstr(r.err, "post-edge residual RMS"));
    tu_cli_result_free(&r);

    r = tu_run_cli("norm --help");
    assert_int_equal(r.exit_code, 0);
    assert_non_null(strstr(r.out, "--nnorm"));
    assert_non_null(strstr(r.out, "--trans"));
    tu_cli_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_matches_larch),
        cmocka_unit_test(test_cli_csv),
        cmocka_unit_test(test_cli_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
