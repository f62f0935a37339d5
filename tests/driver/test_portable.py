"""Run folders are portable: a reproduction's runs copied to another folder work from any
working directory (deploy, `dtac evaluate --runs`, `dtac transfer --tac`) with the same
results, a DTAC run deploys from its own folder alone, and a folder that names its TAC run
relative to the directory it was trained in loads from there or says in one line how to fix
it."""
import json
import os
import shutil

import jax
import numpy as np
import pytest

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
        conf["transfer"], episodes=int(runfolder.read_metrics(original / "dtac")[-1]["episode"]))}))
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


@pytest.mark.slow
@pytest.mark.xdist_group("tiny_reproduction")
def test_a_tac_checkpoint_in_the_earlier_state_layout_loads(tiny_reproduction, tmp_path):
    # dtac-jax 0.3 kept the PPO estimator's state in TACState fields of its own (log_std,
    # value, value_opt); the same run rewritten in that layout loads to the same state
    from dtac_jax import checkpoint as ckpt
    from dtac_jax.algos import tac
    original = tiny_reproduction.runs / "tac"
    old = tmp_path / "tac"
    shutil.copytree(original, old)
    now = runs.load(original).state
    assert set(now.estimator) == {"log_std"}                 # the default: difference credit
    layout, _ = tac.upgrade(now)
    assert isinstance(layout, tac._LayoutV0) and layout.value is None
    step = ckpt.latest_step(old)
    shutil.rmtree(old / "ckpt")
    ckpt.save(ckpt.manager(old), step, layout)
    with pytest.raises(ValueError):                         # the layouts really differ
        ckpt.restore(old, now)
    loaded = runs.load(old).state
    assert jax.tree_util.tree_structure(loaded) == jax.tree_util.tree_structure(now)
    for a, b in zip(jax.tree_util.tree_leaves(loaded), jax.tree_util.tree_leaves(now)):
        np.testing.assert_array_equal(a, b)
