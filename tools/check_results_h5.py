#!/usr/bin/python3
"""Dev check that a results.h5 written by xanes opens in h5py and silx.

Usage: /usr/bin/python3 tools/check_results_h5.py OUTDIR/results.h5

Prints the tree with shapes, dtypes and units, and checks what the NeXus
readers rely on: silx finds the default NXdata (/results) and its signal
(edge_energy, a 2-D image), every dataset has a "units" attribute, and
energy == energy_raw + energy_offset_ev when energy_raw is present.
Not used by the build or the tests (CI has no Python).
"""
import sys

import h5py
import numpy as np
from silx.io import nxdata


def main(path):
    with h5py.File(path, "r") as f:
        print("/", dict(f.attrs))
        bad = []

        def show(name, obj):
            if isinstance(obj, h5py.Dataset):
                units = obj.attrs.get("units")
                print(f"  {name}: {obj.shape} {obj.dtype} units={units!r}")
                if units is None:
                    bad.append(f"{name} has no units")
            else:
                print(f"  {name}/ {dict(obj.attrs)}")

        f.visititems(show)
        nx = nxdata.get_default(f)
        if nx is None or not nxdata.is_valid_nxdata(f["results"]):
            bad.append("silx finds no valid default NXdata")
        elif nx.signal.ndim != 2 or nx.signal.name != "/results/edge_energy":
            bad.append(f"default signal is {nx.signal.name} {nx.signal.shape}")
        res = f["results"]
        if "energy_raw" in res:
            off = res["energy_raw"].attrs["energy_offset_ev"]
            if not np.allclose(res["energy"][...], res["energy_raw"][...] + off, atol=1e-6):
                bad.append("energy != energy_raw + energy_offset_ev")
        for b in bad:
            print("PROBLEM:", b)
        return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
