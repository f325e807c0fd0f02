#!/usr/bin/env bash
# Runs every command whose output README.md shows, from the repository root,
# with build/xanes, and prints each as "$ command" followed by what it printed
# (stdout and stderr) and its exit status when not 0.  Scratch files go to a
# temporary directory; the two pictures the README shows are rewritten in docs/.
#   bash docs/readme_commands.sh > readme_commands.txt
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
X="$root/build/xanes"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

show() { # show CMD...: echo, run in the repository root with xanes = build/xanes
    echo "\$ $*"
    local rc=0
    (set +o pipefail; PATH="$root/build:$PATH"; eval "$@") 2>&1 || rc=$?
    [ $rc -ne 0 ] && echo "[exit status $rc]"
    echo
}

echo "# $("$X" --version); $(uname -srm); $(nproc) cores"
echo
echo "## info"
show xanes info tests/data/NiO_111.xdi
show xanes info tests/data/APS9BM_2006.dat
show xanes info tests/data/APS9BM_2006.dat --fluor 25+26+27+28+29+31,7
show xanes info tests/data/APS10BM_2019.dat
show xanes info tests/data/APS10BM_2019.dat --sort
show "xanes info sample_scans/ncm_b.h5 | head -16"
(cd "$tmp" && "$X" simulate -o aps.h5 --layout aps --nx 64 --ny 64 --ne 30 --particles 3 --seed 7 >/dev/null &&
    head -c 200000 aps.h5 >trunc.h5)
show "cd $tmp && xanes info aps.h5 | head -11"
show "cd $tmp && xanes info trunc.h5"
show xanes info sample_scans/ncm_b_truth.h5
echo "## norm"
show xanes norm tests/data/NiO_111.xdi
show xanes norm tests/data/NiO_111.xdi --edge deriv
echo "## calibrate"
show xanes calibrate tests/data/Ni_foil_111.xdi --ref-edge 8333.0 --edge deriv
show xanes calibrate tests/data/Ni_foil_111.xdi --edge deriv --ref-spectrum tests/data/ni_metal_rt.xdi
show xanes calibrate tests/data/NiO_111.xdi --standard nio
echo "## lcf"
show xanes lcf tests/data/NiCo2O4_Ni_80K_111.xdi --ref tests/data/NiO_111.xdi --ref tests/data/LaNiO3_Ni_80K_111.xdi
show xanes lcf tests/data/NiCo2O4_Ni_80K_111.xdi --ref tests/data/NiO_111.xdi --ref tests/data/LaNiO3_Ni_80K_111.xdi --sum-to-one
echo "## sfit"
show xanes sfit tests/data/sfit_pristine.dat tests/data/sfit_cycled.dat --step erf --png docs/sfit_pair.png -o "$tmp/sfit_pair.csv"
echo "## model"
show xanes model --config NCM-B --png docs/model_ncm_b.png -o "$tmp/particles.csv"
for c in A B C; do
    "$X" model --config NCM-$c -o "$tmp/$c.csv" >/dev/null
    awk -F, -v c=$c 'NR>1{n++; cov+=$3; iso+=$5} END{printf "NCM-%s: mean coverage %.4f, isolated %.1f %%\n", c, cov/n, 100*iso/n}' "$tmp/$c.csv"
done
echo
show "time xanes model --predict"
echo "## simulate"
show "cd $tmp && xanes simulate -o ncm_b.h5 --truth ncm_b_truth.h5 --ref-out ncm_b_ref.xdi --config NCM-B --seed 102 --layout fxi --nx 128 --ny 128 --ne 50 --particles 7 --touching --dose 10000 --drift-px 1.5 --energy-offset-ev 1.37 --mantissa-bits 10 --fixed-flat --ref-grid stack && cmp ncm_b.h5 $root/sample_scans/ncm_b.h5 && echo identical to sample_scans/ncm_b.h5"
echo "## run"
if "$X" run --help >/dev/null 2>&1; then
    show "rm -rf $tmp/out && xanes run sample_scans/ncm_b.h5 --calib sample_scans/ncm_b_ref.xdi --ref-edge 8353.01 -o $tmp/out && cat $tmp/out/particles.csv"
    "$X" run sample_scans/ncm_c.h5 --calib sample_scans/ncm_c_ref.xdi --ref-edge 8353.01 -o "$tmp/out_c" >/dev/null &&
        cp "$tmp/out_c/particles.png" docs/run_ncm_c_particles.png
    cp "$tmp/out/edge_histogram.png" docs/run_ncm_b_histogram.png
fi
