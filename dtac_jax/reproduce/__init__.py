"""Regenerate the paper's figures and tables: ``dtac reproduce`` (see :func:`reproduce`)."""
from dtac_jax.reproduce.profiles import PROFILES, Profile, get_profile
from dtac_jax.reproduce.run import reproduce

__all__ = ["PROFILES", "Profile", "get_profile", "reproduce"]
