"""``sacgmm probe-encoder``: does a peg agent's latent code keep the side on which the board
bears, which the tactile images show? (:mod:`sacgmm.experiments.encoder_probe`)"""
from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "probe-encoder", help="how well the direction of a press beside the hole is recovered "
                              "from the tactile pixels and from trained agents' latent codes",
        description="Presses the held peg onto the board in random directions 5-30 mm from the "
                    "hole's axis (no noise, no learning) and fits, with cross-validated ridge "
                    "regression, the press's direction from the images' pixels and from each "
                    "checkpoint's latent code of the same images: the median angle error "
                    "(90 deg is chance) and R^2. A latent far behind the pixels has lost what "
                    "the sensor shows.")
    p.add_argument("checkpoints", nargs="*", metavar="CHECKPOINT",
                   help="checkpoint.pt or best.pt of peg runs with the tactile sensor")
    p.add_argument("--presses", type=int, default=144, help="number of presses (default 144)")
    p.add_argument("--folds", type=int, default=6, help="cross-validation folds (default 6)")
    p.add_argument("--seed", type=int, default=0, help="seed of the presses (default 0)")
    p.add_argument("--out", default="results/encoder_probe.json")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sacgmm.experiments.encoder_probe import check_folds, probe_encoders
    from sacgmm.fileio import atomic_write_text
    from sacgmm.machine import machine_info

    try:
        check_folds(args.presses, args.folds)
    except ValueError as exc:
        raise ValueError(f"--presses {args.presses} --folds {args.folds}: {exc}") from None
    doc = probe_encoders(args.checkpoints, args.presses, args.seed, args.folds)
    command = " ".join(["sacgmm probe-encoder", *args.checkpoints, "--presses",
                        str(args.presses), "--folds", str(args.folds), "--seed", str(args.seed)])
    doc = {"command": command, **doc, "machine": machine_info()}
    atomic_write_text(args.out, json.dumps(doc, indent=2) + "\n")
    print(f"{'features':<60} {'dims':>6} {'median error deg':>17} {'R^2':>6}")
    for r in doc["rows"]:
        print(f"{r['features'][-60:]:<60} {r['dims']:>6} {r['median_angle_error_deg']:>17} "
              f"{r['r2']:>6}")
    print(f"wrote {args.out}")
    return 0
