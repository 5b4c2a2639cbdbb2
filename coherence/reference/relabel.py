"""Goal-conditioned cases and hindsight relabelling (SPEC §4 "Relabelling").

A goal-conditioned case is an MDP without rewards of its own, a finite set of
goals, the goal each state reaches (``reached``: a state reaches at most one
goal) and a distribution over commanded goals. Its *command extension* is an
ordinary MDP over the pairs x = (s, g), named ``"s|g"``: the command g is
drawn once at the start, independently of s_0, and never changes; success is
reaching the commanded goal at the end of the horizon,
rho_T((s, g)) = 1 if reached(s) = g else 0. The command's horizon-to-go at step
t is T - t, so a time-indexed policy pi_t(a | s, g) is a policy conditioned on
(goal, horizon-to-go), as in Štrupl et al.'s fixed-horizon command extension.
Every operator of SPEC §4 runs on the extension unchanged (G conditions on the
COMMANDED goal).

Hindsight relabelling (Štrupl et al., arXiv 2502.05672: eUDRL; GCSL and ODT
are the same recursion over other segment spaces) trains the policy at the
OBSERVED command: a segment of a trajectory that starts at step t' in state s
under the intended command g', lasts h steps and ends in a state that reaches
g is a training example for pi(. | s, g, h). With d_t the occupancy of the
extension under pi and

    C^{g,e}_t(x, a) = P_pi(reached(s_e) = g | x_t = x, a_t = a)     (t < e <= T),

the update at step t (horizon-to-go h = T - t), x = (s, g) is

    pi'_t(a | s, g) proportional to   sum_{(t', g') in adm(t, g)}
        d_{t'}(s, g') pi_{t'}(a | s, g') C^{g, t'+h}_{t'}((s, g'), a)

over the admissible intended commands of the segment space:

* ``all``:      t' = 0..t (segments of length h starting at or before t), any g';
* ``trailing``: t' = t (segments that end at the horizon), any g';
* ``diag``:     t' = t and g' = g (the intended command equals the observed
  one): pi'_t proportional to d_t(x) pi_t z_t = G exactly.

Conventions (SPEC §2 style, every (t, s) defined): where the occupancy of every
admissible command is 0 the weights d are replaced by 1 (the recursion's
extrapolation to states no segment visits); where the weighted sum vanishes for
every action the policy is unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any, TypeVar

import numpy as np

from coherence._numbers import format_rational, parse_rational
from coherence.reference import recurrences as rec
from coherence.reference.model import MDP, FloatArray
from coherence.reference.recurrences import ExactMDP

__all__ = [
    "Commands",
    "build_goal_mdp",
    "command_of",
    "extended_name",
    "relabel_step_exact",
    "relabel_step_numpy",
    "relabel_step_torch",
]

N = TypeVar("N")
Table = list[list[list[N]]]


def extended_name(state: str, goal: str) -> str:
    """The name of the command-extension state (state, goal): ``"state|goal"``."""
    return f"{state}|{goal}"


@dataclass(frozen=True)
class Commands:
    """The goal structure of a command extension (extended state x = s * G + g).

    ``reached[s]`` is the index of the goal base state s reaches (None: none);
    ``command[g]`` the probability of commanding goal g; ``prior`` the per-goal
    prior overrides as read (goal -> state -> action -> probability).
    """

    base: MDP
    goals: tuple[str, ...]
    reached: tuple[int | None, ...]
    command: tuple[Fraction, ...]
    prior: Mapping[str, Mapping[str, Mapping[str, Fraction]]]

    @property
    def n_goals(self) -> int:
        """G, the number of goals."""
        return len(self.goals)

    def to_json(self) -> dict[str, object]:
        """The case file's ``goals`` object (exact rational strings)."""
        st = self.base.states
        out: dict[str, object] = {
            "names": list(self.goals),
            "reached": {
                st[s]: self.goals[g]
                for s, g in enumerate(self.reached)
                if g is not None
            },
            "command": {
                g: format_rational(p)
                for g, p in zip(self.goals, self.command, strict=True)
                if p != 0
            },
        }
        if self.prior:
            out["prior"] = {
                g: {
                    s: {a: format_rational(p) for a, p in row.items()}
                    for s, row in rows.items()
                }
                for g, rows in self.prior.items()
            }
        return out


def _mapping(obj: object, where: str) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping):
        raise ValueError(f"{where}: expected an object, got {obj!r}")
    return obj


def build_goal_mdp(base: MDP, goals: object) -> MDP:
    """The command extension of ``base`` under the case file's ``goals``
    object (docs/case-format.md "Goal-conditioned cases"), carrying its
    :class:`Commands` as ``command``. ``base`` must have no rewards of its own
    (every success probability 1: success comes from the goals)."""
    g_obj = _mapping(goals, "goals")
    unknown = set(g_obj) - {"names", "reached", "command", "prior"}
    if unknown:
        raise ValueError(f"goals: unknown keys {sorted(unknown)}")
    names = g_obj.get("names")
    if (
        not isinstance(names, list)
        or not names
        or not all(isinstance(n, str) and n for n in names)
        or len(set(names)) != len(names)
    ):
        raise ValueError(
            f"goals.names: expected a non-empty list of distinct names, got {names!r}"
        )
    if any(q != 1 for table in base.success for row in table for q in row):
        raise ValueError(
            "success: a goal-conditioned case takes success from its goals; "
            "'success' and 'time_dependent_success' must be empty"
        )
    if any(q != 1 for q in base.terminal_success):
        raise ValueError(
            "terminal_success: a goal-conditioned case takes success from its "
            "goals; 'terminal_success' must be empty"
        )
    g_index = {n: i for i, n in enumerate(names)}
    st, ac = base.states, base.actions
    s_index = {n: i for i, n in enumerate(st)}
    reached: list[int | None] = [None] * len(st)
    for key, value in _mapping(g_obj.get("reached", {}), "goals.reached").items():
        if key not in s_index:
            raise ValueError(f"goals.reached: unknown state {key!r}")
        if value not in g_index:
            raise ValueError(f"goals.reached[{key}]: unknown goal {value!r}")
        reached[s_index[key]] = g_index[value]
    command = [Fraction(0)] * len(names)
    raw_command = _mapping(g_obj.get("command", {}), "goals.command")
    if not raw_command:
        raise ValueError("goals.command: expected a distribution over goals")
    for key, value in raw_command.items():
        if key not in g_index:
            raise ValueError(f"goals.command: unknown goal {key!r}")
        p = parse_rational(value, f"goals.command[{key}]")
        if not 0 <= p <= 1:
            raise ValueError(f"goals.command[{key}]: {value!r} is not in [0, 1]")
        command[g_index[key]] = p
    if sum(command) != 1:
        raise ValueError(f"goals.command: probabilities sum to {sum(command)}, not 1")
    overrides: dict[str, dict[str, dict[str, Fraction]]] = {}
    for gkey, rows in _mapping(g_obj.get("prior", {}), "goals.prior").items():
        if gkey not in g_index:
            raise ValueError(f"goals.prior: unknown goal {gkey!r}")
        for skey, row in _mapping(rows, f"goals.prior[{gkey}]").items():
            if skey not in s_index:
                raise ValueError(f"goals.prior[{gkey}]: unknown state {skey!r}")
            where = f"goals.prior[{gkey}][{skey}]"
            parsed = {}
            for akey, value in _mapping(row, where).items():
                if akey not in ac:
                    raise ValueError(f"{where}: unknown action {akey!r}")
                parsed[akey] = parse_rational(value, f"{where}[{akey}]")
            overrides.setdefault(gkey, {})[skey] = parsed
    ext = [extended_name(s, g) for s in st for g in names]
    if len(set(ext)) != len(ext):
        raise ValueError("goals.names: state|goal names collide; rename a state")
    G = len(names)
    fmt = format_rational
    transitions = {
        ext[s * G + g]: {
            ac[a]: {ext[j * G + g]: fmt(p) for j, p in base.transitions[s][a]}
            for a in range(len(ac))
        }
        for s in range(len(st))
        for g in range(G)
    }
    initial = {
        ext[s * G + g]: fmt(mu * command[g])
        for s, mu in enumerate(base.initial)
        for g in range(G)
        if mu * command[g] != 0
    }
    terminal = {
        ext[s * G + g]: "1" if reached[s] == g else "0"
        for s in range(len(st))
        for g in range(G)
    }
    prior: dict[str, dict[str, str]] = {}
    for s in range(len(st)):
        for g in range(G):
            row = overrides.get(names[g], {}).get(st[s])
            if row is not None:
                prior[ext[s * G + g]] = {a: fmt(p) for a, p in row.items()}
            else:
                prior[ext[s * G + g]] = {
                    ac[a]: fmt(p) for a, p in enumerate(base.prior[s])
                }
    mdp = MDP.build(
        states=ext,
        actions=list(ac),
        horizon=base.horizon,
        transitions=transitions,
        initial=initial,
        terminal_success=terminal,
        prior=prior,
        name=base.name,
    )
    cmd = Commands(
        base=base,
        goals=tuple(names),
        reached=tuple(reached),
        command=tuple(command),
        prior=overrides,
    )
    return replace(mdp, command=cmd)


def command_of(mdp: Any) -> Commands:
    """The :class:`Commands` of a command extension; a one-line ValueError for
    an MDP without goals."""
    cmd = getattr(mdp, "command", None)
    if not isinstance(cmd, Commands):
        raise ValueError(
            "operator: 'relabel' needs a goal-conditioned case (a 'goals' object)"
        )
    return cmd


def _ends(segments: str, T: int) -> range:
    """The segment end steps the update needs: every e for ``all``, e = T else."""
    return range(1, T + 1) if segments == "all" else range(T, T + 1)


def relabel_step_exact(
    m: ExactMDP[N], cmd: Commands, policy: Table[N], segments: str
) -> Table[N]:
    """One relabelling round in a number system (exact rationals, balls)."""
    ns = m.ns
    T, X, A, G = m.horizon, m.n_states, m.n_actions, cmd.n_goals
    zero, one = ns.const(Fraction(0)), ns.const(Fraction(1))
    d = rec.occupancy(m, policy)
    cross: dict[tuple[int, int], list[list[list[N]]]] = {}
    for g in range(G):
        for e in _ends(segments, T):
            w = [one if cmd.reached[x // G] == g else zero for x in range(X)]
            zs: list[list[list[N]]] = [[] for _ in range(e)]
            for t in range(e - 1, -1, -1):
                z_t: list[list[N]] = []
                for x in range(X):
                    row = []
                    for a in range(A):
                        acc = zero
                        for j, p in m.successors[x][a]:
                            acc = acc + p * w[j]  # type: ignore[operator]
                        row.append(acc)
                    z_t.append(row)
                zs[t] = z_t
                new_w = []
                for x in range(X):
                    acc = zero
                    for a in range(A):
                        acc = acc + policy[t][x][a] * z_t[x][a]  # type: ignore[operator]
                    new_w.append(acc)
                w = new_w
            cross[g, e] = zs
    out: Table[N] = []
    for t in range(T):
        h = T - t
        starts = range(t + 1) if segments == "all" else range(t, t + 1)
        rows: list[list[N]] = []
        for x in range(X):
            s, go = divmod(x, G)
            intended = range(go, go + 1) if segments == "diag" else range(G)
            adm = [(tp, s * G + gi) for tp in starts for gi in intended]
            sw = zero
            for tp, xi in adm:
                sw = sw + d[tp][xi]  # type: ignore[operator]
            num: list[N] = []
            for a in range(A):
                plain, weighted = zero, zero
                for tp, xi in adm:
                    term = policy[tp][xi][a] * cross[go, tp + h][tp][xi][a]  # type: ignore[operator]
                    plain = plain + term
                    weighted = weighted + d[tp][xi] * term
                num.append(ns.where_zero(sw, plain, lambda v=weighted: v))  # type: ignore[misc]
            total = zero
            for v in num:
                total = total + v  # type: ignore[operator]
            rows.append(
                [
                    ns.where_zero(total, b, lambda v=v, total=total: v / total)  # type: ignore[misc]
                    for b, v in zip(policy[t][x], num, strict=True)
                ]
            )
        out.append(rows)
    return out


def _update_arrays(
    pi: Any,
    d: Any,
    cross: Mapping[tuple[int, int], Any],
    G: int,
    segments: str,
    xp: Any,
) -> Any:
    """The relabelling update on probability arrays with a leading batch axis:
    pi (B, T, X, A), d (B, T+1, X), cross[g, e] (B, e, X, A); numpy or torch
    (``xp`` supplies ``where``)."""
    B, T, X, A = pi.shape
    S = X // G
    pi4 = pi.reshape(B, T, S, G, A)
    d4 = d.reshape(B, T + 1, S, G)
    out = []
    for t in range(T):
        h = T - t
        starts = range(t + 1) if segments == "all" else range(t, t + 1)
        if segments == "diag":
            c = xp.stack(
                [cross[g, T][:, t].reshape(B, S, G, A)[:, :, g] for g in range(G)],
                2,
            )
            term = pi4[:, t] * c  # (B, S, G, A)
            sw = d4[:, t]  # (B, S, G)
            plain = term
            weighted = sw[..., None] * term
        else:
            plain = 0 * pi4[:, t]
            weighted = 0 * pi4[:, t]
            sw_s = 0 * d4[:, t].sum(-1)  # (B, S)
            for tp in starts:
                w_tp = d4[:, tp]  # (B, S, G')
                sw_s = sw_s + w_tp.sum(-1)
                for go in range(G):
                    c = cross[go, tp + h][:, tp].reshape(B, S, G, A)  # over g'
                    term = (pi4[:, tp] * c).sum(2)  # (B, S, A)
                    wterm = (w_tp[..., None] * pi4[:, tp] * c).sum(2)
                    plain[:, :, go] = plain[:, :, go] + term
                    weighted[:, :, go] = weighted[:, :, go] + wterm
            sw = sw_s[:, :, None] + 0 * d4[:, t]
        num = xp.where((sw == 0)[..., None], plain, weighted)
        total = num.sum(-1)[..., None]
        safe = xp.where(total == 0, 1 + 0 * total, total)
        new = xp.where(total == 0, pi4[:, t], num / safe)
        out.append(new.reshape(B, X, A))
    return xp.stack(out, 1)


class _NumpyNS:
    where = staticmethod(np.where)
    stack = staticmethod(np.stack)


def relabel_step_numpy(engine: Any, policy: FloatArray, segments: str) -> FloatArray:
    """One relabelling round on a :class:`NumpyEngine` (log policies)."""
    cmd = command_of(engine.mdp)
    T, X, A = engine.shape
    G = cmd.n_goals
    pi = np.exp(policy)
    d = engine.occupancy(policy)
    reached = np.array([-1 if r is None else r for r in cmd.reached])
    cross: dict[tuple[int, int], FloatArray] = {}
    for g in range(G):
        for e in _ends(segments, T):
            w = np.repeat(reached == g, G).astype(np.float64)
            zs = np.empty((e, X, A))
            for t in range(e - 1, -1, -1):
                zs[t] = (w @ engine.PT).reshape(X, A)
                w = (pi[t] * zs[t]).sum(-1)
            cross[g, e] = zs[None]
    new = _update_arrays(pi[None], d[None], cross, G, segments, _NumpyNS)[0]
    with np.errstate(divide="ignore"):
        out: FloatArray = np.log(new)
    return out


def relabel_step_torch(engine: Any, policy: Any, segments: str) -> Any:
    """One relabelling round on a batched :class:`TorchEngine` (log policies);
    every member of the batch shares the goal structure ``engine.command``."""
    import torch

    cmd = getattr(engine, "command", None)
    if not isinstance(cmd, Commands):
        command_of(None)
    assert isinstance(cmd, Commands)
    B, T, X, A = engine.shape
    G = cmd.n_goals
    pi = torch.exp(policy)
    d = engine.occupancy(policy)
    mask = torch.tensor(
        [1.0 if cmd.reached[x // G] == g else 0.0 for g in range(G) for x in range(X)],
        dtype=pi.dtype,
        device=pi.device,
    ).view(G, X)
    cross: dict[tuple[int, int], Any] = {}
    for g in range(G):
        for e in _ends(segments, T):
            w = mask[g].expand(B, X).contiguous()
            zs = torch.empty((B, e, X, A), dtype=pi.dtype, device=pi.device)
            for t in range(e - 1, -1, -1):
                zs[:, t] = engine.expect(w)
                w = (pi[:, t] * zs[:, t]).sum(-1)
            cross[g, e] = zs
    new = _update_arrays(pi, d, cross, G, segments, torch)
    return torch.log(new)
