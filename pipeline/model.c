/* model.c: SoC-heterogeneity of a composite cathode under galvanostatic charge.
 *
 * The seed paper's causal chain (Lee et al., Mater. Horiz. 2025, section 2.3):
 * CAM|SE contact uniformity -> particle-level SoC heterogeneity -> overcharged
 * particles.  We model N NCM811 particles in parallel on one electrode
 * potential V.  Particle i (radius r_i, SE coverage c_i, carbon contact e_i,
 * depth d_i in the composite) exchanges lithium through resistances in series:
 *
 *   R_ct   = R T / (F j0(T) c_i A_i)          linearised Butler-Volmer (alpha = 0.5),
 *                                              only the covered area c_i A_i reacts
 *   R_ion  = d_i / (sigma_eff(T) c_i A_i)     ionic path through the SE to the contact,
 *                                              sigma_eff = sigma_SE eps^b (Bruggeman)
 *   R_e    = rho_e / (e_i A_i)                 electronic contact through the part of
 *                                              the surface that touches carbon
 *   R_diff = |dU/dy| r_i / (5 D(T) c_max F A_i) solid diffusion, polynomial profile
 *                                              (Subramanian et al., J. Electrochem. Soc.
 *                                              152, A2002 (2005): c_s - c_avg = -J r/(5D))
 *
 * The SE and the carbon share the particle surface, and the mixing order of
 * the seed paper (section 2.1) decides who gets it: where the SE reached the
 * NCM first ([NCM+SE] first, and [SE+VGCF] clusters) carbon can only touch
 * the SE-free rest, e_i = 1 - c_i; where carbon came first ([NCM+VGCF]
 * first) e_i = 1.  So a particle wrapped in SE is well connected ionically
 * and poorly electronically, the one mechanism here by which more coverage
 * can lower the end-of-charge edge (Fig. 3: NCM-A's edges lie below NCM-B's
 * best).  I_i = (V - U(y_i)) / R_i and, at a fixed applied current I,
 * V = (I + sum U_i/R_i) / sum 1/R_i.  Particles with c_i or e_i below the
 * isolation threshold carry no current.  Lithium content follows dy_i/dt =
 * -I_i/(F c_max V_i), integrated with GSL odeiv2 (rkf45, error control); the
 * charge cut-off is located inside the last step by bisection.  Temperature
 * enters through Arrhenius factors on j0, sigma_SE and D (R_e is taken as
 * temperature-independent).  Every number comes from
 * calibration/configs.json.  The end-of-charge lithium content becomes a SoC
 * on the calibration scale (y_initial -> SoC 0, y_initial - y_per_soc -> 1)
 * and an edge energy through calibration/standards.json.
 *
 * The fit (xanes_model_fit) sets one configuration's coverage Beta to the
 * edge mean and std of Fig. 3, with the mean coverage held inside bounds
 * taken from the paper's SEM/EDS description: a coarse grid (its points in
 * parallel), Nelder-Mead on a 500-particle subset, then on the full ensemble.
 *
 * What is left out, on purpose: Butler-Volmer non-linearity (charge-transfer
 * overpotentials of the fitted ensembles are tens of mV at C/3; the large
 * polarisation of NCM-A and NCM-C is the ohmic R_e), the electronic
 * resistance of the composite beyond the particle contact, particle
 * cracking, contact loss during cycling.  Note that the seed paper finds
 * electronic conduction secondary (its carbon-free cell cycles at 60 C);
 * the fit to Fig. 3 makes it primary for NCM-A (see README).
 */
#include "xanes/model.h"

#include "model_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_math.h>
#include <gsl/gsl_odeiv2.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#define FARADAY 96485.33212 /* C/mol, CODATA 2018 (exact) */
#define GAS_R 8.314462618   /* J/(mol K), CODATA 2018 (exact) */
#define MAX_BETA_SHAPE 1e5  /* largest accepted coverage Beta shape parameter */

void xanes_model_default_params(xanes_model_params *p)
{
    p->n_particles = 2000;
    p->seed = 1;
    p->c_rate = 1.0 / 3.0;
    p->temperature_c = 60.0;
    p->cutoff_v = 4.2;
    p->discharge = 0;
    /* y is O(0.1-1); Sum q_i y_i is conserved by any Runge-Kutta step
     * whatever the tolerance, since it is a linear invariant. */
    p->rel_tol = 1e-7;
    p->abs_tol = 1e-9;
    p->fit_coarse_particles = 500;
    /* 1e-3 in log concentration moves the edge std by well under 0.001 eV */
    p->fit_tol = 1e-3;
}

void xanes_model_result_free(xanes_model_result *r)
{
    if (r == NULL)
        return;
    free(r->particle);
    free(r);
}

/* Everything the right-hand side needs, fixed during one integration. */
typedef struct {
    const xanes_model_data *d;
    size_t n;
    double current_a;       /* applied, > 0 charges (removes Li) */
    const double *q_c;      /* F c_max V_i: charge per unit y, C */
    const double *r_fixed;  /* R_ct + R_ion, ohm (INFINITY = isolated) */
    const double *r_diff_k; /* R_diff / |dU/dy| */
    int linear_ocv;
    double ocv_a, ocv_b;
} system_ctx;

static double ocv(const system_ctx *s, double y, double *dudy)
{
    if (s->linear_ocv) {
        *dudy = -s->ocv_b;
        return s->ocv_a - s->ocv_b * y;
    }
    return xanes_model_ocv(s->d, y, dudy);
}

/* Electrode potential for state y; also the currents when current_out is
 * given (then u_g is scratch [2n] for the per-particle OCV and conductance). */
static double potential(const system_ctx *s, const double *y, double *current_out, double *u_g)
{
    double sum_g = 0.0, sum_ug = 0.0;
    for (size_t i = 0; i < s->n; i++) {
        if (!isfinite(s->r_fixed[i])) {
            if (u_g != NULL)
                u_g[2 * i + 1] = 0.0;
            continue;
        }
        double dudy;
        double u = ocv(s, y[i], &dudy);
        double g = 1.0 / (s->r_fixed[i] + s->r_diff_k[i] * fabs(dudy));
        sum_g += g;
        sum_ug += u * g;
        if (u_g != NULL) {
            u_g[2 * i] = u;
            u_g[2 * i + 1] = g;
        }
    }
    double v = (s->current_a + sum_ug) / sum_g;
    if (current_out != NULL)
        for (size_t i = 0; i < s->n; i++)
            current_out[i] = u_g[2 * i + 1] == 0.0 ? 0.0 : (v - u_g[2 * i]) * u_g[2 * i + 1];
    return v;
}

typedef struct {
    system_ctx *sys;
    double *current; /* scratch [n] */
    double *u_g;     /* scratch [2n] */
} rhs_ctx;

static int rhs(double t, const double y[], double dydt[], void *params)
{
    (void)t;
    rhs_ctx *c = params;
    potential(c->sys, y, c->current, c->u_g);
    for (size_t i = 0; i < c->sys->n; i++)
        dydt[i] = -c->current[i] / c->sys->q_c[i];
    return GSL_SUCCESS;
}

/* Integrates from state y (time *t) until V crosses cutoff (upwards when
 * charging, downwards when discharging).  On success y and *t hold the state
 * at the crossing, located to 1e-9 of the last step. */
static xanes_status integrate_to_cutoff(rhs_ctx *rc, double *y, double *t, double cutoff_v,
                                        double t_max, double rel_tol, double abs_tol,
                                        xanes_error *err)
{
    size_t n = rc->sys->n;
    int charging = rc->sys->current_a > 0;
    xanes_status st = XANES_OK;
    gsl_odeiv2_system sys = {rhs, NULL, n, rc};
    gsl_odeiv2_step *step = gsl_odeiv2_step_alloc(gsl_odeiv2_step_rkf45, n);
    gsl_odeiv2_step *fine = gsl_odeiv2_step_alloc(gsl_odeiv2_step_rk8pd, n);
    gsl_odeiv2_control *ctl = gsl_odeiv2_control_y_new(abs_tol, rel_tol);
    gsl_odeiv2_evolve *ev = gsl_odeiv2_evolve_alloc(n);
    double *y_prev = malloc(n * sizeof(double));
    double *y_try = malloc(n * sizeof(double));
    double *yerr = malloc(n * sizeof(double));
    if (!step || !fine || !ctl || !ev || !y_prev || !y_try || !yerr) {
        st = XANES_RAISE(err, XANES_ENOMEM, "model: out of memory for the integrator");
        goto done;
    }
    double v = potential(rc->sys, y, NULL, NULL);
    if (charging ? v >= cutoff_v : v <= cutoff_v) {
        st = XANES_RAISE(err, XANES_ENOCONV,
                         "model: the cut-off %.3f V is reached at once (V = %.3f V): the "
                         "current is too high for this cathode",
                         cutoff_v, v);
        goto done;
    }
    double h = 1.0;
    for (;;) {
        memcpy(y_prev, y, n * sizeof(double));
        double t_prev = *t;
        int s = gsl_odeiv2_evolve_apply(ev, ctl, step, &sys, t, t_max, &h, y);
        if (s != GSL_SUCCESS) {
            st = XANES_RAISE(err, XANES_ENOCONV, "model: ODE integration failed at t = %g s: %s",
                             *t, gsl_strerror(s));
            goto done;
        }
        v = potential(rc->sys, y, NULL, NULL);
        if (charging ? v >= cutoff_v : v <= cutoff_v) {
            /* Bisect the crossing inside [t_prev, *t] with single high-order
             * steps from the accepted previous state. */
            double lo = 0.0, hi = *t - t_prev;
            for (int it = 0; it < 60 && hi - lo > 1e-9 * (hi + 1e-30); it++) {
                double mid = 0.5 * (lo + hi);
                memcpy(y_try, y_prev, n * sizeof(double));
                gsl_odeiv2_step_reset(fine);
                if (gsl_odeiv2_step_apply(fine, t_prev, mid, y_try, yerr, NULL, NULL, &sys) !=
                    GSL_SUCCESS) {
                    st = XANES_RAISE(err, XANES_ENOCONV, "model: step failed locating cut-off");
                    goto done;
                }
                double vm = potential(rc->sys, y_try, NULL, NULL);
                if (charging ? vm >= cutoff_v : vm <= cutoff_v)
                    hi = mid;
                else
                    lo = mid;
            }
            memcpy(y, y_prev, n * sizeof(double));
            gsl_odeiv2_step_reset(fine);
            gsl_odeiv2_step_apply(fine, t_prev, hi, y, yerr, NULL, NULL, &sys);
            *t = t_prev + hi;
            break;
        }
        if (*t >= t_max) {
            st = XANES_RAISE(err, XANES_ENOCONV,
                             "model: cut-off %.3f V not reached within %.0f s (V = %.4f V)",
                             cutoff_v, t_max, v);
            goto done;
        }
    }
done:
    free(y_prev);
    free(y_try);
    free(yerr);
    if (ev)
        gsl_odeiv2_evolve_free(ev);
    if (ctl)
        gsl_odeiv2_control_free(ctl);
    if (fine)
        gsl_odeiv2_step_free(fine);
    if (step)
        gsl_odeiv2_step_free(step);
    return st;
}

static double arrhenius(double ea_j_mol, double t_k, double t_ref_k)
{
    return exp(-ea_j_mol / GAS_R * (1.0 / t_k - 1.0 / t_ref_k));
}

/* Charge per unit y (C), R_ct + R_ion and R_diff / |dU/dy| of one particle. */
static void particle_constants(const xanes_model_common *c, double t_k,
                               const xanes_model_particle *pp, double *q_c, double *r_fixed,
                               double *r_diff_k)
{
    double j0 = c->j0_a_m2 * arrhenius(c->j0_ea_j_mol, t_k, c->t_ref_k);
    double sigma = c->sigma_se_s_m * arrhenius(c->sigma_se_ea_j_mol, t_k, c->t_ref_k) *
                   pow(c->se_volume_fraction, c->bruggeman);
    double dif = c->d_s_m2_s * arrhenius(c->d_s_ea_j_mol, t_k, c->t_ref_k);
    double rad = pp->radius_um * 1e-6;
    double area = 4.0 * M_PI * rad * rad;
    double vol = area * rad / 3.0;
    double cov = pp->coverage;
    *q_c = FARADAY * c->c_max_mol_m3 * vol;
    /* Electrons enter through the part of the surface that touches carbon
     * (or a neighbouring particle), carbon_contact; either contact below
     * the isolation threshold cuts the particle off. */
    double ec = pp->carbon_contact;
    int electronic = c->e_contact_ohm_m2 > 0.0;
    if (!(cov >= c->isolation_coverage) || !(cov > 0) ||
        (electronic && !(ec >= c->isolation_coverage))) {
        *r_fixed = INFINITY;
    } else {
        double r_ct = GAS_R * t_k / (FARADAY * j0 * cov * area);
        double r_ion = pp->depth_um * 1e-6 / (sigma * cov * area);
        double r_e = electronic ? c->e_contact_ohm_m2 / (ec * area) : 0.0;
        *r_fixed = r_ct + r_ion + r_e;
    }
    *r_diff_k = rad / (5.0 * dif * c->c_max_mol_m3 * FARADAY * area);
}

double xanes_model_resistance_ohm(const xanes_model_data *d, const xanes_model_params *p,
                                  const xanes_model_particle *particle, double dudy)
{
    double q, rf, rk;
    particle_constants(xanes_model_data_common(d), p->temperature_c + 273.15, particle, &q, &rf,
                       &rk);
    return rf + rk * fabs(dudy);
}

xanes_status xanes_model_run_ensemble(const xanes_model_data *d, const xanes_standards *stds,
                                      const xanes_model_params *p, xanes_model_particle *particle,
                                      size_t n, int linear_ocv, double ocv_a, double ocv_b,
                                      xanes_model_result **out, xanes_error *err)
{
    *out = NULL;
    if (n == 0 || !(p->c_rate > 0 && p->c_rate <= 100) ||
        !(p->temperature_c > -60 && p->temperature_c < 200) ||
        !(p->cutoff_v > 2.0 && p->cutoff_v < 5.5))
        return XANES_RAISE(err, XANES_EINVAL,
                           "model: absurd parameters (particles %zu, C-rate %g, T %g C, cut-off "
                           "%g V)",
                           n, p->c_rate, p->temperature_c, p->cutoff_v);
    const xanes_model_common *c = xanes_model_data_common(d);
    xanes_status st = XANES_OK;
    xanes_model_result *r = calloc(1, sizeof *r);
    double *buf = malloc(7 * n * sizeof(double));
    if (r == NULL || buf == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM, "model: out of memory for %zu particles", n);
        goto done;
    }
    double *q_c = buf, *r_fixed = buf + n, *r_diff_k = buf + 2 * n, *y = buf + 3 * n,
           *cur = buf + 4 * n;
    double t_k = p->temperature_c + 273.15;
    double mass_kg = 0.0;
    size_t n_active = 0;
    for (size_t i = 0; i < n; i++) {
        double rad = particle[i].radius_um * 1e-6;
        mass_kg += c->density_kg_m3 * 4.0 / 3.0 * M_PI * rad * rad * rad;
        particle_constants(c, t_k, &particle[i], &q_c[i], &r_fixed[i], &r_diff_k[i]);
        particle[i].isolated = !isfinite(r_fixed[i]);
        n_active += particle[i].isolated ? 0 : 1;
        y[i] = c->y_initial;
    }
    if (n_active == 0) {
        st = XANES_RAISE(err, XANES_EDATA,
                         "model: every particle is below the isolation coverage %.3f",
                         c->isolation_coverage);
        goto done;
    }
    double current = p->c_rate * c->one_c_a_kg * mass_kg;
    system_ctx sys = {d, n, current, q_c, r_fixed, r_diff_k, linear_ocv, ocv_a, ocv_b};
    rhs_ctx rc = {&sys, cur, buf + 5 * n};
    double t = 0.0;
    double t_max = 3.0 * 3600.0 / p->c_rate;
    st = integrate_to_cutoff(&rc, y, &t, p->cutoff_v, t_max, p->rel_tol, p->abs_tol, err);
    if (st != XANES_OK)
        goto done;
    r->charge_time_s = t;
    r->charge_passed_c = current * t;
    double stored = 0.0;
    for (size_t i = 0; i < n; i++) {
        stored += q_c[i] * (c->y_initial - y[i]);
        particle[i].y_end_of_charge = y[i];
        particle[i].soc = (c->y_initial - y[i]) / c->y_per_soc;
        particle[i].edge_ev = xanes_standards_edge_from_soc(stds, particle[i].soc);
    }
    r->charge_stored_c = stored;
    double grams = mass_kg * 1000.0;
    r->charge_capacity_mah_g = r->charge_passed_c / 3.6 / grams;
    r->discharge_capacity_mah_g = NAN;
    if (p->discharge) {
        sys.current_a = -current;
        double t0 = t;
        st = integrate_to_cutoff(&rc, y, &t, c->discharge_cutoff_v, t + t_max, p->rel_tol,
                                 p->abs_tol, err);
        if (st != XANES_OK)
            goto done;
        r->discharge_capacity_mah_g = current * (t - t0) / 3.6 / grams;
    }
    /* Edge statistics in particle order: no order-dependent reductions. */
    double sum = 0.0, sum2 = 0.0;
    size_t over = 0;
    r->edge_min_ev = r->edge_max_ev = particle[0].edge_ev;
    for (size_t i = 0; i < n; i++) {
        sum += particle[i].edge_ev;
        over += xanes_standards_is_overcharged(stds, particle[i].edge_ev) ? 1 : 0;
        r->edge_min_ev = fmin(r->edge_min_ev, particle[i].edge_ev);
        r->edge_max_ev = fmax(r->edge_max_ev, particle[i].edge_ev);
    }
    r->edge_mean_ev = sum / (double)n;
    for (size_t i = 0; i < n; i++)
        sum2 += (particle[i].edge_ev - r->edge_mean_ev) * (particle[i].edge_ev - r->edge_mean_ev);
    r->edge_std_ev = n > 1 ? sqrt(sum2 / (double)(n - 1)) : 0.0;
    r->overcharged_fraction = (double)over / (double)n;
    r->n = n;
    r->particle = malloc(n * sizeof *r->particle);
    if (r->particle == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM, "model: out of memory");
        goto done;
    }
    memcpy(r->particle, particle, n * sizeof *particle);
done:
    free(buf);
    if (st != XANES_OK) {
        xanes_model_result_free(r);
        r = NULL;
    }
    *out = r;
    return st;
}

/* Draws radii, coverage quantiles (uniform, turned into Beta(alpha, beta)
 * later so that a fit sees common random numbers) and depths. */
xanes_status model_draw_ensemble(const xanes_model_common *c, const xanes_model_params *p,
                                 xanes_model_particle *part, double *u_cov, xanes_error *err)
{
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    if (rng == NULL)
        return XANES_RAISE(err, XANES_ENOMEM, "model: cannot allocate the RNG");
    gsl_rng_set(rng, p->seed);
    for (size_t i = 0; i < p->n_particles; i++) {
        double rad;
        do {
            rad = c->radius_median_um * exp(c->radius_sigma_ln * gsl_ran_gaussian(rng, 1.0));
        } while (rad > c->radius_max_um);
        part[i].radius_um = rad;
        u_cov[i] = gsl_rng_uniform_pos(rng);
        part[i].depth_um = c->thickness_um * gsl_rng_uniform(rng);
    }
    gsl_rng_free(rng);
    return XANES_OK;
}

/* Beta quantile.  GSL's inverse fails to converge for large alpha and beta
 * (narrow distributions, which the fits reach); bisection on the CDF, which
 * is monotone, always works and is used as the fallback. */
static double beta_quantile(double u, double alpha, double beta)
{
    double x = gsl_cdf_beta_Pinv(u, alpha, beta);
    if (isfinite(x) && x >= 0.0 && x <= 1.0)
        return x;
    double lo = 0.0, hi = 1.0;
    for (int it = 0; it < 80; it++) {
        double mid = 0.5 * (lo + hi);
        if (gsl_cdf_beta_P(mid, alpha, beta) < u)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

/* Coverage from the quantiles, and the electronic contact that goes with
 * it: where the SE reached the NCM first it holds fraction c of the surface
 * and carbon can only touch the rest, 1 - c; where carbon came first
 * ([NCM+VGCF] first) its contacts are made before the SE arrives. */
void model_apply_coverage(xanes_model_particle *part, const double *u_cov, size_t n, double alpha,
                          double beta, int carbon_first)
{
    for (size_t i = 0; i < n; i++) {
        part[i].coverage = beta_quantile(u_cov[i], alpha, beta);
        part[i].carbon_contact = carbon_first ? 1.0 : 1.0 - part[i].coverage;
    }
}

xanes_status xanes_model_run(const xanes_model_data *d, const xanes_model_config *cfg,
                             const xanes_standards *stds, const xanes_model_params *p,
                             xanes_model_result **out, xanes_error *err)
{
    *out = NULL;
    if (p->n_particles == 0 || p->n_particles > 10000000)
        return XANES_RAISE(err, XANES_EINVAL, "model: particle count %zu out of range [1, 1e7]",
                           p->n_particles);
    /* GSL's Beta quantile never returns for infinite shape parameters; the
     * fits stay far below the bound (Beta(1e5, .) is already a spike). */
    if (!(cfg->coverage_alpha > 0.0 && cfg->coverage_alpha <= MAX_BETA_SHAPE &&
          cfg->coverage_beta > 0.0 && cfg->coverage_beta <= MAX_BETA_SHAPE))
        return XANES_RAISE(err, XANES_EINVAL,
                           "model: configuration '%s': coverage Beta(%g, %g) needs both shape "
                           "parameters in (0, %g]",
                           cfg->name, cfg->coverage_alpha, cfg->coverage_beta, MAX_BETA_SHAPE);
    xanes_model_particle *part = calloc(p->n_particles, sizeof *part);
    double *u = malloc(p->n_particles * sizeof(double));
    xanes_status st;
    if (part == NULL || u == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM, "model: out of memory");
        goto done;
    }
    st = model_draw_ensemble(xanes_model_data_common(d), p, part, u, err);
    if (st != XANES_OK)
        goto done;
    model_apply_coverage(part, u, p->n_particles, cfg->coverage_alpha, cfg->coverage_beta,
                         cfg->carbon_first);
    st = xanes_model_run_ensemble(d, stds, p, part, p->n_particles, 0, 0, 0, out, err);
done:
    free(part);
    free(u);
    return st;
}
