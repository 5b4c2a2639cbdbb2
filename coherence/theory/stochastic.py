"""Stochastic families: where G_2 - T_2 and H_2 - T_2 do not vanish and
F_2 - G_2 does (SPEC §7 claims 14–16).

Two groups, both with a stochastic root: action a1 goes to s1 with probability
u (to s2 with 1 - u), action a2 goes to s1 with probability v; prior
p(a1|root) = q.

* ``one-step`` (T = 1, SPEC §6's stochastic counterexample with symbols): s1, s2
  absorbing with terminal success x1, x2 (0 at root).
* ``two-step`` (T = 2): s1 and s2 are decision states with prior q1, q2 (for
  a1) whose actions lead deterministically to absorbing leaves l11, l12 (from
  s1) and l21, l22 (from s2) with terminal success y11, y12, y21, y22.

Entries: G_1, G_2, T_2, F_2 at (0, root, a1) (the recurrences over exact
rational functions in the symbols,
:class:`~coherence.theory.numbers.RationalFunctions`, printed as
``sympy.factor`` of the result); G_2 - T_2 at (0, root, a1) and, for
``one-step``, H_3 - T_4 (H_2 =
F_2 = G_2 for every MDP, so H_3 is the first cumulative fold that can differ):
explicit non-zero factored expressions (they vanish when u = v, i.e. when the
root's action does not change the transition law, among other special points);
F_2 - G_2 at every (t, s, a): identically 0 (canonical folding equals
re-training for every prior and all dynamics); for ``two-step`` also G_2 - T_2
at (1, s1, a1) and (1, s2, a1): 0 (the dynamics below s1, s2 are deterministic).

Values: closed forms at interior points (every success probability > 0,
u, v, q in (0, 1)), checked there against the exact recurrences; boundary points
(u = 1, a success 0, ...) by the exact recurrences.

Cost: about 2 s on one core (mostly the values; factoring the two-step
G_2 - T_2 takes 0.1 s with python-flint's factorisation, about 3 s with
sympy's where python-flint is not installed).
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import sympy

from coherence import backends
from coherence.reference import operators as ops
from coherence.theory import _core
from coherence.theory._core import Entry, Group, Point, Sym, Template
from coherence.theory.numbers import RationalFunctions

__all__ = ["FAMILY", "derive", "main"]

FAMILY = "stochastic"

DESCRIPTION = (
    "Stochastic root (a1 -> s1 w.p. u, a2 -> s1 w.p. v), symbolic prior and "
    "success: closed forms of G_2 - T_2 and H_3 - T_4 (non-zero) and F_2 - G_2 "
    "(vanishes identically), for a one-step and a two-step family."
)

ACTIONS = ("a1", "a2")


def _template(two_step: bool, s: dict[str, Any]) -> Template:
    one, zero = sympy.Integer(1), sympy.Integer(0)
    transitions: dict[str, dict[str, dict[str, Any]]] = {
        "root": {
            "a1": {"s1": s["u"], "s2": 1 - s["u"]},
            "a2": {"s1": s["v"], "s2": 1 - s["v"]},
        },
    }
    prior: dict[str, dict[str, Any]] = {"root": {"a1": s["q"], "a2": 1 - s["q"]}}
    terminal: dict[str, Any] = {"root": zero}
    if not two_step:
        states: tuple[str, ...] = ("root", "s1", "s2")
        for mid in ("s1", "s2"):
            transitions[mid] = {a: {mid: one} for a in ACTIONS}
        terminal.update({"s1": s["x1"], "s2": s["x2"]})
    else:
        states = ("root", "s1", "s2", "l11", "l12", "l21", "l22")
        for j in ("1", "2"):
            transitions[f"s{j}"] = {"a1": {f"l{j}1": one}, "a2": {f"l{j}2": one}}
            prior[f"s{j}"] = {"a1": s[f"q{j}"], "a2": 1 - s[f"q{j}"]}
            terminal[f"s{j}"] = zero
            for b in ("1", "2"):
                leaf = f"l{j}{b}"
                transitions[leaf] = {a: {leaf: one} for a in ACTIONS}
                terminal[leaf] = s[f"y{j}{b}"]
    return Template(
        states=states,
        actions=ACTIONS,
        horizon=2 if two_step else 1,
        transitions=transitions,
        initial={"root": one},
        terminal_success=terminal,
        prior=prior,
    )


def _symbols(two_step: bool) -> list[Sym]:
    syms = [
        Sym("q", "prior p(a1|root)"),
        Sym("u", "P(s1 | root, a1)"),
        Sym("v", "P(s1 | root, a2)"),
    ]
    if two_step:
        syms += [Sym("q1", "prior p(a1|s1)"), Sym("q2", "prior p(a1|s2)")]
        syms += [
            Sym(f"y{j}{b}", f"terminal success of leaf l{j}{b}")
            for j in "12"
            for b in "12"
        ]
    else:
        syms += [
            Sym("x1", "terminal success of s1"),
            Sym("x2", "terminal success of s2"),
        ]
    return syms


def _points(syms: list[Sym], seed: int) -> list[Point]:
    """22 points: SPEC §6's instance and boundary points, then seeded draws."""
    rng = random.Random(seed)
    F = Fraction
    names = [s.name for s in syms]
    success = [n for n in names if n[0] in "xy"]

    def draw() -> Point:
        out: Point = {}
        for n in names:
            d = rng.randint(2, 11)
            out[n] = (
                F(rng.randint(1, d - 1), d)
                if n[0] in "quv"
                else F(rng.randint(1, d), d)
            )
        return out

    special: list[dict[str, Fraction]] = [
        {
            "q": F(1, 2),
            "u": F(3, 4),
            "v": F(1, 2),
            "x1": F(1, 3),
            "x2": F(2, 3),
            "q1": F(1, 2),
            "q2": F(1, 2),
            "y11": F(1, 3),
            "y12": F(1, 3),
            "y21": F(2, 3),
            "y22": F(2, 3),
        },  # SPEC §6 (lifted)
        {"u": F(1), "v": F(0)},  # deterministic root
        {"u": F(1, 2), "v": F(1, 2)},  # u = v
        {n: F(0) for n in success},  # every success 0
        {n: F(1) for n in success},  # every success 1
        {success[0]: F(0)},  # one success 0
        {"u": F(1), "v": F(1)},  # s2 unreachable
    ]
    out = []
    for extra in special:
        point = draw()
        point.update({n: v for n, v in extra.items() if n in point})
        out.append(point)
    while len(out) < 22:
        out.append(draw())
    return out


def _group(two_step: bool, log: Callable[[str], None] | None) -> Group:
    name = "two-step" if two_step else "one-step"
    syms = _symbols(two_step)
    tpl = _template(two_step, {s.name: s.symbol for s in syms})
    done = _core.timed(f"{FAMILY}/{name}: symbolic derivation", log)
    # The recurrences over exact rational functions (identities decided
    # exactly); the printed forms are sympy.factor of their results.
    field = RationalFunctions([sym.name for sym in syms])
    symbols = {sym.name: sym.symbol for sym in syms}
    engine = backends.create("exact", tpl.exact_mdp(system=field))
    G1 = ops.retrain(engine, 1)
    G2 = ops.retrain(engine, 2)
    T2 = ops.temperature(engine, 2)
    F2 = ops.folding(engine, 2)
    for t in range(tpl.horizon):
        for s in range(len(tpl.states)):
            for a in range(len(ACTIONS)):
                if F2[t][s][a] != G2[t][s][a]:
                    raise ArithmeticError(
                        f"stochastic {name}: F_2 - G_2 at t={t}, {tpl.states[s]}"
                    )
    closed = {
        label: field.factored(pol[0][0][0], symbols)
        for label, pol in (("G_1", G1), ("G_2", G2), ("T_2", T2))
    }
    g_t = field.factored(G2[0][0][0] - T2[0][0][0], symbols)
    # H_2 = F_2 = G_2 for every MDP (both fold once), so claim 16 is first
    # tested by H_3 = T_4; kept to the one-step family (the two-step form is
    # large).
    h_t = None
    if not two_step:
        H3 = ops.cumulative_folding(engine, 3)
        T4 = ops.temperature(engine, 4)
        h_t = field.factored(H3[0][0][0] - T4[0][0][0], symbols)
    if g_t == 0 or h_t == 0:
        raise ArithmeticError(f"stochastic {name}: a difference vanishes")
    below = []
    if two_step:
        for mid in ("s1", "s2"):
            s = tpl.states.index(mid)
            if G2[1][s][0] != T2[1][s][0]:
                raise ArithmeticError(f"stochastic {name}: G_2 - T_2 at {mid}")
            below.append(mid)
    done()

    def interior(point: Point) -> bool:
        return all(0 < point[n] < 1 for n in point if n[0] in "quv") and all(
            point[n] > 0 for n in point if n[0] in "xy"
        )

    valid = "every success > 0; q, u, v (and q1, q2) in (0, 1)"
    how = (
        "exact recurrences over rational functions of the symbols (a constant "
        "times powers of polynomial factors), factored"
    )
    entries: list[Entry] = []
    for label, spec in (
        ("G_1", {"operator": "G", "k": 1}),
        ("G_2", {"operator": "G", "k": 2}),
        ("T_2", {"operator": "T", "alpha": 2}),
        ("F_2", {"operator": "F", "k": 2}),
    ):
        entries.append(
            Entry(
                name=f"{label}(a1|root)",
                quantity="policy",
                policy=spec,
                cell=(0, "root", "a1"),
                expression=closed[label.replace("F", "G")],
                closed_form_valid=valid,
                interior=interior,
                derivation=how + ("; identical to G_2" if label == "F_2" else ""),
            )
        )
    entries += [
        Entry(
            name="G_2 - T_2 (a1|root)",
            quantity="difference",
            policy={"operator": "G", "k": 2},
            minus={"operator": "T", "alpha": 2},
            cell=(0, "root", "a1"),
            expression=g_t,
            closed_form_valid=valid,
            interior=interior,
            derivation=how + "; does not vanish",
        ),
        Entry(
            name="F_2 - G_2",
            quantity="difference",
            policy={"operator": "F", "k": 2},
            minus={"operator": "G", "k": 2},
            cell=None,
            expression=sympy.Integer(0),
            closed_form_valid=valid,
            interior=interior,
            derivation=how + "; vanishes identically at every (t, s, a)",
        ),
    ]
    if h_t is not None:
        entries.append(
            Entry(
                name="H_3 - T_4 (a1|root)",
                quantity="difference",
                policy={"operator": "H", "k": 3},
                minus={"operator": "T", "alpha": 4},
                cell=(0, "root", "a1"),
                expression=h_t,
                closed_form_valid=valid,
                interior=interior,
                derivation=how + "; does not vanish",
            )
        )
    for mid in below:
        entries.append(
            Entry(
                name=f"G_2 - T_2 (a1|{mid}, t=1)",
                quantity="difference",
                policy={"operator": "G", "k": 2},
                minus={"operator": "T", "alpha": 2},
                cell=(1, mid, "a1"),
                expression=sympy.Integer(0),
                closed_form_valid=valid,
                interior=interior,
                derivation=how + "; vanishes (deterministic below s1, s2)",
            )
        )
    return Group(
        name=name,
        description=(
            "T = 1: s1, s2 absorbing with success x1, x2"
            if not two_step
            else "T = 2: s1, s2 decide deterministically between leaves "
            "with success y11, y12, y21, y22"
        ),
        symbols=syms,
        template=tpl,
        points=_points(syms, 4001 if two_step else 4000),
        entries=entries,
    )


def derive(log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Build the stochastic table."""
    return _core.make_table(
        __file__, FAMILY, DESCRIPTION, [_group(False, log), _group(True, log)], log=log
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Regenerate ``tables/stochastic.json`` (or into ``--out DIR``)."""
    return _core.generator_main(FAMILY, derive, __doc__, argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
