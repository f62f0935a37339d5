"""dtac-jax: JAX-native cloud-edge offloading simulator and DTAC training stack."""
__version__ = "0.1.0"
