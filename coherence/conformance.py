"""Conformance: answer a case's queries with a backend, and check answers.

``coherence conformance run CASE... --out DIR [--backend NAME]`` writes one
``coherence-results/1`` file per case (``DIR/<case name>.json``);
``coherence conformance check CASE... --results DIR`` compares every answer
with the case's expected answer, or with the oracle's own answer where the case
has none, prints a per-query table (text, JSON or JUnit XML) and exits non-zero
on any failure or (unless ``--allow-missing``) missing answer.

Answering lives in :mod:`coherence.queries`; this module compares and reports.
The default backend ``auto`` (:func:`coherence.queries.auto_choice`) answers
with the exact engine where the policies are rational, the input denominators
small and the estimated cost within :data:`coherence.backends.AUTO_MAX_COST`,
with certified ball arithmetic where its own estimate is within it, and with
float64 numpy otherwise; the run prints, per case, the queries that left the
exact path and why. ``check`` asks its :class:`Oracle` only for queries without
an expected answer (and with an answer to compare).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree as ET

from coherence import __version__, backends
from coherence._io import ensure_directory
from coherence._numbers import format_rational
from coherence._options import float_option
from coherence.backends import exact_is_fast
from coherence.queries import AUTO, Evaluator, auto_choice, run_case
from coherence.queries import is_exact_leaf as _is_exact
from coherence.reference.case import (
    Answer,
    Case,
    Query,
    Results,
    Tolerance,
    load_case,
    load_results,
    parse_answer,
    results_path,
    write_results,
)
from coherence.reference.limits import check_engine_limits
from coherence.reference.operators import OPERATORS
from coherence.reference.quantities import QUANTITIES

__all__ = [
    "ORACLES",
    "Check",
    "Mismatch",
    "Oracle",
    "OracleAnswer",
    "auto_note",
    "check_case",
    "compare",
    "mismatches",
    "progress_bar",
    "register",
]

#: Failing points listed per query in reports.
SHOWN_POINTS = 3


# --------------------------------------------------------------- comparison
@dataclass(frozen=True)
class Mismatch:
    """One failing point of a comparison; ``path`` labels its axes
    (``t=1 s=ridge a=up``)."""

    path: str
    got: Any
    want: Any
    detail: str
    excess: float = math.inf


def _leaves(
    answer: Answer, letters: Sequence[str], depth: int = 0, path: str = ""
) -> Iterator[tuple[str, Any]]:
    if isinstance(answer, Mapping):
        letter = letters[depth] if depth < len(letters) else f"[{depth}]"
        for key, value in answer.items():
            label = f"{letter}={key}"
            yield from _leaves(
                value, letters, depth + 1, f"{path} {label}" if path else label
            )
    else:
        yield path, answer


def mismatches(
    got: Answer,
    want: Answer,
    tol: Tolerance,
    *,
    strict: bool = False,
    letters: Sequence[str] = ("t", "s", "a"),
) -> list[Mismatch]:
    """Every point where ``got`` does not match ``want``, worst first.

    Exact against exact: equality. Anything involving a float: pass when
    |got - want| <= max(abs, rel |want|); infinities equal infinities of the same
    sign. ``strict``: a float where an exact answer is wanted fails. A shape
    difference is one mismatch naming the missing and extra points.
    """
    got_leaves = dict(_leaves(got, letters))
    want_leaves = dict(_leaves(want, letters))
    if set(got_leaves) != set(want_leaves):
        missing = sorted(set(want_leaves) - set(got_leaves))
        extra = sorted(set(got_leaves) - set(want_leaves))
        return [
            Mismatch(
                "",
                got if not isinstance(got, Mapping) else "...",
                want if not isinstance(want, Mapping) else "...",
                f"shape differs: missing {missing[:3]} extra {extra[:3]}",
            )
        ]
    found: list[Mismatch] = []
    for path, w in want_leaves.items():
        g = got_leaves[path]
        if _is_exact(g) and _is_exact(w):
            if g != w:
                found.append(Mismatch(path, g, w, "exact values differ"))
            continue
        if strict and _is_exact(w) and not _is_exact(g):
            found.append(Mismatch(path, g, w, "float answer to an exact query"))
            continue
        gf, wf = _as_float(g), _as_float(w)
        if gf == wf:
            continue
        if math.isinf(gf) or math.isinf(wf):
            excess = math.inf
        else:
            bound = max(tol.abs, tol.rel * abs(wf))
            excess = abs(gf - wf) / bound if bound > 0 else math.inf
            if excess <= 1.0:
                continue
        diff = abs(gf - wf) if math.isfinite(gf - wf) else math.inf
        rel = diff / abs(wf) if wf != 0.0 and math.isfinite(wf) else math.inf
        found.append(Mismatch(path, g, w, f"|diff| {diff:.3g}, rel {rel:.3g}", excess))
    found.sort(key=lambda m: -m.excess)
    return found


def _as_float(x: Any) -> float:
    """A leaf as a float; a rational too large for a float becomes +-inf."""
    try:
        return float(x)
    except OverflowError:
        return math.inf if x > 0 else -math.inf


def compare(
    got: Answer, want: Answer, tol: Tolerance, *, strict: bool = False
) -> Mismatch | None:
    """None when ``got`` matches ``want``; else the worst mismatching point
    (see :func:`mismatches`)."""
    found = mismatches(got, want, tol, strict=strict)
    return found[0] if found else None


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
    failing: int = 0
    points: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, object]:
        """The check as a JSON object (``--format json``)."""
        return {
            "case": self.case,
            "query": self.query,
            "quantity": self.quantity,
            "policy": self.policy,
            "status": self.status,
            "source": self.source,
            "detail": self.detail,
            "failing_points": self.failing,
            "points": list(self.points),
        }


def _short(x: Any) -> str:
    """A value for a report: long rationals shortened with their decimal value."""
    if _is_exact(x):
        text = format_rational(x)
        if len(text) <= 40:
            return text if "/" not in text else f"{text} (~{_as_float(x):.6g})"
        return f"{text[:18]}...{text[-18:]} (~{_as_float(x):.6g})"
    if isinstance(x, float):
        return repr(x)
    return str(x)


def _judge(
    query: Query,
    results: Results | None,
    want: Answer,
    tol: Tolerance,
    strict: bool,
    enclosure: Any = None,
) -> tuple[str, str, int, tuple[str, ...]]:
    """(status, detail, failing points, first points) of one query; with an
    ``enclosure`` of ``want`` (certified), a float answer passes when it lies
    within the tolerance of the enclosure, and the detail says so."""
    if results is None or query.id not in results.answers:
        return "missing", "", 0, ()
    raw = results.answers[query.id]
    try:
        got = parse_answer(raw, f"answers[{query.id}]")
    except ValueError as exc:
        return "fail", f"malformed answer: {exc}", 0, ()
    row = QUANTITIES[query.quantity]
    found = mismatches(
        got, want, tol, strict=strict and query.is_exact, letters=row.index_letters
    )
    if enclosure is not None:
        found = _outside_enclosure(found, enclosure, tol, row.index_letters)
        if not found:
            return "pass", "within tolerance of the certified enclosure", 0, ()
    if not found:
        return "pass", "", 0, ()
    points = tuple(
        f"{m.path or 'value'}: got {_short(m.got)} want {_short(m.want)} ({m.detail})"
        for m in found[:SHOWN_POINTS]
    )
    detail = f"{len(found)} point(s) differ; " + points[0]
    if query.is_exact and _has_decimal_string(raw):
        detail += (
            "; hint: a decimal string is read as an exact decimal, so it cannot "
            "equal a rational such as 5/11: write an exact rational string "
            '("5/11") or a JSON number for a float answer'
        )
    return "fail", detail, len(found), points


def _has_decimal_string(raw: object) -> bool:
    if isinstance(raw, Mapping):
        return any(_has_decimal_string(v) for v in raw.values())
    return (
        isinstance(raw, str) and ("." in raw or "e" in raw.lower()) and "/" not in raw
    )


def _selected(
    query: Query, operators: set[str] | None, quantities: set[str] | None
) -> bool:
    if operators is not None and query.policy.operator not in operators:
        return False
    return quantities is None or query.quantity in quantities


#: ``check --oracle`` choices: ``auto`` follows the cost rule of
#: :func:`coherence.backends.auto_choice`; the others force one engine.
ORACLES = ("auto", "exact", "certified", "numpy")


@dataclass(frozen=True)
class OracleAnswer:
    """What a query is checked against when the case has no expected answer:
    the answer, the certified enclosure of each leaf (or None), the source
    named in the report, and the tolerance the oracle itself needs (float64:
    the engine's stated tolerance; None for exact and certified)."""

    want: Answer
    enclosure: Any
    source: str
    tolerance: Tolerance | None = None


def _all_rational(query: Query) -> bool:
    """Whether every policy and soft-Q map of ``query`` is rational (the exact
    engine can answer it)."""
    from coherence.reference.operators import f_is_rational

    specs = [query.policy] + ([query.reference] if query.reference else [])
    return all(s.is_rational for s in specs) and f_is_rational(query.f)


class Oracle:
    """The reference answers of one case's queries, computed on demand with
    one evaluator per engine, so policies are shared across the case's queries
    and each quantity is computed once (never for a query whose expected
    answer is in the case: :func:`check_case` asks only for the others).

    ``backend`` ``auto``: for an exact query, exact where
    :func:`coherence.queries.auto_choice` takes exact, or where exact is
    possible and its cost estimate is at most the certified one; certified
    enclosures for float queries and the other exact ones, whatever their cost
    (the reference stays rigorous; ``numpy`` is the fast choice); float64
    numpy, with the engine's stated tolerance, only where the ``[certified]``
    extra is missing.
    """

    def __init__(self, case: Case, backend: str = "auto") -> None:
        """``backend``: one of :data:`ORACLES`."""
        if backend not in ORACLES:
            raise ValueError(
                f"--oracle: expected one of {', '.join(ORACLES)}, got {backend!r}"
            )
        self.case = case
        self.backend = backend
        self._evaluators: dict[str, Evaluator] = {}
        self.computed = 0

    def _evaluator(self, name: str) -> Evaluator:
        if name not in self._evaluators:
            self._evaluators[name] = Evaluator(self.case.mdp, name)
        return self._evaluators[name]

    def engine_for(self, query: Query) -> str:
        """The engine that answers ``query`` (exact, certified or numpy)."""
        if self.backend != "auto":
            if self.backend == "exact" and not _all_rational(query):
                return "certified"
            return self.backend
        choice = auto_choice(
            self.case.mdp, query.policy, f=query.f, reference=query.reference
        )
        if query.is_exact and choice.exact_possible:
            # both references are rigorous: the cheaper estimate answers (and
            # exact, where the certified extra turns out to be missing)
            exact, ball = choice.exact_cost, choice.certified_cost
            if choice.backend == "exact" or (
                exact is not None and ball is not None and exact <= ball
            ):
                return "exact"
        return "certified"

    def answer(self, query: Query) -> OracleAnswer:
        """The oracle's answer of ``query``."""
        self.computed += 1
        engine = self.engine_for(query)
        if engine == "certified":
            found = self._certified(query)
            if found is not None:
                return found
            if self.backend == "certified":
                raise ValueError(
                    f"--oracle certified: ball arithmetic cannot answer "
                    f"{self.case.name}/{query.id}"
                )
            engine = "exact" if query.is_exact and exact_is_fast(self.case.mdp) else ""
            if not engine:
                engine = "numpy"
        if engine == "numpy":
            from coherence.reference.tolerances import query_tolerance

            want = self._evaluator("numpy").answer(query)
            tol = query_tolerance("float64", self.case.mdp.horizon, query)
            return OracleAnswer(want, None, "float64 oracle", tol)
        return OracleAnswer(self._evaluator(engine).answer(query), None, "oracle")

    def _certified(self, query: Query) -> OracleAnswer | None:
        """Midpoints and enclosures from one certified computation; None where
        the extra is missing or balls cannot decide."""
        try:
            from coherence.reference.certified import certified_value, enclosure_of
        except ImportError:
            return None
        evaluator = self._evaluator("certified")
        try:
            raw = certified_value(
                evaluator,
                query.quantity,
                query.policy,
                f=query.f,
                reference=query.reference,
            )
        except ValueError:
            return None
        want = evaluator.name_answer(query, raw)
        return OracleAnswer(want, _named_like(want, enclosure_of(raw)), "certified")


def check_case(
    case: Case,
    results: Results | None,
    *,
    tolerance: Tolerance | None = None,
    strict: bool = False,
    operators: set[str] | None = None,
    quantities: set[str] | None = None,
    dtype: str | None = None,
    oracle: Oracle | None = None,
    progress: Callable[[Query], None] | None = None,
) -> list[Check]:
    """Compare results with expected answers (or the oracle's answers).

    Args:
        case: the case.
        results: the implementation's results (None: every query is missing).
        tolerance: a looser floor for every float comparison.
        dtype: also allow each query the stated tolerance of a float engine of
            this dtype (:func:`coherence.reference.tolerances.query_tolerance`).
        strict: fail a float answer to an exact query.
        operators, quantities: check only queries of these operators/quantities.
        oracle: answers the queries that have no expected answer (default: an
            ``auto`` :class:`Oracle` of ``case``); no engine is created when
            every selected query has an expected answer.
        progress: called after each query whose answer the oracle computed.
    Returns:
        One :class:`Check` per selected query.
    """
    checks: list[Check] = []
    for query in case.queries:
        if not _selected(query, operators, quantities):
            continue
        tol = case.tolerance_for(query)
        enclosure = None
        extras = [tolerance, _engine_tolerance(dtype, case, query)]
        if query.id in case.expected:
            want, source = case.expected[query.id], "expected"
        elif results is None or query.id not in results.answers:
            # nothing to compare: the oracle is not asked
            checks.append(
                Check(
                    case.name,
                    query.id,
                    query.quantity,
                    query.policy.label(),
                    "missing",
                    "oracle",
                )
            )
            if progress is not None:
                progress(query)
            continue
        else:
            if oracle is None:
                oracle = Oracle(case)
            found = oracle.answer(query)
            want, enclosure, source = found.want, found.enclosure, found.source
            extras.append(found.tolerance)
            if progress is not None:
                progress(query)
        for extra in extras:
            if extra is not None:
                tol = Tolerance(
                    rel=max(tol.rel, extra.rel), abs=max(tol.abs, extra.abs)
                )
        status, detail, failing, points = _judge(
            query, results, want, tol, strict, enclosure
        )
        checks.append(
            Check(
                case.name,
                query.id,
                query.quantity,
                query.policy.label(),
                status,
                source,
                detail,
                failing,
                points,
            )
        )
    return checks


def _engine_tolerance(dtype: str | None, case: Case, query: Query) -> Tolerance | None:
    if dtype is None:
        return None
    from coherence.reference.tolerances import query_tolerance

    return query_tolerance(dtype, case.mdp.horizon, query)


# ---------------------------------------------------------------- enclosures
def _named_like(answer: Answer, raw: Any) -> Any:
    """``raw`` (nested lists in index order) keyed like ``answer``."""
    if isinstance(answer, Mapping):
        return {k: _named_like(v, raw[i]) for i, (k, v) in enumerate(answer.items())}
    return raw


def _outside_enclosure(
    found: list[Mismatch], enclosure: Any, tol: Tolerance, letters: Sequence[str]
) -> list[Mismatch]:
    """The mismatches whose answer lies farther than the tolerance from the
    enclosure (an infinity must equal the exact infinity)."""
    leaves = dict(_leaves(enclosure, letters))
    kept = []
    for m in found:
        enc = leaves.get(m.path)
        if enc is None or isinstance(enc, float) or not isinstance(m.got, float):
            kept.append(m)
            continue
        if enc.distance(m.got) > max(tol.abs, tol.rel * abs(float(enc.mid))):
            kept.append(m)
    return kept


# ---------------------------------------------------------------------- CLI
def _load_cases(paths: Sequence[str]) -> list[Case]:
    return [load_case(p) for p in paths]


def progress_bar(
    total: int,
    desc: str,
    *,
    quiet: bool = False,
    unit: str = "query",
    delay: float = 0.5,
) -> Any:
    """A tqdm bar on stderr: shown only when stderr is a terminal, the command
    is not ``--quiet``, and the work lasts longer than ``delay`` seconds."""
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        file=sys.stderr,
        disable=True if quiet else None,
        delay=delay,
        leave=False,
        dynamic_ncols=True,
    )


def auto_note(case: Case, choices: Mapping[str, backends.AutoChoice]) -> str | None:
    """One line saying which queries ``auto`` moved off their usual path
    (:attr:`coherence.backends.AutoChoice.fallback`: past the cost budget or
    the exact-path limits, or an undecidable tie), to which backend and why;
    None when there are none."""
    groups: dict[tuple[str, str], list[str]] = {}
    for qid, choice in choices.items():
        if choice.fallback:
            reason = choice.reason
            if reason.startswith("exact cost estimate"):
                reason = "exact cost estimate over the budget"
            elif reason.startswith("exact path:"):
                reason = "past the exact-path limits"
            groups.setdefault((choice.backend, reason), []).append(qid)
    if not groups:
        return None
    parts = []
    for (backend, reason), qids in groups.items():
        costs = [
            c.exact_cost
            for q, c in choices.items()
            if q in qids and c.exact_cost is not None
        ]
        detail = reason
        if costs and "budget" in reason:
            detail = (
                f"exact cost estimate {min(costs):.2g}"
                + (f"..{max(costs):.2g}" if max(costs) != min(costs) else "")
                + f" > {backends.AUTO_MAX_COST:.2g}"
            )
        shown = ", ".join(qids[:3]) + (f", +{len(qids) - 3}" if len(qids) > 3 else "")
        parts.append(f"{backend} for {len(qids)} ({shown}): {detail}")
    return f"{case.name}: auto answered " + "; ".join(parts)


def _run_certified(
    case: Case, backend: str, progress: Any
) -> tuple[Results, dict[str, str]]:
    """Every query on a certified backend, each computed once: the balls give
    both the midpoints (the answers) and the enclosures."""
    from coherence.reference.certified import certified_value, enclosure_of

    evaluator = Evaluator(case.mdp, backend)
    answers: dict[str, Answer] = {}
    enclosures: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for q in case.queries:
        try:
            raw = certified_value(
                evaluator, q.quantity, q.policy, f=q.f, reference=q.reference
            )
            answers[q.id] = evaluator.name_answer(q, raw)
            enclosures[q.id] = _named_like(answers[q.id], enclosure_of(raw))
        except (ValueError, ArithmeticError, NotImplementedError) as exc:
            errors[q.id] = f"{type(exc).__name__}: {exc}"
        progress(q)
    impl = f"coherence {__version__} ({backend})"
    return Results(case.name, impl, answers, enclosures), errors


def _check_auto_limits(cases: Sequence[Case]) -> None:
    """Under ``auto``, a query whose fallback (certified or float) engine is
    over its own limits can be answered by no backend: refuse the run before
    any work (one line naming the case, the query and the bound). Queries auto
    answers exactly are within the exact limits by construction."""
    from coherence.queries import auto_backend

    for case in cases:
        for query in case.queries:
            backend = auto_backend(case.mdp, query)
            if backend == "exact":
                continue
            for spec in (query.policy, query.reference):
                if spec is None:
                    continue
                try:
                    check_engine_limits(case.mdp, spec, backend, f=query.f)
                except ValueError as exc:
                    raise ValueError(
                        f"case {case.name!r}, query {query.id!r}: {exc}"
                    ) from None


def _cmd_run(args: argparse.Namespace) -> int:
    cases = _load_cases(args.cases)
    if args.backend != AUTO and cases:
        # an unavailable backend or device is one error, before anything is written
        backends.create(args.backend, cases[0].mdp)
    if args.backend == AUTO:
        _check_auto_limits(cases)
    else:
        for case in cases:  # every limit of the chosen engine, before any work
            for query in case.queries:
                for spec in (query.policy, query.reference):
                    if spec is None:
                        continue
                    if args.backend.split(":", 1)[0] == "exact" and (
                        not spec.is_rational
                    ):
                        continue
                    try:
                        check_engine_limits(case.mdp, spec, args.backend, f=query.f)
                    except ValueError as exc:
                        raise ValueError(
                            f"case {case.name!r}, query {query.id!r}: {exc}"
                        ) from None
    out = ensure_directory(args.out)
    status = 0
    certified = args.backend.split(":", 1)[0] == "certified"
    total = sum(len(case.queries) for case in cases)
    with progress_bar(total, "answering", quiet=args.quiet) as bar:

        def step(query: Query) -> None:
            bar.update(1)

        for case in cases:
            bar.set_postfix_str(case.name, refresh=False)
            evaluator = Evaluator(case.mdp, args.backend)
            if certified:
                results, errors = _run_certified(case, args.backend, step)
            else:
                results, errors = run_case(case, evaluator=evaluator, progress=step)
            path = results_path(out, case.name)
            write_results(path, results)
            bar.write(
                f"{case.name}: {len(results.answers)}/{len(case.queries)} answered "
                f"with {args.backend} -> {path}",
                file=sys.stdout,
            )
            note = auto_note(case, evaluator.choices)
            if note is not None:
                bar.write(f"  {note}", file=sys.stderr)
            for qid, message in errors.items():
                bar.write(f"  {qid}: not answered: {message}", file=sys.stderr)
                status = 1
    return status


def _names(text: str | None, allowed: Sequence[str], what: str) -> set[str] | None:
    if text is None:
        return None
    chosen = {x.strip() for x in text.split(",") if x.strip()}
    unknown = sorted(chosen - set(allowed))
    if unknown or not chosen:
        raise ValueError(
            f"--{what}: unknown {what} {', '.join(unknown) or repr(text)}; "
            f"expected a comma-separated list of {', '.join(allowed)}"
        )
    return chosen


def _case_checks(
    case: Case,
    directory: str,
    args: argparse.Namespace,
    tolerance: Tolerance | None,
    operators: set[str] | None,
    quantities: set[str] | None,
    progress: Callable[[Query], None],
) -> list[Check]:
    path = results_path(directory, case.name)
    results: Results | None = None
    problem = ""
    if path.exists():
        results = load_results(path)  # a malformed file is a one-line error
        if results.case != case.name:
            problem = (
                f"results {str(path)!r} answer case {results.case!r}, not {case.name!r}"
            )
            results = None
    else:
        problem = f"no results file: looked for {str(path)!r}"
    checks = check_case(
        case,
        results,
        tolerance=tolerance,
        strict=args.strict,
        operators=operators,
        quantities=quantities,
        dtype=args.dtype,
        oracle=Oracle(case, args.oracle),
        progress=progress,
    )
    if problem and results is None and path.exists():
        # a results file that names another case fails this case only
        return [
            Check(c.case, c.query, c.quantity, c.policy, "fail", c.source, problem)
            for c in checks
        ]
    if problem:
        return [
            Check(c.case, c.query, c.quantity, c.policy, c.status, c.source, problem)
            if c.status == "missing"
            else c
            for c in checks
        ]
    return checks


def _cmd_check(args: argparse.Namespace) -> int:
    operators = _names(args.only, OPERATORS, "only")
    quantities = _names(args.quantities, tuple(QUANTITIES), "quantities")
    tolerance = None
    notes: list[str] = []
    if args.rel is not None or args.abs is not None:
        tolerance = Tolerance(rel=args.rel or 0.0, abs=args.abs or 0.0)
        notes.append(
            f"note: tolerance loosened on the command line to at least "
            f"rel={tolerance.rel:g}, abs={tolerance.abs:g}"
        )
    if args.dtype is not None:
        notes.append(
            f"note: each float comparison also allows the stated {args.dtype} engine "
            "tolerance (docs/performance.md; coherence.reference.tolerances)"
        )
    cases = _load_cases(args.cases)
    rows: list[Check] = []
    total = sum(
        _selected(q, operators, quantities) and q.id not in case.expected
        for case in cases
        for q in case.queries
    )
    with progress_bar(total, "checking", quiet=args.quiet) as bar:
        for case in cases:
            bar.set_postfix_str(case.name, refresh=False)
            rows.extend(
                _case_checks(
                    case,
                    args.results,
                    args,
                    tolerance,
                    operators,
                    quantities,
                    lambda _: bar.update(1),
                )
            )
    floats = sum(r.source == "float64 oracle" for r in rows)
    if floats:
        notes.append(
            f"note: {floats} answer(s) checked against the float64 oracle within "
            "its stated tolerance (coherence.reference.tolerances), not against an "
            "exact or certified reference"
        )
    counts = {s: sum(r.status == s for r in rows) for s in ("pass", "fail", "missing")}
    ok = counts["fail"] == 0 and (args.allow_missing or counts["missing"] == 0)
    summary = (
        f"{counts['pass']} passed, {counts['fail']} failed, {counts['missing']} missing"
    )
    if args.format == "json":
        print(
            json.dumps(
                {"checks": [r.to_json() for r in rows], "counts": counts, "ok": ok},
                indent=1,
            )
        )
    elif args.format == "junit":
        print(_junit(rows, counts))
    else:
        for note in notes:
            print(note)
        _print_table(rows)
        print(summary + (" (missing allowed)" if args.allow_missing else ""))
    return 0 if ok else 1


def _print_table(rows: Sequence[Check]) -> None:
    width = max([len(f"{r.case}/{r.query}") for r in rows] + [10])
    for r in rows:
        line = (
            f"{r.status.upper():8} {f'{r.case}/{r.query}':{width}}  {r.quantity:14} "
            f"{r.policy:22} vs {r.source}"
        )
        print(line + (f"  {r.detail}" if r.detail else ""))
        for point in r.points[1:]:
            print(f"{'':8} {'':{width}}    {point}")


def _junit(rows: Sequence[Check], counts: Mapping[str, int]) -> str:
    suite = ET.Element(
        "testsuite",
        name="coherence-conformance",
        tests=str(len(rows)),
        failures=str(counts["fail"]),
        skipped=str(counts["missing"]),
    )
    for r in rows:
        case = ET.SubElement(
            suite, "testcase", classname=r.case, name=f"{r.query} ({r.quantity})"
        )
        if r.status == "fail":
            failure = ET.SubElement(case, "failure", message=r.detail[:200])
            failure.text = "\n".join(r.points) or r.detail
        elif r.status == "missing":
            ET.SubElement(case, "skipped", message=r.detail or "no answer")
    return ET.tostring(suite, encoding="unicode")


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
        help=f"auto (default: exact for rational policies with small input "
        f"denominators where the estimated cost is within the budget, certified "
        f"ball arithmetic or float64 numpy otherwise; docs/queries.md) or one of "
        f"{', '.join(backends.names())}; options after ':' (torch:float32, "
        "certified:256)",
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    run.set_defaults(handler=_cmd_run, needs=lambda a: backends.needs(a.backend))
    check = inner.add_parser("check", help="compare results with expected answers")
    check.add_argument("cases", nargs="+", metavar="CASE")
    check.add_argument("--results", required=True, metavar="DIR")
    check.add_argument(
        "--strict", action="store_true", help="fail a float answer to an exact query"
    )
    check.add_argument(
        "--rel",
        type=float_option("--rel", low=0.0),
        default=None,
        help="looser relative tolerance for a float engine",
    )
    check.add_argument(
        "--abs",
        type=float_option("--abs", low=0.0),
        default=None,
        help="looser absolute tolerance for a float engine",
    )
    check.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        default=None,
        help="allow each query the stated tolerance of a float engine of this "
        "dtype (scaled by horizon and operator iterations)",
    )
    check.add_argument(
        "--allow-missing",
        action="store_true",
        help="a partial implementation: missing answers do not fail the check",
    )
    check.add_argument(
        "--only",
        metavar="OPERATOR,...",
        help=f"check only queries of these operators ({', '.join(OPERATORS)})",
    )
    check.add_argument(
        "--quantities",
        metavar="Q,...",
        help=f"check only these quantities ({', '.join(QUANTITIES)})",
    )
    check.add_argument(
        "--format",
        choices=("text", "json", "junit"),
        default="text",
        help="report format (default text)",
    )
    check.add_argument(
        "--oracle",
        choices=ORACLES,
        default="auto",
        help="reference for queries without an expected answer: auto (default: "
        "exact where the auto cost rule takes exact, else certified enclosures), "
        "or one engine for all (numpy: fast, float64 within its stated tolerance)",
    )
    check.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    check.set_defaults(handler=_cmd_check)
