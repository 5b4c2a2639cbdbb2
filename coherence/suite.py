"""The conformance suite shipped with the package, and random case generation.

Three groups of cases ship in the package, each tagged:

* ``public`` — the contract's public cases (``coherence/cases/public``); each
  file's MDP and queries are its definition, and its expected answers are
  regenerated from them by the oracle (:func:`build_public`);
* ``proofs`` — the claims ledger's counterexamples (``coherence/proofs/cases``);
* ``generated`` — a seeded suite of random exact cases
  (``coherence/cases/generated``) covering every operator x quantity pair and
  SPEC §2's conventions: deterministic and stochastic dynamics, uniform, random
  and sparse priors, ties, zero-success actions, dead states, time-dependent
  success, several initial states, terminal rewards (:func:`build_generated`).

``coherence cases list [--tag T]`` lists them; ``coherence cases export DIR
[--tag T]`` copies them into DIR; ``coherence generate ... --out DIR`` writes
fresh random cases, identical for the same seed. :func:`to_case` turns an MDP
(for example a failing hypothesis example) and queries into a case.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from coherence import __version__
from coherence._io import (
    atomic_write_bytes,
    atomic_write_json,
    check_output_target,
    read_bytes,
)
from coherence.reference.case import (
    Case,
    Query,
    case_from_json,
    case_to_json,
)
from coherence.reference.model import MDP
from coherence.reference.operators import OPERATORS
from coherence.reference.quantities import QUANTITIES

__all__ = [
    "CASES_DIR",
    "GENERATED_COUNT",
    "GENERATED_SEED",
    "SuiteCase",
    "build_generated",
    "build_public",
    "generate_cases",
    "random_mdp",
    "register",
    "suite",
    "to_case",
]

CASES_DIR = Path(__file__).resolve().parent / "cases"
PROOFS_DIR = Path(__file__).resolve().parent / "proofs" / "cases"
#: The shipped generated suite: this many cases from this seed.
GENERATED_COUNT = 320
GENERATED_SEED = 20260

#: Generator limits (a few bytes of arguments must not demand unbounded work).
MAX_COUNT = 10_000
MAX_STATES = 12
MAX_ACTIONS = 6
MAX_HORIZON = 6

PRIORS = ("uniform", "random", "sparse")

#: The policy specs generated cases ask about, as CASE_FORMAT JSON.
SPECS: tuple[dict[str, object], ...] = (
    {"operator": "prior"},
    {"operator": "G", "k": 2},
    {"operator": "G", "k": 3},
    {"operator": "T", "alpha": "2"},
    {"operator": "T", "alpha": "1/2"},
    {"operator": "F", "k": 2},
    {"operator": "F_literal", "k": 2},
    {"operator": "H", "k": 2},
    {"operator": "H_literal", "k": 2},
    {"operator": "B", "i": 2, "f": {"boltzmann": "1"}},
    {"operator": "B", "i": 2, "f": "argmax"},
    {"operator": "maxent", "alpha": "1"},
)
_F_CHOICES: tuple[object, ...] = ({"boltzmann": "1"}, {"boltzmann": "1/2"}, "argmax")
QUERIES_PER_CASE = 14


@dataclass(frozen=True)
class SuiteCase:
    """One shipped case: its file and tags."""

    path: Path
    name: str
    tags: tuple[str, ...]


# ------------------------------------------------------------------ listing
def _tags_of(path: Path, group: str) -> tuple[str, ...]:
    data = json.loads(path.read_text(encoding="utf-8"))
    source = data.get("source")
    extra: list[str] = []
    if isinstance(source, Mapping) and isinstance(source.get("tags"), list):
        extra = [str(t) for t in source["tags"]]
    return (group, *extra)


def suite(tag: str | None = None) -> list[SuiteCase]:
    """Every shipped case (public, proofs, generated, goals), optionally those with
    ``tag``; sorted by group then name."""
    groups = (
        ("public", CASES_DIR / "public"),
        ("proofs", PROOFS_DIR),
        ("generated", CASES_DIR / "generated"),
        ("goals", CASES_DIR / "goals"),
    )
    found: list[SuiteCase] = []
    for group, directory in groups:
        for path in sorted(directory.glob("*.json")):
            tags = _tags_of(path, group)
            if tag is None or tag in tags:
                found.append(SuiteCase(path, path.stem, tags))
    return found


# --------------------------------------------------------------- generation
def _weights(rng: random.Random, n: int, *, allow_zero: bool) -> list[Fraction]:
    """A random distribution over n items with small denominators."""
    while True:
        raw = [rng.randint(0 if allow_zero else 1, 3) for _ in range(n)]
        if sum(raw) > 0:
            total = sum(raw)
            return [Fraction(x, total) for x in raw]


_SUCCESS = (Fraction(0), Fraction(1, 4), Fraction(1, 2), Fraction(3, 4), Fraction(1))


def random_mdp(
    rng: random.Random,
    *,
    states: int,
    actions: int,
    horizon: int,
    stochastic: bool,
    prior: str,
    ties: bool,
    name: str,
) -> tuple[MDP, list[str]]:
    """A random exact MDP with small denominators and the features its tags
    name (returned beside it): zero-success actions, a dead state (every
    action fails), time-dependent success, several initial states and terminal
    rewards are each drawn with probability 1/2."""
    if prior not in PRIORS:
        raise ValueError(f"prior: expected one of {', '.join(PRIORS)}, got {prior!r}")
    st = [f"s{i}" for i in range(states)]
    ac = [f"a{j}" for j in range(actions)]
    tags = ["stochastic" if stochastic else "deterministic", f"prior-{prior}"]
    transitions: dict[str, dict[str, dict[str, str]]] = {}
    for s in st:
        row: dict[str, dict[str, str]] = {}
        for a in ac:
            if stochastic:
                k = rng.randint(1, min(3, states))
                succ = rng.sample(st, k)
                probs = _weights(rng, k, allow_zero=False)
                row[a] = {n: str(p) for n, p in zip(succ, probs, strict=True)}
            else:
                row[a] = {rng.choice(st): "1"}
        transitions[s] = row
    success: dict[str, dict[str, str]] = {}
    for s in st:
        entries = {a: str(rng.choice(_SUCCESS)) for a in ac if rng.random() < 0.6}
        if entries:
            success[s] = entries
    if any(v == "0" for row in success.values() for v in row.values()):
        tags.append("zero-success")
    if states >= 2 and rng.random() < 0.5:
        dead = st[-1]
        success[dead] = dict.fromkeys(ac, "0")
        tags.append("dead-state")
    terminal: dict[str, str] = {}
    if rng.random() < 0.5:
        terminal = {s: str(rng.choice(_SUCCESS)) for s in st if rng.random() < 0.7}
        tags.append("terminal-rewards")
    time_dependent: dict[str, dict[str, dict[str, str]]] = {}
    if horizon >= 2 and rng.random() < 0.5:
        t = str(rng.randrange(horizon))
        s = rng.choice(st)
        time_dependent[t] = {s: {rng.choice(ac): str(rng.choice(_SUCCESS))}}
        tags.append("time-dependent-success")
    if states >= 2 and rng.random() < 0.5:
        chosen = rng.sample(st, 2)
        w = _weights(rng, 2, allow_zero=False)
        initial = {n: str(p) for n, p in zip(chosen, w, strict=True)}
        tags.append("multi-initial")
    else:
        initial = {st[0]: "1"}
    prior_map: dict[str, dict[str, str]] = {}
    if prior != "uniform":
        for s in st:
            w = _weights(rng, actions, allow_zero=prior == "sparse")
            prior_map[s] = {a: str(p) for a, p in zip(ac, w, strict=True) if p != 0}
    if ties and actions >= 2:
        # action a1 copies a0 at every state: identical transitions, success,
        # prior, so a0 and a1 tie in every Q
        for s in st:
            transitions[s][ac[1]] = dict(transitions[s][ac[0]])
            if s in success:
                if ac[0] in success[s]:
                    success[s][ac[1]] = success[s][ac[0]]
                else:
                    success[s].pop(ac[1], None)
            for table in time_dependent.values():
                if s in table:
                    entry = table[s]
                    entry.pop(ac[1], None)
                    if ac[0] in entry:
                        entry[ac[1]] = entry[ac[0]]
            if s in prior_map:
                row_p = prior_map[s]
                p0 = Fraction(row_p.get(ac[0], "0"))
                p1 = Fraction(row_p.get(ac[1], "0"))
                both = p0 + p1
                if both:
                    row_p[ac[0]] = row_p[ac[1]] = str(both / 2)
        tags.append("ties")
    mdp = MDP.build(
        name=name,
        states=st,
        actions=ac,
        horizon=horizon,
        transitions=transitions,
        initial=initial,
        success=success,
        terminal_success=terminal,
        prior=prior_map or None,
        time_dependent_success=time_dependent or None,
    )
    return mdp, tags


def _all_pairs() -> list[tuple[dict[str, object], str]]:
    return [(spec, q) for spec in SPECS for q in QUANTITIES]


def _queries(
    rng: random.Random, index: int, operators: set[str] | None
) -> list[dict[str, object]]:
    """Queries for case ``index``: consecutive windows of the operator x
    quantity product, so the suite covers every pair."""
    pairs = [
        p for p in _all_pairs() if operators is None or p[0]["operator"] in operators
    ]
    if not pairs:
        raise ValueError("queries: no operator selected")
    n = min(QUERIES_PER_CASE, len(pairs))
    start = (index * n) % len(pairs)
    chosen = [pairs[(start + j) % len(pairs)] for j in range(n)]
    out: list[dict[str, object]] = []
    for j, (spec, quantity) in enumerate(chosen):
        query: dict[str, object] = {
            "id": f"q{j}-{quantity}",
            "quantity": quantity,
            "policy": dict(spec),
        }
        if "f" in QUANTITIES[quantity].parameters:
            query["f"] = rng.choice(_F_CHOICES)
        if "reference" in QUANTITIES[quantity].parameters:
            query["reference"] = {"operator": "prior"}
        out.append(query)
    return out


def generate_cases(
    *,
    seed: int,
    count: int,
    states: int = 3,
    actions: int = 2,
    horizon: int = 2,
    stochastic: bool | None = None,
    prior: str | None = None,
    ties: bool | None = None,
    operators: Sequence[str] | None = None,
    expected: bool = False,
    prefix: str = "gen",
) -> list[dict[str, object]]:
    """``count`` random cases as JSON objects, identical for the same arguments.

    ``stochastic``, ``prior`` and ``ties`` fixed, or (None) varied from case to
    case; ``operators`` restricts the queries; ``expected`` adds the oracle's
    answers (exact where the answer is rational).
    """
    _check_int("seed", seed, 0, 2**63)
    _check_int("count", count, 1, MAX_COUNT)
    _check_int("states", states, 1, MAX_STATES)
    _check_int("actions", actions, 1, MAX_ACTIONS)
    _check_int("horizon", horizon, 1, MAX_HORIZON)
    if prior is not None and prior not in PRIORS:
        raise ValueError(f"--prior: expected one of {', '.join(PRIORS)}, got {prior!r}")
    ops: set[str] | None = None
    if operators is not None:
        unknown = sorted(set(operators) - set(OPERATORS))
        if unknown:
            raise ValueError(
                f"--queries: unknown operators {', '.join(unknown)}; expected 'all' "
                f"or a comma-separated list of {', '.join(OPERATORS)}"
            )
        ops = set(operators)
    out: list[dict[str, object]] = []
    for index in range(count):
        rng = random.Random(f"{seed}:{index}")
        sto = bool(index % 2) if stochastic is None else stochastic
        pri = PRIORS[(index // 2) % 3] if prior is None else prior
        tie = (index % 5 == 3) if ties is None else ties
        name = f"{prefix}-{seed}-{index:04d}"
        mdp, tags = random_mdp(
            rng,
            states=states,
            actions=actions,
            horizon=horizon,
            stochastic=sto,
            prior=pri,
            ties=tie,
            name=name,
        )
        queries = _queries(rng, index, ops)
        case = to_case(mdp, queries)
        if expected:
            case = _expected_of(case)
        data = case_to_json(case)
        data["source"] = {
            "generator": "coherence generate",
            "version": __version__,
            "seed": seed,
            "index": index,
            "options": {
                "states": states,
                "actions": actions,
                "horizon": horizon,
                "stochastic": sto,
                "prior": pri,
                "ties": tie,
            },
            "tags": tags,
        }
        if not expected:
            data.pop("expected", None)
        out.append(data)
    return out


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not low <= value <= high
    ):
        raise ValueError(
            f"--{name}: expected an integer in [{low}, {high}], got {value!r}"
        )


def to_case(
    mdp: MDP, queries: Iterable[Mapping[str, object] | Query], name: str | None = None
) -> Case:
    """A case of ``mdp`` asking ``queries`` (CASE_FORMAT query objects or
    :class:`Query`); write it with :func:`coherence.reference.case.write_case`
    to keep a failing hypothesis example as a regression case."""
    parsed = tuple(
        q if isinstance(q, Query) else Query.from_json(dict(q), i)
        for i, q in enumerate(queries)
    )
    model = mdp if name is None else _renamed(mdp, name)
    return Case(mdp=model, queries=parsed)


def _renamed(mdp: MDP, name: str) -> MDP:
    import dataclasses

    return dataclasses.replace(mdp, name=name)


# ------------------------------------------------------------ shipped suite
def _expected_of(case: Case) -> Case:
    """The case with the oracle's answers: the exact engine wherever the
    policies are rational (float quantities then come from exact rationals),
    float64 numpy otherwise."""
    from coherence.queries import Evaluator

    exact, floats = Evaluator(case.mdp, "exact"), Evaluator(case.mdp, "numpy")
    answers = {}
    for q in case.queries:
        rational = q.policy.is_rational and (
            q.reference is None or q.reference.is_rational
        )
        if q.f is not None and not _f_rational(q):
            rational = False
        answers[q.id] = (exact if rational else floats).answer(q)
    return Case(case.mdp, case.queries, answers, case.tolerance)


def _f_rational(q: Query) -> bool:
    from coherence.reference.operators import f_is_rational

    return f_is_rational(q.f)


def build_public(directory: Path | None = None) -> list[Path]:
    """Regenerate the public cases' expected answers from their definitions
    (each file's MDP and queries) with the oracle, in place (or into
    ``directory``). Returns the paths written."""
    src = CASES_DIR / "public"
    dst = src if directory is None else Path(directory)
    written: list[Path] = []
    for path in sorted(src.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        extras = {k: data[k] for k in ("description", "source") if k in data}
        data.pop("expected", None)
        case = _expected_of(case_from_json(data))
        out = case_to_json(case)
        out.update(extras)
        target = dst / path.name
        atomic_write_json(target, out)
        written.append(target)
    return written


def build_generated(directory: Path | None = None) -> list[Path]:
    """Write the shipped generated suite (``GENERATED_COUNT`` cases from
    ``GENERATED_SEED``, with expected answers) into ``directory`` (default:
    the package's ``cases/generated``)."""
    dst = CASES_DIR / "generated" if directory is None else Path(directory)
    written: list[Path] = []
    cases = generate_cases(
        seed=GENERATED_SEED,
        count=GENERATED_COUNT,
        states=3,
        actions=3,
        horizon=2,
        expected=True,
        prefix="suite",
    )
    for data in cases:
        target = dst / f"{data['name']}.json"
        atomic_write_json(target, data)
        written.append(target)
    return written


# ---------------------------------------------------------------------- CLI
def _cmd_list(args: argparse.Namespace) -> int:
    found = suite(args.tag)
    if not found:
        raise ValueError(f"--tag: no shipped case has tag {args.tag!r}")
    for c in found:
        print(f"{c.name:48} {','.join(c.tags)}")
    print(f"{len(found)} cases")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    found = suite(args.tag)
    if not found:
        raise ValueError(f"--tag: no shipped case has tag {args.tag!r}")
    out = Path(args.dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"DIR: {str(out)!r} exists and is not a directory")
    for c in found:  # every target checked before anything is written
        check_output_target(out / c.path.name)
    out.mkdir(parents=True, exist_ok=True)
    for c in found:
        atomic_write_bytes(out / c.path.name, read_bytes(c.path, "case"))
    print(f"{len(found)} cases -> {out}")
    return 0


def _operators(text: str) -> list[str] | None:
    if text == "all":
        return None
    return [x.strip() for x in text.split(",") if x.strip()]


def _cmd_generate(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out: {str(out)!r} exists and is not a directory")
    if args.family == "authors-tree":
        return _generate_authors(args, out)
    cases = generate_cases(
        seed=args.seed,
        count=args.count,
        states=args.states,
        actions=args.actions,
        horizon=args.horizon,
        stochastic=True if args.stochastic else None,
        prior=args.prior,
        ties=True if args.ties else None,
        operators=_operators(args.queries),
        expected=args.expected,
    )
    out.mkdir(parents=True, exist_ok=True)
    for data in cases:
        atomic_write_json(out / f"{data['name']}.json", data)
    print(f"{len(cases)} cases -> {out}")
    return 0


def _generate_authors(args: argparse.Namespace, out: Path) -> int:
    from coherence.experiments.authors import authors_tree_case

    clip: tuple[float, float] | None = None
    if args.clip is not None:
        parts = args.clip.split(",")
        try:
            lo, hi = (float(p) for p in parts)
        except ValueError:
            raise ValueError(f"--clip: expected LO,HI, got {args.clip!r}") from None
        if not lo < hi:
            raise ValueError(f"--clip: expected LO < HI, got {args.clip!r}")
        clip = (lo, hi)
    if args.depth is None:
        raise ValueError("--depth: the authors-tree family needs --depth T")
    data = authors_tree_case(
        args.actions, args.depth, args.seed, stochastic=args.stochastic, clip=clip
    )
    case_from_json(data)  # validate before writing
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{data['name']}.json"
    atomic_write_json(target, data)
    print(f"1 case -> {target}")
    return 0


def register(sub: Any) -> None:
    """Add ``cases list``, ``cases export`` and ``generate``."""
    cases = sub.add_parser("cases", help="list or export the shipped conformance suite")
    inner = cases.add_subparsers(dest="cases_command", metavar="ACTION", required=True)
    lister = inner.add_parser("list", help="list the shipped cases and their tags")
    lister.add_argument("--tag", help="only cases with this tag (public, proofs, ...)")
    lister.set_defaults(handler=_cmd_list)
    export = inner.add_parser("export", help="copy the shipped cases into DIR")
    export.add_argument("dir", metavar="DIR")
    export.add_argument("--tag", help="only cases with this tag")
    export.set_defaults(handler=_cmd_export)

    gen = sub.add_parser("generate", help="write random valid cases")
    gen.add_argument(
        "--family",
        choices=("random", "authors-tree"),
        default="random",
        help="random exact MDPs (default) or the paper authors' random trees",
    )
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--count", type=int, default=1)
    gen.add_argument("--states", type=int, default=3)
    gen.add_argument("--actions", type=int, default=2)
    gen.add_argument("--horizon", type=int, default=2)
    gen.add_argument("--depth", type=int, help="authors-tree: their horizon T")
    gen.add_argument("--clip", help="authors-tree: reward clipping LO,HI")
    gen.add_argument("--stochastic", action="store_true")
    gen.add_argument("--prior", choices=PRIORS, default=None)
    gen.add_argument("--ties", action="store_true", help="every case has tied actions")
    gen.add_argument(
        "--queries",
        default="all",
        metavar="all|OPERATOR,...",
        help="operators the queries ask about",
    )
    gen.add_argument(
        "--expected", action="store_true", help="include the oracle's answers"
    )
    gen.add_argument("--out", required=True, metavar="DIR")
    gen.set_defaults(handler=_cmd_generate)


if __name__ == "__main__":  # regenerate the shipped suite
    which = sys.argv[1:] or ["public", "generated"]
    if "public" in which:
        print(f"{len(build_public())} public cases")
    if "generated" in which:
        print(f"{len(build_generated())} generated cases")
