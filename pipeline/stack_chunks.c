/* stack_chunks.c: frames of deflate-compressed chunked stacks inflated in
 * parallel, instead of by HDF5's serial filter pipeline (for stack.c).
 *
 * A TXM stack written frame by frame is usually chunked one frame deep
 * (chunk 1 x cy x cx) and compressed with deflate (h5py's and our
 * simulator's gzip), often after the shuffle filter.  HDF5 inflates the
 * chunks of a read one after the other in the calling thread, so on 2 cores
 * reading such a stack took 1.1 s of a 1.5 s `xanes run` (1024^2 x 80).
 * Here the calling thread fetches a frame's chunks as stored
 * (H5Dget_chunk_storage_size and H5Dread_chunk: a B-tree lookup each, no
 * filters), and the threads inflate them with zlib's uncompress (the
 * library HDF5's deflate filter uses) and unshuffle them, each chunk into
 * its own part of the frame, so the bytes are exactly those H5Dread gives.
 * Only what that covers is taken: little-endian 2- or 4-byte elements,
 * chunks one frame deep, a filter pipeline of deflate or shuffle + deflate
 * (a chunk whose filter mask says a filter was skipped is taken as stored);
 * anything else returns "not supported" and the caller reads through HDF5.
 */
#include "stack_chunks.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>
#include <zlib.h>

struct stack_chunk_reader {
    hid_t dset; /* the dataset's id (owned by the stack source) */
    size_t n_frames, ny, nx, cy, cx, elem;
    int shuffle_index; /* position of shuffle in the pipeline, -1 if none */
    int deflate_index; /* position of deflate                             */
    size_t per_frame;  /* chunks per frame                                */
    size_t max_stored; /* largest stored size accepted, bytes             */
};

void stack_chunk_reader_free(stack_chunk_reader *cr)
{
    free(cr);
}

/* The dataset's filter pipeline as positions of shuffle and deflate; 0 when
 * it holds anything else or no deflate. */
static int pipeline_ok(hid_t dcpl, int *shuffle_index, int *deflate_index)
{
    int n = H5Pget_nfilters(dcpl);
    *shuffle_index = *deflate_index = -1;
    if (n < 1 || n > 2)
        return 0;
    for (int i = 0; i < n; i++) {
        unsigned flags = 0, cd[8];
        size_t ncd = 8;
        char name[64];
        H5Z_filter_t id =
            H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd, sizeof name, name, NULL);
        if (id == H5Z_FILTER_DEFLATE && *deflate_index < 0)
            *deflate_index = i;
        else if (id == H5Z_FILTER_SHUFFLE && *shuffle_index < 0)
            *shuffle_index = i;
        else
            return 0;
    }
    /* Shuffle works on the raw elements, so it must come before deflate. */
    return *deflate_index >= 0 && (*shuffle_index < 0 || *shuffle_index < *deflate_index);
}

stack_chunk_reader *stack_chunk_reader_open(const stack_dset *d, size_t ny, size_t nx)
{
    const uint16_t probe = 1;
    unsigned char first;
    memcpy(&first, &probe, 1);
    if (first != 1 || d->rank != 3 || d->dims[1] != ny || d->dims[2] != nx || d->dims[0] == 0)
        return NULL;
    stack_chunk_reader *cr = NULL;
    hid_t type = H5Dget_type(d->id), dcpl = H5Dget_create_plist(d->id);
    hsize_t chunk[3] = {0, 0, 0};
    int sh = -1, de = -1;
    if (type < 0 || dcpl < 0 || H5Pget_layout(dcpl) != H5D_CHUNKED ||
        H5Pget_chunk(dcpl, 3, chunk) != 3 || chunk[0] != 1 || chunk[1] == 0 || chunk[2] == 0 ||
        !pipeline_ok(dcpl, &sh, &de))
        goto done;
    H5T_class_t cls = H5Tget_class(type);
    size_t elem = H5Tget_size(type);
    if ((cls != H5T_INTEGER && cls != H5T_FLOAT) || (elem != 2 && elem != 4) ||
        H5Tget_order(type) != H5T_ORDER_LE)
        goto done;
    cr = malloc(sizeof *cr);
    if (cr == NULL)
        goto done;
    const size_t raw = (size_t)chunk[1] * (size_t)chunk[2] * elem;
    *cr = (stack_chunk_reader){
        .dset = d->id,
        .n_frames = d->dims[0],
        .ny = ny,
        .nx = nx,
        .cy = chunk[1],
        .cx = chunk[2],
        .elem = elem,
        .shuffle_index = sh,
        .deflate_index = de,
        .per_frame =
            (size_t)((ny + chunk[1] - 1) / chunk[1]) * (size_t)((nx + chunk[2] - 1) / chunk[2]),
        /* deflate never grows data by more than a few bytes per 16 KiB
         * block: a larger stored size is a corrupt index. */
        .max_stored = raw + raw / 8 + 4096,
    };
done:
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (type >= 0)
        H5Tclose(type);
    return cr;
}

size_t stack_chunk_reader_scratch_size(const stack_chunk_reader *cr)
{
    return cr->cy * cr->cx * cr->elem;
}

size_t stack_chunk_reader_stored_size(const stack_chunk_reader *cr)
{
    return cr->per_frame * cr->max_stored;
}

size_t stack_chunk_reader_chunks_per_frame(const stack_chunk_reader *cr)
{
    return cr->per_frame;
}

/* One chunk of `size` stored bytes (filter mask `mask`) at chunk position
 * (y0, x0) into its place in frame (ny x nx elements of cr->elem bytes);
 * scratch holds stack_chunk_reader_scratch_size bytes.  0 when it does not
 * inflate to a whole chunk. */
static int chunk_into_frame(const stack_chunk_reader *cr, const unsigned char *stored, size_t size,
                            unsigned mask, size_t y0, size_t x0, unsigned char *scratch,
                            unsigned char *frame)
{
    const size_t raw = cr->cy * cr->cx * cr->elem;
    const unsigned char *data = stored;
    if (!(mask & (1u << cr->deflate_index))) {
        uLongf len = (uLongf)raw;
        if (uncompress(scratch, &len, stored, (uLong)size) != Z_OK || len != raw)
            return 0;
        data = scratch;
    } else if (size != raw) {
        return 0;
    }
    const size_t rows = y0 + cr->cy <= cr->ny ? cr->cy : cr->ny - y0;
    const size_t cols = x0 + cr->cx <= cr->nx ? cr->cx : cr->nx - x0;
    const size_t e = cr->elem;
    if (cr->shuffle_index < 0 || (mask & (1u << cr->shuffle_index))) {
        for (size_t y = 0; y < rows; y++)
            memcpy(frame + ((y0 + y) * cr->nx + x0) * e, data + y * cr->cx * e, cols * e);
        return 1;
    }
    /* HDF5's shuffle stores byte j of every element together: element i is
     * bytes data[j n + i], j < e, little-endian.  Rebuilt straight into the
     * frame, row by row (a loop the compiler vectorises). */
    const size_t n = cr->cy * cr->cx;
    for (size_t y = 0; y < rows; y++) {
        const unsigned char *p0 = data + y * cr->cx;
        unsigned char *out = frame + ((y0 + y) * cr->nx + x0) * e;
        if (e == 2) {
            uint16_t *o = (uint16_t *)(void *)out;
            for (size_t x = 0; x < cols; x++)
                o[x] = (uint16_t)(p0[x] | (unsigned)p0[n + x] << 8);
        } else {
            uint32_t *o = (uint32_t *)(void *)out;
            for (size_t x = 0; x < cols; x++)
                o[x] = (uint32_t)p0[x] | (uint32_t)p0[n + x] << 8 | (uint32_t)p0[2 * n + x] << 16 |
                       (uint32_t)p0[3 * n + x] << 24;
        }
    }
    return 1;
}

int stack_chunk_read_frame(const stack_chunk_reader *cr, size_t frame, void *buf,
                           unsigned char *stored, size_t *sizes, unsigned *masks,
                           unsigned char *scratch, int n_threads)
{
    if (frame >= cr->n_frames)
        return 0;
    const size_t per_row = (cr->nx + cr->cx - 1) / cr->cx, per_frame = cr->per_frame;
    /* The stored chunks, in this thread (HDF5 calls are serial): chunk i at
     * stored + i max_stored. */
    for (size_t i = 0; i < per_frame; i++) {
        hsize_t off[3] = {frame, (i / per_row) * cr->cy, (i % per_row) * cr->cx}, size = 0;
        uint32_t filters = 0;
        if (H5Dget_chunk_storage_size(cr->dset, off, &size) < 0 || size == 0 ||
            size > cr->max_stored ||
            H5Dread_chunk(cr->dset, H5P_DEFAULT, off, &filters, stored + i * cr->max_stored) < 0)
            return 0;
        sizes[i] = (size_t)size;
        masks[i] = filters;
    }
    const size_t ss = stack_chunk_reader_scratch_size(cr);
    unsigned char *out = buf;
    size_t failed = 0;
    const long n = (long)per_frame;
#pragma omp parallel for num_threads(n_threads) default(none) schedule(static)                   \
    shared(cr, stored, sizes, masks, scratch, out) firstprivate(n, ss, per_row)                   \
    reduction(+ : failed)
    for (long i = 0; i < n; i++) {
        const size_t c = (size_t)i;
        failed += !chunk_into_frame(cr, stored + c * cr->max_stored, sizes[c], masks[c],
                                    (c / per_row) * cr->cy, (c % per_row) * cr->cx,
                                    scratch + (size_t)omp_get_thread_num() * ss, out);
    }
    return failed == 0;
}

void stack_chunk_readers_free(stack_chunk_readers *c)
{
    stack_chunk_reader_free(c->stack);
    stack_chunk_reader_free(c->flat);
    free(c->scratch);
    free(c->frame);
    free(c->stored);
    free(c->sizes);
    free(c->masks);
    *c = (stack_chunk_readers){0};
}

/* The larger of a and b. */
static size_t max_size(size_t a, size_t b)
{
    return a > b ? a : b;
}

xanes_status stack_chunk_readers_open(const stack_source *src, int native16, int raw,
                                      stack_chunk_readers *c, xanes_error *err)
{
    if (native16 || strcmp(src->stack.dtype, "float32") == 0)
        c->stack = stack_chunk_reader_open(&src->stack, src->ny, src->nx);
    if (raw && src->flat_per_energy && src->flat.dims[0] == src->n_energy &&
        strcmp(src->flat.dtype, "uint16") == 0)
        c->flat = stack_chunk_reader_open(&src->flat, src->ny, src->nx);
    if (c->stack == NULL && c->flat == NULL)
        return XANES_OK;
    size_t ss = 0, stored = 0, per_frame = 0;
    const stack_chunk_reader *r[2] = {c->stack, c->flat};
    for (int i = 0; i < 2; i++)
        if (r[i] != NULL) {
            ss = max_size(ss, stack_chunk_reader_scratch_size(r[i]));
            stored = max_size(stored, stack_chunk_reader_stored_size(r[i]));
            per_frame = max_size(per_frame, stack_chunk_reader_chunks_per_frame(r[i]));
        }
    c->n_threads = omp_get_max_threads();
    c->scratch = malloc((size_t)c->n_threads * ss);
    c->frame = malloc(src->ny * src->nx * 4);
    c->stored = malloc(stored);
    c->sizes = malloc(per_frame * sizeof *c->sizes);
    c->masks = malloc(per_frame * sizeof *c->masks);
    if (c->scratch == NULL || c->frame == NULL || c->stored == NULL || c->sizes == NULL ||
        c->masks == NULL) {
        stack_chunk_readers_free(c);
        return XANES_RAISE(err, XANES_ENOMEM, "%s: out of memory for chunk buffers", src->path);
    }
    return XANES_OK;
}

xanes_status stack_chunk_readers_frame(const stack_source *src, const stack_chunk_readers *c,
                                       const stack_dset *d, const stack_chunk_reader *cr, size_t k,
                                       void *u16, double *dbl, size_t n, xanes_error *err)
{
    void *into = u16 != NULL ? u16 : (void *)c->frame;
    if (!stack_chunk_read_frame(cr, k, into, c->stored, c->sizes, c->masks, c->scratch,
                                c->n_threads))
        return XANES_RAISE(err, XANES_EIO,
                           "%s: cannot read frame %zu of %s: a compressed chunk is truncated or "
                           "corrupt",
                           src->path, k, d->name);
    if (u16 != NULL)
        return XANES_OK;
    if (strcmp(d->dtype, "uint16") == 0) {
        const uint16_t *v = (const uint16_t *)c->frame;
#pragma omp parallel for default(none) schedule(static) shared(v, dbl) firstprivate(n)
        for (size_t i = 0; i < n; i++)
            dbl[i] = (double)v[i];
    } else {
        const float *v = (const float *)c->frame;
#pragma omp parallel for default(none) schedule(static) shared(v, dbl) firstprivate(n)
        for (size_t i = 0; i < n; i++)
            dbl[i] = (double)v[i];
    }
    return XANES_OK;
}
