"""Adding an algorithm is one module and one registry line: a toy algorithm, registered here,
trains through the generic driver, resumes, loads, evaluates, appears in the CLI and in the
reproduction pipeline."""
import jax
import numpy as np
import pytest

from dtac_jax import checkpoint as ckpt
from dtac_jax import cli, runs
from dtac_jax.algos import registry
from dtac_jax.evaluate import evaluate_grid
from dtac_jax.env import make_params, make_scenario
from dtac_jax.reproduce import pipeline as P
from dtac_jax.reproduce.profiles import get_profile

import toy_algorithm as toy


@pytest.fixture
def registered():
    # the one line a new algorithm needs
    registry.register(registry.Algorithm("toy", "Toy", "tab:cyan", toy.ToyConfig, toy.make,
                                         toy.deliverable, toy.policy))
    yield
    registry.unregister("toy")


@pytest.mark.slow
def test_a_toy_algorithm_runs_everywhere_from_one_registry_line(registered, tmp_path):
    assert "toy" in registry.names(learned=True) and "toy" in P.policies()
    scn = make_scenario("small", rounds=3)
    runs.train("toy", scn, toy.ToyConfig(iterations=2), tmp_path / "toy", seeds=2, chunk=1,
               progress=False)
    state = runs.train("toy", scn, toy.ToyConfig(iterations=3), tmp_path / "toy", seeds=2,
                       chunk=1, progress=False, resume=True)
    trained = runs.load(tmp_path / "toy")
    assert trained.algo.name == "toy" and trained.seeds == 2
    np.testing.assert_array_equal(np.asarray(trained.state["best"]), np.asarray(state["best"]))
    # a run folder whose config.json spells a field by its former name resumes, and a
    # resumable field changed on resume is recorded under its current name
    conf = ckpt.read_config(tmp_path / "toy")
    conf["toy"]["lr"] = conf["toy"].pop("lr_actor")
    ckpt.write_config(tmp_path / "toy", conf)
    assert runs.load(tmp_path / "toy").config.lr_actor == 1.0
    runs.train("toy", scn, toy.ToyConfig(iterations=4), tmp_path / "toy", seeds=2, chunk=1,
               progress=False, resume=True)
    assert ckpt.read_config(tmp_path / "toy")["toy"]["lr"] == 1.0      # kept as stored
    runs.train("toy", scn, toy.ToyConfig(iterations=5, lr_actor=0.5), tmp_path / "toy",
               seeds=2, chunk=1, progress=False, resume=True)
    conf = ckpt.read_config(tmp_path / "toy")
    assert conf["toy"]["lr_actor"] == 0.5 and "lr" not in conf["toy"]
    assert conf[ckpt.RESUMED] == [dict(iteration=4, changed={"toy.lr_actor": [1.0, 0.5]})]
    with pytest.raises(ckpt.CheckpointMismatch, match="eval_envs"):
        runs.train("toy", scn, toy.ToyConfig(iterations=6, eval_envs=3), tmp_path / "toy",
                   seeds=2, chunk=1, progress=False, resume=True)
    trained = runs.load(tmp_path / "toy")
    # all-local is by far the cheapest fixed target on the small preset
    assert np.asarray(trained.state["best"]).argmax(-1).tolist() == [0, 0]
    name, _, stacked, make = runs.load_family(tmp_path / "toy")
    params = make_params(scn)
    res = evaluate_grid(make, stacked, params, jax.random.PRNGKey(0), episodes=2)
    assert name == "toy" and len(res) == 2 and np.isfinite(res[0][0].weighted_reward)
    # the generic CLI command and the reproduction pipeline know it
    assert cli.main(["train", "toy", "--preset", "small", "--rounds", "3", "--set",
                     "iterations=1", "--chunk", "1", "--out", str(tmp_path / "cli")]) == 0
    assert runs.load(tmp_path / "cli").config == toy.ToyConfig(iterations=1)
    pl = P.Pipeline(get_profile("tiny"), out=tmp_path / "repro", progress=False,
                    log=lambda _: None)
    assert pl.config("toy") == toy.ToyConfig.quick()      # no profile field: quick()
    pl.train("small", "toy")
    fam = pl.family("small", "toy")
    assert fam.seeds == get_profile("tiny").seeds
    grid = pl.evaluate_family(fam, make_params(pl.scenario("small")), [2])
    assert len(grid) == fam.seeds and np.isfinite(grid[0][0].weighted_reward)
