/* cmd_sfit.c: `xanes sfit`, S K-edge peak deconvolution of one or more
 * spectra into one table (text, CSV, JSON) and one overlay figure.
 *
 * Each spectrum is read (xanes_spectrum_read), normalized with larch's
 * pre_edge rules (xanes_normalize_run) and fitted (xanes_sfit_run).  The
 * per-spectrum options --peaks and --range apply to the spectra named after
 * them (spectra named before the first one use the first one), so a
 * pristine/cycled pair, or references with different peaks, go in one call.
 * Any failure stops the command before an output file is written.
 */
#include "cmd_sfit.h"
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xanes/normalize.h"
#include "xanes/sfit.h"
#include "xanes/spectrum.h"

static void print_help(void)
{
    printf("usage: xanes sfit SPECTRUM... [options]\n\n"
           "S K-edge peak deconvolution: normalize each spectrum (larch pre_edge rules), fit\n"
           "an edge step plus N peaks by Levenberg-Marquardt, and report per-peak centre,\n"
           "FWHM and area with standard errors (covariance scaled by the reduced chi-square),\n"
           "and the background-subtracted area in a window (the sulfate peak-4 figure of\n"
           "merit of the seed paper, Fig. 4).\n\n"
           "options:\n"
           "  --peaks C1,C2,...    starting peak centres in eV (default 2472,2473,2477,2483)\n"
           "  --range EMIN:EMAX    fit range in eV (default: centres -15/+15 eV, within the "
           "data)\n"
           "                       --peaks and --range apply to the spectra named after them;\n"
           "                       spectra named before the first one use the first one\n"
           "  --shape gauss|lorentz|pvoigt   peak shape (default pvoigt, eta 0.5)\n"
           "  --step arctan|erf    edge-step form (default arctan)\n"
           "  --fix-centers        keep the centres at the given values\n"
           "  --center-tol EV      centres may move this far (default 1)\n"
           "  --starts N           always fit from N data-derived starts, keep the best\n"
           "                       (default 4; up to 8 when ill-conditioned or at a bound)\n"
           "  --window A:B         window of the area figure of merit (default 2480:2487)\n"
           "  --e0 EV --pre1 EV --pre2 EV --norm1 EV --norm2 EV --nnorm N\n"
           "                       normalization parameters (default: larch's rules)\n"
           "  --json               print {\"spectra\":[...]} instead of the text table\n"
           "  -o FILE.csv          write the table (one row per peak)\n"
           "  --png FILE.png       overlay figure: data, fit, components, residuals\n"
           "  --details FILE.json  every parameter (start, value, error, bounds), the\n"
           "                       normalization used and the normalized data fitted, so a\n"
           "                       fit can be reproduced elsewhere (tools/lmfit_reference.py)\n"
           "  -h, --help           this help\n\n"
           "%s\n"
           "Noise: chi2_red = (SSR/(n-p)) / sigma^2 with sigma estimated from the data's\n"
           "high-frequency content (7-point divided differences, MAD); ~1 means the model\n"
           "describes the data to the noise.  Errors use SSR/(n-p), lmfit's scale_covar.\n"
           "exit status: 0 ok, 1 data or fit error, 2 usage error (bad option, peak outside\n"
           "the range).\n",
           cli_spectrum_options_help());
}

/* "A:B" with A < B, both finite within [lo, hi]. */
static int parse_range(const char *opt, const char *text, double *a, double *b)
{
    if (text == NULL) {
        cli_usage_error(CMD, "option %s needs a value EMIN:EMAX", opt);
        return 1;
    }
    char buf[128];
    snprintf(buf, sizeof buf, "%s", text);
    char *colon = strchr(buf, ':');
    if (colon == NULL) {
        cli_usage_error(CMD, "option %s: '%s' is not EMIN:EMAX", opt, text);
        return 1;
    }
    *colon = '\0';
    if (cli_parse_double(CMD, opt, buf, 0.0, 2e5, a) ||
        cli_parse_double(CMD, opt, colon + 1, 0.0, 2e5, b))
        return 1;
    if (!(*a < *b)) {
        cli_usage_error(CMD, "option %s: %g:%g is empty (EMIN must be below EMAX)", opt, *a, *b);
        return 1;
    }
    return 0;
}

static int parse_peaks(const char *text, xanes_sfit_params *fp)
{
    if (text == NULL) {
        cli_usage_error(CMD, "option --peaks needs a comma-separated list of centres in eV");
        return 1;
    }
    /* strtok would skip an empty field: "2472,,2477" is a typo, not 2 peaks. */
    size_t len = strlen(text);
    if (len > 0 && (text[0] == ',' || text[len - 1] == ',' || strstr(text, ",,") != NULL)) {
        cli_usage_error(CMD, "option --peaks: empty centre in '%s'", text);
        return 1;
    }
    char buf[512];
    snprintf(buf, sizeof buf, "%s", text);
    size_t k = 0;
    for (char *tok = strtok(buf, ","); tok != NULL; tok = strtok(NULL, ",")) {
        if (k == XANES_SFIT_MAX_PEAKS) {
            cli_usage_error(CMD, "option --peaks: at most %d peaks", XANES_SFIT_MAX_PEAKS);
            return 1;
        }
        if (cli_parse_double(CMD, "--peaks", tok, 0.0, 2e5, &fp->center_ev[k]))
            return 1;
        k++;
    }
    if (k == 0) {
        cli_usage_error(CMD, "option --peaks: no centre in '%s'", text);
        return 1;
    }
    fp->n_peaks = k;
    return 0;
}

/* The command line as it is walked.  --peaks and --range set the current
 * per-spectrum settings, which each spectrum named takes; the first one given
 * also back-fills the spectra named before it.  The other fit options go to
 * base and are merged into every spectrum after the walk. */
typedef struct {
    sfit_item *items; /* [argc]: at most one per argument */
    size_t n_items;
    const xanes_sfit_params *base;
    double cur_c[XANES_SFIT_MAX_PEAKS];
    size_t cur_n;
    double cur_emin, cur_emax;
    int seen_peaks, seen_range;
} sfit_args;

static int peaks_option(const char *cmd, const cli_opt *o, char *value)
{
    (void)cmd;
    sfit_args *a = o->dst;
    xanes_sfit_params tmp = *a->base;
    if (parse_peaks(value, &tmp))
        return 1;
    a->cur_n = tmp.n_peaks;
    memcpy(a->cur_c, tmp.center_ev, sizeof a->cur_c);
    if (!a->seen_peaks)
        for (size_t s = 0; s < a->n_items; s++) {
            a->items[s].fp.n_peaks = a->cur_n;
            memcpy(a->items[s].fp.center_ev, a->cur_c, sizeof a->cur_c);
        }
    a->seen_peaks = 1;
    return 0;
}

static int range_option(const char *cmd, const cli_opt *o, char *value)
{
    (void)cmd;
    sfit_args *a = o->dst;
    if (parse_range(o->name, value, &a->cur_emin, &a->cur_emax))
        return 1;
    if (!a->seen_range)
        for (size_t s = 0; s < a->n_items; s++) {
            a->items[s].fp.emin_ev = a->cur_emin;
            a->items[s].fp.emax_ev = a->cur_emax;
        }
    a->seen_range = 1;
    return 0;
}

static int add_spectrum(const char *cmd, const cli_opt *o, char *arg)
{
    (void)cmd;
    sfit_args *a = o->dst;
    sfit_item *it = &a->items[a->n_items++];
    it->path = arg;
    it->fp.n_peaks = a->cur_n;
    memcpy(it->fp.center_ev, a->cur_c, sizeof a->cur_c);
    it->fp.emin_ev = a->cur_emin;
    it->fp.emax_ev = a->cur_emax;
    return 0;
}

static int shape_option(const char *cmd, const cli_opt *o, char *value)
{
    if (value == NULL || xanes_sfit_shape_parse(value, o->dst) != XANES_OK)
        return cli_usage_error(cmd, "option --shape: '%s' is not gauss, lorentz or pvoigt",
                               value != NULL ? value : "");
    return 0;
}

static int step_option(const char *cmd, const cli_opt *o, char *value)
{
    if (value == NULL || xanes_sfit_step_parse(value, o->dst) != XANES_OK)
        return cli_usage_error(cmd, "option --step: '%s' is not arctan or erf",
                               value != NULL ? value : "");
    return 0;
}

static int starts_option(const char *cmd, const cli_opt *o, char *value)
{
    xanes_sfit_params *fp = o->dst;
    long n = 0;
    if (cli_parse_long(cmd, o->name, value, 1, 16, &n))
        return 1;
    fp->min_starts = (size_t)n;
    if (fp->max_starts < fp->min_starts)
        fp->max_starts = fp->min_starts;
    return 0;
}

static int window_option(const char *cmd, const cli_opt *o, char *value)
{
    (void)cmd;
    xanes_sfit_params *fp = o->dst;
    return parse_range(o->name, value, &fp->window_lo_ev, &fp->window_hi_ev);
}

/* Reads, normalizes and fits one spectrum. */
static int process(sfit_item *it, const xanes_spectrum_options *sopt,
                   const xanes_normalize_params *np)
{
    xanes_error err;
    xanes_error_clear(&err);
    xanes_normalize_workspace *nw = NULL;
    xanes_sfit_workspace *sw = NULL;
    int rc = CLI_EXIT_DATA;
    if (xanes_spectrum_read(it->path, sopt, &it->spec, &err) != XANES_OK) {
        rc = cli_fail(CMD, &err);
        goto done;
    }
    const size_t n = it->spec->n;
    it->norm = malloc(n * sizeof(double));
    nw = xanes_normalize_workspace_alloc(n);
    if (it->norm == NULL || nw == NULL) {
        fprintf(stderr, "xanes %s: %s: out of memory\n", CMD, it->path);
        goto done;
    }
    if (xanes_normalize_run(it->spec->energy_ev, it->spec->mu, n, np, nw, &it->nres, it->norm, NULL,
                            &err) != XANES_OK) {
        fprintf(stderr, "xanes %s: %s: normalization failed: %s\n", CMD, it->path, err.message);
        rc = err.status == XANES_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_DATA;
        goto done;
    }
    sw = xanes_sfit_workspace_alloc(n, &it->fp, &err);
    if (sw == NULL ||
        xanes_sfit_run(sw, it->spec->energy_ev, it->norm, n, &it->fp, &it->res, &err) != XANES_OK) {
        fprintf(stderr, "xanes %s: %s: %s\n", CMD, it->path, err.message);
        rc = err.status == XANES_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_DATA;
        goto done;
    }
    rc = CLI_EXIT_OK;
done:
    xanes_sfit_workspace_free(sw);
    xanes_normalize_workspace_free(nw);
    return rc;
}

int xanes_cmd_sfit(int argc, char **argv)
{
    xanes_sfit_params base;
    xanes_sfit_default_params(&base);
    xanes_spectrum_options sopt;
    xanes_spectrum_default_options(&sopt);
    xanes_normalize_params np;
    xanes_normalize_default_params(&np);
    const char *csv_path = NULL, *png_path = NULL, *details_path = NULL;
    int json = 0;
    int rc = CLI_EXIT_USAGE;
    sfit_item *items = calloc((size_t)argc, sizeof *items);
    if (items == NULL) {
        fprintf(stderr, "xanes %s: out of memory\n", CMD);
        return CLI_EXIT_DATA;
    }
    size_t n_items = 0;
    sfit_args args = {.items = items, .base = &base, .cur_n = base.n_peaks};
    memcpy(args.cur_c, base.center_ev, sizeof args.cur_c);
    args.cur_emin = args.cur_emax = NAN;
    const cli_opt opts[] = {
        {"spectrum options", CLI_SPECTRUM_OPTIONS, NULL, &sopt, 0, 0},
        {"SPECTRUM", CLI_FILES, add_spectrum, &args, 0, 0},
        {"--peaks", CLI_VALUE_OR_NULL, peaks_option, &args, 0, 0},
        {"--range", CLI_VALUE_OR_NULL, range_option, &args, 0, 0},
        {"--shape", CLI_VALUE_OR_NULL, shape_option, &base.shape, 0, 0},
        {"--step", CLI_VALUE_OR_NULL, step_option, &base.step, 0, 0},
        {"--fix-centers", CLI_FLAG, cli_opt_flag, &base.fix_centers, 0, 0},
        {"--center-tol", CLI_VALUE, cli_opt_double, &base.center_tol_ev, 0.01, 20.0},
        {"--starts", CLI_VALUE, starts_option, &base, 0, 0},
        {"--window", CLI_VALUE_OR_NULL, window_option, &base, 0, 0},
        {"--e0", CLI_VALUE, cli_opt_double, &np.e0_ev, 0.0, 2e5},
        {"--pre1", CLI_VALUE, cli_opt_double, &np.pre1_ev, -2e4, 2e5},
        {"--pre2", CLI_VALUE, cli_opt_double, &np.pre2_ev, -2e4, 2e5},
        {"--norm1", CLI_VALUE, cli_opt_double, &np.norm1_ev, -2e4, 2e5},
        {"--norm2", CLI_VALUE, cli_opt_double, &np.norm2_ev, -2e4, 2e5},
        {"--nnorm", CLI_VALUE, cli_opt_int, &np.nnorm, 0, XANES_NORMALIZE_MAX_NNORM},
        {"--json", CLI_FLAG, cli_opt_flag, &json, 0, 0},
        {"-o", CLI_VALUE_OR_NULL, cli_opt_file, &csv_path, 0, 0},
        {"--png", CLI_VALUE_OR_NULL, cli_opt_file, &png_path, 0, 0},
        {"--details", CLI_VALUE_OR_NULL, cli_opt_file, &details_path, 0, 0},
        {0},
    };
    rc = cli_parse_command(CMD, print_help, opts, argc, argv);
    if (rc != CLI_PARSED)
        goto done;
    n_items = args.n_items;
    if (n_items == 0) {
        rc = cli_usage_error(CMD, "no spectrum given");
        goto done;
    }
    /* Global options were parsed after some spectra: merge now. */
    for (size_t s = 0; s < n_items; s++) {
        xanes_sfit_params fp = base;
        fp.n_peaks = items[s].fp.n_peaks;
        memcpy(fp.center_ev, items[s].fp.center_ev, sizeof fp.center_ev);
        fp.emin_ev = items[s].fp.emin_ev;
        fp.emax_ev = items[s].fp.emax_ev;
        items[s].fp = fp;
    }
    if ((rc = cli_check_output(CMD, csv_path)) != CLI_EXIT_OK ||
        (rc = cli_check_output(CMD, png_path)) != CLI_EXIT_OK ||
        (rc = cli_check_output(CMD, details_path)) != CLI_EXIT_OK)
        goto done;
    for (size_t s = 0; s < n_items; s++) {
        rc = process(&items[s], &sopt, &np);
        if (rc != CLI_EXIT_OK)
            goto done;
    }
    if (csv_path != NULL && (rc = sfit_cli_write_csv(csv_path, items, n_items)) != CLI_EXIT_OK)
        goto done;
    if (png_path != NULL && (rc = sfit_cli_write_png(png_path, items, n_items)) != CLI_EXIT_OK)
        goto done;
    if (details_path != NULL &&
        (rc = sfit_cli_write_details(details_path, items, n_items)) != CLI_EXIT_OK)
        goto done;
    if (json)
        rc = sfit_cli_print_json(items, n_items);
    else {
        sfit_cli_print_text(items, n_items);
        rc = CLI_EXIT_OK;
    }
done:
    for (size_t s = 0; s < args.n_items; s++) {
        xanes_spectrum_free(items[s].spec);
        free(items[s].norm);
    }
    free(items);
    return rc;
}
