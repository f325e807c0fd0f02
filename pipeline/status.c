/* status.c: status codes, their texts and the per-call error context.
 *
 * The enum and the texts are both generated from XANES_STATUS_TABLE in
 * status.h (the libuv pattern), so adding a code is one line.
 */
#include "xanes/status.h"

#include <stdarg.h>
#include <stdio.h>

static const char *const status_text[] = {
#define XANES_STATUS_TEXT_(code, text) text,
    XANES_STATUS_TABLE(XANES_STATUS_TEXT_)
#undef XANES_STATUS_TEXT_
};

const char *xanes_strerror(xanes_status status)
{
    if ((int)status < 0 || status >= XANES_STATUS_COUNT)
        return "unknown status";
    return status_text[status];
}

void xanes_error_clear(xanes_error *err)
{
    if (err == NULL)
        return;
    err->status = XANES_OK;
    err->message[0] = '\0';
}

xanes_status xanes_error_set(xanes_error *err, xanes_status status, const char *fmt, ...)
{
    if (err == NULL || status == XANES_OK)
        return status;
    /* Keep the root cause: callers up the stack may raise again while
     * unwinding, but the first message is the one that names the problem. */
    if (err->status != XANES_OK)
        return status;
    err->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return status;
}
