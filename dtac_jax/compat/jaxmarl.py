"""The simulator as a JaxMARL ``MultiAgentEnv``: every UE slot is an agent (``ue_0`` ...).

Each agent observes its own row of the joint observation (the six lower bounds of eqs. 14-15),
its edge server (one-hot) and whether it is a real UE, and takes one discrete action (a
scalar, or shape ``(1,)`` as JaxMARL's IPPO sends it):
``0`` computes locally, ``1 .. L`` offload to the edge on channel ``1 .. L``, ``L+1 .. 2L``
to the cloud on channel ``1 .. L``. The continuous ratios are fixed (``a``, ``b``, default 1:
full transmit power and local CPU frequency), which is the usual discrete-action MARL view;
the native hybrid action is :class:`dtac_jax.env.Action`. The reward is shared: minus the
round's eq. 27 objective for every agent (``reward="log1p"``: minus its ``log1p``;
``obs="log1p"`` compresses the lower bounds, :mod:`dtac_jax.compat.transforms`). Padded
slots (``obs.mask`` false) have only action 0 available (``get_avail_actions``); their
choice does not enter the costs. Episodes end at ``params.rounds`` for all agents together
(``dones["__all__"]``).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxmarl.environments.multi_agent_env import MultiAgentEnv
from jaxmarl.environments.spaces import Box, Discrete

from dtac_jax.compat import A_MIN, transforms
from dtac_jax.env import env as _env
from dtac_jax.env.scenarios import Scenario, make_params, make_scenario


class CloudEdgeMARL(MultiAgentEnv):
    """JaxMARL adapter for one scenario (its :class:`EnvParams` are fixed at construction)."""

    def __init__(self, scenario: Scenario | None = None, a: float = 1.0, b: float = 1.0,
                 reward: str = "raw", obs: str = "raw"):
        transforms.check("CloudEdgeMARL", reward, obs)
        self.reward, self.obs = reward, obs
        if not (A_MIN <= a <= 1 and A_MIN <= b <= 1):
            raise ValueError(f"CloudEdgeMARL: the fixed ratios a, b must lie in [{A_MIN:g}, 1], "
                             f"got a={a}, b={b}")
        self.scenario = make_scenario("small") if scenario is None else scenario
        self.params = make_params(self.scenario)
        super().__init__(num_agents=self.params.n_max)
        self.agents = [f"ue_{i}" for i in range(self.num_agents)]
        self.a, self.b = float(a), float(b)
        self.n_actions = 1 + 2 * self.params.l_channels
        self.obs_dim = _env.OBS_DIM + self.params.n_edges + 1
        high = jnp.concatenate([jnp.full(_env.OBS_DIM, transforms.lower_bound_high(obs)),
                                jnp.ones(self.params.n_edges + 1)])
        self.observation_spaces = {i: Box(jnp.zeros(self.obs_dim), high, (self.obs_dim,))
                                   for i in self.agents}
        self.action_spaces = {i: Discrete(self.n_actions) for i in self.agents}

    def decode(self, actions: jax.Array) -> _env.Action:
        """The joint :class:`Action` of the agents' discrete actions (int[N])."""
        l_ch = self.params.l_channels
        x = jnp.where(actions == 0, 0, jnp.where(actions <= l_ch, 1, 2)).astype(jnp.int32)
        channel = jnp.where(actions == 0, 0, (actions - 1) % l_ch).astype(jnp.int32)
        ones = jnp.ones(actions.shape, self.params.s_in.dtype)
        return _env.Action(x=x, channel=channel, a=self.a * ones, b=self.b * ones)

    def agent_obs(self, obs: _env.Obs) -> dict:
        """Each agent's observation row (with the ``obs`` transform) of a joint ``obs``."""
        rows = jnp.concatenate([transforms.lower_bounds(obs.s, self.obs),
                                jax.nn.one_hot(obs.edge, self.params.n_edges),
                                obs.mask[:, None].astype(obs.s.dtype)], axis=-1)
        return {a: rows[i] for i, a in enumerate(self.agents)}

    def reset(self, key):
        obs, state = _env.reset(key, self.params)
        return self.agent_obs(obs), state

    def step_env(self, key, state, actions):
        # an agent's action may come as a scalar or with a trailing axis of one (IPPO's ``(1,)``)
        joint = jnp.stack([jnp.reshape(actions[a], ()) for a in self.agents])
        obs, state, _, done, info = _env.step(key, state, self.decode(joint), self.params)
        reward = transforms.reward(info["objective"], self.reward)
        rewards = {a: reward for a in self.agents}
        dones = {a: done for a in self.agents} | {"__all__": done}
        info = {"objective": jnp.full((self.num_agents,), info["objective"])}
        return self.agent_obs(obs), state, rewards, dones, info

    def get_obs(self, state) -> dict:
        return self.agent_obs(_env.observe(state, self.params))

    def get_avail_actions(self, state) -> dict:
        avail = jnp.where(state.mask[:, None], True,
                          jnp.arange(self.n_actions)[None, :] == 0)
        return {a: avail[i] for i, a in enumerate(self.agents)}

    def observation_space(self, agent: str):
        return self.observation_spaces[agent]

    def action_space(self, agent: str):
        return self.action_spaces[agent]

    @property
    def name(self) -> str:
        return f"CloudEdge-{self.scenario.name}"

    @property
    def agent_classes(self) -> dict:
        return {"ue": self.agents}
