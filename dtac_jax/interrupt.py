"""A clean stop on Ctrl-C (SIGINT) or SIGTERM: at a checkpoint, one line, exit 130 or 143.

The training driver (:func:`dtac_jax.train.run_training`) runs its chunks inside
:func:`deferred`: a signal that arrives while a chunk computes, while its metrics rows are
written or while its checkpoint is saved only sets a flag, so Orbax finishes the save (no
``*.orbax-checkpoint-tmp`` folder is left) and ``metrics.jsonl`` ends at that checkpoint. The
driver then raises :class:`Interrupted`, whose :meth:`~Interrupted.line` the command prints
(``interrupted at iteration K; the last checkpoint is iteration J; rerun to resume``), and the
command line exits with ``128 + signal`` (130 for SIGINT, 143 for SIGTERM), as a shell reports
a process stopped by that signal. A run resumed afterwards computes what an uninterrupted one
does (the driver's chunks are absolute).

Outside :func:`deferred` the command line turns SIGTERM into the same exception as SIGINT's
``KeyboardInterrupt`` (:func:`terminate_as_interrupt`): both print one line and exit with the
signal's code, never a traceback.
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """The process was asked to stop by ``signum`` while running ``what``, after
    ``iteration`` training iterations, its last checkpoint that of iteration ``checkpoint``
    (both None outside a run)."""

    def __init__(self, signum: int, what: str = "", iteration: int | None = None,
                 checkpoint: int | None = None):
        super().__init__(what)
        self.signum, self.what = int(signum), what
        self.iteration, self.checkpoint = iteration, checkpoint

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    def line(self, resume: str = "rerun to resume") -> str:
        """The one line to print; ``resume`` says how the command resumes."""
        where = f"{self.what}: " if self.what else ""
        if self.iteration is None:
            return f"{where}interrupted"
        return (f"{where}interrupted at iteration {self.iteration}; the last checkpoint is "
                f"iteration {self.checkpoint}; {resume}")


class Flag:
    """Which signal arrived inside :func:`deferred` (``signum``, None while none has)."""

    def __init__(self):
        self.signum: int | None = None

    def __bool__(self) -> bool:
        return self.signum is not None


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def deferred():
    """Within the block, SIGINT and SIGTERM set the yielded :class:`Flag` instead of stopping
    the process; the caller checks it at its safe points and raises :class:`Interrupted`.
    The previous handlers are back when the block ends. Off the main thread (where Python
    cannot install handlers) the flag stays unset and signals act as they would."""
    flag = Flag()
    if not _in_main_thread():
        yield flag
        return

    def note(signum, frame):
        if flag.signum is None:
            flag.signum = signum

    previous = {s: signal.signal(s, note) for s in SIGNALS}
    try:
        yield flag
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _raise_terminated(signum, frame):
    raise Interrupted(signum)


def terminate_as_interrupt() -> None:
    """SIGTERM raises :class:`Interrupted` (as SIGINT raises ``KeyboardInterrupt``), so a
    terminated command stops through the same one-line path. Main thread only."""
    if _in_main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)


def exit_code(err: KeyboardInterrupt) -> int:
    """130 for Ctrl-C, ``128 + signal`` for an :class:`Interrupted`."""
    return err.exit_code if isinstance(err, Interrupted) else 128 + signal.SIGINT


def line(err: KeyboardInterrupt, resume: str = "rerun to resume") -> str:
    """The one line a command prints for ``err``."""
    return err.line(resume) if isinstance(err, Interrupted) else "interrupted"
