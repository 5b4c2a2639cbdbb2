"""Hypothesis strategy for small MDPs with small-denominator rational numbers
(fast for the exact oracle): deterministic or stochastic, uniform or non-uniform
priors (with zeros), zero success probabilities, terminal rewards, and
time-dependent success."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import strategies as st

from coherence.reference.model import MDP

PROBS = [
    Fraction(0),
    Fraction(1, 4),
    Fraction(1, 3),
    Fraction(1, 2),
    Fraction(2, 3),
    Fraction(3, 4),
    Fraction(1),
]


@st.composite
def distributions(draw: st.DrawFn, n: int, allow_zero: bool = True) -> list[Fraction]:
    low = 0 if allow_zero else 1
    weights = draw(st.lists(st.integers(low, 4), min_size=n, max_size=n))
    if sum(weights) == 0:
        weights[draw(st.integers(0, n - 1))] = 1
    total = sum(weights)
    return [Fraction(w, total) for w in weights]


@st.composite
def small_mdps(
    draw: st.DrawFn,
    *,
    deterministic: bool | None = None,
    max_states: int = 4,
    max_actions: int = 3,
    max_horizon: int = 3,
    uniform_prior: bool | None = None,
) -> MDP:
    S = draw(st.integers(1, max_states))
    A = draw(st.integers(1, max_actions))
    T = draw(st.integers(1, max_horizon))
    det = draw(st.booleans()) if deterministic is None else deterministic
    P = []
    for _ in range(S):
        rows = []
        for _ in range(A):
            if det:
                row = [Fraction(0)] * S
                row[draw(st.integers(0, S - 1))] = Fraction(1)
            else:
                row = draw(distributions(S))
            rows.append(row)
        P.append(rows)
    success = [
        [[draw(st.sampled_from(PROBS)) for _ in range(A)] for _ in range(S)]
        for _ in range(T)
    ]
    terminal = [draw(st.sampled_from(PROBS)) for _ in range(S)]
    uni = draw(st.booleans()) if uniform_prior is None else uniform_prior
    prior = (
        [[Fraction(1, A)] * A for _ in range(S)]
        if uni
        else [draw(distributions(A)) for _ in range(S)]
    )
    initial = draw(distributions(S))
    return MDP.from_arrays(
        transitions=P,
        initial=initial,
        success=success,
        terminal_success=terminal,
        prior=prior,
        horizon=T,
    )
