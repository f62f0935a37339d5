"""The action distribution every actor network outputs.

An :class:`ActionDist` holds, per UE slot, the categorical distributions of the offloading
target (local, edge, cloud) and of the channel, and the continuous ratios ``a`` (transmit
power) and ``b`` (CPU frequency) that the actor proposes. TAC's transformer, the DTAC and
TL-transformer students, the TL MLP and HAPPO's actors all produce one; :meth:`ActionDist.mode`
is the executed decision of a deterministic policy (paper III-B). It is a ``NamedTuple``, so
``p_x, p_l, a, b = dist`` unpacks it.
"""
from __future__ import annotations

from typing import NamedTuple

import distrax
import jax
import jax.numpy as jnp

from dtac_jax.env.env import Action


class ActionDist(NamedTuple):
    p_x: jax.Array   # float[..., N, 3] target probabilities
    p_l: jax.Array   # float[..., N, L] channel probabilities
    a: jax.Array     # float[..., N] transmit-power ratio in (0, 1]
    b: jax.Array     # float[..., N] CPU-frequency ratio in (0, 1]

    def mode(self) -> Action:
        """``x = argmax p_x``, ``channel = argmax p_l`` and the proposed ``a``, ``b``."""
        return Action(x=jnp.argmax(self.p_x, -1).astype(jnp.int32),
                      channel=jnp.argmax(self.p_l, -1).astype(jnp.int32), a=self.a, b=self.b)

    def entropy(self) -> jax.Array:
        """Per-UE entropy of the target and channel distributions (``[..., N]``)."""
        return (distrax.Categorical(probs=self.p_x).entropy()
                + distrax.Categorical(probs=self.p_l).entropy())
