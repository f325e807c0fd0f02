/* stack_chunks.h: private interface of stack_chunks.c, the parallel reader
 * of deflate-compressed stacks chunked one frame deep (for stack.c).  Not
 * installed. */
#ifndef XANES_STACK_CHUNKS_H
#define XANES_STACK_CHUNKS_H

#include <stddef.h>

#include "stack_source.h"

typedef struct stack_chunk_reader stack_chunk_reader;

/* The chunk index of the 3-D dataset d (frames of ny x nx), when its frames
 * can be read by stack_chunk_read_frame: little-endian 2- or 4-byte
 * elements, chunks 1 x cy x cx all written, filters deflate or shuffle +
 * deflate, every chunk inside the file_size bytes of the file, no user
 * block, a little-endian host.  NULL otherwise (including
 * out of memory): read through HDF5 then.  Free with
 * stack_chunk_reader_free. */
stack_chunk_reader *stack_chunk_reader_open(const stack_dset *d, size_t ny, size_t nx,
                                            unsigned long long file_size);
void stack_chunk_reader_free(stack_chunk_reader *cr); /* NULL is a no-op */

/* Bytes of scratch each thread needs. */
size_t stack_chunk_reader_scratch_size(const stack_chunk_reader *cr);

/* Frame `frame` into buf (ny * nx elements as stored, little-endian), its
 * chunks shared among n_threads threads (OpenMP), thread t using bytes
 * [t s, (t + 1) s) of scratch, s = stack_chunk_reader_scratch_size; fd is
 * the file opened for reading.  The bytes are those H5Dread gives.  1 on
 * success, 0 when a chunk cannot be read or inflated (truncated or corrupt
 * file: the caller reports it). */
int stack_chunk_read_frame(const stack_chunk_reader *cr, int fd, size_t frame, void *buf,
                           unsigned char *scratch, int n_threads);

/* The parallel chunk readers of a stream: the stack's, the per-energy
 * flat's, the per-thread scratch and a frame of the raw elements. */
typedef struct {
    stack_chunk_reader *stack, *flat;
    unsigned char *scratch; /* threads x the larger scratch size */
    unsigned char *frame;   /* one frame of 4-byte elements       */
    int n_threads;
} stack_chunk_readers;

void stack_chunk_readers_free(stack_chunk_readers *c); /* zeroes *c */

/* Chunk readers for the stack (uint16, or float32 when not native16) and a
 * uint16 flat per energy (raw counts) where stack_chunk_reader_open takes
 * them, with *fd opened when one exists; none is an answer too (HDF5 reads
 * then).  XANES_ENOMEM. */
xanes_status stack_chunk_readers_open(const stack_source *src, int native16, int raw,
                                      stack_chunk_readers *c, int *fd, xanes_error *err);

/* Frame k of d through its reader cr: into u16 (uint16 elements as stored)
 * when given, else widened into dbl[n] (uint16 or float32 elements), in
 * parallel.  XANES_EIO naming the file and frame when a chunk cannot be
 * read or inflated. */
xanes_status stack_chunk_readers_frame(const stack_source *src, const stack_chunk_readers *c,
                                       const stack_dset *d, const stack_chunk_reader *cr, int fd,
                                       size_t k, void *u16, double *dbl, size_t n,
                                       xanes_error *err);

#endif
