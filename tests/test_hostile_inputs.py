"""Hostile, malformed and extreme inputs get one clear line, fast, and touch
nothing outside the place the user named (issue 10, point 6).

``BAD_INPUTS`` is the table: each row is an action on functions of the case
format (reading cases and results, building MDPs, the exact-path limits, the
file helpers) and the words its one-line ``ValueError`` must contain. Every row
must fail within ``FAST`` seconds: several of them (``"1e-99999999"``, alpha =
1e9, k = 1e6, delta = 1e-12, horizon 1e9) ran without bound, or aborted the
process, before the limits existed.

``COMMAND_ROWS`` is the second table: each row runs one command
(``python -m coherence ...``) as a child process on inputs it generates, one
row per distinct cause of each kind of failure once seen (an existing device
node or FIFO replaced, an escape from ``--out``, a hang, an abort, a traceback,
a memory blow-up, nonsense accepted silently). ``DEFAULT_ROWS`` run in the
default test run, the rest with the slow tests.
"""

from __future__ import annotations

import copy
import json
import math
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from coherence._io import (
    MAX_JSON_BYTES,
    atomic_write_text,
    ensure_directory,
    file_stem,
    parse_json_text,
    plain_stem,
    read_json,
    read_npz,
)
from coherence._numbers import to_float
from coherence.envs.output import write_case_json
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
from coherence.reference.certified import MAX_BITS, check_bits
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


def _link(tmp: Path, target: Path) -> Path:
    link = tmp / "link"
    link.symlink_to(target)
    return link


def _text_file(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _npz_claim(tmp: Path) -> Path:
    """A 514-byte .npz whose header claims a (10^6, 10^6) int64 array."""
    import io
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<i8", "fortran_order": False, "shape": (10**6, 10**6)}
    )
    path = tmp / "claim.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("transitions.npy", header.getvalue())
    return path


def edited_query(policy: dict[str, Any], quantity: str, answer: Any) -> dict[str, Any]:
    """The base case with one query of ``quantity`` and its expected answer."""
    data = base_case()
    data["queries"] = [{"id": "q", "quantity": quantity, "policy": policy}]
    data["expected"] = {"q": answer}
    return data


def _unreadable_import() -> dict[str, Any]:
    """An importer's case object the case reader refuses (a row sums to 3/4)."""
    data = base_case()
    data["transitions"]["x"]["a"] = {"x": "1/2", "y": "1/4"}
    return data


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
    # round two: special files, sizes, depth, names, shapes (in-process)
    ("fifo-case", lambda tmp: load_case(_fifo(tmp / "f.json")), ["FIFO"]),
    (
        "fifo-write-target",
        lambda tmp: atomic_write_text(_fifo(tmp / "f.json"), "{}"),
        ["FIFO", "refusing to replace"],
    ),
    (
        "symlink-to-fifo-target",
        lambda tmp: atomic_write_text(_link(tmp, _fifo(tmp / "f")), "{}"),
        ["FIFO", "refusing to replace"],
    ),
    (
        "oversized-json",
        lambda tmp: read_json(_sparse(tmp / "r.json", MAX_JSON_BYTES + 1), "results"),
        ["exceeds the input limit", "64 MiB"],
    ),
    (
        "json-33-deep",
        lambda tmp: parse_json_text("[" * 33 + "]" * 33, "x"),
        ["nested 33 deep", "32"],
    ),
    ("plain-stem-escape", lambda tmp: plain_stem("../../x"), ["--name", "'../../x'"]),
    ("plain-stem-dot", lambda tmp: plain_stem(".."), ["'..'"]),
    (
        "expected-policy-missing-step",
        lambda tmp: case_from_json(
            edited_query({"operator": "prior"}, "policy", {"0": {}})
        ),
        ["expected[q]", "steps keys differ", "missing ['1']"],
    ),
    (
        "expected-scalar-as-object",
        lambda tmp: case_from_json(edited("expected", {"q": {"0": "1"}})),
        ["expected[q]", "J_prob", "scalar"],
    ),
    (
        "npz-lying-header",
        lambda tmp: read_npz(_npz_claim(tmp), "bridge"),
        ["7.28 TiB", "holds 0 bytes"],
    ),
    (
        "npz-not-a-zip",
        lambda tmp: read_npz(_text_file(tmp / "x.npz", "not a zip"), "bridge"),
        ["not a readable .npz"],
    ),
    (
        "certified-bits-over-max",
        lambda tmp: check_bits(MAX_BITS + 1),
        ["MAX_BITS", "--backend exact"],
    ),
    (
        "dense-array-over-max",
        lambda tmp: chain(12_000, 1, stochastic=False).transition_array,
        ["MAX_DENSE_ENTRIES"],
    ),
    (
        "import-unreadable-case",
        lambda tmp: write_case_json(tmp / "c.json", _unreadable_import()),
        ["case reader refuses", "sum to"],
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


# ============================================================ the commands
# Every row runs ``python -m coherence ...`` in a child process on inputs it
# generates inside a sandbox, and asserts: exit code 2, exactly one line on
# stderr naming the words, within FAST seconds (the test's own clock, a generous
# guard), a peak resident size under PEAK_MB, and nothing written outside the
# directory the row names as the command's output (nothing at all for most).
# A row whose cause needs root (a private device node made with os.mknod inside
# the sandbox, never under /dev) runs only as root.

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = ROOT / "coherence" / "cases" / "public"
PEAK_MB = 500
#: A child still running after this many seconds is killed (a hang).
KILL_AFTER = 30.0


@dataclass(frozen=True)
class CommandRow:
    """One hostile input to one command: ``make(box)`` builds the inputs inside
    the sandbox ``box`` and returns the arguments after ``python -m coherence``."""

    id: str
    make: Callable[[Path], list[str]]
    words: tuple[str, ...]
    root: bool = False
    slow: bool = False
    #: where the command may create files (relative to the sandbox)
    out: str = "out"


def _write_case(box: Path, data: dict[str, Any], name: str = "case.json") -> str:
    path = box / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def _char_device(path: Path) -> Path:
    """A private character device (the null device's numbers) at ``path``."""
    os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    return path


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _nested(depth: int) -> Any:
    value: Any = "1"
    for _ in range(depth):
        value = {"0": value}
    return value


def _query_case(policy: dict[str, Any], **extra: Any) -> dict[str, Any]:
    data = base_case()
    data["queries"] = [{"id": "q", "quantity": "policy", "policy": policy, **extra}]
    return data


def _deterministic(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with the one stochastic row of the base case made deterministic
    (the bit estimate of G_k then grows only linearly in k)."""
    data["transitions"]["x"]["a"] = {"y": "1"}
    return data


def _results(box: Path, answers: Any, name: str = "tiny.json") -> str:
    results = box / "results"
    results.mkdir(exist_ok=True)
    (results / name).write_text(
        json.dumps(
            {
                "format": "coherence-results/1",
                "case": "tiny",
                "implementation": "x",
                "answers": answers,
            }
        ),
        encoding="utf-8",
    )
    return str(results)


def _symbolic(**edit: Any) -> dict[str, Any]:
    data = base_case()
    data["name"] = "sym"
    data["symbols"] = {"g": {"range": "[1/3, 3/4]"}}
    data["success"] = {"x": {"a": "g"}}
    data["queries"] = [
        {"id": "q", "quantity": "policy", "policy": {"operator": "G", "k": 1}}
    ]
    for key, value in edit.items():
        data[key] = value
    return data


def _derive(box: Path, data: dict[str, Any], *more: str) -> list[str]:
    return ["derive", _write_case(box, data), *more]


def _npz_header_claim(box: Path) -> list[str]:
    """A 514-byte .npz whose .npy header claims a (10^6, 10^6) int64 array."""
    import io
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<i8", "fortran_order": False, "shape": (10**6, 10**6)}
    )
    path = box / "claim.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("transitions.npy", header.getvalue())
        archive.writestr("rewards.npy", header.getvalue())
    return ["import", f"bridge:{path}", "--horizon", "2", "--out", "out/c.json"]


def _npz_bomb(box: Path) -> list[str]:
    """An .npz of about 330 KB that inflates to 320 MiB, over the 256 MiB
    limit (a zip bomb; one of 467 KB once took 2.3 GB)."""
    import io
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<i8", "fortran_order": False, "shape": (2**22, 10)}
    )
    path = box / "bomb.npz"
    zeros = b"\0" * (1 << 20)
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("transitions.npy", "w", force_zip64=True) as member,
    ):
        member.write(header.getvalue())
        for _ in range(320):
            member.write(zeros)
    return ["import", f"bridge:{path}", "--horizon", "2", "--out", "out/c.json"]


def _ring(n_states: int) -> dict[str, Any]:
    """A case of ``n_states`` states, one action, each state its own successor
    (a small file whose dense S x A x S array is large)."""
    names = [f"s{i}" for i in range(n_states)]
    return {
        "format": "coherence-case/1",
        "name": "ring",
        "horizon": 1,
        "states": names,
        "actions": ["a"],
        "initial": {"s0": "1"},
        "transitions": {s: {"a": {s: "1"}} for s in names},
        "queries": [{"id": "q", "quantity": "J_prob", "policy": {"operator": "prior"}}],
    }


def _foreign_parquet(box: Path) -> list[str]:
    """An audit --out holding a Parquet file of the sweep's name that some other
    program wrote."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    out = box / "out"
    out.mkdir()
    pq.write_table(pa.table({"x": [1, 2]}), out / "effective-horizon.parquet")
    return ["experiments", "audit", "--out", str(out), "--workers", "0"]


def _sparse(path: Path, size: int) -> Path:
    with open(path, "wb") as handle:
        handle.truncate(size)
    return path


def _silent_listener(box: Path) -> str:
    """A TCP listener on 127.0.0.1 that accepts and never answers; it stops by
    itself after KILL_AFTER seconds."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.settimeout(KILL_AFTER)
    held: list[socket.socket] = []

    def serve() -> None:
        try:
            while True:
                conn, _ = server.accept()
                held.append(conn)
        except OSError:
            pass
        finally:
            for conn in held:
                conn.close()
            server.close()

    threading.Thread(target=serve, daemon=True).start()
    return f"tcp://127.0.0.1:{server.getsockname()[1]}"


def _http_listener(box: Path) -> str:
    """A TCP listener on 127.0.0.1 that answers every connection with an HTTP
    response and closes it; it stops by itself after KILL_AFTER seconds."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.settimeout(KILL_AFTER)

    def serve() -> None:
        try:
            while True:
                conn, _ = server.accept()
                with conn:
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" * 4)
        except OSError:
            pass
        finally:
            server.close()

    threading.Thread(target=serve, daemon=True).start()
    return f"tcp://127.0.0.1:{server.getsockname()[1]}"


RACE = str(PUBLIC / "mountain-race.json")
EH = ["experiments", "effective-horizon", "--out", "out", "--limit", "1"]
EH += ["--workers", "0", "--no-progress"]

COMMAND_ROWS: list[CommandRow] = [
    # ---- an existing device node or non-regular file replaced
    CommandRow(
        "derive-out-device",
        lambda box: ["derive", "mountain-race", "--out", str(_char_device(box / "n"))],
        ("character device", "refusing"),
        root=True,
    ),
    CommandRow(
        "derive-out-fifo",
        lambda box: ["derive", "mountain-race", "--out", str(_fifo(box / "f"))],
        ("FIFO", "refusing"),
    ),
    CommandRow(
        "import-out-device",
        lambda box: [
            "import",
            "doc-bandit",
            "--horizon",
            "2",
            "--out",
            str(_char_device(box / "n")),
        ],
        ("character device", "refusing"),
        root=True,
    ),
    CommandRow(
        "retrain-save-policy-device",
        lambda box: [
            "retrain",
            RACE,
            "--save-policy",
            str(_char_device(box / "p.json")),
        ],
        ("character device",),
        root=True,
        slow=True,
    ),
    CommandRow(
        "conformance-run-results-device",
        lambda box: (
            [
                "conformance",
                "run",
                _write_case(box, base_case()),
                "--out",
                str(box / "res"),
            ]
            if (box / "res").mkdir() is None and _char_device(box / "res" / "tiny.json")
            else []
        ),
        ("character device", "refusing"),
        root=True,
    ),
    CommandRow(
        "tables-out-fifo",
        lambda box: (
            ["derive", "--tables", "--family", "bandit", "--out", str(box)]
            if _fifo(box / "bandit.json")
            else []
        ),
        ("FIFO", "refusing"),
        slow=True,
    ),
    CommandRow(
        "cases-export-onto-device",
        lambda box: (
            ["cases", "export", str(box / "out")]
            if (box / "out").mkdir() is None
            and _char_device(box / "out" / "mountain-race.json")
            else []
        ),
        ("character device", "refusing"),
        root=True,
    ),
    CommandRow(
        "plot-onto-fifo",
        lambda box: ["anneal", RACE, "--plot", str(_fifo(box / "p.png"))],
        ("--plot", "FIFO"),
    ),
    # ---- escape from --out
    CommandRow(
        "sweep-name-escapes",
        lambda box: [*EH, "--name", "../../x"],
        ("--name", "'../../x'"),
    ),
    # ---- hangs: FIFOs as inputs
    CommandRow(
        "fifo-as-case",
        lambda box: ["conformance", "run", str(_fifo(box / "c.json")), "--out", "out"],
        ("FIFO",),
    ),
    CommandRow(
        "fifo-as-results",
        lambda box: (
            [
                "conformance",
                "check",
                _write_case(box, base_case()),
                "--results",
                str(box),
            ]
            if _fifo(box / "tiny.json")
            else []
        ),
        ("FIFO",),
    ),
    CommandRow(
        "fifo-as-policy",
        lambda box: ["profile", RACE, str(_fifo(box / "p.json")), "--k", "1"],
        ("FIFO",),
        slow=True,
    ),
    CommandRow(
        "fifo-as-symbolic-case",
        lambda box: ["derive", str(_fifo(box / "s.json"))],
        ("FIFO",),
    ),
    # ---- hangs: work limits
    CommandRow(
        "exact-G-k-1e5",
        lambda box: [
            "conformance",
            "run",
            _write_case(
                box, _deterministic(_query_case({"operator": "G", "k": 10**5}))
            ),
            "--backend",
            "exact",
            "--out",
            "out",
        ],
        ("max_", "G_100000"),
    ),
    CommandRow(
        "float-G-k-1e7",
        lambda box: [
            "conformance",
            "run",
            _write_case(box, _query_case({"operator": "G", "k": 10**7})),
            "--backend",
            "numpy",
            "--out",
            "out",
        ],
        ("float engines", "max_steps"),
    ),
    CommandRow(
        "certified-G-k-1e7",
        lambda box: [
            "conformance",
            "run",
            _write_case(box, _query_case({"operator": "G", "k": 10**7})),
            "--backend",
            "certified",
            "--out",
            "out",
        ],
        ("certified backend", "max_work"),
    ),
    CommandRow(
        "derive-k-huge",
        lambda box: _derive(
            box,
            _symbolic(
                queries=[
                    {
                        "id": "q",
                        "quantity": "policy",
                        "policy": {"operator": "G", "k": 5000},
                    }
                ]
            ),
        ),
        ("derive", "k"),
    ),
    CommandRow(
        "derive-alpha-huge",
        lambda box: _derive(
            box,
            _symbolic(
                queries=[
                    {
                        "id": "q",
                        "quantity": "policy",
                        "policy": {"operator": "T", "alpha": "100000"},
                    }
                ]
            ),
        ),
        ("T_100000", "MAX_DERIVE_DEGREE"),
    ),
    CommandRow(
        "derive-horizon-huge",
        lambda box: _derive(
            box,
            _symbolic(
                horizon=5000,
                time_dependent_success={},
            ),
        ),
        ("derive", "horizon"),
    ),
    CommandRow(
        "derive-check-huge",
        lambda box: ["derive", "mountain-race", "--check", "100000000"],
        ("--check", "100000000"),
    ),
    CommandRow(
        "derive-power-of-powers",
        lambda box: _derive(box, _symbolic(success={"x": {"a": "((g^64)^64)^64"}})),
        ("degree",),
    ),
    CommandRow(
        "derive-20000-symbols",
        lambda box: _derive(
            box,
            _symbolic(symbols={f"g{i}": {"range": "[0, 1]"} for i in range(20_000)}),
        ),
        ("symbols", "20000"),
    ),
    CommandRow(
        "import-horizon-1e9",
        lambda box: [
            "import",
            "doc-bandit",
            "--horizon",
            "1000000000",
            "--out",
            "out/c.json",
        ],
        ("--horizon", "1000000000"),
    ),
    CommandRow(
        "anneal-schedule-huge-exponent",
        lambda box: ["anneal", RACE, "--schedule", "1e99999999"],
        ("--schedule", "exponent"),
    ),
    CommandRow(
        "certified-bits-huge",
        lambda box: [
            "conformance",
            "run",
            RACE,
            "--backend",
            "certified:100000000",
            "--out",
            "out",
        ],
        ("BITS", "100000000"),
    ),
    CommandRow(
        "scheduler-silent-peer",
        lambda box: [
            *EH,
            "--scheduler",
            _silent_listener(box),
            "--scheduler-timeout",
            "0.5",
        ],
        ("--scheduler", "handshake within 0.5 s"),
        slow=True,  # importing dask.distributed alone takes seconds
    ),
    # ---- aborts
    CommandRow(
        "derive-boltzmann-delta-1e-12",
        lambda box: _derive(
            box,
            _symbolic(
                queries=[
                    {
                        "id": "q",
                        "quantity": "policy",
                        "policy": {
                            "operator": "B",
                            "i": 2,
                            "f": {"boltzmann": "1e-12"},
                        },
                    }
                ]
            ),
        ),
        ("B_2", "Boltzmann delta", "MAX_DERIVE_DEGREE"),
    ),
    CommandRow(
        "retrain-threads-million",
        lambda box: ["retrain", RACE, "--threads", "1000000"],
        ("--threads", "1000000"),
    ),
    CommandRow(
        "retrain-episodes-1e12",
        lambda box: ["retrain", RACE, "--episodes", "1000000000000"],
        ("--episodes", "1000000000000"),
    ),
    CommandRow(
        "anneal-samples-1e12",
        lambda box: ["anneal", RACE, "--samples", "1000000000000"],
        ("--samples", "1000000000000"),
    ),
    CommandRow(
        "sweep-fresh-1e9",
        lambda box: [*EH, "--fresh", "1000000000"],
        ("--fresh", "1000000000"),
    ),
    # ---- tracebacks
    CommandRow(
        "derive-1990-unary-signs",
        lambda box: _derive(box, _symbolic(success={"x": {"a": "-" * 1990 + "g"}})),
        ("success.x.a", "signs"),
    ),
    CommandRow(
        "results-nested-500",
        lambda box: [
            "conformance",
            "check",
            _write_case(box, base_case()),
            "--results",
            _results(box, {"q": _nested(500)}),
        ],
        ("JSON nested 502 deep", "limit of 32"),
    ),
    CommandRow(
        "expected-nested-500-run",
        lambda box: [
            "conformance",
            "run",
            _write_case(box, edited("expected", {"q": _nested(500)})),
            "--out",
            "out",
        ],
        ("JSON nested 502 deep", "limit of 32"),
    ),
    CommandRow(
        "npz-header-claims-7-TiB",
        _npz_header_claim,
        ("7.28 TiB",),
    ),
    CommandRow(
        "scheduler-http-peer",
        lambda box: [*EH, "--scheduler", _http_listener(box)],
        ("--scheduler", "does not speak Dask"),
        slow=True,
    ),
    CommandRow(
        "scheduler-ucx",
        lambda box: [*EH, "--scheduler", "ucx://127.0.0.1:1"],
        ("--scheduler", "'ucx'"),
    ),
    CommandRow(
        "retrain-seed-1e27",
        lambda box: ["retrain", RACE, "--seed", "1" + "0" * 27],
        ("--seed",),
    ),
    CommandRow(
        "device-with-semicolon",
        lambda box: ["retrain", RACE, "--device", "numpy;rm"],
        ("--device", "'numpy;rm'"),
    ),
    CommandRow(
        "audit-foreign-parquet",
        _foreign_parquet,
        ("not a table of the effective-horizon sweep",),
    ),
    CommandRow(
        "index-out-of-range",
        lambda box: ["experiments", "timing", "--index", "1000000"],
        ("--index", "1000000"),
    ),
    # ---- memory blow-ups
    CommandRow(
        "dense-transitions-149-GiB",
        lambda box: [
            "conformance",
            "run",
            _write_case(box, _ring(12_000)),
            "--backend",
            "numpy",
            "--out",
            "out",
        ],
        ("MAX_DENSE_ENTRIES", "12000 x 1 x 12000"),
    ),
    CommandRow(
        "dev-zero-as-case",
        lambda box: ["conformance", "run", "/dev/zero", "--out", "out"],
        ("character device",),
    ),
    CommandRow(
        "npz-zip-bomb",
        _npz_bomb,
        ("uncompressed",),
    ),
    CommandRow(
        "authors-tree-states",
        lambda box: [
            "generate",
            "--family",
            "authors-tree",
            "--actions",
            "10",
            "--depth",
            "12",
            "--out",
            "out",
        ],
        ("states",),
    ),
    CommandRow(
        "results-file-200-MB",
        lambda box: [
            "conformance",
            "check",
            _write_case(box, base_case()),
            "--results",
            str(_sparse(box / "tiny.json", 200 * 2**20).parent),
        ],
        ("input limit",),
    ),
    # ---- silent acceptance of nonsense
    CommandRow(
        "check-rel-negative",
        lambda box: [
            "conformance",
            "check",
            RACE,
            "--results",
            str(box),
            "--rel",
            "-1",
        ],
        ("--rel", "'-1'"),
    ),
    CommandRow(
        "check-rel-nan",
        lambda box: [
            "conformance",
            "check",
            RACE,
            "--results",
            str(box),
            "--rel",
            "nan",
        ],
        ("--rel", "'nan'"),
    ),
    CommandRow(
        "check-abs-inf",
        lambda box: [
            "conformance",
            "check",
            RACE,
            "--results",
            str(box),
            "--abs",
            "inf",
        ],
        ("--abs", "'inf'"),
    ),
    CommandRow(
        "derive-symbol-named-E",
        lambda box: _derive(
            box,
            _symbolic(
                symbols={"E": {"range": "[1/3, 3/4]"}}, success={"x": {"a": "E"}}
            ),
        ),
        ("'E'",),
    ),
    CommandRow(
        "derive-empty-at",
        lambda box: ["derive", "mountain-race", "--at", ""],
        ("--at",),
    ),
    CommandRow(
        "check-expected-wrong-shape",
        lambda box: [
            "conformance",
            "check",
            _write_case(box, edited("expected", {"q": {"0": "1"}})),
            "--results",
            _results(box, {"q": "1/2"}),
        ],
        ("expected[q]",),
    ),
]


#: The representative rows of the default run (at least one per category of
#: the table: a node replaced, an escape, a hang, an abort, a traceback, a
#: memory blow-up, silent acceptance); the others run with the slow tests.
DEFAULT_ROWS = frozenset(
    {
        "derive-out-fifo",
        "conformance-run-results-device",
        "sweep-name-escapes",
        "fifo-as-case",
        "exact-G-k-1e5",
        "retrain-threads-million",
        "results-nested-500",
        "npz-header-claims-7-TiB",
        "dev-zero-as-case",
        "npz-zip-bomb",
        "check-rel-nan",
        "check-expected-wrong-shape",
        "authors-tree-states",
    }
)


def _tree(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every path under ``root`` with its type bits, inode and size (the
    contents of FIFOs and devices are never read)."""
    out: dict[str, tuple[int, int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            info = path.lstat()
            out[str(path.relative_to(root))] = (
                stat.S_IFMT(info.st_mode),
                info.st_ino,
                info.st_size if stat.S_ISREG(info.st_mode) else 0,
            )
    return out


@dataclass
class _Outcome:
    code: int | None
    stderr: str
    elapsed: float
    peak_mb: float


#: Runs the command as its own child and prints that child's peak resident
#: size. Linux keeps a process's high-water mark from before ``exec`` (the
#: forked copy of the parent), so a child forked by a large pytest process
#: would report the parent's size; forked by this small wrapper, it reports
#: its own plus the wrapper's few MB.
_PEAK_WRAPPER = (
    "import os, subprocess, sys\n"
    "p = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL,"
    " stdout=subprocess.DEVNULL)\n"
    "_, status, usage = os.wait4(p.pid, 0)\n"
    "print(usage.ru_maxrss, flush=True)\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


def _run_child(argv: list[str], cwd: Path) -> _Outcome:
    """``python -m coherence *argv`` in ``cwd``; killed after KILL_AFTER s;
    its peak resident size measured by :data:`_PEAK_WRAPPER`."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(cwd)}
    env.pop("COLUMNS", None)
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", _PEAK_WRAPPER, sys.executable, "-m", "coherence", *argv],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    timer = threading.Timer(KILL_AFTER, lambda: os.killpg(proc.pid, signal.SIGKILL))
    timer.start()
    try:
        out, raw_err = proc.communicate()
    finally:
        timer.cancel()
    elapsed = time.perf_counter() - start
    err = raw_err.decode("utf-8", "replace")
    words = out.decode("utf-8", "replace").split()
    # killed before it printed: the peak is unknown, reported as infinite
    peak_kb = float(words[-1]) if words and words[-1].isdigit() else math.inf
    return _Outcome(proc.returncode, err, elapsed, peak_kb / 1024)


def _run_row(row: CommandRow, sandbox: Path) -> _Outcome:
    box = sandbox / "box"
    box.mkdir(parents=True)
    argv = row.make(box)
    before = _tree(sandbox)
    outcome = _run_child(argv, box)
    after = _tree(sandbox)
    allowed = str(Path("box") / row.out)
    changed = sorted(
        path
        for path in set(before) | set(after)
        if before.get(path) != after.get(path)
        and not (path == allowed or path.startswith(allowed + os.sep))
    )
    assert not changed, f"{row.id}: written outside {allowed}: {changed[:5]}"
    # nothing that existed before (a device node, a FIFO, an input) changed
    replaced = sorted(p for p in before if after.get(p) != before[p])
    assert not replaced, f"{row.id}: replaced or removed: {replaced[:5]}"
    return outcome


def _check_outcome(row: CommandRow, outcome: _Outcome) -> None:
    lines = outcome.stderr.splitlines()
    shown = outcome.stderr[-600:]
    assert outcome.code == 2, f"{row.id}: exit {outcome.code}: {shown}"
    assert len(lines) == 1, f"{row.id}: {len(lines)} lines on stderr: {shown}"
    for word in row.words:
        assert word in lines[0], f"{row.id}: {word!r} not in {lines[0]!r}"
    assert "Traceback" not in outcome.stderr
    assert outcome.elapsed < FAST, f"{row.id}: took {outcome.elapsed:.1f} s"
    assert outcome.peak_mb < PEAK_MB, f"{row.id}: peak {outcome.peak_mb:.0f} MB"


def _runnable(row: CommandRow) -> bool:
    return not row.root or (hasattr(os, "geteuid") and os.geteuid() == 0)


def _default(row: CommandRow) -> bool:
    return row.id in DEFAULT_ROWS and not row.slow


def test_the_command_table_is_unique() -> None:
    ids = [row.id for row in COMMAND_ROWS]
    assert len(set(ids)) == len(ids)
    assert set(ids) >= DEFAULT_ROWS


def test_default_command_rows(tmp_path: Path) -> None:
    """The representative rows, two children at a time."""
    rows = [r for r in COMMAND_ROWS if _default(r) and _runnable(r)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(lambda r: _run_row(r, tmp_path / r.id), rows))
    failures = []
    for row, outcome in zip(rows, outcomes, strict=True):
        try:
            _check_outcome(row, outcome)
        except AssertionError as exc:
            failures.append(str(exc).splitlines()[0])
    assert not failures, "\n".join(failures)


@pytest.mark.slow
@pytest.mark.parametrize(
    "row",
    [r for r in COMMAND_ROWS if not _default(r)],
    ids=[r.id for r in COMMAND_ROWS if not _default(r)],
)
def test_slow_command_row(row: CommandRow, tmp_path: Path) -> None:
    if not _runnable(row):
        pytest.skip("needs root (a private device node)")
    _check_outcome(row, _run_row(row, tmp_path))


# ------------------------------------------------ the guards let good input in
def test_good_inputs_pass_the_guards(tmp_path: Path) -> None:
    arrays_path = tmp_path / "ok.npz"
    np.savez(arrays_path, transitions=np.zeros((3, 2), np.int64))
    assert read_npz(arrays_path, "bridge")["transitions"].shape == (3, 2)
    # a symbolic link to a regular file is replaced like a regular file
    (tmp_path / "real.json").write_text("old")
    link = _link(tmp_path, tmp_path / "real.json")
    atomic_write_text(link, "new")
    assert link.read_text() == "new"
    assert plain_stem("effective-horizon.v2_1") == "effective-horizon.v2_1"
    assert check_bits(MAX_BITS) == MAX_BITS
    assert parse_json_text("[" * 32 + "]" * 32, "x") is not None
    # a full policy answer: keyed by every t, s and a
    policy = {
        str(t): {s: dict.fromkeys(("a", "b"), "1/2") for s in ("x", "y")}
        for t in range(2)
    }
    case = case_from_json(edited_query({"operator": "prior"}, "policy", policy))
    assert case.expected["q"]["1"]["y"]["b"] == Fraction(1, 2)


def test_every_shipped_symbolic_query_is_within_the_derive_limits() -> None:
    from coherence.theory.closed_form import check_derive_limits
    from coherence.theory.symbolic import load_symbolic_case, shipped_cases

    for name in shipped_cases():
        case = load_symbolic_case(name)
        for qid in case.query_ids:
            check_derive_limits(case, qid)


def test_the_published_tree_families_are_within_the_state_limit() -> None:
    from coherence.experiments.authors import FAMILIES, MAX_TREE_STATES

    for _, depth, actions in FAMILIES:
        assert sum(actions**t for t in range(depth + 1)) <= MAX_TREE_STATES


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="os.mknod needs root"
)
def test_a_private_device_node_is_never_replaced(tmp_path: Path) -> None:
    node = _char_device(tmp_path / "node")
    with pytest.raises(ValueError, match="character device"):
        atomic_write_text(node, "{}")
    assert stat.S_ISCHR(node.lstat().st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["node"]


def test_validate_reports_an_expected_answer_of_the_wrong_shape() -> None:
    # validate once called such a case valid
    kind, problems = data_problems(edited("expected", {"q": {"0": "1"}}))
    assert kind == "case"
    assert any("J_prob" in p.message and "scalar" in p.message for p in problems)
    policy = edited_query({"operator": "prior"}, "policy", {"0": {"x": {"a": "1"}}})
    kind, problems = data_problems(policy)
    assert any("steps keys differ" in p.message for p in problems)


@pytest.mark.parametrize("error", [MemoryError, RecursionError])
def test_a_last_resort_error_is_one_line(
    error: type[BaseException],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from coherence.cli import main

    def fail(args: object) -> int:
        raise error("deep inside")

    monkeypatch.setattr("coherence.demo._cmd_demo", fail)
    assert main(["demo"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "deep inside" in err
