/* run_write.c: the outputs of `xanes run`, written into one directory as a
 * whole or not at all.
 *
 * Every file (results.h5 through results.h, particles.csv, and the four
 * figures through figure.h) is first written into a fresh sibling directory
 * "<outdir>.tmp-<pid>" on the same file system.  Only when all of them are
 * complete does that directory become outdir (one rename(2) when outdir does
 * not exist yet) or are its files renamed one by one over the older outputs
 * of an existing outdir.  Any failure before that point removes the
 * temporary directory, so a failed run never leaves a partial output set.
 * results.h5 records the program version (written by results.c), the command
 * line and every parameter of every stage, resolved values included (e0 and
 * fit ranges of the normalization, the segmentation threshold).
 */
#define _POSIX_C_SOURCE 200809L

#include "xanes/run.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "xanes/figure.h"
#include "xanes/results.h"

/* The files of one run, in the order they are written. */
static const char *const output_names[] = {"results.h5",  "particles.csv", "edge_map.png",
                                           "soc_map.png", "particles.png", "edge_histogram.png"};
enum { N_OUTPUTS = sizeof output_names / sizeof output_names[0] };

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Removes the temporary directory and everything in it (only files: the
 * writers put nothing else there). */
static void remove_tmpdir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *e;
        char path[4200];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            remove(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

static const char *align_ref_name(xanes_align_ref r)
{
    return r == XANES_ALIGN_REF_SUM ? "sum" : r == XANES_ALIGN_REF_FRAME ? "frame" : "post-edge";
}

static const char *or_empty(const char *s)
{
    return s != NULL ? s : "";
}

enum { MAX_PARAMS = 128 };

/* A parameter that does not fit sets `full`, and the write fails with a
 * message instead of dropping it from results.h5 without a word. */
typedef struct {
    xanes_results_text text[MAX_PARAMS];
    size_t n_text;
    xanes_results_number num[MAX_PARAMS];
    size_t n_num;
    int full;
} param_list;

static void add_text(param_list *l, const char *key, const char *value)
{
    if (l->n_text < MAX_PARAMS)
        l->text[l->n_text++] = (xanes_results_text){key, or_empty(value)};
    else
        l->full = 1;
}

static void add_num(param_list *l, const char *key, double value)
{
    if (l->n_num < MAX_PARAMS)
        l->num[l->n_num++] = (xanes_results_number){key, value};
    else
        l->full = 1;
}

/* Every parameter of every stage, with the values the stages resolved. */
static void collect_params(const xanes_run_result *r, const xanes_run_params *p, param_list *l)
{
    const xanes_stack_options *so = &p->stack;
    add_text(l, "stack_file", r->stack_file);
    add_num(l, "threads", r->threads);
    add_text(l, "stack_layout", r->layout_name);
    add_num(l, "stack_raw", so->raw);
    add_num(l, "stack_absorbance", so->absorbance);
    add_text(l, "stack_path", so->stack_path);
    add_text(l, "flat_path", so->flat_path);
    add_text(l, "dark_path", so->dark_path);
    add_text(l, "energy_path", so->energy_path);
    add_text(l, "energy_unit_option",
             so->energy_unit == XANES_UNIT_EV    ? "ev"
             : so->energy_unit == XANES_UNIT_KEV ? "kev"
                                                 : "auto");
    add_text(l, "stack_warning", r->stack_warning);
    add_text(l, "window_warning", r->window_warning);
    add_text(l, "energy_offset_source", r->offset_source);
    add_num(l, "energy_offset_ev", r->energy_offset_ev);
    add_text(l, "calib_spectrum", p->calib_path);
    add_num(l, "calib_ref_edge_ev", r->ref_edge_ev);
    add_num(l, "calib_measured_edge_ev", r->ref_measured_edge_ev);
    add_num(l, "calib_min_edge_snr", p->calibrate.min_edge_snr);
    add_text(l, "edge", p->edge == XANES_EDGEMAP_DERIV ? "deriv" : "half");
    add_num(l, "align", p->align);
    add_text(l, "align_reference", align_ref_name(p->align_params.reference));
    add_num(l, "align_ref_frame", (double)p->align_params.ref_frame);
    add_num(l, "align_post_edge_min_ev", p->align_params.post_edge_min_ev);
    add_num(l, "align_post_edge_fraction", p->align_params.post_edge_fraction);
    add_num(l, "align_bin", (double)p->align_params.bin);
    add_num(l, "align_upsample", (double)p->align_params.upsample);
    add_num(l, "align_window_alpha", p->align_params.window_alpha);
    add_num(l, "align_whiten", p->align_params.whiten);
    add_num(l, "align_min_peak_z", p->align_params.min_peak_z);
    add_num(l, "align_frames_not_aligned", (double)r->n_frames_not_aligned);
    add_text(l, "edge_definition",
             p->use_edge_definition ? "standards file edge_definition (fixed e0, windows)"
                                    : "larch rules (find_e0 of the mean spectrum)");
    add_num(l, "calib_norm_e0_ev", r->ref_norm.e0_ev);
    add_num(l, "calib_norm_pre1_ev", r->ref_norm.pre1_ev);
    add_num(l, "calib_norm_pre2_ev", r->ref_norm.pre2_ev);
    add_num(l, "calib_norm_norm1_ev", r->ref_norm.norm1_ev);
    add_num(l, "calib_norm_norm2_ev", r->ref_norm.norm2_ev);
    add_num(l, "calib_norm_nnorm", r->ref_norm.nnorm);
    add_num(l, "norm_e0_ev", r->norm.e0_ev);
    add_num(l, "norm_pre1_ev", r->norm.pre1_ev);
    add_num(l, "norm_pre2_ev", r->norm.pre2_ev);
    add_num(l, "norm_norm1_ev", r->norm.norm1_ev);
    add_num(l, "norm_norm2_ev", r->norm.norm2_ev);
    add_num(l, "norm_nnorm", r->norm.nnorm);
    add_num(l, "norm_nvict", r->norm.nvict);
    add_num(l, "norm_half_level", p->edgemap.norm.half_level);
    add_text(l, "norm_half_crossing",
             r->norm.crossing == XANES_EDGE_CROSS_STEFFEN ? "steffen" : "linear");
    add_num(l, "edgemap_min_jump_over_noise", p->edgemap.min_jump_over_noise);
    add_num(l, "footprint_px", r->footprint_px);
    add_text(l, "footprint_rule", isnan(p->footprint_px) ? "auto" : "given");
    add_text(l, "denoise", p->denoise ? "pca" : "none");
    add_num(l, "denoise_pixels", (double)r->denoise_info.counts.n_pixels);
    add_num(l, "denoise_pixels_with_edge", (double)r->denoise_info.counts.n_edge);
    add_num(l, "denoise_pixels_gated", (double)r->denoise_info.counts.n_low_jump);
    add_num(l, "denoise_pixels_no_edge", (double)r->denoise_info.counts.n_no_edge);
    add_num(l, "denoise_jump_gain_raw", r->denoise_info.jump_gain_raw);
    add_num(l, "denoise_jump_gain_projected", r->denoise_info.jump_gain_projected);
    add_num(l, "subspace_block_px", (double)p->subspace.block_px);
    add_num(l, "subspace_noise_margin", p->subspace.noise_margin);
    add_num(l, "subspace_rank", (double)r->subspace_rank);
    add_num(l, "subspace_blocks", (double)r->subspace_blocks);
    add_num(l, "subspace_threshold", r->subspace_threshold);
    add_num(l, "subspace_eigenvalue_1", r->subspace_eval[0]);
    add_num(l, "subspace_eigenvalue_2", r->subspace_eval[1]);
    add_num(l, "subspace_eigenvalue_3", r->subspace_eval[2]);
    add_num(l, "means_subspace_margin", p->subspace.means_margin);
    add_num(l, "means_subspace_rank", (double)r->means_subspace_rank);
    add_num(l, "means_subspace_spectra", (double)r->means_subspace_spectra);
    add_num(l, "means_subspace_threshold", r->means_subspace_threshold);
    add_num(l, "edgemap_pixels_with_edge", (double)r->edgemap_counts.n_edge);
    add_num(l, "edgemap_pixels_invalid", (double)r->edgemap_counts.n_invalid);
    add_num(l, "edgemap_pixels_gated", (double)r->edgemap_counts.n_low_jump);
    add_num(l, "edgemap_pixels_no_edge", (double)r->edgemap_counts.n_no_edge);
    const xanes_segment_params *sp = &p->segment;
    add_text(l, "segment_threshold_method",
             sp->threshold_method == XANES_THRESHOLD_VALUE ? "value" : "otsu");
    add_num(l, "segment_threshold", r->segment_info.threshold);
    add_num(l, "segment_smooth_px", r->segment_smooth_px);
    add_num(l, "noise_limited_contrast", p->noise_limited_contrast);
    add_num(l, "noise_limited", (double)r->noise_limited);
    add_num(l, "segment_smooth_noisy_px",
            p->segment_smooth_auto ? p->segment_smooth_noisy_px : NAN);
    add_num(l, "segment_smooth_min_gain", p->segment_smooth_min_gain);
    add_num(l, "segment_otsu_bins", (double)sp->otsu_bins);
    add_num(l, "segment_otsu_min_contrast", sp->otsu_min_contrast);
    add_num(l, "segment_otsu_contrast", r->segment_info.otsu_contrast);
    add_num(l, "segment_noise_threshold_sigma", sp->noise_threshold_sigma);
    add_num(l, "segment_noise_threshold_used", r->segment_info.noise_threshold);
    add_num(l, "segment_jump_noise_sigma", r->segment_info.noise_sigma);
    add_num(l, "segment_opening_radius_px", sp->opening_radius_px);
    add_num(l, "segment_closing_radius_px", sp->closing_radius_px);
    add_num(l, "segment_max_hole_px", (double)sp->max_hole_px);
    add_num(l, "segment_connectivity", sp->connectivity);
    add_num(l, "segment_min_area_px", (double)sp->min_area_px);
    add_num(l, "segment_split_touching", sp->split_touching);
    add_num(l, "segment_distance_smooth_px", sp->distance_smooth_px);
    add_num(l, "segment_h_maxima_px", sp->h_maxima_px);
    add_num(l, "segment_h_relative", sp->h_relative);
    add_num(l, "segment_min_marker_distance_px", sp->min_marker_distance_px);
    add_num(l, "overcharge_threshold_ev", r->overcharge_ev);
    add_text(l, "standards_file", p->standards_path != NULL ? p->standards_path : "default");
}

/* Draws figure `which` (0 edge map, 1 particle figure, 2 SoC map, 3 edge
 * histogram) into dir.  Maps get robust automatic limits; a map without
 * particles is drawn on a fixed scale (10 eV below the overcharge threshold,
 * SoC 0..1) so that it still has one.  Thread-safe for distinct `which`. */
static xanes_status write_figure(int which, const xanes_run_result *r, const char *dir,
                                 const xanes_figure_particle_label *lab, const double *pmeans,
                                 size_t n_finite, xanes_error *err)
{
    static const int file_of[4] = {2, 4, 3, 5};
    char path[4200];
    const size_t np = r->n_particles;
    snprintf(path, sizeof path, "%s/%s", dir, output_names[file_of[which]]);
    xanes_figure_map_options mo;
    xanes_figure_map_default_options(&mo);
    mo.pixel_um = isfinite(r->pixel_size_nm) ? r->pixel_size_nm / 1000.0 : 0.0;
    mo.title = "Edge energy";
    mo.label = "Edge energy";
    mo.unit = "eV";
    if (n_finite == 0) {
        mo.vmin = r->overcharge_ev - 10.0;
        mo.vmax = r->overcharge_ev;
    }
    if (which == 0)
        return xanes_figure_map_png(path, r->edge_ev, r->ny, r->nx, &mo, NULL, NULL, err);
    if (which == 1) {
        mo.title = "Particles: mean edge energy";
        return xanes_figure_particles_png(path, r->edge_ev, r->labels, r->ny, r->nx, lab, np, &mo,
                                          err);
    }
    if (which == 2) {
        mo.title = "State of charge";
        mo.label = "SoC";
        mo.unit = "";
        if (n_finite == 0) {
            mo.vmin = 0.0;
            mo.vmax = 1.0;
        }
        return xanes_figure_map_png(path, r->soc, r->ny, r->nx, &mo, NULL, NULL, err);
    }
    if (n_finite > 0) {
        /* Pixels and particle means with the overcharge threshold and the
         * share of each above it (the seed paper's question). */
        double *px = malloc(n_finite * sizeof *px);
        if (px == NULL)
            return XANES_RAISE(err, XANES_ENOMEM, "%s: out of memory", path);
        size_t m = 0;
        for (size_t i = 0; i < r->ny * r->nx; i++)
            if (isfinite(r->edge_ev[i]))
                px[m++] = r->edge_ev[i];
        xanes_figure_histogram_options ho;
        xanes_figure_histogram_default_options(&ho);
        ho.title = "Edge energy: pixels and particles";
        ho.xlabel = "Edge energy (eV)";
        ho.threshold = r->overcharge_ev;
        ho.threshold_label = "overcharge";
        xanes_status st = xanes_figure_distribution_png(path, px, m, pmeans, np, &ho, NULL, err);
        free(px);
        return st;
    }
    /* No particle: an empty plot that says so, with the threshold. */
    const double x[2] = {r->overcharge_ev, r->overcharge_ev};
    xanes_plot_series s = {x,   NULL, 1, "overcharge threshold", XANES_PLOT_VLINE, XANES_PLOT_AUTO,
                           0.0, 0};
    xanes_plot pl;
    xanes_plot_default(&pl);
    pl.title = "Edge energy: no particle found";
    pl.xlabel = "Edge energy (eV)";
    pl.ylabel = "Probability density (1/eV)";
    pl.series = &s;
    pl.n_series = 1;
    pl.xmin = r->overcharge_ev - 10.0;
    pl.xmax = r->overcharge_ev + 2.0;
    pl.ymin = 0.0;
    pl.ymax = 1.0;
    pl.annotation = "no pixel with an edge energy inside a particle";
    return xanes_figure_plot_png(path, &pl, NULL, err);
}

/* Writes the six outputs into dir (an existing, empty directory). */
static xanes_status write_files(const xanes_run_result *r, const xanes_run_params *p,
                                const char *dir, xanes_error *err)
{
    xanes_status st = XANES_OK;
    const size_t n = r->ny * r->nx, np = r->n_particles;
    xanes_results_particle *rows = calloc(np + 1, sizeof *rows);
    xanes_figure_particle_label *lab = calloc(np + 1, sizeof *lab);
    double *pmeans = calloc(np + 1, sizeof *pmeans);
    param_list *pl = calloc(1, sizeof *pl);
    if (rows == NULL || lab == NULL || pmeans == NULL || pl == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM, "run: out of memory for the outputs");
        goto done;
    }
    for (size_t i = 0; i < np; i++) {
        const xanes_particle *q = &r->particles[i];
        rows[i] = (xanes_results_particle){
            q->label,        q->area_px,      q->centroid_x_px,       q->centroid_y_px,
            q->edge_mean_ev, q->edge_std_ev,  q->edge_median_ev,      q->edge_mean_spectrum_ev,
            q->soc_mean,     q->valence_mean, q->overcharged_fraction};
        lab[i] = (xanes_figure_particle_label){q->label, q->centroid_x_px, q->centroid_y_px,
                                               q->edge_mean_ev};
        pmeans[i] = q->edge_mean_ev;
    }
    collect_params(r, p, pl);
    if (pl->full) {
        st = XANES_RAISE(err, XANES_EINVAL,
                         "run: more than %d parameters to record in results.h5 (raise MAX_PARAMS "
                         "in pipeline/run_write.c)",
                         (int)MAX_PARAMS);
        goto done;
    }
    xanes_results res = {
        .ny = r->ny,
        .nx = r->nx,
        .n_energy = r->n_energy,
        .edge_energy_ev = r->edge_ev,
        .soc = r->soc,
        .valence = r->valence,
        .labels = r->labels,
        .edge_jump = r->edge_jump,
        .quality = r->noise,
        .quality_long_name = "pre-edge RMS residual (noise of the edge-jump gate)",
        .quality_units = "1",
        .energy_ev = r->energy_ev,
        .energy_raw_ev = r->energy_raw_ev,
        .energy_offset_ev = r->energy_offset_ev,
        .shifts_px = r->shifts_px,
        .particles = np > 0 ? rows : NULL,
        .n_particles = np,
        .command_line = p->command_line,
        .text_params = pl->text,
        .n_text_params = pl->n_text,
        .number_params = pl->num,
        .n_number_params = pl->n_num,
    };
    /* The tables (HDF5 and CSV, one thread: HDF5 is not thread-safe) and
     * the four figures (figure.h: thread-safe for distinct paths) are
     * independent, so they are written side by side; errors are collected
     * per job and raised after the parallel region, the tables' first.
     * The jobs differ in cost (on a megapixel map: particle figure 0.04 s,
     * edge and SoC maps 0.02 s each, tables 0.015 s, histogram 0.012 s), so
     * they are handed out in that order to whichever thread is free
     * (dynamic): each job writes its own file, so the outputs do not depend
     * on the schedule. */
    size_t n_finite = 0;
    for (size_t i = 0; i < n; i++)
        n_finite += isfinite(r->edge_ev[i]) != 0;
    enum { N_JOBS = 5, JOB_TABLES = 3 };
    static const int figure_of_job[N_JOBS] = {1, 0, 2, -1, 3};
    xanes_status fst[N_JOBS];
    xanes_error ferr[N_JOBS];
#pragma omp parallel for schedule(dynamic, 1) default(none)                                        \
    shared(fst, ferr, r, dir, lab, pmeans, n_finite, res, rows, figure_of_job, output_names)       \
        firstprivate(np)
    for (int i = 0; i < N_JOBS; i++) {
        xanes_error_clear(&ferr[i]);
        if (i != JOB_TABLES) {
            fst[i] = write_figure(figure_of_job[i], r, dir, lab, pmeans, n_finite, &ferr[i]);
            continue;
        }
        char tpath[4200];
        snprintf(tpath, sizeof tpath, "%s/%s", dir, output_names[0]);
        fst[i] = xanes_results_write(tpath, &res, &ferr[i]);
        if (fst[i] == XANES_OK) {
            snprintf(tpath, sizeof tpath, "%s/%s", dir, output_names[1]);
            fst[i] = xanes_results_write_particles_csv(tpath, np > 0 ? rows : NULL, np, &ferr[i]);
        }
    }
    if (fst[JOB_TABLES] != XANES_OK) {
        st = XANES_RAISE(err, fst[JOB_TABLES], "%s", ferr[JOB_TABLES].message);
        goto done;
    }
    for (int i = 0; i < N_JOBS && st == XANES_OK; i++)
        if (fst[i] != XANES_OK)
            st = XANES_RAISE(err, fst[i], "%s", ferr[i].message);
done:
    free(pl);
    free(pmeans);
    free(lab);
    free(rows);
    return st;
}

/* Moves the finished files of tmp into outdir (see the file comment). */
static xanes_status publish(const char *tmp, const char *outdir, int outdir_exists,
                            xanes_error *err)
{
    if (!outdir_exists) {
        if (rename(tmp, outdir) == 0)
            return XANES_OK;
        /* Someone created outdir meanwhile: fall back to file by file. */
        if (errno != EEXIST && errno != ENOTEMPTY)
            return XANES_RAISE(err, XANES_EIO, "cannot rename %s to %s: %s", tmp, outdir,
                               strerror(errno));
    }
    char from[4200], to[4200];
    for (size_t i = 0; i < N_OUTPUTS; i++) {
        snprintf(from, sizeof from, "%s/%s", tmp, output_names[i]);
        snprintf(to, sizeof to, "%s/%s", outdir, output_names[i]);
        if (rename(from, to) != 0)
            return XANES_RAISE(err, XANES_EIO, "cannot move %s to %s: %s", from, to,
                               strerror(errno));
    }
    rmdir(tmp);
    return XANES_OK;
}

xanes_status xanes_run_write(const xanes_run_result *r, const xanes_run_params *p,
                             const char *outdir, xanes_error *err)
{
    xanes_status st = XANES_OK;
    char tmp[4096];
    struct stat sb;
    int exists = 0, made_tmp = 0;
    if (r == NULL || p == NULL || outdir == NULL || outdir[0] == '\0')
        return XANES_RAISE(err, XANES_EINVAL, "run: no result, parameters or output directory");
    size_t len = strlen(outdir);
    while (len > 1 && outdir[len - 1] == '/')
        len--;
    if (len + 32 >= sizeof tmp)
        return XANES_RAISE(err, XANES_EINVAL, "output directory name too long: %s", outdir);
    if (stat(outdir, &sb) == 0) {
        if (!S_ISDIR(sb.st_mode))
            return XANES_RAISE(err, XANES_EINVAL, "output %s exists and is not a directory",
                               outdir);
        exists = 1;
    }
    snprintf(tmp, sizeof tmp, "%.*s.tmp-%ld", (int)len, outdir, (long)getpid());
    remove_tmpdir(tmp); /* a leftover of a killed run with our pid */
    if (mkdir(tmp, 0755) != 0) {
        st = XANES_RAISE(err, XANES_EIO, "cannot create the directory %s for the outputs: %s", tmp,
                         strerror(errno));
        goto done;
    }
    made_tmp = 1;
    st = write_files(r, p, tmp, err);
    if (st != XANES_OK)
        goto done;
    st = publish(tmp, outdir, exists, err);
    if (st == XANES_OK)
        made_tmp = 0;
done:
    if (made_tmp)
        remove_tmpdir(tmp);
    return st;
}

/* Refuses an output directory that cannot be written before any work is
 * done: an existing non-directory, or a parent that is missing or not
 * writable (the outputs are first written beside outdir). */
static xanes_status check_outdir(const char *outdir, xanes_error *err)
{
    struct stat sb;
    char parent[4096];
    if (outdir == NULL || outdir[0] == '\0')
        return XANES_RAISE(err, XANES_EINVAL, "run: no output directory given");
    if (stat(outdir, &sb) == 0 && !S_ISDIR(sb.st_mode))
        return XANES_RAISE(err, XANES_EINVAL, "output %s exists and is not a directory", outdir);
    size_t len = strlen(outdir);
    while (len > 1 && outdir[len - 1] == '/')
        len--;
    if (len >= sizeof parent)
        return XANES_RAISE(err, XANES_EINVAL, "output directory name too long: %s", outdir);
    memcpy(parent, outdir, len);
    parent[len] = '\0';
    char *slash = strrchr(parent, '/');
    if (slash == NULL)
        snprintf(parent, sizeof parent, ".");
    else if (slash == parent)
        parent[1] = '\0';
    else
        *slash = '\0';
    if (stat(parent, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return XANES_RAISE(err, XANES_EIO, "output directory %s: its parent %s does not exist",
                           outdir, parent);
    if (access(parent, W_OK | X_OK) != 0)
        return XANES_RAISE(err, XANES_EIO, "output directory %s: cannot write in %s: %s", outdir,
                           parent, strerror(errno));
    return XANES_OK;
}

xanes_status xanes_run(const char *stack_path, const xanes_run_params *p, const char *outdir,
                       xanes_run_result **out, xanes_error *err)
{
    xanes_run_params defaults;
    xanes_run_result *r = NULL;
    if (out != NULL)
        *out = NULL;
    if (p == NULL) {
        xanes_run_default_params(&defaults);
        p = &defaults;
    }
    xanes_status st = check_outdir(outdir, err);
    if (st != XANES_OK)
        return st;
    st = xanes_run_process(stack_path, p, &r, err);
    if (st != XANES_OK)
        return st;
    if (p->progress != NULL)
        p->progress(p->progress_user, XANES_RUN_STAGE_WRITE);
    const double t0 = now_s(), c0 = cpu_s();
    st = xanes_run_write(r, p, outdir, err);
    r->seconds[XANES_RUN_STAGE_WRITE] = now_s() - t0;
    r->cpu_seconds[XANES_RUN_STAGE_WRITE] = cpu_s() - c0;
    if (st != XANES_OK || out == NULL)
        xanes_run_result_free(r);
    else
        *out = r;
    return st;
}
