#!/usr/bin/env bash
# The monitoring test (packages/cli/test/prometheus.test.ts) runs Debian's prometheus and
# promtool against a devnet. Installs them when missing and we are root; otherwise says how
# (the test then skips, printing why). The package's service is not started: the test runs its
# own Prometheus on 127.0.0.1.
set -euo pipefail
if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq
  # policy-rc.d: the package's postinst starts no daemon (a container has no init anyway).
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus
else
  echo "prometheus is missing: install it (Debian: sudo apt-get install prometheus) for the monitoring test" >&2
  exit 1
fi
