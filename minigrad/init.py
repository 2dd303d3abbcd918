"""In-place initialisers for tensors (parameters): each draws from a numpy Generator `rng`."""

from __future__ import annotations

import math

import numpy as np

from .autograd import bump_version
from .backends import backend_of


def _set(t, values, by: str):
    """t's values replaced in place by `by` (an initialiser): its version goes up, so a graph
    recorded before refuses to reach t's gradient (as after an optimizer step; it would be the
    gradient of the old values)."""
    t.data = backend_of(t.data).from_host(np.asarray(values, dtype=t.dtype).reshape(t.shape))
    bump_version(t, by)
    return t


def _rng(rng):
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def fans(shape) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of shape (out, in, *receptive)."""
    if len(shape) < 2:
        raise ValueError(f"fan_in/fan_out need a weight of at least 2 dims, got shape {shape}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def uniform_(t, low: float = 0.0, high: float = 1.0, rng=None):
    """Fill with U[low, high)."""
    if high < low:
        raise ValueError(f"uniform_: high={high} is below low={low}")
    return _set(t, _rng(rng).uniform(low, high, t.shape), "init.uniform_")


def normal_(t, mean: float = 0.0, std: float = 1.0, rng=None):
    """Fill with N(mean, std^2)."""
    return _set(t, _rng(rng).normal(mean, std, t.shape), "init.normal_")


def constant_(t, value: float):
    return _set(t, np.full(t.shape, value), "init.constant_")


def zeros_(t):
    return constant_(t, 0.0)


def ones_(t):
    return constant_(t, 1.0)


def xavier_uniform_(t, gain: float = 1.0, rng=None):
    """Glorot & Bengio 2010: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = fans(t.shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -bound, bound, rng)


def xavier_normal_(t, gain: float = 1.0, rng=None):
    """Glorot normal: N(0, gain^2 * 2 / (fan_in + fan_out))."""
    fan_in, fan_out = fans(t.shape)
    return normal_(t, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng)


glorot_uniform_ = xavier_uniform_
glorot_normal_ = xavier_normal_


def orthogonal_(t, gain: float = 1.0, rng=None):
    """A (semi-)orthogonal matrix from the QR of a Gaussian, signs fixed (Saxe et al. 2014)."""
    if len(t.shape) < 2:
        raise ValueError(f"orthogonal_: needs at least 2 dims, got shape {t.shape}")
    rows, cols = t.shape[0], int(np.prod(t.shape[1:]))
    a = _rng(rng).standard_normal((rows, cols))
    if rows < cols:
        a = a.T
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _set(t, gain * q, "init.orthogonal_")


def identity_(t, gain: float = 1.0):
    """gain * I for a 2-d tensor (rectangular: ones on the main diagonal), as for the IRNN."""
    if len(t.shape) != 2:
        raise ValueError(f"identity_: needs a 2-d tensor, got shape {t.shape}")
    return _set(t, gain * np.eye(*t.shape), "init.identity_")


eye_ = identity_
