"""`dtac reproduce`: the pipeline end to end at a tiny size, caching, figure data, pure helpers."""
import csv
import dataclasses
import json

import jax.numpy as jnp
import numpy as np
import pytest

from dtac_jax import cli
from dtac_jax.algos import registry
from dtac_jax.reproduce import figures as F
from dtac_jax.reproduce import pipeline as P
from dtac_jax.reproduce.claims import PAPER_CLAIMS
from dtac_jax.reproduce.profiles import get_profile
from dtac_jax.reproduce.figures import ORDER
from dtac_jax.reproduce.run import parse_only, reproduce


def test_kl_stats_known_values():
    pt = jnp.array([[[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]]])
    ps = jnp.array([[[0.25, 0.5, 0.25], [0.1, 0.8, 0.1]]])
    mask = jnp.array([[True, False]])
    out = P.kl_stats(pt, ps, mask)
    want = 0.5 * np.log(2) + 0.25 * np.log(0.5)
    np.testing.assert_allclose(float(out["kl_per_state"]), want, rtol=1e-5)
    assert float(out["argmax_agreement"]) == 0.0        # argmax 0 vs 1 on the real UE
    same = P.kl_stats(pt, pt, jnp.array([[True, True]]))
    assert abs(float(same["kl_per_state"])) < 1e-6 and abs(float(same["kl_preference"])) < 1e-6
    assert float(same["argmax_agreement"]) == 1.0


def test_iterations_to_95(tmp_path):
    # a spike late in training must not move the convergence point (medians, not means)
    obj = [100, 60, 30, 20, 12, 11, 10, 10, 10, 10] + [10] * 5 + [1e6] + [10] * 4
    with open(tmp_path / "metrics.jsonl", "w") as f:
        for i, v in enumerate(obj):
            f.write(json.dumps(dict(iteration=i + 1, seed=0, objective=v)) + "\n")
    n95, total = P.iterations_to_95(tmp_path)
    assert total == 20
    # windows of 3 iterations (max(3, 20 // 10)); final level: median of the last 2 = 10.
    # medians of [20,12,11] = 12 and [12,11,10] = 11 > 10.5, of [11,10,10] = 10 -> ends at
    # iteration 8
    assert n95 == 8
    assert P.convergence_window(20) == 3 and P.convergence_window(150) == 15
    assert P.convergence_window(2) == 2


def test_aggregate_bands():
    rows = [dict(policy="a", n_ues=n, weighted_reward=r, reward_std_err=0.5, avg_time=1.0)
            for n, r in ((10, -1.0), (10, -3.0), (20, -5.0), (20, -7.0))]
    ns, mean, band = F.aggregate(rows, "weighted_reward")["a"]
    assert ns.tolist() == [10, 20] and mean.tolist() == [-2.0, -6.0]
    np.testing.assert_allclose(band, [np.sqrt(2.0)] * 2)          # spread over seeds
    ns, mean, band = F.aggregate(rows[::2], "weighted_reward")["a"]
    assert band.tolist() == [0.5, 0.5]                            # one seed: episode std err


def test_evaluate_grid_equals_evaluate_per_count():
    from dtac_jax.algos.policy import actor_fn, greedy
    from dtac_jax.algos.heuristics import greedy_policy
    from dtac_jax.env import make_params, make_scenario
    from dtac_jax.evaluate import evaluate, evaluate_grid
    from dtac_jax.nets.transformer import NetConfig, init_actor_critic
    import jax

    params = make_params(make_scenario("small", rounds=3))
    key = jax.random.PRNGKey(5)
    grid = evaluate_grid(lambda _: greedy_policy, None, params, key, episodes=3, counts=[1, 6])
    for c, r in zip((1, 6), grid[0]):
        want = evaluate(greedy_policy, params, key, episodes=3, n_per_edge=c)
        np.testing.assert_allclose(r.weighted_reward, want.weighted_reward, rtol=1e-5)
        np.testing.assert_allclose(r.frac_edge, want.frac_edge, rtol=1e-6)
    # stacked parameters: policy i of the grid is the policy built from parameters i
    net = NetConfig()
    actors = [init_actor_critic(jax.random.PRNGKey(i), net)["actor"] for i in (1, 2)]
    stacked = jax.tree_util.tree_map(lambda *v: jnp.stack(v), *actors)
    make = lambda prm: greedy(actor_fn(net, "full"), prm)
    grid = evaluate_grid(make, stacked, params, key, episodes=2, counts=[2, 5])
    assert len(grid) == 2 and len(grid[0]) == 2
    want = evaluate(make(actors[1]), params, key, episodes=2, n_per_edge=5)
    np.testing.assert_allclose(grid[1][1].weighted_reward, want.weighted_reward, rtol=1e-4)


def test_mean_over_seeds():
    from dtac_jax.evaluate import EvalResult, mean_over_seeds
    base = dict(avg_time=1.0, energy_per_task=2.0, frac_local=0.5, frac_edge=0.5,
                frac_cloud=0.0, cache_hit_rate=0.1, reward_std_err=9.0, episodes=4, rounds=5)
    rs = [EvalResult(weighted_reward=w, **base) for w in (-1.0, -2.0, -6.0)]
    m = mean_over_seeds(rs)
    assert m.weighted_reward == -3.0 and m.avg_time == 1.0 and m.episodes == 4
    np.testing.assert_allclose(m.reward_std_err, np.std([-1, -2, -6], ddof=1) / np.sqrt(3))
    assert mean_over_seeds(rs[:1]) is rs[0]


# An independent statement of each profile's settings (a named recipe or factory plus
# overrides) and the configs they define, checked against the typed profiles. The training
# stages are cached by these configs' dicts, so they must not drift.
TRANSFERS = {"dtac": dict(loss="critic", student="transformer", batch_size=16),
             "tl_transformer": dict(loss="mse", student="transformer"),
             "tl": dict(loss="mse", student="mlp")}
OLD_PROFILES = {
    "quick": dict(tac_episodes=60, transfer_episodes=20, happo_episodes=150,
                  happo_factory="quick"),
    "paper": dict(tac_episodes=200, transfer_episodes=100, happo_episodes=1500,
                  happo_factory="paper", tac_recipe="paper", transfer_overrides=dict(lr_actor=2e-5),
                  method_overrides={"dtac": dict(trust_weight=0.0, anchor_weight=0.0)}),
    "full": dict(tac_episodes=200, transfer_episodes=100, happo_episodes=1500,
                 happo_factory="quick"),
    "tiny": dict(tac_episodes=4, transfer_episodes=2, happo_episodes=2, happo_factory="quick",
                 tac_overrides=dict(updates=2, batch_size=8, buffer_size=512, eval_envs=2,
                                    eval_rounds=3, collect=dict(envs=4, rounds=2)),
                 transfer_overrides=dict(updates=2, batch_size=8, eval_envs=2, eval_rounds=3),
                 happo_overrides=dict(envs=2, rollout=3, epochs=1, critic_epochs=1,
                                      eval_envs=2, eval_rounds=3)),
}


def _old_config(old: dict, method: str):
    from dtac_jax.algos.dtac import TransferConfig
    from dtac_jax.algos.happo import HAPPOConfig
    from dtac_jax.algos.tac import recipe
    if method == "tac":
        return recipe(old.get("tac_recipe", "default"), iterations=old["tac_episodes"],
                      **old.get("tac_overrides", {}))
    if method == "happo":
        kw = dict(iterations=old["happo_episodes"], **old.get("happo_overrides", {}))
        return getattr(HAPPOConfig, old["happo_factory"])(**kw)
    # the registry entry's fixed fields win over the profile's (Pipeline.config)
    # ... and the profile's own fields for one method win over both (Profile.methods)
    return TransferConfig(**{"iterations": old["transfer_episodes"],
                             **old.get("transfer_overrides", {}), **TRANSFERS[method],
                             **old.get("method_overrides", {}).get(method, {})})


@pytest.mark.parametrize("name", sorted(OLD_PROFILES))
def test_profiles_typed_configs_equal_the_old_override_dicts(name, tmp_path):
    from dtac_jax.reproduce.profiles import PROFILES
    assert set(PROFILES) == set(OLD_PROFILES)
    pl = P.Pipeline(get_profile(name), out=tmp_path, progress=False, log=lambda _: None)
    built = {m: pl.config(m) for m in ("tac", "happo", *TRANSFERS)}
    for method, cfg in built.items():
        want = _old_config(OLD_PROFILES[name], method)
        assert json.dumps(cfg.to_dict()) == json.dumps(dataclasses.asdict(want)), method
        assert type(want).from_dict(json.loads(json.dumps(want.to_dict()))) == cfg
    # profile.json: the profile as written, read back equal
    stored = json.loads((tmp_path / name / "profile.json").read_text())
    assert type(pl.profile).from_dict(stored) == pl.profile


def test_profile_pins():
    """A few literal values of the profiles' configs (what docs/reproducing.md lists)."""
    p = {n: get_profile(n) for n in ("quick", "paper", "full", "tiny")}
    assert (p["quick"].tac.iterations, p["quick"].transfer.iterations,
            p["quick"].happo.iterations, p["quick"].tac.estimator, p["quick"].transfer.lr_actor,
            p["quick"].happo.hidden) == (60, 20, 150, "ppo", 3e-4, (64, 64))
    assert (p["paper"].tac.lr_actor, p["paper"].tac.estimator, p["paper"].transfer.lr_actor,
            p["paper"].happo.policy, p["paper"].happo.iterations) == (
        2e-5, "critic", 2e-5, "gru", 1500)
    assert p["full"].tac == p["quick"].tac.replace(iterations=200)
    assert p["tiny"].tac.collect.to_dict() == dict(envs=4, rounds=2, noise_var=0.0,
                                                   noise_decay=1.0, explore="prob_noise",
                                                   floor=0.0)
    # the report names the recipe and HAPPO factory each profile's configs come from
    from dtac_jax.reproduce.report import happo_factory_name, tac_recipe_name
    assert [tac_recipe_name(q.tac) for q in p.values()] == ["default", "paper", "default", None]
    assert [happo_factory_name(q.happo) for q in p.values()] == ["quick", "paper", "quick", None]


def test_bad_input_one_line_errors(capsys):
    with pytest.raises(ValueError, match="unknown profile 'nope'"):
        get_profile("nope")
    with pytest.raises(ValueError, match="unknown figure 'fig99'"):
        parse_only("fig5,fig99")
    assert parse_only("fig5_7,table4") == ["fig5", "fig6", "fig7", "table4"]
    assert cli.main(["reproduce", "--profile", "tiny", "--presets", "huge"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown preset(s) huge" in err[0]


@pytest.mark.slow
@pytest.mark.xdist_group("tiny_reproduction")
def test_the_tiny_reproduction_group_runs_on_one_worker(request):
    """``make test`` distributes with ``--dist loadgroup`` so that the tests sharing the tiny
    reproduction run on one worker; xdist marks a grouped test by suffixing its id with
    ``@group`` (pytest 9.2 drops that suffix: pytest-dev/pytest-xdist#1386)."""
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("not distributed with --dist loadgroup")
    assert request.node.nodeid.endswith("@tiny_reproduction"), request.node.nodeid


@pytest.mark.xdist_group("tiny_reproduction")
def test_pipeline_end_to_end_tiny(tiny_reproduction, monkeypatch):
    tmp_path, root = tiny_reproduction.out, tiny_reproduction.root
    report = tiny_reproduction.report
    assert report == root / "REPORT.md"
    assert any(line.endswith("train:small:tac: running") for line in tiny_reproduction.logs)
    logs = []
    for f in ("fig5_small.png", "table3_kl.md", "table3_kl.csv", "fig10_small.png",
              "table4_complexity.md", "table4_complexity.csv", "data/eval_small.csv",
              "data/kl_small.csv", "data/fig10_small_curves.csv", "data/fig5_small_series.json",
              "profile.json"):
        assert (root / f).is_file(), f
    text = report.read_text()
    for fid in ORDER:   # every section, run or marked as not run
        assert (root / "sections" / f"{fid}.json").is_file(), fid
    # every learned method trained on the profile's UE-count generator of its preset
    for method in P.learned():
        conf = json.loads((root / "runs" / "small" / method / "config.json").read_text())
        assert conf[registry.get(method).kind]["env"]["ue_counts"] == "level(lo=2)", method
    assert "Training UE counts (`Profile.train_ue_counts`, every learned method): small " \
        "`level(lo=2)`, medium `level(lo=1)`, large `level(lo=1)`." in text
    for head in ("## Training settings", "## Claims", "### C1:", "### C9:", "### P1:",
                 "## Fig5", "## Table III", "## Fig. 10", "## Table IV", "## Fig. 6",
                 "## Fig. 11"):
        assert head in text, head
    # every check names its claim and threshold; the report counts those that hold
    checks = [c for f in root.glob("sections/*.json")
              for c in json.loads(f.read_text())["claims"]]
    assert checks and all(c["cid"] in PAPER_CLAIMS and c["threshold"] for c in checks)
    assert all(c["reason"] for c in checks if c["holds"] is None)
    judged = [c for c in checks if c["holds"] is not None and c["cid"].startswith("C")]
    assert (f"**{sum(c['holds'] for c in judged)} of {len(judged)} judged checks of the "
            "paper's claims hold**") in text
    assert "### Statements of the paper's results not judged" in text
    assert "Not run: needs preset(s) medium" in text

    # the plotted series are the policies evaluated, on the profile's x-axis
    series = json.loads((root / "data" / "fig5_small_series.json").read_text())
    for metric in ("avg_time", "energy_per_task", "weighted_reward"):
        assert set(series[metric]) == set(P.policies())
        assert series[metric]["dtac"]["n_ues"] == [2 * 5, 6 * 5]
    rows = list(csv.DictReader(open(root / "data" / "eval_small.csv")))
    seeds = get_profile("tiny").seeds   # learned policies: one row per seed and UE count
    assert len(rows) == (len(P.learned()) * seeds + len(P.policies()) - len(P.learned())) * 2
    with open(root / "data" / "fig10_small_curves.csv") as f:
        methods = {r["method"] for r in csv.DictReader(f)}
    assert methods == {"tac", "happo", "dtac", "tl_transformer", "tl"}
    kl = list(csv.DictReader(open(root / "data" / "kl_small.csv")))
    assert {r["policy"] for r in kl} == {"dtac", "tl_transformer", "tl"}
    assert all(float(r["kl_per_state"]) >= 0 for r in kl)

    # a second call reuses every cached stage: no training or evaluation reruns
    logs.clear()
    reproduce("tiny", out=tmp_path, presets="small", progress=False, log=logs.append)
    assert not any(line.endswith(": running") for line in logs), logs
    assert any("train:small:tac: cached" in line for line in logs)
    # training stages cached before the rename (their configs say "episodes") stay cached
    stages = {f: f.read_text() for f in (root / "stages").glob("train__*.json")}
    try:
        for f, text in stages.items():
            stage = json.loads(text)
            cfg = stage["config"]["config"]
            cfg["episodes"] = cfg.pop("iterations")
            f.write_text(json.dumps(stage))
        logs.clear()
        reproduce("tiny", out=tmp_path, presets="small", progress=False, log=logs.append)
        assert not any(line.endswith(": running") for line in logs), logs
    finally:
        for f, text in stages.items():
            f.write_text(text)
    assert len(stages) == len(P.learned())

    # the preference and generalization figures on the presets at hand
    pl = P.Pipeline(get_profile("tiny"), out=tmp_path, progress=False, log=logs.append)
    sec = F.fig_preferences(pl, "small")
    assert (root / sec["images"][0]).is_file()
    with open(root / "data" / "pref_small_preferences.csv") as f:
        prefs = list(csv.DictReader(f))
    for r in prefs:
        assert abs(float(r["local"]) + float(r["edge"]) + float(r["cloud"]) - 1.0) < 1e-6
    monkeypatch.setattr(P, "GENERALIZATION", ("small", "small"))
    monkeypatch.setattr(F, "GENERALIZATION", ("small", "small"))
    sec = F.fig_generalization(pl)
    gen = list(csv.DictReader(open(root / "data" / "generalization.csv")))
    assert {r["policy"] for r in gen} == {"dtac_inexperienced", "dtac", "tac", "random"}
    # trained and "inexperienced" DTAC are the same run here: identical numbers
    a = [r["weighted_reward"] for r in gen if r["policy"] == "dtac"]
    b = [r["weighted_reward"] for r in gen if r["policy"] == "dtac_inexperienced"]
    assert a == b and sec["claims"][0]["holds"] is True


def test_stage_cache_reruns_stages_of_another_simulator_version(tmp_path):
    logs, calls = [], []
    pl = P.Pipeline(get_profile("tiny"), out=tmp_path, progress=False, log=logs.append)

    def fn(fresh):
        calls.append(fresh)
        return dict(value=len(calls))

    assert pl.stage("s", {"a": 1}, fn)["value"] == 1
    pl2 = P.Pipeline(get_profile("tiny"), out=tmp_path, progress=False, log=logs.append)
    assert pl2.stage("s", {"a": 1}, fn)["value"] == 1 and len(calls) == 1   # cached
    path = pl2._stage_path("s")
    record = json.loads(path.read_text())
    assert record["sim_version"] == P.SIM_VERSION
    path.write_text(json.dumps(dict(record, sim_version=P.SIM_VERSION - 1)))
    pl3 = P.Pipeline(get_profile("tiny"), out=tmp_path, progress=False, log=logs.append)
    assert pl3.stage("s", {"a": 1}, fn)["value"] == 2 and calls == [False, True]
    assert any("made by simulator version" in line for line in logs)
