/* stack.h: the HDF5 TXM-XANES stack reader and the correction to absorbance.
 *
 * A stack is a float32 block [n_energy][ny][nx] (row-major, frame k, row y,
 * column x at absorbance[(k * ny + y) * nx + x]) of absorbance -ln(I/I0),
 * with one energy in eV per frame.  The reader recognises the layouts that
 * beamlines write (NSLS-II FXI 18-ID, APS 32-ID data exchange) from the
 * datasets present, or takes any file through explicit dataset paths
 * ("custom", e.g. NeXus /entry/data/data).  It reads frame by frame through
 * HDF5 hyperslabs, so the peak memory is one float32 copy of the block read
 * plus a few frames of scratch, and it can read any block of rows
 * [row_begin, row_begin + n_rows) of every frame, which is how later stages
 * (and, later, MPI ranks) split a stack that does not fit in memory.
 *
 * Invalid pixels (non-positive or zero-written values, detector saturation at
 * the integer type's maximum, NaN/Inf in the file) become NaN in the output,
 * never -inf, and are counted per frame.
 */
#ifndef XANES_STACK_H
#define XANES_STACK_H

#include <stddef.h>

#include "xanes/spectrum.h" /* xanes_energy_unit */
#include "xanes/status.h"

typedef enum {
    XANES_LAYOUT_AUTO = 0, /* detect from the datasets present               */
    XANES_LAYOUT_FXI,      /* /img_xanes, /img_bkg, /img_dark, /X_eng         */
    XANES_LAYOUT_APS,      /* /exchange/data, data_white|data_flat, data_dark */
    XANES_LAYOUT_CUSTOM    /* dataset paths given in the options              */
} xanes_stack_layout;

/* What the values of the stack dataset are. */
typedef enum {
    XANES_STACK_RAW_COUNTS = 0, /* I: absorbance = -ln((I-D)/(F-D))          */
    XANES_STACK_TRANSMISSION,   /* T = I/I0 already: absorbance = -ln(T)     */
    XANES_STACK_ABSORBANCE      /* already -ln(I/I0): copied, NaN/Inf counted */
} xanes_stack_kind;

typedef struct {
    xanes_stack_layout layout;
    /* FXI: /img_xanes holds raw counts, so /img_bkg and /img_dark are applied
     * (by default the beamline exporter has already corrected it to
     * transmission and they are only reported).  An integer /img_xanes is
     * raw counts without it when a flat field is there. */
    int raw;
    /* The stack is already absorbance -ln(I/I0) (any layout; flats and darks
     * are then not applied). */
    int absorbance;
    /* Dataset paths.  Required for XANES_LAYOUT_CUSTOM (stack and energy;
     * with a flat the stack is raw counts, without one it is transmission
     * unless `absorbance`); for FXI/APS each one given replaces that layout's
     * default.  NULL = not given.  Giving stack_path alone with
     * XANES_LAYOUT_AUTO selects custom. */
    const char *stack_path;
    const char *flat_path;
    const char *dark_path;
    const char *energy_path;
    /* Unit of the file's energies; AUTO reads the dataset's `units`
     * attribute and checks it against the magnitude (below
     * kev_below_value: keV). */
    xanes_energy_unit energy_unit;
    double kev_below_value; /* 100: an edge energy below 100 is keV */
    double energy_min_ev;   /* plausible energy range after conversion, */
    double energy_max_ev;   /* 100 .. 150000 eV                          */
    size_t min_energies;    /* 10: fewer frames cannot make a XANES fit   */
    /* Transmission above this (2.0) is not noise around 1 but raw counts
     * read without --raw: the reader warns (and raw counts all below it are
     * warned about as probably transmission). */
    double transmission_max;
    /* Block of rows to read: [row_begin, row_begin + n_rows); n_rows = 0
     * means every row from row_begin to the end. */
    size_t row_begin;
    size_t n_rows;
} xanes_stack_options;

/* Fills opt with the defaults above (AUTO layout, no paths, all rows). */
void xanes_stack_default_options(xanes_stack_options *opt);

/* Invalid pixels of one frame; each invalid pixel is counted once, in the
 * first category that applies (non-finite, then saturated, then
 * non-positive). */
typedef struct {
    size_t nonfinite;   /* NaN/Inf in the stack, flat or dark           */
    size_t saturated;   /* I or F at the maximum of its integer type    */
    size_t nonpositive; /* I-D <= 0, F-D <= 0, or T <= 0 (zero-written) */
} xanes_stack_frame_counts;

typedef struct xanes_stack {
    size_t n_energy;
    size_t ny; /* rows held (the block read)                  */
    size_t nx;
    size_t row_begin;                   /* first file row held                         */
    size_t ny_file;                     /* rows of the file's frames                   */
    float *absorbance;                  /* [n_energy][ny][nx], owned                   */
    double *energy_ev;                  /* [n_energy], strictly increasing, owned      */
    double *energy_file;                /* [n_energy], the values as stored, owned     */
    xanes_energy_unit energy_unit_file; /* XANES_UNIT_EV or XANES_UNIT_KEV */
    xanes_stack_layout layout;
    xanes_stack_kind kind;
    char layout_name[16];                   /* "fxi", "aps", "custom"                      */
    double pixel_size_nm;                   /* NaN when the file does not say              */
    double magnification;                   /* NaN when the file does not say              */
    xanes_stack_frame_counts *frame_counts; /* [n_energy], owned          */
    size_t n_invalid;                       /* sum over frames and categories              */
    int dark_missing;                       /* raw counts without a dark: dark = 0 used    */
    size_t n_flats;                         /* flat frames in the file (0: none applied)   */
    size_t n_darks;
    char warning[400]; /* "" or why the data may be misread           */
    char path[512];
} xanes_stack;

/* Frees a stack and its arrays.  NULL is a no-op.  A large absorbance
 * block (64 MB and more) is handed back by all threads (OpenMP) first, its
 * size taken from n_energy, ny and nx, which must still describe it. */
void xanes_stack_free(xanes_stack *s);

/* Reads path as a TXM stack with the given options (NULL = defaults) and
 * converts it to absorbance.  On success *out is a new stack owned by the
 * caller (free with xanes_stack_free); on failure *out is NULL.
 * Returns XANES_EIO (cannot open or read: missing, corrupt or truncated file),
 * XANES_EFORMAT (not HDF5, layout not recognised (the message lists the
 * datasets found), missing dataset, wrong rank, shape mismatch between
 * stack/flat/dark/energy), XANES_EDATA (energies NaN/Inf, not strictly
 * increasing or duplicated, fewer than min_energies, unit contradicting its
 * magnitude or outside the plausible range), XANES_EINVAL (contradictory
 * options, row block outside the frame), XANES_ENOMEM.  Every message names
 * the file and the dataset.  HDF5 calls are serialised by the caller: not
 * thread-safe against other HDF5 use; the correction runs in OpenMP threads
 * and its result does not depend on their number. */
xanes_status xanes_stack_read(const char *path, const xanes_stack_options *opt, xanes_stack **out,
                              xanes_error *err);

/* What `xanes info` says about a stack file, found without keeping the data
 * (one streamed pass over the frames counts the invalid pixels). */
typedef struct xanes_stack_info {
    char path[512];
    xanes_stack_layout layout;
    char layout_name[16];
    char layout_reason[160]; /* why this layout: "found /img_xanes" ...   */
    xanes_stack_kind kind;
    size_t n_energy, ny, nx;
    char stack_dataset[256], flat_dataset[256], dark_dataset[256], energy_dataset[256];
    char stack_dtype[24], flat_dtype[24], dark_dtype[24], energy_dtype[24];
    int stack_chunked, stack_gzip;
    size_t n_flats, n_darks; /* frames; 0 when absent                     */
    int flats_applied;       /* 0: kept for reference only (FXI default)  */
    int flat_per_energy;     /* one flat per energy (else averaged)       */
    int dark_missing;        /* raw counts without dark: dark = 0         */
    xanes_energy_unit energy_unit_file;
    char energy_unit_source[96];             /* "units attribute 'keV'", "magnitude" ...  */
    double energy_file_min, energy_file_max; /* as stored                    */
    double energy_min_ev, energy_max_ev;
    double value_min, value_max;            /* finite values of the stack dataset        */
    double saturation_value;                /* integer type maximum, NaN for floats      */
    double pixel_size_nm;                   /* NaN if unknown                            */
    char pixel_size_text[64];               /* as stored, e.g. "21.3nm"                  */
    double magnification;                   /* NaN if unknown                            */
    double *energy_ev;                      /* [n_energy], owned                         */
    xanes_stack_frame_counts *frame_counts; /* [n_energy], owned              */
    size_t n_invalid;
    char warning[400]; /* "" or why the data may be misread          */
} xanes_stack_info;

/* Describes path without keeping the stack: the same checks as
 * xanes_stack_read (same statuses and messages), then one pass over the
 * frames for the value range and the per-frame invalid counts.  On success
 * *out is new and owned by the caller (free with xanes_stack_info_free).
 * Not thread-safe against other HDF5 use. */
xanes_status xanes_stack_probe(const char *path, const xanes_stack_options *opt,
                               xanes_stack_info **out, xanes_error *err);
void xanes_stack_info_free(xanes_stack_info *info); /* NULL is a no-op */

/* Nonzero when path starts with the HDF5 signature (a truncated HDF5 file
 * still does; a text spectrum does not).  Never fails: 0 for unreadable. */
int xanes_stack_is_hdf5(const char *path);

/* Short names for messages and JSON: "fxi", "raw counts", "keV" ... */
const char *xanes_stack_layout_name(xanes_stack_layout layout);
const char *xanes_stack_kind_name(xanes_stack_kind kind);

#endif
