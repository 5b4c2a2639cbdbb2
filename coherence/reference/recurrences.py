"""The exact recurrences of SPEC §3–§4, written once, generic over a number system.

Everything here works in the success-probability (rho) domain, where rewards are
multiplicative weights rho = exp r and values are probabilities (or, under a
derived reward, non-negative weights):

    w_T(s)   = rho_T(s)
    z_t(s,a) = rho_t(s,a) * sum_{s'} P(s'|s,a) w_{t+1}(s')          (= exp Q_t)
    w_t(s)   = sum_a pi_t(a|s) z_t(s,a)                             (= exp V_t)

    cond(base)_t(a|s) = base_t(a|s) z_t(s,a) / w_t(s)   (base where w_t(s) = 0)

The same code runs over

* exact rationals (:data:`FRACTION`, :data:`MPQ`) -- the reference oracle;
* sympy expressions (``coherence.theory``) -- closed forms;
* z3 reals (``coherence.proofs``) -- proof obligations.

A number system supplies only what the recurrences cannot express with ``+``,
``*`` and ``/``: constants, the zero test of SPEC §2's conventions
(:meth:`NumberSystem.where_zero`), powers (temperature, Boltzmann) and the
maximiser mask for argmax policies. Logarithms stay outside: float quantities of
exact results are computed in :mod:`coherence.reference.exact`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Generic, Protocol, TypeVar

import gmpy2

__all__ = [
    "FRACTION",
    "MPQ",
    "Argmax",
    "Boltzmann",
    "ExactMDP",
    "NumberSystem",
    "RationalSystem",
    "SoftQ",
    "SoftValues",
    "condition",
    "fold_reward",
    "j_count",
    "j_prob",
    "lift",
    "normalise",
    "occupancy",
    "scale_reward",
    "soft_q_policy",
    "soft_values",
]

N = TypeVar("N")
Table = list[list[list[N]]]  # [t][s][a]


class NumberSystem(Protocol[N]):
    """The few operations the recurrences need beyond ``+ - * /``."""

    name: str

    def const(self, q: Fraction) -> N:
        """Embed an exact rational."""
        ...

    def where_zero(self, x: N, if_zero: N, otherwise: Callable[[], N]) -> N:
        """``if_zero`` when ``x == 0`` else ``otherwise()`` (SPEC §2 conventions).

        ``otherwise`` is a thunk so that exact systems never divide by zero;
        symbolic systems may build both branches.
        """
        ...

    def power(self, x: N, exponent: Any) -> N:
        """``x ** exponent`` with ``0 ** 0 = 1`` (SPEC §2: rho^0 = 1)."""
        ...

    def argmax_mask(self, xs: Sequence[N]) -> list[N]:
        """1 for each maximiser of ``xs`` (exact comparison), else 0."""
        ...


class RationalSystem(Generic[N]):
    """Exact rationals through a rational type (``Fraction`` or ``gmpy2.mpq``)."""

    def __init__(self, name: str, make: Callable[[int, int], N]) -> None:
        self.name = name
        self._make = make

    def const(self, q: Fraction) -> N:
        """Embed an exact rational."""
        return self._make(q.numerator, q.denominator)

    def where_zero(self, x: N, if_zero: N, otherwise: Callable[[], N]) -> N:
        """if_zero when x == 0 else otherwise() (exact comparison)."""
        return if_zero if x == 0 else otherwise()

    def power(self, x: N, exponent: Any) -> N:
        """x ** exponent for an integer exponent, 0 ** 0 = 1."""
        e = Fraction(exponent)
        if e.denominator != 1:
            raise ValueError(f"exponent: exact arithmetic needs an integer, got {e}")
        if e == 0:
            return self._make(1, 1)
        result: N = x ** int(e)  # type: ignore[operator]
        return result

    def argmax_mask(self, xs: Sequence[N]) -> list[N]:
        """1 for each maximiser of xs (exact comparison), else 0."""
        top = max(xs)  # type: ignore[type-var]
        one, zero = self._make(1, 1), self._make(0, 1)
        return [one if x == top else zero for x in xs]


FRACTION: RationalSystem[Fraction] = RationalSystem("fraction", Fraction)
MPQ: RationalSystem[Any] = RationalSystem("mpq", gmpy2.mpq)


@dataclass(frozen=True)
class Boltzmann:
    """Boltzmann f-soft-Q policy, pi proportional to exp(Q / delta) (no prior)."""

    delta: Any

    def __post_init__(self) -> None:
        if isinstance(self.delta, (int, float, Fraction)) and not self.delta > 0:
            raise ValueError(f"delta: must be > 0, got {self.delta!r}")


@dataclass(frozen=True)
class Argmax:
    """Uniform over the maximisers of Q."""


SoftQ = Boltzmann | Argmax


@dataclass(frozen=True)
class ExactMDP(Generic[N]):
    """An MDP whose numbers live in a number system ``ns``.

    ``successors[s][a]`` lists ``(s', P(s'|s,a))``; ``rho[t][s][a]``,
    ``rho_T[s]``, ``initial[s]``, ``prior[s][a]`` as in SPEC §2.
    """

    ns: NumberSystem[N]
    successors: list[list[list[tuple[int, N]]]]
    rho: Table[N]
    rho_T: list[N]
    initial: list[N]
    prior: list[list[N]]

    @property
    def horizon(self) -> int:
        """T, the horizon."""
        return len(self.rho)

    @property
    def n_states(self) -> int:
        """S, the number of states."""
        return len(self.successors)

    @property
    def n_actions(self) -> int:
        """A, the number of actions."""
        return len(self.prior[0])

    def prior_policy(self) -> Table[N]:
        """The prior broadcast over t = 0..T-1."""
        return [[list(row) for row in self.prior] for _ in range(self.horizon)]


def lift(mdp: Any, ns: NumberSystem[N]) -> ExactMDP[N]:
    """An :class:`~coherence.reference.model.MDP` in the number system ``ns``."""
    c = ns.const
    return ExactMDP(
        ns=ns,
        successors=[
            [[(j, c(p)) for j, p in row] for row in rows] for rows in mdp.transitions
        ],
        rho=[[[c(q) for q in row] for row in table] for table in mdp.success],
        rho_T=[c(q) for q in mdp.terminal_success],
        initial=[c(q) for q in mdp.initial],
        prior=[[c(q) for q in row] for row in mdp.prior],
    )


@dataclass(frozen=True)
class SoftValues(Generic[N]):
    """z[t][s][a] = exp Q_t(s,a) (t < T) and w[t][s] = exp V_t(s) (t <= T)."""

    z: Table[N]
    w: list[list[N]]


def soft_values(
    m: ExactMDP[N], policy: Table[N], rho: Table[N], rho_T: Sequence[N]
) -> SoftValues[N]:
    """Soft backward pass of ``policy`` under weights ``rho`` (SPEC §3)."""
    T, S, A = m.horizon, m.n_states, m.n_actions
    zero = m.ns.const(Fraction(0))
    w: list[list[N]] = [[] for _ in range(T + 1)]
    w[T] = list(rho_T)
    z: Table[N] = [[] for _ in range(T)]
    for t in range(T - 1, -1, -1):
        nxt = w[t + 1]
        z_t: list[list[N]] = []
        w_t: list[N] = []
        for s in range(S):
            row: list[N] = []
            acc = zero
            for a in range(A):
                expect = zero
                for j, p in m.successors[s][a]:
                    expect = expect + p * nxt[j]  # type: ignore[operator]
                value = rho[t][s][a] * expect  # type: ignore[operator]
                row.append(value)
                acc = acc + policy[t][s][a] * value
            z_t.append(row)
            w_t.append(acc)
        z[t] = z_t
        w[t] = w_t
    return SoftValues(z=z, w=w)


def condition(m: ExactMDP[N], base: Table[N], values: SoftValues[N]) -> Table[N]:
    """cond(base)_t(a|s) = base z / w, or base where w = 0 (SPEC §2, §4)."""
    ns = m.ns
    out: Table[N] = []
    for t, table in enumerate(base):
        rows: list[list[N]] = []
        for s, row in enumerate(table):
            w = values.w[t][s]
            z = values.z[t][s]
            rows.append(
                [
                    ns.where_zero(w, b, lambda b=b, za=za, w=w: b * za / w)  # type: ignore[misc]
                    for b, za in zip(row, z, strict=True)
                ]
            )
        out.append(rows)
    return out


def normalise(ns: NumberSystem[N], weights: Sequence[N]) -> list[N]:
    """weights / sum(weights); uniform when the sum is 0 (SPEC §2: a softmax of
    all -inf is uniform)."""
    total = ns.const(Fraction(0))
    for x in weights:
        total = total + x  # type: ignore[operator]
    uniform = ns.const(Fraction(1, len(weights)))
    return [
        ns.where_zero(total, uniform, lambda x=x: x / total)  # type: ignore[misc]
        for x in weights
    ]


def soft_q_policy(m: ExactMDP[N], values: SoftValues[N], f: SoftQ) -> Table[N]:
    """pi^{Q,f}: proportional to z^(1/delta) (Boltzmann) or uniform over argmax z.

    exp(Q/delta) = z^(1/delta); z is monotone in Q so argmax is taken on z.
    """
    ns = m.ns
    out: Table[N] = []
    for z_t in values.z:
        rows: list[list[N]] = []
        for row in z_t:
            if isinstance(f, Argmax):
                weights = ns.argmax_mask(row)
            else:
                inv = 1 / f.delta
                weights = [ns.power(x, inv) for x in row]
            rows.append(normalise(ns, weights))
        out.append(rows)
    return out


def scale_reward(
    m: ExactMDP[N], rho: Table[N], rho_T: Sequence[N], alpha: Any
) -> tuple[Table[N], list[N]]:
    """alpha * r, i.e. rho^alpha, terminal included (SPEC §2: rho^0 = 1)."""
    p = m.ns.power
    return (
        [[[p(x, alpha) for x in row] for row in table] for table in rho],
        [p(x, alpha) for x in rho_T],
    )


def fold_reward(
    m: ExactMDP[N], rho_base: Table[N], policy: Table[N], *, literal: bool
) -> Table[N]:
    """Folding update in the rho domain (SPEC §4).

    canonical: rho'_t(s,a) = rho_base * pi_t(a|s) / p(a|s), and 0 where p = 0
               (log F - log p = -inf there, SPEC §2);
    literal:   rho'_t(s,a) = rho_base * pi_t(a|s).
    """
    ns = m.ns
    zero = ns.const(Fraction(0))
    out: Table[N] = []
    for t, table in enumerate(rho_base):
        rows: list[list[N]] = []
        for s, row in enumerate(table):
            new_row: list[N] = []
            for a, x in enumerate(row):
                pi = policy[t][s][a]
                if literal:
                    new_row.append(x * pi)  # type: ignore[operator]
                else:
                    p = m.prior[s][a]

                    def ratio(x: N = x, pi: N = pi, p: N = p) -> N:
                        return x * pi / p  # type: ignore[operator,no-any-return]

                    new_row.append(ns.where_zero(p, zero, ratio))
            rows.append(new_row)
        out.append(rows)
    return out


def occupancy(m: ExactMDP[N], policy: Table[N]) -> list[list[N]]:
    """d_0 = mu; d_{t+1}(s') = sum_{s,a} d_t(s) pi_t(a|s) P(s'|s,a) (SPEC §3)."""
    zero = m.ns.const(Fraction(0))
    d: list[list[N]] = [list(m.initial)]
    for t in range(m.horizon):
        nxt = [zero] * m.n_states
        for s, ds in enumerate(d[t]):
            for a, pa in enumerate(policy[t][s]):
                mass = ds * pa  # type: ignore[operator]
                for j, p in m.successors[s][a]:
                    nxt[j] = nxt[j] + mass * p
        d.append(nxt)
    return d


def j_prob(m: ExactMDP[N], values: SoftValues[N]) -> N:
    """J_prob = sum_s mu(s) w_0(s)."""
    total = m.ns.const(Fraction(0))
    for mu, w in zip(m.initial, values.w[0], strict=True):
        total = total + mu * w  # type: ignore[operator]
    return total


def j_count(m: ExactMDP[N], policy: Table[N], d: list[list[N]]) -> N:
    """J_count = sum_t E_{d_t, pi_t}[rho_t] + E_{d_T}[rho_T] (SPEC §3)."""
    total = m.ns.const(Fraction(0))
    for t in range(m.horizon):
        for s in range(m.n_states):
            for a in range(m.n_actions):
                total = total + d[t][s] * policy[t][s][a] * m.rho[t][s][a]  # type: ignore[operator]
    for s in range(m.n_states):
        total = total + d[m.horizon][s] * m.rho_T[s]  # type: ignore[operator]
    return total
