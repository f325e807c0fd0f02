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

#include <cmocka.h>
#include <gsl/gsl_math.h>

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

/* The stored NCM-B and NCM-C fits reproduce the seed paper's Fig. 3 values
 * (B 8356.7 +- 0.7 eV, C 8356.2 +- 0.6 eV) within 0.05 eV.  NCM-A's target
 * (8356.3 +- 0.3) lies outside what the model produces (see README); its
 * stored fit must still reproduce the values the fit recorded. */
static void test_fitted_configs_reproduce_fig3(void **state)
{
    fixture *f = *state;
    static const struct {
        const char *name;
        double mean, std;
    } paper[] = {{"NCM-B", 8356.7, 0.7}, {"NCM-C", 8356.2, 0.6}};
    xanes_model_params p;
    xanes_model_default_params(&p); /* 2000 particles, seed 1, C/3, 60 C, 4.2 V */
    xanes_error err;
    xanes_error_clear(&err);
    for (size_t k = 0; k < 2; k++) {
        xanes_model_config cfg;
        assert_int_equal(xanes_model_data_config(f->d, paper[k].name, &cfg, &err), XANES_OK);
        assert_true(cfg.fitted);
        xanes_model_result *r = NULL;
        assert_int_equal(xanes_model_run(f->d, &cfg, &f->stds, &p, &r, &err), XANES_OK);
        if (fabs(r->edge_mean_ev - paper[k].mean) > 0.05 ||
            fabs(r->edge_std_ev - paper[k].std) > 0.05)
            fail_msg("%s: %.3f +- %.3f eV vs paper %.2f +- %.2f", paper[k].name,
                     r->edge_mean_ev, r->edge_std_ev, paper[k].mean, paper[k].std);
        xanes_model_result_free(r);
    }
    /* Another seed: the fit is not tuned to one draw. */
    p.seed = 12345;
    xanes_model_config cfg;
    assert_int_equal(xanes_model_data_config(f->d, "NCM-B", &cfg, &err), XANES_OK);
    xanes_model_result *r = NULL;
    assert_int_equal(xanes_model_run(f->d, &cfg, &f->stds, &p, &r, &err), XANES_OK);
    assert_true(fabs(r->edge_mean_ev - 8356.7) < 0.1 && fabs(r->edge_std_ev - 0.7) < 0.1);
    xanes_model_result_free(r);
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
    tu_cli_result r = tu_run_cli("model --config NCM-A --c-rate -3");
    assert_int_equal(r.exit_code, 2);
    assert_non_null(strstr(r.err, "--c-rate"));
    tu_cli_result_free(&r);
    r = tu_run_cli("model --config NCM-Q");
    assert_int_equal(r.exit_code, 2);
    assert_non_null(strstr(r.err, "NCM-Q"));
    tu_cli_result_free(&r);
}

static void test_cli_json(void **state)
{
    (void)state;
    tu_cli_result r = tu_run_cli("model --config NCM-B --particles 300 --seed 5 --json");
    assert_int_equal(r.exit_code, 0);
    static const char *const keys[] = {"\"config\"", "\"particles\"", "\"edge_mean_ev\"",
                                       "\"edge_std_ev\"", "\"edge_min_ev\"", "\"edge_max_ev\"",
                                       "\"overcharged_fraction\"", "\"capacity_mah_g\"",
                                       "\"retention\"", "\"2C\""};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
        if (strstr(r.out, keys[k]) == NULL)
            fail_msg("missing %s in %s", keys[k], r.out);
    tu_cli_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_particles_linear_ocv_analytic),
        cmocka_unit_test(test_charge_conservation_and_determinism),
        cmocka_unit_test(test_fitted_configs_reproduce_fig3),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_cli_json),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
