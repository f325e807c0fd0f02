/* stack_layout.c: open a TXM-XANES HDF5 file, recognise its layout and check
 * it before any pixel is read.
 *
 * Layouts are recognised from the datasets present, as the beamlines write
 * them: NSLS-II FXI 18-ID exports /img_xanes [E,y,x] float32 transmission
 * (already flat/dark corrected; NaN/Inf written as 0), /img_bkg, /img_dark,
 * /X_eng in keV, "Magnification" and "Pixel Size" (a string such as "21.3nm"
 * in some exports, a number in others); APS 32-ID writes the Data Exchange
 * layout (De Carlo et al., J. Synchrotron Rad. 21, 1224 (2014)):
 * /exchange/data raw counts, /exchange/data_white (or data_flat), an optional
 * /exchange/data_dark and /exchange/energy.  Anything else comes in through
 * explicit dataset paths.  Every check that can fail here (missing dataset,
 * wrong rank, shapes that disagree, energies that are not finite, not
 * increasing, too few, or in a unit their magnitude contradicts) fails with a
 * message naming the file and the dataset, so the streaming pass in stack.c
 * only meets I/O errors.  Chunked datasets get a chunk cache that holds one
 * frame's worth of chunks, so frame-by-frame reading decompresses each chunk
 * once even when chunks span several frames.
 */
#include "stack_source.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
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
static const char *h5_reason(char *buf)
{
    buf[0] = '\0';
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, last_error_cb, buf);
    return buf;
}

/* ---- small helpers ----------------------------------------------------- */

static void dset_init(stack_dset *d)
{
    memset(d, 0, sizeof *d);
    d->id = H5I_INVALID_HID;
    d->saturation = INFINITY;
}

/* Nonzero when every component of the absolute path exists as a link
 * (checked one by one: H5Lexists fails on a missing intermediate group). */
static int link_exists(hid_t file, const char *path)
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

static int is_dataset(hid_t file, const char *path)
{
    if (!link_exists(file, path))
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
static int read_text(hid_t obj, int is_attr, char *buf, size_t size)
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
static int read_meta(hid_t file, const char *name, char *text, size_t size, double *num)
{
    char path[80];
    snprintf(path, sizeof path, "/%s", name);
    text[0] = '\0';
    *num = NAN;
    int rc = -1;
    if (is_dataset(file, path)) {
        hid_t d = H5Dopen2(file, path, H5P_DEFAULT);
        if (d >= 0) {
            rc = read_text(d, 0, text, size) == 0 ? 0 : read_scalar(d, 0, num);
            H5Dclose(d);
        }
    } else if (H5Aexists(file, name) > 0) {
        hid_t a = H5Aopen(file, name, H5P_DEFAULT);
        if (a >= 0) {
            rc = read_text(a, 1, text, size) == 0 ? 0 : read_scalar(a, 1, num);
            H5Aclose(a);
        }
    }
    return rc;
}

/* Pixel size from "21.3nm", "21.3 nm", "0.0213 um", "2.13e-8 m" or a bare
 * number (nm, as FXI writes it).  NaN when not understood. */
static double parse_pixel_size_nm(const char *text)
{
    char *end = NULL;
    double v = strtod(text, &end);
    if (end == text || !isfinite(v) || v <= 0.0)
        return NAN;
    while (isspace((unsigned char)*end))
        end++;
    if (*end == '\0' || strncmp(end, "nm", 2) == 0)
        return v;
    if (strncmp(end, "um", 2) == 0 || strncmp(end, "\xc2\xb5m", 3) == 0 ||
        strncmp(end, "micron", 6) == 0)
        return v * 1e3;
    if (strcmp(end, "m") == 0)
        return v * 1e9;
    return NAN;
}

/* ---- listing the datasets of an unrecognised file ---------------------- */

typedef struct {
    char *buf;
    size_t size;
    size_t count;
} listing;

static herr_t list_cb(hid_t group, const char *name, const H5L_info_t *info, void *data)
{
    (void)info;
    listing *l = data;
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
static xanes_status open_dset(stack_source *src, const char *name, const char *role,
                              stack_dset *d, xanes_error *err)
{
    xanes_status st = XANES_OK;
    hid_t dcpl = H5I_INVALID_HID, dapl = H5I_INVALID_HID, type = H5I_INVALID_HID;
    hid_t space = H5I_INVALID_HID;
    char why[200];
    if (!link_exists(src->file, name)) {
        st = XANES_RAISE(err, XANES_EFORMAT, "%s: missing dataset %s (%s)", src->path, name, role);
        goto done;
    }
    if (!is_dataset(src->file, name)) {
        st = XANES_RAISE(err, XANES_EFORMAT, "%s: %s (%s) is a group, not a dataset", src->path,
                         name, role);
        goto done;
    }
    snprintf(d->name, sizeof d->name, "%s", name);
    d->id = H5Dopen2(src->file, name, H5P_DEFAULT);
    if (d->id < 0) {
        st = XANES_RAISE(err, XANES_EIO, "%s: cannot open dataset %s (%s): %s", src->path, name,
                         role, h5_reason(why));
        goto done;
    }
    space = H5Dget_space(d->id);
    int rank = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    if (rank < 0) {
        st = XANES_RAISE(err, XANES_EIO, "%s: cannot read the shape of %s: %s", src->path, name,
                         h5_reason(why));
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
            hid_t again = H5Dopen2(src->file, name, dapl);
            if (again >= 0) {
                H5Dclose(d->id);
                d->id = again;
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
static const char *dims_text(const stack_dset *d, char *buf, size_t size)
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

/* Checks a flat or dark against the stack's frame size and energy count. */
static xanes_status check_reference(stack_source *src, stack_dset *d, const char *role,
                                    int *per_energy, xanes_error *err)
{
    char a[64], b[64];
    if (d->rank != 2 && d->rank != 3)
        return XANES_RAISE(err, XANES_EFORMAT,
                           "%s: %s (%s) has rank %d (%s); expected 2 (rows x columns) or 3 "
                           "(frames x rows x columns)",
                           src->path, d->name, role, d->rank, dims_text(d, a, sizeof a));
    size_t off = d->rank == 3 ? 1 : 0;
    d->n_frames = d->rank == 3 ? (size_t)d->dims[0] : 1;
    if (d->dims[off] != src->ny || d->dims[off + 1] != src->nx || d->n_frames == 0)
        return XANES_RAISE(err, XANES_EFORMAT,
                           "%s: shape mismatch: %s (%s) is %s but the frames of %s are %zux%zu",
                           src->path, d->name, role, dims_text(d, a, sizeof a), src->stack.name,
                           src->ny, src->nx);
    (void)b;
    *per_energy = d->n_frames == src->n_energy;
    return XANES_OK;
}

/* ---- energies ---------------------------------------------------------- */

static xanes_energy_unit unit_from_text(const char *t)
{
    char low[32];
    size_t i = 0;
    for (; t[i] != '\0' && i + 1 < sizeof low; i++)
        low[i] = (char)tolower((unsigned char)t[i]);
    low[i] = '\0';
    if (strcmp(low, "kev") == 0 || strcmp(low, "kiloelectronvolt") == 0)
        return XANES_UNIT_KEV;
    if (strcmp(low, "ev") == 0 || strcmp(low, "electronvolt") == 0)
        return XANES_UNIT_EV;
    return XANES_UNIT_AUTO;
}

static xanes_status read_energies(stack_source *src, const xanes_stack_options *opt,
                                  xanes_error *err)
{
    stack_dset *d = &src->energy;
    char a[64], why[200];
    size_t n = 1;
    for (int i = 0; i < d->rank; i++)
        n *= (size_t)d->dims[i];
    int singleton_ok = d->rank == 1 || (d->rank == 2 && (d->dims[0] == 1 || d->dims[1] == 1));
    if (!singleton_ok)
        return XANES_RAISE(err, XANES_EFORMAT,
                           "%s: %s (energies) has shape %s; expected one energy per frame "
                           "(rank 1)",
                           src->path, d->name, dims_text(d, a, sizeof a));
    if (n != src->n_energy)
        return XANES_RAISE(err, XANES_EFORMAT,
                           "%s: shape mismatch: %s has %zu energies but %s has %zu frames",
                           src->path, d->name, n, src->stack.name, src->n_energy);
    src->energy_file = malloc(n * sizeof(double));
    src->energy_ev = malloc(n * sizeof(double));
    if (src->energy_file == NULL || src->energy_ev == NULL)
        return XANES_RAISE(err, XANES_ENOMEM, "%s: out of memory for %zu energies", src->path, n);
    if (H5Dread(d->id, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, src->energy_file) < 0)
        return XANES_RAISE(err, XANES_EIO, "%s: cannot read %s: %s", src->path, d->name,
                           h5_reason(why));
    const double *e = src->energy_file;
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(e[i]))
            return XANES_RAISE(err, XANES_EDATA, "%s: %s: energy %zu of %zu is %g (not finite)",
                               src->path, d->name, i, n, e[i]);
        lo = fmin(lo, e[i]);
        hi = fmax(hi, e[i]);
    }
    if (n < opt->min_energies)
        return XANES_RAISE(err, XANES_EDATA,
                           "%s: %s has only %zu energy points; at least %zu are needed for XANES",
                           src->path, d->name, n, opt->min_energies);

    /* The unit: the option decides; else the `units` attribute, which must
     * agree with the magnitude (an edge below kev_below_value is keV); else
     * the magnitude alone. */
    char attr[64] = "";
    xanes_energy_unit attr_unit = XANES_UNIT_AUTO;
    if (H5Aexists(d->id, "units") > 0) {
        hid_t at = H5Aopen(d->id, "units", H5P_DEFAULT);
        if (at >= 0 && read_text(at, 1, attr, sizeof attr) == 0)
            attr_unit = unit_from_text(attr);
        if (at >= 0)
            H5Aclose(at);
    }
    xanes_energy_unit by_size = hi < opt->kev_below_value ? XANES_UNIT_KEV : XANES_UNIT_EV;
    const char *uname = by_size == XANES_UNIT_KEV ? "keV" : "eV";
    if (opt->energy_unit != XANES_UNIT_AUTO) {
        src->energy_unit = opt->energy_unit;
        snprintf(src->energy_unit_source, sizeof src->energy_unit_source, "--energy-unit option");
    } else if (attr_unit != XANES_UNIT_AUTO) {
        if (attr_unit != by_size)
            return XANES_RAISE(err, XANES_EDATA,
                               "%s: %s: units attribute says '%s' but the values %g..%g look "
                               "like %s; give --energy-unit ev or kev to decide",
                               src->path, d->name, attr, lo, hi, uname);
        src->energy_unit = attr_unit;
        snprintf(src->energy_unit_source, sizeof src->energy_unit_source,
                 "units attribute '%s'", attr);
    } else {
        src->energy_unit = by_size;
        snprintf(src->energy_unit_source, sizeof src->energy_unit_source, "magnitude%s%s%s",
                 attr[0] ? " (units attribute '" : "", attr, attr[0] ? "' not understood)" : "");
    }
    double scale = src->energy_unit == XANES_UNIT_KEV ? 1000.0 : 1.0;
    for (size_t i = 0; i < n; i++)
        src->energy_ev[i] = e[i] * scale;
    if (lo * scale < opt->energy_min_ev || hi * scale > opt->energy_max_ev)
        return XANES_RAISE(err, XANES_EDATA,
                           "%s: %s: energies %g..%g read as %s (%s) give %g..%g eV, outside the "
                           "plausible range %g..%g eV; check --energy-unit",
                           src->path, d->name, lo, hi, scale > 1 ? "keV" : "eV",
                           src->energy_unit_source, lo * scale, hi * scale, opt->energy_min_ev,
                           opt->energy_max_ev);
    for (size_t i = 1; i < n; i++) {
        if (e[i] == e[i - 1])
            return XANES_RAISE(err, XANES_EDATA,
                               "%s: %s: energy %g is duplicated (points %zu and %zu); energies "
                               "must be strictly increasing",
                               src->path, d->name, e[i], i - 1, i);
        if (e[i] < e[i - 1])
            return XANES_RAISE(err, XANES_EDATA,
                               "%s: %s: energies not strictly increasing: point %zu is %g after "
                               "%g",
                               src->path, d->name, i, e[i], e[i - 1]);
    }
    return XANES_OK;
}

/* ---- layout ------------------------------------------------------------ */

static xanes_status pick_layout(stack_source *src, const xanes_stack_options *opt,
                                xanes_error *err)
{
    src->layout = opt->layout;
    if (src->layout != XANES_LAYOUT_AUTO) {
        snprintf(src->layout_reason, sizeof src->layout_reason, "--layout %s",
                 xanes_stack_layout_name(src->layout));
        return XANES_OK;
    }
    if (opt->stack_path != NULL) {
        src->layout = XANES_LAYOUT_CUSTOM;
        snprintf(src->layout_reason, sizeof src->layout_reason, "--stack-path given");
    } else if (link_exists(src->file, "/img_xanes")) {
        src->layout = XANES_LAYOUT_FXI;
        snprintf(src->layout_reason, sizeof src->layout_reason, "found /img_xanes");
    } else if (link_exists(src->file, "/exchange/data")) {
        src->layout = XANES_LAYOUT_APS;
        snprintf(src->layout_reason, sizeof src->layout_reason, "found /exchange/data");
    } else {
        char found[700] = "";
        listing l = {found, sizeof found, 0};
        H5Lvisit(src->file, H5_INDEX_NAME, H5_ITER_INC, list_cb, &l);
        return XANES_RAISE(err, XANES_EFORMAT,
                           "%s: layout not recognised: no /img_xanes (FXI) and no /exchange/data "
                           "(APS); datasets found: %s; use --layout custom with --stack-path and "
                           "--energy-path",
                           src->path, l.count ? found : "none");
    }
    return XANES_OK;
}

static void dset_close(stack_dset *d)
{
    if (d->id >= 0)
        H5Dclose(d->id);
    d->id = H5I_INVALID_HID;
}

/* Chooses the dataset for one role: the option when given (it must exist),
 * else the first default that exists, else none (""). */
static const char *choose(const stack_source *src, const char *given, const char *def1,
                          const char *def2)
{
    if (given != NULL)
        return given;
    if (def1 != NULL && link_exists(src->file, def1))
        return def1;
    if (def2 != NULL && link_exists(src->file, def2))
        return def2;
    return NULL;
}

xanes_status stack_source_open(const char *path, const xanes_stack_options *opt,
                               stack_source *src, xanes_error *err)
{
    xanes_status st = XANES_OK;
    char why[200], a[64];
    memset(src, 0, sizeof *src);
    src->file = H5I_INVALID_HID;
    dset_init(&src->stack);
    dset_init(&src->flat);
    dset_init(&src->dark);
    dset_init(&src->energy);
    src->pixel_size_nm = NAN;
    src->magnification = NAN;
    snprintf(src->path, sizeof src->path, "%s", path);

    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        st = XANES_RAISE(err, XANES_EIO, "%s: cannot open: %s", path, strerror(errno));
        goto done;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    if (!xanes_stack_is_hdf5(path)) {
        st = XANES_RAISE(err, XANES_EFORMAT, "%s: not an HDF5 file (%ld bytes, no HDF5 signature)",
                         path, size);
        goto done;
    }
    src->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (src->file < 0) {
        st = XANES_RAISE(err, XANES_EIO,
                         "%s: cannot open as HDF5, the file is corrupt or truncated (%ld bytes): %s",
                         path, size, h5_reason(why));
        goto done;
    }
    if ((st = pick_layout(src, opt, err)) != XANES_OK)
        goto done;

    const char *sp = NULL, *fp = NULL, *dp = NULL, *ep = NULL;
    if (src->layout == XANES_LAYOUT_FXI) {
        sp = choose(src, opt->stack_path, "/img_xanes", NULL);
        fp = choose(src, opt->flat_path, "/img_bkg", NULL);
        dp = choose(src, opt->dark_path, "/img_dark", NULL);
        ep = choose(src, opt->energy_path, "/X_eng", NULL);
        if (sp == NULL)
            sp = "/img_xanes";
        if (ep == NULL)
            ep = "/X_eng";
        src->kind = opt->absorbance ? XANES_STACK_ABSORBANCE
                    : opt->raw      ? XANES_STACK_RAW_COUNTS
                                    : XANES_STACK_TRANSMISSION;
    } else if (src->layout == XANES_LAYOUT_APS) {
        sp = choose(src, opt->stack_path, "/exchange/data", NULL);
        fp = choose(src, opt->flat_path, "/exchange/data_white", "/exchange/data_flat");
        dp = choose(src, opt->dark_path, "/exchange/data_dark", NULL);
        ep = choose(src, opt->energy_path, "/exchange/energy", NULL);
        if (sp == NULL)
            sp = "/exchange/data";
        if (ep == NULL)
            ep = "/exchange/energy";
        src->kind = opt->absorbance ? XANES_STACK_ABSORBANCE : XANES_STACK_RAW_COUNTS;
        if (fp == NULL && src->kind == XANES_STACK_RAW_COUNTS) {
            st = XANES_RAISE(err, XANES_EFORMAT,
                             "%s: APS layout: no flat field (missing dataset /exchange/data_white "
                             "and /exchange/data_flat) to correct the raw counts of "
                             "/exchange/data; give --flat-path",
                             path);
            goto done;
        }
    } else {
        if (opt->stack_path == NULL || opt->energy_path == NULL) {
            st = XANES_RAISE(err, XANES_EINVAL,
                             "%s: custom layout needs --stack-path and --energy-path", path);
            goto done;
        }
        sp = opt->stack_path;
        fp = opt->flat_path;
        dp = opt->dark_path;
        ep = opt->energy_path;
        if (opt->raw && fp == NULL) {
            st = XANES_RAISE(err, XANES_EINVAL,
                             "%s: --raw needs a flat field (--flat-path) to correct %s", path, sp);
            goto done;
        }
        src->kind = opt->absorbance ? XANES_STACK_ABSORBANCE
                    : fp != NULL    ? XANES_STACK_RAW_COUNTS
                                    : XANES_STACK_TRANSMISSION;
    }
    if (opt->raw && opt->absorbance) {
        st = XANES_RAISE(err, XANES_EINVAL, "%s: --raw and --absorbance contradict each other",
                         path);
        goto done;
    }

    if ((st = open_dset(src, sp, "stack", &src->stack, err)) != XANES_OK)
        goto done;
    if (src->stack.rank != 3) {
        st = XANES_RAISE(err, XANES_EFORMAT,
                         "%s: %s (stack) has rank %d (%s); expected 3 (energies x rows x columns)",
                         path, sp, src->stack.rank, dims_text(&src->stack, a, sizeof a));
        goto done;
    }
    src->n_energy = (size_t)src->stack.dims[0];
    src->ny = (size_t)src->stack.dims[1];
    src->nx = (size_t)src->stack.dims[2];
    if (src->n_energy == 0 || src->ny == 0 || src->nx == 0) {
        st = XANES_RAISE(err, XANES_EFORMAT, "%s: %s (stack) is empty (%s)", path, sp,
                         dims_text(&src->stack, a, sizeof a));
        goto done;
    }
    if ((st = open_dset(src, ep, "energies", &src->energy, err)) != XANES_OK)
        goto done;
    if ((st = read_energies(src, opt, err)) != XANES_OK)
        goto done;

    /* Flats and darks: required and checked when they enter the correction;
     * otherwise (FXI transmission) only reported, and a broken one is not a
     * reason to refuse the stack. */
    src->flats_applied = src->kind == XANES_STACK_RAW_COUNTS;
    if (fp != NULL) {
        if (src->flats_applied || link_exists(src->file, fp)) {
            st = open_dset(src, fp, "flat field", &src->flat, err);
            if (st == XANES_OK && src->flats_applied)
                st = check_reference(src, &src->flat, "flat field", &src->flat_per_energy, err);
            if (st != XANES_OK && !src->flats_applied) {
                /* Reported only: a broken one is dropped, not fatal. */
                xanes_error_clear(err);
                dset_close(&src->flat);
                dset_init(&src->flat);
                st = XANES_OK;
            }
            if (st != XANES_OK)
                goto done;
            if (!src->flats_applied && src->flat.id >= 0)
                src->flat.n_frames = src->flat.rank == 3 ? (size_t)src->flat.dims[0] : 1;
        }
    } else if (src->flats_applied) {
        st = XANES_RAISE(err, XANES_EFORMAT, "%s: missing flat field for the raw counts of %s",
                         path, sp);
        goto done;
    }
    if (dp != NULL) {
        if (src->flats_applied || link_exists(src->file, dp)) {
            st = open_dset(src, dp, "dark field", &src->dark, err);
            if (st == XANES_OK && src->flats_applied)
                st = check_reference(src, &src->dark, "dark field", &src->dark_per_energy, err);
            if (st != XANES_OK && !src->flats_applied) {
                xanes_error_clear(err);
                dset_close(&src->dark);
                dset_init(&src->dark);
                st = XANES_OK;
            }
            if (st != XANES_OK)
                goto done;
            if (!src->flats_applied && src->dark.id >= 0)
                src->dark.n_frames = src->dark.rank == 3 ? (size_t)src->dark.dims[0] : 1;
        }
    }
    src->dark_missing = src->flats_applied && src->dark.id < 0;

    double num = NAN;
    if (read_meta(src->file, "Pixel Size", src->pixel_size_text, sizeof src->pixel_size_text,
                  &num) == 0) {
        if (src->pixel_size_text[0] != '\0')
            src->pixel_size_nm = parse_pixel_size_nm(src->pixel_size_text);
        else if (isfinite(num) && num > 0) {
            src->pixel_size_nm = num;
            snprintf(src->pixel_size_text, sizeof src->pixel_size_text, "%g", num);
        }
    }
    char mtext[64];
    if (read_meta(src->file, "Magnification", mtext, sizeof mtext, &num) == 0)
        src->magnification = mtext[0] != '\0' ? strtod(mtext, NULL) : num;
done:
    if (st != XANES_OK)
        stack_source_close(src);
    return st;
}

void stack_source_close(stack_source *src)
{
    dset_close(&src->stack);
    dset_close(&src->flat);
    dset_close(&src->dark);
    dset_close(&src->energy);
    if (src->file >= 0)
        H5Fclose(src->file);
    src->file = H5I_INVALID_HID;
    free(src->energy_file);
    free(src->energy_ev);
    src->energy_file = src->energy_ev = NULL;
}

xanes_status stack_dset_read_rows(const stack_source *src, const stack_dset *d, size_t frame,
                                  size_t y0, size_t n_rows, double *buf, xanes_error *err)
{
    xanes_status st = XANES_OK;
    char why[200];
    hid_t fspace = H5Dget_space(d->id);
    hsize_t n = (hsize_t)n_rows * (hsize_t)src->nx;
    hid_t mspace = H5Screate_simple(1, &n, NULL);
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
    if (fspace < 0 || mspace < 0 ||
        H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
        H5Dread(d->id, H5T_NATIVE_DOUBLE, mspace, fspace, H5P_DEFAULT, buf) < 0)
        st = XANES_RAISE(err, XANES_EIO,
                         "%s: cannot read frame %zu rows %zu..%zu of %s (corrupt or truncated "
                         "file?): %s",
                         src->path, frame, y0, y0 + n_rows - 1, d->name, h5_reason(why));
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
