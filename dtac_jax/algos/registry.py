"""The algorithm registry: every method the project trains or compares, one entry each.

An :class:`Algorithm` says everything the training driver (:mod:`dtac_jax.runs`), the
reproduction (:mod:`dtac_jax.reproduce`), the CLI and the experiment scripts need to know about
a method: its config class, how to build its training program, what a finished run delivers,
the policy that parameters define, which trained runs it starts from, and its label and colour
in figures. Those modules iterate over the registry; none of them names an algorithm to
dispatch on it. Adding a method is one module (its config class and the functions below) plus
one :func:`register` line::

    register(Algorithm("mine", "Mine", "tab:olive", MyConfig, make=mine.make,
                       deliverable=mine.deliverable, policy=mine.policy))

Learned entries have ``make``; reference entries (heuristics, Search) only ``policy``.

* ``make(params, cfg, deps) -> (init, iteration, init_args)``: ``init(key, *init_args) ->
  state`` and ``iteration(state) -> (state, metrics)``, one training iteration, pure
  (:func:`dtac_jax.train.run_training` vmaps seeds, jits and checkpoints them); ``metrics``
  holds at least ``objective``, the validation objective of the iteration's parameters.
  ``deps`` maps each name in ``needs`` to its loaded run (:class:`dtac_jax.runs.Trained`:
  ``config``, ``state`` stacked over seeds). ``init_args`` are pytrees with a leading seed
  axis. The functions must not depend on ``cfg.iterations``, the training budget, which a
  resume may raise: :mod:`dtac_jax.runs` builds them once per process for a scenario, a
  config without its budget and the dependency runs.
* ``deliverable(state, cfg)``: the parameters a run delivers (e.g. the validation-best actor).
* ``policy(theta, cfg, params, deps)``: the :class:`~dtac_jax.algos.policy.Policy` (or plain
  policy function) of delivered parameters ``theta`` of one seed (``None`` for references).
* ``record(cfg, deps) -> dict``: extra fields for the run's ``config.json`` (optional).
* ``actor(cfg, deps) -> act``: ``act(theta, obs) -> ActionDist`` of a method whose decisions
  come from an actor network's action probabilities (optional; Table III compares them).
* ``upgrade(like) -> (old_like, convert)``: an earlier layout of the training state, so that
  checkpoints written by an earlier version load and resume (optional;
  :func:`dtac_jax.checkpoint.restore`, which also reads renamed top-level fields of any
  layout, :data:`dtac_jax.checkpoint.RENAMED_FIELDS`, without one).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

from dtac_jax.algos import dtac, happo, heuristics, search, tac


@dataclasses.dataclass(frozen=True)
class Algorithm:
    name: str                            # key; run folders and result rows use it
    label: str                           # name in figures and tables
    colour: str                          # matplotlib colour in figures
    config: type | None = None           # config class with quick() / paper() / from_dict()
    make: Callable | None = None         # None: a reference policy without training
    deliverable: Callable | None = None
    policy: Callable | None = None
    needs: tuple[str, ...] = ()          # trained runs this method starts from
    kind: str = ""                       # run kind in config.json (default: name)
    fixed: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # config fields it fixes
    record: Callable | None = None
    actor: Callable | None = None        # actor network, for Table III's KL (see below)
    reproduce: bool = True               # one of the reproduction's compared policies
    upgrade: Callable | None = None      # earlier state layouts (checkpoint.restore)

    def __post_init__(self):
        if not self.kind:
            object.__setattr__(self, "kind", self.name)
        if self.policy is None:
            raise ValueError(f"algorithm {self.name!r} needs a policy")
        if self.make is not None and (self.config is None or self.deliverable is None):
            raise ValueError(f"learned algorithm {self.name!r} needs a config and a deliverable")

    @property
    def learned(self) -> bool:
        return self.make is not None

    def quick(self, **kw):
        """``config.quick`` with this entry's fixed fields (the CPU budget)."""
        return self.config.quick(**{**self.fixed, **kw})

    def paper(self, **kw):
        """``config.paper`` with this entry's fixed fields (the paper's recipe)."""
        return self.config.paper(**{**self.fixed, **kw})


_REGISTRY: dict[str, Algorithm] = {}


def register(algo: Algorithm) -> Algorithm:
    """Add ``algo`` (a name registered already is replaced)."""
    for dep in algo.needs:
        if dep not in _REGISTRY:
            raise ValueError(f"algorithm {algo.name!r} needs {dep!r}, which is not registered")
    _REGISTRY[algo.name] = algo
    return algo


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def get(name: str) -> Algorithm:
    if name not in _REGISTRY:
        raise ValueError(f"unknown algorithm {name!r} (known: {', '.join(_REGISTRY)})")
    return _REGISTRY[name]


def names(learned: bool | None = None, reproduce: bool | None = None) -> tuple[str, ...]:
    """Registered names in registration order, optionally only the learned (or reference)
    ones and only those the reproduction compares."""
    return tuple(a.name for a in _REGISTRY.values()
                 if (learned is None or a.learned == learned)
                 and (reproduce is None or a.reproduce == reproduce))


def for_run(conf: dict) -> Algorithm:
    """The entry of a run folder's ``config.json``: by its ``name``, else the first entry of
    its ``kind`` (e.g. a transfer with a loss and student no entry fixes)."""
    if conf.get("name") in _REGISTRY and _REGISTRY[conf["name"]].kind == conf.get("kind"):
        return _REGISTRY[conf["name"]]
    for a in _REGISTRY.values():
        if a.learned and a.kind == conf.get("kind"):
            return a
    raise ValueError(f"run kind {conf.get('kind')!r} is not a registered algorithm (known: "
                     f"{', '.join(names(learned=True))})")


def _heuristic(name: str) -> Callable:
    return lambda theta, cfg, params, deps: heuristics.HEURISTICS[name]


register(Algorithm("tac", "TAC", "tab:blue", tac.TACConfig, tac.make, tac.deliverable,
                   tac.policy, actor=tac.actor, upgrade=tac.upgrade))
register(Algorithm("dtac", "DTAC", "tab:red", dtac.TransferConfig, dtac.make, dtac.deliverable,
                   dtac.policy, needs=("tac",), kind="transfer", record=dtac.record,
                   actor=dtac.actor, fixed=dtac.DTAC))
# DTAC with the MSE anchor to TAC's actions (100 x eq. 26 added to eq. 22): an ablation row
register(Algorithm("dtac_anchor", "DTAC + MSE anchor", "salmon", dtac.TransferConfig, dtac.make,
                   dtac.deliverable, dtac.policy, needs=("tac",), kind="transfer",
                   record=dtac.record, actor=dtac.actor, reproduce=False,
                   fixed=dict(dtac.DTAC, trust_weight=0.0, anchor_weight=100.0)))
register(Algorithm("tl_transformer", "TL transformer", "tab:orange", dtac.TransferConfig,
                   dtac.make, dtac.deliverable, dtac.policy, needs=("tac",), kind="transfer",
                   record=dtac.record, actor=dtac.actor,
                   fixed=dict(loss="mse", student="transformer")))
register(Algorithm("tl", "TL", "tab:green", dtac.TransferConfig, dtac.make, dtac.deliverable,
                   dtac.policy, needs=("tac",), kind="transfer", record=dtac.record,
                   actor=dtac.actor, fixed=dict(loss="mse", student="mlp")))
register(Algorithm("happo", "HAPPO", "tab:purple", happo.HAPPOConfig, happo.make,
                   happo.deliverable, happo.policy))
register(Algorithm("random", "Random", "tab:gray", policy=_heuristic("random")))
register(Algorithm("random_floor", "Random (a, b >= 0.1)", "silver",
                   policy=_heuristic("random_floor")))
register(Algorithm("all_local", "All local", "tab:brown", policy=_heuristic("all_local")))
register(Algorithm("greedy", "Greedy", "tab:olive", policy=_heuristic("greedy")))
register(Algorithm("search", "Search", "black", search.SearchConfig,
                   policy=lambda theta, cfg, params, deps: search.make_search_policy(cfg)))
register(Algorithm("all_edge", "All edge", "tab:cyan", policy=_heuristic("all_edge"),
                   reproduce=False))
register(Algorithm("all_cloud", "All cloud", "darkcyan", policy=_heuristic("all_cloud"),
                   reproduce=False))
