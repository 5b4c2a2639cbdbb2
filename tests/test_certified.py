"""The certified backend (arb balls) against the exact oracle and float64.

Sources of expected values: the exact engine (rational answers, and float
quantities computed from exact rationals), SPEC §2's conventions, and the
float64 engine's stated tolerance (``coherence.reference.tolerances``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from flint import arb, ctx, fmpq
from hypothesis import given, settings
from hypothesis import strategies as st

from coherence import backends
from coherence.queries import Evaluator, to_floats
from coherence.reference.case import Case, Query, load_case
from coherence.reference.certified import (
    ARB,
    Enclosure,
    Undecided,
    bits_needed,
    certified_value,
    check_bits,
)
from coherence.reference.model import MDP
from coherence.reference.operators import PolicySpec
from coherence.reference.quantities import QUANTITIES
from coherence.reference.recurrences import Argmax, Boltzmann
from coherence.reference.tolerances import query_tolerance
from tests.exact_mdps import small_mdps
from tests.shared import CASES, ROOT

PROOF_CASES = ROOT / "coherence" / "proofs" / "cases"


def _case_paths() -> list[Path]:
    return sorted(CASES.glob("*.json")) + sorted(PROOF_CASES.glob("*.json"))


def _leaves(x: Any) -> Iterator[Any]:
    if isinstance(x, list):
        for y in x:
            yield from _leaves(y)
    else:
        yield x


def _exact(x: Any) -> Fraction:
    return Fraction(int(x.numerator), int(x.denominator))


#: The exact engine's float quantities take logs as log(num) - log(den) of
#: exact rationals, which cancels: with 40-digit denominators the error reaches
#: about 100 ulp (2.4e-14 seen on J_soft); the exact value itself is checked
#: for J_soft by :func:`_assert_log_encloses`.
EXACT_FLOAT_REL = 1e-12


def _assert_encloses(ball: Any, exact: Any, where: str) -> None:
    """``ball`` contains the exact rational (or equals an exact infinity); a
    float from the exact engine lies within :data:`EXACT_FLOAT_REL` of it."""
    if isinstance(ball, float):
        assert ball == exact, f"{where}: certified {ball} vs exact {exact}"
        return
    enc = Enclosure.of(ball, None)
    if isinstance(exact, float):
        assert enc.distance(exact) <= EXACT_FLOAT_REL * max(1.0, abs(exact)), (
            f"{where}: exact float {exact!r} is outside {ball.str(20)}"
        )
        return
    assert enc.contains(_exact(exact)), f"{where}: {exact} outside {ball.str(20)}"


@contextmanager
def _bits(n: int) -> Iterator[None]:
    old = ctx.prec
    ctx.prec = n
    try:
        yield
    finally:
        ctx.prec = old


def _queries(case: Case) -> Iterator[Query]:
    yield from case.queries


# ------------------------------------------------------------------ cases
@pytest.mark.parametrize("path", _case_paths(), ids=lambda p: p.stem)
def test_enclosures_contain_exact_answers_on_every_case(path: Path) -> None:
    """Every query of every exact public and proofs case: the certified ball
    contains the exact engine's answer (maxent, not rational, against numpy)."""
    case = load_case(path)
    exact = Evaluator(case.mdp, "exact")
    cert = Evaluator(case.mdp, "certified")
    numpy_ = Evaluator(case.mdp, "numpy")
    for q in _queries(case):
        got = certified_value(cert, q.quantity, q.policy, f=q.f, reference=q.reference)
        if q.policy.operator == "maxent" or (
            q.reference is not None and q.reference.operator == "maxent"
        ):
            want = numpy_.value(q.quantity, q.policy, f=q.f, reference=q.reference)
            tol = query_tolerance("float64", case.mdp.horizon, q)
            for g, w in zip(_leaves(got), to_floats(want).ravel(), strict=True):
                bound = max(tol.abs, tol.rel * abs(w))
                assert Enclosure.of(g).distance(float(w)) <= bound, (case.name, q.id)
            continue
        want = exact.value(q.quantity, q.policy, f=q.f, reference=q.reference)
        pairs = zip(_leaves(got), _leaves(want), strict=True)
        for i, (g, w) in enumerate(pairs):
            _assert_encloses(g, w, f"{case.name}/{q.id}[{i}]")


# -------------------------------------------------------------- hypothesis
SPECS = [
    PolicySpec("G", k=2),
    PolicySpec("T", alpha=Fraction(2)),
    PolicySpec("F", k=2),
    PolicySpec("H_literal", k=2),
    PolicySpec("B", i=2, f=Argmax()),
    PolicySpec("B", i=1, f=Boltzmann(Fraction(1, 2))),
]


@settings(max_examples=100)
@given(small_mdps(max_states=3, max_actions=3, max_horizon=3), st.sampled_from(SPECS))
def test_enclosures_contain_exact_on_random_rational_mdps(
    mdp: MDP, spec: PolicySpec
) -> None:
    """Policy, w, J_prob, J_count, J_soft, J_sum, causal entropy: the
    ball contains the exact answer, or the engine refuses (never guesses)."""
    exact = Evaluator(mdp, "exact")
    cert = Evaluator(mdp, "certified")
    names = ("policy", "w", "J_prob", "J_count", "J_soft", "J_sum", "causal_entropy")
    for name in names:
        try:
            got = certified_value(cert, name, spec)
        except Undecided as exc:
            assert "exact" in str(exc)
            return
        want = exact.value(name, spec)
        for g, w in zip(_leaves(got), _leaves(want), strict=True):
            _assert_encloses(g, w, f"{name} of {spec.label()}")
    _assert_log_encloses(
        certified_value(cert, "J_soft", spec), exact.value("J_prob", spec)
    )


def _assert_log_encloses(ball: Any, exact_prob: Any) -> None:
    """J_soft's ball overlaps log(exact J_prob) enclosed at 512 bits: two
    rigorous enclosures of one real number always overlap."""
    if exact_prob == 0:
        assert ball == -math.inf
        return
    with _bits(512):
        reference = arb(fmpq(int(exact_prob.numerator), int(exact_prob.denominator)))
        assert ball.overlaps(reference.log()), (ball, exact_prob)


def _float_mdp(seed: int) -> MDP:
    """A stochastic float MDP (3 states, 2 actions, T = 3) with exact zeros."""
    import numpy as np

    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.ones(3), size=(3, 2))
    P[0, 1] = [0.0, 0.25, 0.75]
    rho = rng.uniform(0.05, 1.0, (3, 3, 2))
    rho[1, 2, 0] = 0.0
    prior = np.array([[0.5, 0.5], [1.0, 0.0], [0.3, 0.7]])
    return MDP.from_arrays(
        transitions=P,
        initial=rng.dirichlet(np.ones(3)),
        success=rho,
        terminal_success=rng.uniform(0.1, 1.0, 3),
        prior=prior,
        horizon=3,
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_numpy_lies_within_float64_tolerance_of_the_enclosure(seed: int) -> None:
    """The float64 engine's answer is within its stated tolerance of the ball,
    for every quantity of G_3 and B_2[argmax] on a float MDP."""
    mdp = _float_mdp(seed)
    cert, numpy_ = Evaluator(mdp, "certified"), Evaluator(mdp, "numpy")
    for spec in (PolicySpec("G", k=3), PolicySpec("T", alpha=Fraction(1, 2))):
        for name, row in QUANTITIES.items():
            f = Argmax() if "f" in row.parameters else None
            ref = PolicySpec("prior") if "reference" in row.parameters else None
            q = Query(id="q", quantity=name, policy=spec, f=f, reference=ref)
            tol = query_tolerance("float64", mdp.horizon, q)
            balls = certified_value(cert, name, spec, f=f, reference=ref)
            floats = to_floats(numpy_.value(name, spec, f=f, reference=ref)).ravel()
            for ball, x in zip(_leaves(balls), floats, strict=True):
                if isinstance(ball, float):
                    assert ball == x
                    continue
                enc = Enclosure.of(ball)
                assert enc.distance(float(x)) <= max(tol.abs, tol.rel * abs(x))
                assert float(ball.rad()) <= 1e-25 * max(1e-300, abs(float(ball)))


# ------------------------------------------------------------ conventions
def _mdp(**kw: Any) -> MDP:
    base: dict[str, Any] = {
        "transitions": [[[1, 0], [0, 1]], [[0, 1], [0, 1]]],
        "initial": [1, 0],
        "success": [[[Fraction(1, 3), Fraction(1, 3)], [1, 1]]],
        "terminal_success": [Fraction(1, 3), Fraction(1, 3)],
        "prior": [[Fraction(1, 2), Fraction(1, 2)], [Fraction(1, 2), Fraction(1, 2)]],
        "horizon": 1,
    }
    base.update(kw)
    return MDP.from_arrays(**base)


def test_argmax_tie_that_balls_cannot_decide_is_an_error_naming_t_s() -> None:
    """z(s0, a0) = z(s0, a1) = 1/9 through different successors: the balls
    overlap, the actions are not twins, so the engine refuses (SPEC §2 asks for
    exact equality) and names (t, s); exact gives the uniform tie."""
    mdp = _mdp()
    spec = PolicySpec("B", i=1, f=Argmax())
    with pytest.raises(Undecided, match=r"argmax at \(t=0, s=0 's0'\).*exact"):
        Evaluator(mdp, "certified").value("policy", spec)
    exact = Evaluator(mdp, "exact").value("policy", spec)
    assert exact[0][0] == [Fraction(1, 2), Fraction(1, 2)]


def test_argmax_twins_are_decided_exactly() -> None:
    """Two actions with the same exact success and successor distribution tie
    provably (uniform, as the exact engine says), though their z are inexact."""
    third = Fraction(1, 3)
    mdp = _mdp(transitions=[[[third, 2 * third], [third, 2 * third]], [[0, 1], [0, 1]]])
    spec = PolicySpec("B", i=2, f=Argmax())
    got = Evaluator(mdp, "certified").value("policy", spec)
    want = Evaluator(mdp, "exact").value("policy", spec)
    for g, w in zip(_leaves(got), _leaves(want), strict=True):
        assert g.is_exact() and g == arb(float(w))
    assert want[0][0] == [Fraction(1, 2), Fraction(1, 2)]


def test_exact_zeros_stay_exact() -> None:
    """rho = 0 gives z = 0 and w = 0 exactly; conditioning there returns the
    base policy exactly (SPEC §2), and J_soft of J_prob = 0 is exactly -inf."""
    mdp = _mdp(success=[[[0, 0], [1, 1]]], initial=[1, 0])
    cert = Evaluator(mdp, "certified")
    w = certified_value(cert, "w", PolicySpec("G", k=1))
    assert w[0][0].is_zero() and w[0][0].is_exact()
    pol = certified_value(cert, "policy", PolicySpec("G", k=1))
    assert all(x.is_exact() and x == arb(0.5) for x in pol[0][0])
    assert certified_value(cert, "J_soft", PolicySpec("G", k=1)) == -math.inf
    assert certified_value(cert, "J_sum", PolicySpec("G", k=1)) == -math.inf
    assert Evaluator(mdp, "exact").value("J_sum", PolicySpec("G", k=1)) == -math.inf


def test_a_ball_straddling_zero_is_undecided() -> None:
    """SPEC §2's zero test on a ball that contains 0 but is not 0 raises."""
    ball = arb(0, 1e-30)
    with pytest.raises(Undecided, match="contains 0"):
        ARB.where_zero(ball, arb(1), lambda: arb(2))
    assert ARB.where_zero(arb(0), arb(1), lambda: arb(2)) == arb(1)


def test_kl_against_a_zero_is_exactly_infinite() -> None:
    """KL(pi || q) = +inf when q = 0 < pi (SPEC §2): the prior gives action 1 of
    s1 probability 0 and G_1 at s1 keeps it 0; B_1 puts mass on it."""
    mdp = _mdp(prior=[[Fraction(1, 2), Fraction(1, 2)], [1, 0]], initial=[0, 1])
    cert = Evaluator(mdp, "certified")
    got = certified_value(
        cert, "causal_kl", PolicySpec("B", i=1, f=Boltzmann(Fraction(1))),
        reference=PolicySpec("prior"),
    )  # fmt: skip
    assert got == math.inf
    assert Evaluator(mdp, "exact").value(
        "causal_kl", PolicySpec("B", i=1, f=Boltzmann(Fraction(1))),
        reference=PolicySpec("prior"),
    ) == math.inf  # fmt: skip


# ------------------------------------------------------------- precision
@pytest.mark.parametrize("bad", [52, 0, -1, "12.5", "abc", 64.0, True])
def test_bad_precision_is_a_one_line_error(bad: object) -> None:
    """Below 53 bits, or not an integer: a ValueError naming bits."""
    with pytest.raises(ValueError, match="bits") as info:
        check_bits(bad)
    assert "\n" not in str(info.value)


def test_registry_names_and_options() -> None:
    """certified, certified:BITS; two options or bad bits are refused."""
    mdp = _mdp()
    assert backends.create("certified", mdp).bits == 128
    assert backends.create("certified:256", mdp).bits == 256
    with pytest.raises(ValueError, match="bits"):
        backends.create("certified:40", mdp)
    with pytest.raises(ValueError, match="one option"):
        backends.create("certified:128:2", mdp)


def test_more_bits_give_tighter_enclosures_and_bits_needed() -> None:
    """The radius of J_prob of G_3 shrinks by about 2^-(256-64) from 64 to 256
    bits; :func:`bits_needed` asks for more than 64 bits for rel 1e-30."""
    third = Fraction(1, 3)
    mdp = _mdp(
        transitions=[[[third, 2 * third], [1, 0]], [[0, 1], [Fraction(1, 7), 6 / 7]]],
        horizon=1,
    )
    radii = {}
    for bits in (64, 256):
        ev = Evaluator(mdp, f"certified:{bits}")
        radii[bits] = certified_value(ev, "J_prob", PolicySpec("G", k=3))
    assert float(radii[256].rad()) < float(radii[64].rad()) * 2.0**-150
    assert bits_needed(radii[64], 1e-30, 0.0, 64) > 64
    assert bits_needed(radii[256], 1e-30, 0.0, 256) == 256


def test_enclosure_json_is_rigorous() -> None:
    """The 40-digit decimal midpoint plus the rounded-up radius still contains
    1/3, and the JSON strings read back exactly."""
    from coherence._numbers import parse_rational

    ball = arb(1) / 3
    enc = Enclosure.of(ball)
    assert enc.contains(Fraction(1, 3))
    back = enc.to_json()
    mid, rad = parse_rational(back["mid"], "mid"), parse_rational(back["rad"], "rad")
    assert rad >= enc.rad and abs(mid - Fraction(1, 3)) <= rad


def test_auto_rule() -> None:
    """exact for rational answers of small-denominator inputs, certified for
    float inputs or float answers."""
    small = _mdp()
    floaty = _mdp(success=[[[0.1, 0.2], [1, 1]]])
    assert backends.auto_backend(small, True) == "exact"
    assert backends.auto_backend(small, False) == "certified"
    assert backends.auto_backend(floaty, True) == "certified"
