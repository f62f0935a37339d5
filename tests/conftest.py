import os
import tempfile

import jax
import numpy as np
import pytest

# Identical programs (e.g. the same training chunk in several tests) compile once per machine.
jax.config.update("jax_compilation_cache_dir",
                  os.environ.get("DTAC_JAX_CACHE", os.path.join(tempfile.gettempdir(), "dtac_jax_xla_cache")))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)

@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def tiny_reproduction(tmp_path_factory):
    """The ``tiny`` profile's reproduction of the small preset, run once per test process: the
    trained runs (TAC, the transfers, HAPPO) under ``runs``, the figures' data and
    ``REPORT.md``. Tests that need a trained run read it rather than train their own; they
    carry ``@pytest.mark.xdist_group("tiny_reproduction")`` so that one worker runs them all
    (``make test`` distributes with ``--dist loadgroup``)."""
    from types import SimpleNamespace

    from dtac_jax.reproduce.report import reproduce
    out = tmp_path_factory.mktemp("reproduce")
    logs = []
    report = reproduce("tiny", out=out, presets="small", progress=False, log=logs.append)
    return SimpleNamespace(out=out, root=out / "tiny", report=report, logs=logs,
                           runs=out / "tiny" / "runs" / "small")
