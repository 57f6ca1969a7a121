#!/usr/bin/env bash
# Usage: ensure-debian.sh PACKAGE "WHAT IT IS FOR" COMMAND...
# Tests that need a Debian program (chromium for the browser tests, prometheus and promtool for
# the monitoring test) call this: it installs PACKAGE with apt-get when one of the COMMANDs is
# missing and we are root; otherwise it says how and fails. No package's service is started
# (policy-rc.d while installing; a container has no init anyway): the tests run their own.
set -euo pipefail
package=$1 purpose=$2
shift 2
missing=0
for command in "$@"; do command -v "$command" >/dev/null 2>&1 || missing=1; done
if [ "$missing" = 0 ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$package"
else
  echo "$package is missing: install it (Debian: sudo apt-get install $package) for $purpose" >&2
  exit 1
fi
