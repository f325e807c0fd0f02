/* align_apply.c: resampling of the frames by their shifts, for align.h.
 *
 * Separable Keys bicubic interpolation (a = -1/2; Keys, IEEE Trans. ASSP
 * 29:1153, 1981): the shift is the same for every pixel of a frame, so the 4
 * weights per axis are computed once per frame and each pass is a 4-tap
 * filter.  In place, through a ring of rows per thread, so each frame is
 * read and written once.  Why bicubic (not Fourier shift, not bilinear) is
 * explained at the top of align.c.
 */
#include <math.h>
#include <string.h>

#include <omp.h>

#include "align_private.h"
#include "isa.h"

void align_keys_weights(double t, float w[4])
{
    double t2 = t * t, t3 = t2 * t;
    w[0] = (float)(-0.5 * t3 + t2 - 0.5 * t);
    w[1] = (float)(1.5 * t3 - 2.5 * t2 + 1.0);
    w[2] = (float)(-1.5 * t3 + 2.0 * t2 + 0.5 * t);
    w[3] = (float)(0.5 * t3 - 0.5 * t2);
}

/* dst[x] = src(x - d) for one row of n pixels: 4 taps around the source
 * position, edge pixels repeated beyond the row; a zero fraction copies
 * (so that NaN neighbours with zero weight do not leak in). */
static inline __attribute__((always_inline)) void shift_row(const float *restrict src,
                                                            float *restrict dst, long n, long off,
                                                            double frac, const float w[4])
{
    if (frac == 0.0) {
        for (long x = 0; x < n; x++)
            dst[x] = src[align_clamp(x + off, n)];
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
        dst[x] = align_keys_clamped(src, n, b - 1, w);
    }
}

/* Shifts one frame in place: out(y, x) = in(y - dy, x - dx).  Each row is
 * filtered horizontally into a ring of R = |oy| + 5 rows just before it is
 * overwritten or first needed, and each output row is the 4-tap vertical
 * filter of ring rows; so the frame is read and written once and the ring
 * stays in cache.  Pixels whose source lies outside the frame become NaN.
 * ring holds at least min(ny, |oy| + 5) rows of nx floats. */
static inline __attribute__((always_inline)) void
shift_frame(float *restrict f, float *restrict ring, size_t ny, size_t nx, double dy, double dx)
{
    double sy = floor(-dy), sx = floor(-dx);
    long oy = (long)sy, ox = (long)sx, lny = (long)ny;
    double fy = -dy - sy, fx = -dx - sx;
    float wy[4], wx[4];
    align_keys_weights(fy, wy);
    align_keys_weights(fx, wx);
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
            shift_row(f + (size_t)done * nx, ring + (size_t)(done % nring) * nx, (long)nx, ox, fx,
                      wx);
        float *restrict out = f + (size_t)y * nx;
        double ys = (double)y - dy;
        if (!(ys >= 0.0 && ys <= (double)(ny - 1))) {
            for (size_t x = 0; x < nx; x++)
                out[x] = NAN;
            continue;
        }
        long b = y + oy;
        if (fy == 0.0) {
            memcpy(out, ring + (size_t)(align_clamp(b, lny) % nring) * nx, nx * sizeof *out);
        } else {
            const float *r0 = ring + (size_t)(align_clamp(b - 1, lny) % nring) * nx;
            const float *r1 = ring + (size_t)(align_clamp(b, lny) % nring) * nx;
            const float *r2 = ring + (size_t)(align_clamp(b + 1, lny) % nring) * nx;
            const float *r3 = ring + (size_t)(align_clamp(b + 2, lny) % nring) * nx;
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

/* shift_frame for two more x86-64 levels, the best picked at run time (4,
 * 8 or 16 floats a vector).  The filters are the same float operations in
 * the same order on every level (ISO C: no contraction into FMA), so the
 * frames do not depend on the machine. */
typedef void (*shift_fn)(float *restrict f, float *restrict ring, size_t ny, size_t nx, double dy,
                         double dx);

static void shift_base(float *restrict f, float *restrict ring, size_t ny, size_t nx, double dy,
                       double dx)
{
    shift_frame(f, ring, ny, nx, dy, dx);
}

#ifdef XANES_ISA_DISPATCH
#define SHIFT_DISPATCH 1
__attribute__((target("arch=x86-64-v3"))) static void
shift_v3(float *restrict f, float *restrict ring, size_t ny, size_t nx, double dy, double dx)
{
    shift_frame(f, ring, ny, nx, dy, dx);
}

__attribute__((target("arch=x86-64-v4"))) static void
shift_v4(float *restrict f, float *restrict ring, size_t ny, size_t nx, double dy, double dx)
{
    shift_frame(f, ring, ny, nx, dy, dx);
}
#endif

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
    shift_fn shift = shift_base;
#ifdef SHIFT_DISPATCH
    const int level = xanes_isa_best();
    shift = level >= 4 ? shift_v4 : level >= 3 ? shift_v3 : shift;
#endif
#pragma omp parallel num_threads(a->nthr) default(none) shared(ac, stack, shift_px, shift)         \
    firstprivate(n_energy, ny, nx)
    {
        float *tmp = ac->s[omp_get_thread_num()].frame;
#pragma omp for schedule(static)
        for (size_t k = 0; k < n_energy; k++) {
            double dy = shift_px[2 * k], dx = shift_px[2 * k + 1];
            if (dy != 0.0 || dx != 0.0)
                shift(stack + k * ny * nx, tmp, ny, nx, dy, dx);
        }
    }
    return XANES_OK;
}
