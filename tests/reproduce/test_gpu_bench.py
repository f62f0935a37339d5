"""``experiments/gpu_bench.py --tiny``: the accelerator scaling benchmark runs on the CPU and
writes every table (the simulator, TAC training, a vmapped sweep against one point)."""
import json

import pytest

import scripts


def _module():
    return scripts.load("gpu_bench")


def test_bad_sizes_are_one_line_exit_2(capsys):
    assert _module().main(["--tiny", "--tac-envs", "8,x"]) == 2
    assert _module().main(["--tiny", "--budget", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(e.startswith("gpu_bench.py: error: ") for e in err)


@pytest.mark.slow
def test_gpu_bench_tiny_measures_every_table(tmp_path):
    out = tmp_path / "gpu_bench.json"
    assert _module().main(["--tiny", "--out", str(out)]) == 0
    rep = json.loads(out.read_text())
    assert [r["episodes"] for r in rep["env"]] == [16, 64]
    assert [r["envs"] for r in rep["tac"]] == [8]
    for r in rep["env"] + rep["tac"]:
        assert r["ue_rounds_per_s"] > 0 and r["compile_s"] > 0 and r["peak_rss_mib"] > 0
    assert all(r["finite"] for r in rep["tac"])
    one, grid = rep["sweep_one"], rep["sweep"]
    assert (one["members"], grid["members"]) == (2, 8) and grid["finite"]
    md = out.with_suffix(".md").read_text()
    for heading in ("**The simulator**", "**TAC training**", "**A vmapped sweep**",
                    "The grid's iteration takes"):
        assert heading in md
