"""Flax modules (transformer actor and critic)."""
