"""Hindsight relabelling (eUDRL) against goal conditioning (G) on Štrupl et
al.'s two-goal bandit, computed exactly from the operator definitions and
compared with the numbers their public code prints (kept, with the repository
and commit, in the shipped case's source).

Run: python examples/relabel_bandit.py   (exit status 1 if a number differs)
"""

from __future__ import annotations

import sys
from fractions import Fraction

from coherence.goal_cases import EXTERNAL, GOALS_DIR
from coherence.queries import Evaluator
from coherence.reference.case import load_case
from coherence.reference.operators import PolicySpec


def main() -> int:
    """Print the table and compare; 0 when every external number is reproduced."""
    bad = 0
    for name, key in (
        ("two-goal-bandit", "uniform_start"),
        ("two-goal-bandit-optimum-start", "optimum_start"),
    ):
        ev = Evaluator(load_case(GOALS_DIR / f"{name}.json").mdp, "exact")
        theirs = EXTERNAL[key]["J_saved"]
        print(f"{name}: J_prob by round (exact; their code's float beside it)")
        print("  k   relabel_k[all]      theirs   G_k")
        for k, t in enumerate(theirs):
            r = Fraction(ev.value("J_prob", PolicySpec("relabel", k=k)))
            g = Fraction(ev.value("J_prob", PolicySpec("G", k=k)))
            same = abs(float(r) - t) <= 1e-12
            bad += not same
            print(
                f"  {k}   {r!s:>8} = {float(r):.6f}  {t:<8} {g} = {float(g):.6f}"
                f"{'' if same else '   DIFFERS'}"
            )
    printed = EXTERNAL["G_closed_form"]["J_prob(G_k), k = 1..5"]
    ev = Evaluator(load_case(GOALS_DIR / "two-goal-bandit.json").mdp, "exact")
    for k, want in enumerate(printed, start=1):
        got = round(float(ev.value("J_prob", PolicySpec("G", k=k))), 6)
        bad += got != want
    verdict = "reproduced" if bad == 0 else f"{bad} numbers differ"
    print(f"external numbers (relabel from both starts, J_prob(G_1..5)): {verdict}")
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
