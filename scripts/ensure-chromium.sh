#!/usr/bin/env bash
# The client's browser test drives Debian's chromium through playwright-core (no browser is
# downloaded). Installs it when missing and we are root; otherwise says how.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium
else
  echo "chromium is missing: install it (Debian: sudo apt-get install chromium) for the client's browser test" >&2
  exit 1
fi
