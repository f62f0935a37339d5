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
