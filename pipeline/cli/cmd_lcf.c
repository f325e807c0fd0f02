/* cmd_lcf.c: `xanes lcf`, linear combination fit of one spectrum to 2..N
 * reference spectra.  Every spectrum is normalized with larch's pre_edge
 * rules (normalize.h, defaults), the references' normalized mu is
 * resampled onto the fitted spectrum's energies, and lcf.h fits over the
 * window.  Parses, calls the library, prints. */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "xanes/lcf.h"
#include "xanes/normalize.h"
#include "xanes/spectrum.h"

static const char *const CMD = "lcf";

/* Athena's default LCF range, relative to e0 of the fitted spectrum. */
#define DEFAULT_EMIN_REL_EV (-20.0)
#define DEFAULT_EMAX_REL_EV 30.0

static void print_help(void)
{
    printf("usage: xanes lcf SPECTRUM --ref A --ref B [--ref C ...] [options] "
           "[spectrum options]\n\n"
           "Fits the normalized SPECTRUM as sum_j w_j * normalized ref_j over an energy window,\n"
           "with w_j >= 0.  Every spectrum is normalized with larch's pre_edge defaults.\n\n"
           "  --ref FILE        a reference spectrum (2 to %d; read with default column "
           "rules)\n"
           "  --emin EV --emax EV  fit window, absolute eV (default e0-20 .. e0+30, Athena's\n"
           "                    default, clipped to where every reference is measured)\n"
           "  --sum-to-one      constrain the weights to sum to 1\n"
           "  --allow-negative  drop the w >= 0 constraint\n"
           "  -o FILE           write energy, norm, fit, residual (window) as CSV\n"
           "  --json            print one JSON object\n"
           "  -h, --help        this text\n\n"
           "Uncertainties are 1-sigma from the covariance scaled by the reduced chi-square\n"
           "(as lmfit/larch); r_factor = sum(resid^2)/sum(norm^2).\n%s",
           XANES_LCF_MAX_REFS, cli_spectrum_options_help());
}

/* The --ref files, in the order given. */
typedef struct {
    const char *path[XANES_LCF_MAX_REFS];
    size_t n;
} ref_list;

static int add_ref(const char *cmd, const cli_opt *o, char *value)
{
    ref_list *refs = o->dst;
    if (refs->n == XANES_LCF_MAX_REFS)
        return cli_usage_error(cmd, "at most %d references", XANES_LCF_MAX_REFS);
    refs->path[refs->n++] = value;
    return 0;
}

static int allow_negative(const char *cmd, const cli_opt *o, char *value)
{
    (void)cmd;
    (void)value;
    ((xanes_lcf_params *)o->dst)->nonnegative = 0;
    return 0;
}

/* A second SPECTRUM argument. */
static int second_spectrum(const char *cmd, const cli_opt *o, char *value)
{
    return cli_usage_error(cmd, "one spectrum expected, got '%s' and '%s'", *(const char **)o->dst,
                           value);
}

/* Normalizes s into a new array (caller frees); NULL after printing. */
static double *normalized(const xanes_spectrum *s, const char *path, xanes_normalize_result *nr)
{
    xanes_error err;
    xanes_error_clear(&err);
    double *norm = malloc(s->n * sizeof *norm);
    xanes_normalize_workspace *ws = xanes_normalize_workspace_alloc(s->n);
    if (norm == NULL || ws == NULL) {
        fprintf(stderr, "xanes %s: out of memory normalizing %s\n", CMD, path);
        free(norm);
        norm = NULL;
    } else if (xanes_normalize_run(s->energy_ev, s->mu, s->n, NULL, ws, nr, norm, NULL, &err) !=
               XANES_OK) {
        fprintf(stderr, "xanes %s: normalizing %s: %s\n", CMD, path, err.message);
        free(norm);
        norm = NULL;
    }
    xanes_normalize_workspace_free(ws);
    return norm;
}

static int write_csv(const char *out_path, const xanes_spectrum *s, const double *norm,
                     const xanes_lcf_plan *plan, const xanes_lcf_result *res)
{
    char tmp[1024];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", out_path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof tmp) {
        fprintf(stderr, "xanes %s: output path too long: %s\n", CMD, out_path);
        return CLI_EXIT_USAGE;
    }
    FILE *f = fopen(tmp, "w");
    if (f == NULL) {
        fprintf(stderr, "xanes %s: cannot write %s\n", CMD, tmp);
        return CLI_EXIT_DATA;
    }
    fprintf(f, "energy_ev,norm,fit,residual\n");
    size_t i0 = xanes_lcf_plan_first_index(plan), m = xanes_lcf_plan_n_points(plan);
    for (size_t i = i0; i < i0 + m; i++) {
        double fit = xanes_lcf_plan_model(plan, res, i);
        fprintf(f, "%.6f,%.9g,%.9g,%.9g\n", s->energy_ev[i], norm[i], fit, norm[i] - fit);
    }
    if (fclose(f) != 0 || rename(tmp, out_path) != 0) {
        fprintf(stderr, "xanes %s: cannot write %s\n", CMD, out_path);
        remove(tmp);
        return CLI_EXIT_DATA;
    }
    return CLI_EXIT_OK;
}

int xanes_cmd_lcf(int argc, char **argv)
{
    int rc = CLI_EXIT_OK;
    const char *path = NULL, *out_path = NULL;
    ref_list given = {.n = 0};
    double emin = NAN, emax = NAN;
    int json = 0;
    xanes_lcf_params lp;
    xanes_lcf_default_params(&lp);
    xanes_spectrum_options sopt;
    xanes_spectrum_default_options(&sopt);

    xanes_spectrum *s = NULL, *refs[XANES_LCF_MAX_REFS] = {NULL};
    double *norm = NULL, *ref_grid[XANES_LCF_MAX_REFS] = {NULL};
    xanes_lcf_plan *plan = NULL;
    xanes_lcf_workspace *ws = NULL;
    cJSON *root = NULL;
    char *text = NULL;
    xanes_error err;
    xanes_error_clear(&err);

    const cli_opt opts[] = {
        {"spectrum options", CLI_SPECTRUM_OPTIONS, NULL, &sopt, 0, 0},
        {"SPECTRUM", CLI_ONE_FILE, second_spectrum, &path, 0, 0},
        {"--json", CLI_FLAG, cli_opt_flag, &json, 0, 0},
        {"--sum-to-one", CLI_FLAG, cli_opt_flag, &lp.sum_to_one, 0, 0},
        {"--allow-negative", CLI_FLAG, allow_negative, &lp, 0, 0},
        {"--ref", CLI_VALUE, add_ref, &given, 0, 0},
        {"-o", CLI_VALUE, cli_opt_string, &out_path, 0, 0},
        {"--emin", CLI_VALUE, cli_opt_double, &emin, 0.0, 2e5},
        {"--emax", CLI_VALUE, cli_opt_double, &emax, 0.0, 2e5},
        {0},
    };
    int parsed = cli_parse_command(CMD, print_help, opts, argc, argv);
    if (parsed != CLI_PARSED)
        return parsed;
    const char *const *ref_paths = given.path;
    const size_t n_refs = given.n;
    if (path == NULL)
        return cli_usage_error(CMD, "no spectrum given");
    if (n_refs < 2)
        return cli_usage_error(CMD, "need at least 2 references (--ref A --ref B), got %zu",
                               n_refs);
    if (!isnan(emin) && !isnan(emax) && !(emin < emax))
        return cli_usage_error(CMD, "--emin %g must be below --emax %g", emin, emax);
    int out_rc = cli_check_output(CMD, out_path);
    if (out_rc != CLI_EXIT_OK)
        return out_rc;

    if (xanes_spectrum_read(path, &sopt, &s, &err) != XANES_OK) {
        rc = cli_fail(CMD, &err);
        goto done;
    }
    xanes_normalize_result nr;
    norm = normalized(s, path, &nr);
    if (norm == NULL) {
        rc = CLI_EXIT_DATA;
        goto done;
    }
    /* References: read, normalize, resample onto the spectrum's energies.
     * Track the common measured range for the default window. */
    double common_lo = -INFINITY, common_hi = INFINITY;
    for (size_t j = 0; j < n_refs; j++) {
        if (xanes_spectrum_read(ref_paths[j], NULL, &refs[j], &err) != XANES_OK) {
            rc = cli_fail(CMD, &err);
            goto done;
        }
        xanes_normalize_result rr;
        double *rn = normalized(refs[j], ref_paths[j], &rr);
        if (rn == NULL) {
            rc = CLI_EXIT_DATA;
            goto done;
        }
        ref_grid[j] = malloc(s->n * sizeof *ref_grid[j]);
        if (ref_grid[j] == NULL) {
            free(rn);
            fprintf(stderr, "xanes %s: out of memory\n", CMD);
            rc = CLI_EXIT_DATA;
            goto done;
        }
        xanes_status st = xanes_lcf_resample(refs[j]->energy_ev, rn, refs[j]->n, s->energy_ev, s->n,
                                             ref_grid[j], &err);
        free(rn);
        if (st != XANES_OK) {
            fprintf(stderr, "xanes %s: reference %s: %s\n", CMD, ref_paths[j], err.message);
            rc = CLI_EXIT_DATA;
            goto done;
        }
        common_lo = fmax(common_lo, refs[j]->energy_ev[0]);
        common_hi = fmin(common_hi, refs[j]->energy_ev[refs[j]->n - 1]);
    }
    if (isnan(emin))
        emin = fmax(nr.e0_ev + DEFAULT_EMIN_REL_EV, common_lo);
    if (isnan(emax))
        emax = fmin(nr.e0_ev + DEFAULT_EMAX_REL_EV, common_hi);
    if (!(emin < emax)) {
        fprintf(stderr,
                "xanes %s: the references (common range %.2f..%.2f eV) do not overlap the fit "
                "window around e0 %.2f eV of %s\n",
                CMD, common_lo, common_hi, nr.e0_ev, path);
        rc = CLI_EXIT_DATA;
        goto done;
    }

    if (xanes_lcf_plan_alloc(s->energy_ev, s->n, (const double *const *)ref_grid, n_refs, emin,
                             emax, &lp, &plan, &err) != XANES_OK) {
        fprintf(stderr, "xanes %s: %s: %s\n", CMD, path, err.message);
        rc = err.status == XANES_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_DATA;
        goto done;
    }
    ws = xanes_lcf_workspace_alloc(plan);
    xanes_lcf_result res;
    if (ws == NULL || xanes_lcf_plan_fit(plan, norm, 1, ws, &res, &err) != XANES_OK) {
        fprintf(stderr, "xanes %s: %s: %s\n", CMD, path,
                ws == NULL ? "out of memory" : err.message);
        rc = CLI_EXIT_DATA;
        goto done;
    }
    if (out_path != NULL) {
        rc = write_csv(out_path, s, norm, plan, &res);
        if (rc != CLI_EXIT_OK)
            goto done;
    }

    if (json) {
        root = cJSON_CreateObject();
        int bad = root == NULL;
        bad = bad || cJSON_AddStringToObject(root, "spectrum", path) == NULL;
        bad = bad || cJSON_AddNumberToObject(root, "e0_ev", nr.e0_ev) == NULL;
        bad = bad || cJSON_AddNumberToObject(root, "emin_ev", emin) == NULL;
        bad = bad || cJSON_AddNumberToObject(root, "emax_ev", emax) == NULL;
        bad = bad || cJSON_AddBoolToObject(root, "sum_to_one", lp.sum_to_one) == NULL;
        bad = bad || cJSON_AddBoolToObject(root, "nonnegative", lp.nonnegative) == NULL;
        cJSON *arr = bad ? NULL : cJSON_AddArrayToObject(root, "references");
        bad = bad || arr == NULL;
        for (size_t j = 0; j < n_refs && !bad; j++) {
            cJSON *o = cJSON_CreateObject();
            bad = o == NULL || !cJSON_AddItemToArray(arr, o);
            bad = bad || cJSON_AddStringToObject(o, "path", ref_paths[j]) == NULL;
            bad = bad || cJSON_AddNumberToObject(o, "weight", res.weight[j]) == NULL;
            bad = bad || cJSON_AddNumberToObject(o, "weight_err", res.weight_err[j]) == NULL;
            bad = bad || cJSON_AddBoolToObject(o, "at_bound", res.at_bound[j]) == NULL;
        }
        bad = bad || cJSON_AddNumberToObject(root, "weight_sum", res.weight_sum) == NULL;
        bad = bad || cJSON_AddNumberToObject(root, "r_factor", res.r_factor) == NULL;
        bad = bad || cJSON_AddNumberToObject(root, "chi2", res.chi2) == NULL;
        bad = bad || cJSON_AddNumberToObject(root, "redchi", res.redchi) == NULL;
        bad = bad || cJSON_AddNumberToObject(root, "n_points", (double)res.n_points) == NULL;
        bad = bad || cJSON_AddNumberToObject(root, "n_free", (double)res.n_free) == NULL;
        text = bad ? NULL : cJSON_Print(root);
        if (text == NULL) {
            fprintf(stderr, "xanes %s: out of memory building JSON\n", CMD);
            rc = CLI_EXIT_DATA;
            goto done;
        }
        printf("%s\n", text);
    } else {
        printf("spectrum   %s (e0 %.3f eV)\n", path, nr.e0_ev);
        printf("window     %.3f .. %.3f eV, %zu points%s%s\n", emin, emax, res.n_points,
               lp.sum_to_one ? ", sum to one" : "", lp.nonnegative ? ", w >= 0" : "");
        for (size_t j = 0; j < n_refs; j++)
            printf("  w%-2zu %9.5f +- %.5f%s  %s\n", j + 1, res.weight[j], res.weight_err[j],
                   res.at_bound[j] ? " (at 0)" : "", ref_paths[j]);
        printf("sum        %.5f\n", res.weight_sum);
        printf("r_factor   %.6g\nchi2       %.6g\nredchi     %.6g\n", res.r_factor, res.chi2,
               res.redchi);
    }

done:
    free(text);
    cJSON_Delete(root);
    xanes_lcf_workspace_free(ws);
    xanes_lcf_plan_free(plan);
    for (size_t j = 0; j < n_refs; j++) {
        free(ref_grid[j]);
        xanes_spectrum_free(refs[j]);
    }
    free(norm);
    xanes_spectrum_free(s);
    return rc;
}
