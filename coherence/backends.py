"""One registry of engines: the conformance runner, the tests and the CLI all
look backends up here, so adding an engine adds it everywhere at once.

A backend name may carry options after a colon, e.g. ``torch:float32``.
Every engine answers the same query protocol (:class:`QueryEngine`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from coherence._extras import EXTRAS, missing_extra
from coherence.reference import limits
from coherence.reference.model import MDP
from coherence.reference.operators import PolicySpec, f_is_rational
from coherence.reference.recurrences import SoftQ

__all__ = [
    "AUTO_MAX_COST",
    "AUTO_MAX_DENOMINATOR",
    "AutoChoice",
    "BackendInfo",
    "QueryEngine",
    "auto_backend",
    "auto_choice",
    "create",
    "describe",
    "exact_is_fast",
    "names",
    "needs",
    "register",
]


class QueryEngine(Protocol):
    """What a backend provides for one MDP: the operator primitives of
    :mod:`coherence.reference.operators` and one method per quantity row of
    :mod:`coherence.reference.quantities` (tables indexed ``[t][s][a]``, ``w``
    and occupancy ``[t][s]`` for t = 0..T). Policies are engine-native; the
    query layer (:mod:`coherence.queries`) computes and caches them."""

    name: str

    def check_policy(self, policy: Any) -> Any:
        """Validate an engine-native policy (shape, row sums); return it."""

    def policy_table(self, policy: Any) -> Any:
        """pi_t(a|s) as probabilities."""

    def z_table(self, policy: Any) -> Any:
        """z_t(s, a) = P(O_{t:T} = 1 | s, a)."""

    def w_table(self, policy: Any) -> Any:
        """w_t(s) = P(O_{t:T} = 1 | s), t = 0..T."""

    def occupancy(self, policy: Any) -> Any:
        """d_t(s) = P(s_t = s), t = 0..T."""

    def j_prob(self, policy: Any) -> Any:
        """J_prob = P(every O_t = 1)."""

    def j_soft(self, policy: Any) -> Any:
        """J_soft = log J_prob."""

    def j_sum(self, policy: Any) -> Any:
        """J_sum = E[sum_t r_t + r_T]."""

    def j_count(self, policy: Any) -> Any:
        """J_count = E[sum_t rho_t + rho_T]."""

    def causal_entropy(self, policy: Any) -> Any:
        """Causal entropy in nats."""

    def causal_kl(self, policy: Any, other: Any) -> Any:
        """KL_c(policy || other)."""

    def kappa(self, policy: Any, f: SoftQ) -> Any:
        """kappa_f(policy) = KL_c(policy || policy^{Q,f})."""


@dataclass(frozen=True)
class BackendInfo:
    """``factory(mdp, options)`` builds an engine; ``exact`` engines answer in
    rationals (and only rational policies)."""

    name: str
    factory: Callable[[MDP, tuple[str, ...]], QueryEngine]
    exact: bool
    description: str


_REGISTRY: dict[str, BackendInfo] = {}


def register(info: BackendInfo) -> None:
    """Add (or replace) a backend in the registry."""
    _REGISTRY[info.name] = info


def _lazy(module: str, attr: str) -> Callable[[MDP, tuple[str, ...]], QueryEngine]:
    def factory(mdp: MDP, options: tuple[str, ...]) -> QueryEngine:
        try:
            loaded = importlib.import_module(module)
        except ImportError as exc:
            if exc.name and exc.name.split(".")[0] in EXTRAS:
                raise ValueError(f"backend: {missing_extra(exc.name)}") from None
            raise ValueError(f"backend: {module} is unavailable ({exc})") from None
        make: Callable[[MDP, tuple[str, ...]], QueryEngine] = getattr(loaded, attr)
        return make(mdp, options)

    return factory


def _no_options(name: str, options: tuple[str, ...]) -> None:
    if options:
        raise ValueError(
            f"backend: {name!r} takes no options, got {':'.join(options)!r}"
        )


def _exact(mdp: Any, options: tuple[str, ...]) -> QueryEngine:
    """``exact`` (gmpy2.mpq) or ``exact:fraction``; ``mdp`` may also be an
    :class:`~coherence.reference.recurrences.ExactMDP` already in a number
    system (the symbolic families of theory/ and proofs/)."""
    from coherence.reference.exact import ExactEngine
    from coherence.reference.recurrences import FRACTION, MPQ, ExactMDP

    if options not in ((), ("mpq",), ("fraction",)):
        raise ValueError(
            f"backend: exact takes 'mpq' or 'fraction', got {':'.join(options)!r}"
        )
    if not isinstance(mdp, (MDP, ExactMDP)):
        raise TypeError(f"mdp: expected a coherence MDP, got {type(mdp).__name__}")
    return ExactEngine(mdp, FRACTION if options == ("fraction",) else MPQ)


def _numpy(mdp: MDP, options: tuple[str, ...]) -> QueryEngine:
    from coherence.reference.numpy_engine import NumpyEngine

    _no_options("numpy", options)
    return NumpyEngine(mdp)


register(
    BackendInfo("exact", _exact, True, "rationals (gmpy2.mpq); rational policies only")
)
register(BackendInfo("numpy", _numpy, False, "float64, log space, one MDP"))
register(
    BackendInfo(
        "certified",
        _lazy("coherence.reference.certified", "make_engine"),
        False,
        "arb ball arithmetic (python-flint), rigorous enclosures; option BITS "
        "(default 128, at least 53)",
    )
)
register(
    BackendInfo(
        "torch",
        _lazy("coherence.gpu.engine", "make_engine"),
        False,
        "batched torch engine; options float32|float64, cpu|cuda",
    )
)


#: ``auto`` answers exactly only when every input's denominator is at most this
#: (case files' "1/3", "0.25"); float inputs (binary rationals with denominators
#: near 2^53) make exact denominators explode, so they go to ``certified``.
AUTO_MAX_DENOMINATOR = 1 << 32


def exact_is_fast(mdp: MDP) -> bool:
    """Whether every input rational of ``mdp`` (transitions, success, terminal
    success, initial distribution, prior) has a denominator of at most
    :data:`AUTO_MAX_DENOMINATOR`."""
    limit = AUTO_MAX_DENOMINATOR
    rows = (p for rows in mdp.transitions for row in rows for _, p in row)
    steps = (q for table in mdp.success for row in table for q in row)
    rest = (q for q in (*mdp.terminal_success, *mdp.initial))
    prior = (q for row in mdp.prior for q in row)
    return all(
        q.denominator <= limit for src in (rows, steps, rest, prior) for q in src
    )


def auto_backend(mdp: MDP, rational: bool) -> str:
    """The input rule of ``auto``, before any cost estimate: ``exact`` for a
    rational answer when exact arithmetic is fast (:func:`exact_is_fast`),
    ``certified`` otherwise (:func:`auto_choice` adds the cost rule)."""
    return "exact" if rational and exact_is_fast(mdp) else "certified"


#: ``auto`` takes the exact path for a query only when its estimated cost
#: (:func:`coherence.reference.limits.exact_cost`: elementary steps weighted by
#: the estimated size of the numbers) is at most this; likewise the certified
#: path (:func:`coherence.reference.limits.certified_cost`), else float64 numpy.
#: About a quarter to half a second of exact arithmetic on the development
#: machine (``benchmarks/bench_auto.py``).
AUTO_MAX_COST = 200_000


@dataclass(frozen=True)
class AutoChoice:
    """The backend ``auto`` takes for one computation and why (``reason``: one
    short phrase; ``exact_cost`` / ``certified_cost``: the estimates, in exact
    steps on small numbers, ``None`` where not estimated; ``exact_possible``:
    the inputs and the exact-path limits allow exact, whatever the cost)."""

    backend: str
    reason: str
    exact_cost: float | None = None
    certified_cost: float | None = None
    exact_possible: bool = False

    @property
    def fallback(self) -> bool:
        """Whether cost, the exact-path limits or an undecidable tie moved the
        computation off the path the inputs alone give (:func:`auto_backend`:
        exact for rational inputs with small denominators, else certified)."""
        if self.backend == "numpy":
            return True
        return self.backend == "certified" and self.exact_cost is not None


def _cost(
    estimate: Callable[[MDP, PolicySpec, SoftQ | None], float],
    mdp: MDP,
    specs: tuple[PolicySpec, ...],
    f: SoftQ | None,
) -> float:
    return sum(
        estimate(mdp, spec, f if i == 0 else None) for i, spec in enumerate(specs)
    )


def auto_choice(
    mdp: MDP,
    spec: PolicySpec,
    *,
    f: SoftQ | None = None,
    reference: PolicySpec | None = None,
    certified: bool = True,
) -> AutoChoice:
    """The backend ``auto`` takes for the policy ``spec`` (with kappa's soft-Q
    map ``f`` and causal_kl's ``reference`` policy), in this order:

    1. ``exact`` when every policy and ``f`` is rational, every input
       denominator is at most :data:`AUTO_MAX_DENOMINATOR`, the exact path is
       within :data:`coherence.reference.limits.EXACT_LIMITS`, and its estimated
       cost is at most :data:`AUTO_MAX_COST`;
    2. else ``certified`` (when ``certified``: the ``[certified]`` extra is
       installed) when its estimated cost is at most :data:`AUTO_MAX_COST`;
    3. else ``numpy`` (float64).
    """
    specs = (spec,) if reference is None else (spec, reference)
    rational = all(s.is_rational for s in specs) and (f is None or f_is_rational(f))
    if not rational:
        why = "a policy or soft-Q map is not rational"
    elif not exact_is_fast(mdp):
        why = f"input denominators above 2^{AUTO_MAX_DENOMINATOR.bit_length() - 1}"
    else:
        problem = next(
            (
                p
                for i, s in enumerate(specs)
                if (p := limits.exact_limit_problem(mdp, s, f=f if i == 0 else None))
            ),
            None,
        )
        exact = _cost(limits.exact_cost, mdp, specs, f)
        possible = problem is None
        ball = _cost(limits.certified_cost, mdp, specs, f)
        if possible and exact <= AUTO_MAX_COST:
            return AutoChoice("exact", "exact cost within budget", exact, ball, True)
        why = problem or f"exact cost estimate {exact:.2g} > {AUTO_MAX_COST:.2g}"
        if certified:
            if ball <= AUTO_MAX_COST:
                return AutoChoice("certified", why, exact, ball, possible)
            return AutoChoice(
                "numpy",
                f"{why}, certified {ball:.2g} > {AUTO_MAX_COST:.2g}",
                exact,
                ball,
                possible,
            )
        return AutoChoice(
            "numpy", f"{why}, [certified] extra not installed", exact, None, possible
        )
    if not certified:
        return AutoChoice("numpy", f"{why}, [certified] extra not installed")
    ball = _cost(limits.certified_cost, mdp, specs, f)
    if ball <= AUTO_MAX_COST:
        return AutoChoice("certified", why, None, ball)
    return AutoChoice(
        "numpy",
        f"{why}, certified cost estimate {ball:.2g} > {AUTO_MAX_COST:.2g}",
        None,
        ball,
    )


def names() -> list[str]:
    """The registered backend names, sorted."""
    return sorted(_REGISTRY)


def describe(name: str) -> BackendInfo:
    """The registry row of ``name`` (options after ':' ignored); a one-line
    ValueError listing the known names when unknown."""
    base = name.split(":", 1)[0]
    if base not in _REGISTRY:
        raise ValueError(
            f"backend: unknown backend {name!r}; expected one of {', '.join(names())}"
        )
    return _REGISTRY[base]


def create(name: str, mdp: Any) -> Any:
    """Engine for ``mdp`` from a backend name such as ``numpy``, ``exact:fraction``
    or ``torch:float32``; the only place engines are constructed."""
    info = describe(name)
    parts = name.split(":")[1:]
    if any(not o for o in parts):
        raise ValueError(f"backend: {name!r} has an empty option after ':'")
    return info.factory(mdp, tuple(parts))


#: The optional modules each backend needs (checked before a run starts).
_NEEDS = {"torch": ("torch",), "certified": ("flint",)}


def needs(name: str) -> tuple[str, ...]:
    """The optional modules the backend ``name`` needs (``auto`` needs none: it
    falls back to numpy where the certified extra is missing)."""
    return _NEEDS.get(name.split(":", 1)[0], ())
