"""Imported environments where re-training (G_k) and lowering the temperature
(T_alpha) part ways: slippery FrozenLake, the ESPER gambling MDP and the
Dichotomy-of-Control bandit. Every number below is computed here.

Run: python examples/import_showcase.py  (needs the [envs] extra)
"""

from __future__ import annotations

from fractions import Fraction

from coherence.envs import import_source, to_mdp
from coherence.envs.benchmarks import doc_bandit_closed_form
from coherence.queries import Evaluator
from coherence.reference.operators import PolicySpec
from coherence.reference.recurrences import Boltzmann

STEPS = range(1, 9)
#: With the 0/1 ``goal`` map rho^alpha = rho, so T_alpha = T_1 for every alpha > 0;
#: ``exp:1`` gives the temperature something to act on.
FROZEN_HORIZON = 8


def frozen_lake(slippery: bool) -> None:
    """kappa_1 and J_prob of G_k and T_k, k = 1..8 (float64); for the
    deterministic map also whether G_k = T_k exactly (SPEC §7 claim 14)."""
    table = import_source(
        "gymnasium:FrozenLake-v1",
        horizon=FROZEN_HORIZON,
        success="exp:1",
        options={"map_name": "4x4", "is_slippery": slippery},
    )
    mdp = to_mdp(table)
    ev = Evaluator(mdp, "numpy")
    f = Boltzmann(Fraction(1))
    label = "slippery" if slippery else "not slippery"
    print(
        f"FrozenLake 4x4 {label}, horizon {FROZEN_HORIZON}, success exp:1 "
        "(each step exp(r - 1) until the episode ends)"
    )
    print("  k   J_prob(G_k)   J_prob(T_k)   kappa_1(G_k)  kappa_1(T_k)")
    for k in STEPS:
        g, t = PolicySpec("G", k=k), PolicySpec("T", alpha=Fraction(k))
        j_g, j_t = ev.value("J_prob", g), ev.value("J_prob", t)
        k_g, k_t = ev.value("kappa", g, f=f), ev.value("kappa", t, f=f)
        print(f"  {k}   {j_g:.6f}      {j_t:.6f}      {k_g:.6f}      {k_t:.6f}")
    if not slippery:
        exact = Evaluator(mdp, "exact")
        same = all(
            exact.value("policy", PolicySpec("G", k=k))
            == exact.value("policy", PolicySpec("T", alpha=Fraction(k)))
            for k in STEPS
        )
        print(f"  G_k = T_k exactly (every t, s, a) for k = 1..8: {same}")
    print()


def gambling() -> None:
    """G_k(a2) and T_k(a0) at the start, exp:0.1 success, uniform prior."""
    mdp = to_mdp(import_source("gambling", horizon=1, success="exp:0.1"))
    ev = Evaluator(mdp, "numpy")
    start = mdp.state_index("start")
    a0, a2 = mdp.action_index("a0"), mdp.action_index("a2")
    print("Gambling (ESPER), success exp:0.1, uniform prior, float64")
    print("  k   G_k(a2)   T_k(a0)")
    for k in STEPS:
        g = ev.value("policy", PolicySpec("G", k=k))[0][start][a2]
        t = ev.value("policy", PolicySpec("T", alpha=Fraction(k)))[0][start][a0]
        print(f"  {k}   {g:.3f}     {t:.3f}")
    print()


def doc_bandit() -> None:
    """G_k(good) in exact arithmetic against the closed form, k = 1..10."""
    mdp = to_mdp(import_source("doc-bandit", horizon=1))
    ev = Evaluator(mdp, "exact")
    start, good = mdp.state_index("start"), mdp.action_index("good")
    print("Dichotomy-of-Control bandit, success = reward 1, exact")
    print("  k   G_k(good)                      closed form equal")
    for k in range(1, 11):
        value = Fraction(ev.value("policy", PolicySpec("G", k=k))[0][start][good])
        closed = doc_bandit_closed_form(k)
        print(f"  {k:<3} {value!s:<30} {value == closed}")


def main() -> None:
    """Print the three showcases."""
    frozen_lake(slippery=True)
    frozen_lake(slippery=False)
    gambling()
    doc_bandit()


if __name__ == "__main__":
    main()
