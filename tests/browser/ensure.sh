#!/usr/bin/env bash
# Makes the browser tests runnable: Debian's Chromium must be there (scripts/test installs it),
# and playwright-core is installed from package-lock.json on first use.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
    echo "Debian's chromium is needed at /usr/bin/chromium: scripts/test installs it" >&2
    exit 1
fi
[ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund --silent
