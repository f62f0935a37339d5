"""The paper's claims, how each check of them is judged, and orderings that beat seed noise.

A check is a dict made by :func:`check`: the claim it tests (``cid``), what is checked, the
paper's number or words, ours, the threshold its verdict uses, and the verdict: True (holds),
False (does not hold) or None (cannot be judged, with the ``reason``).

An ordering ("better", "lower", "outperforms") holds only when it beats the noise between
seeds (:func:`better`): compared per seed, every pair has the same sign and the mean difference
exceeds twice its standard error over seeds. Runs that descend from one TAC seed (TAC and its
transfers) are paired by that seed; independently trained runs (HAPPO against the others, a
policy trained on another preset) are compared as independent samples; a reference without
seeds (Random, the heuristics, Search) is a constant.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from dtac_jax.algos import registry

#: The paper's claims, judged as it states them: id -> (the claim, the paper's own words and
#: where they are). Every check names the claim it tests; ``P1``, ``P2`` are this project's own
#: targets (not claims of the paper).
PAPER_CLAIMS = {
    "C1": ("DTAC outperforms the other distributed schemes (HAPPO, TL, TL transformer) in "
           "weighted reward, in small and large scenarios",
           "\"DTAC not only outperforms other MARL and TL schemes in both small- and large-scale "
           "scenarios\" (abstract; Figs. 5c, 6c, 7c; the conclusion: \"can significantly "
           "outperform other MARL-based and TL-based schemes\")"),
    "C2": ("DTAC performs close to the centralised TAC, which is better",
           "\"the DTAC can achieve a similar performance as that of centralized TAC using only "
           "local information\"; \"though the centralized TAC achieves better performance "
           "compared to DTAC\" (Fig. 5)"),
    "C3": ("DTAC's task execution time is well below TL's, TL transformer's and HAPPO's",
           "\"the proposed DTAC approach can significantly outperform both the TL and TL "
           "transformer approaches, as well as the HAPPO approach\" (Fig. 5a; Figs. 6a, 7a)"),
    "C4": ("energy: DTAC and TL transformer lowest and close to TAC (small); TL transformer "
           "saves more energy than DTAC at a much worse time (medium); DTAC saves the most "
           "and HAPPO is worst in energy and weighted reward (large)",
           "Fig. 5b: \"both the TL transformer and the proposed DTAC approaches demonstrate the "
           "lowest energy cost, comparable to that of the centralized TAC\"; Fig. 6: \"TL using "
           "transformer can save more energy compared to DTAC at a cost with much worse task "
           "execution performance\"; Fig. 7: \"DTAC can also save most energy cost and obtains "
           "the best weighted reward, while the HAPPO achieves worst performance in both energy "
           "cost and weighted reward\""),
    "C5": ("trends in the number of UEs: only HAPPO degrades unstably, the others linearly; on "
           "the large area HAPPO is the poorest in time, worse than Random as UEs grow",
           "Fig. 5c: \"only the performance of HAPPO exhibits unstable degradation, while the "
           "performance of other TL-based approaches degrade linearly\"; Fig. 7a: \"the HAPPO "
           "exhibits the poorest performance, even worse than that of the Random approach with "
           "the increase of number of UEs\""),
    "C6": ("offloading preferences: HAPPO and TL send most tasks to the edge (medium), HAPPO "
           "prefers cloud or local (large); DTAC's preference is like TAC's, with more local "
           "computation",
           "Fig. 8: \"the HAPPO converges to the local optimum that offloads most of tasks to the "
           "edge servers\"; \"For the TL, it also suffers from the similar problem as that of "
           "the HAPPO\"; Figs. 8-9: DTAC \"has similar offloading preference to that of "
           "centralized TAC\", \"the increased preference on local computation of DTAC\"; "
           "Fig. 9: HAPPO \"converges to either offloading to the cloud center or compute at "
           "the local UEs\""),
    "C7": ("DTAC's actions are closer to TAC's than TL transformer's (KL); the two are the best "
           "distributed approaches",
           "Table III: TL transformer 0.103 / 0.028, DTAC 0.063 / 0.015 (small / large area); "
           "\"the two best approaches in previous simulations, TL transformer and DTAC\""),
    "C8": ("DTAC trained on the smaller area generalises to the larger one: better below 30 "
           "UEs, marginally different above",
           "Fig. 11: \"can even achieve better performance when the number of UEs is less than "
           "30\" ... \"differing only marginally\""),
    "C9": ("training cost: TAC saves 73% of HAPPO's training episodes, DTAC 78% of TL "
           "transformer's, converging more stably; far fewer parameters and FLOPs than HAPPO",
           "Fig. 10 (73%, 78%): \"DTAC achieves more stable and efficient convergence than the "
           "TL transformer approach\"; Table IV: FLOPs per UE HAPPO actor 577.4k, critic "
           "1038.5k, DTAC actor 14.3k, critic 14.5k; parameters 799k, 1436k, 8.17k, 8.52k"),
    "C10": ("TL and TL transformer degrade significantly in the scenario with more UEs",
            "Fig. 6: \"the performance of both TL and TL using transformer approaches "
            "significantly degrades in this large scenario\""),
    "C11": ("DTAC and the decentralised TL cut training costs by 73% against the other MARL "
            "and TL schemes",
            "abstract and conclusion: \"substantially reduce training costs by 73% compared to "
            "other MARL and TL schemes\"; Section IV-F: \"requires substantially lower training "
            "costs compared to conventional HAPPO and TL schemes\""),
    "P1": ("(project target) TAC learns to offload: within 2x Search's cost",
           "not a claim of the paper"),
    "P2": ("(project target) HAPPO at its reference implementation's strength: better than the "
           "best heuristic, no seed worse than Random, no collapse late in training",
           "not a claim of the paper"),
}

#: Statements of the paper's results that no check judges: (where, the words, why).
UNJUDGED = (
    ("Fig. 6", "\"the performance difference among centralized TAC, DTAC and HAPPO is similar "
     "to that presented in Fig. 5c\"",
     "a comparison of two figures' shapes with no measure named; its parts are C1 and C2 on "
     "the medium preset"),
    ("Fig. 6", "\"Such a result further presents the high-efficiency and stability of the "
     "proposed DTAC approach\"",
     "a conclusion drawn from C1-C3 and C10, not a measurement of its own"),
    ("Fig. 8", "\"the TL using transformer also learn a similar distributed resource management "
     "policies as that of TL, resulting in much similar performance presented in Fig. 6\"",
     "contradicts the paper's own Fig. 6 and Table III text (TL transformer is one of \"the "
     "two best approaches\", TL degrades); the report checks those (C7, C10) instead"),
    ("Figs. 8-9", "\"reducing the preference on offloading tasks may improve the network "
     "performance in distributed scenarios\"",
     "a conjecture about a cause (\"may\"); the observable part is C6's local-preference check"),
    ("Fig. 7", "\"the significantly degraded performance of HAPPO can be attributed to the "
     "expanded coverage\"",
     "an explanation; the observable part is C4/C5 on the large preset"),
    ("Fig. 10a", "\"Gaussian noise is introduced in DTAC during centralized training ... which "
     "may slightly reduce its performance compared to decentralized TL and testing\"",
     "a conjecture (\"may\"); the default TAC explores by sampling, not by Gaussian noise"),
    ("Section IV-E", "\"DTAC has sufficient generalization ability to adapt to diverse scenarios "
     "that are not even experienced\"",
     "a conclusion from Fig. 11, judged as C8; one pair of scenarios cannot show \"diverse\""),
)

#: How an ordering's verdict beats seed noise, for the thresholds' text.
#: a verdict in words: the report's, and a check's per-point list
WORDS = {True: "holds", False: "does not hold", None: "cannot be judged"}
MARGIN_RULE = ("by more than 2 standard errors over seeds, every compared pair the same way")


def check(cid: str, claim: str, paper: str, ours: str, threshold: str, holds,
          reason: str | None = None) -> dict:
    """One check of claim ``cid``: what is checked, the paper's number or words, ours, the
    threshold the verdict uses, and the verdict (True, False, or None: cannot be judged, with
    ``reason``)."""
    assert cid in PAPER_CLAIMS, cid
    if holds is None and not reason:
        raise ValueError(f"a check of {cid} that cannot be judged needs its reason")
    out = dict(cid=cid, claim=claim, paper=paper, ours=ours, threshold=threshold,
               holds=None if holds is None else bool(holds))
    if holds is None:
        out["reason"] = reason
    return out


def family(name: str) -> str | None:
    """Which independently trained family a policy's seeds belong to: TAC and the transfers
    made from it share TAC's seeds (``"tac"``); another learned method is its own family; a
    reference without seeds has none."""
    if name not in registry.names():
        return name            # e.g. "dtac_inexperienced": a family of its own
    algo = registry.get(name)
    if not algo.learned:
        return None
    return "tac" if name == "tac" or "tac" in algo.needs else name


@dataclasses.dataclass(frozen=True)
class Margin:
    """How much ``a`` beats ``b`` over seeds (positive: ``a`` better): the mean difference, its
    standard error, how many of the compared pairs go ``a``'s way, and whether that beats the
    noise (:data:`MARGIN_RULE`); ``holds`` is None when one seed leaves no noise estimate."""

    diff: float
    se: float
    agree: int
    pairs: int
    paired: bool
    constant: bool = False   # compared against a reference without seeds

    @property
    def holds(self) -> bool | None:
        if not (np.isfinite(self.se) and np.isfinite(self.diff)):
            return None
        return bool(self.agree == self.pairs and self.diff > 2 * self.se)

    def text(self, who: str = "the first", digits: int = 3) -> str:
        """The margin in ``who``'s favour (positive: ``who`` is better), its standard error and
        how many compared pairs agree."""
        if not np.isfinite(self.diff):
            return "non-finite values"
        if not np.isfinite(self.se):
            return f"{who}'s margin {self.diff:+.{digits}g} (one seed: no noise estimate)"
        kind = ("seed pairs" if self.paired else "seeds against a reference" if self.constant
                else "cross-seed pairs")
        return (f"{who}'s margin {self.diff:+.{digits}g} +- {self.se:.2g} (SE), {self.agree}/"
                f"{self.pairs} {kind} agree")


def better(a: Sequence[float], b: Sequence[float], paired: bool,
           higher: bool = True) -> Margin:
    """Whether the values ``a`` beat ``b`` beyond seed noise (higher is better unless
    ``higher=False``). ``paired``: ``a[s]`` and ``b[s]`` share seed ``s`` (differences per
    seed); otherwise independent samples (every cross pair must agree; the standard error is
    the two means' combined). One value on either side is a constant (a reference policy)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if not higher:
        a, b = -a, -b
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return Margin(float("nan"), float("nan"), 0, a.size * b.size, paired)
    if paired:
        if len(a) != len(b):
            raise ValueError(f"paired comparison of {len(a)} against {len(b)} seeds")
        d = a - b
        se = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan")
        return Margin(float(d.mean()), se, int((d > 0).sum()), len(d), True)

    def se(v):
        return 0.0 if len(v) == 1 else float(v.std(ddof=1) / np.sqrt(len(v)))

    if len(a) == 1 and len(b) == 1:
        return Margin(float(a[0] - b[0]), float("nan"), int(a[0] > b[0]), 1, False)
    cross = a[:, None] - b[None, :]
    return Margin(float(a.mean() - b.mean()), float(np.hypot(se(a), se(b))),
                  int((cross > 0).sum()), cross.size, False, constant=min(len(a), len(b)) == 1)


def compare(values: dict[str, Sequence[float]], a: str, b: str, higher: bool = True,
            scale_b: float = 1.0) -> Margin:
    """:func:`better` for policies ``a`` and ``b`` with per-seed ``values``, paired when both
    descend from one TAC seed; ``b``'s values are multiplied by ``scale_b`` first (e.g. 0.9
    for "at most 0.9x b's")."""
    fa, fb = family(a), family(b)
    paired = fa is not None and fa == fb
    va, vb = np.asarray(values[a], float), np.asarray(values[b], float) * scale_b
    m = better(va, vb, paired, higher)
    if (fa is not None and len(va) == 1) or (fb is not None and len(vb) == 1):
        return dataclasses.replace(m, se=float("nan"))   # a learned run of one seed
    return m


def all_hold(margins: Sequence[Margin]) -> bool | None:
    """Every margin holds (None when any cannot be judged and none fails)."""
    verdicts = [m.holds for m in margins]
    if any(v is False for v in verdicts):
        return False
    return None if any(v is None for v in verdicts) else True


def no_noise_reason(margins: Sequence[Margin]) -> str | None:
    """The reason of a verdict :func:`all_hold` leaves undecided."""
    if all_hold(margins) is not None:
        return None
    if any(not np.isfinite(m.diff) for m in margins):
        return "non-finite values in the comparison"
    return "one seed: no estimate of the noise between seeds"


def word(holds: bool | None) -> str:
    """A verdict in words (:data:`~dtac_jax.reproduce.claims.WORDS`), a failure in bold."""
    return f"**{WORDS[False]}**" if holds is False else WORDS[holds]


def verdict(c: dict) -> str:
    """A check's verdict in words; one that cannot be judged says why."""
    if c["holds"] is None:
        return f"{WORDS[None]} ({c.get('reason', 'no reason given')})"
    return word(c["holds"])
