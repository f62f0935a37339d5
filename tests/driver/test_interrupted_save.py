"""A run killed while saving a checkpoint, after writing that chunk's metrics rows: the
unfinished checkpoint is ignored, the rows are dropped, and the resumed run ends as an
uninterrupted one does."""
import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np

from dtac_jax import checkpoint as ckpt
from dtac_jax.train import read_metrics, run_training


def decay(iterations, run, **kw):
    def init(key):
        return dict(w=jax.random.normal(key, (3,)), t=jnp.zeros((), jnp.int32))

    def iteration(st):
        w = 0.9 * st["w"] + 0.01 * st["t"]
        return dict(w=w, t=st["t"] + 1), dict(loss=jnp.sum(w * w))

    return run_training(init, iteration, dict(kind="decay", decay=dict(rate=0.9)), run,
                        iterations=iterations, seeds=2, chunk=2, progress=False, **kw)


def rows(run):
    return [{k: v for k, v in r.items() if k != "wall_s"} for r in read_metrics(run)]


def test_a_kill_mid_checkpoint_resumes_from_the_last_whole_one(tmp_path, capfd):
    whole = decay(8, tmp_path / "whole")
    run = tmp_path / "run"
    decay(4, run)
    # what a kill while saving iteration 6 leaves: the rows of iterations 5-6, a torn line, and
    # Orbax's temporary folder of the unfinished checkpoint (part of a copy of iteration 4's)
    done = rows(tmp_path / "whole")
    with open(run / "metrics.jsonl", "a") as f:
        for r in done[8:12]:
            f.write(json.dumps(dict(r, wall_s=0.0)) + "\n")
        f.write('{"iteration": 7, "se')
    tmp = run / "ckpt" / "6.orbax-checkpoint-tmp"       # Orbax renames it when complete
    shutil.copytree(run / "ckpt" / "4", tmp)
    for p in sorted(q for q in tmp.rglob("*") if q.is_file())[::2]:
        p.unlink()
    assert ckpt.latest_step(run) == 4
    capfd.readouterr()
    state = decay(8, run, resume=True)
    assert "dropped" in capfd.readouterr().err          # the rows after iteration 4, the torn line
    assert rows(run) == done
    np.testing.assert_array_equal(np.asarray(state["w"]), np.asarray(whole["w"]))
    assert ckpt.latest_step(run) == 8
    assert not any("orbax-checkpoint-tmp" in p.name for p in (run / "ckpt").iterdir())
