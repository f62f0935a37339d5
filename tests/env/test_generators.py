"""The simulator's UE counts and task arrivals come from replaceable generators
(dtac_jax.env.generators), as Jumanji's environments take theirs: the defaults are the system
model's draws, bit for bit, and a user's generator changes who is in the network and what they
ask for, in the simulator object, its wrappers and a training config."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dtac_jax.env import env as E
from dtac_jax.env import generators as G
from dtac_jax.env import make_params, make_scenario
from dtac_jax.env.wrappers import AutoReset, Batched, CloudEdgeEnv, EnvConfig, FixedUECount

SCN = make_scenario("small", rounds=4)
P = make_params(SCN)


@dataclasses.dataclass(frozen=True)
class OneTask(G.Arrivals):
    """Every UE asks for the same task, a user's generator."""
    task: int = 7

    def __call__(self, key, u, mask, ue_type, params):
        return jnp.full(u.shape, self.task, jnp.int32)


def rollout(env, rounds=6, n=8):
    env = Batched(AutoReset(env), n)
    space = CloudEdgeEnv().action_space(P)
    obs, st = env.reset(jax.random.PRNGKey(0), P)
    states = [st]
    for k in jax.random.split(jax.random.PRNGKey(1), rounds):
        a = jax.vmap(space.sample)(jax.random.split(k, n))
        obs, st, *_ = env.step(k, st, a, P)
        states.append(st)
    return states


def test_the_default_generators_are_the_system_models_draws():
    key = jax.random.PRNGKey(3)
    counts = G.UniformUECounts()(jax.random.split(key, 4)[0], P)
    _, st = E.reset(key, P)
    np.testing.assert_array_equal(st.n_per_edge, counts)
    assert (P.ue_min <= counts).all() and (counts <= P.ue_max).all()
    # the simulator object with explicit defaults steps exactly as with none
    for a, b in zip(rollout(CloudEdgeEnv()), rollout(CloudEdgeEnv(
            ue_counts=G.UniformUECounts(), arrivals=G.ZipfArrivals()))):
        for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
            np.testing.assert_array_equal(x, y)


def test_a_users_generators_set_the_ues_and_their_tasks():
    fixed = (1, 4, 0, 2, 3)
    states = rollout(CloudEdgeEnv(ue_counts=G.FixedUECounts(fixed), arrivals=OneTask(7)))
    for st in states:        # every reset (auto-resets included) and every round
        np.testing.assert_array_equal(st.n_per_edge, np.tile(fixed, (8, 1)))
        mask, task = np.asarray(st.mask), np.asarray(st.task)
        assert mask.sum(-1).tolist() == [sum(fixed)] * 8
        assert (task[mask] == 7).all() and (task[~mask] == 0).all()   # padding stays task 0
    # the FixedUECount wrapper is the same generator, and keeps the simulator's arrivals
    a = FixedUECount(CloudEdgeEnv(arrivals=OneTask(2)), fixed).reset(jax.random.PRNGKey(5), P)
    b = CloudEdgeEnv(ue_counts=G.FixedUECounts(fixed), arrivals=OneTask(2)).reset(
        jax.random.PRNGKey(5), P)
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_array_equal(x, y)
    # traced counts (vmap over UE counts)
    many = jnp.asarray([[1] * 5, [5] * 5], jnp.int32)
    _, st = jax.vmap(lambda n: CloudEdgeEnv(ue_counts=G.FixedUECounts(n)).reset(
        jax.random.PRNGKey(0), P))(many)
    assert np.asarray(st.mask).sum(-1).tolist() == [5, 25]


def test_generators_named_in_a_config_and_bad_ones_in_one_line():
    env = EnvConfig(ue_counts="fixed(n=[2, 2, 2, 2, 2])").make()
    assert env.ue_counts == G.FixedUECounts((2, 2, 2, 2, 2)) and env.arrivals == G.ZipfArrivals()
    G.register_generator("one_task", OneTask)
    try:
        env = EnvConfig(arrivals="one_task(task=3)", wrappers=("bursty(p=0.5)",)).make()
        assert env.unwrapped.arrivals == OneTask(3)
        _, st = env.reset(jax.random.PRNGKey(0), P)
        assert (np.asarray(st.task)[np.asarray(st.mask)] == 3).all()
    finally:
        del G.GENERATORS["one_task"]
    for field, spec, said in (
            ("ue_counts", "poisson", "env.ue_counts: unknown name 'poisson' (known: fixed, "
                                     "level, uniform, zipf"),
            ("ue_counts", "level(lo=-1)", "LevelUECounts: lo must be an integer >= 0, got -1"),
            ("ue_counts", "level(jitter=0.5)", "jitter must be an integer >= 0, got 0.5"),
            ("arrivals", "uniform", "env.arrivals: 'uniform' is a generator of UE counts"),
            ("ue_counts", "fixed(n=[-1])", "counts [-1] must be one count >= 0 per edge"),
            ("ue_counts", "fixed(m=3)", "unexpected keyword argument 'm'")):
        with pytest.raises(ValueError, match=said.replace("(", r"\(").replace("[", r"\[")) as e:
            EnvConfig(**{field: spec})
        assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match=r"FixedUECounts: counts \[9, 9, 9, 9, 9\] outside"):
        CloudEdgeEnv(ue_counts=G.FixedUECounts((9,) * 5)).reset(jax.random.PRNGKey(0), P)
    with pytest.raises(ValueError, match="3 counts for 5 edges"):
        CloudEdgeEnv(ue_counts=G.FixedUECounts((1, 1, 1))).reset(jax.random.PRNGKey(0), P)
    with pytest.raises(ValueError, match=r"counts of shape \(1, 5\): give one count per edge"):
        G.FixedUECounts([[1, 1, 1, 1, 1]])
    with pytest.raises(ValueError, match=r"counts of shape \(3,\) for 5 edges"):   # traced
        jax.jit(lambda n: CloudEdgeEnv(ue_counts=G.FixedUECounts(n)).reset(
            jax.random.PRNGKey(0), P))(jnp.ones(3, jnp.int32))
    with pytest.raises(ValueError, match="arrivals must be a generators.Arrivals"):
        CloudEdgeEnv(arrivals=lambda *a: 0)
    with pytest.raises(ValueError, match="not a UECounts or Arrivals class"):
        G.register_generator("x", dict)


def test_an_incomplete_generator_is_refused_when_made():
    class NoCall(G.UECounts):
        pass
    with pytest.raises(TypeError, match="abstract"):
        NoCall()


def test_level_counts_cover_every_load_level_with_edges_near_one_another():
    """``level(lo, jitter)``: one level per episode uniform over ``[lo, ue_max]``, every edge
    within ``jitter`` of it (clipped); checked on 6000 draws against the exact law."""
    draw = jax.jit(jax.vmap(lambda k, gen=None: gen(k, P), in_axes=(0, None)),
                   static_argnums=1)
    keys = jax.random.split(jax.random.PRNGKey(5), 6000)
    c = np.asarray(draw(keys, G.LevelUECounts(lo=1, jitter=0)))
    assert c.shape == (6000, P.n_edges) and (c == c[:, :1]).all()    # one level, every edge
    freq = np.bincount(c[:, 0], minlength=P.ue_max + 1)[1:] / len(c)
    np.testing.assert_allclose(freq, 1 / P.ue_max, atol=4 * np.sqrt(1 / P.ue_max / len(c)))
    c = np.asarray(draw(keys, G.LevelUECounts(lo=2, jitter=1)))
    assert c.min() == 2 and c.max() == P.ue_max
    assert (c.max(1) - c.min(1) <= 2).all() and (c.max(1) - c.min(1) == 2).any()
    # a whole network at its lowest level, which the independent draw almost never makes
    assert (c == 2).all(1).mean() > 0.01
    u = np.asarray(draw(keys, G.UniformUECounts()))
    assert (u == P.ue_min).all(1).mean() < 0.01
    # the default lo is the scenario's ue_min
    d = np.asarray(draw(keys, G.LevelUECounts()))
    assert d.min() == P.ue_min and d.max() == P.ue_max
    with pytest.raises(ValueError, match="lo=7 above the scenario's ue_max 6"):
        G.LevelUECounts(lo=7)(keys[0], P)
