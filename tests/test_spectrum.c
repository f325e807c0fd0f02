/* test_spectrum.c: the 1-D reader on every real spectrum of ../shared/data/real
 * (skipped when that folder is absent) and on a catalogue of bad files.
 *
 * Expected values were taken from the files' text by an independent parser
 * (numpy, following PROVENANCE.md's mu formulas), not from this reader.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "xanes/spectrum.h"

typedef struct {
    const char *file;
    xanes_mu_mode mode; /* AUTO = no options needed */
    size_t a, b;        /* mu column, or i0/itrans column, or (fluor) i0 column */
    size_t n;
    double e_first, e_last, mu_first, mu_mid;
} real_case;

static const real_case real_cases[] = {
    {"ni_metal_rt.xdi", XANES_MU_AUTO, 0, 0, 418, 8133.0, 9567.435, -1.1873423, 1.0097732},
    {"Ni_metal_rt_01.xdi", XANES_MU_AUTO, 0, 0, 418, 8133.0, 9567.435, -1.1873422999990038,
     1.0097732000082098},
    {"Ni_foil_111.xdi", XANES_MU_AUTO, 0, 0, 965, 8133.0739, 10179.266, -0.42110699, 0.44410574},
    {"NiO_111.xdi", XANES_MU_AUTO, 0, 0, 585, 8183.1431, 9079.4971, -0.023658975, 1.4205569},
    {"Ni2O3_rt_01.xdi", XANES_MU_AUTO, 0, 0, 435, 8110.0, 9451.088, 0.43767899999777554,
     0.6219053999982924},
    {"NiOH2_rt_01.xdi", XANES_MU_AUTO, 0, 0, 435, 8110.0, 9451.088, 0.21590150000082042,
     0.21016700000251165},
    {"NiS_rt_01.xdi", XANES_MU_AUTO, 0, 0, 507, 8110.0, 9451.088, 0.748035699999011,
     0.7980153000005897},
    {"LaNiO3_Ni_80K_111.xdi", XANES_MU_AUTO, 0, 0, 611, 8184.8704, 10179.063, 1.7050303,
     1.8455143},
    {"NiCo2O4_Ni_80K_111.xdi", XANES_MU_AUTO, 0, 0, 611, 8184.7749, 10179.309, 2.0629947,
     2.3811818},
    {"LiCoO2_80K_111.xdi", XANES_MU_AUTO, 0, 0, 611, 7559.6925, 9553.8167, 1.0264227, 1.7054565},
    {"Co_foil_111.xdi", XANES_MU_AUTO, 0, 0, 441, 7509.9496, 8943.5572, -0.41856021,
     -0.033989249},
    {"Mn_foil_111.xdi", XANES_MU_AUTO, 0, 0, 391, 6389.4002, 7514.7072, 1.05839, 1.7816472},
    {"MnO2_rt_01.xdi", XANES_MU_AUTO, 0, 0, 217, 6520.003, 6629.979, -0.47893559999462465,
     -0.30547809999724085},
    {"mn_cpmnco3.dat", XANES_MU_AUTO, 0, 0, 409, 6339.98, 7196.98, -0.952437, -1.458889},
    {"Fe_Foil_rt_2016Foils.xdi", XANES_MU_AUTO, 0, 0, 532, 7012.0, 7755.887,
     0.26548423616026234, 4.039734713053913},
    {"cu_metal_rt.xdi", XANES_MU_TRANS, 2, 3, 408, 8779.0, 10145.86, -1.3070486000008634,
     1.1735938000001411},
    {"S_elemental_rt_01.xdi", XANES_MU_AUTO, 0, 0, 268, 2450.0, 2520.0, 0.029789846092431325,
     0.12486397135863259},
    {"NiSO4_rt_01.xdi", XANES_MU_AUTO, 0, 0, 272, 2450.0, 2672.002, 0.010529400187904861,
     0.7504515744211098},
    {"CaS_rt_001.xdi", XANES_MU_AUTO, 0, 0, 299, 2446.998, 2543.999, 8.127016530876082e-05,
     0.00908965295914755},
    {"pyrite1_rt_01.xdi", XANES_MU_AUTO, 0, 0, 272, 2450.0, 2672.003, 0.03407973260016,
     1.2024963116059766},
    {"Na2SO3_rt_01.xdi", XANES_MU_AUTO, 0, 0, 229, 2450.0, 2550.0, 0.05027295252952709,
     0.1308985714467522},
    {"iron_sulfide_rt_01.xxdi", XANES_MU_AUTO, 0, 0, 232, 2452.0, 2592.0, 0.19671679734021436,
     3.3355676102046337},
    {"APS9BM_2006.dat", XANES_MU_FLUOR, 7, 0, 258, 2460.0, 2500.0, 0.0005507335771247301,
     0.03730654318385031},
};

static void check_close(double got, double want, double rel, const char *what, const char *file)
{
    double tol = rel * fmax(fabs(want), 1e-12);
    if (!(fabs(got - want) <= tol))
        fail_msg("%s: %s = %.12g, expected %.12g", file, what, got, want);
}

static void test_every_real_spectrum(void **state)
{
    (void)state;
    char shared[1024];
    if (tu_shared_dir(shared, sizeof shared) == NULL)
        skip();
    for (size_t k = 0; k < sizeof real_cases / sizeof real_cases[0]; k++) {
        const real_case *c = &real_cases[k];
        char path[1400];
        snprintf(path, sizeof path, "%s/data/real/%s", shared, c->file);
        xanes_spectrum_options opt;
        xanes_spectrum_default_options(&opt);
        opt.mode = c->mode;
        if (c->mode == XANES_MU_TRANS) {
            opt.i0_column = c->a;
            opt.itrans_column = c->b;
        } else if (c->mode == XANES_MU_FLUOR) {
            static const size_t mca[] = {25, 26, 27, 28, 29, 31};
            opt.i0_column = c->a;
            memcpy(opt.ifluor_columns, mca, sizeof mca);
            opt.n_ifluor = 6;
        }
        xanes_spectrum *s = NULL;
        xanes_error err;
        xanes_error_clear(&err);
        xanes_status st = xanes_spectrum_read(path, &opt, &s, &err);
        if (st != XANES_OK)
            fail_msg("%s: %s", c->file, err.message);
        if (s->n != c->n)
            fail_msg("%s: %zu points, expected %zu", c->file, s->n, c->n);
        check_close(s->energy_ev[0], c->e_first, 1e-12, "first energy", c->file);
        check_close(s->energy_ev[s->n - 1], c->e_last, 1e-12, "last energy", c->file);
        check_close(s->mu[0], c->mu_first, 1e-7, "mu[0]", c->file);
        check_close(s->mu[s->n / 2], c->mu_mid, 1e-7, "mu[n/2]", c->file);
        xanes_spectrum_free(s);
    }
}

static xanes_status read_shared(const char *name, const xanes_spectrum_options *opt,
                                xanes_spectrum **s, xanes_error *err)
{
    char shared[1024], path[1400];
    if (tu_shared_dir(shared, sizeof shared) == NULL)
        return XANES_EIO;
    snprintf(path, sizeof path, "%s/data/real/%s", shared, name);
    xanes_error_clear(err);
    return xanes_spectrum_read(path, opt, s, err);
}

static void test_special_real_files(void **state)
{
    (void)state;
    char shared[1024];
    if (tu_shared_dir(shared, sizeof shared) == NULL)
        skip();
    xanes_spectrum *s = NULL;
    xanes_error err;
    xanes_spectrum_options opt;

    /* MRCAT free-text header; three points share the first energy. */
    xanes_spectrum_default_options(&opt);
    assert_int_equal(read_shared("APS10BM_2019.dat", &opt, &s, &err), XANES_EDATA);
    assert_non_null(strstr(err.message, "APS10BM_2019.dat"));
    assert_non_null(strstr(err.message, "line 20"));
    opt.sort = 1;
    assert_int_equal(read_shared("APS10BM_2019.dat", &opt, &s, &err), XANES_OK);
    assert_int_equal(s->n, 3462);
    /* mean of ln(Io/It) over the three duplicate points, by hand */
    double m = (log(62850.0 / 54410) + log(62770.0 / 54320) + log(62680.0 / 54270)) / 3;
    check_close(s->mu[0], m, 1e-12, "merged mu[0]", "APS10BM");
    assert_string_equal(s->mu_formula, "ln(i0/itrans) = ln(col2/col3)");
    xanes_spectrum_free(s);

    /* keV axis; ln(i0/i1) undefined where i1 <= 0 -> a clear error. */
    xanes_spectrum_default_options(&opt);
    opt.mode = XANES_MU_TRANS;
    opt.i0_column = 4;
    opt.itrans_column = 5;
    assert_int_equal(read_shared("APS12BM_2019.dat", &opt, &s, &err), XANES_EDATA);
    assert_non_null(strstr(err.message, "itrans"));
    opt.mode = XANES_MU_COLUMN;
    opt.mu_column = 8;
    assert_int_equal(read_shared("APS12BM_2019.dat", &opt, &s, &err), XANES_OK);
    assert_int_equal(s->n, 492);
    assert_true(s->energy_was_kev);
    assert_true(s->energy_ev[0] > 6338.0 && s->energy_ev[0] < 6340.0);
    xanes_spectrum_free(s);

    /* XDI metadata, both key styles. */
    xanes_spectrum_default_options(&opt);
    assert_int_equal(read_shared("NiO_111.xdi", &opt, &s, &err), XANES_OK);
    assert_string_equal(s->element, "Ni");
    assert_string_equal(s->edge, "K");
    assert_string_equal(s->format, "XDI");
    xanes_spectrum_free(s);
    assert_int_equal(read_shared("cu_metal_rt.xdi", &opt, &s, &err), XANES_OK);
    assert_string_equal(s->element, "Cu");
    xanes_spectrum_free(s);

    /* JSON with the energy grid from options. */
    xanes_spectrum_default_options(&opt);
    assert_int_equal(read_shared("nmc_exp_xas.json", &opt, &s, &err), XANES_EINVAL);
    opt.json_key = "intensity";
    opt.json_index = "0";
    opt.grid_start_ev = 8330.0;
    opt.grid_step_ev = 0.4;
    assert_int_equal(read_shared("nmc_exp_xas.json", &opt, &s, &err), XANES_OK);
    assert_int_equal(s->n, 100);
    check_close(s->energy_ev[99], 8369.6, 1e-12, "last JSON energy", "nmc_exp_xas.json");
    xanes_spectrum_free(s);
}

/* ---- bad files ------------------------------------------------------------ */

typedef struct {
    const char *name;
    const char *text;
    xanes_status status;
    const char *needle; /* must appear in the message */
} bad_case;

static void test_bad_files(void **state)
{
    (void)state;
    char dir[512];
    tu_make_tempdir(dir, sizeof dir);
    char ten[1024] = "";
    for (int i = 0; i < 10; i++) {
        size_t used = strlen(ten);
        snprintf(ten + used, sizeof ten - used, "%d.5 %d.25\n", 8300 + i, i);
    }
    char unsorted[1100];
    snprintf(unsorted, sizeof unsorted, "%s8301.0 1\n", ten);
    char nan_line[1100];
    snprintf(nan_line, sizeof nan_line, "%s8400 nan\n", ten);
    char ragged[1100];
    snprintf(ragged, sizeof ragged, "%s8400 1 2\n", ten);
    char text_in[1100];
    snprintf(text_in, sizeof text_in, "%sEND OF SCAN\n8500 3\n", ten);
    const bad_case cases[] = {
        {"empty.dat", "", XANES_EFORMAT, "empty"},
        {"comments.dat", "# only\n# comments\n", XANES_EFORMAT, "no numeric data"},
        {"binary.dat", "\x89HDF\r\n\x1a\n\x01\x02\x03\x04\x05\x06\x07", XANES_EFORMAT, "binary"},
        {"short.dat", "1 2\n2 3\n3 4\n", XANES_EDATA, "only 3 points"},
        {"unsorted.dat", unsorted, XANES_EDATA, "line 11"},
        {"nan.dat", nan_line, XANES_EDATA, "line 11"},
        {"ragged.dat", ragged, XANES_EFORMAT, "ragged"},
        {"textin.dat", text_in, XANES_EFORMAT, "line 11"},
        {"onecol.dat", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n", XANES_EFORMAT, "one column"},
        {"threecol.dat", "# a b c\n1 2 3\n2 2 3\n3 2 3\n4 2 3\n5 2 3\n6 2 3\n7 2 3\n8 2 3\n9 2 3\n"
                         "10 2 3\n",
         XANES_EINVAL, "--mu-col"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char path[700];
        snprintf(path, sizeof path, "%s/%s", dir, cases[k].name);
        if (strcmp(cases[k].name, "binary.dat") == 0) {
            FILE *f = fopen(path, "wb");
            assert_non_null(f);
            const char bytes[] = "\x89HDF\r\n\x1a\n\x00\x01\x02";
            fwrite(bytes, 1, sizeof bytes, f);
            fclose(f);
        } else {
            tu_write_file(path, cases[k].text);
        }
        xanes_spectrum *s = (xanes_spectrum *)1;
        xanes_error err;
        xanes_error_clear(&err);
        xanes_status st = xanes_spectrum_read(path, NULL, &s, &err);
        if (st != cases[k].status)
            fail_msg("%s: status %d (%s), expected %d", cases[k].name, st, err.message,
                     cases[k].status);
        assert_null(s);
        if (strstr(err.message, cases[k].name) == NULL ||
            strstr(err.message, cases[k].needle) == NULL)
            fail_msg("%s: message '%s' lacks the file name or '%s'", cases[k].name, err.message,
                     cases[k].needle);
    }
    xanes_spectrum *s = NULL;
    xanes_error err;
    xanes_error_clear(&err);
    char path[700];
    snprintf(path, sizeof path, "%s/missing.xdi", dir);
    assert_int_equal(xanes_spectrum_read(path, NULL, &s, &err), XANES_EIO);
    assert_non_null(strstr(err.message, "missing.xdi"));
    tu_remove_tree(dir);
}

static void test_plain_two_columns_crlf_comma(void **state)
{
    (void)state;
    char dir[512], path[700];
    tu_make_tempdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/plain.csv", dir);
    char text[2048] = "energy,mu\r\n";
    for (int i = 0; i < 12; i++) {
        size_t used = strlen(text);
        snprintf(text + used, sizeof text - used, "%.3f,%.4f\r\n", 8.3 + 0.001 * i, 0.1 * i);
    }
    tu_write_file(path, text);
    xanes_spectrum *s = NULL;
    xanes_error err;
    xanes_error_clear(&err);
    assert_int_equal(xanes_spectrum_read(path, NULL, &s, &err), XANES_OK);
    assert_int_equal(s->n, 12);
    assert_true(s->energy_was_kev);
    assert_true(fabs(s->energy_ev[11] - 8311.0) < 1e-9);
    assert_true(fabs(s->mu[11] - 1.1) < 1e-12);
    assert_string_equal(s->column_names[1], "mu");
    xanes_spectrum_free(s);
    tu_remove_tree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_real_spectrum),
        cmocka_unit_test(test_special_real_files),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_plain_two_columns_crlf_comma),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
