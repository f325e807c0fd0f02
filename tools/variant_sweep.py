#!/usr/bin/python3
"""variant_sweep.py: `xanes run` against simulated truth on stacks unlike the README's.

The README's accuracy table (tools/accuracy_table.py) varies configuration,
seed, dose and touching pairs on one stack shape.  This script varies, two
seeds each, what a user's stack may differ in: layout and stored type, drift
size, number of energies, image size and shape, particle size and count, a
SoC gradient, a fixed flat, dose (10^3 .. 5 x 10^4), monochromator offsets
that push the edge definition's windows past the scan, float mantissa
rounding, and a reference on the stack's own energies.  Every stack has a
2 px drift, a 1.1 eV offset (unless varied) and a fine-grid reference;
`xanes run --calib` runs with its defaults, and the result is scored with
tools/accuracy_table.score (F1, drift error, offset error, worst and rms
particle edge error of the pixel mean and of the averaged spectrum against
the grid truth).

Usage (repository root, after building):
    /usr/bin/python3 tools/variant_sweep.py [--xanes build/xanes]
Dev script only (h5py, numpy); about a minute.
"""
import argparse
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from accuracy_table import score  # noqa: E402

VARIANTS = [
    ("APS layout, uint16", ["--layout", "aps"]),
    ("FXI, uint16 raw counts", ["--dtype", "uint16"]),
    ("drift 5 px", ["--drift-px", "5"]),
    ("drift 8 px", ["--drift-px", "8"]),
    ("80 energies", ["--ne", "80"]),
    ("30 energies", ["--ne", "30"]),
    ("256 x 256, 20 particles", ["--nx", "256", "--ny", "256", "--particles", "20",
                                 "--radius-min-px", "8", "--radius-max-px", "16"]),
    ("200 x 100", ["--nx", "200", "--ny", "100"]),
    ("SoC gradient", ["--gradient"]),
    ("fixed flat", ["--fixed-flat"]),
    ("dose 1000", ["--dose", "1000"]),
    ("dose 50000", ["--dose", "50000"]),
    ("20 particles, touching", ["--particles", "20", "--touching"]),
    ("offset +6 eV", ["--energy-offset-ev", "6"]),
    ("offset -6 eV", ["--energy-offset-ev", "-6"]),
    ("radius 3-5 px, 15 particles", ["--radius-min-px", "3", "--radius-max-px", "5",
                                     "--particles", "15"]),
    ("radius 18-24 px, 3 particles", ["--radius-min-px", "18", "--radius-max-px", "24",
                                      "--particles", "3"]),
    ("10-bit mantissa", ["--mantissa-bits", "10"]),
    ("reference on the stack grid", ["--ref-grid", "stack"]),
]
CONFIGS = ("NCM-A", "NCM-B", "NCM-C")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--xanes", default="build/xanes")
    args = ap.parse_args()
    print("| variant | config | seed | particles (found/true) | F1 | drift err px | offset err eV "
          "| edge err max / rms eV (pixel mean) | edge err max / rms eV (averaged spectrum) |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for vi, (name, extra) in enumerate(VARIANTS):
            for s in range(2):
                seed = 7000 + 10 * vi + s
                config = CONFIGS[(vi + s) % 3]
                stack, truth, ref = (os.path.join(tmp, n) for n in ("s.h5", "t.h5", "r.xdi"))
                out = os.path.join(tmp, "out%d_%d" % (vi, s))
                cmd = [args.xanes, "simulate", "-o", stack, "--truth", truth, "--ref-out", ref,
                       "--config", config, "--seed", str(seed), "--drift-px", "2",
                       "--energy-offset-ev", "1.1", "--ref-grid", "fine"] + extra
                p = subprocess.run(cmd, capture_output=True, text=True)
                if p.returncode != 0:
                    sys.exit("failed: %s\n%s" % (" ".join(cmd), p.stderr))
                p = subprocess.run([args.xanes, "run", stack, "--calib", ref, "--ref-edge",
                                    "8353.01", "-o", out], capture_output=True, text=True)
                if p.returncode != 0:
                    print("| %s | %s | %d | run failed: %s |||||" % (
                        name, config, seed, p.stderr.strip().replace("|", "/")))
                    continue
                a = score(truth, out)
                print("| %s | %s | %d | %d/%d | %.3f | %.3f | %+.3f | %.3f / %.3f | %.3f / %.3f |" % (
                    name, config, seed, a["n_det"], a["n_truth"], a["f1"], a["drift"],
                    a["offset"], a["pix_max"], a["pix_rms"], a["spec_max"], a["spec_rms"]))
                sys.stdout.flush()


if __name__ == "__main__":
    main()
