"""Algorithms: reference policies, Search, TAC, DTAC and baselines."""
