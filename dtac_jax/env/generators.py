"""Replaceable generators of an episode's UE counts and of each round's task arrivals.

The simulator asks two objects, as Jumanji's environments ask their generator:

- a :class:`UECounts` at reset: ``ue_counts(key, params) -> int32[K]``, the number of real UEs
  on each edge (each in ``[0, params.ue_max]``);
- an :class:`Arrivals` every round: ``arrivals(key, u, mask, ue_type, params) -> int32[N]``,
  the task each UE slot asks for (``u`` is the round's uniform in ``[0, 1)`` per slot, drawn by
  the simulator's counter-based hash; ``key`` is the round's key, for a generator that needs
  more randomness, e.g. ``jax.random.fold_in(key, 1)``). Padded slots (``~mask``) are set to
  task 0 by the simulator whatever the generator returns.

Both are pure functions of their arguments (``jit``, ``vmap`` and ``lax.scan`` apply) held in
frozen dataclasses, so a generator's options are hashable and part of the environment's
identity. Pass them to :class:`~dtac_jax.env.wrappers.CloudEdgeEnv`
(``CloudEdgeEnv(scenario, ue_counts=FixedUECounts((3, 3, 3, 3, 3)))``), or name them in a
training config (``EnvConfig(ue_counts="fixed(n=[3, 3, 3, 3, 3])")``, registered in
:data:`GENERATORS`). The defaults, :class:`UniformUECounts` and :class:`ZipfArrivals`, are the
system model's (docs/model.md).
"""
from __future__ import annotations

import abc
import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np

from dtac_jax.env.scenarios import EnvParams


class UECounts(abc.ABC):
    """The number of real UEs on each edge of a new episode: ``(key, params) -> int32[K]``."""

    @abc.abstractmethod
    def __call__(self, key: chex.PRNGKey, params: EnvParams) -> jax.Array:
        """The counts of one episode."""


class Arrivals(abc.ABC):
    """Each UE slot's task in a round: ``(key, u, mask, ue_type, params) -> int32[N]``."""

    @abc.abstractmethod
    def __call__(self, key: chex.PRNGKey, u: jax.Array, mask: jax.Array, ue_type: jax.Array,
                 params: EnvParams) -> jax.Array:
        """The tasks of one round."""


@dataclasses.dataclass(frozen=True)
class UniformUECounts(UECounts):
    """Each edge's count uniform in ``[params.ue_min, params.ue_max]`` (the system model)."""

    def __call__(self, key, params):
        return jax.random.randint(key, (params.n_edges,), params.ue_min, params.ue_max + 1)


@dataclasses.dataclass(frozen=True)
class LevelUECounts(UECounts):
    """A load level per episode: ``n`` uniform in ``[lo, params.ue_max]``, and each edge's count
    ``n`` plus a uniform jitter in ``[-jitter, jitter]``, clipped to ``[lo, params.ue_max]``
    (``lo``: ``params.ue_min`` when None).

    The figures' x-axes set every edge to the same count; the system model's independent draw
    per edge (:class:`UniformUECounts`) almost never makes a whole network lightly loaded (all
    five of ``small``'s edges at 4 of ``[4, 6]``: probability ``3^-5``). This generator covers
    every load level of ``[lo, ue_max]`` with edges near one another (docs/algorithms.md,
    "Training UE counts")."""

    lo: int | None = None
    jitter: int = 1

    def __post_init__(self):
        if self.lo is not None and (type(self.lo) is not int or self.lo < 0):
            raise ValueError(f"LevelUECounts: lo must be an integer >= 0, got {self.lo!r}")
        if type(self.jitter) is not int or self.jitter < 0:
            raise ValueError(f"LevelUECounts: jitter must be an integer >= 0, got "
                             f"{self.jitter!r}")

    def __call__(self, key, params):
        lo = params.ue_min if self.lo is None else self.lo
        if lo > params.ue_max:
            raise ValueError(f"LevelUECounts: lo={lo} above the scenario's ue_max "
                             f"{params.ue_max}")
        k_level, k_edges = jax.random.split(key)
        n = jax.random.randint(k_level, (), lo, params.ue_max + 1)
        jitter = jax.random.randint(k_edges, (params.n_edges,), -self.jitter, self.jitter + 1)
        return jnp.clip(n + jitter, lo, params.ue_max).astype(jnp.int32)


@dataclasses.dataclass(frozen=True)
class FixedUECounts(UECounts):
    """The same counts ``n`` (one per edge) in every episode. ``n`` may be traced (``vmap``
    over UE counts); concrete counts are checked against the scenario at reset."""

    n: tuple[int, ...] | jax.Array

    def __post_init__(self):
        if not isinstance(self.n, jax.core.Tracer):
            arr = np.asarray(self.n)   # numpy: no tracing inside a jitted caller
            if arr.ndim != 1:
                raise ValueError(f"FixedUECounts: counts of shape {arr.shape}: give one count "
                                 "per edge")
            n = tuple(int(v) for v in arr.tolist())
            if not n or min(n) < 0:
                raise ValueError(f"FixedUECounts: counts {list(n)} must be one count >= 0 "
                                 "per edge")
            object.__setattr__(self, "n", n)

    def __call__(self, key, params):
        n = self.n
        if isinstance(n, tuple):
            if len(n) != params.n_edges:
                raise ValueError(f"FixedUECounts: {len(n)} counts for {params.n_edges} edges")
            if max(n) > params.ue_max:
                raise ValueError(f"FixedUECounts: counts {list(n)} outside [0, "
                                 f"{params.ue_max}]")
        elif jnp.shape(n) != (params.n_edges,):
            raise ValueError(f"FixedUECounts: counts of shape {jnp.shape(n)} for "
                             f"{params.n_edges} edges")
        return jnp.asarray(n, jnp.int32)


@dataclasses.dataclass(frozen=True)
class ZipfArrivals(Arrivals):
    """Each UE's task from its type's Zipf law (the system model), by the alias method: one
    uniform per UE (``u``); over all float32 uniforms every task's probability is within 1e-4
    (relative) of the law's."""

    def __call__(self, key, u, mask, ue_type, params):
        m = params.n_tasks
        um = u * m
        col = jnp.minimum(um.astype(jnp.int32), m - 1)
        frac = um - col.astype(um.dtype)
        flat = ue_type * m + col
        keep = frac < params.pop_alias_prob.reshape(-1)[flat]
        return jnp.where(keep, col, params.pop_alias.reshape(-1)[flat])


#: generators a config names (``EnvConfig.ue_counts`` / ``EnvConfig.arrivals``):
#: ``name -> class``, built as ``cls(**options)``
GENERATORS: dict[str, type] = {"uniform": UniformUECounts, "level": LevelUECounts,
                               "fixed": FixedUECounts, "zipf": ZipfArrivals}


def register_generator(name: str, cls: type) -> None:
    """Make ``cls`` (a :class:`UECounts` or :class:`Arrivals` dataclass taking its options as
    keywords) nameable in ``EnvConfig.ue_counts`` / ``EnvConfig.arrivals``."""
    if not (isinstance(cls, type) and issubclass(cls, (UECounts, Arrivals))):
        raise ValueError(f"generator {name!r}: {cls!r} is not a UECounts or Arrivals class")
    if not name.isidentifier():
        raise ValueError(f"generator name {name!r} is not an identifier")
    GENERATORS[name] = cls
