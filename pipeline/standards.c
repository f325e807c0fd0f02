/* standards.c: loads the Ni K-edge energy standards and evaluates the
 * valence and state-of-charge scales built from them.
 *
 * The seed paper (Lee et al., Mater. Horiz. 2025, DOI 10.1039/d5mh02003d,
 * section 2.3) calibrates edge energies against NiO (Ni2+) and a fully
 * delithiated NCM (Ni4+) and measures pristine NCM in between; valence and
 * SoC are read off straight lines through those points.  The numbers are
 * data, kept with their provenance in calibration/standards.json and parsed
 * here with cJSON; nothing numeric about the standards is compiled in.  The
 * loader checks every key it needs (present, a finite number, edges strictly
 * increasing NiO < pristine < Ni4+) so a damaged file fails loudly with the
 * file and key named rather than producing a silently wrong scale.
 */
#include "xanes/standards.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#ifndef XANES_CALIBRATION_DIR
#error "XANES_CALIBRATION_DIR must be defined by the build"
#endif

/* The standards file is a few kB; anything far larger is not ours. */
#define STANDARDS_MAX_BYTES (1u << 20)

static xanes_status read_text(const char *path, char **text_out, size_t *len_out, xanes_error *err)
{
    xanes_status st = XANES_OK;
    char *text = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        st = XANES_RAISE(err, XANES_EIO, "%s: cannot open standards file: %s", path,
                         strerror(errno));
        goto done;
    }
    text = malloc(STANDARDS_MAX_BYTES + 1);
    if (text == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM, "%s: out of memory reading standards file", path);
        goto done;
    }
    size_t len = fread(text, 1, STANDARDS_MAX_BYTES + 1, f);
    if (ferror(f)) {
        st = XANES_RAISE(err, XANES_EIO, "%s: read error on standards file", path);
        goto done;
    }
    if (len > STANDARDS_MAX_BYTES) {
        st = XANES_RAISE(err, XANES_EFORMAT, "%s: standards file larger than %u bytes", path,
                         STANDARDS_MAX_BYTES);
        goto done;
    }
    text[len] = '\0';
    *text_out = text;
    *len_out = len;
    text = NULL;
done:
    free(text);
    if (f != NULL)
        fclose(f);
    return st;
}

/* Looks up object[key1][key2] (key2 may be NULL for a top-level number) and
 * requires a finite number.  The message names the file and the dotted key. */
static xanes_status get_number(const char *path, const cJSON *root, const char *key1,
                               const char *key2, double *out, xanes_error *err)
{
    char dotted[160];
    if (key2 != NULL)
        snprintf(dotted, sizeof dotted, "standards.%s.%s", key1, key2);
    else
        snprintf(dotted, sizeof dotted, "%s", key1);

    const cJSON *item = NULL;
    if (key2 != NULL) {
        const cJSON *stds = cJSON_GetObjectItemCaseSensitive(root, "standards");
        if (!cJSON_IsObject(stds))
            return XANES_RAISE(err, XANES_EDATA, "%s: key 'standards' is missing or not an object",
                               path);
        const cJSON *entry = cJSON_GetObjectItemCaseSensitive(stds, key1);
        if (!cJSON_IsObject(entry))
            return XANES_RAISE(err, XANES_EDATA,
                               "%s: key 'standards.%s' is missing or not an object", path, key1);
        item = cJSON_GetObjectItemCaseSensitive(entry, key2);
    } else {
        item = cJSON_GetObjectItemCaseSensitive(root, key1);
    }
    if (item == NULL)
        return XANES_RAISE(err, XANES_EDATA, "%s: key '%s' is missing", path, dotted);
    if (!cJSON_IsNumber(item))
        return XANES_RAISE(err, XANES_EDATA, "%s: key '%s' is not a number", path, dotted);
    if (!isfinite(item->valuedouble))
        return XANES_RAISE(err, XANES_EDATA, "%s: key '%s' is not finite", path, dotted);
    *out = item->valuedouble;
    return XANES_OK;
}

static void copy_string(const cJSON *root, const char *key, char *dst, size_t size)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, key);
    dst[0] = '\0';
    if (cJSON_IsString(item) && item->valuestring != NULL)
        snprintf(dst, size, "%s", item->valuestring);
}

/* 1-based line of the byte at offset in text, for parse-error messages. */
static size_t line_of(const char *text, size_t offset)
{
    size_t line = 1;
    for (size_t i = 0; i < offset && text[i] != '\0'; i++)
        if (text[i] == '\n')
            line++;
    return line;
}

xanes_status xanes_standards_load(const char *path, xanes_standards *out, xanes_error *err)
{
    xanes_status st = XANES_OK;
    char *text = NULL;
    cJSON *root = NULL;
    char resolved[512];
    xanes_standards s;
    memset(&s, 0, sizeof s);

    if (out == NULL)
        return XANES_RAISE(err, XANES_EINVAL, "xanes_standards_load: out is NULL");

    if (path == NULL) {
        const char *dir = getenv("XANES_CALIBRATION_DIR");
        if (dir == NULL || dir[0] == '\0')
            dir = XANES_CALIBRATION_DIR;
        int n = snprintf(resolved, sizeof resolved, "%s/standards.json", dir);
        if (n < 0 || (size_t)n >= sizeof resolved)
            return XANES_RAISE(err, XANES_EINVAL, "calibration directory path too long: %s", dir);
    } else {
        int n = snprintf(resolved, sizeof resolved, "%s", path);
        if (n < 0 || (size_t)n >= sizeof resolved)
            return XANES_RAISE(err, XANES_EINVAL, "standards file path too long: %s", path);
    }

    size_t len = 0;
    st = read_text(resolved, &text, &len, err);
    if (st != XANES_OK)
        goto done;

    /* ParseWithLengthOpts hands the error position back to us instead of
     * through cJSON's global error pointer, which is not thread-safe. */
    const char *end = NULL;
    root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (root == NULL) {
        size_t off = (end != NULL && end >= text) ? (size_t)(end - text) : 0;
        st = XANES_RAISE(err, XANES_EFORMAT, "%s: not valid JSON (parse error near line %zu)",
                         resolved, line_of(text, off));
        goto done;
    }
    if (!cJSON_IsObject(root)) {
        st = XANES_RAISE(err, XANES_EFORMAT, "%s: top level is not a JSON object", resolved);
        goto done;
    }

    struct {
        const char *k1, *k2;
        double *dst;
    } keys[] = {
        {"NiO", "edge_ev", &s.nio_edge_ev},
        {"NiO", "valence", &s.nio_valence},
        {"NCM_delithiated", "edge_ev", &s.ni4_edge_ev},
        {"NCM_delithiated", "valence", &s.ni4_valence},
        {"NCM_delithiated", "soc", &s.ni4_soc},
        {"NCM_pristine", "edge_ev", &s.pristine_edge_ev},
        {"NCM_pristine", "soc", &s.pristine_soc},
        {"overcharge_threshold_ev", NULL, &s.overcharge_threshold_ev},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        st = get_number(resolved, root, keys[i].k1, keys[i].k2, keys[i].dst, err);
        if (st != XANES_OK)
            goto done;
    }

    if (!(s.nio_edge_ev < s.pristine_edge_ev && s.pristine_edge_ev < s.ni4_edge_ev)) {
        st = XANES_RAISE(err, XANES_EDATA,
                         "%s: edges must increase NiO < NCM_pristine < NCM_delithiated "
                         "(standards.*.edge_ev), got %.3f, %.3f, %.3f eV",
                         resolved, s.nio_edge_ev, s.pristine_edge_ev, s.ni4_edge_ev);
        goto done;
    }
    if (s.nio_valence == s.ni4_valence) {
        st = XANES_RAISE(err, XANES_EDATA,
                         "%s: standards.NiO.valence and standards.NCM_delithiated.valence are "
                         "equal (%g): the valence scale is undefined",
                         resolved, s.nio_valence);
        goto done;
    }
    if (s.pristine_soc == s.ni4_soc) {
        st = XANES_RAISE(err, XANES_EDATA,
                         "%s: standards.NCM_pristine.soc and standards.NCM_delithiated.soc are "
                         "equal (%g): the SoC scale is undefined",
                         resolved, s.pristine_soc);
        goto done;
    }

    {
        /* edge_definition: numbers, and an anchor naming one standard. */
        const cJSON *def = cJSON_GetObjectItemCaseSensitive(root, "edge_definition");
        if (!cJSON_IsObject(def)) {
            st = XANES_RAISE(err, XANES_EDATA, "%s: key 'edge_definition' is missing or not an "
                                               "object", resolved);
            goto done;
        }
        struct {
            const char *k;
            double *dst;
        } dk[] = {{"pre1_ev", &s.def_pre1_ev},   {"pre2_ev", &s.def_pre2_ev},
                  {"norm1_ev", &s.def_norm1_ev}, {"norm2_ev", &s.def_norm2_ev},
                  {"half_level", &s.def_half_level}};
        double nnorm = 0.0;
        for (size_t i = 0; i < sizeof dk / sizeof dk[0] + 1; i++) {
            const char *k = i < sizeof dk / sizeof dk[0] ? dk[i].k : "nnorm";
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(def, k);
            if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
                st = XANES_RAISE(err, XANES_EDATA,
                                 "%s: key 'edge_definition.%s' is missing or not a finite number",
                                 resolved, k);
                goto done;
            }
            if (i < sizeof dk / sizeof dk[0])
                *dk[i].dst = v->valuedouble;
            else
                nnorm = v->valuedouble;
        }
        const cJSON *anchor = cJSON_GetObjectItemCaseSensitive(def, "anchor");
        const char *a = cJSON_IsString(anchor) ? anchor->valuestring : "";
        if (strcmp(a, "NiO") == 0)
            s.def_e0_ev = s.nio_edge_ev;
        else if (strcmp(a, "NCM_pristine") == 0)
            s.def_e0_ev = s.pristine_edge_ev;
        else if (strcmp(a, "NCM_delithiated") == 0)
            s.def_e0_ev = s.ni4_edge_ev;
        else {
            st = XANES_RAISE(err, XANES_EDATA,
                             "%s: key 'edge_definition.anchor' must name a standard (NiO, "
                             "NCM_pristine, NCM_delithiated), got '%s'",
                             resolved, a);
            goto done;
        }
        if (!(s.def_pre1_ev < s.def_pre2_ev && s.def_pre2_ev < 0 && 0 < s.def_norm1_ev &&
              s.def_norm1_ev < s.def_norm2_ev) ||
            !(nnorm >= 0 && nnorm <= 3 && nnorm == floor(nnorm)) ||
            !(s.def_half_level > 0 && s.def_half_level < 1)) {
            st = XANES_RAISE(err, XANES_EDATA,
                             "%s: 'edge_definition' needs pre1 < pre2 < 0 < norm1 < norm2, nnorm "
                             "an integer 0..3 and 0 < half_level < 1",
                             resolved);
            goto done;
        }
        s.def_nnorm = (int)nnorm;
        const cJSON *fit = cJSON_GetObjectItemCaseSensitive(def, "fit");
        const char *f = cJSON_IsString(fit) ? fit->valuestring : "";
        if (strcmp(f, "interpolant") == 0 || strcmp(f, "points") == 0) {
            s.def_fit_interpolant = strcmp(f, "interpolant") == 0;
        } else {
            st = XANES_RAISE(err, XANES_EDATA,
                             "%s: key 'edge_definition.fit' must be \"interpolant\" or "
                             "\"points\", got '%s'",
                             resolved, f);
            goto done;
        }
        const cJSON *cross = cJSON_GetObjectItemCaseSensitive(def, "crossing");
        const char *c = cJSON_IsString(cross) ? cross->valuestring : "";
        if (cross == NULL || strcmp(c, "linear") == 0 || strcmp(c, "steffen") == 0) {
            s.def_crossing_steffen = strcmp(c, "steffen") == 0;
        } else {
            st = XANES_RAISE(err, XANES_EDATA,
                             "%s: key 'edge_definition.crossing' must be \"linear\" or "
                             "\"steffen\", got '%s'",
                             resolved, c);
            goto done;
        }
    }

    copy_string(root, "element", s.element, sizeof s.element);
    copy_string(root, "edge", s.edge, sizeof s.edge);
    snprintf(s.path, sizeof s.path, "%s", resolved);
    *out = s;

done:
    cJSON_Delete(root);
    free(text);
    return st;
}

void xanes_standards_edge_params(const xanes_standards *std, xanes_normalize_params *p)
{
    xanes_normalize_default_params(p);
    p->e0_ev = std->def_e0_ev;
    p->pre1_ev = std->def_pre1_ev;
    p->pre2_ev = std->def_pre2_ev;
    p->norm1_ev = std->def_norm1_ev;
    p->norm2_ev = std->def_norm2_ev;
    p->nnorm = std->def_nnorm;
    p->half_level = std->def_half_level;
    p->fit_interpolant = std->def_fit_interpolant;
    p->crossing = std->def_crossing_steffen ? XANES_EDGE_CROSS_STEFFEN : XANES_EDGE_CROSS_LINEAR;
}

double xanes_standards_valence(const xanes_standards *std, double edge_ev)
{
    double slope = (std->ni4_valence - std->nio_valence) / (std->ni4_edge_ev - std->nio_edge_ev);
    return std->nio_valence + slope * (edge_ev - std->nio_edge_ev);
}

double xanes_standards_edge_from_valence(const xanes_standards *std, double valence)
{
    double slope = (std->ni4_edge_ev - std->nio_edge_ev) / (std->ni4_valence - std->nio_valence);
    return std->nio_edge_ev + slope * (valence - std->nio_valence);
}

double xanes_standards_soc(const xanes_standards *std, double edge_ev)
{
    double slope = (std->ni4_soc - std->pristine_soc) / (std->ni4_edge_ev - std->pristine_edge_ev);
    return std->pristine_soc + slope * (edge_ev - std->pristine_edge_ev);
}

double xanes_standards_edge_from_soc(const xanes_standards *std, double soc)
{
    double slope = (std->ni4_edge_ev - std->pristine_edge_ev) / (std->ni4_soc - std->pristine_soc);
    return std->pristine_edge_ev + slope * (soc - std->pristine_soc);
}

int xanes_standards_is_overcharged(const xanes_standards *std, double edge_ev)
{
    return edge_ev > std->overcharge_threshold_ev;
}
