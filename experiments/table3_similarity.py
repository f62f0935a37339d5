"""Table III: KL divergence of TL transformer's and DTAC's offloading distributions from TAC's.

Shares the reproduction pipeline (trained runs and evaluations are cached under
``results/<profile>/``); same as ``dtac reproduce --only table3``. Options: --profile quick|paper,
--force, --out, --presets.

    python experiments/table3_similarity.py --profile quick
"""
import sys

from dtac_jax.cli import main

if __name__ == "__main__":
    sys.exit(main(["reproduce", "--only", "table3", *sys.argv[1:]]))
