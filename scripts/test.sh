#!/usr/bin/env bash
# The whole test suite: type check + build, then every test (unit and e2e) on the machine's
# Node.js, with lint, the format check, and the demo and core end-to-end tests on Node.js 24
# alongside.
# Real clients and servers judge pyreg's output: python3 with pip, and the Debian packages listed
# below (installed here when missing and we run as root).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v python3 >/dev/null || ! python3 -m pip --version >/dev/null 2>&1; then
  echo "the tests need python3 with pip (real pip judges what pyreg writes)" >&2
  exit 1
fi
# Legacy-format fixtures (.tar.bz2 and .tar.xz sdists) are compressed by Python's bz2 and lzma.
if ! python3 -c "import bz2, lzma" 2>/dev/null; then
  echo "the tests need python3 with its bz2 and lzma modules (they write the .tar.bz2/.tar.xz fixtures)" >&2
  exit 1
fi
# Work done alongside the rest, its output kept here and shown at the end.
logs=$(mktemp -d)
node24_pid=
peers_pid=
cleanup() {
  # The Node.js 24 preparation runs in a session of its own (below): a failure here before it is
  # done stops it and the native build it started. The other jobs share this script's group.
  [ -z "$node24_pid" ] || kill -- -"$node24_pid" 2>/dev/null || true
  # An install of Debian packages is let finish: dpkg stopped halfway leaves the system to repair.
  [ -z "$peers_pid" ] || wait "$peers_pid" 2>/dev/null || true
  local pids
  pids=$(jobs -p)
  [ -z "$pids" ] || kill $pids 2>/dev/null || true
  rm -rf "$logs"
}
trap cleanup EXIT
# The second Node.js line (scripts/node24.sh): its runtime is downloaded and better-sqlite3 built
# for it (without optimisation, about 40 s of one core, when not kept from an earlier run) while
# the Debian packages are installed and the code is type-checked.
node24=${PYREG_NODE24:-1}
if [ "$node24" != 0 ]; then
  setsid bash scripts/node24.sh prepare >"$logs/node24" 2>&1 &
  node24_pid=$!
fi
# The real peers the tests run (scripts/peers.sh): the missing Debian packages are installed while
# the code is type-checked and built.
bash scripts/peers.sh install >"$logs/peers" 2>&1 &
peers_pid=$!

echo "== type check and build"
npx tsc -p tsconfig.json
node scripts/bundle.mjs
wait "$peers_pid" || true
peers_pid=
cat "$logs/peers"
bash scripts/peers.sh check
# Lint and the format check run alongside the tests (each mostly uses one core).
(
  rc=0
  npx eslint . >"$logs/lint" 2>&1 || rc=$?
  echo "$rc" >"$logs/lint.rc"
  rc=0
  npx prettier --list-different . >"$logs/format" 2>&1 || rc=$?
  echo "$rc" >"$logs/format.rc"
) &
checks_pid=$!
echo "== tests (one line per file; failures in full; PYREG_TEST_REPORTER=spec for every test)"
files=$(find dist/test -name '*.test.js' | sort)
start=$SECONDS
# Three test files at a time on two cores: many wait on real peers (pip, poetry, nginx, a killed
# run's deadline), and at two the cores were busy 1.6 of 2 on average (the tests: 399-422 s wall);
# at three, 333 s wall for 642 CPU s (1.93 cores), every test passing.
node --test --test-concurrency=3 --test-reporter="${PYREG_TEST_REPORTER:-./dist/scripts/testReporter.js}" \
  ${PYREG_TEST_FILTER:+--test-name-pattern="$PYREG_TEST_FILTER"} $files &
tests_pid=$!
# The Node.js 24 leg (the demo and the core end-to-end tests) runs alongside the tests, once its
# preparation is done: on the serial path before them, it made the whole run about a minute longer.
node24_rc=0
if [ "$node24" != 0 ]; then
  wait "$node24_pid" || node24_rc=$?
  node24_pid=
  [ "$node24_rc" != 0 ] || bash scripts/node24.sh >>"$logs/node24" 2>&1 || node24_rc=$?
fi
tests_rc=0
wait "$tests_pid" || tests_rc=$?
tests_took=$((SECONDS - start))
wait "$checks_pid"
failed=()
[ "$tests_rc" = 0 ] || failed+=("the tests (above)")
if [ "$node24" = 0 ]; then
  echo "== NOT RUN: the Node.js 24 leg (PYREG_NODE24=0)"
else
  echo "== the Node.js 24 leg (scripts/node24.sh)"
  cat "$logs/node24"
  [ "$node24_rc" = 0 ] || failed+=("the Node.js 24 leg")
fi
echo "== lint"
cat "$logs/lint"
[ "$(cat "$logs/lint.rc")" = 0 ] || failed+=("lint")
echo "== format check"
if [ "$(cat "$logs/format.rc")" != 0 ]; then
  cat "$logs/format"
  failed+=("the format check (run 'npm run format')")
fi
echo "npm test: ${tests_took}s for the tests, $SECONDS s in all"
if [ ${#failed[@]} -gt 0 ]; then
  printf 'FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
