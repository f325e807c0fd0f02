/* stack_h5.c: the HDF5 plumbing of the stack reader: error text from
 * HDF5's error stack, links that may have missing parents, numeric type
 * names and saturation values, strings stored fixed or variable length (and
 * in UTF-8, as h5py writes them), opening a dataset with a chunk cache that
 * holds one frame's chunks (so frame-by-frame reading of chunks spanning
 * several frames decompresses each chunk once), the hyperslab read of a
 * block of rows of one frame, and the file offsets of plainly stored uint16
 * frames that stack.c may read directly.  HDF5's automatic error printing is off
 * (xanes_init); failures here become messages naming file and dataset.
 */
#include "stack_source.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest chunk cache we give one dataset (bytes). */
#define CHUNK_CACHE_MAX_BYTES ((size_t)512 << 20)
/* Most chunk-cache hash slots (HDF5 allocates the table on open). */
#define CHUNK_CACHE_MAX_SLOTS ((size_t)1000003)

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

/* Replaces bytes that are not valid UTF-8 (Latin-1 "µm", corruption) by
 * '?': the text goes into `xanes info --json`, which must be UTF-8.  (The
 * spectrum reader has the same rule for column names.) */
static void utf8_clean(char *t)
{
    unsigned char *p = (unsigned char *)t;
    while (*p != '\0') {
        size_t n = *p < 0x80             ? 1
                   : (*p & 0xE0) == 0xC0 ? 2
                   : (*p & 0xF0) == 0xE0 ? 3
                   : (*p & 0xF8) == 0xF0 ? 4
                                         : 0;
        size_t k = 1;
        while (n > 1 && k < n && (p[k] & 0xC0) == 0x80)
            k++;
        if (n == 0 || k < n) {
            *p++ = '?';
            continue;
        }
        p += n;
    }
}

/* Reads a string (fixed or variable length, scalar or one element) from a
 * dataset or attribute.  Returns 0 on success, -1 when it is not a
 * one-element string, -2 when its heap reference is corrupt. */
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
        /* The characters of a string are bytes: a corrupt base type of
         * gigabytes makes HDF5 allocate and clear that much per character. */
        hid_t base = H5Tget_super(ftype);
        size_t char_size = base >= 0 ? H5Tget_size(base) : 0;
        if (base >= 0)
            H5Tclose(base);
        if (char_size != 1 || (is_attr ? !sh5_attr_heap_ok(obj) : !sh5_vlen_heap_ok(obj))) {
            rc = -2;
            goto done;
        }
        H5Tset_size(mtype, H5T_VARIABLE);
        herr_t st = is_attr ? H5Aread(obj, mtype, &s)
                            : H5Dread(obj, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, &s);
        if (st >= 0 && s != NULL) {
            snprintf(buf, size, "%s", s);
            utf8_clean(buf);
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
        herr_t st = is_attr ? H5Aread(obj, mtype, s)
                            : H5Dread(obj, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, s);
        if (st >= 0) {
            snprintf(buf, size, "%s", s);
            utf8_clean(buf);
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

/* Only the standard layouts of numbers: HDF5 1.10 converts a corrupt
 * integer (precision or bit offset outside its size) by smashing the stack. */
static int type_sane(hid_t type)
{
    H5T_class_t cls = H5Tget_class(type);
    size_t size = H5Tget_size(type);
    if (cls == H5T_INTEGER)
        return (size == 1 || size == 2 || size == 4 || size == 8) &&
               H5Tget_precision(type) == 8 * size && H5Tget_offset(type) == 0;
    if (cls == H5T_FLOAT)
        return H5Tequal(type, H5T_IEEE_F32LE) > 0 || H5Tequal(type, H5T_IEEE_F32BE) > 0 ||
               H5Tequal(type, H5T_IEEE_F64LE) > 0 || H5Tequal(type, H5T_IEEE_F64BE) > 0;
    return 1;
}

/* The stored data must cover the shape: a contiguous dataset must lie inside
 * the file, a chunked one must have every chunk written.  A dataset whose
 * shape was corrupted, or an acquisition that stopped half way, otherwise
 * reads as fill values (zeros) or sends HDF5 through billions of absent
 * chunks. */
static xanes_status storage_check(const stack_source *src, const stack_dset *d, hid_t type,
                                  hid_t dcpl, const char *role, xanes_error *err)
{
    double n = 1.0;
    for (int i = 0; i < d->rank; i++)
        n *= (double)d->dims[i];
    double bytes = n * (double)H5Tget_size(type);
    H5D_layout_t layout = H5Pget_layout(dcpl);
    /* Data in external raw files have no offset in this file. */
    if (layout == H5D_CONTIGUOUS && bytes > 0 && H5Pget_external_count(dcpl) <= 0) {
        haddr_t off = H5Dget_offset(d->id);
        if (off == HADDR_UNDEF || (double)H5Dget_storage_size(d->id) < bytes)
            return XANES_RAISE(err, XANES_EFORMAT,
                               "%s: %s (%s) holds no data or less than its shape needs (never "
                               "written, or corrupt)",
                               src->path, d->name, role);
        if ((double)off + bytes > (double)src->file_size)
            return XANES_RAISE(err, XANES_EFORMAT,
                               "%s: %s (%s): its %.0f bytes would end past the end of the file "
                               "(%llu bytes): corrupt shape or truncated file",
                               src->path, d->name, role, bytes, src->file_size);
    } else if (layout == H5D_CHUNKED && bytes > 0) {
        hsize_t chunk[3] = {1, 1, 1};
        H5Pget_chunk(dcpl, d->rank, chunk);
        double expected = 1.0;
        for (int i = 0; i < d->rank; i++)
            expected *= (double)((d->dims[i] + chunk[i] - 1) / chunk[i]);
        hid_t space = H5Dget_space(d->id);
        hsize_t stored = 0;
        herr_t st = space >= 0 ? H5Dget_num_chunks(d->id, space, &stored) : -1;
        if (space >= 0)
            H5Sclose(space);
        if (st < 0 || (double)stored < expected)
            return XANES_RAISE(err, XANES_EFORMAT,
                               "%s: %s (%s): only %llu of its %.0f chunks are stored (acquisition "
                               "stopped early, or the file is corrupt)",
                               src->path, d->name, role, (unsigned long long)stored, expected);
    }
    return XANES_OK;
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
 * when it is a string, else as a number.  Returns 0 when found, -2 when the
 * string's heap or the root group's attribute messages are corrupt. */
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
            rc = sh5_read_text(d, 0, text, size);
            if (rc == -1)
                rc = read_scalar(d, 0, num);
            H5Dclose(d);
        }
    } else if (!sh5_attr_messages_ok(file)) {
        rc = -2;
    } else if (H5Aexists(file, name) > 0) {
        hid_t a = H5Aopen(file, name, H5P_DEFAULT);
        if (a >= 0) {
            rc = sh5_read_text(a, 1, text, size);
            if (rc == -1)
                rc = read_scalar(a, 1, num);
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
xanes_status sh5_open_dset(stack_source *src, const char *name, const char *role, stack_dset *d,
                           xanes_error *err)
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
        if (o < 0) {
            /* The link is there but its target cannot be read: a dangling
             * soft link, or an object header HDF5 could not decode. */
            st = XANES_RAISE(err, XANES_EFORMAT,
                             "%s: %s (%s) cannot be opened (dangling link or corrupt object "
                             "header): %s",
                             src->path, name, role, sh5_reason(why));
            goto done;
        }
        int group = H5Iget_type(o) == H5I_GROUP;
        H5Oclose(o);
        st = XANES_RAISE(err, XANES_EFORMAT, "%s: %s (%s) is %s, not a dataset", src->path, name,
                         role, group ? "a group" : "a named type");
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
    hsize_t maxdims[3] = {0, 0, 0};
    H5Sget_simple_extent_dims(space, d->dims, maxdims);
    /* A size beyond the maximum the dataspace allows can only be a corrupt
     * header; HDF5 would size its chunk index from it (exabytes). */
    for (int i = 0; i < rank; i++)
        if (maxdims[i] != H5S_UNLIMITED && d->dims[i] > maxdims[i]) {
            st = XANES_RAISE(err, XANES_EFORMAT,
                             "%s: %s (%s): corrupt dataspace (dimension %d is %llu, above its "
                             "maximum %llu)",
                             src->path, name, role, i, (unsigned long long)d->dims[i],
                             (unsigned long long)maxdims[i]);
            goto done;
        }
    type = H5Dget_type(d->id);
    int numeric = 0;
    type_describe(type, d->dtype, sizeof d->dtype, &d->saturation, &numeric);
    if (!numeric) {
        st = XANES_RAISE(err, XANES_EFORMAT, "%s: %s (%s) holds %s values, not numbers", src->path,
                         name, role, d->dtype);
        goto done;
    }
    if (!type_sane(type)) {
        st = XANES_RAISE(err, XANES_EFORMAT, "%s: %s (%s): unsupported or corrupt datatype (%s)",
                         src->path, name, role, d->dtype);
        goto done;
    }
    dcpl = H5Dget_create_plist(d->id);
    if (dcpl < 0) {
        st = XANES_RAISE(err, XANES_EIO, "%s: cannot read the storage layout of %s: %s", src->path,
                         name, sh5_reason(why));
        goto done;
    }
    if (H5Pget_layout(dcpl) == H5D_CHUNKED && rank >= 1) {
        d->chunked = 1;
        hsize_t chunk[3] = {1, 1, 1};
        /* A corrupt chunk shape (larger than the dataset can ever grow, or
         * over HDF5's 4 GiB chunk limit) makes HDF5 1.10 copy out of bounds
         * in H5Dread instead of failing, so it is refused here. */
        int chunk_ok = H5Pget_chunk(dcpl, rank, chunk) == rank;
        double chunk_elems = 1.0;
        for (int i = 0; i < rank && chunk_ok; i++) {
            chunk_ok = chunk[i] > 0 && (maxdims[i] == H5S_UNLIMITED || chunk[i] <= maxdims[i]);
            chunk_elems *= (double)chunk[i];
        }
        if (!chunk_ok || chunk_elems * (double)H5Tget_size(type) > 4294967295.0) {
            st = XANES_RAISE(err, XANES_EFORMAT,
                             "%s: %s (%s): corrupt chunk layout (chunk %llux%llux%llu for a "
                             "%s dataset)",
                             src->path, name, role, (unsigned long long)chunk[0],
                             (unsigned long long)chunk[1], (unsigned long long)chunk[2],
                             sh5_dims_text(d, why, sizeof why));
            goto done;
        }
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
        size_t per_frame = 1;
        for (int i = rank == 3 ? 1 : 0; i < rank; i++)
            per_frame *= (size_t)((d->dims[i] + chunk[i] - 1) / chunk[i]);
        size_t chunk_bytes = H5Tget_size(type);
        for (int i = 0; i < rank; i++)
            chunk_bytes *= (size_t)chunk[i];
        size_t bytes = per_frame * chunk_bytes + chunk_bytes;
        if (bytes > CHUNK_CACHE_MAX_BYTES)
            bytes = CHUNK_CACHE_MAX_BYTES;
        /* HDF5 allocates the slot table up front: keep it bounded. */
        size_t slots =
            per_frame < CHUNK_CACHE_MAX_SLOTS / 10 ? per_frame * 10 + 101 : CHUNK_CACHE_MAX_SLOTS;
        dapl = H5Pcreate(H5P_DATASET_ACCESS);
        if (dapl >= 0 && H5Pset_chunk_cache(dapl, slots, bytes, 1.0) >= 0) {
            /* HDF5 ignores the access list of a dataset that is already
             * open, so close it first. */
            H5Dclose(d->id);
            d->id = H5Dopen2(src->file, name, dapl);
            if (d->id < 0) {
                st = XANES_RAISE(err, XANES_EIO, "%s: cannot reopen dataset %s (%s): %s", src->path,
                                 name, role, sh5_reason(why));
                goto done;
            }
        }
    }
    st = storage_check(src, d, type, dcpl, role, err);
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
    return stack_dset_read_rows_as(src, d, frame, y0, n_rows, H5T_NATIVE_DOUBLE, buf, err);
}

xanes_status stack_dset_read_rows_as(const stack_source *src, const stack_dset *d, size_t frame,
                                     size_t y0, size_t n_rows, hid_t mem_type, void *buf,
                                     xanes_error *err)
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
        H5Dread(d->id, mem_type, mspace, fspace, H5P_DEFAULT, buf) < 0)
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

int sh5_direct_offsets(const stack_source *src, const stack_dset *d, unsigned long long *off)
{
    const uint16_t probe = 1;
    unsigned char first;
    memcpy(&first, &probe, 1);
    if (first != 1 || d->rank != 3 || d->dims[1] != src->ny || d->dims[2] != src->nx)
        return 0; /* big-endian host, or not a stack of whole frames */
    const unsigned long long frame_bytes = (unsigned long long)src->ny * src->nx * 2u;
    int ok = 0;
    hid_t type = H5Dget_type(d->id), dcpl = H5Dget_create_plist(d->id);
    hid_t fid = H5Iget_file_id(d->id);
    hid_t fcpl = fid >= 0 ? H5Fget_create_plist(fid) : H5I_INVALID_HID;
    hsize_t userblock = 1;
    /* Addresses are relative to the superblock, which a user block moves:
     * such files take the HDF5 path. */
    if (type < 0 || dcpl < 0 || fcpl < 0 || H5Pget_userblock(fcpl, &userblock) < 0 ||
        userblock != 0 || H5Tequal(type, H5T_STD_U16LE) <= 0)
        goto done;
    H5D_layout_t layout = H5Pget_layout(dcpl);
    if (layout == H5D_CONTIGUOUS && H5Pget_external_count(dcpl) == 0) {
        haddr_t base = H5Dget_offset(d->id);
        if (base == HADDR_UNDEF)
            goto done;
        for (size_t k = 0; k < d->dims[0]; k++)
            off[k] = (unsigned long long)base + k * frame_bytes;
        ok = 1;
    } else if (layout == H5D_CHUNKED && H5Pget_nfilters(dcpl) == 0) {
        hsize_t chunk[3] = {0, 0, 0};
        if (H5Pget_chunk(dcpl, 3, chunk) != 3 || chunk[0] != 1 || chunk[1] != src->ny ||
            chunk[2] != src->nx)
            goto done;
        ok = 1;
        for (size_t k = 0; k < d->dims[0] && ok; k++) {
            hsize_t coord[3] = {k, 0, 0};
            unsigned mask = 0;
            haddr_t addr = HADDR_UNDEF;
            hsize_t size = 0;
            ok = H5Dget_chunk_info_by_coord(d->id, coord, &mask, &addr, &size) >= 0 &&
                 addr != HADDR_UNDEF && mask == 0 && size == frame_bytes;
            off[k] = (unsigned long long)addr;
        }
    }
    /* Every frame must lie inside the file; otherwise HDF5 reports the
     * truncation as it always did. */
    for (size_t k = 0; k < d->dims[0] && ok; k++)
        ok = off[k] + frame_bytes <= src->file_size;
done:
    if (fcpl >= 0)
        H5Pclose(fcpl);
    if (fid >= 0)
        H5Fclose(fid);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (type >= 0)
        H5Tclose(type);
    H5Eclear2(H5E_DEFAULT);
    return ok;
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
