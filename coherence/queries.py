"""The query layer: (MDP, policy spec, quantity, backend) -> answer, in one place.

Every consumer (the conformance runner, :mod:`coherence.testing`, the demo, the
learning commands, the claims ledger, the theory generators) asks its questions
here. Engines come only from :func:`coherence.backends.create`; they provide the
primitives of :mod:`coherence.reference.operators` and the quantity primitives
named in :mod:`coherence.reference.quantities`, and hold no policy cache: the
:class:`Evaluator` keeps one :class:`~coherence.reference.operators.PolicyCache`
per engine, so G_k and B_i continue from the longest sequence prefix computed.

Raw answers (:meth:`Evaluator.value`) are the engine's own numbers without a
batch axis: exact tables as nested lists of rationals, float tables as numpy
float64 arrays, scalars as rationals or Python floats. Named answers
(:meth:`Evaluator.answer`, :func:`run_case`) are CASE_FORMAT's nested dicts
keyed by step, state and action names.

The backend ``auto`` answers a query with the exact engine where its policies
are rational, the inputs' denominators small and the estimated cost of the
exact path within :data:`coherence.backends.AUTO_MAX_COST` (float quantities
then come from exact rationals), with certified ball arithmetic otherwise when
its estimated cost is within the same budget, and with float64 numpy otherwise
(also where the ``[certified]`` extra is not installed, or where balls cannot
decide a tie); :func:`coherence.backends.auto_choice` states the rule and
:attr:`Evaluator.choices` records each query's choice and reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from functools import cache
from typing import Any

import numpy as np

from coherence import __version__, backends
from coherence._numbers import to_float
from coherence.backends import AutoChoice
from coherence.reference.case import Answer, Case, Query, Results
from coherence.reference.limits import check_engine_limits, check_exact_limits
from coherence.reference.model import MDP, FloatArray
from coherence.reference.operators import PolicyCache, PolicySpec, policy_for
from coherence.reference.quantities import QUANTITIES, Quantity, quantity
from coherence.reference.recurrences import SoftQ

__all__ = [
    "AUTO",
    "Evaluator",
    "answer_query",
    "auto_backend",
    "auto_choice",
    "auto_for",
    "compute_policy",
    "is_exact_leaf",
    "run_case",
    "to_floats",
]

AUTO = "auto"


def is_exact_leaf(x: object) -> bool:
    """An exact rational leaf (Fraction, or the exact engine's gmpy2.mpq)."""
    return isinstance(x, Fraction) or type(x).__name__ == "mpq"


@cache
def _flint_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("flint") is not None


def auto_for(mdp: MDP, rational: bool) -> str:
    """The input rule of ``auto``, without a cost estimate: exact for a
    computation whose policies (and soft-Q map) are ``rational`` where the
    input denominators are small (:func:`coherence.backends.exact_is_fast`),
    else certified (ball arithmetic), else (without the ``[certified]`` extra)
    float64 numpy. :func:`auto_choice` adds the cost rule."""
    name = backends.auto_backend(mdp, rational)
    if name == "certified" and not _flint_available():
        return "numpy"
    return name


def auto_choice(
    mdp: MDP,
    spec: PolicySpec,
    *,
    f: SoftQ | None = None,
    reference: PolicySpec | None = None,
) -> AutoChoice:
    """The backend ``auto`` takes for ``spec`` (with ``f`` and ``reference``)
    and why: :func:`coherence.backends.auto_choice`, with certified only where
    the ``[certified]`` extra is installed."""
    return backends.auto_choice(
        mdp, spec, f=f, reference=reference, certified=_flint_available()
    )


def auto_backend(mdp: MDP, query: Query) -> str:
    """The backend ``auto`` uses for ``query`` (:func:`auto_choice`)."""
    return auto_choice(mdp, query.policy, f=query.f, reference=query.reference).backend


def compute_policy(engine: Any, spec: PolicySpec) -> Any:
    """The policy named by ``spec`` on ``engine`` (no cache).

    An engine with ``rational_only`` (the exact engine) refuses a spec whose
    policy is not rational, with a one-line error naming it.
    """
    if getattr(engine, "rational_only", False) and not spec.is_rational:
        raise ValueError(f"policy: {spec.label()} is not rational; use a float backend")
    return policy_for(engine, spec)


def _unbatch(x: Any) -> Any:
    """Drop a batched engine's leading batch axis of size 1, as numpy/float."""
    detach = getattr(x, "detach", None)
    if detach is None:
        return x
    arr = detach()[0].cpu().double().numpy()
    if arr.ndim == 0:
        return float(arr) + 0.0
    return arr


def _plain(x: Any) -> Any:
    """numpy scalars -> Python floats; everything else unchanged."""
    if isinstance(x, np.ndarray) and x.ndim == 0:
        return float(x) + 0.0
    if isinstance(x, np.floating):
        return float(x) + 0.0
    return x


def to_floats(table: Any) -> FloatArray:
    """A raw answer (nested lists of rationals, arrays, scalars) as float64."""
    if isinstance(table, np.ndarray):
        out: FloatArray = np.asarray(table, dtype=np.float64)
        return out
    if isinstance(table, list):
        return np.array([to_floats(x) for x in table], dtype=np.float64)
    if isinstance(table, float):
        value = table
    elif hasattr(table, "numerator"):
        value = to_float(table)
    else:  # a ball (its midpoint) or another real type
        value = float(table)
    return np.asarray(value, dtype=np.float64)


class Evaluator:
    """Answers queries about one MDP, creating each backend's engine once and
    caching its policies."""

    def __init__(self, mdp: MDP, backend: str = AUTO) -> None:
        """``backend``: a registry name (``exact``, ``numpy``, ``torch:float32``,
        ...) or ``auto``. An unknown name is a one-line error here, before any
        work."""
        self.mdp = mdp
        self.backend = backend
        if backend != AUTO:
            backends.describe(backend)
        self._engines: dict[str, Any] = {}
        self._caches: dict[str, PolicyCache[Any]] = {}
        #: Under ``auto``: the backend each answered query id got, and why.
        self.choices: dict[str, AutoChoice] = {}
        self._auto: dict[tuple[Any, ...], AutoChoice] = {}

    def _choose(
        self,
        spec: PolicySpec,
        f: SoftQ | None = None,
        reference: PolicySpec | None = None,
    ) -> AutoChoice:
        """:func:`auto_choice` for this MDP, memoised per computation."""
        key = (spec, f, reference)
        if key not in self._auto:
            self._auto[key] = auto_choice(self.mdp, spec, f=f, reference=reference)
        return self._auto[key]

    def backend_for(self, query: Query) -> str:
        """The backend that answers ``query``."""
        if self.backend != AUTO:
            return self.backend
        return self._choose(query.policy, query.f, query.reference).backend

    def engine(self, name: str) -> Any:
        """The engine of backend ``name`` for this MDP (created once)."""
        if name not in self._engines:
            self._engines[name] = backends.create(name, self.mdp)
            self._caches[name] = PolicyCache(self._engines[name])
        return self._engines[name]

    def policy(self, spec: PolicySpec, backend: str | None = None) -> Any:
        """The engine-native policy named by ``spec`` (memoised per engine)."""
        name = self.backend if backend is None else backend
        if name == AUTO:
            name = self._choose(spec).backend
        engine = self.engine(name)
        if getattr(engine, "rational_only", False):
            if not spec.is_rational:
                raise ValueError(
                    f"policy: {spec.label()} is not rational; use a float backend"
                )
            # refuse, before any work, an exact computation past the stated limits
            check_exact_limits(self.mdp, spec)
        else:
            check_engine_limits(self.mdp, spec, name)
        return self._caches[name].get(spec)

    def value(
        self,
        name: str | Quantity,
        spec: PolicySpec,
        *,
        f: SoftQ | None = None,
        reference: PolicySpec | None = None,
        backend: str | None = None,
    ) -> Any:
        """The raw answer of quantity ``name`` for the policy ``spec``.

        Args:
            name: a quantity name (or row) of :mod:`coherence.reference.quantities`.
            spec: the policy.
            f: the soft-Q map, for quantities that take one (kappa).
            reference: the second policy, for quantities that take one.
            backend: overrides the evaluator's backend for this call.
        Returns:
            Nested lists of rationals (exact engine), numpy float64 arrays
            (float engines) or a scalar; no batch axis.
        """
        row = name if isinstance(name, Quantity) else quantity(name)
        given = {"f": f, "reference": reference}
        for param, value in given.items():
            if param in row.parameters and value is None:
                raise ValueError(f"{param}: quantity {row.name!r} needs {param}")
        chosen = self.backend if backend is None else backend
        if chosen == AUTO:
            chosen = self._choose(spec, f, reference).backend
        engine = self.engine(chosen)
        if f is not None and getattr(engine, "rational_only", False):
            check_exact_limits(self.mdp, spec, f=f)
        pol = self.policy(spec, chosen)
        extra: list[Any] = []
        for param in row.parameters:
            if param == "f":
                extra.append(f)
            else:
                assert reference is not None  # checked above
                extra.append(self.policy(reference, chosen))
        raw = getattr(engine, row.primitive)(pol, *extra)
        raw = _plain(_unbatch(raw))
        if not row.rational:
            return float(raw) + 0.0
        return raw

    def answer(self, query: Query) -> Answer:
        """The answer of ``query``, indexed by the MDP's step, state and action
        names (CASE_FORMAT "Quantities"); float quantities as floats."""

        def ask(backend: str) -> Any:
            return self.value(
                query.quantity,
                query.policy,
                f=query.f,
                reference=query.reference,
                backend=backend,
            )

        choice = None
        if self.backend == AUTO:
            choice = self._choose(query.policy, query.f, query.reference)
        try:
            raw = ask(self.backend if choice is None else choice.backend)
        except ValueError as exc:
            # auto: where ball arithmetic cannot decide a SPEC §2 convention
            # (a tie it cannot prove), the float64 engine answers instead
            if choice is None or type(exc).__name__ != "Undecided":
                raise
            raw = ask("numpy")
            choice = AutoChoice(
                "numpy",
                "ball arithmetic could not decide a SPEC §2 tie",
                choice.exact_cost,
                choice.certified_cost,
            )
        if choice is not None:
            self.choices[query.id] = choice
        return self.name_answer(query, raw)

    def name_answer(self, query: Query, raw: Any) -> Answer:
        """A raw answer of ``query`` (:meth:`value`'s form, or a certified
        engine's balls) indexed by step, state and action names; float
        quantities (and balls) as floats."""
        row = QUANTITIES[query.quantity]
        names = [self._axis_names(axis) for axis in row.axes]
        answer = _named(raw, names)
        if not query.is_exact:
            answer = _to_float(answer)
        return answer

    def _axis_names(self, axis: str) -> list[str]:
        T = self.mdp.horizon
        if axis == "steps":
            return [str(t) for t in range(T)]
        if axis == "steps_T":
            return [str(t) for t in range(T + 1)]
        if axis == "states":
            return list(self.mdp.states)
        return list(self.mdp.actions)


def _scalar(x: Any) -> Any:
    """Exact leaves stay exact; everything else becomes float."""
    return x if is_exact_leaf(x) else float(x) + 0.0


def _named(table: Any, names: Sequence[Sequence[str]]) -> Answer:
    """Index a nested table ``[t][s]...`` by step strings and names."""
    if not names:
        return _scalar(table)
    head, rest = names[0], names[1:]
    return {name: _named(table[i], rest) for i, name in enumerate(head)}


def _to_float(answer: Answer) -> Answer:
    if isinstance(answer, Mapping):
        return {k: _to_float(v) for k, v in answer.items()}
    if isinstance(answer, float):
        return answer
    return to_float(answer)


def answer_query(mdp: MDP, query: Query, backend: str = AUTO) -> Answer:
    """One query's named answer on ``backend`` (a fresh evaluator: use an
    :class:`Evaluator` to share engines and policies across queries)."""
    return Evaluator(mdp, backend).answer(query)


def run_case(
    case: Case,
    backend: str = AUTO,
    *,
    evaluator: Evaluator | None = None,
    progress: Callable[[Query], None] | None = None,
) -> tuple[Results, dict[str, str]]:
    """Answer every query of ``case``; returns the results and the errors by
    query id (an error in one query does not stop the others).

    ``evaluator``: the one to answer with (its :attr:`Evaluator.choices` then
    say what ``auto`` chose); ``progress``: called after each query."""
    if evaluator is None:
        evaluator = Evaluator(case.mdp, backend)
    answers: dict[str, Answer] = {}
    errors: dict[str, str] = {}
    for query in case.queries:
        try:
            answers[query.id] = evaluator.answer(query)
        except (ValueError, ArithmeticError, NotImplementedError) as exc:
            errors[query.id] = f"{type(exc).__name__}: {exc}"
        if progress is not None:
            progress(query)
    impl = f"coherence {__version__} ({backend})"
    return Results(case=case.name, implementation=impl, answers=answers), errors
