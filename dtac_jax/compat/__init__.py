"""Adapters to the JAX RL ecosystem, imported only when used (``pip install -e '.[compat]'``):

* :mod:`dtac_jax.compat.gymnax`: a gymnax ``Environment`` (single agent: the whole network is
  one agent with a flat observation and a flat continuous action in ``[0, 1]``);
* :mod:`dtac_jax.compat.jumanji`: a Jumanji ``Environment`` (structured observation and hybrid
  action specs, ``TimeStep`` truncation at the episode limit);
* :mod:`dtac_jax.compat.jaxmarl`: a JaxMARL ``MultiAgentEnv`` (UE slots as agents, one
  discrete action each, available actions from the real-UE mask);
* :mod:`dtac_jax.compat.ppo`: a PureJaxRL-style PPO for continuous-action gymnax environments;
* :mod:`dtac_jax.compat.ippo`: an IPPO-style learner (shared parameters, masked actions) for
  the JaxMARL adapter;
* :mod:`dtac_jax.compat.transforms`: the ``reward=`` and ``obs=`` options every adapter takes
  (``"raw"`` or ``"log1p"``, the compression the project's own learners use).

Nothing else in ``dtac_jax`` imports this package, so the core install needs none of them.

Every adapter declares the ratios ``a``, ``b`` in ``[A_MIN, 1]``: the simulator takes them in
``(0, 1]`` and a ratio of 0 would make a local task's time (``b``) or an upload's (``a``)
infinite, so an action drawn from any adapter's space or spec keeps every state and reward
finite.
"""

#: The smallest transmit-power and CPU-frequency ratio an adapter declares (and, for the flat
#: gymnax action, the value a smaller one is read as).
A_MIN = 1e-3
