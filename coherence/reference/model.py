"""The finite-horizon tabular MDP of SPEC §2 as an immutable, validated value object.

Axis vocabulary (used everywhere in the package): time ``t`` first, then state
``s``, then action ``a``; transitions are ``[s, a, s']``.

Exact data are kept as :class:`fractions.Fraction`:

* ``transitions[s][a]`` -- successor list ``((s', P(s'|s,a)), ...)`` with P > 0,
  each row summing to exactly 1 (time-homogeneous);
* ``success[t][s][a]`` -- step success probability rho_t(s, a) = exp r_t(s, a);
* ``terminal_success[s]`` -- rho_T(s) = exp r_T(s);
* ``initial[s]`` -- mu(s); ``prior[s][a]`` -- the stationary prior p(a|s).

Float64 array views (``transition_array``, ``log_success`` ...) are derived once
and cached; logs of exact values are taken as log(num) - log(den).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from coherence._numbers import log_rational, parse_rational, to_float

__all__ = ["MDP", "FloatArray"]

FloatArray = npt.NDArray[np.float64]

Row = tuple[tuple[int, Fraction], ...]

_FLOAT_SUM_TOL = 1e-12


def _check_names(names: Sequence[str], field_name: str) -> tuple[str, ...]:
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise ValueError(f"{field_name}: expected a list of names, got {names!r}")
    if len(names) == 0:
        raise ValueError(f"{field_name}: must not be empty")
    seen: set[str] = set()
    for name in names:
        if not isinstance(name, str) or name == "":
            raise ValueError(
                f"{field_name}: names must be non-empty strings, got {name!r}"
            )
        if name in seen:
            raise ValueError(f"{field_name}: duplicate name {name!r}")
        seen.add(name)
    return tuple(names)


def _probability(value: object, field_name: str, *, upper: bool = True) -> Fraction:
    q = parse_rational(value, field_name)
    if q < 0:
        raise ValueError(f"{field_name}: negative probability {value!r}")
    if upper and q > 1:
        raise ValueError(f"{field_name}: probability {value!r} exceeds 1")
    return q


def _distribution(
    entries: Mapping[str, object],
    names: tuple[str, ...],
    field_name: str,
    what: str,
) -> list[Fraction]:
    """Read a distribution over ``names`` (missing names: 0).

    A row of exact numbers must sum to exactly 1; a row containing JSON floats
    must sum to 1 within 1e-12 and is then renormalised exactly by its sum.
    """
    if not isinstance(entries, Mapping):
        raise ValueError(
            f"{field_name}: expected an object mapping {what} to "
            f"probabilities, got {entries!r}"
        )
    index = {n: i for i, n in enumerate(names)}
    out = [Fraction(0)] * len(names)
    has_float = False
    for key, value in entries.items():
        if key not in index:
            raise ValueError(f"{field_name}: unknown {what} {key!r}")
        out[index[key]] = _probability(value, f"{field_name}[{key}]")
        has_float = has_float or isinstance(value, float)
    total = sum(out, Fraction(0))
    if has_float:
        if abs(float(total) - 1.0) > _FLOAT_SUM_TOL or total == 0:
            raise ValueError(
                f"{field_name}: probabilities sum to {float(total)!r}, "
                "not 1 (within 1e-12)"
            )
        out = [q / total for q in out]
    elif total != 1:
        raise ValueError(f"{field_name}: probabilities sum to {total}, not 1")
    return out


@dataclass(frozen=True)
class MDP:
    """A validated finite-horizon tabular MDP (SPEC §2). Construct with
    :meth:`build` (named form, as in a case file) or :meth:`from_arrays`."""

    states: tuple[str, ...]
    actions: tuple[str, ...]
    horizon: int
    transitions: tuple[tuple[Row, ...], ...]
    success: tuple[tuple[tuple[Fraction, ...], ...], ...]
    terminal_success: tuple[Fraction, ...]
    initial: tuple[Fraction, ...]
    prior: tuple[tuple[Fraction, ...], ...]
    name: str = field(default="mdp", compare=False)

    # ------------------------------------------------------------------ checks
    def __post_init__(self) -> None:
        states = _check_names(self.states, "states")
        actions = _check_names(self.actions, "actions")
        if isinstance(self.horizon, bool) or not isinstance(self.horizon, int):
            raise ValueError(f"horizon: expected an integer, got {self.horizon!r}")
        if self.horizon < 1:
            raise ValueError(f"horizon: must be >= 1, got {self.horizon}")
        n_s, n_a, T = len(states), len(actions), self.horizon
        if len(self.transitions) != n_s:
            raise ValueError(
                f"transitions: expected {n_s} state rows, got {len(self.transitions)}"
            )
        for s, rows in enumerate(self.transitions):
            if len(rows) != n_a:
                raise ValueError(
                    f"transitions[{states[s]}]: expected {n_a} action "
                    f"rows, got {len(rows)}"
                )
            for a, row in enumerate(rows):
                where = f"transitions[{states[s]}][{actions[a]}]"
                total = Fraction(0)
                for nxt, p in row:
                    if not (0 <= nxt < n_s):
                        raise ValueError(f"{where}: unknown next state index {nxt}")
                    if not isinstance(p, Fraction) or p <= 0 or p > 1:
                        raise ValueError(
                            f"{where}[{states[nxt]}]: probability {p!r} "
                            "must be a Fraction in (0, 1]"
                        )
                    total += p
                if total != 1:
                    raise ValueError(f"{where}: probabilities sum to {total}, not 1")
        if len(self.success) != T:
            raise ValueError(
                f"success: expected {T} time steps, got {len(self.success)}"
            )
        for t, table in enumerate(self.success):
            self._check_table(table, f"success[t={t}]", upper=True)
        self._check_vector(self.terminal_success, "terminal_success", dist=False)
        self._check_vector(self.initial, "initial", dist=True)
        self._check_table(self.prior, "prior", upper=True, dist=True)

    def _check_vector(self, vec: Sequence[Fraction], name: str, *, dist: bool) -> None:
        if len(vec) != len(self.states):
            raise ValueError(
                f"{name}: expected {len(self.states)} entries, got {len(vec)}"
            )
        for s, q in enumerate(vec):
            if not isinstance(q, Fraction) or q < 0 or q > 1:
                raise ValueError(
                    f"{name}[{self.states[s]}]: {q!r} is not a probability in [0, 1]"
                )
        if dist and sum(vec, Fraction(0)) != 1:
            raise ValueError(
                f"{name}: probabilities sum to {sum(vec, Fraction(0))}, not 1"
            )

    def _check_table(
        self,
        table: Sequence[Sequence[Fraction]],
        name: str,
        *,
        upper: bool,
        dist: bool = False,
    ) -> None:
        if len(table) != len(self.states):
            raise ValueError(
                f"{name}: expected {len(self.states)} state rows, got {len(table)}"
            )
        for s, row in enumerate(table):
            if len(row) != len(self.actions):
                raise ValueError(
                    f"{name}[{self.states[s]}]: expected "
                    f"{len(self.actions)} actions, got {len(row)}"
                )
            for a, q in enumerate(row):
                if not isinstance(q, Fraction) or q < 0 or (upper and q > 1):
                    raise ValueError(
                        f"{name}[{self.states[s]}][{self.actions[a]}]: "
                        f"{q!r} is not a probability in [0, 1]"
                    )
            if dist and sum(row, Fraction(0)) != 1:
                raise ValueError(
                    f"{name}[{self.states[s]}]: probabilities sum to "
                    f"{sum(row, Fraction(0))}, not 1"
                )

    # ------------------------------------------------------------ constructors
    @classmethod
    def build(
        cls,
        *,
        states: Sequence[str],
        actions: Sequence[str],
        horizon: int,
        transitions: Mapping[str, Mapping[str, Mapping[str, object]]],
        initial: Mapping[str, object],
        success: Mapping[str, Mapping[str, object]] | None = None,
        terminal_success: Mapping[str, object] | None = None,
        prior: Mapping[str, Mapping[str, object]] | None = None,
        time_dependent_success: Mapping[str, Mapping[str, Mapping[str, object]]]
        | None = None,
        name: str = "mdp",
    ) -> MDP:
        """Build from the named form of CASE_FORMAT.md (missing success: 1,
        missing prior state: uniform, missing initial state: 0)."""
        st = _check_names(states, "states")
        ac = _check_names(actions, "actions")
        if isinstance(horizon, bool) or not isinstance(horizon, int):
            raise ValueError(f"horizon: expected an integer, got {horizon!r}")
        if horizon < 1:
            raise ValueError(f"horizon: must be >= 1, got {horizon}")
        s_index = {n: i for i, n in enumerate(st)}
        a_index = {n: i for i, n in enumerate(ac)}

        def mapping(obj: object, where: str) -> Mapping[str, Any]:
            if not isinstance(obj, Mapping):
                raise ValueError(f"{where}: expected an object, got {obj!r}")
            return obj

        def known(key: str, index: Mapping[str, int], where: str, what: str) -> int:
            if key not in index:
                raise ValueError(f"{where}: unknown {what} {key!r}")
            return index[key]

        trans = mapping(transitions, "transitions")
        for key in trans:
            known(key, s_index, "transitions", "state")
        rows: list[tuple[Row, ...]] = []
        for sname in st:
            if sname not in trans:
                raise ValueError(f"transitions: missing row for state {sname!r}")
            by_action = mapping(trans[sname], f"transitions[{sname}]")
            for key in by_action:
                known(key, a_index, f"transitions[{sname}]", "action")
            state_rows: list[Row] = []
            for aname in ac:
                if aname not in by_action:
                    raise ValueError(
                        f"transitions[{sname}]: missing row for action {aname!r}"
                    )
                dist = _distribution(
                    by_action[aname], st, f"transitions[{sname}][{aname}]", "state"
                )
                state_rows.append(tuple((j, p) for j, p in enumerate(dist) if p > 0))
            rows.append(tuple(state_rows))

        base = [[Fraction(1)] * len(ac) for _ in st]
        for key, row in mapping(success or {}, "success").items():
            s = known(key, s_index, "success", "state")
            for akey, value in mapping(row, f"success[{key}]").items():
                a = known(akey, a_index, f"success[{key}]", "action")
                base[s][a] = _probability(value, f"success[{key}][{akey}]")
        succ = [[list(r) for r in base] for _ in range(horizon)]
        for tkey, table in mapping(
            time_dependent_success or {}, "time_dependent_success"
        ).items():
            try:
                t = int(tkey)
            except ValueError:
                raise ValueError(
                    f"time_dependent_success: step {tkey!r} is not an integer"
                ) from None
            if not (0 <= t < horizon):
                raise ValueError(
                    f"time_dependent_success: step {tkey!r} outside 0..{horizon - 1}"
                )
            for key, row in mapping(table, f"time_dependent_success[{tkey}]").items():
                s = known(key, s_index, f"time_dependent_success[{tkey}]", "state")
                for akey, value in mapping(
                    row, f"time_dependent_success[{tkey}][{key}]"
                ).items():
                    a = known(
                        akey,
                        a_index,
                        f"time_dependent_success[{tkey}][{key}]",
                        "action",
                    )
                    succ[t][s][a] = _probability(
                        value, f"time_dependent_success[{tkey}][{key}][{akey}]"
                    )

        term = [Fraction(1)] * len(st)
        for key, value in mapping(terminal_success or {}, "terminal_success").items():
            s = known(key, s_index, "terminal_success", "state")
            term[s] = _probability(value, f"terminal_success[{key}]")

        init = _distribution(mapping(initial, "initial"), st, "initial", "state")

        uniform = [Fraction(1, len(ac))] * len(ac)
        pri = [list(uniform) for _ in st]
        for key, row in mapping(prior or {}, "prior").items():
            s = known(key, s_index, "prior", "state")
            pri[s] = _distribution(
                mapping(row, f"prior[{key}]"), ac, f"prior[{key}]", "action"
            )

        return cls(
            states=st,
            actions=ac,
            horizon=horizon,
            transitions=tuple(rows),
            success=tuple(tuple(tuple(r) for r in table) for table in succ),
            terminal_success=tuple(term),
            initial=tuple(init),
            prior=tuple(tuple(r) for r in pri),
            name=name,
        )

    @classmethod
    def from_arrays(
        cls,
        *,
        transitions: npt.ArrayLike,
        initial: npt.ArrayLike,
        success: npt.ArrayLike | None = None,
        terminal_success: npt.ArrayLike | None = None,
        prior: npt.ArrayLike | None = None,
        horizon: int | None = None,
        states: Sequence[str] | None = None,
        actions: Sequence[str] | None = None,
        name: str = "mdp",
    ) -> MDP:
        """Build from arrays: transitions ``[s, a, s']``, success ``[s, a]`` or
        ``[t, s, a]``, terminal_success ``[s]``, initial ``[s]``, prior ``[s, a]``.

        Float entries are read as their exact binary values; float rows are
        renormalised exactly when they sum to 1 within 1e-12.
        """
        P = np.asarray(transitions, dtype=object)
        if P.ndim != 3 or P.shape[0] != P.shape[2]:
            raise ValueError(f"transitions: expected shape (S, A, S), got {P.shape}")
        n_s, n_a = int(P.shape[0]), int(P.shape[1])
        st = tuple(states) if states is not None else tuple(f"s{i}" for i in range(n_s))
        ac = (
            tuple(actions)
            if actions is not None
            else tuple(f"a{i}" for i in range(n_a))
        )
        if len(st) != n_s:
            raise ValueError(f"states: {len(st)} names for {n_s} states in transitions")
        if len(ac) != n_a:
            raise ValueError(
                f"actions: {len(ac)} names for {n_a} actions in transitions"
            )

        def as_value(x: object) -> object:
            return x.item() if isinstance(x, np.generic) else x

        trans = {
            st[s]: {
                ac[a]: {
                    st[j]: as_value(P[s, a, j])
                    for j in range(n_s)
                    if as_value(P[s, a, j]) != 0
                }
                for a in range(n_a)
            }
            for s in range(n_s)
        }
        mu = np.asarray(initial, dtype=object)
        if mu.shape != (n_s,):
            raise ValueError(f"initial: expected shape ({n_s},), got {mu.shape}")
        init = {st[s]: as_value(mu[s]) for s in range(n_s) if as_value(mu[s]) != 0}

        succ_map: dict[str, dict[str, object]] = {}
        tds: dict[str, dict[str, dict[str, object]]] = {}
        if success is not None:
            R = np.asarray(success, dtype=object)
            if R.shape == (n_s, n_a):
                succ_map = {
                    st[s]: {ac[a]: as_value(R[s, a]) for a in range(n_a)}
                    for s in range(n_s)
                }
            elif R.ndim == 3 and R.shape[1:] == (n_s, n_a):
                if horizon is None:
                    horizon = int(R.shape[0])
                if R.shape[0] != horizon:
                    raise ValueError(
                        f"success: {R.shape[0]} time steps for horizon {horizon}"
                    )
                tds = {
                    str(t): {
                        st[s]: {ac[a]: as_value(R[t, s, a]) for a in range(n_a)}
                        for s in range(n_s)
                    }
                    for t in range(horizon)
                }
            else:
                raise ValueError(
                    f"success: expected shape ({n_s}, {n_a}) or "
                    f"(T, {n_s}, {n_a}), got {R.shape}"
                )
        if horizon is None:
            raise ValueError("horizon: required unless success is time-indexed")
        term: dict[str, object] = {}
        if terminal_success is not None:
            Rt = np.asarray(terminal_success, dtype=object)
            if Rt.shape != (n_s,):
                raise ValueError(
                    f"terminal_success: expected shape ({n_s},), got {Rt.shape}"
                )
            term = {st[s]: as_value(Rt[s]) for s in range(n_s)}
        pri: dict[str, dict[str, object]] = {}
        if prior is not None:
            Pp = np.asarray(prior, dtype=object)
            if Pp.shape != (n_s, n_a):
                raise ValueError(
                    f"prior: expected shape ({n_s}, {n_a}), got {Pp.shape}"
                )
            pri = {
                st[s]: {
                    ac[a]: as_value(Pp[s, a])
                    for a in range(n_a)
                    if as_value(Pp[s, a]) != 0
                }
                for s in range(n_s)
            }
        return cls.build(
            states=st,
            actions=ac,
            horizon=horizon,
            transitions=trans,
            initial=init,
            success=succ_map,
            terminal_success=term,
            prior=pri,
            time_dependent_success=tds,
            name=name,
        )

    # ------------------------------------------------------------------ views
    @property
    def n_states(self) -> int:
        return len(self.states)

    @property
    def n_actions(self) -> int:
        return len(self.actions)

    @cached_property
    def is_deterministic(self) -> bool:
        """Every transition row is a point mass."""
        return all(len(row) == 1 for rows in self.transitions for row in rows)

    @cached_property
    def has_uniform_prior(self) -> bool:
        u = Fraction(1, self.n_actions)
        return all(q == u for row in self.prior for q in row)

    def state_index(self, name: str) -> int:
        try:
            return self.states.index(name)
        except ValueError:
            raise ValueError(f"state: unknown state {name!r}") from None

    def action_index(self, name: str) -> int:
        try:
            return self.actions.index(name)
        except ValueError:
            raise ValueError(f"action: unknown action {name!r}") from None

    @cached_property
    def transition_array(self) -> FloatArray:
        """P[s, a, s'] as float64."""
        P = np.zeros((self.n_states, self.n_actions, self.n_states))
        for s, rows in enumerate(self.transitions):
            for a, row in enumerate(rows):
                for nxt, p in row:
                    P[s, a, nxt] = to_float(p)
        P.setflags(write=False)
        return P

    def _frozen(
        self, values: list[float] | list[list[float]] | list[list[list[float]]]
    ) -> FloatArray:
        arr = np.array(values, dtype=np.float64)
        arr.setflags(write=False)
        return arr

    @cached_property
    def log_success(self) -> FloatArray:
        """r_t(s, a) = log rho_t(s, a), shape (T, S, A); -inf where rho = 0."""
        return self._frozen(
            [
                [[log_rational(q) for q in row] for row in table]
                for table in self.success
            ]
        )

    @cached_property
    def log_terminal_success(self) -> FloatArray:
        """r_T(s) = log rho_T(s), shape (S,)."""
        return self._frozen([log_rational(q) for q in self.terminal_success])

    @cached_property
    def initial_array(self) -> FloatArray:
        return self._frozen([to_float(q) for q in self.initial])

    @cached_property
    def prior_array(self) -> FloatArray:
        """p(a|s), shape (S, A)."""
        return self._frozen([[to_float(q) for q in row] for row in self.prior])

    @cached_property
    def log_prior(self) -> FloatArray:
        """log p(a|s), shape (S, A); -inf where p = 0."""
        return self._frozen([[log_rational(q) for q in row] for row in self.prior])

    def __repr__(self) -> str:
        return (
            f"MDP(name={self.name!r}, states={len(self.states)}, "
            f"actions={len(self.actions)}, horizon={self.horizon}, "
            f"deterministic={self.is_deterministic})"
        )
