"""Shared pytest fixtures and settings for the sacgmm test suite."""
import os

# Keep numerical libraries to one thread per process: CI has 2 cores and runs workers in parallel.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")
