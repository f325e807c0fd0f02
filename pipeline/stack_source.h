/* stack_source.h: private interface between stack_layout.c (open the file,
 * recognise its layout, check shapes and energies) and stack.c (stream the
 * frames and correct them).  Not installed. */
#ifndef XANES_STACK_SOURCE_H
#define XANES_STACK_SOURCE_H

#include <hdf5.h>

#include "stack_correct.h"
#include "xanes/stack.h"

/* One dataset of the file (stack, flat, dark or energy). */
typedef struct {
    hid_t id;       /* H5I_INVALID_HID when absent                  */
    char name[256]; /* full path in the file, "" when absent        */
    int rank;
    hsize_t dims[3];
    size_t n_frames;   /* flats/darks: frames (1 for a 2-D dataset)    */
    char dtype[24];    /* "uint16", "float32" ...                      */
    double saturation; /* integer type maximum; INFINITY for floats    */
    int chunked;
    int gzip;
} stack_dset;

typedef struct {
    char path[512];
    unsigned long long file_size; /* bytes */
    hid_t file;
    xanes_stack_layout layout;
    char layout_reason[160];
    xanes_stack_kind kind;
    stack_dset stack, flat, dark, energy;
    int flats_applied;   /* flat/dark enter the correction             */
    int flat_per_energy; /* flat frame k for energy k, else averaged   */
    int dark_per_energy;
    int dark_missing; /* raw counts, no dark: dark = 0              */
    size_t n_energy, ny, nx;
    double *energy_file; /* [n_energy] as stored                       */
    double *energy_ev;   /* [n_energy]                                 */
    xanes_energy_unit energy_unit;
    char energy_unit_source[96];
    double pixel_size_nm;
    char pixel_size_text[64];
    double magnification;
} stack_source;

/* ---- HDF5 helpers (stack_h5.c) ---------------------------------------- */

/* The innermost message of HDF5's current error stack into buf[200] ("" if
 * none); call right after the failing HDF5 call. */
const char *sh5_reason(char *buf);

/* A dataset slot that is absent (id invalid, saturation infinite). */
void sh5_dset_init(stack_dset *d);
void sh5_dset_close(stack_dset *d);

/* Nonzero when every component of the absolute path exists, and when it is
 * a dataset. */
int sh5_link_exists(hid_t file, const char *path);
int sh5_is_dataset(hid_t file, const char *path);

/* A one-element string (fixed or variable length, any character set) of a
 * dataset (is_attr 0) or attribute (1) into buf.  0 on success, -1 when not
 * a one-element string, -2 when its heap reference is corrupt. */
int sh5_read_text(hid_t obj, int is_attr, char *buf, size_t size);

/* Raw-byte checks of structures HDF5 1.10 trusts (stack_raw.c).  Each
 * returns 1 when sound or not checkable, 0 when corrupt: the global-heap
 * reference of a scalar variable-length string dataset or attribute, and
 * every attribute message in the (version 1) object header of obj, which
 * H5Aexists and H5Aopen decode. */
int sh5_vlen_heap_ok(hid_t dset);
int sh5_attr_heap_ok(hid_t attr);
int sh5_attr_messages_ok(hid_t obj);
/* The old-style group symbol tables (v1 B-trees, symbol nodes, local
 * heaps) of the whole file point inside it; 1 when sound or not checkable
 * (superblock version 2 and later), 0 when corrupt. */
int sh5_groups_ok(hid_t file);

/* Root dataset or attribute `name`: text when it is a string, else *num.
 * 0 when found, -2 when it is a string with a corrupt heap reference,
 * -1 otherwise. */
int sh5_read_meta(hid_t file, const char *name, char *text, size_t size, double *num);

/* H5Lvisit callback collecting "name [dims]" of up to 12 datasets. */
typedef struct {
    char *buf;
    size_t size;
    size_t count;
} sh5_listing;
herr_t sh5_list_cb(hid_t group, const char *name, const H5L_info_t *info, void *data);

/* Opens dataset `name` of src->file into d (rank <= 3, numeric type, chunk
 * cache for one frame).  `role` ("stack", "flat field" ...) names it in
 * messages.  XANES_EFORMAT (missing, a group, rank > 3, not numbers),
 * XANES_EIO. */
xanes_status sh5_open_dset(stack_source *src, const char *name, const char *role, stack_dset *d,
                           xanes_error *err);

/* "60x512x512" for messages. */
const char *sh5_dims_text(const stack_dset *d, char *buf, size_t size);

/* ---- the source (stack_layout.c) -------------------------------------- */

/* Opens path, recognises the layout, opens and checks every dataset, reads
 * and checks the energies.  On failure everything opened is closed again.
 * Statuses as xanes_stack_read. */
xanes_status stack_source_open(const char *path, const xanes_stack_options *opt, stack_source *src,
                               xanes_error *err);

/* Closes every HDF5 id and frees the energies.  Safe on a zeroed or
 * already-closed source. */
void stack_source_close(stack_source *src);

/* Reads rows [y0, y0 + n_rows) of frame `frame` of d (a 2-D dataset has one
 * frame) into buf[n_rows * nx] as doubles.  XANES_EIO on a read failure
 * (corrupt chunk, truncated data), with the HDF5 reason in the message. */
xanes_status stack_dset_read_rows(const stack_source *src, const stack_dset *d, size_t frame,
                                  size_t y0, size_t n_rows, double *buf, xanes_error *err);

/* The same into buf in memory type mem_type (e.g. H5T_NATIVE_UINT16 for a
 * uint16 dataset: no HDF5 type conversion, a quarter of the bytes of
 * doubles, converted by the caller inside its parallel loop). */
xanes_status stack_dset_read_rows_as(const stack_source *src, const stack_dset *d, size_t frame,
                                     size_t y0, size_t n_rows, hid_t mem_type, void *buf,
                                     xanes_error *err);

/* Whether the frames of the 3-D uint16 stack d can be read straight from
 * the file, bypassing HDF5: little-endian uint16 on a little-endian host, no
 * user block, and either contiguous storage in this file or one unfiltered
 * chunk per whole frame.  On 1, off[frame] (d->dims[0] entries) holds each
 * frame's byte offset, every frame lying inside the file.  0 otherwise
 * (read through HDF5 then). */
int sh5_direct_offsets(const stack_source *src, const stack_dset *d, unsigned long long *off);

/* ---- the raw-uint16 paths (stack_fixed.c) ------------------------------ */

/* Pixel-wise mean of every frame of d over rows [y0, y0 + n_rows) into avg
 * (tmp: n_rows * nx doubles of scratch); a pixel saturated in any frame
 * stays at the saturation value.  XANES_EIO on a read failure. */
xanes_status stack_average_frames(const stack_source *src, const stack_dset *d, size_t y0,
                                  size_t n_rows, double *restrict avg, double *restrict tmp,
                                  xanes_error *err);

/* For references the same for every frame: classifies each of the n
 * pixels into cls (STACK_REF_*), replaces flat by f - d and writes 1/(f - d)
 * into inv (1 where the class is not OK).  dark may be NULL (0). */
void stack_prepare_fixed_refs(size_t n, double *restrict flat, const double *restrict dark,
                              double sat_flat, unsigned char *restrict cls, double *restrict inv);

/* Every frame of raw uint16 counts (pixels [0, n), whole frames at byte
 * offsets off[] of fd) corrected under refs into dest [n_energy][n], block
 * of pixels by block; per-frame counts added to counts[], [*vmin, *vmax]
 * widened by the counts seen.  XANES_EIO when a frame cannot be read,
 * XANES_ENOMEM. */
xanes_status stack_correct_fixed_blocks(const stack_source *src, int fd,
                                        const unsigned long long *off, size_t n,
                                        const stack_fixed_refs *refs, float *dest,
                                        xanes_stack_frame_counts *counts, double *vmin,
                                        double *vmax, xanes_error *err);

/* Every frame of raw uint16 counts (whole frames at off[] of fd) under the
 * uint16 flat of its own energy (whole frames at foff[] of fd) and the
 * fixed dark[n] (NULL: none), corrected into dest [n_energy][n] with the
 * floats of the per-frame path; counts and range as above.  XANES_EIO when
 * a frame of counts or of flat cannot be read, XANES_ENOMEM. */
xanes_status stack_correct_flat_blocks(const stack_source *src, int fd,
                                       const unsigned long long *off,
                                       const unsigned long long *foff, size_t n, const double *dark,
                                       float *dest, xanes_stack_frame_counts *counts, double *vmin,
                                       double *vmax, xanes_error *err);

/* One frame img16 (n pixels, already read) corrected under refs into out,
 * in parallel pieces; counts and range as above. */
void stack_correct_frame_u16_fixed(size_t n, const uint16_t *restrict img16,
                                   const stack_fixed_refs *refs, float *restrict out,
                                   xanes_stack_frame_counts *c, double *vmin, double *vmax);

#endif
