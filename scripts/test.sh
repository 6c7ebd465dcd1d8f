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
# Real peers the tests run, each a Debian package installed here when missing (as root) or named
# for the person to install. A peer that is missing makes the run fail, never skip silently.
# Each line: a command on PATH (or a file, when it starts with /; a glob may name it), then the
# Debian package that brings it, then what it is for.
peers=()
need() { peers+=("$1"$'\t'"$2"$'\t'"$3"); }
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
have() {
  if [[ $1 == /* ]]; then compgen -G "$1" >/dev/null; else command -v "$1" >/dev/null; fi
}
# Prints the peers that are missing, one "package<TAB>what it is for" per line.
absent() {
  local peer check pkg what
  for peer in "${peers[@]}"; do
    IFS=$'\t' read -r check pkg what <<<"$peer"
    have "$check" || printf '%s\t%s\n' "$pkg" "$what"
  done
}
# All missing packages in one apt-get run (a fresh machine's package lists may be empty: then
# they are updated first). It runs while the code is type-checked and built.
install_peers() {
  local pkgs
  mapfile -t pkgs < <(absent | cut -f1)
  [ ${#pkgs[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || return 0
  echo "== installing Debian's ${pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "${pkgs[@]}" >/dev/null 2>&1 && return 0
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${pkgs[@]}" >/dev/null 2>&1 && return 0
  # One package apt cannot install must not keep the others out: each on its own, errors shown.
  local pkg
  for pkg in "${pkgs[@]}"; do apt-get install -y -qq "$pkg" >/dev/null || true; done
}
install_peers >"$logs/peers" 2>&1 &
peers_pid=$!

echo "== type check and build"
npx tsc -p tsconfig.json
node scripts/bundle.mjs
wait "$peers_pid" || true
peers_pid=
cat "$logs/peers"
mapfile -t missing < <(absent | sed 's/\t/ (/; s/$/)/')
if [ ${#missing[@]} -gt 0 ]; then
  echo "the tests need these Debian packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install ${missing[*]%% (*}" >&2
  exit 1
fi
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
