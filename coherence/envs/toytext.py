"""Gymnasium toy-text environments (FrozenLake, CliffWalking, Taxi) through the
environment's own transition table ``env.unwrapped.P``.

``P[s][a]`` is a list of ``(probability, next state, reward, terminated)``;
entries with the same next state are merged. Float probabilities become exact
rationals by :func:`~coherence.envs.tabular.exact_probabilities` (FrozenLake's
slippery 0.33333333333333337 is 1/3), rewards by
:func:`~coherence.envs.tabular.exact_reward`. A terminating step with a positive
reward, or one that ends in a goal state of the map (FrozenLake's ``G``,
CliffWalking's goal cell, whose reward is -1), is a goal.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Hashable, Mapping
from fractions import Fraction
from typing import Any

from coherence.envs.tabular import Outcome, exact_probabilities, exact_reward

__all__ = ["ToyTextSource", "make_env"]

_FROZEN_ACTIONS = ("left", "down", "right", "up")
_CLIFF_ACTIONS = ("up", "right", "down", "left")
_TAXI_ACTIONS = ("south", "north", "east", "west", "pickup", "dropoff")
_TAXI_PLACES = ("R", "G", "Y", "B")


def make_env(env_id: str, options: Mapping[str, Any]) -> Any:
    """``gymnasium.make(env_id, **options).unwrapped``; an unknown id or a bad
    option is a one-line ValueError naming it."""
    import gymnasium
    from gymnasium.envs.registration import registry

    if not isinstance(env_id, str) or env_id not in registry:
        raise ValueError(f"environment: unknown gymnasium id {env_id!r}")
    try:
        env = gymnasium.make(env_id, **dict(options))
    except ImportError as exc:  # e.g. gymnasium's tabular/ (jax) environments
        missing = getattr(exc, "name", None) or " ".join(str(exc).split())
        raise ValueError(
            f"environment: {env_id} needs the module {missing!r}, which is not "
            "installed (toy-text environments with a table P need only gymnasium)"
        ) from None
    except (TypeError, KeyError, ValueError, AssertionError) as exc:
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise ValueError(
            f"--option: {env_id} rejects options {dict(options)!r} ({detail})"
        ) from None
    return env.unwrapped


class ToyTextSource:
    """A gymnasium environment with a transition table ``P`` and an initial
    distribution ``initial_state_distrib``."""

    time_dependent = False

    def __init__(self, env_id: str, options: Mapping[str, Any] | None = None) -> None:
        """Build ``env_id`` with ``options`` and read its table; a one-line
        ValueError for an unknown id or an environment without ``P``."""
        self.env_id = env_id
        self.options = dict(options or {})
        env = make_env(env_id, self.options)
        table = getattr(env, "P", None)
        mu = getattr(env, "initial_state_distrib", None)
        if not isinstance(table, Mapping) or mu is None:
            raise ValueError(
                f"environment: {env_id} has no transition table P with an "
                "initial_state_distrib (only toy-text environments do)"
            )
        self.env = env
        self.n_states = len(table)
        n_actions = int(env.action_space.n)
        family = env_id.split("-")[0]
        self.family = "FrozenLake" if family.startswith("FrozenLake") else family
        named = {
            "FrozenLake": _FROZEN_ACTIONS,
            "CliffWalking": _CLIFF_ACTIONS,
            "CliffWalkingSlippery": _CLIFF_ACTIONS,
            "Taxi": _TAXI_ACTIONS,
        }.get(self.family)
        self.actions = (
            named
            if named is not None and len(named) == n_actions
            else tuple(f"a{i}" for i in range(n_actions))
        )
        self.goal_states = self._goal_states()
        self._outcomes: list[list[list[Outcome]]] = []
        low: Fraction | None = None
        high: Fraction | None = None
        for s in range(self.n_states):
            per_action = []
            for a in range(n_actions):
                entries = table[s][a]
                where = f"{env_id} P[{s}][{a}]"
                probs = exact_probabilities([e[0] for e in entries], where)
                outs = []
                for (_, nxt, reward, done), p in zip(entries, probs, strict=True):
                    r = exact_reward(reward, where)
                    low = r if low is None or r < low else low
                    high = r if high is None or r > high else high
                    j = int(nxt)
                    goal = bool(done) and (r > 0 or j in self.goal_states)
                    outs.append(Outcome(p, j, r, bool(done), goal))
                per_action.append(outs)
            self._outcomes.append(per_action)
        assert low is not None and high is not None
        self.reward_bounds = (high, low)
        weights = [float(x) for x in mu]
        probs = exact_probabilities(weights, f"{env_id} initial_state_distrib")
        self._initial = [(s, p) for s, p in enumerate(probs) if p > 0]

    def _goal_states(self) -> frozenset[int]:
        desc = getattr(self.env, "desc", None)
        if self.family == "FrozenLake" and desc is not None:
            cols = len(desc[0])
            return frozenset(
                r * cols + c
                for r, line in enumerate(desc)
                for c, cell in enumerate(line)
                if bytes(cell) == b"G"
            )
        if self.family.startswith("CliffWalking"):
            rows, cols = self.env.shape
            return frozenset({rows * cols - 1})
        return frozenset()

    def initial(self) -> list[tuple[Hashable, Fraction]]:
        """The environment's ``initial_state_distrib`` (exact)."""
        return list(self._initial)

    def outcomes(self, state: Hashable, action: int, t: int) -> list[Outcome]:
        """``P[state][action]`` as outcomes (time-homogeneous: ``t`` unused)."""
        del t
        assert isinstance(state, int)
        return self._outcomes[state][action]

    def raw_table(self) -> Any:
        """The environment's own ``P`` (for comparisons)."""
        return self.env.P

    def state_name(self, state: Hashable) -> str:
        """``(row,col) F`` (FrozenLake), ``(row,col)`` (CliffWalking),
        ``taxi (r,c) passenger Y -> G`` (Taxi), else ``s<n>``."""
        assert isinstance(state, int)
        if self.family == "FrozenLake":
            desc = self.env.desc
            cols = len(desc[0])
            row, col = divmod(state, cols)
            return f"({row},{col}) {bytes(desc[row][col]).decode()}"
        if self.family.startswith("CliffWalking"):
            row, col = divmod(state, self.env.shape[1])
            return f"({row},{col})"
        if self.family == "Taxi":
            taxi_row, taxi_col, passenger, dest = self.env.decode(state)
            where = "in taxi" if passenger == 4 else _TAXI_PLACES[passenger]
            return (
                f"taxi ({taxi_row},{taxi_col}) passenger {where} -> "
                f"{_TAXI_PLACES[dest]}"
            )
        return f"s{state}"

    def end_name(self, state: Hashable) -> str:
        """The name of the state the episode terminated in."""
        return self.state_name(state)

    def prior(self, state: Hashable) -> tuple[Fraction, ...] | None:
        """Uniform."""
        del state
        return None

    def provenance(self) -> dict[str, Any]:
        """Environment id, options and the gymnasium version."""
        return {
            "kind": "gymnasium",
            "environment": self.env_id,
            "options": self.options,
            "package": "gymnasium",
            "package_version": importlib.metadata.version("gymnasium"),
            "transitions": "env.unwrapped.P, equal next states merged",
            "probabilities": "simplest fraction (denominator <= 10^6) within "
            "1e-12 of each float when a row sums to exactly 1, else the floats' "
            "exact values renormalised",
            "rewards": "shortest decimal of each float",
            "goal": "terminated with reward > 0, or terminated in a goal cell",
        }
