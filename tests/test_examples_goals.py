"""The examples of goal-conditioned work run (slow stage), and the imitation
example's comparison catches the bugs it is there for.

``examples/imitation_mce`` needs ``imitation`` in its own environment
(examples/imitation_mce/requirements.txt); where it is not importable here the
comparison logic is still tested: against a reference implementation of
Ziebart's recurrences written below from their definition, and against the
usual bugs (max instead of logsumexp, the reward one step off).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import special

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
sys.path.insert(0, str(EXAMPLES / "imitation_mce"))

from mce_check import compare  # noqa: E402


def _partition(
    P: np.ndarray, R: np.ndarray, H: int, bug: str | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ziebart (2010) (9.1)-(9.3) for a state reward R collected at each of H
    steps, from the definition; ``bug`` plants a usual mistake."""
    S, A, _ = P.shape
    soft = (
        (lambda q: q.max(axis=1))
        if bug == "max"
        else (lambda q: special.logsumexp(q, axis=1))
    )
    V = np.empty((H, S))
    Q = np.empty((H, S, A))
    Q[H - 1] = 0.0 if bug == "reward-off-by-one" else R[:, None]
    V[H - 1] = soft(Q[H - 1])
    for t in reversed(range(H - 1)):
        Q[t] = R[:, None] + P @ V[t + 1]
        V[t] = soft(Q[t])
    return V, Q, np.exp(Q - V[:, :, None])


def _problems(n: int) -> list[tuple[np.ndarray, np.ndarray, int]]:
    rng = np.random.default_rng(28)
    out = []
    for _ in range(n):
        S, A, H = rng.integers(1, 5), rng.integers(2, 4), rng.integers(2, 6)
        P = rng.integers(0, 4, size=(S, A, S)).astype(np.float64)
        P[P.sum(axis=2) == 0, 0] = 1.0
        P /= P.sum(axis=2, keepdims=True)
        R = rng.integers(-8, 4, size=S) / 2
        out.append((P, R, int(H)))
    return out


def test_the_mce_comparison_accepts_the_definition_and_catches_the_usual_bugs() -> None:
    for P, R, H in _problems(25):
        assert compare(_partition(P, R, H), P, R, H) <= 1e-9
    for bug in ("max", "reward-off-by-one"):
        worst = max(
            compare(_partition(P, R, H, bug), P, R, H) for P, R, H in _problems(25)
        )
        assert worst > 1e-3, bug


def _run(args: list[str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip


@pytest.mark.slow
def test_the_imitation_example_runs_where_imitation_is_installed() -> None:
    if importlib.util.find_spec("imitation") is None:
        pytest.skip(
            "imitation is not installed here: the example runs in its own "
            "environment (examples/imitation_mce/requirements.txt); its "
            "comparison is tested above"
        )
    args = ["-m", "pytest", "-q", "-o", "addopts=", "-p", "no:cacheprovider"]
    done = _run([*args, "test_mce_partition_fh.py"], cwd=EXAMPLES / "imitation_mce")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_the_relabel_bandit_example_reproduces_the_external_numbers() -> None:
    done = _run([str(EXAMPLES / "relabel_bandit.py")])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "reproduced" in done.stdout


@pytest.mark.slow
def test_the_train_agent_example_passes_conformance_check(tmp_path: Path) -> None:
    done = _run([str(EXAMPLES / "train_agent.py"), str(tmp_path)])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed, 0 failed" in done.stdout
