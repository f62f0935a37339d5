"""dtac-jax: JAX-native cloud-edge offloading simulator and DTAC training stack."""
import os as _os

__version__ = "0.1.0"

# XLA's CPU runtime (jaxlib 0.10.2) has deadlocked here when several computations were in
# flight at once, one waiting on another's output (README, known issues): computations on the
# CPU run synchronously unless DTAC_CPU_ASYNC=1. Accelerators are not affected.
if _os.environ.get("DTAC_CPU_ASYNC", "0") != "1":
    import jax as _jax

    _jax.config.update("jax_cpu_enable_async_dispatch", False)
