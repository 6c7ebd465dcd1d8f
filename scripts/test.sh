#!/usr/bin/env bash
# The whole test suite: type check + build, lint, format check, then every test (unit and e2e).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== type check and build"
npx tsc -p tsconfig.json
echo "== lint"
npx eslint .
echo "== format check"
npx prettier --check . >/dev/null || { npx prettier --list-different .; echo "run: npm run format"; exit 1; }
echo "== tests"
files=$(find dist/test -name '*.test.js' | sort)
node --test --test-concurrency=2 ${PYREG_TEST_FILTER:+--test-name-pattern="$PYREG_TEST_FILTER"} $files
