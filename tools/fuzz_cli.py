#!/usr/bin/python3
"""Bounded fuzz loop for the xanes CLI (dev tool; CI does not run it).

Mutates small seed files and runs `xanes` on each mutant under `timeout`,
keeping every input that makes it hang, die by a signal, print a sanitizer
report, or fail without exactly one message naming the file.  Use it with
the ASan+UBSan build:

    cmake -S . -B build-asan -DXANES_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
    cmake --build build-asan -j2
    /usr/bin/python3 tools/fuzz_cli.py --xanes build-asan/xanes --mode hdf5 --seconds 240
    /usr/bin/python3 tools/fuzz_cli.py --xanes build-asan/xanes --mode text --seconds 120

hdf5: byte flips, 0x00/0xff runs and truncations of small FXI- and
APS-layout files written here with h5py (`xanes info`).  text: token-level
mutations (nan, 1e400, -0, hex, empty, commas, swapped/duplicated/deleted
lines, stray header lines) of the XDI files in tests/data, run through info,
norm, calibrate, lcf and sfit.  Findings go to --out (default
/tmp/xanes-fuzz), each with its stderr.
"""
import argparse
import os
import random
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, '..', 'tests', 'data')


def write_hdf5_seeds(folder):
    import h5py
    import numpy as np
    rng = np.random.default_rng(1)
    ne, ny, nx = 12, 8, 7
    e_kev = 8.33 + 0.0025 * np.arange(ne)
    with h5py.File(os.path.join(folder, 'fxi.h5'), 'w') as f:
        f['img_xanes'] = rng.uniform(0.2, 0.8, (ne, ny, nx)).astype('f4')
        f['img_bkg'] = rng.uniform(900, 1000, (ne, ny, nx)).astype('f4')
        f['img_dark'] = rng.uniform(0, 10, (1, ny, nx)).astype('f4')
        f['X_eng'] = e_kev
        f['X_eng'].attrs['units'] = 'keV'
        f['Magnification'] = np.float64(350)
        f['Pixel Size'] = '21.3nm'
    with h5py.File(os.path.join(folder, 'fxi_chunk.h5'), 'w') as f:
        f.create_dataset('img_xanes', data=rng.uniform(0.2, 0.8, (ne, ny, nx)).astype('f4'),
                         chunks=(1, ny, nx), compression='gzip')
        f['X_eng'] = e_kev
        f['Pixel Size'] = 21.3
    with h5py.File(os.path.join(folder, 'aps.h5'), 'w') as f:
        g = f.create_group('exchange')
        g['data'] = rng.integers(1000, 3000, (ne, ny, nx)).astype('u2')
        g['data_white'] = rng.integers(3000, 4000, (ne, ny, nx)).astype('u2')
        g['data_dark'] = rng.integers(0, 100, (2, ny, nx)).astype('u2')
        g['energy'] = e_kev * 1000
        g['energy'].attrs['units'] = 'eV'
    with h5py.File(os.path.join(folder, 'aps_gzip.h5'), 'w') as f:
        g = f.create_group('exchange')
        g.create_dataset('data', data=rng.integers(1000, 3000, (ne, ny, nx)).astype('u2'),
                         chunks=(2, 4, 7), compression='gzip')
        g['data_flat'] = rng.integers(3000, 4000, (3, ny, nx)).astype('u2')
        g['energy'] = e_kev
        g['energy'].attrs.create('units', np.bytes_('keV'))


def mutate_bytes(data):
    data = bytearray(data)
    if random.random() < 0.15:
        return data[:random.randrange(len(data))]
    for _ in range(random.choice([1, 1, 2, 4, 8])):
        i = random.randrange(len(data))
        r = random.random()
        if r < 0.5:
            data[i] ^= 1 << random.randrange(8)
        elif r < 0.8:
            data[i] = random.choice([0, 0xff, 0x7f, 0x80, random.randrange(256)])
        else:
            j = min(len(data), i + random.choice([2, 4, 8]))
            data[i:j] = bytes([0xff]) * (j - i)
    return data


WEIRD = ['nan', 'inf', '-inf', '1e400', '-1e400', '-0', '0', '1e-320', '1e308', '-1', '0x10',
         '', ',', '1,5', '+', '.', 'e5', '1e', 'NaN', 'Infinity', '9' * 400]
STRAY = ['# Column.1: mu\n', '# XDI/1.0\n', '#L a  b  c\n', 'energy i0 it\n', '\x00\n', '\r\n',
         '\ufeff\n']


def mutate_text(raw):
    lines = raw.decode('latin1').splitlines(True)
    for _ in range(random.choice([1, 1, 2, 3, 5, 10])):
        if not lines:
            break
        i = random.randrange(len(lines))
        r = random.random()
        if r < 0.5:
            toks = lines[i].split(' ')
            toks[random.randrange(len(toks))] = random.choice(WEIRD)
            lines[i] = ' '.join(toks)
            if not lines[i].endswith('\n'):
                lines[i] += '\n'
        elif r < 0.6:
            del lines[i]
        elif r < 0.7:
            lines.insert(i, lines[i])
        elif r < 0.8:
            j = random.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif r < 0.9:
            lines = lines[:i]
        else:
            lines.insert(i, random.choice(STRAY))
    return ''.join(lines).encode('latin1', errors='replace')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--xanes', required=True)
    ap.add_argument('--mode', choices=['hdf5', 'text'], required=True)
    ap.add_argument('--seconds', type=float, default=180)
    ap.add_argument('--out', default='/tmp/xanes-fuzz')
    ap.add_argument('--seed', type=int, default=None)
    a = ap.parse_args()
    random.seed(a.seed)
    out = os.path.join(a.out, a.mode)
    seeds_dir = os.path.join(out, 'seeds')
    os.makedirs(seeds_dir, exist_ok=True)
    if a.mode == 'hdf5':
        write_hdf5_seeds(seeds_dir)
        seeds = [os.path.join(seeds_dir, f) for f in sorted(os.listdir(seeds_dir))]
        commands = [['info']]
        mutate = mutate_bytes
    else:
        seeds = [os.path.join(DATA, f) for f in ('NiO_111.xdi', 'Ni_foil_111.xdi',
                                                 'CaS_rt_001.xdi', 'APS10BM_2019.dat')]
        ref = [os.path.join(DATA, 'NiO_111.xdi'), os.path.join(DATA, 'Ni_foil_111.xdi')]
        commands = [['info'], ['info', '--json'], ['norm'], ['norm', '--sort'],
                    ['calibrate', '--ref-edge', '8333'], ['sfit'],
                    ['lcf', '--ref', ref[0], '--ref', ref[1]]]
        mutate = mutate_text
    t0, runs, found = time.time(), 0, 0
    while time.time() - t0 < a.seconds:
        seed = random.choice(seeds)
        path = os.path.join(out, 'cur' + os.path.splitext(seed)[1])
        with open(seed, 'rb') as f:
            data = mutate(f.read())
        with open(path, 'wb') as f:
            f.write(data)
        cmd = random.choice(commands)
        r = subprocess.run(['timeout', '10', a.xanes] + cmd + [path], capture_output=True)
        err = r.stderr.decode('latin1')
        runs += 1
        problem = None
        if r.returncode == 124:
            problem = 'HANG'
        elif r.returncode not in (0, 1, 2):
            problem = 'RC%d' % r.returncode
        elif 'Sanitizer' in err or 'runtime error' in err:
            problem = 'SAN'
        elif r.returncode != 0 and (err.count('\n') != 1 or
                                    (r.returncode == 1 and path not in err and
                                     not any(x in err for x in seeds))):
            problem = 'MSG'
        if problem:
            found += 1
            keep = os.path.join(out, '%s_%d%s' % (problem, runs, os.path.splitext(seed)[1]))
            shutil.copy(path, keep)
            with open(keep + '.err', 'w') as f:
                f.write(' '.join(cmd) + '\n' + err[-4000:])
    print('%d runs, %d findings in %s' % (runs, found, out))
    return 1 if found else 0


if __name__ == '__main__':
    sys.exit(main())
