/* cli.h: shared pieces of the thin command-line shell (private to pipeline/cli).
 *
 * Exit codes: 0 ok, 1 data or processing error, 2 usage error.  Only this
 * directory prints or chooses exit codes; the library reports through
 * xanes_error.
 */
#ifndef XANES_CLI_H
#define XANES_CLI_H

#include <stddef.h>

#include "xanes/status.h"

enum { CLI_EXIT_OK = 0, CLI_EXIT_DATA = 1, CLI_EXIT_USAGE = 2 };

/* One subcommand: argv[0] is the subcommand name. */
int xanes_cmd_info(int argc, char **argv);
int xanes_cmd_norm(int argc, char **argv);
int xanes_cmd_calibrate(int argc, char **argv);
int xanes_cmd_lcf(int argc, char **argv);
int xanes_cmd_run(int argc, char **argv);
int xanes_cmd_simulate(int argc, char **argv);
int xanes_cmd_sfit(int argc, char **argv);
int xanes_cmd_model(int argc, char **argv);

/* Prints "xanes CMD: message" to stderr for a library error and returns the
 * exit code its status maps to (2 for XANES_EINVAL, 1 otherwise). */
int cli_fail(const char *cmd, const xanes_error *err);

/* Prints "xanes CMD: <formatted>" to stderr and returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Parses a finite double in [lo, hi] from the text of option opt.  On failure
 * prints a usage error naming the option and the accepted range and returns
 * nonzero. */
int cli_parse_double(const char *cmd, const char *opt, const char *text, double lo, double hi,
                     double *out);

/* Parses an integer in [lo, hi]; same contract as cli_parse_double. */
int cli_parse_long(const char *cmd, const char *opt, const char *text, long lo, long hi,
                   long *out);

/* Nonzero when argv[i] is "-h" or "--help". */
int cli_is_help(const char *arg);

#endif
