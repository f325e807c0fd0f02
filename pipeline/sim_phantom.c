/* sim_phantom.c: the simulated sample -- NCM secondary particles in a weak
 * matrix -- its truth maps and its noise-free absorbance frames.
 *
 * Particles are ellipsoids: in-plane semi-axes a >= b rotated by theta, a
 * semi-axis c = sqrt(a b) along the beam, so the projected thickness at
 * normalized in-plane radius rho is 2 c sqrt(1 - rho^2) (continuous, zero at
 * the rim).  They are placed by rejection sampling with a gap of at least
 * two pixels, except touching pairs, whose centres sit at (1 - overlap) times
 * the sum of their radii along the joining line, so their projections share
 * a neck that segmentation must split.
 *
 * Absorbance of a point at true energy E (Beer-Lambert, thicknesses add):
 *   A = m(y,x) L(E) + sum_i t_i(y,x) J [ p L(E) + f_i(E) ]
 * with m the matrix texture (a mean plus four smooth plane waves), L(E) the
 * E^-3 law linearized about the pristine edge, J the Ni edge step per pixel
 * of thickness, p the non-Ni absorbance below the edge per unit edge step,
 * and f_i the particle's normalized Ni spectrum (sim_soc_components).  Every
 * non-Ni term is linear in E, which the edge definition (a least-squares
 * pre-edge line, then a post-edge line of nnorm 1) removes exactly on any
 * grid, so the edge of a single-particle pixel is that of f_i alone, E(SoC)
 * on the fine grid, whatever its thickness.
 * Frames are evaluated analytically at the drifted coordinates, so the drift
 * is exact.  OpenMP runs over the rows of a frame (static schedule; each
 * pixel's value does not depend on the thread that computes it).
 */
#include "sim_private.h"

#include <math.h>
#include <stdlib.h>

#include <gsl/gsl_math.h>
#include <gsl/gsl_randist.h>

/* Radius of particle q along world direction phi. */
static double radius_along(const sim_particle *q, double phi)
{
    double c = cos(phi) * q->cos_t + sin(phi) * q->sin_t; /* cos(phi - theta) */
    double s = sin(phi) * q->cos_t - cos(phi) * q->sin_t; /* sin(phi - theta) */
    return 1.0 / sqrt(c * c / (q->a * q->a) + s * s / (q->b * q->b));
}

static void draw_shape(gsl_rng *r, double rmin, double rmax, double aspect_max, sim_particle *q)
{
    q->a = gsl_ran_flat(r, rmin, rmax);
    q->b = q->a / gsl_ran_flat(r, 1.0, aspect_max);
    double th = gsl_ran_flat(r, 0.0, M_PI);
    q->cos_t = cos(th);
    q->sin_t = sin(th);
    q->c = sqrt(q->a * q->b);
    q->r_bound = q->a;
}

static int fits(const xanes_simulate_scene *sc, const sim_particle *q, double margin)
{
    return q->cx - q->r_bound >= margin && q->cy - q->r_bound >= margin &&
           q->cx + q->r_bound <= (double)sc->nx - 1 - margin &&
           q->cy + q->r_bound <= (double)sc->ny - 1 - margin;
}

/* Nonzero when q keeps a 2 px gap from particles [0, n) except `partner`. */
static int clear_of(const sim_particle *parts, size_t n, const sim_particle *q, size_t partner)
{
    for (size_t j = 0; j < n; j++) {
        if (j == partner)
            continue;
        double d = hypot(q->cx - parts[j].cx, q->cy - parts[j].cy);
        if (d < q->r_bound + parts[j].r_bound + 2.0)
            return 0;
    }
    return 1;
}

xanes_status sim_phantom_build(xanes_simulate_scene *sc, xanes_error *err)
{
    const xanes_simulate_params *p = &sc->p;
    gsl_rng *r = sc->rng;
    double side = (double)(sc->nx < sc->ny ? sc->nx : sc->ny);
    double rmin = p->radius_min_px > 0 ? p->radius_min_px : 0.05 * side;
    double rmax = p->radius_max_px > 0 ? p->radius_max_px : 0.11 * side;
    if (rmin < 2.0)
        rmin = 2.0;
    if (rmax < rmin)
        rmax = rmin;
    double margin = p->margin_px >= 0 ? p->margin_px : 3.0 * p->drift_px + 2.0;
    size_t n_pairs = 0;
    if (p->touching && sc->np >= 2)
        n_pairs = sc->np / 3 > 0 ? sc->np / 3 : 1;

    for (size_t i = 0; i < sc->np;) {
        int pair = i < 2 * n_pairs;
        int placed = 0;
        for (int attempt = 0; attempt < 5000 && !placed; attempt++) {
            sim_particle q = {0}, q2 = {0};
            draw_shape(r, rmin, rmax, p->aspect_max, &q);
            q.cx = gsl_ran_flat(r, 0.0, (double)sc->nx - 1);
            q.cy = gsl_ran_flat(r, 0.0, (double)sc->ny - 1);
            if (!fits(sc, &q, margin) || !clear_of(sc->parts, i, &q, (size_t)-1))
                continue;
            if (pair) {
                draw_shape(r, rmin, rmax, p->aspect_max, &q2);
                double phi = gsl_ran_flat(r, 0.0, 2.0 * M_PI);
                double d = (1.0 - p->touching_overlap) *
                           (radius_along(&q, phi) + radius_along(&q2, phi + M_PI));
                q2.cx = q.cx + d * cos(phi);
                q2.cy = q.cy + d * sin(phi);
                if (!fits(sc, &q2, margin) || !clear_of(sc->parts, i, &q2, (size_t)-1))
                    continue;
                sc->parts[i] = q;
                sc->parts[i + 1] = q2;
            } else {
                sc->parts[i] = q;
            }
            placed = 1;
        }
        if (!placed)
            return XANES_RAISE(err, XANES_EDATA,
                               "cannot place %zu particles of radius %.1f-%.1f px in a "
                               "%zu x %zu image (margin %.1f px); use fewer or smaller particles",
                               sc->np, rmin, rmax, sc->nx, sc->ny, margin);
        i += pair ? 2 : 1;
    }

    double cmax = 0.0;
    for (size_t i = 0; i < sc->np; i++)
        if (sc->parts[i].c > cmax)
            cmax = sc->parts[i].c;
    sc->jump_per_px = p->edge_jump_max / (2.0 * cmax);

    /* SoC after geometry, so an imposed SoC list leaves the geometry of a
     * seed unchanged. */
    for (size_t i = 0; i < sc->np; i++) {
        double g = gsl_ran_gaussian(r, 1.0);
        sc->parts[i].soc =
            p->particle_soc != NULL ? p->particle_soc[i] : p->soc_mean + p->soc_std * g;
        sc->parts[i].edge_ev = sim_edge_from_soc(sc, sc->parts[i].soc);
    }

    /* Matrix texture: four plane waves, wavelengths 8-40 px. */
    for (int j = 0; j < 4; j++) {
        double lam = gsl_ran_flat(r, 8.0, 40.0), dir = gsl_ran_flat(r, 0.0, 2.0 * M_PI);
        sc->mat_k[j][0] = 2.0 * M_PI / lam * sin(dir);
        sc->mat_k[j][1] = 2.0 * M_PI / lam * cos(dir);
        sc->mat_phase[j] = gsl_ran_flat(r, 0.0, 2.0 * M_PI);
    }
    return XANES_OK;
}

double sim_point_soc(const xanes_simulate_scene *sc, size_t i, double y, double x, double *rho2)
{
    const sim_particle *q = &sc->parts[i];
    double dx = x - q->cx, dy = y - q->cy;
    double u = dx * q->cos_t + dy * q->sin_t;
    double v = -dx * q->sin_t + dy * q->cos_t;
    *rho2 = u * u / (q->a * q->a) + v * v / (q->b * q->b);
    if (!sc->p.gradient)
        return q->soc;
    /* The area mean of rho^2 over an ellipse is 1/2, so the particle's mean
     * SoC stays the drawn one; a positive gradient charges the shell first. */
    return q->soc + sc->p.gradient_soc * (*rho2 - 0.5);
}

void sim_soc_components(const xanes_simulate_scene *sc, double soc, double jump,
                        sim_component out[2])
{
    double w = soc < 0 ? 0 : soc > 1 ? 1 : soc;
    double delta = sim_place_delta(sc, soc);
    out[0].weight = jump * (1.0 - w);
    out[0].shift_ev = sc->s0_ev + delta;
    out[1].weight = jump * w;
    out[1].shift_ev = sc->s0_ev + sc->d34_ev + delta;
}

/* cos(a y + b x + phi) = cos(a y) cos(b x + phi) - sin(a y) sin(b x + phi):
 * per frame, tables of the row and column factors make the matrix texture
 * four multiply-adds per pixel (it is re-evaluated at every drifted frame). */
xanes_status sim_matrix_tables(xanes_simulate_scene *sc, xanes_error *err)
{
    const size_t ny = sc->ny, nx = sc->nx, ne = sc->ne;
    sc->mat_rows = malloc(ne * 8 * ny * sizeof *sc->mat_rows);
    sc->mat_cols = malloc(ne * 8 * nx * sizeof *sc->mat_cols);
    if (sc->mat_rows == NULL || sc->mat_cols == NULL)
        return XANES_RAISE(err, XANES_ENOMEM, "out of memory for the matrix texture tables");
    for (size_t k = 0; k < ne; k++)
        for (int j = 0; j < 4; j++) {
            double *r = sc->mat_rows + (k * 8 + 2 * (size_t)j) * ny;
            double *c = sc->mat_cols + (k * 8 + 2 * (size_t)j) * nx;
            for (size_t y = 0; y < ny; y++) {
                double a = sc->mat_k[j][0] * ((double)y - sc->shifts[2 * k]);
                r[y] = cos(a);
                r[ny + y] = sin(a);
            }
            for (size_t x = 0; x < nx; x++) {
                double b = sc->mat_k[j][1] * ((double)x - sc->shifts[2 * k + 1]) + sc->mat_phase[j];
                c[x] = cos(b);
                c[nx + x] = sin(b);
            }
        }
    return XANES_OK;
}

static double matrix_tab(const xanes_simulate_scene *sc, size_t k, size_t y, size_t x)
{
    double t = 0.0;
    for (size_t j = 0; j < 4; j++) {
        const double *r = sc->mat_rows + (k * 8 + 2 * j) * sc->ny;
        const double *c = sc->mat_cols + (k * 8 + 2 * j) * sc->nx;
        t += r[y] * c[x] - r[sc->ny + y] * c[sc->nx + x];
    }
    return sc->p.matrix_absorbance * (1.0 + sc->p.matrix_ripple * 0.25 * t);
}

static double matrix_at(const xanes_simulate_scene *sc, double y, double x)
{
    double t = 0.0;
    for (int j = 0; j < 4; j++)
        t += cos(sc->mat_k[j][0] * y + sc->mat_k[j][1] * x + sc->mat_phase[j]);
    return sc->p.matrix_absorbance * (1.0 + sc->p.matrix_ripple * 0.25 * t);
}

/* E^-3 law linearized about the pristine edge: the non-Ni absorbance. */
static double lin_law(const xanes_simulate_scene *sc, double e_ev)
{
    return 1.0 - 3.0 * (e_ev - sc->soc0_edge_ev) / sc->soc0_edge_ev;
}

/* Absorbance of particle i at truth point (y, x) and true energy e. */
static double particle_term(const xanes_simulate_scene *sc, size_t i, double y, double x, double e,
                            double fixed_f)
{
    double rho2;
    double soc = sim_point_soc(sc, i, y, x, &rho2);
    if (rho2 >= 1.0)
        return 0.0;
    double t = 2.0 * sc->parts[i].c * sqrt(1.0 - rho2) * sc->jump_per_px;
    double f = fixed_f;
    if (isnan(f)) {
        sim_component c[2];
        sim_soc_components(sc, soc, 1.0, c);
        f = sim_spectrum_eval(&sc->ni3, c, 2, e);
    }
    return t * (sc->p.pre_per_jump * lin_law(sc, e) + f);
}

double xanes_simulate_pixel_absorbance(const xanes_simulate_scene *sc, size_t y, size_t x,
                                       double energy_true_ev)
{
    double yy = (double)y, xx = (double)x;
    double a = matrix_at(sc, yy, xx) * lin_law(sc, energy_true_ev);
    for (size_t i = 0; i < sc->np; i++)
        a += particle_term(sc, i, yy, xx, energy_true_ev, NAN);
    return a;
}

void xanes_simulate_absorbance_frame(const xanes_simulate_scene *sc, size_t k, float *out)
{
    const size_t nx = sc->nx, ny = sc->ny, np = sc->np;
    const double e = sc->e_true[k], dy = sc->shifts[2 * k], dx = sc->shifts[2 * k + 1];
    const double law = lin_law(sc, e);
    /* Without a gradient a particle has one spectrum: evaluate it once. */
    double fixed[XANES_SIMULATE_MAX_PARTICLES];
    for (size_t i = 0; i < np; i++) {
        fixed[i] = NAN;
        if (!sc->p.gradient) {
            sim_component c[2];
            sim_soc_components(sc, sc->parts[i].soc, 1.0, c);
            fixed[i] = sim_spectrum_eval(&sc->ni3, c, 2, e);
        }
    }
#pragma omp parallel for default(none) shared(sc, out, fixed)                                      \
    firstprivate(nx, ny, np, e, dy, dx, law, k) schedule(static)
    for (size_t y = 0; y < ny; y++) {
        double ty = (double)y - dy;
        for (size_t x = 0; x < nx; x++)
            out[y * nx + x] = (float)(matrix_tab(sc, k, y, x) * law);
        for (size_t i = 0; i < np; i++) {
            const sim_particle *q = &sc->parts[i];
            if (fabs(ty - q->cy) >= q->r_bound)
                continue;
            double x0 = floor(q->cx + dx - q->r_bound), x1 = ceil(q->cx + dx + q->r_bound);
            size_t xa = x0 < 0 ? 0 : (size_t)x0;
            size_t xb = x1 > (double)(nx - 1) ? nx - 1 : (size_t)x1;
            for (size_t x = xa; x <= xb; x++)
                out[y * nx + x] += (float)particle_term(sc, i, ty, (double)x - dx, e, fixed[i]);
        }
    }
}

/* Truth of one pixel; returns nonzero (and err) on failure. */
static int truth_pixel(xanes_simulate_scene *sc, size_t y, size_t x, sim_fine_ws *w,
                       xanes_error *err)
{
    size_t idx = y * sc->nx + x, n_cover = 0, best = 0;
    double tbest = 0.0, tsum = 0.0, socw = 0.0;
    sim_component comp[2 * 8];
    for (size_t i = 0; i < sc->np; i++) {
        double rho2;
        double soc = sim_point_soc(sc, i, (double)y, (double)x, &rho2);
        if (rho2 >= 1.0)
            continue;
        double t = 2.0 * sc->parts[i].c * sqrt(1.0 - rho2) * sc->jump_per_px;
        if (n_cover < 8)
            sim_soc_components(sc, soc, t, comp + 2 * n_cover);
        n_cover++;
        tsum += t;
        socw += t * soc;
        if (t > tbest) {
            tbest = t;
            best = i;
        }
    }
    sc->truth_jump[idx] = (float)tsum;
    if (n_cover == 0) {
        sc->labels[idx] = 0;
        sc->truth_edge[idx] = NAN;
        sc->truth_soc[idx] = NAN;
        return 0;
    }
    sc->labels[idx] = (int32_t)(best + 1);
    sc->truth_soc[idx] = (float)(socw / tsum);
    if (n_cover == 1) {
        /* By construction (sim_soc_components) the physical edge of a
         * one-particle pixel is E(SoC) at the pixel. */
        sc->truth_edge[idx] = sim_edge_from_soc(sc, socw / tsum);
        return 0;
    }
    if (n_cover > 8) {
        XANES_RAISE(err, XANES_EDATA, "%zu particles overlap at pixel (%zu, %zu)", n_cover, y, x);
        return 1;
    }
    /* Where projections overlap the spectrum is a thickness-weighted mix:
     * its physical edge, computed. */
    double eh;
    if (sim_edge_fine(sc, &sc->ni3, comp, 2 * n_cover, 0.0, w, &eh, err) != XANES_OK)
        return 1;
    sc->truth_edge[idx] = eh;
    return 0;
}

static int truth_row(xanes_simulate_scene *sc, size_t y, size_t nx, sim_fine_ws *w,
                     xanes_error *err)
{
    for (size_t x = 0; x < nx; x++)
        if (truth_pixel(sc, y, x, w, err))
            return 1;
    return 0;
}

xanes_status sim_truth_build(xanes_simulate_scene *sc, xanes_error *err)
{
    const size_t nx = sc->nx, ny = sc->ny;
    int failed = 0;
    xanes_error first;
    xanes_error_clear(&first);
    /* Rows in parallel; the first failing row's message is kept (in row
     * order, so the message does not depend on the thread count). */
    size_t fail_row = ny;
#pragma omp parallel default(none) shared(sc, first, failed, fail_row) firstprivate(nx, ny)
    {
        /* One fine-grid workspace per thread (overlap pixels only need it). */
        sim_fine_ws w = {0};
        xanes_error e;
        xanes_error_clear(&e);
        int ok = sim_fine_ws_alloc(sc, &w, &e) == XANES_OK;
#pragma omp for schedule(static)
        for (size_t y = 0; y < ny; y++) {
            if (!ok || truth_row(sc, y, nx, &w, &e)) {
#pragma omp critical(sim_truth_fail)
                {
                    if (y < fail_row) {
                        fail_row = y;
                        first = e;
                    }
                    failed = 1;
                }
            }
        }
        sim_fine_ws_free(&w);
    }
    if (failed)
        return XANES_RAISE(err, first.status, "%s", first.message);
    for (size_t i = 0; i < sc->np; i++) {
        double s = 0.0;
        size_t n = 0;
        for (size_t j = 0; j < nx * ny; j++)
            if (sc->labels[j] == (int32_t)(i + 1)) {
                s += sc->truth_edge[j];
                n++;
            }
        sc->p_soc[i] = sc->parts[i].soc;
        sc->p_edge[i] = sc->parts[i].edge_ev;
        sc->p_edge_mean[i] = n > 0 ? s / (double)n : NAN;
    }
    return XANES_OK;
}
