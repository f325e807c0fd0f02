/* spectrum_private.h: the column naming and selection shared by the
 * spectrum reader (spectrum.c) and spectrum_columns.c.  Not installed. */
#ifndef XANES_SPECTRUM_PRIVATE_H
#define XANES_SPECTRUM_PRIVATE_H

#include <stddef.h>

#include "xanes/spectrum.h"

/* Which columns make energy and mu, 1-based (0 = none). */
typedef struct {
    size_t energy, mu, i0, itrans, n_fluor;
    size_t fluor[XANES_SPECTRUM_MAX_FLUOR];
    xanes_mu_mode mode;
} column_plan;

/* Sets column col's name (0-based) from name[len], truncated, non-UTF-8
 * bytes as '?'. */
void spc_set_name(xanes_spectrum *s, size_t col, const char *name, size_t len);

/* Splits a header line into names (runs of >= 2 spaces when two_space, as
 * SPEC #L lines, else whitespace, commas or semicolons; quotes dropped).
 * Returns the count; the first max go to start/len. */
size_t spc_split_names(const char *text, int two_space, const char **start, size_t *len,
                       size_t max);

/* APS 12-BM "1_Energy (keV) 2_sec ..." labels: 1 and the names set when the
 * line holds exactly n_cols of them, else 0. */
int spc_numbered_labels(xanes_spectrum *s, const char *l, size_t n_cols);

/* XDI keys of one header line: Column.N names (sets *xdi_names), element
 * and edge. */
void spc_read_header_key(xanes_spectrum *s, const char *line, int *xdi_names);

/* Resolves the options into a column plan.  XANES_EINVAL (named or numbered
 * column not there, no rule builds mu) with the message naming path. */
xanes_status spc_plan_columns(xanes_spectrum *s, const char *path,
                              const xanes_spectrum_options *opt, column_plan *cp, xanes_error *err);

/* Writes the formula of the plan into s->mu_formula. */
void spc_describe_formula(xanes_spectrum *s, const column_plan *cp);

/* describe_only: mu cannot be built.  Keeps err's reason in mu_formula,
 * sets mu_missing, blanks the k points already made, clears err. */
void spc_give_up_mu(xanes_spectrum *s, const char *path, size_t k, xanes_error *err);

#endif
