/* model.h: SoC-heterogeneity model of an NCM811 | Li6PS5Cl composite cathode.
 *
 * An ensemble of N NCM particles on one electrode potential, each reached by
 * lithium through a partially covered CAM|SE interface (coverage c_i).  The
 * cell is charged galvanostatically to a cut-off voltage (and discharged);
 * the end-of-charge lithium content of each particle is turned into a Ni
 * K-edge energy through the calibration scale.  See pipeline/model.c for the
 * physics and calibration/configs.json for every number it uses.
 */
#ifndef XANES_MODEL_H
#define XANES_MODEL_H

#include <stddef.h>

#include "xanes/standards.h"
#include "xanes/status.h"

/* Physical parameters shared by all configurations (calibration/configs.json,
 * "common"), SI units unless the name says otherwise. */
typedef struct {
    double y_initial;        /* Li stoichiometry of the pristine particle */
    double y_per_soc;        /* Li removed between SoC 0 (pristine) and 1 (Ni4+) */
    double radius_median_um; /* log-normal particle radius distribution */
    double radius_sigma_ln;
    double radius_max_um; /* truncation */
    double density_kg_m3; /* NCM811 density */
    double c_max_mol_m3;  /* Li sites per volume (y = 1) */
    double j0_a_m2;       /* exchange current density at t_ref, per contacted area */
    double j0_ea_j_mol;   /* its activation energy */
    double d_s_m2_s;      /* solid Li diffusivity at t_ref */
    double d_s_ea_j_mol;
    double sigma_se_s_m; /* SE ionic conductivity at t_ref */
    double sigma_se_ea_j_mol;
    double se_volume_fraction; /* for the Bruggeman effective conductivity */
    double bruggeman;
    double thickness_um;       /* composite cathode thickness (ionic path depth) */
    double isolation_coverage; /* below this coverage a particle is isolated */
    double e_contact_ohm_m2;   /* electronic contact resistance x contact area:
                                  R_e = e_contact / (carbon_contact area) */
    double one_c_a_kg;         /* 1C current per NCM mass (200 mA/g = 200 A/kg) */
    double t_ref_k;
    double ocv_slope_beyond_v; /* dU/dy beyond the tabulated window (V per unit y) */
    double discharge_cutoff_v;
} xanes_model_common;

/* One cathode configuration: coverage ~ Beta(alpha, beta). */
typedef struct {
    char name[32];
    double coverage_alpha;
    double coverage_beta;
    int fitted;                 /* nonzero when alpha/beta were fitted to targets */
    double target_edge_mean_ev; /* NaN when none */
    double target_edge_std_ev;
    /* Range the fit may give the mean coverage alpha/(alpha+beta), from the
     * paper's SEM/EDS description of the configuration ([0, 1] when none). */
    double fit_mean_min, fit_mean_max;
    /* Nonzero when carbon met the NCM before the SE did ([NCM+VGCF] first):
     * the electronic contact is then not limited to the SE-free surface. */
    int carbon_first;
} xanes_model_config;

/* The tabulated OCV and the configurations, loaded from calibration/. */
typedef struct xanes_model_data xanes_model_data;

/* Loads configs.json (path NULL = $XANES_CALIBRATION_DIR or the compiled-in
 * calibration directory) and the OCV table it names.  Caller frees with
 * xanes_model_data_free.  XANES_EIO / XANES_EFORMAT name the file and key. */
xanes_status xanes_model_data_load(const char *path, xanes_model_data **out, xanes_error *err);
void xanes_model_data_free(xanes_model_data *d);

const xanes_model_common *xanes_model_data_common(const xanes_model_data *d);
/* Path of the configs file d was loaded from (lent). */
const char *xanes_model_data_path(const xanes_model_data *d);
/* Looks a configuration up by name; XANES_EINVAL lists the known names. */
xanes_status xanes_model_data_config(const xanes_model_data *d, const char *name,
                                     xanes_model_config *out, xanes_error *err);
size_t xanes_model_data_n_configs(const xanes_model_data *d);
const xanes_model_config *xanes_model_data_config_at(const xanes_model_data *d, size_t i);

/* Reads one user configuration, a JSON object {"name", "coverage_alpha",
 * "coverage_beta"} with both shapes in (0, 1e5] and optionally
 * "electronic_contact": "se_free_surface" (default) or "carbon_first".
 * XANES_EIO (cannot read), XANES_EFORMAT (anything else), each naming the
 * file.  Thread-safe. */
xanes_status xanes_model_config_load(const char *path, xanes_model_config *cfg, xanes_error *err);

/* Writes fitted Beta shapes back into the configs file d was loaded from:
 * for each cfg[k] (matched by name) coverage_alpha/beta, "fitted": true,
 * "achieved" {edge_mean_ev, edge_std_ev} = achieved[k] and the "_fit" note;
 * everything else in the file is kept.  Written atomically (temp + rename).
 * XANES_EIO / XANES_EFORMAT name the file. */
xanes_status xanes_model_data_write_fits(const xanes_model_data *d, const xanes_model_config *cfg,
                                         const double (*achieved)[2], size_t n, const char *note,
                                         xanes_error *err);

/* OCV U(y) in V with its derivative, linear beyond the table (thread-safe). */
double xanes_model_ocv(const xanes_model_data *d, double y, double *dudy);

/* Run parameters (xanes_model_default_params). */
typedef struct {
    size_t n_particles;
    unsigned long seed; /* GSL mt19937 */
    double c_rate;      /* charge and discharge current in units of 1C */
    double temperature_c;
    double cutoff_v; /* end of charge */
    int discharge;   /* also discharge to common.discharge_cutoff_v */
    double rel_tol;  /* odeiv2 error control */
    double abs_tol;
    /* xanes_model_fit: grid and first simplex on the first
     * fit_coarse_particles particles of the ensemble (0 or >= n_particles:
     * all, to tolerance fit_tol / 10), then a simplex on all of them to
     * simplex size fit_tol in the (logit mean coverage, log concentration)
     * plane. */
    size_t fit_coarse_particles;
    double fit_tol;
} xanes_model_params;

void xanes_model_default_params(xanes_model_params *p);

/* Per-particle state and results. */
typedef struct {
    double radius_um;
    double coverage;
    double carbon_contact; /* fraction of the surface in electronic contact */
    double depth_um;
    int isolated;
    double y_end_of_charge;
    double soc; /* on the calibration scale */
    double edge_ev;
} xanes_model_particle;

typedef struct {
    size_t n;
    xanes_model_particle *particle; /* [n], owned */
    double charge_time_s;
    double charge_capacity_mah_g;    /* per gram of all NCM, isolated included */
    double discharge_capacity_mah_g; /* NaN when not discharged */
    double charge_passed_c;          /* integral of the applied current */
    double charge_stored_c;          /* sum over particles of F c_max V dy */
    double edge_mean_ev, edge_std_ev, edge_min_ev, edge_max_ev;
    double overcharged_fraction; /* particles above the standards' threshold */
} xanes_model_result;

void xanes_model_result_free(xanes_model_result *r);

/* Draws the ensemble from cfg (deterministic for p->seed), charges it at
 * p->c_rate to p->cutoff_v at p->temperature_c (odeiv2 rkf45 with error
 * control, the cut-off located by bisection), optionally discharges, and maps
 * end-of-charge SoC to edge energy with std.  *out is new, caller frees.
 * XANES_EINVAL for absurd parameters, XANES_ENOCONV when the integrator
 * fails or the cut-off is never reached.  Thread-safe. */
xanes_status xanes_model_run(const xanes_model_data *d, const xanes_model_config *cfg,
                             const xanes_standards *std, const xanes_model_params *p,
                             xanes_model_result **out, xanes_error *err);

/* Lower-level entry for tests: the same integration for a given ensemble
 * (radius, coverage, carbon_contact, depth set by the caller in particle[];
 * isolated is set here), with
 * an optional OCV override U(y) = ocv_a - ocv_b * y (ocv_b > 0) when
 * linear_ocv is nonzero. */
xanes_status xanes_model_run_ensemble(const xanes_model_data *d, const xanes_standards *std,
                                      const xanes_model_params *p, xanes_model_particle *particle,
                                      size_t n, int linear_ocv, double ocv_a, double ocv_b,
                                      xanes_model_result **out, xanes_error *err);

/* Total series resistance (ohm) of one particle at the temperature of p for
 * an OCV slope dudy (V per unit y); INFINITY when the particle is isolated. */
double xanes_model_resistance_ohm(const xanes_model_data *d, const xanes_model_params *p,
                                  const xanes_model_particle *particle, double dudy);

/* Fits cfg's coverage Beta(alpha, beta) so that the end-of-charge edge mean
 * and std come as close as the model allows to the targets (least squares in
 * eV), with the mean coverage alpha/(alpha+beta) kept in [cfg->fit_mean_min,
 * cfg->fit_mean_max] and cfg->carbon_first respected: a coarse grid over mean
 * coverage and concentration (grid points shared over OpenMP threads), GSL
 * nmsimplex2 on the first p->fit_coarse_particles particles, then on all
 * p->n_particles; common random numbers so the objective is smooth.  Updates
 * cfg in place and returns the mean and std the fitted ensemble reaches in
 * achieved[0..1]: the caller decides whether the miss is acceptable, since
 * some targets lie outside what the model can produce.  The result does not
 * depend on the thread count.  XANES_EINVAL for bounds outside [0, 1],
 * XANES_ENOMEM, or the statuses of xanes_model_run_ensemble for the final
 * run.  Thread-safe (independent fits may run side by side). */
xanes_status xanes_model_fit(const xanes_model_data *d, xanes_model_config *cfg,
                             const xanes_standards *std, const xanes_model_params *p,
                             double target_mean_ev, double target_std_ev, double achieved[2],
                             xanes_error *err);

#endif
