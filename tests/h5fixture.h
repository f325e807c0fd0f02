/* h5fixture.h: writing small HDF5 fixtures at test run time (no binaries in
 * the repository).  Header-only (static inline) so the stack and CLI tests
 * share it without adding HDF5 to testutil.c.  Include after <cmocka.h>. */
#ifndef XANES_H5FIXTURE_H
#define XANES_H5FIXTURE_H

#include <hdf5.h>
#include <string.h>

static inline hid_t fx_create(const char *path)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    return f;
}

/* Writes dataset `name` (intermediate groups created) of the given rank and
 * dims from data in memory type mtype, stored as ftype; chunk != NULL makes it
 * chunked, gzip > 0 deflates at that level, after the shuffle filter when
 * shuffle is set. */
static inline void fx_write_ex(hid_t file, const char *name, hid_t mtype, hid_t ftype, int rank,
                               const hsize_t *dims, const void *data, const hsize_t *chunk,
                               int gzip, int shuffle)
{
    hid_t space = rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(rank, dims, NULL);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (chunk != NULL) {
        assert_true(H5Pset_chunk(dcpl, rank, chunk) >= 0);
        if (shuffle)
            assert_true(H5Pset_shuffle(dcpl) >= 0);
        if (gzip > 0)
            assert_true(H5Pset_deflate(dcpl, (unsigned)gzip) >= 0);
    }
    hid_t d = H5Dcreate2(file, name, ftype, space, lcpl, dcpl, H5P_DEFAULT);
    assert_true(d >= 0);
    assert_true(H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Pclose(lcpl);
    H5Sclose(space);
}

static inline void fx_write(hid_t file, const char *name, hid_t mtype, hid_t ftype, int rank,
                            const hsize_t *dims, const void *data, const hsize_t *chunk, int gzip)
{
    fx_write_ex(file, name, mtype, ftype, rank, dims, data, chunk, gzip, 0);
}

static inline void fx_write_f32(hid_t file, const char *name, int rank, const hsize_t *dims,
                                const float *data)
{
    fx_write(file, name, H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, rank, dims, data, NULL, 0);
}

static inline void fx_write_f64(hid_t file, const char *name, int rank, const hsize_t *dims,
                                const double *data)
{
    fx_write(file, name, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, rank, dims, data, NULL, 0);
}

static inline void fx_write_u16(hid_t file, const char *name, int rank, const hsize_t *dims,
                                const unsigned short *data)
{
    fx_write(file, name, H5T_NATIVE_USHORT, H5T_STD_U16LE, rank, dims, data, NULL, 0);
}

static inline void fx_energy(hid_t file, const char *name, size_t n, const double *e)
{
    hsize_t dims[1] = {n};
    fx_write_f64(file, name, 1, dims, e);
}

/* A scalar variable-length UTF-8 string, as h5py writes str values. */
static inline void fx_write_vstring(hid_t file, const char *name, const char *text)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t d = H5Dcreate2(file, name, t, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(d >= 0);
    assert_true(H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, &text) >= 0);
    H5Dclose(d);
    H5Sclose(space);
    H5Tclose(t);
}

/* A fixed-length ASCII string attribute on dataset `dset`. */
static inline void fx_attr_string(hid_t file, const char *dset, const char *attr, const char *text)
{
    hid_t d = H5Dopen2(file, dset, H5P_DEFAULT);
    assert_true(d >= 0);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(text));
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(d, attr, t, space, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(a >= 0);
    assert_true(H5Awrite(a, t, text) >= 0);
    H5Aclose(a);
    H5Sclose(space);
    H5Tclose(t);
    H5Dclose(d);
}

static inline void fx_close(hid_t file)
{
    assert_true(H5Fclose(file) >= 0);
}

/* Deterministic uniform numbers in [0, 1) (64-bit LCG, Knuth MMIX), so the
 * fixtures are the same on every machine. */
static inline double fx_uniform(unsigned long long *state)
{
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*state >> 11) / 9007199254740992.0;
}

#endif
