"""Run folders under faults (dtac_jax/runfolder.py): one writer per folder, a stale lock taken
over after ``kill -9``, a torn or unsaved tail of ``metrics.jsonl`` dropped on resume (the run
still bit-identical), other damage named by file and line, a failed checkpoint save reported
with the previous checkpoint intact. A toy algorithm keeps every run well under a second."""
import json
import os
import resource
import signal
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dtac_jax import checkpoint as ckpt
from dtac_jax import runfolder
from dtac_jax.train import read_metrics, run_training

# a process that takes the locks of the folders it is given, says so, and holds them until
# its stdin closes (or it is killed)
HOLDER = ("import sys\nfrom dtac_jax import runfolder\nfor f in sys.argv[1:]:\n"
          "    runfolder.claim(f)\nprint('ready', flush=True)\nsys.stdin.read()\n")


def hold(*folders) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, *map(str, folders)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def init(key, size=3):
    return dict(w=jnp.zeros(size), key=key)


def iteration(s):
    key, sub = jax.random.split(s["key"])
    w = s["w"] + jax.random.normal(sub, s["w"].shape)
    return dict(w=w, key=key), dict(loss=jnp.sum(w), objective=jnp.mean(w))


def train(run_dir, iterations, **kw):
    kw = dict(dict(seeds=2, chunk=2, progress=False), **kw)
    return run_training(kw.pop("init", init), iteration, {"kind": "toy"}, run_dir,
                        iterations=iterations, **kw)


def snapshot(folder) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def values(run_dir) -> list[dict]:
    """metrics.jsonl without the wall-clock column."""
    return [{k: v for k, v in r.items() if k != "wall_s"} for r in read_metrics(run_dir)]


def same_state(a, b) -> bool:
    return all(np.array_equal(np.asarray(x), np.asarray(y))
               for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))


def test_second_writer_is_refused_and_a_killed_writers_lock_is_taken_over(tmp_path, capfd):
    run = tmp_path / "run"
    train(run, 2)
    assert (run / runfolder.LOCK).read_text() == ""   # released: emptied
    before = snapshot(run)
    with hold(run) as holder:
        try:
            assert runfolder.holder(run) == str(holder.pid)
            with pytest.raises(runfolder.Locked, match=f"being written by process {holder.pid} "):
                train(run, 4, resume=True)
            assert snapshot(run) == dict(before, **{".lock": f"{holder.pid}\n".encode()})
            assert runfolder._HELD == {}
        finally:
            holder.kill()   # SIGKILL: the lock file still names it, the kernel freed the lock
    assert runfolder.holder(run) is None
    capfd.readouterr()
    train(run, 4, resume=True)
    err = capfd.readouterr().err.strip().splitlines()
    assert err == [f"{run}: process {holder.pid} ended without releasing its lock (killed?): "
                   "taking it over"]
    assert (run / runfolder.LOCK).read_text() == "" and runfolder._HELD == {}
    assert ckpt.latest_step(run) == 4
    # a folder this process holds is entered again (nested writers of one command), and
    # stays held until its outermost holder releases it
    runfolder.claim(run)
    try:
        with runfolder.writing(run):
            runfolder.claim(run)
        assert runfolder.holder(run) == str(os.getpid())
    finally:
        runfolder.release(run)
    assert runfolder.holder(run) is None and runfolder._HELD == {}


def test_torn_and_unsaved_metrics_are_dropped_and_resume_stays_bit_identical(tmp_path, capfd):
    full = train(tmp_path / "full", 6)
    run = tmp_path / "run"
    train(run, 4)
    # killed while writing chunk 3's rows, before its checkpoint: whole rows and a torn one
    rows = (tmp_path / "full" / "metrics.jsonl").read_text().splitlines(True)
    with open(run / "metrics.jsonl", "a") as f:
        f.write(rows[8] + rows[9][:17])
    assert len(read_metrics(run)) == 9     # readers leave the torn line out
    capfd.readouterr()
    resumed = train(run, 6, resume=True)
    err = capfd.readouterr().err.strip().splitlines()
    assert err == [f"{run / 'metrics.jsonl'}: dropped a torn last line (17 bytes) and 1 row "
                   "after iteration 4, written after its last checkpoint; resuming from the "
                   "checkpoint of iteration 4"]
    assert same_state(full, resumed)
    assert values(run) == values(tmp_path / "full")
    # killed before its first checkpoint: resumed, it starts over with a clean file
    early = tmp_path / "early"
    early.mkdir()
    (early / "metrics.jsonl").write_text(rows[0] + rows[1][:5])
    train(early, 6, resume=True)
    assert values(early) == values(tmp_path / "full")


def test_metrics_rows_of_the_former_spelling_are_read_and_rewritten_on_resume(tmp_path, capfd):
    """Rows written before the training counter was renamed (``episode``) read as
    ``iteration``; a resumed run rewrites the file in the current spelling, then goes on."""
    run = tmp_path / "run"
    train(run, 4)
    path = run / "metrics.jsonl"
    current = path.read_text()
    path.write_text(current.replace('"iteration":', '"episode":'))
    assert read_metrics(run) == [json.loads(r) for r in current.splitlines()]
    capfd.readouterr()
    train(run, 6, resume=True)
    assert capfd.readouterr().err.strip().splitlines() == [
        f"{path}: rewritten in the current spelling ('episode' -> 'iteration')"]
    assert '"episode"' not in path.read_text()
    train(tmp_path / "full", 6)
    assert values(run) == values(tmp_path / "full")


@pytest.mark.parametrize("damage, line", [
    (lambda rows: rows[:2] + ["{garbage\n"] + rows[2:], 3),     # a garbage line inside
    (lambda rows: rows + ['{"objective": 1.0}\n'], 5),          # a complete line, not a row
    (lambda rows: rows[:1] + ["[1, 2]\n"], 2),                  # JSON, not an object
], ids=["garbage-inside", "complete-last-line", "not-an-object"])
def test_other_damage_to_metrics_is_named_and_nothing_is_rewritten(tmp_path, damage, line):
    run = tmp_path / "run"
    train(run, 2)
    rows = (run / "metrics.jsonl").read_text().splitlines(True)
    (run / "metrics.jsonl").write_text("".join(damage(rows)))
    before = snapshot(run)
    where = f"{run / 'metrics.jsonl'} line {line} is damaged"
    with pytest.raises(runfolder.RunFolderError, match=where):
        train(run, 4, resume=True)
    with pytest.raises(runfolder.RunFolderError, match=where):
        read_metrics(run)
    assert snapshot(run) == before and runfolder._HELD == {}


def test_damaged_config_is_named(tmp_path):
    run = tmp_path / "run"
    train(run, 2)
    (run / "config.json").write_text('{"kind": "to\x01y"}')
    with pytest.raises(runfolder.RunFolderError) as err:
        train(run, 4, resume=True)
    assert str(err.value) == (f"run folder {run}: config.json is not valid JSON (line 1 column "
                              "13: Invalid control character at): the file is damaged")
    (run / "config.json").write_text("[]")
    with pytest.raises(runfolder.RunFolderError, match="config.json holds no JSON object"):
        ckpt.read_config(run)


def test_a_failed_checkpoint_save_is_one_error_and_keeps_the_previous_one(tmp_path, capfd):
    """A write that fails mid-save (here: the file-size limit, as a full disk would) raises
    one line; the checkpoint before it stays whole, and resuming from it gives the run an
    uninterrupted one does."""
    big = dict(init=lambda key: init(key, 20_000))   # 80 kB per seed: past the limit below
    full = train(tmp_path / "full", 4, **big)
    run = tmp_path / "run"
    train(run, 2, **big)
    old = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # EFBIG instead of a signal
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (32_000, limit[1]))
    try:
        with pytest.raises(runfolder.RunFolderError) as err:
            train(run, 4, resume=True, **big)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limit)
        signal.signal(signal.SIGXFSZ, old)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"run folder {run}: saving the checkpoint of "
                                              "iteration 4 failed (")
    assert msg.endswith("the checkpoint of iteration 2 is intact: make room or fix the folder's "
                        "permissions, then resume")
    assert "Traceback" not in capfd.readouterr().err
    assert ckpt.latest_step(run) == 2 and runfolder._HELD == {}
    resumed = train(run, 4, resume=True, **big)
    assert same_state(full, resumed)
    assert values(run) == values(tmp_path / "full")


def test_parse_metrics_rule():
    """The rule in dtac_jax/runfolder.py, on bytes: a last line without its newline is torn."""
    import tempfile
    from pathlib import Path
    row = json.dumps(dict(iteration=1, seed=0, loss=float("nan")))
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "metrics.jsonl"
        for text, rows, torn in [("", 0, b""), (row + "\n", 1, b""), (row, 0, row.encode()),
                                 (row + "\n\n" + row + "\n", 2, b""),
                                 (row + "\n" + "{\"epi", 1, b"{\"epi")]:
            p.write_text(text)
            got, got_torn, former = runfolder.parse_metrics(p)
            assert (len(got), got_torn, former) == (rows, torn, False), text
        old = row.replace('"iteration"', '"episode"')   # a row written before the rename
        p.write_text(row + "\n" + old + "\n" + old)
        got, got_torn, former = runfolder.parse_metrics(p)
        assert got == [json.loads(row)] * 2 and got_torn == old.encode() and former
        p.write_bytes(row.encode() + b"\n\x00\x00\n")
        with pytest.raises(runfolder.RunFolderError, match="line 2 is damaged"):
            runfolder.parse_metrics(p)
