# Sourced by scripts/setup-python-clients.sh and scripts/setup-azure-cli.sh (not run on its own).
# Defines find_python_for_venv MIN_MINOR: prints the path of an interpreter (Python 3.MIN_MINOR or newer)
# that can make venvs with pip (ensurepip): POD_IDENTITY_PYTHON, python3 or /usr/bin/python3. On a
# machine without one, installs python3 and python3-venv with apt-get when running as root; otherwise
# says what to install and returns 1.

# Whether $1 is Python >= 3.$2 with the venv and ensurepip modules.
python_usable() {
  "$1" -c "import sys, venv, ensurepip; sys.exit(0 if sys.version_info >= (3, $2) else 1)" >/dev/null 2>&1
}

python_candidate() {
  local candidate
  for candidate in ${POD_IDENTITY_PYTHON:-} python3 /usr/bin/python3; do
    if command -v "$candidate" >/dev/null 2>&1 && python_usable "$candidate" "$1"; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

find_python_for_venv() {
  local min_minor=$1
  if python_candidate "$min_minor"; then return 0; fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "find-python: no python3 (>= 3.$min_minor) with the venv module; installing python3 and python3-venv with apt-get" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 python3-venv >&2
  fi
  python_candidate "$min_minor" && return 0
  echo "find-python: need python3 (>= 3.$min_minor) with its venv module; on Debian/Ubuntu: apt-get install python3 python3-venv (or set POD_IDENTITY_PYTHON)" >&2
  return 1
}
