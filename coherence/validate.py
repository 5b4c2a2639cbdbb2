"""``coherence validate FILE...`` and ``coherence schema case|results``.

Validation reports every problem of a case or results file, each on one line
with its JSON path and the offending value:

* the JSON itself (strict: duplicate keys, ``NaN`` / ``Infinity`` and
  unreadable files are problems at ``$``);
* the JSON Schema of the file's format (``coherence/schema/*.schema.json``,
  printed by ``coherence schema``), every violation;
* the semantics the schema cannot express: names that exist, probabilities in
  [0, 1], rows that sum to 1, canonical step keys, the size and number-string
  limits, query parameters, expected answers keyed by query ids (the checks of
  the case reader, collected instead of stopping at the first).

A case file without problems is one that
:func:`~coherence.reference.case.load_case` reads.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from coherence._io import json_path, read_json
from coherence.reference.case import (
    CASE_FORMAT,
    RESULTS_FORMAT,
    Query,
    case_from_json,
    parse_answer,
)
from coherence.reference.model import named_form_problems

__all__ = [
    "SCHEMAS",
    "Problem",
    "data_problems",
    "file_problems",
    "register",
    "schema",
]

#: Schema kind -> file name inside ``coherence/schema``.
SCHEMAS = {"case": "case.schema.json", "results": "results.schema.json"}
_FORMATS = {CASE_FORMAT: "case", RESULTS_FORMAT: "results"}
_SHOWN_VALUE = 60


@dataclass(frozen=True)
class Problem:
    """One problem of a file: where (a JSON path), what, and the value there."""

    path: str
    message: str
    value: object = None

    def line(self) -> str:
        """``$.path: message (value: ...)`` on one line."""
        text = f"{self.path}: {' '.join(self.message.split())}"
        if self.value is not None:
            try:
                shown = json.dumps(self.value, ensure_ascii=False, allow_nan=True)
            except (TypeError, ValueError):
                shown = repr(self.value)
            if len(shown) > _SHOWN_VALUE:
                shown = shown[: _SHOWN_VALUE - 3] + "..."
            text += f" (value: {shown})"
        return text


@cache
def schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of ``kind`` ("case" or "results") shipped in the package."""
    if kind not in SCHEMAS:
        raise ValueError(f"schema: expected one of {', '.join(SCHEMAS)}, got {kind!r}")
    text = (
        resources.files("coherence")
        .joinpath("schema", SCHEMAS[kind])
        .read_text(encoding="utf-8")
    )
    out: dict[str, Any] = json.loads(text)
    return out


@cache
def _validator(kind: str) -> Any:
    try:
        import jsonschema
    except ImportError:  # pragma: no cover - a core dependency
        raise ValueError(
            "validate: the jsonschema package is missing (pip install jsonschema)"
        ) from None
    return jsonschema.Draft202012Validator(schema(kind))


# ------------------------------------------------ the fast validity check
# ``jsonschema`` walks a large case (one anyOf and $ref per number) at tens of
# microseconds per leaf, several times slower than reading the case. The
# shipped schemas use a small subset of JSON Schema 2020-12, which compiles
# here into plain Python predicates answering only "valid or not"; a file they
# accept has no schema problem (the same verdict as jsonschema's, a test
# compares both on the suite and on mutated files), and a file they reject is
# walked by jsonschema for its messages.
Predicate = Callable[[object], bool]

_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$defs", "$comment", "title", "description", "default"}
)


class _Unsupported(Exception):
    """A schema keyword the fast check does not implement."""


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


_TYPES: dict[str, Predicate] = {
    "object": lambda x: isinstance(x, dict),
    "array": lambda x: isinstance(x, list),
    "string": lambda x: isinstance(x, str),
    "boolean": lambda x: isinstance(x, bool),
    "null": lambda x: x is None,
    "number": _is_number,
    "integer": lambda x: (
        not isinstance(x, bool)
        and (isinstance(x, int) or (isinstance(x, float) and x.is_integer()))
    ),
}


def _json_equal(a: object, b: object) -> bool:
    """JSON equality as JSON Schema defines it (1 == 1.0, True != 1)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_json_equal, a, b))
    return type(a) is type(b) and a == b


def _unique(items: list[object]) -> bool:
    if all(isinstance(x, str) for x in items):
        return len(set(items)) == len(items)
    return not any(
        _json_equal(items[i], items[j])
        for i in range(len(items))
        for j in range(i + 1, len(items))
    )


class _Compiler:
    """Compiles a schema of the supported subset into a predicate."""

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.refs: dict[str, Predicate] = {}

    def ref(self, target: str) -> Predicate:
        if not target.startswith("#/$defs/") or "/" in target[8:]:
            raise _Unsupported(target)
        name = target[8:]
        if name not in self.refs:
            # a recursive definition (an answer's nested objects) reads its own
            # predicate through a slot; the others are called directly
            slot: list[Predicate] = []
            self.refs[name] = lambda x: slot[0](x)
            compiled = self.compile(self.root["$defs"][name])
            slot.append(compiled)
            self.refs[name] = compiled
        return self.refs[name]

    def compile(self, schema: object) -> Predicate:
        if schema is True:
            return lambda x: True
        if schema is False:
            return lambda x: False
        if not isinstance(schema, Mapping):
            raise _Unsupported(repr(schema))
        checks: list[Predicate] = []
        keys = sorted(schema, key=lambda k: k != "type")  # the cheap test first
        for key in keys:
            if key in _ANNOTATIONS or key in ("then", "else", "properties"):
                continue
            checks.append(self._keyword(key, schema[key], schema))
        if "properties" in schema:
            checks.append(self._properties(schema))
        return _all(checks)

    def _properties(self, schema: Mapping[str, Any]) -> Predicate:
        props = [(k, self.compile(v)) for k, v in schema["properties"].items()]

        def check(x: object) -> bool:
            if not isinstance(x, dict):
                return True
            return all(f(x[k]) for k, f in props if k in x)

        return check

    def _keyword(self, key: str, value: Any, schema: Mapping[str, Any]) -> Predicate:
        if key == "type":
            names = [value] if isinstance(value, str) else list(value)
            preds = [_TYPES[n] for n in names]
            return preds[0] if len(preds) == 1 else _any(preds)
        if key == "$ref":
            return self.ref(value)
        if key == "const":
            return lambda x: _json_equal(x, value)
        if key == "enum":
            options = list(value)
            return lambda x: any(_json_equal(x, o) for o in options)
        if key in ("anyOf", "allOf"):
            parts = [self.compile(v) for v in value]
            return _any(parts) if key == "anyOf" else _all(parts)
        if key == "not":
            inner = self.compile(value)
            return lambda x: not inner(x)
        if key == "if":
            cond = self.compile(value)
            then = self.compile(schema.get("then", True))
            other = self.compile(schema.get("else", True))
            return lambda x: then(x) if cond(x) else other(x)
        if key == "required":
            names = list(value)
            return lambda x: not isinstance(x, dict) or all(n in x for n in names)
        if key == "additionalProperties":
            known = set(schema.get("properties", {}))
            extra = self.compile(value)
            if "patternProperties" in schema:
                raise _Unsupported(key)
            if not known:
                return lambda x: not isinstance(x, dict) or all(map(extra, x.values()))
            return lambda x: (
                not isinstance(x, dict)
                or all(extra(v) for k, v in x.items() if k not in known)
            )
        if key == "propertyNames":
            names_ok = self.compile(value)
            return lambda x: not isinstance(x, dict) or all(names_ok(k) for k in x)
        if key == "items":
            item = self.compile(value)
            return lambda x: not isinstance(x, list) or all(map(item, x))
        if key in ("minItems", "minLength", "maxLength"):
            kind = list if key == "minItems" else str
            bound = int(value)
            if key == "maxLength":
                return lambda x: not isinstance(x, kind) or len(x) <= bound
            return lambda x: not isinstance(x, kind) or len(x) >= bound
        if key == "uniqueItems":
            if not value:
                return lambda x: True
            return lambda x: not isinstance(x, list) or _unique(x)
        if key in ("minimum", "maximum"):
            limit = value
            if key == "minimum":
                return lambda x: not _is_number(x) or x >= limit
            return lambda x: not _is_number(x) or x <= limit
        if key == "pattern":
            regex = re.compile(value)
            seen: dict[str, bool] = {}  # number strings repeat ("1/2", "0")

            def match(x: object) -> bool:
                if not isinstance(x, str):
                    return True
                known = seen.get(x)
                if known is None:
                    known = regex.search(x) is not None
                    if len(x) <= 64 and len(seen) < 100_000:
                        seen[x] = known
                return known

            return match
        raise _Unsupported(key)


def _all(checks: list[Predicate]) -> Predicate:
    """The conjunction of ``checks`` (the predicates of one schema)."""
    if not checks:
        return lambda x: True
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        a, b = checks
        return lambda x: a(x) and b(x)
    return lambda x: all(check(x) for check in checks)


def _any(checks: list[Predicate]) -> Predicate:
    """The disjunction of ``checks`` (anyOf, a list of types)."""
    if len(checks) == 2:
        a, b = checks
        return lambda x: a(x) or b(x)
    return lambda x: any(check(x) for check in checks)


@cache
def _fast_check(kind: str) -> Predicate | None:
    """The compiled validity check of ``kind``'s schema; None when the schema
    uses a keyword outside the supported subset (jsonschema then decides)."""
    root = schema(kind)
    try:
        return _Compiler(root).compile(root)
    except _Unsupported:
        return None


def _schema_problems(data: object, kind: str) -> list[Problem]:
    fast = _fast_check(kind)
    if fast is not None and fast(data):
        return []
    validator = _validator(kind)
    problems = []
    for found in validator.iter_errors(data):
        error = found
        while error.context:  # a failed oneOf: the branch that came closest
            error = max(
                error.context,
                key=lambda e: (len(e.absolute_path), e.validator != "type"),
            )
        message = error.message
        if len(message) > 200:
            message = message[:197] + "..."
        problems.append(Problem(error.json_path, message, None))
    return sorted(problems, key=lambda p: p.path)


def _strip(message: str) -> str:
    """Drop the reader's own field label ("transitions[x][a]: ...") where the
    JSON path already says where."""
    head, sep, rest = message.partition(": ")
    if sep and " " not in head:
        return rest
    return message


def _semantic_case_problems(data: Mapping[str, Any]) -> list[Problem]:
    problems = [
        Problem(json_path(list(parts)), _strip(message), value)
        for parts, message, value in named_form_problems(data)
    ]
    queries = data.get("queries", [])
    ids: list[str] = []
    if isinstance(queries, list):
        for i, obj in enumerate(queries):
            if isinstance(obj, Mapping) and isinstance(obj.get("id"), str):
                ids.append(obj["id"])
            try:
                Query.from_json(obj, i)
            except ValueError as exc:
                problems.append(Problem(json_path(["queries", i]), str(exc), None))
        for qid, count in Counter(ids).items():
            if count > 1:
                problems.append(
                    Problem("$.queries", f"duplicate query id {qid!r}", qid)
                )
    expected = data.get("expected", {})
    if isinstance(expected, Mapping):
        known = set(ids)
        for key, answer in expected.items():
            where = json_path(["expected", key])
            if isinstance(queries, list) and key not in known:
                problems.append(Problem(where, f"{key!r} is not a query id", key))
            problems += _answer_problems(answer, ["expected", key])
    return problems


def _answer_problems(answer: object, parts: list[str | int]) -> list[Problem]:
    """Problems of every leaf of an answer, each at its own JSON path."""
    if isinstance(answer, Mapping):
        out: list[Problem] = []
        for key, value in answer.items():
            out += _answer_problems(value, [*parts, key])
        return out
    try:
        parse_answer(answer, "answer")
    except ValueError as exc:
        return [Problem(json_path(parts), _strip(str(exc)), answer)]
    return []


def _semantic_results_problems(data: Mapping[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    answers = data.get("answers")
    if isinstance(answers, Mapping):
        for key, answer in answers.items():
            problems += _answer_problems(answer, ["answers", key])
    return problems


def _reads(data: Mapping[str, Any]) -> bool:
    """Whether the case reader accepts ``data``."""
    try:
        case_from_json(data)
    except ValueError:
        return False
    return True


def data_problems(data: object) -> tuple[str | None, list[Problem]]:
    """(kind, problems) of a parsed case or results object; the kind comes from
    its ``format`` ("case", "results", or None when unknown)."""
    fmt = data.get("format") if isinstance(data, Mapping) else None
    kind = _FORMATS.get(fmt) if isinstance(fmt, str) else None
    if kind is None or not isinstance(data, Mapping):
        return None, [
            Problem(
                "$.format",
                f"expected {CASE_FORMAT!r} or {RESULTS_FORMAT!r}",
                fmt,
            )
        ]
    problems = _schema_problems(data, kind)
    if kind == "case":
        if not problems and _reads(data):
            # the reader accepts the case: none of its checks fails (the
            # collection below finds the same problems, without stopping)
            return kind, []
        problems += _semantic_case_problems(data)
        if not problems:
            try:
                case_from_json(data)
            except ValueError as exc:
                problems.append(Problem("$", str(exc), None))
    else:
        problems += _semantic_results_problems(data)
    seen: set[tuple[str, str]] = set()
    unique = []
    for problem in problems:
        if (problem.path, problem.message) not in seen:
            seen.add((problem.path, problem.message))
            unique.append(problem)
    return kind, unique


def file_problems(path: str | os.PathLike[str]) -> tuple[str | None, list[Problem]]:
    """(kind, problems) of the file at ``path``; an unreadable or malformed
    JSON file is one problem at ``$``."""
    try:
        data = read_json(path, "file")
    except ValueError as exc:
        return None, [Problem("$", str(exc), None)]
    return data_problems(data)


def _cmd_validate(args: argparse.Namespace) -> int:
    from coherence.conformance import progress_bar

    bad = 0
    with progress_bar(
        len(args.files), "validating", quiet=args.quiet, unit="file"
    ) as bar:
        for path in args.files:
            kind, problems = file_problems(path)
            bar.update(1)
            lines = [f"{path}: valid {kind}"]
            if problems:
                bad += 1
                s = "s" if len(problems) != 1 else ""
                lines = [f"{path}: {len(problems)} problem{s}"]
                lines += [f"  {p.line()}" for p in problems[: args.max_problems]]
                if len(problems) > args.max_problems:
                    lines.append(f"  ... and {len(problems) - args.max_problems} more")
            bar.write("\n".join(lines), file=sys.stdout)
    print(f"{len(args.files) - bad} valid, {bad} invalid")
    return 0 if bad == 0 else 1


def _cmd_schema(args: argparse.Namespace) -> int:
    print(json.dumps(schema(args.kind), indent=2))
    return 0


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def register(sub: Any) -> None:
    """Add ``validate FILE...`` and ``schema case|results``."""
    parser = sub.add_parser(
        "validate",
        help="check case and results files against the schema and the format",
    )
    parser.add_argument("files", nargs="+", metavar="FILE")
    parser.add_argument(
        "--max-problems",
        type=_positive,
        default=50,
        metavar="N",
        help="problems listed per file (default 50)",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no progress bar on stderr"
    )
    parser.set_defaults(handler=_cmd_validate)
    show = sub.add_parser("schema", help="print the JSON Schema of a file format")
    show.add_argument("kind", choices=sorted(SCHEMAS))
    show.set_defaults(handler=_cmd_schema)
