/* results.h: the results file of `xanes run` (results.h5, NeXus/HDF5) and
 * the per-particle table (particles.csv).
 *
 * Layout of results.h5 (all written to a temporary file and renamed):
 *   /                       NX_class="NXroot", default="results", creator,
 *                           program="xanes", program_version, command_line
 *   /results                NX_class="NXdata", signal="edge_energy",
 *                           axes=[".", "."] (pixel grid)
 *     edge_energy  float32 [ny,nx]  eV, NaN outside the particle mask
 *     soc          float32 [ny,nx]  state of charge (units "1")      optional
 *     valence      float32 [ny,nx]  Ni valence (units "1")           optional
 *     labels       int32   [ny,nx]  0 = background, 1..N             optional
 *     edge_jump    float32 [ny,nx]  absorbance (units "1")           optional
 *     quality      float32 [ny,nx]  caller-named measure             optional
 *     energy       float64 [n_energy] calibrated eV, attribute energy_offset_ev
 *     energy_raw   float64 [n_energy] eV as measured (never overwritten),
 *                           attribute energy_offset_ev: energy = energy_raw + offset
 *     shifts       float64 [n_energy,2] (dy, dx) px applied to each frame;
 *                           NaN = frame not aligned                  optional
 *     particles/   NX_class="NXcollection": one float64/int32 dataset per
 *                  column of the particle table (names as in particles.csv)
 *   /parameters             NX_class="NXcollection": one attribute per
 *                           parameter used (strings and numbers)
 * Every dataset carries "units" and "long_name" attributes.
 */
#ifndef XANES_RESULTS_H
#define XANES_RESULTS_H

#include <stddef.h>
#include <stdint.h>

#include "xanes/status.h"

/* One row of the particle table (particles.csv and /results/particles). */
typedef struct {
    int32_t label;                /* 1..N, as in the label image */
    size_t area_px;               /* pixels in the particle */
    double centroid_x_px;         /* column of the centroid */
    double centroid_y_px;         /* row of the centroid */
    double edge_mean_ev;          /* mean of the pixel edge energies */
    double edge_std_ev;           /* their standard deviation */
    double edge_median_ev;        /* their median */
    double edge_mean_spectrum_ev; /* edge of the particle's averaged spectrum */
    double soc_mean;              /* mean state of charge */
    double valence_mean;          /* mean Ni valence */
    double overcharged_fraction;  /* share of pixels above the overcharge threshold */
} xanes_results_particle;

/* A parameter recorded in the file: text or number. */
typedef struct {
    const char *key;
    const char *value;
} xanes_results_text;

typedef struct {
    const char *key;
    double value;
} xanes_results_number;

/* Everything results.h5 holds.  All pointers are borrowed for the duration
 * of the write; NULL optional arrays are left out of the file. */
typedef struct {
    size_t ny, nx;                 /* map size */
    size_t n_energy;               /* energies of the stack */
    const float *edge_energy_ev;   /* [ny*nx], required */
    const float *soc;              /* [ny*nx] or NULL */
    const float *valence;          /* [ny*nx] or NULL */
    const int32_t *labels;         /* [ny*nx] or NULL */
    const float *edge_jump;        /* [ny*nx] or NULL */
    const float *quality;          /* [ny*nx] or NULL */
    const char *quality_long_name; /* e.g. "pre-edge noise / edge jump"; NULL = "quality" */
    const char *quality_units;     /* NULL = "1" */
    const double *energy_ev;       /* [n_energy] calibrated, required, finite, increasing */
    const double *energy_raw_ev;   /* [n_energy] as measured, or NULL */
    double energy_offset_ev;       /* energy_ev = energy_raw_ev + energy_offset_ev */
    const double *shifts_px;       /* [n_energy*2] (dy, dx) rows, or NULL */
    const xanes_results_particle *particles; /* [n_particles] or NULL when 0 */
    size_t n_particles;
    const char *command_line; /* NULL = "" */
    const xanes_results_text *text_params;
    size_t n_text_params;
    const xanes_results_number *number_params;
    size_t n_number_params;
} xanes_results;

/* Writes r to path as results.h5 (layout above), through a temporary file in
 * the same directory that is renamed over path only when complete.
 * Returns XANES_EINVAL (missing required arrays, empty map, non-finite or
 * non-increasing energies, energy_raw + offset differing from energy by more
 * than 1e-6 eV, NULL keys), XANES_EIO (cannot create, write or rename: the
 * message names the file and the dataset or attribute), XANES_ENOMEM.  On any
 * failure no file is left at path or beside it.  Thread-safe only when the
 * HDF5 library is built thread-safe (Debian's serial build is not): call from
 * one thread at a time. */
xanes_status xanes_results_write(const char *path, const xanes_results *r, xanes_error *err);

/* Header line of particles.csv (without newline). */
#define XANES_RESULTS_CSV_HEADER                                                                   \
    "label,area_px,centroid_x,centroid_y,edge_mean_ev,edge_std_ev,edge_median_ev,"                 \
    "edge_mean_spectrum_ev,soc_mean,valence_mean,overcharged_fraction"

/* Writes the particle table to path as CSV (header above, one row per
 * particle, centroids with 3 decimals, energies with 4, SoC, valence and
 * fraction with 5; a non-finite value is written as "nan"), atomically.
 * p may be NULL when n = 0 (header only).  XANES_EIO names the file;
 * XANES_EINVAL for NULL p with n > 0.  Thread-safe. */
xanes_status xanes_results_write_particles_csv(const char *path, const xanes_results_particle *p,
                                               size_t n, xanes_error *err);

#endif
