"""Experiment loggers: the per-iteration training metrics streamed to TensorBoard and/or Weights
& Biases after every chunk, through the driver's callback (:func:`dtac_jax.train.run_training`).
``metrics.jsonl`` stays the run's record; a logger only mirrors its rows.

- ``tensorboard``: event files in ``<run>/tb/`` (``tensorboard --logdir <run>/tb``), one scalar
  per metric and seed, tagged ``<metric>/seed_<i>``, at step = iteration. Needs ``tensorboardX``
  (the ``log`` extra).
- ``wandb``: one W&B run per run folder, its id kept in ``<run>/wandb/run_id`` so a resumed
  run continues the same W&B run; the run's ``config.json`` is its config. The mode is
  ``WANDB_MODE`` when set, else ``online`` with ``WANDB_API_KEY`` set and ``offline``
  without (files in ``<run>/wandb/``, uploaded later with ``wandb sync``). Needs ``wandb``.
"""
from __future__ import annotations

import os
import secrets
from collections import defaultdict
from pathlib import Path
from typing import Callable, Protocol, Sequence

BACKENDS = ("tensorboard", "wandb")
_SKIP = ("iteration", "seed", "wall_s")


class MetricLogger(Protocol):
    def log(self, rows: Sequence[dict]) -> None: ...

    def close(self) -> None: ...


def parse(spec: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"tensorboard,wandb"`` (or a list of names) -> the backends, checked."""
    if not spec:
        return ()
    names = spec.split(",") if isinstance(spec, str) else [n for s in spec for n in s.split(",")]
    names = [n.strip() for n in names if n.strip()]
    bad = [n for n in names if n not in BACKENDS]
    if bad:
        raise ValueError(f"unknown logger(s) {', '.join(bad)} (known: {', '.join(BACKENDS)})")
    return tuple(dict.fromkeys(names))


_MODULES = {"tensorboard": "tensorboardX", "wandb": "wandb"}


def check(spec) -> tuple[str, ...]:
    """:func:`parse`, and each backend's package importable (else a one-line ``ValueError``),
    so a run fails before it writes anything."""
    import importlib
    names = parse(spec)
    for n in names:
        try:
            importlib.import_module(_MODULES[n])
        except ImportError:
            raise ValueError(f"--log {n} needs the {_MODULES[n]} package: pip install "
                             f"'dtac-jax[log]'") from None
    return names


class TensorBoardLogger:
    def __init__(self, run_dir: Path):
        from tensorboardX import SummaryWriter
        self.writer = SummaryWriter(logdir=str(Path(run_dir) / "tb"))

    def log(self, rows):
        for r in rows:
            for k, v in r.items():
                if k not in _SKIP:
                    self.writer.add_scalar(f"{k}/seed_{r['seed']}", v,
                                           global_step=r["iteration"], walltime=None)
        self.writer.flush()

    def close(self):
        self.writer.close()


class WandbLogger:
    def __init__(self, run_dir: Path, config: dict, name: str):
        import wandb
        run_dir = Path(run_dir)
        folder = run_dir / "wandb"
        folder.mkdir(parents=True, exist_ok=True)
        id_file = folder / "run_id"
        if id_file.exists():
            run_id = id_file.read_text().strip()
        else:
            run_id = secrets.token_hex(4)   # a W&B run id: 8 lowercase hex characters
            id_file.write_text(run_id)
        mode = os.environ.get("WANDB_MODE") or (
            "online" if os.environ.get("WANDB_API_KEY") else "offline")
        self.run = wandb.init(project=os.environ.get("WANDB_PROJECT", "dtac-jax"), name=name,
                              id=run_id, resume="allow", dir=str(run_dir), config=config,
                              mode=mode, settings=wandb.Settings(console="off", silent=True))

    def log(self, rows):
        by_iteration: dict[int, dict] = defaultdict(dict)
        for r in rows:
            d = by_iteration[r["iteration"]]
            d["wall_s"] = r["wall_s"]
            d.update({f"{k}/seed_{r['seed']}": v for k, v in r.items() if k not in _SKIP})
        for it in sorted(by_iteration):
            self.run.log(by_iteration[it], step=it)

    def close(self):
        self.run.finish()


def make(backends: Sequence[str], run_dir, config: dict, name: str) -> list[MetricLogger]:
    """One logger per backend name for the run in ``run_dir``."""
    out: list[MetricLogger] = []
    for b in parse(backends):
        out.append(TensorBoardLogger(run_dir) if b == "tensorboard"
                   else WandbLogger(run_dir, config, name))
    return out


def chain(*callbacks: Callable | None) -> Callable | None:
    """One per-chunk callback ``(iterations_done, n, rows)`` calling each given one in turn."""
    cbs = [c for c in callbacks if c is not None]
    if not cbs:
        return None

    def call(done, n, rows):
        for c in cbs:
            c(done, n, rows)
    return call
