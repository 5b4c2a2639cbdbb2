"""Goal-conditioned cases, hindsight relabelling and RWR (SPEC §4 "Relabelling").

Expected values: the external numbers of Štrupl et al.'s public code (kept in
the shipped bandit case's source), the closed form of G_k on their bandit,
and the definitions themselves (the segment sums, RWR's weighted likelihood
maximised exactly on the simplex).
"""

from __future__ import annotations

import copy
import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from coherence.conformance import check_case
from coherence.goal_cases import (
    BANDIT_ALPHA,
    EXTERNAL,
    GOALS_DIR,
    bandit_case,
    build_goals,
)
from coherence.queries import Evaluator, run_case
from coherence.reference.case import (
    CaseError,
    case_from_json,
    case_to_json,
    load_case,
    load_results,
    write_results,
)
from coherence.reference.operators import PolicySpec
from coherence.suite import suite

BACKENDS = ("exact", "numpy", "certified", "torch")


def _goal_paths() -> list[Path]:
    return [c.path for c in suite("goals")]


def test_the_goal_cases_ship_and_regenerate_byte_for_byte(tmp_path: Path) -> None:
    written = build_goals(tmp_path)
    committed = sorted(GOALS_DIR.glob("*.json"))
    assert [p.name for p in committed] == sorted(p.name for p in written)
    assert len(committed) >= 14
    for path in committed:
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_goal_case_passes_on_every_backend(backend: str, tmp_path: Path) -> None:
    for path in _goal_paths():
        case = load_case(path)
        results, errors = run_case(case, backend)
        assert errors == {}, (path.name, errors)
        write_results(tmp_path / path.name, results)
        checks = check_case(case, load_results(tmp_path / path.name), dtype="float64")
        bad = [(c.query, c.detail) for c in checks if c.status != "pass"]
        assert bad == [], (path.name, backend, bad[:3])


def test_the_external_bandit_numbers_are_reproduced_exactly() -> None:
    alpha = BANDIT_ALPHA
    beta = 1 - alpha
    for optimum, ext in ((False, "uniform_start"), (True, "optimum_start")):
        case = case_from_json(bandit_case(optimum_start=optimum))
        ev = Evaluator(case.mdp, "exact")
        theirs = EXTERNAL[ext]["J_saved"]
        ours = [
            Fraction(ev.value("J_prob", PolicySpec("relabel", k=n)))
            for n in range(len(theirs))
        ]
        # their float code: to the last ulp of a few float operations
        assert all(
            abs(float(o) - t) <= 1e-12 for o, t in zip(ours, theirs, strict=True)
        )
        # the relabelled fixed point: J = alpha^2 + (1 - alpha)^2 after one step
        assert ours[1:] == [alpha**2 + beta**2] * (len(theirs) - 1)
    case = case_from_json(bandit_case(optimum_start=False))
    ev = Evaluator(case.mdp, "exact")
    printed = EXTERNAL["G_closed_form"]["J_prob(G_k), k = 1..5"]
    for k in range(1, 6):
        g = ev.value("policy", PolicySpec("G", k=k))[0]
        closed = alpha**k / (alpha**k + beta**k)
        assert Fraction(g[0][0]) == closed  # G_k(a0 | s0, g0)
        j = Fraction(ev.value("J_prob", PolicySpec("G", k=k)))
        assert j == alpha * closed + beta * (1 - closed)
        assert round(float(j), 6) == printed[k - 1]
    # G_1 = relabel_1 = 3/5 at (s0, g0)
    r1 = ev.value("policy", PolicySpec("relabel", k=1))[0][0]
    g1 = ev.value("policy", PolicySpec("G", k=1))[0][0]
    assert Fraction(r1[0]) == Fraction(g1[0]) == Fraction(3, 5)


def _update_by_definition(case: Any, pi: Any, segments: str) -> list[Any]:
    """relabel's update from its definition by enumerating trajectories of the
    command extension: pi'_t(a|s,g) proportional to the probability mass of
    (segment start t', intended g', action a at t') with observed goal g at
    t' + (T - t), over the segment space."""
    mdp = case.mdp
    cmd = mdp.command
    T, X, A, G = mdp.horizon, len(mdp.states), len(mdp.actions), cmd.n_goals
    # trajectories: list of (prob, [x_0..x_T], [a_0..a_{T-1}])
    trajs: list[tuple[Fraction, list[int], list[int]]] = [
        (Fraction(mu), [x], []) for x, mu in enumerate(mdp.initial) if mu != 0
    ]
    for t in range(T):
        nxt = []
        for p, xs, acts in trajs:
            for a in range(A):
                pa = Fraction(pi[t][xs[-1]][a])
                if pa == 0:
                    continue
                for j, q in mdp.transitions[xs[-1]][a]:
                    nxt.append((p * pa * q, [*xs, j], [*acts, a]))
        trajs = nxt
    out = []
    for t in range(T):
        h = T - t
        rows = []
        for x in range(X):
            s, go = divmod(x, G)
            starts = range(t + 1) if segments == "all" else (t,)
            mass = [Fraction(0)] * A
            for p, xs, acts in trajs:
                for tp in starts:
                    xi = xs[tp]
                    if xi // G != s or (segments == "diag" and xi % G != go):
                        continue
                    if cmd.reached[xs[tp + h] // G] == go:
                        mass[acts[tp]] += p
            total = sum(mass)
            rows.append(
                [m / total for m in mass] if total else [Fraction(v) for v in pi[t][x]]
            )
        out.append(rows)
    return out


@pytest.mark.parametrize("segments", ["all", "trailing", "diag"])
def test_relabel_equals_its_trajectory_definition(segments: str) -> None:
    for path in _goal_paths()[:6]:
        case = load_case(path)
        ev = Evaluator(case.mdp, "exact")
        # from G_1: a goal-dependent policy (from a goal-independent prior
        # every segment space gives G_1)
        start = PolicySpec("G", k=1)
        base = ev.value("policy", start)
        ours = ev.engine("exact").relabel_step(ev.policy(start, "exact"), segments)
        want = _update_by_definition(case, base, segments)
        d = ev.value("occupancy", start)
        T, G = case.mdp.horizon, case.mdp.command.n_goals
        for t in range(T):
            for x, row in enumerate(ours[t]):
                s, go = divmod(x, G)
                starts = range(t + 1) if segments == "all" else (t,)
                goals = (go,) if segments == "diag" else range(G)
                visited = any(d[tp][s * G + g] != 0 for tp in starts for g in goals)
                if visited:  # the extrapolation convention is not a trajectory sum
                    assert [Fraction(v) for v in row] == want[t][x], (path.name, t, x)


def test_diag_is_g_and_relabel_1_is_g_1_on_goal_independent_priors() -> None:
    for path in _goal_paths():
        case = load_case(path)
        ev = Evaluator(case.mdp, "exact")
        for k in (1, 2):
            diag = ev.value("policy", PolicySpec("relabel", k=k, segments="diag"))
            assert diag == ev.value("policy", PolicySpec("G", k=k)), path.name
        if case.mdp.command.prior:
            continue
        g1 = ev.value("policy", PolicySpec("G", k=1))
        for seg in ("all", "trailing"):
            assert ev.value("policy", PolicySpec("relabel", k=1, segments=seg)) == g1


def test_rwr_update_from_its_definition_equals_g() -> None:
    """RWR: pi' = argmax_pi E_{pi_n}[R sum_t log pi_t(a_t|s_t)], R = 1{success}.
    The objective separates over (t, s): sum_a c_t(s, a) log pi_t(a|s) with
    c_t(s, a) = P_{pi_n}(s_t = s, a_t = a, success); on the simplex its unique
    maximiser (Gibbs' inequality) is c / sum c, where sum c > 0 (elsewhere the
    objective is constant: keep pi_n). Computed here by enumerating
    trajectories, then compared with G_k exactly."""
    for path in _goal_paths()[:5]:
        case = load_case(path)
        mdp = case.mdp
        ev = Evaluator(mdp, "exact")
        T, X, A = mdp.horizon, len(mdp.states), len(mdp.actions)
        pi = ev.value("policy", PolicySpec("prior"))
        d = None
        for k in range(1, 4):
            c = [[[Fraction(0)] * A for _ in range(X)] for _ in range(T)]
            trajs: list[tuple[Fraction, list[int], list[int]]] = [
                (Fraction(mu), [x], []) for x, mu in enumerate(mdp.initial) if mu != 0
            ]
            for t in range(T):
                trajs = [
                    (p * Fraction(pi[t][xs[-1]][a]) * q, [*xs, j], [*acts, a])
                    for p, xs, acts in trajs
                    for a in range(A)
                    for j, q in mdp.transitions[xs[-1]][a]
                ]
            for p, xs, acts in trajs:
                weight = p * mdp.terminal_success[xs[-1]]  # R = 1{success}
                for t in range(T):
                    c[t][xs[t]][acts[t]] += weight
            pi = [
                [
                    [v / sum(row) for v in row]
                    if sum(row)
                    else [Fraction(v) for v in pi[t][x]]
                    for x, row in enumerate(c[t])
                ]
                for t in range(T)
            ]
            g = ev.value("policy", PolicySpec("G", k=k))
            rwr = ev.value("policy", PolicySpec("RWR", k=k))
            d = ev.value("occupancy", PolicySpec("G", k=k - 1))
            for t in range(T):
                for x in range(X):
                    assert rwr[t][x] == g[t][x]
                    if d[t][x] != 0:  # RWR's argmax is defined on reachable (t, s)
                        assert [Fraction(v) for v in g[t][x]] == pi[t][x], path.name
            pi = [[[Fraction(v) for v in row] for row in pt] for pt in g]


def test_relabelling_is_not_monotone_in_j_where_g_is() -> None:
    case = case_from_json(bandit_case(optimum_start=True))
    ev = Evaluator(case.mdp, "exact")
    j = [ev.value("J_prob", PolicySpec("relabel", k=k)) for k in range(3)]
    assert j == [Fraction(3, 5), Fraction(13, 25), Fraction(13, 25)]
    g = [ev.value("J_prob", PolicySpec("G", k=k)) for k in range(3)]
    assert g == [Fraction(3, 5)] * 3


def test_goal_cases_round_trip_and_old_cases_stay_valid() -> None:
    data = json.loads((GOALS_DIR / "goals-20280-0002.json").read_text("utf-8"))
    case = case_from_json(data)
    again = case_to_json(case)
    assert again["goals"] == data["goals"]
    assert case_from_json(again).mdp == case.mdp
    old = suite("public")[0]
    assert load_case(old.path).mdp.command is None


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["goals"].update(names=[]), "goals.names"),
        (lambda d: d["goals"]["reached"].update(s0="g9"), r"goals.reached\[s0\]"),
        (lambda d: d["goals"].update(command={"g0": "1/3"}), "goals.command"),
        (lambda d: d.update(terminal_success={"s0": "1/2"}), "terminal_success"),
        (lambda d: d.update(success={"s0": {"a0": "1/2"}}), "success"),
        (lambda d: d["goals"].update(colour="red"), "goals: unknown keys"),
        (
            lambda d: d["queries"].append(
                {
                    "id": "bad",
                    "quantity": "J_prob",
                    "policy": {"operator": "relabel", "k": 1, "segments": "some"},
                }
            ),
            "segments",
        ),
    ],
)
def test_bad_goal_input_is_one_line_naming_the_field(edit: Any, message: str) -> None:
    data = copy.deepcopy(bandit_case(optimum_start=False))
    edit(data)
    with pytest.raises((CaseError, ValueError), match=message):
        case_from_json(data)


def test_relabel_without_goals_is_a_one_line_error() -> None:
    case = load_case(suite("public")[0].path)
    for backend in ("exact", "numpy"):
        with pytest.raises(ValueError, match="needs a goal-conditioned case"):
            Evaluator(case.mdp, backend).value("J_prob", PolicySpec("relabel", k=1))
