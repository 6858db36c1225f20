#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's test command: installs what is missing, builds, and runs every test — once in the
# sanitizer build (ASan + UBSan), then in the release build, whose CTest summary ends the output.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake --preset asan >/dev/null
cmake --build --preset asan
ctest --preset asan
cmake --preset ci >/dev/null
cmake --build --preset ci
ctest --preset ci
