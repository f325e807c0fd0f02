/* spectrum_columns.c: which columns of a spectrum file are energy and mu.
 *
 * Column names come from XDI `Column.N` keys, SPEC `#L` lines, APS 12-BM
 * numbered labels ("1_Energy (keV) 2_sec ...") or a plain label line;
 * names are matched without regard to case against the aliases larch and
 * Athena recognise (mu/xmu/mutrans, i0, itrans/i1, ifluor).  The options
 * pick columns by name or number; XANES_MU_AUTO picks a mu-like column, else
 * ln(i0/itrans), else ifluor/i0, else the second of exactly two columns.
 * Used by spectrum.c, which reads the numbers.
 */
#include "spectrum_private.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int name_equal(const char *a, const char *b)
{
    for (; *a != '\0' && *b != '\0'; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
            return 0;
    return *a == *b;
}

/* Replaces bytes that are not valid UTF-8 (Latin-1 headers, truncation in
 * the middle of a character) by '?': names go into JSON, which must be
 * UTF-8. */
static void utf8_clean(char *t)
{
    unsigned char *p = (unsigned char *)t;
    while (*p != '\0') {
        size_t n = *p < 0x80             ? 1
                   : (*p & 0xE0) == 0xC0 ? 2
                   : (*p & 0xF0) == 0xE0 ? 3
                   : (*p & 0xF8) == 0xF0 ? 4
                                         : 0;
        size_t k = 1;
        while (n > 1 && k < n && (p[k] & 0xC0) == 0x80)
            k++;
        if (n == 0 || k < n) {
            *p++ = '?';
            continue;
        }
        p += n;
    }
}

void spc_set_name(xanes_spectrum *s, size_t col, const char *name, size_t len)
{
    if (col >= XANES_SPECTRUM_MAX_COLUMNS)
        return;
    if (len >= sizeof s->column_names[0])
        len = sizeof s->column_names[0] - 1;
    memcpy(s->column_names[col], name, len);
    s->column_names[col][len] = '\0';
    utf8_clean(s->column_names[col]);
}

/* Splits a header line into names: by runs of >= 2 spaces when two_space is
 * set (SPEC #L lines, whose labels may contain single spaces), else by
 * whitespace or commas.  Returns the count of names found. */
size_t spc_split_names(const char *text, int two_space, const char **start, size_t *len, size_t max)
{
    size_t n = 0;
    const char *p = text;
    while (*p != '\0') {
        while (*p == ' ' || *p == '\t' || *p == ',' || *p == ';')
            p++;
        if (*p == '\0')
            break;
        const char *b = p;
        while (*p != '\0') {
            if (*p == '\t' || *p == ',' || *p == ';')
                break;
            if (*p == ' ' && (!two_space || p[1] == ' ' || p[1] == '\t' || p[1] == '\0'))
                break;
            p++;
        }
        /* "energy","mu" from a spreadsheet: the quotes are not the name. */
        const char *e = p;
        if (e - b >= 2 && *b == '"' && e[-1] == '"') {
            b++;
            e--;
        }
        if (n < max) {
            start[n] = b;
            len[n] = (size_t)(e - b);
        }
        n++;
    }
    return n;
}

/* APS 12-BM style labels "1_Energy (keV) 2_sec 3_mononrg ...": tokens
 * "k_name" numbered 1..n_cols in order, a name running to the next numbered
 * token.  Sets the names and returns 1 when the line holds exactly n_cols. */
int spc_numbered_labels(xanes_spectrum *s, const char *l, size_t n_cols)
{
    const char *start[XANES_SPECTRUM_MAX_COLUMNS + 1];
    size_t k = 0;
    for (const char *p = l; *p != '\0'; p++) {
        if (p != l && p[-1] != ' ' && p[-1] != '\t')
            continue;
        char *end = NULL;
        long v = strtol(p, &end, 10);
        if (end == p || *end != '_' || !isdigit((unsigned char)*p))
            continue;
        if (v != (long)k + 1 || k >= XANES_SPECTRUM_MAX_COLUMNS)
            return 0;
        start[k++] = end + 1;
    }
    if (k != n_cols || k == 0)
        return 0;
    for (size_t c = 0; c < k; c++) {
        const char *e = c + 1 < k ? start[c + 1] : start[c] + strlen(start[c]);
        /* Back over the next label's number and the blanks before it. */
        if (c + 1 < k)
            while (e > start[c] && e[-1] != ' ' && e[-1] != '\t')
                e--;
        while (e > start[c] && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        spc_set_name(s, c, start[c], (size_t)(e - start[c]));
    }
    return 1;
}

/* Header metadata: XDI keys and column names. */
void spc_read_header_key(xanes_spectrum *s, const char *line, int *xdi_names)
{
    const char *p = line;
    while (*p == ' ' || *p == '\t' || *p == '#')
        p++;
    const char *colon = strchr(p, ':');
    if (colon == NULL)
        return;
    size_t klen = (size_t)(colon - p);
    const char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    size_t vlen = strcspn(v, " \t");
    if (klen > 7 && strncmp(p, "Column.", 7) == 0) {
        long col = strtol(p + 7, NULL, 10);
        if (col >= 1 && vlen > 0) {
            spc_set_name(s, (size_t)col - 1, v, vlen);
            *xdi_names = 1;
        }
    } else if ((klen == 14 && strncmp(p, "Element.symbol", 14) == 0) ||
               (klen == 12 && strncmp(p, "Scan.element", 12) == 0)) {
        snprintf(s->element, sizeof s->element, "%.*s", (int)vlen, v);
        utf8_clean(s->element);
    } else if ((klen == 12 && strncmp(p, "Element.edge", 12) == 0) ||
               (klen == 9 && strncmp(p, "Scan.edge", 9) == 0)) {
        snprintf(s->edge, sizeof s->edge, "%.*s", (int)vlen, v);
        utf8_clean(s->edge);
    }
}

/* ---- column selection ---------------------------------------------------- */

static const char *const mu_aliases[] = {"mu",       "mutrans",   "mufluor", "xmu", "xmu(trans)",
                                         "mu_trans", "xmu_trans", "norm",    NULL};
static const char *const i0_aliases[] = {"i0", "io", NULL};
static const char *const itrans_aliases[] = {"itrans", "it", "i1", "itrans1", NULL};
static const char *const ifluor_aliases[] = {"ifluor", "if", "fluor", "ifl", NULL};
static const char *const energy_aliases[] = {"energy", "e", "energy_ev", "ev", NULL};

/* 1-based column whose name matches one of aliases, 0 if none. */
static size_t find_alias(const xanes_spectrum *s, const char *const *aliases)
{
    for (size_t a = 0; aliases[a] != NULL; a++)
        for (size_t c = 0; c < s->n_columns && c < XANES_SPECTRUM_MAX_COLUMNS; c++)
            if (name_equal(s->column_names[c], aliases[a]))
                return c + 1;
    return 0;
}

/* Resolves a column given by name (wins) or number; 0 means "not given". */
static xanes_status resolve_column(const xanes_spectrum *s, const char *path, const char *what,
                                   const char *name, size_t number, size_t *col, xanes_error *err)
{
    if (name != NULL) {
        for (size_t c = 0; c < s->n_columns && c < XANES_SPECTRUM_MAX_COLUMNS; c++)
            if (name_equal(s->column_names[c], name)) {
                *col = c + 1;
                return XANES_OK;
            }
        char names[512] = "";
        for (size_t c = 0; c < s->n_columns && c < XANES_SPECTRUM_MAX_COLUMNS; c++) {
            size_t used = strlen(names);
            snprintf(names + used, sizeof names - used, "%s%s", c ? ", " : "",
                     s->column_names[c][0] ? s->column_names[c] : "?");
        }
        return XANES_RAISE(err, XANES_EINVAL, "%s: no column named '%s' for %s (columns: %s)", path,
                           name, what, names);
    }
    if (number > s->n_columns)
        return XANES_RAISE(err, XANES_EINVAL,
                           "%s: %s column %zu requested but the file has %zu columns", path, what,
                           number, s->n_columns);
    *col = number;
    return XANES_OK;
}

/* ---- building mu ----------------------------------------------------------- */

xanes_status spc_plan_columns(xanes_spectrum *s, const char *path,
                              const xanes_spectrum_options *opt, column_plan *cp, xanes_error *err)
{
    xanes_status st;
    memset(cp, 0, sizeof *cp);
    st = resolve_column(s, path, "energy", opt->energy_name, opt->energy_column, &cp->energy, err);
    if (st != XANES_OK)
        return st;
    if (cp->energy == 0) {
        cp->energy = find_alias(s, energy_aliases);
        if (cp->energy == 0)
            cp->energy = 1;
    }
    if ((st = resolve_column(s, path, "i0", opt->i0_name, opt->i0_column, &cp->i0, err)) ||
        (st = resolve_column(s, path, "itrans", opt->itrans_name, opt->itrans_column, &cp->itrans,
                             err)) ||
        (st = resolve_column(s, path, "mu", opt->mu_name, opt->mu_column, &cp->mu, err)))
        return st;
    if (opt->ifluor_name != NULL) {
        st = resolve_column(s, path, "ifluor", opt->ifluor_name, 0, &cp->fluor[0], err);
        if (st != XANES_OK)
            return st;
        cp->n_fluor = 1;
    }
    for (size_t k = 0; k < opt->n_ifluor && cp->n_fluor < XANES_SPECTRUM_MAX_FLUOR; k++) {
        st = resolve_column(s, path, "ifluor", NULL, opt->ifluor_columns[k],
                            &cp->fluor[cp->n_fluor], err);
        if (st != XANES_OK)
            return st;
        cp->n_fluor++;
    }
    cp->mode = opt->mode;
    if (cp->mode == XANES_MU_AUTO) {
        if (cp->mu == 0)
            cp->mu = find_alias(s, mu_aliases);
        if (cp->mu != 0) {
            cp->mode = XANES_MU_COLUMN;
        } else {
            if (cp->i0 == 0)
                cp->i0 = find_alias(s, i0_aliases);
            if (cp->itrans == 0)
                cp->itrans = find_alias(s, itrans_aliases);
            if (cp->n_fluor == 0 && (cp->fluor[0] = find_alias(s, ifluor_aliases)) != 0)
                cp->n_fluor = 1;
            if (cp->i0 != 0 && cp->itrans != 0)
                cp->mode = XANES_MU_TRANS;
            else if (cp->i0 != 0 && cp->n_fluor > 0)
                cp->mode = XANES_MU_FLUOR;
            else if (s->n_columns == 2) {
                cp->mode = XANES_MU_COLUMN;
                cp->mu = cp->energy == 1 ? 2 : 1;
            } else
                return XANES_RAISE(err, XANES_EINVAL,
                                   "%s: %zu columns and none named mu, i0/itrans or i0/ifluor: "
                                   "say how to build mu (--mu-col, --trans I0,IT or --fluor IF,I0)",
                                   path, s->n_columns);
        }
    }
    switch (cp->mode) {
    case XANES_MU_COLUMN:
        if (cp->mu == 0)
            cp->mu = cp->energy == 1 ? 2 : 1;
        break;
    case XANES_MU_TRANS:
        if (cp->i0 == 0 && (cp->i0 = find_alias(s, i0_aliases)) == 0)
            return XANES_RAISE(err, XANES_EINVAL, "%s: transmission needs an i0 column", path);
        if (cp->itrans == 0 && (cp->itrans = find_alias(s, itrans_aliases)) == 0)
            return XANES_RAISE(err, XANES_EINVAL, "%s: transmission needs an itrans column", path);
        break;
    case XANES_MU_FLUOR:
        if (cp->i0 == 0 && (cp->i0 = find_alias(s, i0_aliases)) == 0)
            return XANES_RAISE(err, XANES_EINVAL, "%s: fluorescence needs an i0 column", path);
        if (cp->n_fluor == 0 && (cp->fluor[0] = find_alias(s, ifluor_aliases)) != 0)
            cp->n_fluor = 1;
        if (cp->n_fluor == 0)
            return XANES_RAISE(err, XANES_EINVAL, "%s: fluorescence needs an ifluor column", path);
        break;
    case XANES_MU_AUTO:
        break;
    }
    return XANES_OK;
}

void spc_describe_formula(xanes_spectrum *s, const column_plan *cp)
{
    char *f = s->mu_formula;
    size_t cap = sizeof s->mu_formula;
    switch (cp->mode) {
    case XANES_MU_TRANS:
        snprintf(f, cap, "ln(i0/itrans) = ln(col%zu/col%zu)", cp->i0, cp->itrans);
        break;
    case XANES_MU_FLUOR: {
        size_t used = (size_t)snprintf(f, cap, "ifluor/i0 = (");
        for (size_t k = 0; k < cp->n_fluor && used < cap; k++)
            used += (size_t)snprintf(f + used, cap - used, "%scol%zu", k ? "+" : "", cp->fluor[k]);
        if (used < cap)
            snprintf(f + used, cap - used, ")/col%zu", cp->i0);
        break;
    }
    default:
        snprintf(f, cap, "mu = col%zu", cp->mu);
        break;
    }
}

/* describe_only: mu cannot be built.  Keeps the reason (err's message
 * without the leading "path: ") in mu_formula, blanks the k points already
 * made and clears err so that the read goes on. */
void spc_give_up_mu(xanes_spectrum *s, const char *path, size_t k, xanes_error *err)
{
    const char *why = err != NULL ? err->message : "no column rule fits";
    size_t lp = strlen(path);
    if (strncmp(why, path, lp) == 0 && strncmp(why + lp, ": ", 2) == 0)
        why += lp + 2;
    snprintf(s->mu_formula, sizeof s->mu_formula, "%.*s", (int)(sizeof s->mu_formula - 1), why);
    s->mu_missing = 1;
    for (size_t i = 0; i < k; i++)
        s->mu[i] = NAN;
    xanes_error_clear(err);
}
