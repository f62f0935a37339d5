"""Distributed execution: one UE's decision from its own state equals the batched DTAC actor's."""
import jax
import jax.numpy as jnp
import numpy as np

from dtac_jax.algos.dtac import TransferConfig
from dtac_jax.deploy import act_fn
from dtac_jax.nets.transformer import Actor, NetConfig, init_actor_critic

NET = NetConfig()
PARAMS = init_actor_critic(jax.random.PRNGKey(0), NET)


def _state(seed, n=12):
    rng = np.random.default_rng(seed)
    s = np.abs(rng.lognormal(-1, 1.5, (n, 6))).astype(np.float32)
    s[:, 0] = 10 ** rng.uniform(-13, -8, n)
    edge = rng.integers(0, 5, n).astype(np.int32)
    mask = rng.random(n) < 0.8
    mask[0] = True
    return jnp.asarray(s), jnp.asarray(edge), jnp.asarray(mask)


def test_deploy_act_equals_batched_dtac():
    s, edge, mask = _state(3, n=20)
    cfg = TransferConfig()
    act = act_fn(PARAMS["actor"], cfg, NET)
    p_x, p_l, a, b = jax.jit(Actor(NET, "identity").apply)(PARAMS["actor"], s, edge, mask)
    for n in np.flatnonzero(np.asarray(mask)):
        x1, l1, a1, b1 = act(s[n], edge[n])
        assert int(x1) == int(jnp.argmax(p_x[n])) and int(l1) == int(jnp.argmax(p_l[n]))
        np.testing.assert_allclose([float(a1), float(b1)], [float(a[n]), float(b[n])], rtol=1e-6)
