"""Shared machinery of the theory generators (sympy; private).

A *group* of a table is one parametric MDP: a named MDP template whose numbers
are sympy expressions in a few symbols, the symbols with their assumptions, a
list of rational parameter points and a list of entries. An entry names a
quantity the same way a conformance query does (SPEC §3–§4, docs/case-format.md):
a policy cell, the difference of two policies (at one cell or at every cell),
J_prob, J_sum or kappa_f of a policy. It carries its closed form, derived by
the family module, and a predicate saying at which points that closed form may
be substituted ("interior" points).

Every value written to a table is obtained in one of two ways:

* ``"closed form"``: the expression substituted at an interior point, and
  checked there against the definition (a disagreement aborts the generator);
* ``"definition"``: the generic exact recurrences
  (:mod:`coherence.reference.recurrences` via :mod:`coherence.reference.operators`)
  run over exact sympy numbers at the point, with the SPEC §2 conventions
  (conditioning on an event of probability 0 keeps the base policy, rho^0 = 1,
  0 log 0 = 0, KL = +inf where q = 0 < p). Boundary points (success 0, alpha = 0,
  a closed form valid only for k >= 1 at k = 0, ...) always use this. A policy
  that is a rational function of the MDP's numbers (every operator but T with a
  non-integer alpha, Boltzmann with a non-integer 1/delta) is computed over
  ``gmpy2.mpq`` (:class:`RationalPolicies`) and converted: the same exact
  numbers as over sympy, far faster.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import sympy

from coherence import backends
from coherence.reference import operators as ops
from coherence.reference import recurrences as rec
from coherence.reference.exact import ExactEngine
from coherence.reference.recurrences import Boltzmann, ExactMDP, SoftQ
from coherence.theory.numbers import SYMPY, RationalFunctions
from coherence.theory.tables import FORMAT, provenance

__all__ = [
    "CONVENTIONS",
    "Entry",
    "Group",
    "Point",
    "RationalPolicies",
    "Sym",
    "Template",
    "by_definition",
    "causal_kl",
    "format_value",
    "identical",
    "j_sum",
    "make_table",
    "policy_spec",
    "rational_mdp",
    "rational_spec",
    "run_policy",
    "timed",
]

Expr = Any
Point = dict[str, Fraction]
Policy = list[list[list[Expr]]]

CONVENTIONS = [
    "docs/spec.md §2-§4: horizon T decision steps t = 0..T-1, terminal success rho_T; "
    "policies pi_t(a|s); z, w in the success-probability domain.",
    "Conditioning on an event of probability 0 leaves the base policy unchanged; "
    "rho^0 = 1 (T_0 = p); 0 log 0 = 0; KL = +inf where q = 0 < p; a softmax of "
    "all-zero weights is uniform.",
    "values: rational strings where the value is rational, 30-significant-digit "
    "decimals otherwise, 'inf' / '-inf'; 'by' = 'closed form' (expression "
    "substituted at an interior point, cross-checked against the definition) or "
    "'definition' (exact recurrences over exact numbers at the point; every "
    "boundary point).",
    "Expressions are sympy strings (sympy.parse_expr with the group's symbols and "
    "their assumptions); 'cell' null in a difference entry means every (t, s, a).",
]

DIGITS = 30


def timed(label: str, log: Callable[[str], None] | None) -> Callable[[], None]:
    """Start a timer; the returned function reports ``label: N.NN s`` to ``log``."""
    start = time.perf_counter()

    def done() -> None:
        if log is not None:
            log(f"{label}: {time.perf_counter() - start:.2f} s")

    return done


@dataclass(frozen=True)
class Sym:
    """A symbol of a family, with its sympy assumptions and its meaning."""

    name: str
    meaning: str
    assumptions: tuple[tuple[str, bool], ...] = (("positive", True),)

    @property
    def symbol(self) -> Expr:
        """The sympy symbol with this family symbol's assumptions."""
        return sympy.Symbol(self.name, **dict(self.assumptions))

    def to_json(self) -> dict[str, Any]:
        """The table's ``symbols`` entry: name, assumptions, meaning."""
        return {
            "name": self.name,
            "assumptions": dict(self.assumptions),
            "meaning": self.meaning,
        }


def _expr_text(x: Expr) -> str:
    return str(sympy.sstr(sympy.sympify(x)))


@dataclass(frozen=True)
class Template:
    """An MDP in the named form of docs/case-format.md whose numbers are expressions.

    Missing ``success`` entries are 1, a missing ``prior`` state is uniform, a
    missing ``initial`` state is 0, a missing ``terminal_success`` state is 1.
    """

    states: tuple[str, ...]
    actions: tuple[str, ...]
    horizon: int
    transitions: Mapping[str, Mapping[str, Mapping[str, Expr]]]
    initial: Mapping[str, Expr]
    terminal_success: Mapping[str, Expr] = field(default_factory=dict)
    success: Mapping[str, Mapping[str, Expr]] = field(default_factory=dict)
    prior: Mapping[str, Mapping[str, Expr]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The table's ``mdp`` object: CASE_FORMAT's named form, expressions
        as sympy strings."""

        def table(x: Mapping[str, Mapping[str, Expr]]) -> dict[str, Any]:
            return {
                s: {a: _expr_text(v) for a, v in row.items()} for s, row in x.items()
            }

        return {
            "states": list(self.states),
            "actions": list(self.actions),
            "horizon": self.horizon,
            "initial": {s: _expr_text(v) for s, v in self.initial.items()},
            "transitions": {s: table(rows) for s, rows in self.transitions.items()},
            "success": table(self.success),
            "terminal_success": {
                s: _expr_text(v) for s, v in self.terminal_success.items()
            },
            "prior": table(self.prior),
        }

    def exact_mdp(
        self,
        subs: Mapping[Expr, Expr] | None = None,
        system: RationalFunctions | None = None,
    ) -> ExactMDP[Any]:
        """The template as an :class:`ExactMDP` over :data:`SYMPY`, with
        ``subs`` (symbol -> value) substituted first; over ``system`` instead
        when given (every number converted to a rational function)."""

        def v(x: Expr) -> Expr:
            e = sympy.sympify(x)
            e = e.xreplace(dict(subs)) if subs else e
            return e if system is None else system.from_sympy(e)

        one, zero = sympy.Integer(1), sympy.Integer(0)
        index = {s: i for i, s in enumerate(self.states)}
        n_a = len(self.actions)
        successors = [
            [
                [(index[j], v(p)) for j, p in self.transitions[s][a].items()]
                for a in self.actions
            ]
            for s in self.states
        ]
        step = [
            [v(self.success.get(s, {}).get(a, one)) for a in self.actions]
            for s in self.states
        ]
        prior = [
            [v(self.prior[s].get(a, zero)) for a in self.actions]
            if s in self.prior
            else [v(sympy.Rational(1, n_a))] * n_a
            for s in self.states
        ]
        return ExactMDP(
            ns=SYMPY if system is None else system,
            successors=successors,
            rho=[[list(row) for row in step] for _ in range(self.horizon)],
            rho_T=[v(self.terminal_success.get(s, one)) for s in self.states],
            initial=[v(self.initial.get(s, zero)) for s in self.states],
            prior=prior,
        )


Cell = tuple[int, str, str]


@dataclass
class Entry:
    """One closed form of a table group (see the module docstring)."""

    name: str
    quantity: str  # policy | difference | J_prob | J_sum | kappa
    policy: dict[str, Any]
    expression: Expr
    closed_form_valid: str
    interior: Callable[[Point], bool]
    derivation: str
    cell: Cell | None = None
    minus: dict[str, Any] | None = None
    f: dict[str, Any] | None = None

    def to_json(self, values: list[dict[str, str]]) -> dict[str, Any]:
        """The table's entry object, with its ``values`` (one per point)."""
        out: dict[str, Any] = {
            "name": self.name,
            "quantity": self.quantity,
            "policy": self.policy,
        }
        if self.minus is not None:
            out["minus"] = self.minus
        if self.f is not None:
            out["f"] = self.f
        if self.quantity in ("policy", "difference"):
            out["cell"] = (
                None
                if self.cell is None
                else {"t": self.cell[0], "state": self.cell[1], "action": self.cell[2]}
            )
        expr = sympy.sympify(self.expression)
        if self.quantity == "difference":
            out["vanishes"] = bool(expr == 0)
        out["expression"] = _expr_text(expr)
        out["latex"] = sympy.latex(expr)
        out["closed_form_valid"] = self.closed_form_valid
        out["derivation"] = self.derivation
        out["values"] = values
        return out


@dataclass
class Group:
    """One parametric MDP with its points and entries."""

    name: str
    description: str
    symbols: list[Sym]
    template: Template
    points: list[Point]
    entries: list[Entry]

    def subs(self, point: Point) -> dict[Expr, Expr]:
        """sympy substitution symbol -> rational of a parameter point."""
        return {
            s.symbol: sympy.Rational(point[s.name].numerator, point[s.name].denominator)
            for s in self.symbols
        }

    def locals(self) -> dict[str, Expr]:
        """Symbol name -> sympy symbol (for parsing the group's expressions)."""
        return {s.name: s.symbol for s in self.symbols}


# ------------------------------------------------------------------ definition
def _param(value: Any, names: Mapping[str, Expr], subs: Mapping[Expr, Expr]) -> Expr:
    if isinstance(value, int):
        return sympy.Integer(value)
    return sympy.parse_expr(str(value), local_dict=dict(names)).xreplace(dict(subs))


def _count(value: Expr) -> int:
    if not (value.is_Integer and value >= 0):
        raise ValueError(
            f"iteration count: expected a non-negative integer, got {value}"
        )
    return int(value)


def soft_q(
    f: Mapping[str, Any] | str, names: Mapping[str, Expr], subs: Mapping[Expr, Expr]
) -> SoftQ:
    """``{"boltzmann": delta}`` or ``"argmax"`` as a recurrence f."""
    if f == "argmax":
        return rec.Argmax()
    if isinstance(f, Mapping) and "boltzmann" in f:
        return Boltzmann(_param(f["boltzmann"], names, subs))
    raise ValueError(f"f: expected {{'boltzmann': delta}} or 'argmax', got {f!r}")


def policy_spec(
    spec: Mapping[str, Any], names: Mapping[str, Expr], subs: Mapping[Expr, Expr]
) -> ops.PolicySpec:
    """A CASE_FORMAT policy spec whose parameters may be expressions in the
    group's symbols, as a :class:`~coherence.reference.operators.PolicySpec`
    (``subs`` substituted into k, alpha, i and delta)."""
    op = spec["operator"]
    if op == "maxent":
        raise ValueError(f"operator: {op!r} has no exact definition here")
    if op == "prior":
        return ops.PolicySpec("prior")
    if op == "T":
        return ops.PolicySpec("T", alpha=_param(spec["alpha"], names, subs))
    if op == "B":
        return ops.PolicySpec(
            "B",
            i=_count(_param(spec["i"], names, subs)),
            f=soft_q(spec["f"], names, subs),
        )
    return ops.PolicySpec(op, k=_count(_param(spec["k"], names, subs)))


def run_policy(
    engine: ExactEngine,
    spec: Mapping[str, Any],
    names: Mapping[str, Expr],
    subs: Mapping[Expr, Expr],
) -> Policy:
    """Evaluate a CASE_FORMAT policy spec (parameters may be expressions in the
    group's symbols) with :func:`coherence.reference.operators.policy_for`."""
    policy: Policy = ops.policy_for(engine, policy_spec(spec, names, subs))
    return policy


def _is_zero(x: Expr) -> bool:
    return bool(sympy.sympify(x).is_zero is True)


def j_sum(engine: ExactEngine, pi: Policy) -> Expr:
    """J_sum = E[sum_t log rho_t + log rho_T]; a zero-weight term contributes 0,
    a positive-weight term with rho = 0 makes it -oo (SPEC §2–§3)."""
    m = engine.m
    d = rec.occupancy(m, pi)
    total = sympy.Integer(0)
    for t in range(m.horizon):
        for s in range(m.n_states):
            for a in range(m.n_actions):
                weight = d[t][s] * pi[t][s][a]
                if _is_zero(weight):
                    continue
                if _is_zero(m.rho[t][s][a]):
                    return sympy.S.NegativeInfinity
                total += weight * sympy.log(m.rho[t][s][a])
    for s in range(m.n_states):
        if _is_zero(d[m.horizon][s]):
            continue
        if _is_zero(m.rho_T[s]):
            return sympy.S.NegativeInfinity
        total += d[m.horizon][s] * sympy.log(m.rho_T[s])
    return total


def causal_kl(engine: ExactEngine, pi: Policy, other: Policy) -> Expr:
    """KL_c(pi || q) = sum_t E_{d_t^pi} KL(pi_t || q_t) (SPEC §3), +oo where
    q = 0 < pi at a state of positive occupancy."""
    m = engine.m
    d = rec.occupancy(m, pi)
    total = sympy.Integer(0)
    for t in range(m.horizon):
        for s in range(m.n_states):
            if _is_zero(d[t][s]):
                continue
            for pa, qa in zip(pi[t][s], other[t][s], strict=True):
                if _is_zero(pa) or sympy.sympify(pa - qa).is_zero is True:
                    continue
                if _is_zero(qa):
                    return sympy.S.Infinity
                total += d[t][s] * pa * (sympy.log(pa) - sympy.log(qa))
    return total


def identical(a: Expr, b: Expr) -> bool:
    """Exact identity test kept factored: cancel(a - b) == 0."""
    diff = sympy.sympify(a - b)
    if diff.is_zero is True:
        return True
    return bool(sympy.cancel(diff) == 0)


def _cell(template: Template, cell: Cell) -> tuple[int, int, int]:
    t, s, a = cell
    return t, template.states.index(s), template.actions.index(a)


def rational_spec(spec: ops.PolicySpec) -> ops.PolicySpec | None:
    """``spec`` with plain rational parameters when its policy is a rational
    function of the MDP's numbers (every operator but T with a non-integer
    alpha, Boltzmann with a non-integer 1/delta and maxent), else None."""
    if spec.operator == "maxent":
        return None
    if spec.operator == "T":
        alpha = sympy.sympify(spec.alpha)
        if not alpha.is_Integer:
            return None
        return ops.PolicySpec("T", alpha=Fraction(int(alpha)))
    if spec.operator == "B":
        f = spec.f
        if isinstance(f, Boltzmann):
            inverse = 1 / sympy.sympify(f.delta)
            if not inverse.is_Integer:
                return None
            f = Boltzmann(Fraction(1, int(inverse)))
        return ops.PolicySpec("B", i=spec.i, f=f)
    return spec


def rational_mdp(m: ExactMDP[Any]) -> ExactMDP[Any] | None:
    """An MDP over sympy numbers as the same MDP over ``gmpy2.mpq``, or None
    when a number is not rational."""
    numbers = [
        *(p for rows in m.successors for row in rows for _, p in row),
        *(x for table in m.rho for row in table for x in row),
        *m.rho_T,
        *m.initial,
        *(x for row in m.prior for x in row),
    ]
    if not all(sympy.sympify(x).is_Rational for x in numbers):
        return None

    def q(x: Expr) -> Any:
        x = sympy.sympify(x)
        return rec.MPQ.const(Fraction(int(x.p), int(x.q)))

    return ExactMDP(
        ns=rec.MPQ,
        successors=[
            [[(j, q(p)) for j, p in row] for row in rows] for rows in m.successors
        ],
        rho=[[[q(x) for x in row] for row in table] for table in m.rho],
        rho_T=[q(x) for x in m.rho_T],
        initial=[q(x) for x in m.initial],
        prior=[[q(x) for x in row] for row in m.prior],
    )


class RationalPolicies:
    """The rational policies of one MDP over ``gmpy2.mpq``
    (:func:`rational_mdp`). G, F, H and their literal forms continue their
    sequence from the longest prefix already computed (the same recurrences as
    :mod:`coherence.reference.operators`, so the same exact numbers)."""

    _ITERATED = ("G", "F", "F_literal", "H", "H_literal")

    def __init__(self, engine: ExactEngine) -> None:
        self.engine = engine
        self._prior = engine.prior_policy()
        self._base = engine.base_reward()
        # operator -> [(policy_k, reward_k)] for k = 0, 1, ...
        self._sequences: dict[str, list[tuple[Policy, Any]]] = {}

    def policy(self, spec: ops.PolicySpec) -> Policy:
        """The policy named by a rational spec (:func:`rational_spec`)."""
        op = spec.operator
        if op not in self._ITERATED:
            result: Policy = ops.policy_for(self.engine, spec)
            return result
        e = self.engine
        sequence = self._sequences.setdefault(op, [(self._prior, self._base)])
        while len(sequence) <= spec.k:
            pi, reward = sequence[-1]
            if op == "G":  # G_k = cond(G_(k-1), r)
                sequence.append(
                    (e.condition(pi, e.soft_values(pi, self._base)), self._base)
                )
                continue
            # F: R_k = fold(r, F_k); H: R'_k = fold(R'_(k-1), H_k); from p.
            nxt = e.condition(self._prior, e.soft_values(self._prior, reward))
            start = self._base if op.startswith("F") else reward
            sequence.append((nxt, e.fold(start, nxt, literal=op.endswith("_literal"))))
        return sequence[spec.k][0]


def _sympy_number(x: Any) -> Expr:
    return sympy.Rational(int(x.numerator), int(x.denominator))


class _Policy:
    """A policy of one point: computed over mpq where it is rational (fast),
    over sympy numbers otherwise; :attr:`table` is always sympy."""

    def __init__(self, table: Policy, exact: Policy | None = None) -> None:
        self.exact = exact
        self._table = table if exact is None else None

    @property
    def table(self) -> Policy:
        """The policy over sympy numbers (converted once from mpq)."""
        if self._table is None:
            assert self.exact is not None
            self._table = [
                [[_sympy_number(x) for x in row] for row in pt] for pt in self.exact
            ]
        return self._table


def quantity(
    engine: ExactEngine,
    template: Template,
    entry: Entry,
    names: Mapping[str, Expr],
    subs: Mapping[Expr, Expr],
    cache: dict[str, Any] | None = None,
    rational: RationalPolicies | None = None,
) -> Expr:
    """The entry's quantity on ``engine`` (symbolic or numeric); ``cache``
    memoises policies of this engine by their spec. ``rational``, the policies
    of the same MDP over ``gmpy2.mpq`` (:func:`rational_mdp`), gives every
    rational policy instead: the same exact numbers (the recurrences and the
    SPEC §2 zero tests are exact over both), much faster than sympy numbers."""
    memo: dict[str, Any] = {} if cache is None else cache

    def policy(spec: Mapping[str, Any]) -> _Policy:
        key = json.dumps(spec, sort_keys=True)
        if key not in memo:
            fast = None
            if rational is not None and spec["operator"] != "maxent":
                fast = rational_spec(policy_spec(spec, names, subs))
            if fast is not None:
                assert rational is not None
                memo[key] = _Policy([], rational.policy(fast))
            else:
                memo[key] = _Policy(run_policy(engine, spec, names, subs))
        result: _Policy = memo[key]
        return result

    pol = policy(entry.policy)
    if entry.quantity == "policy":
        assert entry.cell is not None  # set by the family module
        t, s, a = _cell(template, entry.cell)
        if pol.exact is not None:
            return _sympy_number(pol.exact[t][s][a])
        return pol.table[t][s][a]
    if entry.quantity == "difference":
        assert entry.minus is not None
        other = policy(entry.minus)
        if entry.cell is not None:
            t, s, a = _cell(template, entry.cell)
            if pol.exact is not None and other.exact is not None:
                return _sympy_number(pol.exact[t][s][a] - other.exact[t][s][a])
            return pol.table[t][s][a] - other.table[t][s][a]
        if pol.exact is not None and other.exact is not None:
            for x_t, y_t in zip(pol.exact, other.exact, strict=True):
                for x_s, y_s in zip(x_t, y_t, strict=True):
                    for x, y in zip(x_s, y_s, strict=True):
                        if x != y:
                            return _sympy_number(x - y)
            return sympy.Integer(0)
        for x_t, y_t in zip(pol.table, other.table, strict=True):
            for x_s, y_s in zip(x_t, y_t, strict=True):
                for x, y in zip(x_s, y_s, strict=True):
                    if not identical(x, y):
                        return sympy.sympify(x - y)
        return sympy.Integer(0)
    if entry.quantity == "J_prob":
        if pol.exact is not None:
            assert rational is not None
            m, values = rational.engine.m, rational.engine.values(pol.exact)
            return _sympy_number(rec.j_prob(m, values))
        return rec.j_prob(engine.m, engine.values(pol.table))
    if entry.quantity == "J_sum":
        return j_sum(engine, pol.table)
    if entry.quantity == "kappa":
        assert entry.f is not None
        f = soft_q(entry.f, names, subs)
        return causal_kl(
            engine, pol.table, engine.soft_q_policy(engine.values(pol.table), f)
        )
    raise ValueError(f"quantity: unknown {entry.quantity!r}")


class _PointEngines:
    """Exact engines per point of a group (sympy numbers, and mpq where the
    point's MDP is rational), with memoised policies."""

    def __init__(self, group: Group) -> None:
        self.group = group
        self._locals = group.locals()
        self._subs: dict[int, dict[Expr, Expr]] = {}
        self._engines: dict[
            int, tuple[ExactEngine, RationalPolicies | None, dict[str, Any]]
        ] = {}

    def subs(self, index: int) -> dict[Expr, Expr]:
        """The substitution of point ``index`` (:meth:`Group.subs`), memoised."""
        if index not in self._subs:
            self._subs[index] = self.group.subs(self.group.points[index])
        return self._subs[index]

    def value(self, index: int, entry: Entry) -> Expr:
        """The entry's value at point ``index`` by the definition."""
        subs = self.subs(index)
        if index not in self._engines:
            m = self.group.template.exact_mdp(subs)
            fast = rational_mdp(m)
            self._engines[index] = (
                backends.create("exact", m),
                None
                if fast is None
                else RationalPolicies(backends.create("exact", fast)),
                {},
            )
        engine, rational, cache = self._engines[index]
        return quantity(
            engine,
            self.group.template,
            entry,
            self._locals,
            subs,
            cache,
            rational,
        )


def by_definition(group: Group, entry: Entry, point: Point) -> Expr:
    """The entry's value at ``point`` from the exact recurrences over exact
    numbers (SPEC §2 conventions decide every zero test)."""
    return _PointEngines(
        Group(
            name=group.name,
            description=group.description,
            symbols=group.symbols,
            template=group.template,
            points=[point],
            entries=[entry],
        )
    ).value(0, entry)


# ------------------------------------------------------------------ formatting
def _simplified_number(x: Expr) -> Expr:
    x = sympy.sympify(x)
    if x.is_Rational or x.has(sympy.oo, -sympy.oo, sympy.zoo, sympy.nan):
        return x
    if not x.has(sympy.log, sympy.exp):
        y = sympy.cancel(sympy.together(x))
        if y.is_Rational:
            return y
    return x


def format_value(x: Expr) -> str:
    """Rational string, 30-significant-digit decimal, or 'inf' / '-inf'."""
    return _format_simplified(_simplified_number(x))


def _format_simplified(x: Expr) -> str:
    if x == sympy.oo:
        return "inf"
    if x == -sympy.oo:
        return "-inf"
    if x.is_Rational:
        return str(x)
    if x.free_symbols:
        raise ValueError(f"value: {x} still has free symbols")
    v = sympy.N(x, DIGITS)
    if not v.is_Float:
        raise ValueError(f"value: {x} does not evaluate to a real number ({v})")
    return str(sympy.sstr(v, full_prec=True))


def _agree(a: Expr, b: Expr) -> bool:
    """Whether two simplified values (:func:`_simplified_number`) agree."""
    if a.is_Rational and b.is_Rational:
        return bool(a == b)
    if a in (sympy.oo, -sympy.oo) or b in (sympy.oo, -sympy.oo):
        return bool(a == b)
    x, y = sympy.N(a, DIGITS + 10), sympy.N(b, DIGITS + 10)
    return bool(abs(x - y) <= sympy.Float(10) ** (-(DIGITS - 3)) * max(1, abs(y)))


def render_group(group: Group) -> dict[str, Any]:
    """Evaluate every entry at every point and build the group's JSON."""
    entries = []
    engines = _PointEngines(group)
    for entry in group.entries:
        values: list[dict[str, str]] = []
        expr = sympy.sympify(entry.expression)
        for index, point in enumerate(group.points):
            definition = _simplified_number(engines.value(index, entry))
            if entry.interior(point):
                value = _simplified_number(expr.xreplace(engines.subs(index)))
                if not _agree(value, definition):
                    raise ArithmeticError(
                        f"{group.name} / {entry.name}: closed form gives {value} but "
                        f"the definition gives {definition} at {point}"
                    )
                by = "closed form"
            else:
                value, by = definition, "definition"
            values.append({"value": _format_simplified(value), "by": by})
        entries.append(entry.to_json(values))
    return {
        "name": group.name,
        "description": group.description,
        "symbols": [s.to_json() for s in group.symbols],
        "mdp": group.template.to_json(),
        "points": [
            {s.name: str(point[s.name]) for s in group.symbols}
            for point in group.points
        ],
        "entries": entries,
    }


def make_table(
    module_file: str,
    family: str,
    description: str,
    groups: Sequence[Group],
    *,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The whole table of a family (header, conventions, rendered groups)."""
    rendered = []
    for group in groups:
        done = timed(
            f"{family}/{group.name}: values at {len(group.points)} points", log
        )
        rendered.append(render_group(group))
        done()
    return {
        "format": FORMAT,
        "generated_by": provenance(module_file),
        "family": family,
        "description": description,
        "conventions": CONVENTIONS,
        "groups": rendered,
    }


def generator_main(
    family: str,
    derive: Callable[..., dict[str, Any]],
    doc: str | None,
    argv: Sequence[str] | None = None,
) -> int:
    """The ``main()`` of every generator: regenerate ``tables/<family>.json``
    (or into ``--out DIR``), progress on stderr, the written path on stdout."""
    import argparse
    import sys

    from coherence.theory.tables import write_table

    parser = argparse.ArgumentParser(description=(doc or family).splitlines()[0])
    parser.add_argument("--out", default=None, help="output directory")
    args = parser.parse_args(argv)
    path = write_table(
        family, derive(log=lambda m: print(m, file=sys.stderr)), args.out
    )
    print(path)
    return 0
