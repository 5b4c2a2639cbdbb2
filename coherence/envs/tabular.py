"""Tabulating an episodic environment into a finite-horizon case.

A :class:`Source` describes an environment through its own dynamics: an initial
distribution, and for a state, an action and a step t the list of
:class:`Outcome` (probability, next state, reward, whether the episode
terminates, whether it terminates in a goal). :func:`tabulate` enumerates, breadth
first, the states reachable within the horizon and turns rewards into success
probabilities with a :class:`~coherence.envs.success.SuccessMap`. Transitions stay
successor lists from start to end; nothing is ever a dense S x S table.

States of the case:

* live states ``(source state, tag)``; the tag is empty for ``goal``, the reward
  still to be charged for the ``exp`` maps (see below), the scored-yet flag for
  ``scored``, the accumulated return for ``return>=``. A source whose rewards
  depend on the step (``time_dependent``; the sign of a reward and the
  terminations may not) has the step in its live states as well (``t=3 | ...``,
  the case is unrolled over time) unless the map is ``goal`` or ``scored``,
  which read only whether a reward is positive.
* ended states ``(end state, tag, goal)``: where a step terminates the episode
  (the environment's own ``terminated``), the case moves to an ended state: the
  absorbing end of the episode, every remaining step of which has reward
  ``R_END = 0`` (:mod:`coherence.envs.success`). Under the ``exp`` maps an
  ended state with a reward due charges it once and moves to the ended state
  without a tag; every other ended state never changes again.
* ``beyond horizon``: the successor of a state first reached at step T whose
  environment successors were not enumerated; no trajectory from the initial
  distribution reaches it within the horizon (an absorbing state with rho = 1).

The ``exp`` maps charge rho = exp(BETA (r - r_top)) for the reward r of a step
(``exp`` also charges exp(BETA (R_END - r_top)) at every step after the end;
``exp-free-end`` charges nothing there). Where every outcome of (s, a) has the
same reward it is charged as rho(s, a); otherwise it is charged on arrival: the
successor carries the reward in its tag and charges it at its own step (or as
rho_T at the horizon), which changes neither the probability of success nor any
conditioned policy (the charge is a factor that no later action influences).

While enumerating, :func:`tabulate` counts what the map may ignore (positive
rewards on steps that do not end the episode, endings without a goal) and
reports it in ``Table.warnings``.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, NamedTuple, Protocol

from coherence._numbers import format_rational
from coherence.envs.success import R_END, SuccessMap

__all__ = [
    "BEYOND_HORIZON",
    "DEFAULT_MAX_STATES",
    "Outcome",
    "Source",
    "Table",
    "check_horizon",
    "check_max_states",
    "exact_probabilities",
    "exact_reward",
    "tabulate",
]

BEYOND_HORIZON = "beyond horizon"
#: Default bound on the number of case states (``--max-states``).
DEFAULT_MAX_STATES = 1_000_000

#: A float probability is read as the simplest fraction with a denominator up to
#: this bound when it lies within 1e-12 of the float and its row sums to 1.
_DENOMINATOR_BOUND = 1_000_000
_PROBABILITY_SLACK = 1e-12


class Outcome(NamedTuple):
    """One outcome of a step: with ``probability`` the environment moves to
    ``state`` (the terminal state when ``terminated``; None where the source has
    none), gives ``reward`` and, when ``terminated``, ends the episode, in a goal
    when ``goal``."""

    probability: Fraction
    state: Hashable
    reward: Fraction
    terminated: bool
    goal: bool


class Source(Protocol):
    """An episodic environment seen through its own dynamics."""

    #: Action names, in the environment's order.
    actions: tuple[str, ...]
    #: Whether rewards depend on the step t (MiniGrid's time-discounted reward).
    time_dependent: bool
    #: The largest and smallest reward any step of the source can give.
    reward_bounds: tuple[Fraction, Fraction]

    def initial(self) -> list[tuple[Hashable, Fraction]]:
        """The initial distribution as (state, probability) pairs."""
        ...

    def outcomes(self, state: Hashable, action: int, t: int) -> list[Outcome]:
        """The outcomes of ``action`` in ``state`` at step ``t``."""
        ...

    def state_name(self, state: Hashable) -> str:
        """A readable, unique name for a live state."""
        ...

    def end_name(self, state: Hashable) -> str:
        """A readable name for the state an episode terminated in."""
        ...

    def prior(self, state: Hashable) -> tuple[Fraction, ...] | None:
        """The behaviour prior p(.|state); None for uniform."""
        ...

    def provenance(self) -> dict[str, Any]:
        """What the case was imported from (recorded under ``source``)."""
        ...


def check_horizon(horizon: object) -> int:
    """The horizon as an int >= 1, else a one-line ValueError naming it."""
    if isinstance(horizon, bool) or not isinstance(horizon, int):
        raise ValueError(f"--horizon: expected an integer, got {horizon!r}")
    if horizon < 1:
        raise ValueError(f"--horizon: must be >= 1, got {horizon}")
    from coherence.reference.model import MAX_HORIZON

    if horizon > MAX_HORIZON:
        raise ValueError(
            f"--horizon: {horizon} exceeds MAX_HORIZON = {MAX_HORIZON}, the "
            "largest horizon a case may have"
        )
    return horizon


def check_max_states(max_states: object) -> int:
    """``--max-states`` as an int >= 1, else a one-line ValueError naming it."""
    if isinstance(max_states, bool) or not isinstance(max_states, int):
        raise ValueError(f"--max-states: expected an integer, got {max_states!r}")
    if max_states < 1:
        raise ValueError(f"--max-states: must be >= 1, got {max_states}")
    return max_states


def exact_reward(value: object, field_name: str) -> Fraction:
    """A reward as an exact rational: ints exactly, floats (float64 or float32)
    as the shortest decimal that rounds back to the same float."""
    if isinstance(value, bool):
        return Fraction(int(value))
    if isinstance(value, int):
        return Fraction(value)
    text = str(value)
    try:
        number = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"{field_name}: reward {value!r} is not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"{field_name}: reward {value!r} is not finite")
    return Fraction(text)


def exact_probabilities(values: Sequence[float], field_name: str) -> list[Fraction]:
    """A row of float probabilities as exact rationals summing to exactly 1.

    Each float becomes the simplest fraction with denominator <= 10^6 within
    1e-12 of it when those fractions sum to exactly 1 (FrozenLake's
    0.33333333333333337 is 1/3); otherwise the row is the floats' exact binary
    values divided by their sum (the rule for float rows of
    docs/case-format.md), which needs the floats to sum to 1 within 1e-12.
    Negative or non-finite entries, or a row far from 1, are a one-line
    ValueError naming ``field_name``.
    """
    exact: list[Fraction] = []
    simple: list[Fraction] = []
    for value in values:
        number = float(value)
        if not (number >= 0.0) or number == float("inf"):
            raise ValueError(f"{field_name}: probability {value!r} is not in [0, 1]")
        q = Fraction(number)
        exact.append(q)
        s = q.limit_denominator(_DENOMINATOR_BOUND)
        simple.append(s if abs(float(s) - number) <= _PROBABILITY_SLACK else q)
    if sum(simple, Fraction(0)) == 1:
        return simple
    total = sum(exact, Fraction(0))
    if total == 0 or abs(float(total) - 1.0) > _PROBABILITY_SLACK:
        raise ValueError(
            f"{field_name}: probabilities sum to {float(total)!r}, not 1 (within 1e-12)"
        )
    return [q / total for q in exact]


Key = tuple[Any, ...]
Success = Fraction | float


@dataclass
class Table:
    """A tabulated case in successor-list form (never dense).

    ``rows[s][a]`` lists ``(s', P(s'|s, a))``; ``success[s][a]`` is rho(s, a)
    (Fraction, or float for the ``exp`` map), ``terminal[s]`` is rho_T(s);
    ``prior[s]`` is None for uniform.
    """

    name: str
    horizon: int
    states: list[str]
    actions: tuple[str, ...]
    rows: list[list[list[tuple[int, Fraction]]]]
    success: list[list[Success]]
    terminal: list[Success]
    initial: list[tuple[int, Fraction]]
    prior: list[tuple[Fraction, ...] | None]
    source: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    #: What the success map ignores, one line each, with counts.
    warnings: list[str] = field(default_factory=list)

    @property
    def n_states(self) -> int:
        """Number of case states."""
        return len(self.states)

    @property
    def n_pairs(self) -> int:
        """(t, s) pairs the engines work on: horizon x states."""
        return self.horizon * len(self.states)

    @property
    def n_successors(self) -> int:
        """Number of (s, a, s') entries with positive probability."""
        return sum(len(row) for rows in self.rows for row in rows)


class _Builder:
    """Interns case states by key, in discovery order."""

    def __init__(self, max_states: int) -> None:
        self.index: dict[Key, int] = {}
        self.keys: list[Key] = []
        self.max_states = max_states

    def add(self, key: Key, step: int) -> tuple[int, bool]:
        found = self.index.get(key)
        if found is not None:
            return found, False
        if len(self.keys) >= self.max_states:
            raise ValueError(
                f"--max-states: the state space exceeds {self.max_states} states "
                f"(reached at step {step}); raise --max-states or lower --horizon"
            )
        i = len(self.keys)
        self.index[key] = i
        self.keys.append(key)
        return i, True


_LIVE, _END, _SINK = "live", "end", "sink"


def _tag_text(smap: SuccessMap, tag: Fraction | None) -> str:
    if tag is None:
        return ""
    if smap.is_exp:
        return f" [reward {format_rational(tag)} due]"
    if smap.kind == "scored":
        return " [scored]" if tag else ""
    return f" [return {format_rational(tag)}]"


@dataclass
class _Dropped:
    """What the enumeration saw that a map may ignore: distinct reached
    (source state, action) pairs with an outcome of each kind."""

    positive_live: set[tuple[Hashable, int]] = field(default_factory=set)
    non_goal_ends: set[tuple[Hashable, int]] = field(default_factory=set)
    ends: set[tuple[Hashable, int]] = field(default_factory=set)


def _warnings(smap: SuccessMap, seen: _Dropped, kind: object) -> list[str]:
    """One line per kind of reward information the map drops (module
    docstring of :mod:`coherence.envs.success`)."""
    out: list[str] = []
    n_pos = len(seen.positive_live)
    if smap.kind == "goal" and n_pos:
        line = (
            f"success goal ignores positive rewards on steps that do not end the "
            f"episode: {n_pos} reached (state, action) entries have one"
        )
        n_end = len(seen.non_goal_ends)
        if n_end:
            marker = (
                " (BRIDGE marks its time limit with next state -1 as well)"
                if kind == "bridge"
                else ""
            )
            line += (
                f", and {n_end} entries end the episode with reward <= 0{marker}, "
                "a failure under goal whatever was scored before"
            )
        out.append(
            line + "; --success scored (at least one scoring step) or return>=X "
            "keeps them"
        )
    if smap.kind == "exp-free-end" and seen.ends:
        out.append(
            f"success {smap.spec} charges nothing after the episode ends "
            f"({len(seen.ends)} reached (state, action) entries end it), so ending "
            f"early is rewarded; exp:{smap.spec.split(':', 1)[1]} charges the "
            "remaining steps"
        )
    return out


def tabulate(
    source: Source,
    horizon: int,
    smap: SuccessMap,
    *,
    name: str,
    max_states: int = DEFAULT_MAX_STATES,
    progress: bool = False,
) -> Table:
    """Enumerate the states of ``source`` reachable within ``horizon`` steps
    and build the case table under the success map ``smap`` (module docstring).

    Raises a one-line ValueError for a horizon < 1 or more than ``max_states``
    case states, before anything is written. ``Table.warnings`` says what
    reward information the map ignores, with counts.
    """
    T = check_horizon(horizon)
    limit = check_max_states(max_states)
    unrolled = source.time_dependent and smap.kind not in ("goal", "scored")
    r_max, r_min = source.reward_bounds
    r_top = smap.top(r_max) if smap.is_exp else r_max
    cap = smap.kind == "return>=" and r_min >= 0
    threshold = smap.parameter
    tagged = smap.kind in ("return>=", "scored")
    builder = _Builder(limit)
    rows: dict[int, list[list[tuple[int, Fraction]]]] = {}
    charge: dict[int, list[Fraction | None]] = {}
    seen = _Dropped()

    def live_key(state: Hashable, tag: Fraction | None, t: int) -> Key:
        return (_LIVE, state, tag, t if unrolled else None)

    def next_tag(tag: Fraction | None, reward: Fraction, split: bool) -> Any:
        if smap.kind == "goal":
            return None
        if smap.is_exp:
            return reward if split else None
        if smap.kind == "scored":
            return Fraction(1) if tag or reward > 0 else Fraction(0)
        total = (tag or Fraction(0)) + reward
        assert threshold is not None
        return min(total, threshold) if cap and total >= threshold else total

    initial: dict[int, Fraction] = {}
    layer: list[int] = []
    for state, p in source.initial():
        tag = Fraction(0) if tagged else None
        i, new = builder.add(live_key(state, tag, 0), 0)
        initial[i] = initial.get(i, Fraction(0)) + p
        if new:
            layer.append(i)
    n_actions = len(source.actions)
    sink: int | None = None

    def sink_index() -> int:
        nonlocal sink
        if sink is None:
            sink, _ = builder.add((_SINK,), T)
        return sink

    def to(j: int) -> list[list[tuple[int, Fraction]]]:
        return [[(j, Fraction(1))] for _ in range(n_actions)]

    bar: Any = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=T + 1, desc="enumerating", unit="step", leave=False)
    for step in range(T + 1):
        frontier = step == T
        next_layer: list[int] = []
        for i in layer:
            key = builder.keys[i]
            kind = key[0]
            if kind == _SINK:
                continue
            if kind == _END:
                _, end_state, end_tag, end_goal = key
                if smap.is_exp and end_tag is not None:
                    # the reward due is charged once; then the absorbing end
                    j, new = builder.add((_END, end_state, None, end_goal), step + 1)
                else:
                    j, new = i, False
                if new:
                    next_layer.append(j)
                rows[i] = to(j)
                continue
            _, state, tag, _ = key
            if frontier and unrolled:
                rows[i] = to(sink_index())
                continue
            state_rows: list[list[tuple[int, Fraction]]] = []
            state_charge: list[Fraction | None] = []
            for a in range(n_actions):
                outs = source.outcomes(state, a, step)
                rewards = {o.reward for o in outs}
                split = len(rewards) > 1
                state_charge.append(None if split else next(iter(rewards)))
                merged: dict[int, Fraction] = {}
                for o in outs:
                    if o.probability == 0:
                        continue
                    if o.terminated:
                        seen.ends.add((state, a))
                        if not o.goal and o.reward <= 0:
                            seen.non_goal_ends.add((state, a))
                    elif o.reward > 0:
                        seen.positive_live.add((state, a))
                    new_tag = next_tag(tag, o.reward, split)
                    if o.terminated:
                        nkey: Key = (_END, o.state, new_tag, o.goal)
                    else:
                        nkey = live_key(o.state, new_tag, step + 1)
                    if frontier and nkey not in builder.index:
                        j = sink_index()
                    else:
                        j, new = builder.add(nkey, step + 1)
                        if new:
                            next_layer.append(j)
                    merged[j] = merged.get(j, Fraction(0)) + o.probability
                total = sum(merged.values(), Fraction(0))
                if total != 1:
                    raise ValueError(
                        f"source: outcomes of action {source.actions[a]!r} in "
                        f"{source.state_name(state)!r} sum to {total}, not 1"
                    )
                state_rows.append(sorted(merged.items()))
            rows[i] = state_rows
            charge[i] = state_charge
        layer = next_layer
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    for i in layer:  # states first met as successors of the frontier
        rows.setdefault(i, to(i))
    if sink is not None:
        rows[sink] = to(sink)

    n = len(builder.keys)
    names: list[str] = []
    success: list[list[Success]] = []
    terminal: list[Success] = []
    priors: list[tuple[Fraction, ...] | None] = []
    one = Fraction(1)

    def exp_rho(due: Fraction) -> Success:
        """exp(BETA due) for a total ``due`` (rewards minus r_top) <= 0."""
        return one if due == 0 else smap.step_probability(r_top + due, r_top)

    for i, key in enumerate(builder.keys):
        kind = key[0]
        prior: tuple[Fraction, ...] | None = None
        if kind == _SINK:
            names.append(BEYOND_HORIZON)
            success.append([one] * n_actions)
            terminal.append(Fraction(0) if smap.kind == "goal" else one)
        elif kind == _END:
            _, state, tag, goal = key
            label = source.end_name(state) + (" (goal)" if goal else "")
            names.append(f"ended: {label}{_tag_text(smap, tag)}")
            if smap.kind == "goal":
                success.append([one] * n_actions)
                terminal.append(one if goal else Fraction(0))
            elif smap.is_exp:
                arrival = Fraction(0) if tag is None else tag - r_top
                after = R_END - r_top if smap.kind == "exp" else Fraction(0)
                success.append([exp_rho(arrival + after)] * n_actions)
                terminal.append(exp_rho(arrival))
            elif smap.kind == "scored":
                success.append([one] * n_actions)
                terminal.append(one if tag else Fraction(0))
            else:
                assert threshold is not None
                success.append([one] * n_actions)
                terminal.append(one if tag >= threshold else Fraction(0))
        else:
            _, state, tag, t = key
            prefix = f"t={t} | " if t is not None else ""
            names.append(f"{prefix}{source.state_name(state)}{_tag_text(smap, tag)}")
            prior = source.prior(state)
            if smap.kind == "goal":
                success.append([one] * n_actions)
                terminal.append(Fraction(0))
            elif smap.is_exp:
                arrival = Fraction(0) if tag is None else tag - r_top
                success.append(
                    [
                        exp_rho(arrival + (c - r_top if c is not None else 0))
                        for c in charge.get(i, [None] * n_actions)
                    ]
                )
                terminal.append(exp_rho(arrival))
            elif smap.kind == "scored":
                success.append([one] * n_actions)
                terminal.append(one if tag else Fraction(0))
            else:
                assert threshold is not None
                success.append([one] * n_actions)
                terminal.append(one if tag >= threshold else Fraction(0))
        priors.append(prior)
    if len(set(names)) != n:
        seen_names: set[str] = set()
        for label in names:
            if label in seen_names:
                raise ValueError(f"source: two states share the name {label!r}")
            seen_names.add(label)
    provenance = source.provenance()
    notes = _warnings(smap, seen, provenance.get("kind"))
    extra: dict[str, Any] = {}
    if smap.is_exp:
        extra["r_top"] = format_rational(r_top)
    if smap.kind == "exp":
        extra["reward_after_end"] = format_rational(R_END)
    if notes:
        extra["warnings"] = notes
    return Table(
        name=name,
        horizon=T,
        states=names,
        actions=tuple(source.actions),
        rows=[rows[i] for i in range(n)],
        success=success,
        terminal=terminal,
        initial=sorted(initial.items()),
        prior=priors,
        source={
            **provenance,
            "success_map": smap.spec,
            "success_meaning": smap.describe(),
            "horizon": T,
            "unrolled_over_time": unrolled,
            "reward_bounds": [format_rational(r_min), format_rational(r_max)],
            **extra,
        },
        warnings=notes,
    )


def merge_prior(
    prior: Mapping[str, Fraction] | None, actions: Sequence[str]
) -> tuple[Fraction, ...] | None:
    """A prior given by action name as a tuple in action order (None: uniform)."""
    if prior is None:
        return None
    return tuple(prior.get(a, Fraction(0)) for a in actions)
