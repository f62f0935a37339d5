"""The one protocol of a deployed policy: evaluation, validation and every figure run it.

A :class:`Policy` acts for one episode of one environment (``vmap`` for many):

* ``init(params) -> carry``: the memory at an episode's start (``()`` for a stateless policy);
* ``apply(carry, key, obs, state, params) -> (carry, Action)``: one round's decision.

Decentralised policies read only ``obs`` (each UE's row of it); centralised references (Search,
the greedy heuristic's lower bounds) may read ``state``. A plain function
``policy(key, obs, state, params) -> Action`` becomes a :class:`Policy` with :func:`stateless`;
:func:`as_policy` accepts either. Actor networks (TAC's transformer, the students, the TL MLP)
produce an :class:`~dtac_jax.nets.distributions.ActionDist`; :func:`greedy` turns actor
parameters into the deterministic policy that executes its mode (paper III-B). Training
rollouts act through an algorithm's own behaviour (a batched, exploring sampler;
:func:`dtac_jax.algos.rollouts.rollout`), not through this protocol.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax

from dtac_jax.env.env import Action, EnvState, Obs
from dtac_jax.env.scenarios import EnvParams
from dtac_jax.nets.distributions import ActionDist
from dtac_jax.nets.transformer import Actor, NetConfig

PolicyFn = Callable[[jax.Array, Obs, EnvState, EnvParams], Action]


class Policy(NamedTuple):
    """``init(params) -> carry``; ``apply(carry, key, obs, state, params) -> (carry, Action)``."""

    init: Callable[[EnvParams], Any]
    apply: Callable[[Any, jax.Array, Obs, EnvState, EnvParams], tuple[Any, Action]]


def stateless(fn: PolicyFn) -> Policy:
    """A :class:`Policy` with an empty carry from ``fn(key, obs, state, params) -> Action``."""

    def apply(carry, key, obs, state, params):
        return carry, fn(key, obs, state, params)

    return Policy(init=lambda params: (), apply=apply)


def as_policy(policy: Policy | PolicyFn) -> Policy:
    """``policy`` as a :class:`Policy` (a plain function through :func:`stateless`)."""
    return policy if isinstance(policy, Policy) else stateless(policy)


def actor_fn(net: NetConfig, attention: str) -> Callable[[Any, Obs], ActionDist]:
    """``act(actor_params, obs) -> ActionDist`` of the transformer actor for one joint state
    (``attention="full"``: TAC; ``"identity"``: each UE sees only itself, DTAC)."""
    model = Actor(net, attention)
    return lambda prm, obs: model.apply(prm, obs.s, obs.edge, obs.mask)


def to_action(dist: ActionDist) -> Action:
    """The executed decision of an actor's output: its mode (``argmax`` target and channel)."""
    return ActionDist(*dist).mode()  # any (p_x, p_l, a, b) sequence


def greedy(act: Callable[[Any, Obs], ActionDist], actor_params) -> Policy:
    """The deterministic policy of actor parameters: the mode of ``act(actor_params, obs)``."""

    def fn(key, obs: Obs, state, params: EnvParams) -> Action:
        return to_action(act(actor_params, obs))

    return stateless(fn)
