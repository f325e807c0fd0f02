/* sim_testkit.h: helpers shared by the simulator's test programs
 * (test_simulate.c, test_simulate_io.c): the standards' edge definition by
 * the spectral core, HDF5 readers, small params.
 * Header-only (static inline) so each test program takes what it uses. */
#ifndef XANES_SIM_TESTKIT_H
#define XANES_SIM_TESTKIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "xanes/normalize.h"
#include "xanes/simulate.h"
#include "xanes/standards.h"

/* Published standards (Lee et al. 2025, sec. 2.3), typed in independently of
 * calibration/standards.json. */
#define E_PRISTINE 8355.10
#define E_DELITH 8358.0
#define E_NIO 8353.01

/* ---- the standards' edge definition, by the spectral core ----
 * calibration/standards.json edge_definition through xanes_standards_edge_
 * params and xanes_normalize_run: independent of the simulator's placement
 * path (its tables, secant solves and fine grid). */

static inline double std_edge(const double *e, const double *mu, size_t n)
{
    xanes_standards std;
    xanes_error err;
    xanes_error_clear(&err);
    if (xanes_standards_load(NULL, &std, &err) != XANES_OK)
        fail_msg("standards: %s", err.message);
    xanes_normalize_params p;
    xanes_standards_edge_params(&std, &p);
    xanes_normalize_workspace *w = xanes_normalize_workspace_alloc(n);
    assert_non_null(w);
    xanes_normalize_result r;
    if (xanes_normalize_run(e, mu, n, &p, w, &r, NULL, NULL, &err) != XANES_OK)
        fail_msg("normalize: %s", err.message);
    xanes_normalize_workspace_free(w);
    return r.half_edge_ev;
}

/* A 0.05 eV grid 8290..8460 eV (3401 points) built here, not by the
 * simulator. */
#define FINE_N 3401
static inline void fine_grid(double *e)
{
    for (size_t i = 0; i < FINE_N; i++)
        e[i] = 8290.0 + 0.05 * (double)i;
}

/* ---- HDF5 reading helpers ---- */

static inline double *read_doubles(const char *file, const char *name, size_t *n_out)
{
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    assert_true(d >= 0);
    hid_t s = H5Dget_space(d);
    hssize_t n = H5Sget_simple_extent_npoints(s);
    double *buf = malloc((size_t)(n > 0 ? n : 1) * sizeof *buf);
    assert_non_null(buf);
    assert_true(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    H5Sclose(s);
    H5Dclose(d);
    H5Fclose(f);
    *n_out = (size_t)n;
    return buf;
}

/* Raw bytes of a dataset in its file type, for byte-for-byte comparison. */
static inline unsigned char *read_raw(const char *file, const char *name, size_t *bytes)
{
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    assert_true(d >= 0);
    hid_t t = H5Dget_type(d), s = H5Dget_space(d);
    size_t n = (size_t)H5Sget_simple_extent_npoints(s) * H5Tget_size(t);
    unsigned char *buf = malloc(n + 1);
    assert_non_null(buf);
    assert_true(H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    H5Tclose(t);
    H5Sclose(s);
    H5Dclose(d);
    H5Fclose(f);
    *bytes = n;
    return buf;
}

static inline void expect_dataset(const char *file, const char *name, H5T_class_t cls, size_t size,
                                  int rank, const hsize_t *dims)
{
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0)
        fail_msg("%s: dataset %s missing", file, name);
    hid_t t = H5Dget_type(d), s = H5Dget_space(d);
    assert_int_equal(H5Tget_class(t), cls);
    assert_int_equal(H5Tget_size(t), size);
    assert_int_equal(H5Sget_simple_extent_ndims(s), rank);
    hsize_t got[4];
    H5Sget_simple_extent_dims(s, got, NULL);
    for (int i = 0; i < rank; i++)
        assert_int_equal(got[i], dims[i]);
    H5Tclose(t);
    H5Sclose(s);
    H5Dclose(d);
    H5Fclose(f);
}

static inline void expect_units(const char *file, const char *name, const char *units)
{
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    assert_true(d >= 0);
    hid_t a = H5Aopen(d, "units", H5P_DEFAULT);
    assert_true(a >= 0);
    hid_t t = H5Aget_type(a);
    char buf[64] = "";
    size_t n = H5Tget_size(t);
    assert_true(n < sizeof buf);
    assert_true(H5Aread(a, t, buf) >= 0);
    buf[n] = '\0';
    assert_string_equal(buf, units);
    H5Tclose(t);
    H5Aclose(a);
    H5Dclose(d);
    H5Fclose(f);
}

static inline void small_params(xanes_simulate_params *p)
{
    xanes_simulate_default_params(p);
    p->nx = p->ny = 48;
    p->ne = 24;
    p->n_particles = 3;
    p->seed = 4242;
}

static inline void run_to(const xanes_simulate_params *p, const char *dir, const char *tag,
                          char *stack, char *truth, char *ref, size_t size)
{
    snprintf(stack, size, "%s/%s.h5", dir, tag);
    snprintf(truth, size, "%s/%s_truth.h5", dir, tag);
    if (ref != NULL)
        snprintf(ref, size, "%s/%s_ref.xdi", dir, tag);
    xanes_error err;
    xanes_error_clear(&err);
    xanes_status st = xanes_simulate_run(p, stack, truth, ref, NULL, &err);
    if (st != XANES_OK)
        fail_msg("simulate: %s", err.message);
}

static inline int same_bytes(const char *a, const char *b, const char *name)
{
    size_t na, nb;
    unsigned char *x = read_raw(a, name, &na), *y = read_raw(b, name, &nb);
    int same = na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

#endif
