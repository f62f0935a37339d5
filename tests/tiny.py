"""The one tiny training setup of the tests: the ``tiny`` reproduction profile's configs, seeds
and chunk on its training scenario. Every test that trains TAC uses it, so they all run the
same compiled programs (the persistent XLA cache compiles each once per test session)."""
from dtac_jax.env import make_scenario
from dtac_jax.reproduce.profiles import get_profile

PROFILE = get_profile("tiny")


def _on_small(cfg):
    """``cfg`` on the UE counts the tiny reproduction trains with on ``small``
    (``Profile.train_ue_counts``, as ``Pipeline.config(method, "small")`` applies them)."""
    spec = PROFILE.train_ue_counts.get("small")
    return cfg if spec is None else cfg.replace(env=cfg.env.replace(ue_counts=spec))


TAC = _on_small(PROFILE.tac)   # 4 iterations; chunks of PROFILE.chunk = 2
TRANSFER = _on_small(PROFILE.transfer)
SEEDS = PROFILE.seeds
CHUNK = PROFILE.chunk


def scenario(**overrides):
    """The tiny reproduction's training scenario (the ``small`` preset)."""
    return make_scenario("small", **overrides)
