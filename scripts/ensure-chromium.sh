#!/usr/bin/env bash
# The browser tests drive Debian's chromium (no browser is downloaded): the client's through
# playwright-core, the web app's with @playwright/test (packages/app/playwright.config.ts).
# Installs it when missing and we are root; otherwise says how.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium
else
  echo "chromium is missing: install it (Debian: sudo apt-get install chromium) for the browser tests" >&2
  exit 1
fi
