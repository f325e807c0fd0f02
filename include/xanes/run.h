/* run.h: the orchestration of `xanes run`, one TXM-XANES stack to calibrated
 * edge-energy, SoC and particle maps.
 *
 * The stages, each from its own header, in order:
 *   read + correct (stack.h) -> energy offset (calibrate.h, from a measured
 *   reference spectrum, or given) -> drift alignment (align.h) -> per-pixel
 *   normalization, edge energy, edge jump and noise gate (edgemap.h) ->
 *   particle mask and labels (segment.h) -> per-particle statistics and SoC
 *   (particles.h) -> results.h5, particles.csv, PNG figures (results.h,
 *   figure.h).
 * This stage adds no science: it owns the buffers between the stages, times
 * them, and writes the outputs of a run into one directory atomically.
 *
 * Energies: the raw energies of the file are kept (energy_raw_ev) and the
 * offset is stored beside them; energy_ev = energy_raw_ev + energy_offset_ev
 * is what every stage after the calibration sees (calibrate.h's sign).
 */
#ifndef XANES_RUN_H
#define XANES_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "xanes/align.h"
#include "xanes/calibrate.h"
#include "xanes/denoise.h"
#include "xanes/edgemap.h"
#include "xanes/footprint.h"
#include "xanes/particles.h"
#include "xanes/segment.h"
#include "xanes/spectrum.h"
#include "xanes/stack.h"
#include "xanes/status.h"

/* Timed stages, in pipeline order (xanes_run_result.seconds). */
typedef enum {
    XANES_RUN_STAGE_READ = 0,  /* HDF5 read + dark/flat correction to absorbance */
    XANES_RUN_STAGE_CALIBRATE, /* energy offset from the reference spectrum      */
    XANES_RUN_STAGE_ALIGN,     /* drift estimate + resampling of the frames      */
    XANES_RUN_STAGE_EDGEMAP,   /* per-pixel normalization + edge + jump + gate   */
    XANES_RUN_STAGE_SEGMENT,   /* mask, labels, split of touching particles      */
    XANES_RUN_STAGE_DENOISE,   /* spectral subspace, edge map of projected pixels */
    XANES_RUN_STAGE_PARTICLES, /* per-particle statistics, SoC, valence          */
    XANES_RUN_STAGE_WRITE,     /* results.h5, particles.csv, figures             */
    XANES_RUN_N_STAGES
} xanes_run_stage;

/* Name of a stage ("read", "calibrate", ...); never NULL. */
const char *xanes_run_stage_name(xanes_run_stage stage);

/* Called between stages (and never from inside a parallel region) with the
 * stage about to start; for a progress indication.  Must not call back into
 * the run. */
typedef void (*xanes_run_progress_fn)(void *user, xanes_run_stage stage);

typedef struct {
    xanes_stack_options stack; /* reader options (layout, dataset paths, ...)     */
    /* Energy calibration: with calib_path, the offset comes from that measured
     * reference spectrum whose true edge is ref_edge_ev (by the `edge`
     * definition below); otherwise energy_offset_ev is used as given (0 by
     * default).  Giving both is XANES_EINVAL. */
    const char *calib_path;
    xanes_spectrum_options calib_spectrum; /* how to read calib_path             */
    double ref_edge_ev;                    /* NaN = not given                     */
    double energy_offset_ev;               /* NaN = not given (0 is used)         */
    xanes_calibrate_params calibrate;      /* its .edge is set from `edge`        */
    /* Edge definition for the pixel map, the particle spectra and the
     * calibration alike (half-height crossing by default); it overrides
     * edgemap.method and calibrate.edge. */
    xanes_edgemap_method edge;
    /* Nonzero (default): every edge energy (pixels, particle spectra, the
     * reference spectrum) uses the normalization of the standards file's
     * edge_definition (e0 fixed at the anchor standard's edge, its windows
     * and nnorm; standards.h), for the reference with e0 moved onto the
     * uncalibrated axis by the offset found (iterated).  Finite values given
     * in edgemap.norm (and nnorm >= 0) still win.  Zero: larch's rules
     * (find_e0 of the mean spectrum, default windows). */
    int use_edge_definition;
    int align; /* nonzero: estimate and apply drift (1) */
    xanes_align_params align_params;
    xanes_edgemap_params edgemap;
    xanes_segment_params segment; /* .min_area_px is --min-area           */
    /* Nonzero (default): the spectra of the particle pixels, and each
     * particle's averaged spectrum, are projected onto a spectral subspace
     * before their edges are found (subspace.h, denoise.h): that of the
     * averaged spectra themselves when the jump map is not noise-limited
     * and it has a rank, else that of the particle pixels' 2 x 2 blocks;
     * zero: raw spectra. */
    int denoise;
    xanes_subspace_params subspace;
    /* A jump map is noise-limited when the segmentation's Otsu contrast
     * (class separation in smoothed-noise sigmas, segment.h) is below this
     * (20: simulated stacks give 6-8 at 300 counts, 39-44 at 10^4).  Then,
     * with segment_smooth_auto (default on), the segmentation is redone with
     * the map smoothed at segment_smooth_noisy_px (2 px) instead of
     * segment.smooth_px, and kept when its Otsu contrast is at least
     * segment_smooth_min_gain (1.5) times the first one (run_stages.c says
     * why). */
    double noise_limited_contrast;
    int segment_smooth_auto;
    double segment_smooth_noisy_px;
    double segment_smooth_min_gain;
    /* Each particle's averaged spectrum (and the subspace) is taken over its
     * label grown by this radius into the background (footprint.h), so that
     * it does not depend on which rim pixels noise let through the
     * threshold; 0 = the label itself.  NaN (default) = automatic: 1 px when
     * the jump map is noise-limited (above), else 0.  Measured
     * on simulated 128^2 NCM stacks (3 configurations x 3 seeds, drift 2 px):
     * at 300 counts (contrast 6-8) the averaged-spectrum edges were 0.25 eV
     * rms off with the bare masks and 0.14 eV grown by 1 px; at 10^4 counts
     * (contrast 39-44) 0.035 eV bare and 0.054 grown, because the grown rim
     * carries the resampling error of the drift correction where the
     * thickness changes fastest. */
    double footprint_px;
    /* Overcharge threshold; NaN = the standards file's overcharge_threshold_ev. */
    double overcharge_ev;
    const char *standards_path; /* NULL = calibration/standards.json    */
    /* Recorded in results.h5 (NULL = ""). */
    const char *command_line;
    xanes_run_progress_fn progress; /* NULL = none                          */
    void *progress_user;
} xanes_run_params;

/* Fills p with the defaults of every stage (each stage's _default_ function),
 * no calibration, alignment on, half-height edge, overcharge threshold from
 * the standards file. */
void xanes_run_default_params(xanes_run_params *p);

/* Leading eigenvalues of the spectral subspace kept in a run result. */
#define XANES_RUN_N_EIGENVALUES 8

/* Everything a run produced, in memory.  All arrays are owned by the result
 * (free with xanes_run_result_free).  Maps are [ny * nx] row-major. */
typedef struct {
    size_t ny, nx, n_energy;
    double *energy_raw_ev; /* [n_energy] as stored in the file, eV          */
    double *energy_ev;     /* [n_energy] calibrated = raw + offset, eV      */
    double energy_offset_ev;
    const char *offset_source;       /* "none", "given", "reference spectrum"         */
    xanes_normalize_result ref_norm; /* normalization of the reference spectrum */
    double ref_measured_edge_ev;     /* edge of the reference on the raw axis; NaN    */
    double ref_edge_ev;              /* its known true edge; NaN without --calib      */
    double *shifts_px;               /* [n_energy][2] (dy, dx) applied, px; NaN for
                                        frames not aligned; all 0 without alignment   */
    unsigned char *frame_ok;         /* [n_energy] 1 = aligned (all 1 without)        */
    int aligned;                     /* nonzero: the alignment stage ran              */
    size_t n_frames_not_aligned;
    float *edge_ev;   /* edge energy, eV, NaN outside the particles    */
    float *soc;       /* state of charge, NaN outside                  */
    float *valence;   /* Ni valence, NaN outside                       */
    float *edge_jump; /* edge step (absorbance), NaN where no fit      */
    float *noise;     /* pre-edge RMS residual (absorbance), the noise
                         of the gate in edgemap.h; NaN where no fit   */
    int32_t *labels;  /* 0 background, 1..n_particles                  */
    xanes_edgemap_counts edgemap_counts;
    xanes_normalize_result norm; /* the normalization used for every pixel and
                                    every particle spectrum (e0, ranges)        */
    xanes_segment_info segment_info;
    /* The subspace of the particle pixels' blocks: rank 0 when denoise is
     * off or there were too few blocks; its eigenvalues and threshold. */
    size_t subspace_rank, subspace_blocks;
    double subspace_eval[XANES_RUN_N_EIGENVALUES];
    double subspace_threshold;
    /* The subspace of the particles' averaged spectra themselves
     * (xanes_subspace_fit_means), which projects them and the pixels when
     * its rank is not 0 (else the block subspace does): rank, spectra used,
     * threshold; rank 0 when the jump map is noise-limited. */
    size_t means_subspace_rank, means_subspace_spectra;
    double means_subspace_threshold;
    xanes_denoise_info denoise_info; /* gate counts of the projected pixels   */
    /* [ny * nx] labels grown by footprint_px (footprint.h), and the radius. */
    int32_t *footprints;
    double footprint_px;
    /* Smoothing of the jump map used for the labels, px. */
    double segment_smooth_px;
    /* The jump map as first smoothed had Otsu contrast below
     * noise_limited_contrast. */
    int noise_limited;
    xanes_particle *particles; /* [n_particles] */
    size_t n_particles;
    /* Summary over particles with a finite mean edge. */
    double particle_edge_mean_ev; /* mean of the particles' edge_mean_ev          */
    double particle_edge_std_ev;  /* their sample standard deviation              */
    size_t n_overcharged;         /* particles whose edge_mean_ev > threshold     */
    double overcharge_ev;         /* threshold used                               */
    char layout_name[16];
    char stack_file[512];    /* the stack file read                          */
    int threads;             /* OpenMP threads available to the stages       */
    double pixel_size_nm;    /* NaN when the file does not say               */
    char stack_warning[400]; /* "" or the reader's warning                   */
    /* "" or where the edge definition's fit windows were cut to the end of
     * the reference's or the stack's scan */
    char window_warning[600];
    double seconds[XANES_RUN_N_STAGES];     /* wall time per stage, s           */
    double cpu_seconds[XANES_RUN_N_STAGES]; /* process CPU time (all threads)
                                               per stage, s: on a shared machine
                                               the one-thread CPU time is the
                                               uncontended cost                 */
} xanes_run_result;

void xanes_run_result_free(xanes_run_result *r); /* NULL is a no-op */

/* Runs every stage on the stack file stack_path (p NULL = defaults) and
 * returns the result in memory, writing nothing.  The stack itself is freed
 * before returning (it is the one big buffer: one float32 copy).  On success
 * *out is new and owned by the caller; on failure *out is NULL.
 * Returns the statuses of the stages, each message prefixed by the file it
 * concerns: XANES_EINVAL (bad parameters, both --calib and an offset),
 * XANES_EIO / XANES_EFORMAT / XANES_EDATA (unreadable or inconsistent stack or
 * reference spectrum, a reference whose energy range misses the stack's, no
 * usable pixel), XANES_ENOMEM.  Uses OpenMP inside the stages (the results
 * do not depend on the thread count).  Not thread-safe (HDF5). */
xanes_status xanes_run_process(const char *stack_path, const xanes_run_params *p,
                               xanes_run_result **out, xanes_error *err);

/* Writes the outputs of r into the directory outdir: results.h5,
 * particles.csv, edge_map.png, soc_map.png, particles.png and
 * edge_histogram.png.  All are written into a new sibling directory
 * "<outdir>.tmp-<pid>" first; only when every file is complete are they moved
 * into outdir (a rename of the whole directory when outdir does not exist,
 * else a rename of each file over its older version), so a failure leaves
 * outdir as it was and removes the temporary directory.  p must be the
 * parameters of the run (recorded in results.h5).  Returns XANES_EINVAL
 * (NULL, outdir empty or an existing non-directory), XANES_EIO (cannot
 * create or write; the message names the file), XANES_EDATA (nothing finite
 * to draw), XANES_ENOMEM.  Not thread-safe (HDF5). */
xanes_status xanes_run_write(const xanes_run_result *r, const xanes_run_params *p,
                             const char *outdir, xanes_error *err);

/* xanes_run_process followed by xanes_run_write (the `xanes run` command);
 * *out (may be NULL) receives the result for the summary.  A failure at any
 * stage leaves outdir untouched. */
xanes_status xanes_run(const char *stack_path, const xanes_run_params *p, const char *outdir,
                       xanes_run_result **out, xanes_error *err);

#endif
