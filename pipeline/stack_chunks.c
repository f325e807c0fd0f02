/* stack_chunks.c: frames of deflate-compressed chunked stacks read in
 * parallel, bypassing HDF5's serial filter pipeline (for stack.c).
 *
 * A TXM stack written frame by frame is usually chunked one frame deep
 * (chunk 1 x cy x cx) and compressed with deflate (h5py's and our
 * simulator's gzip), often after the shuffle filter.  HDF5 decompresses the
 * chunks of a read one after the other in the calling thread, so on 2 cores
 * reading such a stack took 1.1 s of a 1.5 s `xanes run` (1024^2 x 80).
 * Here the chunk index is taken once (H5Dget_chunk_info: each chunk's
 * position, file address, stored size and filter mask), and the chunks of a
 * frame are read with pread, inflated with zlib's uncompress (the filter
 * HDF5 itself uses) and unshuffled by the threads, each chunk into its own
 * part of the frame, so the bytes are exactly those HDF5 would give.  Only
 * what that covers is taken: little-endian 2- or 4-byte elements, chunks one
 * frame deep, a filter pipeline of deflate or shuffle + deflate (a chunk
 * whose filter mask says a filter was skipped is taken as stored); anything
 * else (another filter, a user block, a big-endian host) returns "not
 * supported" and the caller reads through HDF5.
 */
#define _DEFAULT_SOURCE /* pread */
#include "stack_chunks.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <omp.h>
#include <zlib.h>

/* Most chunks indexed (see stack_chunk_reader_open). */
#define MAX_CHUNKS ((size_t)8192)

typedef struct {
    size_t frame, y0, x0;
    unsigned long long addr, size;
    unsigned mask;
} chunk_entry;

struct stack_chunk_reader {
    size_t n_frames, ny, nx, cy, cx, elem;
    int shuffle_index;  /* position of shuffle in the pipeline, -1 if none */
    int deflate_index;  /* position of deflate                             */
    size_t per_frame;   /* chunks per frame                                */
    chunk_entry *chunk; /* [n_frames * per_frame], frame by frame          */
    size_t max_stored;  /* largest stored chunk, bytes                     */
};

void stack_chunk_reader_free(stack_chunk_reader *cr)
{
    if (cr == NULL)
        return;
    free(cr->chunk);
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

stack_chunk_reader *stack_chunk_reader_open(const stack_dset *d, size_t ny, size_t nx,
                                            unsigned long long file_size)
{
    const uint16_t probe = 1;
    unsigned char first;
    memcpy(&first, &probe, 1);
    if (first != 1 || d->rank != 3 || d->dims[1] != ny || d->dims[2] != nx || d->dims[0] == 0)
        return NULL;
    stack_chunk_reader *cr = NULL;
    hid_t type = H5Dget_type(d->id), dcpl = H5Dget_create_plist(d->id);
    hid_t fid = H5Iget_file_id(d->id);
    hid_t fcpl = fid >= 0 ? H5Fget_create_plist(fid) : H5I_INVALID_HID;
    hid_t space = H5I_INVALID_HID;
    hsize_t userblock = 1, chunk[3] = {0, 0, 0};
    int sh = -1, de = -1;
    /* Addresses are relative to the superblock, which a user block moves. */
    if (type < 0 || dcpl < 0 || fcpl < 0 || H5Pget_userblock(fcpl, &userblock) < 0 ||
        userblock != 0 || H5Pget_layout(dcpl) != H5D_CHUNKED || H5Pget_chunk(dcpl, 3, chunk) != 3 ||
        chunk[0] != 1 || chunk[1] == 0 || chunk[2] == 0 || !pipeline_ok(dcpl, &sh, &de))
        goto done;
    H5T_class_t cls = H5Tget_class(type);
    size_t elem = H5Tget_size(type);
    if ((cls != H5T_INTEGER && cls != H5T_FLOAT) || (elem != 2 && elem != 4) ||
        H5Tget_order(type) != H5T_ORDER_LE)
        goto done;
    const size_t per_row = (size_t)((nx + chunk[2] - 1) / chunk[2]);
    const size_t per_frame = (size_t)((ny + chunk[1] - 1) / chunk[1]) * per_row;
    const size_t n_chunks = (size_t)d->dims[0] * per_frame;
    /* HDF5 1.10 finds a chunk's address by walking the index from the
     * start, by index or by coordinates alike (measured: the last 256 of
     * 20480 chunks took 150 x the first 256), about 4 ns per chunk passed:
     * 0.006 s for all 1280 chunks of a 1024^2 x 80 stack in 256^2 tiles,
     * 0.27 s for 8192.  Past MAX_CHUNKS the walk costs more than it saves
     * (1.12 will have H5Dchunk_iter). */
    if (n_chunks > MAX_CHUNKS)
        goto done;
    space = H5Dget_space(d->id);
    cr = calloc(1, sizeof *cr);
    if (space < 0 || cr == NULL)
        goto done;
    *cr = (stack_chunk_reader){.n_frames = d->dims[0],
                               .ny = ny,
                               .nx = nx,
                               .cy = chunk[1],
                               .cx = chunk[2],
                               .elem = elem,
                               .shuffle_index = sh,
                               .deflate_index = de,
                               .per_frame = per_frame};
    /* Each chunk goes to its slot (frame, row, column of chunks); a slot
     * filled twice or left empty means an index we do not understand. */
    cr->chunk = calloc(n_chunks, sizeof *cr->chunk);
    if (cr->chunk == NULL)
        goto fail;
    for (size_t i = 0; i < n_chunks; i++) {
        hsize_t off[3];
        unsigned mask = 0;
        haddr_t addr = HADDR_UNDEF;
        hsize_t size = 0;
        /* A chunk past the end of the file, or stored far larger than
         * deflate can make it, is left to HDF5 to report. */
        if (H5Dget_chunk_info(d->id, space, (hsize_t)i, off, &mask, &addr, &size) < 0 ||
            addr == HADDR_UNDEF || size == 0 || addr > file_size || size > file_size - addr ||
            size > 2 * chunk[1] * chunk[2] * elem + 4096 || off[0] >= d->dims[0] || off[1] >= ny ||
            off[2] >= nx || off[1] % chunk[1] != 0 || off[2] % chunk[2] != 0)
            goto fail;
        const size_t slot = (size_t)off[0] * per_frame + (size_t)(off[1] / chunk[1]) * per_row +
                            (size_t)(off[2] / chunk[2]);
        if (cr->chunk[slot].size != 0)
            goto fail;
        cr->chunk[slot] =
            (chunk_entry){(size_t)off[0], (size_t)off[1], (size_t)off[2], addr, size, mask};
        if (size > cr->max_stored)
            cr->max_stored = (size_t)size;
    }
    goto done;
fail:
    stack_chunk_reader_free(cr);
    cr = NULL;
done:
    if (space >= 0)
        H5Sclose(space);
    if (fcpl >= 0)
        H5Pclose(fcpl);
    if (fid >= 0)
        H5Fclose(fid);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (type >= 0)
        H5Tclose(type);
    return cr;
}

size_t stack_chunk_reader_scratch_size(const stack_chunk_reader *cr)
{
    return cr->max_stored + cr->cy * cr->cx * cr->elem;
}

/* pread until `bytes` are in; 0 when the file ends or fails first. */
static int pread_all(int fd, unsigned char *buf, size_t bytes, unsigned long long at)
{
    size_t got = 0;
    while (got < bytes) {
        ssize_t r = pread(fd, buf + got, bytes - got, (off_t)(at + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return 0;
        got += (size_t)r;
    }
    return 1;
}

/* One chunk into its place in frame (ny x nx elements of cr->elem bytes);
 * scratch holds stack_chunk_reader_scratch_size bytes.  0 on a read or
 * decompression failure. */
static int chunk_into_frame(const stack_chunk_reader *cr, int fd, const chunk_entry *c,
                            unsigned char *scratch, unsigned char *frame)
{
    const size_t raw = cr->cy * cr->cx * cr->elem;
    unsigned char *stored = scratch, *a = scratch + cr->max_stored;
    if (!pread_all(fd, stored, (size_t)c->size, c->addr))
        return 0;
    const unsigned char *data = stored;
    if (!(c->mask & (1u << cr->deflate_index))) {
        uLongf len = (uLongf)raw;
        if (uncompress(a, &len, stored, (uLong)c->size) != Z_OK || len != raw)
            return 0;
        data = a;
    } else if (c->size != raw) {
        return 0;
    }
    const size_t rows = c->y0 + cr->cy <= cr->ny ? cr->cy : cr->ny - c->y0;
    const size_t cols = c->x0 + cr->cx <= cr->nx ? cr->cx : cr->nx - c->x0;
    const size_t e = cr->elem;
    if (cr->shuffle_index < 0 || (c->mask & (1u << cr->shuffle_index))) {
        for (size_t y = 0; y < rows; y++)
            memcpy(frame + ((c->y0 + y) * cr->nx + c->x0) * e, data + y * cr->cx * e, cols * e);
        return 1;
    }
    /* HDF5's shuffle stores byte j of every element together: element i is
     * bytes data[j n + i], j < e, little-endian.  Rebuilt straight into the
     * frame, row by row (a loop the compiler vectorises). */
    const size_t n = cr->cy * cr->cx;
    for (size_t y = 0; y < rows; y++) {
        const unsigned char *p0 = data + y * cr->cx;
        unsigned char *out = frame + ((c->y0 + y) * cr->nx + c->x0) * e;
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

int stack_chunk_read_frame(const stack_chunk_reader *cr, int fd, size_t frame, void *buf,
                           unsigned char *scratch, int n_threads)
{
    if (frame >= cr->n_frames)
        return 0;
    const chunk_entry *c = cr->chunk + frame * cr->per_frame;
    const size_t per_frame = cr->per_frame, ss = stack_chunk_reader_scratch_size(cr);
    unsigned char *out = buf;
    size_t failed = 0;
    const long n = (long)per_frame;
#pragma omp parallel for num_threads(n_threads) default(none) schedule(static)                   \
    shared(cr, fd, c, scratch, out) firstprivate(n, ss) reduction(+ : failed)
    for (long i = 0; i < n; i++)
        failed +=
            !chunk_into_frame(cr, fd, &c[i], scratch + (size_t)omp_get_thread_num() * ss, out);
    return failed == 0;
}

void stack_chunk_readers_free(stack_chunk_readers *c)
{
    stack_chunk_reader_free(c->stack);
    stack_chunk_reader_free(c->flat);
    free(c->scratch);
    free(c->frame);
    *c = (stack_chunk_readers){0};
}

/* Chunk readers for the stack (uint16 or float32) and a uint16 flat per
 * energy where stack_chunks.c can read them, and *fd opened when one
 * exists; none is an answer too (HDF5 reads then). */
xanes_status stack_chunk_readers_open(const stack_source *src, int native16, int raw,
                                      stack_chunk_readers *c, int *fd, xanes_error *err)
{
    if (native16 || strcmp(src->stack.dtype, "float32") == 0)
        c->stack = stack_chunk_reader_open(&src->stack, src->ny, src->nx, src->file_size);
    if (raw && src->flat_per_energy && src->flat.dims[0] == src->n_energy &&
        strcmp(src->flat.dtype, "uint16") == 0)
        c->flat = stack_chunk_reader_open(&src->flat, src->ny, src->nx, src->file_size);
    if (c->stack == NULL && c->flat == NULL)
        return XANES_OK;
    size_t ss = 0;
    if (c->stack != NULL)
        ss = stack_chunk_reader_scratch_size(c->stack);
    if (c->flat != NULL && stack_chunk_reader_scratch_size(c->flat) > ss)
        ss = stack_chunk_reader_scratch_size(c->flat);
    c->n_threads = omp_get_max_threads();
    c->scratch = malloc((size_t)c->n_threads * ss);
    c->frame = malloc(src->ny * src->nx * 4);
    if (*fd < 0)
        *fd = open(src->path, O_RDONLY);
    if (c->scratch == NULL || c->frame == NULL || *fd < 0) {
        stack_chunk_readers_free(c);
        if (*fd < 0) /* the file just opened by HDF5: no reason to fail here, use HDF5 */
            return XANES_OK;
        return XANES_RAISE(err, XANES_ENOMEM, "%s: out of memory for chunk buffers", src->path);
    }
    return XANES_OK;
}

/* Frame k of d through its chunk reader cr: into u16 (uint16 elements as
 * stored) when given, else widened into dbl (uint16 or float32 elements),
 * in parallel.  XANES_EIO naming the frame when a chunk cannot be read or
 * inflated. */
xanes_status stack_chunk_readers_frame(const stack_source *src, const stack_chunk_readers *c,
                                       const stack_dset *d, const stack_chunk_reader *cr, int fd,
                                       size_t k, void *u16, double *dbl, size_t n, xanes_error *err)
{
    void *into = u16 != NULL ? u16 : (void *)c->frame;
    if (!stack_chunk_read_frame(cr, fd, k, into, c->scratch, c->n_threads))
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
