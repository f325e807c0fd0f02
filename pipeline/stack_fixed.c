/* stack_fixed.c: the raw-uint16 paths of the reader (stack.c): averaged
 * flat and dark references, and the correction of counts under such fixed
 * references.
 *
 * Averaged references are summed per pixel in frame order (a saturated
 * count makes the pixel saturated) and divided once; uint16 references are
 * read as stored (whole frames stored plainly: with pread, block of pixels
 * by block, in parallel) and widened in the parallel loop, since HDF5's
 * serial uint16 -> double conversion cost a fifth of the read.  Fixed
 * references are classified once per pixel (non-finite, saturated,
 * non-positive, in the correction's precedence) and f - d and 1/(f - d)
 * stored, so the per-voxel work is stack_correct.c's vectorised kernel.
 * The whole-frame path reads a block of 16 Ki pixels of every frame in
 * turn, so the block's references (17 bytes a pixel) stay in L2 while the
 * frames pass and each voxel costs its 2 bytes of counts and 4 of output,
 * as a plain memory pass does.  A uint16 flat per energy goes the same way,
 * its block read and classified frame by frame (stack_correct_flat_blocks).
 * Counts are integer sums per thread, so nothing depends on the thread
 * count.
 */
#define _DEFAULT_SOURCE /* pread */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <omp.h>

#include "stack_correct.h"
#include "stack_source.h"

/* pread until `bytes` are in or the file ends or fails (EINTR retried);
 * returns the bytes read. */
static size_t pread_full(int fd, void *buf, size_t bytes, unsigned long long at)
{
    size_t got = 0;
    while (got < bytes) {
        ssize_t rd = pread(fd, (unsigned char *)buf + got, bytes - got, (off_t)(at + got));
        if (rd < 0 && errno == EINTR)
            continue;
        if (rd <= 0)
            break;
        got += (size_t)rd;
    }
    return got;
}

/* The references seen from pixel p0 on (a block's view). */
static stack_fixed_refs refs_at(const stack_fixed_refs *refs, size_t p0)
{
    stack_fixed_refs r = *refs;
    r.dark = refs->dark != NULL ? refs->dark + p0 : NULL;
    r.den = refs->den + p0;
    r.inv_den = refs->inv_den + p0;
    r.cls = refs->cls + p0;
    return r;
}

/* The per-thread, per-frame counts tc[nthr][ne] of a block pass added to
 * counts[ne], and [*vmin, *vmax] widened by the counts seen (n pixels). */
static void merge_counts(const stack_correct_counts *tc, int nthr, size_t ne, size_t n,
                         xanes_stack_frame_counts *counts, double *vmin, double *vmax)
{
    unsigned lo = 65536, hi = 0;
    for (int t = 0; t < nthr; t++)
        for (size_t k = 0; k < ne; k++) {
            const stack_correct_counts *c = &tc[(size_t)t * ne + k];
            counts[k].nonfinite += c->nonfinite;
            counts[k].saturated += c->saturated;
            counts[k].nonpositive += c->nonpositive;
            lo = c->lo < lo ? c->lo : lo;
            hi = c->hi > hi ? c->hi : hi;
        }
    if (n > 0) {
        *vmin = (double)lo < *vmin ? (double)lo : *vmin;
        *vmax = (double)hi > *vmax ? (double)hi : *vmax;
    }
}

/* One pixel's references in the correction's precedence (stack_correct.h):
 * its class, f - d, and 1/(f - d) (1 where the class is not OK). */
static inline void classify_ref(double f, double d, double sat_flat, unsigned char *cls,
                                double *den, double *inv)
{
    *cls = !isfinite(f) || !isfinite(d) ? STACK_REF_NONFINITE
           : f >= sat_flat              ? STACK_REF_SATURATED
           : f - d <= 0.0               ? STACK_REF_NONPOSITIVE
                                        : STACK_REF_OK;
    *den = f - d;
    *inv = *cls == STACK_REF_OK ? 1.0 / *den : 1.0;
}

/* For references that are the same for every frame: classifies each pixel
 * once into cls (STACK_REF_*, stack_correct.h) and replaces flat by the
 * denominator f - d, computed as correct_frame computes it; inv gets 1/(f-d)
 * for stack_correct_u16_fixed's fast ratio (1 where the class is not OK). */
void stack_prepare_fixed_refs(size_t n, double *restrict flat, const double *restrict dark,
                              double sat_flat, unsigned char *restrict cls, double *restrict inv)
{
#pragma omp parallel for default(none) schedule(static) shared(n, flat, dark, sat_flat, cls, inv)
    for (size_t i = 0; i < n; i++)
        classify_ref(flat[i], dark != NULL ? dark[i] : 0.0, sat_flat, &cls[i], &flat[i], &inv[i]);
}

/* The pixel ranges of one thread's work: BLOCK pixels of every frame.
 * 16 Ki pixels keep the block's references (17 bytes a pixel) in L2 while
 * all frames pass, so each voxel costs its 2 bytes of counts and 4 of
 * output, as in a plain memory pass. */
#define BLOCK ((size_t)16384)

/* Raw uint16 counts under fixed references, the whole frame of every energy
 * (pixels [0, n)): the references of a block of pixels are applied to that
 * block of every frame in turn, each frame's block fetched straight from the
 * file with pread at off[k] when fd >= 0, else from frames[k] (a caller's
 * buffer of every frame, NULL with fd >= 0).  Per-frame counts add up per
 * thread (integers: independent of the thread count). */
xanes_status stack_correct_fixed_blocks(const stack_source *src, int fd,
                                        const unsigned long long *off, size_t n,
                                        const stack_fixed_refs *refs, float *dest,
                                        xanes_stack_frame_counts *counts, double *vmin,
                                        double *vmax, xanes_error *err)
{
    const size_t ne = src->n_energy, n_blocks = (n + BLOCK - 1) / BLOCK;
    const int nthr = omp_get_max_threads();
    stack_correct_counts *tc = calloc((size_t)nthr * ne, sizeof *tc);
    uint16_t *buf = malloc((size_t)nthr * BLOCK * sizeof *buf);
    size_t failed_frame = SIZE_MAX;
    if (tc == NULL || buf == NULL) {
        free(tc);
        free(buf);
        return XANES_RAISE(err, XANES_ENOMEM, "%s: out of memory for read buffers", src->path);
    }
    for (size_t i = 0; i < (size_t)nthr * ne; i++)
        tc[i].lo = 65536;
#pragma omp parallel num_threads(nthr) default(none)                                               \
    shared(fd, off, n, refs, dest, tc, buf, failed_frame) firstprivate(ne, n_blocks)
    {
        const int t = omp_get_thread_num();
        uint16_t *b = buf + (size_t)t * BLOCK;
        stack_correct_counts *c = tc + (size_t)t * ne;
#pragma omp for schedule(static)
        for (size_t j = 0; j < n_blocks; j++) {
            const size_t p0 = j * BLOCK, m = n - p0 < BLOCK ? n - p0 : BLOCK;
            const stack_fixed_refs r = refs_at(refs, p0);
            for (size_t k = 0; k < ne; k++) {
                const size_t bytes = m * sizeof *b;
                if (pread_full(fd, b, bytes, off[k] + p0 * sizeof *b) < bytes) {
#pragma omp critical(xanes_stack_read_fail)
                    failed_frame = k < failed_frame ? k : failed_frame;
                    break;
                }
                stack_correct_u16_fixed(m, b, &r, dest + k * n + p0, &c[k]);
            }
        }
    }
    xanes_status st = XANES_OK;
    if (failed_frame != SIZE_MAX) {
        st = XANES_RAISE(err, XANES_EIO,
                         "%s: cannot read frame %zu of %s (%zu bytes at offset %llu): truncated "
                         "or unreadable file",
                         src->path, failed_frame, src->stack.name, n * sizeof(uint16_t),
                         off[failed_frame]);
        goto done;
    }
    merge_counts(tc, nthr, ne, n, counts, vmin, vmax);
done:
    free(buf);
    free(tc);
    return st;
}

/* Raw uint16 counts under a uint16 flat per energy and a fixed dark (or
 * none), whole frames of both stored plainly (counts at off[k], flats at
 * foff[k] of fd): each thread takes a block of pixels and, frame by frame,
 * fetches the block's counts and flat with pread, classifies the flat with
 * classify_ref as stack_prepare_fixed_refs does (so the same references and
 * then the same floats as the per-frame path and the reference expression)
 * and corrects the block with stack_correct.c's kernel.  The
 * per-frame path read each flat through HDF5's serial uint16 -> double
 * conversion, 3-4 x the time of the fixed-flat path on a 1024^2 x 80 stack.
 * Per-thread scratch: the block's counts and flat (2 + 2 bytes a pixel),
 * f - d and 1/(f - d) (8 + 8) and the classes (1). */
xanes_status stack_correct_flat_blocks(const stack_source *src, int fd,
                                       const unsigned long long *off,
                                       const unsigned long long *foff, size_t n, const double *dark,
                                       float *dest, xanes_stack_frame_counts *counts, double *vmin,
                                       double *vmax, xanes_error *err)
{
    const size_t ne = src->n_energy, n_blocks = (n + BLOCK - 1) / BLOCK;
    const double sat_img = src->stack.saturation, sat_flat = src->flat.saturation;
    const int nthr = omp_get_max_threads();
    stack_correct_counts *tc = calloc((size_t)nthr * ne, sizeof *tc);
    uint16_t *buf = malloc((size_t)nthr * 2 * BLOCK * sizeof *buf);
    double *rbuf = malloc((size_t)nthr * 2 * BLOCK * sizeof *rbuf);
    unsigned char *cbuf = malloc((size_t)nthr * BLOCK);
    size_t failed_frame = SIZE_MAX;
    int failed_flat = 0;
    xanes_status st = XANES_OK;
    if (tc == NULL || buf == NULL || rbuf == NULL || cbuf == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM, "%s: out of memory for read buffers", src->path);
        goto done;
    }
    for (size_t i = 0; i < (size_t)nthr * ne; i++)
        tc[i].lo = 65536;
#pragma omp parallel num_threads(nthr) default(none)                                               \
    shared(fd, off, foff, n, dark, dest, tc, buf, rbuf, cbuf, failed_frame, failed_flat)           \
        firstprivate(ne, n_blocks, sat_img, sat_flat)
    {
        const int t = omp_get_thread_num();
        uint16_t *b = buf + (size_t)t * 2 * BLOCK, *fb = b + BLOCK;
        double *den = rbuf + (size_t)t * 2 * BLOCK, *inv = den + BLOCK;
        unsigned char *cls = cbuf + (size_t)t * BLOCK;
        stack_correct_counts *c = tc + (size_t)t * ne;
#pragma omp for schedule(static)
        for (size_t j = 0; j < n_blocks; j++) {
            const size_t p0 = j * BLOCK, m = n - p0 < BLOCK ? n - p0 : BLOCK;
            const double *d = dark != NULL ? dark + p0 : NULL;
            const stack_fixed_refs r = {d, den, inv, cls, sat_img};
            for (size_t k = 0; k < ne; k++) {
                const size_t bytes = m * sizeof *b;
                const int bad_img = pread_full(fd, b, bytes, off[k] + p0 * sizeof *b) < bytes;
                if (bad_img || pread_full(fd, fb, bytes, foff[k] + p0 * sizeof *fb) < bytes) {
#pragma omp critical(xanes_stack_read_fail)
                    if (k < failed_frame) {
                        failed_frame = k;
                        failed_flat = !bad_img;
                    }
                    break;
                }
                for (size_t i = 0; i < m; i++)
                    classify_ref((double)fb[i], d != NULL ? d[i] : 0.0, sat_flat, &cls[i], &den[i],
                                 &inv[i]);
                stack_correct_u16_fixed(m, b, &r, dest + k * n + p0, &c[k]);
            }
        }
    }
    if (failed_frame != SIZE_MAX) {
        st =
            XANES_RAISE(err, XANES_EIO,
                        "%s: cannot read frame %zu of %s (%zu bytes at offset %llu): truncated "
                        "or unreadable file",
                        src->path, failed_frame, failed_flat ? src->flat.name : src->stack.name,
                        n * sizeof(uint16_t), failed_flat ? foff[failed_frame] : off[failed_frame]);
        goto done;
    }
    merge_counts(tc, nthr, ne, n, counts, vmin, vmax);
done:
    free(cbuf);
    free(rbuf);
    free(buf);
    free(tc);
    return st;
}

/* One frame of raw uint16 counts under fixed references (the frame already
 * read into img16), in parallel pieces. */
void stack_correct_frame_u16_fixed(size_t n, const uint16_t *restrict img16,
                                   const stack_fixed_refs *refs, float *restrict out,
                                   xanes_stack_frame_counts *c, double *vmin, double *vmax)
{
    const size_t n_blocks = (n + BLOCK - 1) / BLOCK;
    size_t nonfinite = 0, saturated = 0, nonpositive = 0;
    unsigned lo = 65536, hi = 0;
#pragma omp parallel for default(none) schedule(static) shared(n, img16, refs, out)           \
    firstprivate(n_blocks) reduction(+ : nonfinite, saturated, nonpositive) reduction(min : lo)  \
    reduction(max : hi)
    for (size_t j = 0; j < n_blocks; j++) {
        const size_t p0 = j * BLOCK, m = n - p0 < BLOCK ? n - p0 : BLOCK;
        const stack_fixed_refs r = refs_at(refs, p0);
        stack_correct_counts cc = {0, 0, 0, 0, 65536, 0};
        stack_correct_u16_fixed(m, img16 + p0, &r, out + p0, &cc);
        nonfinite += cc.nonfinite;
        saturated += cc.saturated;
        nonpositive += cc.nonpositive;
        lo = cc.lo < lo ? cc.lo : lo;
        hi = cc.hi > hi ? cc.hi : hi;
    }
    c->nonfinite += nonfinite;
    c->saturated += saturated;
    c->nonpositive += nonpositive;
    if (n > 0) {
        *vmin = (double)lo < *vmin ? (double)lo : *vmin;
        *vmax = (double)hi > *vmax ? (double)hi : *vmax;
    }
}

/* Pixel-wise mean of every frame of d over rows [y0, y0 + n_rows) into avg,
 * using tmp as the read buffer.  A pixel saturated in any frame stays at the
 * saturation value, so the correction counts it as saturated. */
/* Pixels [0, n) of every frame of the uint16 dataset d, stored plainly at
 * byte offsets off[] of fd, summed per pixel in frame order into avg as
 * average_frames does (saturated counts as INFINITY): each thread takes
 * blocks of pixels and reads that block of every frame with pread.  Returns
 * the first frame that could not be read, or SIZE_MAX. */
static size_t sum_frames_direct(int fd, const unsigned long long *off, size_t n_frames, size_t n,
                                double sat, double *restrict avg, uint16_t *restrict buf)
{
    enum { REF_BLOCK = 32768 };
    const size_t n_blocks = (n + REF_BLOCK - 1) / REF_BLOCK;
    size_t failed = SIZE_MAX;
#pragma omp parallel default(none) shared(fd, off, avg, buf, failed)                               \
    firstprivate(n_frames, n, sat, n_blocks)
    {
        uint16_t *b = buf + (size_t)omp_get_thread_num() * REF_BLOCK;
#pragma omp for schedule(static)
        for (size_t j = 0; j < n_blocks; j++) {
            const size_t p0 = j * REF_BLOCK, m = n - p0 < REF_BLOCK ? n - p0 : REF_BLOCK;
            double *a = avg + p0;
            for (size_t i = 0; i < m; i++)
                a[i] = 0.0;
            for (size_t k = 0; k < n_frames; k++) {
                const size_t bytes = m * sizeof *b;
                if (pread_full(fd, b, bytes, off[k] + p0 * sizeof *b) < bytes) {
#pragma omp critical(xanes_stack_ref_fail)
                    failed = k < failed ? k : failed;
                    break;
                }
                for (size_t i = 0; i < m; i++) {
                    const double v = (double)b[i];
                    a[i] += v >= sat ? INFINITY : v;
                }
            }
        }
    }
    return failed;
}

xanes_status stack_average_frames(const stack_source *src, const stack_dset *d, size_t y0,
                                  size_t n_rows, double *restrict avg, double *restrict tmp,
                                  xanes_error *err)
{
    size_t n = n_rows * src->nx;
    const double sat = d->saturation;
    xanes_status st = XANES_OK;
    /* uint16 references (the detector's own) are read as stored and widened
     * here in parallel: HDF5's serial uint16 -> double conversion of the few
     * flat and dark frames took a fifth of the read.  Whole frames stored
     * plainly are read with pread, block of pixels by block.  (double)u is
     * exact and every pixel sums its frames in order, so the sums are those
     * of the double path. */
    const int u16 = strcmp(d->dtype, "uint16") == 0;
    int summed = 0;
    if (u16 && y0 == 0 && n_rows == src->ny && d->rank == 3) {
        unsigned long long *off = malloc(d->dims[0] * sizeof *off);
        uint16_t *buf = malloc((size_t)omp_get_max_threads() * 32768 * sizeof *buf);
        int fd = -1;
        if (off != NULL && buf != NULL && sh5_direct_offsets(src, d, off))
            fd = open(src->path, O_RDONLY);
        size_t failed = SIZE_MAX;
        if (fd >= 0) {
            failed = sum_frames_direct(fd, off, d->n_frames, n, sat, avg, buf);
            close(fd);
        }
        free(buf);
        if (fd >= 0 && failed != SIZE_MAX) {
            st = XANES_RAISE(err, XANES_EIO,
                             "%s: cannot read frame %zu of %s (%zu bytes at offset %llu): "
                             "truncated or unreadable file",
                             src->path, failed, d->name, n * sizeof(uint16_t), off[failed]);
            free(off);
            return st;
        }
        free(off);
        summed = fd >= 0;
    }
    uint16_t *t16 = (uint16_t *)tmp; /* tmp holds n doubles, ample for n uint16 */
    if (!summed)
        memset(avg, 0, n * sizeof *avg);
    for (size_t k = 0; k < d->n_frames && !summed; k++) {
        st = u16 ? stack_dset_read_rows_as(src, d, k, y0, n_rows, H5T_NATIVE_UINT16, t16, err)
                 : stack_dset_read_rows(src, d, k, y0, n_rows, tmp, err);
        if (st != XANES_OK)
            return st;
#pragma omp parallel for default(none) schedule(static) shared(avg, tmp, t16, n, sat, u16)
        for (size_t i = 0; i < n; i++) {
            const double v = u16 ? (double)t16[i] : tmp[i];
            avg[i] += v >= sat ? INFINITY : v;
        }
    }
    const double inv = (double)d->n_frames;
#pragma omp parallel for default(none) schedule(static) shared(avg, n, sat, inv)
    for (size_t i = 0; i < n; i++)
        avg[i] = avg[i] == INFINITY ? sat : avg[i] / inv;
    return XANES_OK;
}
