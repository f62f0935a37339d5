"""TAC's estimators: how one training iteration turns collected rounds into actor updates.

An estimator is a module with two pure functions, registered by name in :data:`ESTIMATORS`
(the name is ``TACConfig.estimator``)::

    init(ctx, key, actor, hyper) -> (actor_opt_state, own)
    train(ctx, ts, key) -> (ts, metrics)

``ctx`` (:class:`Context`) holds what :func:`dtac_jax.algos.tac.make_tac` builds once for every
estimator: the scenario, the config, the training environment, the replay buffer, the actor
and critic optimisers and one critic step. ``init`` makes the actor optimiser's state for the
freshly initialised ``actor`` and the estimator's ``own`` state (a dict of arrays and
optimiser states, ``{}`` when it needs none), kept in ``TACState.estimator``; ``hyper`` holds
the run's :data:`dtac_jax.algos.tac.HYPER` values. ``train`` collects rounds, updates the
critic and the actor and returns the iteration's metrics; :func:`~dtac_jax.algos.tac.make_tac`
then validates the actor and keeps the best one. Both are traced inside ``jit`` / ``vmap``.

Adding an estimator is one module with these two functions plus one line in
:data:`ESTIMATORS`:

* :mod:`.critic_gradient` (``"critic"``, the paper's): the deterministic actor's gradient
  through the critic (eq. 19), Gaussian noise on the probabilities for exploration;
* :mod:`.ppo` (``"ppo"``): a stochastic policy gradient with per-UE difference credit from
  the learned critic or the simulator (:mod:`dtac_jax.algos.credit`), or team credit (GAE of
  the shared reward against a state value).
"""
from __future__ import annotations

import dataclasses
from types import ModuleType
from typing import Any, Callable

import jax
import optax

from dtac_jax.algos import losses
from dtac_jax.algos.estimators import critic_gradient, ppo
from dtac_jax.env.scenarios import EnvParams

#: estimator name (``TACConfig.estimator``) -> its module (``init``, ``train``)
ESTIMATORS: dict[str, ModuleType] = {"ppo": ppo, "critic": critic_gradient}


def optimizer(lr, grad_clip: float, weight_decay: float):
    """Gradient clipping, then AdamW with the learning rate ``lr`` (a float or a traced
    scalar) in the optimiser's state (``state.hyperparams["learning_rate"]``): the update
    reads it from there, so one program serves any learning rate."""
    def make(learning_rate):
        return optax.chain(optax.clip_by_global_norm(grad_clip),
                           optax.adamw(learning_rate, weight_decay=weight_decay))
    return optax.inject_hyperparams(make)(learning_rate=lr)


@dataclasses.dataclass(frozen=True)
class Context:
    """What every estimator of one TAC program shares (built once by ``make_tac``)."""

    params: EnvParams
    cfg: Any                     # the TACConfig
    env: Any                     # the training rollouts' environment (``cfg.env.make()``)
    buffer: Any                  # the flashbax replay buffer of joint rounds
    act: Callable                # ``act(actor, obs) -> ActionDist``: the full-attention actor
    horizon: int                 # rounds after the current one the critic predicts (0: none)

    def optimizer(self, lr):
        """The project's optimiser (:func:`optimizer`) with the config's clipping and decay.
        The updates read the learning rate from the optimiser state that ``init`` made."""
        return optimizer(lr, self.cfg.grad_clip, self.cfg.weight_decay)

    @property
    def opt_actor(self):
        return self.optimizer(self.cfg.lr_actor)

    @property
    def opt_critic(self):
        return self.optimizer(self.cfg.lr_critic)

    def critic_step(self, ts, key):
        """One critic update on a replayed batch (eq. 18's loss): ``(ts, (batch, loss))``."""
        batch = self.buffer.sample(ts.buffer, key).experience
        c_loss, g_c = jax.value_and_grad(losses.critic_loss)(ts.critic, batch, self.cfg.net,
                                                             self.cfg.cost_scale)
        upd, critic_opt = self.opt_critic.update(g_c, ts.critic_opt, ts.critic)
        return ts.replace(critic=optax.apply_updates(ts.critic, upd),
                          critic_opt=critic_opt), (batch, c_loss)


def get(name: str) -> ModuleType:
    """The estimator module named ``name``."""
    if name not in ESTIMATORS:
        raise ValueError(f"unknown TAC estimator {name!r} (known: {', '.join(ESTIMATORS)})")
    return ESTIMATORS[name]
