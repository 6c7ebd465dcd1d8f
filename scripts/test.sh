#!/usr/bin/env bash
# The whole test suite: type check + build, lint, format check, the demo and the core end-to-end
# tests on Node.js 24, then every test (unit and e2e) on the machine's Node.js.
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
# Real peers the tests run, each a Debian package installed here when missing (as root) or named
# for the person to install. A peer that is missing makes the run fail, never skip silently.
# Each line: a command on PATH (or a file, when it starts with /; a glob may name it), then the
# Debian package that brings it, then what it is for.
missing=()
apt_updated=
have() {
  if [[ $1 == /* ]]; then compgen -G "$1" >/dev/null; else command -v "$1" >/dev/null; fi
}
need() {
  have "$1" && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing Debian's $2 ($3)"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null 2>&1; then
      [ -n "$apt_updated" ] || { apt-get update -qq >/dev/null; apt_updated=1; }
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null || true
    fi
  fi
  have "$1" || missing+=("$2 ($3)")
}
need twine twine "the reference client for uploads"
# poetry, pdm and flit: also the clients test/e2e/clients.test.ts runs against `pyreg serve`.
need flit flit "flit publish against pyreg serve"
# Debian 12's own pip (23.0.1): a venv of /usr/bin/python3 installs the wheel of python3-pip-whl.
need "/usr/lib/python3.*/ensurepip/__init__.py" python3-venv "venvs of Debian's python3"
need "/usr/share/python-wheels/pip-*.whl" python3-pip-whl "Debian's own pip, in a venv"
need strace strace "watches which programs pyreg starts and what it gives them"
need poetry python3-poetry "makes real poetry.lock files, installs through print-settings' settings, publishes to pyreg serve"
need pdm python3-pdm "makes real pdm.lock files, installs through print-settings' settings, publishes to pyreg serve"
need tinyproxy tinyproxy "a real forward proxy for the proxy tests"
need nginx nginx "a plain web server that serves static indexes and other servers' answers as files"
if [ ${#missing[@]} -gt 0 ]; then
  echo "the tests need these Debian packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install ${missing[*]%% (*}" >&2
  exit 1
fi

echo "== type check and build"
npx tsc -p tsconfig.json
node scripts/bundle.mjs
# Lint and the format check run while the Node.js 24 leg does (each mostly uses one core); their
# output is shown once both are done.
checks=$(mktemp -d)
trap 'rm -rf "$checks"' EXIT
(
  rc=0
  npx eslint . >"$checks/lint" 2>&1 || rc=$?
  echo "$rc" >"$checks/lint.rc"
  rc=0
  npx prettier --list-different . >"$checks/format" 2>&1 || rc=$?
  echo "$rc" >"$checks/format.rc"
) &
checks_pid=$!
# The second Node.js line: the demo and the core end-to-end tests on Node 24 (scripts/node24.sh).
if [ "${PYREG_NODE24:-1}" = 0 ]; then
  echo "== NOT RUN: the Node.js 24 leg (PYREG_NODE24=0)"
else
  bash scripts/node24.sh
fi
wait "$checks_pid"
echo "== lint"
cat "$checks/lint"
[ "$(cat "$checks/lint.rc")" = 0 ] || { echo "lint failed (above)" >&2; exit 1; }
echo "== format check"
[ "$(cat "$checks/format.rc")" = 0 ] || {
  cat "$checks/format"
  echo "format check failed: run 'npm run format'" >&2
  exit 1
}
echo "== tests (one line per file; failures in full; PYREG_TEST_REPORTER=spec for every test)"
files=$(find dist/test -name '*.test.js' | sort)
start=$SECONDS
# Three test files at a time on two cores: many wait on real peers (pip, poetry, nginx, a killed
# run's deadline), and at two the cores were busy 1.6 of 2 on average (the tests: 399-422 s wall);
# at three, 333 s wall for 642 CPU s (1.93 cores), every test passing.
node --test --test-concurrency=3 --test-reporter="${PYREG_TEST_REPORTER:-./dist/scripts/testReporter.js}" \
  ${PYREG_TEST_FILTER:+--test-name-pattern="$PYREG_TEST_FILTER"} $files
echo "npm test: $((SECONDS - start))s for the tests, $SECONDS s in all"
