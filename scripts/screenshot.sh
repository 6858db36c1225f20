#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Regenerates docs/dashboard.png, the README's screenshot, from the dashboard itself: the
# "tour" scenario (the outage story told later, plus a flaky spell: about 50 s) in a virtual X server (real fonts and rendering), or
# offscreen where xvfb-run is missing. KOMPOZ_DASHBOARD=path skips the build.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
dashboard="${KOMPOZ_DASHBOARD:-}"
if [ -z "$dashboard" ]; then
    scripts/deps.sh
    cmake --preset release >/dev/null
    cmake --build --preset release --target kompoz-dashboard
    dashboard="$root/build/release/demo/kompoz-dashboard"
fi
mkdir -p docs build
args=(--scenario tour --screenshot "$root/docs/dashboard.png"
      --summary "$root/build/screenshot-summary.txt")
if command -v xvfb-run >/dev/null 2>&1; then
    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1920x1200x24" "$dashboard" "${args[@]}"
else
    QT_QPA_PLATFORM=offscreen "$dashboard" "${args[@]}"
fi
echo "Updated $root/docs/dashboard.png"
