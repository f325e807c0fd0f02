/* model_fit.c: calibration of a configuration's SE-coverage distribution.
 *
 * xanes_model_fit sets Beta(alpha, beta) of one configuration so that the
 * end-of-charge Ni K-edge energies of the model ensemble (pipeline/model.c)
 * have the target mean and std, the seed paper's Fig. 3 charged-state
 * values (Lee et al., Mater. Horiz. 2025, section 2.3).  Search space:
 * x0 = logit of the mean coverage inside the configuration's bounds, x1 =
 * log of the concentration alpha + beta.  The objective is least squares in
 * units of 0.01 eV on common random numbers (one ensemble, one set of
 * coverage quantiles), so it is smooth in (x0, x1).  It has plateaus (all
 * particles isolated, all at the cut-off), so a coarse 8 x 10 grid picks
 * the start; GSL's nmsimplex2 refines on the first fit_coarse_particles
 * particles and then on the whole ensemble, so most integrations are cheap
 * ones.  Grid points run in parallel, each a deterministic integration on
 * the thread's own copy of the ensemble: the result does not depend on the
 * thread count.  Sizes: a few thousand particles, some 250 integrations.
 */
#include "xanes/model.h"

#include "model_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_multimin.h>

typedef struct {
    const xanes_model_data *d;
    const xanes_standards *stds;
    const xanes_model_params *p;
    xanes_model_particle *part; /* scratch ensemble, one per thread */
    const double *u;
    size_t n; /* particles used: the first n of the ensemble */
    double target_mean, target_std;
    double mean_min, mean_max; /* bounds of the mean coverage */
    int carbon_first;
} fit_ctx;

/* Beta(alpha, beta) from the mean coverage m = alpha/(alpha+beta) and the
 * concentration k = alpha+beta, searched as (x0, log k) with m = lo + (hi -
 * lo) / (1 + exp(-x0)): the two move the edge mean and its spread nearly
 * independently, and m stays inside the configuration's bounds. */
static void beta_from_x(const fit_ctx *f, double x0, double x1, double *alpha, double *beta)
{
    double m = f->mean_min + (f->mean_max - f->mean_min) / (1.0 + exp(-x0));
    double k = exp(x1);
    *alpha = m * k;
    *beta = (1.0 - m) * k;
}

static double fit_eval(fit_ctx *f, double x0, double x1)
{
    double alpha, beta;
    beta_from_x(f, x0, x1, &alpha, &beta);
    if (!(alpha > 1e-3 && alpha < 1e4 && beta > 1e-3 && beta < 1e4))
        return 1e12;
    model_apply_coverage(f->part, f->u, f->n, alpha, beta, f->carbon_first);
    xanes_model_result *r = NULL;
    if (xanes_model_run_ensemble(f->d, f->stds, f->p, f->part, f->n, 0, 0, 0, &r, NULL) != XANES_OK)
        return 1e12;
    /* 0.01 eV scale: both targets weigh the same in eV */
    double dm = (r->edge_mean_ev - f->target_mean) / 0.01;
    double ds = (r->edge_std_ev - f->target_std) / 0.01;
    xanes_model_result_free(r);
    return dm * dm + ds * ds;
}

static double fit_objective(const gsl_vector *x, void *params)
{
    return fit_eval(params, gsl_vector_get(x, 0), gsl_vector_get(x, 1));
}

/* The coarse start grid: mean-coverage logit x0 by columns, log k by rows. */
#define GRID_N0 8
#define GRID_N1 10
#define GRID_X0(i) (-3.5 + (double)(i))
#define GRID_X1(j) (-1.0 + (double)(j))

/* Objective on the whole start grid, grid points shared out over threads.
 * Each point is one deterministic integration on the thread's own copy of
 * the ensemble, so the values do not depend on the thread count. */
static int grid_objective(const fit_ctx *f0, const xanes_model_particle *part0,
                          double value[GRID_N0 * GRID_N1])
{
    size_t n = f0->n;
    int failed = 0;
#pragma omp parallel default(none) shared(f0, part0, value, n, failed)
    {
        fit_ctx f = *f0;
        f.part = malloc(n * sizeof *f.part);
        if (f.part == NULL) {
#pragma omp atomic write
            failed = 1;
        } else {
            memcpy(f.part, part0, n * sizeof *f.part);
        }
#pragma omp for schedule(static)
        for (int g = 0; g < GRID_N0 * GRID_N1; g++)
            value[g] =
                f.part == NULL ? 1e12 : fit_eval(&f, GRID_X0(g / GRID_N1), GRID_X1(g % GRID_N1));
        free(f.part);
    }
    return failed ? -1 : 0;
}

/* Nelder-Mead (GSL nmsimplex2) from x with first step `step` until the
 * simplex is smaller than tol; m->x holds the best point. */
static void simplex(gsl_multimin_fminimizer *m, gsl_multimin_function *fn, const gsl_vector *x,
                    double step, double tol)
{
    gsl_vector *s = gsl_vector_alloc(2);
    if (s == NULL)
        return;
    gsl_vector_set_all(s, step);
    gsl_multimin_fminimizer_set(m, fn, x, s);
    int status = GSL_CONTINUE;
    for (int it = 0; it < 400 && status == GSL_CONTINUE; it++) {
        if (gsl_multimin_fminimizer_iterate(m) != GSL_SUCCESS)
            break;
        status = gsl_multimin_test_size(gsl_multimin_fminimizer_size(m), tol);
    }
    gsl_vector_free(s);
}

xanes_status xanes_model_fit(const xanes_model_data *d, xanes_model_config *cfg,
                             const xanes_standards *stds, const xanes_model_params *p,
                             double target_mean_ev, double target_std_ev, double achieved[2],
                             xanes_error *err)
{
    xanes_status st = XANES_OK;
    size_t n = p->n_particles;
    if (!(cfg->fit_mean_min >= 0.0 && cfg->fit_mean_min < cfg->fit_mean_max &&
          cfg->fit_mean_max <= 1.0))
        return XANES_RAISE(err, XANES_EINVAL,
                           "model fit: configuration '%s': mean-coverage bounds [%g, %g] are "
                           "not inside [0, 1]",
                           cfg->name, cfg->fit_mean_min, cfg->fit_mean_max);
    xanes_model_particle *part = calloc(n, sizeof *part);
    double *u = malloc(n * sizeof(double));
    double *grid = malloc(GRID_N0 * GRID_N1 * sizeof(double));
    gsl_multimin_fminimizer *m =
        gsl_multimin_fminimizer_alloc(gsl_multimin_fminimizer_nmsimplex2, 2);
    gsl_vector *x = gsl_vector_alloc(2);
    if (!part || !u || !grid || !m || !x) {
        st = XANES_RAISE(err, XANES_ENOMEM, "model fit: out of memory");
        goto done;
    }
    if ((st = model_draw_ensemble(xanes_model_data_common(d), p, part, u, err)) != XANES_OK)
        goto done;
    size_t n_coarse =
        p->fit_coarse_particles > 0 && p->fit_coarse_particles < n ? p->fit_coarse_particles : n;
    fit_ctx f = {d,
                 stds,
                 p,
                 part,
                 u,
                 n_coarse,
                 target_mean_ev,
                 target_std_ev,
                 cfg->fit_mean_min,
                 cfg->fit_mean_max,
                 cfg->carbon_first};
    gsl_multimin_function fn = {fit_objective, 2, &f};
    /* The objective has flat plateaus (all particles isolated, all at the
     * cut-off), so start the simplex from the best point of a coarse grid. */
    if (grid_objective(&f, part, grid) != 0) {
        st = XANES_RAISE(err, XANES_ENOMEM, "model fit: out of memory");
        goto done;
    }
    size_t best = 0;
    for (size_t g = 1; g < GRID_N0 * GRID_N1; g++)
        if (grid[g] < grid[best])
            best = g;
    gsl_vector_set(x, 0, GRID_X0(best / GRID_N1));
    gsl_vector_set(x, 1, GRID_X1(best % GRID_N1));
    /* Simplex on the coarse ensemble from the grid's best point, then on
     * the whole ensemble from there with a smaller first step: most
     * iterations are spent where integrations are cheap. */
    simplex(m, &fn, x, 0.5, f.n < n ? 0.1 * p->fit_tol : p->fit_tol);
    if (f.n < n) {
        f.n = n;
        gsl_vector_memcpy(x, m->x);
        simplex(m, &fn, x, 0.05, p->fit_tol);
    }
    beta_from_x(&f, gsl_vector_get(m->x, 0), gsl_vector_get(m->x, 1), &cfg->coverage_alpha,
                &cfg->coverage_beta);
    {
        xanes_model_result *r = NULL;
        model_apply_coverage(part, u, n, cfg->coverage_alpha, cfg->coverage_beta,
                             cfg->carbon_first);
        if ((st = xanes_model_run_ensemble(d, stds, p, part, n, 0, 0, 0, &r, err)) != XANES_OK)
            goto done;
        achieved[0] = r->edge_mean_ev;
        achieved[1] = r->edge_std_ev;
        xanes_model_result_free(r);
    }
    cfg->fitted = 1;
    cfg->target_edge_mean_ev = target_mean_ev;
    cfg->target_edge_std_ev = target_std_ev;
done:
    gsl_vector_free(x);
    if (m)
        gsl_multimin_fminimizer_free(m);
    free(grid);
    free(part);
    free(u);
    return st;
}
