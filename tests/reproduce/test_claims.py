"""The report's verdicts: orderings beat seed noise, checks that cannot be judged say why, and
docs/reproducing.md comes from this checkout's code."""
import re
from pathlib import Path

import numpy as np
import pytest

from dtac_jax.reproduce import checks
from dtac_jax.reproduce import pipeline as P
from dtac_jax.reproduce.claims import PAPER_CLAIMS, better, check, compare, family, verdict
from dtac_jax.reproduce.report import claims_summary

ROOT = Path(__file__).resolve().parents[2]


def test_paired_margin_is_the_mean_difference_against_twice_its_standard_error():
    a, b = [3.0, 4.0, 5.0], [1.0, 1.5, 2.5]
    m = better(a, b, paired=True)
    d = np.array(a) - np.array(b)              # 2.0, 2.5, 2.5
    assert m.diff == pytest.approx(d.mean())
    assert m.se == pytest.approx(d.std(ddof=1) / np.sqrt(3))
    assert (m.agree, m.pairs, m.holds) == (3, 3, True)
    # same means, one pair reversed: every pair must agree
    assert better([3.0, 4.0, 0.5], [1.0, 1.5, 1.0], paired=True).holds is False
    # all pairs agree but the difference is inside twice its standard error
    noisy = better([1.1, 5.0, 1.05], [1.0, 1.0, 1.0], paired=True)
    assert noisy.agree == 3 and noisy.diff < 2 * noisy.se and noisy.holds is False
    # lower is better
    assert better(b, a, paired=True, higher=False).holds is True


def test_unpaired_margin_needs_every_cross_pair_and_combined_error():
    # overlapping ranges: 8 of 9 cross pairs agree -> does not hold, whatever the means
    m = better([3.0, 4.0, 10.0], [1.0, 2.0, 3.5], paired=False)
    assert (m.agree, m.pairs, m.paired, m.holds) == (8, 9, False, False)
    se = np.hypot(np.std([3, 4, 10], ddof=1) / np.sqrt(3), np.std([1, 2, 3.5], ddof=1) / np.sqrt(3))
    assert m.se == pytest.approx(se)
    assert better([10.0, 11.0, 12.0], [1.0, 2.0, 3.0], paired=False).holds is True
    # a reference without seeds is a constant; one seed against one: no noise estimate
    assert better([10.0, 11.0, 12.0], [5.0], paired=False).holds is True
    assert better([10.0], [5.0], paired=True).holds is None


def test_rules_that_no_verdict_may_bypass():
    with pytest.raises(ValueError, match="paired comparison of 3 against 2 seeds"):
        better([1.0, 2.0, 3.0], [1.0, 2.0], paired=True)
    # a learned run of one seed is not a constant: no noise estimate, no verdict
    m = compare({"happo": [5.0], "dtac": [1.0, 2.0, 3.0]}, "happo", "dtac")
    assert m.holds is None
    assert compare({"random": [5.0], "dtac": [1.0, 2.0, 3.0]}, "random", "dtac").holds is True
    bad = better([1.0, np.nan, 3.0], [0.0, 0.0, 0.0], paired=True)
    assert bad.holds is None and bad.text() == "non-finite values"
    # the margin is in the favour of the one named first
    assert better([1.0, 1.1, 1.2], [2.0, 2.0, 2.1], paired=True, higher=False).text(
        "DTAC").startswith("DTAC's margin +0.933")


def test_families_pair_tac_with_its_transfers_only():
    assert family("tac") == family("dtac") == family("tl") == family("tl_transformer") == "tac"
    assert family("happo") == "happo" and family("random") is None
    assert family("dtac_inexperienced") == "dtac_inexperienced"
    vals = {"dtac": [2.0, 3.0, 4.0], "tl_transformer": [1.0, 2.5, 3.0], "happo": [0.0, 0.5, 1.0]}
    assert compare(vals, "dtac", "tl_transformer").paired
    assert not compare(vals, "dtac", "happo").paired


def test_a_check_that_cannot_be_judged_needs_and_shows_its_reason():
    with pytest.raises(ValueError, match="needs its reason"):
        check("C9", "x", "p", "o", "t", None)
    c = check("C9", "x", "p", "o", "t", None, reason="the measure cannot show 78%")
    assert verdict(c) == "cannot be judged (the measure cannot show 78%)"
    # a claim fails when one check fails, whatever the others; counts keep the three apart
    secs = {"fig10": dict(claims=[c, check("C9", "y", "p", "o", "t", False),
                                  check("C1", "z", "p", "o", "t", True)])}
    text = "\n".join(claims_summary(secs))
    assert "**1 of 2 judged checks of the paper's claims hold**, 1 do not, and 1 cannot" in text
    assert re.search(r"### C9: .* — \*\*does not hold\*\*", text)
    assert "### Statements of the paper's results not judged" in text
    assert set(PAPER_CLAIMS) >= {f"C{i}" for i in range(1, 12)}


def _curve(tmp_path, name, values_per_seed):
    d = tmp_path / name
    d.mkdir()
    with open(d / "metrics.jsonl", "w") as f:
        for s, values in enumerate(values_per_seed):
            for i, v in enumerate(values):
                f.write(f'{{"iteration": {i + 1}, "seed": {s}, "objective": {v}}}\n')
    return d


def test_a_saving_the_measure_cannot_show_is_not_judged(tmp_path):
    # 8 transfer iterations: the window is 3, so at most 1 - 3 / 8 = 62% can show
    fast = _curve(tmp_path, "dtac", [[5, 1, 1, 1, 1, 1, 1, 1]] * 2)
    slow = _curve(tmp_path, "tl_transformer", [[9, 8, 7, 6, 5, 4, 3, 1]] * 2)
    n95 = {"dtac": P.iterations_to_95(fast), "tl_transformer": P.iterations_to_95(slow)}
    assert n95["dtac"] == (3, 8) and n95["tl_transformer"][0] == 8   # as fast as can show
    c = checks.saving_check("C9", "DTAC saves 78%", 0.78, "dtac", "tl_transformer", n95)
    assert c["holds"] is None and "at most 62%" in c["reason"]
    c = checks.saving_check("C9", "DTAC saves 40%", 0.40, "dtac", "tl_transformer", n95)
    assert c["holds"] is True   # 1 - 3 / 8 = 62% >= 40%, within what can show


def test_reproducing_md_names_this_checkouts_code():
    """docs/reproducing.md's results come from code with this checkout's fingerprint (the
    simulator, networks, algorithms, training driver, evaluation, profiles and pipeline):
    change that code, and the page must be regenerated from a fresh reproduction."""
    text = (ROOT / "docs" / "reproducing.md").read_text()
    found = re.findall(r"code fingerprint `([0-9a-f]{12})`", text)
    assert found, "docs/reproducing.md names no code fingerprint"
    assert set(found) == {P.code_fingerprint()}, (
        f"docs/reproducing.md's results come from code {found}, this checkout's is "
        f"{P.code_fingerprint()}: rerun `make run` from a fresh clone and "
        "experiments/update_reproducing.py")
