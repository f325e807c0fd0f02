/* simulate.c: the forward simulator's front door -- parameters, cathode
 * configurations, the scene's life cycle, and xanes_simulate_run.
 *
 * Building a scene: check the params; read the calibration scale
 * (calibration/standards.json through xanes_standards: E(SoC) is the line
 * through the pristine and delithiated NCM standards, and its edge_definition) and the Ni shapes;
 * draw the phantom (particles, SoC); place the shapes by the edge definition on the fine grid
 * (sim_shape.c): the Ni3+ shape at the pristine edge (s0), the Ni4+ copy d34 eV above it, NiO at
 * its standard, and the shift delta(s) that puts the mixture's edge at E(s), tabulated over the
 * drawn SoC range (natural cubic splines per segment, nodes 0.025 SoC apart); draw the drift and
 * the flat field from the RNG (mt19937, params.seed); compute the truth maps (physical and grid).
 * With a cathode configuration (params.config) the per-particle SoC comes from the
 * SoC-heterogeneity model (xanes_model_run), else from Normal(mean, std).
 *
 * The nominal energy grid (when none is given) has three uniform segments:
 * pre-edge [grid_lo, edge_lo), edge [edge_lo, edge_hi) with edge_fraction of
 * the points, post-edge [edge_hi, grid_hi]; the drift is a Gaussian random
 * walk, mean removed, scaled to drift_px rms per axis.
 */
#include "sim_private.h"

#include "xanes/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <gsl/gsl_randist.h>
#include <omp.h>

void xanes_simulate_default_params(xanes_simulate_params *p)
{
    memset(p, 0, sizeof *p);
    p->nx = p->ny = 128;
    p->ne = 50;
    p->grid_lo_ev = 8300.0;
    p->edge_lo_ev = 8340.0;
    p->edge_hi_ev = 8375.0;
    p->grid_hi_ev = 8450.0;
    p->edge_fraction = 0.4;
    p->n_particles = 8;
    p->aspect_max = 1.35;
    p->touching_overlap = 0.08;
    p->margin_px = -1.0;
    p->edge_jump_max = 0.6;
    p->pre_per_jump = 0.8;
    p->matrix_absorbance = 0.05;
    p->matrix_ripple = 0.3;
    p->soc_mean = 0.5;
    p->soc_std = 0.2;
    p->model_ensemble = 200;
    p->gradient_soc = 0.2;
    p->seed = 1;
    p->noise = 1;
    p->dose_counts = 10000.0;
    p->dark_offset_counts = 100.0;
    p->read_noise_counts = 3.0;
    p->n_dark = 5;
    p->flat_per_energy = 1;
    p->n_flat = 5;
    p->flat_nonuniformity = 0.3;
    p->flat_drift = 0.08;
    p->layout = XANES_SIMULATE_FXI;
    p->pixel_size_nm = 21.3;
    p->magnification = 2.5;
    p->ref_lo_ev = 8300.0;
    p->ref_hi_ev = 8450.0;
    p->ref_step_ev = 0.25;
    p->ref_noise = 2e-4;
    p->ref_grid = XANES_SIMULATE_REF_STACK;
}

static const char *calib_dir(const xanes_simulate_params *p)
{
    if (p->calibration_dir != NULL && p->calibration_dir[0] != '\0')
        return p->calibration_dir;
    const char *env = getenv("XANES_CALIBRATION_DIR");
    if (env != NULL && env[0] != '\0')
        return env;
    return XANES_CALIBRATION_DIR;
}

/* The calibration scale of calibration/standards.json (or of
 * params.calibration_dir), through the standards stage. */
static xanes_status load_standards(const xanes_simulate_params *p, xanes_standards *std,
                                   xanes_error *err)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/standards.json", calib_dir(p));
    return xanes_standards_load(path, std, err);
}

double sim_edge_from_soc(const xanes_simulate_scene *sc, double soc)
{
    return xanes_standards_edge_from_soc(&sc->std, soc);
}

/* Per-particle SoC at the end of charge from the SoC-heterogeneity model
 * (xanes_model_run with its default protocol: C/3, 60 C, 4.2 V, the
 * conditions its configurations were fitted at) and the simulation's seed.
 * soc[] has n_particles entries. */
static xanes_status model_socs(const xanes_simulate_params *p, const xanes_standards *std,
                               double *soc, xanes_error *err)
{
    char path[1024];
    xanes_model_data *d = NULL;
    xanes_model_result *res = NULL;
    xanes_model_config cfg;
    snprintf(path, sizeof path, "%s/configs.json", calib_dir(p));
    xanes_status st = xanes_model_data_load(path, &d, err);
    if (st != XANES_OK)
        goto done;
    if (strchr(p->config, '/') != NULL || strstr(p->config, ".json") != NULL)
        st = xanes_model_config_load(p->config, &cfg, err); /* the model's own reader */
    else
        st = xanes_model_data_config(d, p->config, &cfg, err);
    if (st != XANES_OK)
        goto done;
    xanes_model_params mp;
    xanes_model_default_params(&mp);
    /* The imaged particles are a few of the many that share the electrode
     * potential: simulate an ensemble of model_ensemble particles (at least
     * n_particles) and image its first n_particles (i.i.d. draws). */
    mp.n_particles = p->n_particles > p->model_ensemble ? p->n_particles : p->model_ensemble;
    mp.seed = p->seed;
    st = xanes_model_run(d, &cfg, std, &mp, &res, err);
    if (st != XANES_OK)
        goto done;
    for (size_t i = 0; i < p->n_particles; i++)
        soc[i] = res->particle[i].soc;
done:
    xanes_model_result_free(res);
    xanes_model_data_free(d);
    return st;
}

double xanes_simulate_max_dose_counts(const xanes_simulate_params *p)
{
    /* The peaks of sim_detector.c's factors: I0 (scan position u in [0, 1]
     * and its 1 % wiggle), the beam (Gaussian at its centre), the fringe. */
    const double peak =
        (1.0 + 0.5 * fabs(p->flat_drift) + 0.01) * (1.0 + 0.5 * fabs(p->flat_nonuniformity)) * 1.02;
    /* 5 sigma of noise at the clip level itself bounds it at any dose below. */
    const double room = XANES_SIMULATE_MAX_COUNT - p->dark_offset_counts -
                        5.0 * sqrt(XANES_SIMULATE_MAX_COUNT) - 5.0 * p->read_noise_counts;
    return room > 0.0 ? room / peak : 0.0;
}

static xanes_status check_params(const xanes_simulate_params *p, xanes_error *err)
{
#define BAD(cond, ...)                                                                             \
    if (cond)                                                                                      \
    return XANES_RAISE(err, XANES_EINVAL, __VA_ARGS__)
    BAD(p->nx < 8 || p->ny < 8 || p->nx > 16384 || p->ny > 16384,
        "image size %zu x %zu is outside 8..16384", p->ny, p->nx);
    BAD(p->ne < 10 || p->ne > 10000, "%zu energies is outside 10..10000", p->ne);
    BAD(p->config != NULL && (p->model_ensemble < 1 || p->model_ensemble > 100000),
        "model ensemble of %zu particles is outside 1..100000", p->model_ensemble);
    BAD(p->n_particles > XANES_SIMULATE_MAX_PARTICLES, "%zu particles exceed %d", p->n_particles,
        XANES_SIMULATE_MAX_PARTICLES);
    BAD(!(p->dose_counts > 0), "dose %g counts is not positive", p->dose_counts);
    BAD(p->dose_counts > xanes_simulate_max_dose_counts(p),
        "dose %g counts would clip the 16-bit detector at 65535 (flat pattern, dark offset "
        "and 5 sigma of noise included); use at most %.0f",
        p->dose_counts, floor(xanes_simulate_max_dose_counts(p)));
    BAD(!(p->drift_px >= 0 && p->drift_px <= 0.25 * (double)(p->nx < p->ny ? p->nx : p->ny)),
        "drift %g px rms is not in [0, a quarter of the image]", p->drift_px);
    BAD(!(fabs(p->energy_offset_ev) <= 50), "energy offset %g eV is not in [-50, 50]",
        p->energy_offset_ev);
    BAD(!isfinite(p->soc_mean) || !(p->soc_std >= 0 && p->soc_std <= 2),
        "SoC mean %g / std %g are not finite with 0 <= std <= 2", p->soc_mean, p->soc_std);
    BAD(!(fabs(p->gradient_soc) <= 1), "gradient %g SoC is not in [-1, 1]", p->gradient_soc);
    BAD(p->mantissa_bits < 0 || p->mantissa_bits > 23, "mantissa bits %d not in 0..23",
        p->mantissa_bits);
    BAD(p->n_dark < 1 || p->n_dark > 1000 || p->n_flat < 1 || p->n_flat > 1000,
        "dark/flat frame counts %zu / %zu not in 1..1000", p->n_dark, p->n_flat);
    BAD(!(p->aspect_max >= 1 && p->aspect_max <= 4) ||
            !(p->touching_overlap >= 0 && p->touching_overlap < 0.5),
        "aspect %g / overlap %g out of range", p->aspect_max, p->touching_overlap);
    BAD(!(p->edge_jump_max > 0 && p->edge_jump_max < 10), "edge jump %g not in (0, 10)",
        p->edge_jump_max);
    BAD(!(p->ref_step_ev > 0 && p->ref_hi_ev > p->ref_lo_ev + 10 * p->ref_step_ev),
        "reference grid %g..%g step %g is not usable", p->ref_lo_ev, p->ref_hi_ev, p->ref_step_ev);
    if (p->energy_ev != NULL) {
        for (size_t k = 0; k < p->ne; k++) {
            BAD(!isfinite(p->energy_ev[k]) || p->energy_ev[k] < 8200 || p->energy_ev[k] > 8650,
                "energy[%zu] = %g eV is outside the Ni reference shapes (8200-8650 eV)", k,
                p->energy_ev[k]);
            BAD(k > 0 && !(p->energy_ev[k] > p->energy_ev[k - 1]),
                "energies are not strictly increasing at index %zu", k);
        }
    } else {
        BAD(!(p->grid_lo_ev < p->edge_lo_ev && p->edge_lo_ev < p->edge_hi_ev &&
              p->edge_hi_ev < p->grid_hi_ev && p->grid_lo_ev >= 8200 && p->grid_hi_ev <= 8650),
            "energy grid %g < %g < %g < %g eV is not ordered inside 8200-8650", p->grid_lo_ev,
            p->edge_lo_ev, p->edge_hi_ev, p->grid_hi_ev);
        BAD(!(p->edge_fraction > 0.1 && p->edge_fraction < 0.9),
            "edge fraction %g not in "
            "(0.1, 0.9)",
            p->edge_fraction);
    }
#undef BAD
    return XANES_OK;
}

static void build_grid(xanes_simulate_scene *sc)
{
    const xanes_simulate_params *p = &sc->p;
    size_t ne = sc->ne;
    size_t rest = ne - (size_t)lround(p->edge_fraction * (double)ne);
    size_t n_pre = (size_t)lround(0.35 * (double)rest);
    if (n_pre < 3)
        n_pre = 3;
    size_t n_post = rest > n_pre + 3 ? rest - n_pre : 3;
    size_t n_edge = ne - n_pre - n_post;
    size_t k = 0;
    for (size_t i = 0; i < n_pre; i++)
        sc->e_nom[k++] =
            p->grid_lo_ev + (p->edge_lo_ev - p->grid_lo_ev) * (double)i / (double)n_pre;
    for (size_t i = 0; i < n_edge; i++)
        sc->e_nom[k++] =
            p->edge_lo_ev + (p->edge_hi_ev - p->edge_lo_ev) * (double)i / (double)n_edge;
    for (size_t i = 0; i < n_post; i++)
        sc->e_nom[k++] =
            p->edge_hi_ev + (p->grid_hi_ev - p->edge_hi_ev) * (double)i / (double)(n_post - 1);
}

static void build_drift(xanes_simulate_scene *sc)
{
    const xanes_simulate_params *p = &sc->p;
    size_t ne = sc->ne;
    if (p->shifts_px != NULL) {
        memcpy(sc->shifts, p->shifts_px, 2 * ne * sizeof *sc->shifts);
        return;
    }
    if (!(p->drift_px > 0))
        return; /* calloc'ed zeros */
    for (int ax = 0; ax < 2; ax++) {
        double acc = 0.0, mean = 0.0, ss = 0.0;
        for (size_t k = 0; k < ne; k++) {
            acc += gsl_ran_gaussian(sc->rng, 1.0);
            sc->shifts[2 * k + ax] = acc;
            mean += acc / (double)ne;
        }
        for (size_t k = 0; k < ne; k++) {
            sc->shifts[2 * k + ax] -= mean;
            ss += sc->shifts[2 * k + ax] * sc->shifts[2 * k + ax];
        }
        double scale = ss > 0 ? p->drift_px / sqrt(ss / (double)ne) : 0.0;
        for (size_t k = 0; k < ne; k++)
            sc->shifts[2 * k + ax] *= scale;
    }
}

xanes_status xanes_simulate_scene_alloc(const xanes_simulate_params *p, xanes_simulate_scene **out,
                                        xanes_error *err)
{
    if (p == NULL || out == NULL)
        return XANES_RAISE(err, XANES_EINVAL, "NULL argument");
    *out = NULL;
    xanes_status st = check_params(p, err);
    if (st != XANES_OK)
        return st;
    xanes_simulate_scene *sc = calloc(1, sizeof *sc);
    if (sc == NULL)
        return XANES_RAISE(err, XANES_ENOMEM, "out of memory");
    /* The borrowed arrays are used while building and then forgotten: the
     * scene must not outlive them silently. */
    sc->p = *p;
    sc->nx = p->nx;
    sc->ny = p->ny;
    sc->ne = p->ne;
    sc->np = p->n_particles;
    size_t n = sc->nx * sc->ny, np1 = sc->np + 1;
    sc->e_nom = malloc(sc->ne * sizeof *sc->e_nom);
    sc->e_true = malloc(sc->ne * sizeof *sc->e_true);
    sc->shifts = calloc(2 * sc->ne, sizeof *sc->shifts);
    sc->parts = calloc(np1, sizeof *sc->parts);
    sc->truth_edge = malloc(n * sizeof *sc->truth_edge);
    sc->truth_soc = malloc(n * sizeof *sc->truth_soc);
    sc->truth_jump = malloc(n * sizeof *sc->truth_jump);
    sc->labels = malloc(n * sizeof *sc->labels);
    sc->p_soc = malloc(np1 * sizeof *sc->p_soc);
    sc->p_edge = malloc(np1 * sizeof *sc->p_edge);
    sc->p_edge_mean = malloc(np1 * sizeof *sc->p_edge_mean);
    sc->truth_edge_grid = malloc(n * sizeof *sc->truth_edge_grid);
    sc->p_edge_grid = malloc(np1 * sizeof *sc->p_edge_grid);
    sc->rng = gsl_rng_alloc(gsl_rng_mt19937);
    if (!sc->e_nom || !sc->e_true || !sc->shifts || !sc->parts || !sc->truth_edge ||
        !sc->truth_soc || !sc->truth_jump || !sc->labels || !sc->p_soc || !sc->p_edge ||
        !sc->p_edge_mean || !sc->truth_edge_grid || !sc->p_edge_grid || !sc->rng) {
        st = XANES_RAISE(err, XANES_ENOMEM, "out of memory for a %zu x %zu x %zu scene", sc->ne,
                         sc->ny, sc->nx);
        goto done;
    }
    gsl_rng_set(sc->rng, p->seed);
    sc->n_rngs = (size_t)omp_get_max_threads();
    sc->rngs = calloc(sc->n_rngs, sizeof *sc->rngs);
    for (size_t i = 0; sc->rngs != NULL && i < sc->n_rngs; i++)
        if ((sc->rngs[i] = gsl_rng_alloc(gsl_rng_mt19937)) == NULL) {
            st = XANES_RAISE(err, XANES_ENOMEM, "out of memory for random generators");
            goto done;
        }
    if (sc->rngs == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM, "out of memory for random generators");
        goto done;
    }

    st = load_standards(p, &sc->std, err);
    if (st != XANES_OK)
        goto done;
    sc->soc0_edge_ev = xanes_standards_edge_from_soc(&sc->std, 0.0);
    sc->soc1_edge_ev = xanes_standards_edge_from_soc(&sc->std, 1.0);
    sc->nio_edge_ev = sc->std.nio_edge_ev;
    xanes_standards_edge_params(&sc->std, &sc->edge_par);
    sc->edge_par.edges = XANES_NORMALIZE_EDGE_HALF;
    st = sim_fine_grid(&sc->edge_par, &sc->fine_e, &sc->fine_n, err);
    if (st == XANES_OK)
        st = sim_shapes_load(calib_dir(p), &sc->ni2, &sc->ni3, err);
    if (st != XANES_OK)
        goto done;

    if (p->energy_ev != NULL)
        memcpy(sc->e_nom, p->energy_ev, sc->ne * sizeof *sc->e_nom);
    else
        build_grid(sc);
    for (size_t k = 0; k < sc->ne; k++)
        sc->e_true[k] = sc->e_nom[k] - p->energy_offset_ev;

    if (p->config != NULL && p->config[0] != '\0' && p->particle_soc == NULL && sc->np > 0) {
        sc->model_soc = malloc(sc->np * sizeof *sc->model_soc);
        if (sc->model_soc == NULL) {
            st = XANES_RAISE(err, XANES_ENOMEM, "out of memory");
            goto done;
        }
        st = model_socs(p, &sc->std, sc->model_soc, err);
        if (st != XANES_OK)
            goto done;
        sc->p.particle_soc = sc->model_soc;
    }
    st = sim_phantom_build(sc, err);
    if (st == XANES_OK)
        st = sim_spectral_model_build(sc, err);
    if (st != XANES_OK)
        goto done;
    build_drift(sc);
    sim_flat_build(sc);
    st = sim_matrix_tables(sc, err);
    if (st != XANES_OK)
        goto done;
    st = sim_truth_build(sc, err);
    if (st == XANES_OK)
        st = sim_grid_truth_build(sc, err);
    sc->p.energy_ev = NULL;
    sc->p.shifts_px = NULL;
    sc->p.particle_soc = NULL;
done:
    if (st != XANES_OK) {
        xanes_simulate_scene_free(sc);
        return st;
    }
    *out = sc;
    return XANES_OK;
}

void xanes_simulate_scene_free(xanes_simulate_scene *s)
{
    if (s == NULL)
        return;
    free(s->e_nom);
    free(s->e_true);
    free(s->shifts);
    free(s->parts);
    free(s->truth_edge);
    free(s->truth_soc);
    free(s->truth_jump);
    free(s->labels);
    free(s->p_soc);
    free(s->p_edge);
    free(s->p_edge_mean);
    free(s->truth_edge_grid);
    free(s->p_edge_grid);
    free(s->fine_e);
    for (int g = 0; g < 3; g++)
        gsl_spline_free(s->place[g]);
    free(s->model_soc);
    free(s->mat_rows);
    free(s->mat_cols);
    sim_shape_free(&s->ni2);
    sim_shape_free(&s->ni3);
    gsl_rng_free(s->rng);
    for (size_t i = 0; s->rngs != NULL && i < s->n_rngs; i++)
        gsl_rng_free(s->rngs[i]);
    free(s->rngs);
    free(s);
}

size_t xanes_simulate_scene_nx(const xanes_simulate_scene *s)
{
    return s->nx;
}
size_t xanes_simulate_scene_ny(const xanes_simulate_scene *s)
{
    return s->ny;
}
size_t xanes_simulate_scene_ne(const xanes_simulate_scene *s)
{
    return s->ne;
}
size_t xanes_simulate_scene_n_particles(const xanes_simulate_scene *s)
{
    return s->np;
}
const double *xanes_simulate_energy_nominal_ev(const xanes_simulate_scene *s)
{
    return s->e_nom;
}
const double *xanes_simulate_energy_true_ev(const xanes_simulate_scene *s)
{
    return s->e_true;
}
const double *xanes_simulate_shifts_px(const xanes_simulate_scene *s)
{
    return s->shifts;
}
const double *xanes_simulate_truth_edge_ev(const xanes_simulate_scene *s)
{
    return s->truth_edge;
}
const float *xanes_simulate_truth_soc(const xanes_simulate_scene *s)
{
    return s->truth_soc;
}
const float *xanes_simulate_truth_edge_jump(const xanes_simulate_scene *s)
{
    return s->truth_jump;
}
const int32_t *xanes_simulate_truth_labels(const xanes_simulate_scene *s)
{
    return s->labels;
}
const double *xanes_simulate_particle_soc(const xanes_simulate_scene *s)
{
    return s->p_soc;
}
const double *xanes_simulate_particle_edge_ev(const xanes_simulate_scene *s)
{
    return s->p_edge;
}
const double *xanes_simulate_particle_edge_mean_ev(const xanes_simulate_scene *s)
{
    return s->p_edge_mean;
}
const double *xanes_simulate_truth_edge_grid_ev(const xanes_simulate_scene *s)
{
    return s->truth_edge_grid;
}
const double *xanes_simulate_particle_edge_grid_ev(const xanes_simulate_scene *s)
{
    return s->p_edge_grid;
}
double xanes_simulate_reference_edge_grid_ev(const xanes_simulate_scene *s)
{
    return s->ref_edge_grid;
}
void xanes_simulate_edge_params(const xanes_simulate_scene *s, xanes_normalize_params *out)
{
    *out = s->edge_par;
}
double xanes_simulate_reference_absorbance(const xanes_simulate_scene *s, double energy_true_ev)
{
    /* pre-edge level and E^-3-like slope of a pellet, plus the NiO edge */
    const sim_component c = {1.25, s->nio_shift_ev};
    return 0.45 - 4.0e-4 * (energy_true_ev - s->nio_edge_ev) +
           sim_spectrum_eval(&s->ni2, &c, 1, energy_true_ev);
}

xanes_status xanes_simulate_run(const xanes_simulate_params *p, const char *stack_path,
                                const char *truth_path, const char *ref_path,
                                xanes_simulate_summary *summary, xanes_error *err)
{
    xanes_simulate_scene *sc = NULL;
    xanes_simulate_summary sum;
    memset(&sum, 0, sizeof sum);
    if (stack_path == NULL)
        return XANES_RAISE(err, XANES_EINVAL, "no output stack path");
    xanes_status st = xanes_simulate_scene_alloc(p, &sc, err);
    if (st != XANES_OK)
        return st;
    st = sim_write_stack(sc, stack_path, &sum, err);
    if (st == XANES_OK && truth_path != NULL)
        st = sim_write_truth(sc, truth_path, err);
    sum.ref_edge_true_ev = sc->nio_edge_ev;
    sum.ref_edge_grid_ev = sc->ref_edge_grid;
    if (st == XANES_OK && ref_path != NULL)
        st = sim_write_ref(sc, ref_path, &sum.ref_edge_true_ev, err);
    sum.n_particles = sc->np;
    sum.edge_min_ev = INFINITY;
    sum.edge_max_ev = -INFINITY;
    for (size_t i = 0; i < sc->np; i++) {
        double e = sc->p_edge[i];
        sum.edge_mean_ev += e / (double)sc->np;
        sum.edge_min_ev = e < sum.edge_min_ev ? e : sum.edge_min_ev;
        sum.edge_max_ev = e > sum.edge_max_ev ? e : sum.edge_max_ev;
    }
    for (size_t i = 0; i < sc->np; i++)
        sum.edge_std_ev += (sc->p_edge[i] - sum.edge_mean_ev) * (sc->p_edge[i] - sum.edge_mean_ev);
    sum.edge_std_ev = sc->np > 1 ? sqrt(sum.edge_std_ev / (double)(sc->np - 1)) : 0.0;
    if (sc->np == 0)
        sum.edge_mean_ev = sum.edge_min_ev = sum.edge_max_ev = NAN;
    if (summary != NULL)
        *summary = sum;
    xanes_simulate_scene_free(sc);
    return st;
}
