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
 * only meets I/O errors.  The HDF5 plumbing (strings, types, chunk cache,
 * hyperslab reads) is in stack_h5.c.
 */
#include "stack_source.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Checks a flat or dark against the stack's frame size and energy count. */
static xanes_status check_reference(stack_source *src, stack_dset *d, const char *role,
                                    int *per_energy, xanes_error *err)
{
    char a[64], b[64];
    if (d->rank != 2 && d->rank != 3)
        return XANES_RAISE(err, XANES_EFORMAT,
                           "%s: %s (%s) has rank %d (%s); expected 2 (rows x columns) or 3 "
                           "(frames x rows x columns)",
                           src->path, d->name, role, d->rank, sh5_dims_text(d, a, sizeof a));
    size_t off = d->rank == 3 ? 1 : 0;
    d->n_frames = d->rank == 3 ? (size_t)d->dims[0] : 1;
    if (d->dims[off] != src->ny || d->dims[off + 1] != src->nx || d->n_frames == 0)
        return XANES_RAISE(err, XANES_EFORMAT,
                           "%s: shape mismatch: %s (%s) is %s but the frames of %s are %zux%zu",
                           src->path, d->name, role, sh5_dims_text(d, a, sizeof a), src->stack.name,
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
                           src->path, d->name, sh5_dims_text(d, a, sizeof a));
    if (n != src->n_energy)
        return XANES_RAISE(err, XANES_EFORMAT,
                           "%s: shape mismatch: %s has %zu energies but %s has %zu frames%s",
                           src->path, d->name, n, src->stack.name, src->n_energy,
                           n == src->nx ? " (the energy axis looks last; xanes expects "
                                          "[energies x rows x columns])"
                                        : "");
    src->energy_file = malloc(n * sizeof(double));
    src->energy_ev = malloc(n * sizeof(double));
    if (src->energy_file == NULL || src->energy_ev == NULL)
        return XANES_RAISE(err, XANES_ENOMEM, "%s: out of memory for %zu energies", src->path, n);
    if (H5Dread(d->id, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, src->energy_file) < 0)
        return XANES_RAISE(err, XANES_EIO, "%s: cannot read %s: %s", src->path, d->name,
                           sh5_reason(why));
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
    char attr[32] = "";
    xanes_energy_unit attr_unit = XANES_UNIT_AUTO;
    if (!sh5_attr_messages_ok(d->id))
        return XANES_RAISE(err, XANES_EFORMAT,
                           "%s: %s: corrupt attribute message in its object header", src->path,
                           d->name);
    if (H5Aexists(d->id, "units") > 0) {
        hid_t at = H5Aopen(d->id, "units", H5P_DEFAULT);
        if (at >= 0 && sh5_read_text(at, 1, attr, sizeof attr) == 0)
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
        snprintf(src->energy_unit_source, sizeof src->energy_unit_source, "units attribute '%s'",
                 attr);
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

static xanes_status pick_layout(stack_source *src, const xanes_stack_options *opt, xanes_error *err)
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
    } else if (sh5_link_exists(src->file, "/img_xanes")) {
        src->layout = XANES_LAYOUT_FXI;
        snprintf(src->layout_reason, sizeof src->layout_reason, "found /img_xanes");
    } else if (sh5_link_exists(src->file, "/exchange/data")) {
        src->layout = XANES_LAYOUT_APS;
        snprintf(src->layout_reason, sizeof src->layout_reason, "found /exchange/data");
    } else {
        char found[700] = "";
        sh5_listing l = {found, sizeof found, 0};
        H5Lvisit(src->file, H5_INDEX_NAME, H5_ITER_INC, sh5_list_cb, &l);
        return XANES_RAISE(err, XANES_EFORMAT,
                           "%s: layout not recognised: no /img_xanes (FXI) and no /exchange/data "
                           "(APS); datasets found: %s; use --layout custom with --stack-path and "
                           "--energy-path",
                           src->path, l.count ? found : "none");
    }
    return XANES_OK;
}

/* Chooses the dataset for one role: the option when given (it must exist),
 * else the first default that exists, else none (""). */
static const char *choose(const stack_source *src, const char *given, const char *def1,
                          const char *def2)
{
    if (given != NULL)
        return given;
    if (def1 != NULL && sh5_link_exists(src->file, def1))
        return def1;
    if (def2 != NULL && sh5_link_exists(src->file, def2))
        return def2;
    return NULL;
}

xanes_status stack_source_open(const char *path, const xanes_stack_options *opt, stack_source *src,
                               xanes_error *err)
{
    xanes_status st = XANES_OK;
    char why[200], a[64];
    memset(src, 0, sizeof *src);
    src->file = H5I_INVALID_HID;
    sh5_dset_init(&src->stack);
    sh5_dset_init(&src->flat);
    sh5_dset_init(&src->dark);
    sh5_dset_init(&src->energy);
    src->pixel_size_nm = NAN;
    src->magnification = NAN;
    snprintf(src->path, sizeof src->path, "%s", path);

    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        st = XANES_RAISE(err, XANES_EIO, "%s: cannot open: %s", path, strerror(errno));
        goto done;
    }
    /* A directory opens but does not read (and "measures" LONG_MAX). */
    if (fgetc(f) == EOF && ferror(f)) {
        st = XANES_RAISE(err, XANES_EIO, "%s: cannot read: %s", path, strerror(errno));
        fclose(f);
        goto done;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    src->file_size = size > 0 ? (unsigned long long)size : 0;
    if (!xanes_stack_is_hdf5(path)) {
        st = XANES_RAISE(err, XANES_EFORMAT, "%s: not an HDF5 file (%ld bytes, no HDF5 signature)",
                         path, size);
        goto done;
    }
    src->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (src->file < 0) {
        st =
            XANES_RAISE(err, XANES_EIO,
                        "%s: cannot open as HDF5, the file is corrupt or truncated (%ld bytes): %s",
                        path, size, sh5_reason(why));
        goto done;
    }
    if (!sh5_groups_ok(src->file)) {
        st = XANES_RAISE(err, XANES_EFORMAT,
                         "%s: corrupt file: a group's symbol table points outside the file", path);
        goto done;
    }
    if ((st = pick_layout(src, opt, err)) != XANES_OK)
        goto done;

    const char *sp = NULL, *fp = NULL, *dp = NULL, *ep = NULL;
    if (src->layout == XANES_LAYOUT_FXI) {
        sp = choose(src, opt->stack_path, "/img_xanes", NULL);
        /* Some FXI exports keep only the averaged references. */
        fp = choose(src, opt->flat_path, "/img_bkg", "/img_bkg_avg");
        dp = choose(src, opt->dark_path, "/img_dark", "/img_dark_avg");
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
        /* Older Data Exchange files keep the energy with the monochromator. */
        ep = choose(src, opt->energy_path, "/exchange/energy",
                    "/measurement/instrument/monochromator/energy");
        if (sp == NULL)
            sp = "/exchange/data";
        if (ep == NULL)
            ep = "/exchange/energy";
        src->kind = opt->absorbance ? XANES_STACK_ABSORBANCE : XANES_STACK_RAW_COUNTS;
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

    if ((st = sh5_open_dset(src, sp, "stack", &src->stack, err)) != XANES_OK)
        goto done;
    if (src->stack.rank != 3) {
        st = XANES_RAISE(err, XANES_EFORMAT,
                         "%s: %s (stack) has rank %d (%s); expected 3 (energies x rows x columns)",
                         path, sp, src->stack.rank, sh5_dims_text(&src->stack, a, sizeof a));
        goto done;
    }
    /* Transmission lies in (0, about 1]: an integer /img_xanes is the
     * camera's raw counts (as in FXI's scan files, against the float32 of
     * its exports), so with a flat field at hand it is corrected as with
     * --raw instead of being read as transmission of thousands. */
    if (src->layout == XANES_LAYOUT_FXI && src->kind == XANES_STACK_TRANSMISSION &&
        isfinite(src->stack.saturation) && fp != NULL &&
        (opt->flat_path != NULL || sh5_link_exists(src->file, fp)))
        src->kind = XANES_STACK_RAW_COUNTS;
    src->n_energy = (size_t)src->stack.dims[0];
    src->ny = (size_t)src->stack.dims[1];
    src->nx = (size_t)src->stack.dims[2];
    if (src->n_energy == 0 || src->ny == 0 || src->nx == 0) {
        st = XANES_RAISE(err, XANES_EFORMAT, "%s: %s (stack) is empty (%s)", path, sp,
                         sh5_dims_text(&src->stack, a, sizeof a));
        goto done;
    }
    if ((st = sh5_open_dset(src, ep, "energies", &src->energy, err)) != XANES_OK)
        goto done;
    if ((st = read_energies(src, opt, err)) != XANES_OK)
        goto done;

    /* Flats and darks: required and checked when they enter the correction;
     * otherwise (FXI transmission) only reported, and a broken one is not a
     * reason to refuse the stack. */
    src->flats_applied = src->kind == XANES_STACK_RAW_COUNTS;
    if (fp != NULL) {
        if (src->flats_applied || opt->flat_path != NULL || sh5_link_exists(src->file, fp)) {
            st = sh5_open_dset(src, fp, "flat field", &src->flat, err);
            if (st == XANES_OK && src->flats_applied)
                st = check_reference(src, &src->flat, "flat field", &src->flat_per_energy, err);
            if (st != XANES_OK && !src->flats_applied && opt->flat_path == NULL) {
                /* Reported only: a broken one is dropped, not fatal. */
                xanes_error_clear(err);
                sh5_dset_close(&src->flat);
                sh5_dset_init(&src->flat);
                st = XANES_OK;
            }
            if (st != XANES_OK)
                goto done;
            if (!src->flats_applied && src->flat.id >= 0)
                src->flat.n_frames = src->flat.rank == 3 ? (size_t)src->flat.dims[0] : 1;
        }
    } else if (src->flats_applied) {
        st = XANES_RAISE(err, XANES_EFORMAT,
                         "%s: no flat field to correct the raw counts of %s (missing dataset "
                         "%s); give --flat-path",
                         path, sp,
                         src->layout == XANES_LAYOUT_APS   ? "/exchange/data_white and "
                                                             "/exchange/data_flat"
                         : src->layout == XANES_LAYOUT_FXI ? "/img_bkg"
                                                           : "--flat-path");
        goto done;
    }
    if (dp != NULL) {
        if (src->flats_applied || opt->dark_path != NULL || sh5_link_exists(src->file, dp)) {
            st = sh5_open_dset(src, dp, "dark field", &src->dark, err);
            if (st == XANES_OK && src->flats_applied)
                st = check_reference(src, &src->dark, "dark field", &src->dark_per_energy, err);
            if (st != XANES_OK && !src->flats_applied && opt->dark_path == NULL) {
                xanes_error_clear(err);
                sh5_dset_close(&src->dark);
                sh5_dset_init(&src->dark);
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
    int meta = sh5_read_meta(src->file, "Pixel Size", src->pixel_size_text,
                             sizeof src->pixel_size_text, &num);
    if (meta == -2) {
        st = XANES_RAISE(err, XANES_EFORMAT,
                         "%s: \"Pixel Size\": corrupt (its string points outside its heap, or "
                         "the root group's attribute messages are damaged)",
                         path);
        goto done;
    }
    if (meta == 0) {
        if (src->pixel_size_text[0] != '\0')
            src->pixel_size_nm = parse_pixel_size_nm(src->pixel_size_text);
        else if (isfinite(num) && num > 0) {
            src->pixel_size_nm = num;
            snprintf(src->pixel_size_text, sizeof src->pixel_size_text, "%g", num);
        }
    }
    char mtext[64];
    if (sh5_read_meta(src->file, "Magnification", mtext, sizeof mtext, &num) == 0)
        src->magnification = mtext[0] != '\0' ? strtod(mtext, NULL) : num;
done:
    if (st != XANES_OK)
        stack_source_close(src);
    return st;
}

void stack_source_close(stack_source *src)
{
    sh5_dset_close(&src->stack);
    sh5_dset_close(&src->flat);
    sh5_dset_close(&src->dark);
    sh5_dset_close(&src->energy);
    if (src->file >= 0)
        H5Fclose(src->file);
    src->file = H5I_INVALID_HID;
    free(src->energy_file);
    free(src->energy_ev);
    src->energy_file = src->energy_ev = NULL;
}
