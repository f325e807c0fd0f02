/* model_data.c: the data behind the SoC-heterogeneity model.
 *
 * Loads calibration/configs.json (common physical parameters with their
 * sources, and one coverage distribution per cathode configuration) and the
 * NCM811 open-circuit-voltage table it names (calibration/, a copy of a
 * PyBaMM data file; see calibration/PROVENANCE.md).  The OCV is interpolated
 * with GSL's Steffen spline, which is monotone between the points (an OCV that
 * wiggles would make particles trade lithium for no physical reason), and is
 * continued linearly beyond the table with a steep documented slope so a
 * particle driven past its window saturates instead of leaving the model.
 */
#include "xanes/model.h"

#include "xanes/atomic.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <gsl/gsl_interp.h>

#define MAX_CONFIGS 16
#define MAX_OCV_POINTS 20000
#define OCV_LUT_SIZE 16384

struct xanes_model_data {
    xanes_model_common common;
    xanes_model_config config[MAX_CONFIGS];
    size_t n_configs;
    size_t n_ocv;
    double *ocv_y; /* increasing */
    double *ocv_v;
    gsl_interp *interp;
    /* The spline resampled on a uniform grid, so the ODE right-hand side
     * looks U and dU/dy up in O(1) (it is evaluated millions of times). */
    double lut_y0, lut_dy;
    double lut_v[OCV_LUT_SIZE], lut_dvdy[OCV_LUT_SIZE];
    char path[1024];
};

void xanes_model_data_free(xanes_model_data *d)
{
    if (d == NULL)
        return;
    gsl_interp_free(d->interp);
    free(d->ocv_y);
    free(d->ocv_v);
    free(d);
}

static char *read_text(const char *path, xanes_error *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        XANES_RAISE(err, XANES_EIO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        if (size >= 0 && size < (64L << 20) && fseek(f, 0, SEEK_SET) == 0) {
            buf = malloc((size_t)size + 1);
            if (buf != NULL && fread(buf, 1, (size_t)size, f) == (size_t)size)
                buf[size] = '\0';
            else {
                free(buf);
                buf = NULL;
            }
        }
    }
    fclose(f);
    if (buf == NULL)
        XANES_RAISE(err, XANES_EIO, "%s: cannot read", path);
    return buf;
}

static xanes_status get_number(const cJSON *obj, const char *key, const char *path,
                               const char *where, double *out, xanes_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return XANES_RAISE(err, XANES_EFORMAT, "%s: %s: missing or non-numeric key '%s'", path,
                           where, key);
    *out = v->valuedouble;
    return XANES_OK;
}

/* Optional key "electronic_contact": "se_free_surface" (default: carbon
 * touches only the surface the SE left free) or "carbon_first". */
static xanes_status contact_order(const cJSON *obj, const char *path, const char *where,
                                  int *carbon_first, xanes_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "electronic_contact");
    *carbon_first = 0;
    if (v == NULL)
        return XANES_OK;
    if (cJSON_IsString(v) && strcmp(v->valuestring, "carbon_first") == 0)
        *carbon_first = 1;
    else if (!cJSON_IsString(v) || strcmp(v->valuestring, "se_free_surface") != 0)
        return XANES_RAISE(err, XANES_EFORMAT,
                           "%s: %s: 'electronic_contact' must be \"se_free_surface\" or "
                           "\"carbon_first\"",
                           path, where);
    return XANES_OK;
}

static xanes_status load_ocv(xanes_model_data *d, const char *path, xanes_error *err)
{
    xanes_status st = XANES_OK;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return XANES_RAISE(err, XANES_EIO, "%s: cannot open OCV table: %s", path, strerror(errno));
    d->ocv_y = malloc(MAX_OCV_POINTS * sizeof(double));
    d->ocv_v = malloc(MAX_OCV_POINTS * sizeof(double));
    if (d->ocv_y == NULL || d->ocv_v == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    char line[256];
    size_t lineno = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        lineno++;
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '#' || *p == '\n' || *p == '\r' || *p == '\0')
            continue;
        double y, v;
        if (sscanf(p, "%lf , %lf", &y, &v) != 2 || !isfinite(y) || !isfinite(v)) {
            st = XANES_RAISE(err, XANES_EFORMAT, "%s: line %zu: expected 'y, U'", path, lineno);
            goto done;
        }
        if (d->n_ocv >= MAX_OCV_POINTS) {
            st = XANES_RAISE(err, XANES_EFORMAT, "%s: more than %d points", path, MAX_OCV_POINTS);
            goto done;
        }
        if (d->n_ocv > 0 && !(y > d->ocv_y[d->n_ocv - 1])) {
            st = XANES_RAISE(err, XANES_EFORMAT, "%s: line %zu: y = %g not increasing", path,
                             lineno, y);
            goto done;
        }
        d->ocv_y[d->n_ocv] = y;
        d->ocv_v[d->n_ocv] = v;
        d->n_ocv++;
    }
    if (d->n_ocv < 3) {
        st = XANES_RAISE(err, XANES_EFORMAT, "%s: fewer than 3 OCV points", path);
        goto done;
    }
    d->interp = gsl_interp_alloc(gsl_interp_steffen, d->n_ocv);
    if (d->interp == NULL || gsl_interp_init(d->interp, d->ocv_y, d->ocv_v, d->n_ocv) != 0) {
        st = XANES_RAISE(err, XANES_EFAIL, "%s: cannot build the OCV interpolant", path);
        goto done;
    }
    d->lut_y0 = d->ocv_y[0];
    d->lut_dy = (d->ocv_y[d->n_ocv - 1] - d->ocv_y[0]) / (OCV_LUT_SIZE - 1);
    for (size_t i = 0; i < OCV_LUT_SIZE; i++) {
        double y =
            i + 1 < OCV_LUT_SIZE ? d->lut_y0 + d->lut_dy * (double)i : d->ocv_y[d->n_ocv - 1];
        d->lut_v[i] = gsl_interp_eval(d->interp, d->ocv_y, d->ocv_v, y, NULL);
        d->lut_dvdy[i] = gsl_interp_eval_deriv(d->interp, d->ocv_y, d->ocv_v, y, NULL);
    }
done:
    fclose(f);
    return st;
}

static void calibration_dir(char *buf, size_t size)
{
    const char *env = getenv("XANES_CALIBRATION_DIR");
    snprintf(buf, size, "%s", (env != NULL && env[0] != '\0') ? env : XANES_CALIBRATION_DIR);
}

xanes_status xanes_model_data_load(const char *path, xanes_model_data **out, xanes_error *err)
{
    *out = NULL;
    char dir[512], defpath[600];
    calibration_dir(dir, sizeof dir);
    if (path == NULL) {
        snprintf(defpath, sizeof defpath, "%s/configs.json", dir);
        path = defpath;
    }
    xanes_status st = XANES_OK;
    cJSON *root = NULL;
    xanes_model_data *d = calloc(1, sizeof *d);
    char *text = read_text(path, err);
    if (d == NULL || text == NULL) {
        st = d == NULL ? XANES_RAISE(err, XANES_ENOMEM, "out of memory") : XANES_EIO;
        goto done;
    }
    snprintf(d->path, sizeof d->path, "%s", path);
    root = cJSON_Parse(text);
    if (root == NULL) {
        st = XANES_RAISE(err, XANES_EFORMAT, "%s: invalid JSON", path);
        goto done;
    }
    const cJSON *common = cJSON_GetObjectItemCaseSensitive(root, "common");
    if (!cJSON_IsObject(common)) {
        st = XANES_RAISE(err, XANES_EFORMAT, "%s: no object 'common'", path);
        goto done;
    }
    xanes_model_common *c = &d->common;
    struct {
        const char *key;
        double *dst;
        double scale; /* file unit -> SI */
    } keys[] = {
        {"y_initial", &c->y_initial, 1},
        {"y_per_soc", &c->y_per_soc, 1},
        {"radius_median_um", &c->radius_median_um, 1},
        {"radius_sigma_ln", &c->radius_sigma_ln, 1},
        {"radius_max_um", &c->radius_max_um, 1},
        {"density_g_cm3", &c->density_kg_m3, 1000},
        {"c_max_mol_m3", &c->c_max_mol_m3, 1},
        {"j0_a_m2", &c->j0_a_m2, 1},
        {"j0_ea_kj_mol", &c->j0_ea_j_mol, 1000},
        {"d_s_m2_s", &c->d_s_m2_s, 1},
        {"d_s_ea_kj_mol", &c->d_s_ea_j_mol, 1000},
        {"sigma_se_ms_cm", &c->sigma_se_s_m, 0.1},
        {"sigma_se_ea_ev", &c->sigma_se_ea_j_mol, 96485.33212},
        {"se_volume_fraction", &c->se_volume_fraction, 1},
        {"bruggeman_exponent", &c->bruggeman, 1},
        {"thickness_um", &c->thickness_um, 1},
        {"isolation_coverage", &c->isolation_coverage, 1},
        {"e_contact_ohm_cm2", &c->e_contact_ohm_m2, 1e-4},
        {"one_c_ma_g", &c->one_c_a_kg, 1},
        {"t_ref_k", &c->t_ref_k, 1},
        {"ocv_slope_beyond_v", &c->ocv_slope_beyond_v, 1},
        {"discharge_cutoff_v", &c->discharge_cutoff_v, 1},
    };
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        if ((st = get_number(common, keys[k].key, path, "common", keys[k].dst, err)) != XANES_OK)
            goto done;
        *keys[k].dst *= keys[k].scale;
    }
    if (!(c->y_initial > 0 && c->y_initial <= 1 && c->y_per_soc > 0 && c->radius_median_um > 0 &&
          c->radius_max_um > 0 && c->j0_a_m2 > 0 && c->d_s_m2_s > 0 && c->sigma_se_s_m > 0 &&
          c->t_ref_k > 0 && c->one_c_a_kg > 0 && c->density_kg_m3 > 0 && c->c_max_mol_m3 > 0 &&
          c->e_contact_ohm_m2 >= 0)) {
        st = XANES_RAISE(err, XANES_EFORMAT, "%s: 'common' holds a non-physical value", path);
        goto done;
    }
    const cJSON *ocv = cJSON_GetObjectItemCaseSensitive(common, "ocv_file");
    if (!cJSON_IsString(ocv)) {
        st = XANES_RAISE(err, XANES_EFORMAT, "%s: common: missing 'ocv_file'", path);
        goto done;
    }
    char ocvpath[1200];
    if (ocv->valuestring[0] == '/')
        snprintf(ocvpath, sizeof ocvpath, "%s", ocv->valuestring);
    else {
        /* relative to the folder of the configs file */
        const char *slash = strrchr(path, '/');
        if (slash == NULL)
            snprintf(ocvpath, sizeof ocvpath, "%s", ocv->valuestring);
        else
            snprintf(ocvpath, sizeof ocvpath, "%.*s/%s", (int)(slash - path), path,
                     ocv->valuestring);
    }
    if ((st = load_ocv(d, ocvpath, err)) != XANES_OK)
        goto done;

    const cJSON *configs = cJSON_GetObjectItemCaseSensitive(root, "configs");
    if (!cJSON_IsObject(configs)) {
        st = XANES_RAISE(err, XANES_EFORMAT, "%s: no object 'configs'", path);
        goto done;
    }
    const cJSON *cfg;
    cJSON_ArrayForEach(cfg, configs)
    {
        if (d->n_configs >= MAX_CONFIGS) {
            st = XANES_RAISE(err, XANES_EFORMAT, "%s: more than %d configs", path, MAX_CONFIGS);
            goto done;
        }
        xanes_model_config *mc = &d->config[d->n_configs];
        snprintf(mc->name, sizeof mc->name, "%s", cfg->string);
        if ((st = get_number(cfg, "coverage_alpha", path, cfg->string, &mc->coverage_alpha, err)) ||
            (st = get_number(cfg, "coverage_beta", path, cfg->string, &mc->coverage_beta, err)))
            goto done;
        if (!(mc->coverage_alpha > 0 && mc->coverage_beta > 0)) {
            st = XANES_RAISE(err, XANES_EFORMAT, "%s: %s: Beta parameters must be positive", path,
                             cfg->string);
            goto done;
        }
        mc->fitted = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cfg, "fitted"));
        mc->fit_mean_min = 0.0;
        mc->fit_mean_max = 1.0;
        if ((st = contact_order(cfg, path, cfg->string, &mc->carbon_first, err)) != XANES_OK)
            goto done;
        const cJSON *bounds = cJSON_GetObjectItemCaseSensitive(cfg, "fit_coverage_mean");
        if (bounds != NULL) {
            const cJSON *lo = cJSON_GetArrayItem(bounds, 0), *hi = cJSON_GetArrayItem(bounds, 1);
            if (!cJSON_IsArray(bounds) || cJSON_GetArraySize(bounds) != 2 || !cJSON_IsNumber(lo) ||
                !cJSON_IsNumber(hi) ||
                !(lo->valuedouble >= 0 && lo->valuedouble < hi->valuedouble &&
                  hi->valuedouble <= 1)) {
                st = XANES_RAISE(err, XANES_EFORMAT,
                                 "%s: %s: 'fit_coverage_mean' must be [lo, hi] with 0 <= lo < hi "
                                 "<= 1",
                                 path, cfg->string);
                goto done;
            }
            mc->fit_mean_min = lo->valuedouble;
            mc->fit_mean_max = hi->valuedouble;
        }
        mc->target_edge_mean_ev = NAN;
        mc->target_edge_std_ev = NAN;
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(cfg, "target");
        if (cJSON_IsObject(t)) {
            get_number(t, "edge_mean_ev", path, cfg->string, &mc->target_edge_mean_ev, NULL);
            get_number(t, "edge_std_ev", path, cfg->string, &mc->target_edge_std_ev, NULL);
        }
        d->n_configs++;
    }
done:
    cJSON_Delete(root);
    free(text);
    if (st != XANES_OK) {
        xanes_model_data_free(d);
        d = NULL;
    }
    *out = d;
    return st;
}

const xanes_model_common *xanes_model_data_common(const xanes_model_data *d)
{
    return &d->common;
}

const char *xanes_model_data_path(const xanes_model_data *d)
{
    return d->path;
}

size_t xanes_model_data_n_configs(const xanes_model_data *d)
{
    return d->n_configs;
}

const xanes_model_config *xanes_model_data_config_at(const xanes_model_data *d, size_t i)
{
    return i < d->n_configs ? &d->config[i] : NULL;
}

xanes_status xanes_model_data_config(const xanes_model_data *d, const char *name,
                                     xanes_model_config *out, xanes_error *err)
{
    char names[512] = "";
    for (size_t i = 0; i < d->n_configs; i++) {
        if (strcmp(d->config[i].name, name) == 0) {
            *out = d->config[i];
            return XANES_OK;
        }
        size_t used = strlen(names);
        snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "", d->config[i].name);
    }
    return XANES_RAISE(err, XANES_EINVAL, "%s: no configuration '%s' (known: %s)", d->path, name,
                       names);
}

double xanes_model_ocv(const xanes_model_data *d, double y, double *dudy)
{
    double y0 = d->ocv_y[0], y1 = d->ocv_y[d->n_ocv - 1];
    double slope = -fabs(d->common.ocv_slope_beyond_v);
    if (y < y0) {
        if (dudy != NULL)
            *dudy = slope;
        return d->ocv_v[0] + slope * (y - y0);
    }
    if (y > y1) {
        if (dudy != NULL)
            *dudy = slope;
        return d->ocv_v[d->n_ocv - 1] + slope * (y - y1);
    }
    double pos = (y - d->lut_y0) / d->lut_dy;
    size_t i = (size_t)pos;
    if (i >= OCV_LUT_SIZE - 1)
        i = OCV_LUT_SIZE - 2;
    double w = pos - (double)i;
    if (dudy != NULL)
        *dudy = (1.0 - w) * d->lut_dvdy[i] + w * d->lut_dvdy[i + 1];
    return (1.0 - w) * d->lut_v[i] + w * d->lut_v[i + 1];
}

xanes_status xanes_model_config_load(const char *path, xanes_model_config *cfg, xanes_error *err)
{
    char *text = read_text(path, err);
    if (text == NULL)
        return XANES_EIO;
    cJSON *root = cJSON_Parse(text);
    free(text);
    xanes_status st = XANES_OK;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, "coverage_alpha");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(root, "coverage_beta");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "name");
    /* The model takes Beta shapes up to 1e5 (GSL's quantile never returns
     * for infinite ones): a file outside is bad data, said here with its name. */
    if (root == NULL || !cJSON_IsNumber(a) || !cJSON_IsNumber(b) ||
        !(a->valuedouble > 0 && a->valuedouble <= 1e5) ||
        !(b->valuedouble > 0 && b->valuedouble <= 1e5)) {
        st = XANES_RAISE(err, XANES_EFORMAT,
                         "%s: expected a JSON object with 'coverage_alpha' and 'coverage_beta' "
                         "in (0, 1e5]",
                         path);
    } else {
        memset(cfg, 0, sizeof *cfg);
        snprintf(cfg->name, sizeof cfg->name, "%s",
                 cJSON_IsString(name) ? name->valuestring : path);
        cfg->coverage_alpha = a->valuedouble;
        cfg->coverage_beta = b->valuedouble;
        cfg->target_edge_mean_ev = cfg->target_edge_std_ev = NAN;
        cfg->fit_mean_min = 0.0;
        cfg->fit_mean_max = 1.0;
        st = contact_order(root, path, "user configuration", &cfg->carbon_first, err);
    }
    cJSON_Delete(root);
    return st;
}

xanes_status xanes_model_data_write_fits(const xanes_model_data *d, const xanes_model_config *cfg,
                                         const double (*achieved)[2], size_t n, const char *note,
                                         xanes_error *err)
{
    xanes_status st = XANES_OK;
    char *out = NULL;
    char *text = read_text(d->path, err);
    if (text == NULL)
        return XANES_EIO;
    cJSON *root = cJSON_Parse(text);
    free(text);
    cJSON *configs = cJSON_GetObjectItemCaseSensitive(root, "configs");
    if (!cJSON_IsObject(configs)) {
        st = XANES_RAISE(err, XANES_EFORMAT, "%s: no object 'configs'", d->path);
        goto done;
    }
    for (size_t k = 0; k < n; k++) {
        cJSON *c = cJSON_GetObjectItemCaseSensitive(configs, cfg[k].name);
        if (c == NULL)
            continue;
        cJSON_ReplaceItemInObjectCaseSensitive(c, "coverage_alpha",
                                               cJSON_CreateNumber(cfg[k].coverage_alpha));
        cJSON_ReplaceItemInObjectCaseSensitive(c, "coverage_beta",
                                               cJSON_CreateNumber(cfg[k].coverage_beta));
        cJSON_ReplaceItemInObjectCaseSensitive(c, "fitted", cJSON_CreateTrue());
        cJSON_DeleteItemFromObjectCaseSensitive(c, "_fit");
        cJSON_DeleteItemFromObjectCaseSensitive(c, "achieved");
        cJSON *ach = cJSON_AddObjectToObject(c, "achieved");
        cJSON_AddNumberToObject(ach, "edge_mean_ev", achieved[k][0]);
        cJSON_AddNumberToObject(ach, "edge_std_ev", achieved[k][1]);
        cJSON_AddStringToObject(c, "_fit", note);
    }
    out = cJSON_Print(root);
    if (out == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM, "%s: out of memory", d->path);
        goto done;
    }
    xanes_atomic_file *af = NULL;
    if ((st = xanes_atomic_open(d->path, &af, err)) != XANES_OK)
        goto done;
    fputs(out, xanes_atomic_stream(af));
    fputc('\n', xanes_atomic_stream(af));
    st = xanes_atomic_commit(af, err);
done:
    free(out);
    cJSON_Delete(root);
    return st;
}
