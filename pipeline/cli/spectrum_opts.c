/* spectrum_opts.c: the spectrum-reading options shared by every subcommand
 * that reads a 1-D spectrum (info, norm, calibrate, lcf, sfit).
 *
 *   --energy-col C     energy column (1-based number or name)
 *   --mu-col C         mu is this column
 *   --trans I0,IT      mu = ln(i0/itrans)            (numbers or names)
 *   --fluor IF[+IF..],I0  mu = sum(ifluor)/i0
 *   --energy-unit ev|kev  override the unit detected from the magnitude
 *   --sort             sort energies and average duplicate points
 *   --json-key K [--json-index I] --grid-start EV --grid-step EV  (JSON files)
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static int parse_column(const char *cmd, const char *opt, const char *text, size_t *number,
                        const char **name)
{
    char *end = NULL;
    long v = strtol(text, &end, 10);
    if (end != text && *end == '\0') {
        if (v < 1 || v > 10000) {
            cli_usage_error(cmd, "option %s: column %ld out of range (columns count from 1)", opt,
                            v);
            return -1;
        }
        *number = (size_t)v;
        *name = NULL;
        return 0;
    }
    if (text[0] == '\0') {
        cli_usage_error(cmd, "option %s: empty column name", opt);
        return -1;
    }
    *name = text;
    *number = 0;
    return 0;
}

/* Splits "A,B" in place; returns the part after the comma or NULL. */
static char *split_pair(char *text)
{
    char *comma = strchr(text, ',');
    if (comma == NULL)
        return NULL;
    *comma = '\0';
    return comma + 1;
}

static int energy_col(const char *cmd, const cli_opt *o, char *value)
{
    xanes_spectrum_options *opt = o->dst;
    return parse_column(cmd, o->name, value, &opt->energy_column, &opt->energy_name);
}

static int mu_col(const char *cmd, const cli_opt *o, char *value)
{
    xanes_spectrum_options *opt = o->dst;
    opt->mode = XANES_MU_COLUMN;
    return parse_column(cmd, o->name, value, &opt->mu_column, &opt->mu_name);
}

static int trans(const char *cmd, const cli_opt *o, char *value)
{
    xanes_spectrum_options *opt = o->dst;
    char *second = split_pair(value);
    if (second == NULL) {
        cli_usage_error(cmd, "option --trans wants I0,ITRANS (two columns)");
        return -1;
    }
    opt->mode = XANES_MU_TRANS;
    if (parse_column(cmd, o->name, value, &opt->i0_column, &opt->i0_name) ||
        parse_column(cmd, o->name, second, &opt->itrans_column, &opt->itrans_name))
        return -1;
    return 0;
}

static int fluor(const char *cmd, const cli_opt *o, char *value)
{
    xanes_spectrum_options *opt = o->dst;
    char *second = split_pair(value);
    if (second == NULL) {
        cli_usage_error(cmd, "option --fluor wants IFLUOR[+IFLUOR...],I0");
        return -1;
    }
    opt->mode = XANES_MU_FLUOR;
    if (parse_column(cmd, o->name, second, &opt->i0_column, &opt->i0_name))
        return -1;
    opt->n_ifluor = 0;
    for (char *tok = strtok(value, "+"); tok != NULL; tok = strtok(NULL, "+")) {
        size_t num = 0;
        const char *name = NULL;
        if (parse_column(cmd, o->name, tok, &num, &name))
            return -1;
        if (name != NULL) {
            opt->ifluor_name = name;
        } else if (opt->n_ifluor < XANES_SPECTRUM_MAX_FLUOR) {
            opt->ifluor_columns[opt->n_ifluor++] = num;
        } else {
            cli_usage_error(cmd, "option --fluor: at most %d columns", XANES_SPECTRUM_MAX_FLUOR);
            return -1;
        }
    }
    return 0;
}

int cli_spectrum_option(const char *cmd, int argc, char **argv, int *i, xanes_spectrum_options *opt)
{
    const cli_opt table[] = {
        {"--sort", CLI_FLAG, cli_opt_flag, &opt->sort, 0, 0},
        {"--energy-col", CLI_VALUE, energy_col, opt, 0, 0},
        {"--mu-col", CLI_VALUE, mu_col, opt, 0, 0},
        {"--trans", CLI_VALUE, trans, opt, 0, 0},
        {"--fluor", CLI_VALUE, fluor, opt, 0, 0},
        {"--energy-unit", CLI_VALUE, cli_opt_energy_unit, &opt->energy_unit, 0, 0},
        {"--json-key", CLI_VALUE, cli_opt_string, &opt->json_key, 0, 0},
        {"--json-index", CLI_VALUE, cli_opt_string, &opt->json_index, 0, 0},
        {"--grid-start", CLI_VALUE, cli_opt_double, &opt->grid_start_ev, 0.0, 2e5},
        {"--grid-step", CLI_VALUE, cli_opt_double, &opt->grid_step_ev, 1e-6, 1e4},
        {0},
    };
    return cli_option(cmd, table, argc, argv, i);
}

const char *cli_spectrum_options_help(void)
{
    return "spectrum options:\n"
           "  --energy-col C        energy column (number from 1, or name); default: 'energy' "
           "or column 1\n"
           "  --mu-col C            mu is column C\n"
           "  --trans I0,IT         mu = ln(i0/itrans)\n"
           "  --fluor IF[+IF..],I0  mu = sum(ifluor)/i0\n"
           "  --energy-unit ev|kev  override the unit guessed from the values (< 100 = keV)\n"
           "  --sort                sort energies and average duplicate points\n"
           "  --json-key K --json-index I --grid-start EV --grid-step EV   JSON spectra\n"
           "  default mu: a column named mu/mutrans/xmu, else ln(i0/itrans), else ifluor/i0,\n"
           "  else column 2 of a two-column file\n";
}
