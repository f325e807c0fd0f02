/* test_cli_sfit.c: `xanes sfit` end to end.
 *
 * Truth: the simulated pristine/cycled argyrodite pair in tests/data
 * (tools/make_sfit_pair.py; generating parameters in sfit_pair_truth.json).
 * The raw files must be normalized by the spectral core before fitting, so
 * the comparison is made where normalization cannot move the answer by more
 * than the statistics: the sulfate peak 4 (area and window area, within 3
 * sigma plus 1 % for the normalization).  Peaks 1 and 2 overlap and trade
 * area with the step (correlations above 0.95), so the few-per-mille
 * distortions normalization leaves in the pre-edge are enough to move them
 * by more than their errors: they are not compared with truth here (the
 * unit tests in test_sfit.c check them on exactly normalized data).  Also:
 * the exact --json layout, the CSV table, the PNG, per-spectrum --peaks, and
 * every bad input with its exit code and message.
 */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "testutil.h"

static char pristine[1024], cycled[1024], truth_path[1024];

static char supp_dir[512];

/* The PNG is drawn with cairo's toy text API, which loads fontconfig; it
 * keeps its configuration for the life of the process (freed only by
 * FcFini).  In the ASan build the xanes child process would report that as a
 * leak, so its LeakSanitizer gets a suppression for fontconfig alone (the
 * same rule tests/test_figure.c uses in-process); our own allocations are
 * still checked.  Harmless without ASan. */
static void suppress_fontconfig_leaks(void)
{
    char path[700];
    tu_make_tempdir(supp_dir, sizeof supp_dir);
    snprintf(path, sizeof path, "%s/lsan.supp", supp_dir);
    tu_write_file(path, "leak:libfontconfig.so\n");
    char opt[800];
    snprintf(opt, sizeof opt, "suppressions=%s", path);
    setenv("LSAN_OPTIONS", opt, 1);
}

static int teardown(void **state)
{
    (void)state;
    tu_remove_tree(supp_dir);
    return 0;
}

static int setup(void **state)
{
    (void)state;
    suppress_fontconfig_leaks();
    tu_data_path(pristine, sizeof pristine, "sfit_pristine.dat");
    tu_data_path(cycled, sizeof cycled, "sfit_cycled.dat");
    tu_data_path(truth_path, sizeof truth_path, "sfit_pair_truth.json");
    return 0;
}

static double jnum(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static void test_help(void **state)
{
    (void)state;
    tu_cli_result r = tu_run_cli("sfit --help");
    assert_int_equal(r.exit_code, 0);
    assert_non_null(strstr(r.out, "--peaks"));
    assert_non_null(strstr(r.out, "--window"));
    assert_non_null(strstr(r.out, "chi2_red"));
    tu_cli_result_free(&r);
}

/* Exactly the keys of the issue, in order, nothing else. */
static void check_keys(const cJSON *o, const char *const *keys, size_t n)
{
    size_t i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, o)
    {
        assert_true(i < n);
        assert_string_equal(it->string, keys[i]);
        i++;
    }
    assert_int_equal(i, n);
}

static void test_pair_json_csv_png(void **state)
{
    (void)state;
    char dir[512], csv[700], png[700];
    tu_make_tempdir(dir, sizeof dir);
    snprintf(csv, sizeof csv, "%s/table.csv", dir);
    snprintf(png, sizeof png, "%s/fit.png", dir);
    tu_cli_result r = tu_run_cli("sfit '%s' '%s' --step erf --json -o '%s' --png '%s'", pristine,
                                 cycled, csv, png);
    if (r.exit_code != 0)
        fail_msg("exit %d: %s", r.exit_code, r.err);
    cJSON *root = cJSON_Parse(r.out);
    assert_non_null(root);
    static const char *const top[] = {"spectra"};
    check_keys(root, top, 1);
    const cJSON *spectra = cJSON_GetObjectItemCaseSensitive(root, "spectra");
    assert_int_equal(cJSON_GetArraySize(spectra), 2);

    char *ttext = tu_read_file(truth_path, NULL);
    assert_non_null(ttext);
    cJSON *truth = cJSON_Parse(ttext);
    free(ttext);
    assert_non_null(truth);
    const cJSON *tsp = cJSON_GetObjectItemCaseSensitive(truth, "spectra");
    static const char *const names[2] = {"pristine", "cycled"};
    static const char *const skeys[] = {"file",     "peaks",   "window_area", "window_area_err",
                                        "chi2_red", "warnings"};
    static const char *const pkeys[] = {"center_ev", "center_err", "fwhm_ev", "area", "area_err"};
    double wa[2];
    for (int s = 0; s < 2; s++) {
        const cJSON *o = cJSON_GetArrayItem(spectra, s);
        check_keys(o, skeys, 6);
        assert_non_null(strstr(cJSON_GetObjectItemCaseSensitive(o, "file")->valuestring,
                               s == 0 ? "sfit_pristine.dat" : "sfit_cycled.dat"));
        const cJSON *peaks = cJSON_GetObjectItemCaseSensitive(o, "peaks");
        assert_int_equal(cJSON_GetArraySize(peaks), 4);
        const cJSON *pk;
        cJSON_ArrayForEach(pk, peaks) check_keys(pk, pkeys, 5);
        assert_true(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(o, "warnings")));
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(tsp, names[s]);
        const cJSON *p4 = cJSON_GetArrayItem(peaks, 3);
        const cJSON *t4 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(t, "peaks"), 3);
        const double a4 = jnum(p4, "area"), e4 = jnum(p4, "area_err"), ta4 = jnum(t4, "area");
        wa[s] = jnum(o, "window_area");
        const double we = jnum(o, "window_area_err"), twa = jnum(t, "window_area");
        print_message("%s: peak 4 area %.4f +- %.4f (truth %.4f), window %.4f +- %.4f (truth "
                      "%.4f), chi2_red %.3f\n",
                      names[s], a4, e4, ta4, wa[s], we, twa, jnum(o, "chi2_red"));
        assert_true(fabs(a4 - ta4) < 3.0 * e4 + 0.01 * ta4);
        assert_true(fabs(wa[s] - twa) < 3.0 * we + 0.01 * twa);
        assert_true(fabs(jnum(p4, "center_ev") - jnum(t4, "center_ev")) <
                    3.0 * jnum(p4, "center_err") + 0.01);
        /* Noise 0.006 of the step was simulated: chi2_red near 1. */
        assert_true(jnum(o, "chi2_red") > 0.7 && jnum(o, "chi2_red") < 1.4);
    }
    /* The figure of merit of Fig. 4(c): sulfate grew on cycling. */
    assert_true(wa[1] > 2.0 * wa[0]);
    cJSON_Delete(truth);
    cJSON_Delete(root);
    tu_cli_result_free(&r);

    size_t size = 0;
    char *table = tu_read_file(csv, &size);
    assert_non_null(table);
    assert_true(strncmp(table, "file,peak,center_ev,center_err_ev,fwhm_ev", 41) == 0);
    size_t lines = 0;
    for (size_t i = 0; i < size; i++)
        lines += table[i] == '\n';
    assert_int_equal(lines, 1 + 8);
    free(table);
    char *img = tu_read_file(png, &size);
    assert_non_null(img);
    assert_true(size > 1000);
    assert_memory_equal(img, "\x89PNG\r\n\x1a\n", 8);
    free(img);
    tu_remove_tree(dir);
}

/* --peaks applies to the spectra after it; one before any spectrum, or the
 * first one, to those named before. */
static void test_per_spectrum_peaks(void **state)
{
    (void)state;
    char ns[1024], na[1024];
    tu_data_path(ns, sizeof ns, "NiSO4_rt_01.xdi");
    tu_data_path(na, sizeof na, "Na2SO3_rt_01.xdi");
    tu_cli_result r =
        tu_run_cli("sfit --step erf --peaks 2479.8,2482.4 --range 2470:2486 '%s' --peaks "
                   "2477.4,2480.8,2484 --range 2466:2492 '%s' --json",
                   ns, na);
    if (r.exit_code != 0)
        fail_msg("exit %d: %s", r.exit_code, r.err);
    cJSON *root = cJSON_Parse(r.out);
    assert_non_null(root);
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(root, "spectra");
    const cJSON *p0 = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(sp, 0), "peaks");
    const cJSON *p1 = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(sp, 1), "peaks");
    assert_int_equal(cJSON_GetArraySize(p0), 2);
    assert_int_equal(cJSON_GetArraySize(p1), 3);
    /* NiSO4: the sulfate line near 2482.4 eV is inside the window. */
    assert_true(fabs(jnum(cJSON_GetArrayItem(p0, 1), "center_ev") - 2482.4) < 0.3);
    assert_true(jnum(cJSON_GetArrayItem(sp, 0), "window_area") > 1.0);
    cJSON_Delete(root);
    tu_cli_result_free(&r);
}

/* --fix-centers keeps the given centres (zero error); --details holds the
 * fitted points, every parameter with start and bounds. */
static void test_fix_centers_and_details(void **state)
{
    (void)state;
    char dir[512], det[700];
    tu_make_tempdir(dir, sizeof dir);
    snprintf(det, sizeof det, "%s/details.json", dir);
    tu_cli_result r =
        tu_run_cli("sfit '%s' --step erf --fix-centers --peaks 2472.2,2473.3,2477.1,2482.9 "
                   "--json --details '%s'",
                   cycled, det);
    if (r.exit_code != 0)
        fail_msg("exit %d: %s", r.exit_code, r.err);
    cJSON *root = cJSON_Parse(r.out);
    assert_non_null(root);
    const cJSON *peaks = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "spectra"), 0), "peaks");
    static const double given[4] = {2472.2, 2473.3, 2477.1, 2482.9};
    for (int k = 0; k < 4; k++) {
        assert_true(jnum(cJSON_GetArrayItem(peaks, k), "center_ev") == given[k]);
        assert_true(jnum(cJSON_GetArrayItem(peaks, k), "center_err") == 0.0);
    }
    cJSON_Delete(root);
    tu_cli_result_free(&r);
    char *text = tu_read_file(det, NULL);
    assert_non_null(text);
    cJSON *d = cJSON_Parse(text);
    free(text);
    assert_non_null(d);
    const cJSON *s0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(d, "spectra"), 0);
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(s0, "params");
    assert_int_equal(cJSON_GetArraySize(params), 3 + 2 * 4);
    const cJSON *p;
    cJSON_ArrayForEach(p, params)
    {
        assert_true(jnum(p, "lower") <= jnum(p, "start") && jnum(p, "start") <= jnum(p, "upper"));
        assert_true(jnum(p, "lower") <= jnum(p, "value") && jnum(p, "value") <= jnum(p, "upper"));
    }
    const int n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(s0, "energy_ev"));
    assert_int_equal(n, cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(s0, "mu_norm")));
    /* Range 2457.2:2497.9 (centres -15/+15 eV) on the simulated grid: 2458..2464
     * in 1 eV steps, 2465..2489.8 in 0.2 eV, 2490..2497 in 1 eV. */
    assert_int_equal(n, 7 + 125 + 8);
    cJSON_Delete(d);
    tu_remove_tree(dir);
}

static void expect_fail(int code, const char *needle1, const char *needle2, const char *args)
{
    tu_cli_result r = tu_run_cli("%s", args);
    if (r.exit_code != code || strstr(r.err, needle1) == NULL ||
        (needle2 != NULL && strstr(r.err, needle2) == NULL))
        fail_msg("'%s': exit %d (wanted %d), stderr: %s", args, r.exit_code, code, r.err);
    assert_true(strlen(r.out) == 0);
    tu_cli_result_free(&r);
}

static void test_bad_inputs(void **state)
{
    (void)state;
    char args[3000], dir[512], out[700];
    snprintf(args, sizeof args, "sfit '%s' --range 2400:2500", pristine);
    expect_fail(1, "outside the data", "sfit_pristine.dat", args);
    snprintf(args, sizeof args, "sfit '%s' --peaks 2472,2473,2477,2530 --range 2457:2500",
             pristine);
    expect_fail(2, "peak 4 centre 2530", "outside the fit range", args);
    snprintf(args, sizeof args, "sfit '%s' --peaks 2472,2473 --range 2471:2474", pristine);
    expect_fail(1, "only 16 points", "sfit_pristine.dat", args);
    snprintf(args, sizeof args, "sfit '%s' --shape voigt", pristine);
    expect_fail(2, "--shape", "voigt", args);
    snprintf(args, sizeof args, "sfit '%s' --step tanh", pristine);
    expect_fail(2, "--step", "tanh", args);
    snprintf(args, sizeof args, "sfit '%s' --range 2480", pristine);
    expect_fail(2, "--range", "EMIN:EMAX", args);
    snprintf(args, sizeof args, "sfit '%s' --range 2490:2470", pristine);
    expect_fail(2, "--range", "empty", args);
    snprintf(args, sizeof args, "sfit '%s' --peaks 2472,abc", pristine);
    expect_fail(2, "--peaks", "abc", args);
    snprintf(args, sizeof args, "sfit '%s' --window 2487:2480", pristine);
    expect_fail(2, "--window", "empty", args);
    snprintf(args, sizeof args, "sfit '%s' --bogus", pristine);
    expect_fail(2, "unknown option", "--bogus", args);
    expect_fail(2, "no spectrum", NULL, "sfit --json");
    expect_fail(1, "/nonexistent/s.xdi", NULL, "sfit /nonexistent/s.xdi");
    /* An output in a missing directory: exit 1, nothing written. */
    tu_make_tempdir(dir, sizeof dir);
    snprintf(out, sizeof out, "%s/missing/table.csv", dir);
    snprintf(args, sizeof args, "sfit '%s' --step erf -o '%s'", pristine, out);
    tu_cli_result r = tu_run_cli("%s", args);
    assert_int_equal(r.exit_code, 1);
    assert_non_null(strstr(r.err, "missing/table.csv"));
    tu_cli_result_free(&r);
    struct stat st;
    assert_true(stat(out, &st) != 0);
    tu_remove_tree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_pair_json_csv_png),
        cmocka_unit_test(test_per_spectrum_peaks),
        cmocka_unit_test(test_fix_centers_and_details),
        cmocka_unit_test(test_bad_inputs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
