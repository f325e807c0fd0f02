/* stack_opts.c: the HDF5 stack-reading options shared by `xanes info` and
 * `xanes run` (and any subcommand that reads a TXM stack), so both accept the
 * same words with the same meaning:
 *
 *   --layout fxi|aps|custom   override the layout detected from the datasets
 *   --raw                     FXI: /img_xanes holds raw counts; apply img_bkg/img_dark
 *   --absorbance              the stack is already -ln(I/I0)
 *   --stack-path P --flat-path P --dark-path P --energy-path P   dataset paths
 *   --energy-unit ev|kev      override the unit of the energies
 *
 * Both "--opt value" and "--opt=value" are accepted.
 */
#include "cli.h"

#include <string.h>

static int layout(const char *cmd, const cli_opt *o, char *value)
{
    xanes_stack_layout *dst = o->dst;
    if (strcmp(value, "fxi") == 0)
        *dst = XANES_LAYOUT_FXI;
    else if (strcmp(value, "aps") == 0)
        *dst = XANES_LAYOUT_APS;
    else if (strcmp(value, "custom") == 0)
        *dst = XANES_LAYOUT_CUSTOM;
    else if (strcmp(value, "auto") == 0)
        *dst = XANES_LAYOUT_AUTO;
    else {
        cli_usage_error(cmd, "option --layout: '%s' is not fxi, aps, custom or auto", value);
        return -1;
    }
    return 0;
}

/* A dataset path: absolute inside the file. */
static int dataset_path(const char *cmd, const cli_opt *o, char *value)
{
    if (value[0] != '/' || strlen(value) >= 255) {
        cli_usage_error(cmd,
                        "option %s: '%s' is not a dataset path inside the file (like "
                        "/entry/data/data)",
                        o->name, value);
        return -1;
    }
    *(const char **)o->dst = value;
    return 0;
}

int cli_stack_option(const char *cmd, int argc, char **argv, int *i, xanes_stack_options *opt)
{
    const cli_opt table[] = {
        {"--raw", CLI_FLAG, cli_opt_flag, &opt->raw, 0, 0},
        {"--absorbance", CLI_FLAG, cli_opt_flag, &opt->absorbance, 0, 0},
        {"--layout", CLI_VALUE, layout, &opt->layout, 0, 0},
        {"--stack-path", CLI_VALUE, dataset_path, &opt->stack_path, 0, 0},
        {"--flat-path", CLI_VALUE, dataset_path, &opt->flat_path, 0, 0},
        {"--dark-path", CLI_VALUE, dataset_path, &opt->dark_path, 0, 0},
        {"--energy-path", CLI_VALUE, dataset_path, &opt->energy_path, 0, 0},
        {"--energy-unit", CLI_VALUE, cli_opt_energy_unit, &opt->energy_unit, 0, 0},
        {0},
    };
    return cli_option(cmd, table, argc, argv, i);
}

const char *cli_stack_options_help(void)
{
    return "stack options (HDF5):\n"
           "  --layout fxi|aps|custom  override the layout detected from the datasets\n"
           "                        (fxi: /img_xanes + /X_eng; aps: /exchange/data + data_white)\n"
           "  --raw                 FXI: /img_xanes holds raw counts, apply /img_bkg, /img_dark\n"
           "                        (default: it is transmission, already corrected)\n"
           "  --absorbance          the stack already holds -ln(I/I0)\n"
           "  --stack-path P        stack dataset [energies x rows x columns], e.g. "
           "/entry/data/data\n"
           "  --flat-path P         flat field(s): one per energy, or a few to average\n"
           "  --dark-path P         dark field(s): one per energy, or averaged (absent: dark = 0)\n"
           "  --energy-path P       energies, one per frame\n"
           "  --energy-unit ev|kev  override the unit (units attribute, else < 100 = keV)\n";
}
