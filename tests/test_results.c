/* test_results.c: results.h5 and particles.csv written, then read back.
 *
 * Truth: the arrays handed to the writer (non-round values, NaN in the
 * masked pixels), read back through the HDF5 C API independently of the
 * writer's code; attribute values and types as the NeXus layout in
 * results.h promises; the CSV text compared line by line with values
 * formatted by hand.  Failure paths must leave the output directory empty.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hdf5.h>

#include "testutil.h"
#include "xanes/atomic.h"
#include "xanes/results.h"

enum { NY = 6, NX = 9, NE = 11, NP = 3 };

static char g_dir[512];

static int setup(void **state)
{
    (void)state;
    xanes_init();
    tu_make_tempdir(g_dir, sizeof g_dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_remove_tree(g_dir);
    return 0;
}

static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

/* Test data, filled by make_results. */
static float g_edge[NY * NX], g_soc[NY * NX], g_val[NY * NX], g_jump[NY * NX], g_q[NY * NX];
static int32_t g_lab[NY * NX];
static double g_e[NE], g_eraw[NE], g_shift[NE * 2];
static xanes_results_particle g_part[NP];
static const xanes_results_text g_text[2] = {{"edge_method", "half"}, {"align_ref", "post-edge"}};
static const xanes_results_number g_num[3] = {
    {"overcharge_ev", 8357.0}, {"min_area_px", 12.0}, {"threads", 2.0}};

static void make_results(xanes_results *r)
{
    for (size_t i = 0; i < NY * NX; i++) {
        int in = (i % 7) != 3;
        g_lab[i] = in ? (int32_t)(1 + i % NP) : 0;
        g_edge[i] = in ? (float)(8355.871 + 0.0137 * (double)i) : NAN;
        g_soc[i] = in ? (float)(0.412 + 0.00731 * (double)i) : NAN;
        g_val[i] = in ? (float)(3.21 + 0.0113 * (double)i) : NAN;
        g_jump[i] = (float)(0.0413 * (double)(i % 13));
        g_q[i] = (float)(0.0071 * (double)(i % 5) + 0.0013);
    }
    const double offset = -1.2375;
    for (size_t k = 0; k < NE; k++) {
        g_eraw[k] = 8330.113 + 4.871 * (double)k;
        g_e[k] = g_eraw[k] + offset;
        g_shift[2 * k] = 0.117 * (double)k - 0.3;
        g_shift[2 * k + 1] = -0.0893 * (double)k;
    }
    g_shift[2 * 4] = NAN; /* a frame that could not be aligned */
    g_shift[2 * 4 + 1] = NAN;
    for (int i = 0; i < NP; i++) {
        g_part[i] = (xanes_results_particle){
            .label = i + 1,
            .area_px = (size_t)(17 + 5 * i),
            .centroid_x_px = 3.125 + 1.5 * i,
            .centroid_y_px = 2.0625 + 0.75 * i,
            .edge_mean_ev = 8356.2031 + 0.4117 * i,
            .edge_std_ev = 0.2871 + 0.01 * i,
            .edge_median_ev = 8356.1987 + 0.4 * i,
            .edge_mean_spectrum_ev = 8356.21 + 0.41 * i,
            .soc_mean = 0.83125 + 0.02 * i,
            .valence_mean = 3.66375 + 0.04 * i,
            .overcharged_fraction = 0.125 * i,
        };
    }
    memset(r, 0, sizeof *r);
    r->ny = NY;
    r->nx = NX;
    r->n_energy = NE;
    r->edge_energy_ev = g_edge;
    r->soc = g_soc;
    r->valence = g_val;
    r->labels = g_lab;
    r->edge_jump = g_jump;
    r->quality = g_q;
    r->quality_long_name = "pre-edge noise / edge jump";
    r->energy_ev = g_e;
    r->energy_raw_ev = g_eraw;
    r->energy_offset_ev = offset;
    r->shifts_px = g_shift;
    r->particles = g_part;
    r->n_particles = NP;
    r->command_line = "xanes run 'stack 1.h5' -o out --energy-offset -1.2375";
    r->text_params = g_text;
    r->n_text_params = 2;
    r->number_params = g_num;
    r->n_number_params = 3;
}

/* ---- independent readers ---- */

static void read_dataset(hid_t f, const char *name, hid_t mtype, void *buf, int rank,
                         const hsize_t *dims)
{
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0)
        fail_msg("no dataset %s", name);
    hid_t s = H5Dget_space(d);
    assert_int_equal(H5Sget_simple_extent_ndims(s), rank);
    hsize_t got[2] = {0, 0};
    H5Sget_simple_extent_dims(s, got, NULL);
    for (int i = 0; i < rank; i++)
        assert_int_equal(got[i], dims[i]);
    assert_true(H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    H5Sclose(s);
    H5Dclose(d);
}

/* String attribute obj_name@attr into buf (variable-length UTF-8 expected). */
static void read_attr_string(hid_t f, const char *obj_name, const char *attr, char *buf,
                             size_t size)
{
    hid_t a = H5Aopen_by_name(f, obj_name, attr, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0)
        fail_msg("no attribute %s@%s", obj_name, attr);
    hid_t t = H5Aget_type(a);
    assert_int_equal(H5Tget_class(t), H5T_STRING);
    assert_true(H5Tis_variable_str(t) > 0);
    assert_int_equal(H5Tget_cset(t), H5T_CSET_UTF8);
    char *v = NULL;
    hid_t mt = H5Tcopy(H5T_C_S1);
    H5Tset_size(mt, H5T_VARIABLE);
    H5Tset_cset(mt, H5T_CSET_UTF8);
    assert_true(H5Aread(a, mt, &v) >= 0);
    snprintf(buf, size, "%s", v);
    H5free_memory(v);
    H5Tclose(mt);
    H5Tclose(t);
    H5Aclose(a);
}

static double read_attr_double(hid_t f, const char *obj_name, const char *attr)
{
    hid_t a = H5Aopen_by_name(f, obj_name, attr, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0)
        fail_msg("no attribute %s@%s", obj_name, attr);
    double v = NAN;
    assert_true(H5Aread(a, H5T_NATIVE_DOUBLE, &v) >= 0);
    H5Aclose(a);
    return v;
}

static void assert_attr(hid_t f, const char *obj, const char *attr, const char *want)
{
    char buf[512];
    read_attr_string(f, obj, attr, buf, sizeof buf);
    if (strcmp(buf, want) != 0)
        fail_msg("%s@%s = '%s', expected '%s'", obj, attr, buf, want);
}

/* Equal as float32 with NaN matching NaN. */
static void assert_same_floats(const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!(a[i] == b[i] || (isnan(a[i]) && isnan(b[i]))))
            fail_msg("element %zu: %.9g != %.9g", i, (double)a[i], (double)b[i]);
}

static void test_write_and_read_back(void **state)
{
    (void)state;
    xanes_results r;
    make_results(&r);
    char path[600];
    snprintf(path, sizeof path, "%s/results.h5", g_dir);
    xanes_error err;
    xanes_error_clear(&err);
    assert_int_equal(xanes_results_write(path, &r, &err), XANES_OK);
    assert_int_equal(dir_entries(g_dir), 1); /* no temporary left */

    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    assert_attr(f, "/", "NX_class", "NXroot");
    assert_attr(f, "/", "default", "results");
    assert_attr(f, "/", "program_version", xanes_version());
    assert_attr(f, "/", "command_line", r.command_line);
    assert_attr(f, "/results", "NX_class", "NXdata");
    assert_attr(f, "/results", "signal", "edge_energy");

    const hsize_t map_dims[2] = {NY, NX};
    static float fbuf[NY * NX];
    static int32_t ibuf[NY * NX];
    read_dataset(f, "/results/edge_energy", H5T_NATIVE_FLOAT, fbuf, 2, map_dims);
    assert_same_floats(fbuf, g_edge, NY * NX);
    assert_true(isnan(fbuf[3])); /* masked pixel */
    assert_attr(f, "/results/edge_energy", "units", "eV");
    read_dataset(f, "/results/soc", H5T_NATIVE_FLOAT, fbuf, 2, map_dims);
    assert_same_floats(fbuf, g_soc, NY * NX);
    read_dataset(f, "/results/valence", H5T_NATIVE_FLOAT, fbuf, 2, map_dims);
    assert_same_floats(fbuf, g_val, NY * NX);
    read_dataset(f, "/results/edge_jump", H5T_NATIVE_FLOAT, fbuf, 2, map_dims);
    assert_same_floats(fbuf, g_jump, NY * NX);
    read_dataset(f, "/results/quality", H5T_NATIVE_FLOAT, fbuf, 2, map_dims);
    assert_same_floats(fbuf, g_q, NY * NX);
    assert_attr(f, "/results/quality", "long_name", "pre-edge noise / edge jump");
    read_dataset(f, "/results/labels", H5T_NATIVE_INT32, ibuf, 2, map_dims);
    assert_memory_equal(ibuf, g_lab, sizeof g_lab);
    /* file types are the documented ones */
    hid_t d = H5Dopen2(f, "/results/edge_energy", H5P_DEFAULT);
    hid_t t = H5Dget_type(d);
    assert_true(H5Tequal(t, H5T_IEEE_F32LE) > 0);
    H5Tclose(t);
    H5Dclose(d);
    d = H5Dopen2(f, "/results/labels", H5P_DEFAULT);
    t = H5Dget_type(d);
    assert_true(H5Tequal(t, H5T_STD_I32LE) > 0);
    H5Tclose(t);
    H5Dclose(d);

    double e[NE], shifts[NE * 2];
    const hsize_t ne = NE, sdims[2] = {NE, 2};
    read_dataset(f, "/results/energy", H5T_NATIVE_DOUBLE, e, 1, &ne);
    assert_memory_equal(e, g_e, sizeof g_e);
    assert_attr(f, "/results/energy", "units", "eV");
    read_dataset(f, "/results/energy_raw", H5T_NATIVE_DOUBLE, e, 1, &ne);
    assert_memory_equal(e, g_eraw, sizeof g_eraw);
    assert_true(read_attr_double(f, "/results/energy_raw", "energy_offset_ev") == -1.2375);
    assert_true(read_attr_double(f, "/results/energy", "energy_offset_ev") == -1.2375);
    read_dataset(f, "/results/shifts", H5T_NATIVE_DOUBLE, shifts, 2, sdims);
    for (size_t i = 0; i < NE * 2; i++)
        assert_true(shifts[i] == g_shift[i] || (isnan(shifts[i]) && isnan(g_shift[i])));
    assert_attr(f, "/results/shifts", "units", "pixel");
    assert_attr(f, "/results/shifts", "columns", "dy,dx");

    const hsize_t np = NP;
    double col[NP];
    int32_t lab[NP];
    read_dataset(f, "/results/particles/label", H5T_NATIVE_INT32, lab, 1, &np);
    read_dataset(f, "/results/particles/edge_mean_ev", H5T_NATIVE_DOUBLE, col, 1, &np);
    for (int i = 0; i < NP; i++) {
        assert_int_equal(lab[i], i + 1);
        assert_true(col[i] == g_part[i].edge_mean_ev);
    }
    assert_attr(f, "/results/particles/edge_mean_ev", "units", "eV");
    read_dataset(f, "/results/particles/area_px", H5T_NATIVE_DOUBLE, col, 1, &np);
    assert_true(col[2] == 27.0);
    read_dataset(f, "/results/particles/overcharged_fraction", H5T_NATIVE_DOUBLE, col, 1, &np);
    assert_true(col[2] == 0.25);
    read_dataset(f, "/results/particles/centroid_y", H5T_NATIVE_DOUBLE, col, 1, &np);
    assert_true(col[1] == 2.8125);

    assert_attr(f, "/parameters", "edge_method", "half");
    assert_attr(f, "/parameters", "align_ref", "post-edge");
    assert_true(read_attr_double(f, "/parameters", "overcharge_ev") == 8357.0);
    assert_true(read_attr_double(f, "/parameters", "min_area_px") == 12.0);
    H5Fclose(f);
}

static void test_optional_arrays_left_out(void **state)
{
    (void)state;
    xanes_results r;
    make_results(&r);
    r.soc = r.valence = r.quality = NULL;
    r.energy_raw_ev = NULL;
    r.shifts_px = NULL;
    r.particles = NULL;
    r.n_particles = 0;
    char path[600];
    snprintf(path, sizeof path, "%s/minimal.h5", g_dir);
    xanes_error err;
    xanes_error_clear(&err);
    assert_int_equal(xanes_results_write(path, &r, &err), XANES_OK);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    assert_int_equal(H5Lexists(f, "/results/soc", H5P_DEFAULT), 0);
    assert_int_equal(H5Lexists(f, "/results/shifts", H5P_DEFAULT), 0);
    assert_true(H5Lexists(f, "/results/edge_energy", H5P_DEFAULT) > 0);
    int32_t lab[1];
    const hsize_t zero = 0;
    read_dataset(f, "/results/particles/label", H5T_NATIVE_INT32, lab, 1, &zero);
    H5Fclose(f);
}

static void test_bad_input_leaves_nothing(void **state)
{
    (void)state;
    xanes_results r;
    make_results(&r);
    char path[600];
    snprintf(path, sizeof path, "%s/results.h5", g_dir);
    xanes_error err;

    /* calibrated energies that do not match raw + offset */
    double e[NE];
    memcpy(e, g_e, sizeof e);
    e[5] += 0.01;
    r.energy_ev = e;
    xanes_error_clear(&err);
    assert_int_equal(xanes_results_write(path, &r, &err), XANES_EINVAL);
    assert_non_null(strstr(err.message, "results.h5"));
    assert_non_null(strstr(err.message, "energy 5"));
    /* energies out of order */
    e[5] = e[4];
    r.energy_raw_ev = NULL;
    xanes_error_clear(&err);
    assert_int_equal(xanes_results_write(path, &r, &err), XANES_EINVAL);
    assert_non_null(strstr(err.message, "increasing"));
    assert_int_equal(dir_entries(g_dir), 0);

    /* a failure inside HDF5 after the file exists (the same attribute twice):
     * the temporary file must go */
    make_results(&r);
    const xanes_results_text dup[2] = {{"edge_method", "half"}, {"edge_method", "deriv"}};
    r.text_params = dup;
    xanes_error_clear(&err);
    assert_int_equal(xanes_results_write(path, &r, &err), XANES_EIO);
    assert_non_null(strstr(err.message, "edge_method"));
    assert_non_null(strstr(err.message, "results.h5"));
    assert_int_equal(dir_entries(g_dir), 0);

    /* a directory that does not exist */
    make_results(&r);
    xanes_error_clear(&err);
    assert_int_equal(xanes_results_write("/nonexistent-xanes-dir/results.h5", &r, &err), XANES_EIO);
    assert_non_null(strstr(err.message, "/nonexistent-xanes-dir/results.h5"));
}

static void test_replaces_existing_file(void **state)
{
    (void)state;
    char path[600];
    snprintf(path, sizeof path, "%s/results.h5", g_dir);
    tu_write_file(path, "an older run\n");
    xanes_results r;
    make_results(&r);
    xanes_error err;
    xanes_error_clear(&err);
    assert_int_equal(xanes_results_write(path, &r, &err), XANES_OK);
    assert_true(H5Fis_hdf5(path) > 0);
    assert_int_equal(dir_entries(g_dir), 1);
}

static void test_particles_csv(void **state)
{
    (void)state;
    xanes_results r;
    make_results(&r);
    g_part[1].edge_mean_spectrum_ev = NAN;
    char path[600];
    snprintf(path, sizeof path, "%s/particles.csv", g_dir);
    xanes_error err;
    xanes_error_clear(&err);
    assert_int_equal(xanes_results_write_particles_csv(path, g_part, NP, &err), XANES_OK);
    char *text = tu_read_file(path, NULL);
    assert_non_null(text);
    const char *want =
        "label,area_px,centroid_x,centroid_y,edge_mean_ev,edge_std_ev,edge_median_ev,"
        "edge_mean_spectrum_ev,soc_mean,valence_mean,overcharged_fraction\n"
        "1,17,3.125,2.062,8356.2031,0.2871,8356.1987,8356.2100,0.83125,3.66375,0.00000\n"
        "2,22,4.625,2.812,8356.6148,0.2971,8356.5987,nan,0.85125,3.70375,0.12500\n"
        "3,27,6.125,3.562,8357.0265,0.3071,8356.9987,8357.0300,0.87125,3.74375,0.25000\n";
    assert_string_equal(text, want);
    free(text);
    assert_int_equal(dir_entries(g_dir), 1);
    xanes_error_clear(&err);
    assert_int_equal(
        xanes_results_write_particles_csv("/nonexistent-xanes-dir/p.csv", g_part, NP, &err),
        XANES_EIO);
    assert_non_null(strstr(err.message, "/nonexistent-xanes-dir/p.csv"));
    xanes_error_clear(&err);
    assert_int_equal(xanes_results_write_particles_csv(path, NULL, 2, &err), XANES_EINVAL);
}

static void test_atomic_file(void **state)
{
    (void)state;
    char path[600];
    snprintf(path, sizeof path, "%s/out.txt", g_dir);
    xanes_error err;
    xanes_error_clear(&err);
    xanes_atomic_file *af = NULL;
    assert_int_equal(xanes_atomic_open(path, &af, &err), XANES_OK);
    fputs("half of it", xanes_atomic_stream(af));
    assert_int_equal(dir_entries(g_dir), 1); /* only the hidden temporary */
    assert_null(tu_read_file(path, NULL));   /* nothing under the final name yet */
    xanes_atomic_discard(af);
    assert_int_equal(dir_entries(g_dir), 0);
    assert_int_equal(xanes_atomic_open(path, &af, &err), XANES_OK);
    fputs("all of it\n", xanes_atomic_stream(af));
    assert_int_equal(xanes_atomic_commit(af, &err), XANES_OK);
    char *text = tu_read_file(path, NULL);
    assert_string_equal(text, "all of it\n");
    free(text);
    assert_int_equal(dir_entries(g_dir), 1);
    xanes_atomic_discard(NULL);
    assert_int_equal(xanes_atomic_open("", &af, &err), XANES_EINVAL);
    char dir_slash[600];
    snprintf(dir_slash, sizeof dir_slash, "%s/", g_dir);
    xanes_error_clear(&err);
    assert_int_equal(xanes_atomic_open(dir_slash, &af, &err), XANES_EINVAL);
    assert_non_null(strstr(err.message, g_dir));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_and_read_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_optional_arrays_left_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replaces_existing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_particles_csv, setup, teardown),
        cmocka_unit_test_setup_teardown(test_atomic_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
