/* test_standards.c: loading calibration/standards.json and the valence / SoC
 * scales.  Truth: the published numbers (NiO 8353.01 eV = Ni2+, delithiated
 * NCM 8358.0 eV = Ni4+ / SoC 1, pristine NCM 8355.10 eV = SoC 0) and straight
 * lines through them, worked by hand; a rewritten file must move the scale. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "xanes/standards.h"

/* This cmocka has no assert_double_equal; name the values on failure. */
#define assert_near(a, b, tol)                                                                     \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (!(fabs(a_ - b_) <= (tol)))                                                             \
            fail_msg("%s = %.12g, expected %.12g (tol %g)", #a, a_, b_, (double)(tol));            \
    } while (0)

static const char *good_json(double nio, double pristine, double ni4, double thr)
{
    static char buf[1024];
    snprintf(buf, sizeof buf,
             "{\"element\": \"Ni\", \"edge\": \"K\", \"standards\": {"
             "\"NiO\": {\"edge_ev\": %.4f, \"valence\": 2},"
             "\"NCM_delithiated\": {\"edge_ev\": %.4f, \"valence\": 4, \"soc\": 1.0},"
             "\"NCM_pristine\": {\"edge_ev\": %.4f, \"soc\": 0.0}},"
             "\"edge_definition\": {\"anchor\": \"NCM_pristine\", \"pre1_ev\": -50, \"pre2_ev\": -25, \"norm1_ev\": 30, \"norm2_ev\": 90, \"nnorm\": 1, \"half_level\": 0.5, \"fit\": \"interpolant\"},"
             "\"overcharge_threshold_ev\": %.4f}",
             nio, ni4, pristine, thr);
    return buf;
}

static void test_repo_file_values(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/calibration/standards.json", XANES_SOURCE_DIR);
    xanes_standards s;
    xanes_error err;
    xanes_error_clear(&err);
    assert_int_equal(xanes_standards_load(path, &s, &err), XANES_OK);
    assert_near(s.nio_edge_ev, 8353.01, 1e-12);
    /* The edge definition: e0 at the anchor (pristine NCM), windows as written. */
    xanes_normalize_params np;
    xanes_standards_edge_params(&s, &np);
    assert_near(np.e0_ev, 8355.10, 1e-12);
    assert_near(np.pre1_ev, -50.0, 1e-12);
    assert_near(np.pre2_ev, -25.0, 1e-12);
    assert_near(np.norm1_ev, 30.0, 1e-12);
    assert_near(np.norm2_ev, 90.0, 1e-12);
    assert_int_equal(np.nnorm, 1);
    assert_near(np.half_level, 0.5, 1e-12);
    assert_int_equal(np.fit_interpolant, 1);
    assert_near(s.ni4_edge_ev, 8358.0, 1e-12);
    assert_near(s.pristine_edge_ev, 8355.10, 1e-12);
    assert_near(s.overcharge_threshold_ev, 8357.0, 1e-12);
    assert_string_equal(s.element, "Ni");
    assert_string_equal(s.edge, "K");
    assert_string_equal(s.path, path);

    /* Valence: 2 at NiO, 4 at Ni4+, slope 2/4.99 per eV. */
    assert_near(xanes_standards_valence(&s, 8353.01), 2.0, 1e-12);
    assert_near(xanes_standards_valence(&s, 8358.0), 4.0, 1e-12);
    assert_near(xanes_standards_valence(&s, 8355.505), 3.0, 1e-12);
    assert_near(xanes_standards_valence(&s, 8355.10), 2.0 + 2.0 * 2.09 / 4.99, 1e-12);
    /* SoC: 0 at pristine, 1 at Ni4+, slope 1/2.9 per eV. */
    assert_near(xanes_standards_soc(&s, 8355.10), 0.0, 1e-12);
    assert_near(xanes_standards_soc(&s, 8358.0), 1.0, 1e-12);
    assert_near(xanes_standards_soc(&s, 8357.0), 1.9 / 2.9, 1e-12);
    assert_near(xanes_standards_soc(&s, 8354.375), -0.25, 1e-12);
    assert_near(xanes_standards_edge_from_soc(&s, 0.37), 8355.10 + 0.37 * 2.9, 1e-9);
    assert_near(xanes_standards_edge_from_valence(&s, 3.3), 8353.01 + 1.3 * 2.495, 1e-9);
    for (double e = 8350.0; e < 8361.0; e += 0.731) {
        assert_near(xanes_standards_edge_from_soc(&s, xanes_standards_soc(&s, e)), e, 1e-9);
        assert_near(xanes_standards_edge_from_valence(&s, xanes_standards_valence(&s, e)), e, 1e-9);
    }
    assert_true(xanes_standards_is_overcharged(&s, 8357.01));
    assert_false(xanes_standards_is_overcharged(&s, 8357.0));
}

static void test_default_path_and_env(void **state)
{
    (void)state;
    xanes_standards s;
    xanes_error err;
    xanes_error_clear(&err);
    char dir[512], file[1024];
    tu_make_tempdir(dir, sizeof dir);
    snprintf(file, sizeof file, "%s/standards.json", dir);
    tu_write_file(file, good_json(8340.5, 8342.25, 8346.0, 8344.4));

    const char *old = getenv("XANES_CALIBRATION_DIR");
    char *saved = old != NULL ? strdup(old) : NULL;

    /* Environment variable wins over the compiled-in directory. */
    setenv("XANES_CALIBRATION_DIR", dir, 1);
    assert_int_equal(xanes_standards_load(NULL, &s, &err), XANES_OK);
    assert_string_equal(s.path, file);
    assert_near(s.nio_edge_ev, 8340.5, 1e-12);
    /* The modified file moves both scales. */
    assert_near(xanes_standards_valence(&s, 8343.25), 3.0, 1e-12);
    assert_near(xanes_standards_soc(&s, 8344.125), 0.5, 1e-12);
    assert_near(xanes_standards_edge_from_soc(&s, 0.2), 8342.25 + 0.2 * 3.75, 1e-9);
    assert_true(xanes_standards_is_overcharged(&s, 8345.0));

    /* Unset: the compiled-in calibration directory of the source tree. */
    unsetenv("XANES_CALIBRATION_DIR");
    assert_int_equal(xanes_standards_load(NULL, &s, &err), XANES_OK);
    assert_near(s.nio_edge_ev, 8353.01, 1e-12);
    assert_non_null(strstr(s.path, "calibration/standards.json"));

    if (saved != NULL) {
        setenv("XANES_CALIBRATION_DIR", saved, 1);
        free(saved);
    }
    tu_remove_tree(dir);
}

/* Writes text to a temp standards file, loads it, and expects status with a
 * message containing the file name and each of the needles. */
static void expect_bad(const char *text, xanes_status want, const char *needle1,
                       const char *needle2)
{
    char dir[512], file[1024];
    tu_make_tempdir(dir, sizeof dir);
    snprintf(file, sizeof file, "%s/std.json", dir);
    tu_write_file(file, text);
    xanes_standards s;
    memset(&s, 0x5a, sizeof s);
    xanes_error err;
    xanes_error_clear(&err);
    assert_int_equal(xanes_standards_load(file, &s, &err), want);
    assert_int_equal(err.status, want);
    if (strstr(err.message, file) == NULL || (needle1 && !strstr(err.message, needle1)) ||
        (needle2 && !strstr(err.message, needle2)))
        fail_msg("message '%s' lacks file or '%s' / '%s'", err.message, needle1 ? needle1 : "",
                 needle2 ? needle2 : "");
    tu_remove_tree(dir);
}

static void test_bad_files(void **state)
{
    (void)state;
    /* Missing key. */
    expect_bad("{\"standards\": {\"NiO\": {\"edge_ev\": 8353.01, \"valence\": 2},"
               "\"NCM_delithiated\": {\"edge_ev\": 8358.0, \"valence\": 4, \"soc\": 1},"
               "\"NCM_pristine\": {\"soc\": 0}}, \"overcharge_threshold_ev\": 8357}",
               XANES_EDATA, "standards.NCM_pristine.edge_ev", "missing");
    /* Missing standard altogether. */
    expect_bad("{\"standards\": {\"NiO\": {\"edge_ev\": 8353.01, \"valence\": 2},"
               "\"NCM_pristine\": {\"edge_ev\": 8355.1, \"soc\": 0}},"
               "\"overcharge_threshold_ev\": 8357}",
               XANES_EDATA, "standards.NCM_delithiated", "missing");
    /* Non-numeric value. */
    expect_bad("{\"standards\": {\"NiO\": {\"edge_ev\": \"8353.01\", \"valence\": 2},"
               "\"NCM_delithiated\": {\"edge_ev\": 8358.0, \"valence\": 4, \"soc\": 1},"
               "\"NCM_pristine\": {\"edge_ev\": 8355.1, \"soc\": 0}},"
               "\"overcharge_threshold_ev\": 8357}",
               XANES_EDATA, "standards.NiO.edge_ev", "not a number");
    /* Missing top-level threshold. */
    expect_bad("{\"standards\": {\"NiO\": {\"edge_ev\": 8353.01, \"valence\": 2},"
               "\"NCM_delithiated\": {\"edge_ev\": 8358.0, \"valence\": 4, \"soc\": 1},"
               "\"NCM_pristine\": {\"edge_ev\": 8355.1, \"soc\": 0}}}",
               XANES_EDATA, "overcharge_threshold_ev", "missing");
    /* Edges not increasing: pristine above Ni4+. */
    expect_bad(good_json(8353.01, 8358.5, 8358.0, 8357.0), XANES_EDATA, "increase", "8358.500");
    /* Equal NiO and Ni4+ edges. */
    expect_bad(good_json(8358.0, 8358.0, 8358.0, 8357.0), XANES_EDATA, "increase", NULL);
    /* Not JSON at all, and truncated JSON: the line is named. */
    expect_bad("edge_ev = 8353.01\n", XANES_EFORMAT, "not valid JSON", "line 1");
    expect_bad("{\n\"standards\": {\n\"NiO\": {\"edge_ev\": 8353.01,\n", XANES_EFORMAT,
               "not valid JSON", "line");
    expect_bad("[1, 2, 3]", XANES_EFORMAT, "not a JSON object", NULL);
    /* standards is not an object. */
    expect_bad("{\"standards\": 3, \"overcharge_threshold_ev\": 8357}", XANES_EDATA, "'standards'",
               "not an object");
    /* edge_definition: missing, a bad anchor, windows out of order. */
    const char *head = "{\"standards\": {\"NiO\": {\"edge_ev\": 8353.01, \"valence\": 2},"
                       "\"NCM_delithiated\": {\"edge_ev\": 8358.0, \"valence\": 4, \"soc\": 1},"
                       "\"NCM_pristine\": {\"edge_ev\": 8355.1, \"soc\": 0}},"
                       "\"overcharge_threshold_ev\": 8357";
    char buf[1024];
    snprintf(buf, sizeof buf, "%s}", head);
    expect_bad(buf, XANES_EDATA, "edge_definition", "missing");
    snprintf(buf, sizeof buf,
             "%s, \"edge_definition\": {\"anchor\": \"LiNiO2\", \"pre1_ev\": -50, \"pre2_ev\": "
             "-25, \"norm1_ev\": 30, \"norm2_ev\": 90, \"nnorm\": 1, \"half_level\": 0.5}}",
             head);
    expect_bad(buf, XANES_EDATA, "edge_definition.anchor", "LiNiO2");
    snprintf(buf, sizeof buf,
             "%s, \"edge_definition\": {\"anchor\": \"NiO\", \"pre1_ev\": -20, \"pre2_ev\": "
             "-25, \"norm1_ev\": 30, \"norm2_ev\": 90, \"nnorm\": 1, \"half_level\": 0.5}}",
             head);
    expect_bad(buf, XANES_EDATA, "edge_definition", "pre1 < pre2");
    snprintf(buf, sizeof buf,
             "%s, \"edge_definition\": {\"anchor\": \"NiO\", \"pre1_ev\": -50, \"pre2_ev\": "
             "-25, \"norm1_ev\": 30, \"norm2_ev\": 90, \"half_level\": 0.5}}",
             head);
    expect_bad(buf, XANES_EDATA, "edge_definition.nnorm", "missing");
    snprintf(buf, sizeof buf,
             "%s, \"edge_definition\": {\"anchor\": \"NiO\", \"pre1_ev\": -50, \"pre2_ev\": "
             "-25, \"norm1_ev\": 30, \"norm2_ev\": 90, \"nnorm\": 1, \"half_level\": 0.5, "
             "\"fit\": \"spline\"}}",
             head);
    expect_bad(buf, XANES_EDATA, "edge_definition.fit", "spline");
}

static void test_missing_file(void **state)
{
    (void)state;
    xanes_standards s;
    xanes_error err;
    xanes_error_clear(&err);
    assert_int_equal(xanes_standards_load("/nonexistent/dir/standards.json", &s, &err), XANES_EIO);
    assert_non_null(strstr(err.message, "/nonexistent/dir/standards.json"));
    /* A later failure returns its own code but keeps the first message. */
    assert_int_equal(xanes_standards_load(NULL, NULL, &err), XANES_EINVAL);
    assert_int_equal(err.status, XANES_EIO);
    xanes_error_clear(&err);
    assert_int_equal(xanes_standards_load(NULL, NULL, &err), XANES_EINVAL);
    assert_non_null(strstr(err.message, "out is NULL"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repo_file_values),
        cmocka_unit_test(test_default_path_and_env),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_missing_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
