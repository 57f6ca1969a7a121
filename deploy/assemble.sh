#!/bin/sh
# Usage: sh deploy/assemble.sh DEST   (from the repository root, after `pnpm install` and `pnpm build`)
#
# Makes DEST a self-contained install of medchain: every package's package.json and build output
# (dist/, and the web app's dist-node/), and production dependencies only, installed by pnpm from
# the lockfile into DEST itself (no tsx, no TypeScript, no test tools). The source tree is left
# as it was. DEST/packages/cli/dist/main.js is the `medchain` command. The Containerfile's build
# stage runs this; so does packages/cli/test/artifact.test.ts.
set -eu

dest=${1:?usage: sh deploy/assemble.sh DEST}
[ -f packages/cli/dist/main.js ] || { echo "assemble: run pnpm build first" >&2; exit 2; }
mkdir -p "$dest"
cp package.json pnpm-lock.yaml pnpm-workspace.yaml .npmrc "$dest/"
cp -R patches "$dest/"
mkdir -p "$dest/docs" && cp docs/OPERATIONS.md "$dest/docs/"
for pkg in packages/*/; do
  pkg=${pkg%/}
  mkdir -p "$dest/$pkg"
  cp "$pkg/package.json" "$dest/$pkg/"
  for built in dist dist-node; do
    if [ -d "$pkg/$built" ]; then cp -R "$pkg/$built" "$dest/$pkg/"; fi
  done
done
# The store the build stage's install filled has every package: no network needed here.
cd "$dest"
CI=true pnpm install --prod --frozen-lockfile --offline >/dev/null
