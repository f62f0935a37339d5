"""Transfer students (DTAC, TL transformer, TL): imitation is learnable and stays local."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from dtac_jax.algos import losses, replay, rollouts, validation

from dtac_jax.algos.policy import actor_fn, greedy
from dtac_jax.algos.dtac import TransferConfig
from dtac_jax.env.env import Obs
from dtac_jax.nets.mlp import MLPActor
from dtac_jax.nets.transformer import NetConfig, init_actor_critic

NET = NetConfig()


def _batch(seed, b=16, n=12):
    rng = np.random.default_rng(seed)
    s = np.abs(rng.lognormal(-1, 1.5, (b, n, 6))).astype(np.float32)
    s[..., 0] = 10 ** rng.uniform(-13, -8, (b, n))
    mask = rng.random((b, n)) < 0.85
    mask[:, 0] = True
    return dict(s=jnp.asarray(s), edge=jnp.asarray(rng.integers(0, 5, (b, n)), jnp.int32),
                mask=jnp.asarray(mask))


def _fit(student, teacher, act, teacher_act, steps=400, lr=3e-3):
    opt = optax.adam(lr)
    o = opt.init(student)
    batch = _batch(0)
    loss = jax.jit(lambda p: losses.imitation_loss(p, teacher, batch, act, teacher_act))

    @jax.jit
    def step(p, o):
        g = jax.grad(lambda q: losses.imitation_loss(q, teacher, batch, act, teacher_act))(p)
        u, o = opt.update(g, o)
        return optax.apply_updates(p, u), o

    first = float(loss(student))
    for _ in range(steps):
        student, o = step(student, o)
    return first, float(loss(student))


@pytest.mark.parametrize("kind", ["transformer", "mlp"])
def test_mse_falls_to_near_zero_for_a_representable_teacher(kind):
    if kind == "transformer":
        act = actor_fn(NET, "identity")
        teacher = init_actor_critic(jax.random.PRNGKey(1), NET)["actor"]
        student = init_actor_critic(jax.random.PRNGKey(2), NET)["actor"]
    else:
        model = MLPActor(n_channels=4, hidden=(32, 32))
        act = lambda p, o: model.apply(p, o.s, o.edge, o.mask)
        x = jnp.ones((12, 6))
        e = jnp.zeros((12,), jnp.int32)
        m = jnp.ones((12,), bool)
        teacher = model.init(jax.random.PRNGKey(1), x, e, m)
        student = model.init(jax.random.PRNGKey(2), x, e, m)
    first, last = _fit(student, teacher, act, act)
    assert first > 1e-3 and last < 0.05 * first


@pytest.mark.parametrize("student", ["transformer", "mlp"])
def test_students_act_on_local_state_only(student):
    from dtac_jax.algos.dtac import student_model
    module, act = student_model(TransferConfig(student=student, loss="mse"), NET)
    b = _batch(3, b=1)
    obs = Obs(s=b["s"][0], edge=b["edge"][0], mask=b["mask"][0])
    if module is None:
        params = init_actor_critic(jax.random.PRNGKey(0), NET)["actor"]
    else:
        params = module.init(jax.random.PRNGKey(0), obs.s, obs.edge, obs.mask)
    out = act(params, obs)
    obs2 = Obs(s=obs.s.at[5].multiply(9.0), edge=obs.edge.at[5].set(3),
               mask=obs.mask.at[7].set(False))
    out2 = act(params, obs2)
    keep = np.array([i not in (5, 7) for i in range(12)])
    for x, y in zip(out, out2):
        np.testing.assert_array_equal(np.asarray(x)[keep], np.asarray(y)[keep])


def test_transfer_config_validates():
    with pytest.raises(ValueError, match="unknown transfer loss 'kl'"):
        TransferConfig(loss="kl")
    with pytest.raises(ValueError, match="unknown student 'gru'"):
        TransferConfig(student="gru")
    assert TransferConfig().name == "dtac"
    assert TransferConfig(loss="mse").name == "tl_transformer"
    assert TransferConfig(loss="mse", student="mlp").name == "tl"


@pytest.mark.slow
def test_transfer_scores_the_starting_student_before_fine_tuning():
    """The DTAC student starts as the TAC actor under identity attention; init scores it on the
    validation set, so the best student delivered is never worse there than the start."""
    from dtac_jax.algos.replay import CollectConfig
    from dtac_jax.algos.dtac import final_student, make_transfer
    from dtac_jax.env import make_params, make_scenario
    params = make_params(make_scenario("small", rounds=3))
    cfg = TransferConfig(iterations=2, updates=1, batch_size=8, eval_envs=3, eval_rounds=2,
                         collect=CollectConfig(envs=2, rounds=2, noise_var=0.05,
                                               noise_decay=0.98))
    nets = init_actor_critic(jax.random.PRNGKey(4), NET)
    buf = replay.make_buffer(64, cfg.batch_size)
    item = jax.jit(lambda a, k: replay.collect(
        k, actor_fn(NET, "full"), a, *rollouts.init_envs(jax.random.PRNGKey(1), params, 1), 0.0,
        params, cfg.collect.replace(envs=1, rounds=1), NET.a_min)[0])(nets["actor"],
                                                                 jax.random.PRNGKey(0))
    init, iteration = make_transfer(params, cfg, NET, cost_scale=1.0, buffer_size=64)
    ts = jax.jit(init)(jax.random.PRNGKey(2), nets["actor"], nets["critic"],
                       buf.init(jax.tree_util.tree_map(lambda v: v[0], item)))
    start = float(jax.jit(lambda a, k: validation.validation_objective(
        greedy(actor_fn(NET, "identity"), a), k, params, cfg.eval_envs, cfg.eval_rounds))(
            nets["actor"], ts.eval_key))
    assert np.isfinite(start) and float(ts.best_score) == pytest.approx(start, rel=1e-6)
    ts, m = jax.jit(iteration)(ts)
    assert float(ts.best_score) == pytest.approx(min(start, float(m["objective"])), rel=1e-6)
    best_leaves = jax.tree_util.tree_leaves(final_student(ts, cfg))
    chosen = nets["actor"] if start <= float(m["objective"]) else ts.student
    for a, b in zip(best_leaves, jax.tree_util.tree_leaves(chosen)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_teacher_kl_is_the_kl_of_targets_and_channels_over_real_ues():
    act = actor_fn(NET, "identity")
    teacher_act = actor_fn(NET, "full")
    nets = [init_actor_critic(jax.random.PRNGKey(i), NET)["actor"] for i in (5, 6)]
    batch = _batch(4, b=3)
    assert float(losses.teacher_kl(nets[0], nets[0], batch, teacher_act, teacher_act)) == \
        pytest.approx(0.0, abs=1e-6)
    got = float(losses.teacher_kl(nets[0], nets[1], batch, act, teacher_act))
    obs = Obs(s=batch["s"], mask=batch["mask"], edge=batch["edge"])
    s = jax.vmap(act, in_axes=(None, 0))(nets[0], obs)
    t = jax.vmap(teacher_act, in_axes=(None, 0))(nets[1], obs)
    kl = lambda p, q: np.sum(p * (np.log(p) - np.log(q)), -1)
    per = (kl(np.asarray(t.p_x, np.float64), np.asarray(s.p_x, np.float64))
           + kl(np.asarray(t.p_l, np.float64), np.asarray(s.p_l, np.float64)))
    m = np.asarray(batch["mask"])
    assert got == pytest.approx(per[m].mean(), rel=1e-4) and got > 0


@pytest.mark.parametrize("build, match", [
    (lambda: TransferConfig(critic_gradient="reinforce"), "unknown critic gradient 'reinforce'"),
    (lambda: TransferConfig(trust_weight=-1.0), "trust_weight must be >= 0"),
    (lambda: TransferConfig(anchor_weight=-0.5), "anchor_weight must be >= 0"),
])
def test_bad_transfer_settings_raise_one_line(build, match):
    with pytest.raises(ValueError, match=match) as e:
        build()
    assert "\n" not in str(e.value)


@pytest.mark.slow
def test_dtac_what_if_transfer_trains_and_measures_the_critic_fit():
    """DTAC (eq. 22 alone through an executed-decision critic's what-ifs), here with the
    optional trust region to TAC, trains, moves the student, and records the frozen critic's
    log error on the teacher's and on the student's decisions against the simulator."""
    from dtac_jax.algos import registry
    from dtac_jax.algos.dtac import make_transfer
    from dtac_jax.env import make_params, make_scenario
    params = make_params(make_scenario("small", rounds=3, ue_min=2, ue_max=3))
    cfg = registry.get("dtac").quick(iterations=1, updates=2, batch_size=4, eval_envs=2,
                                     eval_rounds=2, collect=dict(envs=2, rounds=2))
    assert cfg.critic_gradient == "what_if" and cfg.trust_weight == 0 and cfg.anchor_weight == 0
    cfg = cfg.replace(trust_weight=1.0)   # the KL term's path too
    nets = init_actor_critic(jax.random.PRNGKey(4), NET)
    buf = replay.make_buffer(64, cfg.batch_size)
    item = replay.example_item(params, NET.n_channels)
    state = buf.add(buf.init(item), jax.tree_util.tree_map(
        lambda v: jnp.broadcast_to(v, (8,) + v.shape),
        dict(item, mask=jnp.ones_like(item["mask"]))))
    init, iteration = make_transfer(params, cfg, NET, cost_scale=0.01, buffer_size=64,
                                  critic_input="executed")
    ts0 = jax.jit(init)(jax.random.PRNGKey(2), nets["actor"], nets["critic"], state)
    ts, m = jax.jit(iteration)(ts0)
    for k in ("loss", "critic_err_teacher", "critic_err_student", "critic_bias_student"):
        assert np.isfinite(float(m[k])), k
    assert float(m["critic_err_teacher"]) >= 0 and float(m["critic_err_student"]) >= 0
    moved = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(
        jax.tree_util.tree_leaves(ts.student), jax.tree_util.tree_leaves(ts0.student)))
    assert moved > 0
