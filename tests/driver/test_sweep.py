"""``dtac sweep``: grid parsing, CSV rows, plots, resume."""
import collections
import csv
import itertools
import json
import shutil

import pytest

import tiny
from dtac_jax import runs
from dtac_jax.algos import tac
from dtac_jax.sweep import (PARAMS, SweepBase, _build, group_name, groups, parse_grid,
                            point_name, run_sweep)


def test_parse_grid_and_errors():
    g = parse_grid(["lr_actor=1e-3,3e-4", "preset=small,medium", "ues_per_edge=4,6"])
    assert g == {"lr_actor": [1e-3, 3e-4], "preset": ["small", "medium"], "ues_per_edge": [4, 6]}
    assert point_name({"lr_actor": 3e-4, "preset": "small"}) == "lr_actor=0.0003__preset=small"
    with pytest.raises(ValueError, match=r"unknown sweep parameter 'lrr' \(valid: lr_actor, "):
        parse_grid(["lrr=1"])
    with pytest.raises(ValueError, match="not a valid int"):
        parse_grid(["updates=2.5"])
    with pytest.raises(ValueError, match="NAME=V1,V2"):
        parse_grid(["lr_actor"])
    scn, cfg = _build(SweepBase(), {"lr": 3e-4, "noise_decay": 0.9, "ues_per_edge": 5,
                                    "preset": "medium"})
    assert (cfg.lr_actor, cfg.lr_critic, cfg.collect.noise_decay) == (3e-4, 3e-4, 0.9)
    assert scn.name == "medium" and scn.ue_min == scn.ue_max == 5
    assert set(PARAMS) >= {"lr_actor", "lr_critic", "noise_decay", "ues_per_edge", "preset",
                           "iterations"}


# the tiny reproduction's TAC run (tests/tiny.py) as a sweep base: a point trained alone runs
# the same compiled programs as the other tests that train tiny.TAC
TINY_BASE = SweepBase(preset="small", iterations=tiny.TAC.iterations, tac=tiny.TAC.to_dict(),
                      seeds=tiny.SEEDS, chunk=tiny.CHUNK, eval_episodes=2)


@pytest.mark.slow
@pytest.mark.xdist_group("tiny_reproduction")
def test_lr_grid_trains_in_one_program_rows_plots_and_resume(tmp_path, monkeypatch,
                                                             tiny_reproduction):
    """A 2-value actor learning-rate grid is one run folder whose chunk program is traced once; each
    member equals its point trained alone up to round-off (lr 1e-3: the tiny reproduction's
    TAC run; lr 3e-4: a TAC run of that config, the same compiled program, since the learning
    rate is part of the state). Then: rows and plots, finished points skipped, an interrupted
    group resumed to the same rows, other settings refused."""
    import jax
    import numpy as np

    from dtac_jax.runs import load, train
    from dtac_jax.train import read_metrics

    assert _build(TINY_BASE, {}) == (tiny.scenario(), tiny.TAC)
    traces = []
    real = tac.make_tac

    def counting(params, cfg):
        init, iteration = real(params, cfg)

        def traced(ts):
            traces.append(cfg.lr_actor)
            return iteration(ts)
        return init, traced

    monkeypatch.setattr(tac, "make_tac", counting)
    # built afresh here: dtac_jax.runs keeps the functions of a config it built before
    monkeypatch.setattr(runs, "_BUILT", collections.OrderedDict())
    grid = parse_grid(["lr_actor=1e-3,3e-4"])   # the critic's stays tiny.TAC's
    out = tmp_path / "sweep"
    logs = []
    rows = run_sweep(grid, TINY_BASE, out, progress=False, log=logs.append)
    assert len(traces) == 1                                   # one program for both points
    folders = [p for p in out.iterdir() if p.is_dir()]
    assert len(folders) == 1 and folders[0].name.startswith("vmap2_")
    group = load(folders[0])
    assert [p["lr_actor"] for p in group.record["sweep"]["points"]] == [1e-3, 3e-4]
    assert len(rows) == 2 * tiny.SEEDS                        # points x seeds
    assert [r["point"] for r in rows] == ["lr_actor=0.001", "lr_actor=0.0003"]
    assert all(r["run"] == folders[0].name for r in rows)
    alone = [tiny_reproduction.runs / "tac", tmp_path / "alone"]
    train("tac", tiny.scenario(), tac.with_hyper(tiny.TAC, dict(lr_actor=3e-4)),
          alone[1], seeds=tiny.SEEDS, chunk=tiny.CHUNK, progress=False)
    flat = jax.tree_util.tree_flatten_with_path
    curve = lambda d, s: [x["objective"] for x in read_metrics(d) if x["seed"] == s]
    for m, (r, run_dir) in enumerate(zip(rows, alone)):
        assert float(r["final_objective"]) > 0 and float(r["eval_objective"]) > 0
        assert float(r["eval_weighted_reward"]) == pytest.approx(-float(r["eval_objective"]))
        # member m: its point's run alone, state and curve
        single = load(run_dir).state
        lr = single.actor_opt.hyperparams["learning_rate"][0]
        assert lr == group.state.actor_opt.hyperparams["learning_rate"][m] == np.float32(
            r["lr_actor"])
        # the attention key biases are left out: their gradient is mathematically zero, and
        # Adam turns its round-off into steps of up to lr (as in test_sharding.py)
        for (path, x), (_, y) in zip(flat((single.actor, single.critic))[0],
                                     flat((group.state.actor, group.state.critic))[0]):
            if "['key']['bias']" not in jax.tree_util.keystr(path):
                np.testing.assert_allclose(np.asarray(x)[0], np.asarray(y)[m], rtol=1e-3,
                                           atol=1e-5, err_msg=jax.tree_util.keystr(path))
        # the objectives to 1e-3: the critic's what-ifs, RMS-scaled into the actor's credit,
        # carry the two programs' round-off into the actor more than the parameters show
        np.testing.assert_allclose(curve(folders[0], m), curve(run_dir, 0), rtol=1e-3)
    assert rows[0]["eval_objective"] != rows[1]["eval_objective"]   # the lr matters
    with open(out / "sweep.csv", newline="") as f:
        assert list(csv.DictReader(f)) == rows
    assert (out / "plot_lr_actor.png").stat().st_size > 1000
    # finished points are skipped, nothing is appended
    logs.clear()
    assert run_sweep(grid, TINY_BASE, out, progress=False, log=logs.append) == rows
    assert sum("skipped" in m for m in logs) == 2
    # a sweep folder whose sweep.json, sweep.csv and done.json say "episodes" (written before
    # the rename) is the same sweep: its points are skipped, its table rewritten
    meta = json.loads((out / "sweep.json").read_text())
    meta["base"]["episodes"] = meta["base"].pop("iterations")
    (out / "sweep.json").write_text(json.dumps(meta))
    for f in [out / "sweep.csv", *out.glob("*/done.json")]:
        f.write_text(f.read_text().replace("iterations", "episodes"))
    logs.clear()
    assert run_sweep(grid, TINY_BASE, out, progress=False, log=logs.append) == rows
    assert sum("skipped" in m for m in logs) == 2
    assert "episodes" not in (out / "sweep.csv").read_text()
    # a group interrupted after its first chunk resumes from its checkpoint to the same rows
    shutil.rmtree(folders[0] / "ckpt" / str(tiny.TAC.iterations))
    (folders[0] / "done.json").unlink()
    (out / "sweep.csv").unlink()
    logs.clear()
    again = run_sweep(grid, TINY_BASE, out, progress=False, log=logs.append)
    assert any("(resuming)" in m for m in logs)
    drop = lambda rs: [{k: v for k, v in r.items() if k != "train_s"} for r in rs]
    assert drop(again) == drop(rows)
    # another base configuration in the same folder is refused
    with pytest.raises(ValueError, match="other settings"):
        run_sweep(grid, SweepBase(preset="small", seeds=4), out, progress=False,
                  log=logs.append)


def test_groups_split_on_the_other_parameters():
    grid = parse_grid(["lr_actor=1e-3,3e-4", "iterations=2,4", "noise_decay=0.9,1"])
    points = [dict(zip(grid, v)) for v in itertools.product(*grid.values())]
    gs = groups(grid, points)
    assert [shared for shared, _ in gs] == [{"iterations": 2}, {"iterations": 4}]
    assert all(len(members) == 4 for _, members in gs)
    assert group_name(*gs[0]).startswith("iterations=2__vmap4_")
    assert group_name(*gs[0]) != group_name(gs[0][0], gs[0][1][1:])
    # a group's configs differ only in tac.HYPER; the groups' in more
    cfg = _build(SweepBase(), gs[0][1][0])[1]
    same, other = _build(SweepBase(), gs[0][1][3])[1], _build(SweepBase(), gs[1][1][0])[1]
    assert same != cfg and tac.with_hyper(same, tac.hyper_params(cfg)) == cfg
    assert tac.with_hyper(other, tac.hyper_params(cfg)) != cfg


def test_an_earlier_sweep_json_reads_in_the_current_spelling():
    from dtac_jax.sweep import _current_settings
    base = SweepBase().to_dict()
    old = dict(base=dict(base, envs=None, collect_rounds=None, eval_envs=None, rounds=None),
               params=["actor_lr", "noise_decay", "episodes"])
    old["base"]["episodes"] = old["base"].pop("iterations")
    assert _current_settings(old) == dict(base=base,
                                          params=["lr_actor", "noise_decay", "iterations"])
    kept = _current_settings(dict(base=dict(base, envs=64), params=[]))
    assert kept["base"]["envs"] == 64          # a sweep that set it is another sweep
