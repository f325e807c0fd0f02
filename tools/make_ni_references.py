#!/usr/bin/python3
"""Build calibration/ni_references/ni_k_references.json from two measured Ni K-edge spectra.

Dev script (never needed at run time).  Run from the repository root:
    /usr/bin/python3 tools/make_ni_references.py ../shared/data/real

Inputs (CERIC / LISA XAS repository, CC BY 4.0 -- "Based on the LISA XAS Repository by
Alessandro Puri", DOI 10.5281/zenodo.10778098, measured at ESRF BM08):
  NiO_111.xdi            NiO (Ni2+), 300 K, transmission, mu = column 2 (mutrans)
  LaNiO3_Ni_80K_111.xdi  LaNiO3 (Ni3+), 80 K, transmission, mu = column 2 (mutrans)

Processing: larch 0.9.58 pre_edge() with its default ranges on the full measured scan, the
'flat' normalized spectrum (post-edge curvature removed), then monotone PCHIP interpolation
(scipy) onto a uniform 0.1 eV grid.  The energies are the files' own (uncalibrated) axes:
the simulator shifts each shape so that its half-edge lands on the calibration scale, so only
the shape matters, not where the beamline put it.
"""
import json
import os
import sys

import larch
import numpy as np
from larch.xafs import pre_edge
from scipy.interpolate import PchipInterpolator

E_START, E_STOP, E_STEP = 8230.0, 8650.0, 0.1

SOURCES = [
    ("Ni2+", "NiO_111.xdi", "NiO (Nickel(II) oxide), 300 K, ESRF BM08-LISA, scan 2023-11-18"),
    ("Ni3+", "LaNiO3_Ni_80K_111.xdi", "LaNiO3 (lanthanum nickel oxide), 80 K, ESRF BM08-LISA, scan 2024-10-26"),
]


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/real"
    n = int(round((E_STOP - E_START) / E_STEP)) + 1
    grid = E_START + E_STEP * np.arange(n)
    shapes = {}
    for key, fname, sample in SOURCES:
        d = np.loadtxt(os.path.join(src, fname))
        e, mu = d[:, 0], d[:, 1]
        g = larch.Group(energy=e, mu=mu)
        pre_edge(g)
        det = g.pre_edge_details
        flat = PchipInterpolator(e, g.flat)(grid)
        shapes[key] = {
            "source_file": fname,
            "sample": sample,
            "larch_e0_ev": round(float(g.e0), 4),
            "larch_edge_step": round(float(g.edge_step), 6),
            "larch_ranges_ev": [float(det.pre1), float(det.pre2), float(det.norm1), float(det.norm2)],
            "larch_nnorm": int(det.nnorm),
            "norm": [round(float(v), 6) for v in flat],
        }
    out = {
        "_about": "Normalized Ni K-edge XANES shapes used by `xanes simulate` to build pixel "
                  "spectra (Ni3+, and Ni4+ = the Ni3+ shape shifted to the Ni4+ edge) and the "
                  "NiO-like reference spectrum (Ni2+).  Shapes only: the simulator shifts each so "
                  "that its half-edge equals the edge energy of the calibration scale "
                  "(calibration/standards.json).",
        "_attribution": "Based on the LISA XAS Repository by Alessandro Puri, DOI "
                        "10.5281/zenodo.10778098 (CC BY 4.0); files from "
                        "github.com/amecchina/CERIC-Reference-Spectra-Repository commit "
                        "cae9f38056af11bd557e3d195b1aa11f0861f07f, website/pages/lisa-esrf/files/.",
        "_processing": "larch 0.9.58 pre_edge() with default ranges on the full measured scan; "
                       "the 'flat' array (normalized, post-edge curvature removed); PCHIP "
                       "interpolation onto the uniform grid below.  Made by "
                       "tools/make_ni_references.py.",
        "_ni4_note": "No Ni4+ reference with a permitted licence is available, so Ni4+ is modelled "
                     "as the Ni3+ (LaNiO3) shape shifted to the Ni4+ edge of the calibration scale.",
        "energy_start_ev": E_START,
        "energy_step_ev": E_STEP,
        "n": n,
        "shapes": shapes,
    }
    path = os.path.join("calibration", "ni_references", "ni_k_references.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print("wrote", path, n, "points")


if __name__ == "__main__":
    main()
