"""The cloud-edge network simulator (pure functions). Imports nothing from nets/ or algos/."""
from dtac_jax.env.env import Action, EnvState, Obs, OBS_DIM, reset, step, costs, observe
from dtac_jax.env.physics import round_costs, lower_bounds
from dtac_jax.env.scenarios import EnvParams, PRESETS, Scenario, make_params, make_scenario

__all__ = ["Action", "EnvState", "Obs", "OBS_DIM", "reset", "step", "costs", "observe",
           "round_costs", "lower_bounds", "EnvParams", "PRESETS", "Scenario", "make_params",
           "make_scenario"]
