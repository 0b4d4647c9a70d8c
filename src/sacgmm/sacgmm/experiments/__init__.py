"""Experiment plumbing shared by the commands: grids, the oracle, distillation, plots."""
