#!/usr/bin/env bash
# Checks the package as it is published: builds it, packs the tarball npm would upload into a
# temporary directory, and lints that tarball (not the working tree) with
#
#   publint --strict   package.json fields and exports against the files in the tarball;
#                      warnings fail too, suggestions are only printed.
#   attw --profile node16
#                      whether TypeScript finds the right declarations for every entry
#                      ("docket", "docket/testing") from ESM and from CJS. The node16 profile
#                      checks node16 (from CJS and from ESM) and bundler resolution, and leaves
#                      out node10 (`moduleResolution: "node"`), which does not read `exports`
#                      and so cannot resolve a subpath such as "docket/testing" at all. docket
#                      needs Node >= 20.10 and is published for node16/nodenext and bundler
#                      resolution, with ESM and CJS builds.
#
#   npm run check:package
set -euo pipefail
cd "$(dirname "$0")/.."

npm run build

dir=$(mktemp -d "${TMPDIR:-/tmp}/docket-pack-XXXXXX")
trap 'rm -rf "$dir"' EXIT
npm pack --pack-destination "$dir" --silent >/dev/null
tarball=$(ls "$dir"/*.tgz)
echo "=== packed $(basename "$tarball") ($(du -k "$tarball" | cut -f1) kB)"

echo "=== publint"
npx --no-install publint --strict "$tarball"

echo "=== attw"
npx --no-install attw --profile node16 "$tarball"
