"""Train a small agent on a case exported as a Gymnasium environment, then let
``coherence conformance check`` judge its policy.

The agent is SPEC §5's Monte Carlo re-training, written against the Gymnasium
API only (it never reads the case): roll out episodes of the current policy,
keep the successful ones, and set the policy at each visited (t, s) to their
action frequencies. Two rounds estimate G_2, so its occupancy and J_prob are
checked against the oracle's G_2 answers of the case below, within a stated
sampling tolerance (abs 0.02: more than five standard errors of the
frequencies at these episode counts).

Run: python examples/train_agent.py [OUT_DIR]   (needs the [envs] extra)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import gymnasium
import numpy as np

import coherence.gym  # registers coherence/Case-v0
from coherence.reference.case import load_case, write_case
from coherence.suite import CASES_DIR, to_case

EPISODES = 40_000
ROUNDS = 2
SEED = 2028
TOLERANCE = "0.02"


def train(
    env: gymnasium.Env, horizon: int, n_states: int, n_actions: int
) -> np.ndarray:
    """ROUNDS of Monte Carlo re-training from the uniform policy."""
    rng = np.random.default_rng(SEED)
    pi = np.full((horizon, n_states, n_actions), 1.0 / n_actions)
    env.reset(seed=SEED)
    for _ in range(ROUNDS):
        counts = np.zeros_like(pi)
        for _ in range(EPISODES):
            obs, info = env.reset()
            steps: list[tuple[int, int, int]] = []
            done = False
            while not done:
                t, s = divmod(int(obs), n_states)
                a = int(rng.choice(n_actions, p=pi[t, s]))
                steps.append((t, s, a))
                obs, _reward, done, _trunc, info = env.step(a)
            if info["success"]:
                for t, s, a in steps:
                    counts[t, s, a] += 1
        seen = counts.sum(axis=2, keepdims=True)
        pi = np.where(seen > 0, counts / np.maximum(seen, 1), pi)
    return pi


def main(out: Path) -> int:
    """Train, write the case and the agent's results, run conformance check."""
    source = load_case(CASES_DIR / "public" / "mountain-race.json")
    mdp = source.mdp
    case = to_case(
        mdp,
        [
            {
                "id": "J_prob-G_2",
                "quantity": "J_prob",
                "policy": {"operator": "G", "k": 2},
            },
            {
                "id": "occupancy-G_2",
                "quantity": "occupancy",
                "policy": {"operator": "G", "k": 2},
            },
        ],
    )
    env = gymnasium.make(coherence.gym.ENV_ID, case=case, reward="info")
    pi = train(env, mdp.horizon, mdp.n_states, mdp.n_actions)
    case_path = out / "case.json"
    write_case(case_path, case)
    results = out / "results"
    results.mkdir(exist_ok=True)
    coherence.gym.write_policy_results(
        results / f"{case.name}.json", case, pi, "Monte Carlo re-training (2 rounds)"
    )
    command = [
        sys.executable, "-m", "coherence", "conformance", "check", str(case_path),
        "--results", str(results), "--abs", TOLERANCE,
    ]  # fmt: skip
    return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    if len(sys.argv) > 1:
        target = Path(sys.argv[1])
        target.mkdir(parents=True, exist_ok=True)
        sys.exit(main(target))
    with tempfile.TemporaryDirectory() as tmp:
        sys.exit(main(Path(tmp)))
