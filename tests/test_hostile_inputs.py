"""Hostile, malformed and extreme inputs get one clear line, fast, and touch
nothing outside the place the user named (issue 10, point 6).

``BAD_INPUTS`` is the table: each row is an action on functions of the case
format (reading cases and results, building MDPs, the exact-path limits, the
file helpers) and the words its one-line ``ValueError`` must contain. Every row
must fail within ``FAST`` seconds: several of them (``"1e-99999999"``, alpha =
1e9, k = 1e6, delta = 1e-12, horizon 1e9) ran without bound, or aborted the
process, before the limits existed.
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from coherence._io import (
    atomic_write_text,
    ensure_directory,
    file_stem,
    parse_json_text,
    read_json,
)
from coherence._numbers import to_float
from coherence.reference.case import (
    Case,
    Results,
    case_from_json,
    load_case,
    load_results,
    parse_answer,
    results_path,
    write_results,
)
from coherence.reference.limits import check_exact_limits
from coherence.reference.model import MAX_CELLS, MAX_HORIZON, MDP
from coherence.reference.operators import PolicySpec
from coherence.reference.recurrences import Argmax, Boltzmann
from coherence.validate import data_problems

#: Seconds within which every bad input must be refused (a hang fails the row).
FAST = 5.0


def base_case() -> dict[str, Any]:
    """A valid two-state case (every row below breaks one thing of it)."""
    return {
        "format": "coherence-case/1",
        "name": "tiny",
        "horizon": 2,
        "states": ["x", "y"],
        "actions": ["a", "b"],
        "initial": {"x": "1"},
        "transitions": {
            "x": {"a": {"x": "1/2", "y": "1/2"}, "b": {"y": "1"}},
            "y": {"a": {"y": "1"}, "b": {"x": "1"}},
        },
        "success": {"x": {"a": "1/2"}},
        "terminal_success": {"y": "3/4"},
        "prior": {"x": {"a": "1/3", "b": "2/3"}},
        "queries": [
            {"id": "q", "quantity": "J_prob", "policy": {"operator": "G", "k": 1}}
        ],
        "expected": {},
    }


DELETE = object()


def edited(path: str, value: Any) -> dict[str, Any]:
    """The base case with the value at ``path`` (slash separated) replaced
    (``DELETE`` removes it)."""
    case = base_case()
    keys = path.split("/")
    node: Any = case
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    last: Any = int(keys[-1]) if isinstance(node, list) else keys[-1]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return case


# ------------------------------------------------------------------ actions
def read_case(path: str, value: Any) -> Callable[[Path], object]:
    """Read the edited case (and check that ``coherence validate`` finds it)."""

    def run(tmp: Path) -> object:
        data = edited(path, value)
        kind, problems = data_problems(copy.deepcopy(data))
        assert kind in ("case", None) and problems, "validate accepted a bad case"
        return case_from_json(data)

    return run


def read_text(text: str | bytes, reader: str = "case") -> Callable[[Path], object]:
    """Write raw bytes to a file and read it as a case or results file."""

    def run(tmp: Path) -> object:
        path = tmp / "input.json"
        if isinstance(text, str):
            path.write_text(text, encoding="utf-8")
        else:
            path.write_bytes(text)
        return load_case(path) if reader == "case" else load_results(path)

    return run


def answer(value: Any) -> Callable[[Path], object]:
    """Parse one results answer."""
    return lambda tmp: parse_answer(value, "answers[q]")


def arrays(**override: Any) -> Callable[[Path], object]:
    """MDP.from_arrays with a valid base and ``override`` applied."""

    def run(tmp: Path) -> object:
        kwargs: dict[str, Any] = {
            "transitions": np.array([[[0.0, 1.0]], [[0.0, 1.0]]]),
            "initial": [1.0, 0.0],
            "success": np.array([[0.5], [1.0]]),
            "horizon": 2,
        }
        kwargs.update(override)
        return MDP.from_arrays(**kwargs)

    return run


def chain(n_states: int, horizon: int = 2, *, stochastic: bool = True) -> MDP:
    """A ring of ``n_states`` states (each action moves 1 or 2 steps on)."""
    names = [f"s{i}" for i in range(n_states)]
    nxt = {
        names[i]: {
            "a": {names[(i + 1) % n_states]: "1/2", names[(i + 2) % n_states]: "1/2"}
            if stochastic
            else {names[(i + 1) % n_states]: "1"},
            "b": {names[i]: "1"},
        }
        for i in range(n_states)
    }
    return MDP.build(
        states=names,
        actions=["a", "b"],
        horizon=horizon,
        transitions=nxt,
        initial={names[0]: "1"},
        success={names[0]: {"a": "1/3"}},
    )


def limits(
    spec: PolicySpec, mdp: MDP | None = None, f: Any = None
) -> Callable[[Path], object]:
    """The exact-path limits of ``spec`` on ``mdp`` (a 3-state ring by default)."""
    return lambda tmp: check_exact_limits(mdp or chain(3), spec, f=f)


def out_dir(make: Callable[[Path], Path]) -> Callable[[Path], object]:
    """ensure_directory on the path ``make(tmp)`` returns."""
    return lambda tmp: ensure_directory(make(tmp))


def file_at(tmp: Path) -> Path:
    path = tmp / "plain-file"
    path.write_text("x")
    return path


def write_under_file(tmp: Path) -> object:
    atomic_write_text(file_at(tmp) / "r.json", "{}")
    return None


def write_into_directory(tmp: Path) -> object:
    (tmp / "r.json").mkdir()
    write_results(tmp / "r.json", Results(case="c", implementation="x", answers={}))
    return None


def read_directory(reader: str) -> Callable[[Path], object]:
    def run(tmp: Path) -> object:
        (tmp / "d.json").mkdir()
        return (
            load_case(tmp / "d.json")
            if reader == "case"
            else load_results(tmp / "d.json")
        )

    return run


def write_denied(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> object:
    """A read-only directory as a non-root user sees it (mkstemp refused)."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("tempfile.mkstemp", refuse)
    atomic_write_text(tmp / "r.json", "{}")
    return None


def nested(depth: int) -> str:
    return '{"format": "coherence-case/1", "x": ' + "[" * depth + "]" * depth + "}"


BIG_DIGITS = "1" + "0" * 1_000_001
ONE_OF_TWO = {"x": "1/2", "y": "1/2"}

# (id, action, words the one-line message must contain)
BAD_INPUTS: list[tuple[str, Callable[..., object], list[str]]] = [
    # number strings: bounded before expansion
    (
        "tiny-exponent",
        read_case("transitions/x/b/y", "1e-99999999"),
        ["exponent", "4000"],
    ),
    ("huge-exponent", read_case("success/x/a", "1e99999999"), ["exponent"]),
    ("exponent-4001", read_case("success/x/a", "1e-4001"), ["exponent", "4000"]),
    ("million-digits", read_case("success/x/a", BIG_DIGITS), ["1000000 digits"]),
    (
        "million-digit-denominator",
        read_case("success/x/a", "1/" + BIG_DIGITS),
        ["digits"],
    ),
    ("hex-number", read_case("success/x/a", "0x10"), ["success[x][a]", "'0x10'"]),
    ("underscore-number", read_case("success/x/a", "1_0"), ["'1_0'"]),
    ("arabic-digit", read_case("success/x/a", "\u0663"), ["not a rational"]),
    ("inf-probability", read_case("success/x/a", "inf"), ["'inf'"]),
    ("nan-string", read_case("success/x/a", "nan"), ["'nan'"]),
    ("zero-denominator", read_case("success/x/a", "1/0"), ["zero denominator"]),
    ("json-overflow-float", read_case("success/x/a", float("inf")), ["not finite"]),
    ("boolean-probability", read_case("success/x/a", True), ["boolean"]),
    ("null-probability", read_case("success/x/a", None), ["NoneType"]),
    ("list-probability", read_case("success/x/a", [1]), ["list"]),
    ("negative-probability", read_case("transitions/x/a/y", "-1/2"), ["negative"]),
    ("probability-above-one", read_case("terminal_success/y", "5/4"), ["exceeds 1"]),
    ("row-not-summing", read_case("transitions/x/a/y", "1/4"), ["sum to 3/4"]),
    ("float-row-off", read_case("transitions/x/a", {"x": 0.5, "y": 0.4}), ["0.9"]),
    ("empty-row", read_case("transitions/x/a", {}), ["sum to 0"]),
    # time_dependent_success step keys: canonical integers only
    (
        "step-underscore",
        read_case("time_dependent_success", {"1_0": {}}),
        ["'1_0'", "canonical"],
    ),
    (
        "step-leading-zero",
        read_case("time_dependent_success", {"00": {}, "0": {}}),
        ["'00'"],
    ),
    ("step-plus", read_case("time_dependent_success", {"+1": {}}), ["'+1'"]),
    ("step-space", read_case("time_dependent_success", {" 1": {}}), ["' 1'"]),
    ("step-negative", read_case("time_dependent_success", {"-1": {}}), ["'-1'"]),
    ("step-decimal", read_case("time_dependent_success", {"1.0": {}}), ["'1.0'"]),
    ("step-arabic", read_case("time_dependent_success", {"\u0661": {}}), ["canonical"]),
    ("step-outside", read_case("time_dependent_success", {"2": {}}), ["'2'", "0..1"]),
    ("step-huge", read_case("time_dependent_success", {"9" * 50: {}}), ["canonical"]),
    # the case object
    (
        "unknown-top-key",
        read_case("Description", "typo"),
        ["unknown keys", "Description"],
    ),
    ("description-not-string", read_case("description", 3), ["description", "3"]),
    ("empty-name", read_case("name", ""), ["name"]),
    ("name-not-string", read_case("name", 5), ["name", "5"]),
    ("missing-format", read_case("format", DELETE), ["format"]),
    ("states-a-string", read_case("states", "xy"), ["states"]),
    ("state-not-string", read_case("states", ["x", 1]), ["states", "1"]),
    ("horizon-string", read_case("horizon", "2"), ["horizon", "'2'"]),
    ("horizon-float", read_case("horizon", 2.0), ["horizon", "2.0"]),
    ("horizon-1e9", read_case("horizon", 10**9), ["horizon", str(MAX_HORIZON)]),
    (
        "unknown-successor",
        read_case("transitions/x/b", {"z": "1"}),
        ["unknown state", "'z'"],
    ),
    ("queries-not-list", read_case("queries", {"q": 1}), ["queries"]),
    ("query-not-object", read_case("queries", [3]), ["queries[0]"]),
    ("query-without-id", read_case("queries/0/id", DELETE), ["id"]),
    (
        "duplicate-query-id",
        read_case("queries", [base_case()["queries"][0]] * 2),
        ["duplicate", "'q'"],
    ),
    ("query-unknown-key", read_case("queries/0/speed", 1), ["unknown keys", "speed"]),
    ("policy-without-operator", read_case("queries/0/policy", {"k": 1}), ["operator"]),
    (
        "temperature-without-alpha",
        read_case("queries/0/policy", {"operator": "T"}),
        ["alpha"],
    ),
    (
        "alpha-on-G",
        read_case("queries/0/policy", {"operator": "G", "k": 1, "alpha": "1"}),
        ["alpha"],
    ),
    (
        "alpha-tiny-exponent",
        read_case("queries/0/policy", {"operator": "T", "alpha": "1e-99999999"}),
        ["exponent"],
    ),
    ("k-float", read_case("queries/0/policy/k", 1.5), ["k", "1.5"]),
    ("exact-not-bool", read_case("queries/0/exact", "yes"), ["exact", "'yes'"]),
    (
        "negative-tolerance",
        read_case("tolerance", {"rel": -1}),
        ["tolerance.rel", "-1"],
    ),
    ("tolerance-unknown-key", read_case("tolerance", {"relative": 1}), ["relative"]),
    ("expected-unknown-id", read_case("expected", {"nope": "1"}), ["'nope'"]),
    ("expected-nan", read_case("expected", {"q": "nan"}), ["expected[q]", "'nan'"]),
    (
        "expected-tiny-exponent",
        read_case("expected", {"q": "1e-999999999"}),
        ["exponent"],
    ),
    ("expected-boolean", read_case("expected", {"q": False}), ["expected[q]", "False"]),
    # JSON text
    (
        "duplicate-top-key",
        read_text('{"name": "a", "name": "b"}'),
        ["duplicate key 'name'", "at $"],
    ),
    (
        "duplicate-nested-key",
        read_text('{"transitions": {"x": {"a": {"y": "1/2", "y": "1/2"}}}}'),
        ["duplicate key 'y'", "$.transitions.x.a"],
    ),
    ("nan-literal", read_text('{"a": NaN}'), ["NaN is not JSON"]),
    ("infinity-literal", read_text('{"a": -Infinity}'), ["-Infinity is not JSON"]),
    (
        "huge-json-integer",
        read_text('{"horizon": ' + "9" * 5000 + "}"),
        ["5000 digits"],
    ),
    ("deep-nesting", read_text(nested(100_000)), ["nested too deeply"]),
    ("not-utf8", read_text(b'{"name": "\xff"}'), ["not UTF-8"]),
    ("empty-file", read_text(""), ["not valid JSON"]),
    ("trailing-garbage", read_text('{"a": 1} x'), ["not valid JSON"]),
    ("top-level-array", read_text("[1, 2]"), ["expected a JSON object"]),
    # results answers
    ("answer-tiny-exponent", answer("1e-999999999"), ["exponent", "4000"]),
    ("answer-zero-denominator", answer("1/0"), ["zero denominator"]),
    ("answer-boolean", answer(True), ["answers[q]", "True"]),
    ("answer-null", answer(None), ["answers[q]", "None"]),
    ("answer-nested-bad", answer({"0": {"x": "half"}}), ["answers[q][0][x]", "'half'"]),
    ("results-nan-literal", read_text('{"answers": {"q": NaN}}', "results"), ["NaN"]),
    (
        "results-no-case",
        read_text('{"format": "coherence-results/1", "answers": {}}', "results"),
        ["case"],
    ),
    # arrays
    (
        "array-booleans",
        arrays(initial=np.array([True, False])),
        ["initial", "booleans"],
    ),
    ("array-ragged", arrays(initial=[[1.0], [0.0, 1.0]]), ["initial", "rectangular"]),
    (
        "array-inf",
        arrays(success=np.array([[np.inf], [1.0]])),
        ["success[s0][a0]", "inf"],
    ),
    (
        "array-above-one",
        arrays(success=np.array([[0.5], [1.5]])),
        ["success[s1][a0]", "exceeds 1"],
    ),
    ("array-row-off", arrays(initial=[0.5, 0.5 - 1e-9]), ["initial", "within 1e-12"]),
    (
        "array-prior-zero-row",
        arrays(prior=np.array([[0.0], [1.0]])),
        ["prior[s0]", "sum to 0"],
    ),
    ("array-horizon-missing", arrays(horizon=None), ["horizon", "required"]),
    ("array-horizon-1e9", arrays(horizon=10**9), ["horizon", str(MAX_HORIZON)]),
    (
        "array-bad-string",
        arrays(initial=np.array(["1", "1e-99999999"], dtype=object)),
        ["initial[s1]", "exponent"],
    ),
    # exact-path limits: refused before any work, naming the bound
    (
        "boltzmann-delta-1e-12",
        limits(PolicySpec("B", i=2, f=Boltzmann(Fraction(1, 10**12)))),
        ["max_bits", "float backend"],
    ),
    (
        "kappa-delta-1e-12",
        limits(PolicySpec("G", k=1), f=Boltzmann(Fraction(1, 10**12))),
        ["max_bits", "1/delta"],
    ),
    (
        "temperature-alpha-1e9",
        limits(PolicySpec("T", alpha=Fraction(10**9))),
        ["max_bits", "T_1000000000"],
    ),
    (
        "retrain-k-1e6",
        limits(PolicySpec("G", k=10**6)),
        ["max_work", "--backend numpy"],
    ),
    (
        "retrain-k-30-stochastic",
        limits(PolicySpec("G", k=30), chain(3, 8)),
        ["max_bits", "stochastic"],
    ),
    ("cumulative-folding-k-40", limits(PolicySpec("H", k=40)), ["max_bits", "H_40"]),
    (
        "exact-cells",
        limits(PolicySpec("prior"), chain(1000, 600, stochastic=False)),
        ["max_cells", "600 x 1000 x 2"],
    ),
    # the file system: one line naming the path
    ("out-is-a-file", out_dir(file_at), ["--out", "plain-file", "not a directory"]),
    (
        "out-under-a-file",
        out_dir(lambda tmp: file_at(tmp) / "sub"),
        ["--out", "plain-file"],
    ),
    ("write-under-a-file", write_under_file, ["plain-file", "not a directory"]),
    ("results-path-is-a-directory", write_into_directory, ["r.json", "is a directory"]),
    (
        "name-too-long",
        lambda tmp: atomic_write_text(tmp / ("x" * 300 + ".json"), "{}"),
        ["file name too long"],
    ),
    ("read-only-directory", write_denied, ["r.json", "permission denied"]),
    ("case-is-a-directory", read_directory("case"), ["d.json", "is a directory"]),
    ("results-is-a-directory", read_directory("results"), ["d.json", "is a directory"]),
    (
        "missing-case-file",
        lambda tmp: load_case(tmp / "absent.json"),
        ["absent.json", "no such file"],
    ),
]


def test_the_table_is_large_and_unique() -> None:
    ids = [row[0] for row in BAD_INPUTS]
    assert len(ids) >= 60
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize(
    ("action", "words"),
    [(action, words) for _, action, words in BAD_INPUTS],
    ids=[row[0] for row in BAD_INPUTS],
)
def test_bad_input_is_one_clear_line(
    action: Callable[..., object],
    words: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    start = time.perf_counter()
    with pytest.raises(ValueError) as info:
        if action is write_denied:
            action(work, monkeypatch)
        else:
            action(work)
    elapsed = time.perf_counter() - start
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    assert elapsed < FAST, f"took {elapsed:.1f} s"
    # nothing was written beside the work directory
    assert [p.name for p in tmp_path.iterdir()] == ["work"]


def test_the_base_case_is_valid() -> None:
    assert data_problems(base_case()) == ("case", [])
    assert case_from_json(base_case()).mdp.n_states == 2


# --------------------------------------------------------------- file names
HOSTILE_NAMES = [
    "../../x",
    "/abs/path/x",
    "sub/dir/x",
    ".",
    "..",
    "...",
    "",
    "x" * 300,
    "a\\b",
    "nul\x00byte",
    "sp ace",
    "\u00e9t\u00e9",
    ".hidden",
    "-dash",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=repr)
def test_results_files_of_hostile_names_stay_inside_out(
    name: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    path = results_path(out, name)
    assert path.parent == out
    assert not path.name.startswith(".")
    assert len(path.name) <= 120
    write_results(path, Results(case=name, implementation="x", answers={}))
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert [p.name for p in out.iterdir()] == [path.name]
    assert load_results(path).case == name


def test_distinct_names_keep_distinct_files() -> None:
    stems = [file_stem(n) for n in [*HOSTILE_NAMES, "x", "_x", "x-1", "X"]]
    assert len(set(stems)) == len(stems)


def test_plain_names_are_used_as_they_are(tmp_path: Path) -> None:
    # CASE_FORMAT: results of case "stochastic-counterexample" are
    # DIR/stochastic-counterexample.json
    for name in ("stochastic-counterexample", "g8.v2_final", "A1"):
        assert results_path(tmp_path, name) == tmp_path / f"{name}.json"


def test_ensure_directory_creates_and_accepts(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b"
    assert ensure_directory(target) == target
    assert target.is_dir()
    assert ensure_directory(target) == target  # existing: fine


@pytest.mark.skipif(
    os.name != "posix" or os.geteuid() == 0,
    reason="permissions are not enforced for root",
)
def test_read_only_directory_is_one_line(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(ValueError, match="not writable"):
            ensure_directory(locked)
        with pytest.raises(ValueError, match="permission denied"):
            atomic_write_text(locked / "r.json", "{}")
    finally:
        locked.chmod(0o700)


def test_a_failed_write_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "r.json"
    path.write_text("old")

    def refuse(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.replace", refuse)
    with pytest.raises(ValueError, match="No space left"):
        atomic_write_text(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


# ------------------------------------------------------------------ numbers
def test_a_huge_rational_rounds_to_infinity_not_an_error() -> None:
    # IEEE 754: overflow rounds to +-inf; 10^400 exceeds the float range
    assert to_float(Fraction(10**400)) == float("inf")
    assert to_float(Fraction(-(10**400), 3)) == float("-inf")
    assert to_float(Fraction(1, 10**400)) == 0.0
    assert to_float(Fraction(1, 3)) == 1 / 3


def test_limits_accept_the_largest_stated_numbers() -> None:
    # the bounds are inclusive: 4000 and 1,000,000 digits are read
    assert parse_answer("1e-4000", "x") == Fraction(1, 10**4000)
    assert parse_answer("1" + "0" * 999_999, "x") == 10**999_999


def test_json_reader_reports_where_the_duplicate_is() -> None:
    with pytest.raises(ValueError, match=r"\$\.queries\[1\]"):
        parse_json_text('{"queries": [{}, {"id": 1, "id": 2}]}', "case")


def test_read_json_accepts_plain_json(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"a": [1, 2.5, "x"], "b": {"c": None}}))
    assert read_json(path, "case") == {"a": [1, 2.5, "x"], "b": {"c": None}}


# ------------------------------------------------------------------ limits
def test_limits_pass_small_exact_work() -> None:
    check_exact_limits(chain(3), PolicySpec("G", k=8))
    check_exact_limits(chain(3), PolicySpec("T", alpha=Fraction(4)))
    check_exact_limits(chain(3), PolicySpec("B", i=3, f=Argmax()))
    check_exact_limits(chain(3), PolicySpec("H", k=6))


def test_max_cells_is_the_stated_reader_limit() -> None:
    # horizon x states x actions above MAX_CELLS is refused by the reader itself
    with pytest.raises(ValueError, match="MAX_CELLS"):
        MDP.build(
            states=["x"],
            actions=[f"a{i}" for i in range(101)],
            horizon=MAX_CELLS // 100,
            transitions={"x": {f"a{i}": {"x": "1"} for i in range(101)}},
            initial={"x": "1"},
        )


def test_a_case_is_kept_whole_when_its_name_is_hostile() -> None:
    data = base_case()
    data["name"] = "../../x"
    case = case_from_json(data)
    assert isinstance(case, Case) and case.name == "../../x"
