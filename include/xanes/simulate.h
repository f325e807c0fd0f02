/* simulate.h: forward simulator of TXM-XANES stacks of NCM cathode particles
 * with known ground truth (`xanes simulate`).
 *
 * A scene is built once from a params struct and a seed: particles
 * (ellipsoids) with a state of charge each, per-energy sample drift, a flat
 * field.  From it the library computes noise-free absorbance frames, truth
 * maps, detector counts, and writes the stack (FXI or APS layout), the truth
 * file and a reference spectrum.  The simulator and the pipeline meet only
 * through files: `xanes run` never reads the truth.
 *
 * Conventions (all documented again in sample_scans/README.md):
 * - Energies: the nominal (stored) energy of frame k is params.energy_ev[k]
 *   or the built-in grid; the TRUE energy is nominal - energy_offset_ev, i.e.
 *   energy_offset_ev = stored - true.  Calibration must subtract it.
 * - Drift: shifts[k] = (dy, dx) px is where the sample sits in frame k
 *   relative to the truth maps: frame_k(y, x) = scene(y - dy, x - dx).  Each
 *   frame is evaluated analytically at the shifted coordinates, so the shift
 *   is exact (no interpolation).
 * - Edge energy: ONE definition for every Ni K-edge energy, read as data
 *   from calibration/standards.json "edge_definition" (the one `xanes run`
 *   uses; xanes_standards_edge_params): larch pre_edge semantics with e0
 *   FIXED at the anchor standard's edge (NCM_pristine, 8355.10 eV), pre-edge
 *   line over e0-50..e0-25 eV, post-edge line (nnorm 1) over e0+30..e0+90
 *   eV, edge = first crossing of norm = 0.5 (linear between samples).
 *   Evaluated by the spectral core (xanes_normalize_run / _plan).
 *   * physical edge: that definition on the simulator's fine grid
 *     E_k = e0 + k * 0.05 eV (k integer, covering the windows plus 5 eV);
 *     the simulator shifts the spectral shapes so that the physical edge of
 *     a one-particle pixel equals E(SoC) of the calibration scale and that
 *     of the NiO reference equals the NiO standard (8353.01 eV, true
 *     scale).  Shifts are solved to 1e-10 eV at the nodes of a table over
 *     SoC (0.025 apart, plus each particle's drawn SoC when there is no
 *     gradient, so uniform particles are placed exactly); between nodes
 *     the fine-grid edge carries a ~1e-4 eV ripple (linear interpolation
 *     of the crossing between 0.05 eV samples) that the table does not
 *     follow: with a gradient |edge - E(SoC)| < 3e-4 eV (tests/test_
 *     simulate.c measures 1.9e-4).
 *     Truth map `edge_energy`.
 *   * grid edge: the same definition applied (xanes_normalize_plan on the
 *     stack's TRUE energies) to each pixel's noise-free, drift-free spectrum
 *     sampled at those energies, and to each particle's mean spectrum over
 *     its label: what a perfect pipeline recovers from this grid.  Truth
 *     `edge_energy_grid`, `particle_edge_grid_ev`.  It differs from the
 *     physical edge by 0.0x-0.5 eV depending on where the sparse samples
 *     fall (a property of the measurement design).
 * - Default energy grid (FXI-like Ni K-edge scan): 8300-8450 eV, 40 % of
 *   the points uniform over 8340-8375 eV (the edge), the rest uniform below
 *   and above (35 % / 65 % of them); at 50 energies 11 points 3.6 eV apart
 *   below, 20 points 1.75 eV apart across the edge, 19 points ~4 eV above.
 * - RNG (GSL gsl_rng_mt19937 throughout): the scene is drawn from one
 *   generator seeded with params.seed, in a fixed order (particles, SoC,
 *   matrix texture, drift, flat field); the detector noise of each row of
 *   each frame comes from its own generator seeded with a splitmix64 hash of
 *   (seed, frame kind, frame index, row), so rows run in parallel and a seed
 *   gives identical bytes whatever the thread count.
 */
#ifndef XANES_SIMULATE_H
#define XANES_SIMULATE_H

#include <stddef.h>
#include <stdint.h>

#include "xanes/normalize.h"
#include "xanes/status.h"

typedef enum { XANES_SIMULATE_FXI = 0, XANES_SIMULATE_APS } xanes_simulate_layout;

typedef enum {
    XANES_SIMULATE_DTYPE_DEFAULT = 0, /* fxi: float32 transmission, aps: uint16 counts */
    XANES_SIMULATE_DTYPE_UINT16,      /* raw counts as uint16 (fxi: img_xanes holds raw counts) */
    XANES_SIMULATE_DTYPE_FLOAT32      /* aps: raw counts stored as float32 */
} xanes_simulate_dtype;

/* Energies of the reference spectrum (--ref-grid). */
typedef enum {
    XANES_SIMULATE_REF_STACK = 0, /* the stack's own nominal energies (default: at TXM the
                                     reference is imaged with the same energy list) */
    XANES_SIMULATE_REF_FINE       /* its own uniform grid ref_lo_ev..ref_hi_ev, ref_step_ev */
} xanes_simulate_ref_grid;

#define XANES_SIMULATE_MAX_PARTICLES 4096

typedef struct {
    /* Geometry and energies. */
    size_t nx, ny, ne;
    const double *energy_ev; /* optional nominal grid [ne], strictly increasing eV (borrowed);
                                NULL: built-in grid over the four values below */
    double grid_lo_ev, edge_lo_ev, edge_hi_ev, grid_hi_ev; /* 8300, 8340, 8375, 8450 */
    double edge_fraction; /* share of the ne points inside [edge_lo, edge_hi] (0.4) */

    /* Phantom. */
    size_t n_particles;
    double radius_min_px, radius_max_px; /* in-plane semi-axes; 0: 5 % .. 11 % of min(nx,ny) */
    double aspect_max;                   /* largest in-plane axis ratio of an ellipse (1.35) */
    int touching;             /* nonzero: about a third of the particles come in touching pairs */
    double touching_overlap;  /* pair centre distance = (1 - overlap) * (r1 + r2) (0.08) */
    double margin_px;         /* particles keep this far from the border (auto if < 0) */
    double edge_jump_max;     /* Ni edge step (absorbance) at the thickest particle centre (0.7) */
    double pre_per_jump;      /* non-Ni absorbance of NCM below the edge per unit edge step (0.8) */
    double matrix_absorbance; /* mean absorbance of the SE/carbon matrix (0.05) */
    double matrix_ripple;     /* relative amplitude of its smooth spatial texture (0.3) */

    /* State of charge. */
    const char *config;         /* cathode configuration: "NCM-A", "NCM-B", "NCM-C" (any name of
                                   calibration/configs.json) or a JSON file read by
                                   xanes_model_config_load (coverage_alpha, coverage_beta,
                                   optional electronic_contact): per-particle SoC from the SoC-heterogeneity
                                   model (xanes_model_run, its default protocol, seed): the
                                   first n_particles of an ensemble of model_ensemble.  NULL:
                                   Normal(soc_mean, soc_std).  Borrowed while the scene lives */
    size_t model_ensemble;      /* particles sharing the electrode in the model (200) */
    double soc_mean, soc_std;   /* per-particle SoC ~ Normal(mean, std) when config is NULL */
    const double *particle_soc; /* optional [n_particles] imposed SoC (borrowed); wins */
    int gradient;               /* nonzero: core-to-shell SoC gradient inside each particle */
    double gradient_soc;        /* shell minus core SoC (0.2); area mean stays the particle SoC */

    /* Detector and beamline. */
    unsigned long seed;
    unsigned long noise_seed; /* seed of the counting and read noise only (0: seed): the same
                                 scene, drift and flat with a fresh noise draw, for Monte
                                 Carlo repeats of one stack */
    int noise;                /* zero: noise-free counts (expectation values, rounded for ints) */
    double dose_counts;       /* mean flat-field counts per pixel and frame (10000) */
    double dark_offset_counts, read_noise_counts; /* 100, 3 */
    size_t n_dark;                                /* dark frames written (5) */
    int flat_per_energy;       /* nonzero: one flat per energy, drifting (default); zero: the
                                  flat does not drift and n_flat flats are written */
    size_t n_flat;             /* flats written when !flat_per_energy (5) */
    double flat_nonuniformity; /* peak-to-valley of the smooth flat pattern, relative (0.3) */
    double flat_drift;         /* relative change of I0 over the scan, and beam centre walk as a
                                  fraction of the width (0.08) */
    double drift_px;           /* rms of the per-energy sample drift (random walk, mean zero) */
    const double
        *shifts_px; /* optional imposed [ne][2] (dy, dx) px (borrowed), replaces the walk */
    double energy_offset_ev; /* stored - true energy, eV */

    /* Output. */
    xanes_simulate_layout layout;
    xanes_simulate_dtype dtype;
    int mantissa_bits; /* fxi float32 transmission rounded to this many mantissa bits
                          (1..23) so files compress; 0 = keep all 23 */
    double pixel_size_nm, magnification; /* written as FXI metadata (21.3, 2.5) */

    /* Reference spectrum (NiO-like), same monochromator offset. */
    xanes_simulate_ref_grid ref_grid;         /* stack energies (default) or its own grid */
    double ref_lo_ev, ref_hi_ev, ref_step_ev; /* own nominal grid: 8300, 8450, 0.25 */
    double ref_noise;                         /* Gaussian noise of its mu (2e-4) */

    const char *calibration_dir; /* NULL: $XANES_CALIBRATION_DIR, else the compiled-in dir */
} xanes_simulate_params;

/* Fills p with the defaults named above: 128 x 128 x 50, 8 particles, seed 1,
 * noise on at 10000 counts, no drift, no offset, FXI layout, SoC 0.5 +- 0.2. */
void xanes_simulate_default_params(xanes_simulate_params *p);

/* The simulated detector's largest count (16 bits): integer counts are
 * clipped to [0, XANES_SIMULATE_MAX_COUNT]. */
#define XANES_SIMULATE_MAX_COUNT 65535.0

/* The largest dose_counts the simulated 16-bit detector holds (counts clip
 * at XANES_SIMULATE_MAX_COUNT): the brightest flat pixel of any frame expects at most
 * dose x (1 + flat_drift / 2 + 0.01) x (1 + |flat_nonuniformity| / 2) x 1.02
 * counts (xanes_simulate_flat_frame's pattern at its peaks) plus the dark
 * offset, and 5 standard deviations of its noise (Poisson and read noise)
 * must still fit, so clipping is a 3e-7 event per count.  Sample counts are
 * at most the flat's.  xanes_simulate_scene_alloc refuses a larger dose:
 * a stack clipped towards a transmission of 1 is not a TXM measurement (at
 * 10^5 counts most flat counts clipped, 20 of 50 frames could not be aligned
 * and the edges were off by 1 eV).  About 52000 with the defaults. */
double xanes_simulate_max_dose_counts(const xanes_simulate_params *p);

/* Opaque scene: phantom, SoC, energies, drift, flat field, spectral model. */
typedef struct xanes_simulate_scene xanes_simulate_scene;

/* Builds the scene (draws from the RNG; reads calibration/standards.json and
 * calibration/ni_references/ni_k_references.json, and with a config
 * calibration/configs.json).  Returns XANES_EINVAL for absurd params or an
 * unknown config (message names the field and value), XANES_EIO /
 * XANES_EFORMAT / XANES_EDATA for bad calibration or config files, the
 * model's XANES_ENOCONV, XANES_EDATA when the
 * particles cannot be placed, XANES_ENOMEM.  *out is owned by the caller. */
xanes_status xanes_simulate_scene_alloc(const xanes_simulate_params *p, xanes_simulate_scene **out,
                                        xanes_error *err);
void xanes_simulate_scene_free(xanes_simulate_scene *s); /* NULL is a no-op */

/* Sizes and lent arrays (valid until the scene is freed). */
size_t xanes_simulate_scene_nx(const xanes_simulate_scene *s);
size_t xanes_simulate_scene_ny(const xanes_simulate_scene *s);
size_t xanes_simulate_scene_ne(const xanes_simulate_scene *s);
size_t xanes_simulate_scene_n_particles(const xanes_simulate_scene *s);
const double *xanes_simulate_energy_nominal_ev(const xanes_simulate_scene *s); /* [ne] */
const double *xanes_simulate_energy_true_ev(const xanes_simulate_scene *s);    /* [ne] */
const double *xanes_simulate_shifts_px(const xanes_simulate_scene *s);         /* [ne][2] dy,dx */
/* Truth maps at zero shift, [ny][nx]: edge energy eV (NaN outside particles),
 * SoC (NaN outside), Ni edge step absorbance (0 outside), labels (0 =
 * background, i+1 = particle i, the thickest where particles overlap). */
const double *xanes_simulate_truth_edge_ev(const xanes_simulate_scene *s);
const float *xanes_simulate_truth_soc(const xanes_simulate_scene *s);
const float *xanes_simulate_truth_edge_jump(const xanes_simulate_scene *s);
const int32_t *xanes_simulate_truth_labels(const xanes_simulate_scene *s);
/* Per particle [n_particles]: drawn SoC, its edge E(SoC) eV, and the mean of
 * the truth edge map over the particle's label (differs with a gradient). */
const double *xanes_simulate_particle_soc(const xanes_simulate_scene *s);
const double *xanes_simulate_particle_edge_ev(const xanes_simulate_scene *s);
const double *xanes_simulate_particle_edge_mean_ev(const xanes_simulate_scene *s);
/* Grid truth (see "grid edge" above), eV: [ny][nx] map (NaN outside
 * particles) and [n_particles] edge of each particle's mean spectrum over
 * its label.  All NaN when the stack's true energies cannot carry the
 * definition (its windows outside the grid). */
const double *xanes_simulate_truth_edge_grid_ev(const xanes_simulate_scene *s);
const double *xanes_simulate_particle_edge_grid_ev(const xanes_simulate_scene *s);
/* Grid edge of the noise-free NiO reference sampled at the stack's true
 * energies (what --ref-grid stack gives a perfect calibration); NaN as above. */
double xanes_simulate_reference_edge_grid_ev(const xanes_simulate_scene *s);
/* The edge definition the scene uses (standards.json edge_definition as
 * xanes_standards_edge_params gives it, half-edge only). */
void xanes_simulate_edge_params(const xanes_simulate_scene *s, xanes_normalize_params *out);
/* Noise-free absorbance of the NiO reference at a true energy (what the
 * reference file holds before noise).  Pure, thread-safe. */
double xanes_simulate_reference_absorbance(const xanes_simulate_scene *s, double energy_true_ev);

/* Noise-free absorbance -ln(I/I0) of frame k (at its true energy, with its
 * drift) into out[ny*nx].  Pure; thread-safe for distinct out. */
void xanes_simulate_absorbance_frame(const xanes_simulate_scene *s, size_t k, float *out);

/* Noise-free absorbance of the truth-frame pixel (y, x) (zero shift) at an
 * arbitrary true energy, for checking the spectral model on a fine grid.
 * Pure, thread-safe. */
double xanes_simulate_pixel_absorbance(const xanes_simulate_scene *s, size_t y, size_t x,
                                       double energy_true_ev);

/* Expected flat-field counts (without dark) of frame k into out[ny*nx]. */
void xanes_simulate_flat_frame(const xanes_simulate_scene *s, size_t k, float *out);

/* Summary of one run. */
typedef struct {
    size_t n_particles;
    double edge_mean_ev, edge_std_ev, edge_min_ev, edge_max_ev; /* over particle_edge_ev */
    size_t n_saturated;      /* integer counts clipped at 65535 */
    size_t n_invalid;        /* fxi transmission pixels written as 0 */
    double ref_edge_true_ev; /* NiO reference physical edge on the true scale */
    double ref_edge_grid_ev; /* its grid edge on the stack's true energies (NaN: none) */
} xanes_simulate_summary;

/* Simulates and writes: the stack (layout per params) to stack_path, the
 * truth to truth_path (may be NULL), an XDI 1.0 reference spectrum to
 * ref_path (may be NULL).  Each file is written to a temporary name in the
 * same directory and renamed, so a failure leaves no partial file.  summary
 * may be NULL.  Returns the statuses of scene_alloc plus XANES_EIO (HDF5 or
 * file errors, message names the file and dataset).  Not thread-safe (HDF5). */
xanes_status xanes_simulate_run(const xanes_simulate_params *p, const char *stack_path,
                                const char *truth_path, const char *ref_path,
                                xanes_simulate_summary *summary, xanes_error *err);

#endif
