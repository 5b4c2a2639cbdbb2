"""The random tree MDPs of Karwowski and Douglas (arXiv 2510.06545), bit for bit.

docs/paper-experiments.md §1 describes the family; this module regenerates it from a
seed with numpy's legacy MT19937 ``RandomState`` (whose stream numpy keeps
frozen) in the authors' draw order:

* states are the digit strings over ``0..A-1`` of length 0..T (``""`` is the
  initial state, written ``root``) and one terminal state ``end``; every
  non-terminal state has the A actions, so there are **T + 1 decisions**;
* the states are listed for the draws as ``DFS(T) + [""]`` with
  ``DFS(t) = [a + s for s in DFS(t - 1) + [""] for a in 0..A-1]``;
* stochastic only: one ``rand()`` per (s, a, a'), state by state, action by
  action, a' by a'; action a moves s to child s + a' with probability
  proportional to its draw (the rows of length-T states collapse to ``end``,
  their draws are still made);
* then one ``rand()`` per (s, a): the success probability q(s, a).

The published instance list (the 140 effective-horizon MDPs) is read from a
transcription of the authors' artifact file, shipped with this package.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from importlib import resources

import numpy as np

from coherence import __version__

__all__ = [
    "FAMILIES",
    "MAX_TREE_STATES",
    "PUBLISHED_SOURCE",
    "AuthorsTree",
    "PublishedInstance",
    "authors_tree",
    "authors_tree_case",
    "candidate_seeds",
    "draw_order",
    "published_instances",
    "state_name",
    "tree_case",
]

#: The effective-horizon families in their config's order (spec_index = position).
FAMILIES: tuple[tuple[str, int, int], ...] = (
    ("T2_A2", 2, 2),
    ("T3_A2", 3, 2),
    ("T4_A2", 4, 2),
    ("T4_A3", 4, 3),
    ("T5_A2", 5, 2),
    ("T6_A2", 6, 2),
    ("T3_A4", 3, 4),
)

#: Where the published numbers were transcribed from.
PUBLISHED_SOURCE = (
    "github.com/jkarwowski/incoherence@5f0aa98 "
    "paper/artifacts/data/effective_horizon_summary.csv"
)

_MAX_SEED = 2**32 - 1
#: Most decision states of one tree, 1 + A + ... + A^T, counted before any is
#: drawn (the published families have at most 127).
MAX_TREE_STATES = 100_000


def _check_int(name: str, value: object, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name}: expected an integer, got {value!r}")
    v = int(value)
    if not lo <= v <= hi:
        raise ValueError(f"{name}: expected {lo} <= {name} <= {hi}, got {v}")
    return v


def _check_clip(clip: object) -> tuple[float, float] | None:
    if clip is None:
        return None
    if not isinstance(clip, tuple) or len(clip) != 2:
        raise ValueError(f"clip: expected a pair (lo, hi), got {clip!r}")
    lo, hi = (float(x) for x in clip)
    if not 0.0 <= lo <= hi <= 1.0:
        raise ValueError(f"clip: expected 0 <= lo <= hi <= 1, got {clip!r}")
    return (lo, hi)


def draw_order(actions: int, depth: int) -> list[str]:
    """The states in the order the authors draw for them: DFS(depth) + [""]."""
    _check_int("actions", actions, 1, 10)
    _check_int("depth", depth, 0, 12)
    level: list[str] = []
    for _ in range(depth):
        level = [f"{a}{s}" for s in [*level, ""] for a in range(actions)]
    return [*level, ""]


def state_name(s: str) -> str:
    """The case's name of a digit-string state (``root`` for the empty one)."""
    return s if s else "root"


@dataclass(frozen=True)
class AuthorsTree:
    """One instance: ``q[s][a]`` success probabilities (float64 as drawn, then
    clipped), ``weights[s][a]`` the raw transition draws per child digit
    (stochastic only; empty when deterministic), keyed by digit strings."""

    actions: int
    depth: int
    seed: int
    stochastic: bool
    clip: tuple[float, float] | None
    q: dict[str, tuple[float, ...]]
    weights: dict[str, tuple[tuple[float, ...], ...]]

    @property
    def decisions(self) -> int:
        """T + 1: the number of decisions of every trajectory."""
        return self.depth + 1

    def children(self, s: str) -> list[str]:
        """The successor of s under each action's own digit (``end`` at depth T)."""
        if len(s) == self.depth:
            return ["end"] * self.actions
        return [s + str(a) for a in range(self.actions)]

    def transition(self, s: str, a: int) -> dict[str, Fraction]:
        """P(.|s, a) exactly: a point mass, or draws / their sum (stochastic)."""
        if len(s) == self.depth:
            return {"end": Fraction(1)}
        if not self.stochastic:
            return {s + str(a): Fraction(1)}
        draws = [Fraction(w) for w in self.weights[s][a]]
        total = sum(draws, Fraction(0))
        return {s + str(b): w / total for b, w in enumerate(draws) if w != 0}


def authors_tree(
    actions: int,
    depth: int,
    seed: int,
    *,
    stochastic: bool = False,
    clip: tuple[float, float] | None = None,
) -> AuthorsTree:
    """Draw one instance of the authors' family (docs/paper-experiments.md §1).

    ``depth`` is their config's horizon T (T + 1 decisions); ``clip`` = (lo, hi)
    clips every q into [lo, hi] after the draws (their iterated-incoherence and
    return-improvement variants use (1e-3, 1 - 1e-3)).
    """
    A = _check_int("actions", actions, 1, 10)
    T = _check_int("depth", depth, 0, 12)
    states = sum(A**t for t in range(T + 1))
    if states > MAX_TREE_STATES:
        raise ValueError(
            f"actions {A}, depth {T}: the tree would have {states} states, over "
            f"MAX_TREE_STATES = {MAX_TREE_STATES}; choose fewer actions or a "
            "smaller depth"
        )
    s0 = _check_int("seed", seed, 0, _MAX_SEED)
    bounds = _check_clip(clip)
    order = draw_order(A, T)
    rng = np.random.RandomState(s0)
    weights: dict[str, tuple[tuple[float, ...], ...]] = {}
    if stochastic:
        for s in order:
            weights[s] = tuple(
                tuple(float(rng.random_sample()) for _ in range(A)) for _ in range(A)
            )
    q: dict[str, tuple[float, ...]] = {}
    for s in order:
        row = [float(rng.random_sample()) for _ in range(A)]
        if bounds is not None:
            row = [min(max(x, bounds[0]), bounds[1]) for x in row]
        q[s] = tuple(row)
    return AuthorsTree(A, T, s0, bool(stochastic), bounds, q, weights)


def authors_tree_case(
    actions: int,
    depth: int,
    seed: int,
    *,
    stochastic: bool = False,
    clip: tuple[float, float] | None = None,
) -> dict[str, object]:
    """The instance of :func:`authors_tree` as a coherence-case/1 JSON dict.

    State names are the authors' digit strings (``root`` for ``""``, ``end``
    for the terminal state, reached after the T + 1 decisions and never acted
    in); horizon = T + 1; success probabilities are JSON floats (their exact
    binary values); stochastic rows are exact rationals draw / sum of draws;
    the prior is uniform (omitted) and there is no terminal reward.
    Provenance goes under ``source``.
    """
    return tree_case(
        authors_tree(actions, depth, seed, stochastic=stochastic, clip=clip)
    )


def tree_case(tree: AuthorsTree) -> dict[str, object]:
    """An :class:`AuthorsTree` as a coherence-case/1 dict (see
    :func:`authors_tree_case`)."""
    stochastic = tree.stochastic
    A, T = tree.actions, tree.depth
    by_length = sorted(tree.q, key=lambda s: (len(s), s))
    names = [state_name(s) for s in by_length] + ["end"]
    acts = [str(a) for a in range(A)]
    transitions: dict[str, dict[str, dict[str, str]]] = {}
    for s in by_length:
        transitions[state_name(s)] = {
            str(a): {state_name(n): str(p) for n, p in tree.transition(s, a).items()}
            for a in range(A)
        }
    transitions["end"] = {a: {"end": "1"} for a in acts}
    success = {
        state_name(s): dict(zip(acts, tree.q[s], strict=True)) for s in by_length
    }
    name = f"authors-tree-T{T}-A{A}-seed{tree.seed}"
    if stochastic:
        name += "-stochastic"
    if tree.clip is not None:
        name += f"-clip{tree.clip[0]:g}-{tree.clip[1]:g}"
    return {
        "format": "coherence-case/1",
        "name": name,
        "description": (
            f"Karwowski-Douglas random tree MDP: {A} actions, their horizon "
            f"T = {T} ({T + 1} decisions), seed {tree.seed}, "
            f"{'stochastic' if stochastic else 'deterministic'} transitions"
        ),
        "source": {
            "generator": "coherence.experiments.authors.authors_tree_case",
            "family": "authors-tree",
            "actions": A,
            "depth": T,
            "seed": tree.seed,
            "stochastic": bool(stochastic),
            "clip": list(tree.clip) if tree.clip is not None else None,
            "rng": "numpy.random.RandomState (legacy MT19937), draws in "
            "docs/paper-experiments.md §1 order",
            "reference": "create_random_mdp of github.com/jkarwowski/incoherence",
            "coherence_version": __version__,
        },
        "horizon": T + 1,
        "states": names,
        "actions": acts,
        "initial": {"root": "1"},
        "transitions": transitions,
        "success": success,
        "queries": [],
    }


def candidate_seeds(spec_index: int, count: int) -> list[int]:
    """The first ``count`` candidate seeds the authors draw for a family:
    ``default_rng(SeedSequence([0, spec_index])).integers(0, 2**32, uint32)``."""
    _check_int("spec_index", spec_index, 0, 10**6)
    _check_int("count", count, 0, 10**7)
    rng = np.random.default_rng(np.random.SeedSequence([0, spec_index]))
    return [int(rng.integers(0, 2**32, dtype=np.uint32)) for _ in range(count)]


@dataclass(frozen=True)
class PublishedInstance:
    """One row of the published effective-horizon table (their numbers)."""

    family: str
    seed: int
    depth: int
    actions: int
    h_monte_carlo: float
    kappa_prior: float
    kappa_g1: float
    j_prior: float
    j_g1: float
    j_star: float


@cache
def published_instances() -> tuple[PublishedInstance, ...]:
    """The 140 published effective-horizon instances, in their file's order."""
    text = (
        resources.files("coherence.experiments")
        .joinpath("data/effective_horizon_published.csv")
        .read_text(encoding="utf-8")
    )
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    rows: list[PublishedInstance] = []
    for rec in csv.DictReader(lines):
        rows.append(
            PublishedInstance(
                family=rec["spec_name"],
                seed=int(rec["seed"]),
                depth=int(rec["horizon"]),
                actions=int(rec["num_actions"]),
                h_monte_carlo=float(rec["H_hat"]),
                kappa_prior=float(rec["kappa_uniform"]),
                kappa_g1=float(rec["kappa_piG"]),
                j_prior=float(rec["J_uniform"]),
                j_g1=float(rec["J_piG"]),
                j_star=float(rec["J_star"]),
            )
        )
    return tuple(rows)
