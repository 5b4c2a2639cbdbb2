"""The certified engine: SPEC §3–§5 in ball arithmetic (python-flint ``arb``).

Every number is a ball [mid - rad, mid + rad] computed with FLINT/Arb's rigorous
error bounds at a chosen working precision (default :data:`DEFAULT_BITS`), so
every answer is an enclosure of the exact answer, logarithms and KL included.
The recurrences are the ones of :mod:`coherence.reference.recurrences`, run over
the number system :class:`ArbSystem`; the operators are the shared ones of
:mod:`coherence.reference.operators`.

SPEC §2's conventions need decisions a ball cannot always make. They are decided
exactly where the inputs allow:

* exact zeros stay exact: an input 0 is the exact ball 0, and sums and products
  of non-negative numbers are 0 exactly when a factor is, so "w = 0?",
  "p = 0?", "q = 0 < pi?" are decided by :meth:`flint.arb.is_zero` or by a ball
  that excludes 0;
* argmax ties: an action is out when another one is certainly larger; the
  remaining ones must be provably equal -- both balls exact and equal, or
  *twins* (the same exact success probability and the same exact successor
  distribution, so z_t(s, a) = z_t(s, b) under the MDP's own reward whatever the
  policy).

Where a ball straddles a decision the engine raises :class:`Undecided` (a
ValueError) naming the (t, s) and suggesting the exact backend or more bits; it
never guesses. Infinite answers (J_soft of a zero probability, a KL against a
zero) are the floats ``-inf`` / ``+inf``, which are exact.

Cost: the same O(T·S·A·S') operations per backward pass as the exact engine, but
each costs a fixed-size ball operation (about 0.1-0.3 us in python-flint)
instead of a rational whose denominator grows with every conditioning.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, TypeVar

from flint import arb, ctx, fmpq

from coherence.reference import recurrences as rec
from coherence.reference.model import MDP
from coherence.reference.recurrences import Argmax, ExactMDP, SoftQ, SoftValues

__all__ = [
    "DEFAULT_BITS",
    "MAX_BITS",
    "MIN_BITS",
    "ArbSystem",
    "CertifiedEngine",
    "CertifiedValues",
    "Enclosure",
    "Undecided",
    "bits_needed",
    "certified_value",
    "check_bits",
    "enclosure_of",
]

#: Working precision of ``certified`` without options.
DEFAULT_BITS = 128
#: Below float64's 53 bits an enclosure would be looser than the float engine.
MIN_BITS = 53
#: Largest working precision, 2^16 bits (about 19,700 decimal digits): each
#: ball operation costs at least linear time in the bits, so a precision such as
#: 10^8 would run without bound; past this the exact backend is the tool.
MAX_BITS = 1 << 16

Table = list[list[list[Any]]]
Reward = tuple[Table, list[Any]]
Number = Any  # an arb ball, or the exact floats -inf / +inf for infinite answers
F = TypeVar("F", bound=Callable[..., Any])

_EXACT_ADVICE = "use --backend exact (exact rationals) or more bits (certified:BITS)"


class Undecided(ValueError):
    """A SPEC §2 decision (a zero test, an argmax tie) that the balls cannot make."""


def check_bits(bits: object) -> int:
    """The working precision in bits: an integer >= :data:`MIN_BITS` (an integer
    string too, as in ``certified:256``); else a one-line ValueError."""
    value: object = bits
    if isinstance(bits, str):
        text = bits.strip()
        digits = text.removeprefix("+")
        if not (digits.isascii() and digits.isdigit() and len(digits) <= 12):
            raise ValueError(
                f"bits: certified:BITS needs an integer number of bits >= {MIN_BITS}, "
                f"got {bits!r}"
            )
        value = int(text)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(
            f"bits: expected an integer number of bits >= {MIN_BITS}, got {bits!r}"
        )
    if value < MIN_BITS:
        raise ValueError(
            f"bits: precision below float64's {MIN_BITS} bits is not supported, "
            f"got {value}"
        )
    if value > MAX_BITS:
        raise ValueError(
            f"bits: certified:BITS = {value} exceeds MAX_BITS = {MAX_BITS}; for "
            "more use --backend exact (exact rationals)"
        )
    return value


@contextmanager
def _precision(bits: int) -> Iterator[None]:
    """Run the block with python-flint's working precision set to ``bits``."""
    old = ctx.prec
    ctx.prec = bits
    try:
        yield
    finally:
        ctx.prec = old


def _to_arb(q: Fraction | int | float) -> arb:
    """The ball of an exact rational (a float is its exact binary value)."""
    f = Fraction(q)
    return arb(fmpq(f.numerator, f.denominator))


def _sign(x: arb) -> int:
    """1 or -1 when the ball excludes 0, 0 when it is exactly 0; else Undecided."""
    if x.is_zero():
        return 0
    if x > 0:
        return 1
    if x < 0:
        return -1
    raise Undecided(f"the enclosure {x.str(5)} contains 0 but is not exactly 0")


class ArbSystem:
    """The number system of :mod:`coherence.reference.recurrences` over arb
    balls. Arithmetic runs at python-flint's current precision (the engine sets
    it around every primitive)."""

    name = "arb"

    def const(self, q: Fraction) -> arb:
        """The ball of an exact rational (exact when its binary expansion fits)."""
        return _to_arb(q)

    def where_zero(self, x: arb, if_zero: arb, otherwise: Callable[[], arb]) -> arb:
        """``if_zero`` when x is exactly 0, ``otherwise()`` when the ball excludes
        0 (SPEC §2 conventions); :class:`Undecided` when it straddles 0."""
        return if_zero if _sign(x) == 0 else otherwise()

    def power(self, x: arb, exponent: Any) -> arb:
        """x ** exponent for x >= 0 and a real exponent >= 0, with 0 ** 0 = 1 and
        0 ** e = 0 for e > 0 (SPEC §2: rho^0 = 1); the exponent is taken as an
        exact rational (a float as its binary value) or an arb ball."""
        if isinstance(exponent, arb):
            e = exponent
            if e.is_zero():
                return arb(1)
        else:
            q = Fraction(exponent)
            if q == 0:
                return arb(1)
            if q < 0:
                raise ValueError(f"exponent: expected >= 0, got {q}")
            if _sign(x) == 0:
                return arb(0)
            if q.denominator == 1:
                return x ** int(q)
            e = _to_arb(q)
        if _sign(x) == 0:
            return arb(0)
        if not x > 0:
            raise Undecided(f"x ** e needs x >= 0, got {x.str(5)}")
        return x**e

    def argmax_mask(self, xs: Sequence[arb]) -> list[arb]:
        """1 for each maximiser of ``xs``, else 0: see :func:`_argmax_mask`
        (here without twins)."""
        return _argmax_mask(xs, list(range(len(xs))))


ARB = ArbSystem()


def _argmax_mask(xs: Sequence[arb], classes: Sequence[int]) -> list[arb]:
    """The maximisers of ``xs``: a is out when some b is certainly larger; the
    rest must be provably equal (exact and equal balls, or equal ``classes``,
    which mark twins); :class:`Undecided` naming two actions otherwise."""
    keep = [a for a, x in enumerate(xs) if not any(y > x for y in xs)]
    for i, a in enumerate(keep):
        for b in keep[i + 1 :]:
            if classes[a] == classes[b] or xs[a] == xs[b]:
                continue
            raise Undecided(
                f"actions {a} and {b} overlap ({xs[a].str(5)} vs {xs[b].str(5)}): "
                "neither provably equal nor ordered, so the argmax set is undecided"
            )
    return [arb(1) if a in keep else arb(0) for a in range(len(xs))]


@dataclass(frozen=True)
class CertifiedValues(SoftValues[Any]):
    """z and w as balls; ``base`` says they were computed under the MDP's own
    reward (where twin actions have provably equal z)."""

    base: bool = False


@dataclass(frozen=True)
class Enclosure:
    """A float answer's enclosure: the exact value lies in [mid - rad, mid + rad].

    ``mid`` and ``rad`` are exact rationals; :meth:`of` rounds an arb ball's
    midpoint to ``digits`` significant decimal digits and adds the rounding to
    the radius, so the decimal enclosure is still rigorous."""

    mid: Fraction
    rad: Fraction

    @classmethod
    def of(cls, x: arb, digits: int | None = 40) -> Enclosure:
        """The enclosure of a ball, with a decimal midpoint of ``digits``
        significant digits (None: the exact binary midpoint)."""
        man, exp = x.mid().man_exp()
        mid = Fraction(int(man)) * Fraction(2) ** int(exp)
        rman, rexp = x.rad().man_exp()
        rad = Fraction(int(rman)) * Fraction(2) ** int(rexp)
        if digits is None:
            return cls(mid, rad)
        short = _round_digits(mid, digits)
        return cls(short, rad + abs(mid - short))

    def contains(self, value: Fraction | float) -> bool:
        """Whether an exact value (a float as its binary value) lies inside."""
        if isinstance(value, float) and math.isinf(value):
            return False
        return abs(Fraction(value) - self.mid) <= self.rad

    def distance(self, value: float) -> float:
        """How far ``value`` lies outside the enclosure (0 inside); inf for inf."""
        if math.isinf(value) or math.isnan(value):
            return math.inf
        gap = abs(Fraction(value) - self.mid) - self.rad
        return float(max(gap, Fraction(0)))

    def to_json(self) -> dict[str, str]:
        """``{"mid": decimal string, "rad": decimal string}`` (read exactly)."""
        return {"mid": _decimal(self.mid, 40), "rad": _decimal_up(self.rad)}


def _round_digits(q: Fraction, digits: int) -> Fraction:
    """q rounded to ``digits`` significant decimal digits (0 stays 0)."""
    if q == 0:
        return q
    e = math.floor(math.log10(abs(float(q)))) if abs(q) < 1e300 else 300
    scale = Fraction(10) ** (digits - 1 - e)
    return Fraction(round(q * scale)) / scale


def _decimal(q: Fraction, digits: int) -> str:
    """An exact decimal string of a rational with a terminating expansion of at
    most ``digits`` significant digits (as produced by :func:`_round_digits`)."""
    if q == 0:
        return "0"
    sign = "-" if q < 0 else ""
    q = abs(q)
    e = math.floor(math.log10(float(q)))
    n = q * Fraction(10) ** (digits - 1 - e)
    if n.denominator != 1:
        n = Fraction(round(n))
    return f"{sign}{int(n)}e{e - digits + 1}"


def _decimal_up(q: Fraction) -> str:
    """A short decimal string >= q >= 0 (3 significant digits, rounded up)."""
    if q == 0:
        return "0"
    e = math.floor(math.log10(float(q)))
    n = math.ceil(q * Fraction(10) ** (2 - e))
    return f"{n}e{e - 2}"


def bits_needed(x: arb, rel: float, abs_: float, bits: int) -> int:
    """About how many bits of working precision make the radius of ``x``
    (computed at ``bits``) at most max(abs_, rel |x|) / 4: the bits lost so far
    plus the bits the tolerance asks for, rounded up to a multiple of 64."""
    rad = float(x.rad())
    if rad == 0.0:
        return bits
    mid = abs(float(x.mid()))
    tol = max(abs_, rel * mid) / 4
    if tol <= 0:
        return bits
    lost = bits - math.log2(max(mid, tol) / rad) if mid > 0 else bits
    wanted = math.log2(max(mid, tol) / tol)
    need = max(bits, math.ceil(lost + wanted))
    return -(-need // 64) * 64


def enclosure_of(raw: Any) -> Any:
    """A raw certified answer as :class:`Enclosure` leaves (same nesting); an
    exact float (+-inf) stays a float."""
    if isinstance(raw, list):
        return [enclosure_of(x) for x in raw]
    if isinstance(raw, arb):
        return Enclosure.of(raw)
    return raw


def certified_value(
    evaluator: Any,
    name: str,
    spec: Any,
    *,
    f: SoftQ | None = None,
    reference: Any = None,
    backend: str | None = None,
) -> Any:
    """The raw ball answer (nested lists of arb, an arb, or +-inf) of quantity
    ``name`` for the policy ``spec`` on a certified backend, through the
    policies cached by ``evaluator`` (a :class:`coherence.queries.Evaluator`);
    the query layer itself returns only the midpoints of float answers.
    ``backend``: a ``certified[:BITS]`` name (default: the evaluator's)."""
    from coherence.reference.quantities import quantity

    backend = evaluator.backend if backend is None else backend
    if backend.split(":", 1)[0] != "certified":
        raise ValueError(f"backend: enclosures come from certified, got {backend!r}")
    row = quantity(name)
    engine = evaluator.engine(backend)
    extra: list[Any] = []
    for param in row.parameters:
        extra.append(f if param == "f" else evaluator.policy(reference, backend))
    return getattr(engine, row.primitive)(evaluator.policy(spec, backend), *extra)


def _at_precision(method: F) -> F:
    """Run an engine method at the engine's precision."""

    def wrapped(self: CertifiedEngine, *args: Any, **kwargs: Any) -> Any:
        with _precision(self.bits):
            return method(self, *args, **kwargs)

    wrapped.__name__ = method.__name__
    wrapped.__doc__ = method.__doc__
    return wrapped  # type: ignore[return-value]


def _log(x: arb) -> Number:
    """log x for x >= 0: -inf (exact) at an exact 0, Undecided on a ball that
    straddles 0."""
    if _sign(x) == 0:
        return -math.inf
    return x.log()


class CertifiedEngine:
    """Ball-arithmetic engine for one MDP (policies are nested lists ``[t][s][a]``
    of arb balls; rewards are success probabilities rho, as in the exact engine)."""

    name = "certified"

    def __init__(self, mdp: MDP, bits: int = DEFAULT_BITS) -> None:
        """``mdp``: a validated :class:`MDP`; ``bits``: the working precision
        (an integer >= :data:`MIN_BITS`)."""
        self.bits = check_bits(bits)
        self.mdp = mdp
        with _precision(self.bits):
            self.m: ExactMDP[Any] = rec.lift(mdp, ARB)
        self.ns = ARB
        T, S, A = mdp.horizon, mdp.n_states, mdp.n_actions
        self._twins = [
            [
                _classes(
                    [(mdp.success[t][s][a], mdp.transitions[s][a]) for a in range(A)]
                )
                for s in range(S)
            ]
            for t in range(T)
        ]

    def _where(self, t: int, s: int) -> str:
        """(t, s) with the state's name, for errors."""
        return f"(t={t}, s={s} {self.mdp.states[s]!r})"

    def _undecided(self, what: str, t: int, s: int, exc: Undecided) -> Undecided:
        return Undecided(
            f"certified: {what} at {self._where(t, s)} is undecided at {self.bits} "
            f"bits: {exc}; {_EXACT_ADVICE}"
        )

    # ---------------------------------------------------------- primitives
    def prior_policy(self) -> Table:
        """The prior p broadcast over t (SPEC §1)."""
        return self.m.prior_policy()

    def base_reward(self) -> Reward:
        """(rho_t(s, a), rho_T(s)): the MDP's success probabilities."""
        return self.m.rho, self.m.rho_T

    @_at_precision
    def scale_reward(self, reward: Reward, alpha: Any) -> Reward:
        """rho^alpha (SPEC §4 T_alpha; 0^0 = 1), alpha an exact rational."""
        a = Fraction(alpha)
        if a < 0:
            raise ValueError(f"alpha: must be >= 0, got {alpha!r}")
        return rec.scale_reward(self.m, reward[0], reward[1], a)

    @_at_precision
    def soft_values(self, policy: Table, reward: Reward) -> CertifiedValues:
        """z and w of ``policy`` under ``reward`` (SPEC §3 backward pass)."""
        v = rec.soft_values(self.m, policy, reward[0], reward[1])
        base = reward[0] is self.m.rho and reward[1] is self.m.rho_T
        return CertifiedValues(z=v.z, w=v.w, base=base)

    @_at_precision
    def condition(self, base: Table, values: SoftValues[Any]) -> Table:
        """cond(base, r): base * z / w, base where w = 0 exactly (SPEC §2, §4);
        :class:`Undecided` where the ball of w straddles 0."""
        for t in range(len(base)):
            for s, w in enumerate(values.w[t]):
                try:
                    _sign(w)
                except Undecided as exc:
                    raise self._undecided("w = 0?", t, s, exc) from None
        return rec.condition(self.m, base, values)

    @_at_precision
    def fold(self, reward: Reward, policy: Table, *, literal: bool) -> Reward:
        """The folded reward of F_k / H_k (SPEC §4), canonical or literal."""
        return rec.fold_reward(self.m, reward[0], policy, literal=literal), reward[1]

    @_at_precision
    def soft_q_policy(self, values: SoftValues[Any], f: SoftQ) -> Table:
        """The f-soft-Q policy (SPEC §5): uniform over the provable argmax of z,
        or proportional to z^(1/delta) with 1/delta taken exactly."""
        twins = isinstance(values, CertifiedValues) and values.base
        inv = None if isinstance(f, Argmax) else 1 / Fraction(f.delta)
        out: Table = []
        for t, z_t in enumerate(values.z):
            rows: list[list[Any]] = []
            for s, row in enumerate(z_t):
                try:
                    if inv is None:
                        classes = self._twins[t][s] if twins else list(range(len(row)))
                        weights = _argmax_mask(row, classes)
                    else:
                        weights = [ARB.power(x, inv) for x in row]
                    rows.append(rec.normalise(ARB, weights))
                except Undecided as exc:
                    what = "argmax" if inv is None else "z^(1/delta)"
                    raise self._undecided(what, t, s, exc) from None
            out.append(rows)
        return out

    @_at_precision
    def relabel_step(self, policy: Table, segments: str) -> Table:
        """One round of hindsight relabelling in balls (SPEC §4,
        :mod:`coherence.reference.relabel`); exact zeros decide the conventions,
        :class:`Undecided` where a ball straddles 0."""
        from coherence.reference.relabel import command_of, relabel_step_exact

        cmd = command_of(self.mdp)
        try:
            return relabel_step_exact(self.m, cmd, policy, segments)
        except Undecided as exc:
            raise Undecided(
                f"certified: relabelling is undecided at {self.bits} bits: {exc}; "
                f"{_EXACT_ADVICE}"
            ) from None

    @_at_precision
    def maxent_policy(self, alpha: Any) -> Table:
        """Entropy-regularised optimum (SPEC §4), the expectation backup of
        :meth:`NumpyEngine.maxent_backup
        <coherence.reference.numpy_engine.NumpyEngine.maxent_backup>` in balls:
        Qt = log rho + E_{s'} Vt(s'), Vt = (1/alpha) log sum_a p exp(alpha Qt),
        Vt_T = log rho_T; pi proportional to p exp(alpha Qt), the prior where
        every term vanishes, and the prior at alpha = 0. -inf is exact (None)."""
        a = Fraction(alpha)
        if a < 0:
            raise ValueError(f"alpha: must be >= 0, got {alpha!r}")
        m = self.m
        if a == 0:
            return m.prior_policy()
        al = _to_arb(a)
        T, S, A = m.horizon, m.n_states, m.n_actions
        V: list[arb | None] = [None if _sign(x) == 0 else x.log() for x in m.rho_T]
        out: Table = [[] for _ in range(T)]
        for t in range(T - 1, -1, -1):
            nxt: list[arb | None] = []
            rows: list[list[Any]] = []
            for s in range(S):
                weights: list[arb] = []
                for act in range(A):
                    q = self._maxent_q(t, s, act, V)
                    p = m.prior[s][act]
                    if q is None or _sign(p) == 0:
                        weights.append(arb(0))
                    else:
                        weights.append(p * (al * q).exp())
                total = sum(weights, arb(0))
                if _sign(total) == 0:
                    rows.append(list(m.prior[s]))
                    nxt.append(None)
                else:
                    rows.append([x / total for x in weights])
                    nxt.append(total.log() / al)
            out[t] = rows
            V = nxt
        return out

    def _maxent_q(self, t: int, s: int, a: int, V: list[arb | None]) -> arb | None:
        """Qt_t(s, a) of :meth:`maxent_policy`, None for -inf."""
        rho = self.m.rho[t][s][a]
        if _sign(rho) == 0:
            return None
        acc = arb(0)
        for j, p in self.m.successors[s][a]:
            v = V[j]
            if v is None:
                return None  # a successor with probability > 0 is dead
            acc += p * v
        result: arb = rho.log() + acc
        return result

    # ---------------------------------------------------------- quantities
    def check_policy(self, policy: Table) -> Table:
        """``policy`` unchanged when it is a ``[t][s][a]`` table of shape
        (T, S, A) of balls, none certainly negative, each row's sum containing 1;
        else a one-line ValueError naming the expected shape or the bad row."""
        T, S, A = self.m.horizon, self.m.n_states, self.m.n_actions
        shape_ok = (
            isinstance(policy, list)
            and len(policy) == T
            and all(isinstance(pt, list) and len(pt) == S for pt in policy)
            and all(
                isinstance(row, list) and len(row) == A for pt in policy for row in pt
            )
        )
        if not shape_ok:
            raise ValueError(
                f"policy: expected a [t][s][a] table of shape (T, S, A) = "
                f"({T}, {S}, {A})"
            )
        with _precision(self.bits):
            for t, pt in enumerate(policy):
                for s, row in enumerate(pt):
                    if not all(isinstance(x, arb) for x in row):
                        raise ValueError(
                            f"policy: row (t={t}, s={s}) is not a row of arb balls"
                        )
                    total = sum(row, arb(0))
                    if any(x < 0 for x in row) or not total.contains(1):
                        raise ValueError(
                            f"policy: row (t={t}, s={s}) is not a distribution: "
                            f"sum {total.str(5)}"
                        )
        return policy

    def values(self, policy: Table) -> CertifiedValues:
        """z, w of ``policy`` under the MDP's own reward (SPEC §3)."""
        return self.soft_values(self.check_policy(policy), self.base_reward())

    @_at_precision
    def occupancy(self, policy: Table) -> list[list[Any]]:
        """d_t(s) = P(s_t = s), t = 0..T (SPEC §3)."""
        return rec.occupancy(self.m, self.check_policy(policy))

    @_at_precision
    def j_prob(self, policy: Table) -> Any:
        """J_prob = sum_s mu(s) w_0(s) (SPEC §3)."""
        return rec.j_prob(self.m, self.values(policy))

    @_at_precision
    def j_count(self, policy: Table) -> Any:
        """J_count = E[sum_t rho_t + rho_T] (SPEC §3)."""
        return rec.j_count(self.m, policy, self.occupancy(policy))

    @_at_precision
    def j_soft(self, policy: Table) -> Number:
        """J_soft = log J_prob (SPEC §3); -inf exactly when J_prob = 0."""
        total = self.j_prob(policy)
        try:
            return _log(total)
        except Undecided as exc:
            raise Undecided(f"certified: J_soft: {exc}; {_EXACT_ADVICE}") from None

    @_at_precision
    def j_sum(self, policy: Table) -> Number:
        """E[sum_t r_t + r_T]; a zero-probability term contributes 0 and a
        reachable log 0 makes it -inf (SPEC §2)."""
        d = self.occupancy(policy)
        m = self.m
        total = arb(0)
        T = m.horizon
        cells = [
            (t, s, d[t][s] * pa, m.rho[t][s][a])
            for t in range(T)
            for s in range(m.n_states)
            for a, pa in enumerate(policy[t][s])
        ]
        cells += [(T, s, d[T][s], m.rho_T[s]) for s in range(m.n_states)]
        dead = False
        for t, s, weight, rho in cells:
            try:
                if _sign(weight) == 0:
                    continue
                if _sign(rho) == 0:
                    dead = True
                    continue
            except Undecided as exc:
                raise self._undecided("J_sum term", t, s, exc) from None
            total += weight * rho.log()
        return -math.inf if dead else total

    @_at_precision
    def causal_entropy(self, policy: Table) -> Number:
        """sum_t E_{d_t} H(pi_t(.|s)) in nats (SPEC §3; 0 log 0 = 0)."""
        d = self.occupancy(policy)
        total = arb(0)
        for t in range(self.m.horizon):
            for s in range(self.m.n_states):
                for pa in policy[t][s]:
                    try:
                        if _sign(d[t][s]) == 0 or _sign(pa) == 0:
                            continue
                    except Undecided as exc:
                        raise self._undecided("0 log 0", t, s, exc) from None
                    total -= d[t][s] * pa * pa.log()
        return total

    @_at_precision
    def causal_kl(self, policy: Table, other: Table) -> Number:
        """KL_c(pi || q) = sum_t E_{s~d_t^pi} KL(pi_t(.|s) || q_t(.|s)); +inf
        when q = 0 < pi at a reachable state (SPEC §3)."""
        self.check_policy(other)
        d = self.occupancy(policy)
        total = arb(0)
        for t in range(self.m.horizon):
            for s in range(self.m.n_states):
                for pa, qa in zip(policy[t][s], other[t][s], strict=True):
                    try:
                        weight = d[t][s] * pa
                        if _sign(weight) == 0:
                            continue
                        if _sign(qa) == 0:
                            return math.inf
                    except Undecided as exc:
                        raise self._undecided("q = 0 < pi?", t, s, exc) from None
                    total += weight * (pa.log() - qa.log())
        return total

    @_at_precision
    def kappa(self, policy: Table, f: SoftQ) -> Number:
        """kappa_f(pi) = KL_c(pi || pi^{Q,f}) (SPEC §5)."""
        return self.causal_kl(policy, self.soft_q_policy(self.values(policy), f))

    # ---------------------------------------------------- tables for answers
    def policy_table(self, policy: Table) -> Table:
        """pi_t(a|s) itself (SPEC §3)."""
        return self.check_policy(policy)

    def z_table(self, policy: Table) -> Table:
        """z_t(s, a) = P(O_{t:T} = 1 | s, a) (SPEC §3)."""
        return self.values(policy).z

    def w_table(self, policy: Table) -> list[list[Any]]:
        """w_t(s) = P(O_{t:T} = 1 | s), t = 0..T (SPEC §3)."""
        return self.values(policy).w


def _classes(keys: Sequence[object]) -> list[int]:
    """Class index of each key: equal keys (exact rationals) share a class."""
    seen: dict[object, int] = {}
    return [seen.setdefault(k, len(seen)) for k in keys]


def make_engine(mdp: MDP, options: tuple[str, ...]) -> CertifiedEngine:
    """Registry factory: ``certified`` or ``certified:BITS``."""
    if len(options) > 1:
        raise ValueError(
            f"backend: certified takes one option BITS, got {':'.join(options)!r}"
        )
    if not isinstance(mdp, MDP):
        raise TypeError(f"mdp: expected a coherence MDP, got {type(mdp).__name__}")
    return CertifiedEngine(mdp, check_bits(options[0]) if options else DEFAULT_BITS)
