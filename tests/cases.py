"""Random test inputs: ``physics.round_costs`` cases and joint network inputs, and network
parameters."""
import functools

import jax
import jax.numpy as jnp
import numpy as np

from dtac_jax.env.scenarios import dbm_to_watt


def random_case(rng: np.random.Generator, n=None, pad=True):
    """One random round_costs input with realistic magnitudes (SI units), as NumPy float64."""
    n = int(rng.choice([1, 2, 7, 20, 35])) if n is None else n  # few shapes: few compiles
    k = int(rng.integers(1, 6))
    l_ch = int(rng.integers(1, 7))
    mask = rng.random(n) < 0.8 if pad else np.ones(n, bool)
    if not mask.any():
        mask[0] = True
    d = rng.uniform(10, 600, n)
    pl = lambda dist: 10 ** (-(128.1 + 37.6 * np.log10(dist / 1000)) / 10)
    bandwidth = 80e6 / l_ch
    return dict(
        x=rng.integers(0, 3, n).astype(np.int32),
        channel=rng.integers(0, l_ch, n).astype(np.int32),
        a=rng.uniform(0.05, 1.0, n), b=rng.uniform(0.05, 1.0, n),
        edge=rng.integers(0, k, n).astype(np.int32), mask=mask,
        s_in=rng.uniform(5e6, 20e6, n), cycles=rng.uniform(600, 1200, n),
        s_out=rng.uniform(2e6, 40e6, n), cached=rng.random(n) < 0.3,
        g_up=pl(d) * rng.exponential(1.0, n),
        g_back=pl(rng.uniform(300, 800, n)) * rng.exponential(1.0, n),
        f_ue=rng.uniform(1e9, 3.5e9, n),
        f_edge=14.4e9, f_cloud=14.4e9, p_ue=dbm_to_watt(23.9), p_edge=dbm_to_watt(30.0),
        p_cloud=dbm_to_watt(40.0), bandwidth=bandwidth,
        noise=dbm_to_watt(-174 + 10 * np.log10(bandwidth)), kappa=5e-29,
    )


def joint_state(seed, n=12):
    """A random joint network input ``(s [n, 6], edge [n], mask [n])`` with realistic
    magnitudes; slot 0 is always a real UE."""
    rng = np.random.default_rng(seed)
    s = np.abs(rng.lognormal(-1, 1.5, (n, 6))).astype(np.float32)
    s[:, 0] = 10 ** rng.uniform(-13, -8, n)
    edge = rng.integers(0, 5, n).astype(np.int32)
    mask = rng.random(n) < 0.8
    mask[0] = True
    return jnp.asarray(s), jnp.asarray(edge), jnp.asarray(mask)


@functools.cache
def net_params(net=None, seed: int = 0):
    """``init_actor_critic``'s actor and critic parameters for ``net`` (default ``NetConfig()``),
    made once per process under ``jit``: flax's init run eagerly compiles each of its
    operations on its own, seconds at a test module's import."""
    from dtac_jax.nets.transformer import NetConfig, init_actor_critic
    net = NetConfig() if net is None else net
    return jax.jit(init_actor_critic, static_argnums=1)(jax.random.PRNGKey(seed), net)
