"""Bad input to every command, as a table: each command line ends with exit code 2 and one line
on stderr that names the problem, no traceback, and leaves every existing run folder as it
was (each file's bytes compared before and after; a refused command creates nothing either).

The commands run in this process (``cli.main``) against a folder of small fake runs: TAC and
HAPPO run folders with a checkpoint, damaged ones, a sweep, a plain file, and folders that a
second process holds locked."""
import json
import subprocess
import sys

import jax
import numpy as np
import pytest

from dtac_jax import checkpoint as ckpt
from dtac_jax import cli, parallel, runfolder
from dtac_jax.env import make_scenario

# E/ is the folder of existing runs, PID the process holding E/locked, E/lockedsweep and
# E/lockedrepro/tiny
CASES = [
    # presets and ranges
    ("train-tac --preset huge", "argument --preset: invalid choice: 'huge'"),
    ("evaluate --preset huge --policies random", "argument --preset: invalid choice: 'huge'"),
    ("train tac --preset huge", "argument --preset: invalid choice: 'huge'"),
    ("train-tac --iterations 0 --out E/new", "TACConfig.iterations must be >= 1"),
    ("train-tac --seeds 0 --out E/new", "iterations, seeds and chunk must all be >= 1"),
    ("train-tac --chunk 0 --out E/new", "iterations, seeds and chunk must all be >= 1"),
    ("train-tac --envs 0 --out E/new", "envs must be >= 1"),
    ("train-tac --lr-actor -1 --out E/new", "lr_actor must be > 0"),
    ("train-happo --iterations 0 --out E/new", "HAPPOConfig.iterations must be >= 1"),
    ("transfer --iterations 0 --tac E/tac --out E/new", "TransferConfig.iterations must be >= 1"),
    ("evaluate --episodes 0 --policies random --out E/new", "episodes must be >= 1"),
    ("evaluate --rounds 0 --policies random --out E/new", "rounds must be >= 1"),
    ("evaluate --policies nosuch --out E/new", "unknown policy 'nosuch'"),
    ("train nosuch", "argument algorithm: invalid choice: 'nosuch'"),
    ("train tac --set nope=1 --out E/new", "unknown TACConfig field(s): nope"),
    # paths
    ("train-tac --out E/afile", "--out E/afile is a file, not a folder"),
    ("train tac --out E/afile/run", "--out E/afile/run is inside E/afile, which is a file"),
    ("evaluate --policies random --out E/afile", "--out E/afile is a file, not a folder"),
    ("sweep --grid lr=1e-3 --out E/afile", "--out E/afile is a file, not a folder"),
    ("reproduce --profile tiny --out E/afile", "--out E/afile/tiny is inside E/afile"),
    ("transfer --tac E/missing --out E/new", "no run found at E/missing"),
    ("evaluate --policies random --runs E/missing --out E/new", "no run found at E/missing"),
    ("train tac --config E/missing.yaml --out E/new", "config file E/missing.yaml does not exist"),
    # damaged runs
    ("train-tac --resume --out E/garbage_mid", "E/garbage_mid/metrics.jsonl line 2 is damaged"),
    ("train-tac --resume --out E/garbage_last",
     "E/garbage_last/metrics.jsonl line 3 is damaged"),
    ("train-tac --resume --out E/badconfig",
     "run folder E/badconfig: config.json is not valid JSON (line 1 column 18: Invalid control"),
    ("evaluate --policies random --runs E/badconfig --out E/new",
     "run folder E/badconfig: config.json is not valid JSON"),
    ("transfer --tac E/badconfig --out E/new",
     "run folder E/badconfig: config.json is not valid JSON"),
    ("train-tac --out E/tac", "E/tac already holds a checkpoint: pass --resume"),
    ("train-tac --resume --out E/tac", "checkpoint at E/tac was made for another configuration"),
    # wrong kinds
    ("transfer --tac E/happo --out E/new", "E/happo is not a tac run (kind 'happo')"),
    ("train tl --from tac=E/happo --out E/new", "E/happo is not a tac run (kind 'happo')"),
    ("train-happo --resume --out E/tac", "checkpoint at E/tac was made for another config"),
    # bad grids
    ("sweep --grid speed=1,2 --out E/new", "unknown sweep parameter 'speed'"),
    ("sweep --grid lr= --out E/new", "bad --grid 'lr=': expected NAME=V1,V2,..."),
    ("sweep --grid lr=1e-3,1e-3 --out E/new", "--grid lr: repeated value"),
    ("sweep --grid lr=abc --out E/new", "--grid lr: 'abc' is not a valid float"),
    ("sweep --grid iterations=0 --out E/new", "TACConfig.iterations must be >= 1"),
    ("sweep --grid lr=1e-3 --out E/sweep", "E/sweep holds a sweep with other settings"),
    ("sweep --grid lr=1e-3 --out E/badsweep",
     "sweep folder E/badsweep: sweep.json is not valid JSON (line 1 column 2"),
    # devices
    ("--devices 0 train-tac --out E/new", "--devices must be >= 1, got 0"),
    ("--devices 99 train-tac --out E/new", "asked for 99 devices"),
    ("--devices 99 evaluate --policies random --out E/new", "asked for 99 devices"),
    ("--devices many evaluate", "argument --devices: invalid int value: 'many'"),
    # reproduce
    ("reproduce --profile nosuch --out E/new", "'nosuch'"),
    ("reproduce --profile tiny --presets huge --out E/new", "unknown preset(s) huge"),
    ("reproduce --profile tiny --only fig99 --out E/new", "unknown figure 'fig99'"),
    # one writer per folder
    ("train-tac --resume --out E/locked", "E/locked is being written by process PID "),
    ("train-tac --out E/locked", "E/locked is being written by process PID "),
    ("transfer --tac E/tac --out E/locked", "E/locked is being written by process PID "),
    ("sweep --grid lr=1e-3 --out E/lockedsweep",
     "E/lockedsweep is being written by process PID "),
    ("reproduce --profile tiny --out E/lockedrepro",
     "E/lockedrepro/tiny is being written by process PID "),
]

HOLDER = ("import sys\nfrom dtac_jax import runfolder\nfor f in sys.argv[1:]:\n"
          "    runfolder.claim(f)\nprint('ready', flush=True)\nsys.stdin.read()\n")


def fake_run(folder, kind="tac", checkpoint=True, rows=2):
    """A run folder as training leaves it: config.json, metrics.jsonl and (optionally) an
    Orbax checkpoint of a small state."""
    folder.mkdir(parents=True)
    conf = {"kind": kind, "name": kind, "scenario": make_scenario("small").to_dict(), kind: {},
            "seeds": 1, "seed": 0, "chunk": 10, "sim_version": 3}
    (folder / "config.json").write_text(json.dumps(conf))
    (folder / "metrics.jsonl").write_text("".join(
        json.dumps(dict(iteration=i + 1, seed=0, wall_s=0.1, objective=1.0)) + "\n"
        for i in range(rows)))
    if checkpoint:
        ckpt.save(ckpt.manager(folder), rows, {"w": np.zeros(3, np.float32)})
    return folder


@pytest.fixture(scope="module")
def existing(tmp_path_factory):
    root = tmp_path_factory.mktemp("existing")
    (root / "afile").write_text("not a folder\n")
    fake_run(root / "tac")
    fake_run(root / "happo", kind="happo")
    fake_run(root / "locked")
    lines = fake_run(root / "garbage_mid", checkpoint=False) / "metrics.jsonl"
    rows = lines.read_text().splitlines(True)
    lines.write_text(rows[0] + "garbage\n" + rows[1])
    lines = fake_run(root / "garbage_last", checkpoint=False) / "metrics.jsonl"
    lines.write_text(lines.read_text() + '{"objective": 1.0}\n')   # whole, but not a row
    fake_run(root / "badconfig")
    (root / "badconfig" / "config.json").write_text('{"kind": "tac", "\x01": 1}')
    (root / "sweep").mkdir()
    (root / "sweep" / "sweep.json").write_text(json.dumps({"base": {"preset": "medium"},
                                                           "params": ["lr"]}))
    (root / "badsweep").mkdir()
    (root / "badsweep" / "sweep.json").write_text("{")
    with subprocess.Popen([sys.executable, "-c", HOLDER, str(root / "locked"),
                           str(root / "lockedsweep"), str(root / "lockedrepro" / "tiny")],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as holder:
        assert holder.stdout.readline().strip() == "ready"
        yield root, holder.pid
        holder.stdin.close()   # it exits, and the with block waits for it


def snapshot(folder) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None
            for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("command, match", CASES, ids=[c for c, _ in CASES])
def test_bad_input_is_one_line_exit_2_and_changes_no_run(existing, capfd, monkeypatch,
                                                         command, match):
    root, pid = existing
    monkeypatch.setenv("DTAC_JAX_CACHE", jax.config.jax_compilation_cache_dir or "off")
    monkeypatch.setattr(parallel, "_devices_override", None)   # --devices sets it
    fill = lambda s: s.replace("E/", f"{root}/").replace("PID", str(pid))
    before = snapshot(root)
    capfd.readouterr()
    try:
        rc = cli.main(fill(command).split())
    except SystemExit as exit_:     # argparse
        rc = exit_.code
    err = capfd.readouterr().err
    lines = err.strip().splitlines()
    assert rc == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("dtac") and "error: " in lines[0], lines[0]
    assert fill(match) in lines[0], lines[0]
    assert snapshot(root) == before
    assert runfolder._HELD == {}     # no lock left held


def test_the_table_covers_every_command_and_thirty_lines():
    commands = {c.split()[2] if c.startswith("--") else c.split()[0] for c, _ in CASES}
    assert commands == {"train", "train-tac", "train-happo", "transfer", "evaluate", "sweep",
                        "reproduce"}
    assert len(CASES) >= 30
