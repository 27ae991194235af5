#!/usr/bin/env bash
# Install the Debian packages the test suite needs (virtual display for the napari
# and Qt tests) when some are missing. Only root can install. Anyone else gets a
# warning with the command to run, and the script exits 0 so that `make test` still
# runs and the GUI tests report what is wrong.
#
# Usage: scripts/install-system-deps.sh [--check]   (--check: list missing, install nothing)
set -euo pipefail

packages=(
    # X virtual frame buffer, used by pytest-xvfb
    xvfb
    # what Qt5's xcb platform plugin loads
    libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0
    libxkbcommon-x11-0 libxcb-xinerama0 libxcb-randr0 libxcb-shape0
    libxcb-xfixes0 libxcb-cursor0 libgl1 libegl1 libdbus-1-3 libfontconfig1
)

missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done
command -v make >/dev/null 2>&1 || missing+=(make)
# Debian's own python3 needs python3-venv for `python3 -m venv`.
if ! "${PYTHON:-python3}" -c "import ensurepip, venv" >/dev/null 2>&1; then
    missing+=(python3-venv)
fi

if [ "${#missing[@]}" -eq 0 ]; then
    echo "system packages: all present"
    exit 0
fi
echo "system packages missing: ${missing[*]}"
if [ "${1:-}" = "--check" ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "warning: no apt-get here; install the equivalents of: ${missing[*]}" >&2
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "warning: not root, not installing. Run:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"
