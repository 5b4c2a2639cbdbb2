"""Closed forms of a symbolic case's queries, and their check against the oracle.

:func:`derive` runs the recurrences of :mod:`coherence.reference.recurrences`
(through :func:`coherence.reference.operators.policy_for` on an exact engine of
the registry) over rational functions of the case's symbols: in the field
Q(symbols) (:class:`~coherence.theory.assumptions.FieldSystem`, canonical at
every step) where every exponent of the query is an integer, over sympy
expressions (:class:`~coherence.theory.assumptions.RangeSystem`) where an
alpha or 1/delta is symbolic or fractional. In both, every zero test of
SPEC §2's conventions (w = 0 in conditioning, a prior entry in folding, a sum of
Boltzmann weights, the exponent of rho^alpha) and every argmax comparison is
decided once for the whole symbol ranges; those decisions are the closed form's
validity conditions. A test the ranges cannot decide is a one-line ValueError.

:func:`check` substitutes random rational points of the ranges into a closed
form and compares with the ordinary oracle (:mod:`coherence.queries`, backend
``auto``: the exact engine where the instantiated query is rational, float64
numpy within the case's tolerance otherwise) on the instantiated case.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, cast

import sympy

from coherence import backends
from coherence.queries import Evaluator
from coherence.reference import recurrences as rec
from coherence.reference.case import Tolerance
from coherence.reference.limits import (
    ExactLimitError,
    ExactLimits,
    check_exact_limits,
    estimated_bits_log2,
)
from coherence.reference.operators import PolicySpec, policy_for
from coherence.reference.quantities import QUANTITIES
from coherence.reference.recurrences import Argmax, Boltzmann, SoftQ
from coherence.theory.assumptions import (
    NONNEGATIVE,
    POSITIVE,
    FieldSystem,
    Range,
    RangeSystem,
    sign_of,
)
from coherence.theory.symbolic import (
    SymbolicCase,
    load_symbolic_case,
    parse_point,
    symbolic_case_from_json,
)

__all__ = [
    "DERIVE_LIMITS",
    "MAX_DERIVE_DEGREE",
    "CheckReport",
    "ClosedForm",
    "check",
    "check_derive_limits",
    "derive",
    "derive_case",
    "random_point",
]

Expr = Any
Table = Any  # nested dicts keyed by step, state and action names; Expr leaves

_PARAMETERS = {
    "prior": (),
    "G": ("k",),
    "F": ("k",),
    "F_literal": ("k",),
    "H": ("k",),
    "H_literal": ("k",),
    "T": ("alpha",),
    "B": ("i", "f"),
}


def _plain(x: Expr) -> str:
    return str(sympy.sstr(x)).replace("**", "^")


def _map(table: Table, fn: Callable[[Expr], Any]) -> Any:
    if isinstance(table, Mapping):
        return {k: _map(v, fn) for k, v in table.items()}
    return fn(table)


def _leaves(
    table: Table, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], Expr]]:
    if isinstance(table, Mapping):
        out = []
        for k, v in table.items():
            out += _leaves(v, (*path, k))
        return out
    return [(path, table)]


def _simplify(x: Expr) -> Expr:
    x = sympy.sympify(x)
    if x.has(sympy.log, sympy.oo, -sympy.oo, sympy.zoo, sympy.nan):
        return x
    return sympy.factor(sympy.cancel(x))


@dataclass(frozen=True)
class ClosedForm:
    """One query's closed form over a symbolic case.

    Attributes:
        case: the case name.
        query: the query id.
        quantity: the quantity (CASE_FORMAT "Quantities").
        label: the policy's label (``T_alpha``, ``G_3``, ``B_2[argmax]``).
        expression: a sympy expression (scalar quantities) or nested dicts of
            them keyed like a CASE_FORMAT answer (step, state, action).
        conditions: the ranges the zero decisions used (``0 < g <= 1``): the
            closed form holds wherever they hold.
        decisions: each zero test / comparison that needed the ranges, as
            ``"EXPR != 0"`` (``= 0``, ``< 0``).
        ranges: every declared symbol's range.
    """

    case: str
    query: str
    quantity: str
    label: str
    expression: Any
    conditions: tuple[str, ...]
    decisions: tuple[str, ...]
    ranges: Mapping[str, Range] = field(default_factory=dict)
    symbols: Mapping[str, Expr] = field(default_factory=dict)

    def cells(self) -> list[tuple[tuple[str, ...], Expr]]:
        """(index path, expression) of every entry; ``()`` for a scalar."""
        return _leaves(self.expression)

    def cell_name(self, path: Sequence[str]) -> str:
        """``T_alpha(up|root)`` for a policy cell, ``w(root)``, ``z(root, up)``,
        ``d(root)``; the quantity with the label for a scalar."""
        q = self.quantity
        if not path:
            return f"{q}({self.label})"
        rest = list(path[1:])
        if q == "policy":
            return f"{self.label}({rest[1]}|{rest[0]})"
        if q == "occupancy":
            return f"d({rest[0]})"
        return f"{q}({', '.join(rest)})"

    @property
    def latex(self) -> str:
        """LaTeX: the expression, or an ``aligned`` block of every cell."""
        if not isinstance(self.expression, Mapping):
            return str(sympy.latex(self.expression))
        lines = []
        for path, expr in self.cells():
            name = self.cell_name(path).replace("_", r"\_")
            lines.append(rf"\text{{{name}}},\ t={path[0]} &= {sympy.latex(expr)}")
        return "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"

    def at(self, **values: object) -> Any:
        """The closed form with symbols given values (rationals, ints or
        strings such as ``"3/4"``), each checked to lie in its range; leaves
        are sympy numbers (exact) when every symbol is given."""
        point = parse_point(values, self.ranges)
        subs = {
            self.symbols[n]: sympy.Rational(q.numerator, q.denominator)
            for n, q in point.items()
        }
        return _map(self.expression, lambda e: _simplify(e.xreplace(subs)))

    def to_json(self) -> dict[str, Any]:
        """The closed form as JSON: sympy strings, LaTeX, conditions."""
        return {
            "case": self.case,
            "query": self.query,
            "quantity": self.quantity,
            "policy": self.label,
            "expression": _map(self.expression, lambda e: str(sympy.sstr(e))),
            "latex": _map(self.expression, lambda e: str(sympy.latex(e))),
            "conditions": list(self.conditions),
            "decisions": list(self.decisions),
            "symbols": {n: r.interval() for n, r in self.ranges.items()},
        }


# ------------------------------------------------------------------ derivation
def _expr_at(case: SymbolicCase, path: tuple[Any, ...]) -> Expr:
    return case.values[path]


def _soft_q(
    case: SymbolicCase, obj: object, path: tuple[Any, ...], where: str
) -> SoftQ:
    if obj == "argmax":
        return Argmax()
    delta = _expr_at(case, (*path, "boltzmann"))
    if sign_of(delta, case.by_symbol) != POSITIVE:
        raise ValueError(f"{where}.boltzmann: {_plain(delta)} must be > 0 on its range")
    return Boltzmann(delta)


def _spec(
    case: SymbolicCase, obj: Mapping[str, Any], path: tuple[Any, ...], where: str
) -> PolicySpec:
    op = obj["operator"]
    if op == "maxent":
        raise ValueError(
            f"{where}.operator: maxent has no closed form here (it is answered in "
            "floats only)"
        )
    if op == "T":
        alpha = _expr_at(case, (*path, "alpha"))
        if not sign_of(alpha, case.by_symbol) <= NONNEGATIVE:
            raise ValueError(
                f"{where}.alpha: {_plain(alpha)} must be >= 0 on its range"
            )
        return PolicySpec("T", alpha=cast(Any, alpha))
    if op == "B":
        f = _soft_q(case, obj["f"], (*path, "f"), f"{where}.f")
        return PolicySpec("B", i=int(obj["i"]), f=f)
    if op == "prior":
        return PolicySpec("prior")
    return PolicySpec(op, k=int(obj["k"]))


def _label(spec: PolicySpec) -> str:
    if spec.operator == "T":
        alpha = sympy.sympify(spec.alpha)
        text = _plain(alpha)
        return f"T_{text}" if alpha.is_Atom else f"T_({text})"
    if spec.operator == "B":
        f = spec.f
        inner = "argmax" if isinstance(f, Argmax) else f"boltzmann {_plain(f.delta)}"  # type: ignore[union-attr]
        return f"B_{spec.i}[{inner}]"
    return spec.label()


class _Quantities:
    """SPEC §3 quantities over the range number system (zero tests decided);
    logarithms are taken of sympy expressions (``ns.to_expr``)."""

    def __init__(self, engine: Any, ns: RangeSystem | FieldSystem) -> None:
        self.engine = engine
        self.m = engine.m
        self.ns = ns

    def log(self, x: Any) -> Expr:
        return sympy.log(self.ns.to_expr(x))

    def weight(self, x: Any) -> Expr:
        """A rational weight of a logarithm (factored where it is a field
        element, as the rational quantities are printed)."""
        ns = self.ns
        return ns.simplified(x) if isinstance(ns, FieldSystem) else ns.to_expr(x)

    def j_soft(self, pi: Table) -> Expr:
        j = rec.j_prob(self.m, self.engine.values(pi))
        return sympy.S.NegativeInfinity if self.ns.is_zero(j) else self.log(j)

    def j_sum(self, pi: Table) -> Expr:
        m, ns = self.m, self.ns
        d = rec.occupancy(m, pi)
        total = sympy.Integer(0)
        for t in range(m.horizon):
            for s in range(m.n_states):
                for a in range(m.n_actions):
                    weight = d[t][s] * pi[t][s][a]
                    if ns.is_zero(weight):
                        continue
                    if ns.is_zero(m.rho[t][s][a]):
                        return sympy.S.NegativeInfinity
                    total += self.weight(weight) * self.log(m.rho[t][s][a])
        for s in range(m.n_states):
            if ns.is_zero(d[m.horizon][s]):
                continue
            if ns.is_zero(m.rho_T[s]):
                return sympy.S.NegativeInfinity
            total += self.weight(d[m.horizon][s]) * self.log(m.rho_T[s])
        return total

    def causal_entropy(self, pi: Table) -> Expr:
        m, ns = self.m, self.ns
        d = rec.occupancy(m, pi)
        total = sympy.Integer(0)
        for t in range(m.horizon):
            for s in range(m.n_states):
                if ns.is_zero(d[t][s]):
                    continue
                for pa in pi[t][s]:
                    if not ns.is_zero(pa):
                        total -= self.weight(d[t][s] * pa) * self.log(pa)
        return total

    def causal_kl(self, pi: Table, other: Table) -> Expr:
        m, ns = self.m, self.ns
        d = rec.occupancy(m, pi)
        total = sympy.Integer(0)
        for t in range(m.horizon):
            for s in range(m.n_states):
                if ns.is_zero(d[t][s]):
                    continue
                for pa, qa in zip(pi[t][s], other[t][s], strict=True):
                    if ns.is_zero(pa):  # pa = qa gives a zero term: no test
                        continue
                    if ns.is_zero(qa):
                        return sympy.S.Infinity
                    weight = self.weight(d[t][s] * pa)
                    total += weight * (self.log(pa) - self.log(qa))
        return total

    def kappa(self, pi: Table, f: SoftQ) -> Expr:
        q = self.engine.soft_q_policy(self.engine.values(pi), f)
        return self.causal_kl(pi, q)


def _named(
    table: Any, axes: Sequence[Sequence[str]], finish: Callable[[Any], Expr]
) -> Any:
    if not axes:
        return finish(table)
    return {name: _named(table[i], axes[1:], finish) for i, name in enumerate(axes[0])}


def _integer_exponents(case: SymbolicCase, i: int) -> bool:
    """Whether every exponent query ``i`` raises to (its policies' alpha, the
    1/delta of a Boltzmann f) is an integer constant: then its recurrences
    stay in the rational-function field of the symbols."""
    for path, value in case.values.items():
        if path[:2] != ("queries", i):
            continue
        x = sympy.sympify(value)
        if path[-1] == "boltzmann":
            x = 1 / x if x != 0 else x
        if not x.is_Integer:
            return False
    return True


#: Bounds of a derivation, checked before it starts (docs/case-format.md,
#: "Limits"): the exact limits' cells and steps, far lower, since each step is
#: an operation on rational functions rather than on rationals.
DERIVE_LIMITS = ExactLimits(
    max_cells=10_000, max_work=100_000, max_bits=1 << 1000, max_bit_work=1 << 1000
)
#: Largest estimated total degree of the rational functions a derivation
#: creates: the input degree (:attr:`SymbolicCase.degree`) times the growth the
#: exact limits estimate for bit sizes (T*(k+1) or (k+1)^T for G_k, T*(alpha+1)
#: for an integer alpha, (T*n)^min(i,T) for B_i at 1/delta = n, ...); the
#: shipped cases reach at most 3^6 = 729.
MAX_DERIVE_DEGREE = 4096


def check_derive_limits(case: SymbolicCase, qid: str) -> None:
    """Refuse, before any work, a derivation of query ``qid`` past
    :data:`DERIVE_LIMITS` or :data:`MAX_DERIVE_DEGREE`; a one-line ValueError
    naming the query, the bound and the value, and the float backends that
    answer the query at a point."""
    case.query(qid)
    at = case.case_at(case.interior_point())
    query = next(q for q in at.queries if q.id == qid)
    mdp = at.mdp
    advice = "answer it at a point instead (conformance run --backend numpy)"
    for spec in (query.policy, query.reference):
        if spec is None:
            continue
        try:
            check_exact_limits(mdp, spec, f=query.f, limits=DERIVE_LIMITS)
        except ExactLimitError as exc:
            text = str(exc).removeprefix("exact path: ").split("; use ")[0]
            raise ValueError(f"derive: query {qid!r}: {text}; {advice}") from None
        growth = estimated_bits_log2(mdp, spec, query.f) - math.log2(
            max(mdp.input_bits, 1)
        )
        log_degree = math.log2(max(case.degree, 1)) + growth
        if log_degree > math.log2(MAX_DERIVE_DEGREE):
            extra = ""
            if isinstance(query.f, Boltzmann) or isinstance(spec.f, Boltzmann):
                extra = " (a Boltzmann delta of 1/n raises to the n-th power)"
            raise ValueError(
                f"derive: query {qid!r}: {spec.label()} on horizon {mdp.horizon} "
                f"would create rational functions of total degree about "
                f"2^{log_degree:.1f}{extra}, over MAX_DERIVE_DEGREE = "
                f"{MAX_DERIVE_DEGREE}; {advice}"
            )


def derive_case(
    case: SymbolicCase, qid: str, *, ns: RangeSystem | None = None
) -> ClosedForm:
    """The closed form of query ``qid`` of a parsed symbolic case (see
    :func:`derive`); ``ns`` shares zero decisions across queries. The limits
    of :func:`check_derive_limits` are checked first."""
    check_derive_limits(case, qid)
    query = case.query(qid)
    i = case.query_ids.index(qid)
    where = f"query {qid!r}"
    ns = RangeSystem(case.by_symbol) if ns is None else ns
    ns.begin_log()
    system: RangeSystem | FieldSystem = (
        ns.fields() if ns.ranges and _integer_exponents(case, i) else ns
    )
    engine = backends.create("exact", case.exact_mdp(system, system.lift))
    spec = _spec(case, query["policy"], ("queries", i, "policy"), f"{where}.policy")
    row = QUANTITIES[query["quantity"]]
    try:
        pi = policy_for(engine, spec)
        extra: list[Any] = []
        if "f" in row.parameters:
            extra.append(_soft_q(case, query["f"], ("queries", i, "f"), f"{where}.f"))
        if "reference" in row.parameters:
            ref = _spec(
                case,
                query["reference"],
                ("queries", i, "reference"),
                f"{where}.reference",
            )
            extra.append(policy_for(engine, ref))
        if row.rational:
            raw = getattr(engine, row.primitive)(pi, *extra)
        else:
            raw = getattr(_Quantities(engine, system), row.primitive)(pi, *extra)
    except ValueError as exc:  # a decision the ranges cannot make: name the query
        if str(exc).startswith(where):
            raise
        raise ValueError(f"{where}: {exc}") from None
    d = case.data
    names = {
        "steps": [str(t) for t in range(int(d["horizon"]))],
        "steps_T": [str(t) for t in range(int(d["horizon"]) + 1)],
        "states": list(d["states"]),
        "actions": list(d["actions"]),
    }
    finish: Callable[[Any], Expr] = (
        system.simplified
        if isinstance(system, FieldSystem) and row.rational
        else _simplify
    )
    expression = _named(raw, [names[a] for a in row.axes], finish)
    used = ns.logged()
    syms: set[Expr] = set()
    for decision in used:
        syms |= decision.expression.free_symbols
    for _, leaf in _leaves(expression):
        syms |= sympy.sympify(leaf).free_symbols
    conditions = tuple(
        case.ranges[n].text(n) for n in case.ranges if case.symbols[n] in syms
    )
    decisions = tuple(f"{_plain(dc.expression)} {dc.outcome}" for dc in used)
    return ClosedForm(
        case=case.name,
        query=qid,
        quantity=row.name,
        label=_label(spec),
        expression=expression,
        conditions=conditions,
        decisions=decisions,
        ranges=case.ranges,
        symbols=case.symbols,
    )


def _as_case(case: SymbolicCase | Mapping[str, Any] | str) -> SymbolicCase:
    if isinstance(case, SymbolicCase):
        return case
    if isinstance(case, Mapping):
        return symbolic_case_from_json(case)
    return load_symbolic_case(case)


def derive(case: SymbolicCase | Mapping[str, Any] | str, query: str) -> ClosedForm:
    """The closed form of one query of a symbolic case.

    Args:
        case: a path to a symbolic case file, the name of a shipped example
            (``mountain-race``), a case object, or a parsed :class:`SymbolicCase`.
        query: the query id.
    Returns:
        A :class:`ClosedForm`: ``expression``, ``latex``, ``conditions`` (the
        ranges SPEC §2's zero decisions used) and ``at(**values)``.

    Example::

        >>> from coherence.theory import derive
        >>> form = derive("mountain-race", "T_alpha")
        >>> form.expression["0"]["root"]["up"]
        (c**alpha + g**alpha)/(c**alpha + f1**alpha + f2**alpha + g**alpha)
    """
    return derive_case(_as_case(case), query)


# ------------------------------------------------------------------- checking
def random_point(case: SymbolicCase, rng: random.Random) -> dict[str, Fraction]:
    """A random rational point of the ranges: closed ends one time in six,
    otherwise small-denominator interior values (integers included where the
    range is unbounded above)."""
    out: dict[str, Fraction] = {}
    for name, r in case.ranges.items():
        ends = [
            e
            for e, closed in ((r.lower, r.lower_closed), (r.upper, r.upper_closed))
            if e is not None and closed
        ]
        if ends and rng.random() < 1 / 6:
            out[name] = rng.choice(ends)
            continue
        if r.lower is not None and r.upper is not None:
            n = rng.randint(2, 12)
            out[name] = r.lower + (r.upper - r.lower) * Fraction(
                rng.randint(1, n - 1), n
            )
            continue
        offset = Fraction(rng.randint(1, 12), rng.randint(1, 4))
        if r.lower is not None:
            out[name] = r.lower + offset
        elif r.upper is not None:
            out[name] = r.upper - offset
        else:
            out[name] = offset * rng.choice((-1, 1))
    return out


@dataclass
class CheckReport:
    """The outcome of :func:`check` for one closed form."""

    query: str
    points: int = 0
    exact_points: int = 0
    float_points: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No disagreement at any point."""
        return not self.failures

    def summary(self) -> str:
        """One line: ``CHECK T_alpha: 50 points agree (12 exact, 38 float64)``."""
        how = f"{self.exact_points} exact, {self.float_points} float64"
        if self.ok:
            return f"CHECK {self.query}: {self.points} points agree ({how})"
        return (
            f"CHECK {self.query}: FAILED at {len(self.failures)} of {self.points} "
            f"points ({how}); first: {self.failures[0]}"
        )


def _agree_float(got: Expr, want: Any, tol: Tolerance) -> bool:
    value = sympy.N(got, 30)
    if value in (sympy.oo, -sympy.oo) or want in (float("inf"), float("-inf")):
        return bool(value == sympy.oo and want == float("inf")) or bool(
            value == -sympy.oo and want == float("-inf")
        )
    if not value.is_real:
        return False
    w = float(want)
    return abs(float(value) - w) <= max(tol.abs, tol.rel * abs(w))


def check(
    case: SymbolicCase | Mapping[str, Any] | str,
    form: ClosedForm,
    n: int,
    *,
    seed: int = 0,
) -> CheckReport:
    """Compare ``form`` at ``n`` random rational points of the ranges
    (:func:`random_point`, ``seed``) with the oracle on the instantiated case:
    exactly where the instantiated query is rational, within the case's
    tolerance (CASE_FORMAT: default rel 1e-9, abs 1e-12) against float64
    otherwise."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"--check: expected a positive number of points, got {n!r}")
    sym_case = _as_case(case)
    rng = random.Random(seed)
    report = CheckReport(query=form.query)
    cells = form.cells()
    for _ in range(n):
        point = random_point(sym_case, rng)
        instance = sym_case.case_at(point)
        query = next(q for q in instance.queries if q.id == form.query)
        answer = Evaluator(instance.mdp, "auto").answer(query)
        tol = instance.tolerance_for(query)
        subs = sym_case.subs(point)
        report.points += 1
        if query.is_exact:
            report.exact_points += 1
        else:
            report.float_points += 1
        for path, expr in cells:
            want: Any = answer
            for key in path:
                want = want[key]
            got = _simplify(sympy.sympify(expr).xreplace(subs))
            if query.is_exact:
                fine = got.is_Rational and Fraction(int(got.p), int(got.q)) == want
            else:
                fine = _agree_float(got, want, tol)
            if not fine:
                shown = ", ".join(f"{k}={v}" for k, v in point.items())
                where = form.cell_name(path) + (f" t={path[0]}" if path else "")
                report.failures.append(
                    f"{where} at {shown}: closed form {_plain(got)}, oracle {want}"
                )
                break
    return report
