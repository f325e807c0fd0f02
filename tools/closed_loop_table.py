#!/usr/bin/python3
"""Closed-loop accuracy table: simulate -> xanes run -> compare with truth.

Dev script (never needed at run time; CI has its own C closed-loop test).  For each
configuration and seed it runs `xanes simulate` (stack, truth, NiO reference with an energy
offset), then `xanes run` with the reference, and prints, per run:

  edge err   mean / max |pipeline particle edge - true particle edge| (eV), particles matched
             to truth labels by largest overlap; both edge_mean_ev (pixel mean) and
             edge_mean_spectrum_ev (edge of the averaged spectrum) are reported
  bias       mean signed error of edge_mean_ev (eV)
  drift rms  rms over frames and axes of (pipeline correction + true shift), after removing the
             constant offset between the two reference frames (px)
  F1         particle detection: a true particle is found when the pipeline label that covers
             most of it lies mostly (more than half its pixels) inside it, one label per particle
  calib err  pipeline energy offset - (-true offset) (eV)

Usage (two binaries are allowed while the branches are apart):
  /usr/bin/python3 tools/closed_loop_table.py --sim build/xanes --run ../run/build/xanes \
      [--configs NCM-A NCM-B NCM-C] [--seeds 1 2 3] [--dose 10000] [--ne 50] [--markdown]
"""
import argparse
import csv
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np


def simulate(sim, d, cfg, seed, a):
    stack, truth, ref = (os.path.join(d, n) for n in ("s.h5", "t.h5", "r.xdi"))
    cmd = [sim, "simulate", "-o", stack, "--truth", truth, "--ref-out", ref, "--config", cfg,
           "--seed", str(seed), "--nx", str(a.n), "--ny", str(a.n), "--ne", str(a.ne),
           "--particles", str(a.particles), "--dose", str(a.dose), "--drift-px", str(a.drift),
           "--energy-offset-ev", str(a.offset)]
    if a.touching:
        cmd.append("--touching")
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return stack, truth, ref


def compare(out, truth_path, offset):
    t = h5py.File(truth_path, "r")
    r = h5py.File(os.path.join(out, "results.h5"), "r")["results"]
    tl = t["labels"][:]
    pl = r["labels"][:]
    pe_true = t["particle_edge_mean_ev"][:]
    rows = {int(row["label"]): row for row in csv.DictReader(open(os.path.join(out, "particles.csv")))}
    n_true = int(tl.max())
    found, err_pix, err_spec = 0, [], []
    used = set()
    for i in range(1, n_true + 1):
        mask = tl == i
        labs, counts = np.unique(pl[mask], return_counts=True)
        keep = labs > 0
        if not keep.any():
            continue
        labs, counts = labs[keep], counts[keep]
        j = int(labs[np.argmax(counts)])
        inside = np.logical_and(pl == j, mask).sum()
        if inside * 2 > (pl == j).sum() and j not in used:
            found += 1
            used.add(j)
            row = rows[j]
            err_pix.append(float(row["edge_mean_ev"]) - pe_true[i - 1])
            err_spec.append(float(row["edge_mean_spectrum_ev"]) - pe_true[i - 1])
    n_pipe = int(pl.max())
    prec = found / n_pipe if n_pipe else 0.0
    rec = found / n_true if n_true else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec > 0 else 0.0
    d = -r["shifts"][:] - t["shifts"][:]
    d -= d.mean(axis=0)
    drift = float(np.sqrt((d ** 2).mean()))
    calib = float(r["energy"].attrs["energy_offset_ev"]) + offset
    return err_pix, err_spec, drift, f1, calib


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sim", required=True)
    ap.add_argument("--run", required=True)
    ap.add_argument("--configs", nargs="+", default=["NCM-A", "NCM-B", "NCM-C"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--ne", type=int, default=50)
    ap.add_argument("--particles", type=int, default=7)
    ap.add_argument("--dose", type=float, default=10000)
    ap.add_argument("--drift", type=float, default=1.5)
    ap.add_argument("--offset", type=float, default=1.37)
    ap.add_argument("--touching", action="store_true", default=True)
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    hdr = ["config", "seed", "matched", "edge err pix (mean/max)", "edge err spectrum (mean/max)",
           "bias pix", "drift rms px", "F1", "calib err eV"]
    if a.markdown:
        print("| " + " | ".join(hdr) + " |")
        print("|" + "---|" * len(hdr))
    else:
        print("  ".join(hdr))
    for cfg in a.configs:
        for seed in a.seeds:
            with tempfile.TemporaryDirectory() as d:
                stack, truth, ref = simulate(a.sim, d, cfg, seed, a)
                out = os.path.join(d, "out")
                subprocess.run([a.run, "run", stack, "--calib", ref, "--ref-edge", "8353.01", "-o", out],
                               check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                ep, es, drift, f1, calib = compare(out, truth, a.offset)
                ap_, as_ = np.abs(ep), np.abs(es)
                cells = [cfg, str(seed), str(len(ep)),
                         "%.3f / %.3f" % (ap_.mean(), ap_.max()) if len(ep) else "-",
                         "%.3f / %.3f" % (as_.mean(), as_.max()) if len(es) else "-",
                         "%+.3f" % np.mean(ep) if len(ep) else "-",
                         "%.3f" % drift, "%.3f" % f1, "%+.3f" % calib]
                print(("| " + " | ".join(cells) + " |") if a.markdown else "  ".join(cells))
                sys.stdout.flush()


if __name__ == "__main__":
    main()
