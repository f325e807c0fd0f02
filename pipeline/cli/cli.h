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

/* ---- Option tables ----------------------------------------------------
 *
 * A subcommand lists its options in a table of cli_opt, ended by {0}; one
 * walker (cli_option for one argument, cli_parse_command for a whole argv)
 * matches the names, fetches the values and reports missing ones, so every
 * subcommand spells "needs a value", "unknown option" and --help alike. */

/* What a table entry stands for.  The first three are options; the others
 * let one table describe a whole command line for cli_parse_command. */
typedef enum {
    CLI_FLAG,             /* an option without a value */
    CLI_VALUE,            /* an option with a value; when none follows: "option NAME
                             needs a value" */
    CLI_VALUE_OR_NULL,    /* an option with a value; when none follows the parser gets
                             NULL and words the error itself ("needs a file name") */
    CLI_STACK_OPTIONS,    /* every stack option, into the xanes_stack_options *dst */
    CLI_SPECTRUM_OPTIONS, /* every spectrum option, into the xanes_spectrum_options *dst */
    CLI_ONE_FILE,         /* the one argument that is not an option, stored in the
                             const char **dst; parse gets a second one and prints the
                             usage error */
    CLI_FILES             /* parse gets every argument that is not an option */
} cli_kind;

typedef struct cli_opt cli_opt;

/* Stores value (NULL for a flag or a missing CLI_VALUE_OR_NULL value)
 * through o->dst.  value points into argv and may be split in place.  On a
 * bad value prints a usage error naming o->name and returns nonzero. */
typedef int (*cli_opt_parser)(const char *cmd, const cli_opt *o, char *value);

struct cli_opt {
    const char *name; /* "--e0", "-o" (matched exactly); a label for the other kinds */
    cli_kind kind;
    cli_opt_parser parse; /* NULL for the option groups */
    void *dst;            /* what parse stores into */
    double lo, hi;        /* accepted range, for cli_opt_double and cli_opt_int */
};

/* Parsers for table entries (dst is what each stores into):
 *   cli_opt_flag         int *: set to 1
 *   cli_opt_double       double *: a finite number in [lo, hi] (cli_parse_double)
 *   cli_opt_int          int *: an integer in [lo, hi] (cli_parse_long)
 *   cli_opt_string       const char **: the value itself
 *   cli_opt_file         const char **: a non-empty file name, else "option
 *                        NAME needs a file name" (use with CLI_VALUE_OR_NULL)
 *   cli_opt_energy_unit  xanes_energy_unit *: ev|eV or kev|keV */
int cli_opt_flag(const char *cmd, const cli_opt *o, char *value);
int cli_opt_double(const char *cmd, const cli_opt *o, char *value);
int cli_opt_int(const char *cmd, const cli_opt *o, char *value);
int cli_opt_string(const char *cmd, const cli_opt *o, char *value);
int cli_opt_file(const char *cmd, const cli_opt *o, char *value);
int cli_opt_energy_unit(const char *cmd, const cli_opt *o, char *value);

/* Consumes argv[*i] when it names an option (CLI_FLAG, CLI_VALUE,
 * CLI_VALUE_OR_NULL) of table ("--opt value" or "--opt=value" for options
 * that take one; a flag takes no "="), advancing *i past a value taken from
 * the next argument.  Returns 1 when consumed, 0 when argv[*i] is not in the
 * table, -1 after printing a usage error. */
int cli_option(const char *cmd, const cli_opt *table, int argc, char **argv, int *i);

/* For the subcommands that parse their own words (simulate, model): when
 * argv[*i] is option name, as "name value" or "name=value", sets *value and
 * returns 1, advancing *i past a value taken from the next argument; returns
 * 0 when argv[*i] is another word, -1 after printing that the value is
 * missing. */
int cli_value_word(const char *cmd, const char *name, int argc, char **argv, int *i,
                   const char **value);

/* The loops of those subcommands: each option that takes a value, tried in
 * turn.  They use the loop's locals argc, argv, i (the index), and
 * const char *v, int w, double d, long l as scratch; a match runs its
 * assignment and goes on with the next word (continue), a bad value returns
 * CLI_EXIT_USAGE from the subcommand.  CLI_VALUE_WORD(cmd, name) { ... }
 * is the bare form, for values of its own kind (end the block with
 * continue). */
#define CLI_VALUE_WORD(cmd, name)                                                                  \
    if ((w = cli_value_word(cmd, name, argc, argv, &i, &v)) < 0)                                   \
        return CLI_EXIT_USAGE;                                                                     \
    if (w > 0)
#define CLI_STR_OPT(cmd, name, var)                                                                \
    CLI_VALUE_WORD(cmd, name)                                                                      \
    {                                                                                              \
        var = v;                                                                                   \
        continue;                                                                                  \
    }
/* parse (cli_parse_double or cli_parse_long) into *out within [lo, hi]. */
#define CLI_PARSED_OPT(cmd, name, parse, out, lo, hi, assign)                                      \
    CLI_VALUE_WORD(cmd, name)                                                                      \
    {                                                                                              \
        if (parse(cmd, name, v, lo, hi, out))                                                      \
            return CLI_EXIT_USAGE;                                                                 \
        assign;                                                                                    \
        continue;                                                                                  \
    }
#define CLI_NUM_OPT(cmd, name, lo, hi, assign)                                                     \
    CLI_PARSED_OPT(cmd, name, cli_parse_double, &d, lo, hi, assign)
#define CLI_INT_OPT(cmd, name, lo, hi, assign)                                                     \
    CLI_PARSED_OPT(cmd, name, cli_parse_long, &l, lo, hi, assign)

/* What cli_parse_command returns when the arguments were parsed and the
 * subcommand should go on (any other value is its exit code). */
enum { CLI_PARSED = -1 };

/* Walks the command line argv[1..argc-1] of subcommand cmd in order:
 * -h/--help prints help() and stops; an argument is tried on the option
 * groups of table (in table order), then on its options; any other "-x" is
 * an unknown option; anything else ("-" included) goes to the table's
 * CLI_ONE_FILE or CLI_FILES entry, which the table must have.  Returns
 * CLI_PARSED, CLI_EXIT_OK after the help, or CLI_EXIT_USAGE after printing
 * a usage error. */
int cli_parse_command(const char *cmd, void (*help)(void), const cli_opt *table, int argc,
                      char **argv);

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
