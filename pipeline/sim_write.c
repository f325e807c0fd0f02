/* sim_write.c: writes a simulated scene as the files a beamline would give
 * (HDF5 stack in the NSLS-II FXI 18-ID or APS 32-ID layout), its truth
 * (separate HDF5 file that `xanes run` never reads) and an XDI 1.0 reference
 * spectrum.
 *
 * Frames are generated and written one at a time (hyperslabs of chunked,
 * shuffled, gzip-compressed datasets, chunk = one frame or a 256 x 256 tile),
 * so memory stays a few frames whatever the stack size.  Counts are rounded
 * to integers and clipped to the 16-bit detector range [0, 65535] when noise
 * is on (noise-free mode keeps the exact expectations).  The FXI layout
 * holds what the beamline exporter writes: transmission (I - D)/(F - D) with
 * D the mean dark, as float32, invalid values (<= 0 or not finite) written
 * as 0.  Every file goes to a temporary name in the target directory and is
 * renamed when complete.
 */
#define _POSIX_C_SOURCE 200809L
#include "sim_private.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gsl/gsl_randist.h>
#include <hdf5.h>

/* ---- small HDF5 helpers: each returns < 0 on failure ---- */

static hid_t make_dset(hid_t loc, const char *name, hid_t type, int rank, const hsize_t *dims,
                       int compress)
{
    hid_t space = H5Screate_simple(rank, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hid_t d = -1;
    hsize_t total = 1, chunk[3];
    for (int i = 0; i < rank; i++)
        total *= dims[i];
    if (space < 0 || dcpl < 0 || H5Pset_obj_track_times(dcpl, 0) < 0)
        goto done;
    if (compress && total > 0) {
        for (int i = 0; i < rank; i++)
            chunk[i] = (rank == 3 && i == 0) ? 1 : (dims[i] > 256 ? 256 : dims[i]);
        if (H5Pset_chunk(dcpl, rank, chunk) < 0 || H5Pset_shuffle(dcpl) < 0 ||
            H5Pset_deflate(dcpl, 4) < 0)
            goto done;
    }
    d = H5Dcreate2(loc, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
done:
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (space >= 0)
        H5Sclose(space);
    return d;
}

static herr_t write_frame(hid_t d, size_t k, size_t ny, size_t nx, hid_t memtype, const void *buf)
{
    hsize_t start[3] = {k, 0, 0}, count[3] = {1, ny, nx};
    hid_t fs = H5Dget_space(d), ms = H5Screate_simple(3, count, NULL);
    herr_t r = -1;
    if (fs >= 0 && ms >= 0 &&
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) >= 0)
        r = H5Dwrite(d, memtype, ms, fs, H5P_DEFAULT, buf);
    if (ms >= 0)
        H5Sclose(ms);
    if (fs >= 0)
        H5Sclose(fs);
    return r;
}

/* Creates a dataset without modification times, so that a seed gives the
 * same file bytes on every run (sample_scans/ are tracked by git). */
static hid_t create_untimed(hid_t loc, const char *name, hid_t type, hid_t space)
{
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE), d = -1;
    if (dcpl >= 0 && H5Pset_obj_track_times(dcpl, 0) >= 0)
        d = H5Dcreate2(loc, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    return d;
}

/* A fixed-length string attribute (as_attr) or scalar dataset of text. */
static herr_t write_string(hid_t loc, const char *name, const char *text, int as_attr)
{
    hid_t st = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR), o = -1;
    herr_t r = -1;
    if (st < 0 || sp < 0 || H5Tset_size(st, strlen(text) > 0 ? strlen(text) : 1) < 0)
        goto done;
    if (as_attr) {
        o = H5Acreate2(loc, name, st, sp, H5P_DEFAULT, H5P_DEFAULT);
        r = o >= 0 ? H5Awrite(o, st, text) : -1;
        if (o >= 0)
            H5Aclose(o);
    } else {
        o = create_untimed(loc, name, st, sp);
        r = o >= 0 ? H5Dwrite(o, st, H5S_ALL, H5S_ALL, H5P_DEFAULT, text) : -1;
        if (o >= 0)
            H5Dclose(o);
    }
done:
    if (sp >= 0)
        H5Sclose(sp);
    if (st >= 0)
        H5Tclose(st);
    return r;
}

static herr_t write_all(hid_t loc, const char *name, hid_t filetype, hid_t memtype, int rank,
                        const hsize_t *dims, const void *buf, const char *units)
{
    hid_t d = make_dset(loc, name, filetype, rank, dims, rank >= 2);
    herr_t r = -1;
    if (d < 0)
        return -1;
    hsize_t total = 1;
    for (int i = 0; i < rank; i++)
        total *= dims[i];
    r = total > 0 ? H5Dwrite(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) : 0;
    if (r >= 0 && units != NULL)
        r = write_string(d, "units", units, 1);
    H5Dclose(d);
    return r;
}

/* An HDF5 file (or group, when parent >= 0) without modification times. */
static hid_t create_untimed_file(const char *path, hid_t parent, const char *group)
{
    hid_t cpl = H5Pcreate(parent >= 0 ? H5P_GROUP_CREATE : H5P_FILE_CREATE), o = -1;
    if (cpl >= 0 && H5Pset_obj_track_times(cpl, 0) >= 0)
        o = parent >= 0 ? H5Gcreate2(parent, group, H5P_DEFAULT, cpl, H5P_DEFAULT)
                        : H5Fcreate(path, H5F_ACC_TRUNC, cpl, H5P_DEFAULT);
    if (cpl >= 0)
        H5Pclose(cpl);
    return o;
}

static herr_t write_scalar(hid_t loc, const char *name, double v, const char *units)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t d = sp >= 0 ? create_untimed(loc, name, H5T_IEEE_F64LE, sp) : -1;
    herr_t r = d >= 0 ? H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v) : -1;
    if (r >= 0 && units != NULL)
        r = write_string(d, "units", units, 1);
    if (d >= 0)
        H5Dclose(d);
    if (sp >= 0)
        H5Sclose(sp);
    return r;
}

static herr_t write_attr_double(hid_t loc, const char *name, double v)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = sp >= 0 ? H5Acreate2(loc, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT) : -1;
    herr_t r = a >= 0 ? H5Awrite(a, H5T_NATIVE_DOUBLE, &v) : -1;
    if (a >= 0)
        H5Aclose(a);
    if (sp >= 0)
        H5Sclose(sp);
    return r;
}

/* Creates an empty temporary file beside path (mode 0666 less the umask, like
 * the final file) and puts its name in buf. */
static int temp_name(const char *path, char *buf, size_t size)
{
    for (unsigned i = 0; i < 1000; i++) {
        int n = snprintf(buf, size, "%s.tmp-%ld-%u", path, (long)getpid(), i);
        if (n < 0 || (size_t)n >= size)
            return -1;
        int fd = open(buf, O_WRONLY | O_CREAT | O_EXCL, 0666);
        if (fd >= 0) {
            close(fd);
            return 0;
        }
        if (errno != EEXIST)
            return -1;
    }
    return -1;
}

/* ---- counts ---- */

static double to_adu(double c, int noise, size_t *n_sat)
{
    if (!noise)
        return c;
    c = nearbyint(c);
    if (c < 0)
        c = 0;
    if (c > XANES_SIMULATE_MAX_COUNT) {
        c = XANES_SIMULATE_MAX_COUNT;
        (*n_sat)++;
    }
    return c;
}

static float round_mantissa(float v, int bits)
{
    if (bits <= 0 || bits >= 23 || !isfinite(v))
        return v;
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    uint32_t drop = 23u - (uint32_t)bits;
    u = (u + (1u << (drop - 1))) & ~((1u << drop) - 1u);
    memcpy(&v, &u, sizeof v);
    return v;
}

/* Converts counts to the stored type and writes frame k of d. */
static herr_t put_counts(hid_t d, size_t k, const xanes_simulate_scene *sc, const double *c,
                         int as_u16, uint16_t *u16, float *f32)
{
    size_t n = sc->nx * sc->ny;
    if (as_u16) {
        for (size_t i = 0; i < n; i++)
            u16[i] = (uint16_t)(c[i] < 0                          ? 0
                                : c[i] > XANES_SIMULATE_MAX_COUNT ? UINT16_MAX
                                                                  : nearbyint(c[i]));
        return write_frame(d, k, sc->ny, sc->nx, H5T_NATIVE_UINT16, u16);
    }
    for (size_t i = 0; i < n; i++)
        f32[i] = (float)c[i];
    return write_frame(d, k, sc->ny, sc->nx, H5T_NATIVE_FLOAT, f32);
}

xanes_status sim_write_stack(xanes_simulate_scene *sc, const char *path,
                             xanes_simulate_summary *sum, xanes_error *err)
{
    const xanes_simulate_params *p = &sc->p;
    const size_t nx = sc->nx, ny = sc->ny, ne = sc->ne, n = nx * ny;
    const int fxi = p->layout == XANES_SIMULATE_FXI;
    /* Raw counts are uint16 unless float32 is asked for (aps) or the FXI
     * default (float32 transmission; its flats/darks are float32 too). */
    const int raw_u16 = p->dtype == XANES_SIMULATE_DTYPE_UINT16 ||
                        (!fxi && p->dtype != XANES_SIMULATE_DTYPE_FLOAT32);
    const int fxi_trans = fxi && p->dtype != XANES_SIMULATE_DTYPE_UINT16;
    const size_t n_flat = p->flat_per_energy ? ne : p->n_flat;
    xanes_status st = XANES_OK;
    char tmp[1100] = "";
    hid_t f = -1, g = -1, d_data = -1, d_flat = -1, d_dark = -1;
    float *absb = malloc(n * sizeof *absb), *fexp = malloc(n * sizeof *fexp);
    float *f32 = malloc(n * sizeof *f32);
    uint16_t *u16 = malloc(n * sizeof *u16);
    double *samp = malloc(n * sizeof *samp), *flat = malloc(n * sizeof *flat);
    double *dmean = calloc(n, sizeof *dmean), *fmean = calloc(n, sizeof *fmean);
    size_t n_sat = 0, n_invalid = 0;
    if (!absb || !fexp || !f32 || !u16 || !samp || !flat || !dmean || !fmean) {
        st = XANES_RAISE(err, XANES_ENOMEM, "%s: out of memory for %zu x %zu frames", path, ny, nx);
        goto done;
    }
    if (temp_name(path, tmp, sizeof tmp) != 0) {
        tmp[0] = '\0';
        st = XANES_RAISE(err, XANES_EIO, "%s: cannot create a temporary file beside it", path);
        goto done;
    }
    f = create_untimed_file(tmp, -1, NULL);
    if (f < 0) {
        st = XANES_RAISE(err, XANES_EIO, "%s: cannot create HDF5 file", tmp);
        goto done;
    }
    hid_t rawtype = raw_u16 ? H5T_STD_U16LE : H5T_IEEE_F32LE;
    hsize_t dd[3] = {ne, ny, nx}, fd[3] = {n_flat, ny, nx}, kd[3] = {p->n_dark, ny, nx};
    double *kev = malloc(ne * sizeof *kev);
    if (kev == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    for (size_t k = 0; k < ne; k++)
        kev[k] = sc->e_nom[k] / 1000.0;
    herr_t r;
    if (fxi) {
        g = H5Gopen2(f, "/", H5P_DEFAULT);
        d_data = make_dset(g, "img_xanes", fxi_trans ? H5T_IEEE_F32LE : rawtype, 3, dd, 1);
        d_flat = make_dset(g, "img_bkg", rawtype, 3, fd, 1);
        d_dark = make_dset(g, "img_dark", rawtype, 3, kd, 1);
        r = write_all(g, "X_eng", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, (hsize_t[]){ne}, kev,
                      "keV");
        char px[64];
        snprintf(px, sizeof px, "%.1fnm", p->pixel_size_nm);
        if (r >= 0)
            r = write_scalar(g, "Magnification", p->magnification, NULL);
        if (r >= 0)
            r = write_string(g, "Pixel Size", px, 0);
        if (r >= 0)
            r = write_string(g, "note", "simulated by xanes simulate (truth in a separate file)",
                             0);
    } else {
        g = create_untimed_file(NULL, f, "/exchange");
        d_data = g >= 0 ? make_dset(g, "data", rawtype, 3, dd, 1) : -1;
        d_flat = g >= 0 ? make_dset(g, "data_white", rawtype, 3, fd, 1) : -1;
        d_dark = g >= 0 ? make_dset(g, "data_dark", rawtype, 3, kd, 1) : -1;
        r = g >= 0 ? write_all(g, "energy", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, (hsize_t[]){ne},
                               kev, "keV")
                   : -1;
    }
    free(kev);
    if (g < 0 || d_data < 0 || d_flat < 0 || d_dark < 0 || r < 0) {
        st = XANES_RAISE(err, XANES_EIO, "%s: cannot create the %s datasets", tmp,
                         fxi ? "FXI" : "APS /exchange");
        goto done;
    }

    for (size_t j = 0; j < p->n_dark; j++) {
        sim_detector_counts(sc, SIM_DARK, j, NULL, NULL, samp);
        for (size_t i = 0; i < n; i++) {
            samp[i] = to_adu(samp[i], p->noise, &n_sat);
            dmean[i] += samp[i] / (double)p->n_dark;
        }
        if (put_counts(d_dark, j, sc, samp, raw_u16, u16, f32) < 0)
            goto io_fail;
    }
    if (!p->flat_per_energy) {
        xanes_simulate_flat_frame(sc, 0, fexp);
        for (size_t j = 0; j < n_flat; j++) {
            sim_detector_counts(sc, SIM_FIXED_FLAT, j, fexp, NULL, flat);
            for (size_t i = 0; i < n; i++) {
                flat[i] = to_adu(flat[i], p->noise, &n_sat);
                fmean[i] += flat[i] / (double)n_flat;
            }
            if (put_counts(d_flat, j, sc, flat, raw_u16, u16, f32) < 0)
                goto io_fail;
        }
    }
    for (size_t k = 0; k < ne; k++) {
        xanes_simulate_absorbance_frame(sc, k, absb);
        xanes_simulate_flat_frame(sc, k, fexp);
        if (p->flat_per_energy)
            sim_detector_counts(sc, SIM_FLAT, k, fexp, NULL, flat);
        sim_detector_counts(sc, SIM_SAMPLE, k, fexp, absb, samp);
        for (size_t i = 0; i < n; i++) {
            samp[i] = to_adu(samp[i], p->noise, &n_sat);
            if (p->flat_per_energy)
                flat[i] = to_adu(flat[i], p->noise, &n_sat);
        }
        if (p->flat_per_energy && put_counts(d_flat, k, sc, flat, raw_u16, u16, f32) < 0)
            goto io_fail;
        if (fxi_trans) {
            const double *fl = p->flat_per_energy ? flat : fmean;
            for (size_t i = 0; i < n; i++) {
                double t = (samp[i] - dmean[i]) / (fl[i] - dmean[i]);
                if (!(t > 0) || !isfinite(t)) {
                    t = 0.0;
                    n_invalid++;
                }
                f32[i] = round_mantissa((float)t, p->mantissa_bits);
            }
            if (write_frame(d_data, k, ny, nx, H5T_NATIVE_FLOAT, f32) < 0)
                goto io_fail;
        } else if (put_counts(d_data, k, sc, samp, raw_u16, u16, f32) < 0) {
            goto io_fail;
        }
    }
    goto close;
io_fail:
    st = XANES_RAISE(err, XANES_EIO, "%s: writing a frame failed (disk full?)", tmp);
close:
    if (d_dark >= 0)
        H5Dclose(d_dark);
    if (d_flat >= 0)
        H5Dclose(d_flat);
    if (d_data >= 0)
        H5Dclose(d_data);
    if (g >= 0)
        H5Gclose(g);
    d_dark = d_flat = d_data = g = -1;
    if (H5Fclose(f) < 0 && st == XANES_OK)
        st = XANES_RAISE(err, XANES_EIO, "%s: closing the HDF5 file failed", tmp);
    f = -1;
    if (st == XANES_OK && rename(tmp, path) != 0)
        st = XANES_RAISE(err, XANES_EIO, "%s: cannot rename the finished file to %s", tmp, path);
    if (st == XANES_OK)
        tmp[0] = '\0';
    if (sum != NULL) {
        sum->n_saturated = n_sat;
        sum->n_invalid = n_invalid;
    }
done:
    if (d_dark >= 0)
        H5Dclose(d_dark);
    if (d_flat >= 0)
        H5Dclose(d_flat);
    if (d_data >= 0)
        H5Dclose(d_data);
    if (g >= 0)
        H5Gclose(g);
    if (f >= 0)
        H5Fclose(f);
    if (tmp[0] != '\0')
        remove(tmp);
    free(absb);
    free(fexp);
    free(f32);
    free(u16);
    free(samp);
    free(flat);
    free(dmean);
    free(fmean);
    return st;
}

xanes_status sim_write_truth(const xanes_simulate_scene *sc, const char *path, xanes_error *err)
{
    const xanes_simulate_params *p = &sc->p;
    const size_t np = sc->np;
    char tmp[1100];
    xanes_status st = XANES_OK;
    double *ctr = malloc((2 * np + 1) * sizeof *ctr), *axes = malloc((3 * np + 1) * sizeof *axes);
    if (ctr == NULL || axes == NULL) {
        free(ctr);
        free(axes);
        return XANES_RAISE(err, XANES_ENOMEM, "%s: out of memory", path);
    }
    for (size_t i = 0; i < np; i++) {
        ctr[2 * i] = sc->parts[i].cy;
        ctr[2 * i + 1] = sc->parts[i].cx;
        axes[3 * i] = sc->parts[i].a;
        axes[3 * i + 1] = sc->parts[i].b;
        axes[3 * i + 2] = sc->parts[i].c;
    }
    if (temp_name(path, tmp, sizeof tmp) != 0) {
        free(ctr);
        free(axes);
        return XANES_RAISE(err, XANES_EIO, "%s: cannot create a temporary file beside it", path);
    }
    hid_t f = create_untimed_file(tmp, -1, NULL);
    hsize_t map[2] = {sc->ny, sc->nx}, sh[2] = {sc->ne, 2}, e1[1] = {sc->ne}, p1[1] = {np},
            p2[2] = {np, 2}, p3[2] = {np, 3};
    herr_t r = f >= 0 ? 0 : -1;
#define W(expr)                                                                                    \
    if (r >= 0)                                                                                    \
    r = (expr)
    W(write_all(f, "edge_energy", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, map, sc->truth_edge, "eV"));
    W(write_all(f, "soc", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, map, sc->truth_soc, NULL));
    W(write_all(f, "edge_jump", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, map, sc->truth_jump, NULL));
    W(write_all(f, "labels", H5T_STD_I32LE, H5T_NATIVE_INT32, 2, map, sc->labels, NULL));
    W(write_all(f, "shifts", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, sh, sc->shifts, "px"));
    W(write_all(f, "energy_true_ev", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, e1, sc->e_true, "eV"));
    W(write_all(f, "energy_nominal_ev", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, e1, sc->e_nom, "eV"));
    W(write_scalar(f, "energy_offset_ev", p->energy_offset_ev, "eV"));
    W(write_all(f, "particle_soc", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, p1, sc->p_soc, NULL));
    W(write_all(f, "particle_edge_ev", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, p1, sc->p_edge, "eV"));
    W(write_all(f, "particle_edge_mean_ev", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, p1,
                sc->p_edge_mean, "eV"));
    W(write_all(f, "edge_energy_grid", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, map,
                sc->truth_edge_grid, "eV"));
    W(write_all(f, "particle_edge_grid_ev", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, p1,
                sc->p_edge_grid, "eV"));
    W(write_all(f, "particle_center_yx", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, p2, ctr, "px"));
    W(write_all(f, "particle_axes_px", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, p3, axes, "px"));
    W(write_attr_double(f, "seed", (double)p->seed));
    W(write_attr_double(f, "dose_counts", p->noise ? p->dose_counts : INFINITY));
    W(write_attr_double(f, "drift_px", p->drift_px));
    W(write_attr_double(f, "gradient_soc", p->gradient ? p->gradient_soc : 0.0));
    W(write_attr_double(f, "reference_edge_true_ev", sc->nio_edge_ev));
    W(write_attr_double(f, "reference_edge_grid_ev", sc->ref_edge_grid));
    W(write_attr_double(f, "edge_e0_ev", sc->edge_par.e0_ev));
    W(write_attr_double(f, "edge_pre1_ev", sc->edge_par.pre1_ev));
    W(write_attr_double(f, "edge_pre2_ev", sc->edge_par.pre2_ev));
    W(write_attr_double(f, "edge_norm1_ev", sc->edge_par.norm1_ev));
    W(write_attr_double(f, "edge_norm2_ev", sc->edge_par.norm2_ev));
    W(write_attr_double(f, "edge_nnorm", (double)sc->edge_par.nnorm));
    W(write_attr_double(f, "edge_half_level", sc->edge_par.half_level));
    W(write_attr_double(f, "edge_fine_step_ev", 1.0 / SIM_FINE_PER_EV));
    W(write_string(f, "config", p->config != NULL ? p->config : "", 1));
    W(write_string(f, "layout", p->layout == XANES_SIMULATE_FXI ? "fxi" : "aps", 1));
    W(write_string(f, "about",
                   "xanes simulate truth: edge_energy = physical edge of each pixel's noise-free "
                   "spectrum (standards.json edge_definition on a 0.05 eV grid); "
                   "edge_energy_grid / particle_edge_grid_ev = the same definition on the stack's "
                   "true energies (pixel / particle mean spectrum; see include/xanes/simulate.h); "
                   "shifts[k] = (dy,dx) of the sample in frame k relative to these maps; "
                   "energy_offset_ev = stored - true energy",
                   1));
#undef W
    if (r < 0)
        st = XANES_RAISE(err, XANES_EIO, "%s: writing the truth datasets failed", tmp);
    if (f >= 0 && H5Fclose(f) < 0 && st == XANES_OK)
        st = XANES_RAISE(err, XANES_EIO, "%s: closing the HDF5 file failed", tmp);
    if (st == XANES_OK && rename(tmp, path) != 0)
        st = XANES_RAISE(err, XANES_EIO, "%s: cannot rename the finished file to %s", tmp, path);
    if (st != XANES_OK)
        remove(tmp);
    free(ctr);
    free(axes);
    return st;
}

xanes_status sim_write_ref(xanes_simulate_scene *sc, const char *path, double *ref_edge_ev,
                           xanes_error *err)
{
    const xanes_simulate_params *p = &sc->p;
    char tmp[1100];
    if (temp_name(path, tmp, sizeof tmp) != 0)
        return XANES_RAISE(err, XANES_EIO, "%s: cannot create a temporary file beside it", path);
    FILE *fp = fopen(tmp, "w");
    if (fp == NULL) {
        remove(tmp);
        return XANES_RAISE(err, XANES_EIO, "%s: cannot open for writing", tmp);
    }
    fprintf(fp,
            "# XDI/1.0 xanes-simulate/%s\n# Column.1: energy eV\n# Column.2: mu\n"
            "# Element.symbol: Ni\n# Element.edge: K\n# Sample.name: NiO-like reference "
            "(simulated)\n# Sample.formula: NiO\n# Simulation.seed: %lu\n"
            "# Simulation.energy_grid: %s\n# ///\n"
            "# Simulated transmission spectrum of a NiO reference measured on the same\n"
            "# monochromator axis as the stack.  Shape: NiO, Based on the LISA XAS Repository\n"
            "# by Alessandro Puri, DOI 10.5281/zenodo.10778098 (CC BY 4.0).\n"
            "#------------------------\n#  energy  mu\n",
            xanes_version(), p->seed,
            p->ref_grid == XANES_SIMULATE_REF_STACK ? "stack (the stack's nominal energies)"
                                                    : "fine (uniform)");
    gsl_rng *rng = sc->rngs[0];
    gsl_rng_set(rng, sim_stream_seed(sc, SIM_REFERENCE, 0, 0));
    const int on_stack = p->ref_grid == XANES_SIMULATE_REF_STACK;
    size_t n = on_stack ? sc->ne
                        : (size_t)floor((p->ref_hi_ev - p->ref_lo_ev) / p->ref_step_ev + 1e-9) + 1;
    for (size_t i = 0; i < n; i++) {
        double e_nom = on_stack ? sc->e_nom[i] : p->ref_lo_ev + p->ref_step_ev * (double)i;
        double mu = xanes_simulate_reference_absorbance(sc, e_nom - p->energy_offset_ev);
        if (p->noise && p->ref_noise > 0)
            mu += gsl_ran_gaussian(rng, p->ref_noise);
        fprintf(fp, "  %.4f  %.8f\n", e_nom, mu);
    }
    int bad = ferror(fp);
    if (fclose(fp) != 0 || bad) {
        remove(tmp);
        return XANES_RAISE(err, XANES_EIO, "%s: writing failed", tmp);
    }
    if (rename(tmp, path) != 0) {
        remove(tmp);
        return XANES_RAISE(err, XANES_EIO, "%s: cannot rename the finished file to %s", tmp, path);
    }
    if (ref_edge_ev != NULL)
        *ref_edge_ev = sc->nio_edge_ev;
    return XANES_OK;
}
