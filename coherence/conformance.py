"""Conformance: answer a case's queries with a backend, and check answers.

``coherence conformance run CASE... --out DIR [--backend NAME]`` writes one
``coherence-results/1`` file per case (``DIR/<case name>.json``);
``coherence conformance check CASE... --results DIR`` compares every answer
with the case's expected answer, or with the oracle's own answer where the case
has none, prints a per-query table and exits non-zero on any failure or missing
answer.

The default backend ``auto`` answers a query exactly where its answer is
rational (CASE_FORMAT's table) and with the float64 engine otherwise.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from coherence import __version__, backends
from coherence._numbers import format_rational, to_float
from coherence.reference.case import (
    Answer,
    Case,
    CaseError,
    Query,
    Results,
    Tolerance,
    load_case,
    load_results,
    parse_answer,
    results_path,
    write_results,
)
from coherence.reference.model import MDP

__all__ = [
    "AUTO",
    "Check",
    "Evaluator",
    "answer_query",
    "check_case",
    "compare",
    "register",
    "run_case",
]

AUTO = "auto"


def _is_exact(x: Any) -> bool:
    """An exact rational leaf (Fraction, or the exact engine's gmpy2.mpq)."""
    return isinstance(x, Fraction) or type(x).__name__ == "mpq"


def _scalar(x: Any) -> Any:
    """Exact leaves stay exact; everything else becomes float."""
    return x if _is_exact(x) else float(x)


def _named(table: Any, names: Sequence[Sequence[str]]) -> Answer:
    """Index a nested table ``[t][s]...`` by step strings and names."""
    if not names:
        return _scalar(table)
    head, rest = names[0], names[1:]
    return {name: _named(table[i], rest) for i, name in enumerate(head)}


def answer_query(engine: backends.QueryEngine, mdp: MDP, query: Query) -> Answer:
    """The answer of one query on ``engine`` (built for ``mdp``), indexed by the
    MDP's step, state and action names (CASE_FORMAT "Quantities")."""
    T = mdp.horizon
    steps = [str(t) for t in range(T)]
    steps_T = [str(t) for t in range(T + 1)]
    st, ac = list(mdp.states), list(mdp.actions)
    pol = engine.policy(query.policy)
    q = query.quantity
    if q == "policy":
        return _named(engine.policy_table(pol), [steps, st, ac])
    if q == "z":
        return _named(engine.z_table(pol), [steps, st, ac])
    if q == "w":
        return _named(engine.w_table(pol), [steps_T, st])
    if q == "occupancy":
        return _named(engine.occupancy(pol), [steps_T, st])
    if q == "kappa":
        assert query.f is not None  # checked by Query
        return float(engine.kappa(pol, query.f))
    method = {
        "J_prob": engine.j_prob,
        "J_soft": engine.j_soft,
        "J_sum": engine.j_sum,
        "J_count": engine.j_count,
        "causal_entropy": engine.causal_entropy,
    }[q]
    return _scalar(method(pol))


class Evaluator:
    """Answers queries of one case, creating each backend's engine once."""

    def __init__(self, case: Case, backend: str = AUTO) -> None:
        self.case = case
        self.backend = backend
        if backend != AUTO:
            backends.describe(backend)
        self._engines: dict[str, backends.QueryEngine] = {}

    def backend_for(self, query: Query) -> str:
        if self.backend != AUTO:
            return self.backend
        return "exact" if query.is_exact else "numpy"

    def engine(self, name: str) -> backends.QueryEngine:
        if name not in self._engines:
            self._engines[name] = backends.create(name, self.case.mdp)
        return self._engines[name]

    def answer(self, query: Query) -> Answer:
        name = self.backend_for(query)
        answer = answer_query(self.engine(name), self.case.mdp, query)
        if not query.is_exact:
            answer = _to_float(answer)
        return answer


def _to_float(answer: Answer) -> Answer:
    if isinstance(answer, Mapping):
        return {k: _to_float(v) for k, v in answer.items()}
    if isinstance(answer, float):
        return answer
    return to_float(answer)


def run_case(case: Case, backend: str = AUTO) -> tuple[Results, dict[str, str]]:
    """Answer every query; returns the results and the errors by query id."""
    evaluator = Evaluator(case, backend)
    answers: dict[str, Answer] = {}
    errors: dict[str, str] = {}
    for query in case.queries:
        try:
            answers[query.id] = evaluator.answer(query)
        except (ValueError, ArithmeticError, NotImplementedError) as exc:
            errors[query.id] = f"{type(exc).__name__}: {exc}"
    impl = f"coherence {__version__} ({backend})"
    return Results(case=case.name, implementation=impl, answers=answers), errors


# --------------------------------------------------------------- comparison
@dataclass(frozen=True)
class Mismatch:
    """The worst point of a failed comparison."""

    path: str
    got: Any
    want: Any
    detail: str


def _leaves(answer: Answer, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(answer, Mapping):
        for key, value in answer.items():
            yield from _leaves(value, f"{path}[{key}]")
    else:
        yield path, answer


def compare(
    got: Answer, want: Answer, tol: Tolerance, *, strict: bool = False
) -> Mismatch | None:
    """None when ``got`` matches ``want``; else the worst mismatching point.

    Exact against exact: equality. Anything involving a float: pass when
    |got - want| <= max(abs, rel |want|); infinities equal infinities of the same
    sign. ``strict``: a float where an exact answer is wanted fails.
    """
    got_leaves = dict(_leaves(got))
    want_leaves = dict(_leaves(want))
    if set(got_leaves) != set(want_leaves):
        missing = sorted(set(want_leaves) - set(got_leaves))
        extra = sorted(set(got_leaves) - set(want_leaves))
        return Mismatch(
            "",
            got if not isinstance(got, Mapping) else "...",
            want if not isinstance(want, Mapping) else "...",
            f"shape differs: missing {missing[:3]} extra {extra[:3]}",
        )
    worst: Mismatch | None = None
    worst_excess = -1.0
    for path, w in want_leaves.items():
        g = got_leaves[path]
        if _is_exact(g) and _is_exact(w):
            if g != w:
                excess = math.inf
                mismatch = Mismatch(path, g, w, "exact values differ")
            else:
                continue
        else:
            if strict and _is_exact(w) and not _is_exact(g):
                return Mismatch(path, g, w, "float answer to an exact query (--strict)")
            gf, wf = float(g), float(w)
            if gf == wf:
                continue
            if math.isinf(gf) or math.isinf(wf):
                excess = math.inf
            else:
                bound = max(tol.abs, tol.rel * abs(wf))
                excess = abs(gf - wf) / bound if bound > 0 else math.inf
                if excess <= 1.0:
                    continue
            diff = abs(gf - wf)
            rel = diff / abs(wf) if wf not in (0.0,) and math.isfinite(wf) else math.inf
            mismatch = Mismatch(path, g, w, f"|diff| {diff:.3g}, rel {rel:.3g}")
        if excess > worst_excess:
            worst, worst_excess = mismatch, excess
    return worst


@dataclass(frozen=True)
class Check:
    """Outcome of one query: status is pass, fail or missing."""

    case: str
    query: str
    quantity: str
    policy: str
    status: str
    source: str
    detail: str = ""


def _short(x: Any) -> str:
    if _is_exact(x):
        text = format_rational(x)
        return (
            text if len(text) <= 40 else f"{text[:18]}...{text[-18:]} (~{float(x):.6g})"
        )
    if isinstance(x, float):
        return repr(x)
    return str(x)


def _judge(
    query: Query, results: Results | None, want: Answer, tol: Tolerance, strict: bool
) -> tuple[str, str]:
    """(status, detail) of one query: pass, fail (with both values) or missing."""
    if results is None or query.id not in results.answers:
        return "missing", ""
    try:
        got = parse_answer(results.answers[query.id], f"answers[{query.id}]")
    except ValueError as exc:
        return "fail", f"malformed answer: {exc}"
    mismatch = compare(got, want, tol, strict=strict and query.is_exact)
    if mismatch is None:
        return "pass", ""
    return "fail", (
        f"{mismatch.path} got {_short(mismatch.got)} "
        f"want {_short(mismatch.want)} ({mismatch.detail})"
    )


def check_case(
    case: Case,
    results: Results | None,
    *,
    tolerance: Tolerance | None = None,
    strict: bool = False,
) -> list[Check]:
    """Compare results with expected answers (or the oracle's answers)."""
    evaluator: Evaluator | None = None
    checks: list[Check] = []
    for query in case.queries:
        base = case.tolerance_for(query)
        tol = (
            base
            if tolerance is None
            else Tolerance(
                rel=max(base.rel, tolerance.rel), abs=max(base.abs, tolerance.abs)
            )
        )
        label = query.policy.label()
        if query.id in case.expected:
            want, source = case.expected[query.id], "expected"
        else:
            if evaluator is None:
                evaluator = Evaluator(case)
            want, source = evaluator.answer(query), "oracle"
        status, detail = _judge(query, results, want, tol, strict)
        checks.append(
            Check(case.name, query.id, query.quantity, label, status, source, detail)
        )
    return checks


# ---------------------------------------------------------------------- CLI
def _load_cases(paths: Sequence[str]) -> list[Case]:
    return [load_case(p) for p in paths]


def _cmd_run(args: argparse.Namespace) -> int:
    cases = _load_cases(args.cases)
    status = 0
    for case in cases:
        results, errors = run_case(case, args.backend)
        path = results_path(args.out, case.name)
        write_results(path, results)
        print(
            f"{case.name}: {len(results.answers)}/{len(case.queries)} answered "
            f"with {args.backend} -> {path}"
        )
        for qid, message in errors.items():
            print(f"  {qid}: not answered: {message}", file=sys.stderr)
            status = 1
    return status


def _cmd_check(args: argparse.Namespace) -> int:
    tolerance = None
    if args.rel is not None or args.abs is not None:
        tolerance = Tolerance(rel=args.rel or 0.0, abs=args.abs or 0.0)
        print(
            f"note: tolerance loosened on the command line to at least "
            f"rel={tolerance.rel:g}, abs={tolerance.abs:g}"
        )
    cases = _load_cases(args.cases)
    rows: list[Check] = []
    for case in cases:
        path = results_path(args.results, case.name)
        results: Results | None
        if path.exists():
            results = load_results(path)
            if results.case != case.name:
                raise CaseError(
                    f"results {str(path)!r}: case: expected {case.name!r}, "
                    f"got {results.case!r}"
                )
        else:
            results = None
        rows.extend(check_case(case, results, tolerance=tolerance, strict=args.strict))
    width = max([len(f"{r.case}/{r.query}") for r in rows] + [10])
    for r in rows:
        line = (
            f"{r.status.upper():8} {f'{r.case}/{r.query}':{width}}  {r.quantity:14} "
            f"{r.policy:22} vs {r.source}"
        )
        print(line + (f"  {r.detail}" if r.detail else ""))
    counts = {s: sum(r.status == s for r in rows) for s in ("pass", "fail", "missing")}
    print(
        f"{counts['pass']} passed, {counts['fail']} failed, {counts['missing']} missing"
    )
    return 0 if counts["fail"] == 0 and counts["missing"] == 0 else 1


def register(sub: Any) -> None:
    """Add ``conformance run`` and ``conformance check``."""
    parser = sub.add_parser("conformance", help="answer and check conformance cases")
    inner = parser.add_subparsers(
        dest="conformance_command", metavar="ACTION", required=True
    )
    run = inner.add_parser("run", help="answer every query of the cases")
    run.add_argument("cases", nargs="+", metavar="CASE")
    run.add_argument("--out", required=True, metavar="DIR")
    run.add_argument(
        "--backend",
        default=AUTO,
        help=f"auto (default: exact where the answer is rational, numpy "
        f"otherwise) or one of {', '.join(backends.names())}; "
        "options after ':' (torch:float32)",
    )
    run.set_defaults(handler=_cmd_run)
    check = inner.add_parser("check", help="compare results with expected answers")
    check.add_argument("cases", nargs="+", metavar="CASE")
    check.add_argument("--results", required=True, metavar="DIR")
    check.add_argument(
        "--strict", action="store_true", help="fail a float answer to an exact query"
    )
    check.add_argument(
        "--rel",
        type=float,
        default=None,
        help="looser relative tolerance for a float engine",
    )
    check.add_argument(
        "--abs",
        type=float,
        default=None,
        help="looser absolute tolerance for a float engine",
    )
    check.set_defaults(handler=_cmd_check)
