"""``dtac sweep``: grid parsing, CSV rows, plots, resume."""
import csv

import pytest

from dtac_jax.sweep import PARAMS, SweepBase, _build, parse_grid, point_name, run_sweep


def test_parse_grid_and_errors():
    g = parse_grid(["actor_lr=1e-3,3e-4", "preset=small,medium", "ues_per_edge=4,6"])
    assert g == {"actor_lr": [1e-3, 3e-4], "preset": ["small", "medium"], "ues_per_edge": [4, 6]}
    assert point_name({"actor_lr": 3e-4, "preset": "small"}) == "actor_lr=0.0003__preset=small"
    with pytest.raises(ValueError, match=r"unknown sweep parameter 'lrr' \(valid: actor_lr, "):
        parse_grid(["lrr=1"])
    with pytest.raises(ValueError, match="not a valid int"):
        parse_grid(["updates=2.5"])
    with pytest.raises(ValueError, match="NAME=V1,V2"):
        parse_grid(["actor_lr"])
    scn, cfg = _build(SweepBase(), {"lr": 3e-4, "noise_decay": 0.9, "ues_per_edge": 5,
                                    "preset": "medium"})
    assert (cfg.lr_actor, cfg.lr_critic, cfg.collect.noise_decay) == (3e-4, 3e-4, 0.9)
    assert scn.name == "medium" and scn.ue_min == scn.ue_max == 5
    assert set(PARAMS) >= {"actor_lr", "critic_lr", "noise_decay", "ues_per_edge", "preset",
                           "episodes"}


@pytest.mark.slow
def test_tiny_sweep_rows_plots_and_resume(tmp_path):
    # the two points share every compiled program (the episode budget is not part of it)
    grid = parse_grid(["episodes=2,4"])
    base = SweepBase(preset="small", rounds=3, envs=4, collect_rounds=2, updates=2,
                     batch_size=8, buffer_size=256, seeds=2, chunk=2, eval_episodes=4)
    out = tmp_path / "sweep"
    logs = []
    rows = run_sweep(grid, base, out, progress=False, log=logs.append)
    assert len(rows) == 2 * 2                                 # points x seeds
    with open(out / "sweep.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert table == rows
    assert [(r["episodes"], r["seed_index"]) for r in table] == [
        ("2", "0"), ("2", "1"), ("4", "0"), ("4", "1")]
    for r in table:
        assert float(r["final_objective"]) > 0 and float(r["eval_objective"]) > 0
        assert float(r["eval_weighted_reward"]) == pytest.approx(-float(r["eval_objective"]))
    assert table[0]["eval_objective"] != table[1]["eval_objective"]   # seeds differ
    assert (out / "plot_episodes.png").stat().st_size > 1000
    for name in ("episodes=2", "episodes=4"):
        assert (out / name / "done.json").exists() and (out / name / "metrics.jsonl").exists()
    # resume: finished points are skipped, nothing is appended
    logs.clear()
    rows2 = run_sweep(grid, base, out, progress=False, log=logs.append)
    assert rows2 == rows and sum("skipped" in m for m in logs) == 2
    # another base configuration in the same folder is refused
    with pytest.raises(ValueError, match="other settings"):
        run_sweep(grid, SweepBase(preset="small", seeds=4), out, progress=False,
                  log=logs.append)
