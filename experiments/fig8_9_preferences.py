"""Figs. 8-9: offloading-action preference (local / edge / cloud) per policy.

Shares the reproduction pipeline (trained runs and evaluations are cached under
``results/<profile>/``); same as ``dtac reproduce --only fig8_9``. Options: --profile quick|paper,
--force, --out, --presets.

    python experiments/fig8_9_preferences.py --profile quick
"""
import sys

from dtac_jax.cli import main

if __name__ == "__main__":
    sys.exit(main(["reproduce", "--only", "fig8_9", *sys.argv[1:]]))
