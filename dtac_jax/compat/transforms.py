"""The reward and observation transforms the project's own learners use, as adapter options.

The round objective (eq. 27) spans decades with heavy tails (a few rounds cost 1e3-1e5 times
the median), and the lower bounds in the observation span as many; TAC and HAPPO learn on
``log1p`` of both. Each adapter (:mod:`dtac_jax.compat.gymnax`, :mod:`~dtac_jax.compat.jaxmarl`,
:mod:`~dtac_jax.compat.jumanji`) takes ``reward=`` and ``obs=``:

* ``reward="raw"``: minus the round objective; ``"log1p"``: ``-log1p(objective)`` (HAPPO's
  eq. 23 reward, the order of TAC's transformed cost). The objective itself stays in
  ``info["objective"]`` either way.
* ``obs="raw"``: the lower bounds as the simulator gives them (seconds; unbounded above);
  ``"log1p"``: ``log1p`` of them, within ``[0, log1p(float32 max)]``.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

REWARDS = ("raw", "log1p")
OBSERVATIONS = ("raw", "log1p")


def check(owner: str, reward: str, obs: str) -> None:
    """One-line ``ValueError`` for an unknown transform name."""
    if reward not in REWARDS:
        raise ValueError(f"{owner}: unknown reward transform {reward!r} (known: "
                         f"{', '.join(REWARDS)})")
    if obs not in OBSERVATIONS:
        raise ValueError(f"{owner}: unknown observation transform {obs!r} (known: "
                         f"{', '.join(OBSERVATIONS)})")


def reward(objective, kind: str):
    """The reward of a round's objective under transform ``kind``."""
    return -jnp.log1p(objective) if kind == "log1p" else -objective


def lower_bounds(s, kind: str):
    """The observation's lower bounds ``s`` (``[..., 6]``) under transform ``kind``."""
    return jnp.log1p(s) if kind == "log1p" else s


def lower_bound_high(kind: str) -> float:
    """The largest value of a transformed lower bound (finite under either transform)."""
    top = float(np.finfo(np.float32).max)
    return float(np.log1p(top)) if kind == "log1p" else top
