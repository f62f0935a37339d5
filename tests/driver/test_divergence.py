"""Divergence: a non-finite metric or state stops training in one line, keeps the last finite
checkpoint, and the run resumes with a smaller learning rate (a field its config lets change)."""
import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from dtac_jax import checkpoint as ckpt
from dtac_jax.train import TrainingDiverged, all_finite, check_finite, read_metrics, run_training


def quadratic(lr: float, loss_metric: bool):
    """Gradient descent on ``|w|^2`` with the learning rate in the optimiser's state (as TAC
    keeps it): ``w <- (1 - 2 lr) w``, which grows without bound for ``lr > 1``. The metric is
    the loss, or (``loss_metric=False``) a constant, so that only the state turns non-finite.
    The state has a scalar sentinel that starts infinite."""
    opt = optax.inject_hyperparams(optax.sgd)(learning_rate=lr)

    def init(key):
        w = jax.random.normal(key, (3,))
        return dict(w=w, opt=opt.init(w), best=jnp.asarray(jnp.inf))

    def iteration(st):
        upd, o = opt.update(2.0 * st["w"], st["opt"])
        w = optax.apply_updates(st["w"], upd)
        loss = jnp.sum(w * w) if loss_metric else jnp.asarray(1.0)
        return dict(st, w=w, opt=o, best=jnp.minimum(st["best"], loss)), dict(loss=loss)

    return init, iteration


def train(run, lr, iterations, loss_metric=False, **kw):
    init, iteration = quadratic(lr, loss_metric)
    return run_training(init, iteration, dict(kind="quad", quad=dict(lr=lr, dim=3)), run,
                        iterations=iterations, seeds=2, chunk=2, resume=True, progress=False,
                        resumable=frozenset({"lr"}), **kw)


def test_all_finite_allows_infinite_scalar_sentinels_only():
    assert bool(all_finite(dict(w=jnp.ones(3), best=jnp.asarray(jnp.inf), n=jnp.asarray(3))))
    assert not bool(all_finite(dict(w=jnp.array([1.0, jnp.inf]))))
    assert not bool(all_finite(dict(w=jnp.ones(3), best=jnp.asarray(jnp.nan))))


def test_check_finite_names_the_first_episode_and_seed(tmp_path):
    m = dict(loss=np.array([[1.0, 2.0, np.nan], [1.0, np.inf, 3.0]]))
    with pytest.raises(TrainingDiverged) as err:
        check_finite(m, np.array([True, True]), tmp_path, 10, 3, seed=7)
    msg = str(err.value)
    assert "\n" not in msg and str(tmp_path) in msg
    assert "loss is inf at iteration 12 of seed index 1 (--seed 7)" in msg
    assert "last finite checkpoint (iteration 10)" in msg
    check_finite(dict(loss=np.ones((2, 3))), np.array([True, True]), tmp_path, 10, 3)


def test_divergence_keeps_the_last_finite_checkpoint_and_resumes_with_a_smaller_lr(tmp_path):
    run = tmp_path / "run"
    # |1 - 2e10|^4 overflows float32 at iteration 4: the state, not the constant metric, diverges
    with pytest.raises(TrainingDiverged) as err:
        train(run, 1e10, 6)
    msg = str(err.value)
    assert "\n" not in msg and str(run) in msg
    assert "training state (parameters or optimiser state) is not finite at iteration 4 of seed " \
           "index 0" in msg
    assert ckpt.latest_step(run) == 2                       # the chunk of iterations 3-4: not saved
    assert [r["iteration"] for r in read_metrics(run)] == [1, 1, 2, 2]
    init, _ = quadratic(1e10, False)
    like = jax.eval_shape(jax.vmap(init), jax.random.split(jax.random.PRNGKey(0), 2))
    kept = ckpt.restore(run, like)[0]
    assert bool(jnp.all(jax.vmap(all_finite)(kept)))

    # resuming with another shape-bearing setting is still refused, naming the field
    init, iteration = quadratic(0.1, False)
    with pytest.raises(ckpt.CheckpointMismatch, match="quad.dim"):
        run_training(init, iteration, dict(kind="quad", quad=dict(lr=0.1, dim=4)), run,
                     iterations=6, seeds=2, chunk=2, resume=True, progress=False)

    # a smaller learning rate, taken into the optimiser's state: the run continues from
    # iteration 2 to the end, and config.json holds the new value and the change
    state = train(run, 0.1, 6)
    np.testing.assert_allclose(np.asarray(state["opt"].hyperparams["learning_rate"]), 0.1)
    assert bool(jnp.all(jax.vmap(all_finite)(state)))
    assert [r["iteration"] for r in read_metrics(run)] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6]
    np.testing.assert_allclose(np.asarray(state["w"]), np.asarray(kept["w"]) * 0.8 ** 4,
                               rtol=1e-5)
    conf = json.loads((run / "config.json").read_text())
    assert conf["quad"]["lr"] == 0.1
    assert conf[ckpt.RESUMED] == [dict(iteration=2, changed={"quad.lr": [1e10, 0.1]})]
    # the recorded change does not stand in the way of a later resume
    train(run, 0.1, 8)
    assert ckpt.latest_step(run) == 8


def test_resume_records_of_the_former_spelling_are_kept_in_the_current_one(tmp_path):
    """config.json's resume records said ``episode`` before the training counter was renamed;
    a later resume keeps them, as ``iteration``."""
    found = {"kind": "quad", "quad": dict(lr=1.0),
             ckpt.RESUMED: [dict(episode=2, changed={"quad.lr": [9.0, 1.0]})]}
    ckpt.record_changes(tmp_path, dict(kind="quad", quad=dict(lr=0.5)), found, 4,
                        frozenset({"lr"}))
    assert ckpt.read_config(tmp_path)[ckpt.RESUMED] == [
        dict(iteration=2, changed={"quad.lr": [9.0, 1.0]}),
        dict(iteration=4, changed={"quad.lr": [1.0, 0.5]})]


def test_a_non_finite_loss_stops_the_first_chunk(tmp_path):
    with pytest.raises(TrainingDiverged, match="loss is inf at iteration 2 of seed index 0"):
        train(tmp_path / "run", 1e10, 6, loss_metric=True)
    assert ckpt.latest_step(tmp_path / "run") is None
    assert read_metrics(tmp_path / "run") == []


@pytest.mark.xdist_group("tiny_reproduction")
def test_tac_with_a_huge_learning_rate_diverges_and_keeps_its_checkpoint(tiny_reproduction,
                                                                         tmp_path):
    """The real thing: the tiny reproduction's TAC run (4 iterations), resumed for 2 more at a
    learning rate of 1e30 (taken into its optimisers' states), diverges at once."""
    import tiny
    from dtac_jax import runs

    run = tmp_path / "tac"
    shutil.copytree(tiny_reproduction.runs / "tac", run, ignore=shutil.ignore_patterns(".lock"))
    before = (run / "metrics.jsonl").read_text()
    huge = tiny.TAC.replace(iterations=6, lr_actor=1e30, lr_critic=1e30)
    with pytest.raises(TrainingDiverged) as err:
        runs.train("tac", tiny.scenario(), huge, run, seeds=tiny.SEEDS, chunk=tiny.CHUNK,
                   resume=True, progress=False)
    msg = str(err.value)
    assert "\n" not in msg and f"training diverged in {run}:" in msg
    assert "is nan at iteration 5 of seed index 0" in msg and "(iteration 4)" in msg
    assert ckpt.latest_step(run) == 4
    assert (run / "metrics.jsonl").read_text() == before     # the diverged chunk: no rows
    # the diverged chunk was never saved, so config.json never took its learning rate
    # (a resume at a sane one: test_divergence_keeps_the_last_finite_checkpoint_...)
    conf = json.loads((run / "config.json").read_text())
    assert ckpt.RESUMED not in conf and conf["tac"]["lr_actor"] == tiny.TAC.lr_actor
