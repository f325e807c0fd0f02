/* subspace.c: principal components of a stack's particle spectra and the
 * projection of averaged spectra onto them (see subspace.h for why).
 *
 * Block spectra are summed chunk by chunk (CHUNK block rows per chunk, the
 * chunks shared among threads with a static schedule); each chunk keeps its
 * weight, its first block as a shift reference, and the first and second
 * moments about that reference, so the sums stay well conditioned.  The
 * chunks are then merged in order with the parallel-axis rule (Chan, Golub
 * and LeVeque, "Algorithms for computing the sample variance", 1983), which
 * makes the covariance independent of the thread count.  The symmetric
 * p x p eigenproblem is GSL's (gsl_eigen_symmv, sorted descending).
 * Blocks are taken with a deterministic stride when there are more than
 * MAX_BLOCKS of them: 20000 blocks fix an 80 x 80 covariance far better than
 * the noise they carry, and the rank-one updates (p^2/2 per block) would
 * otherwise cost more than the rest of the particle stage on a 1024^2 stack.
 */
#include "xanes/subspace.h"

#include <math.h>
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
    double threshold;
    double *mean;  /* [n_energy] */
    double *basis; /* [rank][n_energy], orthonormal rows */
    double *eval;  /* [n_energy], descending */
};

void xanes_subspace_default_params(xanes_subspace_params *p)
{
    p->block_px = 2;
    p->min_rank = 2;
    p->max_rank = 6;
    p->noise_margin = 1.5;
    p->min_blocks_per_energy = 4;
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

double xanes_subspace_eigenvalue(const xanes_subspace *s, size_t j)
{
    return j < s->n_energy ? s->eval[j] : NAN;
}

void xanes_subspace_project(const xanes_subspace *s, const double *in, double *out)
{
    const size_t p = s->n_energy;
    double c[MAX_RANK];
    for (size_t j = 0; j < s->rank; j++) {
        const double *v = s->basis + j * p;
        double acc = 0.0;
        for (size_t k = 0; k < p; k++)
            acc += v[k] * (in[k] - s->mean[k]);
        c[j] = acc;
    }
    if (s->rank == 0) {
        if (out != in)
            memcpy(out, in, p * sizeof *out);
        return;
    }
    for (size_t k = 0; k < p; k++) {
        double acc = s->mean[k];
        for (size_t j = 0; j < s->rank; j++)
            acc += c[j] * s->basis[j * p + k];
        out[k] = acc;
    }
}

/* Moments of one chunk: weight, blocks, reference, sum of w (m - ref) and
 * upper triangle of sum of w (m - ref)(m - ref)^T. */
typedef struct {
    double w;
    size_t n;
    int have_ref;
    double *ref, *s1, *s2; /* [p], [p], [p*p] */
} chunk_moments;

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

xanes_status xanes_subspace_fit(const float *stack, size_t n_energy, size_t ny, size_t nx,
                                const int32_t *labels, const xanes_subspace_params *params,
                                xanes_subspace **out, xanes_error *err)
{
    xanes_status st = XANES_OK;
    xanes_subspace *s = NULL;
    chunk_moments *ch = NULL;
    double *buf = NULL, *work = NULL;
    gsl_matrix *q = NULL, *evec = NULL;
    gsl_vector *eval = NULL;
    gsl_eigen_symmv_workspace *ws = NULL;
    size_t nch = 0;
    xanes_subspace_params p;
    if (params != NULL)
        p = *params;
    else
        xanes_subspace_default_params(&p);
    if (out != NULL)
        *out = NULL;
    if (stack == NULL || labels == NULL || out == NULL)
        return XANES_RAISE(err, XANES_EINVAL, "subspace: NULL argument");
    if (n_energy < 3 || ny == 0 || nx == 0)
        return XANES_RAISE(err, XANES_EINVAL,
                           "subspace: a %zu x %zu x %zu stack is too small (need 3 energies)",
                           n_energy, ny, nx);
    if (p.block_px == 0 || p.min_rank > p.max_rank || p.max_rank > MAX_RANK ||
        !(p.noise_margin > 0.0))
        return XANES_RAISE(err, XANES_EINVAL,
                           "subspace: bad parameters (block %zu px, rank %zu..%zu of at most %d, "
                           "noise margin %g)",
                           p.block_px, p.min_rank, p.max_rank, MAX_RANK, p.noise_margin);
    const size_t ne = n_energy, b = p.block_px;
    const size_t nby = (ny + b - 1) / b, nbx = (nx + b - 1) / b;
    nch = (nby + CHUNK - 1) / CHUNK;
    s = calloc(1, sizeof *s);
    ch = calloc(nch, sizeof *ch);
    buf = malloc(nch * (ne * ne + 2 * ne) * sizeof *buf);
    if (s == NULL || ch == NULL || buf == NULL)
        goto nomem;
    s->n_energy = ne;
    s->mean = calloc(ne, sizeof *s->mean);
    s->eval = calloc(ne, sizeof *s->eval);
    if (s->mean == NULL || s->eval == NULL)
        goto nomem;
    for (size_t c = 0; c < nch; c++) {
        ch[c].ref = buf + c * (ne * ne + 2 * ne);
        ch[c].s1 = ch[c].ref + ne;
        ch[c].s2 = ch[c].s1 + ne;
        memset(ch[c].ref, 0, (ne * ne + 2 * ne) * sizeof *buf);
    }

    /* Candidate index of the first block of each chunk, for the stride:
     * candidates counted per chunk up front (labels only); their total
     * sets the stride. */
    size_t *cand0 = malloc((nch + 1) * sizeof *cand0);
    work = malloc((nch + 2) * ne * sizeof *work);
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
#pragma omp parallel for default(none) shared(stack, labels, ch, cand0, work)                      \
    firstprivate(lnch, ne, ny, nx, b, nby, nbx, stride) schedule(static)
    for (long lc = 0; lc < lnch; lc++) {
        size_t c = (size_t)lc, idx = cand0[c];
        chunk_moments *m = &ch[c];
        double *spec = work + c * ne;
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
                if (!m->have_ref) {
                    memcpy(m->ref, spec, ne * sizeof *spec);
                    m->have_ref = 1;
                }
                for (size_t i = 0; i < ne; i++)
                    spec[i] -= m->ref[i];
                for (size_t i = 0; i < ne; i++) {
                    m->s1[i] += w * spec[i];
                    double wi = w * spec[i];
                    double *row = m->s2 + i * ne;
                    for (size_t j = i; j < ne; j++)
                        row[j] += wi * spec[j];
                }
                m->w += w;
                m->n++;
            }
    }
    free(cand0);

    /* Merge in chunk order: mean, then scatter about it. */
    double wt = 0.0;
    for (size_t c = 0; c < nch; c++) {
        if (ch[c].n == 0)
            continue;
        for (size_t i = 0; i < ne; i++)
            s->mean[i] += ch[c].w * ch[c].ref[i] + ch[c].s1[i];
        wt += ch[c].w;
        s->n_blocks += ch[c].n;
    }
    if (s->n_blocks < p.min_blocks_per_energy * ne || !(wt > 0.0)) {
        /* Too few blocks for a covariance: no projection (rank 0). */
        for (size_t i = 0; i < ne; i++)
            s->mean[i] = wt > 0.0 ? s->mean[i] / wt : 0.0;
        for (size_t i = 0; i < ne; i++)
            s->eval[i] = NAN;
        s->threshold = NAN;
        goto finish;
    }
    for (size_t i = 0; i < ne; i++)
        s->mean[i] /= wt;
    q = gsl_matrix_calloc(ne, ne);
    evec = gsl_matrix_alloc(ne, ne);
    eval = gsl_vector_alloc(ne);
    ws = gsl_eigen_symmv_alloc(ne);
    if (q == NULL || evec == NULL || eval == NULL || ws == NULL)
        goto nomem;
    for (size_t c = 0; c < nch; c++) {
        if (ch[c].n == 0)
            continue;
        const double w = ch[c].w;
        double *dm = work; /* chunk mean - ref, then chunk mean - total mean */
        double *dt = work + ne;
        for (size_t i = 0; i < ne; i++) {
            dm[i] = ch[c].s1[i] / w;
            dt[i] = ch[c].ref[i] + dm[i] - s->mean[i];
        }
        for (size_t i = 0; i < ne; i++)
            for (size_t j = i; j < ne; j++) {
                double v = ch[c].s2[i * ne + j] - w * dm[i] * dm[j] + w * dt[i] * dt[j];
                double *qq = gsl_matrix_ptr(q, i, j);
                *qq += v;
            }
    }
    for (size_t i = 0; i < ne; i++)
        for (size_t j = 0; j < i; j++)
            gsl_matrix_set(q, i, j, gsl_matrix_get(q, j, i));
    if (gsl_eigen_symmv(q, eval, evec, ws) != GSL_SUCCESS ||
        gsl_eigen_symmv_sort(eval, evec, GSL_EIGEN_SORT_VAL_DESC) != GSL_SUCCESS) {
        st = XANES_RAISE(err, XANES_EDATA,
                         "subspace: the eigen-decomposition of the %zu x %zu covariance of %zu "
                         "blocks failed",
                         ne, ne, s->n_blocks);
        goto done;
    }
    for (size_t i = 0; i < ne; i++)
        s->eval[i] = gsl_vector_get(eval, i);
    {
        /* Noise bulk: median of the lower half of the spectrum (ascending
         * copy for gsl_stats_median_from_sorted_data). */
        size_t nlow = ne - ne / 2;
        for (size_t i = 0; i < nlow; i++)
            work[i] = s->eval[ne - 1 - i];
        double bulk = gsl_stats_median_from_sorted_data(work, 1, nlow);
        double ratio = sqrt((double)ne / (double)s->n_blocks);
        s->threshold = p.noise_margin * bulk * (1.0 + ratio) * (1.0 + ratio);
        size_t k = 0;
        while (k < ne && k < p.max_rank && s->eval[k] > s->threshold)
            k++;
        if (k < p.min_rank)
            k = p.min_rank;
        if (k > ne)
            k = ne;
        s->rank = k;
    }
    s->basis = malloc(s->rank * ne * sizeof *s->basis);
    if (s->basis == NULL)
        goto nomem;
    for (size_t j = 0; j < s->rank; j++)
        for (size_t i = 0; i < ne; i++)
            s->basis[j * ne + i] = gsl_matrix_get(evec, i, j);
finish:
    *out = s;
    s = NULL;
    goto done;
nomem:
    st = XANES_RAISE(err, XANES_ENOMEM,
                     "subspace: out of memory for the covariance of %zu energies", n_energy);
done:
    gsl_eigen_symmv_free(ws);
    gsl_vector_free(eval);
    gsl_matrix_free(evec);
    gsl_matrix_free(q);
    free(work);
    free(buf);
    free(ch);
    xanes_subspace_free(s);
    return st;
}
