#!/usr/bin/python3
"""accuracy_table.py: the closed-loop accuracy table of `xanes run` for the README.

For each configuration (NCM-A, NCM-B, NCM-C), seed and dose it runs
`xanes simulate` (stack, truth, reference spectrum) and `xanes run --calib`,
then scores results.h5 against the truth file with h5py/numpy -- an
implementation independent of the C scoring in tests/run_testkit.h, with the
same conventions:

  drift      rms over frames and both axes of (estimated + true shift - c),
             c = their mean (the reference image's own offset);
  F1         detected label d at (y, x) vs truth label t at (y - round(c)),
             a match when each is the other's largest overlap and at least
             half of d lies inside t;
  edge err   per matched particle, particles.csv edge_mean_ev (pixel mean) or
             edge_mean_spectrum_ev (averaged spectrum) minus the grid truth
             (particle_edge_grid_ev: the edge definition on the particle's
             noise-free mean spectrum at the stack's energies); the averaged
             spectrum's error against the physical truth (particle_edge_mean_ev,
             fine grid) is given too;
  offset err pipeline offset + simulated offset (stored - true);
  CRLB       per truth particle, the Cramer-Rao bound of a shift of its
             averaged spectrum with a line and a scale as nuisances (the
             bound of tools/edge_crlb.py), from a noise-free twin of the
             stack: the derivative of its noise-free mean spectrum and the
             variance of (noisy - noise-free) over the particle's pixels;
             the table gives the largest bound and the largest error in units
             of its particle's bound.

Usage (from the repository root, after building):
    /usr/bin/python3 tools/accuracy_table.py [--xanes build/xanes] [--seeds 3]
Dev script only (needs h5py and numpy); CI runs tests/test_closed_loop.c.
"""
import argparse
import csv
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("failed: %s\n%s" % (" ".join(cmd), p.stderr))
    return p.stdout


def absorbance(path):
    with h5py.File(path, "r") as f:
        return -np.log(f["img_xanes"][()].astype(np.float64))


def crlb(truth_path, noisy_path, clean_path):
    """Cramer-Rao bound (eV) of each truth particle's edge shift.  Frame k
    shows the scene moved by the true shift of frame k, so the particle's
    pixels in it are its truth label moved by that shift (rounded)."""
    with h5py.File(truth_path, "r") as t:
        energy = t["energy_nominal_ev"][()]
        labels = t["labels"][()]
        shifts = np.rint(t["shifts"][()]).astype(int)
    x, c = absorbance(noisy_path), absorbance(clean_path)
    ne = len(energy)
    n = int(labels.max())
    out = np.full(n, np.nan)
    for i in range(1, n + 1):
        var, cm = np.empty(ne), np.empty(ne)
        for k in range(ne):
            m = np.roll(labels == i, tuple(shifts[k]), axis=(0, 1))
            var[k] = (x[k][m] - c[k][m]).var() / m.sum()
            cm[k] = c[k][m].mean()
        jac = np.vstack([np.gradient(cm, energy), np.ones_like(energy), energy - energy.mean(),
                         cm]).T
        fisher = jac.T @ (jac / var[:, None])
        out[i - 1] = np.sqrt(np.linalg.inv(fisher)[0, 0])
    return out


def score(truth_path, out_dir, bound=None):
    with h5py.File(truth_path, "r") as t, h5py.File(os.path.join(out_dir, "results.h5"), "r") as r:
        tl = t["labels"][()]
        ts = t["shifts"][()]
        pe = t["particle_edge_grid_ev"][()]
        pphys = t["particle_edge_mean_ev"][()]
        sim_offset = float(t["energy_offset_ev"][()])
        rl = r["results/labels"][()]
        es = r["results/shifts"][()]
        offset = float(r["/parameters"].attrs["energy_offset_ev"])
    ok = np.isfinite(es).all(axis=1)
    d = es[ok] + ts[ok]
    c = d.mean(axis=0)
    drift = float(np.sqrt(((d - c) ** 2).mean()))
    oy, ox = int(np.round(c[0])), int(np.round(c[1]))
    ny, nx = tl.shape
    shifted = np.zeros_like(tl)
    ys, xs = slice(max(oy, 0), ny + min(oy, 0)), slice(max(ox, 0), nx + min(ox, 0))
    ys0, xs0 = slice(max(-oy, 0), ny + min(-oy, 0)), slice(max(-ox, 0), nx + min(-ox, 0))
    shifted[ys, xs] = tl[ys0, xs0]
    rows = list(csv.DictReader(open(os.path.join(out_dir, "particles.csv"))))
    n_det, n_truth = int(rl.max()), int(tl.max())
    tp, e_pix, e_spec, e_phys, z_spec = 0, [], [], [], []
    tab = np.zeros((n_det + 1, n_truth + 1), dtype=np.int64)
    np.add.at(tab, (rl.ravel(), shifted.ravel()), 1)
    tab[0, :] = 0
    tab[:, 0] = 0
    for row in rows:
        d = int(row["label"])
        t = int(np.argmax(tab[d]))
        if t == 0 or tab[d, t] == 0 or int(np.argmax(tab[:, t])) != d:
            continue
        if 2 * tab[d, t] < np.count_nonzero(rl == d):
            continue
        tp += 1
        e_pix.append(float(row["edge_mean_ev"]) - pe[t - 1])
        e_spec.append(float(row["edge_mean_spectrum_ev"]) - pe[t - 1])
        e_phys.append(float(row["edge_mean_spectrum_ev"]) - pphys[t - 1])
        if bound is not None:
            z_spec.append(abs(e_spec[-1]) / bound[t - 1])
    f1 = 2 * tp / (n_det + n_truth) if n_det + n_truth else 1.0
    e_pix, e_spec = np.abs(np.array(e_pix)), np.abs(np.array(e_spec))
    e_phys = np.abs(np.array(e_phys))
    return dict(n_det=n_det, n_truth=n_truth, f1=f1, drift=drift, offset=offset + sim_offset,
                pix_max=np.nanmax(e_pix) if len(e_pix) else np.nan,
                pix_rms=np.sqrt(np.nanmean(e_pix ** 2)) if len(e_pix) else np.nan,
                spec_max=np.nanmax(e_spec) if len(e_spec) else np.nan,
                spec_rms=np.sqrt(np.nanmean(e_spec ** 2)) if len(e_spec) else np.nan,
                phys_max=np.nanmax(e_phys) if len(e_phys) else np.nan,
                crlb_max=np.nanmax(bound) if bound is not None else np.nan,
                z_max=np.nanmax(z_spec) if len(z_spec) else np.nan)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--xanes", default="build/xanes")
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    offsets = [1.37, -0.83, 0.61, -1.29, 2.17]
    print("| config | seed | dose | drift px | touching | particles (found/true) | F1 | drift err px "
          "| offset err eV | edge err max / rms eV (pixel mean) | edge err max / rms eV (averaged "
          "spectrum) | averaged spectrum vs physical truth, max eV | Cramer-Rao bound, largest eV "
          "| largest error / its particle's bound |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        i = 0
        for dose in (10000, 300):
            for config in ("NCM-A", "NCM-B", "NCM-C"):
                for s in range(args.seeds):
                    seed = 500 + 10 * i + s
                    touching = s % 2 == 1
                    off = offsets[i % len(offsets)]
                    i += 1
                    stack, truth, ref = (os.path.join(tmp, n) for n in ("s.h5", "t.h5", "r.xdi"))
                    out = os.path.join(tmp, "out%d" % i)
                    cmd = [args.xanes, "simulate", "-o", stack, "--truth", truth, "--ref-out", ref,
                           "--config", config, "--seed", str(seed), "--dose", str(dose),
                           "--drift-px", "2", "--energy-offset-ev", str(off), "--ref-grid", "fine"]
                    if touching:
                        cmd += ["--touching", "--particles", "10"]
                    run(cmd)
                    clean = os.path.join(tmp, "c.h5")
                    run([args.xanes, "simulate", "-o", clean, "--noise-free"] + cmd[8:])
                    bound = crlb(truth, stack, clean)
                    run([args.xanes, "run", stack, "--calib", ref, "--ref-edge", "8353.01", "-o", out])
                    a = score(truth, out, bound)
                    print("| %s | %d | %d | 2 | %s | %d/%d | %.3f | %.3f | %+.3f | %.3f / %.3f | "
                          "%.3f / %.3f | %.3f | %.3f | %.1f |" % (
                              config, seed, dose, "yes" if touching else "no", a["n_det"],
                              a["n_truth"], a["f1"], a["drift"], a["offset"], a["pix_max"],
                              a["pix_rms"], a["spec_max"], a["spec_rms"], a["phys_max"],
                              a["crlb_max"], a["z_max"]))
                    sys.stdout.flush()


if __name__ == "__main__":
    main()
