"""Fig. 10: convergence curves of centralised training and decentralised transfer.

Shares the reproduction pipeline (trained runs and evaluations are cached under
``results/<profile>/``); same as ``dtac reproduce --only fig10``. Options: --profile quick|paper,
--force, --out, --presets.

    python experiments/fig10_convergence.py --profile quick
"""
import sys

from dtac_jax.cli import main

if __name__ == "__main__":
    sys.exit(main(["reproduce", "--only", "fig10", *sys.argv[1:]]))
