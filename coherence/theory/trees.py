"""Deterministic trees of depth <= 3 and branching <= 2: the three-way
correspondence T_k = G_k = F_k and H_k = T_(2^(k-1)) as exact identities.

Family (every shape enumerated, 27 in all): a rooted tree whose leaves all lie at
depth d in {1, 2, 3} and whose internal nodes have 1 or 2 children; children are
unordered (a shape is a multiset of child shapes, so mirror images are one
shape). Horizon T = d, two actions a0, a1 at every state: at a node with two
children a0 and a1 lead to different children, at a node with one child both
lead to it. Leaves are absorbing; leaf ``x_<path>`` has symbolic terminal
success x_<path> in (0, 1]; internal nodes have terminal success 0; step
success is 1. Each internal node has its own symbolic prior p(a0) = q_<path>,
p(a1) = 1 - q_<path>, q in (0, 1). Paths: ``r`` is the root, ``r0`` / ``r1``
its children, and so on.

Per shape the table holds

* T_alpha(a0|s) at every internal node s at its own time step: the closed form
  q W_0^alpha / (q W_0^alpha + (1 - q) W_1^alpha), W_b^alpha the prior-weighted
  sum of x^alpha over the leaves below child b (the posterior over trajectories of
  a deterministic tree, SPEC §7 claim 2), checked identical to the recurrence
  cond(p, alpha r) run with a symbolic alpha (the powers x^alpha as further
  indeterminates);
* for k = 1..4 the identities G_k - T_k = 0, F_k - G_k = 0 and
  H_k - T_(2^(k-1)) = 0 at EVERY (t, s, a) (unreachable cells included), each
  decided exactly by running the recurrences over exact rational functions in
  the symbols (:class:`~coherence.theory.numbers.RationalFunctions`: kept
  factored, common factors cancelled, the rest expanded, so a difference is 0
  exactly when it is the zero rational function). The proof is an induction on k:
  once G_(k-1) = T_(k-1) (resp. F, H) is an identity at every cell, the next
  iterate is the recurrence applied to the compact T form, so the exponentially
  nested expressions of the raw iteration are never cancelled. At every cell the
  identity is checked for a0; a1 follows because both rows sum to 1;
* for shapes of depth <= 2 with two children at the root, the literal folding's
  difference F_literal_2 - G_2 at (0, root, a0): an explicit non-zero factored
  expression (``sympy.factor`` of the exact difference; it vanishes at q = 1/2
  only in the root factor; SPEC §4).

Values: closed forms substituted at interior points (all leaves > 0, alpha > 0),
checked against the exact recurrences there; boundary points (a leaf at 0,
alpha = 0) by the exact recurrences. Identity entries are evaluated at every
point by the definition: the difference at the first cell where the two policies
differ, 0 when they agree everywhere.

Cost: about 7 s on one core (27 shapes: the identity checks about 1 s in all;
the rest is the values at 21 points, the rational policies over gmpy2.mpq).
"""

from __future__ import annotations

import itertools
import random
import sys
from collections.abc import Callable, Sequence
from fractions import Fraction
from functools import cache
from typing import Any

import sympy

from coherence import backends
from coherence.reference import operators as ops
from coherence.theory import _core
from coherence.theory._core import Entry, Group, Point, Sym, Template
from coherence.theory.numbers import RationalFunctions

__all__ = ["FAMILY", "Shape", "derive", "main", "shape_name", "shapes"]

FAMILY = "trees"

DESCRIPTION = (
    "All deterministic trees with leaves at depth d <= 3 and 1 or 2 (unordered) "
    "children per internal node, symbolic leaf success x and symbolic prior q per "
    "node: T_alpha at every internal node; G_k - T_k, F_k - G_k and "
    "H_k - T_(2^(k-1)) for k <= 4 as exact identities at every (t, s, a); the "
    "literal folding's non-zero difference F_literal_2 - G_2 for depth <= 2."
)

Shape = tuple["Shape", ...]
ALPHA = sympy.Symbol("alpha", positive=True)
ACTIONS = ("a0", "a1")
MAX_K = 4


@cache
def shapes(depth: int) -> tuple[Shape, ...]:
    """Every shape with all leaves at ``depth`` (the leaf is ``()``)."""
    if depth == 0:
        return ((),)
    below = shapes(depth - 1)
    ones: list[Shape] = [(c,) for c in below]
    twos: list[Shape] = [
        (a, b) for a, b in itertools.combinations_with_replacement(below, 2)
    ]
    return tuple(ones + twos)


def shape_name(shape: Shape) -> str:
    """``o`` for a leaf, ``[..]`` around the children otherwise."""
    if not shape:
        return "o"
    return "[" + "".join(shape_name(c) for c in shape) + "]"


def _nodes(shape: Shape, path: str = "r") -> list[tuple[str, Shape]]:
    out = [(path, shape)]
    for b, child in enumerate(shape):
        out += _nodes(child, path + str(b))
    return out


def _build(shape: Shape, depth: int) -> tuple[Template, list[Sym]]:
    one, zero = sympy.Integer(1), sympy.Integer(0)
    nodes = _nodes(shape)
    syms: list[Sym] = []
    transitions: dict[str, dict[str, dict[str, Any]]] = {}
    terminal: dict[str, Any] = {}
    prior: dict[str, dict[str, Any]] = {}
    for path, node in nodes:
        if node:
            q = Sym(f"q_{path}", f"prior p(a0|{path})")
            syms.append(q)
            kids = [path + str(b) for b in range(len(node))]
            targets = kids if len(kids) == 2 else kids * 2
            transitions[path] = {
                a: {t: one} for a, t in zip(ACTIONS, targets, strict=True)
            }
            prior[path] = {"a0": q.symbol, "a1": 1 - q.symbol}
            terminal[path] = zero
        else:
            x = Sym(f"x_{path}", f"terminal success probability of leaf {path}")
            syms.append(x)
            transitions[path] = {a: {path: one} for a in ACTIONS}
            terminal[path] = x.symbol
    tpl = Template(
        states=tuple(p for p, _ in nodes),
        actions=ACTIONS,
        horizon=depth,
        transitions=transitions,
        initial={"r": one},
        terminal_success=terminal,
        prior=prior,
    )
    return tpl, syms


def _leaf_weight(shape: Shape, path: str, power: Any) -> Any:
    """sum over leaves below ``path`` of (prior path probability) x^power."""
    if not shape:
        return sympy.Symbol(f"x_{path}", positive=True) ** power
    q = sympy.Symbol(f"q_{path}", positive=True)
    if len(shape) == 1:
        return _leaf_weight(shape[0], path + "0", power)
    return q * _leaf_weight(shape[0], path + "0", power) + (1 - q) * _leaf_weight(
        shape[1], path + "1", power
    )


def _posterior(shape: Shape, path: str, power: Any) -> Any:
    """T_alpha(a0|path) from the trajectory posterior (deterministic tree)."""
    q = sympy.Symbol(f"q_{path}", positive=True)
    if len(shape) == 1:
        return q
    w0 = _leaf_weight(shape[0], path + "0", power)
    w1 = _leaf_weight(shape[1], path + "1", power)
    return q * w0 / (q * w0 + (1 - q) * w1)


def _points(syms: list[Sym], seed: int) -> list[Point]:
    """21 points: 7 boundary / special points, then draws from a fixed seed."""
    rng = random.Random(seed)
    F = Fraction
    leaves = [s.name for s in syms if s.name.startswith("x_")]
    priors = [s.name for s in syms if s.name.startswith("q_")]

    def draw_q() -> dict[str, Fraction]:
        return {q: F(rng.randint(1, 8), 9) for q in priors}

    def draw_x(zero: int = -1) -> dict[str, Fraction]:
        out = {}
        for j, x in enumerate(leaves):
            d = rng.randint(2, 10)
            out[x] = F(0) if j == zero else F(rng.randint(1, d), d)
        return out

    rows: list[tuple[dict[str, Fraction], dict[str, Fraction], Fraction]] = [
        ({q: F(1, 2) for q in priors}, draw_x(), F(2)),  # uniform prior
        (draw_q(), draw_x(), F(0)),  # alpha = 0
        (draw_q(), draw_x(zero=0), F(1)),  # a leaf fails
        (draw_q(), {x: F(0) for x in leaves}, F(3)),  # every leaf fails
        (draw_q(), {x: F(1) for x in leaves}, F(4)),  # every leaf succeeds
        (draw_q(), draw_x(zero=len(leaves) - 1), F(8)),
        (draw_q(), draw_x(), F(1, 2)),
    ]
    alphas = [F(1), F(2), F(3), F(4), F(8), F(3, 2), F(5, 2), F(10)]
    while len(rows) < 21:
        rows.append((draw_q(), draw_x(), rng.choice(alphas)))
    out = []
    for q, x, alpha in rows:
        point = {s.name: (q | x)[s.name] for s in syms if s.name != "alpha"}
        point["alpha"] = alpha
        out.append(point)
    return out


def _group(
    shape: Shape, depth: int, seed: int, log: Callable[[str], None] | None
) -> Group:
    name = shape_name(shape)
    tpl, syms = _build(shape, depth)
    syms.append(Sym("alpha", "inverse temperature of T_alpha"))
    done = _core.timed(f"{FAMILY}/{name}: identities", log)
    # The identities are decided over exact rational functions in the q's, the
    # x's and, for T_alpha, the powers x^alpha as further indeterminates.
    leaves = [sym.name for sym in syms if sym.name.startswith("x_")]
    field = RationalFunctions(
        [sym.name for sym in syms if sym.name != "alpha"],
        powers=(ALPHA, {x: f"{x}**alpha" for x in leaves}),
    )
    engine = backends.create("exact", tpl.exact_mdp(system=field))
    prior = engine.prior_policy()
    T_sym = engine.condition(
        prior,
        engine.soft_values(prior, engine.scale_reward(engine.base_reward(), ALPHA)),
    )
    internal = [(p, node, len(p) - 1) for p, node in _nodes(shape) if node]
    entries: list[Entry] = []

    def interior_T(point: Point) -> bool:
        return point["alpha"] > 0 and all(point[s.name] > 0 for s in syms)

    def interior_x(point: Point) -> bool:
        return all(point[s.name] > 0 for s in syms if s.name.startswith("x_"))

    for path, node, t in internal:
        s = tpl.states.index(path)
        closed = _posterior(node, path, ALPHA)
        if field.from_sympy(closed) != T_sym[t][s][0]:
            raise ArithmeticError(f"trees {name}: T_alpha posterior form at {path}")
        entries.append(
            Entry(
                name=f"T_alpha(a0|{path}, t={t})",
                quantity="policy",
                policy={"operator": "T", "alpha": "alpha"},
                cell=(t, path, "a0"),
                expression=closed,
                closed_form_valid="alpha > 0, all leaves > 0",
                interior=interior_T,
                derivation="trajectory posterior of a deterministic tree; identical "
                "(exact rational functions, each x^alpha its own variable) to the "
                "recurrence with a symbolic alpha",
            )
        )

    def same_everywhere(
        a: list[list[list[Any]]], b: list[list[list[Any]]], what: str
    ) -> None:
        # Both rows sum to 1 identically (conditioning normalises), so with two
        # actions the identity at a0 gives the one at a1.
        for t in range(depth):
            for s in range(len(tpl.states)):
                if a[t][s][0] != b[t][s][0]:
                    raise ArithmeticError(
                        f"trees {name}: {what} is not an "
                        f"identity at t={t}, {tpl.states[s]}"
                    )

    # Induction on k, every step an identity at EVERY (t, s, a): once
    # G_(k-1) = T_(k-1) (resp. F, H) holds as an identity of rational functions,
    # the next iterate is the recurrence applied to the compact T form, so the
    # nested expressions of the raw iteration never have to be cancelled.
    base = engine.base_reward()

    def cond(policy: Any, reward: Any) -> Any:
        return engine.condition(policy, engine.soft_values(policy, reward))

    temps = {a: ops.temperature(engine, a) for a in range(MAX_K + 1)}
    temps[2 ** (MAX_K - 1)] = ops.temperature(engine, 2 ** (MAX_K - 1))
    same_everywhere(temps[0], prior, "T_0 - p")
    cumulative = base
    how = (
        "exact recurrences over the symbols, by induction on k at every "
        "(t, s, a): the step applies the recurrence to the previous iterate in "
        "its (already proved equal) T form and reduces the difference to 0 "
        "(exact rational functions: a constant times powers of polynomial "
        "factors)"
    )
    for k in range(1, MAX_K + 1):
        previous = temps[k - 1]
        same_everywhere(cond(previous, base), temps[k], f"G_{k} - T_{k}")
        folded = base if k == 1 else engine.fold(base, previous, literal=False)
        same_everywhere(cond(prior, folded), temps[k], f"F_{k} - G_{k}")
        h = 2 ** (k - 1)
        same_everywhere(cond(prior, cumulative), temps[h], f"H_{k} - T_{h}")
        cumulative = engine.fold(cumulative, temps[h], literal=False)
        for label, spec, minus in (
            (
                f"G_{k} - T_{k}",
                {"operator": "G", "k": k},
                {"operator": "T", "alpha": k},
            ),
            (f"F_{k} - G_{k}", {"operator": "F", "k": k}, {"operator": "G", "k": k}),
            (
                f"H_{k} - T_{h}",
                {"operator": "H", "k": k},
                {"operator": "T", "alpha": h},
            ),
        ):
            entries.append(
                Entry(
                    name=label,
                    quantity="difference",
                    policy=spec,
                    minus=minus,
                    cell=None,
                    expression=sympy.Integer(0),
                    closed_form_valid="all leaves > 0",
                    interior=interior_x,
                    derivation=how,
                )
            )
    if depth <= 2 and len(shape) == 2:
        # Printed as sympy.factor of the exact difference.
        lit = ops.folding(engine, 2, literal=True)
        symbols = {sym.name: sym.symbol for sym in syms}
        diff = field.factored(lit[0][0][0] - temps[2][0][0][0], symbols)
        if diff == 0:
            raise ArithmeticError(f"trees {name}: F_literal_2 - G_2 vanishes")
        entries.append(
            Entry(
                name="F_literal_2 - G_2 (a0|r)",
                quantity="difference",
                policy={"operator": "F_literal", "k": 2},
                minus={"operator": "G", "k": 2},
                cell=(0, "r", "a0"),
                expression=diff,
                closed_form_valid="all leaves > 0",
                interior=interior_x,
                derivation="exact recurrences over sympy symbols, cancelled and "
                "factored; non-zero for a non-uniform prior",
            )
        )
    done()
    return Group(
        name=name,
        description=f"depth {depth}, shape {name} ({len(tpl.states)} states)",
        symbols=syms,
        template=tpl,
        points=_points(syms, seed),
        entries=entries,
    )


def derive(log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Build the trees table (27 shapes)."""
    groups = []
    seed = 3000
    for depth in (1, 2, 3):
        for shape in shapes(depth):
            seed += 1
            groups.append(_group(shape, depth, seed, log))
    return _core.make_table(__file__, FAMILY, DESCRIPTION, groups, log=log)


def main(argv: Sequence[str] | None = None) -> int:
    """Regenerate ``tables/trees.json`` (or into ``--out DIR``)."""
    return _core.generator_main(FAMILY, derive, __doc__, argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
