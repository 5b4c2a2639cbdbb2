"""A tabulated case as ``coherence-case/1`` JSON and as an in-memory MDP.

Both keep successor lists: the JSON lists each row's successors only, and the
MDP is built from the rows directly (its validation is linear in the number of
successors), so a case of 10^5 states is never expanded to S x S numbers here.
Exact values are written as rational strings, ``exp`` success probabilities as
JSON numbers (read back as their exact binary values).
"""

from __future__ import annotations

import json
import os
from fractions import Fraction
from typing import Any

from coherence import __version__
from coherence._io import MAX_JSON_BYTES, atomic_write_text, parse_json_text
from coherence._numbers import format_rational
from coherence.envs.tabular import Success, Table
from coherence.reference.case import CASE_FORMAT, case_from_json
from coherence.reference.model import MDP

__all__ = [
    "DEFAULT_QUERIES",
    "case_json",
    "end_probability",
    "to_mdp",
    "write_case_json",
]

#: The queries an imported case carries unless asked not to: every operator of
#: SPEC §4 through J_prob (and kappa_1 of G_1), so ``coherence conformance run``
#: exercises all of them on the imported MDP.
DEFAULT_QUERIES: tuple[dict[str, Any], ...] = (
    {"id": "J_prob:prior", "quantity": "J_prob", "policy": {"operator": "prior"}},
    {"id": "J_prob:G_1", "quantity": "J_prob", "policy": {"operator": "G", "k": 1}},
    {"id": "J_prob:G_2", "quantity": "J_prob", "policy": {"operator": "G", "k": 2}},
    {"id": "J_prob:T_2", "quantity": "J_prob",
     "policy": {"operator": "T", "alpha": "2"}},
    {"id": "J_prob:F_2", "quantity": "J_prob", "policy": {"operator": "F", "k": 2}},
    {"id": "J_prob:F_literal_2", "quantity": "J_prob",
     "policy": {"operator": "F_literal", "k": 2}},
    {"id": "J_prob:H_2", "quantity": "J_prob", "policy": {"operator": "H", "k": 2}},
    {"id": "J_prob:H_literal_2", "quantity": "J_prob",
     "policy": {"operator": "H_literal", "k": 2}},
    {"id": "J_prob:B_1", "quantity": "J_prob",
     "policy": {"operator": "B", "i": 1, "f": {"boltzmann": "1"}}},
    {"id": "J_prob:maxent_1", "quantity": "J_prob",
     "policy": {"operator": "maxent", "alpha": "1"}},
    {"id": "kappa_1:G_1", "quantity": "kappa", "policy": {"operator": "G", "k": 1},
     "f": {"boltzmann": "1"}},
)  # fmt: skip

#: Above this many states the JSON is written without indentation.
_INDENT_LIMIT = 2000


def _number(value: Success) -> str | float:
    if isinstance(value, Fraction):
        return format_rational(value)
    return float(value)


def case_json(
    table: Table, *, queries: bool = True, with_source: bool = True
) -> dict[str, Any]:
    """The case as a ``coherence-case/1`` object (successor lists only).

    ``with_source``: include the optional ``description`` and ``source`` keys
    (provenance: environment, package version, parameters, success map).
    """
    st, ac = table.states, table.actions
    one = Fraction(1)
    out: dict[str, Any] = {"format": CASE_FORMAT, "name": table.name}
    if with_source:
        out["description"] = table.description
        out["source"] = {
            **table.source,
            "importer": f"coherence {__version__} (coherence.envs)",
        }
    out["horizon"] = table.horizon
    out["states"] = list(st)
    out["actions"] = list(ac)
    out["initial"] = {st[i]: format_rational(p) for i, p in table.initial}
    out["transitions"] = {
        st[s]: {
            ac[a]: {st[j]: format_rational(p) for j, p in row}
            for a, row in enumerate(rows)
        }
        for s, rows in enumerate(table.rows)
    }
    out["success"] = {
        st[s]: {ac[a]: _number(q) for a, q in enumerate(row) if q != one}
        for s, row in enumerate(table.success)
        if any(q != one for q in row)
    }
    out["terminal_success"] = {
        st[s]: _number(q) for s, q in enumerate(table.terminal) if q != one
    }
    out["prior"] = {
        st[s]: {ac[a]: format_rational(q) for a, q in enumerate(row) if q != 0}
        for s, row in enumerate(table.prior)
        if row is not None
    }
    floats = any(not isinstance(q, Fraction) for row in table.success for q in row)
    floats = floats or any(not isinstance(q, Fraction) for q in table.terminal)
    out["queries"] = [
        {**q, "exact": False} if floats and q["quantity"] == "J_prob" else dict(q)
        for q in (DEFAULT_QUERIES if queries else ())
    ]
    out["expected"] = {}
    return out


def write_case_json(path: str | os.PathLike[str], data: dict[str, Any]) -> None:
    """Serialise ``data`` completely, read the text back with the package's own
    case reader (a case it would refuse, or one over the reader's size limit,
    is an error and is not written), then write it atomically to ``path`` (a
    failure leaves no file and an existing file unchanged)."""
    indent = 1 if len(data.get("states", ())) <= _INDENT_LIMIT else None
    separators = None if indent else (",", ":")
    text = json.dumps(
        data, indent=indent, separators=separators, ensure_ascii=False, allow_nan=False
    )
    size = len(text.encode("utf-8")) + 1
    if size > MAX_JSON_BYTES:
        raise ValueError(
            f"import: the case would take {size} bytes, over the case reader's "
            f"limit of {MAX_JSON_BYTES} (MAX_JSON_BYTES); import fewer states "
            "(--max-states) or a shorter --horizon"
        )
    try:
        case_from_json(parse_json_text(text, "imported case"))
    except ValueError as exc:
        raise ValueError(f"import: the case reader refuses the case: {exc}") from None
    atomic_write_text(path, text + "\n")


def _exact(value: Success) -> Fraction:
    return value if isinstance(value, Fraction) else Fraction(float(value))


def to_mdp(table: Table) -> MDP:
    """The table as a validated :class:`~coherence.reference.model.MDP`, built
    from the successor lists directly (no dense row is formed). Float success
    values become their exact binary values, as when the JSON is read."""
    n_a = len(table.actions)
    uniform = tuple([Fraction(1, n_a)] * n_a)
    base = tuple(tuple(_exact(q) for q in row) for row in table.success)
    initial = [Fraction(0)] * table.n_states
    for i, p in table.initial:
        initial[i] = p
    return MDP(
        states=tuple(table.states),
        actions=tuple(table.actions),
        horizon=table.horizon,
        transitions=tuple(tuple(tuple(row) for row in rows) for rows in table.rows),
        success=tuple(base for _ in range(table.horizon)),
        terminal_success=tuple(_exact(q) for q in table.terminal),
        initial=tuple(initial),
        prior=tuple(uniform if row is None else row for row in table.prior),
        name=table.name,
    )


def end_probability(table: Table, occupancy: Any, *, goal: bool) -> float:
    """P(the episode has ended by the horizon, in a goal when ``goal``, else
    not in a goal), from a policy's state occupancy ``occupancy[t][s]``
    (t = 0..T, SPEC §3) on the case of ``table``: the mass at t = T on the
    ended states (named ``ended: ...``, with `` (goal)`` for a goal; every
    trajectory that ended is in exactly one of them at T). A one-line
    ValueError naming ``occupancy`` when its shape is not (T + 1, S)."""
    if len(occupancy) != table.horizon + 1 or any(
        len(row) != table.n_states for row in occupancy
    ):
        raise ValueError(
            f"occupancy: expected {table.horizon + 1} rows of {table.n_states} "
            f"states (t = 0..T), got {len(occupancy)} rows"
        )
    last = occupancy[table.horizon]
    return sum(
        (
            float(last[s])
            for s, name in enumerate(table.states)
            if name.startswith("ended: ") and (" (goal)" in name) == goal
        ),
        0.0,
    )
