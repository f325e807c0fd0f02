/* stack.c: stream a TXM-XANES stack frame by frame and correct it to
 * absorbance.
 *
 * stack_layout.c has opened the file and checked shapes and energies; here
 * each frame (or the requested block of rows of it) is read through an HDF5
 * hyperslab into one scratch frame and converted, in parallel over pixels,
 * into its place in the float32 output, so the peak memory is one float32
 * copy of the block plus a few frames of scratch.  The common detector case,
 * raw uint16 counts under averaged references with whole frames stored
 * plainly, goes block of pixels by block instead: each thread reads its
 * block of every frame straight from the file (pread, bypassing HDF5's
 * serial read) and corrects it with the block's references still in cache,
 * through stack_correct.c's vectorised kernel, which gives the same floats
 * as the plain expression; a uint16 flat per energy stored the same way is
 * read alongside the counts and corrected by the same kernel.  Whole frames
 * of deflate-compressed stacks chunked one frame deep are inflated by the
 * threads themselves (stack_chunks.c) instead of HDF5's serial filter.  Raw counts follow the
 * Beer-Lambert flat/dark correction A = -ln((I - D) / (F - D)) (e.g. Meirer et al., J. Synchrotron
 * Rad. 18, 773 (2011)); a flat per energy is used as it is, a few flats (or darks) are averaged
 * pixel by pixel. Transmission becomes A = -ln(T); absorbance is copied.  Pixels that cannot give a
 * finite absorbance (NaN/Inf in a file, I or F at the integer type's maximum, i.e. saturated, or a
 * non-positive ratio, which includes the zeros FXI writes for invalid pixels) become NaN and are
 * counted per frame, never -inf.  The counts are integer reductions, so they do not depend on the
 * number of threads, and each pixel's value is computed by one thread alone.
 */
#define _DEFAULT_SOURCE /* pread, madvise */
#include "xanes/stack.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <omp.h>

#include "stack_chunks.h"
#include "stack_correct.h"
#include "stack_source.h"

void xanes_stack_default_options(xanes_stack_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->layout = XANES_LAYOUT_AUTO;
    opt->energy_unit = XANES_UNIT_AUTO;
    opt->kev_below_value = 100.0;
    opt->energy_min_ev = 100.0;
    opt->energy_max_ev = 150000.0;
    opt->min_energies = 10;
    opt->transmission_max = 2.0;
}

const char *xanes_stack_layout_name(xanes_stack_layout layout)
{
    switch (layout) {
    case XANES_LAYOUT_FXI:
        return "fxi";
    case XANES_LAYOUT_APS:
        return "aps";
    case XANES_LAYOUT_CUSTOM:
        return "custom";
    default:
        return "auto";
    }
}

const char *xanes_stack_kind_name(xanes_stack_kind kind)
{
    switch (kind) {
    case XANES_STACK_RAW_COUNTS:
        return "raw counts";
    case XANES_STACK_TRANSMISSION:
        return "transmission";
    default:
        return "absorbance";
    }
}

/* Converts n pixels of one frame: img (doubles) or, when img is NULL, img16
 * (a uint16 frame read without HDF5's type conversion; converting it to
 * double here is exact).  flat and dark may be NULL (dark = 0).
 * Adds the frame's invalid counts to *c and widens [*vmin, *vmax] by the
 * finite values of img. */
static void correct_frame(xanes_stack_kind kind, size_t n, const double *restrict img,
                          const uint16_t *restrict img16, const double *restrict flat,
                          const double *restrict dark, double sat_img, double sat_flat,
                          float *restrict out, xanes_stack_frame_counts *c, double *vmin,
                          double *vmax)
{
    size_t nonfinite = 0, saturated = 0, nonpositive = 0;
    double lo = INFINITY, hi = -INFINITY;
    const float nan = NAN;
#pragma omp parallel for default(none) schedule(static)                                        \
    shared(kind, n, img, img16, flat, dark, sat_img, sat_flat, out, nan)                              \
    reduction(+ : nonfinite, saturated, nonpositive) reduction(min : lo) reduction(max : hi)
    for (size_t i = 0; i < n; i++) {
        double v = img != NULL ? img[i] : (double)img16[i];
        if (isfinite(v)) {
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        float a = nan;
        if (kind == XANES_STACK_RAW_COUNTS) {
            double f = flat[i];
            double d = dark != NULL ? dark[i] : 0.0;
            if (!isfinite(v) || !isfinite(f) || !isfinite(d))
                nonfinite++;
            else if (v >= sat_img || f >= sat_flat)
                saturated++;
            else if (v - d <= 0.0 || f - d <= 0.0)
                nonpositive++;
            else
                a = (float)(-log((v - d) / (f - d)));
        } else if (kind == XANES_STACK_TRANSMISSION) {
            if (!isfinite(v))
                nonfinite++;
            else if (v >= sat_img)
                saturated++;
            else if (v <= 0.0)
                nonpositive++;
            else
                a = (float)(-log(v));
        } else {
            if (!isfinite(v) || fabs(v) > FLT_MAX)
                nonfinite++;
            else
                a = (float)v;
        }
        out[i] = a;
    }
    c->nonfinite += nonfinite;
    c->saturated += saturated;
    c->nonpositive += nonpositive;
    *vmin = lo < *vmin ? lo : *vmin;
    *vmax = hi > *vmax ? hi : *vmax;
}

/* Bytes one pread asks for: a frame splits into several, so every thread
 * copies its share out of the page cache. */
#define DIRECT_PIECE_BYTES ((size_t)1 << 18)

/* Reads the n uint16 values of frame `frame` at byte offset off of the open
 * file fd into buf, the pieces in parallel (sh5_direct_offsets has checked
 * that the frame lies in the file as plain little-endian uint16). */
static xanes_status read_direct(const stack_source *src, int fd, unsigned long long off,
                                size_t frame, uint16_t *buf, size_t n, xanes_error *err)
{
    const size_t bytes = n * sizeof *buf;
    const size_t n_pieces = (bytes + DIRECT_PIECE_BYTES - 1) / DIRECT_PIECE_BYTES;
    unsigned char *dst = (unsigned char *)buf;
    size_t failed = 0;
#pragma omp parallel for default(none) schedule(static) shared(fd, off, dst, bytes, n_pieces)    \
    reduction(+ : failed)
    for (size_t j = 0; j < n_pieces; j++) {
        const size_t at = j * DIRECT_PIECE_BYTES;
        const size_t len = bytes - at < DIRECT_PIECE_BYTES ? bytes - at : DIRECT_PIECE_BYTES;
        size_t got = 0;
        while (got < len) {
            ssize_t r = pread(fd, dst + at + got, len - got, (off_t)(off + at + got));
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                failed++;
                break;
            }
            got += (size_t)r;
        }
    }
    if (failed > 0)
        return XANES_RAISE(err, XANES_EIO,
                           "%s: cannot read frame %zu of %s (%zu bytes at offset %llu): truncated "
                           "or unreadable file",
                           src->path, frame, src->stack.name, bytes, off);
    return XANES_OK;
}

/* Streams rows [y0, y0 + n_rows) of every frame through the correction into
 * dest ([n_energy][n_rows][nx]); dest NULL only counts (xanes_stack_probe). */
static xanes_status stream(const stack_source *src, size_t y0, size_t n_rows, float *dest,
                           xanes_stack_frame_counts *counts, double *vmin, double *vmax,
                           xanes_error *err)
{
    xanes_status st = XANES_OK;
    const size_t n = n_rows * src->nx;
    const int raw = src->kind == XANES_STACK_RAW_COUNTS;
    const int use_dark = raw && src->dark.id >= 0;
    /* A uint16 stack (the usual detector type) is read as it is stored:
     * HDF5's serial uint16 -> double conversion and the 8-byte frame buffer
     * cost more than the correction's own parallel conversion. */
    const int native16 = strcmp(src->stack.dtype, "uint16") == 0;
    double *img = malloc(n * sizeof *img);
    uint16_t *img16 = native16 ? malloc(n * sizeof *img16) : NULL;
    double *flat = raw ? malloc(n * sizeof *flat) : NULL;
    double *dark = use_dark ? malloc(n * sizeof *dark) : NULL;
    float *scratch = dest == NULL ? malloc(n * sizeof *scratch) : NULL;
    /* Raw uint16 counts with references that do not change with energy
     * take the per-pixel precomputed path. */
    const int fixed =
        raw && native16 && !src->flat_per_energy && !(use_dark && src->dark_per_energy);
    unsigned char *cls = fixed ? malloc(n) : NULL;
    double *inv = fixed ? malloc(n * sizeof *inv) : NULL;
    unsigned long long *off = NULL, *foff = NULL;
    int fd = -1, direct = 0; /* direct: the stack's frames at off[] of fd */
    stack_chunk_readers chunks = {0};
    *vmin = INFINITY;
    *vmax = -INFINITY;
    if (img == NULL || (native16 && img16 == NULL) || (raw && flat == NULL) ||
        (use_dark && dark == NULL) || (dest == NULL && scratch == NULL) ||
        (fixed && (cls == NULL || inv == NULL))) {
        st = XANES_RAISE(err, XANES_ENOMEM, "%s: out of memory for frame buffers of %zu pixels",
                         src->path, n);
        goto done;
    }
    /* Averaged references are computed once, before the frame loop. */
    if (raw && !src->flat_per_energy &&
        (st = stack_average_frames(src, &src->flat, y0, n_rows, flat, img, err)) != XANES_OK)
        goto done;
    if (use_dark && !src->dark_per_energy &&
        (st = stack_average_frames(src, &src->dark, y0, n_rows, dark, img, err)) != XANES_OK)
        goto done;
    if (fixed)
        stack_prepare_fixed_refs(n, flat, dark, src->flat.saturation, cls, inv);
    const stack_fixed_refs refs = {dark, flat, inv, cls, src->stack.saturation};
    /* Whole uint16 frames stored plainly are read with pread, in parallel,
     * instead of through HDF5's serial read: on 2 threads that serial copy
     * was a fifth of the stage. */
    if (native16 && y0 == 0 && n_rows == src->ny) {
        off = malloc((size_t)src->stack.dims[0] * sizeof *off);
        if (off != NULL && sh5_direct_offsets(src, &src->stack, off))
            fd = open(src->path, O_RDONLY);
        direct = fd >= 0;
    }
    /* The common case, whole frames of raw counts under fixed references
     * read straight from the file, goes block of pixels by block. */
    if (fixed && direct && dest != NULL) {
        st = stack_correct_fixed_blocks(src, fd, off, n, &refs, dest, counts, vmin, vmax, err);
        goto done;
    }
    /* So does a uint16 flat per energy (FXI's img_bkg) under a fixed dark,
     * the flat read straight from the file too. */
    if (direct && dest != NULL && raw && src->flat_per_energy &&
        !(use_dark && src->dark_per_energy) && src->flat.rank == 3 &&
        src->flat.dims[0] == src->n_energy) {
        foff = malloc(src->n_energy * sizeof *foff);
        if (foff != NULL && sh5_direct_offsets(src, &src->flat, foff)) {
            st = stack_correct_flat_blocks(src, fd, off, foff, n, use_dark ? dark : NULL, dest,
                                           counts, vmin, vmax, err);
            goto done;
        }
    }
    /* Whole frames of a deflate-compressed stack (or flat per energy)
     * chunked one frame deep are inflated in parallel (stack_chunks.c):
     * HDF5 inflates chunk after chunk in one thread. */
    if (y0 == 0 && n_rows == src->ny &&
        (st = stack_chunk_readers_open(src, native16, raw, &chunks, err)) != XANES_OK)
        goto done;
    for (size_t k = 0; k < src->n_energy; k++) {
        if (direct)
            st = read_direct(src, fd, off[k], k, img16, n, err);
        else if (chunks.stack != NULL)
            st = stack_chunk_readers_frame(src, &chunks, &src->stack, chunks.stack, k,
                                           native16 ? (void *)img16 : NULL, native16 ? NULL : img,
                                           n, err);
        else if (native16)
            st = stack_dset_read_rows_as(src, &src->stack, k, y0, n_rows, H5T_NATIVE_UINT16, img16,
                                         err);
        else
            st = stack_dset_read_rows(src, &src->stack, k, y0, n_rows, img, err);
        if (st != XANES_OK)
            goto done;
        if (raw && src->flat_per_energy && chunks.flat != NULL)
            st = stack_chunk_readers_frame(src, &chunks, &src->flat, chunks.flat, k, NULL, flat, n,
                                           err);
        else if (raw && src->flat_per_energy)
            st = stack_dset_read_rows(src, &src->flat, k, y0, n_rows, flat, err);
        if (st != XANES_OK)
            goto done;
        if (use_dark && src->dark_per_energy &&
            (st = stack_dset_read_rows(src, &src->dark, k, y0, n_rows, dark, err)) != XANES_OK)
            goto done;
        float *out = dest != NULL ? dest + k * n : scratch;
        if (fixed) {
            stack_correct_frame_u16_fixed(n, img16, &refs, out, &counts[k], vmin, vmax);
            continue;
        }
        correct_frame(src->kind, n, native16 ? NULL : img, img16, flat, dark, src->stack.saturation,
                      raw ? src->flat.saturation : INFINITY, out, &counts[k], vmin, vmax);
    }
done:
    stack_chunk_readers_free(&chunks);
    if (fd >= 0)
        close(fd);
    free(foff);
    free(off);
    free(inv);
    free(cls);
    free(scratch);
    free(dark);
    free(flat);
    free(img16);
    free(img);
    return st;
}

/* Resolves the row block of the options against the file's frames. */
static xanes_status row_block(const stack_source *src, const xanes_stack_options *opt, size_t *y0,
                              size_t *n_rows, xanes_error *err)
{
    *y0 = opt->row_begin;
    if (*y0 >= src->ny)
        return XANES_RAISE(err, XANES_EINVAL, "%s: row block starts at row %zu but %s has %zu rows",
                           src->path, *y0, src->stack.name, src->ny);
    *n_rows = opt->n_rows == 0 ? src->ny - *y0 : opt->n_rows;
    if (*n_rows > src->ny - *y0)
        return XANES_RAISE(err, XANES_EINVAL, "%s: row block %zu..%zu ends past the %zu rows of %s",
                           src->path, *y0, *y0 + *n_rows - 1, src->ny, src->stack.name);
    return XANES_OK;
}

/* A transmission stack far above 1 is raw counts read without --raw; a raw
 * stack that never exceeds the transmission range is probably transmission.
 * Both still read (the user may know better) but say so. */
static void kind_warning(const stack_source *src, const xanes_stack_options *opt, double vmax,
                         char *buf, size_t size)
{
    buf[0] = '\0';
    if (!isfinite(vmax))
        return;
    if (src->kind == XANES_STACK_TRANSMISSION && vmax > opt->transmission_max)
        snprintf(buf, size,
                 "%s holds values up to %g, too large for transmission: raw counts? (then give "
                 "--raw%s)",
                 src->stack.name, vmax, src->layout == XANES_LAYOUT_FXI ? "" : " and --flat-path");
    else if (src->kind == XANES_STACK_RAW_COUNTS && vmax <= opt->transmission_max)
        snprintf(buf, size,
                 "%s holds values only up to %g, like transmission rather than raw counts",
                 src->stack.name, vmax);
}

static size_t sum_counts(const xanes_stack_frame_counts *c, size_t n)
{
    size_t s = 0;
    for (size_t k = 0; k < n; k++)
        s += c[k].nonfinite + c[k].saturated + c[k].nonpositive;
    return s;
}

/* Hands the pages of a large block back to the kernel from every thread at
 * once, before free() unmaps the emptied range: unmapping 320 MB is 0.02 s
 * of one thread's kernel time, in pieces two threads take two thirds of it. */
static void release_pages(void *p, size_t bytes)
{
    const uintptr_t page = 4096, a = ((uintptr_t)p + page - 1) & ~(page - 1);
    const uintptr_t e = ((uintptr_t)p + bytes) & ~(page - 1);
    if (bytes < ((size_t)64 << 20) || e <= a)
        return;
    const size_t n_pieces = (size_t)omp_get_max_threads();
    const size_t piece = ((e - a) / n_pieces + page - 1) & ~(page - 1);
#pragma omp parallel for schedule(static) default(none) firstprivate(a, e, piece, n_pieces)
    for (size_t j = 0; j < n_pieces; j++) {
        const uintptr_t from = a + j * piece, to = from + piece < e ? from + piece : e;
        if (to > from)
            madvise((void *)from, to - from, MADV_DONTNEED); /* advice: failure is harmless */
    }
}

void xanes_stack_free(xanes_stack *s)
{
    if (s == NULL)
        return;
    if (s->absorbance != NULL)
        release_pages(s->absorbance, s->n_energy * s->ny * s->nx * sizeof *s->absorbance);
    free(s->absorbance);
    free(s->energy_ev);
    free(s->energy_file);
    free(s->frame_counts);
    free(s);
}

xanes_status xanes_stack_read(const char *path, const xanes_stack_options *opt, xanes_stack **out,
                              xanes_error *err)
{
    xanes_status st = XANES_OK;
    xanes_stack_options defaults;
    stack_source src;
    xanes_stack *s = NULL;
    int opened = 0;
    *out = NULL;
    if (opt == NULL) {
        xanes_stack_default_options(&defaults);
        opt = &defaults;
    }
    if ((st = stack_source_open(path, opt, &src, err)) != XANES_OK)
        goto done;
    opened = 1;
    size_t y0 = 0, n_rows = 0;
    if ((st = row_block(&src, opt, &y0, &n_rows, err)) != XANES_OK)
        goto done;
    size_t frame = n_rows * src.nx;
    if (frame > SIZE_MAX / sizeof(float) / src.n_energy) {
        st = XANES_RAISE(err, XANES_ENOMEM, "%s: %zu frames of %zu pixels do not fit in memory",
                         path, src.n_energy, frame);
        goto done;
    }
    s = calloc(1, sizeof *s);
    if (s == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    s->absorbance = malloc(src.n_energy * frame * sizeof(float));
    s->energy_ev = malloc(src.n_energy * sizeof(double));
    s->energy_file = malloc(src.n_energy * sizeof(double));
    s->frame_counts = calloc(src.n_energy, sizeof *s->frame_counts);
    if (s->absorbance == NULL || s->energy_ev == NULL || s->energy_file == NULL ||
        s->frame_counts == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM,
                         "%s: out of memory for the stack (%zu x %zu x %zu float32, %.3g GB)", path,
                         src.n_energy, n_rows, src.nx,
                         (double)(src.n_energy * frame) * sizeof(float) / 1e9);
        goto done;
    }
    double vmin, vmax;
    if ((st = stream(&src, y0, n_rows, s->absorbance, s->frame_counts, &vmin, &vmax, err)) !=
        XANES_OK)
        goto done;
    s->n_energy = src.n_energy;
    s->ny = n_rows;
    s->nx = src.nx;
    s->row_begin = y0;
    s->ny_file = src.ny;
    memcpy(s->energy_ev, src.energy_ev, src.n_energy * sizeof(double));
    memcpy(s->energy_file, src.energy_file, src.n_energy * sizeof(double));
    s->energy_unit_file = src.energy_unit;
    s->layout = src.layout;
    s->kind = src.kind;
    snprintf(s->layout_name, sizeof s->layout_name, "%s", xanes_stack_layout_name(src.layout));
    s->pixel_size_nm = src.pixel_size_nm;
    s->magnification = src.magnification;
    s->n_invalid = sum_counts(s->frame_counts, s->n_energy);
    s->dark_missing = src.dark_missing;
    s->n_flats = src.flats_applied ? src.flat.n_frames : 0;
    s->n_darks = src.flats_applied ? src.dark.n_frames : 0;
    kind_warning(&src, opt, vmax, s->warning, sizeof s->warning);
    snprintf(s->path, sizeof s->path, "%s", path);
done:
    if (opened)
        stack_source_close(&src);
    if (st != XANES_OK)
        xanes_stack_free(s);
    else
        *out = s;
    return st;
}

void xanes_stack_info_free(xanes_stack_info *info)
{
    if (info == NULL)
        return;
    free(info->frame_counts);
    free(info->energy_ev);
    free(info);
}

xanes_status xanes_stack_probe(const char *path, const xanes_stack_options *opt,
                               xanes_stack_info **out, xanes_error *err)
{
    xanes_status st = XANES_OK;
    xanes_stack_options defaults;
    stack_source src;
    xanes_stack_info *info = NULL;
    int opened = 0;
    *out = NULL;
    if (opt == NULL) {
        xanes_stack_default_options(&defaults);
        opt = &defaults;
    }
    if ((st = stack_source_open(path, opt, &src, err)) != XANES_OK)
        goto done;
    opened = 1;
    size_t y0 = 0, n_rows = 0;
    if ((st = row_block(&src, opt, &y0, &n_rows, err)) != XANES_OK)
        goto done;
    info = calloc(1, sizeof *info);
    if (info != NULL) {
        info->frame_counts = calloc(src.n_energy, sizeof *info->frame_counts);
        info->energy_ev = malloc(src.n_energy * sizeof(double));
    }
    if (info == NULL || info->frame_counts == NULL || info->energy_ev == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    if ((st = stream(&src, y0, n_rows, NULL, info->frame_counts, &info->value_min, &info->value_max,
                     err)) != XANES_OK)
        goto done;
    snprintf(info->path, sizeof info->path, "%s", path);
    info->layout = src.layout;
    snprintf(info->layout_name, sizeof info->layout_name, "%s",
             xanes_stack_layout_name(src.layout));
    snprintf(info->layout_reason, sizeof info->layout_reason, "%s", src.layout_reason);
    info->kind = src.kind;
    info->n_energy = src.n_energy;
    info->ny = src.ny;
    info->nx = src.nx;
    snprintf(info->stack_dataset, sizeof info->stack_dataset, "%s", src.stack.name);
    snprintf(info->flat_dataset, sizeof info->flat_dataset, "%s", src.flat.name);
    snprintf(info->dark_dataset, sizeof info->dark_dataset, "%s", src.dark.name);
    snprintf(info->energy_dataset, sizeof info->energy_dataset, "%s", src.energy.name);
    snprintf(info->stack_dtype, sizeof info->stack_dtype, "%s", src.stack.dtype);
    snprintf(info->flat_dtype, sizeof info->flat_dtype, "%s", src.flat.dtype);
    snprintf(info->dark_dtype, sizeof info->dark_dtype, "%s", src.dark.dtype);
    snprintf(info->energy_dtype, sizeof info->energy_dtype, "%s", src.energy.dtype);
    info->stack_chunked = src.stack.chunked;
    info->stack_gzip = src.stack.gzip;
    info->n_flats = src.flat.id >= 0 ? src.flat.n_frames : 0;
    info->n_darks = src.dark.id >= 0 ? src.dark.n_frames : 0;
    info->flats_applied = src.flats_applied;
    info->flat_per_energy = src.flat_per_energy;
    info->dark_missing = src.dark_missing;
    info->energy_unit_file = src.energy_unit;
    snprintf(info->energy_unit_source, sizeof info->energy_unit_source, "%s",
             src.energy_unit_source);
    info->energy_file_min = src.energy_file[0];
    info->energy_file_max = src.energy_file[src.n_energy - 1];
    memcpy(info->energy_ev, src.energy_ev, src.n_energy * sizeof(double));
    info->energy_min_ev = src.energy_ev[0];
    info->energy_max_ev = src.energy_ev[src.n_energy - 1];
    info->saturation_value = isfinite(src.stack.saturation) ? src.stack.saturation : NAN;
    info->pixel_size_nm = src.pixel_size_nm;
    snprintf(info->pixel_size_text, sizeof info->pixel_size_text, "%s", src.pixel_size_text);
    info->magnification = src.magnification;
    info->n_invalid = sum_counts(info->frame_counts, src.n_energy);
    kind_warning(&src, opt, info->value_max, info->warning, sizeof info->warning);
done:
    if (opened)
        stack_source_close(&src);
    if (st != XANES_OK)
        xanes_stack_info_free(info);
    else
        *out = info;
    return st;
}
