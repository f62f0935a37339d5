"""Experiment loggers: ``--log tensorboard,wandb`` mirror metrics.jsonl through the driver's
per-chunk callback, and a resumed run continues the same TensorBoard folder and W&B run."""
import json
import struct

import pytest

import tiny
from dtac_jax import loggers


def read_tfevents(folder) -> dict[tuple[str, int], float]:
    """Every scalar in the TFRecord event files under ``folder``: ``(tag, step) -> value``.
    An independent reader of the record format (length, crc, payload, crc) and the Event
    protocol buffer, not tensorboardX's writer code."""
    from tensorboardX.proto.event_pb2 import Event
    out = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        data = path.read_bytes()
        i = 0
        while i < len(data):
            (n,) = struct.unpack("<Q", data[i:i + 8])
            event = Event.FromString(data[i + 12:i + 12 + n])
            i += 12 + n + 4
            for v in event.summary.value:
                out[(v.tag, event.step)] = v.simple_value
    return out


def test_parse_names_the_unknown_backend():
    assert loggers.parse("tensorboard, wandb,tensorboard") == ("tensorboard", "wandb")
    assert loggers.parse(None) == ()
    with pytest.raises(ValueError, match="unknown logger.*mlflow.*known: tensorboard, wandb"):
        loggers.parse("tensorboard,mlflow")


@pytest.mark.slow
def test_loggers_mirror_metrics_and_resume_continues_them(tmp_path, monkeypatch):
    from dtac_jax.algos.tac import make_tac
    from dtac_jax.env import make_params
    from dtac_jax.train import run_training

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    # the tiny TAC of the other driver tests: its chunk program is in the compilation cache
    init, iteration = make_tac(make_params(tiny.scenario()), tiny.TAC)
    run = dict(seeds=tiny.SEEDS, chunk=tiny.CHUNK, progress=False,
               log_to=("tensorboard", "wandb"))
    chunks = []
    run_training(init, iteration, {"kind": "test"}, tmp_path, iterations=2,
                 callback=lambda ep, n, rows: chunks.append((ep, n, rows)), **run)
    run_training(init, iteration, {"kind": "test"}, tmp_path, iterations=4, resume=True, **run)

    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 4 * tiny.SEEDS
    # the callback got the chunk's rows, as written to metrics.jsonl
    assert [(ep, n) for ep, n, _ in chunks] == [(2, 2)] and chunks[0][2] == rows[:2 * tiny.SEEDS]
    # TensorBoard: one scalar per metric, seed and iteration, equal to metrics.jsonl's (float32)
    scalars = read_tfevents(tmp_path / "tb")
    metrics = [k for k in rows[0] if k not in ("iteration", "seed", "wall_s")]
    assert "objective" in metrics
    for r in rows:
        for k in metrics:
            assert scalars[(f"{k}/seed_{r['seed']}", r["iteration"])] == pytest.approx(
                r[k], rel=1e-6, abs=1e-30)
    assert len(scalars) == len(rows) * len(metrics)
    # W&B offline: both processes wrote to the one run whose id the run folder keeps
    run_id = (tmp_path / "wandb" / "run_id").read_text().strip()
    offline = sorted((tmp_path / "wandb").glob("offline-run-*"))
    assert len(offline) == 2 and all(d.name.endswith(run_id) for d in offline)
    for d in offline:   # each process logged the metrics (W&B's record log holds the keys)
        (log,) = d.glob(f"run-{run_id}.wandb")
        assert b"objective/seed_0" in log.read_bytes()
