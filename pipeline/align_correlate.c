/* align_correlate.c: one frame against the reference, for align.c.
 *
 * Preparation (binning, NaN fill, mean removal, Tukey window), the
 * whitened cross-power spectrum with optional leave-one-out, the full-size
 * correlation peak and its sharpness, and the local upsampled-DFT refinement
 * of Guizar-Sicairos, Thurman & Fienup (Opt. Lett. 33:156, 2008).  The
 * algorithm and the measurements behind the defaults are described at the
 * top of align.c.  Everything here works on caller scratch and is
 * thread-safe for distinct scratch sets.
 */
#include <math.h>
#include <string.h>

#include "align_private.h"

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

/* The sum (in *sum) and the number of the finite pixels of r [n]. */
static size_t finite_sum(const float *restrict r, size_t n, float *sum)
{
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
    *sum = rs;
    return rc;
}

/* Binned row y of block sums (out [nxb]) to block means less off, times
 * the windows. */
static void window_row(const xanes_align *a, size_t y, float *restrict out, float inv, float off)
{
    float wy = a->win_y[y];
#pragma omp simd
    for (size_t x = 0; x < a->nxb; x++)
        out[x] = (out[x] * inv - off) * wy * a->win_x[x];
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
int align_prepare(const xanes_align *a, const float *restrict src, size_t src_nx, size_t bin,
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
            float rs;
            size_t rc = finite_sum(r, n, &rs);
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
        window_row(a, y, out, inv, mean * (1.0f - (float)(nan_rows[y] * bin) * inv));
    }
    return 1;
}

/* c[t], t = 0..bin+2: the Keys taps at fraction frac followed by a sum of
 * bin neighbours, c[t] = sum over i + j = t (i < 4, j < bin) of w[i]. */
static void shift_bin_taps(double frac, size_t bin, float *c)
{
    float w[4];
    align_keys_weights(frac, w);
    for (size_t t = 0; t < bin + 3; t++)
        c[t] = 0.0f;
    for (size_t j = 0; j < bin; j++)
        for (size_t i = 0; i < 4; i++)
            c[i + j] += w[i];
}

/* g[x] = sum_i w[i] r[x + o + i] for x < ng (the Keys shift of a row, the
 * taps clamped to its n pixels), then out[X] = the sum of g over the bin
 * pixels of X: the shift-and-bin filter split into two vector loops. */
static void shift_bin_row(const float *restrict r, long n, long o, const float w[4], size_t bin,
                          float *restrict g, float *restrict out, size_t nxb)
{
    long ng = (long)(nxb * bin);
    long lo = -o, hi = n - 4 - o; /* x in [lo, hi]: taps x+o .. x+o+3 inside */
    if (lo < 0)
        lo = 0;
    if (hi > ng - 1)
        hi = ng - 1;
    for (long x = 0; x < lo && x < ng; x++)
        g[x] = align_keys_clamped(r, n, x + o, w);
    if (lo <= hi) {
        const float *restrict p = r + o;
#pragma omp simd
        for (long x = lo; x <= hi; x++)
            g[x] = w[0] * p[x] + w[1] * p[x + 1] + w[2] * p[x + 2] + w[3] * p[x + 3];
    }
    for (long x = (hi + 1 > lo ? hi + 1 : lo); x < ng; x++)
        g[x] = align_keys_clamped(r, n, x + o, w);
    for (size_t x = 0; x < nxb; x++)
        out[x] = 0.0f;
    bin_row(g, out, nxb, bin);
}

int align_prepare_shifted(const xanes_align *a, scratch *s, const float *restrict src, double dy,
                          double dx, float *restrict dst)
{
    size_t ny = a->ny, nx = a->nx, nyb = a->nyb, nxb = a->nxb, bin = a->p.bin, nt = bin + 3;
    /* out(y, x) = in(y - dy, x - dx) = sum_i w_i in(. + o + i - 1), as in
     * align_apply.c's shift_frame. */
    double sy = floor(-dy), sx = floor(-dx);
    long oy = (long)sy - 1, ox = (long)sx - 1;
    float *cy = s->taps, wx[4];
    shift_bin_taps(-dy - sy, bin, cy);
    align_keys_weights(-dx - sx, wx);
    double sum = 0.0;
    size_t count = 0;
    for (size_t q = 0; q < ny; q++) {
        const float *r = src + q * nx;
        float rs;
        size_t rc = finite_sum(r, nx, &rs);
        sum += rs;
        count += rc;
        s->row_nan[q] = rc == 0;
        if (rc == 0)
            continue;
        if (rc < nx) {
            fill_row(r, s->row, nx, 0.0f);
            r = s->row;
        }
        shift_bin_row(r, (long)nx, ox, wx, bin, s->frame, s->hbuf + q * nxb, nxb);
    }
    if (count == 0)
        return 0;
    float mean = (float)(sum / (double)count);
    float inv = 1.0f / (float)(bin * bin);
    for (size_t y = 0; y < nyb; y++) {
        float *restrict out = dst + y * nxb;
        for (size_t x = 0; x < nxb; x++)
            out[x] = 0.0f;
        /* All-NaN raw rows stand in as the mean, as in align_prepare; a
         * row's taps along x sum to bin. */
        float nan_weight = 0.0f;
        for (size_t t = 0; t < nt; t++) {
            size_t q = (size_t)align_clamp((long)(bin * y) + oy + (long)t, (long)ny);
            if (s->row_nan[q]) {
                nan_weight += cy[t] * (float)bin;
                continue;
            }
            const float *restrict h = s->hbuf + q * nxb;
            float c = cy[t];
#pragma omp simd
            for (size_t x = 0; x < nxb; x++)
                out[x] += c * h[x];
        }
        window_row(a, y, out, inv, mean * (1.0f - nan_weight * inv));
    }
    return 1;
}

/* Phase factors exp(-2 pi i (ky dy/nyb + kx dx/nxb)) (signed ky) that
 * translate a binned spectrum by (dy, dx) full-size px, split by axis. */
void align_shift_phase(const xanes_align *a, scratch *s, double dy, double dx)
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
void align_translate(const xanes_align *a, const scratch *s, fftwf_complex *spec)
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

/* Local upsampled DFT of R (in s->spec) on an m x m grid (m odd, at most
 * a->m) of 1/upsample px around (py, px), signed binned pixels; writes the
 * refined position.  Returns 1 when the grid's maximum is not on its
 * border. */
static int refine(const xanes_align *a, scratch *s, double py, double px, size_t m, double *oy,
                  double *ox)
{
    size_t nyb = a->nyb, nxb = a->nxb, nxh = a->nxh, h = m / 2;
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
    return bi > 0 && bi + 1 < m && bj > 0 && bj + 1 < m;
}

/* Registers one prepared frame (in s->real) on the reference.  Returns 1 and
 * the shift in full-size px when the peak is sharp enough. */
int align_register_frame(const xanes_align *a, scratch *s, size_t n_ref, int local, double *dy,
                         double *dx)
{
    /* On entry *dy, *dx hold the first-pass shift used by leave-one-out. */
    if (n_ref > 1)
        align_shift_phase(a, s, *dy, *dx);
    size_t nyb = a->nyb, nxb = a->nxb, nspec = a->nyb * a->nxh, n = nyb * nxb;
    fftwf_execute_dft_r2c(a->r2c, s->real, s->spec);
    if (cross_power(a, s, s->spec, n_ref) <= 0.0)
        return 0;
    if (local) {
        /* A residual of a frame resampled by its shift: well inside 1/4
         * binned px, so a 5 x 5 grid around zero (2.7 x fewer operations
         * than the full grid, no correlation surface) finds it; a maximum
         * on the grid's border means it did not. */
        double ry, rx;
        size_t m = a->m < 5 ? a->m : 5;
        if (!refine(a, s, 0.0, 0.0, m, &ry, &rx))
            return 0;
        *dy = ry * (double)a->p.bin;
        *dx = rx * (double)a->p.bin;
        return 1;
    }
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
    refine(a, s, py, px, a->m, &ry, &rx);
    *dy = ry * (double)a->p.bin;
    *dx = rx * (double)a->p.bin;
    return 1;
}
