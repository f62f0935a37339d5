import os
import tempfile

import xla_opt

# XLA's backend optimisation off for the session and its child processes (tests/xla_opt.py)
xla_opt.apply()

import jax  # after XLA_FLAGS: the backend reads it when it starts
import numpy as np
import pytest

# Identical programs (e.g. the same training chunk in several tests) compile once per machine.
jax.config.update("jax_compilation_cache_dir",
                  os.environ.get("DTAC_JAX_CACHE",
                                 os.path.join(tempfile.gettempdir(), "dtac_jax_xla_cache")))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def pytest_collection_modifyitems(config, items):
    """The longest tests first: the tests of an ``xdist_group`` (in their own order), then the
    ones marked ``slow``, then the rest. ``--dist loadgroup`` hands the tests out in this order
    to whichever worker is free, so the short ones fill the end of the run on both workers."""
    items.sort(key=lambda item: 0 if item.get_closest_marker("xdist_group") else
               1 if item.get_closest_marker("slow") else 2)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def tiny_reproduction(tmp_path_factory):
    """The ``tiny`` profile's reproduction of the small preset, run once per test session: the
    trained runs (TAC, the transfers, HAPPO) under ``runs``, the figures' data and
    ``REPORT.md``. Tests that need a trained run read it rather than train their own; they
    carry ``@pytest.mark.xdist_group("tiny_reproduction")`` so that one worker runs them
    (``make test`` distributes with ``--dist loadgroup``). Should two workers still ask for it,
    they share one folder under a file lock: the second waits and reads the first's."""
    import fcntl
    import json
    from types import SimpleNamespace

    from dtac_jax.reproduce.run import reproduce
    base = tmp_path_factory.getbasetemp()
    # under xdist each worker's folder sits in this run's folder, which all workers share
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    out = shared / "tiny_reproduction"
    with open(shared / "tiny_reproduction.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = out / "done.json"
        if not done.exists():
            logs = []
            report = reproduce("tiny", out=out, presets="small", progress=False,
                               log=logs.append)
            done.write_text(json.dumps(dict(report=str(report), logs=logs)))
        record = json.loads(done.read_text())
    from pathlib import Path
    return SimpleNamespace(out=out, root=out / "tiny", report=Path(record["report"]),
                           logs=record["logs"], runs=out / "tiny" / "runs" / "small")
