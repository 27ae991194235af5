#!/usr/bin/env bash
# Create benchmarks/.topaz-venv with Topaz (topaz-em), the peer picker used by the
# detector benchmark. Topaz is NOT a dependency of napari-cryopick.
#
# torch is pinned through ../constraints.txt so pip takes the local CPU wheel
# (torch==2.13.0) instead of the registry's CUDA build. The registry's torchvision
# wheel cannot load its compiled ops against that torch; benchmarks/topaz_runner.py
# works around it. Usage:  bash benchmarks/topaz_env.sh   (idempotent)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
venv="$here/.topaz-venv"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -c "$root/constraints.txt" "torch==2.13.0" topaz-em
# Smoke test: topaz imports and its CLI answers through the runner.
"$venv/bin/python" "$here/topaz_runner.py" --version
echo "Topaz environment ready: $venv/bin/python benchmarks/topaz_runner.py COMMAND ..."
