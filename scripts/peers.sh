#!/usr/bin/env bash
# The real peers the tests run, each a Debian package: installed when missing (as root, with
# apt-get) or named for the person to install. A peer that is missing makes the run fail, never
# skip silently.
#   peers.sh install   installs the missing ones (nothing to do when none is missing or not root)
#   peers.sh check     names the missing ones and how to install them, exit 1; exit 0 when none is
# scripts/test.sh installs while it type-checks, then checks; .ci/run also starts an install before
# `npm ci`, whose native build of better-sqlite3 keeps one core busy and leaves the other idle.
set -euo pipefail
mode=${1:-}
case "$mode" in install | check) ;; *) echo "usage: peers.sh install|check" >&2; exit 2 ;; esac

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

if [ "$mode" = check ]; then
  mapfile -t missing < <(absent | sed 's/\t/ (/; s/$/)/')
  [ ${#missing[@]} -eq 0 ] && exit 0
  echo "the tests need these Debian packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install ${missing[*]%% (*}" >&2
  exit 1
fi

[ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || exit 0
# One install at a time (.ci/run's and npm test's): the second waits, then finds nothing missing.
exec 9>"${TMPDIR:-/tmp}/pyreg-peers.lock"
flock 9
mapfile -t pkgs < <(absent | cut -f1)
[ ${#pkgs[@]} -gt 0 ] || exit 0
echo "== installing Debian's ${pkgs[*]}"
export DEBIAN_FRONTEND=noninteractive
# All in one apt-get run; a fresh machine's package lists may be empty: then they are updated
# first. Another program's apt or dpkg run (unattended upgrades) is waited for.
apt=(apt-get -o DPkg::Lock::Timeout=600)
"${apt[@]}" install -y -qq "${pkgs[@]}" >/dev/null 2>&1 && exit 0
"${apt[@]}" update -qq >/dev/null
"${apt[@]}" install -y -qq "${pkgs[@]}" >/dev/null 2>&1 && exit 0
# One package apt cannot install must not keep the others out: each on its own, errors shown.
for pkg in "${pkgs[@]}"; do "${apt[@]}" install -y -qq "$pkg" >/dev/null || true; done
