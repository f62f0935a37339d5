"""Fig. 11: DTAC trained on the medium area, evaluated on the large area.

Shares the reproduction pipeline (trained runs and evaluations are cached under
``results/<profile>/``); same as ``dtac reproduce --only fig11``. Options: --profile quick|paper,
--force, --out, --presets.

    python experiments/fig11_generalization.py --profile quick
"""
import sys

from dtac_jax.cli import main

if __name__ == "__main__":
    sys.exit(main(["reproduce", "--only", "fig11", *sys.argv[1:]]))
