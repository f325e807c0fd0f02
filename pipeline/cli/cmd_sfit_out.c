/* cmd_sfit_out.c: output of `xanes sfit`: the text table, the --json
 * document (cJSON; NaN becomes null), the CSV table, the --details dump and
 * the overlay figure (xanes_figure_plot_png).  Formatting only; the numbers
 * come from xanes_sfit_run.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd_sfit.h"
#include "xanes/atomic.h"
#include "xanes/figure.h"

static cJSON *num_or_null(double v)
{
    return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

int sfit_cli_print_json(const sfit_item *items, size_t n_items)
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

void sfit_cli_print_text(const sfit_item *items, size_t n_items)
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

int sfit_cli_write_csv(const char *path, const sfit_item *items, size_t n_items)
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
int sfit_cli_write_details(const char *path, const sfit_item *items, size_t n_items)
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
int sfit_cli_write_png(const char *path, const sfit_item *items, size_t n_items)
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
    series[ns++] =
        (xanes_plot_series){wband, NULL, 2, "window", XANES_PLOT_VBAND, 0xDDDDDD, 0.0, 0};
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
