"""Public helpers for property-based tests against the coherence oracle.

Strategies (hypothesis) draw small random MDPs with the features that break
implementations: deterministic or stochastic dynamics, uniform or non-uniform
priors (with zero entries), deliberate ties (two actions with identical
transitions, success and prior), zero-success actions, terminal rewards and
time-dependent success. Probabilities come from logits drawn in [-3, 3] and
softmaxed, so no subnormal numbers appear.

* :func:`mdps` -> a validated :class:`coherence.reference.model.MDP`;
* :func:`mdp_batches` -> :class:`MDPBatch`, B MDPs of one size plus their
  stacked float64 arrays (the exact float views the oracle uses).

Assertion helpers compare an implementation's output against the oracle and,
on failure, list every failing point (index, got, wanted, relative difference)
and the inputs:

* :func:`oracle` -- the reference answer of a CASE_FORMAT quantity (the exact
  engine for rational policies, the float64 numpy engine otherwise);
* :func:`assert_matches_oracle` -- ``assert_close(got, oracle(...))``;
* :func:`assert_close` -- elementwise |got - want| <= max(abs, rel * |want|),
  inf equal to inf of the same sign, NaN never equal;
* :func:`tolerance_for` -- the dtype- and horizon-scaled tolerance used by this
  project's own float engines;
* :func:`to_case` -- an MDP and queries as a conformance case, to keep a failing
  example (``write_case(path, to_case(mdp, [...]))``).

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

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from hypothesis import strategies as st

from coherence.queries import Evaluator, to_floats
from coherence.reference.case import Tolerance
from coherence.reference.model import MDP, FloatArray
from coherence.reference.operators import PolicySpec
from coherence.reference.quantities import QUANTITIES as QUANTITY_ROWS
from coherence.reference.quantities import quantity as quantity_row
from coherence.reference.recurrences import SoftQ
from coherence.reference.tolerances import tolerance_for
from coherence.suite import to_case

__all__ = [
    "QUANTITIES",
    "MDPBatch",
    "Tolerance",
    "assert_close",
    "assert_matches_oracle",
    "describe_mdp",
    "mdp_batches",
    "mdps",
    "oracle",
    "to_case",
    "tolerance_for",
]

#: CASE_FORMAT quantities :func:`oracle` answers (the rows of
#: :mod:`coherence.reference.quantities`).
QUANTITIES = tuple(QUANTITY_ROWS)
_LOGIT = st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False)
_LOG_SUCCESS = st.floats(-4.0, 0.0, allow_nan=False, allow_infinity=False)
_MAX_REPORTED = 20


# ------------------------------------------------------------------ strategies
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


@st.composite
def _distribution(draw: st.DrawFn, n: int, allow_zero: bool) -> list[float]:
    logits = draw(st.lists(_LOGIT, min_size=n, max_size=n))
    keep = [True] * n
    if allow_zero and n > 1:
        keep = draw(st.lists(st.booleans(), min_size=n, max_size=n))
        if not any(keep):
            keep[draw(st.integers(0, n - 1))] = True
    return _softmax(logits, keep)


@dataclass(frozen=True)
class _Options:
    deterministic: bool | None
    uniform_prior: bool | None
    ties: bool
    zero_success: bool
    terminal: bool
    time_dependent: bool


@st.composite
def _mdp_of_shape(draw: st.DrawFn, S: int, A: int, T: int, o: _Options) -> MDP:
    det = draw(st.booleans()) if o.deterministic is None else o.deterministic
    P = np.zeros((S, A, S))
    for s in range(S):
        for a in range(A):
            if det:
                P[s, a, draw(st.integers(0, S - 1))] = 1.0
            else:
                P[s, a] = draw(_distribution(S, allow_zero=True))
    steps = T if (o.time_dependent and draw(st.booleans())) else 1
    logr = np.array(
        draw(st.lists(_LOG_SUCCESS, min_size=steps * S * A, max_size=steps * S * A))
    ).reshape(steps, S, A)
    rho = np.exp(logr)
    if o.zero_success and draw(st.booleans()):
        mask = np.array(
            draw(
                st.lists(st.booleans(), min_size=steps * S * A, max_size=steps * S * A)
            )
        ).reshape(rho.shape)
        rho = np.where(mask, 0.0, rho)
    rho = np.broadcast_to(rho, (T, S, A)).copy()
    term = np.ones(S)
    if o.terminal and draw(st.booleans()):
        term = np.exp(np.array(draw(st.lists(_LOG_SUCCESS, min_size=S, max_size=S))))
        if o.zero_success and draw(st.booleans()):
            term[draw(st.integers(0, S - 1))] = 0.0
    uniform = draw(st.booleans()) if o.uniform_prior is None else o.uniform_prior
    prior = np.full((S, A), 1.0 / A)
    if not uniform:
        prior = np.array([draw(_distribution(A, allow_zero=True)) for _ in range(S)])
    if o.ties and A >= 2 and draw(st.booleans()):
        s = draw(st.integers(0, S - 1))
        a, b = draw(
            st.lists(st.integers(0, A - 1), min_size=2, max_size=2, unique=True)
        )
        P[s, b] = P[s, a]
        rho[:, s, b] = rho[:, s, a]
        prior[s, a] = prior[s, b] = (prior[s, a] + prior[s, b]) / 2
    mu = np.array(draw(_distribution(S, allow_zero=True)))
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
    """Random validated MDPs (SPEC §2).

    ``deterministic`` / ``uniform_prior``: True, False, or None to draw either.
    ``ties``: sometimes give two actions of one state identical transitions,
    success and prior. ``zero_success``: sometimes set success probabilities
    (step or terminal) to 0. ``terminal``: sometimes draw terminal success
    below 1. ``time_dependent``: sometimes draw success per step t.
    """
    _check_range("states", min_states, max_states, 1)
    _check_range("actions", min_actions, max_actions, 1)
    _check_range("horizon", min_horizon, max_horizon, 1)
    o = _options(
        deterministic, uniform_prior, ties, zero_success, terminal, time_dependent
    )
    shapes = st.tuples(
        st.integers(min_states, max_states),
        st.integers(min_actions, max_actions),
        st.integers(min_horizon, max_horizon),
    )
    return shapes.flatmap(lambda sat: _mdp_of_shape(*sat, o))


@dataclass(frozen=True)
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
        """Stack B MDPs of one size into one batch."""
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
    """Batches of B MDPs of one drawn size (S, A, T); options as :func:`mdps`."""
    _check_range("batch", min_batch, max_batch, 1)
    _check_range("states", min_states, max_states, 1)
    _check_range("actions", min_actions, max_actions, 1)
    _check_range("horizon", min_horizon, max_horizon, 1)
    o = _options(
        deterministic, uniform_prior, ties, zero_success, terminal, time_dependent
    )

    def batch(shape: tuple[int, int, int, int]) -> st.SearchStrategy[MDPBatch]:
        B, S, A, T = shape
        members = st.lists(_mdp_of_shape(S, A, T, o), min_size=B, max_size=B)
        return members.map(MDPBatch.stack)

    shapes = st.tuples(
        st.integers(min_batch, max_batch),
        st.integers(min_states, max_states),
        st.integers(min_actions, max_actions),
        st.integers(min_horizon, max_horizon),
    )
    return shapes.flatmap(batch)


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
    """The reference answer of ``quantity`` (CASE_FORMAT names) for the policy
    ``policy`` (default: the prior), as float64 (tables indexed ``[t, s, a]``;
    ``w`` and ``occupancy`` ``[t, s]`` for t = 0..T), through the query layer.

    ``exact=None`` uses the exact rational engine where the policy is rational
    and the float64 numpy engine otherwise; True / False force one of them.
    ``kappa`` needs ``f``; ``causal_kl`` needs ``reference``.
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


# ----------------------------------------------------------------- assertions
def describe_mdp(mdp: MDP) -> str:
    """The inputs of ``mdp`` as float arrays, for failure reports."""

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


def _rel(got: float, want: float) -> float:
    if got == want:
        return 0.0
    if want == 0 or not math.isfinite(want) or not math.isfinite(got):
        return math.inf
    return abs(got - want) / abs(want)


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
    the same sign; NaN never matches. Raises ``AssertionError`` listing every
    failing point (first 20): index, got, wanted, relative difference, then
    ``inputs``."""
    if not (rel >= 0 and abs >= 0):
        raise ValueError(f"rel, abs: must be >= 0, got {rel!r}, {abs!r}")
    g = np.asarray(_to_numpy(got), dtype=np.float64)
    w = np.asarray(_to_numpy(wanted), dtype=np.float64)
    tail = f"\ninputs: {inputs}" if inputs else ""
    if g.shape != w.shape:
        raise AssertionError(
            f"{name}: shape {g.shape} differs from wanted {w.shape}{tail}"
        )
    same_inf = np.isinf(g) & np.isinf(w) & (np.sign(g) == np.sign(w))
    with np.errstate(invalid="ignore"):
        diff = np.abs(g - w)
        close = (
            np.isfinite(g) & np.isfinite(w) & (diff <= np.maximum(abs, rel * np.abs(w)))
        )
    ok = same_inf | close
    if bool(ok.all()):
        return
    bad = np.argwhere(~ok)
    names = tuple(index_names) if index_names else None
    lines = [f"{name}: {len(bad)} of {g.size} points differ (rel {rel:g}, abs {abs:g})"]
    head = (
        "index"
        if names is None or len(names) != g.ndim
        else "(" + ", ".join(names) + ")"
    )
    lines.append(f"  {head:<16} {'got':>24} {'wanted':>24} {'rel diff':>10}")
    for idx in bad[:_MAX_REPORTED]:
        i = tuple(int(x) for x in idx)
        gi, wi = float(g[i]), float(w[i])
        lines.append(f"  {i!s:<16} {gi!r:>24} {wi!r:>24} {_rel(gi, wi):>10.3g}")
    if len(bad) > _MAX_REPORTED:
        lines.append(f"  ... and {len(bad) - _MAX_REPORTED} more")
    raise AssertionError("\n".join(lines) + tail)


def _to_numpy(x: Any) -> Any:
    detach = getattr(x, "detach", None)
    if detach is not None:  # a torch tensor, without importing torch here
        return detach().cpu().double().numpy()
    return x


def assert_matches_oracle(
    got: Any,
    mdp: MDP,
    quantity: str,
    policy: PolicySpec | None = None,
    *,
    f: SoftQ | None = None,
    rel: float = 1e-9,
    abs: float = 1e-12,
    exact: bool | None = None,
) -> None:
    """Compare an implementation's ``got`` (array ``[t, s, a]`` / ``[t, s]`` or a
    scalar) with the oracle and fail with a per-point report.

    ``exact=None``: the exact engine for a rational policy of an MDP whose
    inputs have small denominators (:func:`coherence.backends.exact_is_fast`),
    else the certified engine (arb balls, 128 bits), whose enclosures the report
    prints; an enclosure wider than a quarter of the tolerance is a ValueError
    naming the bits it would need. True / False force :func:`oracle`'s exact or
    float64 engine."""
    from coherence.backends import exact_is_fast

    spec = policy or PolicySpec("prior")
    row = quantity_row(quantity)
    letters = row.index_letters
    name = f"{quantity} of {spec.label()}"
    if exact is None and not (spec.is_rational and exact_is_fast(mdp)):
        _assert_within_enclosure(got, mdp, row.name, spec, f, rel, abs, name)
        return
    want = oracle(mdp, quantity, policy, f=f, exact=exact)
    assert_close(
        got,
        want,
        rel=rel,
        abs=abs,
        name=name,
        inputs=describe_mdp(mdp),
        index_names=letters or None,
    )


def _assert_within_enclosure(
    got: Any,
    mdp: MDP,
    quantity: str,
    spec: PolicySpec,
    f: SoftQ | None,
    rel: float,
    abs: float,
    name: str,
) -> None:
    """assert_close against the certified enclosure's midpoints; the failure
    report lists each failing point's enclosure."""
    from coherence.reference.certified import (
        DEFAULT_BITS,
        bits_needed,
        certified_value,
    )

    balls = certified_value(Evaluator(mdp, "certified"), quantity, spec, f=f)
    flat: list[Any] = []

    def walk(x: Any) -> Any:
        if isinstance(x, list):
            return [walk(y) for y in x]
        flat.append(x)
        return float(x) + 0.0

    want = np.asarray(walk(balls), dtype=np.float64)
    for ball in flat:
        if isinstance(ball, float):
            continue  # an exact infinity
        tol = max(abs, rel * math.fabs(float(ball)))
        if float(ball.rad()) > tol / 4:
            bits = bits_needed(ball, rel, abs, DEFAULT_BITS)
            raise ValueError(
                f"{name}: the certified enclosure {ball.str(10)} is wider than "
                f"the tolerance (rel {rel:g}, abs {abs:g}); it needs about "
                f"{bits} bits (certified:{bits})"
            )
    letters = quantity_row(quantity).index_letters
    try:
        assert_close(
            got,
            want,
            rel=rel,
            abs=abs,
            name=name,
            inputs=describe_mdp(mdp),
            index_names=letters or None,
        )
    except AssertionError as exc:
        g = np.asarray(_to_numpy(got), dtype=np.float64).ravel()
        if g.size != len(flat):
            raise
        lines = []
        for i, ball in enumerate(flat):
            if not _close(float(g[i]), float(ball), rel, abs):
                index = np.unravel_index(i, want.shape) if want.shape else ()
                text = ball if isinstance(ball, float) else ball.str(20)
                lines.append(f"  {tuple(int(x) for x in index)!s:<16} {text}")
        report = (
            f"\ncertified enclosures of the failing points ({DEFAULT_BITS} bits):\n"
        )
        raise AssertionError(
            str(exc) + report + "\n".join(lines[:_MAX_REPORTED])
        ) from None


def _close(got: float, want: float, rel: float, abs: float) -> bool:
    """The criterion of :func:`assert_close` at one point."""
    if math.isinf(got) or math.isinf(want):
        return got == want
    return math.fabs(got - want) <= max(abs, rel * math.fabs(want))
