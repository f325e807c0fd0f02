/* cli_util.c: option parsing and error printing shared by the subcommands.
 *
 * "Absurd options" are refused here, at the edge, with a message that names
 * the option and the range it accepts, so the library never sees them.
 */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xanes/atomic.h"

int cli_fail(const char *cmd, const xanes_error *err)
{
    const char *msg = (err != NULL && err->message[0] != '\0') ? err->message
                      : (err != NULL)                          ? xanes_strerror(err->status)
                                                               : "unknown error";
    fprintf(stderr, "xanes %s: %s\n", cmd, msg);
    if (err != NULL && err->status == XANES_EINVAL)
        return CLI_EXIT_USAGE;
    return CLI_EXIT_DATA;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "xanes %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see 'xanes %s --help')\n", cmd);
    return CLI_EXIT_USAGE;
}

int cli_parse_double(const char *cmd, const char *opt, const char *text, double lo, double hi,
                     double *out)
{
    char *end = NULL;
    if (text == NULL) {
        cli_usage_error(cmd, "option %s needs a value", opt);
        return 1;
    }
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end != '\0' || errno == ERANGE || !isfinite(v)) {
        cli_usage_error(cmd, "option %s: '%s' is not a finite number", opt, text);
        return 1;
    }
    if (v < lo || v > hi) {
        cli_usage_error(cmd, "option %s: %g is outside the accepted range [%g, %g]", opt, v, lo,
                        hi);
        return 1;
    }
    *out = v;
    return 0;
}

int cli_parse_long(const char *cmd, const char *opt, const char *text, long lo, long hi, long *out)
{
    char *end = NULL;
    if (text == NULL) {
        cli_usage_error(cmd, "option %s needs a value", opt);
        return 1;
    }
    errno = 0;
    long v = strtol(text, &end, 10);
    if (end == text || *end != '\0' || errno == ERANGE) {
        cli_usage_error(cmd, "option %s: '%s' is not an integer", opt, text);
        return 1;
    }
    if (v < lo || v > hi) {
        cli_usage_error(cmd, "option %s: %ld is outside the accepted range [%ld, %ld]", opt, v, lo,
                        hi);
        return 1;
    }
    *out = v;
    return 0;
}

int cli_is_help(const char *arg)
{
    return arg != NULL && (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0);
}

int cli_check_output(const char *cmd, const char *path)
{
    if (path == NULL)
        return CLI_EXIT_OK;
    /* The real writer opens the same kind of temporary file; opening and
     * discarding one now finds a missing or read-only directory, and the
     * opener refuses directories, devices and pipes. */
    xanes_error err;
    xanes_error_clear(&err);
    xanes_atomic_file *af = NULL;
    if (xanes_atomic_open(path, &af, &err) != XANES_OK)
        return cli_fail(cmd, &err);
    xanes_atomic_discard(af);
    return CLI_EXIT_OK;
}
