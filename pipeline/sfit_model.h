/* sfit_model.h: private pieces of the S K-edge fit shared by sfit.c and
 * sfit_model.c (and white-box tests): parameter layout, the model with its
 * analytic gradient, and the bound transform. */
#ifndef XANES_SFIT_MODEL_H
#define XANES_SFIT_MODEL_H

#include <stddef.h>

#include <gsl/gsl_matrix.h>
#include <gsl/gsl_multifit.h>
#include <gsl/gsl_multifit_nlinear.h>
#include <gsl/gsl_vector.h>

#include "xanes/sfit.h"

#define MAX_P XANES_SFIT_MAX_PARAMS

/* Parameter order: E0, w, H, then per peak [c], f, A. */
enum { SFIT_P_E0 = 0, SFIT_P_W = 1, SFIT_P_H = 2, SFIT_P_PEAK0 = 3 };

typedef struct {
    xanes_sfit_shape shape;
    xanes_sfit_step_form step;
    size_t n_peaks;
    int fix_centers;
    double eta;                                /* pseudo-Voigt fraction */
    double fixed_center[XANES_SFIT_MAX_PEAKS]; /* used when fix_centers */
} sfit_layout;

void sfit_layout_from_params(const xanes_sfit_params *p, sfit_layout *L);
size_t sfit_n_params(const sfit_layout *L);
/* Index of peak k's centre (SIZE_MAX when fixed), FWHM and height. */
size_t sfit_idx_center(const sfit_layout *L, size_t k);
size_t sfit_idx_fwhm(const sfit_layout *L, size_t k);
size_t sfit_idx_height(const sfit_layout *L, size_t k);

/* Area per (height * FWHM) of the shape: sqrt(pi/(4 ln2)), pi/2, or the mix. */
double sfit_area_factor(const sfit_layout *L);

/* Model at energy e for external parameters x.  Any output may be NULL:
 * total, step (step component), peaks[n_peaks] (each peak), grad[p]
 * (d total / d x).  Pure function. */
void sfit_model_point(const sfit_layout *L, const double *x, double e, double *total, double *step,
                      double *peaks, double *grad);

/* Peak k alone and its gradient d peak_k / d x (grad[p], zero elsewhere). */
void sfit_peak_point(const sfit_layout *L, const double *x, size_t k, double e, double *val,
                     double *grad);

/* The MINUIT/lmfit sine transform between an unbounded internal u and an
 * external x in [lo, hi]. */
double sfit_to_ext(double u, double lo, double hi);
double sfit_dext_du(double u, double lo, double hi);
double sfit_to_int(double x, double lo, double hi);

/* The workspace, shared by the driver (sfit.c) and the uncertainty and
 * window-area stage (sfit_uncert.c). */
struct xanes_sfit_workspace {
    size_t n_max, p;
    size_t n_peaks;
    int fix_centers;
    sfit_layout L;
    size_t n;                       /* points of the current fit */
    double *e, *y, *scratch, *twin; /* [n_max] */
    double lo[MAX_P], hi[MAX_P];
    int frozen[MAX_P]; /* pinned to a bound: Jacobian column zero */
    gsl_multifit_nlinear_workspace *nl;
    gsl_matrix *jbest; /* n_max x p */
    gsl_matrix *covar; /* p x p */
    gsl_vector *u0;
    gsl_multifit_linear_workspace *lin;
    gsl_matrix *xlin, *covlin; /* n_max x (N+1), (N+1)^2 */
    gsl_vector *ylin, *clin;
};

/* Given the kept internal parameters u (ws->n points selected, bounds set),
 * fills res: values, errors, correlations, peaks, window area, warnings. */
xanes_status sfit_uncertainties(xanes_sfit_workspace *ws, const xanes_sfit_params *p,
                                const double *u, double ssr, xanes_sfit_result *res,
                                xanes_error *err);

/* Nonzero when x lies within p->bound_frac of the span from lo or hi. */
int sfit_at_bound(const xanes_sfit_params *p, double x, double lo, double hi);

/* Jacobian d(model)/du at u into J (ws->n_max x ws->p; rows past n zero). */
void sfit_jacobian(const xanes_sfit_workspace *ws, const double *u, gsl_matrix *J);

#endif
