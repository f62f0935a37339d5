"""Training runs on disk: a resumed run is bit-identical to an uninterrupted one, a mismatched
config is named, and a transfer starts from a TAC run."""
import dataclasses
import json

import jax
import numpy as np
import pytest

import tiny
from dtac_jax.checkpoint import CheckpointMismatch
from dtac_jax.nets.transformer import NetConfig

TINY = tiny.TAC


@pytest.mark.slow
@pytest.mark.xdist_group("tiny_reproduction")
def test_resume_is_bit_identical_and_mismatch_is_reported(tmp_path, tiny_reproduction):
    """A run stopped half-way and resumed equals the tiny reproduction's uninterrupted TAC run
    (the same config, scenario, seeds and chunks) bit for bit."""
    from dtac_jax.runs import load, train
    scn, run = tiny.scenario(), dict(seeds=tiny.SEEDS, chunk=tiny.CHUNK, progress=False)
    full = load(tiny_reproduction.runs / "tac").state
    half = dataclasses.replace(TINY, iterations=2)
    train("tac", scn, half, tmp_path / "b", **run)
    with pytest.raises(ValueError, match="--resume"):
        train("tac", scn, TINY, tmp_path / "b", **run)
    resumed = train("tac", scn, TINY, tmp_path / "b", resume=True, **run)
    for x, y in zip(jax.tree_util.tree_leaves((full.actor, full.critic, full.key)),
                    jax.tree_util.tree_leaves((resumed.actor, resumed.critic, resumed.key))):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    lines = (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == TINY.iterations * tiny.SEEDS
    other = dataclasses.replace(TINY, collect=TINY.collect.replace(envs=8))
    with pytest.raises(CheckpointMismatch, match="tac.collect.envs: checkpoint has 4, expected 8"):
        train("tac", scn, other, tmp_path / "b", resume=True, **run)
    with pytest.raises(CheckpointMismatch, match="scenario.l_channels"):
        train("tac", tiny.scenario(l_channels=6),
              dataclasses.replace(TINY, net=NetConfig(n_channels=6)), tmp_path / "b",
              resume=True, **run)
    # a run made by another simulator version (other state layout and random streams)
    cfg_path = tmp_path / "b" / "config.json"
    old = json.loads(cfg_path.read_text())
    cfg_path.write_text(json.dumps(dict(old, sim_version=2)))
    with pytest.raises(CheckpointMismatch, match="sim_version: checkpoint has 2, expected 3"):
        train("tac", scn, TINY, tmp_path / "b", resume=True, **run)
    cfg_path.write_text(json.dumps(old))
    # a transfer run records the TAC run it started from and delivers finite students
    dtac = load(tiny_reproduction.runs / "dtac")
    assert dtac.deps["tac"].run_dir == tiny_reproduction.runs / "tac"
    assert dtac.seeds == tiny.SEEDS
    student = dtac.algo.deliverable(dtac.state, dtac.config)
    assert all(np.isfinite(np.asarray(v)).all() for v in jax.tree_util.tree_leaves(student))
