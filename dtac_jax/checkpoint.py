"""Orbax checkpoints of whole training states, with the run's config as JSON beside them.

A run folder holds ``config.json`` (scenario, algorithm config, seeds, kind),
``ckpt/<iteration>`` (Orbax, the full pytree state: parameters, optimiser states, replay
buffer, environment states, PRNG keys, iteration counter) and ``metrics.jsonl``. Restoring
checks the stored config against the expected one and names the first field that differs.
A checkpoint written before a state field was renamed (:data:`RENAMED_FIELDS`) or in an
earlier layout of the state (an algorithm's ``upgrade``) restores into the current one.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any, Callable

import jax
import orbax.checkpoint as ocp

from dtac_jax import runfolder
from dtac_jax.atomic import write_atomic


class CheckpointMismatch(ValueError):
    """A checkpoint made for another scenario, algorithm or network shape."""


#: ``config.json``'s record of the settings changed on resume (:func:`record_changes`).
RESUMED = "resumed"

#: top-level fields of the training states renamed since checkpoints were written, former name
#: -> current name, for every algorithm: :func:`restore` reads a checkpoint that holds a former
#: name into the current field
RENAMED_FIELDS = {"episode": "iteration"}


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        out = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    if isinstance(d, (list, tuple)):
        return {prefix[:-1]: list(d)}
    return {prefix[:-1]: d}


def first_difference(expected: dict, found: dict) -> str | None:
    """``"field: checkpoint has X, expected Y"`` for the first differing field, or None."""
    fe, ff = _flatten(expected), _flatten(found)
    for k in sorted(set(fe) | set(ff)):
        if fe.get(k, "<missing>") != ff.get(k, "<missing>"):
            return (f"{k}: checkpoint has {ff.get(k, '<missing>')!r}, expected "
                    f"{fe.get(k, '<missing>')!r}")
    return None


def _normalise(cfg: dict) -> dict:
    return json.loads(json.dumps(cfg))  # tuples -> lists, as stored


def write_config(run_dir: Path, config: dict) -> None:
    write_atomic(Path(run_dir) / "config.json", json.dumps(config, indent=2, sort_keys=True))


def read_config(run_dir: Path) -> dict:
    path = Path(run_dir) / "config.json"
    if not path.exists():
        raise FileNotFoundError(f"no run found at {run_dir} (missing {path})")
    return runfolder.read_json(path)   # a damaged file: one line naming it


def changed_settings(expected: dict, found: dict, resumable=frozenset()) -> dict[str, tuple]:
    """The fields of the algorithm's section (under the run's ``kind``) named in
    ``resumable`` (dotted, relative to the section: the config class's
    :func:`~dtac_jax.config.resumable`) whose value in ``expected`` differs from the stored
    config ``found``: ``{dotted field: (stored, expected)}``. Every other field must equal the
    stored one, and the iteration budget is not stored at all."""
    kind = found.get("kind")
    fe, ff = _flatten(_normalise(expected)), _flatten(found)
    return {k: (ff[k], fe[k]) for k in sorted(set(fe) & set(ff))
            if k.startswith(f"{kind}.") and k[len(kind) + 1:] in resumable and fe[k] != ff[k]}


def record_changes(run_dir: Path, expected: dict, found: dict, iteration: int,
                   resumable=frozenset()) -> dict:
    """Store ``expected`` as the run's config, with the ``resumable`` fields it changes
    listed under :data:`RESUMED` (``{"iteration": resumed from, "changed": {field: [old,
    new]}}``, one entry per resume that changed any; earlier entries are kept, in the current
    spelling: :func:`~dtac_jax.runfolder.current_keys`); returns the changes."""
    changes = changed_settings(expected, found, resumable)
    if changes:
        history = ([runfolder.current_keys(h) for h in found.get(RESUMED, [])]
                   + [dict(iteration=iteration, changed=changes)])
        write_config(Path(run_dir), dict(expected, **{RESUMED: history}))
    return changes


def check_config(run_dir: Path, expected: dict, resumable=frozenset(),
                 read_as: Callable[[dict], dict] | None = None) -> dict:
    """The run's stored config; raise :class:`CheckpointMismatch` naming the first field that
    differs from ``expected``. The ``resumable`` fields may differ (:func:`changed_settings`;
    :func:`record_changes` stores the new values). ``read_as`` maps the stored config to the
    spelling ``expected`` is in before they are compared (fields renamed or added since the
    run was written, :meth:`dtac_jax.config.Config.from_dict`); what it returns is returned,
    and a ``ValueError``, ``TypeError`` or ``KeyError`` from it is a mismatch."""
    found = read_config(run_dir)
    if read_as is not None:
        try:
            found = read_as(found)
        except (ValueError, TypeError, KeyError) as err:
            raise CheckpointMismatch(f"checkpoint at {run_dir} was made for another "
                                     f"configuration ({err})") from None
    same = {k: v for k, v in found.items() if k != RESUMED}
    flat = _flatten(same)
    flat.update({k: new for k, (_, new) in changed_settings(expected, found,
                                                             resumable).items()})
    diff = first_difference(_normalise(expected), flat)
    if diff:
        raise CheckpointMismatch(f"checkpoint at {run_dir} was made for another configuration "
                                 f"({diff})")
    return found


def manager(run_dir: Path, max_to_keep: int = 2) -> ocp.CheckpointManager:
    return ocp.CheckpointManager(Path(run_dir).absolute() / "ckpt",
                                 options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep))


def save(mngr: ocp.CheckpointManager, step: int, state) -> None:
    """Save ``state`` as step ``step``. A failed save (a full disk, a read-only folder)
    raises :class:`~dtac_jax.runfolder.RunFolderError` in one line; Orbax writes into a
    temporary folder and renames it when complete, so the previous checkpoint stays whole."""
    absl = logging.getLogger("absl")
    level = absl.level
    absl.setLevel(logging.CRITICAL)   # Orbax logs a failed write's traceback; it is raised below
    try:
        mngr.save(step, args=ocp.args.StandardSave(state))
        mngr.wait_until_finished()
    except Exception as err:
        run_dir = Path(mngr.directory).parent
        try:
            kept = latest_step(run_dir)
        except Exception:
            kept = None
        kept = (f"the checkpoint of iteration {kept} is intact" if kept is not None
                else "no checkpoint was saved before")
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        reason = reason if len(reason) <= 300 else reason[:300] + "..."
        raise runfolder.RunFolderError(
            f"run folder {run_dir}: saving the checkpoint of iteration {step} "
            f"failed ({reason}); {kept}: make room or fix the folder's permissions, then "
            "resume") from err
    finally:
        absl.setLevel(level)


def latest_step(run_dir: Path) -> int | None:
    if not (Path(run_dir) / "ckpt").exists():
        return None
    return manager(run_dir).latest_step()


def restore(run_dir: Path, like, step: int | None = None,
            upgrade: Callable[[Any], tuple[Any, Callable]] | None = None):
    """Restore the state saved in ``run_dir`` into the structure of ``like``.

    ``upgrade(like) -> (old_like, convert)``, when given, names an earlier layout of the same
    state: a checkpoint that does not fit ``like`` is restored into ``old_like`` and returned
    as ``convert(restored)`` (a run written by an earlier version loads and resumes). Either
    layout is also tried with its :data:`RENAMED_FIELDS` under their former names."""
    mngr = manager(run_dir)
    step = mngr.latest_step() if step is None else step
    if step is None:
        raise FileNotFoundError(f"no checkpoint in {run_dir / 'ckpt'}")

    def into(target):
        abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, target)
        return mngr.restore(step, args=ocp.args.StandardRestore(abstract))
    first = None
    for target, convert in _layouts(like, upgrade):
        try:
            return convert(into(target)), step
        except ValueError as err:  # shapes or tree structure differ
            first = err if first is None else first
    raise CheckpointMismatch(f"checkpoint at {run_dir} does not fit this configuration: "
                             f"{str(first).splitlines()[0]}")


def _layouts(like, upgrade: Callable | None):
    """The ``(target, convert)`` pairs :func:`restore` tries, current first: ``like``, then
    the layout ``upgrade`` names, each followed by its spelling with former field names."""
    yield from _spellings(like, lambda state: state)
    if upgrade is not None:
        yield from _spellings(*upgrade(like))


def _spellings(layout, convert: Callable):
    """``(layout, convert)``, then, when ``layout`` is a dataclass with a field that
    :data:`RENAMED_FIELDS` renames, its top-level fields as a dict under their former names
    with the conversion back to ``layout``'s class before ``convert``."""
    yield layout, convert
    if not dataclasses.is_dataclass(layout):
        return
    names = [f.name for f in dataclasses.fields(layout)]
    former = {new: old for old, new in RENAMED_FIELDS.items() if new in names}
    if former:
        yield ({former.get(n, n): getattr(layout, n) for n in names},
               lambda d: convert(dataclasses.replace(layout, **{n: d[former.get(n, n)]
                                                                for n in names})))


def restore_part(run_dir: Path, field: str, step: int | None = None):
    """The ``field`` entry of the state saved in ``run_dir`` (a pytree of arrays, the seed
    axis first), read alone: no other part of the checkpoint is read, and no structure to
    restore into is needed (a delivered policy deploys from its run folder alone)."""
    mngr = ocp.CheckpointManager(Path(run_dir).absolute() / "ckpt",
                                 item_handlers=ocp.PyTreeCheckpointHandler())
    step = mngr.latest_step() if step is None else step
    if step is None:
        raise FileNotFoundError(f"no checkpoint in {Path(run_dir) / 'ckpt'}")
    tree = mngr.item_metadata(step).tree
    if field not in tree:
        raise CheckpointMismatch(f"checkpoint at {run_dir} holds no {field!r} (it holds "
                                 f"{', '.join(sorted(tree))})")
    like = {field: jax.tree_util.tree_map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype),
                                          tree[field])}
    restored = mngr.restore(step, args=ocp.args.PyTreeRestore(
        like, restore_args=ocp.checkpoint_utils.construct_restore_args(like),
        partial_restore=True))
    return jax.tree_util.tree_map(jax.numpy.asarray, restored[field])
