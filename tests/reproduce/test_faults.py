"""``dtac reproduce`` killed with SIGKILL and started again ends with the outputs of an
uninterrupted run: ``experiments/fault_injection.py`` with two kill points.

This file sorts before ``test_reproduce.py``: its test compares with the tiny reproduction's
folder before ``test_pipeline_end_to_end_tiny`` adds figures made under other settings there.
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jax
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "experiments" / "fault_injection.py"


@pytest.mark.xdist_group("tiny_reproduction")
def test_reproduction_killed_in_training_and_in_evaluation_ends_as_uninterrupted(
        tiny_reproduction, tmp_path):
    # To keep the test short the interrupted run starts from the tiny reproduction's folder
    # with its first four trainings kept: HAPPO's training and every later stage, figure,
    # table and the report are made again, through a kill in HAPPO's training and one in the
    # evaluation. (`python experiments/fault_injection.py` kills a run from an empty folder.)
    start = tmp_path / "start"
    shutil.copytree(tiny_reproduction.out / "tiny", start / "tiny",
                    ignore=shutil.ignore_patterns(".lock"))
    root = start / "tiny"
    shutil.rmtree(root / "runs" / "small" / "happo")
    for pattern in ("stages/train__small__happo.json", "stages/eval__*.json",
                    "stages/kl__*.json", "data/*", "sections/*", "*.png", "table*",
                    "REPORT.md"):
        for p in root.glob(pattern):
            p.unlink()
    # the children load the programs the fixture compiled: same cache, same XLA_FLAGS
    env = dict(os.environ, DTAC_JAX_CACHE=jax.config.jax_compilation_cache_dir or "off")
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--reference", str(tiny_reproduction.out),
         "--start-from", str(start), "--out", str(tmp_path / "fi"),
         "--at", "training HAPPO on small@2", "--at", r"eval:small: running@4",
         "--timeout", "600"],
        capture_output=True, text=True, env=env, timeout=1200)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    lines = out.stdout.splitlines()
    kills = [ln for ln in lines if re.match(r"kill \d+: ", ln)]
    assert len(kills) == 2, out.stdout
    assert "during: 'training HAPPO on small" in kills[0], kills[0]
    assert re.search(r"during: '(\[\d+/\d+\] |\[\d\d:\d\d\] eval:small: running)", kills[1]), \
        kills[1]
    assert lines[-1].startswith("VERDICT: identical"), lines[-1]


def test_atomic_writes_leave_the_old_file_or_the_new_one(tmp_path):
    from dtac_jax.atomic import remove_stale, replacing, write_atomic
    path = write_atomic(tmp_path / "stage.json", "old")
    with pytest.raises(RuntimeError):
        with replacing(path) as tmp:
            tmp.write_text("half writt")
            raise RuntimeError("killed")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["stage.json"]
    write_atomic(path, b"new")
    assert path.read_text() == "new"
    (tmp_path / ".eval.csv.x1y2.tmp").write_text("left by a kill")
    assert remove_stale(tmp_path) == 1 and [p.name for p in tmp_path.iterdir()] == ["stage.json"]
