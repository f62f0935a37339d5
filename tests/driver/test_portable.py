"""Run folders are portable: a reproduction's runs copied to another folder work from any
working directory (deploy, `dtac evaluate --runs`, `dtac transfer --tac`) with the same
results, a DTAC run deploys from its own folder alone, and a folder that names its TAC run
relative to the directory it was trained in loads from there or says in one line how to fix
it. Checkpoints and metrics written by earlier versions (an earlier TAC state layout, the
training counter named ``episode``) load and resume."""
import dataclasses
import json
import os
import shutil
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest
from flax import struct

from dtac_jax import checkpoint as ckpt
from dtac_jax import cli, runfolder, runs
from dtac_jax.deploy import make_act
from dtac_jax.env import make_params, reset


def decisions(act, scn):
    obs, _ = reset(jax.random.PRNGKey(3), make_params(scn))
    return np.array([np.asarray(act(obs.s[n], obs.edge[n]), np.float64).tolist()
                     for n in np.flatnonzero(np.asarray(obs.mask))])


def evaluated(out):
    return json.loads((out / "evaluate.json").read_text())["results"]


@pytest.mark.slow
@pytest.mark.xdist_group("tiny_reproduction")
def test_copied_runs_work_from_any_directory(tiny_reproduction, tmp_path, monkeypatch, capsys):
    original = tiny_reproduction.runs
    moved = tmp_path / "elsewhere" / "runs"
    shutil.copytree(original, moved)
    alone = tmp_path / "alone" / "dtac"
    shutil.copytree(original / "dtac", alone)                   # without its TAC run
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    assert json.loads((moved / "dtac" / "config.json").read_text())["tac_run"] == "../tac"
    trained = runs.load(moved / "dtac")
    assert trained.deps["tac"].run_dir == moved / "tac"
    scn = trained.scenario
    # deploy: the copy, and the DTAC folder alone, decide as the original does
    want = decisions(make_act(original / "dtac", 0), scn)
    np.testing.assert_array_equal(decisions(make_act(moved / "dtac", 0), scn), want)
    np.testing.assert_array_equal(decisions(make_act(alone, 0), scn), want)
    # dtac evaluate --runs
    common = ["evaluate", "--preset", "small", "--rounds", "3", "--episodes", "2",
              "--policies", "all_local"]
    assert cli.main(common + ["--runs", str(original / "dtac"), "--out", "a"]) == 0
    assert cli.main(common + ["--runs", str(moved / "dtac"), "--out", "b"]) == 0
    assert evaluated(cwd / "a") == evaluated(cwd / "b")
    # dtac transfer --tac: the copied TAC run teaches the reproduction's DTAC again
    conf = json.loads((original / "dtac" / "config.json").read_text())
    (cwd / "dtac.json").write_text(json.dumps({"transfer": dict(
        conf["transfer"],
        iterations=int(runfolder.read_metrics(original / "dtac")[-1]["iteration"]))}))
    assert cli.main(["transfer", "--tac", str(moved / "tac"), "--config", "dtac.json",
                     "--chunk", str(conf["chunk"]), "--out", "dtac"]) == 0
    again, before = runs.load(cwd / "dtac"), runs.load(original / "dtac")
    for x, y in zip(jax.tree_util.tree_leaves(again.algo.deliverable(again.state, again.config)),
                    jax.tree_util.tree_leaves(before.algo.deliverable(before.state,
                                                                      before.config))):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert json.loads((cwd / "dtac" / "config.json").read_text())["tac_run"] == (
        os.path.relpath(moved / "tac", cwd / "dtac"))


@pytest.mark.slow
@pytest.mark.xdist_group("tiny_reproduction")
def test_a_folder_naming_its_tac_run_from_its_working_directory(tiny_reproduction, tmp_path,
                                                                 monkeypatch, capsys):
    """What dtac-jax 0.x wrote: ``"tac_run"`` relative to the working directory of training."""
    base = tmp_path / "project"
    shutil.copytree(tiny_reproduction.runs, base / "runs")
    cfg = base / "runs" / "dtac" / "config.json"
    cfg.write_text(json.dumps(dict(json.loads(cfg.read_text()), tac_run="runs/tac")))
    monkeypatch.chdir(base)                                # where it was trained: it loads
    capsys.readouterr()
    assert runs.load("runs/dtac").deps["tac"].run_dir.resolve() == (base / "runs" / "tac")
    said = capsys.readouterr().err.strip().splitlines()
    assert said == ['runs/dtac: config.json names its tac run relative to the working directory '
                    '(runs/tac); set "tac_run": "../tac" there to load it from any directory']
    monkeypatch.chdir(tmp_path)                            # anywhere else: one line
    with pytest.raises(runfolder.RunFolderError) as err:
        runs.load(base / "runs" / "dtac")
    assert "\n" not in str(err.value) and 'set "tac_run" to its path relative' in str(err.value)
    assert cli.main(["evaluate", "--preset", "small", "--rounds", "3", "--episodes", "1",
                     "--policies", "all_local", "--runs", str(base / "runs" / "dtac"),
                     "--out", "x"]) == 2


def former_counter(state):
    """``state`` (a state dataclass) as a dataclass of the same fields whose training counter,
    ``iteration``, is named ``episode``, as checkpoints written before the rename hold it."""
    names = [("episode" if f.name == "iteration" else f.name) for f in dataclasses.fields(state)]
    assert "episode" in names
    former = struct.dataclass(type(f"Former{type(state).__name__}", (),
                                   {"__annotations__": {n: Any for n in names}}))
    return former(**{n: getattr(state, "iteration" if n == "episode" else n) for n in names})


def rewrite_in_the_former_spelling(run_dir, state) -> None:
    """The run in ``run_dir`` as an earlier version wrote it: its latest checkpoint holding
    ``state`` with the counter ``episode`` (:func:`former_counter`), its metrics rows
    ``episode`` rather than ``iteration``; every earlier checkpoint dropped."""
    step = ckpt.latest_step(run_dir)
    shutil.rmtree(run_dir / "ckpt")
    ckpt.save(ckpt.manager(run_dir), step, former_counter(state))
    tree = ocp.CheckpointManager((run_dir / "ckpt").absolute(),
                                 item_handlers=ocp.PyTreeCheckpointHandler()).item_metadata(step).tree
    assert "episode" in tree and "iteration" not in tree          # really the former spelling
    metrics = run_dir / "metrics.jsonl"
    metrics.write_text(metrics.read_text().replace('"iteration":', '"episode":'))


def assert_same(a, b):
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_array_equal(x, y)


@pytest.mark.slow
@pytest.mark.xdist_group("tiny_reproduction")
def test_a_tac_checkpoint_in_the_earlier_state_layout_loads(tiny_reproduction, tmp_path):
    # dtac-jax 0.3 kept the PPO estimator's state in TACState fields of its own (log_std,
    # value, value_opt) and named the training counter ``episode``; the same run rewritten in
    # that layout loads to the same state
    from dtac_jax.algos import tac
    original = tiny_reproduction.runs / "tac"
    old = tmp_path / "tac"
    shutil.copytree(original, old)
    now = runs.load(original).state
    assert set(now.estimator) == {"log_std"}                 # the default: difference credit
    layout, _ = tac.upgrade(now)
    assert isinstance(layout, tac._LayoutV0) and layout.value is None
    rewrite_in_the_former_spelling(old, layout)
    with pytest.raises(ValueError):                         # the layouts really differ
        ckpt.restore(old, now)
    assert_same(runs.load(old).state, now)


@pytest.mark.slow
@pytest.mark.xdist_group("tiny_reproduction")
@pytest.mark.parametrize("method", ["tac", "dtac", "happo"])
def test_a_run_written_with_the_former_counter_name_loads_and_resumes(tiny_reproduction,
                                                                      tmp_path, method):
    """A run whose checkpoint names the training counter ``episode`` and whose metrics rows
    say ``episode`` (TAC, a transfer, HAPPO) loads to the same state and resumes to what the
    run resumed as written today computes, bit for bit, its metrics rewritten as
    ``iteration``."""
    no_lock = shutil.ignore_patterns(runfolder.LOCK)
    old, new = tmp_path / "old", tmp_path / "new"
    for folder in (old, new):
        shutil.copytree(tiny_reproduction.runs, folder, ignore=no_lock)
    trained = runs.load(new / method)
    step = ckpt.latest_step(new / method)
    assert int(trained.state.iteration[0]) == step
    rewrite_in_the_former_spelling(old / method, trained.state)
    assert_same(runs.load(old / method).state, trained.state)
    record = trained.record
    cfg = trained.config.replace(iterations=step + 2)
    for folder in (new, old):
        runs.train(trained.algo.name, trained.scenario, cfg, folder / method,
                   deps={d: folder / d for d in trained.algo.needs}, seeds=trained.seeds,
                   seed=record["seed"], chunk=record["chunk"], resume=True, progress=False)
    assert_same(runs.load(old / method).state, runs.load(new / method).state)
    assert int(runs.load(old / method).state.iteration[0]) == step + 2
    wall = lambda f: [{k: v for k, v in r.items() if k != "wall_s"}
                      for r in runfolder.read_metrics(f / method)]
    assert wall(old) == wall(new)
    assert '"episode"' not in (old / method / "metrics.jsonl").read_text()
