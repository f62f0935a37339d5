"""``experiments/reproduce_wall.py`` writes the quick reproduction's wall time as one JSON and
Markdown pair from one run, and the committed pair agrees."""
import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _module():
    spec = importlib.util.spec_from_file_location("reproduce_wall",
                                                  ROOT / "experiments" / "reproduce_wall.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


TIME_LOG = """\tCommand being timed: "make run"
\tElapsed (wall clock) time (h:mm:ss or m:ss): 1:01:41
\tMaximum resident set size (kbytes): 6963684
"""


def test_twins_come_from_one_run(tmp_path, capsys):
    mod = _module()
    assert mod.parse_time_log(TIME_LOG) == dict(wall_s=3701.0, peak_rss_kib=6963684)
    assert mod.parse_time_log("Elapsed (wall clock) time (h:mm:ss or m:ss): 12:03.5") == dict(
        wall_s=723.5)
    stages = tmp_path / "quick" / "stages"
    stages.mkdir(parents=True)
    for name, wall in (("train__small__tac", 400.0), ("eval__small", 30.5)):
        (stages / f"{name}.json").write_text(json.dumps(dict(code="abc", result=dict(
            wall_s=wall))))
    (tmp_path / "time.log").write_text(TIME_LOG)
    out = tmp_path / "wall.json"
    assert mod.main([str(tmp_path / "quick"), "--time-log", str(tmp_path / "time.log"),
                     "--commit", "1234567", "--out", str(out)]) == 0
    rep = json.loads(out.read_text())
    assert rep["stages_s"] == 430.5 and rep["stages"]["train:small:tac"] == 400.0
    md = out.with_suffix(".md").read_text()
    assert "3701 s wall (61 min 41 s)" in md and "commit 1234567" in md and "`abc`" in md
    assert mod.main([str(tmp_path / "nope"), "--commit", "x"]) == 2
    assert "no stages/" in capsys.readouterr().err


def test_committed_twins_agree():
    rep = json.loads((ROOT / "benchmarks" / "reproduce_quick.json").read_text())
    md = (ROOT / "benchmarks" / "reproduce_quick.md").read_text()
    assert f"commit {rep['commit']}" in md
    assert f"{rep['wall_s']:.0f} s wall" in md
    for stage, wall in rep["stages"].items():
        assert f"| {stage} | {wall:.1f} |" in md, stage
