"""The tests' XLA compile level. ``tests/conftest.py`` turns XLA's backend (LLVM) optimisation
off for the test session and the processes it starts: at the tests' tiny sizes programs run
for far less time than they take to compile, and level 0 compiles them about a quarter faster.

Level 0 can round differently (no fused multiply-adds), so two tests whose assertions hinge on
round-off run their child processes at XLA's default level, through :func:`default_level`:
the tiny HAPPO learning test (its reward gain at 60 iterations is within round-off noise of its
threshold) and the 4-device-vs-1-device comparison (the evaluated decisions of two trainings
that agree to 1e-4 can differ by an argmax tie)."""
import os

FLAG = "--xla_backend_optimization_level=0"
OPT_OUT = "DTAC_TEST_XLA_DEFAULT_LEVEL"


def apply() -> None:
    """Add :data:`FLAG` to ``XLA_FLAGS`` unless a level is given or the process opted out."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "--xla_backend_optimization_level" not in flags and not os.environ.get(OPT_OUT):
        os.environ["XLA_FLAGS"] = f"{flags} {FLAG}".strip()


def default_level(env: dict) -> dict:
    """A child process environment at XLA's default level (``env`` otherwise unchanged)."""
    flags = env.get("XLA_FLAGS", "").replace(FLAG, "").strip()
    return dict(env, XLA_FLAGS=flags, **{OPT_OUT: "1"})
