"""Reading and writing ``coherence-case/1`` and ``coherence-results/1`` files.

The formats are those of docs/case-format.md: exact numbers as rational or decimal
strings (read exactly), JSON numbers as the exact binary value of the float,
"inf" / "-inf" for infinities. Writes are atomic, and a case read and written
back reads as the same case (exact round trip).

Answers are nested dicts keyed by step (as a string), state and action names;
their leaves are exact rationals (``Fraction``) or floats.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from coherence._io import atomic_write_json, path_inside, read_json
from coherence._numbers import format_rational, parse_number, parse_rational
from coherence.reference.model import MDP
from coherence.reference.operators import OPERATORS, SEGMENT_SPACES, PolicySpec
from coherence.reference.quantities import (
    EXACT_QUANTITIES,
    FLOAT_QUANTITIES,
)
from coherence.reference.quantities import (
    QUANTITIES as QUANTITY_ROWS,
)
from coherence.reference.recurrences import Argmax, Boltzmann, SoftQ

__all__ = [
    "CASE_FORMAT",
    "EXACT_QUANTITIES",
    "FLOAT_QUANTITIES",
    "QUANTITIES",
    "RESULTS_FORMAT",
    "Case",
    "Query",
    "Results",
    "Tolerance",
    "answer_shape_problem",
    "answer_to_json",
    "case_from_json",
    "case_to_json",
    "load_case",
    "load_results",
    "parse_answer",
    "results_path",
    "write_case",
    "write_results",
]

CASE_FORMAT = "coherence-case/1"
RESULTS_FORMAT = "coherence-results/1"

#: Quantity names (the rows of :mod:`coherence.reference.quantities`).
QUANTITIES = tuple(QUANTITY_ROWS)

Answer = Any  # nested dict[str, ...] with Fraction | float leaves, or a scalar


class CaseError(ValueError):
    """A malformed case or results file (the message names the field)."""


@dataclass(frozen=True)
class Tolerance:
    """Float comparison: pass when |got - want| <= max(abs, rel * |want|).

    The one definition of a tolerance in the package (CASE_FORMAT "Results
    file": default rel 1e-9, abs 1e-12; a case's or query's ``tolerance``
    overrides it).
    """

    rel: float = 1e-9
    abs: float = 1e-12

    @classmethod
    def parse(cls, obj: object, where: str) -> Tolerance:
        """Read ``{"rel": ..., "abs": ...}`` (either may be missing: default)."""
        if not isinstance(obj, Mapping):
            raise CaseError(f"{where}: expected an object with rel/abs, got {obj!r}")
        unknown = set(obj) - {"rel", "abs"}
        if unknown:
            raise CaseError(f"{where}: unknown keys {sorted(unknown)}")
        values = {}
        for key in ("rel", "abs"):
            if key in obj:
                value = obj[key]
                if (
                    isinstance(value, bool)
                    or not isinstance(value, (int, float))
                    or not math.isfinite(value)
                    or value < 0
                ):
                    raise CaseError(
                        f"{where}.{key}: expected a non-negative number, got {value!r}"
                    )
                values[key] = float(value)
        return cls(**values)

    def to_json(self) -> dict[str, float]:
        """The JSON form read by :meth:`parse`."""
        return {"rel": self.rel, "abs": self.abs}


def _parse_f(obj: object, where: str) -> SoftQ:
    if obj == "argmax":
        return Argmax()
    if isinstance(obj, Mapping) and set(obj) == {"boltzmann"}:
        delta = parse_rational(obj["boltzmann"], f"{where}.boltzmann")
        if delta <= 0:
            raise CaseError(
                f"{where}.boltzmann: delta must be > 0, got {obj['boltzmann']!r}"
            )
        return Boltzmann(delta)
    raise CaseError(
        f'{where}: expected "argmax" or {{"boltzmann": delta}}, got {obj!r}'
    )


def _f_to_json(f: SoftQ) -> object:
    if isinstance(f, Argmax):
        return "argmax"
    return {"boltzmann": format_rational(Fraction(f.delta))}


def _count(obj: Mapping[str, Any], key: str, where: str) -> int:
    if key not in obj:
        raise CaseError(f"{where}: missing {key!r}")
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise CaseError(
            f"{where}.{key}: expected a non-negative integer, got {value!r}"
        )
    return value


def _parse_policy(obj: object, where: str) -> PolicySpec:
    if not isinstance(obj, Mapping) or "operator" not in obj:
        raise CaseError(f"{where}: expected an object with an 'operator', got {obj!r}")
    op = obj["operator"]
    if op not in OPERATORS:
        raise CaseError(
            f"{where}.operator: unknown operator {op!r}; expected one of "
            f"{', '.join(OPERATORS)}"
        )
    allowed = {"operator"}
    spec: PolicySpec
    if op == "prior":
        spec = PolicySpec("prior")
    elif op in ("G", "F", "F_literal", "H", "H_literal", "RWR"):
        allowed.add("k")
        spec = PolicySpec(op, k=_count(obj, "k", where))
    elif op == "relabel":
        allowed.update({"k", "segments"})
        segments = obj.get("segments", "all")
        if segments not in SEGMENT_SPACES:
            raise CaseError(
                f"{where}.segments: expected one of {', '.join(SEGMENT_SPACES)}, "
                f"got {segments!r}"
            )
        spec = PolicySpec(op, k=_count(obj, "k", where), segments=segments)
    elif op in ("T", "maxent"):
        allowed.add("alpha")
        if "alpha" not in obj:
            raise CaseError(f"{where}: missing 'alpha'")
        alpha = parse_rational(obj["alpha"], f"{where}.alpha")
        if alpha < 0:
            raise CaseError(f"{where}.alpha: must be >= 0, got {obj['alpha']!r}")
        spec = PolicySpec(op, alpha=alpha)
    else:  # B
        allowed.update({"i", "f"})
        if "f" not in obj:
            raise CaseError(f"{where}: missing 'f'")
        spec = PolicySpec(
            "B", i=_count(obj, "i", where), f=_parse_f(obj["f"], f"{where}.f")
        )
    unknown = set(obj) - allowed
    if unknown:
        raise CaseError(f"{where}: unknown keys {sorted(unknown)} for operator {op!r}")
    return spec


def _policy_to_json(spec: PolicySpec) -> dict[str, object]:
    out: dict[str, object] = {"operator": spec.operator}
    if spec.operator in ("G", "F", "F_literal", "H", "H_literal", "RWR"):
        out["k"] = spec.k
    elif spec.operator == "relabel":
        out["k"] = spec.k
        out["segments"] = spec.segments
    elif spec.operator in ("T", "maxent"):
        alpha = spec.alpha
        out["alpha"] = format_rational(alpha) if isinstance(alpha, Fraction) else alpha
    elif spec.operator == "B":
        assert spec.f is not None
        out["i"] = spec.i
        out["f"] = _f_to_json(spec.f)
    return out


@dataclass(frozen=True)
class Query:
    """One query of a case: a quantity of the policy named by ``policy``."""

    id: str
    quantity: str
    policy: PolicySpec
    f: SoftQ | None = None
    exact: bool | None = None
    tolerance: Tolerance | None = None
    reference: PolicySpec | None = None

    def __post_init__(self) -> None:
        row = QUANTITY_ROWS.get(self.quantity)
        if row is None:
            raise CaseError(
                f"query {self.id!r}: unknown quantity {self.quantity!r}; "
                f"expected one of {', '.join(QUANTITIES)}"
            )
        for name in ("f", "reference"):
            given = getattr(self, name) is not None
            if name in row.parameters and not given:
                raise CaseError(
                    f"query {self.id!r}: quantity {self.quantity!r} needs {name!r}"
                )
            if given and name not in row.parameters:
                users = [q.name for q in QUANTITY_ROWS.values() if name in q.parameters]
                raise CaseError(
                    f"query {self.id!r}: {name!r} is only for quantity "
                    f"{' or '.join(repr(u) for u in users)}"
                )
        if self.exact is True and not self._rational():
            raise CaseError(
                f"query {self.id!r}: 'exact': true, but {self.quantity} of "
                f"{self.policy.label()} is a float quantity"
            )

    def _rational(self) -> bool:
        return self.quantity in EXACT_QUANTITIES and self.policy.is_rational

    @property
    def is_exact(self) -> bool:
        """Whether the answer is a rational (CASE_FORMAT's fixed table)."""
        return self._rational() and self.exact is not False

    @classmethod
    def from_json(cls, obj: object, index: int) -> Query:
        """Read the query at position ``index`` of a case's ``queries``."""
        where = f"queries[{index}]"
        if not isinstance(obj, Mapping):
            raise CaseError(f"{where}: expected an object, got {obj!r}")
        qid = obj.get("id")
        if not isinstance(qid, str) or not qid:
            raise CaseError(f"{where}.id: expected a non-empty string, got {qid!r}")
        where = f"query {qid!r}"
        unknown = set(obj) - {
            "id", "quantity", "policy", "f", "exact", "tolerance", "reference"
        }  # fmt: skip
        if unknown:
            raise CaseError(f"{where}: unknown keys {sorted(unknown)}")
        quantity = obj.get("quantity")
        if not isinstance(quantity, str):
            raise CaseError(f"{where}.quantity: expected a string, got {quantity!r}")
        if "policy" not in obj:
            raise CaseError(f"{where}: missing 'policy'")
        exact = obj.get("exact")
        if exact is not None and not isinstance(exact, bool):
            raise CaseError(f"{where}.exact: expected true or false, got {exact!r}")
        return cls(
            id=qid,
            quantity=quantity,
            policy=_parse_policy(obj["policy"], f"{where}.policy"),
            f=_parse_f(obj["f"], f"{where}.f") if "f" in obj else None,
            reference=_parse_policy(obj["reference"], f"{where}.reference")
            if "reference" in obj
            else None,
            exact=exact,
            tolerance=Tolerance.parse(obj["tolerance"], f"{where}.tolerance")
            if "tolerance" in obj
            else None,
        )

    def to_json(self) -> dict[str, object]:
        """The JSON form read by :meth:`from_json`."""
        out: dict[str, object] = {
            "id": self.id,
            "quantity": self.quantity,
            "policy": _policy_to_json(self.policy),
        }
        if self.f is not None:
            out["f"] = _f_to_json(self.f)
        if self.reference is not None:
            out["reference"] = _policy_to_json(self.reference)
        if self.exact is not None:
            out["exact"] = self.exact
        if self.tolerance is not None:
            out["tolerance"] = self.tolerance.to_json()
        return out


@dataclass(frozen=True)
class Case:
    """A conformance case: an MDP, its queries and the expected answers.

    ``description`` (a string) and ``source`` (any JSON value: provenance) are
    kept and written back but never read by the oracle.
    """

    mdp: MDP
    queries: tuple[Query, ...] = ()
    expected: Mapping[str, Answer] = field(default_factory=dict)
    tolerance: Tolerance | None = None
    description: str | None = None
    source: Any = None

    @property
    def name(self) -> str:
        """The case's ``name`` (also the MDP's)."""
        return self.mdp.name

    def tolerance_for(self, query: Query) -> Tolerance:
        """The query's tolerance, else the case's, else the default."""
        return query.tolerance or self.tolerance or Tolerance()


def parse_answer(obj: object, where: str) -> Answer:
    """A results/expected answer: rational strings -> Fraction, "inf"/"-inf" and
    JSON numbers -> float, objects -> dicts of answers."""
    if isinstance(obj, Mapping):
        return {str(k): parse_answer(v, f"{where}[{k}]") for k, v in obj.items()}
    if isinstance(obj, float):
        if math.isnan(obj):
            raise CaseError(f"{where}: NaN is not an answer")
        return obj
    if isinstance(obj, int) and not isinstance(obj, bool):
        return float(obj)
    if isinstance(obj, str):
        try:
            return parse_number(obj, where)
        except ValueError as exc:
            raise CaseError(str(exc)) from None
    raise CaseError(
        f"{where}: expected a number, a numeric string or an object, got {obj!r}"
    )


def answer_shape_problem(
    answer: Answer, quantity: str, mdp: MDP, where: str
) -> str | None:
    """Why ``answer`` does not have the shape of ``quantity``'s table on
    ``mdp`` (SPEC §3: keyed by step t = 0..T-1 or 0..T, state and action, in the
    order of the quantity's axes; a scalar is a leaf), or None when it does.
    The message is one line naming the first place that differs."""
    row = QUANTITY_ROWS.get(quantity)
    if row is None:
        return None
    keys = {
        "steps": [str(t) for t in range(mdp.horizon)],
        "steps_T": [str(t) for t in range(mdp.horizon + 1)],
        "states": list(mdp.states),
        "actions": list(mdp.actions),
    }
    level: list[tuple[str, Answer]] = [(where, answer)]
    for axis in row.axes:
        want = keys[axis]
        below: list[tuple[str, Answer]] = []
        for place, node in level:
            if not isinstance(node, Mapping):
                return (
                    f"{place}: a {quantity} answer is keyed by "
                    f"{' x '.join(row.axes)}; expected an object keyed by {axis}, "
                    f"got {node!r}"
                )
            if set(node) != set(want):
                missing = [k for k in want if k not in node][:3]
                extra = sorted(set(node) - set(want))[:3]
                return (
                    f"{place}: a {quantity} answer is keyed by "
                    f"{' x '.join(row.axes)}; the {axis} keys differ (missing "
                    f"{missing}, extra {extra})"
                )
            below.extend((f"{place}[{k}]", node[k]) for k in want)
        level = below
    for place, node in level:
        if isinstance(node, Mapping):
            shape = " x ".join(row.axes) or "a scalar"
            return f"{place}: a {quantity} answer is {shape}; got an object here"
    return None


def answer_to_json(answer: Answer) -> object:
    """Exact leaves as lowest-terms strings, floats as JSON numbers, infinities as
    "inf"/"-inf"."""
    if isinstance(answer, Mapping):
        return {str(k): answer_to_json(v) for k, v in answer.items()}
    if isinstance(answer, float):
        if math.isnan(answer):
            raise ValueError("answer: NaN cannot be written")
        if math.isinf(answer):
            return "inf" if answer > 0 else "-inf"
        return answer
    if hasattr(answer, "numerator") and hasattr(answer, "denominator"):
        return format_rational(answer)
    raise ValueError(f"answer: cannot write {answer!r}")


def _read_json(path: str | os.PathLike[str], what: str) -> Any:
    """Strict JSON (:func:`coherence._io.read_json`: duplicate keys, NaN and
    file-system failures are one-line errors naming the path)."""
    try:
        return read_json(path, what)
    except ValueError as exc:
        raise CaseError(str(exc)) from None


_CASE_KEYS = {
    "format",
    "name",
    "horizon",
    "states",
    "actions",
    "initial",
    "transitions",
    "success",
    "terminal_success",
    "prior",
    "time_dependent_success",
    "queries",
    "expected",
    "tolerance",
    "description",
    "source",
    "goals",
}


def case_from_json(data: object) -> Case:
    """Validate and read a case object (see docs/case-format.md)."""
    if not isinstance(data, Mapping):
        raise CaseError(f"case: expected a JSON object, got {type(data).__name__}")
    if data.get("format") != CASE_FORMAT:
        raise CaseError(f"format: expected {CASE_FORMAT!r}, got {data.get('format')!r}")
    unknown = set(data) - _CASE_KEYS
    if unknown:
        raise CaseError(f"case: unknown keys {sorted(unknown)}")
    for key in ("name", "horizon", "states", "actions", "initial", "transitions"):
        if key not in data:
            raise CaseError(f"case: missing {key!r}")
    name = data["name"]
    if not isinstance(name, str) or not name:
        raise CaseError(f"name: expected a non-empty string, got {name!r}")
    mdp = MDP.build(
        states=data["states"],
        actions=data["actions"],
        horizon=data["horizon"],
        transitions=data["transitions"],
        initial=data["initial"],
        success=data.get("success") or {},
        terminal_success=data.get("terminal_success") or {},
        prior=data.get("prior") or {},
        time_dependent_success=data.get("time_dependent_success") or {},
        name=name,
    )
    if "goals" in data:
        from coherence.reference.relabel import build_goal_mdp

        mdp = build_goal_mdp(mdp, data["goals"])
    raw_queries = data.get("queries", [])
    if not isinstance(raw_queries, list):
        raise CaseError(f"queries: expected a list, got {raw_queries!r}")
    queries = tuple(Query.from_json(q, i) for i, q in enumerate(raw_queries))
    ids = [q.id for q in queries]
    dupes = sorted({i for i, n in Counter(ids).items() if n > 1})
    if dupes:
        raise CaseError(f"queries: duplicate ids {dupes}")
    raw_expected = data.get("expected", {})
    if not isinstance(raw_expected, Mapping):
        raise CaseError(f"expected: expected an object, got {raw_expected!r}")
    known_ids = set(ids)
    for key in raw_expected:
        if key not in known_ids:
            raise CaseError(f"expected: {key!r} is not a query id")
    expected = {k: parse_answer(v, f"expected[{k}]") for k, v in raw_expected.items()}
    quantity_of = {q.id: q.quantity for q in queries}
    for key, value in expected.items():
        problem = answer_shape_problem(value, quantity_of[key], mdp, f"expected[{key}]")
        if problem is not None:
            raise CaseError(problem)
    tolerance = (
        Tolerance.parse(data["tolerance"], "tolerance") if "tolerance" in data else None
    )
    description = data.get("description")
    if description is not None and not isinstance(description, str):
        raise CaseError(f"description: expected a string, got {description!r}")
    return Case(
        mdp=mdp,
        queries=queries,
        expected=expected,
        tolerance=tolerance,
        description=description,
        source=data.get("source"),
    )


def load_case(path: str | os.PathLike[str]) -> Case:
    """Read and validate a case file; errors name the file and the field."""
    data = _read_json(path, "case")
    try:
        return case_from_json(data)
    except ValueError as exc:
        raise CaseError(f"case {os.fspath(path)!r}: {exc}") from None


def case_to_json(case: Case) -> dict[str, object]:
    """The case as a JSON object with every number an exact rational string
    (a goal-conditioned case: its base MDP and its ``goals``)."""
    mdp = case.mdp
    goals = getattr(mdp, "command", None)
    if goals is not None:
        mdp = goals.base
    st, ac = mdp.states, mdp.actions
    fmt = format_rational
    out: dict[str, object] = {
        "format": CASE_FORMAT,
        "name": mdp.name,
    }
    if case.description is not None:
        out["description"] = case.description
    if case.source is not None:
        out["source"] = case.source
    out |= {
        "horizon": mdp.horizon,
        "states": list(st),
        "actions": list(ac),
        "initial": {st[s]: fmt(q) for s, q in enumerate(mdp.initial) if q != 0},
        "transitions": {
            st[s]: {
                ac[a]: {st[j]: fmt(p) for j, p in row} for a, row in enumerate(rows)
            }
            for s, rows in enumerate(mdp.transitions)
        },
    }
    base = mdp.success[0]
    out["success"] = {
        st[s]: {ac[a]: fmt(q) for a, q in enumerate(row) if q != 1}
        for s, row in enumerate(base)
        if any(q != 1 for q in row)
    }
    overrides = {
        str(t): {
            st[s]: {ac[a]: fmt(q) for a, q in enumerate(row) if q != base[s][a]}
            for s, row in enumerate(table)
            if row != base[s]
        }
        for t, table in enumerate(mdp.success)
        if table != base
    }
    if overrides:
        out["time_dependent_success"] = overrides
    out["terminal_success"] = {
        st[s]: fmt(q) for s, q in enumerate(mdp.terminal_success) if q != 1
    }
    out["prior"] = {
        st[s]: {ac[a]: fmt(q) for a, q in enumerate(row)}
        for s, row in enumerate(mdp.prior)
    }
    if goals is not None:
        out["goals"] = goals.to_json()
    if case.tolerance is not None:
        out["tolerance"] = case.tolerance.to_json()
    out["queries"] = [q.to_json() for q in case.queries]
    out["expected"] = {k: answer_to_json(v) for k, v in case.expected.items()}
    return out


def write_case(path: str | os.PathLike[str], case: Case) -> None:
    """Write a case atomically (exact rationals throughout)."""
    atomic_write_json(path, case_to_json(case))


@dataclass(frozen=True)
class Results:
    """A results file: answers by query id, and for answers of the certified
    backend their enclosures: the same nesting as the answer with leaves
    ``(mid, rad)`` of exact rationals (the exact value lies in [mid - rad,
    mid + rad]), written as ``{"mid": "...", "rad": "..."}`` decimal strings."""

    case: str
    implementation: str
    answers: Mapping[str, Answer]
    enclosures: Mapping[str, Any] = field(default_factory=dict)


def _enclosure_from_json(obj: object, where: str) -> Any:
    """``{"mid": m, "rad": r}`` -> (mid, rad) rationals (mid may be "inf" /
    "-inf", an exact infinity, as a float); nested objects recurse."""
    if isinstance(obj, Mapping) and set(obj) == {"mid", "rad"}:
        mid = parse_number(obj["mid"], f"{where}.mid")  # "inf": an exact infinity
        rad = parse_rational(obj["rad"], f"{where}.rad")
        if rad < 0:
            raise CaseError(f"{where}.rad: must be >= 0, got {obj['rad']!r}")
        return (mid, rad)
    if isinstance(obj, Mapping):
        return {
            str(k): _enclosure_from_json(v, f"{where}[{k}]") for k, v in obj.items()
        }
    raise CaseError(f"{where}: expected an enclosure {{mid, rad}}, got {obj!r}")


def _enclosure_to_json(enc: Any) -> object:
    """The inverse of :func:`_enclosure_from_json` (leaves with ``to_json``, or
    (mid, rad) pairs of rationals)."""
    if isinstance(enc, Mapping):
        return {str(k): _enclosure_to_json(v) for k, v in enc.items()}
    if hasattr(enc, "to_json"):
        return enc.to_json()
    if isinstance(enc, float):  # an exact infinity
        return {"mid": answer_to_json(enc), "rad": "0"}
    mid, rad = enc
    return {"mid": format_rational(mid), "rad": format_rational(rad)}


def load_results(path: str | os.PathLike[str]) -> Results:
    """Read a results file; a malformed file raises :class:`CaseError`."""
    data = _read_json(path, "results")
    where = f"results {os.fspath(path)!r}"
    if not isinstance(data, Mapping):
        raise CaseError(f"{where}: expected a JSON object")
    if data.get("format") != RESULTS_FORMAT:
        raise CaseError(
            f"{where}: format: expected {RESULTS_FORMAT!r}, got {data.get('format')!r}"
        )
    case = data.get("case")
    if not isinstance(case, str):
        raise CaseError(f"{where}: case: expected a string, got {case!r}")
    impl = data.get("implementation", "")
    if not isinstance(impl, str):
        raise CaseError(f"{where}: implementation: expected a string, got {impl!r}")
    answers = data.get("answers")
    if not isinstance(answers, Mapping):
        raise CaseError(f"{where}: answers: expected an object, got {answers!r}")
    raw_enclosures = data.get("enclosures", {})
    if not isinstance(raw_enclosures, Mapping):
        raise CaseError(f"{where}: enclosures: expected an object")
    enclosures = {
        str(k): _enclosure_from_json(v, f"{where}: enclosures[{k}]")
        for k, v in raw_enclosures.items()
    }
    return Results(
        case=case, implementation=impl, answers=dict(answers), enclosures=enclosures
    )


def write_results(path: str | os.PathLike[str], results: Results) -> None:
    """Write a results file atomically."""
    atomic_write_json(
        path,
        {
            "format": RESULTS_FORMAT,
            "case": results.case,
            "implementation": results.implementation,
            "answers": {k: answer_to_json(v) for k, v in results.answers.items()},
            **(
                {
                    "enclosures": {
                        k: _enclosure_to_json(v) for k, v in results.enclosures.items()
                    }
                }
                if results.enclosures
                else {}
            ),
        },
    )


def results_path(directory: str | os.PathLike[str], case_name: str) -> Path:
    """Where the results of a case live inside a results directory: always a
    file directly inside ``directory``.

    ``DIR/<name>.json`` when the case name is 1-100 characters of
    ``A-Z a-z 0-9 . _ -`` starting with a letter or digit; any other name
    (``../x``, ``/abs/x``, ``sub/dir``, ``.``, ``..``) is cleaned and suffixed
    with a hash of the name (:func:`coherence._io.file_stem`, stated in
    docs/case-format.md).
    """
    return path_inside(directory, case_name, ".json")
