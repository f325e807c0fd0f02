/* standards.h: Ni K-edge energy standards and the valence / state-of-charge
 * scales built from them.
 *
 * The numbers live in calibration/standards.json (with their provenance), not
 * in code: change the file and every scale changes with it.  A loaded
 * xanes_standards is a plain value: copy it freely, share it read-only
 * between threads.
 */
#ifndef XANES_STANDARDS_H
#define XANES_STANDARDS_H

#include "xanes/normalize.h"
#include "xanes/status.h"

typedef struct xanes_standards {
    double nio_edge_ev;             /* NiO (Ni2+) edge energy, eV                  */
    double nio_valence;             /* valence assigned to NiO (2)                 */
    double ni4_edge_ev;             /* fully delithiated NCM (Ni4+) edge, eV       */
    double ni4_valence;             /* valence assigned to it (4)                  */
    double ni4_soc;                 /* state of charge assigned to it (1)          */
    double pristine_edge_ev;        /* pristine NCM edge energy, eV                */
    double pristine_soc;            /* state of charge assigned to it (0)          */
    double overcharge_threshold_ev; /* edge above which a region is overcharged    */
    char element[8];                /* e.g. "Ni"                                   */
    char edge[8];                   /* e.g. "K"                                    */
    char path[512];                 /* file the values were read from              */
    /* edge_definition: the normalization of every TXM edge energy (xanes
     * run, the simulator's truth).  e0 is fixed at the anchor standard's
     * edge; windows are relative to it (eV). */
    double def_e0_ev;
    double def_pre1_ev, def_pre2_ev, def_norm1_ev, def_norm2_ev;
    int def_nnorm;
    double def_half_level;
    int def_crossing_steffen; /* "crossing": "steffen" (1) or "linear" (0, larch; the
                                default when the key is absent) */
    int def_fit_interpolant;  /* "fit": "interpolant" (1) or "points" (0, larch) */
} xanes_standards;

/* Reads the standards file at path.  path == NULL means
 * "$XANES_CALIBRATION_DIR/standards.json" when that environment variable is
 * set and non-empty, else the compiled-in calibration directory
 * (XANES_CALIBRATION_DIR).  The file must hold the keys
 *   standards.NiO.{edge_ev, valence}
 *   standards.NCM_delithiated.{edge_ev, valence, soc}
 *   standards.NCM_pristine.{edge_ev, soc}
 *   overcharge_threshold_ev
 * as finite numbers, with NiO < NCM_pristine < NCM_delithiated edges and
 * distinct valences / SoC values.  On success *out is filled (out->path holds
 * the file used).  Returns XANES_EIO (cannot open or read), XANES_EFORMAT (not
 * JSON, not an object), XANES_EDATA (a key missing, not a number, not finite,
 * edges not increasing): the message names the file and the key.
 * XANES_EINVAL for out == NULL.  Thread-safe (reads the environment only). */
xanes_status xanes_standards_load(const char *path, xanes_standards *out, xanes_error *err);

/* Ni valence of an edge energy (eV): the line through (nio_edge_ev,
 * nio_valence) and (ni4_edge_ev, ni4_valence), extrapolated linearly outside
 * that range (callers decide whether to clip).  Pure, thread-safe. */
double xanes_standards_valence(const xanes_standards *std, double edge_ev);

/* State of charge (fraction, 0..1 between the standards) of an edge energy:
 * the line through (pristine_edge_ev, pristine_soc) and (ni4_edge_ev,
 * ni4_soc), extrapolated linearly.  Pure, thread-safe. */
double xanes_standards_soc(const xanes_standards *std, double edge_ev);

/* Inverse of xanes_standards_soc: the edge energy (eV) of a state of charge.
 * Pure, thread-safe. */
double xanes_standards_edge_from_soc(const xanes_standards *std, double soc);

/* Inverse of xanes_standards_valence: the edge energy (eV) of a valence.
 * Pure, thread-safe. */
double xanes_standards_edge_from_valence(const xanes_standards *std, double valence);

/* Fills p with the file's edge_definition (explicit e0 at the anchor,
 * windows, nnorm, half level; both edge energies requested).  Thread-safe. */
void xanes_standards_edge_params(const xanes_standards *std, xanes_normalize_params *p);

/* Nonzero when edge_ev lies strictly above the overcharge threshold. */
int xanes_standards_is_overcharged(const xanes_standards *std, double edge_ev);

#endif
