"""``experiments/gpu_paper.py --tiny``: the paper profile's slice runs on the CPU, trains the
paper's DTAC (eq. 22 alone, through a critic of probabilities) and writes its tables."""
import json

import pytest

import scripts


def _module():
    return scripts.load("gpu_paper")


def test_bad_budget_is_one_line_exit_2(capsys):
    assert _module().main(["--tiny", "--budget-s", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--budget-s" in err[0]


@pytest.mark.slow
def test_gpu_paper_tiny_runs_the_papers_slice(tmp_path):
    out, work = tmp_path / "gpu_paper.json", tmp_path / "work"
    assert _module().main(["--tiny", "--budget-s", "30", "--out", str(out),
                           "--work", str(work)]) == 0
    rep = json.loads(out.read_text())
    assert rep["profile"] == "paper_tiny" and rep["preset"] == "small"
    for m in ("tac", "dtac", "tl_transformer", "happo"):
        t = rep["timing"][m]
        assert 2 <= t["iterations"] <= t["paper_iterations"] and t["per_iteration_s"] > 0, m
    assert set(rep["weighted_reward"]) == {"tac", "dtac", "tl_transformer", "search",
                                           "random_floor"}
    assert all(v > 0 for v in rep["projection_s"].values())
    # the runs are the paper's: TAC's critic reads probabilities, DTAC is eq. 22 alone
    runs = work / "paper_tiny" / "runs" / "small"
    tac = json.loads((runs / "tac" / "config.json").read_text())["tac"]
    dtac = json.loads((runs / "dtac" / "config.json").read_text())["transfer"]
    assert (tac["estimator"], tac["critic_input"], tac["lr_actor"]) == ("critic", "probs", 2e-5)
    assert (dtac["loss"], dtac["trust_weight"], dtac["anchor_weight"]) == ("critic", 0.0, 0.0)
    md = out.with_suffix(".md").read_text()
    assert "Projection of the whole profile" in md and "| DTAC |" in md
