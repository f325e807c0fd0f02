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
            cli_usage_error(cmd, "option %s: column %ld out of range (columns count from 1)",
                            opt, v);
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

int cli_spectrum_option(const char *cmd, int argc, char **argv, int *i,
                        xanes_spectrum_options *opt)
{
    const char *a = argv[*i];
    const char *v = (*i + 1 < argc) ? argv[*i + 1] : NULL;
    if (strcmp(a, "--sort") == 0) {
        opt->sort = 1;
        return 1;
    }
    static const char *const with_value[] = {"--energy-col", "--mu-col",     "--trans",
                                             "--fluor",      "--energy-unit", "--json-key",
                                             "--json-index", "--grid-start", "--grid-step",
                                             NULL};
    int known = 0;
    for (size_t k = 0; with_value[k] != NULL; k++)
        known |= strcmp(a, with_value[k]) == 0;
    if (!known)
        return 0;
    if (v == NULL) {
        cli_usage_error(cmd, "option %s needs a value", a);
        return -1;
    }
    (*i)++;
    char *val = argv[*i];
    if (strcmp(a, "--energy-col") == 0)
        return parse_column(cmd, a, val, &opt->energy_column, &opt->energy_name) ? -1 : 1;
    if (strcmp(a, "--mu-col") == 0) {
        opt->mode = XANES_MU_COLUMN;
        return parse_column(cmd, a, val, &opt->mu_column, &opt->mu_name) ? -1 : 1;
    }
    if (strcmp(a, "--trans") == 0) {
        char *second = split_pair(val);
        if (second == NULL) {
            cli_usage_error(cmd, "option --trans wants I0,ITRANS (two columns)");
            return -1;
        }
        opt->mode = XANES_MU_TRANS;
        if (parse_column(cmd, a, val, &opt->i0_column, &opt->i0_name) ||
            parse_column(cmd, a, second, &opt->itrans_column, &opt->itrans_name))
            return -1;
        return 1;
    }
    if (strcmp(a, "--fluor") == 0) {
        char *second = split_pair(val);
        if (second == NULL) {
            cli_usage_error(cmd, "option --fluor wants IFLUOR[+IFLUOR...],I0");
            return -1;
        }
        opt->mode = XANES_MU_FLUOR;
        if (parse_column(cmd, a, second, &opt->i0_column, &opt->i0_name))
            return -1;
        opt->n_ifluor = 0;
        for (char *tok = strtok(val, "+"); tok != NULL; tok = strtok(NULL, "+")) {
            size_t num = 0;
            const char *name = NULL;
            if (parse_column(cmd, a, tok, &num, &name))
                return -1;
            if (name != NULL) {
                opt->ifluor_name = name;
            } else if (opt->n_ifluor < XANES_SPECTRUM_MAX_FLUOR) {
                opt->ifluor_columns[opt->n_ifluor++] = num;
            } else {
                cli_usage_error(cmd, "option --fluor: at most %d columns",
                                XANES_SPECTRUM_MAX_FLUOR);
                return -1;
            }
        }
        return 1;
    }
    if (strcmp(a, "--energy-unit") == 0) {
        if (strcmp(val, "ev") == 0 || strcmp(val, "eV") == 0)
            opt->energy_unit = XANES_UNIT_EV;
        else if (strcmp(val, "kev") == 0 || strcmp(val, "keV") == 0)
            opt->energy_unit = XANES_UNIT_KEV;
        else {
            cli_usage_error(cmd, "option --energy-unit: '%s' is not ev or kev", val);
            return -1;
        }
        return 1;
    }
    if (strcmp(a, "--json-key") == 0) {
        opt->json_key = val;
        return 1;
    }
    if (strcmp(a, "--json-index") == 0) {
        opt->json_index = val;
        return 1;
    }
    if (strcmp(a, "--grid-start") == 0)
        return cli_parse_double(cmd, a, val, 0.0, 2e5, &opt->grid_start_ev) ? -1 : 1;
    return cli_parse_double(cmd, a, val, 1e-6, 1e4, &opt->grid_step_ev) ? -1 : 1;
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
