"""The cloud-edge network simulator (pure functions). Imports nothing from nets/ or algos/."""
from dtac_jax.env.env import Action, EnvState, Obs, OBS_DIM, reset, step, costs, observe
from dtac_jax.env.physics import round_costs, lower_bounds
from dtac_jax.env.scenarios import EnvParams, PRESETS, Scenario, make_params, make_scenario

# Bumped whenever the simulator's state layout or random streams change: checkpoints and cached
# reproduction stages made by another version are neither resumable nor comparable (3: caches
# as task-id lists only, 2N+K words per round, the Random policy's three words per UE).
SIM_VERSION = 3

__all__ = ["Action", "EnvState", "Obs", "OBS_DIM", "reset", "step", "costs", "observe",
           "round_costs", "lower_bounds", "EnvParams", "PRESETS", "Scenario", "make_params",
           "make_scenario", "SIM_VERSION"]
