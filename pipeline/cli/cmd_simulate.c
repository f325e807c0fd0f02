/* cmd_simulate.c: `xanes simulate`, the forward simulator's command line.
 *
 * Parses options into xanes_simulate_params, refuses absurd values at the
 * edge, runs xanes_simulate_run and prints a summary (or JSON).  No science
 * here: see include/xanes/simulate.h.
 */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "xanes/simulate.h"

static const char *const CMD = "simulate";

static void usage(FILE *to)
{
    fprintf(to,
            "usage: xanes simulate -o STACK.h5 [options]\n\n"
            "Forward-simulate a TXM-XANES stack of NCM particles at the Ni K edge, with known\n"
            "truth (see include/xanes/simulate.h and sample_scans/README.md).\n\n"
            "options:\n"
            "  -o, --output STACK.h5    stack to write (required)\n"
            "  --layout fxi|aps         FXI 18-ID (corrected float32 /img_xanes, default) or\n"
            "                           APS 32-ID (raw counts in /exchange/data)\n"
            "  --truth TRUTH.h5         write the truth (edge map, labels, shifts, ...)\n"
            "  --ref-out REF.xdi        write a NiO-like reference spectrum (XDI 1.0), true edge\n"
            "                           from calibration/standards.json, same energy offset\n"
            "  --ref-grid stack|fine    reference sampled at the stack's own energies (default:\n"
            "                           at TXM it is imaged with the same energy list) or on a\n"
            "                           uniform 8300-8450 eV grid, 0.25 eV steps\n"
            "  --config NCM-A|NCM-B|NCM-C|FILE  per-particle SoC from the SoC-heterogeneity\n"
            "                           model ('xanes model') for a cathode configuration of\n"
            "                           calibration/configs.json, or a JSON file with\n"
            "                           coverage_alpha, coverage_beta (and optionally\n"
            "                           electronic_contact, as for xanes model); the image shows\n"
            "                           the first particles of a 200-particle ensemble\n"
            "  --soc-mean S --soc-std S per-particle SoC ~ Normal(mean, std) (0.5, 0.2)\n"
            "  --nx N --ny N --ne N     image size and number of energies (128, 128, 50)\n"
            "  --particles N            number of particles (8)\n"
            "  --radius-min-px R --radius-max-px R  in-plane semi-axes (5 %% .. 11 %% of the\n"
            "                           smaller image side)\n"
            "  --seed S                 RNG seed, GSL mt19937 (1)\n"
            "  --noise-seed S           seed of the counting noise alone (default: --seed): the\n"
            "                           same scene, drift and flat with a new noise draw\n"
            "  --dose COUNTS            mean flat-field counts per pixel (10000; at most\n"
            "                           about 52000, where the 16-bit detector would clip)\n"
            "  --noise-free             no counting/read noise (expectation values)\n"
            "  --drift-px RMS           per-energy sample drift, random walk rms (0)\n"
            "  --energy-offset-ev EV    monochromator offset: stored - true energy (0)\n"
            "  --touching               about a third of the particles in touching pairs\n"
            "  --gradient               core-to-shell SoC gradient inside particles\n"
            "  --gradient-soc G         shell minus core SoC (implies --gradient; 0.2)\n"
            "  --dtype uint16|float32   stored type of raw counts (aps: uint16; fxi: float32\n"
            "                           transmission, uint16 = raw counts in img_xanes)\n"
            "  --flat-per-energy        one drifting flat per energy (default)\n"
            "  --fixed-flat             flat field does not drift; 5 flats written\n"
            "  --mantissa-bits B        round fxi transmission to B mantissa bits (0 = all 23)\n"
            "  --json                   print the summary as JSON\n"
            "  -h, --help               this text\n");
}

int xanes_cmd_simulate(int argc, char **argv)
{
    xanes_simulate_params p;
    xanes_simulate_default_params(&p);
    const char *out = NULL, *truth = NULL, *ref = NULL, *config = NULL;
    int json = 0, have_soc = 0;
    double soc_mean = p.soc_mean, soc_std = p.soc_std;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        double d;
        long l;
        int w;
        if (cli_is_help(a)) {
            usage(stdout);
            return CLI_EXIT_OK;
        }
        CLI_STR_OPT(CMD, "-o", out)
        CLI_STR_OPT(CMD, "--output", out)
        CLI_STR_OPT(CMD, "--truth", truth)
        CLI_STR_OPT(CMD, "--ref-out", ref)
        CLI_STR_OPT(CMD, "--config", config)
        CLI_NUM_OPT(CMD, "--soc-mean", -1.0, 2.0, (soc_mean = d, have_soc = 1))
        CLI_NUM_OPT(CMD, "--soc-std", 0.0, 2.0, (soc_std = d, have_soc = 1))
        CLI_INT_OPT(CMD, "--nx", 8, 16384, p.nx = (size_t)l)
        CLI_INT_OPT(CMD, "--ny", 8, 16384, p.ny = (size_t)l)
        CLI_INT_OPT(CMD, "--ne", 10, 10000, p.ne = (size_t)l)
        CLI_INT_OPT(CMD, "--particles", 0, XANES_SIMULATE_MAX_PARTICLES, p.n_particles = (size_t)l)
        CLI_NUM_OPT(CMD, "--radius-min-px", 2.0, 4096.0, p.radius_min_px = d)
        CLI_NUM_OPT(CMD, "--radius-max-px", 2.0, 4096.0, p.radius_max_px = d)
        CLI_INT_OPT(CMD, "--seed", 0, 4294967295L, p.seed = (unsigned long)l)
        CLI_INT_OPT(CMD, "--noise-seed", 1, 4294967295L, p.noise_seed = (unsigned long)l)
        CLI_NUM_OPT(CMD, "--dose", 1.0, 1e9, p.dose_counts = d)
        CLI_NUM_OPT(CMD, "--drift-px", 0.0, 1000.0, p.drift_px = d)
        CLI_NUM_OPT(CMD, "--energy-offset-ev", -50.0, 50.0, p.energy_offset_ev = d)
        CLI_NUM_OPT(CMD, "--gradient-soc", -1.0, 1.0, (p.gradient_soc = d, p.gradient = 1))
        CLI_INT_OPT(CMD, "--mantissa-bits", 0, 23, p.mantissa_bits = (int)l)
        CLI_VALUE_WORD(CMD, "--layout")
        {
            if (strcmp(v, "fxi") == 0)
                p.layout = XANES_SIMULATE_FXI;
            else if (strcmp(v, "aps") == 0)
                p.layout = XANES_SIMULATE_APS;
            else
                return cli_usage_error(CMD, "option --layout: '%s' is not fxi or aps", v);
            continue;
        }
        CLI_VALUE_WORD(CMD, "--ref-grid")
        {
            if (strcmp(v, "stack") == 0)
                p.ref_grid = XANES_SIMULATE_REF_STACK;
            else if (strcmp(v, "fine") == 0)
                p.ref_grid = XANES_SIMULATE_REF_FINE;
            else
                return cli_usage_error(CMD, "option --ref-grid: '%s' is not stack or fine", v);
            continue;
        }
        CLI_VALUE_WORD(CMD, "--dtype")
        {
            if (strcmp(v, "uint16") == 0)
                p.dtype = XANES_SIMULATE_DTYPE_UINT16;
            else if (strcmp(v, "float32") == 0)
                p.dtype = XANES_SIMULATE_DTYPE_FLOAT32;
            else
                return cli_usage_error(CMD, "option --dtype: '%s' is not uint16 or float32", v);
            continue;
        }
        if (strcmp(a, "--touching") == 0) {
            p.touching = 1;
        } else if (strcmp(a, "--gradient") == 0) {
            p.gradient = 1;
        } else if (strcmp(a, "--flat-per-energy") == 0) {
            p.flat_per_energy = 1;
        } else if (strcmp(a, "--fixed-flat") == 0) {
            p.flat_per_energy = 0;
        } else if (strcmp(a, "--noise-free") == 0) {
            p.noise = 0;
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else {
            return cli_usage_error(CMD, "unknown option '%s'", a);
        }
    }
    if (out == NULL)
        return cli_usage_error(CMD, "no output file: give -o STACK.h5");
    if (config != NULL && have_soc)
        return cli_usage_error(CMD, "--config and --soc-mean/--soc-std exclude each other");
    if (p.layout == XANES_SIMULATE_FXI && p.dtype == XANES_SIMULATE_DTYPE_FLOAT32)
        p.dtype = XANES_SIMULATE_DTYPE_DEFAULT; /* fxi float32 is the default transmission */

    xanes_error err;
    xanes_error_clear(&err);
    p.config = config;
    p.soc_mean = soc_mean;
    p.soc_std = soc_std;
    xanes_simulate_summary sum;
    if (xanes_simulate_run(&p, out, truth, ref, &sum, &err) != XANES_OK)
        return cli_fail(CMD, &err);

    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "stack", out);
        cJSON_AddStringToObject(o, "layout", p.layout == XANES_SIMULATE_FXI ? "fxi" : "aps");
        if (truth != NULL)
            cJSON_AddStringToObject(o, "truth", truth);
        if (ref != NULL)
            cJSON_AddStringToObject(o, "reference", ref);
        cJSON_AddNumberToObject(o, "seed", (double)p.seed);
        if (p.noise_seed != 0)
            cJSON_AddNumberToObject(o, "noise_seed", (double)p.noise_seed);
        cJSON_AddNumberToObject(o, "particles", (double)sum.n_particles);
        if (sum.n_particles > 0) {
            cJSON_AddNumberToObject(o, "edge_mean_ev", sum.edge_mean_ev);
            cJSON_AddNumberToObject(o, "edge_std_ev", sum.edge_std_ev);
            cJSON_AddNumberToObject(o, "edge_min_ev", sum.edge_min_ev);
            cJSON_AddNumberToObject(o, "edge_max_ev", sum.edge_max_ev);
        }
        cJSON_AddNumberToObject(o, "energy_offset_ev", p.energy_offset_ev);
        cJSON_AddNumberToObject(o, "reference_edge_true_ev", sum.ref_edge_true_ev);
        if (isfinite(sum.ref_edge_grid_ev))
            cJSON_AddNumberToObject(o, "reference_edge_grid_ev", sum.ref_edge_grid_ev);
        cJSON_AddNumberToObject(o, "saturated_pixels", (double)sum.n_saturated);
        cJSON_AddNumberToObject(o, "invalid_pixels", (double)sum.n_invalid);
        char *s = cJSON_Print(o);
        if (s != NULL)
            printf("%s\n", s);
        free(s);
        cJSON_Delete(o);
    } else {
        printf("wrote %s (%s layout, %zu x %zu x %zu, seed %lu)\n", out,
               p.layout == XANES_SIMULATE_FXI ? "fxi" : "aps", p.ne, p.ny, p.nx, p.seed);
        if (sum.n_particles > 0)
            printf("particles: %zu, true edge %.3f +- %.3f eV (min %.3f, max %.3f)\n",
                   sum.n_particles, sum.edge_mean_ev, sum.edge_std_ev, sum.edge_min_ev,
                   sum.edge_max_ev);
        if (truth != NULL)
            printf("truth: %s\n", truth);
        if (ref != NULL)
            printf("reference: %s (true edge %.2f eV, %.3f eV by the same definition on the "
                   "stack's true energies; energy offset %+.3f eV)\n",
                   ref, sum.ref_edge_true_ev, sum.ref_edge_grid_ev, p.energy_offset_ev);
        if (sum.n_saturated > 0 || sum.n_invalid > 0)
            printf("saturated counts: %zu, invalid transmission pixels: %zu\n", sum.n_saturated,
                   sum.n_invalid);
    }
    return CLI_EXIT_OK;
}
