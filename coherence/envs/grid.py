"""MiniGrid layouts tabularised through the environment's own ``step``.

A state is what ``step`` reads and changes: the agent's position and direction,
the carried object, the open/locked flags of every door and the position of
every object that can be picked up. The layout comes from ``reset(seed=SEED)``;
:class:`GridSource` puts the environment into a state by setting those
attributes on the same objects (so an environment that compares the carried
object with its own mission object still works), calls ``step`` and reads the
state back. The step count is set to t before each step, so the reward is the
environment's own ``1 - 0.9 * (t + 1) / max_steps`` on reaching the goal.

Restrictions, each a one-line ValueError: the horizon may not exceed the
environment's ``max_steps``; boxes (which hide objects) are not supported; a
``step`` that draws random numbers (moving obstacles) is refused, since the
enumeration assumes deterministic dynamics. Observations are not computed
during the enumeration (they do not influence the dynamics).
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Hashable, Mapping
from fractions import Fraction
from typing import Any, NamedTuple

from coherence.envs.tabular import Outcome, exact_reward

__all__ = ["GridSource", "GridState"]

_DIRECTIONS = ("right", "down", "left", "up")
_ACTIONS = ("left", "right", "forward", "pickup", "drop", "toggle", "done")


class GridState(NamedTuple):
    """Agent position and direction, the carried object (index into the
    movable objects, -1 for none), each movable object's position (None while
    carried) and each door's (open, locked)."""

    x: int
    y: int
    direction: int
    carried: int
    movables: tuple[tuple[int, int] | None, ...]
    doors: tuple[tuple[bool, bool], ...]


class _NoRandomness:
    """Stands in for the environment's random generator during ``step``."""

    def __getattr__(self, name: str) -> Any:
        raise ValueError(
            "environment: its step function draws random numbers "
            f"(np_random.{name}); only deterministic MiniGrid layouts can be "
            "tabularised"
        )


class GridSource:
    """A MiniGrid environment after ``reset(seed=seed)``."""

    actions: tuple[str, ...] = _ACTIONS
    time_dependent = True
    reward_bounds: tuple[Fraction, Fraction]

    def __init__(
        self,
        env_id: str,
        options: Mapping[str, Any] | None = None,
        *,
        seed: int = 0,
        horizon: int | None = None,
    ) -> None:
        """Build and reset ``env_id``; one-line ValueErrors for an unknown id,
        an unsupported layout or a horizon over ``max_steps``."""
        import gymnasium
        import minigrid  # noqa: F401  (registers the MiniGrid environments)
        from gymnasium.envs.registration import registry

        if not isinstance(env_id, str) or env_id not in registry:
            raise ValueError(f"environment: unknown MiniGrid id {env_id!r}")
        if not env_id.startswith(("MiniGrid-", "BabyAI-")):
            raise ValueError(f"environment: {env_id!r} is not a MiniGrid environment")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"--seed: expected an integer >= 0, got {seed!r}")
        self.env_id = env_id
        self.options = dict(options or {})
        self.seed = seed
        try:
            wrapped = gymnasium.make(env_id, **self.options)
        except (TypeError, KeyError, ValueError, AssertionError) as exc:
            detail = " ".join(str(exc).split()) or type(exc).__name__
            raise ValueError(
                f"--option: {env_id} rejects options {self.options!r} ({detail})"
            ) from None
        env: Any = wrapped.unwrapped
        env.reset(seed=seed)
        self.env: Any = env
        self.max_steps = int(env.max_steps)
        if horizon is not None and horizon > self.max_steps:
            raise ValueError(
                f"--horizon: {horizon} exceeds {env_id}'s max_steps "
                f"{self.max_steps} (pass --option max_steps=N)"
            )
        grid = env.grid
        self._doors: list[Any] = []
        self._movables: list[Any] = []
        self._door_pos: list[tuple[int, int]] = []
        for i in range(grid.width):
            for j in range(grid.height):
                obj = grid.get(i, j)
                if obj is None:
                    continue
                if obj.type == "box":
                    raise ValueError(
                        f"environment: {env_id} has a box at ({i},{j}); boxes "
                        "are not supported"
                    )
                if obj.type == "door":
                    self._doors.append(obj)
                    self._door_pos.append((i, j))
                elif obj.can_pickup():
                    self._movables.append(obj)
        if env.carrying is not None:
            self._movables.append(env.carrying)
        self._start = self.read()
        self._applied = self._start
        self._rng = env.np_random
        # observations do not influence the dynamics; skip them while stepping
        self._gen_obs = env.gen_obs
        self.reward_bounds = (Fraction(1), Fraction(0))

    # -------------------------------------------------------------- state io
    def read(self) -> GridState:
        """The environment's current state."""
        env = self.env
        carried = -1
        positions: list[tuple[int, int] | None] = []
        for k, obj in enumerate(self._movables):
            if env.carrying is obj:
                carried = k
                positions.append(None)
            else:
                x, y = (int(v) for v in obj.cur_pos)
                positions.append((x, y))
        x, y = (int(v) for v in env.agent_pos)
        return GridState(
            x,
            y,
            int(env.agent_dir),
            carried,
            tuple(positions),
            tuple((bool(d.is_open), bool(d.is_locked)) for d in self._doors),
        )

    def apply(self, state: GridState) -> None:
        """Put the environment into ``state``."""
        env = self.env
        grid = env.grid
        for pos in self._applied.movables:
            if pos is not None:
                grid.set(pos[0], pos[1], None)
        for obj, pos in zip(self._movables, state.movables, strict=True):
            if pos is not None:
                grid.set(pos[0], pos[1], obj)
                obj.cur_pos = pos
        env.carrying = self._movables[state.carried] if state.carried >= 0 else None
        for door, (is_open, is_locked) in zip(self._doors, state.doors, strict=True):
            door.is_open = is_open
            door.is_locked = is_locked
        env.agent_pos = (state.x, state.y)
        env.agent_dir = state.direction
        self._applied = state

    # ------------------------------------------------------------ the source
    def initial(self) -> list[tuple[Hashable, Fraction]]:
        """The state after ``reset(seed=seed)``."""
        return [(self._start, Fraction(1))]

    def outcomes(self, state: Hashable, action: int, t: int) -> list[Outcome]:
        """One ``step`` of the environment from ``state`` at step count ``t``."""
        assert isinstance(state, GridState)
        env = self.env
        self.apply(state)
        env.step_count = t
        env.np_random = _NoRandomness()
        env.gen_obs = _no_observation
        try:
            _, reward, terminated, _, _ = env.step(action)
        finally:
            env.np_random = self._rng
            env.gen_obs = self._gen_obs
        after = self.read()
        self._applied = after
        r = exact_reward(reward, f"{self.env_id} step")
        return [
            Outcome(Fraction(1), after, r, bool(terminated), bool(terminated) and r > 0)
        ]

    def state_name(self, state: Hashable) -> str:
        """``(x,y) right``, then the carried object, moved objects and doors
        that differ from the start: ``carrying yellow key``, ``yellow door
        open``."""
        assert isinstance(state, GridState)
        parts = [f"({state.x},{state.y}) {_DIRECTIONS[state.direction]}"]
        if state.carried >= 0:
            obj = self._movables[state.carried]
            parts.append(f"carrying {obj.color} {obj.type}")
        for k, pos in enumerate(state.movables):
            if pos is not None and pos != self._start.movables[k]:
                obj = self._movables[k]
                parts.append(f"{obj.color} {obj.type} at ({pos[0]},{pos[1]})")
        for k, flags in enumerate(state.doors):
            if flags != self._start.doors[k]:
                door = self._doors[k]
                label = "open" if flags[0] else "locked" if flags[1] else "closed"
                x, y = self._door_pos[k]
                parts.append(f"{door.color} door ({x},{y}) {label}")
        return ", ".join(parts)

    def end_name(self, state: Hashable) -> str:
        """The state the episode ended in, with what is under the agent."""
        assert isinstance(state, GridState)
        cell = self.env.grid.get(state.x, state.y)
        under = f" on {cell.type}" if cell is not None else ""
        return f"{self.state_name(state)}{under}"

    def prior(self, state: Hashable) -> tuple[Fraction, ...] | None:
        """Uniform over the seven MiniGrid actions."""
        del state
        return None

    def provenance(self) -> dict[str, Any]:
        """Environment id, options, seed and the package versions."""
        return {
            "kind": "minigrid",
            "environment": self.env_id,
            "options": self.options,
            "seed": self.seed,
            "max_steps": self.max_steps,
            "package": "minigrid",
            "package_version": importlib.metadata.version("minigrid"),
            "gymnasium_version": importlib.metadata.version("gymnasium"),
            "transitions": "env.step from each reachable state, breadth first",
            "state": "agent position and direction, carried object, door "
            "flags, positions of movable objects",
            "goal": "terminated with reward > 0",
        }


def _no_observation() -> None:
    return None
