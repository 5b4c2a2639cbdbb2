"""Closed forms for the one-step bandit with n = 2, 3, 4 actions.

Family: one state ``root``, horizon T = 1, every action returns to ``root``;
action a_j succeeds with symbolic probability rho_j (step success, rho_T = 1);
symbolic prior p_j with p_1 + ... + p_n = 1 (all p_j > 0, rho_j in (0, 1] in the
interior). Symbolic k, alpha, delta, i.

Derived closed forms (SPEC §4; Z_m = sum_j p_j rho_j^m):

    G_k(a_j)         = p_j rho_j^k / Z_k                       (k >= 0)
    T_alpha(a_j)     = p_j rho_j^alpha / Z_alpha               (alpha >= 0)
    F_k(a_j)         = G_k(a_j)                                (k >= 0)
    F_literal_k(a_j) = (p_j rho_j)^k / sum_i (p_i rho_i)^k     (k >= 1; F_0 = p)
    H_k(a_j)         = p_j rho_j^(2^(k-1)) / Z_(2^(k-1))       (k >= 1; H_0 = p)
    H_literal_k(a_j) = (p_j rho_j)^(2^(k-1)) / sum_i (...)     (k >= 1)
    B_i(a_j)         = rho_j^(1/delta) / sum_i rho_i^(1/delta) (i >= 1; B_0 = p)
    J_prob(G_k)      = Z_(k+1) / Z_k
    J_sum(G_k)       = sum_j G_k(a_j) log rho_j
    kappa_delta(G_k) = sum_j G_k(a_j) (log G_k(a_j) - log B_1(a_j))

How they are derived (each step checked here with sympy, keeping expressions
factored): T_alpha is the generic recurrence run with a symbolic alpha. G, F,
F_literal, H, H_literal and B are proved by induction on the symbolic iteration
count: the base case is the recurrence itself, and the step applies ONE exact
conditioning / folding / soft-Q step of :mod:`coherence.reference.recurrences`
to the closed form at a symbolic k and cancels the difference to the closed form
at k + 1. For H and H_literal the invariant carries the folded reward up to an
action-independent factor c (R'_k = c rho^(2^k), resp. c p^(2^k - 1) rho^(2^k)).
J_prob, J_sum and kappa are the definitions of SPEC §3–§4 applied to those
closed forms (kappa: the Boltzmann policy of any bandit policy is B_1).

Values: substituted at interior points (all rho_j > 0, alpha > 0, counts within
the stated range) and there checked against the exact recurrences; at boundary
points (some rho_j = 0, all rho_j = 0, alpha = 0, k = 0 or i = 0 where the form
needs k >= 1) computed by the exact recurrences with the SPEC §2 conventions.

Cost: about 3 s on one core (two thirds of it evaluating 3 x 24 points; the
rational policies there run over gmpy2.mpq).
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import sympy

from coherence import backends
from coherence.reference.exact import ExactEngine
from coherence.reference.recurrences import Boltzmann
from coherence.theory import _core
from coherence.theory._core import Entry, Group, Point, Sym, Template, identical

__all__ = ["FAMILY", "derive", "groups", "main"]

FAMILY = "bandit"

DESCRIPTION = (
    "One-step bandit (T = 1, one state, n = 2..4 actions, step success rho_j, "
    "prior p_j summing to 1): G_k, T_alpha, F_k, F_literal_k, H_k, H_literal_k, "
    "B_i (Boltzmann delta), J_prob(G_k), J_sum(G_k), kappa_delta(G_k) as closed "
    "forms in symbolic k, alpha, delta, i."
)

K = sympy.Symbol("k", integer=True, nonnegative=True)
I_ = sympy.Symbol("i", integer=True, nonnegative=True)
ALPHA = sympy.Symbol("alpha", positive=True)
DELTA = sympy.Symbol("delta", positive=True)
C = sympy.Symbol("c", positive=True)


def _symbols(n: int) -> list[Sym]:
    count = (("integer", True), ("nonnegative", True))
    return (
        [
            Sym(f"p{j}", f"prior p(a{j}|root); p1 + ... + p{n} = 1")
            for j in range(1, n + 1)
        ]
        + [Sym(f"rho{j}", f"success probability of a{j}") for j in range(1, n + 1)]
        + [
            Sym("k", "iteration count of G, F, H", count),
            Sym("alpha", "inverse temperature of T_alpha"),
            Sym("delta", "Boltzmann temperature of B_i and kappa_delta"),
            Sym("i", "iteration count of B_i", count),
        ]
    )


def _template(n: int, p: Sequence[Any], rho: Sequence[Any]) -> Template:
    actions = tuple(f"a{j}" for j in range(1, n + 1))
    return Template(
        states=("root",),
        actions=actions,
        horizon=1,
        transitions={"root": {a: {"root": sympy.Integer(1)} for a in actions}},
        initial={"root": sympy.Integer(1)},
        terminal_success={"root": sympy.Integer(1)},
        success={"root": dict(zip(actions, rho, strict=True))},
        prior={"root": dict(zip(actions, p, strict=True))},
    )


def _normalised(weights: Sequence[Any]) -> list[Any]:
    total = sympy.Add(*weights)
    return [w / total for w in weights]


def _points(n: int) -> list[Point]:
    """24 points: 9 boundary points, then 15 drawn from a fixed seed."""
    rng = random.Random(1000 + n)

    def prior() -> list[Fraction]:
        w = [rng.randint(1, 9) for _ in range(n)]
        return [Fraction(x, sum(w)) for x in w]

    def success() -> list[Fraction]:
        out = []
        for _ in range(n):
            d = rng.randint(2, 12)
            out.append(Fraction(rng.randint(1, d), d))
        return out

    uniform = [Fraction(1, n)] * n
    mixed = [Fraction(1, 2)] + [Fraction(j + 1, j + 3) for j in range(1, n)]
    distinct = [Fraction(j, n + 1) for j in range(1, n + 1)]
    zero_one = [Fraction(0)] + [Fraction(1)] + [Fraction(2, 3)] * (n - 2)
    rows: list[tuple[list[Fraction], list[Fraction], int, Fraction, Fraction, int]] = [
        (uniform, distinct, 2, Fraction(2), Fraction(1), 2),
        (prior(), zero_one, 0, Fraction(0), Fraction(1, 2), 0),  # success 0, alpha 0
        (prior(), zero_one, 3, Fraction(3, 2), Fraction(1, 50), 1),  # small delta
        (prior(), [Fraction(0)] * n, 2, Fraction(1), Fraction(1), 2),  # all fail
        (prior(), [Fraction(1)] * n, 4, Fraction(5, 2), Fraction(1, 3), 3),
        (prior(), mixed, 0, Fraction(1, 3), Fraction(1, 50), 1),  # k = 0
        (prior(), mixed, 1, Fraction(0), Fraction(2), 0),  # alpha 0, i 0
        (prior(), distinct, 6, Fraction(10), Fraction(1, 100), 2),
        (uniform, [Fraction(0), *distinct[1:]], 1, Fraction(1, 2), Fraction(3, 7), 1),
    ]
    alphas = [Fraction(1, 2), Fraction(1), Fraction(2), Fraction(3), Fraction(7, 3)]
    deltas = [Fraction(1), Fraction(1, 2), Fraction(1, 4), Fraction(2), Fraction(5, 3)]
    while len(rows) < 24:
        rows.append(
            (
                prior(),
                success(),
                rng.randint(0, 5),
                rng.choice(alphas),
                rng.choice(deltas),
                rng.randint(1, 3),
            )
        )
    out = []
    for p, rho, k, alpha, delta, i in rows:
        point = {f"p{j + 1}": p[j] for j in range(n)}
        point.update({f"rho{j + 1}": rho[j] for j in range(n)})
        point.update(
            {"k": Fraction(k), "alpha": alpha, "delta": delta, "i": Fraction(i)}
        )
        out.append(point)
    return out


def _interior(
    n: int, *, alpha: bool = False, k_min: int = 0, i_min: int = 0
) -> Callable[[Point], bool]:
    def check(point: Point) -> bool:
        return (
            all(point[f"rho{j}"] > 0 for j in range(1, n + 1))
            and all(point[f"p{j}"] > 0 for j in range(1, n + 1))
            and (not alpha or point["alpha"] > 0)
            and point["k"] >= k_min
            and point["i"] >= i_min
        )

    return check


def _on_simplex(n: int, p: Sequence[Any]) -> dict[Any, Any]:
    return {p[-1]: 1 - sympy.Add(*p[:-1])}


def groups(n: int, log: Callable[[str], None] | None = None) -> Group:
    """The group of the n-action bandit, with every closed form verified."""
    syms = _symbols(n)
    table = {s.name: s.symbol for s in syms}
    p = [table[f"p{j}"] for j in range(1, n + 1)]
    rho = [table[f"rho{j}"] for j in range(1, n + 1)]
    template = _template(n, p, rho)
    engine = backends.create("exact", template.exact_mdp())
    base = engine.base_reward()
    prior = engine.prior_policy()
    simplex = _on_simplex(n, p)
    done = _core.timed(f"{FAMILY}/n={n}: symbolic derivation", log)

    def pol(row: Sequence[Any]) -> list[list[list[Any]]]:
        return [[list(row)]]

    def same(
        x: Sequence[Any], y: Sequence[Any], what: str, constrained: bool = False
    ) -> None:
        for a, b in zip(x, y, strict=True):
            if constrained:
                a, b = (
                    sympy.sympify(a).xreplace(simplex),
                    sympy.sympify(b).xreplace(simplex),
                )
            if not identical(a, b):
                raise ArithmeticError(f"bandit n={n}: {what} is not an identity")

    def G(k: Any) -> list[Any]:
        return _normalised([pj * rj**k for pj, rj in zip(p, rho, strict=True)])

    def G_lit(k: Any) -> list[Any]:
        return _normalised([(pj * rj) ** k for pj, rj in zip(p, rho, strict=True)])

    def H(k: Any) -> list[Any]:
        return G(2 ** (k - 1))

    def H_lit(k: Any) -> list[Any]:
        return G_lit(2 ** (k - 1))

    B = _normalised([rj ** (1 / DELTA) for rj in rho])

    def cond(policy: list[Any], reward: list[Any]) -> list[Any]:
        values = engine.soft_values(pol(policy), ([[list(reward)]], base[1]))
        out: list[Any] = engine.condition(pol(policy), values)[0][0]
        return out

    def fold(reward: list[Any], policy: list[Any], literal: bool) -> list[Any]:
        out: list[Any] = engine.fold(
            ([[list(reward)]], base[1]), pol(policy), literal=literal
        )[0][0][0]
        return out

    rho_row = list(rho)
    # T_alpha: the recurrence with a symbolic alpha.
    same(
        engine.condition(
            prior, engine.soft_values(prior, engine.scale_reward(base, ALPHA))
        )[0][0],
        G(ALPHA),
        "T_alpha",
    )
    # G_k: base k = 0 (on the simplex), step k -> k + 1.
    same(prior[0][0], G(0), "G_0", constrained=True)
    same(cond(G(K), rho_row), G(K + 1), "G step")

    # F_k with R_k = rho^(k+1) / Z_k: base k = 0, step.
    def R(k: Any) -> list[Any]:
        z = sympy.Add(*[pj * rj**k for pj, rj in zip(p, rho, strict=True)])
        return [rj ** (k + 1) / z for rj in rho]

    same(R(0), rho_row, "R_0", constrained=True)
    same(cond(list(p), R(K)), G(K + 1), "F step (policy)")
    same(fold(rho_row, G(K + 1), False), R(K + 1), "F step (reward)")

    # F_literal_k with R_k = rho (p rho)^k / Y_k, k >= 1.
    def R_lit(k: Any) -> list[Any]:
        y = sympy.Add(*[(pj * rj) ** k for pj, rj in zip(p, rho, strict=True)])
        return [rj * (pj * rj) ** k / y for pj, rj in zip(p, rho, strict=True)]

    f1 = cond(list(p), rho_row)
    same(f1, G_lit(1), "F_literal_1")
    same(fold(rho_row, f1, True), R_lit(1), "F_literal R_1")
    same(cond(list(p), R_lit(K)), G_lit(K + 1), "F_literal step (policy)")
    same(fold(rho_row, G_lit(K + 1), True), R_lit(K + 1), "F_literal step (reward)")

    # H_k, H_literal_k: folded reward c * rho^(2^k) (resp. c p^(2^k-1) rho^(2^k)).
    def proportional(xs: list[Any], ys: list[Any], what: str) -> None:
        ratios = [x / y for x, y in zip(xs, ys, strict=True)]
        for r in ratios[1:]:
            if not identical(sympy.powsimp(r), sympy.powsimp(ratios[0])):
                raise ArithmeticError(f"bandit n={n}: {what} is not proportional")

    for literal, closed_form in ((False, H), (True, H_lit)):
        name = "H_literal" if literal else "H"

        def shape(k: Any, literal: bool = literal) -> list[Any]:
            if literal:
                return [
                    pj ** (2**k - 1) * rj ** (2**k)
                    for pj, rj in zip(p, rho, strict=True)
                ]
            return [rj ** (2**k) for rj in rho]

        h1 = cond(list(p), rho_row)
        same(h1, closed_form(1), f"{name}_1")
        proportional(fold(rho_row, h1, literal), shape(1), f"{name} R'_1")
        step_reward = [C * x for x in shape(K)]
        h_next = cond(list(p), step_reward)
        same(h_next, closed_form(K + 1), f"{name} step (policy)")
        proportional(
            fold(step_reward, h_next, literal), shape(K + 1), f"{name} step (reward)"
        )
    # B_i: B_1 from the recurrence; the soft-Q map sends any policy to B_1.
    f = Boltzmann(DELTA)
    same(engine.soft_q_policy(engine.values(prior), f)[0][0], B, "B_1")
    same(engine.soft_q_policy(engine.values(pol(B)), f)[0][0], B, "B step")

    g = G(K)
    j_prob = sympy.Add(
        *[pj * rj ** (K + 1) for pj, rj in zip(p, rho, strict=True)]
    ) / sympy.Add(*[pj * rj**K for pj, rj in zip(p, rho, strict=True)])
    same([rec_j_prob(engine, g)], [j_prob], "J_prob(G_k)")
    j_sum = sympy.Add(*[gj * sympy.log(rj) for gj, rj in zip(g, rho, strict=True)])
    kappa = _core.causal_kl(engine, pol(g), pol(B))
    done()

    interior = _interior(n)
    entries: list[Entry] = []
    by_induction = (
        "induction on the count: base case from the recurrence, step = "
        "one exact recurrence step applied to the closed form at a "
        "symbolic count (sympy cancel)"
    )
    forms: list[
        tuple[str, dict[str, Any], list[Any], str, Callable[[Point], bool], str]
    ] = [
        (
            "G_k",
            {"operator": "G", "k": "k"},
            g,
            "k >= 0 integer, all rho_j > 0",
            interior,
            by_induction,
        ),
        (
            "T_alpha",
            {"operator": "T", "alpha": "alpha"},
            G(ALPHA),
            "alpha > 0, all rho_j > 0",
            _interior(n, alpha=True),
            "the recurrence cond(p, alpha r) run with a symbolic alpha",
        ),
        (
            "F_k",
            {"operator": "F", "k": "k"},
            g,
            "k >= 0 integer, all rho_j > 0",
            interior,
            by_induction + "; invariant R_k = rho^(k+1) / Z_k",
        ),
        (
            "F_literal_k",
            {"operator": "F_literal", "k": "k"},
            G_lit(K),
            "k >= 1 integer, all rho_j > 0 (F_literal_0 = p)",
            _interior(n, k_min=1),
            by_induction + "; invariant R_k = rho (p rho)^k / sum (p rho)^k",
        ),
        (
            "H_k",
            {"operator": "H", "k": "k"},
            H(K),
            "k >= 1 integer, all rho_j > 0 (H_0 = p)",
            _interior(n, k_min=1),
            by_induction + "; invariant R'_k = c rho^(2^k)",
        ),
        (
            "H_literal_k",
            {"operator": "H_literal", "k": "k"},
            H_lit(K),
            "k >= 1 integer, all rho_j > 0 (H_literal_0 = p)",
            _interior(n, k_min=1),
            by_induction + "; invariant R'_k = c p^(2^k - 1) rho^(2^k)",
        ),
        (
            "B_i",
            {"operator": "B", "i": "i", "f": {"boltzmann": "delta"}},
            B,
            "i >= 1 integer, all rho_j > 0 (B_0 = p)",
            _interior(n, i_min=1),
            "B_1 from the recurrence; the Boltzmann map sends every policy to B_1 "
            "because Q(a_j) = log rho_j does not depend on the policy",
        ),
    ]
    for name, spec, closed, valid, check, how in forms:
        for j, expr in enumerate(closed, start=1):
            entries.append(
                Entry(
                    name=f"{name}(a{j})",
                    quantity="policy",
                    policy=spec,
                    cell=(0, "root", f"a{j}"),
                    expression=expr,
                    closed_form_valid=valid,
                    interior=check,
                    derivation=how,
                )
            )
    g_spec = {"operator": "G", "k": "k"}
    entries += [
        Entry(
            name="J_prob(G_k)",
            quantity="J_prob",
            policy=g_spec,
            expression=j_prob,
            closed_form_valid="k >= 0 integer, all rho_j > 0",
            interior=interior,
            derivation="sum_j G_k(a_j) rho_j (SPEC §3)",
        ),
        Entry(
            name="J_sum(G_k)",
            quantity="J_sum",
            policy=g_spec,
            expression=j_sum,
            closed_form_valid="k >= 0 integer, all rho_j > 0",
            interior=interior,
            derivation="sum_j G_k(a_j) log rho_j (SPEC §3)",
        ),
        Entry(
            name="kappa_delta(G_k)",
            quantity="kappa",
            policy=g_spec,
            f={"boltzmann": "delta"},
            expression=kappa,
            closed_form_valid="k >= 0 integer, all rho_j > 0",
            interior=interior,
            derivation="KL(G_k || B_1) with the closed forms above (SPEC §4)",
        ),
    ]
    return Group(
        name=f"n={n}",
        description=f"{n}-action bandit; prior p1..p{n} (sum 1), success rho1..rho{n}",
        symbols=syms,
        template=template,
        points=_points(n),
        entries=entries,
    )


def rec_j_prob(engine: ExactEngine, row: list[Any]) -> Any:
    """J_prob of a one-state policy row on ``engine``."""
    return engine.j_prob([[list(row)]])


def derive(log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Build the bandit table."""
    return _core.make_table(
        __file__, FAMILY, DESCRIPTION, [groups(n, log) for n in (2, 3, 4)], log=log
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Regenerate ``tables/bandit.json`` (or into ``--out DIR``)."""
    return _core.generator_main(FAMILY, derive, __doc__, argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
