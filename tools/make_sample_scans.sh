#!/usr/bin/env bash
# Regenerates sample_scans/ (three small FXI-layout stacks with truth and a reference spectrum)
# with `xanes simulate`.  Run from anywhere after building (build/xanes):
#   bash tools/make_sample_scans.sh [path/to/xanes]
# Deterministic: the same binary and calibration/ give byte-identical files.
set -euo pipefail
cd "$(dirname "$0")/.."
xanes=${1:-build/xanes}
out=sample_scans
common=(--layout fxi --nx 128 --ny 128 --ne 50 --particles 7 --touching --dose 10000
        --drift-px 1.5 --energy-offset-ev 1.37 --mantissa-bits 10 --fixed-flat --ref-grid stack)
i=0
for cfg in A B C; do
    i=$((i + 1))
    lc=$(echo "$cfg" | tr 'A-Z' 'a-z')
    "$xanes" simulate -o "$out/ncm_$lc.h5" --truth "$out/ncm_${lc}_truth.h5" \
        --ref-out "$out/ncm_${lc}_ref.xdi" --config "NCM-$cfg" --seed $((100 + i)) "${common[@]}"
done
du -ch "$out"/*.h5 "$out"/*.xdi | tail -1
