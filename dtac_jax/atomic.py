"""Atomic file writes: a file is either its old content or its new one, never half written.

Every writer goes through :func:`replacing`: the content goes to a temporary file in the target's
folder (``.<name>.<random>.tmp``), is flushed to disk, and :func:`os.replace` puts it in place
in one step. A process killed at any moment (``kill -9``) leaves the previous file intact, or
no file, plus at most a stray temporary file, which :func:`remove_stale` clears. The
reproduction (:mod:`dtac_jax.reproduce`) writes its stage records, CSVs, sections, figures,
tables and report this way, so a file that exists is a finished one.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

SUFFIX = ".tmp"


@contextmanager
def replacing(path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write; when the block ends without an error
    the file is flushed to disk and moved onto ``path`` (:func:`os.replace`), else removed.
    The temporary name ends in ``.tmp``, not in ``path``'s extension: a writer that infers a
    format from the name (``savefig``) must be given it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=SUFFIX, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_atomic(path, data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8, or bytes) to ``path`` atomically; returns ``path``."""
    with replacing(path) as tmp:
        if isinstance(data, str):
            tmp.write_text(data, encoding="utf-8")
        else:
            tmp.write_bytes(data)
    return Path(path)


def write_csv_atomic(path, rows: list[dict], columns: list[str]) -> Path:
    """Write ``rows`` (dicts) under the header ``columns`` to the CSV ``path`` atomically."""
    import csv
    import io
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=columns)
    w.writeheader()
    w.writerows(rows)
    return write_atomic(path, buf.getvalue())


def remove_stale(folder) -> int:
    """Delete the temporary files that writers killed in ``folder`` left (not recursive);
    returns how many. Only for a folder that no other process is writing."""
    n = 0
    for p in Path(folder).glob(f".*{SUFFIX}"):
        try:
            p.unlink()
            n += 1
        except FileNotFoundError:
            pass
    return n
