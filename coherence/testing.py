"""Public helpers for property-based tests against the coherence oracle.

Strategies (hypothesis) draw small random MDPs with the features that break
implementations: deterministic or stochastic dynamics, uniform or non-uniform
priors (with zero entries), deliberate ties (two actions with identical
transitions, success and prior), zero-success actions, terminal rewards and
time-dependent success. Probabilities come from logits k/4 in [-3, 3]
softmaxed and success probabilities are exp(-k/4) in [e^-4, 1], so no
subnormal numbers appear. Sizes are drawn first and every feature switch
draws "off" first, so hypothesis shrinks a failure toward the fewest states,
actions and steps, deterministic dynamics, a uniform prior and success 1.

* :func:`mdps` -> a validated :class:`coherence.reference.model.MDP`;
* :func:`mdp_batches` -> :class:`MDPBatch`, B MDPs of one size plus their
  stacked float64 arrays (the exact float views the oracle uses).

Assertion helpers compare an implementation's output against the oracle and,
on failure, raise one ``AssertionError`` (always from the same place, so
hypothesis reports one failure, not an ExceptionGroup) naming the first
differing cells (``t= s= a=``, got, want, relative difference), their count,
and the MDP as a one-line CASE_FORMAT case; their frames are hidden from
pytest tracebacks (``__tracebackhide__``, as numpy.testing does):

* :func:`oracle` -- the reference answer of a CASE_FORMAT quantity (the exact
  engine for rational policies, the float64 numpy engine otherwise);
* :func:`assert_matches_oracle` -- an implementation's answer against the
  oracle (exact, or certified enclosures for float MDPs);
* :func:`assert_close` -- elementwise |got - want| <= max(abs, rel * |want|),
  inf equal to inf of the same sign, NaN never equal;
* :func:`tolerance_for` -- the dtype- and horizon-scaled tolerance used by this
  project's own float engines;
* :func:`to_case` -- an MDP and queries as a conformance case, to keep a failing
  example (``write_case(path, to_case(mdp, [...]))``);
* :class:`Oracle` -- the object behind the pytest plugin's ``oracle`` fixture
  (:mod:`coherence.testing_plugin`).

Importing this module registers (never loads) two hypothesis settings
profiles, :data:`PROFILE` ("coherence": no deadline, one failure reported,
no explain phase) and :data:`CI_PROFILE` ("coherence-ci": the same,
derandomized, no database, the ``@reproduce_failure`` blob printed).
Load one with ``pytest --hypothesis-profile=coherence`` or the pytest ini
option ``coherence_profile``. Importing it also has hypothesis print an MDP
in its reports by its short repr (sizes), not field by field in Fractions.
The first draw of a strategy computes one tiny answer with each oracle
engine, so the imports of the first oracle call happen during data
generation, outside hypothesis' deadline.

Example::

    from hypothesis import given
    from coherence.reference.operators import PolicySpec
    from coherence.testing import assert_matches_oracle, mdps

    @given(mdps(max_states=4, max_actions=3, max_horizon=3))
    def test_my_retrain(mdp):
        mine = my_g_k(mdp.transition_array, mdp.log_success, k=2)  # [t, s, a]
        assert_matches_oracle(mine, mdp, "policy", PolicySpec("G", k=2))
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import numpy as np
import numpy.typing as npt
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from coherence.queries import Evaluator, to_floats
from coherence.reference.case import Case, Query, Tolerance, case_to_json
from coherence.reference.model import MDP, FloatArray
from coherence.reference.operators import PolicySpec
from coherence.reference.quantities import QUANTITIES as QUANTITY_ROWS
from coherence.reference.quantities import quantity as quantity_row
from coherence.reference.recurrences import SoftQ
from coherence.reference.tolerances import tolerance_for as _tolerance_for
from coherence.suite import to_case as _suite_to_case

__all__ = [
    "CI_PROFILE",
    "PROFILE",
    "QUANTITIES",
    "MDPBatch",
    "Oracle",
    "Tolerance",
    "assert_close",
    "assert_matches_oracle",
    "describe_mdp",
    "mdp_batches",
    "mdps",
    "oracle",
    "register_profiles",
    "to_case",
    "tolerance_for",
]

#: CASE_FORMAT quantities :func:`oracle` answers (the rows of
#: :mod:`coherence.reference.quantities`).
QUANTITIES = tuple(QUANTITY_ROWS)
#: The hypothesis settings profile for oracle tests (registered, never loaded).
PROFILE = "coherence"
#: :data:`PROFILE`, derandomized and without the example database (for CI).
CI_PROFILE = "coherence-ci"
_LOGIT_STEPS = 12  # logits k / 4 for k in [-12, 12]: [-3, 3]
_LOG_SUCCESS_STEPS = 16  # log success -k / 4 for k in [0, 16]: [-4, 0]
_SHOWN = 5  # differing cells listed in a failure report


# ------------------------------------------------------------------ profiles
def register_profiles() -> tuple[str, ...]:
    """Register the hypothesis profiles :data:`PROFILE` and :data:`CI_PROFILE`
    (built on hypothesis' "default" profile); a name already registered is
    left as it is, and no profile is loaded.

    "coherence": ``deadline=None`` (an oracle call's time varies with the MDP
    and the machine's load), ``report_multiple_bugs=False`` (one failure, no
    ExceptionGroup), no explain phase (on these strategies it costs more than
    finding and shrinking together), ``too_slow`` health check off; a failure
    is replayed from hypothesis' example database on the next run.
    "coherence-ci": the same with ``derandomize=True``, ``database=None`` and
    ``print_blob=True`` (the ``@reproduce_failure`` line to replay it, as CI
    keeps no database).

    Returns:
        The names this call registered (empty when both were registered).
    """
    base = {
        "deadline": None,
        "report_multiple_bugs": False,
        "phases": tuple(p for p in Phase if p is not Phase.explain),
        "suppress_health_check": [HealthCheck.too_slow],
    }
    made = []
    for name, extra in (
        (PROFILE, {"print_blob": False}),
        (CI_PROFILE, {"derandomize": True, "database": None, "print_blob": True}),
    ):
        try:
            settings.get_profile(name)
        except InvalidArgument:
            parent = settings.get_profile("default")
            settings.register_profile(name, parent=parent, **base, **extra)
            made.append(name)
    return tuple(made)


register_profiles()


def _register_printers() -> None:
    """Hypothesis prints a drawn MDP by its short repr (sizes) instead of its
    fields' Fractions; the failure message carries the MDP as a case."""
    try:
        from hypothesis.vendor.pretty import for_type_by_name
    except ImportError:  # pragma: no cover - a hypothesis without the printer
        return
    for_type_by_name(
        MDP.__module__, MDP.__name__, lambda obj, p, cycle: p.text(repr(obj))
    )


_register_printers()
_warm = False


def _warm_oracle() -> None:
    """Compute one tiny answer with the exact and the certified engine, once per
    process, so the first oracle call of a test pays no import time (hypothesis
    counts the test's time, not the strategy's, against its deadline)."""
    global _warm
    if _warm:
        return
    _warm = True
    mdp = MDP.from_arrays(
        transitions=[[[1.0], [1.0]]],
        initial=[1.0],
        success=[[[0.75, 0.6]]],
        prior=[[0.5, 0.5]],
        horizon=1,
    )
    spec = PolicySpec("G", k=1)
    Evaluator(mdp, "exact").value("policy", spec)
    try:
        from coherence.reference.certified import certified_value
    except ImportError:  # the certified extra is missing: the assertion says so
        return
    certified_value(Evaluator(mdp, "certified"), "policy", spec)


# ---------------------------------------------------------------- strategies
def _check_range(name: str, low: int, high: int, floor: int) -> None:
    for label, v in ((f"min_{name}", low), (f"max_{name}", high)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{label}: expected an integer, got {v!r}")
    if low < floor:
        raise ValueError(f"min_{name}: must be >= {floor}, got {low}")
    if high < low:
        raise ValueError(f"max_{name}: must be >= min_{name} ({low}), got {high}")


def _optional_bool(name: str, value: object) -> None:
    if value is not None and not isinstance(value, bool):
        raise TypeError(f"{name}: expected True, False or None, got {value!r}")


def _softmax(logits: Sequence[float], keep: Sequence[bool]) -> list[float]:
    """Softmax over the kept entries (zeros elsewhere); at least one is kept."""
    m = max(x for x, k in zip(logits, keep, strict=True) if k)
    w = [math.exp(x - m) if k else 0.0 for x, k in zip(logits, keep, strict=True)]
    total = math.fsum(w)
    return [x / total for x in w]


def _ints(draw: st.DrawFn, n: int, low: int, high: int) -> list[int]:
    """n integers in [low, high]: n plain choices (no length to shrink)."""
    return list(draw(st.tuples(*[st.integers(low, high)] * n)))


def _flags(draw: st.DrawFn, n: int) -> list[bool]:
    """n booleans as one choice (a bit mask; the simplest, 0, is all False)."""
    mask = draw(st.integers(0, (1 << n) - 1))
    return [bool(mask >> i & 1) for i in range(n)]


def _distribution(draw: st.DrawFn, n: int, allow_zero: bool) -> list[float]:
    """Softmax of logits k/4; with ``allow_zero``, sometimes some entries 0
    (never all). The simplest draw is the uniform distribution."""
    logits = [k / 4 for k in _ints(draw, n, -_LOGIT_STEPS, _LOGIT_STEPS)]
    keep = [True] * n
    if allow_zero and draw(st.booleans()):  # half the time: some zeros
        keep = [not drop for drop in _flags(draw, n)]
        keep[0] = keep[0] or not any(keep)
    return _softmax(logits, keep)


@dataclass(frozen=True)
class _Options:
    deterministic: bool | None
    uniform_prior: bool | None
    ties: bool
    zero_success: bool
    terminal: bool
    time_dependent: bool


@dataclass(frozen=True)
class _Switches:
    """The features one drawn MDP has (each off in hypothesis' simplest)."""

    steps: int  # success tables drawn: 1, or T when time-dependent
    zeros: bool  # some step success probabilities 0
    terminal: bool  # terminal success below 1
    terminal_zero: bool  # some terminal success 0
    initial_zero: bool  # some initial probabilities 0
    non_uniform: bool


@dataclass(frozen=True)
class _State:
    """The numbers of one state but its transitions (one hypothesis span)."""

    success: list[float]  # [t * A + a], t < steps
    terminal: float
    initial_logit: float
    initial_kept: bool
    prior: list[float] | None  # [a]; None: uniform


@st.composite
def _state(draw: st.DrawFn, A: int, sw: _Switches) -> _State:
    rho = [math.exp(-k / 4) for k in _ints(draw, sw.steps * A, 0, _LOG_SUCCESS_STEPS)]
    if sw.zeros:
        rho = [
            0.0 if z else r for r, z in zip(rho, _flags(draw, len(rho)), strict=True)
        ]
    term = 1.0
    if sw.terminal:
        term = math.exp(-draw(st.integers(0, _LOG_SUCCESS_STEPS)) / 4)
        if sw.terminal_zero and draw(st.booleans()):
            term = 0.0
    logit = draw(st.integers(-_LOGIT_STEPS, _LOGIT_STEPS)) / 4
    kept = not (sw.initial_zero and draw(st.booleans()))
    prior = _distribution(draw, A, allow_zero=True) if sw.non_uniform else None
    return _State(rho, term, logit, kept, prior)


@st.composite
def _transitions(
    draw: st.DrawFn, S: int, A: int, stochastic: bool
) -> list[list[float]]:
    rows = []
    for _ in range(A):
        if stochastic:
            rows.append(_distribution(draw, S, allow_zero=True))
        else:
            row = [0.0] * S
            row[draw(st.integers(0, S - 1))] = 1.0
            rows.append(row)
    return rows


def _mdp_of_shape(draw: st.DrawFn, S: int, A: int, T: int, o: _Options) -> MDP:
    """One MDP of S states, A actions and horizon T.

    The choice sequence is laid out for hypothesis' shrinker: the feature
    switches (drawn whatever the sizes, each off when False, its simplest
    choice); one span per state with that state's success, terminal success,
    initial logit and prior; one span per state with its transitions (last,
    as the stochastic switch changes their count); the tie. Lowering S and
    deleting one state's span removes that state, turning stochastic off
    moves only the transitions, and every simplest choice means the simplest
    value (success 1, a uniform distribution, the first state), so simplest
    numbers that a change moves stay simplest. A set of flags is one choice
    (a bit mask), which keeps examples short.
    """
    booleans = st.booleans()
    det, uni = o.deterministic, o.uniform_prior
    stochastic = draw(booleans) if det is None else not det
    non_uniform = draw(booleans) if uni is None else not uni
    # drawn whatever the sizes, so that lowering a size moves no switch
    per_step = o.time_dependent and draw(booleans) and T > 1
    zeros = o.zero_success and draw(booleans)
    terminal = o.terminal and draw(booleans)
    terminal_zero = o.terminal and o.zero_success and draw(booleans) and terminal
    initial_zero = draw(booleans)
    tie = o.ties and draw(booleans) and A >= 2
    steps = T if per_step else 1
    sw = _Switches(steps, zeros, terminal, terminal_zero, initial_zero, non_uniform)
    states = [draw(_state(A, sw)) for _ in range(S)]
    P = np.array([draw(_transitions(S, A, stochastic)) for _ in range(S)])

    rho = np.array([x.success for x in states]).reshape(S, steps, A)
    rho = np.broadcast_to(rho.transpose(1, 0, 2), (T, S, A)).copy()
    term = np.array([x.terminal for x in states])
    prior = np.array([x.prior or [1.0 / A] * A for x in states])
    keep = [x.initial_kept for x in states]
    keep[0] = keep[0] or not any(keep)
    mu = np.array(_softmax([x.initial_logit for x in states], keep))
    if tie:
        s = draw(st.integers(0, S - 1))
        a = draw(st.integers(0, A - 1))
        b = (a + 1 + draw(st.integers(0, A - 2))) % A  # any other action, no filter
        P[s, b] = P[s, a]
        rho[:, s, b] = rho[:, s, a]
        prior[s, a] = prior[s, b] = (prior[s, a] + prior[s, b]) / 2
    return MDP.from_arrays(
        transitions=P,
        initial=mu,
        success=rho,
        terminal_success=term,
        prior=prior,
        horizon=T,
        name="drawn",
    )


def _options(
    deterministic: bool | None,
    uniform_prior: bool | None,
    ties: bool,
    zero_success: bool,
    terminal: bool,
    time_dependent: bool,
) -> _Options:
    _optional_bool("deterministic", deterministic)
    _optional_bool("uniform_prior", uniform_prior)
    for name, value in (
        ("ties", ties),
        ("zero_success", zero_success),
        ("terminal", terminal),
        ("time_dependent", time_dependent),
    ):
        if not isinstance(value, bool):
            raise TypeError(f"{name}: expected True or False, got {value!r}")
    return _Options(
        deterministic, uniform_prior, ties, zero_success, terminal, time_dependent
    )


@st.composite
def _drawn_mdp(draw: st.DrawFn, sizes: tuple[tuple[int, int], ...], o: _Options) -> MDP:
    _warm_oracle()
    S, A, T = (draw(st.integers(low, high)) for low, high in sizes)
    return _mdp_of_shape(draw, S, A, T, o)


def mdps(
    *,
    min_states: int = 1,
    max_states: int = 4,
    min_actions: int = 1,
    max_actions: int = 3,
    min_horizon: int = 1,
    max_horizon: int = 3,
    deterministic: bool | None = None,
    uniform_prior: bool | None = None,
    ties: bool = True,
    zero_success: bool = True,
    terminal: bool = True,
    time_dependent: bool = True,
) -> st.SearchStrategy[MDP]:
    """Random validated MDPs (SPEC §2), shrinking toward the smallest.

    The sizes are drawn first, then the feature switches, then the numbers;
    hypothesis' simplest example is the MDP of ``min_states`` states,
    ``min_actions`` actions and horizon ``min_horizon`` with deterministic
    transitions to the first state, success 1, a uniform prior and a uniform
    initial distribution.

    Args:
        min_states, max_states: bounds on the number of states (>= 1).
        min_actions, max_actions: bounds on the number of actions (>= 1).
        min_horizon, max_horizon: bounds on the horizon T (>= 1).
        deterministic: True, False, or None to draw either.
        uniform_prior: True, False, or None to draw either.
        ties: sometimes give two actions of one state identical transitions,
            success and prior.
        zero_success: sometimes set success probabilities (step or terminal)
            to 0.
        terminal: sometimes draw terminal success below 1.
        time_dependent: sometimes draw success per step t.

    Returns:
        A hypothesis strategy of :class:`~coherence.reference.model.MDP`
        named "drawn". Bad bounds or options raise ValueError / TypeError
        naming the argument, when called.
    """
    _check_range("states", min_states, max_states, 1)
    _check_range("actions", min_actions, max_actions, 1)
    _check_range("horizon", min_horizon, max_horizon, 1)
    o = _options(
        deterministic, uniform_prior, ties, zero_success, terminal, time_dependent
    )
    sizes = ((min_states, max_states), (min_actions, max_actions))
    return _drawn_mdp((*sizes, (min_horizon, max_horizon)), o)


@dataclass(frozen=True, repr=False)
class MDPBatch:
    """B MDPs of equal sizes and their stacked float64 arrays: ``transitions[b,
    s, a, s']``, ``success[b, t, s, a]`` (probabilities), ``terminal_success[b,
    s]``, ``initial[b, s]``, ``prior[b, s, a]``. The arrays are the MDPs' own
    float views, so an implementation fed the arrays sees what the oracle sees."""

    mdps: tuple[MDP, ...]
    transitions: FloatArray
    success: FloatArray
    terminal_success: FloatArray
    initial: FloatArray
    prior: FloatArray

    @classmethod
    def stack(cls, mdps: Sequence[MDP]) -> MDPBatch:
        """Stack B MDPs of one size into one batch.

        Args:
            mdps: one or more MDPs of equal state and action counts and horizon.

        Returns:
            The batch, its arrays stacked along a leading axis b.
        """
        items = tuple(mdps)
        if not items:
            raise ValueError("mdps: need at least one MDP")

        def st_(arrs: list[npt.NDArray[np.float64]]) -> FloatArray:
            out: FloatArray = np.stack(arrs)
            return out

        return cls(
            mdps=items,
            transitions=st_([m.transition_array for m in items]),
            success=st_([np.exp(m.log_success) for m in items]),
            terminal_success=st_([np.exp(m.log_terminal_success) for m in items]),
            initial=st_([m.initial_array for m in items]),
            prior=st_([m.prior_array for m in items]),
        )

    def __repr__(self) -> str:
        """Sizes only (the arrays can be large)."""
        B, T, S, A = self.success.shape
        return f"MDPBatch(B={B}, states={S}, actions={A}, horizon={T})"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))


@st.composite
def _drawn_batch(
    draw: st.DrawFn, sizes: tuple[tuple[int, int], ...], o: _Options
) -> MDPBatch:
    _warm_oracle()
    B, S, A, T = (draw(st.integers(low, high)) for low, high in sizes)
    return MDPBatch.stack([_mdp_of_shape(draw, S, A, T, o) for _ in range(B)])


def mdp_batches(
    *,
    min_batch: int = 1,
    max_batch: int = 4,
    min_states: int = 1,
    max_states: int = 4,
    min_actions: int = 1,
    max_actions: int = 3,
    min_horizon: int = 1,
    max_horizon: int = 3,
    deterministic: bool | None = None,
    uniform_prior: bool | None = None,
    ties: bool = True,
    zero_success: bool = True,
    terminal: bool = True,
    time_dependent: bool = True,
) -> st.SearchStrategy[MDPBatch]:
    """Batches of B MDPs of one drawn size (S, A, T), shrinking as :func:`mdps`.

    Args:
        min_batch, max_batch: bounds on the batch size B (>= 1).
        min_states, max_states, min_actions, max_actions, min_horizon,
        max_horizon, deterministic, uniform_prior, ties, zero_success,
        terminal, time_dependent: as for :func:`mdps`.

    Returns:
        A hypothesis strategy of :class:`MDPBatch` (sizes drawn first, then
        each member as :func:`mdps` draws one).
    """
    _check_range("batch", min_batch, max_batch, 1)
    _check_range("states", min_states, max_states, 1)
    _check_range("actions", min_actions, max_actions, 1)
    _check_range("horizon", min_horizon, max_horizon, 1)
    o = _options(
        deterministic, uniform_prior, ties, zero_success, terminal, time_dependent
    )
    sizes = (
        (min_batch, max_batch),
        (min_states, max_states),
        (min_actions, max_actions),
        (min_horizon, max_horizon),
    )
    return _drawn_batch(sizes, o)


# --------------------------------------------------------------------- oracle
def oracle(
    mdp: MDP,
    quantity: str,
    policy: PolicySpec | None = None,
    *,
    f: SoftQ | None = None,
    reference: PolicySpec | None = None,
    exact: bool | None = None,
) -> FloatArray | float:
    """The reference answer of a quantity, through the query layer
    (:class:`coherence.queries.Evaluator`).

    Args:
        mdp: the MDP.
        quantity: a CASE_FORMAT quantity name (:data:`QUANTITIES`).
        policy: the policy (default: the prior).
        f: the soft-Q map, for ``kappa``.
        reference: the second policy, for ``causal_kl``.
        exact: None uses the exact rational engine where the policy (and
            ``reference``) is rational and the float64 numpy engine otherwise;
            True / False force one of them (True on an irrational policy is a
            ValueError).

    Returns:
        float64: a float for a scalar quantity, else an array (tables indexed
        ``[t, s, a]``; ``w`` and ``occupancy`` ``[t, s]`` for t = 0..T).
    """
    if not isinstance(mdp, MDP):
        raise TypeError(f"mdp: expected a coherence MDP, got {type(mdp).__name__}")
    row = quantity_row(quantity)
    spec = PolicySpec("prior") if policy is None else policy
    if not isinstance(spec, PolicySpec):
        raise TypeError(f"policy: expected a PolicySpec, got {spec!r}")
    rational = spec.is_rational and (reference is None or reference.is_rational)
    use_exact = rational if exact is None else exact
    if use_exact and not rational:
        raise ValueError(f"exact: {spec.label()} is not a rational policy")
    evaluator = Evaluator(mdp, "exact" if use_exact else "numpy")
    raw = evaluator.value(row, spec, f=f, reference=reference)
    if not row.axes:
        return float(to_floats(raw))
    return to_floats(raw)


def to_case(
    mdp: MDP, queries: Iterable[Mapping[str, object] | Query], name: str | None = None
) -> Case:
    """A conformance case of ``mdp`` asking ``queries``, to keep a failing
    hypothesis example as a regression case (``write_case(path, to_case(...))``
    from :mod:`coherence.reference.case`).

    Args:
        mdp: the MDP (its numbers are kept as exact rationals).
        queries: CASE_FORMAT query objects (``{"id": ..., "quantity": ...,
            "policy": {...}}``) or :class:`~coherence.reference.case.Query`.
        name: the case's name (default: the MDP's).

    Returns:
        The case, without expected answers.
    """
    return _suite_to_case(mdp, queries, name)


def tolerance_for(dtype: Any, horizon: int, *, iterations: int = 1) -> Tolerance:
    """The tolerance this project holds its own float engines to
    (:mod:`coherence.reference.tolerances`): float64 rel 1e-10 * T, abs
    1e-13; float32 rel 2e-6 * T * max(1, iterations), abs 1e-7.

    Args:
        dtype: ``"float64"`` / ``"float32"``, a numpy or torch dtype.
        horizon: the horizon T (an integer >= 1).
        iterations: the operator's iterations (k of G_k, i of B_i; >= 0).

    Returns:
        The :class:`~coherence.reference.case.Tolerance` (rel, abs) to pass
        to :func:`assert_close` or :func:`assert_matches_oracle`. Another
        dtype or a bad horizon is a ValueError naming it.
    """
    return _tolerance_for(dtype, horizon, iterations=iterations)


# ----------------------------------------------------------------- assertions
def describe_mdp(mdp: MDP) -> str:
    """The inputs of an MDP as float arrays, for failure reports.

    Args:
        mdp: the MDP.

    Returns:
        Several lines: the repr, then transitions, log success, log terminal
        success, initial distribution and prior, at full float precision.
    """

    def arr(x: Any) -> str:
        return np.array2string(
            np.asarray(x),
            precision=17,
            separator=", ",
            max_line_width=100,
            threshold=400,
        )

    return (
        f"{mdp!r}\n  transitions[s, a, s'] =\n{arr(mdp.transition_array)}\n"
        f"  log_success[t, s, a] =\n{arr(mdp.log_success)}\n"
        f"  log_terminal_success[s] = {arr(mdp.log_terminal_success)}\n"
        f"  initial[s] = {arr(mdp.initial_array)}\n"
        f"  prior[s, a] =\n{arr(mdp.prior_array)}"
    )


def _fail(message: str) -> NoReturn:
    """Every mismatch is raised here, outside any ``except`` block: hypothesis
    tells failures apart by where they are raised (and their context), so one
    bug is one failure, not an ExceptionGroup."""
    __tracebackhide__ = True
    raise AssertionError(message)


def _rel(got: float, want: float) -> float:
    if got == want:
        return 0.0
    if want == 0 or not math.isfinite(want) or not math.isfinite(got):
        return math.inf
    return abs(got - want) / abs(want)


def _cell(index: tuple[int, ...], names: Sequence[str] | None) -> str:
    """``t=0 s=1 a=2`` with index names, else ``[0, 1, 2]`` (``value`` for a
    scalar)."""
    if not index:
        return "value"
    if names is not None and len(names) == len(index):
        return " ".join(f"{n}={i}" for n, i in zip(names, index, strict=True))
    return "[" + ", ".join(str(i) for i in index) + "]"


def _report(
    g: npt.NDArray[np.float64],
    w: npt.NDArray[np.float64],
    rel: float,
    abs: float,
    name: str,
    names: Sequence[str] | None,
    radii: npt.NDArray[np.float64] | None = None,
) -> str | None:
    """None when ``g`` matches ``w`` (the criterion of :func:`assert_close`),
    else the report: a count line, the first :data:`_SHOWN` differing cells
    (``+/- rad`` after want when ``radii`` are the oracle's enclosure radii),
    and how many more."""
    tol = f"(rel {rel:g}, abs {abs:g})"
    if g.shape != w.shape:
        axes = f" [{', '.join(names)}]" if names else ""
        return f"{name}: got shape {g.shape}, the oracle's is {w.shape}{axes} {tol}"
    same_inf = np.isinf(g) & np.isinf(w) & (np.sign(g) == np.sign(w))
    with np.errstate(invalid="ignore"):
        diff = np.abs(g - w)
        close = (
            np.isfinite(g) & np.isfinite(w) & (diff <= np.maximum(abs, rel * np.abs(w)))
        )
    ok = same_inf | close
    if bool(ok.all()):
        return None
    bad = np.argwhere(~ok)
    noun = "cell" if g.size == 1 else "cells"
    lines = [f"{name}: {len(bad)} of {g.size} {noun} differ {tol}"]
    rows = []
    for idx in bad[:_SHOWN]:
        i = tuple(int(x) for x in idx)
        gi, wi = float(g[i]), float(w[i])
        want = repr(wi)
        if radii is not None and math.isfinite(wi):
            want += f" +/- {float(radii[i]):.1e}"
        rows.append((_cell(i, names), repr(gi), want, f"{_rel(gi, wi):.3g}"))
    widths = [max(len(r[k]) for r in rows) for k in range(3)]
    for cell, got, want, rd in rows:
        lines.append(
            f"  {cell:<{widths[0]}}  got {got:<{widths[1]}}  "
            f"want {want:<{widths[2]}}  rel diff {rd}"
        )
    if len(bad) > _SHOWN:
        lines.append(f"  ... and {len(bad) - _SHOWN} more")
    return "\n".join(lines)


def _floats(x: Any) -> npt.NDArray[np.float64]:
    out: npt.NDArray[np.float64] = np.asarray(_to_numpy(x), dtype=np.float64)
    return out


def assert_close(
    got: Any,
    wanted: Any,
    *,
    rel: float = 1e-9,
    abs: float = 1e-12,
    name: str = "result",
    inputs: str | None = None,
    index_names: Sequence[str] | None = None,
) -> None:
    """Elementwise |got - wanted| <= max(abs, rel * |wanted|); inf matches inf of
    the same sign; NaN never matches.

    Args:
        got: the implementation's values (array-like, torch tensor or scalar).
        wanted: the reference values, of the same shape.
        rel, abs: the relative and absolute tolerance (>= 0).
        name: what is compared, for the report's first line.
        inputs: text appended to the report (for instance the inputs).
        index_names: one name per axis (``("t", "s", "a")``): cells are shown
            as ``t=0 s=1 a=2``.

    Returns:
        None. A mismatch raises ``AssertionError``: the count of differing
        cells, the first five (cell, got, want, relative difference), how many
        more, then ``inputs``; a shape mismatch names both shapes.
    """
    __tracebackhide__ = True
    if not (rel >= 0 and abs >= 0):
        raise ValueError(f"rel, abs: must be >= 0, got {rel!r}, {abs!r}")
    names = tuple(index_names) if index_names else None
    message = _report(_floats(got), _floats(wanted), rel, abs, name, names)
    if message is not None:
        _fail(message + (f"\ninputs: {inputs}" if inputs else ""))


def _to_numpy(x: Any) -> Any:
    detach = getattr(x, "detach", None)
    if detach is not None:  # a torch tensor, without importing torch here
        return detach().cpu().double().numpy()
    return x


def _case_line(
    mdp: MDP,
    quantity: str,
    spec: PolicySpec,
    f: SoftQ | None,
    reference: PolicySpec | None,
    tolerance: Tolerance,
) -> str:
    """The MDP and the failing query as one line of compact CASE_FORMAT JSON
    (the package's case writer: exact rationals such as "1" and "2/5")."""
    query = Query(
        id="q",
        quantity=quantity,
        policy=spec,
        f=f,
        reference=reference,
        tolerance=tolerance,
    )
    data = case_to_json(to_case(mdp, [query]))
    if not data.get("expected"):
        data.pop("expected", None)
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def assert_matches_oracle(
    got: Any,
    mdp: MDP,
    quantity: str,
    policy: PolicySpec | None = None,
    *,
    f: SoftQ | None = None,
    reference: PolicySpec | None = None,
    rel: float = 1e-9,
    abs: float = 1e-12,
    exact: bool | None = None,
) -> None:
    """Compare an implementation's answer with the oracle's.

    Args:
        got: the implementation's answer: an array ``[t, s, a]`` / ``[t, s]``
            (as :func:`oracle` indexes the quantity), a torch tensor, or a
            scalar.
        mdp: the MDP.
        quantity: a CASE_FORMAT quantity name (:data:`QUANTITIES`).
        policy: the policy (default: the prior).
        f: the soft-Q map, for ``kappa``.
        reference: the second policy, for ``causal_kl``.
        rel, abs: the tolerance, as :func:`assert_close`.
        exact: None: the exact engine for a rational policy of an MDP whose
            inputs have small denominators
            (:func:`coherence.backends.exact_is_fast`), else the certified
            engine (arb balls, 128 bits; an enclosure wider than a quarter of
            the tolerance is a ValueError naming the bits it would need).
            True / False force :func:`oracle`'s exact or float64 engine.

    Returns:
        None. A mismatch raises one ``AssertionError`` of a few lines: the
        count of differing cells and which oracle decided, the first five
        cells (``t= s= a=``, got, want with the certified enclosure's radius,
        relative difference), and ``case:`` the MDP and the query as one line
        of CASE_FORMAT JSON (``case_from_json(json.loads(...))`` of
        :mod:`coherence.reference.case` reads it back; ``coherence
        conformance run`` answers it).
    """
    __tracebackhide__ = True
    from coherence.backends import exact_is_fast

    if not (rel >= 0 and abs >= 0):
        raise ValueError(f"rel, abs: must be >= 0, got {rel!r}, {abs!r}")
    spec = policy or PolicySpec("prior")
    row = quantity_row(quantity)
    names = row.index_letters or None
    g = _floats(got)
    radii = None
    rational = spec.is_rational and (reference is None or reference.is_rational)
    if exact is None and not (rational and exact_is_fast(mdp)):
        want, radii = _certified(mdp, row.name, spec, f, reference, rel, abs)
        engine = "certified oracle, 128 bits"
    else:
        answer = oracle(mdp, quantity, policy, f=f, reference=reference, exact=exact)
        want = _floats(answer)
        engine = (
            "numpy float64 oracle" if exact is False or not rational else "exact oracle"
        )
    name = f"{row.name} of {spec.label()} vs the {engine}"
    message = _report(g, want, rel, abs, name, names, radii)
    if message is None:
        return
    case = _case_line(mdp, row.name, spec, f, reference, Tolerance(rel, abs))
    _fail(f"{message}\ncase: {case}")


def _certified(
    mdp: MDP,
    quantity: str,
    spec: PolicySpec,
    f: SoftQ | None,
    reference: PolicySpec | None,
    rel: float,
    abs: float,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The certified enclosures' midpoints and radii (float64); an enclosure
    wider than a quarter of the tolerance is a ValueError naming the bits it
    would need."""
    from coherence.reference.certified import (
        DEFAULT_BITS,
        bits_needed,
        certified_value,
    )

    balls = certified_value(
        Evaluator(mdp, "certified"), quantity, spec, f=f, reference=reference
    )
    mids: list[float] = []
    rads: list[float] = []

    def walk(x: Any) -> Any:
        if isinstance(x, list):
            return [walk(y) for y in x]
        if isinstance(x, float):  # an exact infinity
            mids.append(x)
            rads.append(0.0)
            return x
        tol = max(abs, rel * math.fabs(float(x)))
        if float(x.rad()) > tol / 4:
            bits = bits_needed(x, rel, abs, DEFAULT_BITS)
            raise ValueError(
                f"{quantity} of {spec.label()}: the certified enclosure "
                f"{x.str(10)} is wider than the tolerance (rel {rel:g}, "
                f"abs {abs:g}); it needs about {bits} bits (certified:{bits})"
            )
        mids.append(float(x) + 0.0)
        rads.append(float(x.rad()))
        return 0

    shape = np.asarray(walk(balls)).shape
    return (
        np.array(mids, dtype=np.float64).reshape(shape),
        np.array(rads, dtype=np.float64).reshape(shape),
    )


class Oracle:
    """Oracle answers and assertions for tests: the value of the pytest
    plugin's ``oracle`` fixture (:mod:`coherence.testing_plugin`); every
    answer goes through :class:`coherence.queries.Evaluator`."""

    def __call__(
        self,
        mdp: MDP,
        quantity: str,
        policy: PolicySpec | None = None,
        *,
        f: SoftQ | None = None,
        reference: PolicySpec | None = None,
        exact: bool | None = None,
    ) -> FloatArray | float:
        """The reference answer, as :func:`oracle`.

        Args:
            mdp, quantity, policy, f, reference, exact: as :func:`oracle`.

        Returns:
            A float (scalar quantity) or a float64 array.
        """
        return oracle(mdp, quantity, policy, f=f, reference=reference, exact=exact)

    def assert_matches(
        self,
        got: Any,
        mdp: MDP,
        quantity: str,
        policy: PolicySpec | None = None,
        *,
        f: SoftQ | None = None,
        reference: PolicySpec | None = None,
        rel: float = 1e-9,
        abs: float = 1e-12,
        exact: bool | None = None,
    ) -> None:
        """An implementation's answer against the oracle, as
        :func:`assert_matches_oracle`.

        Args:
            got, mdp, quantity, policy, f, reference, rel, abs, exact: as
                :func:`assert_matches_oracle`.

        Returns:
            None; a mismatch raises ``AssertionError`` (the short report).
        """
        __tracebackhide__ = True
        assert_matches_oracle(
            got, mdp, quantity, policy, f=f, reference=reference, rel=rel, abs=abs,
            exact=exact,
        )  # fmt: skip

    def evaluator(self, mdp: MDP, backend: str = "auto") -> Evaluator:
        """The query layer's evaluator of ``mdp``, for quantities in the
        engines' native form.

        Args:
            mdp: the MDP.
            backend: a backend name (``exact``, ``numpy``, ``certified``,
                ``auto``, ...).

        Returns:
            A :class:`coherence.queries.Evaluator` (it caches its policies).
        """
        return Evaluator(mdp, backend)

    def __repr__(self) -> str:
        """A fixed name (the object holds no state)."""
        return "coherence.testing.Oracle()"
