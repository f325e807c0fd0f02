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
#include "cli.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xanes/atomic.h"
#include "xanes/figure.h"
#include "xanes/normalize.h"
#include "xanes/sfit.h"
#include "xanes/spectrum.h"

#define CMD "sfit"

typedef struct {
    const char *path;
    xanes_sfit_params fp;
    xanes_spectrum *spec;
    double *norm; /* [spec->n] */
    xanes_normalize_result nres;
    xanes_sfit_result res;
} sfit_item;

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
           "                       (default 1; up to 8 when ill-conditioned or at a bound)\n"
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

static cJSON *num_or_null(double v)
{
    return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

static int print_json(const sfit_item *items, size_t n_items)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(root, "spectra");
    for (size_t s = 0; s < n_items; s++) {
        const xanes_sfit_result *r = &items[s].res;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "file", items[s].path);
        cJSON *peaks = cJSON_AddArrayToObject(o, "peaks");
        for (size_t k = 0; k < r->n_peaks; k++) {
            cJSON *pk = cJSON_CreateObject();
            cJSON_AddItemToObject(pk, "center_ev", num_or_null(r->peak[k].center_ev));
            cJSON_AddItemToObject(pk, "center_err", num_or_null(r->peak[k].center_err_ev));
            cJSON_AddItemToObject(pk, "fwhm_ev", num_or_null(r->peak[k].fwhm_ev));
            cJSON_AddItemToObject(pk, "area", num_or_null(r->peak[k].area));
            cJSON_AddItemToObject(pk, "area_err", num_or_null(r->peak[k].area_err));
            cJSON_AddItemToArray(peaks, pk);
        }
        cJSON_AddItemToObject(o, "window_area", num_or_null(r->window_area));
        cJSON_AddItemToObject(o, "window_area_err", num_or_null(r->window_area_err));
        cJSON_AddItemToObject(o, "chi2_red", num_or_null(r->chi2_red));
        cJSON *w = cJSON_AddArrayToObject(o, "warnings");
        for (size_t i = 0; i < r->n_warnings; i++)
            cJSON_AddItemToArray(w, cJSON_CreateString(r->warnings[i]));
        cJSON_AddItemToArray(arr, o);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (text == NULL) {
        fprintf(stderr, "xanes %s: out of memory formatting JSON\n", CMD);
        return CLI_EXIT_DATA;
    }
    printf("%s\n", text);
    free(text);
    return CLI_EXIT_OK;
}

static void print_text(const sfit_item *items, size_t n_items)
{
    for (size_t s = 0; s < n_items; s++) {
        const xanes_sfit_result *r = &items[s].res;
        const xanes_sfit_params *fp = &items[s].fp;
        printf("%s  (%s, %s step, %g:%g eV, %zu points, chi2_red %.3g, noise %.3g)\n",
               items[s].path, xanes_sfit_shape_name(fp->shape), xanes_sfit_step_name(fp->step),
               r->emin_ev, r->emax_ev, r->n_points, r->chi2_red, r->noise_sigma);
        printf("  step  E0 %.3f +- %.3f eV  width %.3f +- %.3f eV  height %.4f +- %.4f\n",
               r->step_e0_ev, r->step_e0_err_ev, r->step_width_ev, r->step_width_err_ev,
               r->step_height, r->step_height_err);
        printf("  peak  center_ev          fwhm_ev          area\n");
        for (size_t k = 0; k < r->n_peaks; k++)
            printf("  %-4zu  %9.3f +- %5.3f  %6.3f +- %5.3f  %7.4f +- %6.4f%s\n", k + 1,
                   r->peak[k].center_ev, r->peak[k].center_err_ev, r->peak[k].fwhm_ev,
                   r->peak[k].fwhm_err_ev, r->peak[k].area, r->peak[k].area_err,
                   r->peak[k].at_bound ? "  (at a bound)" : "");
        printf("  window %g:%g eV area %.4f +- %.4f\n", fp->window_lo_ev, fp->window_hi_ev,
               r->window_area, r->window_area_err);
        for (size_t i = 0; i < r->n_warnings; i++)
            printf("  warning: %s\n", r->warnings[i]);
    }
}

/* CSV text of a number: empty for NaN. */
static void csv_num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, ",%.10g", v);
    else
        fputs(",", f);
}

static int write_csv(const char *path, const sfit_item *items, size_t n_items)
{
    xanes_error err;
    xanes_error_clear(&err);
    xanes_atomic_file *af = NULL;
    if (xanes_atomic_open(path, &af, &err) != XANES_OK)
        return cli_fail(CMD, &err);
    FILE *f = xanes_atomic_stream(af);
    fputs("file,peak,center_ev,center_err_ev,fwhm_ev,fwhm_err_ev,height,height_err,area,"
          "area_err,window_area,window_area_err,chi2_red,noise_sigma,step_e0_ev,n_warnings\n",
          f);
    for (size_t s = 0; s < n_items; s++) {
        const xanes_sfit_result *r = &items[s].res;
        for (size_t k = 0; k < r->n_peaks; k++) {
            /* File names with a comma or quote are quoted as RFC 4180 says. */
            const char *p = items[s].path;
            if (strpbrk(p, ",\"\n") != NULL) {
                fputc('"', f);
                for (; *p != '\0'; p++) {
                    if (*p == '"')
                        fputc('"', f);
                    fputc(*p, f);
                }
                fputc('"', f);
            } else {
                fputs(p, f);
            }
            fprintf(f, ",%zu", k + 1);
            const xanes_sfit_peak *pk = &r->peak[k];
            csv_num(f, pk->center_ev);
            csv_num(f, pk->center_err_ev);
            csv_num(f, pk->fwhm_ev);
            csv_num(f, pk->fwhm_err_ev);
            csv_num(f, pk->height);
            csv_num(f, pk->height_err);
            csv_num(f, pk->area);
            csv_num(f, pk->area_err);
            csv_num(f, r->window_area);
            csv_num(f, r->window_area_err);
            csv_num(f, r->chi2_red);
            csv_num(f, r->noise_sigma);
            csv_num(f, r->step_e0_ev);
            fprintf(f, ",%zu\n", r->n_warnings);
        }
    }
    if (xanes_atomic_commit(af, &err) != XANES_OK)
        return cli_fail(CMD, &err);
    return CLI_EXIT_OK;
}


static cJSON *num_array(const double *v, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a != NULL && i < n; i++)
        cJSON_AddItemToArray(a, num_or_null(v[i]));
    return a;
}

/* --details: everything needed to reproduce each fit. */
static int write_details(const char *path, const sfit_item *items, size_t n_items)
{
    xanes_error err;
    xanes_error_clear(&err);
    cJSON *root = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(root, "spectra");
    for (size_t s = 0; s < n_items; s++) {
        const sfit_item *it = &items[s];
        const xanes_sfit_result *r = &it->res;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "file", it->path);
        cJSON_AddStringToObject(o, "mu_formula", it->spec->mu_formula);
        cJSON_AddStringToObject(o, "shape", xanes_sfit_shape_name(it->fp.shape));
        cJSON_AddStringToObject(o, "step", xanes_sfit_step_name(it->fp.step));
        cJSON_AddNumberToObject(o, "pvoigt_fraction", it->fp.pvoigt_fraction);
        cJSON_AddBoolToObject(o, "fix_centers", it->fp.fix_centers != 0);
        cJSON_AddItemToObject(o, "given_centers_ev", num_array(it->fp.center_ev, r->n_peaks));
        const double range[2] = {r->emin_ev, r->emax_ev};
        const double window[2] = {it->fp.window_lo_ev, it->fp.window_hi_ev};
        cJSON_AddItemToObject(o, "range_ev", num_array(range, 2));
        cJSON_AddItemToObject(o, "window_ev", num_array(window, 2));
        cJSON *nz = cJSON_AddObjectToObject(o, "normalization");
        cJSON_AddNumberToObject(nz, "e0_ev", it->nres.e0_ev);
        cJSON_AddNumberToObject(nz, "edge_step", it->nres.edge_step);
        cJSON_AddNumberToObject(nz, "pre1", it->nres.pre1_ev);
        cJSON_AddNumberToObject(nz, "pre2", it->nres.pre2_ev);
        cJSON_AddNumberToObject(nz, "norm1", it->nres.norm1_ev);
        cJSON_AddNumberToObject(nz, "norm2", it->nres.norm2_ev);
        cJSON_AddNumberToObject(nz, "nnorm", it->nres.nnorm);
        cJSON *pa = cJSON_AddArrayToObject(o, "params");
        for (size_t j = 0; j < r->n_params; j++) {
            cJSON *p = cJSON_CreateObject();
            cJSON_AddStringToObject(p, "name", r->name[j]);
            cJSON_AddItemToObject(p, "start", num_or_null(r->start[j]));
            cJSON_AddItemToObject(p, "value", num_or_null(r->value[j]));
            cJSON_AddItemToObject(p, "error", num_or_null(r->error[j]));
            cJSON_AddItemToObject(p, "lower", num_or_null(r->lower[j]));
            cJSON_AddItemToObject(p, "upper", num_or_null(r->upper[j]));
            cJSON_AddItemToArray(pa, p);
        }
        cJSON_AddNumberToObject(o, "n_starts", (double)r->n_starts);
        cJSON_AddNumberToObject(o, "best_start", (double)r->best_start);
        cJSON_AddItemToObject(o, "noise_sigma", num_or_null(r->noise_sigma));
        cJSON_AddItemToObject(o, "rms_residual", num_or_null(r->rms_residual));
        cJSON_AddItemToObject(o, "chi2_red", num_or_null(r->chi2_red));
        /* The points actually fitted. */
        cJSON *ea = cJSON_AddArrayToObject(o, "energy_ev");
        cJSON *ma = cJSON_AddArrayToObject(o, "mu_norm");
        for (size_t i = 0; i < it->spec->n; i++) {
            const double e = it->spec->energy_ev[i];
            if (e >= r->emin_ev && e <= r->emax_ev) {
                cJSON_AddItemToArray(ea, cJSON_CreateNumber(e));
                cJSON_AddItemToArray(ma, cJSON_CreateNumber(it->norm[i]));
            }
        }
        cJSON_AddItemToArray(arr, o);
    }
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (text == NULL) {
        fprintf(stderr, "xanes %s: out of memory formatting %s\n", CMD, path);
        return CLI_EXIT_DATA;
    }
    xanes_atomic_file *af = NULL;
    if (xanes_atomic_open(path, &af, &err) != XANES_OK) {
        free(text);
        return cli_fail(CMD, &err);
    }
    fputs(text, xanes_atomic_stream(af));
    fputc('\n', xanes_atomic_stream(af));
    free(text);
    if (xanes_atomic_commit(af, &err) != XANES_OK)
        return cli_fail(CMD, &err);
    return CLI_EXIT_OK;
}

/* Base name of a path (lent pointer into it). */
static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash != NULL ? slash + 1 : path;
}

/* One overlay figure: per spectrum the data (points), the fit (line), the
 * step and the peaks (dashed), all in the spectrum's colour, and the
 * residual in the lower panel; the window is shaded. */
static int write_png(const char *path, const sfit_item *items, size_t n_items)
{
    static const uint32_t palette[] = {0x0072B2, 0xD55E00, 0x009E73, 0xCC79A7,
                                       0xE69F00, 0x56B4E9, 0x000000, 0xF0E442};
    const size_t n_pal = sizeof palette / sizeof palette[0];
    size_t n_series = 1, n_pts = 0;
    for (size_t s = 0; s < n_items; s++) {
        n_series += 4 + items[s].res.n_peaks;
        n_pts += items[s].res.n_points;
    }
    int rc = CLI_EXIT_DATA;
    xanes_error err;
    xanes_error_clear(&err);
    xanes_plot_series *series = calloc(n_series, sizeof *series);
    /* Per spectrum: e, y, fit, step, residual, peaks[n_peaks]. */
    double *buf = calloc(n_pts * (5 + XANES_SFIT_MAX_PEAKS), sizeof(double));
    char(*labels)[96] = calloc(n_items, sizeof *labels);
    if (series == NULL || buf == NULL || labels == NULL) {
        fprintf(stderr, "xanes %s: out of memory drawing %s\n", CMD, path);
        goto done;
    }
    size_t ns = 0;
    double *cursor = buf;
    double wband[2] = {items[0].fp.window_lo_ev, items[0].fp.window_hi_ev};
    series[ns++] = (xanes_plot_series){wband, NULL, 2, "window", XANES_PLOT_VBAND, 0xDDDDDD,
                                       0.0, 0};
    for (size_t s = 0; s < n_items; s++) {
        const sfit_item *it = &items[s];
        const xanes_sfit_result *r = &it->res;
        const size_t m = r->n_points;
        double *e = cursor, *y = e + m, *fit = y + m, *step = fit + m, *resid = step + m;
        double *peaks = resid + m;
        cursor = peaks + m * r->n_peaks;
        size_t j = 0;
        for (size_t i = 0; i < it->spec->n && j < m; i++) {
            const double ei = it->spec->energy_ev[i];
            if (ei >= r->emin_ev && ei <= r->emax_ev) {
                e[j] = ei;
                y[j] = it->norm[i];
                j++;
            }
        }
        xanes_sfit_eval(&it->fp, r, e, j, fit, step, peaks);
        for (size_t i = 0; i < j; i++)
            resid[i] = y[i] - fit[i];
        const uint32_t c = palette[s % n_pal];
        snprintf(labels[s], sizeof labels[s], "%s (chi2_red %.2f)", base_name(it->path),
                 r->chi2_red);
        series[ns++] = (xanes_plot_series){e, y, j, labels[s], XANES_PLOT_POINTS, c, 1.6, 0};
        series[ns++] = (xanes_plot_series){e, fit, j, NULL, XANES_PLOT_LINE, c, 2.0, 0};
        series[ns++] = (xanes_plot_series){e, step, j, NULL, XANES_PLOT_DASHED, c, 1.0, 0};
        for (size_t k = 0; k < r->n_peaks; k++)
            series[ns++] =
                (xanes_plot_series){e, peaks + k * j, j, NULL, XANES_PLOT_DASHED, c, 1.0, 0};
        series[ns++] = (xanes_plot_series){e, resid, j, NULL, XANES_PLOT_LINE, c, 1.0, 1};
    }
    xanes_plot plot;
    xanes_plot_default(&plot);
    plot.title = "S K-edge fit: data (points), fit (line), step and peaks (dashed)";
    plot.xlabel = "Energy (eV)";
    plot.ylabel = "Normalized mu";
    plot.ylabel2 = "Residual";
    plot.series = series;
    plot.n_series = ns;
    plot.two_panels = 1;
    plot.legend_left = 1;
    if (xanes_figure_plot_png(path, &plot, NULL, &err) != XANES_OK) {
        rc = cli_fail(CMD, &err);
        goto done;
    }
    rc = CLI_EXIT_OK;
done:
    free(labels);
    free(buf);
    free(series);
    return rc;
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
    if (sw == NULL || xanes_sfit_run(sw, it->spec->energy_ev, it->norm, n, &it->fp, &it->res,
                                     &err) != XANES_OK) {
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
    /* Per-spectrum settings: the current ones, and whether any was given
     * before the first spectrum (else the first one given back-fills). */
    double cur_c[XANES_SFIT_MAX_PEAKS];
    size_t cur_n = base.n_peaks;
    memcpy(cur_c, base.center_ev, sizeof cur_c);
    double cur_emin = NAN, cur_emax = NAN;
    int seen_peaks = 0, seen_range = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = (i + 1 < argc) ? argv[i + 1] : NULL;
        if (cli_is_help(a)) {
            print_help();
            rc = CLI_EXIT_OK;
            goto done;
        }
        const int so = cli_spectrum_option(CMD, argc, argv, &i, &sopt);
        if (so < 0)
            goto done;
        if (so > 0)
            continue;
        if (strcmp(a, "--peaks") == 0) {
            xanes_sfit_params tmp = base;
            if (parse_peaks(v, &tmp))
                goto done;
            i++;
            cur_n = tmp.n_peaks;
            memcpy(cur_c, tmp.center_ev, sizeof cur_c);
            if (!seen_peaks)
                for (size_t s = 0; s < n_items; s++) {
                    items[s].fp.n_peaks = cur_n;
                    memcpy(items[s].fp.center_ev, cur_c, sizeof cur_c);
                }
            seen_peaks = 1;
        } else if (strcmp(a, "--range") == 0) {
            if (parse_range(a, v, &cur_emin, &cur_emax))
                goto done;
            i++;
            if (!seen_range)
                for (size_t s = 0; s < n_items; s++) {
                    items[s].fp.emin_ev = cur_emin;
                    items[s].fp.emax_ev = cur_emax;
                }
            seen_range = 1;
        } else if (strcmp(a, "--shape") == 0) {
            if (v == NULL || xanes_sfit_shape_parse(v, &base.shape) != XANES_OK) {
                cli_usage_error(CMD, "option --shape: '%s' is not gauss, lorentz or pvoigt",
                                v != NULL ? v : "");
                goto done;
            }
            i++;
        } else if (strcmp(a, "--step") == 0) {
            if (v == NULL || xanes_sfit_step_parse(v, &base.step) != XANES_OK) {
                cli_usage_error(CMD, "option --step: '%s' is not arctan or erf",
                                v != NULL ? v : "");
                goto done;
            }
            i++;
        } else if (strcmp(a, "--fix-centers") == 0) {
            base.fix_centers = 1;
        } else if (strcmp(a, "--center-tol") == 0) {
            if (cli_parse_double(CMD, a, v, 0.01, 20.0, &base.center_tol_ev))
                goto done;
            i++;
        } else if (strcmp(a, "--starts") == 0) {
            long ns = 0;
            if (cli_parse_long(CMD, a, v, 1, 16, &ns))
                goto done;
            base.min_starts = (size_t)ns;
            if (base.max_starts < base.min_starts)
                base.max_starts = base.min_starts;
            i++;
        } else if (strcmp(a, "--window") == 0) {
            if (parse_range(a, v, &base.window_lo_ev, &base.window_hi_ev))
                goto done;
            i++;
        } else if (strcmp(a, "--e0") == 0 || strcmp(a, "--pre1") == 0 ||
                   strcmp(a, "--pre2") == 0 || strcmp(a, "--norm1") == 0 ||
                   strcmp(a, "--norm2") == 0) {
            double *dst = strcmp(a, "--e0") == 0      ? &np.e0_ev
                          : strcmp(a, "--pre1") == 0  ? &np.pre1_ev
                          : strcmp(a, "--pre2") == 0  ? &np.pre2_ev
                          : strcmp(a, "--norm1") == 0 ? &np.norm1_ev
                                                      : &np.norm2_ev;
            const double lo = strcmp(a, "--e0") == 0 ? 0.0 : -2e4;
            if (cli_parse_double(CMD, a, v, lo, 2e5, dst))
                goto done;
            i++;
        } else if (strcmp(a, "--nnorm") == 0) {
            long nn = 0;
            if (cli_parse_long(CMD, a, v, 0, XANES_NORMALIZE_MAX_NNORM, &nn))
                goto done;
            np.nnorm = (int)nn;
            i++;
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--png") == 0 ||
                   strcmp(a, "--details") == 0) {
            if (v == NULL || v[0] == '\0') {
                cli_usage_error(CMD, "option %s needs a file name", a);
                goto done;
            }
            if (strcmp(a, "-o") == 0)
                csv_path = v;
            else if (strcmp(a, "--png") == 0)
                png_path = v;
            else
                details_path = v;
            i++;
        } else if (a[0] == '-' && a[1] != '\0') {
            cli_usage_error(CMD, "unknown option '%s'", a);
            goto done;
        } else {
            sfit_item *it = &items[n_items++];
            it->path = a;
            it->fp.n_peaks = cur_n;
            memcpy(it->fp.center_ev, cur_c, sizeof cur_c);
            it->fp.emin_ev = cur_emin;
            it->fp.emax_ev = cur_emax;
        }
    }
    if (n_items == 0) {
        cli_usage_error(CMD, "no spectrum given");
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
    for (size_t s = 0; s < n_items; s++) {
        rc = process(&items[s], &sopt, &np);
        if (rc != CLI_EXIT_OK)
            goto done;
    }
    if (csv_path != NULL && (rc = write_csv(csv_path, items, n_items)) != CLI_EXIT_OK)
        goto done;
    if (png_path != NULL && (rc = write_png(png_path, items, n_items)) != CLI_EXIT_OK)
        goto done;
    if (details_path != NULL &&
        (rc = write_details(details_path, items, n_items)) != CLI_EXIT_OK)
        goto done;
    if (json)
        rc = print_json(items, n_items);
    else {
        print_text(items, n_items);
        rc = CLI_EXIT_OK;
    }
done:
    for (size_t s = 0; s < n_items; s++) {
        xanes_spectrum_free(items[s].spec);
        free(items[s].norm);
    }
    free(items);
    return rc;
}
