"""coherence.gym: a case as a Gymnasium environment, and a learned policy back
into a results file that ``conformance check`` judges."""

from __future__ import annotations

import warnings
from pathlib import Path

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from coherence.cli import main
from coherence.gym import ENV_ID, CaseEnv, policy_results, write_policy_results
from coherence.queries import Evaluator, to_floats
from coherence.reference.case import load_case
from coherence.reference.operators import PolicySpec
from coherence.suite import suite


def _check(path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a checker warning fails the test
        for mode in ("success", "info"):
            check_env(CaseEnv(path, reward=mode), skip_render_check=True)


def test_check_env_passes_on_the_public_and_goal_cases() -> None:
    for c in suite("public") + suite("goals"):
        _check(c.path)


@pytest.mark.slow
def test_check_env_passes_on_every_shipped_case() -> None:
    cases = suite()
    assert len(cases) > 300
    for c in cases:
        _check(c.path)


def test_gymnasium_make_and_the_toy_text_model() -> None:
    path = suite("goals")[0].path
    env = gymnasium.make(ENV_ID, case=str(path))
    inner = env.unwrapped
    assert isinstance(inner, CaseEnv)
    mdp = load_case(path).mdp
    S = mdp.n_states
    # P rows are distributions; the success rows of the last step carry
    # exactly J's ingredients: sum of win mass = rho * P * rho_T
    for obs, by_action in inner.P.items():
        for rows in by_action.values():
            assert abs(sum(p for p, *_ in rows) - 1) <= 1e-12, obs
    t = mdp.horizon - 1
    for s in range(S):
        for a in range(mdp.n_actions):
            won = sum(p for p, _, r, _ in inner.P[t * S + s][a] if r == 1.0)
            want = sum(
                mdp.success[t][s][a] * q * mdp.terminal_success[j]
                for j, q in mdp.transitions[s][a]
            )
            assert abs(won - float(want)) <= 1e-12


def test_the_return_is_success_and_its_mean_is_j_prob() -> None:
    """Under the prior the mean return estimates J_prob(prior) (4 sigma)."""
    path = suite("public")[0].path
    mdp = load_case(path).mdp
    j = float(Evaluator(mdp, "exact").value("J_prob", PolicySpec("prior")))
    prior = np.array([[float(q) for q in row] for row in mdp.prior])
    for mode in ("success", "info"):
        env = CaseEnv(path, reward=mode)
        env.reset(seed=7)
        rng = np.random.default_rng(7)
        wins, n = 0, 1500
        for _ in range(n):
            obs, info = env.reset()
            done = False
            while not done:
                s = int(obs) % mdp.n_states
                a = int(rng.choice(mdp.n_actions, p=prior[s]))
                obs, reward, done, _, info = env.step(a)
                assert reward == (
                    1.0 if mode == "success" and info.get("success") else 0.0
                )
            wins += bool(info["success"])
        sigma = (j * (1 - j) / n) ** 0.5
        assert abs(wins / n - j) <= 4 * sigma + 1e-9


def test_bad_env_input_is_one_line() -> None:
    path = suite("goals")[0].path
    with pytest.raises(ValueError, match="reward: expected one of"):
        CaseEnv(path, reward="money")
    env = CaseEnv(path)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action: expected 0\.\.1"):
        env.step(5)


def test_a_learned_policy_round_trips_through_conformance_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The policy G_2 written as a learned table passes every G_2 query of a
    case; a perturbed one fails them."""
    path = suite("goals")[3].path
    case = load_case(path)
    g2 = to_floats(Evaluator(case.mdp, "exact").value("policy", PolicySpec("G", k=2)))
    from coherence.reference.case import Case

    g_queries = tuple(q for q in case.queries if q.policy == PolicySpec("G", k=2))
    assert g_queries
    sub = Case(case.mdp, g_queries, {q.id: case.expected[q.id] for q in g_queries})
    sub_path = tmp_path / "case.json"
    from coherence.reference.case import write_case

    write_case(sub_path, sub)
    out = tmp_path / "results"
    out.mkdir()
    write_policy_results(out / f"{case.name}.json", sub, g2, "table")
    assert main(["conformance", "check", str(sub_path), "--results", str(out)]) == 0
    assert "0 failed" in capsys.readouterr().out
    bad = g2.copy()
    bad[0] = bad[0][:, ::-1]
    write_policy_results(out / f"{case.name}.json", sub, bad, "table")
    assert main(["conformance", "check", str(sub_path), "--results", str(out)]) == 1
    # the callable form gives the same answers
    S = case.mdp.n_states
    results = policy_results(sub, lambda o: g2[o // S, o % S])
    again = policy_results(sub, g2)
    assert results.answers == again.answers


def test_a_policy_that_is_not_a_distribution_is_refused() -> None:
    case = load_case(suite("goals")[0].path)
    T, S, A = case.mdp.horizon, case.mdp.n_states, case.mdp.n_actions
    with pytest.raises(ValueError, match=r"policy: row \(t=0, s=0"):
        policy_results(case, np.zeros((T, S, A)))
    with pytest.raises(ValueError, match="policy: expected shape"):
        policy_results(case, np.zeros((T, S)))


def test_make_imports_the_module_itself() -> None:
    path = suite("goals")[0].path
    env = gymnasium.make("coherence.gym:coherence/Case-v0", case=str(path))
    obs, info = env.reset(seed=3)
    assert env.observation_space.contains(obs) and info["t"] == 0
