#!/bin/sh
# Debian's Chromium for the portal's browser tests (Playwright drives /usr/bin/chromium; it
# never downloads a browser of its own). Idempotent and quiet: does nothing when installed;
# refreshes the package lists only when the first install attempt fails.
set -eu
[ -x /usr/bin/chromium ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y -qq chromium >/dev/null 2>&1; then
    $SUDO apt-get update -qq >/dev/null
    $SUDO apt-get install -y -qq chromium >/dev/null
fi
[ -x /usr/bin/chromium ] || { echo "ensure-chromium: /usr/bin/chromium is still missing" >&2; exit 1; }
