#!/usr/bin/env bash
# The learning-update speed of an earlier version and of this checkout, measured back to back
# on this machine: `sacgmm bench-rl` of BEFORE (a commit, checked out in a temporary git
# worktree, run with its own defaults) into OUT/bench_rl_before.json, then this checkout's
# into OUT/bench_rl.json with the speed-up over BEFORE.
# usage: bash scripts/bench_rl_before_after.sh BEFORE [OUT_DIR (default results)] [SECONDS] [TRAIN_SECONDS]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
before=${1:?usage: bench_rl_before_after.sh BEFORE_COMMIT [OUT_DIR] [SECONDS] [TRAIN_SECONDS]}
out=${2:-results}
seconds=${3:-10}
train_seconds=${4:-40}
python=.venv/bin/python
tree=$(mktemp -d)
trap 'git worktree remove --force "$tree" >/dev/null 2>&1 || rm -rf "$tree"' EXIT
git worktree add --detach "$tree" "$before" >/dev/null
mkdir -p "$out"
PYTHONPATH="$tree/src/sacgmm" "$python" -m sacgmm.cli bench-rl --seconds "$seconds" \
    --train-seconds "$train_seconds" --out "$out/bench_rl_before.json" >/dev/null
PYTHONPATH="$PWD/src/sacgmm" "$python" -m sacgmm.cli bench-rl --seconds "$seconds" \
    --train-seconds "$train_seconds" --before "$out/bench_rl_before.json" \
    --out "$out/bench_rl.json" >/dev/null
