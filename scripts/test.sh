#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's test command: installs what is missing, builds, and runs every test — once in the
# sanitizer build (ASan + UBSan + LeakSanitizer), once under ThreadSanitizer, a minute of
# differential fuzzing, then every test in the optimised build, whose CTest summary ends the output.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake --preset asan >/dev/null
cmake --build --preset asan
ctest --preset asan
# The suite again under ThreadSanitizer, the stress test among it (tests/tsan.supp: what Qt
# needs suppressed, and why each entry is Qt's).
cmake --preset tsan >/dev/null
cmake --build --preset tsan
ctest --preset tsan
# A minute of differential fuzzing: the library against the reference model (clang's libFuzzer).
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz
corpus=$(mktemp -d)
cp fuzz/corpus/* "$corpus"/
build/fuzz/fuzz/fuzz_combinators -max_total_time="${KOMPOZ_FUZZ_SECONDS:-60}" -timeout=30 \
    -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix=build/fuzz/ "$corpus" 2>&1 | tail -n 12
rm -rf "$corpus"
cmake --preset ci >/dev/null
cmake --build --preset ci
ctest --preset ci
