"""MiniGrid layouts tabularised through the environment's own ``step``.

A state is what ``step`` reads and changes: the agent's position and direction,
the carried object, the open/locked flags of every door and the position of
every object that can be picked up. The layout comes from ``reset(seed=SEED)``;
:class:`GridSource` puts the environment into a state by setting those
attributes on the same objects (so an environment that compares the carried
object with its own mission object still works; objects placed without a
position get the cell they were found in), calls ``step`` and reads the state
back. The step count is set to t before each step, so the reward is the
environment's own ``1 - 0.9 * (t + 1) / max_steps`` on reaching the goal.

Restrictions, each a one-line ValueError: the horizon may not exceed the
environment's ``max_steps``; boxes (which hide objects) are not supported.

Every step is checked to be a deterministic function of the state, and refused
by name otherwise: the random generator is replaced during ``step`` by a guard
that records each draw before raising (so a ``step`` that swallows the
exception, as Dynamic-Obstacles' ``except Exception: pass`` does, is still
caught); the step is re-run on a second copy of the environment (deep-copied
after reset) and must give the same successor, reward and termination; after
it the grid must hold the layout's fixed objects plus the movable objects where
the state puts them, and no other attribute of the environment may have
changed; an exception raised by ``step`` is reported in one line. Observations
are not computed during the enumeration (they do not influence the dynamics).
"""

from __future__ import annotations

import copy
import importlib.metadata
from collections.abc import Hashable, Mapping
from fractions import Fraction
from typing import Any, NamedTuple

import numpy as np

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


class _RandomDraw(ValueError):
    """Raised inside ``step`` where the environment draws a random number."""


class _NoRandomness:
    """Stands in for the environment's random generator during ``step``.

    Every attribute read is recorded in :attr:`drawn` before the guard raises,
    so a ``step`` that swallows the exception (MiniGrid's Dynamic-Obstacles
    wraps its obstacle moves in ``except Exception: pass``) is still caught.
    """

    def __init__(self) -> None:
        self.drawn: list[str] = []

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        self.drawn.append(name)
        raise _RandomDraw(f"np_random.{name}")


#: Environment attributes a step may change that the state covers (or that are
#: ours): everything else must come out of ``step`` as it went in.
_TRACKED = frozenset(
    {"agent_pos", "agent_dir", "carrying", "step_count", "grid", "_np_random",
     "_np_random_seed",
     "np_random", "gen_obs"}
)  # fmt: skip


class _Copy:
    """One copy of the environment and handles on its doors and movable
    objects, with the background grid (every cell but the movable objects)."""

    def __init__(self, env: Any, doors: list[Any], movables: list[Any]) -> None:
        self.env = env
        self.doors = doors
        self.movables = movables
        self.gen_obs = env.gen_obs
        grid = env.grid
        self.background: list[Any] = list(grid.grid)
        ids = {id(obj) for obj in movables}
        self.background = [None if id(o) in ids else o for o in self.background]
        self.width = int(grid.width)
        self.applied: GridState | None = None

    def read(self) -> GridState:
        """The copy's current state."""
        env = self.env
        carried = -1
        positions: list[tuple[int, int] | None] = []
        for k, obj in enumerate(self.movables):
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
            tuple((bool(d.is_open), bool(d.is_locked)) for d in self.doors),
        )

    def apply(self, state: GridState) -> None:
        """Put the copy into ``state``: the background grid with the movable
        objects where the state puts them."""
        env = self.env
        cells = list(self.background)
        for obj, pos in zip(self.movables, state.movables, strict=True):
            if pos is not None:
                cells[pos[1] * self.width + pos[0]] = obj
                obj.cur_pos = pos
        env.grid.grid[:] = cells
        env.carrying = self.movables[state.carried] if state.carried >= 0 else None
        for door, (is_open, is_locked) in zip(self.doors, state.doors, strict=True):
            door.is_open = is_open
            door.is_locked = is_locked
        env.agent_pos = (state.x, state.y)
        env.agent_dir = state.direction
        self.applied = state

    def _others(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self.env).items() if k not in _TRACKED}

    def _unchanged(self, before: dict[str, Any]) -> str | None:
        """The first attribute outside the state that differs from ``before``."""
        after: dict[str, Any] = vars(self.env)
        for key, old in before.items():
            new = after.get(key, _MISSING)
            if old is not new and not _same(old, new):
                return key
        added = sorted(after.keys() - before.keys() - _TRACKED)
        return added[0] if added else None

    def step(
        self, state: GridState, action: int, t: int, env_id: str
    ) -> tuple[GridState, Any, bool]:
        """``step(action)`` from ``state`` at step count ``t``: the state read
        back, the reward and ``terminated``; a one-line ValueError where the
        step draws random numbers (even when it swallows the guard's
        exception), raises, or changes anything the state does not cover."""
        env = self.env
        self.apply(state)
        env.step_count = t
        guard = _NoRandomness()
        rng = env.np_random
        before = self._others()
        env.np_random = guard
        env.gen_obs = _no_observation
        try:
            _, reward, terminated, _, _ = env.step(action)
        except _RandomDraw:
            pass
        except Exception as exc:  # the environment's own error, as one line
            detail = " ".join(str(exc).split()) or type(exc).__name__
            raise ValueError(
                f"environment: {env_id}'s step raised {type(exc).__name__} "
                f"({detail}); it cannot be tabularised"
            ) from None
        finally:
            env.np_random = rng
            env.gen_obs = self.gen_obs
        if guard.drawn:
            raise ValueError(
                f"environment: {env_id}'s step draws random numbers "
                f"(np_random.{guard.drawn[0]}, e.g. moving obstacles); only "
                "deterministic MiniGrid layouts can be tabularised"
            )
        try:
            after = self.read()
        except (TypeError, AttributeError, ValueError) as exc:
            raise ValueError(
                f"environment: {env_id}: the state after a step cannot be read "
                f"({type(exc).__name__}: {' '.join(str(exc).split())})"
            ) from None
        self.applied = after
        cells = list(self.background)
        for obj, pos in zip(self.movables, after.movables, strict=True):
            if pos is not None:
                cells[pos[1] * self.width + pos[0]] = obj
        grid = env.grid.grid
        # list equality compares world objects by identity (they define no ==)
        if grid != cells:
            pairs = zip(grid, cells, strict=False)
            changed = [i for i, (a, b) in enumerate(pairs) if a is not b]
            i = changed[0] if changed else 0
            raise ValueError(
                f"environment: {env_id}'s step changes cell "
                f"({i % self.width},{i // self.width}) beyond what the state "
                "covers (agent, carried object, doors, movable objects)"
            )
        key = self._unchanged(before)
        if key is not None:
            raise ValueError(
                f"environment: {env_id}'s step changes env.{key}, which the "
                "state does not cover"
            )
        return after, reward, bool(terminated)


_MISSING = object()


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # arrays: compare element by element
        try:
            return bool(np.array_equal(a, b))
        except (TypeError, ValueError):
            return False


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
        doors: list[Any] = []
        movables: list[Any] = []
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
                    doors.append(obj)
                    self._door_pos.append((i, j))
                elif obj.can_pickup():
                    # objects placed with grid.set (MemoryS7) have no cur_pos
                    obj.cur_pos = (i, j)
                    movables.append(obj)
        if env.carrying is not None:
            movables.append(env.carrying)
        self._doors, self._movables = doors, movables
        self._main = _Copy(env, doors, movables)
        # a second copy re-runs every step: same successor, reward, termination
        self._twin = _Copy(*copy.deepcopy((env, doors, movables)))
        self._start = self._main.read()
        self.reward_bounds = (Fraction(1), Fraction(0))

    # -------------------------------------------------------------- state io
    def read(self) -> GridState:
        """The environment's current state."""
        return self._main.read()

    def apply(self, state: GridState) -> None:
        """Put the environment into ``state``."""
        self._main.apply(state)

    # ------------------------------------------------------------ the source
    def initial(self) -> list[tuple[Hashable, Fraction]]:
        """The state after ``reset(seed=seed)``."""
        return [(self._start, Fraction(1))]

    def outcomes(self, state: Hashable, action: int, t: int) -> list[Outcome]:
        """One ``step`` of the environment from ``state`` at step count ``t``,
        re-run on a second copy of the environment; a one-line ValueError where
        the two differ or either step is not a function of the state."""
        assert isinstance(state, GridState)
        after, reward, terminated = self._main.step(state, action, t, self.env_id)
        again = self._twin.step(state, action, t, self.env_id)
        if again[0] != after or again[2] != terminated or again[1] != reward:
            raise ValueError(
                f"environment: {self.env_id}'s step is not a function of the "
                f"state: {_ACTIONS[action]!r} from {self.state_name(state)!r} at "
                f"step {t} gave two different results on two copies"
            )
        r = exact_reward(reward, f"{self.env_id} step")
        return [Outcome(Fraction(1), after, r, terminated, terminated and r > 0)]

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
        cell = self._main.background[state.y * self._main.width + state.x]
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
