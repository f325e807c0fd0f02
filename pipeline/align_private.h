/* align_private.h: the aligner object and the correlation helpers shared
 * by align.c (parameters, set-up, the estimate's passes), align_correlate.c
 * (preparing, correlating and refining one frame) and align_apply.c
 * (resampling).  Not installed. */
#ifndef XANES_ALIGN_PRIVATE_H
#define XANES_ALIGN_PRIVATE_H

#include <stddef.h>

#include <fftw3.h>

#include "xanes/align.h"

/* C11 has no M_PI. */
#define PI 3.14159265358979323846

/* Scratch of one thread, allocated by xanes_align_alloc. */
typedef struct {
    float *frame;           /* [ny*nx] apply scratch; a row of align_prepare_shifted */
    float *real;            /* [nyb*nxb] windowed frame / correlation        */
    fftwf_complex *spec;    /* [nyb*nxh] spectrum, then cross-power R        */
    fftwf_complex *spec2;   /* [nyb*nxh] copy of R consumed by the c2r FFT   */
    float *kc_re, *kc_im;   /* [nxh*m] column kernel of the local DFT        */
    float *t_re, *t_im;     /* [nyb*m] partial sums of the local DFT         */
    double *kr_re, *kr_im;  /* [m*nyb] row kernel                            */
    double *grid;           /* [m*m] upsampled correlation                   */
    float *ph_y, *ph_x;     /* [2*nyb], [2*nxh] separable shift phase factors */
    float *row;             /* [nx] one raw row with NaN filled               */
    size_t *nan_rows;       /* [nyb] all-NaN raw rows per binned row          */
    float *hbuf;            /* [ny*nxb] rows shifted and binned along x (bin >= 2) */
    unsigned char *row_nan; /* [ny] all-NaN raw rows (bin >= 2) */
    float *taps;            /* [bin+3] shift-and-bin taps along y (bin >= 2) */
} scratch;

struct xanes_align {
    size_t ny, nx, nyb, nxb, nxh, m; /* m = 2h+1 points of the local grid */
    xanes_align_params p;
    int nthr;
    float *win_y, *win_x;    /* Tukey windows [nyb], [nxb]         */
    fftwf_complex *ref_spec; /* [nyb*nxh]                          */
    fftwf_plan r2c, c2r;
    scratch *s;
};

/* Bins src (rows of src_nx floats, nyb*bin x nxb*bin used) into dst
 * [nyb*nxb], NaN filled along rows, the mean of the finite pixels removed,
 * window applied.  row is scratch of src_nx floats, nan_rows of nyb.  One
 * pass over the frame.  Returns 0 when the frame has no finite pixel.
 * Linear in the pixels when there is no NaN, which leave-one-out relies
 * on. */
int align_prepare(const xanes_align *a, const float *restrict src, size_t src_nx, size_t bin,
                  float *restrict dst, float *restrict row, size_t *restrict nan_rows);

/* align_prepare of the frame src [ny*nx] shifted by (dy, dx) with the
 * bicubic kernel of xanes_align_apply, without making the shifted frame:
 * each row is shifted along x and bin-summed into hbuf, and along y the 4
 * taps and the bin-sum are one filter of bin+3 taps over hbuf's rows.
 * Beyond the frame the edge pixels repeat (apply writes NaN there; for a
 * registration the window makes the difference small).  Scratch in s
 * (hbuf, row_nan, taps, row, and frame as one row: needs bin >= 2).
 * Returns 0 when the frame has no finite pixel. */
int align_prepare_shifted(const xanes_align *a, scratch *s, const float *restrict src, double dy,
                          double dx, float *restrict dst);

/* i clamped to [0, n - 1]: the edge pixel repeats beyond a row or column. */
static inline long align_clamp(long i, long n)
{
    return i < 0 ? 0 : (i >= n ? n - 1 : i);
}

/* w[0] r[b] + w[1] r[b+1] + w[2] r[b+2] + w[3] r[b+3], the indices clamped
 * to the n pixels of r: one Keys tap set at a row's border. */
static inline float align_keys_clamped(const float *r, long n, long b, const float w[4])
{
    return w[0] * r[align_clamp(b, n)] + w[1] * r[align_clamp(b + 1, n)] +
           w[2] * r[align_clamp(b + 2, n)] + w[3] * r[align_clamp(b + 3, n)];
}

/* Keys cubic convolution weights (a = -1/2) of the taps at -1, 0, 1, 2 for
 * a sample at fractional position t in [0, 1). */
void align_keys_weights(double t, float w[4]);

/* Phase factors in s that translate a binned spectrum by (dy, dx)
 * full-size px. */
void align_shift_phase(const xanes_align *a, scratch *s, double dy, double dx);

/* spec *= the phase factors in s, in place. */
void align_translate(const xanes_align *a, const scratch *s, fftwf_complex *spec);

/* Registers the prepared frame in s->real on a->ref_spec.  n_ref > 1: the
 * frame is one of n_ref frames averaged into the reference and is taken out
 * of it (leave-one-out) at the first-pass shift given in *dy, *dx.  Returns
 * 1 and the shift in full-size px when the peak is sharp enough, else 0.
 * local: the shift is known to be a small residual (a frame resampled by
 * its estimate); only the neighbourhood of zero is searched, and 0 is
 * returned when the maximum is not inside it. */
int align_register_frame(const xanes_align *a, scratch *s, size_t n_ref, int local, double *dy,
                         double *dx);

#endif
