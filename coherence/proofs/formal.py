"""The Coq side of the ledger: which rows a Coq theorem states, and whether it holds.

``coherence/proofs/coq/manifest.json`` lists the theorems as
``{"theorems": [{"claim", "scope", "theorem", "file", "statement", "family"}]}``;
:mod:`coherence.proofs.coqrun` compiles the proofs and reports, per theorem,
whether it compiled and which assumptions ``Print Assumptions`` shows beyond the
allowed library axioms. A row named by the manifest is ``PROVED`` only when the
build compiles and its theorem's check is allowed; without ``coqc`` it is
``UNKNOWN`` with that reason, never ``PROVED``. The proofs are compiled once
per ledger run (:func:`verify`).

Every manifest theorem's full type is written out in ``coq/Statements.v``
(``Definition X_statement : Prop := ...`` and ``Definition X_pinned :
X_statement := X``), compiled with the proofs: a weakened theorem (an extra
premise, a bounded k) no longer has the pinned type and the build fails. The
ledger prints the statement text read from that file
(:func:`pinned_statements`), so the text printed and the type checked cannot
drift apart; a theorem without a pinned statement is not PROVED.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coherence._io import atomic_write_text, read_bytes, read_text

__all__ = [
    "COQC_MISSING",
    "MANIFEST_PATH",
    "STATEMENTS_PATH",
    "Theorem",
    "Verdict",
    "load_manifest",
    "pinned_statements",
    "prepare",
    "row_of",
    "verify",
]

MANIFEST_PATH = Path(__file__).resolve().parent / "coq" / "manifest.json"
STATEMENTS_PATH = Path(__file__).resolve().parent / "coq" / "Statements.v"
"""The pinned statement of every manifest theorem (compiled with the proofs)."""

COQC_MISSING = (
    "coqc not found: the Coq proofs were not compiled (install coq and mathcomp, "
    "see README), so this row is not machine-checked"
)
"""The reason every Coq-backed row gives when ``coqc`` is not on the PATH."""

_FIELDS = ("claim", "scope", "theorem", "file", "statement", "family")


@dataclass(frozen=True)
class Theorem:
    """One manifest entry: the ledger row ``claim``/``scope`` it states."""

    claim: int
    scope: str
    theorem: str
    file: str
    statement: str
    family: str

    @property
    def key(self) -> str:
        """The ledger key of the row the theorem states."""
        return f"{self.claim}/{self.scope}" if self.scope else str(self.claim)


@dataclass(frozen=True)
class Verdict:
    """Whether a theorem is machine-checked: ``proved`` and the reason;
    ``pinned`` is its statement as written in ``Statements.v``."""

    theorem: Theorem
    proved: bool
    reason: str
    pinned: str = ""


_PIN = re.compile(
    r"^Definition ([A-Za-z_][A-Za-z0-9_']*)_statement : Prop :=\n(.*?)\.\n"
    r"(?=Definition \1_pinned : \1_statement := \1\.$)",
    re.S | re.M,
)


def pinned_statements(path: Path | None = None) -> dict[str, str]:
    """Theorem name -> its statement as written in ``Statements.v`` (the text
    between ``:=`` and the final period, whitespace collapsed to one space);
    only statements followed by their ``X_pinned : X_statement := X`` check.
    Empty when the file does not exist."""
    path = STATEMENTS_PATH if path is None else path
    if not path.is_file():
        return {}
    text = path.read_text(encoding="utf-8")
    return {m.group(1): " ".join(m.group(2).split()) for m in _PIN.finditer(text)}


def _failed_pin(log: str, path: Path | None = None) -> str | None:
    """The theorem whose pinned statement a coqc error in ``Statements.v``
    points at (by line), if any."""
    m = re.search(r'File "\./Statements\.v", line (\d+)', log)
    path = STATEMENTS_PATH if path is None else path
    if m is None or not path.is_file():
        return None
    line = int(m.group(1))
    lines = path.read_text(encoding="utf-8").splitlines()[:line]
    for text in reversed(lines):
        found = re.match(r"Definition ([A-Za-z_][\w']*)_(statement|pinned)", text)
        if found:
            return found.group(1)
    return None


def load_manifest(path: Path | None = None) -> list[Theorem]:
    """The theorems of the manifest; none when the file does not exist.

    A malformed manifest is a one-line ValueError naming the entry and field.
    """
    path = MANIFEST_PATH if path is None else path
    if not path.is_file():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    rows = data.get("theorems") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise ValueError(f"{path}: expected an object with a 'theorems' list")
    out: list[Theorem] = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ValueError(f"{path}: theorems[{i}] is not an object")
        claim = row.get("claim")
        if isinstance(claim, str) and claim.isdigit():
            claim = int(claim)
        if isinstance(claim, bool) or not isinstance(claim, int):
            raise ValueError(
                f"{path}: theorems[{i}].claim: expected a claim number, got {claim!r}"
            )
        for name in _FIELDS[1:]:
            if not isinstance(row.get(name), str):
                raise ValueError(
                    f"{path}: theorems[{i}].{name}: expected a string, got "
                    f"{row.get(name)!r}"
                )
        out.append(Theorem(claim, *(row[name] for name in _FIELDS[1:])))
    # several theorems may state one row together; a theorem is listed once
    names = [t.theorem for t in out]
    duplicates = sorted({k for k in names if names.count(k) > 1})
    if duplicates:
        raise ValueError(f"{path}: {duplicates[0]!r} appears twice")
    return out


def row_of(theorem: Theorem, row_keys: Sequence[str]) -> str:
    """The ledger row a theorem states.

    Its own key when a row has it; else the claim's only row when that row
    has no scope (claim 10's theorems on w and on J_prob both state row 10);
    else the row whose scope is the first word of the theorem's scope
    ("stochastic refutation" states 14/stochastic); else its own key (a row
    of its own)."""
    if theorem.key in row_keys:
        return theorem.key
    same = [k for k in row_keys if k.split("/", 1)[0] == str(theorem.claim)]
    if same == [str(theorem.claim)]:
        return same[0]
    words = theorem.scope.split()
    if words:
        prefix = f"{theorem.claim}/{words[0]}"
        if prefix in same:
            return prefix
    return theorem.key


def _coqrun() -> Any:
    from coherence.proofs import coqrun

    return coqrun


def _reuse(run: Any, build_dir: Path | None) -> Any:
    """A build already compiled in ``build_dir`` from the same sources, or None.

    Reused only when every source file listed by the runner is byte-identical
    to the installed one and its ``.vo`` is not older than it, so a stale or
    foreign build is compiled again."""
    if build_dir is None or not all(
        hasattr(run, name) for name in ("COQ_DIR", "source_files", "CoqBuild")
    ):
        return None
    for name in run.source_files():
        built, source = build_dir / name, Path(run.COQ_DIR) / name
        compiled = built.with_suffix(".vo")
        if not (built.is_file() and compiled.is_file()):
            return None
        if read_bytes(built, "Coq build") != read_bytes(source, "Coq source"):
            return None
        if compiled.stat().st_mtime < built.stat().st_mtime:
            return None
    return run.CoqBuild(
        ok=True,
        seconds=0.0,
        log=f"reused the build in {build_dir}",
        build_dir=build_dir,
    )


@dataclass(frozen=True)
class _StoredCheck:
    """A theorem check read back from a build directory."""

    theorem: str
    compiled: bool
    assumptions: tuple[str, ...]
    allowed: bool


_CHECKS_FILE = "ledger-checks.json"


def _digest(run: Any) -> str:
    """SHA-256 of the installed Coq sources and the manifest."""
    import hashlib

    h = hashlib.sha256()
    for name in [*run.source_files(), "manifest.json"]:
        h.update(name.encode())
        h.update((Path(run.COQ_DIR) / name).read_bytes())
    return h.hexdigest()


def _cached_checks(run: Any, build_dir: Path | None) -> list[Any] | None:
    """The theorem checks stored beside a reused build from the same sources."""
    if build_dir is None or not (build_dir / _CHECKS_FILE).is_file():
        return None
    data = json.loads(read_text(build_dir / _CHECKS_FILE, "Coq checks"))
    if data.get("digest") != _digest(run):
        return None
    return [
        _StoredCheck(c["theorem"], c["compiled"], tuple(c["assumptions"]), c["allowed"])
        for c in data["checks"]
    ]


def _store_checks(run: Any, build_dir: Path, checks: Sequence[Any]) -> None:
    """Store the theorem checks beside the build (read by later runs)."""
    if not hasattr(run, "COQ_DIR"):
        return
    rows = [
        {
            "theorem": str(c.theorem),
            "compiled": bool(getattr(c, "ok", getattr(c, "compiled", False))),
            "assumptions": list(getattr(c, "assumptions", [])),
            "allowed": bool(getattr(c, "allowed", False)),
        }
        for c in checks
    ]
    text = json.dumps({"digest": _digest(run), "checks": rows}, indent=1)
    atomic_write_text(build_dir / _CHECKS_FILE, text + "\n")


def verify(
    theorems: Sequence[Theorem],
    build_dir: Path | None = None,
    runner: Any = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Verdict]:
    """The verdicts of :func:`prepare` (without the build)."""
    return prepare(theorems, build_dir, runner, progress)[0]


def prepare(
    theorems: Sequence[Theorem],
    build_dir: Path | None = None,
    runner: Any = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[dict[str, Verdict], Any]:
    """Compile the proofs once and judge every theorem; verdicts by theorem name.

    Args:
        theorems: the manifest entries to judge.
        build_dir: where to compile (passed to ``compile_proofs``); a build
            there from identical sources is reused, with the theorem checks
            stored beside it; None lets the runner choose (the real runner
            caches the build in the user's cache directory, keyed on the
            sources' digest).
        runner: the module with ``coq_available``, ``compile_proofs``,
            ``check_manifest`` and ``pinned_statements`` (default
            :mod:`coherence.proofs.coqrun`).
        progress: called with a line per step of the build (file compiled,
            build reused, theorems checked), for the user to watch.
    Returns:
        One :class:`Verdict` per theorem -- proved only when the build
        compiled (``Statements.v`` included: the theorem has its pinned
        type), the theorem has a pinned statement, its check compiled and its
        assumptions are allowed -- and the build (None when there is none).
    """
    run = _coqrun() if runner is None else runner
    say = progress or (lambda _line: None)
    build: Any = None

    def all_unknown(reason: str) -> tuple[dict[str, Verdict], Any]:
        return {t.theorem: Verdict(t, False, reason) for t in theorems}, build

    try:
        if not run.coq_available():
            return all_unknown(COQC_MISSING)
        reused = _reuse(run, build_dir)
        if reused is not None:
            build = reused
        elif progress is not None and build_dir is None:
            build = run.compile_proofs(progress=say)
        else:
            build = run.compile_proofs(build_dir=build_dir)
        if not build.ok:
            tail = " | ".join(str(build.log).strip().splitlines()[-3:])
            coq_dir = getattr(run, "COQ_DIR", None)
            pin = _failed_pin(
                str(build.log),
                None if coq_dir is None else Path(coq_dir) / "Statements.v",
            )
            if pin is not None:
                tail = (
                    f"the theorem {pin} no longer has the statement pinned for "
                    f"it in Statements.v ({tail})"
                )
            build = None
            return all_unknown(f"the Coq proofs do not compile: {tail}")
        where = Path(build.build_dir) if build_dir is None else build_dir
        cached = _cached_checks(run, where)
        if cached is None:
            started = time.perf_counter()
            checks = run.check_manifest(build)
            say(
                f"coq: Print Assumptions of {len(checks)} theorems in "
                f"{time.perf_counter() - started:.1f} s"
            )
            if where.is_dir():
                _store_checks(run, where, checks)
        else:
            checks = cached
        results = {str(c.theorem): c for c in checks}
    except Exception as exc:  # a broken runner is a status change, not a crash
        return all_unknown(f"the Coq runner raised {type(exc).__name__}: {exc}")
    pins = run.pinned_statements()
    verdicts: dict[str, Verdict] = {}
    for t in theorems:
        c = results.get(t.theorem)
        if t.theorem not in pins:
            verdicts[t.theorem] = Verdict(
                t, False, f"{t.theorem} has no statement pinned in Statements.v"
            )
            continue
        if c is None:
            verdicts[t.theorem] = Verdict(t, False, f"{t.theorem} was not checked")
            continue
        compiled = bool(getattr(c, "ok", getattr(c, "compiled", False)))
        extra = list(getattr(c, "assumptions", []))
        if not compiled:
            verdicts[t.theorem] = Verdict(t, False, f"{t.theorem} did not compile")
        elif not getattr(c, "allowed", False):
            verdicts[t.theorem] = Verdict(
                t, False, f"{t.theorem} rests on assumptions {', '.join(extra)}"
            )
        else:
            closed = (
                "closed under the global context"
                if not extra
                else ("axioms: " + ", ".join(extra) + " (the library's own, allowed)")
            )
            verdicts[t.theorem] = Verdict(
                t,
                True,
                f"Coq: {t.theorem} ({t.file}) compiles; {closed}; its type is "
                f"the statement pinned in Statements.v ({t.theorem}_pinned)",
                pins[t.theorem],
            )
    return verdicts, build
