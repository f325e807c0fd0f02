/* subspace.c: the spectral subspace of a stack's particle spectra and the
 * projection of averaged spectra onto it (see subspace.h for why).
 *
 * Every block spectrum is first stripped of its least-squares line in
 * energy (the edge definition ignores any added a + b E, so the line is
 * kept as it is and only the rest is modelled).  Block rows are taken in
 * fixed chunks of CHUNK rows, shared among threads with a static schedule;
 * each chunk sums its weighted spectra and the upper triangle of the
 * weighted second moment of the stripped spectra, and the chunks are added
 * in order, so the result does not depend on the thread count.  No centring:
 * the moment is about zero, so thickness (a scale) is one direction, not a
 * spread around a mean.  The symmetric p x p eigenproblem is GSL's
 * (gsl_eigen_symmv, sorted descending).
 * Blocks are taken with a deterministic stride when there are more than
 * MAX_BLOCKS of them: 20000 blocks fix an 80 x 80 moment far better than
 * the noise they carry, and the rank-one updates (p^2/2 per block) would
 * otherwise cost more than the rest of the particle stage on a 1024^2 stack.
 */
#include "xanes/subspace.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_eigen.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <gsl/gsl_vector.h>

#define CHUNK 16
#define MAX_BLOCKS 20000
#define MAX_RANK 16

struct xanes_subspace {
    size_t n_energy, rank, n_blocks;
    double threshold, noise_var;
    double *mean;  /* [n_energy] weighted mean of the block spectra */
    double *basis; /* [rank][n_energy], orthonormal rows: the line, then the components */
    double *eval;  /* [n_energy], descending */
};

void xanes_subspace_default_params(xanes_subspace_params *p)
{
    p->block_px = 2;
    p->min_rank = 4;
    p->max_rank = 8;
    p->noise_margin = 1.5;
    p->min_blocks_per_energy = 4;
    p->means_margin = 1.5;
    p->min_means = 6;
}

void xanes_subspace_free(xanes_subspace *s)
{
    if (s == NULL)
        return;
    free(s->mean);
    free(s->basis);
    free(s->eval);
    free(s);
}

size_t xanes_subspace_rank(const xanes_subspace *s)
{
    return s->rank;
}
size_t xanes_subspace_n_energy(const xanes_subspace *s)
{
    return s->n_energy;
}
const double *xanes_subspace_mean_view(const xanes_subspace *s)
{
    return s->mean;
}
const double *xanes_subspace_basis_view(const xanes_subspace *s)
{
    return s->basis;
}
size_t xanes_subspace_n_blocks(const xanes_subspace *s)
{
    return s->n_blocks;
}
double xanes_subspace_threshold(const xanes_subspace *s)
{
    return s->threshold;
}
double xanes_subspace_noise_var(const xanes_subspace *s)
{
    return s->noise_var;
}

double xanes_subspace_eigenvalue(const xanes_subspace *s, size_t j)
{
    return j < s->n_energy ? s->eval[j] : NAN;
}

void xanes_subspace_project(const xanes_subspace *s, const double *in, double *out)
{
    const size_t p = s->n_energy;
    double c[MAX_RANK];
    if (s->rank == 0) {
        if (out != in)
            memcpy(out, in, p * sizeof *out);
        return;
    }
    for (size_t j = 0; j < s->rank; j++) {
        const double *v = s->basis + j * p;
        double acc = 0.0;
        for (size_t k = 0; k < p; k++)
            acc += v[k] * in[k];
        c[j] = acc;
    }
    for (size_t k = 0; k < p; k++) {
        double acc = 0.0;
        for (size_t j = 0; j < s->rank; j++)
            acc += c[j] * s->basis[j * p + k];
        out[k] = acc;
    }
}

/* Sums of one chunk: weight, blocks, sum of w m and upper triangle of
 * sum of w d d^T, d = m with its line removed. */
typedef struct {
    double w;
    size_t n;
    double *s1, *s2; /* [p], [p*p] */
} chunk_moments;

/* The unit vectors of the constant and of the centred energy, rows 0 and 1
 * of line[2][p]; XANES_EINVAL (message) unless the energies are finite and
 * not all equal. */
static xanes_status line_basis(const double *energy_ev, size_t p, double *line, xanes_error *err)
{
    double emean = 0.0;
    for (size_t i = 0; i < p; i++) {
        if (!isfinite(energy_ev[i]))
            return XANES_RAISE(err, XANES_EINVAL, "subspace: energy %zu is not finite", i);
        emean += energy_ev[i];
    }
    emean /= (double)p;
    double ss = 0.0;
    for (size_t i = 0; i < p; i++)
        ss += (energy_ev[i] - emean) * (energy_ev[i] - emean);
    if (!(ss > 0.0))
        return XANES_RAISE(err, XANES_EINVAL, "subspace: all %zu energies are equal", p);
    for (size_t i = 0; i < p; i++) {
        line[i] = 1.0 / sqrt((double)p);
        line[p + i] = (energy_ev[i] - emean) / sqrt(ss);
    }
    return XANES_OK;
}

/* d = m minus its projection on the two rows of line. */
static void strip_line(const double *line, size_t p, const double *m, double *d)
{
    double c0 = 0.0, c1 = 0.0;
    for (size_t i = 0; i < p; i++) {
        c0 += line[i] * m[i];
        c1 += line[p + i] * m[i];
    }
    for (size_t i = 0; i < p; i++)
        d[i] = m[i] - c0 * line[i] - c1 * line[p + i];
}

/* A new subspace of ne energies, rank 0, zeroed mean and eigenvalues;
 * NULL when out of memory. */
static xanes_subspace *subspace_new(size_t ne)
{
    xanes_subspace *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->n_energy = ne;
    s->mean = calloc(ne, sizeof *s->mean);
    s->eval = calloc(ne, sizeof *s->eval);
    if (s->mean == NULL || s->eval == NULL) {
        xanes_subspace_free(s);
        return NULL;
    }
    return s;
}

/* Adds spectrum y[p] with weight w: w y to s1[p], and w d d^T (upper
 * triangle) to s2[p*p], d = y less its line (d[p] is scratch). */
static void add_moment(const double *line, size_t p, double w, const double *y, double *d,
                       double *s1, double *s2)
{
    strip_line(line, p, y, d);
    for (size_t i = 0; i < p; i++) {
        s1[i] += w * y[i];
        double wi = w * d[i];
        double *row = s2 + i * p;
        for (size_t j = i; j < p; j++)
            row[j] += wi * d[j];
    }
}

/* s->mean, holding the weighted sum of wt, becomes the weighted mean. */
static void mean_divide(xanes_subspace *s, double wt)
{
    for (size_t i = 0; i < s->n_energy; i++)
        s->mean[i] = wt > 0.0 ? s->mean[i] / wt : 0.0;
}

/* No components: rank 0 (an identity projection), NaN eigenvalues and
 * threshold, the given noise variance. */
static void no_components(xanes_subspace *s, double noise_var)
{
    for (size_t i = 0; i < s->n_energy; i++)
        s->eval[i] = NAN;
    s->threshold = NAN;
    s->noise_var = noise_var;
}

/* Mean spectrum of block (by, bx) into m[p]; returns its pixel count (0 when
 * under half the block is labelled with finite spectra). */
static size_t block_spectrum(const float *stack, size_t p, size_t ny, size_t nx,
                             const int32_t *labels, size_t b, size_t by, size_t bx, double *m)
{
    size_t need = (b * b + 1) / 2, cnt = 0;
    size_t y0 = by * b, x0 = bx * b;
    for (size_t k = 0; k < p; k++)
        m[k] = 0.0;
    for (size_t y = y0; y < y0 + b && y < ny; y++)
        for (size_t x = x0; x < x0 + b && x < nx; x++) {
            if (labels[y * nx + x] <= 0)
                continue;
            size_t k = 0;
            for (; k < p; k++)
                if (!isfinite(stack[(k * ny + y) * nx + x]))
                    break;
            if (k < p)
                continue;
            for (k = 0; k < p; k++)
                m[k] += (double)stack[(k * ny + y) * nx + x];
            cnt++;
        }
    if (cnt < need)
        return 0;
    for (size_t k = 0; k < p; k++)
        m[k] /= (double)cnt;
    return cnt;
}

/* Whether block (by, bx) holds a labelled pixel. */
static int block_labelled(const int32_t *labels, size_t ny, size_t nx, size_t b, size_t by,
                          size_t bx)
{
    for (size_t y = by * b; y < by * b + b && y < ny; y++)
        for (size_t x = bx * b; x < bx * b + b && x < nx; x++)
            if (labels[y * nx + x] > 0)
                return 1;
    return 0;
}

/* Blocks with at least one label, in raster order (cheap: labels only). */
static size_t count_candidates(const int32_t *labels, size_t ny, size_t nx, size_t b)
{
    size_t nby = (ny + b - 1) / b, nbx = (nx + b - 1) / b, n = 0;
    for (size_t by = 0; by < nby; by++)
        for (size_t bx = 0; bx < nbx; bx++)
            n += (size_t)block_labelled(labels, ny, nx, b, by, bx);
    return n;
}

/* Eigen-decomposition of the moment m[ne*ne] (upper triangle; of spectra
 * less their lines, over s->n_blocks blocks or means), the rank, and the
 * basis: the line's rows, then the components kept.  The threshold is the
 * Marchenko-Pastur rule of subspace.h: for blocks (noise_var NaN) from the
 * noise bulk of the eigenvalues themselves, which also sets s->noise_var,
 * the per-sample noise variance; for means, from noise_var.  At most
 * max_components components. */
static xanes_status moment_eigen(const double *m, const double *line, size_t ne,
                                 const xanes_subspace_params *p, double noise_var,
                                 size_t max_components, xanes_subspace *s, xanes_error *err)
{
    xanes_status st = XANES_OK;
    gsl_matrix *q = gsl_matrix_alloc(ne, ne), *evec = gsl_matrix_alloc(ne, ne);
    gsl_vector *eval = gsl_vector_alloc(ne);
    gsl_eigen_symmv_workspace *ws = gsl_eigen_symmv_alloc(ne);
    double *work = malloc(ne * sizeof *work);
    s->basis = NULL;
    if (q == NULL || evec == NULL || eval == NULL || ws == NULL || work == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM,
                         "subspace: out of memory for the moment of %zu energies", ne);
        goto done;
    }
    for (size_t i = 0; i < ne; i++)
        for (size_t j = i; j < ne; j++) {
            gsl_matrix_set(q, i, j, m[i * ne + j]);
            gsl_matrix_set(q, j, i, m[i * ne + j]);
        }
    if (gsl_eigen_symmv(q, eval, evec, ws) != GSL_SUCCESS ||
        gsl_eigen_symmv_sort(eval, evec, GSL_EIGEN_SORT_VAL_DESC) != GSL_SUCCESS) {
        st = XANES_RAISE(err, XANES_EDATA,
                         "subspace: the eigen-decomposition of the %zu x %zu moment of %zu "
                         "%s failed",
                         ne, ne, s->n_blocks, isnan(noise_var) ? "blocks" : "averaged spectra");
        goto done;
    }
    for (size_t i = 0; i < ne; i++)
        s->eval[i] = gsl_vector_get(eval, i);
    /* The line's two directions carry no moment (their eigenvalues are
     * rounding, last in the order): pd = ne - 2 directions are left. */
    const size_t pd = ne - 2;
    if (isnan(noise_var)) {
        /* Noise bulk: the median of the lower half of the pd eigenvalues
         * (ascending copy for gsl_stats_median_from_sorted_data); each block
         * carries its count times its variance, so bulk / blocks is the
         * per-pixel noise variance. */
        const size_t nlow = pd - pd / 2;
        for (size_t i = 0; i < nlow; i++)
            work[i] = s->eval[pd - 1 - i];
        double bulk = gsl_stats_median_from_sorted_data(work, 1, nlow);
        double ratio = sqrt((double)pd / (double)s->n_blocks);
        s->threshold = p->noise_margin * bulk * (1.0 + ratio) * (1.0 + ratio);
        s->noise_var = bulk / (double)s->n_blocks;
    } else {
        /* n means of pd dimensions, each weighted by its pixel count: white
         * noise of per-pixel variance v reaches v (sqrt n + sqrt pd)^2. */
        double r = sqrt((double)s->n_blocks) + sqrt((double)pd);
        s->threshold = p->means_margin * noise_var * r * r;
        s->noise_var = noise_var;
    }
    /* Noise-free data have a bulk of rounding errors: what is below 1e-10
     * of the largest eigenvalue is never a component. */
    if (s->threshold < 1e-10 * s->eval[0])
        s->threshold = 1e-10 * s->eval[0];
    size_t k = 0;
    while (k < pd && k + 2 < p->max_rank && k < max_components && s->eval[k] > s->threshold)
        k++;
    if (k + 2 < p->min_rank)
        k = p->min_rank - 2;
    if (k > pd)
        k = pd;
    s->basis = malloc((k + 2) * ne * sizeof *s->basis);
    if (s->basis == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM, "subspace: out of memory for a basis of %zu energies",
                         ne);
        goto done;
    }
    memcpy(s->basis, line, 2 * ne * sizeof *line);
    /* Components past the rounding-level eigenvalues (a rank raised to
     * min_rank on data that span fewer) may lean on the line's null
     * directions: Gram-Schmidt against the rows before, and a direction left
     * with under 1e-6 of its norm is dropped. */
    size_t r = 2;
    for (size_t j = 0; j < k; j++) {
        double *v = s->basis + r * ne;
        for (size_t i = 0; i < ne; i++)
            v[i] = gsl_matrix_get(evec, i, j);
        for (size_t u = 0; u < r; u++) {
            const double *b0 = s->basis + u * ne;
            double dot = 0.0;
            for (size_t i = 0; i < ne; i++)
                dot += b0[i] * v[i];
            for (size_t i = 0; i < ne; i++)
                v[i] -= dot * b0[i];
        }
        double nrm = 0.0;
        for (size_t i = 0; i < ne; i++)
            nrm += v[i] * v[i];
        nrm = sqrt(nrm);
        if (!(nrm > 1e-6))
            continue;
        for (size_t i = 0; i < ne; i++)
            v[i] /= nrm;
        r++;
    }
    s->rank = r;
done:
    gsl_eigen_symmv_free(ws);
    gsl_vector_free(eval);
    gsl_matrix_free(evec);
    gsl_matrix_free(q);
    free(work);
    return st;
}

xanes_status xanes_subspace_fit(const float *stack, const double *energy_ev, size_t n_energy,
                                size_t ny, size_t nx, const int32_t *labels,
                                const xanes_subspace_params *params, xanes_subspace **out,
                                xanes_error *err)
{
    xanes_status st = XANES_OK;
    xanes_subspace *s = NULL;
    chunk_moments *ch = NULL;
    double *buf = NULL, *work = NULL, *line = NULL;
    size_t nch = 0;
    xanes_subspace_params p;
    if (params != NULL)
        p = *params;
    else
        xanes_subspace_default_params(&p);
    if (out != NULL)
        *out = NULL;
    if (stack == NULL || energy_ev == NULL || labels == NULL || out == NULL)
        return XANES_RAISE(err, XANES_EINVAL, "subspace: NULL argument");
    if (n_energy < 3 || ny == 0 || nx == 0)
        return XANES_RAISE(err, XANES_EINVAL,
                           "subspace: a %zu x %zu x %zu stack is too small (need 3 energies)",
                           n_energy, ny, nx);
    if (p.block_px == 0 || p.min_rank < 3 || p.min_rank > p.max_rank || p.max_rank > MAX_RANK ||
        !(p.noise_margin > 0.0))
        return XANES_RAISE(err, XANES_EINVAL,
                           "subspace: bad parameters (block %zu px, rank %zu..%zu within 3..%d, "
                           "noise margin %g)",
                           p.block_px, p.min_rank, p.max_rank, MAX_RANK, p.noise_margin);
    const size_t ne = n_energy, b = p.block_px;
    line = malloc(2 * ne * sizeof *line);
    if (line == NULL)
        return XANES_RAISE(err, XANES_ENOMEM, "subspace: out of memory for %zu energies", ne);
    if ((st = line_basis(energy_ev, ne, line, err)) != XANES_OK)
        goto done;
    const size_t nby = (ny + b - 1) / b, nbx = (nx + b - 1) / b;
    nch = (nby + CHUNK - 1) / CHUNK;
    s = subspace_new(ne);
    ch = calloc(nch, sizeof *ch);
    buf = calloc(nch * (ne * ne + ne), sizeof *buf);
    if (s == NULL || ch == NULL || buf == NULL)
        goto nomem;
    for (size_t c = 0; c < nch; c++) {
        ch[c].s1 = buf + c * (ne * ne + ne);
        ch[c].s2 = ch[c].s1 + ne;
    }

    /* Candidate index of the first block of each chunk, for the stride:
     * candidates counted per chunk up front (labels only); their total
     * sets the stride. */
    size_t *cand0 = malloc((nch + 1) * sizeof *cand0);
    work = malloc(2 * (nch + 1) * ne * sizeof *work);
    if (cand0 == NULL || work == NULL) {
        free(cand0);
        goto nomem;
    }
    cand0[0] = 0;
    for (size_t c = 0; c < nch; c++) {
        size_t rows = (c + 1) * CHUNK * b < ny ? CHUNK * b : ny - c * CHUNK * b;
        cand0[c + 1] = cand0[c] + count_candidates(labels + c * CHUNK * b * nx, rows, nx, b);
    }
    const size_t ncand = cand0[nch];
    const size_t stride = ncand > MAX_BLOCKS ? (ncand + MAX_BLOCKS - 1) / MAX_BLOCKS : 1;
    long lnch = (long)nch;
#pragma omp parallel for default(none) shared(stack, labels, ch, cand0, work, line)                \
    firstprivate(lnch, ne, ny, nx, b, nby, nbx, stride) schedule(static)
    for (long lc = 0; lc < lnch; lc++) {
        size_t c = (size_t)lc, idx = cand0[c];
        chunk_moments *m = &ch[c];
        double *spec = work + 2 * c * ne, *d = spec + ne;
        for (size_t by = c * CHUNK; by < (c + 1) * CHUNK && by < nby; by++)
            for (size_t bx = 0; bx < nbx; bx++) {
                if (!block_labelled(labels, ny, nx, b, by, bx))
                    continue;
                size_t this_idx = idx++;
                if (this_idx % stride != 0)
                    continue;
                size_t cnt = block_spectrum(stack, ne, ny, nx, labels, b, by, bx, spec);
                if (cnt == 0)
                    continue;
                double w = (double)cnt;
                add_moment(line, ne, w, spec, d, m->s1, m->s2);
                m->w += w;
                m->n++;
            }
    }
    free(cand0);

    double wt = 0.0;
    for (size_t c = 0; c < nch; c++) {
        for (size_t i = 0; i < ne; i++)
            s->mean[i] += ch[c].s1[i];
        wt += ch[c].w;
        s->n_blocks += ch[c].n;
    }
    mean_divide(s, wt);
    if (s->n_blocks < p.min_blocks_per_energy * ne || !(wt > 0.0) || ne <= p.min_rank) {
        /* Too few blocks for the moment, or too few energies for a
         * subspace smaller than the spectra: no projection (rank 0). */
        no_components(s, NAN);
        goto finish;
    }
    {
        /* The chunk sums, in chunk order, into the first chunk's buffer. */
        double *m = ch[0].s2;
        for (size_t c = 1; c < nch; c++)
            for (size_t i = 0; i < ne; i++)
                for (size_t j = i; j < ne; j++)
                    m[i * ne + j] += ch[c].s2[i * ne + j];
        if ((st = moment_eigen(m, line, ne, &p, NAN, SIZE_MAX, s, err)) != XANES_OK)
            goto done;
    }
finish:
    *out = s;
    s = NULL;
    goto done;
nomem:
    st = XANES_RAISE(err, XANES_ENOMEM, "subspace: out of memory for the moment of %zu energies",
                     n_energy);
done:
    free(work);
    free(buf);
    free(ch);
    free(line);
    xanes_subspace_free(s);
    return st;
}

xanes_status xanes_subspace_fit_means(const double *means, const size_t *count, size_t n_means,
                                      const double *energy_ev, size_t n_energy, double noise_var,
                                      const xanes_subspace_params *params, xanes_subspace **out,
                                      xanes_error *err)
{
    xanes_status st = XANES_OK;
    xanes_subspace *s = NULL;
    double *line = NULL, *m = NULL, *d = NULL;
    xanes_subspace_params p;
    if (params != NULL)
        p = *params;
    else
        xanes_subspace_default_params(&p);
    if (out != NULL)
        *out = NULL;
    if (means == NULL || count == NULL || energy_ev == NULL || out == NULL)
        return XANES_RAISE(err, XANES_EINVAL, "subspace: NULL argument");
    if (n_energy < 3)
        return XANES_RAISE(err, XANES_EINVAL, "subspace: averaged spectra of %zu energies (need 3)",
                           n_energy);
    if (p.min_rank < 3 || p.min_rank > p.max_rank || p.max_rank > MAX_RANK ||
        !(p.means_margin > 0.0) || p.min_means < 2)
        return XANES_RAISE(err, XANES_EINVAL,
                           "subspace: bad parameters (rank %zu..%zu within 3..%d, means margin "
                           "%g, at least %zu means of at least 2)",
                           p.min_rank, p.max_rank, MAX_RANK, p.means_margin, p.min_means);
    const size_t ne = n_energy;
    s = subspace_new(ne);
    line = malloc(2 * ne * sizeof *line);
    m = calloc(ne * ne, sizeof *m);
    d = malloc(ne * sizeof *d);
    if (s == NULL || line == NULL || m == NULL || d == NULL)
        goto nomem;
    if ((st = line_basis(energy_ev, ne, line, err)) != XANES_OK)
        goto done;
    double wt = 0.0;
    for (size_t l = 0; l < n_means; l++) {
        const double *y = means + l * ne;
        size_t k = 0;
        while (k < ne && isfinite(y[k]))
            k++;
        if (count[l] == 0 || k < ne)
            continue;
        const double w = (double)count[l];
        add_moment(line, ne, w, y, d, s->mean, m);
        wt += w;
        s->n_blocks++;
    }
    mean_divide(s, wt);
    if (s->n_blocks < p.min_means || ne <= p.min_rank || !(noise_var > 0.0) ||
        !isfinite(noise_var)) {
        /* Too few spectra for components of their own, or no noise level to
         * test them against: no projection (rank 0). */
        no_components(s, noise_var);
        goto finish;
    }
    /* A component of n means is also fitted to their own noise; at most one
     * per two means keeps that share small (no cap, or a margin of 1 instead
     * of 1.5, raised the 10^4-count errors of the run above). */
    if ((st = moment_eigen(m, line, ne, &p, noise_var, s->n_blocks / 2, s, err)) != XANES_OK)
        goto done;
finish:
    *out = s;
    s = NULL;
    goto done;
nomem:
    st = XANES_RAISE(err, XANES_ENOMEM,
                     "subspace: out of memory for the moment of %zu averaged spectra", n_means);
done:
    free(d);
    free(m);
    free(line);
    xanes_subspace_free(s);
    return st;
}
