#!/usr/bin/env bash
# Creates, once, a Python virtual environment holding the pinned client SDKs of
# test/clients/python/requirements.txt (azure-identity…), installed from PyPI, in a cache directory
# outside the repo keyed by the requirements and the interpreter's version. A second run with the
# same key is a no-op.
#
# Prints the venv's python executable as its last line (progress goes to stderr).
# Honours:
#   POD_IDENTITY_CACHE    cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/pod-identity)
#   POD_IDENTITY_PYTHON   interpreter to build the venv from (default: the first python3 with venv)
# On a machine without python3 or its venv module (Debian: python3-venv), installs them with apt-get
# when running as root; otherwise says what to install and fails.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
requirements="$root/test/clients/python/requirements.txt"

log() { echo "setup-python-clients: $*" >&2; }

# An interpreter that can make venvs with pip (ensurepip), Python >= 3.9.
usable() {
  "$1" -c 'import sys, venv, ensurepip; sys.exit(0 if sys.version_info >= (3, 9) else 1)' >/dev/null 2>&1
}

find_python() {
  local candidate
  for candidate in ${POD_IDENTITY_PYTHON:-} python3 /usr/bin/python3; do
    if command -v "$candidate" >/dev/null 2>&1 && usable "$candidate"; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

if ! python=$(find_python); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "no python3 with the venv module; installing python3 and python3-venv with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends python3 python3-venv >&2
  fi
  python=$(find_python) || {
    log "need python3 (>= 3.9) with its venv module; on Debian/Ubuntu: apt-get install python3 python3-venv"
    exit 1
  }
fi

version=$("$python" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
key=$( (cat "$requirements"; echo "$version") | sha256sum | cut -c1-12)
cache=${POD_IDENTITY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pod-identity}
venv="$cache/python-$key"
mkdir -p "$cache"

# One builder at a time; a venv counts only once its marker is written (an interrupted build is redone).
exec 9>"$cache/python-$key.lock"
flock 9
if [ -f "$venv/.complete" ] && [ -x "$venv/bin/python" ]; then
  log "cached: $venv (Python $version)"
else
  start=$SECONDS
  log "creating $venv with $python (Python $version)"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$requirements" >&2
  "$venv/bin/python" -c 'import azure.identity' >&2
  touch "$venv/.complete"
  log "ready in $((SECONDS - start))s"
fi
echo "$venv/bin/python"
