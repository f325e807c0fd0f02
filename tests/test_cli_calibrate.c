/* test_cli_calibrate.c: `xanes calibrate` and `xanes lcf` end to end.
 *
 * Truth: a real spectrum written back with its energy axis shifted by a
 * known non-round amount (offsets must come back to 0.02 eV), the standards
 * file (a rewritten one must change --standard), a spectrum fitted against
 * itself (weight exactly 1 and 0), and the library run on the same inputs
 * (the CLI must print the library's numbers).  Every bad invocation gives
 * its exit code and one message naming the problem. */
#define _POSIX_C_SOURCE 200809L
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
#include "xanes/calibrate.h"
#include "xanes/lcf.h"
#include "xanes/normalize.h"
#include "xanes/spectrum.h"

#define assert_near(a, b, tol)                                                                     \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (!(fabs(a_ - b_) <= (tol)))                                                             \
            fail_msg("%s = %.12g, expected %.12g (tol %g)", #a, a_, b_, (double)(tol));            \
    } while (0)

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
    tu_remove_tree(g_dir);
    return 0;
}

static xanes_spectrum *load(const char *name)
{
    char path[1024];
    tu_data_path(path, sizeof path, name);
    xanes_spectrum *s = NULL;
    xanes_error err;
    xanes_error_clear(&err);
    if (xanes_spectrum_read(path, NULL, &s, &err) != XANES_OK)
        fail_msg("%s", err.message);
    return s;
}

/* Writes energy + shift, mu as two plain columns. */
static void write_two_columns(const char *path, const double *e, const double *mu, size_t n,
                              double shift)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "# energy mu\n");
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%.6f %.10g\n", e[i] + shift, mu[i]);
    assert_int_equal(fclose(f), 0);
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(it))
        fail_msg("JSON key '%s' missing or not a number", key);
    return it->valuedouble;
}

static cJSON *parse_ok(tu_cli_result *r)
{
    if (r->exit_code != 0)
        fail_msg("exit %d, stderr: %s", r->exit_code, r->err);
    cJSON *j = cJSON_Parse(r->out);
    if (j == NULL)
        fail_msg("stdout is not JSON: %s", r->out);
    return j;
}

static void test_calibrate_ref_edge_json(void **state)
{
    (void)state;
    xanes_spectrum *s = load("NiO_111.xdi");
    char shifted[1024], data[1024];
    snprintf(shifted, sizeof shifted, "%s/nio_shifted.dat", g_dir);
    const double shift = 2.3417;
    write_two_columns(shifted, s->energy_ev, s->mu, s->n, shift);
    tu_data_path(data, sizeof data, "NiO_111.xdi");

    /* Reference edge = the library's half edge of the unshifted file. */
    double edge0;
    xanes_error err;
    xanes_error_clear(&err);
    assert_int_equal(
        xanes_calibrate_edge_energy(s->energy_ev, s->mu, s->n, NULL, &edge0, NULL, &err), XANES_OK);
    tu_cli_result r = tu_run_cli("calibrate '%s' --ref-edge %.10f --json", shifted, edge0);
    cJSON *j = parse_ok(&r);
    assert_near(num(j, "reference_edge_ev"), edge0, 1e-9);
    assert_near(num(j, "measured_edge_ev"), edge0 + shift, 1e-5);
    assert_near(num(j, "offset_ev"), -shift, 1e-5);
    assert_near(num(j, "offset_ev"), num(j, "reference_edge_ev") - num(j, "measured_edge_ev"),
                1e-9);
    assert_true(num(j, "edge_step") > 0.5);
    num(j, "e0_ev");
    num(j, "pre1");
    num(j, "norm2");
    num(j, "nnorm");
    cJSON_Delete(j);
    tu_cli_result_free(&r);

    /* Stored reference spectrum: edge-based and alignment offsets both
     * recover the shift; the difference is reported. */
    r = tu_run_cli("calibrate '%s' --ref-spectrum '%s' --edge deriv --json", shifted, data);
    j = parse_ok(&r);
    assert_near(num(j, "offset_ev"), -shift, 0.02);
    assert_near(num(j, "xcorr_offset_ev"), -shift, 0.02);
    assert_near(num(j, "offset_difference_ev"), num(j, "offset_ev") - num(j, "xcorr_offset_ev"),
                1e-12);
    assert_true(num(j, "xcorr_correlation") > 0.999);
    assert_true(num(j, "xcorr_window_lo_ev") < num(j, "xcorr_window_hi_ev"));
    const cJSON *edge = cJSON_GetObjectItemCaseSensitive(j, "edge");
    assert_true(cJSON_IsString(edge) && strcmp(edge->valuestring, "deriv") == 0);
    cJSON_Delete(j);
    tu_cli_result_free(&r);

    /* Text output names the quantities too. */
    r = tu_run_cli("calibrate '%s' --ref-spectrum '%s'", shifted, data);
    assert_int_equal(r.exit_code, 0);
    assert_non_null(strstr(r.out, "offset_ev"));
    assert_non_null(strstr(r.out, "xcorr_offset_ev"));
    assert_non_null(strstr(r.out, "difference_ev"));
    tu_cli_result_free(&r);
    xanes_spectrum_free(s);
}

static void test_calibrate_standard(void **state)
{
    (void)state;
    char data[1024];
    tu_data_path(data, sizeof data, "NiO_111.xdi");
    tu_cli_result r = tu_run_cli("calibrate '%s' --standard nio --json", data);
    cJSON *j = parse_ok(&r);
    assert_near(num(j, "reference_edge_ev"), 8353.01, 1e-9);
    double measured = num(j, "measured_edge_ev");
    assert_near(num(j, "offset_ev"), 8353.01 - measured, 1e-9);
    cJSON_Delete(j);
    tu_cli_result_free(&r);

    /* A rewritten standards file moves the reference edge. */
    char file[1024];
    snprintf(file, sizeof file, "%s/standards.json", g_dir);
    tu_write_file(file, "{\"standards\": {\"NiO\": {\"edge_ev\": 8350.55, \"valence\": 2},"
                        "\"NCM_delithiated\": {\"edge_ev\": 8358.0, \"valence\": 4, \"soc\": 1},"
                        "\"NCM_pristine\": {\"edge_ev\": 8355.1, \"soc\": 0}},"
                        "\"edge_definition\": {\"anchor\": \"NCM_pristine\", \"pre1_ev\": -50, \"pre2_ev\": -25, \"norm1_ev\": 30, \"norm2_ev\": 90, \"nnorm\": 1, \"half_level\": 0.5, \"fit\": \"interpolant\"},"
                        "\"overcharge_threshold_ev\": 8357.0}");
    r = tu_run_cli("calibrate '%s' --standard nio --standards '%s' --json", data, file);
    j = parse_ok(&r);
    assert_near(num(j, "reference_edge_ev"), 8350.55, 1e-9);
    assert_near(num(j, "offset_ev"), 8350.55 - measured, 1e-9);
    cJSON_Delete(j);
    tu_cli_result_free(&r);
    r = tu_run_cli("calibrate '%s' --standard ni4 --json", data);
    j = parse_ok(&r);
    assert_near(num(j, "reference_edge_ev"), 8358.0, 1e-9);
    cJSON_Delete(j);
    tu_cli_result_free(&r);
}

static void expect_fail(int code, const char *needle, const char *fmt, const char *a, const char *b)
{
    tu_cli_result r = tu_run_cli(fmt, a, b);
    if (r.exit_code != code || strstr(r.err, needle) == NULL)
        fail_msg("'%s': exit %d (want %d), stderr '%s' lacks '%s'", fmt, r.exit_code, code, r.err,
                 needle);
    tu_cli_result_free(&r);
}

static void test_calibrate_bad(void **state)
{
    (void)state;
    char data[1024], flat[1024];
    tu_data_path(data, sizeof data, "NiO_111.xdi");
    expect_fail(2, "need the reference's edge", "calibrate '%s'%s", data, "");
    expect_fail(2, "--edge: 'middle'", "calibrate '%s' --ref-edge 8353 --edge middle%s", data, "");
    expect_fail(2, "unknown option '--bogus'", "calibrate '%s' --bogus%s", data, "");
    expect_fail(2, "not nio, ni4 or pristine", "calibrate '%s' --standard foo%s", data, "");
    expect_fail(2, "not a finite number", "calibrate '%s' --ref-edge nan%s", data, "");
    expect_fail(2, "either --ref-edge or --standard",
                "calibrate '%s' --ref-edge 8353 --standard nio%s", data, "");
    expect_fail(1, "missing.xdi", "calibrate '%s/missing.xdi' --ref-edge 8353%s", g_dir, "");
    expect_fail(1, "nope.xdi", "calibrate '%s' --ref-spectrum '%s/nope.xdi'", data, g_dir);
    /* A spectrum with no edge. */
    snprintf(flat, sizeof flat, "%s/flat.dat", g_dir);
    FILE *f = fopen(flat, "w");
    for (int i = 0; i < 300; i++)
        fprintf(f, "%.3f %.6f\n", 8200.0 + 1.1 * i, 0.3 + 1e-5 * i);
    fclose(f);
    expect_fail(1, "no absorption edge", "calibrate '%s' --ref-edge 8353%s", flat, "");
    /* Stored reference 600 eV away: no overlap. */
    xanes_spectrum *s = load("NiO_111.xdi");
    char far[1024];
    snprintf(far, sizeof far, "%s/far.dat", g_dir);
    write_two_columns(far, s->energy_ev, s->mu, s->n, 1000.0);
    xanes_spectrum_free(s);
    expect_fail(1, "no shift within", "calibrate '%s' --ref-spectrum '%s' --ref-edge 8353", data,
                far);
    tu_cli_result r = tu_run_cli("calibrate --help");
    assert_int_equal(r.exit_code, 0);
    assert_non_null(strstr(r.out, "calibrated E = raw E + offset_ev"));
    tu_cli_result_free(&r);
}

/* The CLI's lcf path, re-done with the library: normalize each spectrum,
 * resample references onto the spectrum's grid, fit over the window. */
static void library_lcf(const xanes_spectrum *s, xanes_spectrum **refs, size_t k, double emin,
                        double emax, xanes_lcf_result *res)
{
    xanes_error err;
    xanes_error_clear(&err);
    size_t nmax = s->n;
    for (size_t j = 0; j < k; j++)
        nmax = refs[j]->n > nmax ? refs[j]->n : nmax;
    xanes_normalize_workspace *nw = xanes_normalize_workspace_alloc(nmax);
    xanes_normalize_result nr;
    double *norm = malloc(s->n * sizeof *norm), *tmp = malloc(nmax * sizeof *tmp);
    double *grid[3];
    assert_int_equal(
        xanes_normalize_run(s->energy_ev, s->mu, s->n, NULL, nw, &nr, norm, NULL, &err), XANES_OK);
    for (size_t j = 0; j < k; j++) {
        grid[j] = malloc(s->n * sizeof *grid[j]);
        assert_int_equal(xanes_normalize_run(refs[j]->energy_ev, refs[j]->mu, refs[j]->n, NULL, nw,
                                             &nr, tmp, NULL, &err),
                         XANES_OK);
        assert_int_equal(xanes_lcf_resample(refs[j]->energy_ev, tmp, refs[j]->n, s->energy_ev, s->n,
                                            grid[j], &err),
                         XANES_OK);
    }
    xanes_lcf_plan *plan = NULL;
    assert_int_equal(xanes_lcf_plan_alloc(s->energy_ev, s->n, (const double *const *)grid, k, emin,
                                          emax, NULL, &plan, &err),
                     XANES_OK);
    xanes_lcf_workspace *ws = xanes_lcf_workspace_alloc(plan);
    assert_int_equal(xanes_lcf_plan_fit(plan, norm, 1, ws, res, &err), XANES_OK);
    xanes_lcf_workspace_free(ws);
    xanes_lcf_plan_free(plan);
    for (size_t j = 0; j < k; j++)
        free(grid[j]);
    free(tmp);
    free(norm);
    xanes_normalize_workspace_free(nw);
}

static void test_lcf_cli(void **state)
{
    (void)state;
    char nio[1024], lno[1024], nim[1024], mix[1024], csv[1024];
    tu_data_path(nio, sizeof nio, "NiO_111.xdi");
    tu_data_path(lno, sizeof lno, "LaNiO3_Ni_80K_111.xdi");
    tu_data_path(nim, sizeof nim, "Ni_metal_rt_01.xdi");

    /* A spectrum against itself and another: weight 1 and 0 exactly. */
    tu_cli_result r = tu_run_cli("lcf '%s' --ref '%s' --ref '%s' --json", lno, nio, lno);
    cJSON *j = parse_ok(&r);
    const cJSON *refs = cJSON_GetObjectItemCaseSensitive(j, "references");
    assert_true(cJSON_IsArray(refs) && cJSON_GetArraySize(refs) == 2);
    assert_near(num(cJSON_GetArrayItem(refs, 0), "weight"), 0.0, 1e-12);
    assert_true(
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(refs, 0), "at_bound")));
    assert_near(num(cJSON_GetArrayItem(refs, 1), "weight"), 1.0, 1e-9);
    assert_near(num(j, "r_factor"), 0.0, 1e-20);
    double e0 = num(j, "e0_ev");
    assert_near(num(j, "emin_ev"), e0 - 20.0, 1e-9);
    assert_near(num(j, "emax_ev"), e0 + 30.0, 1e-9);
    cJSON_Delete(j);
    tu_cli_result_free(&r);

    /* A mixture (raw mu 0.35 NiO + 0.65 LaNiO3 on LaNiO3's grid) with
     * three references: the CLI prints what the library computes. */
    xanes_spectrum *s_nio = load("NiO_111.xdi"), *s_lno = load("LaNiO3_Ni_80K_111.xdi");
    xanes_spectrum *s_nim = load("Ni_metal_rt_01.xdi");
    double *nio_on = malloc(s_lno->n * sizeof *nio_on), *mixmu = malloc(s_lno->n * sizeof *mixmu);
    assert_int_equal(xanes_lcf_resample(s_nio->energy_ev, s_nio->mu, s_nio->n, s_lno->energy_ev,
                                        s_lno->n, nio_on, NULL),
                     XANES_OK);
    size_t n = 0;
    for (size_t i = 0; i < s_lno->n; i++)
        if (isfinite(nio_on[i])) {
            s_lno->energy_ev[n] = s_lno->energy_ev[i];
            mixmu[n] = 0.35 * nio_on[i] + 0.65 * s_lno->mu[i];
            n++;
        }
    snprintf(mix, sizeof mix, "%s/mix.dat", g_dir);
    write_two_columns(mix, s_lno->energy_ev, mixmu, n, 0.0);
    snprintf(csv, sizeof csv, "%s/fit.csv", g_dir);
    r = tu_run_cli("lcf '%s' --ref '%s' --ref '%s' --ref '%s' --emin 8330 --emax 8395.5 "
                   "--json -o '%s'",
                   mix, nio, lno, nim, csv);
    j = parse_ok(&r);
    xanes_spectrum *m = NULL;
    assert_int_equal(xanes_spectrum_read(mix, NULL, &m, NULL), XANES_OK);
    xanes_spectrum *rs[3] = {s_nio, s_lno, s_nim};
    xanes_lcf_result lib;
    library_lcf(m, rs, 3, 8330.0, 8395.5, &lib);
    refs = cJSON_GetObjectItemCaseSensitive(j, "references");
    for (int q = 0; q < 3; q++) {
        assert_near(num(cJSON_GetArrayItem(refs, q), "weight"), lib.weight[q], 1e-12);
        assert_near(num(cJSON_GetArrayItem(refs, q), "weight_err"), lib.weight_err[q], 1e-12);
    }
    assert_near(num(j, "r_factor"), lib.r_factor, 1e-15);
    assert_near(num(j, "chi2"), lib.chi2, 1e-15);
    assert_near(num(j, "redchi"), lib.redchi, 1e-15);
    assert_near(num(j, "n_points"), (double)lib.n_points, 0.0);
    assert_near(num(j, "weight_sum"), lib.weight_sum, 1e-12);
    /* Mixing raw mu 0.35 : 0.65 mixes normalized spectra in the ratio of
     * the edge steps those amounts carry, 0.35 s_NiO : 0.65 s_LaNiO3; the
     * normalized mixture is close to (not exactly) that combination. */
    double st_nio = 0.0, st_lno = 0.0, e_unused;
    xanes_normalize_result nr;
    assert_int_equal(xanes_calibrate_edge_energy(s_nio->energy_ev, s_nio->mu, s_nio->n, NULL,
                                                 &e_unused, &nr, NULL),
                     XANES_OK);
    st_nio = nr.edge_step;
    xanes_spectrum *lno_orig = load("LaNiO3_Ni_80K_111.xdi");
    assert_int_equal(xanes_calibrate_edge_energy(lno_orig->energy_ev, lno_orig->mu, lno_orig->n,
                                                 NULL, &e_unused, &nr, NULL),
                     XANES_OK);
    st_lno = nr.edge_step;
    xanes_spectrum_free(lno_orig);
    double frac = 0.35 * st_nio / (0.35 * st_nio + 0.65 * st_lno);
    print_message("mixture: weights %.4f %.4f %.4f, expected NiO share %.4f\n", lib.weight[0],
                  lib.weight[1], lib.weight[2], frac);
    assert_near(lib.weight[0] / lib.weight_sum, frac, 0.01);
    assert_near(lib.weight[2], 0.0, 0.01);
    cJSON_Delete(j);
    tu_cli_result_free(&r);
    char *text = tu_read_file(csv, NULL);
    assert_non_null(text);
    assert_true(strncmp(text, "energy_ev,norm,fit,residual\n", 28) == 0);
    size_t lines = 0;
    for (char *c = text; *c; c++)
        lines += *c == '\n';
    assert_int_equal(lines, lib.n_points + 1);
    free(text);
    xanes_spectrum_free(m);
    free(mixmu);
    free(nio_on);
    xanes_spectrum_free(s_nim);
    xanes_spectrum_free(s_lno);
    xanes_spectrum_free(s_nio);
}

static void test_lcf_bad(void **state)
{
    (void)state;
    char nio[1024], lno[1024];
    tu_data_path(nio, sizeof nio, "NiO_111.xdi");
    tu_data_path(lno, sizeof lno, "LaNiO3_Ni_80K_111.xdi");
    expect_fail(2, "need at least 2 references", "lcf '%s' --ref '%s'", nio, lno);
    expect_fail(2, "no spectrum given", "lcf --ref '%s' --ref '%s'", nio, lno);
    expect_fail(1, "holds 0 grid point(s)",
                "lcf '%1$s' --ref '%2$s' --ref '%1$s' --emin 9500 --emax 9600", nio, lno);
    expect_fail(2, "must be below", "lcf '%s' --ref '%s' --emin 8400 --emax 8300 --ref x", nio,
                lno);
    expect_fail(1, "nothere.xdi", "lcf '%s' --ref '%s' --ref /nonexistent/nothere.xdi", nio, lno);
    expect_fail(1, "linearly dependent", "lcf '%1$s' --ref '%2$s' --ref '%2$s'", nio, nio);
    tu_cli_result r = tu_run_cli("lcf --help");
    assert_int_equal(r.exit_code, 0);
    assert_non_null(strstr(r.out, "--sum-to-one"));
    tu_cli_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_calibrate_ref_edge_json),
        cmocka_unit_test(test_calibrate_standard),
        cmocka_unit_test(test_calibrate_bad),
        cmocka_unit_test(test_lcf_cli),
        cmocka_unit_test(test_lcf_bad),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
