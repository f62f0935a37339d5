"""Training budgets in the units every learned method is compared in (the report's "Training
settings" table and Fig. 10's x-axes).
"""
from __future__ import annotations

from dtac_jax.env.scenarios import EnvParams

def mean_ues(params: EnvParams) -> float:
    """Mean number of real UEs per round (per-edge counts uniform on ``ue_min..ue_max``)."""
    return params.n_edges * (params.ue_min + params.ue_max) / 2


def budget(iterations: int, env_rounds: int, params: EnvParams, **grad_steps) -> dict:
    """A training budget in the units every learned method is compared in: training
    iterations, environment rounds stepped for training, UE-rounds (real UEs at the mean
    count) and gradient steps (one per optimiser update, by network)."""
    return dict(iterations=iterations, env_rounds=env_rounds,
                ue_rounds=int(round(env_rounds * mean_ues(params))), **grad_steps)
