#!/usr/bin/env bash
# Installs the Debian 12 packages libredpacket needs: to build it (always), to run the demo
# (--experiment), to run every test (--tests), to fuzz (--fuzz).
# Usage: install-deps.sh [--experiment] [--tests] [--fuzz]
# Idempotent: packages already installed are skipped, and apt-get runs only if one is missing.
set -euo pipefail

# Building the library, the daemon and the tools (the release preset, examples included).
packages=(
    g++ cmake ninja-build pkg-config ccache
    catch2 libbenchmark-dev libabsl-dev libconcurrentqueue-dev
    libuv1-dev libfmt-dev nlohmann-json3-dev
    libcli11-dev libssl-dev libmicrohttpd-dev libcpp-httplib-dev libisal-dev libsqlite3-dev libhiredis-dev
    libsystemd-dev python3
)
for option in "$@"; do
    case "$option" in
        # --experiment: also what bench/experiments and the demo need (python3 for the scripts,
        # gnuplot for the plots, taskset from util-linux for pinning).
        --experiment) packages+=(python3 gnuplot-nox util-linux) ;;
        # --tests: what only the tests use: Redis (the cluster tests), nftables (the partition
        # tests' rules on 127.0.0.x), help2man and man-db (man pages),
        # dpkg-dev, file and lintian (the .deb packages and their check), systemd
        # (systemd-analyze verify), prometheus (promtool), chromium (the dashboard page).
        --tests) packages+=(redis-server nftables help2man man-db dpkg-dev file lintian systemd
                            prometheus chromium) ;;
        # --fuzz: clang 19 and its libFuzzer/sanitizer runtimes (tests/fuzz, preset fuzz).
        --fuzz) packages+=(clang-19 libclang-rt-19-dev) ;;
        *) echo "install-deps: unknown option $option" >&2; exit 2 ;;
    esac
done

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#packages[@]} packages present"
    exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
