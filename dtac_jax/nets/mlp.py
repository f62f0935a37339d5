"""MLP student of the TL baseline: acts on the local state with UE and edge ids (paper eq. 24)."""
from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from dtac_jax.nets.distributions import ActionDist
from dtac_jax.nets.transformer import MAX_EDGES, normalize_obs

MAX_SLOTS = 64  # size of the one-hot UE-slot id


class MLPActor(nn.Module):
    """Per-UE MLP: ``[normalised s^n, onehot(n), onehot(k)] -> ActionDist``.

    Applied to each UE independently (shared weights), so it is decentralised by construction.
    """

    n_channels: int = 4
    hidden: tuple[int, ...] = (64, 64)
    a_min: float = 0.01

    @nn.compact
    def __call__(self, s, edge, mask):
        n = s.shape[-2]
        slot = jnp.broadcast_to(jnp.arange(n), s.shape[:-1])
        h = jnp.concatenate([normalize_obs(s), nn.one_hot(slot, MAX_SLOTS),
                             nn.one_hot(edge, MAX_EDGES)], axis=-1)
        for width in self.hidden:
            h = nn.tanh(nn.Dense(width)(h))
        p_x = nn.softmax(nn.Dense(3, name="head_x")(h))
        p_l = nn.softmax(nn.Dense(self.n_channels, name="head_l")(h))
        ab = self.a_min + (1.0 - self.a_min) * nn.sigmoid(nn.Dense(2, name="head_ab")(h))
        return ActionDist(p_x, p_l, ab[..., 0], ab[..., 1])
