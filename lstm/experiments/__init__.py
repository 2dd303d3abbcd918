"""Experiments: gradient flow and sweeps."""
