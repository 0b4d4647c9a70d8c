"""Experiment plumbing shared by the commands: default skills, statistics, grids, plots."""
