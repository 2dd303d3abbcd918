"""Benchmarks: the asv suite and the side-by-side comparison with PyTorch, JAX and HIPS autograd.

Every module here is imported by asv to discover benchmarks, so none may do work or import a
heavy library at module level.
"""
