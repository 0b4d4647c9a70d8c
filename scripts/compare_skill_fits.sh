#!/usr/bin/env bash
# The simulated tasks with the CLF skill fit (sacgmm fit --method clf) against the default
# stable fit (seds): the GMM agent over 5 demonstration sets per task (sacgmm calibrate), and
# SAC-GMM on peg for seeds 0..N-1, each seed with its own demonstrations. Resumable: finished
# training runs are reported, not redone. Writes results/skill_clf/.
#
#   bash scripts/compare_skill_fits.sh [SEEDS=3] [JOBS=2]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SEEDS=${1:-3}
JOBS=${2:-2}
OUT=results/skill_clf
RUNS=${SACGMM_RUNS:-runs}
mkdir -p "$OUT"
SACGMM=.venv/bin/sacgmm

if [ ! -f "$OUT/calibration.json" ]; then
  $SACGMM calibrate --task all --method clf --jobs "$JOBS" --workdir /tmp/sacgmm-calibration-clf \
    --json-out "$OUT/calibration.json" --md-out "$OUT/calibration.md" --no-update-config
fi

for s in $(seq 0 $((SEEDS - 1))); do
  work=/tmp/sacgmm-skill-clf/peg/seed$s
  if [ ! -f "$work/skill.yaml" ]; then
    $SACGMM demos --task peg --n 20 --seed "$s" --out "$work/demos"
    $SACGMM fit --demos "$work/demos" --out "$work/skill.yaml" --components 3 --seed "$s" --method clf
  fi
  for fit in seds clf; do
    run="$RUNS/peg/sac-gmm/seed$s"
    skill=()
    if [ "$fit" = clf ]; then run="$RUNS/skill_clf/peg/sac-gmm/seed$s"; skill=(--skill "$work/skill.yaml"); fi
    $SACGMM train --task peg --config sac-gmm --seed "$s" --episodes 150 "${skill[@]}" \
      --out "$run" --resume --no-progress
    mkdir -p "$OUT/peg-sac-gmm-$fit/seed$s"
    cp "$run"/{summary.json,episodes.csv,evals.csv,config.json} "$OUT/peg-sac-gmm-$fit/seed$s/"
  done
done

.venv/bin/python - "$OUT" "$SEEDS" <<'EOF'
"""Writes results/skill_clf/README.md from the files this script produced."""
import json, sys
from pathlib import Path

import numpy as np

out, seeds = Path(sys.argv[1]), int(sys.argv[2])
seds_cal = json.loads(Path("results/calibration.json").read_text())["tasks"]
clf_cal = json.loads((out / "calibration.json").read_text())["tasks"]
lines = ["# The CLF skill fit on the simulated tasks", "",
         "Command: `bash scripts/compare_skill_fits.sh " + f"{seeds}`; the default (seds) GMM "
         "figures are `results/calibration.json`. Machine and commands: the JSON files here.", "",
         "## The GMM agent alone (5 demonstration sets, 100 episodes each, mean over sets)", "",
         "| task | noise | seds fit | clf fit | clf per set | clf failures |", "|---|---|---|---|---|---|"]
for task in clf_cal:
    for key, label in (("no_noise", "no"), ("noise", "1 cm")):
        a, b = seds_cal[task]["results"][key], clf_cal[task]["results"][key]
        lines.append(f"| {task} | {label} | {100 * a['success_rate']:.1f} % | "
                     f"{100 * b['success_rate']:.1f} % | "
                     f"{', '.join(f'{100 * x:.0f}' for x in b['per_set'])} % | {b['failures']} |")
lines += ["", "## SAC-GMM on peg (sensor on, no noise, 150 training episodes, 100 final episodes)", "",
          "| seed | seds fit: final | training successes | clf fit: final | training successes |",
          "|---|---|---|---|---|"]
finals = {"seds": [], "clf": []}
for s in range(seeds):
    row = [str(s)]
    for fit in ("seds", "clf"):
        d = out / f"peg-sac-gmm-{fit}" / f"seed{s}"
        summ = json.loads((d / "summary.json").read_text())
        eps = np.genfromtxt(d / "episodes.csv", delimiter=",", names=True)
        finals[fit].append(summ["final_success_rate"])
        row += [f"{100 * summ['final_success_rate']:.0f} % (policy of episode "
                f"{summ['final_policy']['episode']})", f"{int(eps['success'].sum())}/{len(eps)}"]
    lines.append("| " + " | ".join(row) + " |")
lines.append(f"| mean +- std | {100 * np.mean(finals['seds']):.0f} +- {100 * np.std(finals['seds']):.0f} % "
             f"| | {100 * np.mean(finals['clf']):.0f} +- {100 * np.std(finals['clf']):.0f} % | |")
(out / "README.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
