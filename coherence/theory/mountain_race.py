"""Closed forms for the mountain race (SPEC §6) with symbolic finish probabilities.

Family: deterministic, uniform prior, horizon T = 2; root -> {ridge (up),
forest (down)}; ridge -> {gold (up), chasm (down)}; forest -> {finish1 (up),
finish2 (down)}; the four finishes are absorbing with terminal success g, c, f1,
f2 (0 at root, ridge, forest). Two groups:

* ``symbolic``: g, c, f1, f2 symbolic;
* ``instance``: SPEC §6's numbers g = 1, c = 0, f1 = f2 = 3/4.

Entries, at every (t, s, a) of the MDP (unreachable cells included, SPEC §2):

* T_alpha: the recurrence cond(p, alpha r) run with a symbolic alpha (SPEC §4);
  at the instance root this is 1 / (1 + 2 (3/4)^alpha) for alpha > 0 (at
  alpha = 0, T_0 = p gives 1/2: the table evaluates that point by the definition).
* G_k: the same expression with alpha -> k, proved by induction on a symbolic k:
  the base case is G_0 = p, the step applies one exact conditioning step
  (:func:`coherence.reference.recurrences.condition`) to the closed form at k and
  cancels the difference to the closed form at k + 1 at every cell.
* B_1, B_2 (Boltzmann, symbolic delta): the recurrence run with a symbolic delta.
* kappa_delta(G_1): KL_c(G_1 || Boltzmann_delta(G_1)) (SPEC §3–§4) as an
  expression in delta (and in g, c, f1, f2 for the symbolic group).

Values: closed form at interior points (all finishes > 0 where the form divides
by them, alpha > 0, k >= 1 where the form has 0^k), checked there against the
definition; boundary points by the exact recurrences.

Cost: about 2 s on one core.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import sympy

from coherence import backends
from coherence.reference.recurrences import Boltzmann
from coherence.theory import _core
from coherence.theory._core import Entry, Group, Point, Sym, Template, identical
from coherence.theory.tables import load_table

__all__ = ["FAMILY", "derive", "main", "root_closed_form", "template"]

FAMILY = "mountain_race"

DESCRIPTION = (
    "Mountain race (SPEC §6): deterministic, uniform prior, T = 2, finish "
    "probabilities gold g, chasm c, forest f1, f2. T_alpha and G_k at every state "
    "for symbolic alpha and k, Boltzmann iterations B_1 and B_2 for symbolic delta, "
    "kappa_delta(G_1) as an expression in delta; symbolic finishes and SPEC's "
    "instance g = 1, c = 0, f1 = f2 = 3/4."
)

STATES = ("root", "ridge", "forest", "gold", "chasm", "finish1", "finish2")
ACTIONS = ("up", "down")
LEAVES = ("gold", "chasm", "finish1", "finish2")

ALPHA = sympy.Symbol("alpha", positive=True)
K = sympy.Symbol("k", integer=True, nonnegative=True)
DELTA = sympy.Symbol("delta", positive=True)
COUNT = (("integer", True), ("nonnegative", True))


def template(g: Any, c: Any, f1: Any, f2: Any) -> Template:
    """The mountain race with finish probabilities g, c, f1, f2."""
    one, zero = sympy.Integer(1), sympy.Integer(0)
    transitions: dict[str, dict[str, dict[str, Any]]] = {
        "root": {"up": {"ridge": one}, "down": {"forest": one}},
        "ridge": {"up": {"gold": one}, "down": {"chasm": one}},
        "forest": {"up": {"finish1": one}, "down": {"finish2": one}},
    }
    for leaf in LEAVES:
        transitions[leaf] = {a: {leaf: one} for a in ACTIONS}
    return Template(
        states=STATES,
        actions=ACTIONS,
        horizon=2,
        transitions=transitions,
        initial={"root": one},
        terminal_success={
            "root": zero,
            "ridge": zero,
            "forest": zero,
            "gold": g,
            "chasm": c,
            "finish1": f1,
            "finish2": f2,
        },
    )


def _cells() -> list[tuple[int, str, str]]:
    return [(t, s, a) for t in range(2) for s in STATES for a in ACTIONS]


def _points(finishes: bool) -> list[Point]:
    """24 points: boundary points first, then draws from a fixed seed."""
    rng = random.Random(2024 if finishes else 2025)
    F = Fraction
    spec: tuple[Fraction, ...] = (F(1), F(0), F(3, 4), F(3, 4))
    rows: list[tuple[tuple[Fraction, ...], Fraction, int, Fraction]] = [
        (spec, F(0), 0, F(1)),  # alpha = 0, k = 0
        (spec, F(1), 1, F(1)),
        (spec, F(2), 2, F(1, 2)),
        (spec, F(3), 3, F(1, 50)),  # small delta
        (spec, F(4), 4, F(1, 100)),
        (spec, F(1, 2), 5, F(2)),
        (spec, F(10), 6, F(3, 2)),
        (spec, F(1, 100), 1, F(1, 3)),
        (spec, F(5, 2), 2, F(5)),
        (spec, F(3, 2), 3, F(1, 4)),
    ]
    if finishes:
        rows += [
            ((F(0), F(0), F(0), F(0)), F(2), 2, F(1)),  # every finish fails
            ((F(1), F(1), F(1), F(1)), F(3, 2), 3, F(1, 2)),  # every finish succeeds
            ((F(1, 2), F(1, 3), F(0), F(1)), F(1), 1, F(1, 50)),
            ((F(0), F(1, 4), F(1, 2), F(1, 2)), F(0), 0, F(1)),
        ]
    alphas = [F(1), F(2), F(3), F(1, 2), F(7, 3), F(5)]
    deltas = [F(1), F(1, 2), F(1, 3), F(2), F(4, 3), F(1, 20)]
    while len(rows) < 24:
        leaves = spec
        if finishes:
            leaves = tuple(
                F(rng.randint(1, d), d) for d in (rng.randint(2, 9) for _ in range(4))
            )
        rows.append((leaves, rng.choice(alphas), rng.randint(0, 5), rng.choice(deltas)))
    out = []
    for leaves, alpha, k, delta in rows:
        point = (
            dict(zip(("g", "c", "f1", "f2"), leaves, strict=True)) if finishes else {}
        )
        point.update({"alpha": alpha, "k": F(k), "delta": delta})
        out.append(point)
    return out


def _group(finishes: bool, log: Callable[[str], None] | None) -> Group:
    params = [
        Sym("alpha", "inverse temperature of T_alpha"),
        Sym("k", "iteration count of G_k", COUNT),
        Sym("delta", "Boltzmann temperature of B_i and kappa_delta"),
    ]
    if finishes:
        leaf_syms = [
            Sym("g", "gold finish success probability"),
            Sym("c", "chasm finish success probability"),
            Sym("f1", "first forest finish success probability"),
            Sym("f2", "second forest finish success probability"),
        ]
        syms = leaf_syms + params
        leaves: tuple[Any, ...] = tuple(s.symbol for s in leaf_syms)
    else:
        syms = params
        leaves = (
            sympy.Integer(1),
            sympy.Integer(0),
            sympy.Rational(3, 4),
            sympy.Rational(3, 4),
        )
    name = "symbolic" if finishes else "instance"
    done = _core.timed(f"{FAMILY}/{name}: symbolic derivation", log)
    tpl = template(*leaves)
    engine = backends.create("exact", tpl.exact_mdp())
    prior = engine.prior_policy()
    base = engine.base_reward()
    T_alpha = engine.condition(
        prior, engine.soft_values(prior, engine.scale_reward(base, ALPHA))
    )
    T_alpha = [[[sympy.factor(x) for x in row] for row in tab] for tab in T_alpha]

    def G(k: Any) -> list[list[list[Any]]]:
        return [
            [[x.xreplace({ALPHA: k}) for x in row] for row in tab] for tab in T_alpha
        ]

    def check(a: list[list[list[Any]]], b: list[list[list[Any]]], what: str) -> None:
        for t, s, act in _cells():
            si, ai = STATES.index(s), ACTIONS.index(act)
            if not identical(a[t][si][ai], b[t][si][ai]):
                raise ArithmeticError(
                    f"mountain race ({name}): {what} fails at t={t}, {s}, {act}"
                )

    if finishes:
        check(prior, G(0), "G_0 = p")
    else:  # the instance form has used 0^alpha = 0 (alpha > 0): base case k = 1
        check(engine.condition(prior, engine.values(prior)), G(1), "G_1")
    gk = G(K)
    check(engine.condition(gk, engine.values(gk)), G(K + 1), "G step k -> k+1")
    f = Boltzmann(DELTA)
    B1 = engine.soft_q_policy(engine.values(prior), f)
    B2 = engine.soft_q_policy(engine.values(B1), f)
    G1 = engine.condition(prior, engine.values(prior))
    kappa = _core.causal_kl(engine, G1, engine.soft_q_policy(engine.values(G1), f))
    if not finishes:
        kappa = sympy.expand_log(kappa, force=True)
    done()

    def interior_T(point: Point) -> bool:
        return point["alpha"] > 0 and all(
            point[v] > 0 for v in ("g", "c", "f1", "f2") if v in point
        )

    def interior_G(point: Point) -> bool:
        leaves_ok = all(point[v] > 0 for v in ("g", "c", "f1", "f2") if v in point)
        return leaves_ok and (finishes or point["k"] >= 1)

    def interior_B(point: Point) -> bool:
        return all(point[v] > 0 for v in ("g", "c", "f1", "f2") if v in point)

    valid_leaves = "all finishes > 0" if finishes else "always"
    entries: list[Entry] = []
    for t, s, a in _cells():
        si, ai = STATES.index(s), ACTIONS.index(a)
        entries.append(
            Entry(
                name=f"T_alpha({a}|{s}, t={t})",
                quantity="policy",
                policy={"operator": "T", "alpha": "alpha"},
                cell=(t, s, a),
                expression=T_alpha[t][si][ai],
                closed_form_valid="alpha > 0"
                + (", all finishes > 0" if finishes else ""),
                interior=interior_T,
                derivation="the recurrence cond(p, alpha r) with a symbolic alpha",
            )
        )
    for t, s, a in _cells():
        si, ai = STATES.index(s), ACTIONS.index(a)
        entries.append(
            Entry(
                name=f"G_k({a}|{s}, t={t})",
                quantity="policy",
                policy={"operator": "G", "k": "k"},
                cell=(t, s, a),
                expression=gk[t][si][ai],
                closed_form_valid="k >= 0 integer, all finishes > 0"
                if finishes
                else "k >= 1 integer (0^k)",
                interior=interior_G,
                derivation="T_alpha at alpha = k; induction on k (base G_0 = p, or G_1 "
                "for the instance, step: "
                "one exact conditioning of the closed form at symbolic k "
                "cancels to the closed form at k + 1, every cell)",
            )
        )
    for i, B in ((1, B1), (2, B2)):
        for t, s, a in _cells():
            si, ai = STATES.index(s), ACTIONS.index(a)
            entries.append(
                Entry(
                    name=f"B_{i}({a}|{s}, t={t})",
                    quantity="policy",
                    policy={"operator": "B", "i": i, "f": {"boltzmann": "delta"}},
                    cell=(t, s, a),
                    expression=sympy.factor(B[t][si][ai]),
                    closed_form_valid=f"delta > 0, {valid_leaves}",
                    interior=interior_B,
                    derivation="the recurrence (Boltzmann soft-Q map iterated from p) "
                    "with a symbolic delta",
                )
            )
    entries.append(
        Entry(
            name="kappa_delta(G_1)",
            quantity="kappa",
            policy={"operator": "G", "k": 1},
            f={"boltzmann": "delta"},
            expression=kappa,
            closed_form_valid=f"delta > 0, {valid_leaves}",
            interior=interior_B,
            derivation="KL_c(G_1 || Boltzmann_delta(G_1)) from the recurrences with a "
            "symbolic delta (SPEC §3–§4)",
        )
    )
    return Group(
        name=name,
        description=(
            "finish probabilities g, c, f1, f2 symbolic"
            if finishes
            else "SPEC §6 instance: g = 1, c = 0, f1 = f2 = 3/4"
        ),
        symbols=syms,
        template=tpl,
        points=_points(finishes),
        entries=entries,
    )


def derive(log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Build the mountain-race table."""
    return _core.make_table(
        __file__, FAMILY, DESCRIPTION, [_group(True, log), _group(False, log)], log=log
    )


def root_closed_form(out_dir: str | None = None) -> str:
    """The committed T_alpha(up|root) closed forms, as printed by
    ``coherence derive --show mountain-race``."""
    table = load_table(FAMILY, out_dir)
    lines = []
    for group in table["groups"]:
        for entry in group["entries"]:
            if entry["name"] == "T_alpha(up|root, t=0)":
                lines.append(f"[{group['description']}]")
                lines.append(
                    f"T_alpha(up|root) = {entry['expression']}   "
                    f"({entry['closed_form_valid']})"
                )
                if group["name"] != "instance":
                    continue
                alphas = [p["alpha"] for p in group["points"]]
                shown = [
                    f"alpha={a}: {v['value']} ({v['by']})"
                    for a, v in zip(alphas, entry["values"], strict=True)
                    if a in ("0", "1", "2", "3", "4")
                ]
                lines.append("  " + ", ".join(dict.fromkeys(shown)))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Regenerate ``tables/mountain_race.json`` (or into ``--out DIR``)."""
    return _core.generator_main(FAMILY, derive, __doc__, argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
