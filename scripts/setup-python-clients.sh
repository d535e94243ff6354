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
# when running as root; otherwise says what to install and fails (scripts/lib/find-python.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
requirements="$root/test/clients/python/requirements.txt"
# shellcheck source=lib/find-python.sh
. "$root/scripts/lib/find-python.sh"

log() { echo "setup-python-clients: $*" >&2; }

python=$(find_python_for_venv 9)
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
