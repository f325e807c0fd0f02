/* stack_chunks.h: private interface of stack_chunks.c, the parallel
 * inflation of deflate-compressed stacks chunked one frame deep (for
 * stack.c).  Not installed. */
#ifndef XANES_STACK_CHUNKS_H
#define XANES_STACK_CHUNKS_H

#include <stddef.h>

#include "stack_source.h"

typedef struct stack_chunk_reader stack_chunk_reader;

/* A reader of the frames of the 3-D dataset d (frames of ny x nx), when
 * stack_chunk_read_frame can read them: little-endian 2- or 4-byte
 * elements, chunks 1 x cy x cx, filters deflate or shuffle + deflate.  NULL
 * otherwise (including out of memory): read through HDF5 then.  It keeps
 * d's id (not its own): free it before d closes. */
stack_chunk_reader *stack_chunk_reader_open(const stack_dset *d, size_t ny, size_t nx);
void stack_chunk_reader_free(stack_chunk_reader *cr); /* NULL is a no-op */

/* Bytes of scratch each thread needs; bytes of stored chunks of one frame
 * (at most); chunks per frame. */
size_t stack_chunk_reader_scratch_size(const stack_chunk_reader *cr);
size_t stack_chunk_reader_stored_size(const stack_chunk_reader *cr);
size_t stack_chunk_reader_chunks_per_frame(const stack_chunk_reader *cr);

/* Frame `frame` into buf (ny * nx elements as stored, little-endian): its
 * chunks fetched as stored by the calling thread into stored
 * (stack_chunk_reader_stored_size bytes; sizes and masks hold a chunk per
 * frame each), then inflated by n_threads threads (OpenMP), thread t using
 * bytes [t s, (t + 1) s) of scratch, s = stack_chunk_reader_scratch_size.
 * The bytes are those H5Dread gives.  1 on success, 0 when a chunk cannot
 * be read or inflated (truncated or corrupt file: the caller reports it). */
int stack_chunk_read_frame(const stack_chunk_reader *cr, size_t frame, void *buf,
                           unsigned char *stored, size_t *sizes, unsigned *masks,
                           unsigned char *scratch, int n_threads);

/* The chunk readers of a stream: the stack's, the per-energy flat's, and
 * the buffers they share. */
typedef struct {
    stack_chunk_reader *stack, *flat;
    unsigned char *scratch; /* threads x the larger scratch size       */
    unsigned char *frame;   /* one frame of 4-byte elements             */
    unsigned char *stored;  /* one frame's stored chunks (the larger)   */
    size_t *sizes;          /* a chunk per frame                        */
    unsigned *masks;
    int n_threads;
} stack_chunk_readers;

void stack_chunk_readers_free(stack_chunk_readers *c); /* zeroes *c */

/* Chunk readers for the stack (uint16, or float32 when not native16) and a
 * uint16 flat per energy (raw counts) where stack_chunk_reader_open takes
 * them; none is an answer too (HDF5 reads then).  XANES_ENOMEM. */
xanes_status stack_chunk_readers_open(const stack_source *src, int native16, int raw,
                                      stack_chunk_readers *c, xanes_error *err);

/* Frame k of d through its reader cr: into u16 (uint16 elements as stored)
 * when given, else widened into dbl[n] (uint16 or float32 elements), in
 * parallel.  XANES_EIO naming the file and frame when a chunk cannot be
 * read or inflated. */
xanes_status stack_chunk_readers_frame(const stack_source *src, const stack_chunk_readers *c,
                                       const stack_dset *d, const stack_chunk_reader *cr, size_t k,
                                       void *u16, double *dbl, size_t n, xanes_error *err);

#endif
