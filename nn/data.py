"""Small datasets made on the spot (nothing is downloaded).

>>> X, Y = moons(6, seed=0)
>>> len(X), len(X[0]), sorted(set(Y))
(6, 2, [-1.0, 1.0])
"""

from __future__ import annotations

import math
import random

__all__ = ["moons"]


def moons(n: int = 100, noise: float = 0.1, seed: int = 0) -> tuple[list[list[float]], list[float]]:
    """Two interleaved half circles, labelled +1 (upper) and -1 (lower), with Gaussian noise.

    The classic toy problem for a small MLP (like scikit-learn's ``make_moons``); a local
    ``random.Random(seed)`` makes it reproducible without touching the global random state.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, not {n!r}")
    rng = random.Random(seed)
    X, Y = [], []
    for i in range(n):
        upper = i % 2 == 0
        t = math.pi * rng.random()
        x, y = (math.cos(t), math.sin(t)) if upper else (1 - math.cos(t), 0.5 - math.sin(t))
        X.append([x + rng.gauss(0, noise), y + rng.gauss(0, noise)])
        Y.append(1.0 if upper else -1.0)
    return X, Y
