/* align.c: drift alignment of TXM-XANES energy frames: parameters, set-up
 * (FFTW plans, scratch) and the passes of the estimate.  One frame's
 * correlation is in align_correlate.c, the resampling in align_apply.c.
 *
 * Estimate.  With an averaged reference (post-edge mean, the default, or the
 * sum of all frames) the frames to average are first registered on one of
 * them (the pivot), averaged in register in Fourier space, and then every
 * frame is registered on that sharp mean, each averaged frame against the
 * mean of the others (leave-one-out: its own noise would otherwise pull it
 * towards its first-pass shift; averaging drifted frames instead blurred the
 * reference and, since contrast changes with energy, biased frames by 0.1 to
 * 0.15 px rms).  Registering one frame:
 *   1. bin x bin binning, NaN runs filled by linear interpolation along the
 *      row, mean removed, Tukey window (against the wrap-around
 *      discontinuity of the DFT);
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
 * With binning, a third pass bins every frame again as if resampled by its
 * shift (the bicubic of Apply fused with the binning) and registers it on
 * the mean of the resampled reference frames, searching only near zero; the
 * residual is added.  Binning samples the scene at a phase that follows the
 * drift, and registrations of binned frames carried a bias periodic in the
 * shift (see resampled_pass); the pass costs one more read of the stack
 * and about half a registration pass (1024^2 x 80, 1 thread: estimate
 * 0.17 -> 0.27 s).
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

#include "align_private.h"

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
    free(s->hbuf);
    free(s->row_nan);
    free(s->taps);
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

xanes_align *xanes_align_alloc(size_t ny, size_t nx, const xanes_align_params *p, xanes_error *err)
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
        !(q->post_edge_fraction > 0.0 && q->post_edge_fraction <= 1.0) || (int)q->reference < 0 ||
        q->reference > XANES_ALIGN_REF_FRAME) {
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
    /* Small frames are binned less, so the binned frame keeps 64 px a side:
     * on 128^2 simulated NCM stacks (drift 2 px rms, three seeds) 4 x 4
     * binning (32^2) registered to 0.06-0.08 px rms noise-free and 2 x 2 to
     * 0.02-0.04 (0.05-0.07 at 300 counts); bin 1 was no better. */
    while (a->p.bin > 1 && (ny / a->p.bin < 64 || nx / a->p.bin < 64))
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
        if (a->p.bin >= 2) { /* the resampled pass */
            s->hbuf = malloc(ny * a->nxb * sizeof *s->hbuf);
            s->row_nan = malloc(ny);
            s->taps = malloc((a->p.bin + 3) * sizeof *s->taps);
            if (s->hbuf == NULL || s->row_nan == NULL || s->taps == NULL)
                goto nomem;
        }
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
        XANES_RAISE(err, XANES_EFAIL, "align: FFTW could not plan a %zu x %zu transform", a->nyb,
                    a->nxb);
        goto fail;
    }
    return a;
nomem:
    XANES_RAISE(err, XANES_ENOMEM,
                "align: cannot allocate scratch for %d threads and %zu x %zu frames", a->nthr, ny,
                nx);
fail:
    xanes_align_free(a);
    return NULL;
}
/* Where prepared frames come from: the stack (prepared on demand), or a
 * cache of every frame prepared once, used when binning makes it small
 * (1/bin^2 of the stack): the averaged reference reads the frames it
 * averages three times, and the cache makes that one read.  The resampled
 * pass (pass 3) overwrites a frame's entry with its resampled binning. */
typedef struct {
    const float *stack;
    float *cache;            /* [n_energy][nyb*nxb] or NULL */
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
    return align_prepare(a, f->stack + k * a->ny * a->nx, a->nx, a->p.bin, s->real, s->row,
                         s->nan_rows);
}

/* Registers the frames list[0..n) on the current reference, in parallel
 * (static schedule over the list, so the post-edge frames of pass 1 spread
 * over the threads).  loo (may be NULL) marks frames averaged into the
 * reference, taken out again with their first-pass shifts first[]; local: see
 * align_register_frame. */
static void register_pass(const xanes_align *a, const frames *f, const size_t *list, size_t n,
                          const unsigned char *loo, size_t n_ref, const double *first, int local,
                          double *shift, unsigned char *ok)
{
#pragma omp parallel num_threads(a->nthr) default(none) shared(a, f, list, loo, first, shift, ok)  \
    firstprivate(n, n_ref, local)
    {
        scratch *s = &a->s[omp_get_thread_num()];
#pragma omp for schedule(static)
        for (size_t j = 0; j < n; j++) {
            size_t k = list[j];
            int use_loo = loo != NULL && loo[k] && n_ref > 1;
            double dy = use_loo ? first[2 * k] : 0.0, dx = use_loo ? first[2 * k + 1] : 0.0;
            int good = load(a, s, f, k) &&
                       align_register_frame(a, s, use_loo ? n_ref : 0, local, &dy, &dx);
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
#pragma omp parallel num_threads(a->nthr) default(none) shared(a, f, list, shift)                  \
    firstprivate(c, cnt, nspec)
        {
#pragma omp for schedule(static)
            for (size_t j = 0; j < cnt; j++) {
                scratch *s = &a->s[j];
                size_t k = list[c + j];
                /* load() succeeded for these frames in pass 1. */
                (void)load(a, s, f, k);
                fftwf_execute_dft_r2c(a->r2c, s->real, s->spec);
                align_shift_phase(a, s, shift[2 * k], shift[2 * k + 1]);
                align_translate(a, s, s->spec);
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

/* Pass 3: every frame binned again into the cache as if resampled at full
 * size by its shift so far (the kernel of xanes_align_apply, fused with the
 * binning: align_prepare_shifted), and registered on the mean of the
 * resampled reference frames (leave-one-out); the residual is added to its
 * shift.  Binning is not translation invariant: a frame's bin x bin blocks
 * sample the scene at a phase set by its drift, and the registration of
 * binned frames was biased by a periodic function of the shift with the
 * bin's period (noise-free 128^2 NCM stacks, bin 2: amplitude 0.04 px, most
 * of the 0.02-0.03 px rms left; the particles' averaged-spectrum edges moved
 * by up to 0.025 eV).  Resampled, every frame is binned at the reference's
 * phase to within its residual, where the bias is small (0.007-0.012 px rms
 * left on the same stacks).  Frames not registered in pass 2 (ok 0) keep
 * shift 0; a frame whose residual is not found near zero keeps its pass-2
 * shift.  resid and ok2 are [n_energy] scratch; list holds the n_list frames
 * with ok set, ref_list the n_ref of them averaged into the reference
 * (marked in sel). */
static void resampled_pass(xanes_align *a, const frames *f, size_t n_energy, const size_t *list,
                           size_t n_list, const size_t *ref_list, size_t n_ref,
                           const unsigned char *sel, double *shift, double *resid,
                           unsigned char *ok2)
{
    size_t ny = a->ny, nx = a->nx, nb = a->nyb * a->nxb;
    const xanes_align *ac = a;
    const float *stack = f->stack;
    float *cache = f->cache;
    unsigned char *cache_ok = f->cache_ok;
#pragma omp parallel num_threads(a->nthr) default(none)                                            \
    shared(ac, stack, cache, cache_ok, shift, list) firstprivate(n_list, nb, ny, nx)
    {
        scratch *s = &ac->s[omp_get_thread_num()];
#pragma omp for schedule(static)
        for (size_t j = 0; j < n_list; j++) {
            size_t k = list[j];
            cache_ok[k] = (unsigned char)align_prepare_shifted(
                ac, s, stack + k * ny * nx, shift[2 * k], shift[2 * k + 1], cache + k * nb);
        }
    }
    for (size_t k = 0; k < 2 * n_energy; k++)
        resid[k] = 0.0;
    accumulate_reference(a, f, ref_list, n_ref, resid);
    register_pass(a, f, list, n_list, sel, n_ref, resid, 1, resid, ok2);
    for (size_t j = 0; j < n_list; j++) {
        size_t k = list[j];
        if (ok2[k]) { /* 0 also where the frame had no finite pixel */
            shift[2 * k] += resid[2 * k];
            shift[2 * k + 1] += resid[2 * k + 1];
        }
    }
}

xanes_status xanes_align_estimate(xanes_align *a, const float *stack, size_t n_energy,
                                  const double *energy_ev, double *shift_px,
                                  unsigned char *frame_ok, xanes_error *err)
{
    xanes_status st = XANES_OK;
    unsigned char *sel = NULL, *ok = NULL;
    size_t *list = NULL, *rlist = NULL;
    double *first = NULL, *resid = NULL;
    unsigned char *ok2 = NULL;
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
    rlist = malloc(n_energy * sizeof *rlist);
    resid = calloc(2 * n_energy, sizeof *resid);
    ok2 = calloc(n_energy, 1);
    if (sel == NULL || ok == NULL || list == NULL || first == NULL || rlist == NULL ||
        resid == NULL || ok2 == NULL) {
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
    if (a->p.bin >= 2) {
        size_t nb = a->nyb * a->nxb;
        f.cache = fftwf_malloc(n_energy * nb * sizeof *f.cache);
        f.cache_ok = malloc(n_energy);
        if (f.cache == NULL || f.cache_ok == NULL) {
            st = XANES_RAISE(err, XANES_ENOMEM, "align: cannot cache %zu binned frames", n_energy);
            goto done;
        }
        const xanes_align *ac = a;
        float *cache = f.cache;
        unsigned char *cache_ok = f.cache_ok;
        size_t ny = a->ny, nx = a->nx, bin = a->p.bin;
#pragma omp parallel num_threads(a->nthr) default(none) shared(ac, stack, cache, cache_ok)         \
    firstprivate(n_energy, nb, ny, nx, bin)
        {
            scratch *s = &ac->s[omp_get_thread_num()];
#pragma omp for schedule(static)
            for (size_t k = 0; k < n_energy; k++)
                cache_ok[k] = (unsigned char)align_prepare(ac, stack + k * ny * nx, nx, bin,
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
        register_pass(a, &f, list, n_energy, NULL, 0, NULL, 0, shift_px, ok);
        /* The reference frame is the one frame of the resampled pass's
         * reference (no leave-one-out with a single frame). */
        sel[a->p.ref_frame] = 1;
        goto resample;
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
    register_pass(a, &f, list, nsel, NULL, 0, NULL, 0, first, ok);
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
    register_pass(a, &f, list, n_energy, sel, nok, first, 0, shift_px, ok);
resample:
    if (f.cache != NULL) {
        size_t n_list = 0, n_ref = 0;
        for (size_t k = 0; k < n_energy; k++) {
            if (!ok[k])
                sel[k] = 0;
            else
                list[n_list++] = k;
            if (sel[k])
                rlist[n_ref++] = k;
        }
        if (n_ref > 0)
            resampled_pass(a, &f, n_energy, list, n_list, rlist, n_ref, sel, shift_px, resid, ok2);
    }
    if (frame_ok != NULL)
        memcpy(frame_ok, ok, n_energy);
done:
    fftwf_free(f.cache);
    free(f.cache_ok);
    free(ok2);
    free(resid);
    free(rlist);
    free(first);
    free(list);
    free(ok);
    free(sel);
    return st;
}
