/* spectrum.h: one 1-D absorption spectrum and the reader for XDI and
 * plain-column text files.
 *
 * A spectrum owns two arrays of n doubles: energy_ev (strictly increasing,
 * always in eV, whatever the file used) and mu.  The reader builds mu from the
 * file's columns as transmission ln(i0/itrans), fluorescence ifluor/i0, or a
 * given mu column, as the options say.
 */
#ifndef XANES_SPECTRUM_H
#define XANES_SPECTRUM_H

#include <stddef.h>

#include "xanes/status.h"

typedef enum {
    XANES_MU_AUTO = 0, /* a column named mu/mutrans/xmu..., else 2nd column  */
    XANES_MU_COLUMN,   /* mu = column mu_column                               */
    XANES_MU_TRANS,    /* mu = ln(i0 / itrans)                                */
    XANES_MU_FLUOR     /* mu = ifluor / i0 (sum of several ifluor columns)    */
} xanes_mu_mode;

typedef enum {
    XANES_UNIT_AUTO = 0, /* keV when the values are below 100, or header says so */
    XANES_UNIT_EV,
    XANES_UNIT_KEV
} xanes_energy_unit;

#define XANES_SPECTRUM_MAX_FLUOR 16

/* Column selections are 1-based column numbers (0 = not given) or names
 * (NULL = not given); a name wins over a number. */
typedef struct {
    xanes_mu_mode mode;
    xanes_energy_unit energy_unit;
    size_t energy_column;
    const char *energy_name;
    size_t mu_column;
    const char *mu_name;
    size_t i0_column;
    const char *i0_name;
    size_t itrans_column;
    const char *itrans_name;
    size_t ifluor_columns[XANES_SPECTRUM_MAX_FLUOR]; /* summed */
    size_t n_ifluor;
    const char *ifluor_name;
    int sort; /* nonzero: sort energies and average exact duplicates
                 instead of failing on them */
    /* JSON files (an object of arrays, no energy axis): mu = key[index],
     * energy_ev = grid_start_ev + grid_step_ev * i. */
    const char *json_key;
    const char *json_index;
    double grid_start_ev; /* NaN = not given */
    double grid_step_ev;  /* NaN = not given */
    int describe_only;    /* nonzero: when mu cannot be built (no column rule
                             fits, or a value under the logarithm is not
                             positive), still return the spectrum, with mu
                             all NaN, mu_missing set and the reason in
                             mu_formula (for `xanes info`) */
} xanes_spectrum_options;

void xanes_spectrum_default_options(xanes_spectrum_options *opt);

#define XANES_SPECTRUM_MAX_COLUMNS 64

typedef struct xanes_spectrum {
    size_t n;
    double *energy_ev; /* [n], strictly increasing eV */
    double *mu;        /* [n] */
    char path[512];    /* file it came from ("" if built in memory) */
    char element[8];   /* e.g. "Ni", "" if unknown */
    char edge[8];      /* e.g. "K", "" if unknown */
    char format[16];   /* "XDI", "columns", "SPEC", "MRCAT", "JSON" ... */
    size_t n_columns;  /* columns found in the file */
    char column_names[XANES_SPECTRUM_MAX_COLUMNS][32];
    char mu_formula[256]; /* how mu was built, e.g. "ln(i0/itrans) = ln(col2/col3)",
                             or why it was not (mu_missing) */
    int mu_missing;       /* describe_only: mu is NaN, mu_formula says why */
    int energy_was_kev;   /* nonzero when the file's energies were converted */
} xanes_spectrum;

/* Allocates a spectrum with n points (arrays uninitialised).  NULL on
 * allocation failure.  Free with xanes_spectrum_free. */
xanes_spectrum *xanes_spectrum_alloc(size_t n);
void xanes_spectrum_free(xanes_spectrum *s); /* NULL is a no-op */

/* Reads path with the given options (NULL = defaults).  On success *out is a
 * new spectrum owned by the caller.  Returns XANES_EIO (cannot open),
 * XANES_EFORMAT (empty, binary, ragged, no data), XANES_EDATA (NaN/Inf,
 * unsorted or duplicate energies, energies outside 1 eV .. 1 MeV after the
 * unit conversion, fewer than 10 points, non-positive values under a
 * logarithm), XANES_EINVAL (options name a column that is not there).
 * Every message names the file and the line or column.  Thread-safe. */
xanes_status xanes_spectrum_read(const char *path, const xanes_spectrum_options *opt,
                                 xanes_spectrum **out, xanes_error *err);

#endif
