/* sim_testkit.h: helpers shared by the simulator's test programs
 * (test_simulate.c, test_simulate_io.c): an independent discrete
 * implementation of the half-edge definition, HDF5 readers, small params.
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

#include "xanes/simulate.h"

/* Published standards (Lee et al. 2025, sec. 2.3), typed in independently of
 * calibration/standards.json. */
#define E_PRISTINE 8355.10
#define E_DELITH 8358.0
#define E_NIO 8353.01

/* ---- independent half-edge: discrete least squares on samples ---- */

static inline void line_fit(const double *e, const double *y, const double *sub, size_t n,
                            double lo, double hi, double anchor, double out[2])
{
    double s0 = 0, s1 = 0, s2 = 0, sf = 0, sxf = 0;
    for (size_t i = 0; i < n; i++) {
        if (e[i] < lo || e[i] > hi)
            continue;
        double x = e[i] - anchor;
        double f = y[i] - (sub ? sub[0] + sub[1] * x : 0.0);
        s0 += 1;
        s1 += x;
        s2 += x * x;
        sf += f;
        sxf += x * f;
    }
    out[1] = (s0 * sxf - s1 * sf) / (s0 * s2 - s1 * s1);
    out[0] = (sf - out[1] * s1) / s0;
}

static inline double half_edge(const double *e, const double *mu, size_t n, double guess)
{
    double eh = guess;
    for (int it = 0; it < 200; it++) {
        double pre[2], post[2];
        line_fit(e, mu, NULL, n, eh - 50, eh - 15, eh, pre);
        line_fit(e, mu, pre, n, eh + 30, eh + 90, eh, post);
        double next = NAN, prev = NAN;
        for (size_t i = 0; i < n; i++) {
            if (e[i] < eh - 15)
                continue;
            double v = (mu[i] - pre[0] - pre[1] * (e[i] - eh)) / post[0];
            if (v >= 0.5 && !isnan(prev)) {
                double vp = (mu[i - 1] - pre[0] - pre[1] * (e[i - 1] - eh)) / post[0];
                next = e[i - 1] + (0.5 - vp) * (e[i] - e[i - 1]) / (v - vp);
                break;
            }
            prev = v;
        }
        if (isnan(next))
            return NAN;
        if (fabs(next - eh) < 1e-7)
            return next;
        eh = next;
    }
    return eh;
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
