#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs what building, testing and running Kompoz needs on Debian 12, and nothing when it is
# all there already. Uses sudo when not root.
set -euo pipefail

packages=(
    build-essential cmake ninja-build pkg-config
    qt6-base-dev qt6-base-dev-tools libgl-dev        # Qt Core/Widgets/Test (+ GL headers Qt6Gui's CMake config asks for)
    libbenchmark-dev                                   # kompoz-bench
    xvfb xauth fonts-dejavu-core                       # the dashboard without a display; text in screenshots
    clang libclang-rt-14-dev                           # the libFuzzer harness (fuzz/)
    qcoro-qt6-dev                                      # tst_coroutines: co_await run(ctx) (optional for users)
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
echo "kompoz: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
