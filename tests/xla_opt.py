"""The tests' XLA compile options. ``tests/conftest.py`` applies them to the test session and
the processes it starts. At the tests' tiny sizes a program runs for far less time than it
takes to compile, so these trade run time for compile time:

- ``--xla_backend_optimization_level=0``: no LLVM optimisation;
- ``--xla_cpu_use_fusion_emitters=false``: fusions are emitted by XLA's elemental IR emitter
  instead of the MLIR fusion emitters, which spend more time per fusion;
- ``--xla_cpu_parallel_codegen_split_count=1``: one LLVM module per program (no splitting for
  parallel code generation, which the tests' two busy workers cannot use).

Measured on the tiny TAC training chunk (2-core machine, idle, ``benchmarks/test_time.md``):
backend compile 10.8 s at level 0 alone, 6.6-7.5 s with all three; the tiny reproduction's
backend compile time fell from 113 s to 53 s.

Level 0 can round differently (no fused multiply-adds); the tests whose results hinge on
round-off allow for it: the 1-vs-4-device comparison accepts one argmax tie broken the other
way, and the tiny HAPPO learning test pins its seed (its reward gain over 60 iterations is
checked against 0.05; the gain varies with the seed from about -0.2 to 0.5)."""
import os

FLAGS = ("--xla_backend_optimization_level=0",
         "--xla_cpu_use_fusion_emitters=false",
         "--xla_cpu_parallel_codegen_split_count=1")


def apply() -> None:
    """Add each of :data:`FLAGS` to ``XLA_FLAGS`` unless that option is given already."""
    flags = os.environ.get("XLA_FLAGS", "")
    for flag in FLAGS:
        if flag.split("=")[0] not in flags:
            flags = f"{flags} {flag}".strip()
    os.environ["XLA_FLAGS"] = flags
