"""The learners' verdicts on the shipped cases that catch the twelve planted
learning bugs of tools/learning_mutations.py (each scenario is named there).

Each scenario runs a correct learner with a fixed seed and asserts that NO cell
of any round rejects its target (coherence.gpu.learning.verdict: Chernoff /
empirical Bernstein intervals at the family-wise level 1e-3, so a correct
learner fails a scenario with probability <= 1e-3) and that a model learner
meets its fit criterion. Under each planted bug the scenario fails
(tools/learning_mutations.py runs them; docs/learning.md has the table).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from coherence.cli import main
from coherence.gpu.learning import (
    Environment,
    OutcomeConditionedLearner,
    TabularOutcomeModel,
    anneal,
    make_generator,
    mc_retrain,
    reference_condition,
)
from coherence.gpu.learning.soft_q import interval_count, stage_test
from coherence.gpu.learning.verdict import DEFAULT_LEVEL, frequency_test
from coherence.reference.case import load_case
from coherence.reference.numpy_engine import NumpyEngine
from tests.shared import CASES

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TOL = 0.05


def _mc(name: str, rounds: int, n: int, seed: int) -> list[tuple[int, bool]]:
    mdp = load_case(CASES / f"{name}.json").mdp
    env = Environment.from_mdp(mdp, "cpu")
    engine = NumpyEngine(mdp)
    T, S, A = env.shape
    delta = DEFAULT_LEVEL / (rounds * T * S * A)
    prev = env.prior_policy()
    out = []
    for rnd in mc_retrain(env, rounds, n, generator=make_generator(seed)):
        n_ts = rnd.visits.numpy()
        freq = rnd.counts.numpy() / np.maximum(n_ts, 1)[..., None]
        v = frequency_test(
            freq,
            reference_condition(engine, prev),
            n_ts,
            delta=delta,
            tolerance=TOL,
            samples=n,
        )
        out.append((v.n_rejected, v.fit_ok and v.n_cells > 0))
        prev = rnd.policy
    return out


def _tabular(name: str, rounds: int, n: int, seed: int) -> list[tuple[int, bool]]:
    mdp = load_case(CASES / f"{name}.json").mdp
    env = Environment.from_mdp(mdp, "cpu")
    engine = NumpyEngine(mdp)
    T, S, A = env.shape
    delta = DEFAULT_LEVEL / (rounds * T * S * A)
    gen = make_generator(seed)
    learner = OutcomeConditionedLearner(
        env, TabularOutcomeModel(T, S, A), generator=gen
    )
    support = (env.prior_policy() > 0).numpy()
    out = []
    for _ in range(rounds):
        prev = learner.policy
        rnd = learner.step(n)
        n_ts = rnd.visits.numpy()
        freq = rnd.counts[:, :, 1, :].numpy() / np.maximum(n_ts, 1)[..., None]
        seen = (n_ts > 0)[..., None] & support
        fit = float(np.abs(rnd.policy.numpy() - freq)[seen].max())
        v = frequency_test(
            freq,
            reference_condition(engine, prev),
            n_ts,
            delta=delta,
            tolerance=TOL,
            samples=n,
            fit_error=fit,
            fit_tolerance=1e-3,
            support=support,
        )
        out.append((v.n_rejected, v.fit_ok))
    return out


def _anneal(
    name: str, backup: str, schedule: list[float], samples: int, seed: int
) -> list[tuple[int, bool]]:
    mdp = load_case(CASES / f"{name}.json").mdp
    env = Environment.from_mdp(mdp, "cpu")
    delta = DEFAULT_LEVEL / (len(schedule) * interval_count(env))
    stages = anneal(
        env,
        schedule,
        backup=backup,  # type: ignore[arg-type]
        samples=samples,
        generator=make_generator(seed),
        delta=delta,
    )
    return [(stage_test(env, res, TOL).n_rejected, True) for res in stages]


def _transformer(capsys: pytest.CaptureFixture[str]) -> list[tuple[int, bool]]:
    args = ["retrain", str(CASES / "mountain-race.json"), "--learner", "transformer"]
    args += ["--rounds", "2", "--episodes", "8000", "--fit-steps", "300"]
    assert main([*args, "--device", "cpu", "--json"]) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    return [(r["rejected"], r["fit_error"] <= r["fit_tolerance"]) for r in rows]


SCENARIOS = {
    "mc-race": lambda: _mc("mountain-race", 1, 20_000, 0),
    "mc-steps": lambda: _mc("success-count-not-monotone", 1, 20_000, 0),
    "tabular-race": lambda: _tabular("mountain-race", 2, 8000, 0),
    "z-stochastic": lambda: _anneal("stochastic-counterexample", "z", [4.0], 65536, 0),
    "maxent-stochastic": lambda: _anneal(
        "stochastic-counterexample", "maxent", [4.0], 65536, 0
    ),
    "z-nonuniform": lambda: _anneal(
        "literal-folding-nonuniform-prior", "z", [1.0], 65536, 0
    ),
}


@pytest.mark.parametrize(
    "scenario",
    [*SCENARIOS, pytest.param("transformer-race", marks=pytest.mark.slow)],
)
def test_no_cell_rejects(scenario: str, capsys: pytest.CaptureFixture[str]) -> None:
    rows = (
        _transformer(capsys)
        if scenario == "transformer-race"
        else SCENARIOS[scenario]()
    )
    assert rows
    for rejected, fit_ok in rows:
        assert rejected == 0, (scenario, rows)
        assert fit_ok, (scenario, rows)
