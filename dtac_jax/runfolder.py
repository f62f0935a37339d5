"""Run folders that survive faults: one writer per folder, and damaged files named.

**One writer.** A folder that a command writes (a training run, a sweep, the root of a
reproduction) is locked with :func:`fcntl.flock` on ``<folder>/.lock``; the file holds the
writer's process id while it writes and is emptied when it finishes. A second process on the
same folder is refused with :class:`Locked`, one line naming the holder's process id. The
kernel drops a process's locks when it dies, so a lock left by a killed process is free: the
next writer takes it over, and says so on stderr (the file still names the dead process).
Functions that write a folder carry :func:`one_writer`, which refuses a busy folder or a
path through a file at once and releases the lock when the call ends; they call
:func:`claim` once their read-only checks have passed, so a refused command leaves the folder
as it was. Only process 0 of a multi-process run takes the lock.

**metrics.jsonl.** The driver writes whole lines, each ending in a newline. Hence the rule:

* a last line without its newline is a torn write (a process killed mid-write): readers
  ignore it, and a resumed run drops it and says so on stderr;
* every other non-empty line must be a JSON object with integer ``iteration`` and ``seed``;
  any other line, in the middle or at the end of the file, is damage that no kill leaves:
  :class:`RunFolderError` naming the file and line, and nothing is rewritten;
* on resume, rows of iterations after the checkpoint (a chunk whose checkpoint was never
  saved) are dropped as well, so the resumed file holds what an uninterrupted run writes;
* a key renamed since the file was written (:data:`RENAMED_KEYS`) is read under its current
  name, and a resumed run rewrites the file in the current spelling.

Every error here is a :class:`RunFolderError` (a ``ValueError``) with a one-line message.
"""
from __future__ import annotations

import fcntl
import functools
import inspect
import json
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

LOCK = ".lock"
METRICS = "metrics.jsonl"
#: keys of ``metrics.jsonl`` rows (and of ``config.json``'s resume records) renamed since runs
#: were written: former -> current
RENAMED_KEYS = {"episode": "iteration"}


class RunFolderError(ValueError):
    """A run folder that cannot be used as asked (busy, damaged, or not a folder); the
    message is one line naming the folder or file."""


class Locked(RunFolderError):
    """The folder is being written by another process."""


_HELD: dict[str, int] = {}   # realpath of a folder -> file descriptor of its lock file


def report(message: str) -> None:
    """One line on stderr about a repaired or taken-over run folder."""
    print(message, file=sys.stderr, flush=True)


def _key(folder) -> str:
    return os.path.realpath(folder)


def check_out(folder, what: str = "--out") -> None:
    """Refuse ``folder`` for writing when it (or a folder above it) is a file, or when
    another process holds its lock. Reads only."""
    folder = Path(folder)
    p = folder
    while not os.path.lexists(p) and p != p.parent:
        p = p.parent
    if os.path.lexists(p) and not p.is_dir():
        where = "is a file" if p == folder else f"is inside {p}, which is a file"
        raise RunFolderError(f"{what} {folder} {where}, not a folder: choose another {what}")
    if _key(folder) not in _HELD:
        pid = holder(folder)
        if pid is not None:
            raise _locked(folder, pid)


def holder(folder) -> str | None:
    """The process id (as written) of the process that holds ``folder``'s lock, ``"?"`` if
    it holds the lock but has not written its id yet, or None when the lock is free."""
    try:
        fd = os.open(Path(folder) / LOCK, os.O_RDONLY)
    except OSError:       # no lock file (or no folder): nobody holds it
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read(fd) or "?"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read(fd: int) -> str:
    return os.pread(fd, 64, 0).decode(errors="replace").strip()


def _locked(folder, pid: str) -> Locked:
    return Locked(f"{folder} is being written by process {pid} (lock {Path(folder) / LOCK}): "
                  "wait for it to finish or stop it, or choose another --out")


def _is_main_process() -> bool:
    if "jax" not in sys.modules:
        return True
    import jax
    return jax.process_index() == 0


def claim(folder, retries: int = 20) -> None:
    """Take ``folder``'s lock for this process (creating the folder), or raise
    :class:`Locked` naming the holder. A no-op when this process holds it already, or on a
    process other than 0 of a multi-process run. Held until :func:`release`, the end of the
    enclosing :func:`one_writer` call, or the end of the process."""
    key = _key(folder)
    if key in _HELD or not _is_main_process():
        return
    check_out(folder)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    for attempt in range(retries + 1):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:  # held, or another process's check_out probing it just now
            if attempt == retries:
                pid = _read(fd) or "?"
                os.close(fd)
                raise _locked(folder, pid) from None
            time.sleep(0.01)
    previous = _read(fd)
    if previous and previous != str(os.getpid()):
        report(f"{folder}: process {previous} ended without releasing its lock (killed?): "
               "taking it over")
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _HELD[key] = fd


def release(folder) -> None:
    """Release ``folder``'s lock if this process holds it (the lock file is emptied)."""
    fd = _HELD.pop(_key(folder), None)
    if fd is not None:
        try:
            os.ftruncate(fd, 0)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


@contextmanager
def writing(folder):
    """Refuse ``folder`` now if :func:`check_out` does; at the end, release the lock that
    :func:`claim` took inside the block (a lock held before the block stays held)."""
    key = _key(folder)
    held_before = key in _HELD
    if not held_before:
        check_out(folder)
    try:
        yield
    finally:
        if not held_before:
            release(folder)


def one_writer(folder_of: str | Callable[[dict], object]):
    """Decorator for a function that writes a folder: ``folder_of`` is the name of the
    argument holding it, or a function of the bound arguments (a dict) returning it. Each
    call runs inside :func:`writing` of that folder; the function calls :func:`claim` before
    its first write."""
    def decorate(fn):
        sig = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapped(*args, **kw):
            bound = sig.bind(*args, **kw)
            bound.apply_defaults()
            a = bound.arguments
            folder = a[folder_of] if isinstance(folder_of, str) else folder_of(a)
            with writing(folder):
                return fn(*args, **kw)
        return wrapped
    return decorate


# ---------------------------------------------------------------------------- metrics.jsonl
def current_keys(row: dict) -> dict:
    """``row`` with the keys :data:`RENAMED_KEYS` lists under their current names."""
    return {RENAMED_KEYS.get(k, k): v for k, v in row.items()}


def parse_metrics(path) -> tuple[list[dict], bytes, bool]:
    """``(rows, torn, former)``: the rows of a ``metrics.jsonl`` in the current spelling
    (:func:`current_keys`), its torn last line (``b""`` when the file ends in a newline) and
    whether any row used a former key. Raises :class:`RunFolderError` naming the file and
    line of any other damage (see the module's rule)."""
    path = Path(path)
    data = path.read_bytes()
    body, _, torn = data.rpartition(b"\n")   # no newline at all: one torn line
    rows, former = [], False
    for i, raw in enumerate(body.split(b"\n") if body else [], 1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except ValueError as err:
            raise RunFolderError(f"{path} line {i} is damaged (not a JSON row: "
                                 f"{_msg(err)}): repair or delete the line, or start the "
                                 "run again") from None
        if isinstance(row, dict) and any(k in row for k in RENAMED_KEYS):
            former, row = True, current_keys(row)
        if not (isinstance(row, dict) and isinstance(row.get("iteration"), int)
                and isinstance(row.get("seed"), int)):
            raise RunFolderError(f"{path} line {i} is damaged (not a metrics row with integer "
                                 "iteration and seed): repair or delete the line, or start "
                                 "the run again")
        rows.append(row)
    return rows, torn, former


def _msg(err: Exception) -> str:
    return str(err).splitlines()[0] if str(err) else type(err).__name__


def read_metrics(run_dir) -> list[dict]:
    """The rows of ``run_dir/metrics.jsonl``, a torn last line left out."""
    path = Path(run_dir) / METRICS
    if not path.exists():
        raise FileNotFoundError(f"no metrics at {path}")
    return parse_metrics(path)[0]


def check_metrics(run_dir) -> None:
    """Raise :class:`RunFolderError` if ``run_dir/metrics.jsonl`` is damaged (a torn last
    line is not damage). Reads only."""
    path = Path(run_dir) / METRICS
    if path.exists():
        parse_metrics(path)


def trim_metrics(run_dir, iteration: int) -> None:
    """Make ``run_dir/metrics.jsonl`` hold only the rows of iterations up to ``iteration``
    (the checkpoint a run resumes from), in the current spelling: a torn last line and the
    rows of a chunk whose checkpoint was never saved are dropped, rows with a former key
    (:data:`RENAMED_KEYS`) rewritten (the file atomically), each reported in one line."""
    path = Path(run_dir) / METRICS
    if not path.exists() or not _is_main_process():
        return
    rows, torn, former = parse_metrics(path)
    keep = [r for r in rows if r["iteration"] <= iteration]
    if not torn and len(keep) == len(rows) and not former:
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")   # whole file or the old one
    with open(tmp, "w") as f:
        f.write("".join(json.dumps(r) + "\n" for r in keep))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    if former:
        report(f"{path}: rewritten in the current spelling ("
               + ", ".join(f"{old!r} -> {new!r}" for old, new in RENAMED_KEYS.items()) + ")")
    extra = len(rows) - len(keep)
    parts = ([f"a torn last line ({len(torn)} bytes)"] if torn else []) + (
        [f"{extra} row{'s' * (extra != 1)} after iteration {iteration}"] if extra else [])
    if parts:
        report(f"{path}: dropped {' and '.join(parts)}, written after its last checkpoint; "
               f"resuming from the checkpoint of iteration {iteration}")


def read_json(path, folder: str = "run folder") -> dict:
    """The JSON object in ``path``, or :class:`RunFolderError` naming the ``folder`` (a run
    folder), the file, the place and the problem."""
    path = Path(path)
    where = f"{folder} {path.parent}: {path.name}"
    try:
        data = json.loads(path.read_bytes())
    except json.JSONDecodeError as err:
        raise RunFolderError(f"{where} is not valid JSON (line {err.lineno} column {err.colno}: "
                             f"{err.msg}): the file is damaged") from None
    except ValueError as err:   # not UTF-8
        raise RunFolderError(f"{where} is not valid JSON ({_msg(err)}): the file is "
                             "damaged") from None
    if not isinstance(data, dict):
        raise RunFolderError(f"{where} holds no JSON object: the file is damaged")
    return data
