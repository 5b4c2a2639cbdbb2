"""Conformance: answer a case's queries with a backend, and check answers.

``coherence conformance run CASE... --out DIR [--backend NAME]`` writes one
``coherence-results/1`` file per case (``DIR/<case name>.json``);
``coherence conformance check CASE... --results DIR`` compares every answer
with the case's expected answer, or with the oracle's own answer where the case
has none, prints a per-query table (text, JSON or JUnit XML) and exits non-zero
on any failure or (unless ``--allow-missing``) missing answer.

Answering lives in :mod:`coherence.queries`; this module compares and reports.
The default backend ``auto`` (:func:`coherence.queries.auto_for`) answers with
the exact engine where the policies are rational and the input denominators
small, and with certified ball arithmetic otherwise.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree as ET

from coherence import backends
from coherence._io import ensure_directory
from coherence._numbers import format_rational
from coherence._options import float_option
from coherence.queries import AUTO, Evaluator, run_case
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
    "Check",
    "Mismatch",
    "check_case",
    "compare",
    "mismatches",
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


def check_case(
    case: Case,
    results: Results | None,
    *,
    tolerance: Tolerance | None = None,
    strict: bool = False,
    operators: set[str] | None = None,
    quantities: set[str] | None = None,
    dtype: str | None = None,
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
    Returns:
        One :class:`Check` per selected query.
    """
    evaluator: Evaluator | None = None
    evaluators: dict[str, Evaluator] = {}
    checks: list[Check] = []
    for query in case.queries:
        if not _selected(query, operators, quantities):
            continue
        base = case.tolerance_for(query)
        tol = base
        for extra in (tolerance, _engine_tolerance(dtype, case, query)):
            if extra is not None:
                tol = Tolerance(
                    rel=max(tol.rel, extra.rel), abs=max(tol.abs, extra.abs)
                )
        label = query.policy.label()
        enclosure = None
        certified = None
        if query.id not in case.expected and not query.is_exact:
            certified = _oracle_enclosure(evaluators, case, query)
        if query.id in case.expected:
            want, source = case.expected[query.id], "expected"
        elif certified is not None:
            (want, enclosure), source = certified, "certified"
        else:
            if evaluator is None:
                evaluator = Evaluator(case.mdp)
            want, source = evaluator.answer(query), "oracle"
        status, detail, failing, points = _judge(
            query, results, want, tol, strict, enclosure
        )
        checks.append(
            Check(
                case.name,
                query.id,
                query.quantity,
                label,
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


def _enclosures(
    case: Case, backend: str, answers: Mapping[str, Answer]
) -> dict[str, Any]:
    """The certified enclosure of each answered query, keyed like its answer."""
    from coherence.reference.certified import certified_value, enclosure_of

    evaluator = Evaluator(case.mdp, backend)
    out: dict[str, Any] = {}
    for q in case.queries:
        if q.id in answers:
            raw = certified_value(
                evaluator, q.quantity, q.policy, f=q.f, reference=q.reference
            )
            out[q.id] = _named_like(answers[q.id], enclosure_of(raw))
    return out


def _oracle_enclosure(
    evaluators: dict[str, Evaluator], case: Case, query: Query
) -> tuple[Answer, Any] | None:
    """(midpoints, enclosures) of a float query from the certified backend, or
    None where it is unavailable or cannot decide (the default oracle then
    answers)."""
    try:
        from coherence.reference.certified import certified_value, enclosure_of
    except ImportError:
        return None
    if "certified" not in evaluators:
        evaluators["certified"] = Evaluator(case.mdp, "certified")
    evaluator = evaluators["certified"]
    try:
        want = evaluator.answer(query)
        raw = certified_value(
            evaluator,
            query.quantity,
            query.policy,
            f=query.f,
            reference=query.reference,
        )
    except ValueError:
        return None
    return want, _named_like(want, enclosure_of(raw))


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


def _cmd_run(args: argparse.Namespace) -> int:
    cases = _load_cases(args.cases)
    if args.backend != AUTO and cases:
        # an unavailable backend or device is one error, before anything is written
        backends.create(args.backend, cases[0].mdp)
    if args.backend != AUTO:
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
    for case in cases:
        results, errors = run_case(case, args.backend)
        if certified:
            results = Results(
                case=results.case,
                implementation=results.implementation,
                answers=results.answers,
                enclosures=_enclosures(case, args.backend, results.answers),
            )
        path = results_path(out, case.name)
        write_results(path, results)
        print(
            f"{case.name}: {len(results.answers)}/{len(case.queries)} answered "
            f"with {args.backend} -> {path}"
        )
        for qid, message in errors.items():
            print(f"  {qid}: not answered: {message}", file=sys.stderr)
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
    for case in cases:
        rows.extend(
            _case_checks(case, args.results, args, tolerance, operators, quantities)
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
        f"denominators, certified ball arithmetic otherwise) or one of "
        f"{', '.join(backends.names())}; options after ':' (torch:float32, "
        "certified:256)",
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
    check.set_defaults(handler=_cmd_check)
