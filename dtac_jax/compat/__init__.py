"""Adapters to the JAX RL ecosystem, imported only when used (``pip install -e '.[compat]'``):

* :mod:`dtac_jax.compat.gymnax`: a gymnax ``Environment`` (single agent: the whole network is
  one agent with a flat observation and a flat continuous action in ``[0, 1]``);
* :mod:`dtac_jax.compat.jumanji`: a Jumanji ``Environment`` (structured observation and hybrid
  action specs, ``TimeStep`` truncation at the episode limit);
* :mod:`dtac_jax.compat.jaxmarl`: a JaxMARL ``MultiAgentEnv`` (UE slots as agents, one
  discrete action each, available actions from the real-UE mask);
* :mod:`dtac_jax.compat.ppo`: a PureJaxRL-style PPO for continuous-action gymnax environments.

Nothing else in ``dtac_jax`` imports this package, so the core install needs none of them.
"""
