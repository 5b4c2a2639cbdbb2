"""The quantities a case may ask for: one row each (CASE_FORMAT "Quantities").

A row names the quantity, says whether its answer is a rational when the policy
is rational, lists the axes of its table (``steps`` t = 0..T-1, ``steps_T``
t = 0..T, ``states``, ``actions``; none for a scalar), names the engine primitive
that answers it, and the extra query parameters that primitive takes after the
policy (``f``: a soft-Q map, for kappa; ``reference``: a second policy, for the
causal KL). The case reader, the query layer (:mod:`coherence.queries`), the
checker, :mod:`coherence.testing` and the CLI all read this table, so adding a
quantity is one row here plus its engine primitive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "EXACT_QUANTITIES",
    "FLOAT_QUANTITIES",
    "QUANTITIES",
    "Axis",
    "Parameter",
    "Quantity",
    "quantity",
]

Axis = Literal["steps", "steps_T", "states", "actions"]
Parameter = Literal["f", "reference"]

#: Index letters of each axis, for failure reports (t', the step t = 0..T).
AXIS_LETTERS: dict[Axis, str] = {
    "steps": "t",
    "steps_T": "t",
    "states": "s",
    "actions": "a",
}


@dataclass(frozen=True)
class Quantity:
    """One quantity of SPEC §3.

    Attributes:
        name: the name cases use.
        rational: the answer is a rational whenever the policy is.
        axes: the axes of the answer table, outermost first; () for a scalar.
        primitive: the engine method ``primitive(policy, *parameters)``.
        parameters: the query keys passed after the policy, in order.
        spec: the SPEC section that defines it.
    """

    name: str
    rational: bool
    axes: tuple[Axis, ...]
    primitive: str
    parameters: tuple[Parameter, ...] = ()
    spec: str = ""

    @property
    def index_letters(self) -> tuple[str, ...]:
        """("t", "s", "a") for a policy table, () for a scalar."""
        return tuple(AXIS_LETTERS[a] for a in self.axes)


_ROWS = (
    Quantity("policy", True, ("steps", "states", "actions"), "policy_table",
             spec="§3 pi_t(a|s)"),
    Quantity("z", True, ("steps", "states", "actions"), "z_table",
             spec="§3 z_t(s,a) = P(O_{t:T} = 1 | s, a)"),
    Quantity("w", True, ("steps_T", "states"), "w_table",
             spec="§3 w_t(s) = P(O_{t:T} = 1 | s), t = 0..T"),
    Quantity("occupancy", True, ("steps_T", "states"), "occupancy",
             spec="§3 d_t(s) = P(s_t = s), t = 0..T"),
    Quantity("J_prob", True, (), "j_prob", spec="§3 P(every O_t = 1)"),
    Quantity("J_count", True, (), "j_count", spec="§3 E[sum_t rho_t + rho_T]"),
    Quantity("J_soft", False, (), "j_soft", spec="§3 log J_prob"),
    Quantity("J_sum", False, (), "j_sum", spec="§3 E[sum_t r_t + r_T]"),
    Quantity("causal_entropy", False, (), "causal_entropy",
             spec="§3 sum_t E_{d_t} H(pi_t(.|s))"),
    Quantity("kappa", False, (), "kappa", ("f",),
             spec="§5 kappa_f(pi) = KL_c(pi || pi^{Q,f})"),
    Quantity("causal_kl", False, (), "causal_kl", ("reference",),
             spec="§3 KL_c(pi || q) = sum_t E_{d_t^pi} KL(pi_t || q_t)"),
)  # fmt: skip

#: Every quantity by name, in CASE_FORMAT's order.
QUANTITIES: dict[str, Quantity] = {row.name: row for row in _ROWS}
#: Quantities answered exactly when the policy is rational.
EXACT_QUANTITIES = tuple(q.name for q in _ROWS if q.rational)
#: Quantities that are always floats.
FLOAT_QUANTITIES = tuple(q.name for q in _ROWS if not q.rational)


def quantity(name: str) -> Quantity:
    """The row of ``name``; a one-line ValueError naming it when unknown."""
    try:
        return QUANTITIES[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"quantity: unknown quantity {name!r}; expected one of "
            f"{', '.join(QUANTITIES)}"
        ) from None
