#!/usr/bin/python3
"""noise_repeats.py: how far each particle's edge scatters over noise draws of one scene.

`xanes simulate --noise-seed` redraws the counting noise of a scene while its
particles, SoC, drift and flat stay the same.  This script simulates one scene
(truth, NiO-like reference, noise-free twin), runs `xanes run` on K noise
draws of it and prints, for every truth particle, the mean (bias) and standard
deviation of the error of edge_mean_spectrum_ev (the particle's averaged
spectrum) and edge_mean_ev (the particle mean of the pixel map) against the
grid truth, beside the particle's Cramer-Rao bound (tools/accuracy_table.py's
crlb: a shift of the averaged spectrum, a line and a scale as nuisances).

With --emulate (no drift only: the truth masks are then the particles'
pixels in every frame) it also scores, on the same draws and the truth masks,
a numpy emulation of the averaged spectra's edges:
  raw        the edge definition on the noisy averaged spectrum;
  ideal      that spectrum projected onto the line and the first two
             components of the noise-free scene's averaged spectra;
  fitted     ... onto two components fitted to the noisy averaged spectra
             themselves, count-weighted (what xanes run does at normal dose);
  fitted-loo ... fitted without the particle's own spectrum;
  shifted    a + bE + s mu(E - delta) fitted by least squares, mu the
             count-weighted mean of the noisy averaged spectra on PCHIP
             (a fixed shape that only moves); its bias on the noise-free
             averaged spectra is printed too.
The emulation's edge is an approximation of the stack edge definition
(calibration/standards.json): pre- and post-edge lines by least squares on
the samples in the windows (the C code fits them over the piecewise-linear
interpolant) and the half-height crossing on scipy's PCHIP (the C code uses
Steffen's cubic): compare its rows with each other, not with the C columns.

Usage (repository root, after building):
    /usr/bin/python3 tools/noise_repeats.py [--config NCM-A] [--seed 500]
        [--dose 10000] [--drift-px 0 --emulate] [--draws 10] [-- RUN OPTIONS]
Dev script only (h5py, numpy, scipy).
"""
import argparse
import csv
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from accuracy_table import absorbance, crlb, run  # noqa: E402


def particle_errors(truth_path, out_dir):
    """[n_truth, 2] errors (pixel mean, averaged spectrum) against the grid
    truth, NaN for a particle the run did not find."""
    with h5py.File(truth_path, "r") as t, h5py.File(os.path.join(out_dir, "results.h5"), "r") as r:
        tl, ts, pe = t["labels"][()], t["shifts"][()], t["particle_edge_grid_ev"][()]
        rl, es = r["results/labels"][()], r["results/shifts"][()]
    ok = np.isfinite(es).all(axis=1)
    c = (es[ok] + ts[ok]).mean(axis=0) if ok.any() else np.zeros(2)
    moved = np.roll(tl, (int(np.round(c[0])), int(np.round(c[1]))), axis=(0, 1))
    e = np.full((len(pe), 2), np.nan)
    for row in csv.DictReader(open(os.path.join(out_dir, "particles.csv"))):
        vals, cnt = np.unique(moved[rl == int(row["label"])], return_counts=True)
        t = vals[np.argmax(cnt)]
        if t > 0:
            e[t - 1] = [float(row["edge_mean_ev"]) - pe[t - 1],
                        float(row["edge_mean_spectrum_ev"]) - pe[t - 1]]
    return e


class Emulation:
    """The averaged spectra's edges in numpy (see the module comment)."""

    def __init__(self, truth_path, clean_path):
        from scipy.interpolate import PchipInterpolator
        self.pchip = PchipInterpolator
        with h5py.File(truth_path, "r") as t:
            self.labels = t["labels"][()]
            self.energy = t["energy_nominal_ev"][()]
        self.n = int(self.labels.max())
        self.count = np.array([(self.labels == i).sum() for i in range(1, self.n + 1)], float)
        e = self.energy
        self.line = np.linalg.qr(np.vstack([np.ones_like(e), e - e.mean()]).T)[0]
        self.clean = self.means(absorbance(clean_path))
        self.truth = np.array([self.edge(m) for m in self.clean])
        self.ideal = self.basis(self.clean, np.ones(self.n))
        self.shift_bias = self.shifted(self.clean) - self.truth

    def means(self, a):
        return np.array([a[:, self.labels == i].mean(axis=1) for i in range(1, self.n + 1)])

    def edge(self, mu, e0=8355.10):
        e = self.energy
        pre, post = (e >= e0 - 50) & (e <= e0 - 25), (e >= e0 + 30) & (e <= e0 + 90)
        a, b = np.polyfit(e[pre], mu[pre], 1), np.polyfit(e[post], mu[post], 1)
        norm = (mu - np.polyval(a, e)) / (np.polyval(b, e0) - np.polyval(a, e0))
        g = np.linspace(e0 - 15, e0 + 15, 30001)
        return g[np.argmax(self.pchip(e, norm)(g) >= 0.5)]

    def basis(self, m, w, rank=2):
        q = self.line
        r = (m - (m @ q) @ q.T) * np.sqrt(w)[:, None]
        v = np.linalg.svd(r, full_matrices=False)[2][:rank]
        return np.linalg.qr(np.hstack([q, v.T]))[0]

    def shifted(self, m):
        from scipy.optimize import minimize_scalar
        e = self.energy
        shape = self.pchip(e, (m * self.count[:, None]).sum(axis=0) / self.count.sum())

        def design(delta):
            return np.vstack([np.ones_like(e), e - e.mean(), shape(e - delta)]).T

        def fit(x, delta):
            j = design(delta)
            return j @ np.linalg.lstsq(j, x, rcond=None)[0]

        out = []
        for x in m:
            r = minimize_scalar(lambda d: ((fit(x, d) - x) ** 2).sum(), bounds=(-4.0, 4.0),
                                method="bounded", options={"xatol": 1e-5})
            out.append(self.edge(fit(x, r.x)))
        return np.array(out)

    def errors(self, stack_path):
        m = self.means(absorbance(stack_path))
        out = {"raw": [self.edge(x) for x in m],
               "ideal": [self.edge(self.ideal @ (self.ideal.T @ x)) for x in m]}
        b = self.basis(m, self.count)
        out["fitted"] = [self.edge(b @ (b.T @ x)) for x in m]
        loo = []
        for i in range(self.n):
            keep = np.arange(self.n) != i
            b = self.basis(m[keep], self.count[keep])
            loo.append(self.edge(b @ (b.T @ m[i])))
        out["fitted-loo"] = loo
        out["shifted"] = self.shifted(m)
        return {k: np.array(v) - self.truth for k, v in out.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--xanes", default="build/xanes")
    ap.add_argument("--config", default="NCM-A")
    ap.add_argument("--seed", default="500")
    ap.add_argument("--dose", default="10000")
    ap.add_argument("--drift-px", default="2")
    ap.add_argument("--offset-ev", default="1.37")
    ap.add_argument("--touching", action="store_true")
    ap.add_argument("--draws", type=int, default=10)
    ap.add_argument("--emulate", action="store_true")
    ap.add_argument("run_options", nargs="*", help="passed to xanes run (after --)")
    args = ap.parse_args()
    if args.emulate and float(args.drift_px) != 0.0:
        sys.exit("--emulate needs --drift-px 0 (it averages over the truth masks)")
    scene = ["--config", args.config, "--seed", args.seed, "--dose", args.dose, "--drift-px",
             args.drift_px, "--energy-offset-ev", args.offset_ev, "--ref-grid", "fine"]
    if args.touching:
        scene += ["--touching", "--particles", "10"]
    with tempfile.TemporaryDirectory() as tmp:
        stack, truth, ref, clean = (os.path.join(tmp, n) for n in ("s.h5", "t.h5", "r.xdi", "c.h5"))
        run([args.xanes, "simulate", "-o", stack, "--truth", truth, "--ref-out", ref] + scene)
        run([args.xanes, "simulate", "-o", clean, "--noise-free"] + scene)
        bound = crlb(truth, stack, clean)
        emu = Emulation(truth, clean) if args.emulate else None
        err, emu_err = [], []
        for k in range(args.draws):
            draw = os.path.join(tmp, "d.h5")
            run([args.xanes, "simulate", "-o", draw, "--noise-seed", str(1000 + k)] + scene)
            out = os.path.join(tmp, "out%d" % k)
            run([args.xanes, "run", draw, "--calib", ref, "--ref-edge", "8353.01", "-o", out]
                + args.run_options)
            err.append(particle_errors(truth, out))
            if emu is not None:
                emu_err.append(emu.errors(draw))
    err = np.array(err)
    print("%s seed %s, %s counts, drift %s px, %d noise draws; errors in eV against the grid truth"
          % (args.config, args.seed, args.dose, args.drift_px, args.draws))
    print("| particle | Cramer-Rao bound | averaged spectrum: bias | sd | sd / bound "
          "| pixel mean: bias | sd |")
    print("|---|---|---|---|---|---|---|")
    for i in range(err.shape[1]):
        s, p = err[:, i, 1], err[:, i, 0]
        print("| %d | %.4f | %+.4f | %.4f | %.1f | %+.4f | %.4f |" % (
            i + 1, bound[i], np.nanmean(s), np.nanstd(s), np.nanstd(s) / bound[i],
            np.nanmean(p), np.nanstd(p)))
    print("rms over particles and draws: averaged spectrum %.4f, pixel mean %.4f; beyond 0.05 eV: "
          "%.1f %%" % (np.sqrt(np.nanmean(err[:, :, 1] ** 2)), np.sqrt(np.nanmean(err[:, :, 0] ** 2)),
                       100.0 * np.nanmean(np.abs(err[:, :, 1]) > 0.05)))
    if emu is not None:
        print("emulation on the truth masks (sd per particle, eV; rms over all):")
        for k in ("raw", "ideal", "fitted", "fitted-loo", "shifted"):
            v = np.array([d[k] for d in emu_err])
            print("  %-10s %s  rms %.4f" % (k, " ".join("%.4f" % x for x in v.std(axis=0)),
                                             np.sqrt((v ** 2).mean())))
        print("  shifted on the noise-free averaged spectra, bias: %s" % " ".join(
            "%+.4f" % x for x in emu.shift_bias))


if __name__ == "__main__":
    main()
