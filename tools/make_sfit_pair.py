#!/usr/bin/python3
"""Simulated pristine / cycled argyrodite S K-edge pair for `xanes sfit` (dev script).

Writes tests/data/sfit_pristine.dat, tests/data/sfit_cycled.dat (two columns:
energy in eV, mu) and tests/data/sfit_pair_truth.json.  The spectra follow the
model of include/xanes/sfit.h (erf step + four pseudo-Voigt peaks, eta 0.5)
at the seed paper's positions (peak 1 PS4 2472 eV, peak 2 P-S-P 2473 eV,
peak 3 multiple scattering 2477 eV, peak 4 sulfate 2483 eV); "cycled" has a
larger peak 2 and sulfate peak 4, as Fig. 4 of the paper reports for the
degraded electrodes.  The erf step (not arctan) keeps the step's tails out of
larch's pre- and post-edge ranges, so normalization returns the model to
~0.5 %; fit it with `--step erf`.  The raw mu adds a sloped pre-edge line and an edge-step
scale so that `xanes sfit` has to normalize it, and Gaussian noise (numpy
RandomState with fixed seeds).  Truth (in normalized units, step height 1):
every parameter, the areas height * FWHM * K, and the window area of peak 4
over 2480-2487 eV on the sample grid.

Usage: /usr/bin/python3 tools/make_sfit_pair.py   (from the repository root)
"""
import json
import math

import numpy as np
from scipy.special import erf

LN2 = math.log(2.0)
ETA = 0.5
K = (1 - ETA) * math.sqrt(math.pi / (4 * LN2)) + ETA * math.pi / 2
STEP = {"form": "erf", "e0": 2473.9, "width": 0.9, "height": 1.0}
CENTERS = [2472.2, 2473.3, 2477.1, 2482.9]
FWHM = [1.4, 1.6, 3.2, 2.6]
HEIGHTS = {"pristine": [1.9, 0.55, 0.50, 0.10], "cycled": [1.9, 0.85, 0.55, 0.26]}
SEEDS = {"pristine": 20251, "cycled": 20252}
NOISE = 0.006          # per point, in units of the edge step
SCALE = 0.73           # raw edge step
PRE = (0.12, 3e-4)     # raw pre-edge line: offset + slope * (E - 2440)
WINDOW = (2480.0, 2487.0)


def grid():
    return np.concatenate([np.arange(2440.0, 2465.0, 1.0), np.arange(2465.0, 2490.0, 0.2),
                           np.arange(2490.0, 2560.01, 1.0)])


def peak(e, c, f, a):
    d2 = (e - c) ** 2 / (f * f)
    return a * ((1 - ETA) * np.exp(-4 * LN2 * d2) + ETA / (1 + 4 * d2))


def main():
    e = grid()
    truth = {"script": "tools/make_sfit_pair.py", "model": "erf step + pvoigt (eta 0.5)",
             "noise_per_point_norm": NOISE, "raw_scale": SCALE, "raw_pre_line": PRE,
             "window_ev": WINDOW, "spectra": {}}
    for name, heights in HEIGHTS.items():
        step = STEP["height"] * 0.5 * (1.0 + erf((e - STEP["e0"]) / STEP["width"]))
        model = step + sum(peak(e, c, f, a) for c, f, a in zip(CENTERS, FWHM, heights))
        rng = np.random.RandomState(SEEDS[name])
        norm = model + rng.normal(0.0, NOISE, e.size)
        mu = PRE[0] + PRE[1] * (e - 2440.0) + SCALE * norm
        path = "tests/data/sfit_%s.dat" % name
        with open(path, "w") as fh:
            fh.write("# simulated S K-edge spectrum (%s), tools/make_sfit_pair.py\n" % name)
            fh.write("# energy mu\n")
            for x, y in zip(e, mu):
                fh.write("%.3f %.7f\n" % (x, y))
        sel = (e >= WINDOW[0]) & (e <= WINDOW[1])
        p4 = peak(e, CENTERS[3], FWHM[3], heights[3])
        truth["spectra"][name] = {
            "file": path, "seed": SEEDS[name], "step": STEP,
            "peaks": [{"center_ev": c, "fwhm_ev": f, "height": a, "area": a * f * K}
                      for c, f, a in zip(CENTERS, FWHM, heights)],
            "window_area": float(np.trapz(p4[sel], e[sel])),
        }
    with open("tests/data/sfit_pair_truth.json", "w") as fh:
        json.dump(truth, fh, indent=1)
        fh.write("\n")


if __name__ == "__main__":
    main()
