/* stack_source.h: private interface between stack_layout.c (open the file,
 * recognise its layout, check shapes and energies) and stack.c (stream the
 * frames and correct them).  Not installed. */
#ifndef XANES_STACK_SOURCE_H
#define XANES_STACK_SOURCE_H

#include <hdf5.h>

#include "xanes/stack.h"

/* One dataset of the file (stack, flat, dark or energy). */
typedef struct {
    hid_t id;            /* H5I_INVALID_HID when absent                  */
    char name[256];      /* full path in the file, "" when absent        */
    int rank;
    hsize_t dims[3];
    size_t n_frames;     /* flats/darks: frames (1 for a 2-D dataset)    */
    char dtype[24];      /* "uint16", "float32" ...                      */
    double saturation;   /* integer type maximum; INFINITY for floats    */
    int chunked;
    int gzip;
} stack_dset;

typedef struct {
    char path[512];
    hid_t file;
    xanes_stack_layout layout;
    char layout_reason[160];
    xanes_stack_kind kind;
    stack_dset stack, flat, dark, energy;
    int flats_applied;      /* flat/dark enter the correction             */
    int flat_per_energy;    /* flat frame k for energy k, else averaged   */
    int dark_per_energy;
    int dark_missing;       /* raw counts, no dark: dark = 0              */
    size_t n_energy, ny, nx;
    double *energy_file;    /* [n_energy] as stored                       */
    double *energy_ev;      /* [n_energy]                                 */
    xanes_energy_unit energy_unit;
    char energy_unit_source[64];
    double pixel_size_nm;
    char pixel_size_text[64];
    double magnification;
} stack_source;

/* Opens path, recognises the layout, opens and checks every dataset, reads
 * and checks the energies.  On failure everything opened is closed again.
 * Statuses as xanes_stack_read. */
xanes_status stack_source_open(const char *path, const xanes_stack_options *opt,
                               stack_source *src, xanes_error *err);

/* Closes every HDF5 id and frees the energies.  Safe on a zeroed or
 * already-closed source. */
void stack_source_close(stack_source *src);

/* Reads rows [y0, y0 + n_rows) of frame `frame` of d (a 2-D dataset has one
 * frame) into buf[n_rows * nx] as doubles.  XANES_EIO on a read failure
 * (corrupt chunk, truncated data), with the HDF5 reason in the message. */
xanes_status stack_dset_read_rows(const stack_source *src, const stack_dset *d, size_t frame,
                                  size_t y0, size_t n_rows, double *buf, xanes_error *err);

#endif
