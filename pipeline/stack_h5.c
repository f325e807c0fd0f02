/* stack_h5.c: the HDF5 plumbing of the stack reader: error text from
 * HDF5's error stack, links that may have missing parents, numeric type
 * names and saturation values, strings stored fixed or variable length (and
 * in UTF-8, as h5py writes them), opening a dataset with a chunk cache that
 * holds one frame's chunks (so frame-by-frame reading of chunks spanning
 * several frames decompresses each chunk once), and the hyperslab read of a
 * block of rows of one frame.  HDF5's automatic error printing is off
 * (xanes_init); failures here become messages naming file and dataset.
 */
#include "stack_source.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest chunk cache we give one dataset (bytes). */
#define CHUNK_CACHE_MAX_BYTES ((size_t)512 << 20)

/* ---- HDF5 error text --------------------------------------------------- */

static herr_t last_error_cb(unsigned n, const H5E_error2_t *e, void *data)
{
    (void)n;
    /* Walking downward, the last description is the innermost, most
     * specific one ("truncated file: eof = ..."). */
    if (e != NULL && e->desc != NULL && e->desc[0] != '\0')
        snprintf((char *)data, 200, "%s", e->desc);
    return 0;
}

/* The innermost message of HDF5's current error stack, "" if none.  Must be
 * called right after the failing call, before any other HDF5 call. */
const char *sh5_reason(char *buf)
{
    buf[0] = '\0';
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, last_error_cb, buf);
    return buf;
}

/* ---- small helpers ----------------------------------------------------- */

void sh5_dset_init(stack_dset *d)
{
    memset(d, 0, sizeof *d);
    d->id = H5I_INVALID_HID;
    d->saturation = INFINITY;
}

/* Nonzero when every component of the absolute path exists as a link
 * (checked one by one: H5Lexists fails on a missing intermediate group). */
int sh5_link_exists(hid_t file, const char *path)
{
    char buf[256];
    if (path == NULL || path[0] == '\0' || strlen(path) >= sizeof buf)
        return 0;
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (buf[0] != '\0' && strcmp(buf, "/") != 0 && H5Lexists(file, buf, H5P_DEFAULT) <= 0)
                return 0;
            *p = c;
            if (c == '\0')
                break;
        }
    }
    return 1;
}

int sh5_is_dataset(hid_t file, const char *path)
{
    if (!sh5_link_exists(file, path))
        return 0;
    hid_t o = H5Oopen(file, path, H5P_DEFAULT);
    if (o < 0)
        return 0;
    int ok = H5Iget_type(o) == H5I_DATASET;
    H5Oclose(o);
    return ok;
}

/* Name of a numeric type ("uint16", "float32"), its saturation value. */
static void type_describe(hid_t type, char *name, size_t size, double *saturation, int *numeric)
{
    H5T_class_t cls = H5Tget_class(type);
    size_t bytes = H5Tget_size(type);
    *saturation = INFINITY;
    *numeric = 1;
    if (cls == H5T_INTEGER) {
        int is_signed = H5Tget_sign(type) == H5T_SGN_2;
        snprintf(name, size, "%sint%zu", is_signed ? "" : "u", bytes * 8);
        double bits = (double)(bytes * 8) - (is_signed ? 1.0 : 0.0);
        *saturation = ldexp(1.0, (int)bits) - 1.0;
    } else if (cls == H5T_FLOAT) {
        snprintf(name, size, "float%zu", bytes * 8);
    } else {
        *numeric = 0;
        snprintf(name, size, "%s",
                 cls == H5T_STRING     ? "string"
                 : cls == H5T_COMPOUND ? "compound"
                 : cls == H5T_ENUM     ? "enum"
                                       : "non-numeric");
    }
}

/* Reads a string (fixed or variable length, scalar or one element) from a
 * dataset or attribute.  Returns 0 on success. */
int sh5_read_text(hid_t obj, int is_attr, char *buf, size_t size)
{
    int rc = -1;
    hid_t ftype = is_attr ? H5Aget_type(obj) : H5Dget_type(obj);
    hid_t space = is_attr ? H5Aget_space(obj) : H5Dget_space(obj);
    hid_t mtype = H5I_INVALID_HID;
    if (ftype < 0 || space < 0 || H5Tget_class(ftype) != H5T_STRING ||
        H5Sget_simple_extent_npoints(space) != 1)
        goto done;
    mtype = H5Tcopy(H5T_C_S1);
    /* HDF5 does not convert between character sets: read in the file's
     * (h5py writes UTF-8). */
    H5Tset_cset(mtype, H5Tget_cset(ftype));
    if (H5Tis_variable_str(ftype) > 0) {
        char *s = NULL;
        H5Tset_size(mtype, H5T_VARIABLE);
        herr_t st = is_attr ? H5Aread(obj, mtype, &s) : H5Dread(obj, mtype, H5S_ALL, H5S_ALL,
                                                               H5P_DEFAULT, &s);
        if (st >= 0 && s != NULL) {
            snprintf(buf, size, "%s", s);
            rc = 0;
        }
        if (st >= 0)
            H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, &s);
    } else {
        size_t n = H5Tget_size(ftype);
        char *s = calloc(n + 1, 1);
        if (s == NULL)
            goto done;
        H5Tset_size(mtype, n + 1);
        H5Tset_strpad(mtype, H5T_STR_NULLTERM);
        herr_t st = is_attr ? H5Aread(obj, mtype, s) : H5Dread(obj, mtype, H5S_ALL, H5S_ALL,
                                                              H5P_DEFAULT, s);
        if (st >= 0) {
            snprintf(buf, size, "%s", s);
            rc = 0;
        }
        free(s);
    }
done:
    if (mtype >= 0)
        H5Tclose(mtype);
    if (space >= 0)
        H5Sclose(space);
    if (ftype >= 0)
        H5Tclose(ftype);
    return rc;
}

/* Reads a one-element numeric dataset or attribute as double; 0 on success. */
static int read_scalar(hid_t obj, int is_attr, double *v)
{
    hid_t space = is_attr ? H5Aget_space(obj) : H5Dget_space(obj);
    int rc = -1;
    if (space >= 0 && H5Sget_simple_extent_npoints(space) == 1) {
        herr_t st = is_attr ? H5Aread(obj, H5T_NATIVE_DOUBLE, v)
                            : H5Dread(obj, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
        rc = st >= 0 ? 0 : -1;
    }
    if (space >= 0)
        H5Sclose(space);
    return rc;
}

/* A metadata item: root dataset `name`, else root attribute `name`.  As text
 * when it is a string, else as a number.  Returns 0 when found. */
int sh5_read_meta(hid_t file, const char *name, char *text, size_t size, double *num)
{
    char path[80];
    snprintf(path, sizeof path, "/%s", name);
    text[0] = '\0';
    *num = NAN;
    int rc = -1;
    if (sh5_is_dataset(file, path)) {
        hid_t d = H5Dopen2(file, path, H5P_DEFAULT);
        if (d >= 0) {
            rc = sh5_read_text(d, 0, text, size) == 0 ? 0 : read_scalar(d, 0, num);
            H5Dclose(d);
        }
    } else if (H5Aexists(file, name) > 0) {
        hid_t a = H5Aopen(file, name, H5P_DEFAULT);
        if (a >= 0) {
            rc = sh5_read_text(a, 1, text, size) == 0 ? 0 : read_scalar(a, 1, num);
            H5Aclose(a);
        }
    }
    return rc;
}

/* ---- listing the datasets of an unrecognised file ---------------------- */

herr_t sh5_list_cb(hid_t group, const char *name, const H5L_info_t *info, void *data)
{
    (void)info;
    sh5_listing *l = data;
    hid_t o = H5Oopen(group, name, H5P_DEFAULT);
    if (o < 0)
        return 0;
    if (H5Iget_type(o) == H5I_DATASET) {
        size_t len = strlen(l->buf);
        if (l->count == 12) {
            snprintf(l->buf + len, l->size - len, ", ...");
        } else if (l->count < 12) {
            hid_t sp = H5Dget_space(o);
            hsize_t dims[8] = {0};
            int rank = sp >= 0 ? H5Sget_simple_extent_dims(sp, dims, NULL) : -1;
            char shape[96] = "";
            for (int i = 0; i < rank && i < 8; i++) {
                size_t sl = strlen(shape);
                snprintf(shape + sl, sizeof shape - sl, "%s%llu", i ? "x" : "",
                         (unsigned long long)dims[i]);
            }
            snprintf(l->buf + len, l->size - len, "%s/%s [%s]", l->count ? ", " : "", name,
                     rank > 0 ? shape : "scalar");
            if (sp >= 0)
                H5Sclose(sp);
        }
        l->count++;
    }
    H5Oclose(o);
    return 0;
}

/* ---- opening datasets -------------------------------------------------- */

/* Opens dataset `name` into d: rank, dims, type, chunking; sets a chunk
 * cache big enough for one frame.  `role` names it in messages. */
xanes_status sh5_open_dset(stack_source *src, const char *name, const char *role,
                              stack_dset *d, xanes_error *err)
{
    xanes_status st = XANES_OK;
    hid_t dcpl = H5I_INVALID_HID, dapl = H5I_INVALID_HID, type = H5I_INVALID_HID;
    hid_t space = H5I_INVALID_HID;
    char why[200];
    if (!sh5_link_exists(src->file, name)) {
        st = XANES_RAISE(err, XANES_EFORMAT, "%s: missing dataset %s (%s)", src->path, name, role);
        goto done;
    }
    if (!sh5_is_dataset(src->file, name)) {
        hid_t o = H5Oopen(src->file, name, H5P_DEFAULT);
        int group = o >= 0 && H5Iget_type(o) == H5I_GROUP;
        if (o >= 0)
            H5Oclose(o);
        st = XANES_RAISE(err, XANES_EFORMAT, "%s: %s (%s) is %s, not a dataset", src->path, name,
                         role, group ? "a group" : "a dangling link or a named type");
        goto done;
    }
    snprintf(d->name, sizeof d->name, "%s", name);
    d->id = H5Dopen2(src->file, name, H5P_DEFAULT);
    if (d->id < 0) {
        st = XANES_RAISE(err, XANES_EIO, "%s: cannot open dataset %s (%s): %s", src->path, name,
                         role, sh5_reason(why));
        goto done;
    }
    space = H5Dget_space(d->id);
    int rank = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    if (rank < 0) {
        st = XANES_RAISE(err, XANES_EIO, "%s: cannot read the shape of %s: %s", src->path, name,
                         sh5_reason(why));
        goto done;
    }
    if (rank > 3) {
        st = XANES_RAISE(err, XANES_EFORMAT, "%s: %s (%s) has rank %d; at most 3 expected",
                         src->path, name, role, rank);
        goto done;
    }
    d->rank = rank;
    H5Sget_simple_extent_dims(space, d->dims, NULL);
    type = H5Dget_type(d->id);
    int numeric = 0;
    type_describe(type, d->dtype, sizeof d->dtype, &d->saturation, &numeric);
    if (!numeric) {
        st = XANES_RAISE(err, XANES_EFORMAT, "%s: %s (%s) holds %s values, not numbers",
                         src->path, name, role, d->dtype);
        goto done;
    }
    dcpl = H5Dget_create_plist(d->id);
    if (dcpl >= 0 && H5Pget_layout(dcpl) == H5D_CHUNKED && rank >= 2) {
        d->chunked = 1;
        hsize_t chunk[3] = {1, 1, 1};
        H5Pget_chunk(dcpl, rank, chunk);
        int nf = H5Pget_nfilters(dcpl);
        for (int i = 0; i < nf; i++) {
            unsigned flags = 0, cd[8];
            size_t ncd = 8;
            unsigned cfg = 0;
            if (H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd, 0, NULL, &cfg) ==
                H5Z_FILTER_DEFLATE)
                d->gzip = 1;
        }
        /* One frame (or the whole 2-D image) spans ceil(ny/cy)*ceil(nx/cx)
         * chunks; caching them all means each is decompressed once. */
        size_t ey = rank == 3 ? 1 : 0;
        size_t per_frame = (size_t)((d->dims[ey] + chunk[ey] - 1) / chunk[ey]) *
                           (size_t)((d->dims[ey + 1] + chunk[ey + 1] - 1) / chunk[ey + 1]);
        size_t chunk_bytes = H5Tget_size(type);
        for (int i = 0; i < rank; i++)
            chunk_bytes *= (size_t)chunk[i];
        size_t bytes = per_frame * chunk_bytes + chunk_bytes;
        if (bytes > CHUNK_CACHE_MAX_BYTES)
            bytes = CHUNK_CACHE_MAX_BYTES;
        dapl = H5Pcreate(H5P_DATASET_ACCESS);
        if (dapl >= 0 && H5Pset_chunk_cache(dapl, per_frame * 10 + 101, bytes, 1.0) >= 0) {
            /* HDF5 ignores the access list of a dataset that is already
             * open, so close it first. */
            H5Dclose(d->id);
            d->id = H5Dopen2(src->file, name, dapl);
            if (d->id < 0) {
                st = XANES_RAISE(err, XANES_EIO, "%s: cannot reopen dataset %s (%s): %s",
                                 src->path, name, role, sh5_reason(why));
                goto done;
            }
        }
    }
done:
    if (dapl >= 0)
        H5Pclose(dapl);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (type >= 0)
        H5Tclose(type);
    if (space >= 0)
        H5Sclose(space);
    return st;
}

/* Dimensions as "60x512x512" for messages. */
const char *sh5_dims_text(const stack_dset *d, char *buf, size_t size)
{
    buf[0] = '\0';
    for (int i = 0; i < d->rank; i++) {
        size_t l = strlen(buf);
        snprintf(buf + l, size - l, "%s%llu", i ? "x" : "", (unsigned long long)d->dims[i]);
    }
    if (d->rank == 0)
        snprintf(buf, size, "scalar");
    return buf;
}

void sh5_dset_close(stack_dset *d)
{
    if (d->id >= 0)
        H5Dclose(d->id);
    d->id = H5I_INVALID_HID;
}

xanes_status stack_dset_read_rows(const stack_source *src, const stack_dset *d, size_t frame,
                                  size_t y0, size_t n_rows, double *buf, xanes_error *err)
{
    xanes_status st = XANES_OK;
    char why[200];
    hid_t fspace = H5Dget_space(d->id);
    hsize_t start[3], count[3];
    int r = 0;
    if (d->rank == 3) {
        start[r] = frame;
        count[r++] = 1;
    }
    start[r] = y0;
    count[r++] = n_rows;
    start[r] = 0;
    count[r++] = src->nx;
    /* The memory space has the shape of the file selection: with a flat 1-D
     * memory space HDF5 maps chunks element by element, five times slower. */
    hid_t mspace = H5Screate_simple(r, count, NULL);
    if (fspace < 0 || mspace < 0 ||
        H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
        H5Dread(d->id, H5T_NATIVE_DOUBLE, mspace, fspace, H5P_DEFAULT, buf) < 0)
        st = XANES_RAISE(err, XANES_EIO,
                         "%s: cannot read frame %zu rows %zu..%zu of %s (corrupt or truncated "
                         "file?): %s",
                         src->path, frame, y0, y0 + n_rows - 1, d->name, sh5_reason(why));
    if (mspace >= 0)
        H5Sclose(mspace);
    if (fspace >= 0)
        H5Sclose(fspace);
    return st;
}

int xanes_stack_is_hdf5(const char *path)
{
    /* The superblock signature sits at byte 0, or after a user block at 512,
     * 1024, 2048 ... (HDF5 file format specification, section II.A). */
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return 0;
    int found = 0;
    for (long off = 0; off <= (1L << 20) && !found; off = off ? off * 2 : 512) {
        unsigned char buf[8];
        if (fseek(f, off, SEEK_SET) != 0 || fread(buf, 1, 8, f) != 8)
            break;
        found = memcmp(buf, sig, 8) == 0;
    }
    fclose(f);
    return found;
}
