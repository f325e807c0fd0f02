/* test_run.c: the orchestration of `xanes run` (run.h) on simulated stacks.
 *
 * - energies: the raw energies are kept, the offset stored beside them and
 *   energy = raw + offset exactly; no offset = 0 ("none");
 * - a monochromator offset that moves the fit windows past the scans' ends:
 *   the windows are cut, the offset still recovered, the cut reported;
 * - an imposed drift of several px at non-round values is recovered to
 *   <= 0.1 px rms (noise-free and at 10^4 counts);
 * - the maps: edge energy NaN outside the labels, SoC and valence equal the
 *   standards' scales of the edge, every simulated particle found;
 * - results independent of the thread count (1 vs 2 threads, bitwise);
 * - outputs: all six files, written whole; an existing OUTDIR is updated;
 *   a failing write (bad energies), a truncated stack, a missing dataset, a
 *   reference spectrum from another edge, contradictory parameters: a clear
 *   error and OUTDIR absent or untouched, no temporary directory left;
 * - a field of view without particles: no particle and a full output set
 *   with the edge definition's fixed e0, a data error (no edge in the mean
 *   spectrum) with larch's find_e0.
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <omp.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run_testkit.h"
#include "testutil.h"
#include "xanes/standards.h"

static const char *const OUTPUTS[] = {"results.h5",  "particles.csv", "edge_map.png",
                                      "soc_map.png", "particles.png", "edge_histogram.png"};

/* The columns issue 4 asks for, typed in independently of results.h. */
#define CSV_HEADER                                                                                 \
    "label,area_px,centroid_x,centroid_y,edge_mean_ev,edge_std_ev,edge_median_ev,"                 \
    "edge_mean_spectrum_ev,soc_mean,valence_mean,overcharged_fraction\n"

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Number of entries of dir (without . and ..) whose name starts with prefix. */
static size_t count_entries(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    if (d == NULL)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
            strncmp(e->d_name, prefix, strlen(prefix)) == 0)
            n++;
    closedir(d);
    return n;
}

static void small_params(xanes_simulate_params *p, unsigned long seed)
{
    xanes_simulate_default_params(p);
    p->nx = 112;
    p->ny = 104;
    p->ne = 44;
    p->n_particles = 6;
    p->seed = seed;
}

/* One test's files: a fresh temporary directory dir holding the simulated
 * stack s.h5 (small_params with the given seed) and, when asked, its
 * reference spectrum s_ref.xdi; out is the run's OUTDIR (not created). */
typedef struct {
    char dir[512], stack[600], ref[600], out[600];
} sim_files;

static void simulate_files(sim_files *f, unsigned long seed, int with_ref)
{
    tu_make_tempdir(f->dir, sizeof f->dir);
    snprintf(f->stack, sizeof f->stack, "%s/s.h5", f->dir);
    snprintf(f->ref, sizeof f->ref, "%s/s_ref.xdi", f->dir);
    snprintf(f->out, sizeof f->out, "%s/out", f->dir);
    xanes_simulate_params p;
    small_params(&p, seed);
    xanes_error err;
    xanes_error_clear(&err);
    xanes_status st = xanes_simulate_run(&p, f->stack, NULL, with_ref ? f->ref : NULL, NULL, &err);
    if (st != XANES_OK)
        print_error("%s\n", err.message);
    assert_int_equal(st, XANES_OK);
}

/* Noise-free scene with imposed non-round shifts: drift recovered, maps
 * consistent, energies kept, particles all found. */
static void test_drift_and_maps(void **state)
{
    (void)state;
    char dir[512];
    tu_make_tempdir(dir, sizeof dir);
    xanes_simulate_params p;
    small_params(&p, 7);
    p.noise = 0;
    p.energy_offset_ev = 0.715;
    double shifts[44][2];
    for (size_t k = 0; k < 44; k++) {
        /* A slow wander of several px with a jitter, no integer values. */
        shifts[k][0] = 3.385 * sin(0.13 * (double)k) + 0.217 * cos(1.7 * (double)k);
        shifts[k][1] = -2.71 + 0.118 * (double)k - 0.153 * sin(2.3 * (double)k);
    }
    p.shifts_px = &shifts[0][0];
    rt_accuracy a = {0};
    xanes_run_result *r = NULL;
    xanes_error err;
    xanes_error_clear(&err);
    xanes_status st = rt_loop(dir, "drift", &p, 0, NULL, &a, &r, &err);
    if (st != XANES_OK)
        print_error("%s\n", err.message);
    assert_int_equal(st, XANES_OK);
    print_message("noise-free imposed drift: rms error %.4f px, particles %zu/%zu, F1 %.3f\n",
                  a.drift_rms_px, a.n_det, a.n_truth, a.f1);
    assert_true(a.drift_rms_px <= 0.1);
    assert_int_equal(r->n_frames_not_aligned, 0);
    assert_true(a.f1 >= 0.95);

    /* Energies: raw as stored (nominal grid of the simulator), offset beside. */
    xanes_simulate_scene *sc = NULL;
    assert_int_equal(xanes_simulate_scene_alloc(&p, &sc, &err), XANES_OK);
    const double *nominal = xanes_simulate_energy_nominal_ev(sc);
    assert_string_equal(r->offset_source, "given");
    assert_true(r->energy_offset_ev == -0.715);
    for (size_t k = 0; k < r->n_energy; k++) {
        assert_true(fabs(r->energy_raw_ev[k] - nominal[k]) < 1e-6);
        assert_true(r->energy_ev[k] == r->energy_raw_ev[k] + r->energy_offset_ev);
    }
    xanes_simulate_scene_free(sc);

    /* Maps: NaN outside labels; SoC/valence from the standards' scales. */
    xanes_standards std;
    assert_int_equal(xanes_standards_load(NULL, &std, &err), XANES_OK);
    size_t n_edge = 0;
    for (size_t i = 0; i < r->ny * r->nx; i++) {
        if (r->labels[i] == 0) {
            assert_true(isnan(r->edge_ev[i]) && isnan(r->soc[i]) && isnan(r->valence[i]));
            continue;
        }
        if (!isfinite(r->edge_ev[i]))
            continue;
        n_edge++;
        assert_true(fabs(r->soc[i] - xanes_standards_soc(&std, r->edge_ev[i])) < 1e-5);
        assert_true(fabs(r->valence[i] - xanes_standards_valence(&std, r->edge_ev[i])) < 1e-5);
    }
    assert_true(n_edge > 500);
    assert_int_equal(r->n_particles, r->segment_info.n_labels);
    xanes_run_result_free(r);
    tu_remove_tree(dir);
}

/* A monochromator offset of 6.5 eV moves the edge definition's post-edge
 * window 1.6 eV past the end of the reference's and the stack's scans: the
 * windows are cut to the scans (normalize_interp.c), the offset is still
 * recovered to 0.05 eV, and the run says where it cut.  At 1 eV nothing is
 * cut and nothing is said. */
static void test_offset_past_the_scan(void **state)
{
    (void)state;
    char dir[512];
    tu_make_tempdir(dir, sizeof dir);
    xanes_simulate_params p;
    small_params(&p, 23);
    p.ref_grid = XANES_SIMULATE_REF_FINE; /* 8300..8450 eV as stored */
    const double offsets[2] = {6.5, 1.0};
    for (int i = 0; i < 2; i++) {
        p.energy_offset_ev = offsets[i];
        rt_accuracy a = {0};
        xanes_run_result *r = NULL;
        xanes_error err;
        xanes_error_clear(&err);
        xanes_status st = rt_loop(dir, i == 0 ? "cut" : "whole", &p, 1, NULL, &a, &r, &err);
        if (st != XANES_OK)
            print_error("%s\n", err.message);
        assert_int_equal(st, XANES_OK);
        print_message("offset %+.1f eV: recovered to %+.4f eV; warning \"%s\"\n", offsets[i],
                      a.offset_err_ev, r->window_warning);
        assert_true(fabs(a.offset_err_ev) <= 0.05);
        if (i == 0) {
            assert_non_null(strstr(r->window_warning, "reference spectrum"));
            assert_non_null(strstr(r->window_warning, "; stack"));
            assert_true(r->ref_norm.norm2_ev < 90.0 - 1.5 && r->ref_norm.norm2_ev > 90.0 - 1.7);
        } else {
            assert_string_equal(r->window_warning, "");
            assert_true(r->ref_norm.norm2_ev == 90.0);
        }
        xanes_run_result_free(r);
    }
    tu_remove_tree(dir);
}

/* Drift at 10^4 counts, random walk of 2.5 px rms; the jump map is not
 * noise-limited, so the averaged spectra are projected onto their own
 * subspace (run_stages.c), built from all of them. */
static void test_drift_noisy(void **state)
{
    (void)state;
    char dir[512];
    tu_make_tempdir(dir, sizeof dir);
    xanes_simulate_params p;
    small_params(&p, 19);
    p.nx = p.ny = 128;
    p.n_particles = 8; /* enough particle blocks for a block subspace */
    p.drift_px = 2.5;
    rt_accuracy a = {0};
    xanes_run_result *r = NULL;
    xanes_error err;
    xanes_error_clear(&err);
    assert_int_equal(rt_loop(dir, "noisy", &p, 0, NULL, &a, &r, &err), XANES_OK);
    print_message("10^4 counts, 2.5 px walk: drift rms error %.4f px; means subspace rank %zu "
                  "of %zu spectra (block rank %zu)\n",
                  a.drift_rms_px, r->means_subspace_rank, r->means_subspace_spectra,
                  r->subspace_rank);
    assert_true(a.drift_rms_px <= 0.1);
    assert_false(r->noise_limited);
    assert_true(r->means_subspace_rank >= 4);
    assert_int_equal(r->means_subspace_spectra, r->n_particles);
    xanes_run_result_free(r);
    tu_remove_tree(dir);
}

/* The noise-limited re-segmentation (run.h, run_stages.c): at 300 counts
 * particles of 6-14 px radius keep the 2-px smoothing and are all found;
 * particles of 3-6 px radius at 500 counts keep the 1-px one, which smoothing
 * at 2 px would blur into noise that Otsu then splits into specks (22
 * "particles" for 4 true ones before the gain rule). */
static void test_noise_limited_segmentation(void **state)
{
    (void)state;
    char dir[512];
    tu_make_tempdir(dir, sizeof dir);
    xanes_simulate_params p;
    xanes_simulate_default_params(&p);
    p.seed = 650;
    p.dose_counts = 300.0;
    p.drift_px = 2.0;
    p.config = "NCM-C";
    rt_accuracy a = {0};
    xanes_run_result *r = NULL;
    xanes_error err;
    xanes_error_clear(&err);
    assert_int_equal(rt_loop(dir, "low", &p, 0, NULL, &a, &r, &err), XANES_OK);
    print_message("300 counts, 128^2: noise-limited %d, smoothing %.1f px, contrast %.1f, F1 "
                  "%.3f\n",
                  r->noise_limited, r->segment_smooth_px, r->segment_info.otsu_contrast, a.f1);
    assert_true(r->noise_limited);
    assert_true(r->segment_smooth_px == 2.0);
    /* Noise-limited: the block subspace projects the averaged spectra. */
    assert_int_equal(r->means_subspace_rank, 0);
    assert_true(r->subspace_rank >= 4);
    assert_true(a.f1 >= 0.95);
    xanes_run_result_free(r);
    r = NULL;

    xanes_simulate_default_params(&p);
    p.nx = 97;
    p.ny = 83;
    p.ne = 37;
    p.n_particles = 4;
    p.touching = 1;
    p.seed = 9;
    p.radius_min_px = 3.0;
    p.radius_max_px = 6.0;
    p.dose_counts = 500.0;
    p.drift_px = 1.0;
    xanes_error_clear(&err);
    assert_int_equal(rt_loop(dir, "tiny", &p, 0, NULL, &a, &r, &err), XANES_OK);
    print_message("500 counts, radii 3-6 px: smoothing %.1f px, %zu particles of 4\n",
                  r->segment_smooth_px, r->n_particles);
    assert_true(r->segment_smooth_px == 1.0);
    assert_true(r->n_particles <= 4);
    xanes_run_result_free(r);
    tu_remove_tree(dir);
}

/* 1 and 2 threads give bit-identical maps and tables. */
static void test_threads(void **state)
{
    (void)state;
    char dir[512], stack[600];
    tu_make_tempdir(dir, sizeof dir);
    xanes_simulate_params p;
    small_params(&p, 23);
    p.drift_px = 1.0;
    snprintf(stack, sizeof stack, "%s/t.h5", dir);
    xanes_error err;
    xanes_error_clear(&err);
    assert_int_equal(xanes_simulate_run(&p, stack, NULL, NULL, NULL, &err), XANES_OK);
    xanes_run_result *r[2] = {NULL, NULL};
    const int saved = omp_get_max_threads();
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t + 1);
        assert_int_equal(xanes_run_process(stack, NULL, &r[t], &err), XANES_OK);
    }
    omp_set_num_threads(saved);
    const size_t n = r[0]->ny * r[0]->nx;
    assert_memory_equal(r[0]->shifts_px, r[1]->shifts_px, 2 * r[0]->n_energy * sizeof(double));
    assert_memory_equal(r[0]->edge_ev, r[1]->edge_ev, n * sizeof(float));
    assert_memory_equal(r[0]->edge_jump, r[1]->edge_jump, n * sizeof(float));
    assert_memory_equal(r[0]->labels, r[1]->labels, n * sizeof(int32_t));
    assert_int_equal(r[0]->n_particles, r[1]->n_particles);
    assert_memory_equal(r[0]->particles, r[1]->particles,
                        r[0]->n_particles * sizeof(xanes_particle));
    xanes_run_result_free(r[0]);
    xanes_run_result_free(r[1]);
    tu_remove_tree(dir);
}

/* All outputs written; a second run into the same OUTDIR replaces them and
 * leaves no temporary directory. */
static void test_outputs(void **state)
{
    (void)state;
    sim_files files;
    simulate_files(&files, 29, 0);
    const char *dir = files.dir, *stack = files.stack, *out = files.out;
    char path[700];
    xanes_error err;
    xanes_error_clear(&err);
    xanes_run_params rp;
    xanes_run_default_params(&rp);
    rp.command_line = "xanes run s.h5 -o out";
    for (int pass = 0; pass < 2; pass++) {
        xanes_run_result *r = NULL;
        xanes_status st = xanes_run(stack, &rp, out, &r, &err);
        if (st != XANES_OK)
            print_error("%s\n", err.message);
        assert_int_equal(st, XANES_OK);
        for (size_t i = 0; i < 6; i++) {
            snprintf(path, sizeof path, "%s/%s", out, OUTPUTS[i]);
            assert_true(exists(path));
        }
        assert_int_equal(count_entries(out, ""), 6);
        assert_int_equal(count_entries(dir, "out.tmp"), 0);
        /* particles.csv: header + one row per particle. */
        snprintf(path, sizeof path, "%s/particles.csv", out);
        char *csv = tu_read_file(path, NULL);
        assert_non_null(csv);
        assert_true(strncmp(csv, CSV_HEADER, strlen(CSV_HEADER)) == 0);
        size_t lines = 0;
        for (const char *c = csv; *c; c++)
            lines += *c == '\n';
        assert_int_equal(lines, r->n_particles + 1);
        free(csv);
        xanes_run_result_free(r);
    }
    tu_remove_tree(dir);
}

/* A write that fails (fault injected: non-increasing energies, which the
 * results writer refuses) leaves no OUTDIR and no temporary directory. */
static void test_failed_write_leaves_nothing(void **state)
{
    (void)state;
    sim_files files;
    simulate_files(&files, 31, 0);
    const char *dir = files.dir, *stack = files.stack, *out = files.out;
    xanes_error err;
    xanes_error_clear(&err);
    xanes_run_params rp;
    xanes_run_default_params(&rp);
    xanes_run_result *r = NULL;
    assert_int_equal(xanes_run_process(stack, &rp, &r, &err), XANES_OK);
    r->energy_ev[3] = r->energy_ev[2]; /* fault injection */
    xanes_error_clear(&err);
    assert_int_not_equal(xanes_run_write(r, &rp, out, &err), XANES_OK);
    print_message("failed write: %s\n", err.message);
    assert_false(exists(out));
    assert_int_equal(count_entries(dir, "out"), 0);
    /* Into an existing OUTDIR: its old content stays as it was. */
    assert_int_equal(mkdir(out, 0755), 0);
    char old[700];
    snprintf(old, sizeof old, "%s/results.h5", out);
    tu_write_file(old, "old results\n");
    xanes_error_clear(&err);
    assert_int_not_equal(xanes_run_write(r, &rp, out, &err), XANES_OK);
    char *text = tu_read_file(old, NULL);
    assert_string_equal(text, "old results\n");
    free(text);
    assert_int_equal(count_entries(out, ""), 1);
    assert_int_equal(count_entries(dir, "out.tmp"), 0);
    /* OUTDIR that is a file. */
    char file[700];
    snprintf(file, sizeof file, "%s/plain", dir);
    tu_write_file(file, "x");
    xanes_error_clear(&err);
    assert_int_equal(xanes_run_write(r, &rp, file, &err), XANES_EINVAL);
    assert_non_null(strstr(err.message, "not a directory"));
    xanes_run_result_free(r);
    tu_remove_tree(dir);
}

/* Broken and mismatched inputs: clear errors naming the file, no OUTDIR. */
static void test_bad_inputs(void **state)
{
    (void)state;
    sim_files files;
    simulate_files(&files, 37, 1);
    const char *dir = files.dir, *stack = files.stack, *out = files.out, *ref = files.ref;
    char trunc[600], wrong_ref[600];
    snprintf(trunc, sizeof trunc, "%s/trunc.h5", dir);
    xanes_error err;
    xanes_error_clear(&err);

    /* Truncated copy of the stack. */
    size_t size = 0;
    char *bytes = tu_read_file(stack, &size);
    assert_non_null(bytes);
    FILE *f = fopen(trunc, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, size / 2, f), size / 2);
    fclose(f);
    free(bytes);
    xanes_run_result *r = NULL;
    xanes_error_clear(&err);
    xanes_status st = xanes_run(trunc, NULL, out, &r, &err);
    print_message("truncated: %s\n", err.message);
    assert_int_not_equal(st, XANES_OK);
    assert_null(r);
    assert_non_null(strstr(err.message, "trunc.h5"));
    assert_false(exists(out));
    /* err may be NULL (no message recorded), the status still comes back. */
    assert_int_not_equal(xanes_run(trunc, NULL, out, NULL, NULL), XANES_OK);
    assert_false(exists(out));

    /* Mismatched dataset path. */
    xanes_run_params rp;
    xanes_run_default_params(&rp);
    rp.stack.layout = XANES_LAYOUT_FXI;
    rp.stack.stack_path = "/no/such/data";
    xanes_error_clear(&err);
    st = xanes_run(stack, &rp, out, NULL, &err);
    print_message("missing dataset: %s\n", err.message);
    assert_int_not_equal(st, XANES_OK);
    assert_non_null(strstr(err.message, "/no/such/data"));
    assert_false(exists(out));

    /* A reference spectrum of another edge (Fe K, 7112 eV). */
    tu_data_path(wrong_ref, sizeof wrong_ref, "Fe_Foil_rt_2016Foils.xdi");
    xanes_run_default_params(&rp);
    rp.calib_path = wrong_ref;
    rp.ref_edge_ev = 7112.0;
    xanes_error_clear(&err);
    st = xanes_run(stack, &rp, out, NULL, &err);
    print_message("wrong reference: %s\n", err.message);
    assert_int_equal(st, XANES_EDATA);
    assert_non_null(strstr(err.message, "Fe_Foil_rt_2016Foils.xdi"));
    assert_non_null(strstr(err.message, "same axis"));
    assert_false(exists(out));

    /* A field of view without particles: with the fixed e0 of the edge
     * definition the run completes with no particle and a full output set;
     * with larch's find_e0 the mean spectrum has no edge: a data error. */
    char blank[600], bout[700];
    snprintf(blank, sizeof blank, "%s/blank.h5", dir);
    snprintf(bout, sizeof bout, "%s/blank_out", dir);
    xanes_simulate_params pb;
    small_params(&pb, 41);
    pb.n_particles = 0;
    xanes_error_clear(&err);
    assert_int_equal(xanes_simulate_run(&pb, blank, NULL, NULL, NULL, &err), XANES_OK);
    xanes_error_clear(&err);
    r = NULL;
    st = xanes_run(blank, NULL, bout, &r, &err);
    if (st != XANES_OK)
        print_error("%s\n", err.message);
    assert_int_equal(st, XANES_OK);
    assert_int_equal(r->n_particles, 0);
    for (size_t i = 0; i < r->ny * r->nx; i++)
        assert_true(isnan(r->edge_ev[i]) && r->labels[i] == 0);
    assert_int_equal(count_entries(bout, ""), 6);
    xanes_run_result_free(r);
    xanes_run_default_params(&rp);
    rp.use_edge_definition = 0;
    xanes_error_clear(&err);
    st = xanes_run(blank, &rp, out, NULL, &err);
    print_message("no particles, larch rules: %s\n", err.message);
    assert_int_equal(st, XANES_EDATA);
    assert_non_null(strstr(err.message, "blank.h5"));
    assert_non_null(strstr(err.message, "mean spectrum"));
    assert_false(exists(out));
    assert_int_equal(xanes_run(blank, &rp, out, NULL, NULL), XANES_EDATA);

    /* Contradictory and incomplete calibration parameters. */
    xanes_run_default_params(&rp);
    rp.calib_path = ref;
    rp.ref_edge_ev = 8353.01;
    rp.energy_offset_ev = 1.0;
    xanes_error_clear(&err);
    assert_int_equal(xanes_run(stack, &rp, out, NULL, &err), XANES_EINVAL);
    assert_non_null(strstr(err.message, "not both"));
    rp.energy_offset_ev = NAN;
    rp.ref_edge_ev = NAN;
    xanes_error_clear(&err);
    assert_int_equal(xanes_run(stack, &rp, out, NULL, &err), XANES_EINVAL);
    assert_non_null(strstr(err.message, "--ref-edge"));
    assert_false(exists(out));
    assert_int_equal(count_entries(dir, "out"), 0);
    tu_remove_tree(dir);
}

/* LeakSanitizer hook (ASan build only): fontconfig, loaded by cairo's text
 * API when the figures are drawn, keeps its configuration for the life of
 * the process (freed only by FcFini, which a library may not call); those
 * allocations are suppressed, ours are still checked (as in test_figure.c). */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libfontconfig.so\n";
}

int main(void)
{
    xanes_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_drift_and_maps),
        cmocka_unit_test(test_drift_noisy),
        cmocka_unit_test(test_offset_past_the_scan),
        cmocka_unit_test(test_noise_limited_segmentation),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_outputs),
        cmocka_unit_test(test_failed_write_leaves_nothing),
        cmocka_unit_test(test_bad_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
