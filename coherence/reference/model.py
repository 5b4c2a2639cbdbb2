"""The finite-horizon tabular MDP of SPEC §2 as an immutable, validated value object.

Axis vocabulary (used everywhere in the package): time ``t`` first, then state
``s``, then action ``a``; transitions are ``[s, a, s']``.

Exact data are kept as :class:`fractions.Fraction`:

* ``transitions[s][a]`` -- successor list ``((s', P(s'|s,a)), ...)`` with P > 0,
  sorted by s', each row summing to exactly 1 (time-homogeneous);
* ``success[t][s][a]`` -- step success probability rho_t(s, a) = exp r_t(s, a);
* ``terminal_success[s]`` -- rho_T(s) = exp r_T(s);
* ``initial[s]`` -- mu(s); ``prior[s][a]`` -- the stationary prior p(a|s).

Tables that repeat (the success table of steps without overrides, the rows of
states a case does not list) are shared objects, so reading a case costs time
and memory in proportion to the case's text plus the horizon, and checking a
shared row happens once.

Float64 array views (``transition_array``, ``log_success`` ...) are derived once
and cached; logs of exact values are taken as log(num) - log(den).

Size limits of the reader (docs/case-format.md, "Limits"): ``horizon`` at most
:data:`MAX_HORIZON` and horizon x states x actions at most :data:`MAX_CELLS`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from fractions import Fraction
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from coherence._numbers import log_rational, parse_rational, to_float

__all__ = [
    "MAX_CELLS",
    "MAX_DENSE_ENTRIES",
    "MAX_HORIZON",
    "MDP",
    "ArrayInput",
    "FloatArray",
    "Problem",
    "named_form_problems",
]

FloatArray = npt.NDArray[np.float64]

Row = tuple[tuple[int, Fraction], ...]
#: An array argument of :meth:`MDP.from_arrays`: a numpy array, or nested
#: sequences of floats, ints, Fractions or number strings.
ArrayInput = npt.ArrayLike | Sequence[Any]

#: Largest horizon a case may state.
MAX_HORIZON = 1_000_000
#: Largest horizon x states x actions (the size of every [t, s, a] table).
MAX_CELLS = 100_000_000
#: Most entries of the dense transition array S x A x S the float engines use
#: (2^27 float64 entries: 1 GiB).
MAX_DENSE_ENTRIES = 1 << 27

_FLOAT_SUM_TOL = 1e-12
_ZERO = Fraction(0)
_ONE = Fraction(1)
# Probability strings already read and checked to lie in [0, 1].
_UNIT: dict[str, Fraction] = {}
_UNIT_SIZE = 4096
_STEP_KEY = re.compile(r"0|[1-9][0-9]{0,6}", re.ASCII)


def _check_names(names: Sequence[str], field_name: str) -> tuple[str, ...]:
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise ValueError(f"{field_name}: expected a list of names, got {names!r}")
    if len(names) == 0:
        raise ValueError(f"{field_name}: must not be empty")
    out = tuple(names)
    for name in out:
        if not isinstance(name, str) or name == "":
            raise ValueError(
                f"{field_name}: names must be non-empty strings, got {name!r}"
            )
    if len(set(out)) != len(out):
        seen: set[str] = set()
        for name in out:
            if name in seen:
                raise ValueError(f"{field_name}: duplicate name {name!r}")
            seen.add(name)
    return out


def _check_horizon(horizon: object, n_states: int, n_actions: int) -> int:
    if isinstance(horizon, bool) or not isinstance(horizon, int):
        raise ValueError(f"horizon: expected an integer, got {horizon!r}")
    if horizon < 1:
        raise ValueError(f"horizon: must be >= 1, got {horizon}")
    if horizon > MAX_HORIZON:
        raise ValueError(
            f"horizon: {horizon} exceeds the limit of {MAX_HORIZON} (MAX_HORIZON)"
        )
    cells = horizon * n_states * n_actions
    if cells > MAX_CELLS:
        raise ValueError(
            f"horizon x states x actions = {horizon} x {n_states} x {n_actions} "
            f"= {cells} exceeds the limit of {MAX_CELLS} (MAX_CELLS)"
        )
    return horizon


def _is_fraction(q: object) -> bool:
    return type(q) is Fraction or isinstance(q, Fraction)


def _in_unit(q: Fraction) -> bool:
    """0 <= q <= 1 in integer arithmetic (a Fraction's denominator is > 0)."""
    return 0 <= q.numerator <= q.denominator


def _exact_sum(qs: Sequence[Fraction]) -> tuple[int, int]:
    """sum(qs) as (numerator, denominator) over the least common denominator,
    in integer arithmetic (no Fraction normalisation per addition)."""
    den = 1
    for q in qs:
        d = q.denominator
        if den % d:
            den = den // math.gcd(den, d) * d
    return sum(q.numerator * (den // q.denominator) for q in qs), den


def _sums_to_one(qs: Sequence[Fraction]) -> bool:
    """sum(qs) == 1 exactly; a shared denominator needs no common multiple."""
    if not qs:
        return False
    if len(qs) == 1:
        q = qs[0]
        return q.numerator == q.denominator
    den = qs[0].denominator
    if all(q.denominator == den for q in qs):
        return sum(q.numerator for q in qs) == den
    num, common = _exact_sum(qs)
    return num == common


def _total(qs: Sequence[Fraction]) -> Fraction:
    num, den = _exact_sum(qs)
    return Fraction(num, den)


def _probability(value: object, field_name: str, *, upper: bool = True) -> Fraction:
    q = parse_rational(value, field_name)
    if q.numerator < 0:
        raise ValueError(f"{field_name}: negative probability {value!r}")
    if upper and q.numerator > q.denominator:
        raise ValueError(f"{field_name}: probability {value!r} exceeds 1")
    return q


def _normalised(
    entries: list[tuple[int, Fraction]], has_float: bool, field_name: str
) -> list[tuple[int, Fraction]]:
    """Check that a row sums to 1: exactly for exact numbers; within 1e-12 for a
    row containing floats, which is then renormalised exactly by its sum."""
    qs = [q for _, q in entries]
    if not has_float and _sums_to_one(qs):
        return entries
    total = _total(qs)
    if has_float:
        if total == 0 or abs(float(total) - 1.0) > _FLOAT_SUM_TOL:
            raise ValueError(
                f"{field_name}: probabilities sum to {float(total)!r}, "
                "not 1 (within 1e-12)"
            )
        if total != 1:
            return [(i, q / total) for i, q in entries]
    elif total != 1:
        raise ValueError(f"{field_name}: probabilities sum to {total}, not 1")
    return entries


def _sparse_distribution(
    entries: object,
    index: Mapping[str, int],
    field_name: str,
    what: str,
) -> list[tuple[int, Fraction]]:
    """Read a distribution over the names of ``index`` (missing names: 0) as
    ``(index, probability)`` pairs sorted by index, zeros dropped.

    A row of exact numbers must sum to exactly 1; a row containing JSON floats
    must sum to 1 within 1e-12 and is then renormalised exactly by its sum.
    Costs O(entries given), not O(len(index)).
    """
    if not isinstance(entries, Mapping):
        raise ValueError(
            f"{field_name}: expected an object mapping {what} to "
            f"probabilities, got {entries!r}"
        )
    out: list[tuple[int, Fraction]] = []
    has_float = False
    for key, value in entries.items():
        i = index.get(key)
        if i is None:
            raise ValueError(f"{field_name}: unknown {what} {key!r}")
        q = _UNIT.get(value) if type(value) is str else None
        if q is None:
            q = _probability(value, f"{field_name}[{key}]")
            if type(value) is str and len(_UNIT) < _UNIT_SIZE and len(value) < 40:
                _UNIT[value] = q
            has_float = has_float or isinstance(value, float)
        if q.numerator:
            out.append((i, q))
    if len(out) > 1:
        out.sort(key=lambda entry: entry[0])
    return _normalised(out, has_float, field_name)


def _dense(entries: list[tuple[int, Fraction]], n: int) -> tuple[Fraction, ...]:
    out = [_ZERO] * n
    for i, q in entries:
        out[i] = q
    return tuple(out)


def _step(key: object, horizon: int) -> int:
    """A ``time_dependent_success`` step key: a canonical decimal integer."""
    if not isinstance(key, str) or not _STEP_KEY.fullmatch(key):
        raise ValueError(
            f"time_dependent_success: step {key!r} is not a canonical integer "
            "(decimal digits, no sign, spaces, underscores or leading zeros)"
        )
    t = int(key)
    if t >= horizon:
        raise ValueError(
            f"time_dependent_success: step {key!r} outside 0..{horizon - 1}"
        )
    return t


def _labeller(name: str, axes: Sequence[Sequence[str]]) -> Any:
    def where(idx: Sequence[int]) -> str:
        return name + "".join(f"[{axes[k][i]}]" for k, i in enumerate(idx))

    return where


def _exact_array(
    values: ArrayInput, name: str, shape: tuple[int, ...], axes: Sequence[Any]
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.bool_]]:
    """An array of probabilities in [0, 1] as Fractions, with the mask of the
    entries given as floats. Float and integer arrays are range-checked
    vectorised and each distinct value is converted once (a float to its exact
    binary value)."""
    try:
        arr = np.asarray(values)
    except ValueError:
        raise ValueError(f"{name}: expected a rectangular array") from None
    if arr.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {arr.shape}")
    where = _labeller(name, axes)
    kind = arr.dtype.kind
    if kind == "b":
        raise ValueError(f"{name}: expected numbers, got booleans")
    if kind in "fiu":
        flat = arr.ravel()
        bad = (flat < 0) | (flat > 1) if kind in "iu" else ~((flat >= 0) & (flat <= 1))
        if bad.any():
            idx = np.unravel_index(int(np.argmax(bad)), shape)
            v = flat[int(np.argmax(bad))].item()
            if isinstance(v, float) and math.isnan(v):
                raise ValueError(f"{where(idx)}: NaN is not a number here")
            if isinstance(v, float) and math.isinf(v):
                raise ValueError(f"{where(idx)}: {v!r} is not finite")
            if v < 0:
                raise ValueError(f"{where(idx)}: negative probability {v!r}")
            raise ValueError(f"{where(idx)}: probability {v!r} exceeds 1")
        seen: dict[float | int, Fraction] = {}
        exact = [
            seen[v] if v in seen else seen.setdefault(v, Fraction(v))
            for v in flat.tolist()
        ]
        out: npt.NDArray[np.object_] = np.empty(len(exact), dtype=object)
        out[:] = exact
        return out.reshape(shape), np.full(shape, kind == "f")
    obj = np.asarray(values, dtype=object)
    out = np.empty(shape, dtype=object)
    mask = np.zeros(shape, dtype=bool)
    for idx in np.ndindex(*shape):
        v = obj[idx]
        v = v.item() if isinstance(v, np.generic) else v
        out[idx] = _probability(v, where(idx))
        mask[idx] = isinstance(v, float)
    return out, mask


def _array_row(
    qs: npt.NDArray[np.object_], floats: npt.NDArray[np.bool_], where: str
) -> list[tuple[int, Fraction]]:
    entries = [(i, q) for i, q in enumerate(qs) if q != 0]
    has_float = any(bool(floats[i]) for i, _ in entries)
    return _normalised(entries, has_float, where)


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
    #: The goal structure of a goal-conditioned case's command extension
    #: (:class:`coherence.reference.relabel.Commands`), else None.
    command: Any = field(default=None, compare=False, repr=False)

    # ------------------------------------------------------------------ checks
    def __post_init__(self) -> None:
        """Check every field (SPEC §2); a shared row or table is checked once."""
        states = _check_names(self.states, "states")
        actions = _check_names(self.actions, "actions")
        n_s, n_a = len(states), len(actions)
        T = _check_horizon(self.horizon, n_s, n_a)
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
                last = -1
                for nxt, p in row:
                    if not (isinstance(nxt, int) and last < nxt < n_s):
                        raise ValueError(
                            f"transitions[{states[s]}][{actions[a]}]: next state "
                            f"index {nxt!r} unknown or out of order"
                        )
                    last = nxt
                    if not _is_fraction(p) or not 0 < p.numerator <= p.denominator:
                        raise ValueError(
                            f"transitions[{states[s]}][{actions[a]}]"
                            f"[{states[nxt]}]: probability {p!r} must be a "
                            "Fraction in (0, 1]"
                        )
                if not _sums_to_one([p for _, p in row]):
                    raise ValueError(
                        f"transitions[{states[s]}][{actions[a]}]: probabilities "
                        f"sum to {_total([p for _, p in row])}, not 1"
                    )
        if len(self.success) != T:
            raise ValueError(
                f"success: expected {T} time steps, got {len(self.success)}"
            )
        checked: set[int] = set()
        for t, table in enumerate(self.success):
            if id(table) not in checked:
                self._check_table(table, f"success[t={t}]", checked)
                checked.add(id(table))
        self._check_vector(self.terminal_success, "terminal_success", dist=False)
        self._check_vector(self.initial, "initial", dist=True)
        self._check_table(self.prior, "prior", set(), dist=True)

    def _check_vector(self, vec: Sequence[Fraction], name: str, *, dist: bool) -> None:
        if len(vec) != len(self.states):
            raise ValueError(
                f"{name}: expected {len(self.states)} entries, got {len(vec)}"
            )
        for s, q in enumerate(vec):
            if not _is_fraction(q) or not _in_unit(q):
                raise ValueError(
                    f"{name}[{self.states[s]}]: {q!r} is not a probability in [0, 1]"
                )
        if dist and not _sums_to_one(vec):
            raise ValueError(f"{name}: probabilities sum to {_total(vec)}, not 1")

    def _check_table(
        self,
        table: Sequence[Sequence[Fraction]],
        name: str,
        checked: set[int],
        *,
        dist: bool = False,
    ) -> None:
        """Entries in [0, 1] (rows summing to 1 when ``dist``); rows whose id is
        in ``checked`` were checked before and are skipped."""
        if len(table) != len(self.states):
            raise ValueError(
                f"{name}: expected {len(self.states)} state rows, got {len(table)}"
            )
        for s, row in enumerate(table):
            if id(row) in checked:
                continue
            if len(row) != len(self.actions):
                raise ValueError(
                    f"{name}[{self.states[s]}]: expected "
                    f"{len(self.actions)} actions, got {len(row)}"
                )
            for a, q in enumerate(row):
                if not _is_fraction(q) or not _in_unit(q):
                    raise ValueError(
                        f"{name}[{self.states[s]}][{self.actions[a]}]: "
                        f"{q!r} is not a probability in [0, 1]"
                    )
            if dist and not _sums_to_one(row):
                raise ValueError(
                    f"{name}[{self.states[s]}]: probabilities sum to "
                    f"{_total(row)}, not 1"
                )
            checked.add(id(row))

    # ------------------------------------------------------------ constructors
    @classmethod
    def _checked(cls, **values: Any) -> MDP:
        """An MDP from fields that :meth:`build` or :meth:`from_arrays` has
        already checked entry by entry (the checks of ``__post_init__``, done
        while reading); skips the second pass over large tables."""
        obj = object.__new__(cls)
        for item in fields(cls):
            object.__setattr__(obj, item.name, values.get(item.name, item.default))
        return obj

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
        """Build from the named form of docs/case-format.md (missing success: 1,
        missing prior state: uniform, missing initial state: 0).

        Costs O(size of the given mappings + horizon): rows are read sparsely
        and unlisted rows share one object.
        """
        st = _check_names(states, "states")
        ac = _check_names(actions, "actions")
        horizon = _check_horizon(horizon, len(st), len(ac))
        s_index = {n: i for i, n in enumerate(st)}
        a_index = {n: i for i, n in enumerate(ac)}

        def mapping(obj: object, where: str) -> Mapping[str, Any]:
            if not isinstance(obj, Mapping):
                raise ValueError(f"{where}: expected an object, got {obj!r}")
            return obj

        def known(key: str, index: Mapping[str, int], where: str, what: str) -> int:
            i = index.get(key)
            if i is None:
                raise ValueError(f"{where}: unknown {what} {key!r}")
            return i

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
                entries = _sparse_distribution(
                    by_action[aname], s_index, f"transitions[{sname}][{aname}]", "state"
                )
                state_rows.append(tuple(entries))
            rows.append(tuple(state_rows))

        ones = (_ONE,) * len(ac)
        base: list[tuple[Fraction, ...]] = [ones] * len(st)
        for key, row in mapping(success or {}, "success").items():
            s = known(key, s_index, "success", "state")
            values = list(base[s])
            for akey, value in mapping(row, f"success[{key}]").items():
                a = known(akey, a_index, f"success[{key}]", "action")
                values[a] = _probability(value, f"success[{key}][{akey}]")
            base[s] = tuple(values)
        base_table = tuple(base)
        succ: list[tuple[tuple[Fraction, ...], ...]] = [base_table] * horizon
        for tkey, table in mapping(
            time_dependent_success or {}, "time_dependent_success"
        ).items():
            t = _step(tkey, horizon)
            where = f"time_dependent_success[{tkey}]"
            step = list(base_table)
            for key, row in mapping(table, where).items():
                s = known(key, s_index, where, "state")
                values = list(step[s])
                for akey, value in mapping(row, f"{where}[{key}]").items():
                    a = known(akey, a_index, f"{where}[{key}]", "action")
                    values[a] = _probability(value, f"{where}[{key}][{akey}]")
                step[s] = tuple(values)
            succ[t] = tuple(step)

        term = [_ONE] * len(st)
        for key, value in mapping(terminal_success or {}, "terminal_success").items():
            s = known(key, s_index, "terminal_success", "state")
            term[s] = _probability(value, f"terminal_success[{key}]")

        init = _dense(
            _sparse_distribution(
                mapping(initial, "initial"), s_index, "initial", "state"
            ),
            len(st),
        )

        uniform = (Fraction(1, len(ac)),) * len(ac)
        pri: list[tuple[Fraction, ...]] = [uniform] * len(st)
        for key, row in mapping(prior or {}, "prior").items():
            s = known(key, s_index, "prior", "state")
            pri[s] = _dense(
                _sparse_distribution(
                    mapping(row, f"prior[{key}]"), a_index, f"prior[{key}]", "action"
                ),
                len(ac),
            )

        return cls._checked(
            states=st,
            actions=ac,
            horizon=horizon,
            transitions=tuple(rows),
            success=tuple(succ),
            terminal_success=tuple(term),
            initial=init,
            prior=tuple(pri),
            name=name,
        )

    @classmethod
    def from_arrays(
        cls,
        *,
        transitions: ArrayInput,
        initial: ArrayInput,
        success: ArrayInput | None = None,
        terminal_success: ArrayInput | None = None,
        prior: ArrayInput | None = None,
        horizon: int | None = None,
        states: Sequence[str] | None = None,
        actions: Sequence[str] | None = None,
        name: str = "mdp",
    ) -> MDP:
        """Build from arrays: transitions ``[s, a, s']``, success ``[s, a]`` or
        ``[t, s, a]``, terminal_success ``[s]``, initial ``[s]``, prior ``[s, a]``.

        Entries may be floats, integers, Fractions or number strings. Exact
        entries stay exact; float entries are read as their exact binary values,
        and float rows are renormalised exactly when they sum to 1 within 1e-12.
        Float and integer arrays are checked vectorised and each distinct value
        is converted to a Fraction once (no round trip through names).
        """
        try:
            P_shape = np.shape(transitions)
        except ValueError:
            raise ValueError("transitions: expected a rectangular array") from None
        if len(P_shape) != 3 or P_shape[0] != P_shape[2]:
            raise ValueError(f"transitions: expected shape (S, A, S), got {P_shape}")
        n_s, n_a = int(P_shape[0]), int(P_shape[1])
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
        st = _check_names(st, "states")
        ac = _check_names(ac, "actions")

        P, P_float = _exact_array(
            transitions, "transitions", (n_s, n_a, n_s), [st, ac, st]
        )
        rows = tuple(
            tuple(
                tuple(
                    _array_row(P[s, a], P_float[s, a], f"transitions[{st[s]}][{ac[a]}]")
                )
                for a in range(n_a)
            )
            for s in range(n_s)
        )
        mu, mu_float = _exact_array(initial, "initial", (n_s,), [st])
        init = _dense(_array_row(mu, mu_float, "initial"), n_s)

        succ: tuple[tuple[tuple[Fraction, ...], ...], ...] | None = None
        if success is not None:
            R_shape = np.shape(success)
            if R_shape == (n_s, n_a):
                if horizon is None:
                    raise ValueError("horizon: required unless success is time-indexed")
                R, _ = _exact_array(success, "success", (n_s, n_a), [st, ac])
                table = tuple(tuple(R[s]) for s in range(n_s))
                succ = (table,) * _check_horizon(horizon, n_s, n_a)
            elif len(R_shape) == 3 and R_shape[1:] == (n_s, n_a):
                if horizon is None:
                    horizon = int(R_shape[0])
                if R_shape[0] != horizon:
                    raise ValueError(
                        f"success: {R_shape[0]} time steps for horizon {horizon}"
                    )
                _check_horizon(horizon, n_s, n_a)
                steps = [str(t) for t in range(horizon)]
                R, _ = _exact_array(success, "success", R_shape, [steps, st, ac])
                succ = tuple(
                    tuple(tuple(R[t, s]) for s in range(n_s)) for t in range(horizon)
                )
            else:
                raise ValueError(
                    f"success: expected shape ({n_s}, {n_a}) or "
                    f"(T, {n_s}, {n_a}), got {R_shape}"
                )
        if horizon is None:
            raise ValueError("horizon: required unless success is time-indexed")
        horizon = _check_horizon(horizon, n_s, n_a)
        if succ is None:
            succ = (((_ONE,) * n_a,) * n_s,) * horizon

        term: tuple[Fraction, ...] = (_ONE,) * n_s
        if terminal_success is not None:
            Rt, _ = _exact_array(terminal_success, "terminal_success", (n_s,), [st])
            term = tuple(Rt)
        pri: tuple[tuple[Fraction, ...], ...] = ((Fraction(1, n_a),) * n_a,) * n_s
        if prior is not None:
            Pp, Pp_float = _exact_array(prior, "prior", (n_s, n_a), [st, ac])
            pri = tuple(
                _dense(_array_row(Pp[s], Pp_float[s], f"prior[{st[s]}]"), n_a)
                for s in range(n_s)
            )
        return cls._checked(
            states=st,
            actions=ac,
            horizon=horizon,
            transitions=rows,
            success=succ,
            terminal_success=term,
            initial=init,
            prior=pri,
            name=name,
        )

    # ------------------------------------------------------------------ views
    @property
    def n_states(self) -> int:
        """|S|."""
        return len(self.states)

    @property
    def n_actions(self) -> int:
        """|A|."""
        return len(self.actions)

    @cached_property
    def is_deterministic(self) -> bool:
        """Every transition row is a point mass."""
        return all(len(row) == 1 for rows in self.transitions for row in rows)

    @cached_property
    def has_uniform_prior(self) -> bool:
        """p(a|s) = 1/|A| everywhere."""
        u = Fraction(1, self.n_actions)
        return all(q == u for row in self._unique(self.prior) for q in row)

    @cached_property
    def n_successors(self) -> int:
        """Number of (s, a, s') with P(s'|s,a) > 0."""
        return sum(len(row) for rows in self.transitions for row in rows)

    @cached_property
    def input_bits(self) -> int:
        """Largest bit length of a numerator or denominator among the MDP's
        numbers (the size that exact arithmetic starts from)."""
        numbers: list[Fraction] = [
            p for rows in self.transitions for row in rows for _, p in row
        ]
        for table in self._unique(self.success):
            for row in self._unique(table):
                numbers.extend(row)
        numbers.extend(self.terminal_success)
        numbers.extend(self.initial)
        for row in self._unique(self.prior):
            numbers.extend(row)
        return max(
            max(q.numerator.bit_length(), q.denominator.bit_length())
            for q in set(numbers)
        )

    @staticmethod
    def _unique(items: Sequence[Any]) -> list[Any]:
        """The distinct objects of ``items`` (by identity), in order."""
        seen: dict[int, Any] = {}
        for item in items:
            seen.setdefault(id(item), item)
        return list(seen.values())

    @cached_property
    def _state_positions(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.states)}

    @cached_property
    def _action_positions(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.actions)}

    def state_index(self, name: str) -> int:
        """Position of the state ``name``."""
        try:
            return self._state_positions[name]
        except KeyError:
            raise ValueError(f"state: unknown state {name!r}") from None

    def action_index(self, name: str) -> int:
        """Position of the action ``name``."""
        try:
            return self._action_positions[name]
        except KeyError:
            raise ValueError(f"action: unknown action {name!r}") from None

    @cached_property
    def transition_array(self) -> FloatArray:
        """P[s, a, s'] as float64 (dense: S x A x S); more than
        :data:`MAX_DENSE_ENTRIES` entries is a one-line ValueError before any
        memory is taken."""
        entries = self.n_states * self.n_actions * self.n_states
        if entries > MAX_DENSE_ENTRIES:
            raise ValueError(
                f"dense transitions: states x actions x states = {self.n_states} x "
                f"{self.n_actions} x {self.n_states} = {entries} entries "
                f"({entries * 8 / 2**30:.3g} GiB) exceeds MAX_DENSE_ENTRIES = "
                f"{MAX_DENSE_ENTRIES}; use a sparse backend (--backend exact or "
                "certified)"
            )
        P = np.zeros((self.n_states, self.n_actions, self.n_states))
        for s, rows in enumerate(self.transitions):
            for a, row in enumerate(rows):
                for nxt, p in row:
                    P[s, a, nxt] = to_float(p)
        P.setflags(write=False)
        return P

    def _frozen(self, values: Any) -> FloatArray:
        arr = np.array(values, dtype=np.float64)
        arr.setflags(write=False)
        return arr

    @cached_property
    def log_success(self) -> FloatArray:
        """r_t(s, a) = log rho_t(s, a), shape (T, S, A); -inf where rho = 0."""
        logs: dict[Fraction, float] = {}

        def log(q: Fraction) -> float:
            value = logs.get(q)
            if value is None:
                value = logs[q] = log_rational(q)
            return value

        tables: dict[int, FloatArray] = {}
        for table in self._unique(self.success):
            rows: dict[int, list[float]] = {}
            for row in self._unique(table):
                rows[id(row)] = [log(q) for q in row]
            tables[id(table)] = np.array([rows[id(row)] for row in table])
        return self._frozen(np.stack([tables[id(table)] for table in self.success]))

    @cached_property
    def log_terminal_success(self) -> FloatArray:
        """r_T(s) = log rho_T(s), shape (S,)."""
        return self._frozen([log_rational(q) for q in self.terminal_success])

    @cached_property
    def initial_array(self) -> FloatArray:
        """mu(s), shape (S,)."""
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
        """Sizes only (the tables can be large)."""
        return (
            f"MDP(name={self.name!r}, states={len(self.states)}, "
            f"actions={len(self.actions)}, horizon={self.horizon}, "
            f"deterministic={self.is_deterministic})"
        )


# ------------------------------------------------------------- validation
Problem = tuple[tuple[str | int, ...], str, object]


def _attempt(
    problems: list[Problem], path: tuple[str | int, ...], value: object, check: Any
) -> Any:
    """``check()``, or None after recording its ValueError at ``path``."""
    try:
        return check()
    except ValueError as exc:
        problems.append((path, str(exc), value))
        return None


def _named_vector(
    problems: list[Problem],
    obj: object,
    path: tuple[str | int, ...],
    label: str,
    index: Mapping[str, int],
    what: str,
) -> None:
    """Entries of a {name: probability} object: known names, values in [0, 1]."""
    if not isinstance(obj, Mapping):
        problems.append((path, f"{label}: expected an object, got {obj!r}", obj))
        return
    for key, value in obj.items():
        if key not in index:
            problems.append(((*path, key), f"{label}: unknown {what} {key!r}", value))
            continue
        _attempt(
            problems,
            (*path, key),
            value,
            lambda v=value, k=key: _probability(v, f"{label}[{k}]"),
        )


def _named_table(
    problems: list[Problem],
    obj: object,
    path: tuple[str | int, ...],
    label: str,
    s_index: Mapping[str, int],
    a_index: Mapping[str, int],
) -> None:
    """A {state: {action: probability}} object (success tables)."""
    if not isinstance(obj, Mapping):
        problems.append((path, f"{label}: expected an object, got {obj!r}", obj))
        return
    for key, row in obj.items():
        if key not in s_index:
            problems.append(((*path, key), f"{label}: unknown state {key!r}", row))
            continue
        _named_vector(problems, row, (*path, key), f"{label}[{key}]", a_index, "action")


def named_form_problems(data: Mapping[str, Any]) -> list[Problem]:
    """Every error of the MDP part of a case object in the named form, each as
    (JSON path parts, one-line message, offending value).

    The checks are those of :meth:`MDP.build` (names, horizon and size limits,
    known names, probabilities in [0, 1], rows summing to 1, canonical step
    keys), but collected instead of stopping at the first; parts that are not
    of the right JSON type are left to the schema.
    """
    problems: list[Problem] = []
    st = _attempt(
        problems,
        ("states",),
        data.get("states"),
        lambda: _check_names(data.get("states"), "states"),  # type: ignore[arg-type]
    )
    ac = _attempt(
        problems,
        ("actions",),
        data.get("actions"),
        lambda: _check_names(data.get("actions"), "actions"),  # type: ignore[arg-type]
    )
    if st is None or ac is None:
        return problems
    horizon = _attempt(
        problems,
        ("horizon",),
        data.get("horizon"),
        lambda: _check_horizon(data.get("horizon"), len(st), len(ac)),
    )
    s_index = {n: i for i, n in enumerate(st)}
    a_index = {n: i for i, n in enumerate(ac)}
    trans = data.get("transitions")
    if isinstance(trans, Mapping):
        for key in trans:
            if key not in s_index:
                problems.append(
                    (("transitions", key), f"transitions: unknown state {key!r}", key)
                )
        for sname in st:
            if sname not in trans:
                problems.append(
                    (
                        ("transitions",),
                        f"transitions: missing row for state {sname!r}",
                        sname,
                    )
                )
                continue
            by_action = trans[sname]
            if not isinstance(by_action, Mapping):
                continue  # the schema reports the type
            for key in by_action:
                if key not in a_index:
                    problems.append(
                        (
                            ("transitions", sname, key),
                            f"transitions[{sname}]: unknown action {key!r}",
                            key,
                        )
                    )
            for aname in ac:
                if aname not in by_action:
                    problems.append(
                        (
                            ("transitions", sname),
                            f"transitions[{sname}]: missing row for action {aname!r}",
                            aname,
                        )
                    )
                    continue
                row = by_action[aname]
                _attempt(
                    problems,
                    ("transitions", sname, aname),
                    row,
                    lambda r=row, s=sname, a=aname: _sparse_distribution(
                        r, s_index, f"transitions[{s}][{a}]", "state"
                    ),
                )
    if "success" in data:
        _named_table(
            problems, data["success"], ("success",), "success", s_index, a_index
        )
    tds = data.get("time_dependent_success")
    if isinstance(tds, Mapping):
        for tkey, table in tds.items():
            where = ("time_dependent_success", tkey)
            _attempt(
                problems,
                where,
                tkey,
                lambda k=tkey: _step(
                    k, horizon if horizon is not None else MAX_HORIZON
                ),
            )
            _named_table(
                problems,
                table,
                where,
                f"time_dependent_success[{tkey}]",
                s_index,
                a_index,
            )
    if "terminal_success" in data:
        _named_vector(
            problems,
            data["terminal_success"],
            ("terminal_success",),
            "terminal_success",
            s_index,
            "state",
        )
    if "initial" in data:
        initial = data["initial"]
        _attempt(
            problems,
            ("initial",),
            initial,
            lambda: _sparse_distribution(initial, s_index, "initial", "state"),
        )
    prior = data.get("prior")
    if isinstance(prior, Mapping):
        for key, row in prior.items():
            if key not in s_index:
                problems.append((("prior", key), f"prior: unknown state {key!r}", row))
                continue
            _attempt(
                problems,
                ("prior", key),
                row,
                lambda r=row, k=key: _sparse_distribution(
                    r, a_index, f"prior[{k}]", "action"
                ),
            )
    return problems
