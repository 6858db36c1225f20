#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's first command: installs what is missing, builds the dashboard and opens it.
# Where there is no display (no DISPLAY / WAYLAND_DISPLAY) it plays the "outage" scenario
# offscreen instead, and writes a screenshot and a one-screen summary of what happened.
# Arguments are passed to kompoz-dashboard (try --help).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target kompoz-dashboard
dashboard="$root/build/release/demo/kompoz-dashboard"

if [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; then
    exec "$dashboard" "$@"
fi

echo "kompoz: no display (DISPLAY and WAYLAND_DISPLAY are unset): playing the outage scenario offscreen (about 15 s)" >&2
screenshot="$root/build/dashboard.png"
summary="$root/build/dashboard-summary.txt"
status=0
QT_QPA_PLATFORM=offscreen "$dashboard" --scenario outage --screenshot "$screenshot" \
    --summary "$summary" "$@" >/dev/null 2>&1 || status=$?
if [ -f "$summary" ]; then
    cat "$summary"
fi
echo
echo "Screenshot: $screenshot"
echo "Summary:    $summary"
if [ "$status" -ne 0 ]; then
    echo "kompoz: the scenario did not go as expected (exit status $status)" >&2
fi
exit "$status"
