"""The operators of SPEC §4, composed once from an engine's primitives.

Every engine (exact rationals, float64 numpy, batched torch) provides the same
small set of primitives; the operators below are written against that protocol
only, so G_k, T_alpha, F, H, their literal forms and B_i mean the same thing in
every number system:

    G_0 = p,  G_k = cond(G_{k-1}, r)
    T_alpha = cond(p, alpha r)
    F_{k+1} = cond(p, R_k),   R_{k+1} = r + log F_{k+1} - log p     (R_0 = r)
    H_{k+1} = cond(p, R'_k),  R'_{k+1} = R'_k + log H_{k+1} - log p (R'_0 = r)
    literal forms: the same without "- log p"
    B_0 = p,  B_{i+1} = (B_i)^{Q,f}
    RWR_k = G_k (reward-weighted regression with the 0/1 success return)
    relabel_k[segments]: hindsight relabelling of a goal-conditioned case
        (eUDRL / GCSL / ODT, :mod:`coherence.reference.relabel`)
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Generic, Literal, Protocol, TypeVar

from coherence.reference.recurrences import Argmax, Boltzmann, SoftQ

__all__ = [
    "OPERATORS",
    "Engine",
    "PolicyCache",
    "PolicySpec",
    "cumulative_folding",
    "folding",
    "iterated_coherence",
    "policy_for",
    "relabel",
    "retrain",
    "temperature",
]

Pol = TypeVar("Pol")
Rew = TypeVar("Rew")
Val = TypeVar("Val")

OPERATORS = (
    "prior", "G", "T", "F", "F_literal", "H", "H_literal", "B", "maxent",
    "RWR", "relabel",
)  # fmt: skip
Operator = Literal[
    "prior", "G", "T", "F", "F_literal", "H", "H_literal", "B", "maxent",
    "RWR", "relabel",
]  # fmt: skip
#: Segment spaces of the relabelling operator (Štrupl et al.'s names).
SEGMENT_SPACES = ("all", "trailing", "diag")


class Engine(Protocol[Pol, Rew, Val]):
    """Primitives every engine provides (policies, rewards, soft values)."""

    def prior_policy(self) -> Pol:
        """The prior p at every step."""

    def base_reward(self) -> Rew:
        """The MDP's own reward (log rho, or rho in exact engines)."""

    def scale_reward(self, reward: Rew, alpha: Any) -> Rew:
        """alpha times the reward (rho^alpha), 0 * (-inf) = 0."""

    def soft_values(self, policy: Pol, reward: Rew) -> Val:
        """Soft values of the policy under the reward (SPEC §3 backward pass)."""

    def condition(self, base: Pol, values: Val) -> Pol:
        """cond(base, values): base reweighted by exp(Q - V) (SPEC §4)."""

    def fold(self, reward: Rew, policy: Pol, *, literal: bool) -> Rew:
        """The folded reward of F_k / H_k (SPEC §4)."""

    def soft_q_policy(self, values: Val, f: SoftQ) -> Pol:
        """The f-soft-Q policy of the values (SPEC §5)."""


def _check_count(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name}: expected a non-negative integer, got {value!r}")
    return value


def retrain(
    engine: Engine[Pol, Rew, Val],
    k: int,
    *,
    start: Pol | None = None,
    steps_done: int = 0,
) -> Pol:
    """G_k: k rounds of goal conditioning on the policy's own actions."""
    _check_count("k", k)
    reward = engine.base_reward()
    pi = engine.prior_policy() if start is None else start
    for _ in range(k - steps_done):
        pi = engine.condition(pi, engine.soft_values(pi, reward))
    return pi


def relabel(
    engine: Engine[Pol, Rew, Val],
    k: int,
    segments: str = "all",
    *,
    start: Pol | None = None,
) -> Pol:
    """relabel_k: k rounds of hindsight relabelling over ``segments``
    (all, trailing or diag) on a goal-conditioned case; relabel_0 = p.

    Needs the engine primitive ``relabel_step(policy, segments)``
    (:mod:`coherence.reference.relabel`); an engine without it, or an MDP
    without goals, is a one-line ValueError.
    """
    _check_count("k", k)
    if segments not in SEGMENT_SPACES:
        raise ValueError(
            f"segments: expected one of {', '.join(SEGMENT_SPACES)}, got {segments!r}"
        )
    step = getattr(engine, "relabel_step", None)
    if step is None:
        raise ValueError("operator: 'relabel' is not available on this engine")
    pi = engine.prior_policy() if start is None else start
    for _ in range(k):
        pi = step(pi, segments)
    return pi


def temperature(engine: Engine[Pol, Rew, Val], alpha: Any) -> Pol:
    """T_alpha = cond(p, alpha * r); T_0 = p."""
    prior = engine.prior_policy()
    reward = engine.scale_reward(engine.base_reward(), alpha)
    return engine.condition(prior, engine.soft_values(prior, reward))


def folding(engine: Engine[Pol, Rew, Val], k: int, *, literal: bool = False) -> Pol:
    """F_k (canonical) or the paper's literal F_k (no "- log p")."""
    _check_count("k", k)
    prior = engine.prior_policy()
    base = engine.base_reward()
    reward, pi = base, prior
    for _ in range(k):
        pi = engine.condition(prior, engine.soft_values(prior, reward))
        reward = engine.fold(base, pi, literal=literal)
    return pi


def cumulative_folding(
    engine: Engine[Pol, Rew, Val], k: int, *, literal: bool = False
) -> Pol:
    """H_k (canonical) or the paper's literal H_k."""
    _check_count("k", k)
    prior = engine.prior_policy()
    reward, pi = engine.base_reward(), prior
    for _ in range(k):
        pi = engine.condition(prior, engine.soft_values(prior, reward))
        reward = engine.fold(reward, pi, literal=literal)
    return pi


def iterated_coherence(
    engine: Engine[Pol, Rew, Val], i: int, f: SoftQ, *, start: Pol | None = None
) -> Pol:
    """B_i: i applications of the f-soft-Q map, from the prior by default."""
    _check_count("i", i)
    reward = engine.base_reward()
    pi = engine.prior_policy() if start is None else start
    for _ in range(i):
        pi = engine.soft_q_policy(engine.soft_values(pi, reward), f)
    return pi


@dataclass(frozen=True)
class PolicySpec:
    """A policy named by an operator and its parameter (CASE_FORMAT policy specs)."""

    operator: Operator
    k: int = 0
    alpha: Fraction | float = Fraction(0)
    i: int = 0
    f: SoftQ | None = None
    segments: str = "all"

    def __post_init__(self) -> None:
        if isinstance(self.alpha, int) and not isinstance(self.alpha, bool):
            # a plain integer alpha is the rational it names (T_2 is exact)
            object.__setattr__(self, "alpha", Fraction(self.alpha))
        if self.operator not in OPERATORS:
            raise ValueError(
                f"operator: unknown operator {self.operator!r}; expected "
                f"one of {', '.join(OPERATORS)}"
            )
        _check_count("k", self.k)
        _check_count("i", self.i)
        if not self.alpha >= 0:
            raise ValueError(f"alpha: must be >= 0, got {self.alpha!r}")
        if self.operator == "B" and self.f is None:
            raise ValueError("f: operator B needs f (boltzmann delta or argmax)")
        if self.segments not in SEGMENT_SPACES:
            raise ValueError(
                f"segments: expected one of {', '.join(SEGMENT_SPACES)}, "
                f"got {self.segments!r}"
            )

    @property
    def is_rational(self) -> bool:
        """Whether the policy is a rational function of the case's numbers."""
        if self.operator == "maxent":
            return False
        if self.operator == "T":
            return isinstance(self.alpha, Fraction) and self.alpha.denominator == 1
        if self.operator == "B":
            return f_is_rational(self.f)
        return True

    def label(self) -> str:
        """A short label such as G_3, T_1/2 or B_2[argmax]."""
        if self.operator in ("T", "maxent"):
            return f"{self.operator}_{self.alpha}"
        if self.operator == "B":
            return f"B_{self.i}[{f_label(self.f)}]"
        if self.operator == "prior":
            return "prior"
        if self.operator == "relabel":
            return f"relabel_{self.k}[{self.segments}]"
        return f"{self.operator}_{self.k}"


def f_is_rational(f: SoftQ | None) -> bool:
    """Argmax, or Boltzmann with 1/delta an integer."""
    if isinstance(f, Argmax):
        return True
    if isinstance(f, Boltzmann):
        inv = 1 / Fraction(f.delta) if isinstance(f.delta, Fraction) else None
        return inv is not None and inv.denominator == 1
    return False


def f_label(f: SoftQ | None) -> str:
    """A short label of a soft-Q map: 'boltzmann DELTA' or 'argmax'."""
    if isinstance(f, Boltzmann):
        return f"boltzmann {f.delta}"
    return "argmax"


class PolicyCache(Generic[Pol]):
    """Memoises policies of one engine; G_k and B_i continue from the longest
    cached prefix of their sequence."""

    def __init__(self, engine: Engine[Pol, Any, Any]) -> None:
        self.engine = engine
        self._store: dict[PolicySpec, Pol] = {}

    def get(self, spec: PolicySpec) -> Pol:
        """The policy named by spec, computed once."""
        if spec in self._store:
            return self._store[spec]
        pi = self._compute(spec)
        self._store[spec] = pi
        return pi

    def _longest(self, spec: PolicySpec, count: int) -> tuple[Pol | None, int]:
        best: tuple[Pol | None, int] = (None, 0)
        for key, value in self._store.items():
            if key.operator != spec.operator or key.f != spec.f:
                continue
            done = key.k if spec.operator == "G" else key.i
            if best[1] < done <= count:
                best = (value, done)
        return best

    def _compute(self, spec: PolicySpec) -> Pol:
        e = self.engine
        if spec.operator == "G":
            start, done = self._longest(spec, spec.k)
            return retrain(e, spec.k, start=start, steps_done=done)
        if spec.operator == "B":
            assert spec.f is not None  # checked in PolicySpec
            start, done = self._longest(spec, spec.i)
            return iterated_coherence(e, spec.i - done, spec.f, start=start)
        return policy_for(e, spec)


def policy_for(engine: Engine[Pol, Any, Any], spec: PolicySpec) -> Pol:
    """Evaluate a policy spec on an engine."""
    op = spec.operator
    if op == "prior":
        return engine.prior_policy()
    if op in ("G", "RWR"):
        return retrain(engine, spec.k)
    if op == "relabel":
        return relabel(engine, spec.k, spec.segments)
    if op == "T":
        return temperature(engine, spec.alpha)
    if op in ("F", "F_literal"):
        return folding(engine, spec.k, literal=op == "F_literal")
    if op in ("H", "H_literal"):
        return cumulative_folding(engine, spec.k, literal=op == "H_literal")
    if op == "B":
        assert spec.f is not None  # checked in PolicySpec
        return iterated_coherence(engine, spec.i, spec.f)
    maxent = getattr(engine, "maxent_policy", None)
    if maxent is None:
        raise ValueError(f"operator: {op!r} is not available on this engine")
    result: Pol = maxent(spec.alpha)
    return result
