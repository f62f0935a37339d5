"""The quick-start notebook is stored executed, executes end to end and shows TAC and DTAC ahead
of Random.

The notebook runs in a fresh Jupyter kernel started from a kernel spec written into a temporary
folder for this interpreter (``sys.executable``), so it uses this virtual environment whatever
other ``python3`` kernel specs the machine has.
"""
import importlib.util
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
kernelspec = pytest.importorskip("ipykernel.kernelspec")

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "quickstart.ipynb"
ROW = re.compile(r"^\|\s*([^|]+?)\s*\|\s*([-0-9.e+]+)\s*\|\s*([-0-9.e+]+)\s*\|"
                 r"\s*([-0-9.e+]+)\s*±\s*([0-9.e+]+)\s*\|")


POLICIES = {"TAC", "DTAC", "Random", "all-local", "greedy"}


def _figures(nb) -> int:
    return sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
               for o in c.get("outputs", []))


def _table(nb) -> dict[str, float]:
    """``{policy: weighted reward}`` from the evaluation table the notebook displays."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text = out.get("data", {}).get("text/markdown", "")
            if text.startswith("| policy |"):
                rows = (ROW.match(line) for line in text.splitlines()[2:])
                return {m.group(1): float(m.group(4)) for m in rows if m}
    raise AssertionError("no evaluation table in the executed notebook")


@pytest.mark.slow
def test_quickstart_notebook_runs(tmp_path, monkeypatch):
    # the committed notebook is its generator's, executed (`make notebook`): same cells,
    # with the outputs stored (the figures and the evaluation table show on a code host)
    stored = nbformat.read(NOTEBOOK, as_version=4)
    spec = importlib.util.spec_from_file_location("make_quickstart",
                                                  NOTEBOOK.parent / "make_quickstart.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    fresh = generator.build()
    assert [(c.cell_type, c.source) for c in stored.cells] == [
        (c.cell_type, c.source) for c in fresh.cells], "run `make notebook`"
    assert _figures(stored) == 3 and set(_table(stored)) == POLICIES

    nb = fresh   # executed here again, from its generator's cells

    # a "python3" kernel spec for this interpreter, found before any other on JUPYTER_PATH
    kernelspec.write_kernel_spec(tmp_path / "kernels" / "python3")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    # the notebook's programs compile once per machine (same cache as conftest.py)
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", os.environ.get(
        "DTAC_JAX_CACHE", os.path.join(tempfile.gettempdir(), "dtac_jax_xla_cache")))
    monkeypatch.setenv("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")

    # a first cell (in memory only) records which Python the kernel runs
    nb.cells.insert(0, nbformat.v4.new_code_cell("import sys; print(sys.prefix)"))
    t0 = time.perf_counter()
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    print(f"notebook executed in {time.perf_counter() - t0:.1f} s")

    assert nb.cells[0].outputs[0]["text"].strip() == sys.prefix
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    assert _figures(nb) == 3  # random-policy rollouts, TAC training curves, evaluation bars

    reward = _table(nb)
    assert set(reward) == POLICIES
    assert reward["TAC"] > reward["Random"] and reward["DTAC"] > reward["Random"], reward
