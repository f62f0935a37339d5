"""Distributed execution: one UE's decision from its own state equals the batched DTAC actor's."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cases import joint_state, net_params
from dtac_jax.algos.dtac import TransferConfig
from dtac_jax.deploy import act_fn
from dtac_jax.nets.transformer import Actor, NetConfig

NET = NetConfig()


def test_deploy_act_equals_batched_dtac():
    s, edge, mask = joint_state(3, n=20)
    cfg = TransferConfig()
    act = act_fn(net_params()["actor"], cfg, NET)
    p_x, p_l, a, b = jax.jit(Actor(NET, "identity").apply)(net_params()["actor"], s, edge, mask)
    for n in np.flatnonzero(np.asarray(mask)):
        x1, l1, a1, b1 = act(s[n], edge[n])
        assert int(x1) == int(jnp.argmax(p_x[n])) and int(l1) == int(jnp.argmax(p_l[n]))
        np.testing.assert_allclose([float(a1), float(b1)], [float(a[n]), float(b[n])], rtol=1e-6)


@pytest.mark.slow
@pytest.mark.xdist_group("tiny_reproduction")
def test_deploy_from_a_trained_run_equals_its_evaluated_policy(tiny_reproduction):
    """``make_act(run_dir, seed)`` on a DTAC run folder decides for one UE exactly what the
    run's evaluated policy (``runs.load_family``) decides for that UE in the joint state."""
    from dtac_jax.deploy import make_act
    from dtac_jax.env import make_params, reset
    from dtac_jax.runs import load_family
    from dtac_jax.train import seed_slice
    run = tiny_reproduction.runs / "dtac"
    _, scn, stacked, make = load_family(run)
    params = make_params(scn)
    obs, state = reset(jax.random.PRNGKey(7), params)
    policy = make(seed_slice(stacked, 0))
    _, joint = policy.apply(policy.init(params), jax.random.PRNGKey(0), obs, state, params)
    act = make_act(run, seed_index=0)
    with pytest.raises(ValueError, match="seed_index 1 is not one of them"):
        make_act(run, seed_index=1)
    for n in np.flatnonzero(np.asarray(obs.mask)):
        x, ch, a, b = act(obs.s[n], obs.edge[n])
        assert (int(x), int(ch)) == (int(joint.x[n]), int(joint.channel[n]))
        np.testing.assert_allclose([float(a), float(b)], [float(joint.a[n]), float(joint.b[n])],
                                   rtol=1e-6)

