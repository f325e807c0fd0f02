/* test_closed_loop.c: simulate -> xanes run -> compare with truth, for the
 * three cathode configurations and several seeds (issue 5, "Closed loop"),
 * against the accuracy figures of issue 4:
 *   - per-particle mean edge error <= 0.05 eV at normal dose (10^4 counts),
 *     <= 0.15 eV at low dose (300 counts, the averaged-spectrum edge);
 *   - drift of several px recovered to <= 0.1 px rms;
 *   - particle detection F1 >= 0.95, touching particles included;
 *   - energy offset from the reference spectrum within 0.05 eV.
 * Scoring conventions: tests/run_testkit.h.  Stacks are 128 x 128 x 50
 * (the sample_scans size) to keep CI short; every case prints its numbers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "run_testkit.h"
#include "testutil.h"

/* Tolerances of issue 4 (not to be loosened). */
#define EDGE_TOL_EV 0.05
#define EDGE_TOL_LOW_DOSE_EV 0.15
#define DRIFT_TOL_PX 0.1
#define F1_MIN 0.95
#define OFFSET_TOL_EV 0.05

typedef struct {
    const char *config;
    unsigned long seed;
    double dose;
    double drift_px;
    double offset_ev;
    int touching;
    size_t n_particles;
    int layout_aps;
} loop_case;

static void run_case(const loop_case *c, rt_accuracy *a)
{
    char dir[512];
    tu_make_tempdir(dir, sizeof dir);
    xanes_simulate_params p;
    xanes_simulate_default_params(&p);
    xanes_error err;
    xanes_error_clear(&err);
    assert_int_equal(xanes_simulate_apply_config(&p, c->config, &err), XANES_OK);
    p.seed = c->seed;
    p.dose_counts = c->dose;
    p.drift_px = c->drift_px;
    p.energy_offset_ev = c->offset_ev;
    p.touching = c->touching;
    p.n_particles = c->n_particles;
    p.layout = c->layout_aps ? XANES_SIMULATE_APS : XANES_SIMULATE_FXI;
    p.config_name = c->config;
    xanes_status st = rt_loop(dir, "loop", &p, 1, NULL, a, NULL, &err);
    if (st != XANES_OK)
        print_error("%s seed %lu: %s\n", c->config, c->seed, err.message);
    assert_int_equal(st, XANES_OK);
    print_message("%-6s seed %3lu dose %6.0f drift %.1f%s%s: particles %zu/%zu F1 %.3f | drift "
                  "%.4f px | offset err %+.4f eV | edge err max %.4f rms %.4f | spectrum edge "
                  "err max %.4f rms %.4f eV\n",
                  c->config, c->seed, c->dose, c->drift_px, c->touching ? " touching" : "",
                  c->layout_aps ? " aps" : "", a->n_det, a->n_truth, a->f1, a->drift_rms_px,
                  a->offset_err_ev, a->edge_err_max_ev, a->edge_err_rms_ev, a->spec_err_max_ev,
                  a->spec_err_rms_ev);
    tu_remove_tree(dir);
}

static void check_common(const rt_accuracy *a)
{
    assert_true(a->f1 >= F1_MIN);
    assert_true(a->drift_rms_px <= DRIFT_TOL_PX);
    assert_true(fabs(a->offset_err_ev) <= OFFSET_TOL_EV);
}

/* Normal dose: every configuration, two seeds each, drift of a few px, a
 * monochromator offset of either sign. */
static void test_normal_dose(void **state)
{
    (void)state;
    static const loop_case cases[] = {
        {"NCM-A", 101, 10000.0, 1.5, 1.37, 0, 8, 0},  {"NCM-A", 102, 10000.0, 2.0, -0.83, 1, 10, 1},
        {"NCM-B", 201, 10000.0, 1.5, 0.61, 0, 8, 0},  {"NCM-B", 202, 10000.0, 2.0, -1.29, 1, 10, 0},
        {"NCM-C", 301, 10000.0, 1.5, 2.17, 0, 8, 1},  {"NCM-C", 302, 10000.0, 2.0, -0.47, 1, 10, 0},
    };
    rt_accuracy a[sizeof cases / sizeof cases[0]] = {{0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i], &a[i]);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        check_common(&a[i]);
        assert_true(a[i].edge_err_max_ev <= EDGE_TOL_EV);
    }
}

/* Low dose (~300 counts): the averaged-spectrum edge carries the accuracy. */
static void test_low_dose(void **state)
{
    (void)state;
    static const loop_case cases[] = {
        {"NCM-B", 401, 300.0, 1.5, 0.93, 0, 8, 0},
        {"NCM-C", 402, 300.0, 2.0, -1.11, 1, 10, 0},
    };
    rt_accuracy a[2] = {{0}};
    for (size_t i = 0; i < 2; i++)
        run_case(&cases[i], &a[i]);
    for (size_t i = 0; i < 2; i++) {
        check_common(&a[i]);
        assert_true(a[i].spec_err_max_ev <= EDGE_TOL_LOW_DOSE_EV);
    }
}

int main(void)
{
    xanes_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normal_dose),
        cmocka_unit_test(test_low_dose),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
