"""``coherence demo``: the mountain-race story with exact fractions (SPEC §6).

Every number printed is computed by the exact oracle at run time; none is typed
in. ``--json`` prints the same content as one JSON object.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
from fractions import Fraction
from typing import Any

from coherence._numbers import format_rational
from coherence.examples import mountain_race, stochastic_counterexample
from coherence.queries import Evaluator
from coherence.reference.numpy_engine import KAPPA_RISES, explain_kappa
from coherence.reference.operators import PolicySpec
from coherence.reference.recurrences import Boltzmann

__all__ = ["demo_data", "register", "render"]

ONE = Boltzmann(Fraction(1))


def demo_data() -> dict[str, Any]:
    """The story's numbers: rationals as strings, floats as floats."""
    race = mountain_race()
    e = Evaluator(race, "exact")
    root, ridge_state = race.state_index("root"), race.state_index("ridge")
    up = race.action_index("up")

    def ridge(spec: PolicySpec) -> str:
        return format_rational(e.value("policy", spec)[0][root][up])

    naive = e.value("policy", PolicySpec("G", k=1))
    retraining = [
        {
            "k": k,
            "ridge": ridge(PolicySpec("G", k=k)),
            "J_prob": format_rational(e.value("J_prob", PolicySpec("G", k=k))),
            "kappa_1": e.value("kappa", PolicySpec("G", k=k), f=ONE),
        }
        for k in range(5)
    ]
    temperatures = [
        {"alpha": a, "ridge": ridge(PolicySpec("T", alpha=Fraction(a)))}
        for a in range(5)
    ]
    boltzmann = [
        {
            "i": i,
            "ridge": ridge(PolicySpec("B", i=i, f=ONE)),
            "kappa_1": e.value("kappa", PolicySpec("B", i=i, f=ONE), f=ONE),
        }
        for i in range(4)
    ]
    b3 = e.value("policy", PolicySpec("B", i=3, f=ONE))
    floats = Evaluator(race, "numpy")

    def why(spec: PolicySpec) -> str:
        return explain_kappa(
            floats.engine("numpy"),
            floats.policy(spec, "numpy"),
            ONE,
            race.states,
            race.actions,
        )

    kappa_notes = [
        f"k={row['k']}: {why(PolicySpec('G', k=row['k']))}"
        for row in retraining
        if math.isinf(row["kappa_1"])
    ] + [
        f"kappa_1 rises from k={a['k']} to k={b['k']}: {KAPPA_RISES}; "
        f"{why(PolicySpec('G', k=b['k']))}"
        for a, b in itertools.pairwise(retraining)
        if math.isfinite(a["kappa_1"]) and b["kappa_1"] > a["kappa_1"]
    ]
    storm = stochastic_counterexample()
    s = Evaluator(storm, "exact")
    a1 = storm.action_index("a1")
    sroot = storm.state_index("root")

    def first(spec: PolicySpec) -> str:
        return format_rational(s.value("policy", spec)[0][sroot][a1])

    return {
        "mountain_race": {
            "setup": "deterministic, uniform prior over {up, down}, horizon 2; "
            "root -up-> ridge -> {gold 1, chasm 0}; root -down-> forest -> "
            "{finish 3/4, finish 3/4} (terminal success probabilities)",
            "naive_policy": {
                "ridge": format_rational(naive[0][root][up]),
                "gold_given_ridge": format_rational(naive[1][ridge_state][up]),
            },
            "naive_incoherence_kappa_1": e.value("kappa", PolicySpec("G", k=1), f=ONE),
            "retraining": retraining,
            "retraining_kappa_notes": kappa_notes,
            "temperature": temperatures,
            "boltzmann_iterations": boltzmann,
            "boltzmann_fixed_point": {
                "ridge": format_rational(b3[0][root][up]),
                "gold_given_ridge": format_rational(b3[1][ridge_state][up]),
                "forest_branch": [
                    format_rational(x) for x in b3[1][race.state_index("forest")]
                ],
            },
        },
        "stochastic_counterexample": {
            "setup": "uniform prior; a1 -> s1 w.p. 3/4, s2 w.p. 1/4; a2 -> s1, s2 "
            "w.p. 1/2; success 1/3 at s1, 2/3 at s2; horizon 1",
            "G_1": first(PolicySpec("G", k=1)),
            "G_2": first(PolicySpec("G", k=2)),
            "F_2": first(PolicySpec("F", k=2)),
            "T_2": first(PolicySpec("T", alpha=Fraction(2))),
        },
    }


def render(data: dict[str, Any]) -> str:
    """The story for a person."""
    m = data["mountain_race"]
    st = data["stochastic_counterexample"]
    lines = [
        "The mountain race (SPEC §6)",
        f"  {m['setup']}.",
        "",
        "1. Naive goal conditioning, pi(a|s) = p(a|s, success), assumes its future",
        "   self acts like the prior (which falls into the chasm half the time):",
        f"     G_1(ridge | root) = {m['naive_policy']['ridge']}"
        f"   (prefers the forest, although ridge then gold succeeds surely);",
        f"     G_1(gold | ridge) = {m['naive_policy']['gold_given_ridge']}.",
        f"   Its incoherence kappa_1(G_1) = KL_c(G_1 || Boltzmann(Q^G_1)) = "
        f"{m['naive_incoherence_kappa_1']:.12f} nats > 0.",
        "",
        "2. Re-training on its own successful rollouts, G_k = cond(G_{k-1}, r):",
    ]
    for row in m["retraining"]:
        lines.append(
            f"     k={row['k']}:  G_k(ridge|root) = {row['ridge']:>8}   "
            f"J_prob = {row['J_prob']:>8}   kappa_1 = {row['kappa_1']:.6f}"
        )
    lines += [f"   note: {note}" for note in m["retraining_kappa_notes"]]
    lines += [
        "",
        "3. Lowering the temperature, T_alpha = cond(p, alpha r), gives the "
        "same sequence",
        "   (deterministic dynamics): T_alpha(ridge|root) = 1/(1 + 2 (3/4)^alpha)",
    ]
    lines.append(
        "     "
        + "   ".join(f"alpha={r['alpha']}: {r['ridge']}" for r in m["temperature"])
    )
    lines += [
        "",
        "4. Iterated Boltzmann coherence (delta = 1), B_{i+1} = softmax(Q^{B_i}):",
    ]
    for row in m["boltzmann_iterations"]:
        lines.append(
            f"     B_{row['i']}(ridge|root) = {row['ridge']:>4}   "
            f"kappa_1(B_{row['i']}) = {row['kappa_1']:.6f}"
        )
    fp = m["boltzmann_fixed_point"]
    lines += [
        f"   Fixed point: ridge {fp['ridge']}, gold|ridge {fp['gold_given_ridge']}, "
        f"forest branch {' / '.join(fp['forest_branch'])}: coherent (kappa = 0).",
        "",
        "5. Stochastic dynamics break the correspondence:",
        f"   {st['setup']}.",
        f"     G_1(a1) = {st['G_1']}, G_2(a1) = {st['G_2']} = F_2(a1) = {st['F_2']},"
        f" but T_2(a1) = {st['T_2']}:",
        "   the temperature route conditions the dynamics too (optimism).",
    ]
    return "\n".join(lines)


def _jsonable(x: Any) -> Any:
    """Infinite floats as "inf"/"-inf" (CASE_FORMAT), so the output is strict JSON."""
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_jsonable(v) for v in x]
    if isinstance(x, float) and math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def _cmd_demo(args: argparse.Namespace) -> int:
    data = demo_data()
    if args.json:
        print(json.dumps(_jsonable(data), indent=1, allow_nan=False))
    else:
        print(render(data))
    return 0


def register(sub: Any) -> None:
    """Add the demo subcommand."""
    parser = sub.add_parser("demo", help="the mountain-race story, in exact fractions")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=_cmd_demo)
