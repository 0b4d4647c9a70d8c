#!/usr/bin/env bash
# Create or refresh the project's virtual environment in .venv (idempotent).
# Re-installs only when requirements.txt or the package metadata changed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
py="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
    "$py" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
fi
# the ROS 2 wheels put package.xml files under .venv/share: keep colcon out of the venv when a
# workspace is built in the repository root
touch "$venv/COLCON_IGNORE"
stamp="$venv/.sacgmm-stamp"
want="$(cat "$root/requirements.txt" "$root/src/sacgmm/setup.py" "$root/src/sacgmm/setup.cfg" | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    "$venv/bin/python" -m pip install --quiet -r "$root/requirements.txt"
    "$venv/bin/python" -m pip install --quiet --no-deps -e "$root/src/sacgmm"
    echo "$want" > "$stamp"
fi
