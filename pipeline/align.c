/* align.c: drift alignment of TXM-XANES energy frames.
 *
 * Estimate.  A reference image is built (mean of the post-edge frames by
 * default, see align.h), then every frame is registered on it:
 *   1. bin x bin binning, NaN pixels replaced by the frame mean, mean removed,
 *      Tukey window (against the wrap-around discontinuity of the DFT);
 *   2. r2c FFT (FFTW single precision, planned once in xanes_align_alloc,
 *      executed with the new-array interface from every thread);
 *   3. cross-power spectrum R = F_ref conj(F_k) / |F_ref conj(F_k)|^p;
 *      p = 1 is phase correlation, whose peak is a delta but which lifts
 *      every frequency to the same weight: TXM frames are band-limited, so
 *      their high frequencies are shot noise (and float rounding), and pure
 *      phase correlation gave 0.2..0.5 px rms on the test stacks; p = 0 (plain
 *      cross-correlation) has a broad peak that neighbouring particles whose
 *      contrast changes with energy pull around (0.09 px noise-free);
 *      p = 1/2 with 4 x 4 binning and a Tukey(1/2) window was the best of the
 *      grid bin {1,2,3,4} x p {0,1/4,1/2,3/4,1} x alpha {0.1..1} that was
 *      measured (256^2 frames, 24 energies, four seeds: 0.03..0.04 px rms
 *      noise-free, 0.035..0.05 at 3000 counts, 0.055..0.075 at 300 counts);
 *   4. c2r FFT of R: the full-size correlation surface; its maximum is the
 *      integer shift, its height over the surface's standard deviation (z)
 *      decides whether the frame is alignable;
 *   5. local refinement (Guizar-Sicairos, Thurman & Fienup, Opt. Lett. 33:156,
 *      2008): the correlation is evaluated by a matrix-multiply DFT of R on a
 *      (2h+1)^2 grid of 1/upsample px within +-0.75 px of the integer peak,
 *      never by an upsampled full-size transform; a parabola through the best
 *      grid point and its neighbours removes the grid quantisation.
 * The real-input half spectrum is used throughout: the correlation is real,
 * so the columns kx and nx-kx contribute complex-conjugate terms and the sum
 * over all kx is twice the real part over the half spectrum (once for kx = 0
 * and the Nyquist column).  Frequencies are signed (ky > ny/2 means ky - ny)
 * so that fractional positions are evaluated on the band-limited surface.
 *
 * Apply.  Separable Keys bicubic interpolation (a = -1/2): the shift is the
 * same for every pixel of a frame, so the 4 weights per axis are computed
 * once per frame and each pass is a 4-tap filter along rows or columns.
 * Bicubic rather than Fourier shift because the latter wraps around and
 * rings at the NaN borders; rather than bilinear because bilinear averages
 * neighbours with weights that depend on the fractional shift, which changes
 * the noise level from frame to frame and thus along each pixel's spectrum.
 *
 * Sizes: frames of 10^5..4x10^6 pixels, 10..200 energies.  The scratch per
 * thread is one full frame (apply) plus one real and two complex binned
 * frames (estimate).
 */
#include "xanes/align.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <fftw3.h>
#include <omp.h>

/* C11 has no M_PI. */
#define PI 3.14159265358979323846

typedef struct {
    float *frame;         /* [ny*nx] apply scratch                        */
    float *real;          /* [nyb*nxb] windowed frame / correlation        */
    fftwf_complex *spec;  /* [nyb*nxh] spectrum, then cross-power R        */
    fftwf_complex *spec2; /* [nyb*nxh] copy of R consumed by the c2r FFT   */
    float *kc_re, *kc_im; /* [nxh*m] column kernel of the local DFT        */
    float *t_re, *t_im;   /* [nyb*m] partial sums of the local DFT         */
    double *kr_re, *kr_im;/* [m*nyb] row kernel                            */
    double *grid;         /* [m*m] upsampled correlation                   */
    float *ph_y, *ph_x;   /* [2*nyb], [2*nxh] separable shift phase factors */
    float *row;           /* [nx] one raw row with NaN filled               */
    size_t *nan_rows;     /* [nyb] all-NaN raw rows per binned row          */
} scratch;

struct xanes_align {
    size_t ny, nx, nyb, nxb, nxh, m; /* m = 2h+1 points of the local grid */
    xanes_align_params p;
    int nthr;
    float *win_y, *win_x;           /* Tukey windows [nyb], [nxb]         */
    fftwf_complex *ref_spec;        /* [nyb*nxh]                          */
    fftwf_plan r2c, c2r;
    scratch *s;
};

void xanes_align_default_params(xanes_align_params *p)
{
    p->reference = XANES_ALIGN_REF_POST_EDGE;
    p->ref_frame = 0;
    p->post_edge_min_ev = NAN;
    p->post_edge_fraction = 1.0 / 3.0;
    p->bin = 4;
    p->upsample = 8;
    p->window_alpha = 0.5;
    p->whiten = 0.5;
    p->min_peak_z = 10.0;
}

static void tukey(float *w, size_t n, double alpha)
{
    /* Tukey window over n samples: cosine tapers on alpha*n/2 samples at
     * each end, flat in between (alpha = 1 is the Hann window). */
    double taper = 0.5 * alpha * (double)(n - 1);
    for (size_t i = 0; i < n; i++) {
        double d = (double)(i < n - 1 - i ? i : n - 1 - i);
        w[i] = (taper <= 0.0 || d >= taper) ? 1.0f : (float)(0.5 - 0.5 * cos(PI * d / taper));
    }
}

static void scratch_free(scratch *s)
{
    fftwf_free(s->frame);
    fftwf_free(s->real);
    fftwf_free(s->spec);
    fftwf_free(s->spec2);
    free(s->kc_re);
    free(s->kc_im);
    free(s->t_re);
    free(s->t_im);
    free(s->kr_re);
    free(s->kr_im);
    free(s->grid);
    free(s->ph_y);
    free(s->ph_x);
    free(s->row);
    free(s->nan_rows);
}

void xanes_align_free(xanes_align *a)
{
    if (a == NULL)
        return;
#pragma omp critical(xanes_fftw_planner)
    {
        if (a->r2c != NULL)
            fftwf_destroy_plan(a->r2c);
        if (a->c2r != NULL)
            fftwf_destroy_plan(a->c2r);
    }
    if (a->s != NULL)
        for (int t = 0; t < a->nthr; t++)
            scratch_free(&a->s[t]);
    free(a->s);
    fftwf_free(a->ref_spec);
    free(a->win_y);
    free(a->win_x);
    free(a);
}

xanes_align *xanes_align_alloc(size_t ny, size_t nx, const xanes_align_params *p,
                               xanes_error *err)
{
    xanes_align *a = calloc(1, sizeof *a);
    if (a == NULL) {
        XANES_RAISE(err, XANES_ENOMEM, "align: cannot allocate the aligner");
        return NULL;
    }
    if (p != NULL)
        a->p = *p;
    else
        xanes_align_default_params(&a->p);
    const xanes_align_params *q = &a->p;
    if (q->bin < 1 || q->upsample < 1 || !(q->window_alpha >= 0.0 && q->window_alpha <= 1.0) ||
        !(q->whiten >= 0.0 && q->whiten <= 1.0) || !(q->min_peak_z >= 0.0) ||
        !(q->post_edge_fraction > 0.0 && q->post_edge_fraction <= 1.0) ||
        (int)q->reference < 0 || q->reference > XANES_ALIGN_REF_FRAME) {
        XANES_RAISE(err, XANES_EINVAL,
                    "align: bad parameters (bin %zu, upsample %zu, window_alpha %g, whiten %g, "
                    "min_peak_z %g, post_edge_fraction %g, reference %d)",
                    q->bin, q->upsample, q->window_alpha, q->whiten, q->min_peak_z,
                    q->post_edge_fraction, (int)q->reference);
        goto fail;
    }
    a->ny = ny;
    a->nx = nx;
    if (ny < 8 || nx < 8) {
        XANES_RAISE(err, XANES_EINVAL,
                    "align: frame of %zu x %zu px is too small to correlate (at least 8 x 8)", ny,
                    nx);
        goto fail;
    }
    /* Small frames are binned less, down to 32 binned px a side. */
    while (a->p.bin > 1 && (ny / a->p.bin < 32 || nx / a->p.bin < 32))
        a->p.bin--;
    a->nyb = ny / a->p.bin;
    a->nxb = nx / a->p.bin;
    a->nxh = a->nxb / 2 + 1;
    size_t h = (size_t)ceil(0.75 * (double)q->upsample);
    a->m = 2 * h + 1;
    a->nthr = omp_get_max_threads();
    size_t nreal = a->nyb * a->nxb, nspec = a->nyb * a->nxh;
    a->win_y = malloc(a->nyb * sizeof *a->win_y);
    a->win_x = malloc(a->nxb * sizeof *a->win_x);
    a->ref_spec = fftwf_malloc(nspec * sizeof *a->ref_spec);
    a->s = calloc((size_t)a->nthr, sizeof *a->s);
    if (a->win_y == NULL || a->win_x == NULL || a->ref_spec == NULL || a->s == NULL)
        goto nomem;
    for (int t = 0; t < a->nthr; t++) {
        scratch *s = &a->s[t];
        s->frame = fftwf_malloc(ny * nx * sizeof *s->frame);
        s->real = fftwf_malloc(nreal * sizeof *s->real);
        s->spec = fftwf_malloc(nspec * sizeof *s->spec);
        s->spec2 = fftwf_malloc(nspec * sizeof *s->spec2);
        s->kc_re = malloc(a->nxh * a->m * sizeof *s->kc_re);
        s->kc_im = malloc(a->nxh * a->m * sizeof *s->kc_im);
        s->t_re = malloc(a->nyb * a->m * sizeof *s->t_re);
        s->t_im = malloc(a->nyb * a->m * sizeof *s->t_im);
        s->kr_re = malloc(a->m * a->nyb * sizeof *s->kr_re);
        s->kr_im = malloc(a->m * a->nyb * sizeof *s->kr_im);
        s->grid = malloc(a->m * a->m * sizeof *s->grid);
        s->ph_y = malloc(2 * a->nyb * sizeof *s->ph_y);
        s->ph_x = malloc(2 * a->nxh * sizeof *s->ph_x);
        s->row = malloc(nx * sizeof *s->row);
        s->nan_rows = malloc(a->nyb * sizeof *s->nan_rows);
        if (s->nan_rows == NULL || s->ph_y == NULL || s->ph_x == NULL || s->row == NULL ||
            s->frame == NULL || s->real == NULL || s->spec == NULL || s->spec2 == NULL ||
            s->kc_re == NULL || s->kc_im == NULL || s->t_re == NULL || s->t_im == NULL ||
            s->kr_re == NULL || s->kr_im == NULL || s->grid == NULL)
            goto nomem;
    }
    tukey(a->win_y, a->nyb, q->window_alpha);
    tukey(a->win_x, a->nxb, q->window_alpha);
    /* FFTW_ESTIMATE: measuring a 1024^2 plan costs ~0.5 s, more than the
     * transforms it would save on an 80-frame stack. */
#pragma omp critical(xanes_fftw_planner)
    {
        a->r2c = fftwf_plan_dft_r2c_2d((int)a->nyb, (int)a->nxb, a->s[0].real, a->s[0].spec,
                                       FFTW_ESTIMATE);
        a->c2r = fftwf_plan_dft_c2r_2d((int)a->nyb, (int)a->nxb, a->s[0].spec2, a->s[0].real,
                                       FFTW_ESTIMATE);
    }
    if (a->r2c == NULL || a->c2r == NULL) {
        XANES_RAISE(err, XANES_EFAIL, "align: FFTW could not plan a %zu x %zu transform",
                    a->nyb, a->nxb);
        goto fail;
    }
    return a;
nomem:
    XANES_RAISE(err, XANES_ENOMEM,
                "align: cannot allocate scratch for %d threads and %zu x %zu frames", a->nthr,
                ny, nx);
fail:
    xanes_align_free(a);
    return NULL;
}

/* Copies a row of n pixels with every run of NaN replaced by the straight
 * line between its finite neighbours (the nearest finite value at the row
 * ends, fill when the row has none).  A dead column or a patch filled with
 * one constant would be a sharp feature at the same place in every frame,
 * which pulls the correlation towards zero shift (0.13 px rms on the test
 * stack with a dead column and a moving 20 x 30 patch); interpolated, it
 * blends into its surroundings. */
static void fill_row(const float *restrict src, float *restrict dst, size_t n, float fill)
{
    size_t next = 0; /* first index not yet written */
    int have = 0;
    float lastv = fill;
    for (size_t x = 0; x < n; x++) {
        float v = src[x];
        if (!isfinite(v))
            continue;
        if (next < x) {
            if (!have) {
                for (size_t i = next; i < x; i++)
                    dst[i] = v;
            } else {
                float step = (v - lastv) / (float)(x - next + 1);
                for (size_t i = next; i < x; i++)
                    dst[i] = lastv + step * (float)(i - next + 1);
            }
        }
        dst[x] = v;
        lastv = v;
        have = 1;
        next = x + 1;
    }
    for (size_t i = next; i < n; i++)
        dst[i] = lastv;
}

/* Adds the bin x bin block sums of one raw row u to out [nxb]. */
static void bin_row(const float *restrict u, float *restrict out, size_t nxb, size_t bin)
{
    if (bin == 4) {
#pragma omp simd
        for (size_t x = 0; x < nxb; x++)
            out[x] += (u[4 * x] + u[4 * x + 1]) + (u[4 * x + 2] + u[4 * x + 3]);
    } else if (bin == 2) {
#pragma omp simd
        for (size_t x = 0; x < nxb; x++)
            out[x] += u[2 * x] + u[2 * x + 1];
    } else {
        for (size_t x = 0; x < nxb; x++)
            for (size_t j = 0; j < bin; j++)
                out[x] += u[x * bin + j];
    }
}

/* Bins src (rows of src_nx floats, nyb*bin x nxb*bin used) into dst
 * [nyb*nxb], NaN filled along rows (fill_row; a row without any finite
 * pixel counts as the frame mean), the mean of the finite pixels removed,
 * window applied.  row is scratch of src_nx floats, nan_rows of nyb.  One
 * pass over the frame.  Returns 0 when the frame has no finite pixel.
 * Linear in the pixels when there is no NaN, which leave-one-out relies
 * on. */
static int prepare(const xanes_align *a, const float *restrict src, size_t src_nx, size_t bin,
                   float *restrict dst, float *restrict row, size_t *restrict nan_rows)
{
    size_t nyb = a->nyb, nxb = a->nxb, n = nxb * bin;
    double sum = 0.0;
    size_t count = 0;
    for (size_t y = 0; y < nyb; y++) {
        float *out = dst + y * nxb;
        for (size_t x = 0; x < nxb; x++)
            out[x] = 0.0f;
        nan_rows[y] = 0;
        for (size_t i = 0; i < bin; i++) {
            const float *r = src + (y * bin + i) * src_nx;
            float rs = 0.0f;
            size_t rc = 0;
            /* v - v is 0 for finite v and NaN for NaN or Inf. */
#pragma omp simd reduction(+ : rs, rc)
            for (size_t x = 0; x < n; x++) {
                float v = r[x];
                int fin = (v - v) == 0.0f;
                rs += fin ? v : 0.0f;
                rc += (size_t)fin;
            }
            sum += rs;
            count += rc;
            if (rc == 0) {
                nan_rows[y]++;
                continue;
            }
            if (rc < n) {
                fill_row(r, row, n, 0.0f);
                r = row;
            }
            bin_row(r, out, nxb, bin);
        }
    }
    if (count == 0)
        return 0;
    float mean = (float)(sum / (double)count);
    float inv = 1.0f / (float)(bin * bin);
    for (size_t y = 0; y < nyb; y++) {
        float *out = dst + y * nxb;
        /* Block mean minus frame mean; all-NaN raw rows stand in as mean. */
        float off = mean * (1.0f - (float)(nan_rows[y] * bin) * inv);
        float wy = a->win_y[y];
#pragma omp simd
        for (size_t x = 0; x < nxb; x++)
            out[x] = (out[x] * inv - off) * wy * a->win_x[x];
    }
    return 1;
}

/* Phase factors exp(-2 pi i (ky dy/nyb + kx dx/nxb)) (signed ky) that
 * translate a binned spectrum by (dy, dx) full-size px, split by axis. */
static void shift_phase(const xanes_align *a, scratch *s, double dy, double dx)
{
    double by = dy / (double)a->p.bin, bx = dx / (double)a->p.bin;
    for (size_t ky = 0; ky < a->nyb; ky++) {
        double kys = (2 * ky > a->nyb) ? (double)ky - (double)a->nyb : (double)ky;
        double ph = -2.0 * PI * kys * by / (double)a->nyb;
        s->ph_y[2 * ky] = (float)cos(ph);
        s->ph_y[2 * ky + 1] = (float)sin(ph);
    }
    for (size_t kx = 0; kx < a->nxh; kx++) {
        double ph = -2.0 * PI * (double)kx * bx / (double)a->nxb;
        s->ph_x[2 * kx] = (float)cos(ph);
        s->ph_x[2 * kx + 1] = (float)sin(ph);
    }
}

/* spec *= the phase factors in s, in place (the spectrum of the frame
 * translated by the shift given to shift_phase). */
static void translate(const xanes_align *a, const scratch *s, fftwf_complex *spec)
{
    for (size_t ky = 0; ky < a->nyb; ky++) {
        float yr = s->ph_y[2 * ky], yi = s->ph_y[2 * ky + 1];
        for (size_t kx = 0; kx < a->nxh; kx++) {
            size_t i = ky * a->nxh + kx;
            float pr = yr * s->ph_x[2 * kx] - yi * s->ph_x[2 * kx + 1];
            float pi = yr * s->ph_x[2 * kx + 1] + yi * s->ph_x[2 * kx];
            float gr = spec[i][0], gi = spec[i][1];
            spec[i][0] = gr * pr - gi * pi;
            spec[i][1] = gr * pi + gi * pr;
        }
    }
}

/* R = ref * conj(spec) / |.|^p in place in spec; returns max |R| before
 * whitening (0 means the frame carried no signal at all).  n_ref > 1: the
 * frame is one of the n_ref frames averaged into the reference (translated
 * by the phase factors in s), and is taken out of it again (leave-one-out):
 * its own noise, present in both, would otherwise pull the peak towards its
 * first-pass shift.  prepare() is linear in the pixels, so this is exact for
 * frames without NaN. */
static double cross_power(const xanes_align *a, const scratch *s, fftwf_complex *restrict spec,
                          size_t n_ref)
{
    size_t nxh = a->nxh;
    const fftwf_complex *restrict ref = a->ref_spec;
    double p = a->p.whiten;
    float maxmag2 = 0.0f;
    float cr = 1.0f, cs = 0.0f;
    if (n_ref > 1) {
        cr = (float)n_ref / (float)(n_ref - 1);
        cs = 1.0f / (float)(n_ref - 1);
    }
    for (size_t ky = 0; ky < a->nyb; ky++) {
        float yr = s->ph_y[2 * ky], yi = s->ph_y[2 * ky + 1];
        for (size_t kx = 0; kx < nxh; kx++) {
            size_t i = ky * nxh + kx;
            float gr = spec[i][0], gi = spec[i][1];
            float fr = ref[i][0], fi = ref[i][1];
            if (n_ref > 1) {
                float pr = yr * s->ph_x[2 * kx] - yi * s->ph_x[2 * kx + 1];
                float pi = yr * s->ph_x[2 * kx + 1] + yi * s->ph_x[2 * kx];
                fr = cr * fr - cs * (gr * pr - gi * pi);
                fi = cr * fi - cs * (gr * pi + gi * pr);
            }
            float rr = fr * gr + fi * gi, ri = fi * gr - fr * gi;
            float mag2 = rr * rr + ri * ri;
            if (mag2 > maxmag2)
                maxmag2 = mag2;
            float scale;
            if (mag2 <= 0.0f)
                scale = 0.0f;
            else if (p == 1.0)
                scale = 1.0f / sqrtf(mag2);
            else if (p == 0.5)
                scale = 1.0f / sqrtf(sqrtf(mag2));
            else if (p == 0.0)
                scale = 1.0f;
            else
                scale = powf(mag2, (float)(-0.5 * p));
            spec[i][0] = rr * scale;
            spec[i][1] = ri * scale;
        }
    }
    return sqrt((double)maxmag2);
}

/* Local upsampled DFT of R (in s->spec) around the integer peak (py, px),
 * signed binned pixels; writes the refined position. */
static void refine(const xanes_align *a, scratch *s, double py, double px, double *oy,
                   double *ox)
{
    size_t nyb = a->nyb, nxb = a->nxb, nxh = a->nxh, m = a->m, h = m / 2;
    double up = (double)a->p.upsample;
    for (size_t kx = 0; kx < nxh; kx++) {
        /* Columns kx and nxb-kx pair up; kx = 0 and the Nyquist column of
         * an even nxb stand alone. */
        double w = (kx == 0 || 2 * kx == nxb) ? 1.0 : 2.0;
        for (size_t j = 0; j < m; j++) {
            double c = px + ((double)j - (double)h) / up;
            double ph = 2.0 * PI * (double)kx * c / (double)nxb;
            s->kc_re[kx * m + j] = (float)(w * cos(ph));
            s->kc_im[kx * m + j] = (float)(w * sin(ph));
        }
    }
    for (size_t i = 0; i < m; i++) {
        double r = py + ((double)i - (double)h) / up;
        for (size_t ky = 0; ky < nyb; ky++) {
            double kys = (2 * ky > nyb) ? (double)ky - (double)nyb : (double)ky;
            double ph = 2.0 * PI * kys * r / (double)nyb;
            s->kr_re[i * nyb + ky] = cos(ph);
            s->kr_im[i * nyb + ky] = sin(ph);
        }
    }
    /* T[ky][j] = sum_kx R[ky][kx] Kc[kx][j]: the O(nyb * nxh * m) step,
     * vectorised over j. */
    for (size_t ky = 0; ky < nyb; ky++) {
        float *restrict tr = s->t_re + ky * m, *restrict ti = s->t_im + ky * m;
        for (size_t j = 0; j < m; j++)
            tr[j] = ti[j] = 0.0f;
        const fftwf_complex *row = s->spec + ky * nxh;
        for (size_t kx = 0; kx < nxh; kx++) {
            float ar = row[kx][0], ai = row[kx][1];
            const float *restrict kr = s->kc_re + kx * m, *restrict ki = s->kc_im + kx * m;
#pragma omp simd
            for (size_t j = 0; j < m; j++) {
                tr[j] += ar * kr[j] - ai * ki[j];
                ti[j] += ar * ki[j] + ai * kr[j];
            }
        }
    }
    size_t bi = 0, bj = 0;
    double best = -INFINITY;
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < m; j++) {
            double acc = 0.0;
            for (size_t ky = 0; ky < nyb; ky++)
                acc += s->kr_re[i * nyb + ky] * s->t_re[ky * m + j] -
                       s->kr_im[i * nyb + ky] * s->t_im[ky * m + j];
            s->grid[i * m + j] = acc;
            if (acc > best) {
                best = acc;
                bi = i;
                bj = j;
            }
        }
    double di = 0.0, dj = 0.0;
    if (bi > 0 && bi + 1 < m) {
        double fm = s->grid[(bi - 1) * m + bj], f0 = best, fp = s->grid[(bi + 1) * m + bj];
        double den = fm - 2.0 * f0 + fp;
        if (den < 0.0)
            di = fmax(-0.5, fmin(0.5, 0.5 * (fm - fp) / den));
    }
    if (bj > 0 && bj + 1 < m) {
        double fm = s->grid[bi * m + bj - 1], f0 = best, fp = s->grid[bi * m + bj + 1];
        double den = fm - 2.0 * f0 + fp;
        if (den < 0.0)
            dj = fmax(-0.5, fmin(0.5, 0.5 * (fm - fp) / den));
    }
    *oy = py + ((double)bi + di - (double)h) / up;
    *ox = px + ((double)bj + dj - (double)h) / up;
}

/* Registers one prepared frame (in s->real) on the reference.  Returns 1 and
 * the shift in full-size px when the peak is sharp enough. */
static int register_frame(const xanes_align *a, scratch *s, size_t n_ref, double *dy,
                          double *dx)
{
    /* On entry *dy, *dx hold the first-pass shift used by leave-one-out. */
    if (n_ref > 1)
        shift_phase(a, s, *dy, *dx);
    size_t nyb = a->nyb, nxb = a->nxb, nspec = a->nyb * a->nxh, n = nyb * nxb;
    fftwf_execute_dft_r2c(a->r2c, s->real, s->spec);
    if (cross_power(a, s, s->spec, n_ref) <= 0.0)
        return 0;
    memcpy(s->spec2, s->spec, nspec * sizeof *s->spec);
    fftwf_execute_dft_c2r(a->c2r, s->spec2, s->real);
    size_t imax = 0;
    float vmax = s->real[0];
    double sum = 0.0, sum2 = 0.0;
    for (size_t i = 0; i < n; i++) {
        float v = s->real[i];
        sum += v;
        sum2 += (double)v * v;
        if (v > vmax) {
            vmax = v;
            imax = i;
        }
    }
    double mean = sum / (double)n, var = sum2 / (double)n - mean * mean;
    if (!(var > 0.0) || ((double)vmax - mean) / sqrt(var) < a->p.min_peak_z)
        return 0;
    double py = (double)(imax / nxb), px = (double)(imax % nxb);
    if (2 * (imax / nxb) > nyb)
        py -= (double)nyb;
    if (2 * (imax % nxb) > nxb)
        px -= (double)nxb;
    double ry, rx;
    refine(a, s, py, px, &ry, &rx);
    *dy = ry * (double)a->p.bin;
    *dx = rx * (double)a->p.bin;
    return 1;
}

/* Where prepared frames come from: the stack (prepared on demand), or a
 * cache of every frame prepared once, used when binning makes it small
 * (1/bin^2 of the stack): the averaged reference reads the frames it
 * averages three times, and the cache makes that one read. */
typedef struct {
    const float *stack;
    float *cache;           /* [n_energy][nyb*nxb] or NULL */
    unsigned char *cache_ok; /* [n_energy] prepare() results */
} frames;

/* Prepared frame k into s->real; 0 when it has no finite pixel. */
static int load(const xanes_align *a, scratch *s, const frames *f, size_t k)
{
    size_t nb = a->nyb * a->nxb;
    if (f->cache != NULL) {
        if (!f->cache_ok[k])
            return 0;
        memcpy(s->real, f->cache + k * nb, nb * sizeof *s->real);
        return 1;
    }
    return prepare(a, f->stack + k * a->ny * a->nx, a->nx, a->p.bin, s->real, s->row,
                   s->nan_rows);
}

/* Registers the frames list[0..n) on the current reference, in parallel
 * (static schedule over the list, so the post-edge frames of pass 1 spread
 * over the threads).  loo (may be NULL) marks frames averaged into the
 * reference, taken out again with their first-pass shifts first[]. */
static void register_pass(const xanes_align *a, const frames *f, const size_t *list, size_t n,
                          const unsigned char *loo, size_t n_ref, const double *first,
                          double *shift, unsigned char *ok)
{
#pragma omp parallel num_threads(a->nthr) default(none)                                        \
    shared(a, f, list, loo, first, shift, ok) firstprivate(n, n_ref)
    {
        scratch *s = &a->s[omp_get_thread_num()];
#pragma omp for schedule(static)
        for (size_t j = 0; j < n; j++) {
            size_t k = list[j];
            int use_loo = loo != NULL && loo[k] && n_ref > 1;
            double dy = use_loo ? first[2 * k] : 0.0, dx = use_loo ? first[2 * k + 1] : 0.0;
            int good = load(a, s, f, k) && register_frame(a, s, use_loo ? n_ref : 0, &dy, &dx);
            shift[2 * k] = good ? dy : 0.0;
            shift[2 * k + 1] = good ? dx : 0.0;
            ok[k] = (unsigned char)good;
        }
    }
}

/* ref_spec = mean over list[0..n) of the frames' spectra translated by
 * their shifts: the reference with the drift between its frames removed.
 * Frames are transformed nthr at a time, each into its own scratch set, then
 * summed element by element in list order, so the sum does not depend on the
 * thread count. */
static void accumulate_reference(xanes_align *a, const frames *f, const size_t *list, size_t n,
                                 const double *shift)
{
    size_t nspec = a->nyb * a->nxh;
    size_t nthr = (size_t)a->nthr;
    memset(a->ref_spec, 0, nspec * sizeof *a->ref_spec);
    for (size_t c = 0; c < n; c += nthr) {
        size_t cnt = n - c < nthr ? n - c : nthr;
#pragma omp parallel num_threads(a->nthr) default(none)                                        \
    shared(a, f, list, shift) firstprivate(c, cnt, nspec)
        {
#pragma omp for schedule(static)
            for (size_t j = 0; j < cnt; j++) {
                scratch *s = &a->s[j];
                size_t k = list[c + j];
                /* load() succeeded for these frames in pass 1. */
                (void)load(a, s, f, k);
                fftwf_execute_dft_r2c(a->r2c, s->real, s->spec);
                shift_phase(a, s, shift[2 * k], shift[2 * k + 1]);
                translate(a, s, s->spec);
            }
#pragma omp for schedule(static)
            for (size_t i = 0; i < nspec; i++)
                for (size_t j = 0; j < cnt; j++) {
                    a->ref_spec[i][0] += a->s[j].spec[i][0];
                    a->ref_spec[i][1] += a->s[j].spec[i][1];
                }
        }
    }
    float inv = 1.0f / (float)n;
    for (size_t i = 0; i < nspec; i++) {
        a->ref_spec[i][0] *= inv;
        a->ref_spec[i][1] *= inv;
    }
}

/* Reference from one frame; returns 0 when it is all NaN or flat. */
static int single_reference(xanes_align *a, const frames *f, size_t k)
{
    if (!load(a, &a->s[0], f, k))
        return 0;
    fftwf_execute_dft_r2c(a->r2c, a->s[0].real, a->ref_spec);
    double pow = 0.0;
    for (size_t i = 1; i < a->nyb * a->nxh; i++)
        pow += (double)a->ref_spec[i][0] * a->ref_spec[i][0] +
               (double)a->ref_spec[i][1] * a->ref_spec[i][1];
    return pow > 0.0;
}

xanes_status xanes_align_estimate(xanes_align *a, const float *stack, size_t n_energy,
                                  const double *energy_ev, double *shift_px,
                                  unsigned char *frame_ok, xanes_error *err)
{
    xanes_status st = XANES_OK;
    unsigned char *sel = NULL, *ok = NULL;
    size_t *list = NULL;
    double *first = NULL;
    frames f = {NULL, NULL, NULL};
    if (a == NULL || stack == NULL || energy_ev == NULL || shift_px == NULL || n_energy == 0) {
        st = XANES_RAISE(err, XANES_EINVAL,
                         "align: estimate needs an aligner, a stack, energies, a shift array "
                         "and at least one frame (got n_energy %zu)",
                         n_energy);
        goto done;
    }
    sel = calloc(n_energy, 1);
    ok = calloc(n_energy, 1);
    list = malloc(n_energy * sizeof *list);
    first = calloc(2 * n_energy, sizeof *first);
    if (sel == NULL || ok == NULL || list == NULL || first == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM, "align: cannot allocate %zu frame flags", n_energy);
        goto done;
    }
    double emin = INFINITY, emax = -INFINITY;
    for (size_t k = 0; k < n_energy; k++) {
        if (!isfinite(energy_ev[k])) {
            st = XANES_RAISE(err, XANES_EINVAL, "align: energy of frame %zu is %g eV", k,
                             energy_ev[k]);
            goto done;
        }
        emin = fmin(emin, energy_ev[k]);
        emax = fmax(emax, energy_ev[k]);
    }
    for (size_t k = 0; k < n_energy; k++)
        list[k] = k;
    f.stack = stack;
    if (a->p.reference != XANES_ALIGN_REF_FRAME && a->p.bin >= 2) {
        size_t nb = a->nyb * a->nxb;
        f.cache = fftwf_malloc(n_energy * nb * sizeof *f.cache);
        f.cache_ok = malloc(n_energy);
        if (f.cache == NULL || f.cache_ok == NULL) {
            st = XANES_RAISE(err, XANES_ENOMEM, "align: cannot cache %zu binned frames",
                             n_energy);
            goto done;
        }
        const xanes_align *ac = a;
        float *cache = f.cache;
        unsigned char *cache_ok = f.cache_ok;
        size_t ny = a->ny, nx = a->nx, bin = a->p.bin;
#pragma omp parallel num_threads(a->nthr) default(none)                                        \
    shared(ac, stack, cache, cache_ok) firstprivate(n_energy, nb, ny, nx, bin)
        {
            scratch *s = &ac->s[omp_get_thread_num()];
#pragma omp for schedule(static)
            for (size_t k = 0; k < n_energy; k++)
                cache_ok[k] = (unsigned char)prepare(ac, stack + k * ny * nx, nx, bin,
                                                     cache + k * nb, s->row, s->nan_rows);
        }
    }
    if (a->p.reference == XANES_ALIGN_REF_FRAME) {
        if (a->p.ref_frame >= n_energy) {
            st = XANES_RAISE(err, XANES_EINVAL, "align: reference frame %zu of a %zu-frame stack",
                             a->p.ref_frame, n_energy);
            goto done;
        }
        if (!single_reference(a, &f, a->p.ref_frame)) {
            st = XANES_RAISE(err, XANES_EDATA,
                             "align: reference frame %zu is flat or all NaN, nothing to align on",
                             a->p.ref_frame);
            goto done;
        }
        register_pass(a, &f, list, n_energy, NULL, 0, NULL, shift_px, ok);
        goto copy;
    }
    /* Averaged reference, in two passes.  Pass 1 registers the frames to be
     * averaged on one of them (the pivot, the selected frame nearest the
     * middle of their energy range); their mean, translated into register,
     * is a sharp reference.  Averaging drifted frames instead would blur it,
     * and since the contrast changes with energy the blur biases each frame
     * differently (0.1..0.15 px rms on the test stacks). */
    double thr = -INFINITY;
    if (a->p.reference == XANES_ALIGN_REF_POST_EDGE)
        thr = isfinite(a->p.post_edge_min_ev) ? a->p.post_edge_min_ev
                                              : emax - a->p.post_edge_fraction * (emax - emin);
    size_t nsel = 0, pivot = 0;
    double smin = INFINITY, smax = -INFINITY;
    for (size_t k = 0; k < n_energy; k++)
        if (energy_ev[k] >= thr) {
            sel[k] = 1;
            list[nsel++] = k;
            smin = fmin(smin, energy_ev[k]);
            smax = fmax(smax, energy_ev[k]);
        }
    if (nsel == 0) {
        st = XANES_RAISE(err, XANES_EDATA,
                         "align: no frame at or above the post-edge energy %.2f eV (energies "
                         "%.2f..%.2f eV)",
                         thr, emin, emax);
        goto done;
    }
    /* The pivot: the selected frame nearest the middle of their energy
     * range that is not flat or all NaN (ok[] marks the frames tried). */
    int found = 0;
    for (size_t tries = 0; tries < nsel && !found; tries++) {
        size_t best = nsel;
        for (size_t j = 0; j < nsel; j++)
            if (!ok[list[j]] &&
                (best == nsel || fabs(energy_ev[list[j]] - 0.5 * (smin + smax)) <
                                     fabs(energy_ev[list[best]] - 0.5 * (smin + smax))))
                best = j;
        pivot = list[best];
        ok[pivot] = 1;
        found = single_reference(a, &f, pivot);
    }
    if (!found) {
        st = XANES_RAISE(err, XANES_EDATA,
                         "align: all %zu reference frames (%.2f..%.2f eV) are flat or all NaN, "
                         "nothing to align on",
                         nsel, smin, smax);
        goto done;
    }
    register_pass(a, &f, list, nsel, NULL, 0, NULL, first, ok);
    /* The pivot is in register with itself by definition, even where its
     * self-correlation is too smooth to pass the sharpness test. */
    ok[pivot] = 1;
    first[2 * pivot] = first[2 * pivot + 1] = 0.0;
    size_t nok = 0;
    for (size_t j = 0; j < nsel; j++)
        if (ok[list[j]])
            list[nok++] = list[j];
        else
            sel[list[j]] = 0;
    /* nok >= 1: the pivot. */
    accumulate_reference(a, &f, list, nok, first);
    for (size_t k = 0; k < n_energy; k++)
        list[k] = k;
    register_pass(a, &f, list, n_energy, sel, nok, first, shift_px, ok);
copy:
    if (frame_ok != NULL)
        memcpy(frame_ok, ok, n_energy);
done:
    fftwf_free(f.cache);
    free(f.cache_ok);
    free(first);
    free(list);
    free(ok);
    free(sel);
    return st;
}

/* Keys cubic convolution weights (a = -1/2) of the taps at -1, 0, 1, 2 for
 * a sample at fractional position t in [0, 1). */
static void keys_weights(double t, float w[4])
{
    double t2 = t * t, t3 = t2 * t;
    w[0] = (float)(-0.5 * t3 + t2 - 0.5 * t);
    w[1] = (float)(1.5 * t3 - 2.5 * t2 + 1.0);
    w[2] = (float)(-1.5 * t3 + 2.0 * t2 + 0.5 * t);
    w[3] = (float)(0.5 * t3 - 0.5 * t2);
}

static long clampl(long i, long n)
{
    return i < 0 ? 0 : (i >= n ? n - 1 : i);
}

/* dst[x] = src(x - d) for one row of n pixels: 4 taps around the source
 * position, edge pixels repeated beyond the row; a zero fraction copies
 * (so that NaN neighbours with zero weight do not leak in). */
static void shift_row(const float *restrict src, float *restrict dst, long n, long off,
                      double frac, const float w[4])
{
    if (frac == 0.0) {
        for (long x = 0; x < n; x++)
            dst[x] = src[clampl(x + off, n)];
        return;
    }
    long lo = 1 - off, hi = n - 3 - off; /* taps x+off-1 .. x+off+2 all inside */
    if (lo < 0)
        lo = 0;
    if (hi > n - 1)
        hi = n - 1;
    for (long x = 0; x < n; x++) {
        if (x == lo && lo <= hi) {
            const float *s = src + off - 1;
#pragma omp simd
            for (long xi = lo; xi <= hi; xi++)
                dst[xi] = w[0] * s[xi] + w[1] * s[xi + 1] + w[2] * s[xi + 2] + w[3] * s[xi + 3];
            x = hi;
            continue;
        }
        long b = x + off;
        dst[x] = w[0] * src[clampl(b - 1, n)] + w[1] * src[clampl(b, n)] +
                 w[2] * src[clampl(b + 1, n)] + w[3] * src[clampl(b + 2, n)];
    }
}

/* Shifts one frame in place: out(y, x) = in(y - dy, x - dx).  Each row is
 * filtered horizontally into a ring of R = |oy| + 5 rows just before it is
 * overwritten or first needed, and each output row is the 4-tap vertical
 * filter of ring rows; so the frame is read and written once and the ring
 * stays in cache.  Pixels whose source lies outside the frame become NaN.
 * ring holds at least min(ny, |oy| + 5) rows of nx floats. */
static void shift_frame(float *restrict f, float *restrict ring, size_t ny, size_t nx, double dy,
                        double dx)
{
    double sy = floor(-dy), sx = floor(-dx);
    long oy = (long)sy, ox = (long)sx, lny = (long)ny;
    double fy = -dy - sy, fx = -dx - sx;
    float wy[4], wx[4];
    keys_weights(fy, wy);
    keys_weights(fx, wx);
    long nring = (oy < 0 ? -oy : oy) + 5;
    if (nring > lny)
        nring = lny;
    /* Columns with data: x - dx in [0, nx - 1], tested as in the contract. */
    size_t xlo = 0, xhi = nx;
    while (xlo < nx && !((double)xlo - dx >= 0.0))
        xlo++;
    while (xhi > xlo && !((double)(xhi - 1) - dx <= (double)(nx - 1)))
        xhi--;
    long done = 0; /* rows 0..done-1 are filtered into the ring */
    for (long y = 0; y < lny; y++) {
        /* Before row y of f is overwritten, and up to the last tap. */
        long need = y + oy + 2 > y ? y + oy + 2 : y;
        if (need > lny - 1)
            need = lny - 1;
        for (; done <= need; done++)
            shift_row(f + (size_t)done * nx, ring + (size_t)(done % nring) * nx, (long)nx, ox,
                      fx, wx);
        float *restrict out = f + (size_t)y * nx;
        double ys = (double)y - dy;
        if (!(ys >= 0.0 && ys <= (double)(ny - 1))) {
            for (size_t x = 0; x < nx; x++)
                out[x] = NAN;
            continue;
        }
        long b = y + oy;
        if (fy == 0.0) {
            memcpy(out, ring + (size_t)(clampl(b, lny) % nring) * nx, nx * sizeof *out);
        } else {
            const float *r0 = ring + (size_t)(clampl(b - 1, lny) % nring) * nx;
            const float *r1 = ring + (size_t)(clampl(b, lny) % nring) * nx;
            const float *r2 = ring + (size_t)(clampl(b + 1, lny) % nring) * nx;
            const float *r3 = ring + (size_t)(clampl(b + 2, lny) % nring) * nx;
#pragma omp simd
            for (size_t x = 0; x < nx; x++)
                out[x] = wy[0] * r0[x] + wy[1] * r1[x] + wy[2] * r2[x] + wy[3] * r3[x];
        }
        for (size_t x = 0; x < xlo; x++)
            out[x] = NAN;
        for (size_t x = xhi; x < nx; x++)
            out[x] = NAN;
    }
}

xanes_status xanes_align_apply(xanes_align *a, float *stack, size_t n_energy,
                               const double *shift_px, xanes_error *err)
{
    if (a == NULL || stack == NULL || shift_px == NULL)
        return XANES_RAISE(err, XANES_EINVAL, "align: apply needs an aligner, a stack and shifts");
    for (size_t k = 0; k < n_energy; k++) {
        double dy = shift_px[2 * k], dx = shift_px[2 * k + 1];
        if (!isfinite(dy) || !isfinite(dx) || fabs(dy) >= (double)a->ny ||
            fabs(dx) >= (double)a->nx)
            return XANES_RAISE(err, XANES_EINVAL,
                               "align: shift of frame %zu is (%g, %g) px, not finite or not "
                               "smaller than the %zu x %zu frame",
                               k, dy, dx, a->ny, a->nx);
    }
    const xanes_align *ac = a;
    size_t ny = a->ny, nx = a->nx;
#pragma omp parallel num_threads(a->nthr) default(none) shared(ac, stack, shift_px)           \
    firstprivate(n_energy, ny, nx)
    {
        float *tmp = ac->s[omp_get_thread_num()].frame;
#pragma omp for schedule(static)
        for (size_t k = 0; k < n_energy; k++) {
            double dy = shift_px[2 * k], dx = shift_px[2 * k + 1];
            if (dy != 0.0 || dx != 0.0)
                shift_frame(stack + k * ny * nx, tmp, ny, nx, dy, dx);
        }
    }
    return XANES_OK;
}
