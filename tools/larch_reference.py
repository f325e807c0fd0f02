#!/usr/bin/python3
"""larch_reference.py: larch pre_edge reference values for the C tests.

Run with the Debian python (it sees python3-xraylarch 0.9.58):

    /usr/bin/python3 tools/larch_reference.py [SHARED_REAL_DIR] [OUT_JSON]

defaults: ../shared/data/real (beside the source tree, falling back to
/work/shared/data/real) and tests/data/larch_reference.json.

For every real spectrum in SHARED_REAL_DIR the script builds mu exactly as
that directory's PROVENANCE.md says, runs larch's find_e0 and pre_edge with
default parameters, and records what larch used and found: find_e0, e0,
pre1, pre2, norm1, norm2, nnorm, edge_step, pre_slope, pre_offset, and the
norm and flat arrays.  It also records the half-edge energy (first upward
crossing of norm = 0.5 after the last pre-edge fit sample, linear
interpolation) and the derivative edge (parabola vertex through larch's
dmude around its maximum between the pre- and post-edge ranges, each slope
at the midpoint of its central difference) computed here in numpy from
larch's arrays, as an independent implementation of the definitions in
include/xanes/edge.h.

Licences: the permitted files (XDL public domain, larch MIT, CERIC CC BY 4.0)
are stored with their energy and mu arrays so the C tests need neither
Python nor ../shared.  The GPL file nmc_exp_xas.json is NOT copied: for a few
of its spectra only larch's scalar results are stored ("gpl_scalars"), and
the C test reads the mu values from ../shared when it exists.

Data decisions (documented in tests/data/PROVENANCE.md as well):
  * APS10BM_2019.dat starts with three lines at the same energy; larch's
    remove_dups would nudge them apart, our reader (with --sort) averages
    duplicate points, so larch and C both get the average of the three.
  * APS12BM_2019.dat: i1 <= 0 at 66 points makes ln(i0/i1) undefined; it is
    listed under "unusable" with the count and not normalized.
"""
import json
import math
import os
import sys

import numpy as np

import larch
from larch import Group
from larch.xafs import pre_edge, find_e0

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)


def numeric_rows(path):
    """Rows of floats from every line whose tokens all parse as numbers and
    that is not a '#' or ';' comment."""
    rows = []
    with open(path, 'r', errors='replace') as f:
        for line in f:
            s = line.strip()
            if not s or s[0] in '#;':
                continue
            toks = s.split()
            try:
                vals = [float(t) for t in toks]
            except ValueError:
                continue
            rows.append(vals)
    width = max(len(r) for r in rows)
    rows = [r for r in rows if len(r) == width]
    return np.array(rows)


def ln_ratio(a, b):
    with np.errstate(divide='ignore', invalid='ignore'):
        return np.log(a / b)


# file -> (mu formula text, function(columns) -> (energy, mu))
SPECS = {
    'ni_metal_rt.xdi': ('mu = col2 (mutrans)', lambda d: (d[:, 0], d[:, 1])),
    'Ni_metal_rt_01.xdi': ('mu = ln(col2/col3)', lambda d: (d[:, 0], ln_ratio(d[:, 1], d[:, 2]))),
    'Ni_foil_111.xdi': ('mu = col2 (mutrans)', lambda d: (d[:, 0], d[:, 1])),
    'NiO_111.xdi': ('mu = col2 (mutrans)', lambda d: (d[:, 0], d[:, 1])),
    'Ni2O3_rt_01.xdi': ('mu = ln(col2/col3)', lambda d: (d[:, 0], ln_ratio(d[:, 1], d[:, 2]))),
    'NiOH2_rt_01.xdi': ('mu = ln(col2/col3)', lambda d: (d[:, 0], ln_ratio(d[:, 1], d[:, 2]))),
    'NiS_rt_01.xdi': ('mu = ln(col2/col3)', lambda d: (d[:, 0], ln_ratio(d[:, 1], d[:, 2]))),
    'LaNiO3_Ni_80K_111.xdi': ('mu = col2 (mutrans)', lambda d: (d[:, 0], d[:, 1])),
    'NiCo2O4_Ni_80K_111.xdi': ('mu = col2 (mutrans)', lambda d: (d[:, 0], d[:, 1])),
    'LiCoO2_80K_111.xdi': ('mu = col2 (mutrans)', lambda d: (d[:, 0], d[:, 1])),
    'Co_foil_111.xdi': ('mu = col2 (mutrans)', lambda d: (d[:, 0], d[:, 1])),
    'Mn_foil_111.xdi': ('mu = col2 (mutrans)', lambda d: (d[:, 0], d[:, 1])),
    'MnO2_rt_01.xdi': ('mu = ln(col2/col3)', lambda d: (d[:, 0], ln_ratio(d[:, 1], d[:, 2]))),
    'APS10BM_2019.dat': ('mu = ln(col2/col3)', lambda d: (d[:, 0], ln_ratio(d[:, 1], d[:, 2]))),
    'APS12BM_2019.dat': ('E = 1000*col1, mu = ln(col4/col5)',
                         lambda d: (1000.0 * d[:, 0], ln_ratio(d[:, 3], d[:, 4]))),
    'mn_cpmnco3.dat': ('mu = col2', lambda d: (d[:, 0], d[:, 1])),
    'Fe_Foil_rt_2016Foils.xdi': ('mu = ln(col3/col2)',
                                 lambda d: (d[:, 0], ln_ratio(d[:, 2], d[:, 1]))),
    'cu_metal_rt.xdi': ('mu = ln(col2/col3)', lambda d: (d[:, 0], ln_ratio(d[:, 1], d[:, 2]))),
    'S_elemental_rt_01.xdi': ('mu = col2/col3', lambda d: (d[:, 0], d[:, 1] / d[:, 2])),
    'NiSO4_rt_01.xdi': ('mu = col2/col3', lambda d: (d[:, 0], d[:, 1] / d[:, 2])),
    'CaS_rt_001.xdi': ('mu = col2/col3', lambda d: (d[:, 0], d[:, 1] / d[:, 2])),
    'pyrite1_rt_01.xdi': ('mu = col2/col3', lambda d: (d[:, 0], d[:, 1] / d[:, 2])),
    'Na2SO3_rt_01.xdi': ('mu = col2/col3', lambda d: (d[:, 0], d[:, 1] / d[:, 2])),
    'iron_sulfide_rt_01.xxdi': ('mu = col2/col3', lambda d: (d[:, 0], d[:, 1] / d[:, 2])),
    'APS9BM_2006.dat': ('mu = (col25+col26+col27+col28+col29+col31)/col7',
                        lambda d: (d[:, 0], (d[:, 24] + d[:, 25] + d[:, 26] + d[:, 27] +
                                             d[:, 28] + d[:, 30]) / d[:, 6])),
}

# A few spectra of the GPL file (pristine, 4.3 V, 4.8 V, 3.0 V of NMC622).
GPL_FILE = 'nmc_exp_xas.json'
GPL_INDICES = [0, 1, 2, 3]


def index_of(e, v):
    if v < e.min():
        return 0
    return int(max(np.where(e <= v)[0]))


def index_nearest(e, v):
    return int(np.abs(e - v).argmin())


def fit_range(e, e0, a, b):
    p1 = index_of(e, a + e0)
    p2 = index_nearest(e, b + e0)
    if p2 - p1 < 2:
        p2 = min(len(e), p1 + 2)
    return p1, p2


def half_edge(e, norm, start, level=0.5):
    if not norm[start] < level:
        return None
    for i in range(start + 1, len(e)):
        if norm[i] >= level:
            return float(e[i - 1] + (level - norm[i - 1]) * (e[i] - e[i - 1]) /
                         (norm[i] - norm[i - 1]))
    return None


def deriv_edge(e, dmu, lo, hi):
    if hi <= lo:
        return None
    n = len(e)
    x = np.array([e[j] if j == 0 or j == n - 1 else 0.5 * (e[j - 1] + e[j + 1])
                  for j in range(n)])
    im = lo + int(np.argmax(dmu[lo:hi]))
    if im == 0 or im == n - 1:
        return float(x[im])
    x0, xm, x2 = x[im - 1], x[im], x[im + 1]
    y0, y1, y2 = dmu[im - 1], dmu[im], dmu[im + 1]
    a, b = xm - x0, xm - x2
    den = a * (y1 - y2) - b * (y1 - y0)
    if not den > 0 or not (y1 >= y0 and y1 >= y2):
        return float(xm)
    v = xm - 0.5 * (a * a * (y1 - y2) - b * b * (y1 - y0)) / den
    return float(min(max(v, x0), x2))


def larch_run(energy, mu):
    g = Group(energy=energy, mu=mu)
    fe0 = float(find_e0(energy, mu))
    pre_edge(g)
    d = g.pre_edge_details
    e0 = float(g.e0)
    p1, p2 = fit_range(energy, e0, d.pre1, d.pre2)
    q1, q2 = fit_range(energy, e0, d.norm1, d.norm2)
    out = {
        'find_e0': fe0, 'e0': e0, 'ie0': index_nearest(energy, e0),
        'pre1': float(d.pre1), 'pre2': float(d.pre2),
        'norm1': float(d.norm1), 'norm2': float(d.norm2), 'nnorm': int(d.nnorm),
        'edge_step': float(g.edge_step),
        'pre_slope': float(d.pre_slope), 'pre_offset': float(d.pre_offset),
        'pre_lo': p1, 'pre_hi': p2, 'post_lo': q1, 'post_hi': q2,
        'half_edge': half_edge(energy, g.norm, max(p2 - 1, 0)),
        'deriv_edge': deriv_edge(energy, g.dmude, p2, q1),
    }
    return g, out


def main():
    real = sys.argv[1] if len(sys.argv) > 1 else os.path.join(SRC, '..', 'shared', 'data', 'real')
    if not os.path.isdir(real):
        real = '/work/shared/data/real'
    out_path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(SRC, 'tests', 'data',
                                                                  'larch_reference.json')
    result = {'larch_version': larch.__version__, 'numpy_version': np.__version__,
              'script': 'tools/larch_reference.py', 'spectra': [], 'unusable': [],
              'gpl_scalars': []}
    for name in sorted(SPECS):
        formula, build = SPECS[name]
        path = os.path.join(real, name)
        energy, mu = build(numeric_rows(path))
        # Exact duplicate energies (APS10BM): average them, as xanes_spectrum_read
        # does with --sort.
        ue, inv = np.unique(energy, return_inverse=True)
        ndrop = int(len(energy) - len(ue))
        if ndrop:
            mu = np.bincount(inv, weights=mu) / np.bincount(inv)
            energy = ue
        bad = int((~np.isfinite(mu)).sum())
        if bad:
            result['unusable'].append({'file': name, 'mu_formula': formula,
                                       'n': int(len(energy)), 'nonfinite_mu': bad,
                                       'first_nonfinite_ev': float(energy[~np.isfinite(mu)][0])})
            print(f'{name}: {bad} non-finite mu values, not normalized')
            continue
        g, rec = larch_run(energy, mu)
        rec.update({'file': name, 'mu_formula': formula, 'n': int(len(energy)),
                    'dropped_duplicate_energies': ndrop,
                    'energy': [float(v) for v in energy], 'mu': [float(v) for v in mu],
                    'norm': [float('%.12g' % v) for v in g.norm],
                    'flat': [float('%.12g' % v) for v in g.flat]})
        result['spectra'].append(rec)
        print(f"{name}: n={len(energy)} e0={rec['e0']:.3f} find_e0={rec['find_e0']:.3f} "
              f"pre=[{rec['pre1']:.1f},{rec['pre2']:.1f}] norm=[{rec['norm1']:.1f},"
              f"{rec['norm2']:.1f}] nnorm={rec['nnorm']} step={rec['edge_step']:.5g} "
              f"half={rec['half_edge']} deriv={rec['deriv_edge']}")
    gpl = os.path.join(real, GPL_FILE)
    if os.path.exists(gpl):
        with open(gpl) as f:
            data = json.load(f)
        for k in GPL_INDICES:
            mu = np.array(data['intensity'][str(k)], dtype=float)
            energy = 8330.0 + 0.4 * np.arange(len(mu))
            g, rec = larch_run(energy, mu)
            rec.update({'file': GPL_FILE, 'index': k,
                        'energy_rule': 'E = 8330 + 0.4 i eV (dataset README)',
                        'n': int(len(mu))})
            result['gpl_scalars'].append(rec)
            print(f"{GPL_FILE}[{k}]: e0={rec['e0']:.2f} step={rec['edge_step']:.5g} "
                  f"half={rec['half_edge']} nnorm={rec['nnorm']}")
    with open(out_path + '.tmp', 'w') as f:
        json.dump(result, f, separators=(',', ':'))
    os.replace(out_path + '.tmp', out_path)
    print('wrote', out_path)


if __name__ == '__main__':
    main()
