"""Work limits of the exact path, checked before any exact work starts.

Exact rationals grow with every conditioning: on a stochastic MDP the numbers of
G_k have roughly b * k^T bits (b: the largest bit size among the case's numbers,
T: the horizon; measured: G_16 of a 4-state, horizon-4 MDP has 400,000-bit
numbers, G_8 at horizon 8 has 3.3 million and takes 12 s), cumulative folding
roughly doubles them with each k, and a Boltzmann map with 1/delta = n raises
them to the n-th power. A request such as T_alpha with alpha = 10^9, G_k with
k = 10^6 or Boltzmann delta = 10^-12 would run for hours or exhaust GMP's integer
size, so :func:`check_exact_limits` refuses it first, with a one-line error that
names the bound and suggests a float or certified backend.

Four bounds (:class:`ExactLimits`, defaults in :data:`EXACT_LIMITS`; stated in
docs/case-format.md, "Limits"):

* ``max_cells``: horizon x states x actions;
* ``max_work``: backward passes x horizon x (states x actions + successor
  entries), the count of elementary steps of the recurrences;
* ``max_bits``: the estimated size, in bits, of the largest number
  (:func:`estimated_bits_log2`);
* ``max_bit_work``: steps x estimated bits, the cost of the steps on numbers
  of that size (each step costs at least linear time in the size of its
  numbers: G_k on a deterministic MDP has numbers of about b*T*(k+1) bits, so
  its time grows as k^2; measured on a 2-state, horizon-2 MDP: k = 4000 takes
  6 s at 10^9 bit-steps, and G_8 of a 4-state, horizon-8 MDP 12 s at an
  estimated 10^10).

The backend ``auto`` also asks, before choosing the exact path, what it would
cost (:func:`exact_cost`): the elementary steps of ``max_work`` weighted by the
estimated size of the numbers, ``steps x (1 + bits / EXACT_STEP_BITS)``; and what
the certified path would cost (:func:`certified_cost`, ``steps x
CERTIFIED_STEP_COST``). Measured on the development machine
(``benchmarks/bench_auto.py``): one exact step on small numbers takes about 1-3
microseconds; a step on 1,000-bit numbers about twice that; a 128-bit ball step
about 1.5 times an exact one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from coherence.reference.model import MDP
from coherence.reference.operators import PolicySpec
from coherence.reference.recurrences import Argmax, Boltzmann, SoftQ

__all__ = [
    "CERTIFIED_STEP_COST",
    "EXACT_LIMITS",
    "EXACT_STEP_BITS",
    "FLOAT_LIMITS",
    "ExactLimitError",
    "ExactLimits",
    "FloatLimits",
    "backward_passes",
    "certified_cost",
    "check_engine_limits",
    "check_exact_limits",
    "check_float_limits",
    "elementary_steps",
    "estimated_bits_log2",
    "exact_cost",
    "exact_limit_problem",
]

_ADVICE = "use a float backend (--backend numpy) or a certified backend"


class ExactLimitError(ValueError):
    """An exact computation refused before it starts (the message names the
    bound)."""


@dataclass(frozen=True)
class ExactLimits:
    """Bounds of the exact path (see the module docstring)."""

    max_cells: int = 1_000_000
    max_work: int = 10_000_000
    max_bits: int = 1 << 22
    max_bit_work: int = 1 << 34


#: The limits the query layer applies.
EXACT_LIMITS = ExactLimits()


def backward_passes(spec: PolicySpec, f: SoftQ | None = None) -> int:
    """Soft backward passes needed for ``spec``'s policy and one quantity of it
    (SPEC §4: G_k, F_k and H_k take k, B_i takes i, T_alpha one)."""
    op = spec.operator
    if op in ("G", "F", "F_literal", "H", "H_literal", "RWR", "relabel"):
        passes = spec.k
    elif op == "B":
        passes = spec.i
    elif op == "T":
        passes = 1
    else:
        passes = 0
    return passes + 1 + (f is not None)


def _inverse_delta(f: SoftQ | None) -> int:
    """n = 1/delta for a Boltzmann map with integer 1/delta; 1 otherwise."""
    if isinstance(f, Boltzmann):
        inv = 1 / Fraction(f.delta)
        if inv.denominator == 1:
            return int(inv)
    return 1


def _integer_alpha(alpha: object) -> int | None:
    if isinstance(alpha, bool):
        return None
    if isinstance(alpha, int):
        return alpha
    if isinstance(alpha, Fraction) and alpha.denominator == 1:
        return int(alpha)
    return None


def estimated_bits_log2(mdp: MDP, spec: PolicySpec, f: SoftQ | None = None) -> float:
    """log2 of the estimated bit size of the largest exact number of ``spec``'s
    policy (and of the Boltzmann map ``f`` applied to it, for kappa).

    With b the MDP's :attr:`~coherence.reference.model.MDP.input_bits` and T its
    horizon, the estimates (upper envelopes of measured growth) are: prior b*T;
    T_alpha b*T*(alpha + 1); G_k, F_k, F_literal b*T*(k + 1) on deterministic
    MDPs and b*(k + 1)^T on stochastic ones; H_k, H_literal b*T*2^k
    (deterministic) and b*T*4^k (stochastic); B_i with Boltzmann 1/delta = n
    b*(T*n)^min(i, T), with argmax b*T; a Boltzmann ``f`` multiplies by n.
    """
    T = mdp.horizon
    b = max(mdp.input_bits, 1)
    log_b, log_t = math.log2(b), math.log2(T)
    op = spec.operator
    det = mdp.is_deterministic
    if op in ("G", "F", "F_literal", "RWR", "relabel"):
        k = spec.k
        grow = log_t + math.log2(k + 1) if det else T * math.log2(k + 1)
        grow = max(grow, log_t)
    elif op in ("H", "H_literal"):
        grow = log_t + spec.k * (1 if det else 2)
    elif op == "T":
        alpha = _integer_alpha(spec.alpha)
        grow = log_t + math.log2((alpha if alpha is not None else 0) + 1)
    elif op == "B":
        if isinstance(spec.f, Argmax):
            grow = log_t
        else:
            n = _inverse_delta(spec.f)
            grow = max(min(spec.i, T) * math.log2(T * n), log_t)
    else:
        grow = log_t
    return log_b + grow + math.log2(_inverse_delta(f))


def elementary_steps(mdp: MDP, spec: PolicySpec, f: SoftQ | None = None) -> int:
    """Backward passes x horizon x (states x actions + successor entries): the
    elementary steps of the recurrences for ``spec``'s policy and one quantity
    of it (``max_work`` bounds this)."""
    passes = backward_passes(spec, f)
    return passes * mdp.horizon * (mdp.n_states * mdp.n_actions + mdp.n_successors)


#: The estimated bit size at which one exact step costs twice a step on small
#: numbers (the per-step cost grows about linearly with the numbers' size).
EXACT_STEP_BITS = 1024
#: The cost of one step in 128-bit ball arithmetic, in small-number exact steps.
CERTIFIED_STEP_COST = 2.0


def exact_cost(mdp: MDP, spec: PolicySpec, f: SoftQ | None = None) -> float:
    """Estimated cost of the exact path for ``spec`` (and the soft-Q map ``f``),
    in exact steps on small numbers: :func:`elementary_steps` x (1 + estimated
    bits / :data:`EXACT_STEP_BITS`), the bits from :func:`estimated_bits_log2`;
    ``inf`` past float range."""
    steps = elementary_steps(mdp, spec, f)
    log_bits = estimated_bits_log2(mdp, spec, f)
    log_factor = (
        math.log2(1 + 2.0**log_bits / EXACT_STEP_BITS)
        if log_bits < 1000
        else log_bits - math.log2(EXACT_STEP_BITS)
    )
    log_cost = math.log2(steps) + log_factor if steps > 0 else -math.inf
    return 2.0**log_cost if log_cost < 1000 else math.inf


def certified_cost(mdp: MDP, spec: PolicySpec, f: SoftQ | None = None) -> float:
    """Estimated cost of the certified path (128-bit balls) for ``spec``, in the
    units of :func:`exact_cost`: :func:`elementary_steps` x
    :data:`CERTIFIED_STEP_COST`."""
    return elementary_steps(mdp, spec, f) * CERTIFIED_STEP_COST


def exact_limit_problem(
    mdp: MDP,
    spec: PolicySpec,
    *,
    f: SoftQ | None = None,
    limits: ExactLimits = EXACT_LIMITS,
) -> str | None:
    """The one-line reason why :func:`check_exact_limits` refuses ``spec`` on
    ``mdp`` (without the advice), or None when it is within ``limits``."""
    label = spec.label()
    T, S, A = mdp.horizon, mdp.n_states, mdp.n_actions
    cells = T * S * A
    if cells > limits.max_cells:
        return (
            f"exact path: {label} on horizon x states x actions = {T} x {S} x {A} "
            f"= {cells} cells exceeds max_cells = {limits.max_cells}"
        )
    passes = backward_passes(spec, f)
    work = elementary_steps(mdp, spec, f)
    if work > limits.max_work:
        return (
            f"exact path: {label} needs about {work:.3g} steps ({passes} backward "
            f"passes x horizon {T} x {S * A + mdp.n_successors} entries), over "
            f"max_work = {limits.max_work:.3g}"
        )
    log_bits = estimated_bits_log2(mdp, spec, f)
    if log_bits > math.log2(limits.max_bits):
        kind = "deterministic" if mdp.is_deterministic else "stochastic"
        extra = f" with boltzmann 1/delta = {_inverse_delta(f)}" if f else ""
        return (
            f"exact path: {label}{extra} on this {kind} MDP (horizon {T}, "
            f"{mdp.input_bits}-bit inputs) would create numbers of about "
            f"2^{log_bits:.1f} bits, over max_bits = 2^"
            f"{math.log2(limits.max_bits):.0f}"
        )
    log_bit_work = math.log2(max(work, 1)) + log_bits
    if log_bit_work > math.log2(limits.max_bit_work):
        return (
            f"exact path: {label} needs about {work:.3g} steps on numbers of about "
            f"2^{log_bits:.1f} bits, 2^{log_bit_work:.1f} bit-steps, over "
            f"max_bit_work = 2^{math.log2(limits.max_bit_work):.0f}"
        )
    return None


def check_exact_limits(
    mdp: MDP,
    spec: PolicySpec,
    *,
    f: SoftQ | None = None,
    limits: ExactLimits = EXACT_LIMITS,
) -> None:
    """Refuse, before any work, an exact computation of ``spec`` (and of the
    soft-Q map ``f``, for kappa) on ``mdp`` that exceeds ``limits``.

    Raises:
        ExactLimitError: one line naming the bound, the estimate and the limit,
            and suggesting a float or certified backend.
    """
    problem = exact_limit_problem(mdp, spec, f=f, limits=limits)
    if problem is not None:
        raise ExactLimitError(f"{problem}; {_ADVICE}")


@dataclass(frozen=True)
class FloatLimits:
    """Bounds of the float engines (numpy, torch): their arrays are vectorised
    over states and actions, but every backward pass steps through the horizon
    one step at a time (measured: about 250 microseconds per pass and step for
    numpy on a 2-state MDP, so G_10000 at horizon 2 takes 5 s).

    * ``max_steps``: backward passes x horizon;
    * ``max_work``: backward passes x horizon x (states x actions + successor
      entries), the elements the steps touch.
    """

    max_steps: int = 100_000
    max_work: int = 10_000_000_000


#: The limits the query layer applies to the float engines.
FLOAT_LIMITS = FloatLimits()


def check_float_limits(
    mdp: MDP,
    spec: PolicySpec,
    *,
    f: SoftQ | None = None,
    limits: FloatLimits = FLOAT_LIMITS,
) -> None:
    """Refuse, before any work, a float computation of ``spec`` (and ``f``) on
    ``mdp`` past ``limits``; a one-line :class:`ExactLimitError` naming the
    bound."""
    passes = backward_passes(spec, f)
    T = mdp.horizon
    steps = passes * T
    if steps > limits.max_steps:
        raise ExactLimitError(
            f"float engines: {spec.label()} needs {passes} backward passes x "
            f"horizon {T} = {steps:.3g} steps, over max_steps = "
            f"{limits.max_steps:.3g}; ask for a smaller k or i, or a shorter "
            "horizon"
        )
    work = steps * (mdp.n_states * mdp.n_actions + mdp.n_successors)
    if work > limits.max_work:
        raise ExactLimitError(
            f"float engines: {spec.label()} touches about {work:.3g} array "
            f"elements, over max_work = {limits.max_work:.3g}"
        )


#: The certified engine computes element by element like the exact one, on
#: balls of fixed precision: the exact limits' cells and steps, not its bits.
_CERTIFIED_LIMITS = ExactLimits(max_bits=1 << 1000, max_bit_work=1 << 1000)


def check_engine_limits(
    mdp: MDP, spec: PolicySpec, backend: str, *, f: SoftQ | None = None
) -> None:
    """The limits of the engine ``backend`` (a backend name, options after
    ':' allowed) for ``spec`` on ``mdp``: :func:`check_exact_limits` for
    ``exact``, the exact cells and steps for ``certified``, and
    :func:`check_float_limits` for every other engine."""
    kind = backend.split(":", 1)[0]
    if kind == "exact":
        check_exact_limits(mdp, spec, f=f)
    elif kind == "certified":
        try:
            check_exact_limits(mdp, spec, f=f, limits=_CERTIFIED_LIMITS)
        except ExactLimitError as exc:
            text = str(exc).replace("exact path:", "certified backend:", 1)
            text = text.split("; use ")[0]
            raise ExactLimitError(
                f"{text}; a float backend (--backend numpy) may go further"
            ) from None
    else:
        check_float_limits(mdp, spec, f=f)
