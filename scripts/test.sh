#!/usr/bin/env bash
# The whole test suite: type check + build, lint, format check, then every test (unit and e2e).
# Real clients judge pyreg's output: python3 with pip, and Debian's twine (installed here when
# missing and we may: twine is the reference for the upload form).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v python3 >/dev/null || ! python3 -m pip --version >/dev/null 2>&1; then
  echo "the tests need python3 with pip (real pip judges what pyreg writes)" >&2
  exit 1
fi
if ! command -v twine >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing Debian's twine (the reference client for uploads)"
    (apt-get install -y -qq twine >/dev/null 2>&1) || (apt-get update -qq >/dev/null && apt-get install -y -qq twine >/dev/null)
  else
    echo "the tests need twine: run 'sudo apt-get install twine' (or 'pipx install twine')" >&2
    exit 1
  fi
fi

echo "== type check and build"
npx tsc -p tsconfig.json
echo "== lint"
npx eslint .
echo "== format check"
npx prettier --check . >/dev/null || {
  npx prettier --list-different .
  echo "format check failed: run 'npm run format'" >&2
  exit 1
}
echo "== tests"
files=$(find dist/test -name '*.test.js' | sort)
node --test --test-concurrency=2 ${PYREG_TEST_FILTER:+--test-name-pattern="$PYREG_TEST_FILTER"} $files
