/* cmd_info.c: `xanes info FILE [--json] [options]`, say what a file holds.
 *
 * An HDF5 file (recognised by its signature, or by an .h5/.hdf5/.nxs name
 * so that a corrupt one is reported as HDF5) is described as a TXM stack:
 * layout and why, shape, dtypes, energy range and unit and where the unit came
 * from, flats and darks and whether they are applied, value range and
 * saturation level, pixel size, and the invalid pixels of every frame.  Any
 * other file is read as a 1-D spectrum: format, columns, points, energy
 * range, element and edge, how mu was built.  The reading is done by the
 * library (xanes_stack_probe, xanes_spectrum_read); this file only prints.
 */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

static const char *const CMD = "info";

static void print_help(void)
{
    printf("usage: xanes info FILE [--json] [stack options] [spectrum options]\n\n"
           "Describes an HDF5 TXM-XANES stack (layout, shape, dtypes, energies, flats/darks,\n"
           "value range, invalid pixels per frame) or a 1-D spectrum file (format, columns,\n"
           "points, energy range, element/edge).\n\n"
           "  --json                machine-readable output on stdout\n\n"
           "%s\n%s\n"
           "examples:\n"
           "  xanes info scan.h5\n"
           "  xanes info scan.nxs --layout custom --stack-path /entry/data/data \\\n"
           "                      --energy-path /entry/data/energy --json\n"
           "  xanes info NiO_111.xdi\n\n"
           "exit status: 0 ok, 1 unreadable or invalid file, 2 usage error.\n",
           cli_stack_options_help(), cli_spectrum_options_help());
}

static int looks_like_hdf5(const char *path)
{
    if (xanes_stack_is_hdf5(path))
        return 1;
    static const char *const ext[] = {".h5", ".hdf5", ".hdf", ".nxs", ".he5", ".cxi", NULL};
    size_t n = strlen(path);
    for (size_t k = 0; ext[k] != NULL; k++) {
        size_t e = strlen(ext[k]);
        if (n > e && strcmp(path + n - e, ext[k]) == 0)
            return 1;
    }
    return 0;
}

static const char *unit_text(xanes_energy_unit u)
{
    return u == XANES_UNIT_KEV ? "keV" : "eV";
}

/* cJSON refuses NaN; unknown numbers become null. */
static void json_number(cJSON *o, const char *key, double v)
{
    if (isfinite(v))
        cJSON_AddNumberToObject(o, key, v);
    else
        cJSON_AddNullToObject(o, key);
}

static void json_string_or_null(cJSON *o, const char *key, const char *s)
{
    if (s != NULL && s[0] != '\0')
        cJSON_AddStringToObject(o, key, s);
    else
        cJSON_AddNullToObject(o, key);
}

static int print_json(cJSON *root)
{
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (text == NULL) {
        fprintf(stderr, "xanes info: out of memory writing JSON\n");
        return CLI_EXIT_DATA;
    }
    printf("%s\n", text);
    cJSON_free(text);
    return CLI_EXIT_OK;
}

static int stack_json(const xanes_stack_info *in)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "file", in->path);
    cJSON_AddStringToObject(r, "type", "hdf5-stack");
    cJSON_AddStringToObject(r, "layout", in->layout_name);
    cJSON_AddStringToObject(r, "layout_reason", in->layout_reason);
    cJSON_AddStringToObject(r, "data", xanes_stack_kind_name(in->kind));
    cJSON_AddStringToObject(r, "stack_dataset", in->stack_dataset);
    cJSON_AddStringToObject(r, "stack_dtype", in->stack_dtype);
    double shape[3] = {(double)in->n_energy, (double)in->ny, (double)in->nx};
    cJSON_AddItemToObject(r, "shape", cJSON_CreateDoubleArray(shape, 3));
    cJSON_AddBoolToObject(r, "chunked", in->stack_chunked);
    cJSON_AddBoolToObject(r, "gzip", in->stack_gzip);
    json_string_or_null(r, "flat_dataset", in->flat_dataset);
    json_string_or_null(r, "flat_dtype", in->flat_dtype);
    cJSON_AddNumberToObject(r, "n_flats", (double)in->n_flats);
    json_string_or_null(r, "dark_dataset", in->dark_dataset);
    json_string_or_null(r, "dark_dtype", in->dark_dtype);
    cJSON_AddNumberToObject(r, "n_darks", (double)in->n_darks);
    cJSON_AddBoolToObject(r, "flats_applied", in->flats_applied);
    cJSON_AddBoolToObject(r, "flat_per_energy", in->flat_per_energy);
    cJSON_AddBoolToObject(r, "dark_missing", in->dark_missing);
    cJSON_AddStringToObject(r, "energy_dataset", in->energy_dataset);
    cJSON_AddStringToObject(r, "energy_dtype", in->energy_dtype);
    cJSON_AddStringToObject(r, "energy_unit", unit_text(in->energy_unit_file));
    cJSON_AddStringToObject(r, "energy_unit_source", in->energy_unit_source);
    cJSON_AddNumberToObject(r, "energy_file_min", in->energy_file_min);
    cJSON_AddNumberToObject(r, "energy_file_max", in->energy_file_max);
    cJSON_AddNumberToObject(r, "energy_min_ev", in->energy_min_ev);
    cJSON_AddNumberToObject(r, "energy_max_ev", in->energy_max_ev);
    json_number(r, "value_min", in->value_min);
    json_number(r, "value_max", in->value_max);
    json_number(r, "saturation_value", in->saturation_value);
    json_number(r, "pixel_size_nm", in->pixel_size_nm);
    json_string_or_null(r, "pixel_size_text", in->pixel_size_text);
    json_number(r, "magnification", in->magnification);
    cJSON_AddNumberToObject(r, "n_invalid", (double)in->n_invalid);
    json_string_or_null(r, "warning", in->warning);
    cJSON_AddItemToObject(r, "energies_ev",
                          cJSON_CreateDoubleArray(in->energy_ev, (int)in->n_energy));
    cJSON *frames = cJSON_AddArrayToObject(r, "invalid_per_frame");
    for (size_t k = 0; k < in->n_energy; k++) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddNumberToObject(f, "nonfinite", (double)in->frame_counts[k].nonfinite);
        cJSON_AddNumberToObject(f, "saturated", (double)in->frame_counts[k].saturated);
        cJSON_AddNumberToObject(f, "nonpositive", (double)in->frame_counts[k].nonpositive);
        cJSON_AddItemToArray(frames, f);
    }
    return print_json(r);
}

static void print_reference(const char *label, const char *dset, const char *dtype, size_t n,
                            const xanes_stack_info *in, int per_energy)
{
    if (dset[0] == '\0') {
        printf("%-13s none\n", label);
        return;
    }
    printf("%-13s %s  %s, %zu frame%s", label, dset, dtype, n, n == 1 ? "" : "s");
    if (!in->flats_applied)
        printf(": kept for reference, not applied\n");
    else if (per_energy)
        printf(": one per energy\n");
    else
        printf(": averaged pixel by pixel\n");
}

static int stack_text(const xanes_stack_info *in)
{
    printf("%-13s %s\n", "file", in->path);
    printf("%-13s HDF5 TXM stack, layout %s (%s)\n", "format", in->layout_name, in->layout_reason);
    printf("%-13s %s  %s  %zu energies x %zu rows x %zu columns%s%s\n", "stack", in->stack_dataset,
           in->stack_dtype, in->n_energy, in->ny, in->nx, in->stack_chunked ? ", chunked" : "",
           in->stack_gzip ? ", gzip" : "");
    if (in->kind == XANES_STACK_RAW_COUNTS)
        printf("%-13s raw counts: absorbance = -ln((I - D) / (F - D))%s\n", "data",
               in->dark_missing ? "; no dark field, dark = 0 used" : "");
    else if (in->kind == XANES_STACK_TRANSMISSION)
        printf("%-13s transmission (already flat/dark corrected): absorbance = -ln(T)%s\n", "data",
               in->layout == XANES_LAYOUT_FXI ? "; --raw if it holds raw counts" : "");
    else
        printf("%-13s absorbance -ln(I/I0), used as stored\n", "data");
    printf("%-13s %g .. %g", "values", in->value_min, in->value_max);
    if (isfinite(in->saturation_value))
        printf(" (saturation at %.0f, the %s maximum)", in->saturation_value, in->stack_dtype);
    printf("\n");
    print_reference("flats", in->flat_dataset, in->flat_dtype, in->n_flats, in,
                    in->flat_per_energy);
    print_reference("darks", in->dark_dataset, in->dark_dtype, in->n_darks, in, 0);
    printf("%-13s %s  %s, %zu points, %g .. %g %s (unit from %s) = %.2f .. %.2f eV\n", "energy",
           in->energy_dataset, in->energy_dtype, in->n_energy, in->energy_file_min,
           in->energy_file_max, unit_text(in->energy_unit_file), in->energy_unit_source,
           in->energy_min_ev, in->energy_max_ev);
    if (isfinite(in->pixel_size_nm))
        printf("%-13s %g nm (stored as \"%s\")\n", "pixel size", in->pixel_size_nm,
               in->pixel_size_text);
    else if (in->pixel_size_text[0] != '\0')
        printf("%-13s not understood (stored as \"%s\")\n", "pixel size", in->pixel_size_text);
    else
        printf("%-13s unknown\n", "pixel size");
    if (isfinite(in->magnification))
        printf("%-13s %g\n", "magnification", in->magnification);
    size_t frames_bad = 0, nf = 0, ns = 0, np = 0;
    for (size_t k = 0; k < in->n_energy; k++) {
        const xanes_stack_frame_counts *c = &in->frame_counts[k];
        frames_bad += (c->nonfinite + c->saturated + c->nonpositive) > 0;
        nf += c->nonfinite;
        ns += c->saturated;
        np += c->nonpositive;
    }
    printf("%-13s %zu pixels (NaN in the absorbance) in %zu of %zu frames: non-finite %zu, "
           "saturated %zu, non-positive %zu\n",
           "invalid", in->n_invalid, frames_bad, in->n_energy, nf, ns, np);
    if (in->warning[0] != '\0')
        printf("%-13s %s\n", "warning", in->warning);
    printf("per frame     frame  energy_eV    non-finite  saturated  non-positive\n");
    for (size_t k = 0; k < in->n_energy; k++) {
        const xanes_stack_frame_counts *c = &in->frame_counts[k];
        printf("              %5zu  %9.2f  %10zu %10zu %13zu\n", k, in->energy_ev[k], c->nonfinite,
               c->saturated, c->nonpositive);
    }
    return CLI_EXIT_OK;
}

static int spectrum_info(const char *path, const xanes_spectrum_options *opt, int json)
{
    xanes_error err;
    xanes_error_clear(&err);
    xanes_spectrum *s = NULL;
    if (xanes_spectrum_read(path, opt, &s, &err) != XANES_OK)
        return cli_fail(CMD, &err);
    int rc = CLI_EXIT_OK;
    if (json) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "file", s->path);
        cJSON_AddStringToObject(r, "type", "spectrum");
        cJSON_AddStringToObject(r, "format", s->format);
        cJSON *cols = cJSON_AddArrayToObject(r, "columns");
        for (size_t c = 0; c < s->n_columns && c < XANES_SPECTRUM_MAX_COLUMNS; c++)
            cJSON_AddItemToArray(cols, cJSON_CreateString(s->column_names[c]));
        cJSON_AddNumberToObject(r, "points", (double)s->n);
        cJSON_AddNumberToObject(r, "energy_min_ev", s->energy_ev[0]);
        cJSON_AddNumberToObject(r, "energy_max_ev", s->energy_ev[s->n - 1]);
        cJSON_AddBoolToObject(r, "energy_was_kev", s->energy_was_kev);
        json_string_or_null(r, "element", s->element);
        json_string_or_null(r, "edge", s->edge);
        if (s->mu_missing) {
            cJSON_AddNullToObject(r, "mu");
            cJSON_AddStringToObject(r, "mu_problem", s->mu_formula);
        } else {
            cJSON_AddStringToObject(r, "mu", s->mu_formula);
        }
        rc = print_json(r);
    } else {
        printf("%-13s %s\n", "file", s->path);
        printf("%-13s %s spectrum\n", "format", s->format);
        printf("%-13s %zu:", "columns", s->n_columns);
        for (size_t c = 0; c < s->n_columns && c < XANES_SPECTRUM_MAX_COLUMNS; c++)
            printf(" %s", s->column_names[c]);
        printf("\n%-13s %zu\n", "points", s->n);
        printf("%-13s %.3f .. %.3f eV%s\n", "energy", s->energy_ev[0], s->energy_ev[s->n - 1],
               s->energy_was_kev ? " (converted from keV)" : "");
        printf("%-13s %s %s\n", "element/edge", s->element[0] ? s->element : "unknown",
               s->edge[0] ? s->edge : "");
        if (s->mu_missing)
            printf("%-13s not built: %s%s\n", "mu", s->mu_formula,
                   strstr(s->mu_formula, "--mu-col") != NULL
                       ? ""
                       : "; pick the columns with --mu-col C, --trans I0,IT or --fluor IF,I0");
        else
            printf("%-13s %s\n", "mu", s->mu_formula);
    }
    xanes_spectrum_free(s);
    return rc;
}

/* A second FILE argument. */
static int second_file(const char *cmd, const cli_opt *o, char *value)
{
    return cli_usage_error(cmd, "one file at a time ('%s' and '%s' given)", *(const char **)o->dst,
                           value);
}

int xanes_cmd_info(int argc, char **argv)
{
    xanes_stack_options sopt;
    xanes_spectrum_options popt;
    xanes_stack_default_options(&sopt);
    xanes_spectrum_default_options(&popt);
    const char *path = NULL;
    int json = 0;
    const cli_opt opts[] = {
        {"stack options", CLI_STACK_OPTIONS, NULL, &sopt, 0, 0},
        {"spectrum options", CLI_SPECTRUM_OPTIONS, NULL, &popt, 0, 0},
        {"FILE", CLI_ONE_FILE, second_file, &path, 0, 0},
        {"--json", CLI_FLAG, cli_opt_flag, &json, 0, 0},
        {0},
    };
    int parsed = cli_parse_command(CMD, print_help, opts, argc, argv);
    if (parsed != CLI_PARSED)
        return parsed;
    if (path == NULL)
        return cli_usage_error(CMD, "no file given");
    /* --energy-unit is one option for both kinds of file. */
    popt.energy_unit = sopt.energy_unit;
    /* info describes a file even when mu needs options; it says which. */
    popt.describe_only = 1;
    if (!looks_like_hdf5(path))
        return spectrum_info(path, &popt, json);

    xanes_error err;
    xanes_error_clear(&err);
    xanes_stack_info *info = NULL;
    if (xanes_stack_probe(path, &sopt, &info, &err) != XANES_OK)
        return cli_fail(CMD, &err);
    int rc = json ? stack_json(info) : stack_text(info);
    xanes_stack_info_free(info);
    return rc;
}
