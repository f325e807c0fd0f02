/* cmd_sfit.h: private to the `xanes sfit` subcommand (cmd_sfit.c parses and
 * fits, cmd_sfit_out.c formats the table, the details and the figure). */
#ifndef XANES_CMD_SFIT_H
#define XANES_CMD_SFIT_H

#include <stddef.h>

#include "xanes/normalize.h"
#include "xanes/sfit.h"
#include "xanes/spectrum.h"

#define CMD "sfit"

/* One spectrum on the command line and what became of it. */
typedef struct {
    const char *path;
    xanes_sfit_params fp;
    xanes_spectrum *spec;
    double *norm; /* [spec->n] */
    xanes_normalize_result nres;
    xanes_sfit_result res;
} sfit_item;

/* Each returns a CLI exit code after printing any error (files are written
 * atomically: nothing appears under the name on failure). */
int sfit_cli_print_json(const sfit_item *items, size_t n_items);
void sfit_cli_print_text(const sfit_item *items, size_t n_items);
int sfit_cli_write_csv(const char *path, const sfit_item *items, size_t n_items);
int sfit_cli_write_details(const char *path, const sfit_item *items, size_t n_items);
int sfit_cli_write_png(const char *path, const sfit_item *items, size_t n_items);

#endif
