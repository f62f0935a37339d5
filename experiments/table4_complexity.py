"""Table IV: parameter counts and FLOPs per UE.

Shares the reproduction pipeline (trained runs and evaluations are cached under
``results/<profile>/``); same as ``dtac reproduce --only table4``. Options: --profile quick|paper,
--force, --out, --presets.

    python experiments/table4_complexity.py --profile quick
"""
import sys

from dtac_jax.cli import main

if __name__ == "__main__":
    sys.exit(main(["reproduce", "--only", "table4", *sys.argv[1:]]))
