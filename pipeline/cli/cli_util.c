/* cli_util.c: option parsing and error printing shared by the subcommands.
 *
 * "Absurd options" are refused here, at the edge, with a message that names
 * the option and the range it accepts, so the library never sees them.
 * Each subcommand describes its options as a cli_opt table; cli_option
 * matches one argument against a table and cli_parse_command walks a whole
 * command line (help, the shared stack and spectrum options, the
 * subcommand's own, unknown options, file arguments), so the argv loop is
 * written once.
 */
#include "cli.h"

#include <assert.h>
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

int cli_opt_flag(const char *cmd, const cli_opt *o, char *value)
{
    (void)cmd;
    (void)value;
    *(int *)o->dst = 1;
    return 0;
}

int cli_opt_double(const char *cmd, const cli_opt *o, char *value)
{
    return cli_parse_double(cmd, o->name, value, o->lo, o->hi, (double *)o->dst);
}

int cli_opt_int(const char *cmd, const cli_opt *o, char *value)
{
    long v = 0;
    if (cli_parse_long(cmd, o->name, value, (long)o->lo, (long)o->hi, &v))
        return 1;
    *(int *)o->dst = (int)v;
    return 0;
}

int cli_opt_string(const char *cmd, const cli_opt *o, char *value)
{
    (void)cmd;
    *(const char **)o->dst = value;
    return 0;
}

int cli_opt_file(const char *cmd, const cli_opt *o, char *value)
{
    if (value == NULL || value[0] == '\0') {
        cli_usage_error(cmd, "option %s needs a file name", o->name);
        return 1;
    }
    *(const char **)o->dst = value;
    return 0;
}

int cli_opt_energy_unit(const char *cmd, const cli_opt *o, char *value)
{
    xanes_energy_unit *unit = o->dst;
    if (strcmp(value, "ev") == 0 || strcmp(value, "eV") == 0)
        *unit = XANES_UNIT_EV;
    else if (strcmp(value, "kev") == 0 || strcmp(value, "keV") == 0)
        *unit = XANES_UNIT_KEV;
    else {
        cli_usage_error(cmd, "option %s: '%s' is not ev or kev", o->name, value);
        return 1;
    }
    return 0;
}

/* Nonzero when arg spells option o; *inline_value is then the text after
 * "--opt=" or NULL. */
static int matches(const cli_opt *o, char *arg, char **inline_value)
{
    size_t n = strlen(o->name);
    *inline_value = NULL;
    if (strncmp(arg, o->name, n) != 0)
        return 0;
    if (arg[n] == '\0')
        return 1;
    if (arg[n] == '=' && o->kind != CLI_FLAG) {
        *inline_value = arg + n + 1;
        return 1;
    }
    return 0;
}

int cli_option(const char *cmd, const cli_opt *table, int argc, char **argv, int *i)
{
    const cli_opt *o = table;
    char *value = NULL;
    while (o->name != NULL && (o->kind > CLI_VALUE_OR_NULL || !matches(o, argv[*i], &value)))
        o++;
    if (o->name == NULL)
        return 0;
    int from_next = 0;
    if (o->kind != CLI_FLAG && value == NULL) {
        if (*i + 1 < argc) {
            value = argv[*i + 1];
            from_next = 1;
        } else if (o->kind == CLI_VALUE) {
            cli_usage_error(cmd, "option %s needs a value", o->name);
            return -1;
        }
    }
    if (o->parse(cmd, o, value) != 0)
        return -1;
    *i += from_next;
    return 1;
}

int cli_value_word(const char *cmd, const char *name, int argc, char **argv, int *i,
                   const char **value)
{
    /* A one-option table: the same matching and the same messages. */
    const cli_opt table[] = {{name, CLI_VALUE, cli_opt_string, value, 0, 0}, {0}};
    return cli_option(cmd, table, argc, argv, i);
}

int cli_parse_command(const char *cmd, void (*help)(void), const cli_opt *table, int argc,
                      char **argv)
{
    const cli_opt *files = table;
    while (files->name != NULL && files->kind != CLI_ONE_FILE && files->kind != CLI_FILES)
        files++;
    assert(files->name != NULL);
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (cli_is_help(a)) {
            help();
            return CLI_EXIT_OK;
        }
        int r = 0;
        for (const cli_opt *o = table; o->name != NULL && r == 0; o++)
            if (o->kind == CLI_STACK_OPTIONS)
                r = cli_stack_option(cmd, argc, argv, &i, o->dst);
            else if (o->kind == CLI_SPECTRUM_OPTIONS)
                r = cli_spectrum_option(cmd, argc, argv, &i, o->dst);
        if (r == 0)
            r = cli_option(cmd, table, argc, argv, &i);
        if (r < 0)
            return CLI_EXIT_USAGE;
        if (r > 0)
            continue;
        if (a[0] == '-' && a[1] != '\0')
            return cli_usage_error(cmd, "unknown option '%s'", a);
        const char **one = files->dst;
        if (files->kind == CLI_ONE_FILE && *one == NULL)
            *one = a;
        else if (files->parse(cmd, files, a) != 0)
            return CLI_EXIT_USAGE;
    }
    return CLI_PARSED;
}
