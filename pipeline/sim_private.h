/* sim_private.h: the scene shared by the simulator's files (private to
 * pipeline/, not installed).
 *
 * simulate.c     params, validation, configs, scene life cycle, xanes_simulate_run
 * sim_shape.c    Ni reference shapes (calibration/ni_references) and the half-edge solver
 * sim_phantom.c  particles, SoC, truth maps, noise-free absorbance frames
 * sim_detector.c flat field, counts, darks, FXI exporter correction
 * sim_write.c    HDF5 stack + truth files, XDI reference spectrum
 */
#ifndef XANES_SIM_PRIVATE_H
#define XANES_SIM_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include <gsl/gsl_rng.h>
#include <gsl/gsl_spline.h>

#include "xanes/simulate.h"
#include "xanes/standards.h"

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

typedef struct {
    double pre1_ev, pre2_ev, norm1_ev, norm2_ev, half_level;
} sim_edge_conv;

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

    /* spectral model: pixel Ni spectrum of SoC s = f_w(E - delta) with
     * w = clamp(s, 0, 1), f_w(E) = (1-w) ni3(E - s0) + w ni3(E - s0 - d34),
     * delta = E(s) - half_edge(f_w) (tabulated over w). */
    sim_shape ni3, ni2;
    sim_edge_conv conv;
    double s0_ev, d34_ev, nio_shift_ev;
    gsl_spline *mix_half; /* w -> half_edge(f_w), eV */

    double jump_per_px;               /* Ni edge step per px of thickness */
    double mat_k[4][2], mat_phase[4]; /* matrix texture: sum of 4 plane waves */
    double *mat_rows, *mat_cols;      /* [ne][4][cos,sin][ny], [ne][4][cos,sin][nx] */
    double flat_phase[4], flat_cy, flat_cx, flat_sigma;

    /* truth at zero shift, [ny][nx] */
    double *truth_edge;
    float *truth_soc, *truth_jump;
    int32_t *labels;
    double *p_soc, *p_edge, *p_edge_mean; /* [np] */
    double *model_soc;                    /* [np] SoC from the model, or NULL */

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
/* Half-edge (see simulate.h) of sum_c weight_c * shape(E - shift_c), starting
 * from guess_ev.  XANES_ENOCONV when the fixed point does not settle,
 * XANES_EDATA when the spectrum never reaches the level. */
xanes_status sim_half_edge(const sim_shape *s, const sim_component *c, size_t nc,
                           const sim_edge_conv *conv, double guess_ev, double *out_ev,
                           xanes_error *err);

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

#endif
