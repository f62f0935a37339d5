"""Figs. 5-7: average time, energy per task and weighted reward against the number of UEs.

Shares the reproduction pipeline (trained runs and evaluations are cached under
``results/<profile>/``); same as ``dtac reproduce --only fig5_7``. Options: --profile quick|paper,
--force, --out, --presets.

    python experiments/fig5_7_performance.py --profile quick
"""
import sys

from dtac_jax.cli import main

if __name__ == "__main__":
    sys.exit(main(["reproduce", "--only", "fig5_7", *sys.argv[1:]]))
