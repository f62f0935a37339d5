"""Observation and action spaces as data: bounds, shapes and dtypes, with ``sample`` and
``contains`` as pure functions (gymnax's spaces have the same shape; the adapters in
:mod:`dtac_jax.compat` translate these into each library's own).

The action space is hybrid: per UE slot a discrete target (0 local, 1 edge, 2 cloud), a
discrete channel, and the continuous transmit-power and CPU-frequency ratios ``a``, ``b`` in
``(0, 1]``.
"""
from __future__ import annotations

from typing import Mapping

import chex
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct


@struct.dataclass
class Box:
    """Reals (or integers) in ``[low, high]`` of a fixed ``shape``."""

    low: float = struct.field(pytree_node=False)
    high: float = struct.field(pytree_node=False)
    shape: tuple[int, ...] = struct.field(pytree_node=False)
    dtype: object = struct.field(pytree_node=False, default=jnp.float32)

    def sample(self, key: chex.PRNGKey) -> jax.Array:
        """Uniform in the box (``high`` included, ``low`` excluded when both are finite)."""
        lo, hi = (np.clip(self.low, -1e6, 1e6), np.clip(self.high, -1e6, 1e6))
        u = 1.0 - jax.random.uniform(key, self.shape, jnp.float32)      # (0, 1]
        return (lo + u * (hi - lo)).astype(self.dtype)

    def contains(self, x) -> jax.Array:
        x = jnp.asarray(x)
        return (x.shape == tuple(self.shape)) & jnp.all((x >= self.low) & (x <= self.high))


@struct.dataclass
class Discrete:
    """Integers ``0 .. n-1`` of a fixed ``shape`` (one choice per entry)."""

    n: int = struct.field(pytree_node=False)
    shape: tuple[int, ...] = struct.field(pytree_node=False, default=())
    dtype: object = struct.field(pytree_node=False, default=jnp.int32)

    def sample(self, key: chex.PRNGKey) -> jax.Array:
        return jax.random.randint(key, self.shape, 0, self.n).astype(self.dtype)

    def contains(self, x) -> jax.Array:
        x = jnp.asarray(x)
        return (x.shape == tuple(self.shape)) & jnp.all((x >= 0) & (x < self.n))


@struct.dataclass
class Dict:
    """Named sub-spaces; ``sample`` returns a dict (or ``cls(**sample)`` when ``cls`` is set)."""

    spaces: Mapping[str, object] = struct.field(pytree_node=False)
    cls: object = struct.field(pytree_node=False, default=None)

    def sample(self, key: chex.PRNGKey):
        keys = jax.random.split(key, len(self.spaces))
        out = {k: s.sample(kk) for (k, s), kk in zip(self.spaces.items(), keys)}
        return out if self.cls is None else self.cls(**out)

    def contains(self, x) -> jax.Array:
        get = (lambda k: x[k]) if isinstance(x, Mapping) else (lambda k: getattr(x, k))
        return jnp.all(jnp.stack([s.contains(get(k)) for k, s in self.spaces.items()]))


def observation_space(params) -> Dict:
    """The joint observation :class:`dtac_jax.env.Obs`: per slot the six lower bounds (>= 0),
    the real-UE mask and the edge id."""
    from dtac_jax.env.env import OBS_DIM, Obs
    n = params.n_max
    return Dict({"s": Box(0.0, np.inf, (n, OBS_DIM), params.s_in.dtype),
                 "mask": Discrete(2, (n,), jnp.bool_),
                 "edge": Discrete(params.n_edges, (n,))}, cls=Obs)


def action_space(params) -> Dict:
    """The executed joint :class:`dtac_jax.env.Action`: target, channel, ``a``, ``b`` per slot."""
    from dtac_jax.env.env import Action
    n = params.n_max
    return Dict({"x": Discrete(3, (n,)), "channel": Discrete(params.l_channels, (n,)),
                 "a": Box(0.0, 1.0, (n,), params.s_in.dtype),
                 "b": Box(0.0, 1.0, (n,), params.s_in.dtype)}, cls=Action)
