"""Compile the Coq proofs of ``coherence/proofs/coq`` and evaluate their
definitions on conformance cases.

The Coq sources define the rho-domain recurrences of SPEC §3–§4 once
(``Defs.v``), over a record of number operations. The theorems instantiate it
with an arbitrary real field; :func:`evaluate_case` instantiates the same
definitions with the binary rationals ``Q`` of the Coq standard library
(``QEval.v``) and evaluates them with ``vm_compute`` inside ``coqc``.

Why ``vm_compute`` over ``Q`` and not extraction, nor mathcomp's ``rat``:
evaluation inside Coq runs the very terms the theorems are about, with no
extraction step (and no OCaml toolchain or big-integer library) in between;
mathcomp's ``rat`` is built on unary naturals, so the 13-digit denominators of
the ``conventions`` case would not fit in memory, while ``Q`` uses binary
integers and ``Qred`` keeps every intermediate value in lowest terms.

A temporary ``.v`` file holds the case's data as ``Q`` literals and one
``Eval vm_compute`` command per supported query; the printed pairs
``(numerator, denominator)`` are read back as :class:`fractions.Fraction`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from coherence._io import atomic_write_bytes, atomic_write_text, read_bytes
from coherence.reference.case import Query, load_case
from coherence.reference.model import MDP
from coherence.reference.recurrences import Argmax, Boltzmann

__all__ = [
    "ALLOWED_AXIOMS",
    "COQ_DIR",
    "CoqBuild",
    "TheoremCheck",
    "assumptions",
    "cache_root",
    "check_manifest",
    "compile_proofs",
    "coq_available",
    "default_build_dir",
    "evaluate_case",
    "evaluate_cases",
    "manifest",
    "pinned_statements",
    "source_files",
    "supports",
]

COQ_DIR = Path(__file__).resolve().parent / "coq"
"""The installed Coq sources (read only: builds happen in a copy)."""

LOGICAL_ROOT = "Coherence"
"""The logical name the sources are compiled under (``-R . Coherence``)."""

ALLOWED_AXIOMS: frozenset[str] = frozenset()
"""Axioms a main theorem may depend on: none (every theorem is closed)."""

WARNINGS = "-notation-overridden,-ambiguous-paths,-notation-incompatible-format"
"""Warnings silenced in every coqc call (notation clashes between libraries)."""

EVAL_TIMEOUT_S = 600
"""Wall-clock limit of one coqc run."""

_QUANTITIES = ("policy", "z", "w", "occupancy", "J_prob", "J_count")
_OPERATORS = ("prior", "G", "T", "F", "F_literal", "H", "H_literal", "B")


@dataclass(frozen=True)
class CoqBuild:
    """The outcome of compiling the Coq sources in ``build_dir``."""

    ok: bool
    seconds: float
    log: str
    build_dir: Path


@dataclass(frozen=True)
class TheoremCheck:
    """One manifest theorem: whether it compiled and what it assumes."""

    theorem: str
    compiled: bool
    assumptions: tuple[str, ...]
    allowed: bool


def coq_available() -> bool:
    """Whether ``coqc`` is on the PATH."""
    return shutil.which("coqc") is not None


def _coqc() -> str:
    exe = shutil.which("coqc")
    if exe is None:
        raise RuntimeError(
            f"coqc: not found on PATH; it is needed to compile {COQ_DIR / 'Defs.v'} "
            "(Debian: apt-get install coq libcoq-mathcomp-ssreflect "
            "libcoq-mathcomp-algebra libcoq-mathcomp-field)"
        )
    return exe


def source_files() -> list[str]:
    """The ``.v`` files in dependency order, as listed in ``_CoqProject``."""
    lines = (COQ_DIR / "_CoqProject").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip().endswith(".v")]


def pinned_statements() -> dict[str, str]:
    """Theorem name -> statement pinned in ``Statements.v`` of the installed
    sources (:func:`coherence.proofs.formal.pinned_statements`)."""
    from coherence.proofs.formal import pinned_statements as parse

    return parse(COQ_DIR / "Statements.v")


def manifest() -> list[dict[str, str]]:
    """The main theorems listed in ``manifest.json``."""
    data = json.loads((COQ_DIR / "manifest.json").read_text(encoding="utf-8"))
    theorems: list[dict[str, str]] = data["theorems"]
    return theorems


def _run_coqc(build_dir: Path, file: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_coqc(), "-q", "-w", WARNINGS, "-R", ".", LOGICAL_ROOT, file],
        cwd=build_dir,
        capture_output=True,
        text=True,
        timeout=EVAL_TIMEOUT_S,
        check=False,
    )


def cache_root() -> Path:
    """Where builds are cached: ``$COHERENCE_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/coherence``, else ``~/.cache/coherence``."""
    explicit = os.environ.get("COHERENCE_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "coherence"


def _sources_digest() -> str:
    """SHA-256 over the sources, the manifest and ``coqc --version``: a build
    compiled from other sources or by another Coq is never reused."""
    h = hashlib.sha256()
    for name in [*source_files(), "_CoqProject", "manifest.json"]:
        h.update(name.encode())
        h.update((COQ_DIR / name).read_bytes())
    version = subprocess.run(
        [_coqc(), "--version"], capture_output=True, text=True, check=False
    )
    h.update(version.stdout.encode())
    return h.hexdigest()


def default_build_dir() -> Path:
    """The cached build directory for the installed sources:
    ``cache_root()/coq/<digest of sources and coqc>``."""
    return cache_root() / "coq" / _sources_digest()[:16]


def _built(build_dir: Path) -> bool:
    """Whether ``build_dir`` holds a complete build of the installed sources."""
    for name in source_files():
        built, compiled = build_dir / name, (build_dir / name).with_suffix(".vo")
        if not (built.is_file() and compiled.is_file()):
            return False
        if built.read_bytes() != (COQ_DIR / name).read_bytes():
            return False
        if compiled.stat().st_mtime < built.stat().st_mtime:
            return False
    return True


def compile_proofs(
    build_dir: Path | None = None, progress: Callable[[str], None] | None = None
) -> CoqBuild:
    """Compile the Coq sources with ``coqc`` in dependency order.

    Args:
        build_dir: where to compile (the sources are copied there); None uses
            the cache (:func:`default_build_dir`): a complete build there is
            reused, otherwise the sources are compiled in a staging directory
            beside it that is renamed into place, so concurrent runs never see
            half a build and nothing is left in the temporary folder.
        progress: called with one line per file compiled (name and seconds)
            and one for the whole build.
    Returns:
        The build; compilation stops at the first file that fails, and ``log``
        names it.
    Raises:
        RuntimeError when ``coqc`` is missing; ValueError when ``build_dir``
        lies inside the installed sources.
    """
    _coqc()
    say = progress or (lambda _line: None)
    if build_dir is None:
        final = default_build_dir()
        if _built(final):
            say(f"coq: reusing the build cached in {final}")
            return CoqBuild(True, 0.0, f"reused the build in {final}", final)
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix="staging-", dir=final.parent))
        try:
            build = _compile_in(staging, say)
            if not build.ok:
                return CoqBuild(False, build.seconds, build.log, final)
            try:
                os.replace(staging, final)
            except OSError:  # another run finished first, or a stale folder
                if not _built(final):
                    shutil.rmtree(final, ignore_errors=True)
                    os.replace(staging, final)
            say(f"coq: build cached in {final}")
            return CoqBuild(True, build.seconds, build.log, final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    build_dir = build_dir.resolve()
    if build_dir == COQ_DIR or COQ_DIR in build_dir.parents:
        raise ValueError(f"build_dir: must lie outside {COQ_DIR}, got {build_dir}")
    build_dir.mkdir(parents=True, exist_ok=True)
    return _compile_in(build_dir, say)


def _unchanged_prefix(build_dir: Path, files: Sequence[str]) -> int:
    """How many leading files of ``files`` are compiled in ``build_dir`` from
    identical sources (each ``.vo`` newer than its ``.v`` and than the
    ``.vo`` before it): ``_CoqProject`` lists the files in dependency order,
    so these need no recompilation when a later file changes."""
    previous = 0.0
    for i, name in enumerate(files):
        built, compiled = build_dir / name, (build_dir / name).with_suffix(".vo")
        if not (built.is_file() and compiled.is_file()):
            return i
        if built.read_bytes() != (COQ_DIR / name).read_bytes():
            return i
        stamp = compiled.stat().st_mtime
        if stamp < built.stat().st_mtime or stamp < previous:
            return i
        previous = stamp
    return len(files)


def _compile_in(build_dir: Path, say: Callable[[str], None]) -> CoqBuild:
    files = source_files()
    kept = _unchanged_prefix(build_dir, files)
    if kept:
        say(f"coq: {kept} files unchanged in {build_dir}, not recompiled")
    for name in [*files[kept:], "_CoqProject"]:
        atomic_write_bytes(build_dir / name, read_bytes(COQ_DIR / name, "Coq source"))
    start = time.perf_counter()
    log: list[str] = []
    ok = True
    for i, name in enumerate(files, 1):
        if i <= kept:
            continue
        began = time.perf_counter()
        proc = _run_coqc(build_dir, name)
        say(
            f"coq: [{i}/{len(files)}] {name} "
            f"{'compiled' if proc.returncode == 0 else 'FAILED'} in "
            f"{time.perf_counter() - began:.1f} s"
        )
        log.append(f"coqc {name}: exit {proc.returncode}")
        log.extend(x for x in (proc.stdout.strip(), proc.stderr.strip()) if x)
        if proc.returncode != 0:
            ok = False
            break
    seconds = time.perf_counter() - start
    say(
        f"coq: {len(files)} files compiled in {seconds:.1f} s"
        if ok
        else f"coq: the build failed after {seconds:.1f} s"
    )
    return CoqBuild(ok=ok, seconds=seconds, log="\n".join(log), build_dir=build_dir)


def _modules() -> str:
    return " ".join(name.removesuffix(".v") for name in source_files())


def _run_script(
    build: CoqBuild, stem: str, body: str, modules: str | None = None
) -> str:
    """Compile a scratch file importing ``modules`` (default every module);
    its stdout."""
    if not build.ok:
        raise RuntimeError(
            f"build: the Coq sources in {build.build_dir} did not compile"
        )
    # a name of this process's own: runs sharing a cached build never collide
    path = build.build_dir / f"{stem}_{os.getpid()}.v"
    header = (
        "From mathcomp Require Import all_ssreflect all_algebra.\n"
        f"From {LOGICAL_ROOT} Require Import {modules or _modules()}.\n"
    )
    atomic_write_text(path, header + body)
    try:
        proc = _run_coqc(build.build_dir, path.name)
    finally:
        for suffix in (".v", ".vo", ".vok", ".vos", ".glob"):
            path.with_suffix(suffix).unlink(missing_ok=True)
        (build.build_dir / f".{path.stem}.aux").unlink(missing_ok=True)
    if proc.returncode != 0:
        message = " ".join(proc.stderr.split())
        raise RuntimeError(f"coqc {path.name}: {message}")
    return proc.stdout


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_'.]*$")


def _parse_assumptions(theorem: str, out: str) -> list[str]:
    if "Closed under the global context" in out:
        return []
    names: list[str] = []
    for line in out.splitlines():
        if line and not line[0].isspace() and " : " in line:
            names.append(line.split(" : ", 1)[0].strip())
    if not names:
        raise RuntimeError(f"Print Assumptions {theorem}: unexpected output {out!r}")
    return names


def _assumptions_of(build: CoqBuild, theorems: Sequence[str]) -> dict[str, list[str]]:
    """``Print Assumptions`` of every theorem, in one coqc run."""
    for name in theorems:
        if not _NAME.match(name):
            raise ValueError(f"theorem: not a Coq identifier: {name!r}")
    body = "".join(
        f'Goal True. idtac "{_MARK}{name}". Abort.\nPrint Assumptions {name}.\n'
        for name in theorems
    )
    out = _run_script(build, "Assumptions", body)
    chunks = out.split(_MARK)[1:]
    if len(chunks) != len(theorems):
        raise RuntimeError(f"Print Assumptions: read {len(chunks)} of {len(theorems)}")
    found: dict[str, list[str]] = {}
    for name, chunk in zip(theorems, chunks, strict=True):
        head, _, rest = chunk.partition("\n")
        if head.strip() != name:
            raise RuntimeError(f"Print Assumptions: expected {name}, read {head!r}")
        found[name] = _parse_assumptions(name, rest)
    return found


_MARK = "@@coherence-theorem "


def assumptions(build: CoqBuild, theorem: str) -> list[str]:
    """The axioms ``Print Assumptions theorem`` lists ([] when the theorem is
    closed under the global context). RuntimeError when the theorem is unknown."""
    return _assumptions_of(build, [theorem])[theorem]


def check_manifest(build: CoqBuild) -> list[TheoremCheck]:
    """Every manifest theorem: compiled, its assumptions (those of its pin in
    ``Statements.v``, which include the theorem's), and whether they are
    within :data:`ALLOWED_AXIOMS` (one coqc run; if it fails, each theorem is
    checked alone so that the missing one is named)."""
    names = [entry["theorem"] for entry in manifest()]
    pins = pinned_statements()
    # the pin X_pinned := X rests on everything X rests on; a theorem without
    # a pin is checked alone (the ledger then refuses it for the missing pin)
    query = {name: f"{name}_pinned" if name in pins else name for name in names}
    try:
        by_query = _assumptions_of(build, list(query.values()))
        found: dict[str, list[str] | None] = {
            name: by_query[query[name]] for name in names
        }
    except RuntimeError:
        found = {}
        for name in names:
            try:
                found[name] = assumptions(build, query[name])
            except RuntimeError:
                found[name] = None
    checks: list[TheoremCheck] = []
    for name in names:
        axioms = found[name]
        if axioms is None:
            checks.append(TheoremCheck(name, False, (), False))
            continue
        allowed = all(axiom in ALLOWED_AXIOMS for axiom in axioms)
        checks.append(TheoremCheck(name, True, tuple(axioms), allowed))
    return checks


def supports(query: Query) -> bool:
    """Whether :func:`evaluate_case` answers ``query`` (an exact answer of a
    quantity and operator the Coq definitions cover)."""
    spec = query.policy
    if query.quantity not in _QUANTITIES or spec.operator not in _OPERATORS:
        return False
    if not query.is_exact or query.reference is not None:
        return False
    if spec.operator == "B":
        # Boltzmann with 1/delta = m > 1 raises every value to the m-th power at
        # every round, so the rationals grow geometrically in size; Q's binary
        # arithmetic inside the Coq VM is then too slow beyond m <= 3 and two
        # rounds.
        power = _boltzmann_power(spec.f)
        return (
            isinstance(spec.f, Argmax)
            or power == 1
            or (power is not None and power <= 3 and spec.i <= 2)
        )
    return True


def _boltzmann_power(f: object) -> int | None:
    if not isinstance(f, Boltzmann) or not isinstance(f.delta, Fraction | int):
        return None
    inv = 1 / Fraction(f.delta)
    return int(inv) if inv.denominator == 1 else None


def _q(x: object, where: str) -> str:
    if not isinstance(x, Fraction):
        raise ValueError(f"{where}: Coq evaluation needs exact rationals, got {x!r}")
    return f"({x.numerator}#{x.denominator})"


def _qlist(xs: Sequence[object], where: str) -> str:
    return "[:: " + "; ".join(_q(x, where) for x in xs) + "]%Q"


def _data(mdp: MDP) -> str:
    S, A = len(mdp.states), len(mdp.actions)
    dense: list[str] = []
    for s in range(S):
        rows = []
        for a in range(A):
            row = [Fraction(0)] * S
            for j, p in mdp.transitions[s][a]:
                row[j] = p
            rows.append(_qlist(row, "transitions"))
        dense.append("[:: " + "; ".join(rows) + "]")
    trans = "[:: " + "; ".join(dense) + "]"
    rho = (
        "[:: "
        + "; ".join(
            "[:: " + "; ".join(_qlist(row, "success") for row in table) + "]"
            for table in mdp.success
        )
        + "]"
    )
    prior = "[:: " + "; ".join(_qlist(row, "prior") for row in mdp.prior) + "]"
    return (
        f"Definition es := iota 0 {S}.\nDefinition ea := iota 0 {A}.\n"
        f"Definition M := qmdp {mdp.horizon}\n  {trans}\n  {rho}\n"
        f"  {_qlist(mdp.terminal_success, 'terminal_success')}\n"
        f"  {_qlist(mdp.initial, 'initial')}\n  {prior}.\n"
    )


def _policy_term(query: Query) -> str:
    spec = query.policy
    op = spec.operator
    if op == "prior":
        return "(prior_policy M)"
    if op == "T":
        return f"(Tk qops es ea M {int(Fraction(spec.alpha))})"
    if op == "B":
        power = _boltzmann_power(spec.f)
        f = "None" if power is None else f"(Some {power}%nat)"
        return f"(B qops es ea M {f} {spec.i})"
    name = {"G": "G", "F": "F", "F_literal": "Flit", "H": "H", "H_literal": "Hlit"}
    return f"({name[op]} qops es ea M {spec.k})"


def _query_term(query: Query, mdp: MDP) -> str:
    T, S, A = mdp.horizon, len(mdp.states), len(mdp.actions)
    pol = _policy_term(query)
    return {
        "policy": f"out_pol {T} {S} {A} {pol}",
        "z": f"out_pol {T} {S} {A} (zv qops es ea M {pol})",
        "w": f"out_val {T + 1} {S} (wv qops es ea M {pol})",
        "occupancy": f"out_val {T + 1} {S} (occ qops es ea M {pol})",
        "J_prob": f"[:: qout (J_prob qops es ea M {pol})]",
        "J_count": f"[:: qout (J_count qops es ea M {pol})]",
    }[query.quantity]


_RESULT = re.compile(r"^\s*= (.*?)\n\s*: ", re.S | re.M)
_PAIR = re.compile(r"\(\s*\(?(-?\d+)\)?%Z\s*,\s*(\d+)%Z\s*\)")


def _shape(flat: list[Fraction], query: Query, mdp: MDP) -> object:
    T, S, A = mdp.horizon, len(mdp.states), len(mdp.actions)
    if query.quantity in ("J_prob", "J_count"):
        return flat[0]
    if query.quantity in ("policy", "z"):
        return [
            [flat[(t * S + s) * A : (t * S + s + 1) * A] for s in range(S)]
            for t in range(T)
        ]
    return [flat[t * S : (t + 1) * S] for t in range(T + 1)]


EVAL_MODULES = "Defs QEval"
"""The modules a case evaluation imports: the definitions and their
instantiation with ``Q`` only, so that a copy of the sources with just these
two files compiled can be evaluated (a planted change to ``Defs.v`` is then
checked in seconds)."""


def evaluate_case(build: CoqBuild, case_path: Path | str) -> dict[str, object]:
    """The Coq definitions evaluated on the case at ``case_path``.

    Returns, per supported query id (:func:`supports`), the exact answer as a
    Fraction (J_prob, J_count) or nested lists of Fractions indexed
    ``[t][s][a]`` (policy, z) or ``[t][s]`` (w, occupancy; t = 0..T).
    """
    return evaluate_cases(build, [case_path])[0]


def evaluate_cases(
    build: CoqBuild, case_paths: Sequence[Path | str]
) -> list[dict[str, object]]:
    """The Coq definitions evaluated on several cases in one ``coqc`` run.

    Each case's data lives in a Coq module of its own; the answers are those
    of :func:`evaluate_case`, one dictionary per case, in order.
    """
    cases = [load_case(path) for path in case_paths]
    selected = [[q for q in case.queries if supports(q)] for case in cases]
    body = "From Coq Require Import QArith.\n"
    for i, (case, queries) in enumerate(zip(cases, selected, strict=True)):
        body += f"Module Case{i}.\n" + _data(case.mdp)
        body += "".join(
            f"Eval vm_compute in {_query_term(q, case.mdp)}.\n" for q in queries
        )
        body += f"End Case{i}.\n"
    total = sum(len(queries) for queries in selected)
    if total == 0:
        return [{} for _ in cases]
    out = _run_script(build, "CaseEval", body, EVAL_MODULES)
    blocks = _RESULT.findall(out)
    if len(blocks) != total:
        raise RuntimeError(
            f"coqc CaseEval.v: expected {total} results, read {len(blocks)}"
        )
    results: list[dict[str, object]] = []
    at = 0
    for case, queries in zip(cases, selected, strict=True):
        answers: dict[str, object] = {}
        for query in queries:
            flat = [Fraction(int(n), int(d)) for n, d in _PAIR.findall(blocks[at])]
            answers[query.id] = _shape(flat, query, case.mdp)
            at += 1
        results.append(answers)
    return results
