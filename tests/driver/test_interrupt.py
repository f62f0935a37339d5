"""A clean stop: SIGINT or SIGTERM while a checkpoint is saved finishes that save, prints one
line naming the iteration and the checkpoint, exits 130 / 143, leaves no temporary checkpoint
folder, and the resumed run equals an uninterrupted one bit for bit."""
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import orbax.checkpoint as ocp
import pytest

from dtac_jax import checkpoint as ckpt
from dtac_jax import interrupt
from test_interrupted_save import decay, rows

CHILD = Path(__file__).with_name("interrupt_child.py")


def signal_during_save(monkeypatch, signum, at):
    """Orbax's wait for the checkpoint of iteration ``at`` first sends ``signum`` to this
    process: the signal arrives while the save is in flight."""
    wait = ocp.CheckpointManager.wait_until_finished

    def wait_with_signal(self):
        if self.latest_step() == at or any(p.name.startswith(f"{at}.") for p in
                                           Path(self.directory).iterdir()):
            os.kill(os.getpid(), signum)
        return wait(self)

    monkeypatch.setattr(ocp.CheckpointManager, "wait_until_finished", wait_with_signal)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_a_save_stops_at_that_checkpoint_and_resume_is_bit_identical(
        tmp_path, monkeypatch, signum):
    assert threading.current_thread() is threading.main_thread()   # handlers need it
    before = {s: signal.getsignal(s) for s in interrupt.SIGNALS}
    whole = decay(8, tmp_path / "whole")
    run = tmp_path / "run"
    with monkeypatch.context() as m:
        signal_during_save(m, signum, 4)
        with pytest.raises(interrupt.Interrupted) as err:
            decay(8, run)
    assert err.value.signum == signum and err.value.exit_code == 128 + signum
    assert err.value.line() == (f"train in {run}: interrupted at iteration 4; the last checkpoint "
                                "is iteration 4; rerun to resume")
    assert {s: signal.getsignal(s) for s in interrupt.SIGNALS} == before   # handlers restored
    assert ckpt.latest_step(run) == 4
    assert sorted(p.name for p in (run / "ckpt").iterdir()) == ["2", "4"]   # no *-tmp folder
    assert rows(run) == rows(tmp_path / "whole")[:8]                       # iterations 1-4
    state = decay(8, run, resume=True)
    assert rows(run) == rows(tmp_path / "whole")
    np.testing.assert_array_equal(np.asarray(state["w"]), np.asarray(whole["w"]))
    np.testing.assert_array_equal(np.asarray(state["t"]), np.asarray(whole["t"]))


@pytest.mark.slow
@pytest.mark.parametrize("name,code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_the_cli_prints_one_line_and_exits_with_the_signals_code(tmp_path, name, code):
    """``dtac train`` (the toy algorithm of tests/algos) sent ``name`` while it saves the
    checkpoint of iteration 2 of 4, then resumed: one line, no traceback, the exit code, and
    the resumed run's metrics and delivered state equal an uninterrupted run's."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(CHILD.parents[1]), os.environ.get("PYTHONPATH", "")]))

    def child(out, *extra, signal_name=name, at=2):
        return subprocess.run([sys.executable, str(CHILD), signal_name, str(at), str(out),
                               *extra], capture_output=True, text=True, env=env, timeout=300)

    stopped = child(tmp_path / "run")
    assert stopped.returncode == code, stopped.stderr[-2000:]
    assert "Traceback" not in stopped.stderr
    said = [ln for ln in stopped.stderr.splitlines() if "interrupted" in ln]
    assert said == [f"dtac train: Toy in {tmp_path / 'run'}: interrupted at iteration 2; the last "
                    "checkpoint is iteration 2; rerun with --resume to continue"]
    assert sorted(p.name for p in (tmp_path / "run" / "ckpt").iterdir()) == ["1", "2"]
    assert child(tmp_path / "run", "--resume", at=0).returncode == 0
    assert child(tmp_path / "whole", at=0).returncode == 0
    assert rows(tmp_path / "run") == rows(tmp_path / "whole")
    for field in ("best", "logits", "best_score"):
        np.testing.assert_array_equal(ckpt.restore_part(tmp_path / "run", field),
                                      ckpt.restore_part(tmp_path / "whole", field))
