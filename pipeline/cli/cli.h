/* cli.h: shared pieces of the thin command-line shell (private to pipeline/cli).
 *
 * Exit codes: 0 ok, 1 data or processing error, 2 usage error.  Only this
 * directory prints or chooses exit codes; the library reports through
 * xanes_error.
 */
#ifndef XANES_CLI_H
#define XANES_CLI_H

#include <stddef.h>

#include "xanes/spectrum.h"
#include "xanes/stack.h"
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
int cli_parse_long(const char *cmd, const char *opt, const char *text, long lo, long hi, long *out);

/* Consumes one spectrum-reading option at argv[*i] (advancing *i past its
 * value).  Returns 1 when consumed, 0 when argv[*i] is not a spectrum option,
 * -1 after printing a usage error. */
int cli_spectrum_option(const char *cmd, int argc, char **argv, int *i,
                        xanes_spectrum_options *opt);

/* Help text for the spectrum-reading options. */
const char *cli_spectrum_options_help(void);

/* Consumes one stack-reading option at argv[*i] (--layout, --raw,
 * --absorbance, --stack-path, --flat-path, --dark-path, --energy-path,
 * --energy-unit; "--opt value" or "--opt=value"), advancing *i past its
 * value.  Returns 1 when consumed, 0 when argv[*i] is not a stack option, -1
 * after printing a usage error.  Pointers stored in opt point into argv. */
int cli_stack_option(const char *cmd, int argc, char **argv, int *i, xanes_stack_options *opt);

/* Help text for the stack-reading options. */
const char *cli_stack_options_help(void);

/* Checks, before any work, that an output file can be created at path (its
 * directory exists and takes a new file; path is not a directory, device or
 * pipe), so that a command with several outputs never writes some and then
 * fails on another.  NULL path: nothing to check.  Prints "xanes CMD:
 * message" and returns the exit code (1, or 2 for a path that cannot be an
 * output file) on failure, CLI_EXIT_OK otherwise. */
int cli_check_output(const char *cmd, const char *path);

/* Nonzero when argv[i] is "-h" or "--help". */
int cli_is_help(const char *arg);

#endif
