"""A case as a Gymnasium environment, and a learned policy back into a results file.

:class:`CaseEnv` runs a case's MDP (a goal-conditioned case: its command
extension) with the success semantics of SPEC §2: at step t the agent in s
takes a, the optimality variable O_t ~ Bernoulli(rho_t(s, a)) is drawn and the
state moves to s' ~ P(.|s, a); an O_t = 0 ends the episode as a failure, and
after T steps O_T ~ Bernoulli(rho_T(s_T)) decides success. The observation is
the time-augmented state ``t * S + s`` (a time-indexed policy needs t), with
``info["t"]``, ``info["state"]`` (the state's name) and, at the end,
``info["success"]``. ``reward="success"`` pays 1 for a success and 0 otherwise
(so the expected return is J_prob); ``reward="info"`` pays nothing and reports
success only through the info flag.

Like Gymnasium's toy-text environments the model is exposed as ``P``:
``P[obs][action]`` lists ``(probability, next_obs, reward, terminated)``.

Registered as ``coherence/Case-v0`` when this module is imported, so
``gymnasium.make("coherence/Case-v0", case="case.json")`` works after
``import coherence.gym``, and ``gymnasium.make("coherence.gym:coherence/Case-v0",
case=...)`` imports it itself.

:func:`policy_results` is the inverse of import: a learned policy (a callable
on observations or a (T, S, A) table) answers a case's queries, and
:func:`write_policy_results` writes them as a ``coherence-results/1`` file that
``coherence conformance check`` judges.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from coherence.reference.case import Case, Results, load_case, write_results
from coherence.reference.model import MDP, FloatArray

__all__ = [
    "ENV_ID",
    "CaseEnv",
    "policy_results",
    "policy_table",
    "register_envs",
    "write_policy_results",
]

ENV_ID = "coherence/Case-v0"
REWARDS = ("success", "info")

Transition = tuple[float, int, float, bool]


def _mdp_of(case: Case | MDP | str | os.PathLike[str]) -> MDP:
    if isinstance(case, MDP):
        return case
    if isinstance(case, Case):
        return case.mdp
    return load_case(case).mdp


class CaseEnv(gymnasium.Env[np.int64, np.int64]):
    """A case's MDP as a Gymnasium environment (module docstring)."""

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 (gymnasium API)

    def __init__(
        self,
        case: Case | MDP | str | os.PathLike[str],
        reward: str = "success",
        render_mode: str | None = None,
    ) -> None:
        """``case``: a case file, a :class:`Case` or an :class:`MDP`;
        ``reward``: ``"success"`` (1 on success) or ``"info"`` (always 0,
        success in ``info["success"]``)."""
        if reward not in REWARDS:
            raise ValueError(
                f"reward: expected one of {', '.join(REWARDS)}, got {reward!r}"
            )
        if render_mode is not None:
            raise ValueError(f"render_mode: no render modes, got {render_mode!r}")
        self.mdp = _mdp_of(case)
        self.reward_mode = reward
        self.render_mode = render_mode
        m = self.mdp
        T, S, A = m.horizon, m.n_states, m.n_actions
        self.horizon, self.n_states, self.n_actions = T, S, A
        self.observation_space = spaces.Discrete((T + 1) * S)
        self.action_space = spaces.Discrete(A)
        self.P: dict[int, dict[int, list[Transition]]] = self._model()
        self._initial = np.array([float(q) for q in m.initial], dtype=np.float64)
        self._obs = 0

    def _model(self) -> dict[int, dict[int, list[Transition]]]:
        """P, and beside it ``_wins[obs][a]``: whether each row is a success."""
        m = self.mdp
        T, S, A = self.horizon, self.n_states, self.n_actions
        pay = 1.0 if self.reward_mode == "success" else 0.0
        model: dict[int, dict[int, list[Transition]]] = {}
        self._wins: dict[int, dict[int, list[bool]]] = {}
        for t in range(T + 1):
            for s in range(S):
                obs = t * S + s
                model[obs], self._wins[obs] = {}, {}
                for a in range(A):
                    if t == T:  # terminal observation: never acted in
                        model[obs][a], self._wins[obs][a] = (
                            [(1.0, obs, 0.0, True)],
                            [False],
                        )
                        continue
                    rho = m.success[t][s][a]
                    rows: list[tuple[Transition, bool]] = []
                    for j, p in m.transitions[s][a]:
                        nxt = (t + 1) * S + j
                        if t + 1 == T:
                            win = rho * p * m.terminal_success[j]
                            rows.append(((float(win), nxt, pay, True), True))
                            rows.append(((float(rho * p - win), nxt, 0.0, True), False))
                        else:
                            rows.append(((float(rho * p), nxt, 0.0, False), False))
                        rows.append(((float((1 - rho) * p), nxt, 0.0, True), False))
                    kept = [r for r in rows if r[0][0] > 0]
                    model[obs][a] = [r for r, _ in kept]
                    self._wins[obs][a] = [w for _, w in kept]
        return model

    def _info(self, success: bool | None = None) -> dict[str, Any]:
        t, s = divmod(self._obs, self.n_states)
        info: dict[str, Any] = {"t": t, "state": self.mdp.states[s]}
        if success is not None:
            info["success"] = success
        return info

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.int64, dict[str, Any]]:
        """Start an episode: s_0 ~ mu, t = 0."""
        super().reset(seed=seed)
        self._obs = int(self.np_random.choice(self.n_states, p=self._initial))
        return np.int64(self._obs), self._info()

    def step(
        self, action: np.int64 | int
    ) -> tuple[np.int64, float, bool, bool, dict[str, Any]]:
        """One decision step (module docstring); the episode ends at T or at
        the first O_t = 0."""
        a = int(action)
        if not 0 <= a < self.n_actions:
            raise ValueError(
                f"action: expected 0..{self.n_actions - 1}, got {action!r}"
            )
        rows = self.P[self._obs][a]
        probs = np.array([r[0] for r in rows], dtype=np.float64)
        i = int(self.np_random.choice(len(rows), p=probs / probs.sum()))
        _p, nxt, reward, terminated = rows[i]
        success = self._wins[self._obs][a][i] if terminated else None
        self._obs = nxt
        return np.int64(nxt), float(reward), terminated, False, self._info(success)


def register_envs() -> None:
    """Register :data:`ENV_ID` with Gymnasium (idempotent; importing this
    module calls it)."""
    if ENV_ID not in gymnasium.registry:
        gymnasium.register(id=ENV_ID, entry_point="coherence.gym:CaseEnv")


register_envs()


# ------------------------------------------------------ policy -> results
Policy = Callable[[int], Any] | FloatArray


def policy_table(mdp: MDP, policy: Policy) -> FloatArray:
    """A learned policy as a (T, S, A) float64 table of probabilities.

    ``policy``: a (T, S, A) array, or a callable on the environment's
    observation ``t * S + s`` returning A action probabilities (a one-hot
    vector for a greedy agent). Rows must be distributions (within 1e-9: a
    one-line ValueError naming (t, s) otherwise); they are renormalised.
    """
    T, S, A = mdp.horizon, mdp.n_states, mdp.n_actions
    if callable(policy):
        table = np.array(
            [[np.asarray(policy(t * S + s), dtype=np.float64) for s in range(S)]
             for t in range(T)]
        )  # fmt: skip
    else:
        table = np.asarray(policy, dtype=np.float64)
    if table.shape != (T, S, A):
        raise ValueError(
            f"policy: expected shape (T, S, A) = {(T, S, A)}, got {table.shape}"
        )
    for t in range(T):
        for s in range(S):
            row = table[t, s]
            if (
                not np.all(np.isfinite(row))
                or np.any(row < 0)
                or abs(row.sum() - 1) > 1e-9
            ):
                raise ValueError(
                    f"policy: row (t={t}, s={s} {mdp.states[s]!r}) is not a "
                    f"distribution: {row.tolist()}"
                )
    out: FloatArray = table / table.sum(axis=2, keepdims=True)
    return out


def policy_results(
    case: Case, policy: Policy, implementation: str = "learned policy"
) -> Results:
    """Answers to ``case``'s queries about a learned policy: every query is
    answered with the quantity of THAT policy (its table for ``policy``,
    its J_prob, z, w, occupancy, ... evaluated exactly in the case's MDP by the
    float64 engine), so ``conformance check`` tells whether the agent learned
    the policy each query names. Queries whose quantity needs a second policy
    or a soft-Q map are answered for the learned policy too (kappa of the
    learned policy; causal KL against the query's reference)."""
    from coherence import backends
    from coherence.queries import Evaluator, _named
    from coherence.reference.quantities import QUANTITIES

    mdp = case.mdp
    table = policy_table(mdp, policy)
    engine = backends.create("numpy", mdp)
    with np.errstate(divide="ignore"):
        native = np.log(table)
    evaluator = Evaluator(mdp, "numpy")
    answers: dict[str, Any] = {}
    names = {
        "steps": [str(t) for t in range(mdp.horizon)],
        "steps_T": [str(t) for t in range(mdp.horizon + 1)],
        "states": list(mdp.states),
        "actions": list(mdp.actions),
    }
    for query in case.queries:
        row = QUANTITIES[query.quantity]
        extra: list[Any] = []
        for param in row.parameters:
            if param == "f":
                extra.append(query.f)
            else:
                assert query.reference is not None
                extra.append(evaluator.policy(query.reference))
        raw = getattr(engine, row.primitive)(native, *extra)
        if not row.rational:
            answers[query.id] = float(raw) + 0.0
            continue
        value = np.asarray(raw, dtype=np.float64)
        answers[query.id] = _named(value.tolist(), [names[a] for a in row.axes])
    return Results(case=case.name, implementation=implementation, answers=answers)


def write_policy_results(
    path: str | os.PathLike[str],
    case: Case,
    policy: Policy,
    implementation: str = "learned policy",
) -> Results:
    """:func:`policy_results`, written atomically to ``path``."""
    results = policy_results(case, policy, implementation)
    write_results(path, results)
    return results
