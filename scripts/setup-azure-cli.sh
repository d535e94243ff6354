#!/usr/bin/env bash
# Creates, once, a Python virtual environment holding azure-cli from PyPI at the version pinned in
# test/clients/azure-cli/requirements.txt (every dependency pinned too), in a cache directory outside
# the repo keyed by that version, the file and the interpreter's version:
#   ${POD_IDENTITY_CACHE:-~/.cache/pod-identity}/azure-cli-<version>-<hash>/
# A second run with the same key is a no-op. The sibling of scripts/setup-python-clients.sh (same
# interpreter rules, scripts/lib/find-python.sh), kept apart because azure-cli is large (~730 MB).
#
# Prints the venv's `az` executable as its last line (progress, install time and size go to stderr).
# Honours POD_IDENTITY_CACHE and POD_IDENTITY_PYTHON (see scripts/lib/find-python.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
requirements="$root/test/clients/azure-cli/requirements.txt"
# shellcheck source=lib/find-python.sh
. "$root/scripts/lib/find-python.sh"

log() { echo "setup-azure-cli: $*" >&2; }

az_version=$(sed -n 's/^azure-cli==//p' "$requirements")
[ -n "$az_version" ] || { log "no azure-cli==<version> line in $requirements"; exit 1; }
python=$(find_python_for_venv 10)   # azure-cli requires Python >= 3.10
version=$("$python" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
key=$( (cat "$requirements"; echo "$version") | sha256sum | cut -c1-12)
cache=${POD_IDENTITY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pod-identity}
venv="$cache/azure-cli-$az_version-$key"
mkdir -p "$cache"

# One builder at a time; a venv counts only once its marker is written (an interrupted build is redone).
exec 9>"$venv.lock"
flock 9
if [ -f "$venv/.complete" ] && [ -x "$venv/bin/az" ]; then
  log "cached: $venv (azure-cli $az_version, Python $version)"
else
  start=$SECONDS
  log "creating $venv with $python (Python $version): azure-cli $az_version from PyPI"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$requirements" >&2
  # The installed az must be the pinned one (and start at all).
  config=$(mktemp -d)
  installed=$(AZURE_CONFIG_DIR=$config AZURE_CORE_COLLECT_TELEMETRY=no "$venv/bin/az" version --query '"azure-cli"' -o tsv || true)
  rm -rf "$config"
  [ "$installed" = "$az_version" ] || { log "installed azure-cli is '$installed', expected $az_version"; exit 1; }
  touch "$venv/.complete"
  log "ready in $((SECONDS - start))s, $(du -sh "$venv" | cut -f1) on disk"
fi
echo "$venv/bin/az"
