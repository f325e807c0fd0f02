/* cmd_run.c: `xanes run`, one TXM-XANES stack to calibrated edge-energy, SoC
 * and particle maps.  Parses the options into xanes_run_params, calls
 * xanes_run (include/xanes/run.h), prints a one-screen summary (or JSON) on
 * stdout and, when stderr is a terminal, the stage in progress on stderr. */
#define _POSIX_C_SOURCE 200809L

#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <omp.h>

#include "xanes/run.h"

static const char *const CMD = "run";

static void print_help(void)
{
    printf("usage: xanes run STACK.h5 -o OUTDIR [options] [stack options]\n\n"
           "TXM-XANES stack -> calibrated edge-energy, SoC and particle maps.  Stages: read +\n"
           "dark/flat correction, energy calibration, drift alignment, per-pixel normalization\n"
           "and edge energy, particle segmentation (the jump map smoothed more when it is\n"
           "noise-limited), spectral denoising of the particle pixels (principal components),\n"
           "per-particle statistics.  Every edge energy (pixels, particle spectra, the\n"
           "reference) uses the edge_definition of the standards file (fixed e0 at the anchor\n"
           "standard, fixed windows, Steffen crossing).\n\n"
           "  -o, --output OUTDIR   directory for results.h5, particles.csv, edge_map.png,\n"
           "                        soc_map.png, particles.png, edge_histogram.png (written\n"
           "                        whole or not at all)\n"
           "  --calib REF           measured reference spectrum (XDI/columns) on the stack's\n"
           "                        energy axis; needs --ref-edge\n"
           "  --ref-edge EV         true edge energy of that reference (e.g. NiO 8353.01)\n"
           "  --energy-offset EV    calibrated E = stored E + EV (instead of --calib)\n"
           "  --edge half|deriv     edge energy: half height of the normalized jump (default)\n"
           "                        or maximum of dmu/dE (pixels, particles, calibration)\n"
           "  --no-align            do not correct sample drift\n"
           "  --align-ref FRAME|post-edge|sum  reference image of the alignment (default\n"
           "                        post-edge: mean of the top third of the energy range)\n"
           "  --threads N           OpenMP threads (default: all cores)\n"
           "  --min-area PX         smallest particle kept, pixels (default 20)\n"
           "  --overcharge-ev EV    overcharge threshold (default: calibration/standards.json)\n"
           "  --min-jump-snr X      keep a pixel's edge only when jump >= X * noise (default 8)\n"
           "  --threshold VALUE     edge-jump threshold of the particle mask (default Otsu)\n"
           "  --standards FILE      standards file (default calibration/standards.json)\n"
           "  --footprint-px R      average each particle's spectrum over its mask grown by R px\n"
           "                        into the background (0 = the mask itself; default: 1 px\n"
           "                        when the mask is noise-limited, Otsu contrast < 20, else 0)\n"
           "  --denoise pca|none    project the particle pixels' spectra and each particle's\n"
           "                        averaged spectrum onto principal components (of the\n"
           "                        particles' averaged spectra, or of the particle pixels\n"
           "                        when the jump map is noise-limited or there are under 6\n"
           "                        particles) before their edges are found (default pca;\n"
           "                        none: raw spectra)\n"
           "  --json                print the summary as one JSON object\n"
           "  -h, --help            this text\n\n%s",
           cli_stack_options_help());
}

/* Progress on stderr, one line per stage, only on a terminal. */
static void progress(void *user, xanes_run_stage stage)
{
    (void)user;
    fprintf(stderr, "\rxanes run: %-10s", xanes_run_stage_name(stage));
    if (stage == XANES_RUN_STAGE_WRITE)
        fputc('\n', stderr);
    fflush(stderr);
}

/* The command line as one string, for results.h5. */
static char *join_args(int argc, char **argv)
{
    size_t len = 16;
    for (int i = 0; i < argc; i++)
        len += strlen(argv[i]) + 1;
    char *s = malloc(len);
    if (s == NULL)
        return NULL;
    strcpy(s, "xanes");
    for (int i = 0; i < argc; i++) {
        strcat(s, " ");
        strcat(s, argv[i]);
    }
    return s;
}

static double max_abs_shift(const xanes_run_result *r)
{
    double m = 0.0;
    for (size_t k = 0; k < 2 * r->n_energy; k++)
        if (isfinite(r->shifts_px[k]) && fabs(r->shifts_px[k]) > m)
            m = fabs(r->shifts_px[k]);
    return m;
}

static double total_seconds(const xanes_run_result *r)
{
    double t = 0.0;
    for (int s = 0; s < XANES_RUN_N_STAGES; s++)
        t += r->seconds[s];
    return t;
}

static void print_summary(const char *stack, const char *outdir, const xanes_run_params *p,
                          const xanes_run_result *r)
{
    const char *calib = p->calib_path;
    printf("stack: %s (%s, %zu x %zu px, %zu energies %.2f .. %.2f eV)\n", stack, r->layout_name,
           r->ny, r->nx, r->n_energy, r->energy_raw_ev[0], r->energy_raw_ev[r->n_energy - 1]);
    if (strcmp(r->offset_source, "reference spectrum") == 0)
        printf("energy offset: %+.3f eV (reference %s: edge %.3f eV measured, %.3f eV true)\n",
               r->energy_offset_ev, calib, r->ref_measured_edge_ev, r->ref_edge_ev);
    else
        printf("energy offset: %+.3f eV (%s)\n", r->energy_offset_ev, r->offset_source);
    if (r->aligned) {
        printf("alignment: %zu of %zu frames aligned, largest shift %.2f px",
               r->n_energy - r->n_frames_not_aligned, r->n_energy, max_abs_shift(r));
        /* Frames left unshifted (flat, featureless) are named, not hidden. */
        size_t shown = 0;
        for (size_t k = 0; k < r->n_energy && shown < 10; k++)
            if (!r->frame_ok[k])
                printf("%s%zu", shown++ ? ", " : "; not aligned: frames ", k);
        if (r->n_frames_not_aligned > shown)
            printf(", ...");
        printf("\n");
    } else
        printf("alignment: off (--no-align)\n");
    const xanes_edgemap_counts *c = &r->edgemap_counts;
    printf("pixels: %zu with an edge energy, %zu rejected by the noise gate (edge jump < %g x "
           "pre-edge noise), %zu invalid, %zu without an edge (e0 %.2f eV)\n",
           c->n_edge, c->n_low_jump, p->edgemap.min_jump_over_noise, c->n_invalid, c->n_no_edge,
           r->norm.e0_ev);
    if (r->subspace_rank > 0) {
        const xanes_edgemap_counts *d = &r->denoise_info.counts;
        printf("denoise: subspace of rank %zu (line + %zu components) from %zu blocks; %zu "
               "particle pixels re-mapped from projected spectra, %zu with an edge, %zu "
               "rejected by the gate\n",
               r->subspace_rank, r->subspace_rank - 2, r->subspace_blocks, d->n_pixels, d->n_edge,
               d->n_low_jump);
        if (r->means_subspace_rank > 0)
            printf("denoise: averaged spectra projected onto their own subspace, rank %zu from "
                   "%zu spectra\n",
                   r->means_subspace_rank, r->means_subspace_spectra);
        else
            printf("denoise: averaged spectra projected onto the block subspace (%s)\n",
                   r->noise_limited ? "noise-limited jump map" : "too few particles");
    } else if (p->denoise) {
        printf("denoise: off for this stack (too few particle pixels for principal "
               "components)\n");
    }
    printf("particles: %zu (edge-jump threshold %.4g, %zu split, %zu removed as too small)\n",
           r->n_particles, r->segment_info.threshold, r->segment_info.n_split,
           r->segment_info.n_removed_small);
    if (isfinite(r->particle_edge_mean_ev))
        printf("edge energy: %.3f +- %.3f eV (mean +- std of the particle means)\n",
               r->particle_edge_mean_ev, r->particle_edge_std_ev);
    else
        printf("edge energy: none (no particle with an edge energy)\n");
    printf("overcharged particles: %zu of %zu (mean edge above %.2f eV)\n", r->n_overcharged,
           r->n_particles, r->overcharge_ev);
    const size_t show = r->n_particles < 12 ? r->n_particles : 12;
    if (show > 0)
        printf("  label  area_px  edge_mean_ev  edge_std_ev  spectrum_ev    soc  overcharged\n");
    for (size_t i = 0; i < show; i++) {
        const xanes_particle *q = &r->particles[i];
        printf("  %5d  %7zu  %12.3f  %11.3f  %11.3f  %5.3f  %10.1f%%\n", (int)q->label, q->area_px,
               q->edge_mean_ev, q->edge_std_ev, q->edge_mean_spectrum_ev, q->soc_mean,
               100.0 * q->overcharged_fraction);
    }
    if (show < r->n_particles)
        printf("  ... %zu more in particles.csv\n", r->n_particles - show);
    printf("outputs: %s/ (results.h5 particles.csv edge_map.png soc_map.png particles.png "
           "edge_histogram.png)\n",
           outdir);
    printf("time: %.3f s (", total_seconds(r));
    for (int s = 0; s < XANES_RUN_N_STAGES; s++)
        printf("%s%s %.3f", s ? ", " : "", xanes_run_stage_name((xanes_run_stage)s), r->seconds[s]);
    printf(") on %d threads\n", omp_get_max_threads());
}

/* JSON numbers: NaN becomes null (JSON has no NaN). */
static cJSON *num(double v)
{
    return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

static int print_json(const char *stack, const char *outdir, const xanes_run_result *r)
{
    cJSON *o = cJSON_CreateObject(), *a, *t;
    if (o == NULL)
        return 1;
    cJSON_AddStringToObject(o, "stack", stack);
    cJSON_AddStringToObject(o, "layout", r->layout_name);
    cJSON_AddNumberToObject(o, "ny", (double)r->ny);
    cJSON_AddNumberToObject(o, "nx", (double)r->nx);
    cJSON_AddNumberToObject(o, "n_energy", (double)r->n_energy);
    cJSON_AddStringToObject(o, "output_dir", outdir);
    cJSON_AddItemToObject(o, "energy_offset_ev", num(r->energy_offset_ev));
    cJSON_AddStringToObject(o, "energy_offset_source", r->offset_source);
    cJSON_AddItemToObject(o, "reference_measured_edge_ev", num(r->ref_measured_edge_ev));
    cJSON_AddItemToObject(o, "reference_edge_ev", num(r->ref_edge_ev));
    cJSON_AddBoolToObject(o, "aligned", r->aligned);
    cJSON_AddNumberToObject(o, "frames_not_aligned", (double)r->n_frames_not_aligned);
    cJSON_AddItemToObject(o, "max_shift_px", num(max_abs_shift(r)));
    cJSON_AddItemToObject(o, "e0_ev", num(r->norm.e0_ev));
    cJSON_AddNumberToObject(o, "pixels_with_edge", (double)r->edgemap_counts.n_edge);
    cJSON_AddNumberToObject(o, "pixels_gated", (double)r->edgemap_counts.n_low_jump);
    cJSON_AddNumberToObject(o, "pixels_invalid", (double)r->edgemap_counts.n_invalid);
    cJSON_AddNumberToObject(o, "pixels_no_edge", (double)r->edgemap_counts.n_no_edge);
    cJSON_AddNumberToObject(o, "denoise_rank", (double)r->subspace_rank);
    cJSON_AddNumberToObject(o, "denoise_means_rank", (double)r->means_subspace_rank);
    cJSON_AddNumberToObject(o, "denoise_pixels_with_edge", (double)r->denoise_info.counts.n_edge);
    cJSON_AddNumberToObject(o, "denoise_pixels_gated", (double)r->denoise_info.counts.n_low_jump);
    cJSON_AddItemToObject(o, "jump_threshold", num(r->segment_info.threshold));
    cJSON_AddNumberToObject(o, "n_particles", (double)r->n_particles);
    cJSON_AddItemToObject(o, "edge_mean_ev", num(r->particle_edge_mean_ev));
    cJSON_AddItemToObject(o, "edge_std_ev", num(r->particle_edge_std_ev));
    cJSON_AddNumberToObject(o, "n_overcharged", (double)r->n_overcharged);
    cJSON_AddItemToObject(o, "overcharge_threshold_ev", num(r->overcharge_ev));
    a = cJSON_AddArrayToObject(o, "particles");
    for (size_t i = 0; a != NULL && i < r->n_particles; i++) {
        const xanes_particle *q = &r->particles[i];
        cJSON *e = cJSON_CreateObject();
        if (e == NULL)
            break;
        cJSON_AddNumberToObject(e, "label", q->label);
        cJSON_AddNumberToObject(e, "area_px", (double)q->area_px);
        cJSON_AddItemToObject(e, "centroid_x", num(q->centroid_x_px));
        cJSON_AddItemToObject(e, "centroid_y", num(q->centroid_y_px));
        cJSON_AddItemToObject(e, "edge_mean_ev", num(q->edge_mean_ev));
        cJSON_AddItemToObject(e, "edge_std_ev", num(q->edge_std_ev));
        cJSON_AddItemToObject(e, "edge_median_ev", num(q->edge_median_ev));
        cJSON_AddItemToObject(e, "edge_mean_spectrum_ev", num(q->edge_mean_spectrum_ev));
        cJSON_AddItemToObject(e, "soc_mean", num(q->soc_mean));
        cJSON_AddItemToObject(e, "valence_mean", num(q->valence_mean));
        cJSON_AddItemToObject(e, "overcharged_fraction", num(q->overcharged_fraction));
        cJSON_AddItemToArray(a, e);
    }
    t = cJSON_AddObjectToObject(o, "seconds");
    for (int s = 0; t != NULL && s < XANES_RUN_N_STAGES; s++)
        cJSON_AddNumberToObject(t, xanes_run_stage_name((xanes_run_stage)s), r->seconds[s]);
    cJSON_AddNumberToObject(o, "threads", omp_get_max_threads());
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    if (text == NULL)
        return 1;
    printf("%s\n", text);
    free(text);
    return 0;
}

/* What the option table of `run` fills beside the run parameters. */
typedef struct {
    xanes_run_params *p;
    int threads; /* 0: all cores */
    int align_ref_given;
} run_cli;

static int second_stack(const char *cmd, const cli_opt *o, char *value)
{
    return cli_usage_error(cmd, "one stack expected, got '%s' and '%s'", *(const char **)o->dst,
                           value);
}

static int no_align_option(const char *cmd, const cli_opt *o, char *value)
{
    (void)cmd;
    (void)value;
    ((xanes_run_params *)o->dst)->align = 0;
    return 0;
}

/* --threshold VALUE: a fixed threshold instead of Otsu's. */
static int threshold_option(const char *cmd, const cli_opt *o, char *value)
{
    xanes_segment_params *sp = o->dst;
    if (cli_parse_double(cmd, o->name, value, o->lo, o->hi, &sp->threshold_value))
        return 1;
    sp->threshold_method = XANES_THRESHOLD_VALUE;
    return 0;
}

static int min_area_option(const char *cmd, const cli_opt *o, char *value)
{
    long m;
    if (cli_parse_long(cmd, o->name, value, (long)o->lo, (long)o->hi, &m))
        return 1;
    ((xanes_segment_params *)o->dst)->min_area_px = (size_t)m;
    return 0;
}

static int denoise_option(const char *cmd, const cli_opt *o, char *value)
{
    xanes_run_params *p = o->dst;
    if (strcmp(value, "pca") == 0)
        p->denoise = 1;
    else if (strcmp(value, "none") == 0)
        p->denoise = 0;
    else
        return cli_usage_error(cmd, "--denoise must be pca or none, got '%s'", value);
    return 0;
}

static int edge_option(const char *cmd, const cli_opt *o, char *value)
{
    xanes_run_params *p = o->dst;
    if (strcmp(value, "half") == 0)
        p->edge = XANES_EDGEMAP_HALF;
    else if (strcmp(value, "deriv") == 0)
        p->edge = XANES_EDGEMAP_DERIV;
    else
        return cli_usage_error(cmd, "option --edge: '%s' is not half or deriv", value);
    return 0;
}

/* --align-ref FRAME|post-edge|sum. */
static int align_ref_option(const char *cmd, const cli_opt *o, char *value)
{
    run_cli *c = o->dst;
    xanes_align_params *ap = &c->p->align_params;
    c->align_ref_given = 1;
    if (strcmp(value, "post-edge") == 0) {
        ap->reference = XANES_ALIGN_REF_POST_EDGE;
    } else if (strcmp(value, "sum") == 0) {
        ap->reference = XANES_ALIGN_REF_SUM;
    } else {
        long f;
        if (cli_parse_long(cmd, o->name, value, (long)o->lo, (long)o->hi, &f))
            return 1;
        ap->reference = XANES_ALIGN_REF_FRAME;
        ap->ref_frame = (size_t)f;
    }
    return 0;
}

int xanes_cmd_run(int argc, char **argv)
{
    const char *stack = NULL, *outdir = NULL;
    int json = 0;
    xanes_run_params p;
    xanes_run_default_params(&p);
    xanes_run_result *r = NULL;
    char *cmdline = NULL;
    xanes_error err;
    xanes_error_clear(&err);

    run_cli c = {&p, 0, 0};
    const cli_opt opts[] = {
        {"stack options", CLI_STACK_OPTIONS, NULL, &p.stack, 0, 0},
        {"STACK", CLI_ONE_FILE, second_stack, &stack, 0, 0},
        {"--json", CLI_FLAG, cli_opt_flag, &json, 0, 0},
        {"--no-align", CLI_FLAG, no_align_option, &p, 0, 0},
        {"-o", CLI_VALUE, cli_opt_string, &outdir, 0, 0},
        {"--output", CLI_VALUE, cli_opt_string, &outdir, 0, 0},
        {"--calib", CLI_VALUE, cli_opt_string, &p.calib_path, 0, 0},
        {"--standards", CLI_VALUE, cli_opt_string, &p.standards_path, 0, 0},
        {"--ref-edge", CLI_VALUE, cli_opt_double, &p.ref_edge_ev, 100.0, 2e5},
        {"--energy-offset", CLI_VALUE, cli_opt_double, &p.energy_offset_ev, -1000.0, 1000.0},
        {"--overcharge-ev", CLI_VALUE, cli_opt_double, &p.overcharge_ev, 100.0, 2e5},
        {"--min-jump-snr", CLI_VALUE, cli_opt_double, &p.edgemap.min_jump_over_noise, 0.0, 1e6},
        {"--threshold", CLI_VALUE, threshold_option, &p.segment, -1e6, 1e6},
        {"--threads", CLI_VALUE, cli_opt_int, &c.threads, 1, 4096},
        {"--min-area", CLI_VALUE, min_area_option, &p.segment, 1, 100000000},
        {"--footprint-px", CLI_VALUE, cli_opt_double, &p.footprint_px, 0.0, XANES_FOOTPRINT_MAX_PX},
        {"--denoise", CLI_VALUE, denoise_option, &p, 0, 0},
        {"--edge", CLI_VALUE, edge_option, &p, 0, 0},
        {"--align-ref", CLI_VALUE, align_ref_option, &c, 0, 1000000},
        {0},
    };
    int parsed = cli_parse_command(CMD, print_help, opts, argc, argv);
    if (parsed != CLI_PARSED)
        return parsed;
    const int align_ref_given = c.align_ref_given;
    const long threads = c.threads;
    if (stack == NULL)
        return cli_usage_error(CMD, "no stack given (usage: xanes run STACK.h5 -o OUTDIR)");
    if (outdir == NULL)
        return cli_usage_error(CMD, "no output directory given (-o OUTDIR)");
    if (p.calib_path != NULL && isnan(p.ref_edge_ev))
        return cli_usage_error(CMD, "--calib %s needs --ref-edge EV (the reference's true edge)",
                               p.calib_path);
    if (p.calib_path == NULL && !isnan(p.ref_edge_ev))
        return cli_usage_error(CMD, "--ref-edge needs --calib REF_SPECTRUM");
    if (p.calib_path != NULL && !isnan(p.energy_offset_ev))
        return cli_usage_error(CMD, "give either --calib or --energy-offset, not both");
    if (align_ref_given && !p.align)
        return cli_usage_error(CMD, "--align-ref makes no sense with --no-align");
    if (threads > 0)
        omp_set_num_threads((int)threads);
    if (isatty(STDERR_FILENO))
        p.progress = progress;
    cmdline = join_args(argc, argv);
    p.command_line = cmdline;

    int rc = CLI_EXIT_OK;
    if (xanes_run(stack, &p, outdir, &r, &err) != XANES_OK) {
        if (p.progress != NULL)
            fputc('\n', stderr); /* end the progress line before the message */
        rc = cli_fail(CMD, &err);
        goto done;
    }
    if (r->stack_warning[0] != '\0')
        fprintf(stderr, "xanes %s: warning: %s\n", CMD, r->stack_warning);
    if (r->window_warning[0] != '\0')
        fprintf(stderr, "xanes %s: warning: %s\n", CMD, r->window_warning);
    if (json) {
        if (print_json(stack, outdir, r) != 0) {
            fprintf(stderr, "xanes %s: out of memory printing JSON\n", CMD);
            rc = CLI_EXIT_DATA;
        }
    } else {
        print_summary(stack, outdir, &p, r);
    }
done:
    xanes_run_result_free(r);
    free(cmdline);
    return rc;
}
