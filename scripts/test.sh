#!/usr/bin/env bash
# The test command: set up .venv, then run the test suite (2 CPU cores, no GPU, no ROS needed).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup_venv.sh"
cd "$root"
exec "$root/.venv/bin/python" -m pytest -q "$@"
