/* cmd_norm.c: `xanes norm`, larch-compatible normalization of one spectrum.
 *
 * Reads the spectrum (xanes_spectrum_read with the shared spectrum options),
 * runs xanes_normalize_run (larch 0.9.58 pre_edge semantics, see
 * pipeline/normalize.c) and prints the edge energy, or with --json every
 * value and every parameter used so the result can be reproduced in larch.
 * -o writes energy, mu, pre_edge, post_edge, norm, flat, dmude as CSV through
 * a temporary file in the same directory, renamed when complete.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "xanes/edge.h"
#include "xanes/normalize.h"
#include "xanes/spectrum.h"

static const char *CMD = "norm";

static void print_help(void)
{
    printf("usage: xanes norm SPECTRUM [--e0 EV] [--pre1 EV --pre2 EV --norm1 EV --norm2 EV "
           "--nnorm N]\n"
           "                  [--nvict X] [--edge half|deriv] [-o OUT.csv] [--json] "
           "[spectrum options]\n\n"
           "Pre-edge subtraction and normalization with larch's pre_edge semantics (larch "
           "0.9.58\n"
           "default rules), then the edge energy.\n\n"
           "  --e0 EV          edge energy (default: larch find_e0, maximum of dmu/dE); "
           "snapped\n"
           "                   to the nearest sample as larch does\n"
           "  --pre1/--pre2 EV pre-edge line range relative to e0 (negative; default by larch's "
           "rule)\n"
           "  --norm1/--norm2 EV post-edge range relative to e0 (norm2 < 0: end of data)\n"
           "  --nnorm N        post-edge polynomial degree 0..5 (default 2/1/0 by range width)\n"
           "  --nvict X        energy exponent of the pre-edge fit (default 0)\n"
           "  --edge half|deriv  which edge energy to print: first crossing of norm = 0.5 "
           "above the\n"
           "                   pre-edge (default), or the refined maximum of dmu/dE\n"
           "  -o OUT.csv       write energy,mu,pre_edge,post_edge,norm,flat,dmude\n"
           "  --json           print one JSON object with every value and parameter used\n\n"
           "%s\n"
           "exit status: 0 ok, 1 bad or unusable spectrum, 2 usage error.\n",
           cli_spectrum_options_help());
}

static int edge_option(const char *cmd, const cli_opt *o, char *value)
{
    if (value == NULL || (strcmp(value, "half") != 0 && strcmp(value, "deriv") != 0))
        return cli_usage_error(cmd, "option --edge wants 'half' or 'deriv', got '%s'",
                               value == NULL ? "" : value);
    *(const char **)o->dst = value;
    return 0;
}

/* A second SPECTRUM argument. */
static int second_spectrum(const char *cmd, const cli_opt *o, char *value)
{
    return cli_usage_error(cmd, "one spectrum only ('%s' and '%s' given)", *(const char **)o->dst,
                           value);
}

/* Re-raises err with the file name in front, then prints it. */
static int fail_file(const char *path, const xanes_error *err)
{
    xanes_error e2;
    xanes_error_clear(&e2);
    XANES_RAISE(&e2, err->status, "%s: %s", path, err->message);
    return cli_fail(CMD, &e2);
}

static int write_csv(const char *out, const xanes_spectrum *s, const double *pre,
                     const double *post, const double *norm, const double *flat, const double *dmu)
{
    size_t len = strlen(out);
    char *tmp = malloc(len + 16);
    if (tmp == NULL) {
        fprintf(stderr, "xanes norm: out of memory\n");
        return CLI_EXIT_DATA;
    }
    snprintf(tmp, len + 16, "%s.tmpXXXXXX", out);
    int fd = mkstemp(tmp);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (f == NULL) {
        fprintf(stderr, "xanes norm: cannot create a temporary file beside %s\n", out);
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        free(tmp);
        return CLI_EXIT_DATA;
    }
    int bad = fprintf(f, "energy,mu,pre_edge,post_edge,norm,flat,dmude\n") < 0;
    for (size_t i = 0; i < s->n && !bad; i++)
        bad = fprintf(f, "%.10g,%.10g,%.10g,%.10g,%.10g,%.10g,%.10g\n", s->energy_ev[i], s->mu[i],
                      pre[i], post[i], norm[i], flat[i], dmu[i]) < 0;
    bad |= fclose(f) != 0;
    if (!bad)
        bad = rename(tmp, out) != 0;
    if (bad) {
        unlink(tmp);
        fprintf(stderr, "xanes norm: cannot write %s\n", out);
    }
    free(tmp);
    return bad ? CLI_EXIT_DATA : CLI_EXIT_OK;
}

static cJSON *num_or_null(double v)
{
    return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

static void print_json(const xanes_spectrum *s, const xanes_normalize_result *r, int e0_given,
                       const char *edge_method, double edge_ev)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "file", s->path);
    cJSON_AddStringToObject(o, "mu_formula", s->mu_formula);
    cJSON_AddNumberToObject(o, "n", (double)s->n);
    cJSON_AddItemToObject(o, "e0_ev", num_or_null(r->e0_ev));
    cJSON_AddStringToObject(
        o, "e0_source", e0_given ? "given (snapped to nearest sample)" : "find_e0 (larch 0.9.58)");
    cJSON_AddItemToObject(o, "edge_step", num_or_null(r->edge_step));
    cJSON_AddItemToObject(o, "edge_step_signed", num_or_null(r->edge_step_signed));
    cJSON_AddItemToObject(o, "half_edge_ev", num_or_null(r->half_edge_ev));
    cJSON_AddItemToObject(o, "deriv_edge_ev", num_or_null(r->deriv_edge_ev));
    cJSON_AddStringToObject(o, "edge_method", edge_method);
    cJSON_AddItemToObject(o, "edge_ev", num_or_null(edge_ev));
    cJSON_AddItemToObject(o, "pre_slope", num_or_null(r->pre_slope));
    cJSON_AddItemToObject(o, "pre_offset", num_or_null(r->pre_offset));
    cJSON *pc = cJSON_AddArrayToObject(o, "post_coef_e_minus_e0");
    for (int k = 0; k <= r->nnorm; k++)
        cJSON_AddItemToArray(pc, num_or_null(r->post_coef[k]));
    cJSON_AddNumberToObject(o, "pre1", r->pre1_ev);
    cJSON_AddNumberToObject(o, "pre2", r->pre2_ev);
    cJSON_AddNumberToObject(o, "norm1", r->norm1_ev);
    cJSON_AddNumberToObject(o, "norm2", r->norm2_ev);
    cJSON_AddNumberToObject(o, "nnorm", r->nnorm);
    cJSON_AddNumberToObject(o, "nvict", r->nvict);
    cJSON_AddItemToObject(o, "pre_rms", num_or_null(r->pre_rms));
    cJSON_AddItemToObject(o, "post_rms", num_or_null(r->post_rms));
    cJSON_AddStringToObject(o, "rules", "larch 0.9.58 pre_edge/find_e0");
    char *text = cJSON_Print(o);
    if (text != NULL)
        printf("%s\n", text);
    free(text);
    cJSON_Delete(o);
}

int xanes_cmd_norm(int argc, char **argv)
{
    int rc = CLI_EXIT_DATA;
    xanes_spectrum *s = NULL;
    xanes_normalize_workspace *w = NULL;
    double *buf = NULL;
    xanes_spectrum_options sopt;
    xanes_spectrum_default_options(&sopt);
    xanes_normalize_params p;
    xanes_normalize_default_params(&p);
    const char *path = NULL, *out = NULL, *edge = "half";
    int json = 0;
    const cli_opt opts[] = {
        {"spectrum options", CLI_SPECTRUM_OPTIONS, NULL, &sopt, 0, 0},
        {"SPECTRUM", CLI_ONE_FILE, second_spectrum, &path, 0, 0},
        {"--json", CLI_FLAG, cli_opt_flag, &json, 0, 0},
        {"--e0", CLI_VALUE, cli_opt_double, &p.e0_ev, 1.0, 2e5},
        {"--pre1", CLI_VALUE, cli_opt_double, &p.pre1_ev, -1e4, 0.0},
        {"--pre2", CLI_VALUE, cli_opt_double, &p.pre2_ev, -1e4, 0.0},
        {"--norm1", CLI_VALUE, cli_opt_double, &p.norm1_ev, 0.0, 1e4},
        {"--norm2", CLI_VALUE, cli_opt_double, &p.norm2_ev, -1e4, 1e4},
        {"--nnorm", CLI_VALUE, cli_opt_int, &p.nnorm, 0, XANES_NORMALIZE_MAX_NNORM},
        {"--nvict", CLI_VALUE, cli_opt_double, &p.nvict, -5.0, 5.0},
        {"--edge", CLI_VALUE_OR_NULL, edge_option, &edge, 0, 0},
        {"-o", CLI_VALUE_OR_NULL, cli_opt_file, &out, 0, 0},
        {"--output", CLI_VALUE_OR_NULL, cli_opt_file, &out, 0, 0},
        {0},
    };
    int parsed = cli_parse_command(CMD, print_help, opts, argc, argv);
    if (parsed != CLI_PARSED)
        return parsed;
    if (path == NULL)
        return cli_usage_error(CMD, "no spectrum file given");
    int out_rc = cli_check_output(CMD, out);
    if (out_rc != CLI_EXIT_OK)
        return out_rc;

    xanes_error err;
    xanes_error_clear(&err);
    if (xanes_spectrum_read(path, &sopt, &s, &err) != XANES_OK) {
        rc = cli_fail(CMD, &err);
        goto done;
    }
    size_t n = s->n;
    w = xanes_normalize_workspace_alloc(n);
    buf = malloc(5 * n * sizeof(double));
    if (w == NULL || buf == NULL) {
        fprintf(stderr, "xanes norm: out of memory for %zu points\n", n);
        goto done;
    }
    double *norm = buf, *flat = buf + n, *pre = buf + 2 * n, *post = buf + 3 * n,
           *dmu = buf + 4 * n;
    xanes_normalize_result r;
    if (xanes_normalize_run(s->energy_ev, s->mu, n, &p, w, &r, norm, flat, &err) != XANES_OK) {
        rc = fail_file(path, &err);
        goto done;
    }
    int half = strcmp(edge, "half") == 0;
    double edge_ev = half ? r.half_edge_ev : r.deriv_edge_ev;
    if (!isfinite(edge_ev)) {
        fprintf(stderr,
                "xanes norm: %s: no %s edge found between the pre-edge range (ends e0%+.1f eV) "
                "and the post-edge range (starts e0%+.1f eV); e0 = %.2f eV, edge step %.4g\n",
                path, half ? "half" : "derivative", r.pre2_ev, r.norm1_ev, r.e0_ev, r.edge_step);
        rc = CLI_EXIT_DATA;
        goto done;
    }
    /* A post-edge that the polynomial cannot follow (saturated or glitched
     * scans, e.g. APS12BM's mu01) is reported, not hidden. */
    if (r.post_rms > 0.1 * r.edge_step)
        fprintf(stderr,
                "xanes norm: warning: %s: post-edge residual RMS %.3g is %.0f%% of the edge "
                "step %.3g: the spectrum is noisy, saturated or glitched; check it\n",
                path, r.post_rms, 100.0 * r.post_rms / r.edge_step, r.edge_step);
    if (out != NULL) {
        xanes_normalize_curves(s->energy_ev, n, &r, pre, post);
        xanes_edge_dmude(s->energy_ev, s->mu, n, dmu);
        rc = write_csv(out, s, pre, post, norm, flat, dmu);
        if (rc != CLI_EXIT_OK)
            goto done;
    }
    if (json) {
        print_json(s, &r, isfinite(p.e0_ev), half ? "half" : "deriv", edge_ev);
    } else {
        printf("%s: e0 %.3f eV, edge step %.6g, %s edge %.3f eV\n", path, r.e0_ev, r.edge_step,
               half ? "half" : "derivative", edge_ev);
        printf("  pre-edge e0%+.1f..e0%+.1f eV, post-edge e0%+.1f..e0%+.1f eV, nnorm %d, nvict "
               "%g\n",
               r.pre1_ev, r.pre2_ev, r.norm1_ev, r.norm2_ev, r.nnorm, r.nvict);
    }
    rc = CLI_EXIT_OK;
done:
    free(buf);
    xanes_normalize_workspace_free(w);
    xanes_spectrum_free(s);
    return rc;
}
