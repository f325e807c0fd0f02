/* results.c: results.h5 (NeXus over HDF5) and particles.csv.
 *
 * The file follows the NeXus conventions that h5py, silx and NeXpy read
 * without help (https://manual.nexusformat.org/datarules.html): an NXdata
 * group /results whose "signal" attribute names the edge-energy map, a
 * "default" attribute on the root pointing to it, a "units" attribute on every
 * dataset.  Strings are variable-length UTF-8, so h5py returns str.  The raw
 * energies are stored beside the calibrated ones with the offset as an
 * attribute: a calibration can be inspected and undone.
 *
 * Writing goes to a temporary file (xanes_atomic_*) that is renamed over the
 * target only after H5Fclose succeeded; the file access property list uses
 * H5F_CLOSE_STRONG so that closing the file also closes any object an error
 * path left open, and the temporary file can always be removed.  Every HDF5
 * id is released at the one done: label of the function that opened it
 * (netCDF-C style); HDF5's automatic error printing is off (xanes_init), and
 * negative ids become XANES_EIO naming the file and the object.
 */
#include "xanes/results.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "xanes/atomic.h"

/* energy_raw + offset must reproduce energy to rounding: one eV-scale ulp is
 * ~1e-12 eV, so 1e-6 eV only catches arrays that do not belong together. */
static const double ENERGY_CONSISTENCY_EV = 1e-6;

/* ---- attributes ---- */

/* A UTF-8 variable-length string attribute over `space` (scalar: one
 * string; 1-D: values[0..n-1]); takes ownership of space. */
static xanes_status attr_vlen(hid_t obj, const char *name, hid_t space, const char *const *values,
                              const char *file, const char *where, xanes_error *err)
{
    xanes_status st = XANES_OK;
    hid_t type = -1, attr = -1;
    if (space < 0 || (type = H5Tcopy(H5T_C_S1)) < 0 || H5Tset_size(type, H5T_VARIABLE) < 0 ||
        H5Tset_cset(type, H5T_CSET_UTF8) < 0 ||
        (attr = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
        H5Awrite(attr, type, values) < 0)
        st = XANES_RAISE(err, XANES_EIO, "cannot write attribute '%s' of '%s' in '%s'", name, where,
                         file);
    if (attr >= 0)
        H5Aclose(attr);
    if (space >= 0)
        H5Sclose(space);
    if (type >= 0)
        H5Tclose(type);
    return st;
}

static xanes_status attr_string(hid_t obj, const char *name, const char *value, const char *file,
                                const char *where, xanes_error *err)
{
    const char *v = value != NULL ? value : "";
    return attr_vlen(obj, name, H5Screate(H5S_SCALAR), &v, file, where, err);
}

static xanes_status attr_double(hid_t obj, const char *name, double value, const char *file,
                                const char *where, xanes_error *err)
{
    xanes_status st = XANES_OK;
    hid_t space = -1, attr = -1;
    if ((space = H5Screate(H5S_SCALAR)) < 0 ||
        (attr = H5Acreate2(obj, name, H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
        H5Awrite(attr, H5T_NATIVE_DOUBLE, &value) < 0)
        st = XANES_RAISE(err, XANES_EIO, "cannot write attribute '%s' of '%s' in '%s'", name, where,
                         file);
    if (attr >= 0)
        H5Aclose(attr);
    if (space >= 0)
        H5Sclose(space);
    return st;
}

/* A 1-D attribute of n variable-length strings (NXdata "axes"). */
static xanes_status attr_strings(hid_t obj, const char *name, const char *const *values, size_t n,
                                 const char *file, const char *where, xanes_error *err)
{
    hsize_t dim = n;
    return attr_vlen(obj, name, H5Screate_simple(1, &dim, NULL), values, file, where, err);
}

/* ---- datasets ---- */

/* Writes a rank-1 or rank-2 dataset of file type ftype from memory type
 * mtype, with "units" and "long_name"; when keep_open is non-NULL the
 * dataset stays open there for more attributes (the caller closes it). */
static xanes_status write_dataset(hid_t group, const char *name, hid_t ftype, hid_t mtype, int rank,
                                  const hsize_t *dims, const void *data, const char *units,
                                  const char *long_name, const char *file, hid_t *keep_open,
                                  xanes_error *err)
{
    xanes_status st = XANES_OK;
    hid_t space = -1, dset = -1;
    char gname[96], where[160];
    if (H5Iget_name(group, gname, sizeof gname) < 0)
        gname[0] = '\0';
    snprintf(where, sizeof where, "%s/%s", gname, name);
    if ((space = H5Screate_simple(rank, dims, NULL)) < 0 ||
        (dset = H5Dcreate2(group, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
        H5Dwrite(dset, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
        st = XANES_RAISE(err, XANES_EIO, "cannot write dataset '%s' in '%s'", where, file);
        goto done;
    }
    if ((st = attr_string(dset, "units", units, file, where, err)) != XANES_OK ||
        (st = attr_string(dset, "long_name", long_name, file, where, err)) != XANES_OK)
        goto done;
    if (keep_open != NULL) {
        *keep_open = dset;
        dset = -1;
    }
done:
    if (dset >= 0)
        H5Dclose(dset);
    if (space >= 0)
        H5Sclose(space);
    return st;
}

static xanes_status write_map_f32(hid_t g, const char *name, const float *map,
                                  const xanes_results *r, const char *units, const char *long_name,
                                  const char *file, xanes_error *err)
{
    if (map == NULL)
        return XANES_OK;
    hsize_t dims[2] = {r->ny, r->nx};
    return write_dataset(g, name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, dims, map, units, long_name,
                         file, NULL, err);
}

/* /results/particles: one column per dataset. */
static xanes_status write_particles(hid_t results, const xanes_results *r, const char *file,
                                    xanes_error *err)
{
    xanes_status st = XANES_OK;
    hid_t g = -1;
    double *col = NULL;
    int32_t *lab = NULL;
    size_t n = r->n_particles;
    if ((g = H5Gcreate2(results, "particles", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0) {
        st = XANES_RAISE(err, XANES_EIO, "cannot create group '/results/particles' in '%s'", file);
        goto done;
    }
    if ((st = attr_string(g, "NX_class", "NXcollection", file, "/results/particles", err)) !=
        XANES_OK)
        goto done;
    col = malloc((n > 0 ? n : 1) * sizeof *col);
    lab = malloc((n > 0 ? n : 1) * sizeof *lab);
    if (col == NULL || lab == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM, "out of memory writing particles of '%s'", file);
        goto done;
    }
    hsize_t dim = n;
    for (size_t i = 0; i < n; i++)
        lab[i] = r->particles[i].label;
    if ((st = write_dataset(g, "label", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, &dim, lab, "",
                            "particle label", file, NULL, err)) != XANES_OK)
        goto done;
    static const struct {
        const char *name, *units, *long_name;
        size_t offset;
    } cols[] = {
        {"centroid_x", "pixel", "centroid column", offsetof(xanes_results_particle, centroid_x_px)},
        {"centroid_y", "pixel", "centroid row", offsetof(xanes_results_particle, centroid_y_px)},
        {"edge_mean_ev", "eV", "mean edge energy", offsetof(xanes_results_particle, edge_mean_ev)},
        {"edge_std_ev", "eV", "std of edge energy", offsetof(xanes_results_particle, edge_std_ev)},
        {"edge_median_ev", "eV", "median edge energy",
         offsetof(xanes_results_particle, edge_median_ev)},
        {"edge_mean_spectrum_ev", "eV", "edge energy of the mean spectrum",
         offsetof(xanes_results_particle, edge_mean_spectrum_ev)},
        {"soc_mean", "1", "mean state of charge", offsetof(xanes_results_particle, soc_mean)},
        {"valence_mean", "1", "mean Ni valence", offsetof(xanes_results_particle, valence_mean)},
        {"overcharged_fraction", "1", "fraction of pixels above the overcharge threshold",
         offsetof(xanes_results_particle, overcharged_fraction)},
    };
    for (size_t i = 0; i < n; i++)
        col[i] = (double)r->particles[i].area_px;
    if ((st = write_dataset(g, "area_px", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &dim, col, "pixel",
                            "particle area", file, NULL, err)) != XANES_OK)
        goto done;
    for (size_t c = 0; c < sizeof cols / sizeof cols[0]; c++) {
        for (size_t i = 0; i < n; i++)
            memcpy(&col[i], (const char *)&r->particles[i] + cols[c].offset, sizeof(double));
        if ((st = write_dataset(g, cols[c].name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &dim, col,
                                cols[c].units, cols[c].long_name, file, NULL, err)) != XANES_OK)
            goto done;
    }
done:
    free(lab);
    free(col);
    if (g >= 0)
        H5Gclose(g);
    return st;
}

static xanes_status check_input(const char *path, const xanes_results *r, xanes_error *err)
{
    if (path == NULL || r == NULL)
        return XANES_RAISE(err, XANES_EINVAL, "results: NULL path or results");
    if (r->ny == 0 || r->nx == 0 || r->edge_energy_ev == NULL)
        return XANES_RAISE(err, XANES_EINVAL, "results '%s': no edge-energy map (%zu x %zu)", path,
                           r->ny, r->nx);
    if (r->n_energy == 0 || r->energy_ev == NULL)
        return XANES_RAISE(err, XANES_EINVAL, "results '%s': no energy axis", path);
    for (size_t k = 0; k < r->n_energy; k++) {
        if (!isfinite(r->energy_ev[k]) || (k > 0 && !(r->energy_ev[k] > r->energy_ev[k - 1])))
            return XANES_RAISE(err, XANES_EINVAL,
                               "results '%s': energy %zu = %.6f eV is not finite and increasing",
                               path, k, r->energy_ev[k]);
        if (r->energy_raw_ev != NULL && !(fabs(r->energy_raw_ev[k] + r->energy_offset_ev -
                                               r->energy_ev[k]) <= ENERGY_CONSISTENCY_EV))
            return XANES_RAISE(err, XANES_EINVAL,
                               "results '%s': energy %zu: raw %.6f eV + offset %.6f eV != "
                               "calibrated %.6f eV",
                               path, k, r->energy_raw_ev[k], r->energy_offset_ev, r->energy_ev[k]);
    }
    if (r->n_particles > 0 && r->particles == NULL)
        return XANES_RAISE(err, XANES_EINVAL, "results '%s': %zu particles but no table", path,
                           r->n_particles);
    if ((r->n_text_params > 0 && r->text_params == NULL) ||
        (r->n_number_params > 0 && r->number_params == NULL))
        return XANES_RAISE(err, XANES_EINVAL, "results '%s': parameter list missing", path);
    for (size_t i = 0; i < r->n_text_params; i++)
        if (r->text_params[i].key == NULL || r->text_params[i].key[0] == '\0')
            return XANES_RAISE(err, XANES_EINVAL, "results '%s': text parameter %zu has no key",
                               path, i);
    for (size_t i = 0; i < r->n_number_params; i++)
        if (r->number_params[i].key == NULL || r->number_params[i].key[0] == '\0')
            return XANES_RAISE(err, XANES_EINVAL, "results '%s': numeric parameter %zu has no key",
                               path, i);
    return XANES_OK;
}

/* Everything inside the open file. */
static xanes_status write_contents(hid_t file, const char *path, const xanes_results *r,
                                   xanes_error *err)
{
    xanes_status st = XANES_OK;
    hid_t res = -1, par = -1, dset = -1;
    char version[64];
    snprintf(version, sizeof version, "%s", xanes_version());
    if ((st = attr_string(file, "NX_class", "NXroot", path, "/", err)) != XANES_OK ||
        (st = attr_string(file, "default", "results", path, "/", err)) != XANES_OK ||
        (st = attr_string(file, "creator", "xanes", path, "/", err)) != XANES_OK ||
        (st = attr_string(file, "program", "xanes", path, "/", err)) != XANES_OK ||
        (st = attr_string(file, "program_version", version, path, "/", err)) != XANES_OK ||
        (st = attr_string(file, "command_line", r->command_line, path, "/", err)) != XANES_OK)
        goto done;

    if ((res = H5Gcreate2(file, "results", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0) {
        st = XANES_RAISE(err, XANES_EIO, "cannot create group '/results' in '%s'", path);
        goto done;
    }
    static const char *const axes[2] = {".", "."};
    if ((st = attr_string(res, "NX_class", "NXdata", path, "/results", err)) != XANES_OK ||
        (st = attr_string(res, "signal", "edge_energy", path, "/results", err)) != XANES_OK ||
        (st = attr_strings(res, "axes", axes, 2, path, "/results", err)) != XANES_OK)
        goto done;

    if ((st = write_map_f32(res, "edge_energy", r->edge_energy_ev, r, "eV", "Ni K-edge energy",
                            path, err)) != XANES_OK ||
        (st = write_map_f32(res, "soc", r->soc, r, "1", "state of charge", path, err)) !=
            XANES_OK ||
        (st = write_map_f32(res, "valence", r->valence, r, "1", "Ni valence", path, err)) !=
            XANES_OK ||
        (st = write_map_f32(res, "edge_jump", r->edge_jump, r, "1", "edge jump (absorbance)", path,
                            err)) != XANES_OK ||
        (st = write_map_f32(res, "quality", r->quality, r,
                            r->quality_units != NULL ? r->quality_units : "1",
                            r->quality_long_name != NULL ? r->quality_long_name : "quality", path,
                            err)) != XANES_OK)
        goto done;
    if (r->labels != NULL) {
        hsize_t dims[2] = {r->ny, r->nx};
        if ((st = write_dataset(res, "labels", H5T_STD_I32LE, H5T_NATIVE_INT32, 2, dims, r->labels,
                                "", "particle labels (0 = background)", path, NULL, err)) !=
            XANES_OK)
            goto done;
    }

    hsize_t ne = r->n_energy;
    if ((st = write_dataset(res, "energy", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &ne, r->energy_ev,
                            "eV", "calibrated photon energy", path, &dset, err)) != XANES_OK ||
        (st = attr_double(dset, "energy_offset_ev", r->energy_offset_ev, path, "/results/energy",
                          err)) != XANES_OK)
        goto done;
    H5Dclose(dset);
    dset = -1;
    if (r->energy_raw_ev != NULL) {
        if ((st = write_dataset(res, "energy_raw", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &ne,
                                r->energy_raw_ev, "eV", "photon energy as measured", path, &dset,
                                err)) != XANES_OK ||
            (st = attr_double(dset, "energy_offset_ev", r->energy_offset_ev, path,
                              "/results/energy_raw", err)) != XANES_OK)
            goto done;
        H5Dclose(dset);
        dset = -1;
    }
    if (r->shifts_px != NULL) {
        hsize_t dims[2] = {r->n_energy, 2};
        if ((st = write_dataset(res, "shifts", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, dims,
                                r->shifts_px, "pixel", "alignment shift (dy, dx) per frame", path,
                                &dset, err)) != XANES_OK ||
            (st = attr_string(dset, "columns", "dy,dx", path, "/results/shifts", err)) != XANES_OK)
            goto done;
        H5Dclose(dset);
        dset = -1;
    }
    if ((st = write_particles(res, r, path, err)) != XANES_OK)
        goto done;

    if ((par = H5Gcreate2(file, "parameters", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0) {
        st = XANES_RAISE(err, XANES_EIO, "cannot create group '/parameters' in '%s'", path);
        goto done;
    }
    if ((st = attr_string(par, "NX_class", "NXcollection", path, "/parameters", err)) != XANES_OK)
        goto done;
    for (size_t i = 0; i < r->n_text_params; i++)
        if ((st = attr_string(par, r->text_params[i].key, r->text_params[i].value, path,
                              "/parameters", err)) != XANES_OK)
            goto done;
    for (size_t i = 0; i < r->n_number_params; i++)
        if ((st = attr_double(par, r->number_params[i].key, r->number_params[i].value, path,
                              "/parameters", err)) != XANES_OK)
            goto done;
done:
    if (dset >= 0)
        H5Dclose(dset);
    if (par >= 0)
        H5Gclose(par);
    if (res >= 0)
        H5Gclose(res);
    return st;
}

xanes_status xanes_results_write(const char *path, const xanes_results *r, xanes_error *err)
{
    xanes_status st = XANES_OK;
    xanes_atomic_file *af = NULL;
    hid_t fapl = -1, file = -1;
    if ((st = check_input(path, r, err)) != XANES_OK)
        goto done;
    if ((st = xanes_atomic_open(path, &af, err)) != XANES_OK ||
        (st = xanes_atomic_close_stream(af, err)) != XANES_OK)
        goto done;
    if ((fapl = H5Pcreate(H5P_FILE_ACCESS)) < 0 ||
        H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0 ||
        (file = H5Fcreate(xanes_atomic_tmp_path(af), H5F_ACC_TRUNC, H5P_DEFAULT, fapl)) < 0) {
        st = XANES_RAISE(err, XANES_EIO, "cannot create HDF5 file '%s'", path);
        goto done;
    }
    if ((st = write_contents(file, path, r, err)) != XANES_OK)
        goto done;
    herr_t closed = H5Fclose(file);
    file = -1;
    if (closed < 0) {
        st = XANES_RAISE(err, XANES_EIO, "cannot close HDF5 file '%s'", path);
        goto done;
    }
    st = xanes_atomic_commit(af, err);
    af = NULL;
done:
    if (file >= 0)
        H5Fclose(file);
    if (fapl >= 0)
        H5Pclose(fapl);
    xanes_atomic_discard(af);
    return st;
}

/* ---- particles.csv ---- */

static void put_number(FILE *f, double v, int decimals)
{
    if (isfinite(v))
        fprintf(f, ",%.*f", decimals, v);
    else
        fputs(",nan", f);
}

xanes_status xanes_results_write_particles_csv(const char *path, const xanes_results_particle *p,
                                               size_t n, xanes_error *err)
{
    xanes_status st = XANES_OK;
    xanes_atomic_file *af = NULL;
    if (path == NULL || (p == NULL && n > 0)) {
        st = XANES_RAISE(err, XANES_EINVAL, "particles CSV: NULL path or table");
        goto done;
    }
    if ((st = xanes_atomic_open(path, &af, err)) != XANES_OK)
        goto done;
    FILE *f = xanes_atomic_stream(af);
    fputs(XANES_RESULTS_CSV_HEADER "\n", f);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%d,%zu", (int)p[i].label, p[i].area_px);
        put_number(f, p[i].centroid_x_px, 3);
        put_number(f, p[i].centroid_y_px, 3);
        put_number(f, p[i].edge_mean_ev, 4);
        put_number(f, p[i].edge_std_ev, 4);
        put_number(f, p[i].edge_median_ev, 4);
        put_number(f, p[i].edge_mean_spectrum_ev, 4);
        put_number(f, p[i].soc_mean, 5);
        put_number(f, p[i].valence_mean, 5);
        put_number(f, p[i].overcharged_fraction, 5);
        fputc('\n', f);
    }
    st = xanes_atomic_commit(af, err);
    af = NULL;
done:
    xanes_atomic_discard(af);
    return st;
}
