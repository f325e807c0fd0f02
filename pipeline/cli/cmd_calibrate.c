/* cmd_calibrate.c: `xanes calibrate`, the energy offset of a measured
 * reference spectrum, by its edge energy and/or by derivative alignment to a
 * stored reference spectrum.  Parses, calls calibrate.h, prints. */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "xanes/calibrate.h"
#include "xanes/spectrum.h"
#include "xanes/standards.h"

static const char *const CMD = "calibrate";

static void print_help(void)
{
    printf("usage: xanes calibrate REF_SPECTRUM (--ref-edge EV | --standard NAME | "
           "--ref-spectrum STORED)\n"
           "                       [options] [spectrum options]\n\n"
           "Energy offset of a measured reference spectrum.  Sign: calibrated E = raw E + "
           "offset_ev,\n"
           "i.e. offset_ev = reference_edge_ev - measured_edge_ev.\n\n"
           "  --ref-edge EV         known edge energy of the reference material (eV)\n"
           "  --standard NAME       take it from the standards file: nio, ni4, pristine\n"
           "  --standards FILE      standards file (default $XANES_CALIBRATION_DIR/"
           "standards.json)\n"
           "  --edge half|deriv     edge definition: half height of the normalized jump "
           "(default)\n"
           "                        or maximum of dmu/dE\n"
           "  --ref-spectrum FILE   also align to this stored reference spectrum by "
           "cross-correlating\n"
           "                        derivatives (no edge definition); without --ref-edge the "
           "reference\n"
           "                        edge is this spectrum's edge by --edge\n"
           "  --max-shift EV        alignment search range (default 20)\n"
           "  --sigma EV            derivative smoothing width for alignment (default 0.5)\n"
           "  --json                print one JSON object\n"
           "  -h, --help            this text\n\n"
           "The stored reference is read with default column rules.\n%s",
           cli_spectrum_options_help());
}

static int edge_option(const char *cmd, const cli_opt *o, char *value)
{
    xanes_calibrate_edge *edge = o->dst;
    if (strcmp(value, "half") == 0)
        *edge = XANES_CALIBRATE_EDGE_HALF;
    else if (strcmp(value, "deriv") == 0)
        *edge = XANES_CALIBRATE_EDGE_DERIV;
    else
        return cli_usage_error(cmd, "option --edge: '%s' is not half or deriv", value);
    return 0;
}

/* A second REF_SPECTRUM argument. */
static int second_spectrum(const char *cmd, const cli_opt *o, char *value)
{
    return cli_usage_error(cmd, "one reference spectrum expected, got '%s' and '%s'",
                           *(const char **)o->dst, value);
}

static int add_norm_json(cJSON *o, const xanes_normalize_result *n)
{
    return cJSON_AddNumberToObject(o, "e0_ev", n->e0_ev) == NULL ||
           cJSON_AddNumberToObject(o, "edge_step", n->edge_step) == NULL ||
           cJSON_AddNumberToObject(o, "pre1", n->pre1_ev) == NULL ||
           cJSON_AddNumberToObject(o, "pre2", n->pre2_ev) == NULL ||
           cJSON_AddNumberToObject(o, "norm1", n->norm1_ev) == NULL ||
           cJSON_AddNumberToObject(o, "norm2", n->norm2_ev) == NULL ||
           cJSON_AddNumberToObject(o, "nnorm", n->nnorm) == NULL;
}

int xanes_cmd_calibrate(int argc, char **argv)
{
    int rc = CLI_EXIT_OK;
    const char *path = NULL, *stored_path = NULL, *standard = NULL, *standards_file = NULL;
    double ref_edge = NAN;
    int json = 0;
    xanes_spectrum_options sopt;
    xanes_spectrum_default_options(&sopt);
    xanes_calibrate_params p;
    xanes_calibrate_default_params(&p);
    xanes_spectrum *meas = NULL, *stored = NULL;
    cJSON *root = NULL;
    char *text = NULL;
    xanes_error err;
    xanes_error_clear(&err);

    const cli_opt opts[] = {
        {"spectrum options", CLI_SPECTRUM_OPTIONS, NULL, &sopt, 0, 0},
        {"REF_SPECTRUM", CLI_ONE_FILE, second_spectrum, &path, 0, 0},
        {"--json", CLI_FLAG, cli_opt_flag, &json, 0, 0},
        {"--ref-edge", CLI_VALUE, cli_opt_double, &ref_edge, 100.0, 2e5},
        {"--standard", CLI_VALUE, cli_opt_string, &standard, 0, 0},
        {"--standards", CLI_VALUE, cli_opt_string, &standards_file, 0, 0},
        {"--ref-spectrum", CLI_VALUE, cli_opt_string, &stored_path, 0, 0},
        {"--edge", CLI_VALUE, edge_option, &p.edge, 0, 0},
        {"--max-shift", CLI_VALUE, cli_opt_double, &p.align_max_shift_ev, 0.1, 500.0},
        {"--sigma", CLI_VALUE, cli_opt_double, &p.align_sigma_ev, 0.0, 20.0},
        {0},
    };
    int parsed = cli_parse_command(CMD, print_help, opts, argc, argv);
    if (parsed != CLI_PARSED)
        return parsed;
    /* --ref-edge accepts only finite values, so NaN still means "not given". */
    const int have_ref_edge = !isnan(ref_edge);
    if (path == NULL)
        return cli_usage_error(CMD, "no reference spectrum given");
    if (have_ref_edge + (standard != NULL) > 1)
        return cli_usage_error(CMD, "give either --ref-edge or --standard, not both");
    if (!have_ref_edge && standard == NULL && stored_path == NULL)
        return cli_usage_error(CMD, "need the reference's edge: --ref-edge EV, --standard NAME or "
                                    "--ref-spectrum FILE");

    const char *edge_source = have_ref_edge ? "--ref-edge" : NULL;
    if (standard != NULL) {
        xanes_standards std;
        if (strcmp(standard, "nio") != 0 && strcmp(standard, "ni4") != 0 &&
            strcmp(standard, "pristine") != 0)
            return cli_usage_error(CMD, "option --standard: '%s' is not nio, ni4 or pristine",
                                   standard);
        if (xanes_standards_load(standards_file, &std, &err) != XANES_OK)
            return cli_fail(CMD, &err);
        ref_edge = strcmp(standard, "nio") == 0   ? std.nio_edge_ev
                   : strcmp(standard, "ni4") == 0 ? std.ni4_edge_ev
                                                  : std.pristine_edge_ev;
        edge_source = "standards file";
    }

    if (xanes_spectrum_read(path, &sopt, &meas, &err) != XANES_OK) {
        rc = cli_fail(CMD, &err);
        goto done;
    }
    xanes_normalize_result stored_norm;
    int stored_edge_used = 0;
    xanes_calibrate_align_result al;
    if (stored_path != NULL) {
        if (xanes_spectrum_read(stored_path, NULL, &stored, &err) != XANES_OK) {
            rc = cli_fail(CMD, &err);
            goto done;
        }
        if (isnan(ref_edge)) {
            if (xanes_calibrate_edge_energy(stored->energy_ev, stored->mu, stored->n, &p, &ref_edge,
                                            &stored_norm, &err) != XANES_OK) {
                fprintf(stderr, "xanes %s: stored reference %s: %s\n", CMD, stored_path,
                        err.message);
                rc = CLI_EXIT_DATA;
                goto done;
            }
            stored_edge_used = 1;
            edge_source = "stored reference spectrum";
        }
        if (xanes_calibrate_align(meas->energy_ev, meas->mu, meas->n, stored->energy_ev, stored->mu,
                                  stored->n, &p, &al, &err) != XANES_OK) {
            fprintf(stderr, "xanes %s: aligning %s to %s: %s\n", CMD, path, stored_path,
                    err.message);
            rc = err.status == XANES_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_DATA;
            goto done;
        }
    }

    xanes_calibrate_edge_result er;
    if (xanes_calibrate_offset(meas->energy_ev, meas->mu, meas->n, ref_edge, &p, &er, &err) !=
        XANES_OK) {
        fprintf(stderr, "xanes %s: %s: %s\n", CMD, path, err.message);
        rc = err.status == XANES_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_DATA;
        goto done;
    }
    const char *edge_name = p.edge == XANES_CALIBRATE_EDGE_DERIV ? "deriv" : "half";

    if (json) {
        root = cJSON_CreateObject();
        int bad = root == NULL;
        bad = bad || cJSON_AddStringToObject(root, "spectrum", path) == NULL;
        bad = bad || cJSON_AddStringToObject(root, "edge", edge_name) == NULL;
        bad = bad || cJSON_AddNumberToObject(root, "measured_edge_ev", er.measured_edge_ev) == NULL;
        bad =
            bad || cJSON_AddNumberToObject(root, "reference_edge_ev", er.reference_edge_ev) == NULL;
        bad = bad || cJSON_AddStringToObject(root, "reference_edge_source", edge_source) == NULL;
        bad = bad || cJSON_AddNumberToObject(root, "offset_ev", er.offset_ev) == NULL;
        bad = bad || add_norm_json(root, &er.norm);
        if (stored != NULL) {
            bad = bad || cJSON_AddStringToObject(root, "ref_spectrum", stored_path) == NULL;
            bad = bad || cJSON_AddNumberToObject(root, "xcorr_offset_ev", al.offset_ev) == NULL;
            bad = bad || cJSON_AddNumberToObject(root, "offset_difference_ev",
                                                 er.offset_ev - al.offset_ev) == NULL;
            bad = bad || cJSON_AddNumberToObject(root, "xcorr_correlation", al.correlation) == NULL;
            bad =
                bad || cJSON_AddNumberToObject(root, "xcorr_window_lo_ev", al.window_lo_ev) == NULL;
            bad =
                bad || cJSON_AddNumberToObject(root, "xcorr_window_hi_ev", al.window_hi_ev) == NULL;
            bad = bad || cJSON_AddNumberToObject(root, "xcorr_sigma_ev", p.align_sigma_ev) == NULL;
            bad = bad || cJSON_AddNumberToObject(root, "xcorr_step_ev", p.align_step_ev) == NULL;
            if (stored_edge_used) {
                cJSON *sn = cJSON_AddObjectToObject(root, "ref_spectrum_norm");
                bad = bad || sn == NULL || add_norm_json(sn, &stored_norm);
            }
        }
        text = bad ? NULL : cJSON_Print(root);
        if (text == NULL) {
            fprintf(stderr, "xanes %s: out of memory building JSON\n", CMD);
            rc = CLI_EXIT_DATA;
            goto done;
        }
        printf("%s\n", text);
    } else {
        printf("spectrum            %s\n", path);
        printf("edge definition     %s (e0 %.3f eV, edge step %.5g)\n", edge_name, er.norm.e0_ev,
               er.norm.edge_step);
        printf("measured_edge_ev    %.4f\n", er.measured_edge_ev);
        printf("reference_edge_ev   %.4f   (%s)\n", er.reference_edge_ev, edge_source);
        printf("offset_ev           %+.4f   (calibrated E = raw E + offset)\n", er.offset_ev);
        if (stored != NULL) {
            printf("xcorr_offset_ev     %+.4f   (derivative alignment to %s, r = %.5f, "
                   "window %.1f..%.1f eV)\n",
                   al.offset_ev, stored_path, al.correlation, al.window_lo_ev, al.window_hi_ev);
            printf("difference_ev       %+.4f   (edge-based - alignment)\n",
                   er.offset_ev - al.offset_ev);
        }
    }

done:
    free(text);
    cJSON_Delete(root);
    xanes_spectrum_free(stored);
    xanes_spectrum_free(meas);
    return rc;
}
