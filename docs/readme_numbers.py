#!/usr/bin/python3
"""readme_numbers.py: print the comparison tables quoted in README.md.

Run from the repository root after building (`cmake --build build`), with the
Debian python, which sees python3-xraylarch 0.9.58, python3-lmfit, numpy:

    /usr/bin/python3 docs/readme_numbers.py [--xanes build/xanes]

It runs the built `xanes` and, beside it, larch 0.9.58 (live, not the test
fixture) on the same spectra, and prints:
  1. `xanes norm` vs larch pre_edge on NiO_111.xdi (defaults);
  2. `xanes calibrate` vs larch on Ni_foil_111.xdi (derivative edge);
  3. the agreement with larch over every real spectrum in tests/data that
     larch_reference.json lists (larch parameters passed explicitly, and with
     our defaults);
  4. `xanes sfit` vs lmfit areas on the real S K-edge spectra
     (tests/data/lmfit_reference.json, written by tools/lmfit_reference.py);
  5. `xanes run` on each sample scan against its truth file, particle by
     particle (matched as tools/accuracy_table.py does); with --fresh, on the
     scans simulated now by this build with tools/make_sample_scans.sh's
     arguments (into a temporary directory) instead of the committed ones.
The half-edge and derivative-edge energies on larch's side are computed in
numpy from larch's norm and dmude by the definitions of include/xanes/edge.h
(functions imported from tools/larch_reference.py).  Nothing here is needed
by the build or the tests.
"""
import argparse
import csv
import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SRC, "tools"))
import larch  # noqa: E402
from larch_reference import SPECS, deriv_edge, fit_range, half_edge, numeric_rows  # noqa: E402
from larch import Group  # noqa: E402
from larch.xafs import find_e0, pre_edge  # noqa: E402

DATA = os.path.join(SRC, "tests", "data")
# Reader options that build mu as shared/data/real/PROVENANCE.md says (every
# other file: the reader's default rule gives that mu).
OPTS = {"APS10BM_2019.dat": ["--sort"],
        "APS9BM_2006.dat": ["--fluor", "25+26+27+28+29+31,7"]}


def xanes_json(xanes, args):
    r = subprocess.run([xanes] + args + ["--json"], check=True, capture_output=True, text=True)
    return json.loads(r.stdout)


def larch_side(name):
    formula, build = SPECS[name]
    energy, mu = build(numeric_rows(os.path.join(DATA, name)))
    ue, inv = np.unique(energy, return_inverse=True)
    if len(ue) != len(energy):  # APS10BM: average duplicates, as --sort does
        mu = np.bincount(inv, weights=mu) / np.bincount(inv)
        energy = ue
    g = Group(energy=energy, mu=mu)
    fe0 = float(find_e0(energy, mu))
    pre_edge(g)
    d = g.pre_edge_details
    e0 = float(g.e0)
    _, p2 = fit_range(energy, e0, d.pre1, d.pre2)
    q1, _ = fit_range(energy, e0, d.norm1, d.norm2)
    return g, {"find_e0": fe0, "e0": e0, "pre1": float(d.pre1), "pre2": float(d.pre2),
               "norm1": float(d.norm1), "norm2": float(d.norm2), "nnorm": int(d.nnorm),
               "edge_step": float(g.edge_step), "pre_slope": float(d.pre_slope),
               "pre_offset": float(d.pre_offset),
               "half_edge": half_edge(energy, g.norm, max(p2 - 1, 0)),
               "deriv_edge": deriv_edge(energy, g.dmude, p2, q1)}


def norm_csv(xanes, name, extra):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "n.csv")
        subprocess.run([xanes, "norm", os.path.join(DATA, name), "-o", out] + extra,
                       check=True, capture_output=True)
        with open(out) as f:
            rows = list(csv.DictReader(f))
    return np.array([float(r["norm"]) for r in rows])


def section_norm(xanes):
    name = "NiO_111.xdi"
    ours = xanes_json(xanes, ["norm", "tests/data/" + name])
    g, ref = larch_side(name)
    print("## 1. xanes norm tests/data/%s --json   vs   larch %s pre_edge(defaults)" %
          (name, larch.__version__))
    print("| quantity | xanes | larch 0.9.58 | difference |")
    print("|---|---|---|---|")
    rows = [("e0 (eV)", "e0_ev", "e0", "%.3f"),
            ("pre1 / pre2 (eV)", None, None, None),
            ("norm1 / norm2 (eV)", None, None, None),
            ("nnorm", "nnorm", "nnorm", "%d"),
            ("edge_step", "edge_step", "edge_step", "%.6f"),
            ("pre_slope", "pre_slope", "pre_slope", "%.6e"),
            ("pre_offset", "pre_offset", "pre_offset", "%.6f"),
            ("half-edge energy (eV)", "half_edge_ev", "half_edge", "%.3f"),
            ("derivative edge (eV)", "deriv_edge_ev", "deriv_edge", "%.3f")]
    for label, ko, kl, fmt in rows:
        if ko is None:
            a, b = ("pre1", "pre2") if label.startswith("pre") else ("norm1", "norm2")
            print("| %s | %g / %g | %g / %g | |" % (label, ours[a], ours[b], ref[a], ref[b]))
            continue
        o, r = ours[ko], ref[kl]
        if ko == "edge_step":
            diff = "%+.1e %%" % (100.0 * (o - r) / r)
        elif ko == "nnorm":
            diff = ""
        else:
            diff = "%+.1e" % (o - r)
        print("| %s | %s | %s | %s |" % (label, fmt % o, fmt % r, diff))
    n = norm_csv(xanes, name, [])
    print("| norm, RMS difference over %d points | | | %.2e |" %
          (len(n), float(np.sqrt(np.mean((n - g.norm) ** 2)))))
    print()


def section_calibrate(xanes):
    name = "Ni_foil_111.xdi"
    ref_edge = 8333.0
    ours = xanes_json(xanes, ["calibrate", "tests/data/" + name, "--ref-edge", "%.1f" % ref_edge,
                              "--edge", "deriv"])
    _, ref = larch_side(name)
    print("## 2. xanes calibrate tests/data/%s --ref-edge %.1f --edge deriv --json   vs   larch"
          % (name, ref_edge))
    print("| quantity | xanes | larch 0.9.58 | difference |")
    print("|---|---|---|---|")
    print("| find_e0 / e0 (eV) | %.3f | %.3f | %+.1e |" % (ours["e0_ev"], ref["find_e0"],
                                                          ours["e0_ev"] - ref["find_e0"]))
    print("| measured edge, max of dmu/dE refined (eV) | %.4f | %.4f | %+.1e |" %
          (ours["measured_edge_ev"], ref["deriv_edge"], ours["measured_edge_ev"] - ref["deriv_edge"]))
    print("| offset = %.1f - edge (eV) | %+.4f | %+.4f | %+.1e |" %
          (ref_edge, ours["offset_ev"], ref_edge - ref["deriv_edge"],
           ours["offset_ev"] - (ref_edge - ref["deriv_edge"])))
    print("| edge_step | %.5f | %.5f | %+.1e %% |" %
          (ours["edge_step"], ref["edge_step"],
           100.0 * (ours["edge_step"] - ref["edge_step"]) / ref["edge_step"]))
    print()


def section_all(xanes):
    with open(os.path.join(DATA, "larch_reference.json")) as f:
        fixture = json.load(f)
    names = [s["file"] for s in fixture["spectra"]]
    print("## 3. every real spectrum in tests/data (%d), xanes vs larch %s run now" %
          (len(names), larch.__version__))
    print("| file | spacing at e0 (eV) | e0 diff, defaults (eV) | edge_step diff, larch params |"
          " half-edge diff (eV) | norm RMS diff |")
    print("|---|---|---|---|---|---|")
    worst = {"e0_spacing": 0.0, "step": 0.0, "half": 0.0, "rms": 0.0}
    for name in names:
        g, ref = larch_side(name)
        path = os.path.join("tests/data", name)
        opt = OPTS.get(name, [])
        dflt = xanes_json(xanes, ["norm", path] + opt)
        given = ["--e0", repr(ref["e0"]), "--pre1", repr(ref["pre1"]), "--pre2", repr(ref["pre2"]),
                 "--norm1", repr(ref["norm1"]), "--norm2", repr(ref["norm2"]),
                 "--nnorm", str(ref["nnorm"])]
        exp = xanes_json(xanes, ["norm", path] + opt + given)
        n = norm_csv(xanes, name, opt + given)
        e = g.energy
        i = int(np.abs(e - ref["e0"]).argmin())
        spacing = float(e[min(i + 1, len(e) - 1)] - e[max(i - 1, 0)]) / 2.0
        de0 = dflt["e0_ev"] - ref["find_e0"]
        dstep = 100.0 * (exp["edge_step"] - ref["edge_step"]) / ref["edge_step"]
        dhalf = exp["half_edge_ev"] - ref["half_edge"]
        rms = float(np.sqrt(np.mean((n - g.norm) ** 2)))
        worst["e0_spacing"] = max(worst["e0_spacing"], abs(de0) / spacing)
        worst["step"] = max(worst["step"], abs(dstep))
        worst["half"] = max(worst["half"], abs(dhalf))
        worst["rms"] = max(worst["rms"], rms)
        print("| %s | %.2f | %+.1e | %+.1e %% | %+.1e | %.1e |" %
              (name, spacing, de0, dstep, dhalf, rms))
    print("worst: |e0 diff| = %.1e sample spacings, |edge_step| %.1e %%, |half-edge| %.1e eV, "
          "norm RMS %.1e" % (worst["e0_spacing"], worst["step"], worst["half"], worst["rms"]))
    print()


def section_sfit(xanes):
    with open(os.path.join(DATA, "lmfit_reference.json")) as f:
        ref = json.load(f)
    print("## 4. xanes sfit on the real S K-edge spectra vs lmfit %s (%s)" %
          (ref["lmfit_version"], "tests/data/lmfit_reference.json"))
    print("| spectrum | shape/step | peak | centre (eV) | FWHM (eV) | area | lmfit area |"
          " diff | chi2_red | warnings |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for s in ref["spectra"]:
        args = ["sfit"] + s["cli_args"]
        out = xanes_json(xanes, args)["spectra"][0]
        cfg = s["config"]
        nw = len(out["warnings"])
        for k, (p, q) in enumerate(zip(out["peaks"], s["lmfit"]["peaks"])):
            first = k == 0
            print("| %s | %s | %d | %.2f +- %.2f | %.2f | %.4f +- %.4f | %.4f | %+.1e %% | %s | %s |" % (
                cfg["file"] if first else "", "%s/%s" % (cfg["shape"], cfg["step"]) if first else "",
                k + 1, p["center_ev"], p["center_err"], p["fwhm_ev"], p["area"], p["area_err"],
                q["area"], 100.0 * (p["area"] - q["area"]) / q["area"],
                "%.2f" % out["chi2_red"] if first else "", str(nw) if first else ""))
    print()
    print("commands:")
    for s in ref["spectra"]:
        print("  xanes sfit " + " ".join(s["cli_args"]))
    print()


def section_run(xanes):
    import h5py
    print("## 5. xanes run on sample_scans/ vs truth (particles matched by overlap after the "
          "reference-frame offset, as tools/accuracy_table.py)")
    fresh = "--fresh" in sys.argv
    with tempfile.TemporaryDirectory() as tmp:
        for i, c in enumerate("abc"):
            out = os.path.join(tmp, c)
            stack, ref, truth = ("sample_scans/ncm_%s%s" % (c, x) for x in (".h5", "_ref.xdi",
                                                                            "_truth.h5"))
            if fresh:  # the stacks as tools/make_sample_scans.sh makes them with this build
                stack, ref, truth = (os.path.join(tmp, "%s%s" % (c, x)) for x in
                                     (".h5", "_ref.xdi", "_truth.h5"))
                subprocess.run([xanes, "simulate", "-o", stack, "--truth", truth, "--ref-out", ref,
                                "--config", "NCM-" + c.upper(), "--seed", str(101 + i),
                                "--layout", "fxi", "--nx", "128", "--ny", "128", "--ne", "50",
                                "--particles", "7", "--touching", "--dose", "10000",
                                "--drift-px", "1.5", "--energy-offset-ev", "1.37",
                                "--mantissa-bits", "10", "--fixed-flat", "--ref-grid", "stack"],
                               check=True, capture_output=True)
            subprocess.run([xanes, "run", stack, "--calib", ref, "--ref-edge", "8353.01", "-o",
                            out], check=True, capture_output=True)
            with h5py.File(truth, "r") as t, \
                    h5py.File(os.path.join(out, "results.h5"), "r") as r:
                tl, ts = t["labels"][()], t["shifts"][()]
                grid, phys = t["particle_edge_grid_ev"][()], t["particle_edge_mean_ev"][()]
                sim_off = float(t["energy_offset_ev"][()])
                rl, es = r["results/labels"][()], r["results/shifts"][()]
                off = float(r["/parameters"].attrs["energy_offset_ev"])
            ok = np.isfinite(es).all(axis=1)
            d = es[ok] + ts[ok]
            cc = d.mean(axis=0)
            drift = float(np.sqrt(((d - cc) ** 2).mean()))
            oy, ox = int(np.round(cc[0])), int(np.round(cc[1]))
            shifted = np.roll(np.roll(tl, oy, axis=0), ox, axis=1)
            rows = list(csv.DictReader(open(os.path.join(out, "particles.csv"))))
            tab = np.zeros((int(rl.max()) + 1, int(tl.max()) + 1), dtype=np.int64)
            np.add.at(tab, (rl.ravel(), shifted.ravel()), 1)
            tab[0, :] = 0
            tab[:, 0] = 0
            print("ncm_%s: offset %+.3f eV (true %+.3f, error %+.3f), drift error %.3f px rms, "
                  "%d particles found of %d" % (c, off, -sim_off, off + sim_off, drift,
                                                int(rl.max()), int(tl.max())))
            print("| label | truth particle | edge_mean_ev | edge_mean_spectrum_ev | truth (grid) |"
                  " truth (physical) | pixel-mean - grid | spectrum - grid |")
            print("|---|---|---|---|---|---|---|---|")
            for row in rows:
                k = int(row["label"])
                j = int(np.argmax(tab[k]))
                em, esp = float(row["edge_mean_ev"]), float(row["edge_mean_spectrum_ev"])
                print("| %d | %d | %.3f | %.3f | %.3f | %.3f | %+.3f | %+.3f |" % (
                    k, j, em, esp, grid[j - 1], phys[j - 1], em - grid[j - 1], esp - grid[j - 1]))
            print()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--xanes", default="build/xanes")
    ap.add_argument("--fresh", action="store_true",
                    help="section 5 on freshly simulated sample scans instead of sample_scans/")
    a = ap.parse_args()
    os.chdir(SRC)
    print("xanes: %s; larch %s; numpy %s" % (
        subprocess.run([a.xanes, "--version"], capture_output=True, text=True).stdout.strip(),
        larch.__version__, np.__version__))
    print()
    section_norm(a.xanes)
    section_calibrate(a.xanes)
    section_all(a.xanes)
    section_sfit(a.xanes)
    section_run(a.xanes)


if __name__ == "__main__":
    main()
