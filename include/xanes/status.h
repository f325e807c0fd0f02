/* status.h: the one error path of libxanes.
 *
 * Every function that can fail returns an xanes_status and, when given a
 * non-NULL xanes_error, records a message naming the file, dataset or line and
 * what is wrong.  Codes and their texts come from one table (XANES_STATUS_TABLE)
 * so they cannot drift apart.  The library never prints and never exits: the
 * CLI in pipeline/cli/ prints the message and picks the exit code.
 */
#ifndef XANES_STATUS_H
#define XANES_STATUS_H

#include <stddef.h>

/* X(code, text).  XANES_EINVAL is a bad argument from the caller (a usage
 * error at the CLI, exit 2); every other failure is a data or processing
 * error (exit 1). */
#define XANES_STATUS_TABLE(X)                                                                      \
    X(XANES_OK, "success")                                                                         \
    X(XANES_EINVAL, "invalid argument")                                                            \
    X(XANES_EIO, "input/output error")                                                             \
    X(XANES_EFORMAT, "unrecognised or malformed file")                                             \
    X(XANES_EDATA, "invalid data")                                                                 \
    X(XANES_ENOMEM, "out of memory")                                                               \
    X(XANES_ENOCONV, "did not converge")                                                           \
    X(XANES_EFAIL, "numerical failure")

typedef enum {
#define XANES_STATUS_ENUM_(code, text) code,
    XANES_STATUS_TABLE(XANES_STATUS_ENUM_)
#undef XANES_STATUS_ENUM_
        XANES_STATUS_COUNT
} xanes_status;

/* Per-call error context.  Callers own it (usually on the stack); a NULL
 * pointer anywhere in the API means "do not record a message". */
typedef struct xanes_error {
    xanes_status status;
    char message[1024];
} xanes_error;

/* Text of a status code; never NULL, thread-safe. */
const char *xanes_strerror(xanes_status status);

/* Resets err to XANES_OK with an empty message.  err may be NULL. */
void xanes_error_clear(xanes_error *err);

/* Records status and a printf-style message in err (if non-NULL) and returns
 * status, so `return xanes_error_set(err, XANES_EDATA, "...")` raises in one
 * line.  The first error recorded wins: a later call on an err that already
 * holds a failure keeps the first message (the root cause).  Thread-safe for
 * distinct err objects. */
xanes_status xanes_error_set(xanes_error *err, xanes_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* The one raise macro (STYLE rule 14): a breakpoint on xanes_error_set
 * catches every error the library reports. */
#define XANES_RAISE(err, status, ...) xanes_error_set((err), (status), __VA_ARGS__)

/* Process-wide set-up, called once by main() before any other call: turns
 * GSL's aborting error handler off and silences HDF5's automatic error
 * printing, so foreign errors become status codes.  Not thread-safe. */
void xanes_init(void);

/* Version string of the library, e.g. "0.1.0". */
const char *xanes_version(void);

#endif
