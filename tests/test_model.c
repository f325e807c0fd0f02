/* test_model.c: the SoC-heterogeneity model against analytic solutions,
 * charge conservation, determinism and its calibration to the seed paper. */
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
#include <gsl/gsl_math.h>
#include <omp.h>

#include "testutil.h"
#include "xanes/model.h"
#include "xanes/standards.h"

typedef struct {
    xanes_model_data *d;
    xanes_standards stds;
} fixture;

static int setup(void **state)
{
    xanes_init();
    fixture *f = calloc(1, sizeof *f);
    xanes_error err;
    xanes_error_clear(&err);
    if (xanes_standards_load(NULL, &f->stds, &err) != XANES_OK ||
        xanes_model_data_load(NULL, &f->d, &err) != XANES_OK) {
        fprintf(stderr, "setup: %s\n", err.message);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    xanes_model_data_free(f->d);
    free(f);
    return 0;
}

/* Two equal-size particles with different coverage and a linear OCV
 * U = a - b y: the difference z = y1 - y2 obeys the linear ODE
 * dz/dt = -(g1 - g2) I / (q (g1 + g2)) - k z, k = 2 b g1 g2 / (q (g1 + g2)),
 * so z(t) = z_inf (1 - exp(-k t)) with z_inf = -(g1 - g2) I / (2 b g1 g2).
 * The cut-off is where V = a + (I - b (g1 y1 + g2 y2)) / (g1 + g2) reaches it. */
static void test_two_particles_linear_ocv_analytic(void **state)
{
    fixture *f = *state;
    const xanes_model_common *c = xanes_model_data_common(f->d);
    xanes_model_params p;
    xanes_model_default_params(&p);
    p.c_rate = 0.5;
    p.temperature_c = 45.0;
    p.cutoff_v = 4.1;
    xanes_model_particle part[2];
    memset(part, 0, sizeof part);
    part[0].radius_um = part[1].radius_um = 3.3;
    part[0].coverage = 0.83;
    part[1].coverage = 0.27;
    part[0].depth_um = part[1].depth_um = 17.5;
    part[0].carbon_contact = 0.17; /* the electronic contact is part of each resistance */
    part[1].carbon_contact = 0.73;
    const double a = 4.35, b = 1.1;
    xanes_model_result *r = NULL;
    xanes_error err;
    xanes_error_clear(&err);
    assert_int_equal(xanes_model_run_ensemble(f->d, &f->stds, &p, part, 2, 1, a, b, &r, &err),
                     XANES_OK);
    double rad = 3.3e-6;
    double vol = 4.0 / 3.0 * M_PI * rad * rad * rad;
    double q = 96485.33212 * c->c_max_mol_m3 * vol;
    double current = p.c_rate * c->one_c_a_kg * 2.0 * c->density_kg_m3 * vol;
    double g1 = 1.0 / xanes_model_resistance_ohm(f->d, &p, &part[0], -b);
    double g2 = 1.0 / xanes_model_resistance_ohm(f->d, &p, &part[1], -b);
    double k = 2.0 * b * g1 * g2 / (q * (g1 + g2));
    double z_inf = -(g1 - g2) * current / (2.0 * b * g1 * g2);
    double t = r->charge_time_s;
    double z_model = r->particle[0].y_end_of_charge - r->particle[1].y_end_of_charge;
    double z_exact = z_inf * (1.0 - exp(-k * t));
    assert_true(fabs(z_exact) > 1e-3); /* the case is not trivial */
    if (fabs(z_model - z_exact) > 1e-6 * fabs(z_exact))
        fail_msg("z(t) = %.10g, analytic %.10g", z_model, z_exact);
    /* mean of y decreases linearly: y1 + y2 = 2 y0 - I t / q */
    double sum = r->particle[0].y_end_of_charge + r->particle[1].y_end_of_charge;
    assert_true(fabs(sum - (2.0 * c->y_initial - current * t / q)) < 1e-9);
    /* the electrode potential at the returned time is the cut-off */
    double v = a + (current - b * (g1 * r->particle[0].y_end_of_charge +
                                   g2 * r->particle[1].y_end_of_charge)) /
                       (g1 + g2);
    if (fabs(v - p.cutoff_v) > 1e-6)
        fail_msg("V at cut-off %.9f", v);
    xanes_model_result_free(r);
}

static void test_charge_conservation_and_determinism(void **state)
{
    fixture *f = *state;
    xanes_model_config cfg;
    xanes_error err;
    xanes_error_clear(&err);
    assert_int_equal(xanes_model_data_config(f->d, "NCM-B", &cfg, &err), XANES_OK);
    xanes_model_params p;
    xanes_model_default_params(&p);
    p.n_particles = 2000;
    p.seed = 17;
    p.discharge = 1;
    xanes_model_result *r1 = NULL, *r2 = NULL;
    assert_int_equal(xanes_model_run(f->d, &cfg, &f->stds, &p, &r1, &err), XANES_OK);
    double rel = fabs(r1->charge_stored_c - r1->charge_passed_c) / r1->charge_passed_c;
    if (!(rel < 1e-6))
        fail_msg("charge stored %.12g vs passed %.12g (rel %.3g)", r1->charge_stored_c,
                 r1->charge_passed_c, rel);
    assert_true(r1->discharge_capacity_mah_g > 0 && isfinite(r1->discharge_capacity_mah_g));
    assert_int_equal(xanes_model_run(f->d, &cfg, &f->stds, &p, &r2, &err), XANES_OK);
    assert_memory_equal(r1->particle, r2->particle, r1->n * sizeof *r1->particle);
    assert_true(r1->edge_mean_ev == r2->edge_mean_ev);
    xanes_model_result_free(r1);
    xanes_model_result_free(r2);
}

/* One particle's series resistance against the formula written out from the
 * numbers of configs.json: charge transfer RT/(F j0 c A), ionic path
 * d/(sigma eps^b c A), electronic contact e/(carbon A), diffusion
 * |dU/dy| r/(5 D c_max F A), each with its Arrhenius factor. */
static void test_resistance_by_hand(void **state)
{
    fixture *f = *state;
    const xanes_model_common *c = xanes_model_data_common(f->d);
    xanes_model_params p;
    xanes_model_default_params(&p);
    p.temperature_c = 41.7;
    xanes_model_particle pp;
    memset(&pp, 0, sizeof pp);
    pp.radius_um = 2.93;
    pp.coverage = 0.61;
    pp.carbon_contact = 0.39;
    pp.depth_um = 23.4;
    const double F = 96485.33212, R = 8.314462618, T = 41.7 + 273.15, dudy = -1.37;
    double arr_j0 = exp(-c->j0_ea_j_mol / R * (1.0 / T - 1.0 / c->t_ref_k));
    double arr_s = exp(-c->sigma_se_ea_j_mol / R * (1.0 / T - 1.0 / c->t_ref_k));
    double arr_d = exp(-c->d_s_ea_j_mol / R * (1.0 / T - 1.0 / c->t_ref_k));
    double rad = 2.93e-6, area = 4.0 * M_PI * rad * rad;
    double expect = R * T / (F * c->j0_a_m2 * arr_j0 * 0.61 * area) +
                    23.4e-6 / (c->sigma_se_s_m * arr_s * pow(c->se_volume_fraction, c->bruggeman) *
                               0.61 * area) +
                    c->e_contact_ohm_m2 / (0.39 * area) +
                    1.37 * rad / (5.0 * c->d_s_m2_s * arr_d * c->c_max_mol_m3 * F * area);
    double got = xanes_model_resistance_ohm(f->d, &p, &pp, dudy);
    assert_true(c->e_contact_ohm_m2 > 0);
    if (fabs(got - expect) > 1e-12 * expect)
        fail_msg("resistance %.12g ohm, by hand %.12g", got, expect);
    /* either contact below the isolation threshold isolates the particle */
    pp.carbon_contact = 0.5 * c->isolation_coverage;
    assert_true(isinf(xanes_model_resistance_ohm(f->d, &p, &pp, dudy)));
    pp.carbon_contact = 0.39;
    pp.coverage = 0.5 * c->isolation_coverage;
    assert_true(isinf(xanes_model_resistance_ohm(f->d, &p, &pp, dudy)));
}

/* The stored fits reproduce the seed paper's Fig. 3 charged-state values
 * (A 8356.3 +- 0.3, B 8356.7 +- 0.7, C 8356.2 +- 0.6 eV) within 0.05 eV in
 * mean and std, for 2000 particles and two seeds: the seed of the fit and
 * one the fit never saw. */
static void test_fitted_configs_reproduce_fig3(void **state)
{
    fixture *f = *state;
    static const struct {
        const char *name;
        double mean, std;
    } paper[] = {{"NCM-A", 8356.3, 0.3}, {"NCM-B", 8356.7, 0.7}, {"NCM-C", 8356.2, 0.6}};
    static const unsigned long seeds[] = {1, 20261125};
    xanes_error err;
    xanes_error_clear(&err);
    for (size_t s = 0; s < 2; s++)
        for (size_t k = 0; k < 3; k++) {
            xanes_model_params p;
            xanes_model_default_params(&p); /* C/3, 60 C, 4.2 V: the fit's protocol */
            p.n_particles = 2000;
            p.seed = seeds[s];
            xanes_model_config cfg;
            assert_int_equal(xanes_model_data_config(f->d, paper[k].name, &cfg, &err), XANES_OK);
            assert_true(cfg.fitted);
            xanes_model_result *r = NULL;
            assert_int_equal(xanes_model_run(f->d, &cfg, &f->stds, &p, &r, &err), XANES_OK);
            if (fabs(r->edge_mean_ev - paper[k].mean) > 0.05 ||
                fabs(r->edge_std_ev - paper[k].std) > 0.05)
                fail_msg("%s seed %lu: %.3f +- %.3f eV vs paper %.2f +- %.2f", paper[k].name,
                         seeds[s], r->edge_mean_ev, r->edge_std_ev, paper[k].mean, paper[k].std);
            xanes_model_result_free(r);
        }
}

/* The fit is the same whatever the thread count (grid points share threads,
 * each a deterministic integration), it lands inside the bounds, and it
 * reaches targets that the model can produce (here the values a known
 * Beta gives for this small ensemble). */
static void test_fit_thread_independent(void **state)
{
    fixture *f = *state;
    xanes_model_params p;
    xanes_model_default_params(&p);
    p.n_particles = 150;
    p.fit_coarse_particles = 60; /* both stages: coarse ensemble, then all */
    p.seed = 3;
    xanes_error err;
    xanes_error_clear(&err);
    xanes_model_config c1, c2;
    assert_int_equal(xanes_model_data_config(f->d, "NCM-C", &c1, &err), XANES_OK);
    c1.fit_mean_min = 0.55;
    c1.fit_mean_max = 0.97;
    c2 = c1;
    /* truth: what Beta(9.37, 1.42) gives for this ensemble */
    xanes_model_config truth = c1;
    truth.coverage_alpha = 9.37;
    truth.coverage_beta = 1.42;
    xanes_model_result *r = NULL;
    assert_int_equal(xanes_model_run(f->d, &truth, &f->stds, &p, &r, &err), XANES_OK);
    double tm = r->edge_mean_ev, ts = r->edge_std_ev;
    xanes_model_result_free(r);
    double a1[2], a2[2];
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    assert_int_equal(xanes_model_fit(f->d, &c1, &f->stds, &p, tm, ts, a1, &err), XANES_OK);
    omp_set_num_threads(3);
    assert_int_equal(xanes_model_fit(f->d, &c2, &f->stds, &p, tm, ts, a2, &err), XANES_OK);
    omp_set_num_threads(saved);
    assert_true(c1.coverage_alpha == c2.coverage_alpha && c1.coverage_beta == c2.coverage_beta);
    assert_true(a1[0] == a2[0] && a1[1] == a2[1]);
    double m = c1.coverage_alpha / (c1.coverage_alpha + c1.coverage_beta);
    assert_true(m >= 0.55 && m <= 0.97);
    if (fabs(a1[0] - tm) > 0.01 || fabs(a1[1] - ts) > 0.01 || fabs(m - 9.37 / 10.79) > 0.03)
        fail_msg("fit %.4f +- %.4f eV, mean coverage %.4f; truth %.4f +- %.4f eV, %.4f", a1[0],
                 a1[1], m, tm, ts, 9.37 / 10.79);
    /* bounds outside [0, 1] are refused with the configuration's name */
    c1.fit_mean_max = 1.2;
    assert_int_equal(xanes_model_fit(f->d, &c1, &f->stds, &p, tm, ts, a1, &err), XANES_EINVAL);
    assert_non_null(strstr(err.message, "NCM-C"));
}

/* A configs file whose NCM-B has the given key replaced by json_value. */
static void write_configs_with(const char *path, const char *cfg_name, const char *key,
                               const char *json_value)
{
    char cal[600], ocv[700];
    snprintf(cal, sizeof cal, "%s/configs.json",
             getenv("XANES_CALIBRATION_DIR") != NULL ? getenv("XANES_CALIBRATION_DIR")
                                                     : XANES_CALIBRATION_DIR);
    size_t size = 0;
    char *text = tu_read_file(cal, &size);
    assert_non_null(text);
    cJSON *root = cJSON_Parse(text);
    free(text);
    cJSON *common = cJSON_GetObjectItemCaseSensitive(root, "common");
    const char *ocv_file = cJSON_GetObjectItemCaseSensitive(common, "ocv_file")->valuestring;
    snprintf(ocv, sizeof ocv, "%.*s/%s", (int)(strrchr(cal, '/') - cal), cal, ocv_file);
    cJSON_ReplaceItemInObjectCaseSensitive(common, "ocv_file", cJSON_CreateString(ocv));
    cJSON *cfg = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "configs"),
                                                  cfg_name);
    cJSON_DeleteItemFromObjectCaseSensitive(cfg, key);
    cJSON_AddItemToObject(cfg, key, cJSON_Parse(json_value));
    char *out = cJSON_Print(root);
    tu_write_file(path, out);
    free(out);
    cJSON_Delete(root);
}

static void test_bad_config_keys(void **state)
{
    (void)state;
    char dir[512], path[700];
    tu_make_tempdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/configs.json", dir);
    xanes_error err;
    xanes_model_data *d = NULL;
    static const struct {
        const char *key, *value, *expect;
    } bad[] = {{"fit_coverage_mean", "[0.7, 0.4]", "fit_coverage_mean"},
               {"fit_coverage_mean", "[0.2, 1.3]", "fit_coverage_mean"},
               {"fit_coverage_mean", "0.5", "fit_coverage_mean"},
               {"electronic_contact", "\"carbon_last\"", "electronic_contact"}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        write_configs_with(path, "NCM-B", bad[k].key, bad[k].value);
        xanes_error_clear(&err);
        assert_int_equal(xanes_model_data_load(path, &d, &err), XANES_EFORMAT);
        assert_null(d);
        if (strstr(err.message, bad[k].expect) == NULL || strstr(err.message, "NCM-B") == NULL ||
            strstr(err.message, path) == NULL)
            fail_msg("message '%s' for %s = %s", err.message, bad[k].key, bad[k].value);
    }
    /* a good value loads, and carbon_first reaches the configuration */
    write_configs_with(path, "NCM-B", "electronic_contact", "\"carbon_first\"");
    xanes_error_clear(&err);
    assert_int_equal(xanes_model_data_load(path, &d, &err), XANES_OK);
    xanes_model_config cfg;
    assert_int_equal(xanes_model_data_config(d, "NCM-B", &cfg, &err), XANES_OK);
    assert_true(cfg.carbon_first);
    assert_int_equal(xanes_model_data_config(d, "NCM-A", &cfg, &err), XANES_OK);
    assert_false(cfg.carbon_first);
    assert_true(cfg.fit_mean_min == 0.5 && cfg.fit_mean_max == 1.0);
    xanes_model_data_free(d);
    tu_remove_tree(dir);
}

static void test_bad_inputs(void **state)
{
    fixture *f = *state;
    xanes_model_config cfg;
    xanes_error err;
    xanes_error_clear(&err);
    assert_int_equal(xanes_model_data_config(f->d, "NCM-Z", &cfg, &err), XANES_EINVAL);
    assert_non_null(strstr(err.message, "NCM-Z"));
    assert_non_null(strstr(err.message, "NCM-A"));
    xanes_model_data *d = NULL;
    xanes_error_clear(&err);
    assert_int_equal(xanes_model_data_load("/nonexistent/configs.json", &d, &err), XANES_EIO);
    assert_non_null(strstr(err.message, "/nonexistent/configs.json"));
    tu_cli_expect(2, "--c-rate", "model --config NCM-A --c-rate -3");
    tu_cli_expect(2, "NCM-Q", "model --config NCM-Q");
    /* a user configuration file with an unknown contact order: exit 1, named */
    char dir[512], path[700];
    tu_make_tempdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/user.json", dir);
    tu_write_file(path, "{\"name\": \"u\", \"coverage_alpha\": 4.1, \"coverage_beta\": 1.3, "
                        "\"electronic_contact\": \"carbon_later\"}");
    tu_cli_result r = tu_run_cli("model --config '%s' --particles 50", path);
    assert_int_equal(r.exit_code, 1);
    assert_non_null(strstr(r.err, path));
    assert_non_null(strstr(r.err, "electronic_contact"));
    tu_cli_result_free(&r);
    tu_remove_tree(dir);
}

static void test_cli_json(void **state)
{
    (void)state;
    tu_cli_result r = tu_run_cli("model --config NCM-B --particles 300 --seed 5 --json");
    assert_int_equal(r.exit_code, 0);
    static const char *const keys[] = {
        "\"config\"",      "\"particles\"",   "\"edge_mean_ev\"",         "\"edge_std_ev\"",
        "\"edge_min_ev\"", "\"edge_max_ev\"", "\"overcharged_fraction\"", "\"capacity_mah_g\"",
        "\"retention\"",   "\"2C\""};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
        if (strstr(r.out, keys[k]) == NULL)
            fail_msg("missing %s in %s", keys[k], r.out);
    tu_cli_result_free(&r);

    /* -o and --png: one CSV row per particle, a PNG, nothing else left. */
    char dir[512], csv[700], png[700];
    tu_make_tempdir(dir, sizeof dir);
    snprintf(csv, sizeof csv, "%s/p.csv", dir);
    snprintf(png, sizeof png, "%s/d.png", dir);
    r = tu_run_cli("model --config NCM-C --particles 123 -o '%s' --png '%s'", csv, png);
    assert_int_equal(r.exit_code, 0);
    tu_cli_result_free(&r);
    size_t size = 0;
    char *text = tu_read_file(csv, &size);
    assert_non_null(text);
    size_t lines = 0;
    for (size_t i = 0; i < size; i++)
        lines += text[i] == '\n';
    assert_int_equal(lines, 124);
    free(text);
    text = tu_read_file(png, &size);
    assert_non_null(text);
    assert_true(size > 8 && memcmp(text, "\x89PNG", 4) == 0);
    free(text);
    /* an unwritable output leaves nothing behind and exits 1 */
    r = tu_run_cli("model --config NCM-C --particles 50 -o '%s/missing/p.csv'", dir);
    assert_int_equal(r.exit_code, 1);
    assert_non_null(strstr(r.err, "missing/p.csv"));
    tu_cli_result_free(&r);
    tu_remove_tree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_particles_linear_ocv_analytic),
        cmocka_unit_test(test_charge_conservation_and_determinism),
        cmocka_unit_test(test_resistance_by_hand),
        cmocka_unit_test(test_fitted_configs_reproduce_fig3),
        cmocka_unit_test(test_fit_thread_independent),
        cmocka_unit_test(test_bad_config_keys),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_cli_json),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
