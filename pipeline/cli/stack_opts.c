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

/* Matches argv[*i] against option `name`; on a match sets *value (the text
 * after '=' or the next argument, NULL when it takes none) and returns 1. */
static int match(const char *arg, const char *name, const char **inline_value)
{
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0)
        return 0;
    if (arg[n] == '\0') {
        *inline_value = NULL;
        return 1;
    }
    if (arg[n] == '=') {
        *inline_value = arg + n + 1;
        return 1;
    }
    return 0;
}

int cli_stack_option(const char *cmd, int argc, char **argv, int *i, xanes_stack_options *opt)
{
    const char *arg = argv[*i];
    const char *iv = NULL;
    if (strcmp(arg, "--raw") == 0) {
        opt->raw = 1;
        return 1;
    }
    if (strcmp(arg, "--absorbance") == 0) {
        opt->absorbance = 1;
        return 1;
    }
    static const char *const with_value[] = {"--layout",    "--stack-path",  "--flat-path",
                                             "--dark-path", "--energy-path", "--energy-unit",
                                             NULL};
    const char *name = NULL;
    for (size_t k = 0; with_value[k] != NULL && name == NULL; k++)
        if (match(arg, with_value[k], &iv))
            name = with_value[k];
    if (name == NULL)
        return 0;
    const char *val = iv;
    if (val == NULL) {
        if (*i + 1 >= argc) {
            cli_usage_error(cmd, "option %s needs a value", name);
            return -1;
        }
        val = argv[++*i];
    }
    if (strcmp(name, "--layout") == 0) {
        if (strcmp(val, "fxi") == 0)
            opt->layout = XANES_LAYOUT_FXI;
        else if (strcmp(val, "aps") == 0)
            opt->layout = XANES_LAYOUT_APS;
        else if (strcmp(val, "custom") == 0)
            opt->layout = XANES_LAYOUT_CUSTOM;
        else if (strcmp(val, "auto") == 0)
            opt->layout = XANES_LAYOUT_AUTO;
        else {
            cli_usage_error(cmd, "option --layout: '%s' is not fxi, aps, custom or auto", val);
            return -1;
        }
        return 1;
    }
    if (strcmp(name, "--energy-unit") == 0) {
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
    /* A dataset path: absolute inside the file. */
    if (val[0] != '/' || strlen(val) >= 255) {
        cli_usage_error(cmd,
                        "option %s: '%s' is not a dataset path inside the file (like "
                        "/entry/data/data)",
                        name, val);
        return -1;
    }
    if (strcmp(name, "--stack-path") == 0)
        opt->stack_path = val;
    else if (strcmp(name, "--flat-path") == 0)
        opt->flat_path = val;
    else if (strcmp(name, "--dark-path") == 0)
        opt->dark_path = val;
    else
        opt->energy_path = val;
    return 1;
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
