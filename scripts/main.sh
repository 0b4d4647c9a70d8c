#!/usr/bin/env bash
# The main job: set up .venv, then run the sacgmm pipeline end to end (see README).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup_venv.sh"
exec "$root/.venv/bin/python" -m sacgmm.cli pipeline "$@"
