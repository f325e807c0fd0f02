#!/usr/bin/env bash
# The project's one set-up script: installs what is missing (Debian 12, as
# root), builds, and then runs either the demo (the main job on a bundled
# sample scan) or the whole test suite.
#
#   bash tools/setup.sh demo    install + build + `xanes run` on sample_scans/ -> out/
#   bash tools/setup.sh test    install + build + ctest, then again under ASan+UBSan
#   bash tools/setup.sh deps    install only
#   bash tools/setup.sh build   install + build only
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=$(nproc 2>/dev/null || echo 2)

packages=(build-essential cmake pkg-config libhdf5-dev zlib1g-dev libfftw3-dev libgsl-dev
          libpng-dev libcairo2-dev libcjson-dev libcmocka-dev fonts-dejavu-core)

install_deps() {
    local missing=()
    for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup: missing packages: ${missing[*]}; run as root or install them" >&2
        exit 1
    fi
    echo "setup: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

build() { # build DIR [cmake args...]
    local dir=$1
    shift
    cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
    cmake --build "$dir" -j "$jobs"
}

cmd=${1:-}
case "$cmd" in
deps)
    install_deps
    ;;
build)
    install_deps
    build build
    ;;
demo)
    install_deps
    build build
    rm -rf out
    ./build/xanes run sample_scans/ncm_b.h5 --calib sample_scans/ncm_b_ref.xdi \
        --ref-edge 8353.01 -o out
    echo "demo: outputs written to $root/out:"
    ls -l out
    ;;
test)
    install_deps
    build build
    (cd build && ctest --output-on-failure -j "$jobs")
    # The same suite under AddressSanitizer + UndefinedBehaviorSanitizer.
    build build-asan -DXANES_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
    (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j "$jobs")
    ;;
*)
    echo "usage: bash tools/setup.sh demo|test|deps|build" >&2
    exit 2
    ;;
esac
