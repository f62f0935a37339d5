"""The generic config (de)serialiser (dtac_jax.config) on every config class."""
import ast
import dataclasses
import json
from pathlib import Path

import pytest

from dtac_jax import config
from dtac_jax.algos.replay import CollectConfig
from dtac_jax.algos.dtac import TransferConfig
from dtac_jax.algos.happo import HAPPOConfig
from dtac_jax.algos.search import SearchConfig
from dtac_jax.algos.tac import PPOConfig, TACConfig, recipe
from dtac_jax.env import Scenario, make_scenario
from dtac_jax.nets.transformer import NetConfig
from dtac_jax.reproduce.profiles import PROFILES, Profile
from dtac_jax.sweep import SweepBase

DEFAULTS = [Scenario(), NetConfig(), TACConfig().collect, PPOConfig(), TACConfig(),
            TransferConfig(), HAPPOConfig(), SearchConfig(), SweepBase(), PROFILES["quick"]]
CLASSES = [type(c) for c in DEFAULTS]
NON_DEFAULT = [
    make_scenario("large", f_ue=(1e9, 2e9, 3e9), n_ue_types=3, s_in_range=(1e6, 2e6)),
    NetConfig(d_model=32, heads=4, encoders=0),
    CollectConfig(envs=3, rounds=4, noise_var=0.0, noise_decay=1.0, explore="sample"),
    PPOConfig(credit="team", epochs=1),
    TACConfig(estimator="critic", net=NetConfig(d_model=8, heads=1, n_channels=6),
              collect=CollectConfig(envs=3, rounds=5, noise_var=0.1, noise_decay=0.9),
              ppo=PPOConfig(clip=0.1)),
    recipe("paper"), TransferConfig(loss="mse", student="mlp", mlp_hidden=(32, 16, 8),
                                    collect=CollectConfig(envs=7, rounds=3, noise_var=0.2,
                                                          noise_decay=0.5)),
    HAPPOConfig.paper(hidden=(16, 8), ab_init=(2.0, 3.0)), SearchConfig(candidates=8, elites=2),
    SweepBase(recipe="paper", tac={"net": {"d_model": 16}, "collect": {"envs": 4}},
              scenario={"l_channels": 6, "rounds": 3}), *PROFILES.values()]


def test_config_module_imports_nothing_from_the_package():
    tree = ast.parse(Path(config.__file__).read_text())
    imported = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    imported += [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert imported and not [m for m in imported if m and m.startswith("dtac_jax")]


@pytest.mark.parametrize("cfg", DEFAULTS, ids=[c.__name__ for c in CLASSES])
def test_to_dict_is_asdict_as_json(cfg):
    d = cfg.to_dict()
    assert json.dumps(d) == json.dumps(dataclasses.asdict(cfg))
    assert d == json.loads(json.dumps(dataclasses.asdict(cfg)))   # JSON-ready: lists, dicts


@pytest.mark.parametrize("cfg", DEFAULTS + NON_DEFAULT,
                         ids=[type(c).__name__ for c in DEFAULTS + NON_DEFAULT])
def test_round_trip_through_json(cfg):
    back = type(cfg).from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back == cfg
    if type(cfg) not in (Profile, SweepBase):   # they hold dicts: not hashable
        assert hash(back) == hash(cfg)


@pytest.mark.parametrize("cls", CLASSES, ids=[c.__name__ for c in CLASSES])
def test_unknown_field_is_a_one_line_error(cls):
    label = "scenario" if cls is Scenario else cls.__name__
    with pytest.raises(ValueError, match=rf"^unknown {label} field\(s\): bogus, zz \(known: ") as e:
        cls.from_dict({"zz": 1, "bogus": 2})
    assert "\n" not in str(e.value) and dataclasses.fields(cls)[0].name in str(e.value)
    default = DEFAULTS[CLASSES.index(cls)]
    with pytest.raises(ValueError, match=rf"^unknown {label} field\(s\): bogus \(known: "):
        default.replace(bogus=1)


def test_nested_dicts_missing_keys_and_legacy_defaults():
    with pytest.raises(ValueError, match=r"^unknown CollectConfig field\(s\): nvs \(known: "):
        TACConfig.from_dict({"collect": {"nvs": 4}})
    # a missing key takes the field's default; a nested dict changes the owner's default
    assert HAPPOConfig.from_dict({"iterations": 3}) == HAPPOConfig(iterations=3)
    assert (TransferConfig.from_dict({"collect": {"envs": 4}}).collect
            == TransferConfig().collect.replace(envs=4))
    new = dict(estimator="ppo", critic_input=TACConfig().critic_input)   # not a legacy dict
    ppo = {"clip": 0.1, "credit_source": "critic"}   # a PPO dict without it is a legacy one
    assert (TACConfig.from_dict({**new, "collect": {"envs": 4}, "ppo": ppo})
            == TACConfig().replace(collect=dict(envs=4), ppo=dict(clip=0.1)))
    assert TACConfig.from_dict({**new, "ppo": {"clip": 0.1}}).ppo.credit_source == "simulator"
    # the shared collection settings have no defaults of their own for an owner to override
    with pytest.raises(TypeError, match="missing 4 required"):
        CollectConfig()
    # TAC configs without the estimator fields are the paper's estimator's
    old = TACConfig.from_dict({"collect": recipe("critic").collect.to_dict()})
    assert (old.estimator, old.critic_input) == ("critic", "probs")
    assert TACConfig.from_dict(TACConfig().to_dict()) == TACConfig()
    with pytest.raises(ValueError, match=r"^Profile needs field\(s\) name, seeds"):
        Profile.from_dict({})


def test_replace_merges_nested_dicts_and_converts_lists():
    cfg = TACConfig().replace(collect=dict(envs=4), net={"n_channels": 6}, lr_actor=0.5)
    assert cfg.collect == dataclasses.replace(TACConfig().collect, envs=4)
    assert cfg.net.n_channels == 6 and cfg.net.d_model == 16 and cfg.lr_actor == 0.5
    assert HAPPOConfig().replace(hidden=[32, 32]).hidden == (32, 32)
    assert make_scenario("small").replace(f_ue=[1e9] * 6).f_ue == (1e9,) * 6
    assert PROFILES["tiny"].replace(tac=dict(iterations=5)).tac == PROFILES["tiny"].tac.replace(
        iterations=5)


def test_factories():
    assert TACConfig.quick() == TACConfig() == recipe("default")
    assert TACConfig.quick(collect=dict(envs=4)) == recipe("default", collect=dict(envs=4))
    assert TACConfig.paper(iterations=3) == recipe("paper", iterations=3)
    assert TACConfig.paper().lr_actor == TACConfig.paper().lr_critic == 2e-5
    assert TransferConfig.quick() == TransferConfig()
    assert TransferConfig.paper() == TransferConfig(lr_actor=2e-5)
    assert (TransferConfig.paper(iterations=3, lr_actor=1e-4)
            == TransferConfig(iterations=3, lr_actor=1e-4))
    assert HAPPOConfig.quick().hidden == (64, 64) and HAPPOConfig.paper().policy == "gru"


def test_renamed_fields_load_under_their_new_names_with_one_line(capsys):
    # HAPPO's and the transfers' learning rates were `lr` / `critic_lr`: one spelling now
    config._WARNED.clear()
    old = {**HAPPOConfig().to_dict(), "lr": 1e-3, "critic_lr": 2e-3}
    del old["lr_actor"], old["lr_critic"]
    assert HAPPOConfig.from_dict(old) == HAPPOConfig(lr_actor=1e-3, lr_critic=2e-3)
    assert HAPPOConfig.from_dict(old) == HAPPOConfig(lr_actor=1e-3, lr_critic=2e-3)
    err = capsys.readouterr().err.splitlines()
    assert err == ["dtac: HAPPOConfig.lr is deprecated: it is read as HAPPOConfig.lr_actor; "
                   "write 'lr_actor'",
                   "dtac: HAPPOConfig.critic_lr is deprecated: it is read as "
                   "HAPPOConfig.lr_critic; write 'lr_critic'"]          # once per process
    assert TransferConfig().replace(lr=1e-4).lr_actor == 1e-4
    assert config.set_path(TransferConfig(), "lr", 5e-5).lr_actor == 5e-5
    out = config.configure({"transfer": TransferConfig()}, "transfer", file={"lr": 7e-5})
    assert out["transfer"].lr_actor == 7e-5
    with pytest.raises(ValueError, match="'lr' and 'lr_actor' name the same field"):
        TransferConfig.from_dict({"lr": 1e-4, "lr_actor": 1e-4})
    for cls in (HAPPOConfig, TransferConfig, TACConfig):
        fields = {f.name for f in dataclasses.fields(cls)}
        assert not fields & set(cls.RENAMED) and set(cls.RENAMED.values()) <= fields
        assert {"lr", "critic_lr", "actor_lr"}.isdisjoint(fields)


def test_training_episodes_are_read_as_iterations(capsys):
    """The training budget was ``episodes``: config files, ``--set`` paths, factories and
    a profile's sections that say so still load, with one deprecation line per class."""
    from dtac_jax.sweep import SweepBase
    config._WARNED.clear()
    for cls in (TACConfig, TransferConfig, HAPPOConfig, SweepBase):
        old = cls().to_dict()
        old["episodes"] = old.pop("iterations") + 1
        assert cls.from_dict(old) == cls().replace(iterations=old["episodes"])
        assert cls().replace(episodes=7).iterations == 7
        assert config.set_path(cls(), "episodes", 8).iterations == 8
        with pytest.raises(ValueError, match="'episodes' and 'iterations' name the same"):
            cls.from_dict({"episodes": 7, "iterations": 7})
    assert recipe("critic", episodes=5) == recipe("critic", iterations=5)
    tiny = PROFILES["tiny"]
    out = config.configure({"profile": tiny}, "profile", file={"tac": {"episodes": 9}},
                           sets=["happo.episodes=3", "transfer.episodes=4"])["profile"]
    assert (out.tac.iterations, out.happo.iterations, out.transfer.iterations) == (9, 3, 4)
    err = capsys.readouterr().err.splitlines()
    assert err == [f"dtac: {c}.episodes is deprecated: it is read as {c}.iterations; write "
                   "'iterations'" for c in ("TACConfig", "TransferConfig", "HAPPOConfig",
                                            "SweepBase")]
    with pytest.raises(ValueError, match=r"^TACConfig.iterations must be >= 1, got 0$"):
        TACConfig(iterations=0)


def test_an_estimator_registered_after_import_is_accepted_by_name():
    from dtac_jax.algos import estimators
    with pytest.raises(ValueError, match="unknown TAC estimator 'mine'"):
        TACConfig(estimator="mine")
    estimators.ESTIMATORS["mine"] = estimators.ESTIMATORS["critic"]
    try:
        assert TACConfig(estimator="mine").estimator == "mine"
    finally:
        del estimators.ESTIMATORS["mine"]
