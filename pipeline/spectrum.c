/* spectrum.c: the 1-D spectrum container and its text reader.
 *
 * Reads XDI 1.0/1.1 (header `# XDI/1.x`, `# Column.N: name`, `# Element.symbol`,
 * `# Element.edge` or the older `Scan.element`/`Scan.edge`), SPEC scans (`#L`
 * label line, labels separated by two or more spaces), MRCAT and other
 * free-text headers followed by a label line, plain whitespace or comma
 * separated columns with `#`/`;` comment lines, spreadsheet exports
 * (semicolon separators with decimal commas, quoted fields), and the JSON
 * layout of the FeatureXAS data set (an object of arrays, energy grid given
 * by options).  CR, LF and CRLF line ends and a UTF-8 byte-order mark are
 * all accepted; energies must come out between 1 eV and 1 MeV.
 *
 * The whole file is read into memory (spectra are small: a few thousand
 * lines), split into lines, and each line is classed as comment, data (every
 * token a number) or text.  Column names come, in order of trust, from XDI
 * `Column.N` keys, a SPEC `#L` line, or the last header line whose token count
 * equals the number of data columns.  mu is then built as the options say;
 * XANES_MU_AUTO picks a column named like mu, else ln(i0/itrans), else
 * ifluor/i0, else the second of exactly two columns, and records the formula
 * it used so a user can see and override the choice (spectrum_columns.c).
 */
#include "xanes/spectrum.h"
#include "spectrum_private.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <gsl/gsl_sort.h>

#define MIN_POINTS 10
#define MAX_FILE_BYTES (64u << 20)
#define MIN_ENERGY_EV 1.0
#define MAX_ENERGY_EV 1e6
#define MAX_UNNAMED_COLUMNS 32 /* more, with no names: not a spectrum */

void xanes_spectrum_default_options(xanes_spectrum_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->mode = XANES_MU_AUTO;
    opt->energy_unit = XANES_UNIT_AUTO;
    opt->grid_start_ev = NAN;
    opt->grid_step_ev = NAN;
}

xanes_spectrum *xanes_spectrum_alloc(size_t n)
{
    xanes_spectrum *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->n = n;
    s->energy_ev = malloc((n ? n : 1) * sizeof(double));
    s->mu = malloc((n ? n : 1) * sizeof(double));
    if (s->energy_ev == NULL || s->mu == NULL) {
        xanes_spectrum_free(s);
        return NULL;
    }
    return s;
}

void xanes_spectrum_free(xanes_spectrum *s)
{
    if (s == NULL)
        return;
    free(s->energy_ev);
    free(s->mu);
    free(s);
}

/* ---- file and line handling ------------------------------------------- */

typedef struct {
    char *text;  /* whole file, lines NUL-terminated in place */
    char **line; /* start of each line */
    size_t n_lines;
} text_file;

static void text_file_free(text_file *t)
{
    free(t->text);
    free(t->line);
    t->text = NULL;
    t->line = NULL;
}

/* What a binary file probably is, from its signature, for the message. */
static const char *binary_kind(const char *text, size_t n)
{
    static const struct {
        const char *magic;
        size_t len;
        const char *what;
    } known[] = {
        {"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", 8, "an OLE2 container: Xradia .xrm/.txrm?"},
        {"II*\0", 4, "a TIFF image"},
        {"MM\0*", 4, "a TIFF image"},
        {"\x89PNG", 4, "a PNG image"},
        {"\x1F\x8B", 2, "gzip-compressed"},
        {"PK\x03\x04", 4, "a zip archive"},
        {"CDF\x01", 4, "NetCDF"},
        {"\x0E\x03\x13\x01", 4, "HDF4"},
        {"\xFF\xFE", 2, "UTF-16 text: save it as UTF-8"},
        {"\xFE\xFF", 2, "UTF-16 text: save it as UTF-8"},
    };
    for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
        if (n >= known[k].len && memcmp(text, known[k].magic, known[k].len) == 0)
            return known[k].what;
    return "NUL bytes";
}

static xanes_status text_file_read(const char *path, text_file *t, xanes_error *err)
{
    memset(t, 0, sizeof *t);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return XANES_RAISE(err, XANES_EIO, "%s: cannot open: %s", path, strerror(errno));
    xanes_status st = XANES_OK;
    size_t cap = 1 << 16, n = 0;
    t->text = malloc(cap);
    while (t->text != NULL) {
        if (n + 1 >= cap) {
            if (cap >= MAX_FILE_BYTES) {
                st = XANES_RAISE(err, XANES_EFORMAT,
                                 "%s: larger than %u MiB, not a spectrum text file", path,
                                 MAX_FILE_BYTES >> 20);
                goto done;
            }
            char *bigger = realloc(t->text, cap * 2);
            if (bigger == NULL)
                break;
            t->text = bigger;
            cap *= 2;
        }
        size_t got = fread(t->text + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    if (t->text == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM, "%s: out of memory reading the file", path);
        goto done;
    }
    if (ferror(f)) {
        /* errno still holds fread's reason: "Is a directory" for a folder. */
        st = XANES_RAISE(err, XANES_EIO, "%s: cannot read: %s", path, strerror(errno));
        goto done;
    }
    t->text[n] = '\0';
    if (n == 0) {
        st = XANES_RAISE(err, XANES_EFORMAT, "%s: the file is empty", path);
        goto done;
    }
    /* A text spectrum has no NUL bytes and few control characters; HDF5,
     * images and archives have many.  Refuse them here with a clear word
     * instead of a confusing "no data" later. */
    size_t n_ctrl = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t->text[i];
        if (c == 0) {
            st = XANES_RAISE(err, XANES_EFORMAT,
                             "%s: binary file (%s), not a text spectrum; xanes reads HDF5 stacks "
                             "and text spectra",
                             path, binary_kind(t->text, n));
            goto done;
        }
        if (c < 32 && c != '\n' && c != '\r' && c != '\t')
            n_ctrl++;
    }
    if (n_ctrl > n / 100 + 1) {
        st = XANES_RAISE(err, XANES_EFORMAT,
                         "%s: binary file (%zu control characters), not a text spectrum", path,
                         n_ctrl);
        goto done;
    }
    /* Windows editors start UTF-8 files with a byte-order mark; left in
     * place it would turn the first data line into text. */
    if (n >= 3 && memcmp(t->text, "\xEF\xBB\xBF", 3) == 0) {
        memmove(t->text, t->text + 3, n - 2);
        n -= 3;
    }
    size_t lines_cap = 1;
    for (size_t i = 0; i < n; i++)
        if (t->text[i] == '\n' || t->text[i] == '\r')
            lines_cap++;
    t->line = malloc(lines_cap * sizeof(char *));
    if (t->line == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    char *p = t->text;
    while (*p != '\0') {
        t->line[t->n_lines++] = p;
        while (*p != '\0' && *p != '\n' && *p != '\r')
            p++;
        if (*p == '\r' && p[1] == '\n')
            *p++ = '\0';
        if (*p != '\0')
            *p++ = '\0';
    }
done:
    fclose(f);
    if (st != XANES_OK)
        text_file_free(t);
    return st;
}

static char *skip_space(char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

static int is_comment(const char *line)
{
    const char *p = line;
    while (*p == ' ' || *p == '\t')
        p++;
    return *p == '#' || *p == ';';
}

static int is_blank(const char *line)
{
    for (const char *p = line; *p != '\0'; p++)
        if (!isspace((unsigned char)*p))
            return 0;
    return 1;
}

/* Parses a data line into up to max values.  Returns the number of values,
 * or -1 when a token is not a number (the line is text).  Tokens are
 * separated by whitespace, commas or semicolons and may be double-quoted
 * (spreadsheet exports); a '#' after the numbers starts a comment. */
static long parse_numbers(const char *line, double *values, size_t max)
{
    const char *p = line;
    long count = 0;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == ',' || *p == ';')
            p++;
        if (*p == '\0' || (*p == '#' && count > 0))
            break;
        int quoted = *p == '"';
        p += quoted;
        char *end = NULL;
        double v = strtod(p, &end);
        if (end == p)
            return -1;
        if (quoted && *end++ != '"')
            return -1;
        if (*end != '\0' && *end != ' ' && *end != '\t' && *end != ',' && *end != ';' &&
            *end != '#')
            return -1;
        if (values != NULL && (size_t)count < max)
            values[count] = v;
        count++;
        p = end;
    }
    return count;
}

/* Sorts by energy and averages points that share one energy (a continuous
 * scan may repeat its first energy several times). */
static size_t sort_and_merge(double *e, double *mu, size_t n, double *scratch_e, double *scratch_mu,
                             size_t *perm)
{
    gsl_sort_index(perm, e, 1, n);
    for (size_t i = 0; i < n; i++) {
        scratch_e[i] = e[perm[i]];
        scratch_mu[i] = mu[perm[i]];
    }
    size_t m = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        double sum = 0.0;
        while (j < n && scratch_e[j] == scratch_e[i])
            sum += scratch_mu[j++];
        e[m] = scratch_e[i];
        mu[m] = sum / (double)(j - i);
        m++;
        i = j;
    }
    return m;
}

static xanes_status finish_energies(xanes_spectrum *s, const char *path,
                                    const xanes_spectrum_options *opt, const size_t *line_of_point,
                                    xanes_error *err)
{
    double emax = 0.0;
    for (size_t i = 0; i < s->n; i++)
        if (fabs(s->energy_ev[i]) > emax)
            emax = fabs(s->energy_ev[i]);
    /* X-ray absorption edges lie between ~100 eV and ~100 keV: values below
     * 100 can only be keV (hard X-rays in keV read as < 100 eV otherwise). */
    int kev =
        opt->energy_unit == XANES_UNIT_KEV || (opt->energy_unit == XANES_UNIT_AUTO && emax < 100.0);
    if (kev) {
        for (size_t i = 0; i < s->n; i++)
            s->energy_ev[i] *= 1000.0;
        s->energy_was_kev = 1;
    }
    /* Outside 1 eV .. 1 MeV the axis is not an X-ray energy in eV: a wrong
     * column, a unit slip (meV, or eV read as keV) or garbage. */
    for (size_t i = 0; i < s->n; i++)
        if (!(s->energy_ev[i] >= MIN_ENERGY_EV && s->energy_ev[i] <= MAX_ENERGY_EV)) {
            if (line_of_point != NULL)
                return XANES_RAISE(err, XANES_EDATA,
                                   "%s: line %zu: energy %g eV%s is outside %g eV .. %g eV (wrong "
                                   "energy column or unit? see --energy-col, --energy-unit)",
                                   path, line_of_point[i], s->energy_ev[i],
                                   kev ? " (read as keV)" : "", MIN_ENERGY_EV, MAX_ENERGY_EV);
            return XANES_RAISE(err, XANES_EDATA,
                               "%s: point %zu: energy %g eV is outside %g eV .. %g eV", path, i,
                               s->energy_ev[i], MIN_ENERGY_EV, MAX_ENERGY_EV);
        }
    if (opt->sort) {
        double *se = malloc(s->n * sizeof(double));
        double *sm = malloc(s->n * sizeof(double));
        size_t *perm = malloc(s->n * sizeof(size_t));
        if (se == NULL || sm == NULL || perm == NULL) {
            free(se);
            free(sm);
            free(perm);
            return XANES_RAISE(err, XANES_ENOMEM, "%s: out of memory sorting energies", path);
        }
        s->n = sort_and_merge(s->energy_ev, s->mu, s->n, se, sm, perm);
        free(se);
        free(sm);
        free(perm);
        line_of_point = NULL; /* points no longer map to lines */
    }
    for (size_t i = 1; i < s->n; i++) {
        if (!(s->energy_ev[i] > s->energy_ev[i - 1])) {
            if (line_of_point != NULL)
                return XANES_RAISE(err, XANES_EDATA,
                                   "%s: line %zu: energy %.4f eV is %s the previous point's "
                                   "%.4f eV (energies must be strictly increasing; --sort "
                                   "sorts and averages duplicates)",
                                   path, line_of_point[i], s->energy_ev[i],
                                   s->energy_ev[i] == s->energy_ev[i - 1] ? "equal to" : "below",
                                   s->energy_ev[i - 1]);
            return XANES_RAISE(err, XANES_EDATA, "%s: energies not strictly increasing", path);
        }
    }
    if (s->n < MIN_POINTS)
        return XANES_RAISE(err, XANES_EDATA, "%s: only %zu points, at least %d are needed", path,
                           s->n, MIN_POINTS);
    return XANES_OK;
}

/* ---- JSON (FeatureXAS layout) ------------------------------------------- */

static xanes_status read_json(const char *path, const char *text, const xanes_spectrum_options *opt,
                              xanes_spectrum **out, xanes_error *err)
{
    xanes_status st = XANES_OK;
    xanes_spectrum *s = NULL;
    cJSON *root = cJSON_Parse(text);
    if (root == NULL) {
        st = XANES_RAISE(err, XANES_EFORMAT, "%s: invalid JSON near '%.20s'", path,
                         cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() : "");
        goto done;
    }
    if (opt->json_key == NULL || !isfinite(opt->grid_start_ev) || !isfinite(opt->grid_step_ev) ||
        !(opt->grid_step_ev > 0)) {
        st = XANES_RAISE(err, XANES_EINVAL,
                         "%s: a JSON file holds no energy axis here: give --json-key KEY "
                         "[--json-index I] --grid-start EV --grid-step EV",
                         path);
        goto done;
    }
    cJSON *node = cJSON_GetObjectItemCaseSensitive(root, opt->json_key);
    if (node == NULL) {
        st = XANES_RAISE(err, XANES_EINVAL, "%s: no key '%s' in the JSON object", path,
                         opt->json_key);
        goto done;
    }
    if (opt->json_index != NULL) {
        /* An array takes a whole index only: atoi would read "abc" as 0. */
        char *end = NULL;
        long idx = strtol(opt->json_index, &end, 10);
        int whole = end != opt->json_index && *end == '\0' && idx >= 0 && idx <= INT_MAX;
        cJSON *item = !cJSON_IsArray(node) ? cJSON_GetObjectItemCaseSensitive(node, opt->json_index)
                      : whole              ? cJSON_GetArrayItem(node, (int)idx)
                                           : NULL;
        if (item == NULL) {
            st = XANES_RAISE(err, XANES_EINVAL, "%s: '%s' has no entry '%s'", path, opt->json_key,
                             opt->json_index);
            goto done;
        }
        node = item;
    }
    if (!cJSON_IsArray(node)) {
        st = XANES_RAISE(err, XANES_EFORMAT, "%s: '%s%s%s' is not an array of numbers", path,
                         opt->json_key, opt->json_index ? "/" : "",
                         opt->json_index ? opt->json_index : "");
        goto done;
    }
    size_t n = (size_t)cJSON_GetArraySize(node);
    s = xanes_spectrum_alloc(n);
    if (s == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    size_t i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, node)
    {
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
            st = XANES_RAISE(err, XANES_EDATA, "%s: element %zu of '%s' is not a finite number",
                             path, i, opt->json_key);
            goto done;
        }
        s->energy_ev[i] = opt->grid_start_ev + opt->grid_step_ev * (double)i;
        s->mu[i] = v->valuedouble;
        i++;
    }
    snprintf(s->format, sizeof s->format, "JSON");
    snprintf(s->mu_formula, sizeof s->mu_formula, "mu = %s[%s], E = %g + %g*i eV", opt->json_key,
             opt->json_index ? opt->json_index : "", opt->grid_start_ev, opt->grid_step_ev);
    s->n_columns = 2;
    spc_set_name(s, 0, "energy", 6);
    spc_set_name(s, 1, "mu", 2);
    snprintf(s->path, sizeof s->path, "%s", path);
    {
        xanes_spectrum_options o = *opt;
        o.sort = 0;
        o.energy_unit = XANES_UNIT_EV;
        st = finish_energies(s, path, &o, NULL, err);
    }
done:
    cJSON_Delete(root);
    if (st != XANES_OK) {
        xanes_spectrum_free(s);
        s = NULL;
    }
    *out = s;
    return st;
}

/* ---- text columns -------------------------------------------------------- */

xanes_status xanes_spectrum_read(const char *path, const xanes_spectrum_options *opt_in,
                                 xanes_spectrum **out, xanes_error *err)
{
    xanes_spectrum_options defaults;
    if (opt_in == NULL) {
        xanes_spectrum_default_options(&defaults);
        opt_in = &defaults;
    }
    const xanes_spectrum_options *opt = opt_in;
    *out = NULL;
    text_file t;
    xanes_status st = text_file_read(path, &t, err);
    if (st != XANES_OK)
        return st;
    xanes_spectrum *s = NULL;
    double *row = NULL;
    size_t *line_of_point = NULL;

    const char *first = skip_space(t.line[0]);
    if (*first == '{' || *first == '[') {
        st = read_json(path, t.text, opt, out, err);
        text_file_free(&t);
        return st;
    }

    /* Spreadsheets in many locales write "8333,5;0,25": on a line whose
     * fields are separated by ';', a comma can only be a decimal comma. */
    for (size_t i = 0; i < t.n_lines; i++)
        if (!is_comment(t.line[i]) && strchr(t.line[i], ';') != NULL)
            for (char *c = t.line[i]; *c != '\0'; c++)
                if (*c == ',')
                    *c = '.';

    /* Find the data block: the first run of numeric lines that reaches the
     * end of the file (comments and blank lines may sit inside it). */
    size_t first_data = t.n_lines, n_points = 0;
    long n_cols = -1;
    for (size_t i = 0; i < t.n_lines; i++) {
        if (is_comment(t.line[i]) || is_blank(t.line[i]))
            continue;
        long c = parse_numbers(t.line[i], NULL, 0);
        if (c <= 0) {
            if (first_data < t.n_lines) {
                st = XANES_RAISE(err, XANES_EFORMAT,
                                 "%s: line %zu: text '%.40s' inside the data block", path, i + 1,
                                 t.line[i]);
                goto done;
            }
            continue;
        }
        if (first_data == t.n_lines) {
            first_data = i;
            n_cols = c;
        } else if (c != n_cols) {
            st = XANES_RAISE(err, XANES_EFORMAT,
                             "%s: line %zu: %ld columns where the data block has %ld (ragged "
                             "columns)",
                             path, i + 1, c, n_cols);
            goto done;
        }
        n_points++;
    }
    if (first_data == t.n_lines) {
        st = XANES_RAISE(err, XANES_EFORMAT, "%s: no numeric data lines found", path);
        goto done;
    }
    if (n_cols < 2) {
        st = XANES_RAISE(err, XANES_EFORMAT,
                         "%s: line %zu: only one column, need energy and at least one signal", path,
                         first_data + 1);
        goto done;
    }
    s = xanes_spectrum_alloc(n_points);
    row = malloc((size_t)n_cols * sizeof(double));
    line_of_point = malloc(n_points * sizeof(size_t));
    if (s == NULL || row == NULL || line_of_point == NULL) {
        st = XANES_RAISE(err, XANES_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    snprintf(s->path, sizeof s->path, "%s", path);
    s->n_columns = (size_t)n_cols;

    /* Header: XDI keys anywhere before the data, SPEC #L, or the last header
     * line with as many tokens as there are columns. */
    int xdi = strncmp(skip_space(t.line[0]), "#", 1) == 0 && strstr(t.line[0], "XDI/") != NULL;
    int spec = 0, xdi_names = 0, label_names = 0;
    for (size_t i = 0; i < first_data; i++) {
        const char *l = skip_space(t.line[i]);
        if (xdi || strstr(l, "Element.") || strstr(l, "Scan.e"))
            spc_read_header_key(s, l, &xdi_names);
        if (strncmp(l, "#F ", 3) == 0 || strncmp(l, "#S ", 3) == 0)
            spec = 1;
    }
    for (size_t i = first_data; i-- > 0 && !xdi_names && !label_names;) {
        const char *l = skip_space(t.line[i]);
        int two_space = 0;
        if (strncmp(l, "#L ", 3) == 0) {
            l += 3;
            two_space = 1;
        } else if (spec) {
            continue;
        } else {
            while (*l == '#' || *l == ';' || *l == ' ' || *l == '\t')
                l++;
        }
        const char *nb[XANES_SPECTRUM_MAX_COLUMNS];
        size_t nl[XANES_SPECTRUM_MAX_COLUMNS];
        size_t k = spc_split_names(l, two_space, nb, nl, XANES_SPECTRUM_MAX_COLUMNS);
        if (k == (size_t)n_cols && parse_numbers(l, NULL, 0) < 0) {
            for (size_t c = 0; c < k && c < XANES_SPECTRUM_MAX_COLUMNS; c++)
                spc_set_name(s, c, nb[c], nl[c]);
            label_names = 1;
        }
        if (two_space)
            break;
    }
    for (size_t i = first_data; i-- > 0 && !xdi_names && !label_names;)
        label_names = spc_numbered_labels(s, t.line[i], (size_t)n_cols);
    /* A block of many unnamed columns is an image or a matrix (an ALS
     * .xim frame, a detector dump), whose first column would otherwise be
     * judged as energies.  Say so, unless the options name the columns. */
    int columns_chosen = opt->energy_column || opt->energy_name || opt->mu_column || opt->mu_name ||
                         opt->i0_column || opt->i0_name || opt->itrans_column || opt->itrans_name ||
                         opt->n_ifluor || opt->ifluor_name;
    if (n_cols > MAX_UNNAMED_COLUMNS && !xdi_names && !label_names && !columns_chosen) {
        st = XANES_RAISE(err, XANES_EFORMAT,
                         "%s: %zu rows of %ld unnamed numbers: an image or matrix, not a "
                         "spectrum (name the columns with --energy-col and --mu-col to read "
                         "it anyway)",
                         path, n_points, n_cols);
        goto done;
    }
    snprintf(s->format, sizeof s->format, "%s",
             xdi                                        ? "XDI"
             : spec                                     ? "SPEC"
             : first_data > 0 && !is_comment(t.line[0]) ? "text-header"
                                                        : "columns");
    column_plan cp;
    if ((st = spc_plan_columns(s, path, opt, &cp, err)) != XANES_OK) {
        /* A bad energy column is an error even for a description. */
        if (!opt->describe_only || cp.energy == 0)
            goto done;
        spc_give_up_mu(s, path, 0, err);
        st = XANES_OK;
    } else {
        spc_describe_formula(s, &cp);
    }

    size_t k = 0;
    for (size_t i = first_data; i < t.n_lines; i++) {
        if (is_comment(t.line[i]) || is_blank(t.line[i]))
            continue;
        parse_numbers(t.line[i], row, (size_t)n_cols);
        for (long c = 0; c < n_cols; c++)
            if (!isfinite(row[c])) {
                st = XANES_RAISE(err, XANES_EDATA, "%s: line %zu: column %ld is %g (not finite)",
                                 path, i + 1, c + 1, row[c]);
                goto done;
            }
        double mu = NAN;
        switch (s->mu_missing ? XANES_MU_AUTO : cp.mode) {
        case XANES_MU_AUTO:
            break;
        case XANES_MU_TRANS: {
            double i0 = row[cp.i0 - 1], it = row[cp.itrans - 1];
            if (!(i0 > 0) || !(it > 0)) {
                st = XANES_RAISE(err, XANES_EDATA,
                                 "%s: line %zu: ln(i0/itrans) undefined: i0 = %g (col%zu), "
                                 "itrans = %g (col%zu) must both be positive",
                                 path, i + 1, i0, cp.i0, it, cp.itrans);
                if (!opt->describe_only)
                    goto done;
                spc_give_up_mu(s, path, k, err);
                st = XANES_OK;
                break;
            }
            mu = log(i0 / it);
            break;
        }
        case XANES_MU_FLUOR: {
            double i0 = row[cp.i0 - 1], sum = 0.0;
            for (size_t f = 0; f < cp.n_fluor; f++)
                sum += row[cp.fluor[f] - 1];
            if (!(i0 > 0)) {
                st = XANES_RAISE(err, XANES_EDATA,
                                 "%s: line %zu: ifluor/i0 undefined: i0 = %g (col%zu) must be "
                                 "positive",
                                 path, i + 1, i0, cp.i0);
                if (!opt->describe_only)
                    goto done;
                spc_give_up_mu(s, path, k, err);
                st = XANES_OK;
                break;
            }
            mu = sum / i0;
            break;
        }
        default:
            mu = row[cp.mu - 1];
            break;
        }
        s->energy_ev[k] = row[cp.energy - 1];
        s->mu[k] = mu;
        line_of_point[k] = i + 1;
        k++;
    }
    st = finish_energies(s, path, opt, line_of_point, err);
done:
    free(row);
    free(line_of_point);
    text_file_free(&t);
    if (st != XANES_OK) {
        xanes_spectrum_free(s);
        s = NULL;
    }
    *out = s;
    return st;
}
