"""A new effect trains every algorithm without an edit under algos/: an effect named in the
config (``env.wrappers``, here :class:`~dtac_jax.env.wrappers.BurstyArrivals` with p = 1: every
real UE of a round gets slot 0's task) is what the training rollouts of TAC, HAPPO and a transfer
step, from Python and from ``dtac train ALGORITHM --set env.wrappers=...``."""
import json

import numpy as np
import pytest

import tiny
from dtac_jax import cli, runs
from dtac_jax.env.wrappers import EnvConfig

BURSTY = EnvConfig(wrappers=("bursty(p=1.0)",))
#: ... around a simulator whose UE-count generator is replaced: two UEs on every edge
FIXED_BURSTY = EnvConfig(wrappers=("bursty(p=1.0)",), ue_counts="fixed(n=[2, 2, 2, 2, 2])")


def shared_task(trained) -> np.ndarray:
    """Per rollout environment (all seeds): whether every real UE holds the same task."""
    st = trained.state.env_state
    task, mask = np.asarray(st.task), np.asarray(st.mask)
    return np.all(np.where(mask, task == task[..., :1], True), axis=-1)


@pytest.mark.slow
@pytest.mark.xdist_group("tiny_reproduction")
def test_tac_happo_and_a_transfer_train_on_an_effect_named_in_their_config(tiny_reproduction,
                                                                           tmp_path):
    plain = tiny_reproduction.runs
    run = dict(seeds=1, chunk=1, progress=False)
    runs.train("tac", tiny.scenario(), tiny.TAC.replace(iterations=1, env=FIXED_BURSTY),
               tmp_path / "tac", **run)
    runs.train("dtac", None, tiny.TRANSFER.replace(iterations=1, env=BURSTY), tmp_path / "dtac",
               deps={"tac": plain / "tac"}, **run)
    # HAPPO through the command line, its tiny config and the effect from a file and --set
    (tmp_path / "happo.json").write_text(json.dumps(
        {"happo": dict(tiny.PROFILE.happo.to_dict(), iterations=1)}))
    assert cli.main(["train", "happo", "--preset", "small", "--config",
                     str(tmp_path / "happo.json"), "--set", 'env.wrappers=["bursty(p=1.0)"]',
                     "--chunk", "1", "--out", str(tmp_path / "happo")]) == 0
    for name in ("tac", "dtac", "happo"):
        trained = runs.load(tmp_path / name)
        assert trained.config.env == (FIXED_BURSTY if name == "tac" else BURSTY), name
        assert shared_task(trained).all(), name                 # the effect was stepped
        assert not shared_task(runs.load(plain / name)).all(), name   # and is not the default
    # TAC's rollouts drew their UEs from the configured generator, the plain run's did not
    counts = lambda name, root: np.asarray(runs.load(root / name).state.env_state.n_per_edge)
    assert (counts("tac", tmp_path) == 2).all()
    assert not (counts("tac", plain) == 2).all() and not (counts("dtac", tmp_path) == 2).all()


def test_a_bad_effect_is_refused_in_one_line():
    for bad, said in ((("bursty(p=2)",), "not a probability"), (("nope",), "unknown name .nope."),
                      (("bursty(0.5)",), "options are given by name")):
        with pytest.raises(ValueError, match=said) as err:
            tiny.TAC.replace(env=EnvConfig(wrappers=bad))
        assert "\n" not in str(err.value)
    assert cli.main(["train", "tac", "--set", 'env.wrappers=["nope"]', "--out", "unused"]) == 2
