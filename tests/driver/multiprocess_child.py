"""Child of ``test_sharding.py::test_two_processes_match_one_process``: one process of a
multi-process (multi-host style) run on the CPU, joined through ``jax.distributed``.

Usage: ``python multiprocess_child.py OUT COORDINATOR NUM_PROCESSES PROCESS_ID`` (with
``NUM_PROCESSES = 1`` and no coordinator, ``-``, for the single-process reference). Evaluates
the Random policy and a stack of two greedy-ish heuristics over 6 episodes with the episodes
split over every device of every process, and (process 0) writes the results as JSON.
"""
import json
import sys

import jax

out, coordinator, n_proc, pid = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

from dtac_jax import parallel

if coordinator != "-":
    assert parallel.init_distributed(coordinator, n_proc, pid)

import jax.numpy as jnp

from dtac_jax.algos.heuristics import all_local, random_policy
from dtac_jax.env import Action, make_params, make_scenario
from dtac_jax.evaluate import evaluate_grid

params = make_params(make_scenario("small", rounds=4))
key = jax.random.PRNGKey(7)
rand = evaluate_grid(lambda _: random_policy, None, params, key, episodes=6, counts=[4, 6])


def scaled_local(scale):  # a stacked "policy family": all-local at frequency ratio ``scale``
    def policy(k, obs, state, prm):
        act = all_local(k, obs, state, prm)
        return Action(x=act.x, channel=act.channel, a=act.a, b=act.b * scale)
    return policy


fam = evaluate_grid(scaled_local, jnp.asarray([1.0, 0.5]), params, key, episodes=6)
if jax.process_index() == 0:
    with open(out, "w") as f:
        json.dump({"processes": jax.process_count(), "devices": jax.device_count(),
                   "random": [list(r.as_dict().values()) for r in rand[0]],
                   "family": [list(r.as_dict().values()) for row in fam for r in row]}, f)
