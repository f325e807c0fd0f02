/* sim_private.h: the scene shared by the simulator's files (private to
 * pipeline/, not installed).
 *
 * simulate.c     params, validation, configs, scene life cycle, xanes_simulate_run
 * sim_shape.c    Ni reference shapes (calibration/ni_references), fine-grid edges, placement
 * sim_phantom.c  particles, SoC, truth maps, noise-free absorbance frames
 * sim_gridtruth.c the edge definition applied on the stack's own energies (grid truth)
 * sim_detector.c flat field, counts, darks, FXI exporter correction
 * sim_write.c    HDF5 stack + truth files, XDI reference spectrum
 */
#ifndef XANES_SIM_PRIVATE_H
#define XANES_SIM_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include <gsl/gsl_rng.h>
#include <gsl/gsl_spline.h>

#include "xanes/normalize.h"
#include "xanes/simulate.h"
#include "xanes/standards.h"

/* Fine grid of the physical edge: E_k = e0 + k / SIM_FINE_PER_EV (0.05 eV)
 * over [e0 + pre1 - pad, e0 + norm2 + pad]. */
#define SIM_FINE_PER_EV 20.0
#define SIM_FINE_PAD_EV 5.0

/* One normalized spectral shape on a uniform grid, interpolated by GSL's
 * Steffen spline (monotone between nodes: no overshoot at the edge). */
typedef struct {
    gsl_spline *spline;
    double lo_ev, hi_ev; /* node range; evaluation clamps to it */
} sim_shape;

/* weight * shape(E - shift_ev): a spectrum is a sum of these. */
typedef struct {
    double weight, shift_ev;
} sim_component;

/* Caller-owned scratch of one fine-grid edge evaluation (one per thread). */
typedef struct {
    xanes_normalize_workspace *nw;
    double *mu; /* [fine_n] */
} sim_fine_ws;

typedef struct {
    double cy, cx;       /* centre, px (truth frame) */
    double a, b;         /* in-plane semi-axes, px */
    double cos_t, sin_t; /* in-plane rotation */
    double c;            /* semi-axis along the beam, px */
    double soc;          /* drawn state of charge */
    double edge_ev;      /* E(soc) on the calibration scale */
    double r_bound;      /* max(a, b): bounding radius */
} sim_particle;

struct xanes_simulate_scene {
    xanes_simulate_params p; /* copy; borrowed pointers cleared */
    size_t nx, ny, ne, np;
    double *e_nom, *e_true, *shifts; /* [ne], [ne], [ne][2] */
    sim_particle *parts;             /* [np] */

    /* calibration scale (calibration/standards.json) */
    xanes_standards std;
    double soc0_edge_ev, soc1_edge_ev, nio_edge_ev;

    /* the edge definition (standards.json edge_definition) and its fine grid */
    xanes_normalize_params edge_par;
    double *fine_e;
    size_t fine_n;

    /* spectral model: pixel Ni spectrum of SoC s = f_w(E - delta(s)) with
     * w = clamp(s, 0, 1), f_w(E) = (1-w) ni3(E - s0) + w ni3(E - s0 - d34),
     * delta(s) solved so that the fine-grid edge is E(s), tabulated over s in
     * three segments (s < 0, [0, 1], s > 1: f_w has kinks at 0 and 1). */
    sim_shape ni3, ni2;
    double s0_ev, d34_ev, nio_shift_ev;
    gsl_spline *place[3];            /* s -> delta(s), eV; NULL where a segment is unused */
    double place_lo[3], place_hi[3]; /* node range of each segment */

    double jump_per_px;               /* Ni edge step per px of thickness */
    double mat_k[4][2], mat_phase[4]; /* matrix texture: sum of 4 plane waves */
    double *mat_rows, *mat_cols;      /* [ne][4][cos,sin][ny], [ne][4][cos,sin][nx] */
    double flat_phase[4], flat_cy, flat_cx, flat_sigma;

    /* truth at zero shift, [ny][nx] */
    double *truth_edge;
    float *truth_soc, *truth_jump;
    int32_t *labels;
    double *p_soc, *p_edge, *p_edge_mean; /* [np] */
    /* grid truth: the definition on the stack's true energies (noise-free,
     * drift-free), [ny][nx] and per particle (mean spectrum); NaN where none */
    double *truth_edge_grid, *p_edge_grid;
    double ref_edge_grid; /* NiO reference on the stack's true energies */
    double *model_soc;    /* [np] SoC from the model, or NULL */

    gsl_rng *rng;   /* mt19937 of the scene draws (params.seed) */
    gsl_rng **rngs; /* [n_rngs] per-thread generators of the detector noise */
    size_t n_rngs;
};

/* sim_shape.c */
xanes_status sim_shapes_load(const char *calib_dir, sim_shape *ni2, sim_shape *ni3,
                             xanes_error *err);
void sim_shape_free(sim_shape *s);
double sim_shape_eval(const sim_shape *s, double e_ev);
double sim_spectrum_eval(const sim_shape *s, const sim_component *c, size_t nc, double e_ev);
/* The fine grid of ep (explicit e0, windows): *e_out malloc'ed [*n_out]. */
xanes_status sim_fine_grid(const xanes_normalize_params *ep, double **e_out, size_t *n_out,
                           xanes_error *err);
xanes_status sim_fine_ws_alloc(const xanes_simulate_scene *sc, sim_fine_ws *w, xanes_error *err);
void sim_fine_ws_free(sim_fine_ws *w);
/* Physical edge (the definition on the fine grid) of sum_c weight_c *
 * shape(E - shift_c - extra_shift_ev), nc <= 16.  XANES_EDATA when the
 * normalized spectrum never reaches the level.  Thread-safe per workspace. */
xanes_status sim_edge_fine(const xanes_simulate_scene *sc, const sim_shape *s,
                           const sim_component *c, size_t nc, double extra_shift_ev, sim_fine_ws *w,
                           double *out_ev, xanes_error *err);
/* The extra shift *delta_ev that puts the physical edge of the components at
 * target_ev (to 1e-10 eV).  XANES_ENOCONV when the secant steps stall. */
xanes_status sim_place(const xanes_simulate_scene *sc, const sim_shape *s, const sim_component *c,
                       size_t nc, double target_ev, sim_fine_ws *w, double *delta_ev,
                       xanes_error *err);

/* Places the shapes (s0, d34, NiO shift, delta(s) tables over the drawn
 * SoC range); after sim_phantom_build. */
xanes_status sim_spectral_model_build(xanes_simulate_scene *sc, xanes_error *err);

/* sim_phantom.c */
xanes_status sim_phantom_build(xanes_simulate_scene *sc, xanes_error *err);
xanes_status sim_truth_build(xanes_simulate_scene *sc, xanes_error *err);
/* Per-frame row/column tables of the matrix texture (after the drift). */
xanes_status sim_matrix_tables(xanes_simulate_scene *sc, xanes_error *err);
/* SoC at a point of particle i (truth-frame coordinates); sets *rho2 to the
 * normalized squared radius (>= 1 outside). */
double sim_point_soc(const xanes_simulate_scene *sc, size_t i, double y, double x, double *rho2);
/* Ni spectrum components of SoC soc with edge step jump (2 components). */
void sim_soc_components(const xanes_simulate_scene *sc, double soc, double jump,
                        sim_component out[2]);

/* sim_gridtruth.c: truth_edge_grid and p_edge_grid (after sim_truth_build). */
xanes_status sim_grid_truth_build(xanes_simulate_scene *sc, xanes_error *err);

/* sim_detector.c */
enum { SIM_DARK = 1, SIM_FIXED_FLAT, SIM_FLAT, SIM_SAMPLE, SIM_REFERENCE };
void sim_flat_build(xanes_simulate_scene *sc);
/* 32-bit seed of the noise stream of one row of one frame of a kind. */
unsigned long sim_stream_seed(const xanes_simulate_scene *sc, int kind, size_t k, size_t row);
/* Counts of frame k of a kind into out[ny*nx]: dark offset + read noise,
 * plus Poisson(flat) (absorbance NULL) or Poisson(flat exp(-absorbance))
 * (flat NULL: dark only).  Noise-free: the expectations.  Thread-safe only
 * with itself not running concurrently (uses the scene's per-thread RNGs). */
void sim_detector_counts(const xanes_simulate_scene *sc, int kind, size_t k, const float *flat,
                         const float *absorbance, double *out);

/* sim_write.c */
xanes_status sim_write_stack(xanes_simulate_scene *sc, const char *path,
                             xanes_simulate_summary *sum, xanes_error *err);
xanes_status sim_write_truth(const xanes_simulate_scene *sc, const char *path, xanes_error *err);
xanes_status sim_write_ref(xanes_simulate_scene *sc, const char *path, double *ref_edge_ev,
                           xanes_error *err);

/* simulate.c */
double sim_edge_from_soc(const xanes_simulate_scene *sc, double soc);
/* delta(s) of the spectral model (see the scene). Pure, thread-safe. */
double sim_place_delta(const xanes_simulate_scene *sc, double soc);

#endif
