/* particles.h: stage 6 of `xanes run`, per-particle statistics and state of
 * charge.
 *
 * For every label 1..N of the segmentation the stage reports the particle's
 * area and centroid, the mean, standard deviation and median of the finite
 * per-pixel edge energies, the edge energy of the particle's averaged
 * spectrum (robust at low dose, where single pixels are too noisy; computed
 * with the same 1-D core code as the pixels, normalize.h/edge.h), the mean
 * state of charge and Ni valence of its pixels from the calibration scales
 * (standards.h), and the fraction of its pixels above the overcharge
 * threshold.  Results do not depend on the number of threads.
 */
#ifndef XANES_PARTICLES_H
#define XANES_PARTICLES_H

#include <stddef.h>
#include <stdint.h>

#include "xanes/normalize.h"
#include "xanes/standards.h"
#include "xanes/status.h"
#include "xanes/subspace.h"

/* One row of the particle table.  Statistics over "valid" pixels use the
 * pixels of the particle whose edge energy is finite (n_valid_px of them);
 * a statistic with too few valid pixels is NaN (mean, median, SoC, valence,
 * overcharged fraction need 1, the standard deviation 2). */
typedef struct {
    int32_t label;                /* 1..N, as in the label image                       */
    size_t area_px;               /* pixels carrying the label                         */
    double centroid_x_px;         /* mean column index of those pixels (pixel centres
                                   * at integer coordinates, 0 = first column)         */
    double centroid_y_px;         /* mean row index                                    */
    size_t n_valid_px;            /* pixels with a finite edge energy                  */
    double edge_mean_ev;          /* mean of the valid pixel edge energies, eV         */
    double edge_std_ev;           /* their sample standard deviation (n - 1), eV       */
    double edge_median_ev;        /* their median, eV                                  */
    size_t n_spectrum_px;         /* pixels averaged into the particle spectrum: all
                                   * labelled pixels whose spectrum is finite at every
                                   * energy (edge-gated pixels included)              */
    double edge_mean_spectrum_ev; /* edge of the averaged spectrum, eV; NaN when no
                                   * stack was given, no pixel qualified, or the core
                                   * found no edge                                     */
    double edge_step_spectrum;    /* edge step of the averaged spectrum (absorbance)   */
    double soc_mean;              /* mean over valid pixels of soc(edge)               */
    double valence_mean;          /* mean over valid pixels of valence(edge)           */
    double overcharged_fraction;  /* valid pixels strictly above the overcharge
                                   * threshold / n_valid_px                            */
} xanes_particle;

/* Which edge energy of the averaged spectrum is reported (the same choice as
 * the per-pixel map: the core's half-height crossing or derivative maximum). */
typedef enum {
    XANES_PARTICLES_EDGE_HALF = 0,
    XANES_PARTICLES_EDGE_DERIV
} xanes_particles_edge_kind;

/* The data of one call; every pointer is borrowed for the call only. */
typedef struct {
    size_t ny, nx;         /* map size                                        */
    const int32_t *labels; /* [ny * nx], 0 background, 1..n_labels           */
    size_t n_labels;
    const float *edge_ev;    /* [ny * nx] per-pixel edge energy, NaN = none    */
    const float *stack;      /* [n_energy][ny][nx] absorbance, or NULL: no
                              * averaged spectra                                */
    const double *energy_ev; /* [n_energy] calibrated energies, increasing      */
    size_t n_energy;
    /* How the averaged spectra are normalized: with plan (built on energy_ev,
     * typically the very plan of the per-pixel edge map) when non-NULL, else
     * xanes_normalize_run with norm_params (NULL = larch defaults). */
    const xanes_normalize_plan *plan;
    const xanes_normalize_params *norm_params;
    xanes_particles_edge_kind edge_kind;
    /* When non-NULL, each averaged spectrum is projected onto this spectral
     * subspace (subspace.h, typically fitted to the same stack and labels)
     * before its edge is found: the noise outside the subspace goes, the
     * edge definition stays the same. */
    const xanes_subspace *subspace;
    /* Labels [ny * nx] over which the averaged spectra are taken, e.g. the
     * footprints of footprint.h (same label numbers, values 0..n_labels);
     * NULL = labels.  Pixel statistics always use labels. */
    const int32_t *spectrum_labels;
    /* Valence / SoC scales and overcharge threshold; NULL leaves soc_mean,
     * valence_mean and overcharged_fraction NaN. */
    const xanes_standards *standards;
    /* Optional [ny * nx]: NaN exactly where a pixel's spectrum holds a
     * non-finite value (the jump map of xanes_edgemap_run is such a map).
     * When given, the averaged spectra take their valid pixels from it
     * instead of a pass over the whole stack; NULL: that pass. */
    const float *finite_hint;
    /* Optional: the averaged spectra [n_labels][n_energy] and pixel counts
     * [n_labels] as xanes_particles_mean_spectra gives them for this same
     * input, e.g. computed before to fit xanes_subspace_fit_means; when
     * both are given they are used instead of a second pass. */
    const double *mean_spectra;
    const size_t *mean_counts;
} xanes_particles_input;

/* Computes one xanes_particle per label 1..in->n_labels (a label without
 * pixels gives area 0 and NaN statistics).  On success *out is a new array of
 * *n_out = n_labels entries owned by the caller (free with
 * xanes_particles_free; NULL when n_labels is 0).
 * Returns XANES_EINVAL (NULL input or outputs, empty map, missing edge_ev or
 * labels, a stack without energies or with fewer than 7 energies),
 * XANES_EDATA (a label outside 0..n_labels: the message gives the pixel and
 * value; non-increasing energies), XANES_ENOMEM.  An averaged spectrum the
 * core cannot normalize is not an error: its edge is NaN.  On error *out is
 * NULL and *n_out 0.  Uses OpenMP over frames and particles; the result is
 * independent of the thread count (every sum runs in raster order).
 * Thread-safe for distinct outputs. */
xanes_status xanes_particles_compute(const xanes_particles_input *in, xanes_particle **out,
                                     size_t *n_out, xanes_error *err);

/* Frees an array from xanes_particles_compute; NULL is a no-op. */
void xanes_particles_free(xanes_particle *p);

/* The averaged spectra themselves (for figures and checks): mean[n_labels *
 * n_energy] (caller-owned; row l-1 is label l, NaN when no pixel qualified)
 * and count[n_labels] (may be NULL) pixels averaged.  Same rules, statuses and
 * determinism as xanes_particles_compute. */
xanes_status xanes_particles_mean_spectra(const xanes_particles_input *in, double *mean,
                                          size_t *count, xanes_error *err);

#endif
