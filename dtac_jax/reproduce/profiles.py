"""Reproduction profiles: how much training and evaluation ``dtac reproduce`` does.

``quick`` runs the whole set of figures on a 2-core laptop CPU (three seeds, short training,
three UE counts per x-axis, 50-round episodes, the project's default recipes: the ``quick()``
configs). ``paper`` is the paper's setting wherever the paper gives one (Table II: learning
rate 2e-5 with AdamW for TAC and DTAC's transfer, 600-round episodes for training and
evaluation, entropy 0.01; every UE count) and HARL's defaults for HAPPO, with the paper's GRU
actor (the ``paper()`` configs); meant for a GPU. ``full`` is the same scale with the
project's default recipes. ``tiny`` exists for the tests. docs/reproducing.md lists every
setting of each profile.
"""
from __future__ import annotations

import dataclasses

from dtac_jax.algos.dtac import TransferConfig
from dtac_jax.algos.happo import HAPPOConfig
from dtac_jax.algos.search import SearchConfig
from dtac_jax.algos.tac import TACConfig
from dtac_jax.config import Config

PRESETS = ("small", "medium", "large")


@dataclasses.dataclass(frozen=True)
class Profile(Config):
    """One profile: the training configs of the learned methods and the evaluation's size.

    A registry entry's config is the field named by its ``kind`` (``tac``, ``transfer``,
    ``happo``, ``search``) with the entry's fixed fields: ``transfer`` is shared by DTAC, TL
    transformer and TL, each with its own ``loss`` and ``student``. A learned method without a
    field here trains with its config's ``quick()``.
    """

    name: str
    seeds: int                    # independent training runs per method (vmapped)
    tac: TACConfig
    transfer: TransferConfig      # each of DTAC, TL transformer, TL
    happo: HAPPOConfig            # HAPPOConfig.quick or .paper (docs/algorithms.md)
    eval_episodes: int            # evaluation episodes per point (same keys for every policy)
    eval_rounds: int | None       # rounds per evaluation episode (None: the scenario's 50)
    ue_counts: dict[str, tuple[int, ...]]   # x-axes: UEs per edge, per preset
    # per preset, the UE-count generator every learned method trains on
    # (``EnvConfig.ue_counts``, e.g. ``"level(lo=1)"``); a preset not named: the scenario's
    # independent uniform draw per edge
    train_ue_counts: dict[str, str] = dataclasses.field(default_factory=dict)
    train_rounds: int | None = None  # rounds per training episode (None: the scenario's 50)
    search: SearchConfig = SearchConfig()   # the near-optimal reference
    chunk: int = 10
    # fields a profile sets on one method's config over its registry entry's fixed fields
    # (e.g. the paper profile's DTAC, pinned to eq. 22 alone)
    methods: dict[str, dict] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        from dtac_jax.algos import registry
        from dtac_jax.env.wrappers import EnvConfig
        for preset, spec in self.train_ue_counts.items():
            if preset not in PRESETS:
                raise ValueError(f"Profile.train_ue_counts names unknown preset {preset!r} "
                                 f"(known: {', '.join(PRESETS)})")
            EnvConfig(ue_counts=spec)   # an unknown generator or bad options: one line now
        unknown = set(self.methods) - set(registry.names(learned=True))
        if unknown:
            raise ValueError(f"Profile.methods names unknown method(s) "
                             f"{', '.join(sorted(unknown))} (known: "
                             f"{', '.join(registry.names(learned=True))})")


PROFILES: dict[str, Profile] = {
    "quick": Profile(
        name="quick", seeds=3, tac=TACConfig.quick(iterations=60),
        transfer=TransferConfig.quick(iterations=20), happo=HAPPOConfig.quick(iterations=150),
        eval_episodes=8, eval_rounds=None,
        ue_counts={"small": (2, 4, 6), "medium": (1, 3, 5), "large": (1, 3, 5)},
        train_ue_counts={"small": "level(lo=2)", "medium": "level(lo=1)",
                         "large": "level(lo=1)"}),
    "paper": Profile(
        name="paper", seeds=3, tac=TACConfig.paper(iterations=200),
        transfer=TransferConfig.paper(iterations=100), happo=HAPPOConfig.paper(iterations=1500),
        eval_episodes=32, eval_rounds=600, train_rounds=600,
        ue_counts={"small": (1, 2, 3, 4, 5, 6), "medium": (1, 2, 3, 4, 5),
                   "large": (1, 2, 3, 4, 5)},
        # DTAC as the paper writes it: eq. 22 alone (no trust region, no anchor), through the
        # TAC critic that reads the student's probabilities (the paper recipe's critic input)
        methods={"dtac": dict(trust_weight=0.0, anchor_weight=0.0)}),
    "full": Profile(
        name="full", seeds=3, tac=TACConfig.quick(iterations=200),
        transfer=TransferConfig.quick(iterations=100), happo=HAPPOConfig.quick(iterations=1500),
        eval_episodes=32, eval_rounds=600,
        ue_counts={"small": (1, 2, 3, 4, 5, 6), "medium": (1, 2, 3, 4, 5),
                   "large": (1, 2, 3, 4, 5)},
        train_ue_counts={p: "level(lo=1)" for p in PRESETS}),
    "tiny": Profile(
        name="tiny", seeds=1,
        tac=TACConfig.quick(iterations=4, updates=2, batch_size=8, buffer_size=512, eval_envs=2,
                            eval_rounds=3, collect=dict(envs=4, rounds=2)),
        transfer=TransferConfig.quick(iterations=2, updates=2, batch_size=8, eval_envs=2,
                                      eval_rounds=3),
        happo=HAPPOConfig.quick(iterations=2, envs=2, rollout=3, epochs=1, critic_epochs=1,
                                eval_envs=2, eval_rounds=3),
        eval_episodes=2, eval_rounds=3,
        ue_counts={"small": (2, 6), "medium": (1, 5), "large": (1, 5)},
        train_ue_counts={"small": "level(lo=2)", "medium": "level(lo=1)",
                         "large": "level(lo=1)"},
        search=SearchConfig(candidates=16, iterations=2), chunk=2),
}


def get_profile(name: str) -> Profile:
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r} (known: {', '.join(PROFILES)})")
    return PROFILES[name]
