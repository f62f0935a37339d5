"""A `dtac train` command sent a signal while it saves a checkpoint
(tests/driver/test_interrupt.py): ``python interrupt_child.py SIGNAL EPISODE OUT [ARGS]`` trains
the toy algorithm through the CLI for 4 iterations and sends SIGNAL to itself after Orbax has
started, and before it has finished, writing the checkpoint of EPISODE."""
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "algos"))

import orbax.checkpoint as ocp

import toy_algorithm as toy
from dtac_jax import cli
from dtac_jax.algos import registry

signum, at, out = getattr(signal, sys.argv[1]), int(sys.argv[2]), sys.argv[3]
registry.register(registry.Algorithm("toy", "Toy", "tab:cyan", toy.ToyConfig, toy.make,
                                      toy.deliverable, toy.policy))
save = ocp.CheckpointManager.save


def save_and_signal(self, step, *args, **kw):
    saved = save(self, step, *args, **kw)    # Orbax writes on in a thread of its own
    if step == at:
        os.kill(os.getpid(), signum)
    return saved


ocp.CheckpointManager.save = save_and_signal
sys.exit(cli.main(["train", "toy", "--preset", "small", "--rounds", "3", "--set", "iterations=4",
                   "--chunk", "1", "--out", out] + sys.argv[4:]))
