"""Importing minigrad makes idle OpenMP threads wait passively unless the user chose a policy
(minigrad/backends/omp.py), and the choice reaches the parallel kernels' libgomp."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from minigrad.backends import omp

SHOW = ("import os, minigrad; print(os.environ.get('OMP_WAIT_POLICY'), "
        "os.environ.get('GOMP_SPINCOUNT'))")


def _imported_with(**env):
    clean = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    done = subprocess.run([sys.executable, "-c", SHOW], env={**clean, **env}, capture_output=True,
                          text=True, check=True)
    return done.stdout.split()


def test_import_sets_passive_waiting():
    assert _imported_with() == ["passive", "None"]


@pytest.mark.parametrize("env, expected", [({"OMP_WAIT_POLICY": "active"}, ["active", "None"]),
                                           ({"GOMP_SPINCOUNT": "10000"}, ["None", "10000"])])
def test_the_users_choice_stands(env, expected):
    assert _imported_with(**env) == expected


def test_wait_passively_on_a_given_environment():
    assert omp.wait_passively({}) == {"OMP_WAIT_POLICY": "passive"}
    env = {"OMP_WAIT_POLICY": "ACTIVE"}
    assert omp.wait_passively(env) == {} and env == {"OMP_WAIT_POLICY": "ACTIVE"}


def test_libgomp_reads_it_at_the_first_parallel_kernel():
    """The policy is in the environment before Numba loads libgomp, so libgomp's own report of
    its settings (OMP_DISPLAY_ENV=verbose) shows no spinning: a spin count of 0 (its default,
    with no policy set, is 300,000 spins, and it reports that as 'PASSIVE' too)."""
    code = ("import minigrad as mg, numpy as np\n"
            "n = 2 * (mg.backends.cpu_scan.SERIAL_MAX_ELEMENTS + 1)\n"  # a parallel scan
            "mg.linear_scan(mg.tensor(np.ones((2, n // 2), np.float32)), "
            "mg.tensor(np.ones((2, n // 2), np.float32)))\n"
            "import numba; print('layer', numba.threading_layer())")
    clean = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    done = subprocess.run([sys.executable, "-c", code], env={**clean, "OMP_DISPLAY_ENV": "verbose"},
                          capture_output=True, text=True, check=True)
    if "layer omp" not in done.stdout:
        pytest.skip(f"Numba's threading layer here is not OpenMP: {done.stdout.strip()}")
    assert "GOMP_SPINCOUNT = '0'" in done.stderr, done.stderr[-2000:]


def test_benchmark_workers_get_the_users_environment(monkeypatch):
    """A torch worker started by a bench harness that imported minigrad does not inherit the
    passive policy minigrad set (it would slow torch's OpenMP); a user's own setting passes."""
    from pathlib import Path

    from bench.peers.machine import worker_env

    monkeypatch.setitem(omp.applied, "OMP_WAIT_POLICY", "passive")
    monkeypatch.setenv("OMP_WAIT_POLICY", "passive")
    assert "OMP_WAIT_POLICY" not in worker_env(Path("."), 2)
    monkeypatch.delitem(omp.applied, "OMP_WAIT_POLICY")
    assert worker_env(Path("."), 2)["OMP_WAIT_POLICY"] == "passive"
