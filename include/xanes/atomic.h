/* atomic.h: output files that appear whole or not at all.
 *
 * Every output of xanes (PNG, HDF5, CSV) is written to a temporary file in
 * the directory of its final path and renamed over it once complete, so an
 * error, a crash or a full disk never leaves a partial file under the final
 * name (rename(2) within one directory is atomic on POSIX file systems).
 *
 *   xanes_atomic_file *af;
 *   if (xanes_atomic_open(path, &af, err) != XANES_OK) return ...;
 *   fprintf(xanes_atomic_stream(af), ...);          // or write by path:
 *   // xanes_atomic_close_stream(af, err); H5Fcreate(xanes_atomic_tmp_path(af), ...)
 *   status = xanes_atomic_commit(af, err);           // or xanes_atomic_discard(af)
 */
#ifndef XANES_ATOMIC_H
#define XANES_ATOMIC_H

#include <stdio.h>

#include "xanes/status.h"

typedef struct xanes_atomic_file xanes_atomic_file;

/* Creates a new temporary file "<dir>/.<name>.tmpXXXXXX" beside path (mode
 * 0644) open for binary writing.  *out receives the handle, which the caller
 * must pass to exactly one of xanes_atomic_commit or xanes_atomic_discard.
 * Returns XANES_EINVAL (empty path, path ending in '/', an existing path
 * that is not a regular file: a directory, device or pipe), XANES_EIO (the
 * directory does not exist or is not writable: the message names path and the
 * system error), XANES_ENOMEM.  Thread-safe. */
xanes_status xanes_atomic_open(const char *path, xanes_atomic_file **out, xanes_error *err);

/* The stdio stream of the temporary file (NULL once closed).  Lent. */
FILE *xanes_atomic_stream(xanes_atomic_file *af);

/* Path of the temporary file, for writers that open files by name (HDF5).
 * Lent; valid until commit/discard. */
const char *xanes_atomic_tmp_path(const xanes_atomic_file *af);

/* Final path given to xanes_atomic_open.  Lent; valid until commit/discard. */
const char *xanes_atomic_final_path(const xanes_atomic_file *af);

/* Flushes and closes the stream now (a writer that reopens the file by name
 * calls this first).  XANES_EIO when buffered data cannot be written (disk
 * full): the message names the final path.  Idempotent. */
xanes_status xanes_atomic_close_stream(xanes_atomic_file *af, xanes_error *err);

/* Closes the stream (if still open), flushes it to disk and renames the
 * temporary file to the final path, replacing any file there; frees af.  On
 * any failure (XANES_EIO, message naming the final path) the temporary file
 * is removed and nothing appears under the final path. */
xanes_status xanes_atomic_commit(xanes_atomic_file *af, xanes_error *err);

/* Closes and removes the temporary file and frees af.  NULL is a no-op. */
void xanes_atomic_discard(xanes_atomic_file *af);

#endif
