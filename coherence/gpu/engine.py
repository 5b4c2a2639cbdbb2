"""Batched torch engine for SPEC §3–§4: every operator over many MDPs at once.

Axis vocabulary (batch first, then ``[t, s, a]``):

* policies ``log_pi[b, t, s, a]`` and rewards ``r[b, t, s, a]``, ``r_T[b, s]`` in
  log space (r = log rho, in [-inf, +inf) for derived rewards);
* soft values ``Q[b, t, s, a]`` (t < T) and ``V[b, t, s]`` (t <= T);
* transitions dense ``P[b, s, a, s']`` or successor lists ``next[b, s, a, k]``
  with probabilities ``prob[b, s, a, k]`` (padding entries have probability 0).

The recurrences are those of SPEC §3:

    V_T(s)   = r_T(s)
    Q_t(s,a) = r_t(s,a) + log sum_{s'} P(s'|s,a) exp V_{t+1}(s')
    V_t(s)   = log sum_a pi_t(a|s) exp Q_t(s,a)

and the operators (G_k, T_alpha, F, H, literal forms, B_i) are the shared
definitions of :mod:`coherence.reference.operators`, driven through the primitive
protocol that :class:`TorchEngine` implements batched over ``b``. Python loops
run over time steps and operator iterations only, never over states or batch
members. SPEC §2 conventions hold at every point: exp(-inf) = 0, a zero-weight
term contributes 0, conditioning where V = -inf returns the base policy, a
softmax of all -inf is uniform, KL is +inf (never NaN) where q = 0 < p.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

import numpy as np
import torch

from coherence.gpu import _kernels as K
from coherence.reference.model import MDP
from coherence.reference.numpy_engine import ARGMAX_RTOL
from coherence.reference.recurrences import Argmax, Boltzmann, SoftQ

__all__ = [
    "ARGMAX_RTOL",
    "ARGMAX_RTOL_FLOAT32",
    "LogValues",
    "TorchEngine",
    "TorchMDP",
    "default_argmax_rtol",
    "make_engine",
    "parse_options",
]

Tensor = torch.Tensor
Reward = tuple[Tensor, Tensor]
Layout = Literal["dense", "successors"]

#: SPEC §2: a is a maximiser when |Q - max Q| <= rtol * max(1, |max Q|).
#: float32 cannot resolve 1e-9: its Q carries rounding of order T * eps32 (1.2e-7
#: per step), so a float32 engine uses 1e-5 (documented deviation from SPEC §2).
ARGMAX_RTOL_FLOAT32 = 1e-5


def default_argmax_rtol(dtype: torch.dtype) -> float:
    """The argmax tie tolerance used for ``dtype``."""
    return ARGMAX_RTOL if dtype == torch.float64 else ARGMAX_RTOL_FLOAT32


def _row_tol(dtype: torch.dtype) -> float:
    """Tolerance on probability rows summing to 1 at input."""
    return 1e-9 if dtype == torch.float64 else 1e-5


def _check_finite_le(x: Tensor, name: str, *, upper: float | None) -> None:
    if torch.isnan(x).any():
        raise ValueError(f"{name}: contains NaN")
    if torch.isposinf(x).any():
        raise ValueError(f"{name}: contains +inf")
    if upper is not None and (x > upper).any():
        raise ValueError(
            f"{name}: entries must be <= {upper}, got max {float(x.max())!r}"
        )


def _check_distribution(p: Tensor, name: str, dim: int) -> None:
    if torch.isnan(p).any() or torch.isinf(p).any():
        raise ValueError(f"{name}: contains NaN or inf")
    if (p < 0).any():
        raise ValueError(f"{name}: negative probability {float(p.min())!r}")
    err = float((p.sum(dim=dim) - 1).abs().max()) if p.numel() else 0.0
    if err > _row_tol(p.dtype):
        raise ValueError(f"{name}: rows must sum to 1, worst row is off by {err!r}")


@dataclass(frozen=True, eq=False)
class TorchMDP:
    """A batch of B finite-horizon MDPs of equal sizes (S, A, T) on one device.

    Construct with :meth:`dense`, :meth:`successor_lists` or :meth:`from_mdps`;
    they validate shapes and values (``ValueError`` naming the argument).

    Fields: ``log_success[b, t, s, a]`` (r <= 0), ``log_terminal_success[b, s]``,
    ``initial[b, s]``, ``log_prior[b, s, a]``, and either ``transitions[b, s, a,
    s']`` or ``successors[b, s, a, k]`` (int64, local state indices) with
    ``successor_probs[b, s, a, k]``.
    """

    log_success: Tensor
    log_terminal_success: Tensor
    initial: Tensor
    log_prior: Tensor
    transitions: Tensor | None = None
    successors: Tensor | None = None
    successor_probs: Tensor | None = None

    # ------------------------------------------------------------ checks
    def __post_init__(self) -> None:
        r = self.log_success
        if not isinstance(r, torch.Tensor) or r.ndim != 4:
            raise ValueError(
                "log_success: expected a tensor of shape (B, T, S, A), "
                f"got {getattr(r, 'shape', type(r))}"
            )
        K.resolve_dtype(r.dtype)
        B, T, S, A = r.shape
        if min(B, T, S, A) < 1:
            raise ValueError(
                f"log_success: every size must be >= 1, got {tuple(r.shape)}"
            )
        expect = {
            "log_terminal_success": (B, S),
            "initial": (B, S),
            "log_prior": (B, S, A),
        }
        for name, shape in expect.items():
            x = getattr(self, name)
            if not isinstance(x, torch.Tensor) or tuple(x.shape) != shape:
                raise ValueError(
                    f"{name}: expected shape {shape}, got "
                    f"{tuple(getattr(x, 'shape', ()))}"
                )
            if x.dtype != r.dtype or x.device != r.device:
                raise ValueError(
                    f"{name}: dtype/device {x.dtype}/{x.device} differs "
                    f"from log_success ({r.dtype}/{r.device})"
                )
        dense = self.transitions is not None
        sparse = self.successors is not None or self.successor_probs is not None
        if dense == sparse:
            raise ValueError(
                "transitions: give either dense transitions or "
                "successors with successor_probs, not both or neither"
            )
        if self.transitions is not None:
            P = self.transitions
            if tuple(P.shape) != (B, S, A, S):
                raise ValueError(
                    f"transitions: expected shape {(B, S, A, S)}, got {tuple(P.shape)}"
                )
            if P.dtype != r.dtype or P.device != r.device:
                raise ValueError("transitions: dtype/device differs from log_success")
        else:
            nxt, prob = self.successors, self.successor_probs
            if nxt is None or prob is None:
                raise ValueError(
                    "successors: successors and successor_probs go together"
                )
            if nxt.ndim != 4 or tuple(nxt.shape[:3]) != (B, S, A):
                raise ValueError(
                    f"successors: expected shape (B, S, A, K) = "
                    f"({B}, {S}, {A}, K), got {tuple(nxt.shape)}"
                )
            if tuple(prob.shape) != tuple(nxt.shape):
                raise ValueError(
                    f"successor_probs: expected shape {tuple(nxt.shape)}, "
                    f"got {tuple(prob.shape)}"
                )
            if nxt.dtype != torch.int64 or nxt.device != r.device:
                raise ValueError(
                    "successors: expected int64 on the device of log_success"
                )
            if prob.dtype != r.dtype or prob.device != r.device:
                raise ValueError(
                    "successor_probs: dtype/device differs from log_success"
                )
            if nxt.numel() and (int(nxt.min()) < 0 or int(nxt.max()) >= S):
                raise ValueError(f"successors: indices must lie in 0..{S - 1}")

    def _validate_values(self) -> None:
        _check_finite_le(self.log_success, "log_success", upper=0.0)
        _check_finite_le(self.log_terminal_success, "log_terminal_success", upper=0.0)
        _check_distribution(self.initial, "initial", 1)
        _check_distribution(torch.exp(self.log_prior), "log_prior", 2)
        if self.transitions is not None:
            _check_distribution(self.transitions, "transitions", 3)
        elif self.successor_probs is not None:
            _check_distribution(self.successor_probs, "successor_probs", 3)

    # ------------------------------------------------------ constructors
    @classmethod
    def dense(
        cls,
        *,
        transitions: Any,
        success: Any,
        initial: Any,
        terminal_success: Any = None,
        prior: Any = None,
        dtype: str | torch.dtype = torch.float64,
        device: str | torch.device | None = None,
    ) -> TorchMDP:
        """From probability arrays: transitions ``(B, S, A, S')``, success
        ``(B, T, S, A)``, initial ``(B, S)``, terminal_success ``(B, S)`` (default
        1), prior ``(B, S, A)`` (default uniform). Logs are taken here."""
        dt, dev = K.resolve_dtype(dtype), K.resolve_device(device)
        P = torch.as_tensor(np.asarray(transitions), dtype=dt).to(dev)
        return cls._from_probs(
            P, None, None, success, initial, terminal_success, prior, dt, dev
        )

    @classmethod
    def successor_lists(
        cls,
        *,
        successors: Any,
        successor_probs: Any,
        success: Any,
        initial: Any,
        terminal_success: Any = None,
        prior: Any = None,
        dtype: str | torch.dtype = torch.float64,
        device: str | torch.device | None = None,
    ) -> TorchMDP:
        """As :meth:`dense` with transitions as successor lists ``(B, S, A, K)``."""
        dt, dev = K.resolve_dtype(dtype), K.resolve_device(device)
        nxt = torch.as_tensor(np.asarray(successors)).to(dev)
        if nxt.dtype not in (torch.int32, torch.int64, torch.uint8, torch.int16):
            raise ValueError(f"successors: expected integer indices, got {nxt.dtype}")
        prob = torch.as_tensor(np.asarray(successor_probs), dtype=dt).to(dev)
        return cls._from_probs(
            None,
            nxt.to(torch.int64),
            prob,
            success,
            initial,
            terminal_success,
            prior,
            dt,
            dev,
        )

    @classmethod
    def _from_probs(
        cls,
        P: Tensor | None,
        nxt: Tensor | None,
        prob: Tensor | None,
        success: Any,
        initial: Any,
        terminal_success: Any,
        prior: Any,
        dt: torch.dtype,
        dev: torch.device,
    ) -> TorchMDP:
        def tensor(x: Any, name: str) -> Tensor:
            arr = np.array(x, dtype=np.float64)  # a writable copy
            if np.isnan(arr).any() or (arr < 0).any() or (arr > 1).any():
                raise ValueError(f"{name}: entries must be probabilities in [0, 1]")
            return torch.as_tensor(arr, dtype=dt).to(dev)

        rho = tensor(success, "success")
        if rho.ndim != 4:
            raise ValueError(
                f"success: expected shape (B, T, S, A), got {tuple(rho.shape)}"
            )
        B, _, S, A = rho.shape
        rho_T = (
            torch.ones(B, S, dtype=dt, device=dev)
            if terminal_success is None
            else tensor(terminal_success, "terminal_success")
        )
        p = (
            torch.full((B, S, A), 1.0 / A, dtype=dt, device=dev)
            if prior is None
            else tensor(prior, "prior")
        )
        mdp = cls(
            log_success=torch.log(rho),
            log_terminal_success=torch.log(rho_T),
            initial=tensor(initial, "initial"),
            log_prior=torch.log(p),
            transitions=P,
            successors=nxt,
            successor_probs=prob,
        )
        mdp._validate_values()
        return mdp

    @classmethod
    def from_mdps(
        cls,
        mdps: MDP | Sequence[MDP],
        *,
        layout: Layout = "dense",
        dtype: str | torch.dtype = torch.float64,
        device: str | torch.device | None = None,
    ) -> TorchMDP:
        """Stack validated :class:`MDP` objects of equal sizes (their float64
        views, rounded once to ``dtype``)."""
        items = [mdps] if isinstance(mdps, MDP) else list(mdps)
        if not items:
            raise ValueError("mdps: need at least one MDP")
        shape = (items[0].horizon, items[0].n_states, items[0].n_actions)
        for m in items:
            if (m.horizon, m.n_states, m.n_actions) != shape:
                raise ValueError(
                    f"mdps: all MDPs need equal (T, S, A); got {shape} and "
                    f"{(m.horizon, m.n_states, m.n_actions)}"
                )
        if layout not in ("dense", "successors"):
            raise ValueError(
                f"layout: expected 'dense' or 'successors', got {layout!r}"
            )
        dt, dev = K.resolve_dtype(dtype), K.resolve_device(device)

        def stack(arrays: list[Any]) -> Tensor:
            return torch.as_tensor(np.stack(arrays), dtype=dt).to(dev)

        P: Tensor | None = None
        nxt: Tensor | None = None
        prob: Tensor | None = None
        if layout == "dense":
            P = stack([m.transition_array for m in items])
        else:
            width = max(
                len(row) for m in items for rows in m.transitions for row in rows
            )
            _, S, A = shape
            idx = np.zeros((len(items), S, A, width), dtype=np.int64)
            pr = np.zeros((len(items), S, A, width))
            for b, m in enumerate(items):
                dense = m.transition_array
                for s, rows in enumerate(m.transitions):
                    for a, row in enumerate(rows):
                        for k, (j, _) in enumerate(row):
                            idx[b, s, a, k] = j
                            pr[b, s, a, k] = dense[s, a, j]
            nxt = torch.as_tensor(idx).to(dev)
            prob = torch.as_tensor(pr, dtype=dt).to(dev)
        return cls(
            log_success=stack([m.log_success for m in items]),
            log_terminal_success=stack([m.log_terminal_success for m in items]),
            initial=stack([m.initial_array for m in items]),
            log_prior=stack([m.log_prior for m in items]),
            transitions=P,
            successors=nxt,
            successor_probs=prob,
        )

    # ------------------------------------------------------------ views
    @property
    def batch_size(self) -> int:
        """B, the number of MDPs in the batch."""
        return int(self.log_success.shape[0])

    @property
    def horizon(self) -> int:
        """T, the horizon."""
        return int(self.log_success.shape[1])

    @property
    def n_states(self) -> int:
        """S, the number of states."""
        return int(self.log_success.shape[2])

    @property
    def n_actions(self) -> int:
        """A, the number of actions."""
        return int(self.log_success.shape[3])

    @property
    def dtype(self) -> torch.dtype:
        """The floating-point dtype of every tensor."""
        return self.log_success.dtype

    @property
    def device(self) -> torch.device:
        """The device every tensor lives on."""
        return self.log_success.device

    @property
    def layout(self) -> Layout:
        """dense or successors: how transitions are stored."""
        return "dense" if self.transitions is not None else "successors"

    def transition_bytes(self) -> int:
        """Bytes of transition data one backward step reads."""
        if self.transitions is not None:
            return self.transitions.numel() * self.transitions.element_size()
        assert self.successors is not None and self.successor_probs is not None
        n = self.successor_probs.numel()
        return n * (self.successor_probs.element_size() + 4)

    def to(
        self,
        *,
        dtype: str | torch.dtype | None = None,
        device: str | torch.device | None = None,
    ) -> TorchMDP:
        """A copy in another dtype and/or on another device."""
        dt = self.dtype if dtype is None else K.resolve_dtype(dtype)
        dev = self.device if device is None else K.resolve_device(device)

        def move(x: Tensor | None, floating: bool = True) -> Tensor | None:
            if x is None:
                return None
            return x.to(device=dev, dtype=dt) if floating else x.to(device=dev)

        out = TorchMDP(
            log_success=self.log_success.to(device=dev, dtype=dt),
            log_terminal_success=self.log_terminal_success.to(device=dev, dtype=dt),
            initial=self.initial.to(device=dev, dtype=dt),
            log_prior=self.log_prior.to(device=dev, dtype=dt),
            transitions=move(self.transitions),
            successors=move(self.successors, floating=False),
            successor_probs=move(self.successor_probs),
        )
        return out


@dataclass(frozen=True)
class LogValues:
    """Soft values ``Q[b, t, s, a]`` (t < T) and ``V[b, t, s]`` (t <= T)."""

    Q: Tensor
    V: Tensor


def _times(weight: Tensor, value: Tensor) -> Tensor:
    """weight * value with 0 * (+-inf) = 0 (SPEC §2)."""
    return torch.where(weight == 0, 0.0, weight * value)


def _as_float(x: Any, name: str) -> float:
    try:
        value = float(Fraction(x)) if isinstance(x, str) else float(x)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected a number, got {x!r}") from exc
    return value


class TorchEngine:
    """SPEC §3–§4 over a :class:`TorchMDP` batch; answers are batched tensors.

    Implements the primitive protocol of :mod:`coherence.reference.operators`
    (so :func:`coherence.reference.operators.policy_for` runs the shared
    operator code on it) and the
    quantities of SPEC §3, each returning a tensor with the batch axis first.

    ``argmax_rtol`` defaults to :func:`default_argmax_rtol` of the dtype. ``kernel``
    picks how a dense backward pass runs: ``"torch"`` (torch ops, in cache-sized
    batch chunks on cpu), ``"numpy"`` (cpu only: the whole pass in numpy with
    its BLAS, on zero-copy views) or ``"auto"`` (numpy on cpu for members of at
    least ``_kernels.NUMPY_MIN_MEMBER_BYTES`` of transitions, else torch; see
    ``_kernels``). Every kernel follows the same SPEC §2 conventions.
    """

    name = "torch"
    #: Answers carry a leading batch axis (the query layer drops it).
    batched = True

    def __init__(
        self,
        mdp: TorchMDP,
        *,
        argmax_rtol: float | None = None,
        kernel: K.Kernel = "auto",
    ) -> None:
        if not isinstance(mdp, TorchMDP):
            raise TypeError(f"mdp: expected a TorchMDP, got {type(mdp).__name__}")
        if kernel not in ("auto", "torch", "numpy"):
            raise ValueError(
                f"kernel: expected 'auto', 'torch' or 'numpy', got {kernel!r}"
            )
        if kernel == "numpy" and mdp.device.type != "cpu":
            raise ValueError("kernel: 'numpy' needs an MDP on the cpu")
        self.mdp = mdp
        self.kernel: K.Kernel = kernel
        self.argmax_rtol = (
            default_argmax_rtol(mdp.dtype)
            if argmax_rtol is None
            else float(argmax_rtol)
        )
        B, S, A = mdp.batch_size, mdp.n_states, mdp.n_actions
        self._PT: Tensor | None = None
        self._idx: Tensor | None = None
        self._prob: Tensor | None = None
        if mdp.transitions is not None:
            # PT[b, s', r]: the layout of the fast row-vector product (_kernels)
            self._PT = mdp.transitions.reshape(B, S * A, S).transpose(1, 2).contiguous()
        else:
            assert mdp.successors is not None and mdp.successor_probs is not None
            offsets = torch.arange(B, device=mdp.device).view(B, 1, 1, 1) * S
            # idx[b, k, r], prob[b, k, r] (k-major: see _kernels)
            flat = (mdp.successors + offsets).reshape(B, S * A, -1).transpose(1, 2)
            use32 = B * S < 2**31 - 1
            self._idx = flat.to(torch.int32 if use32 else torch.int64).contiguous()
            prob = mdp.successor_probs.reshape(B, S * A, -1).transpose(1, 2)
            self._prob = prob.contiguous()
        member = 0 if self._PT is None else S * A * S * self._PT.element_size()
        self._numpy_pass = self._PT is not None and (
            kernel == "numpy"
            or (
                kernel == "auto"
                and mdp.device.type == "cpu"
                and member >= K.NUMPY_MIN_MEMBER_BYTES
            )
        )
        self._chunk = B
        if self._PT is not None and mdp.device.type == "cpu":
            self._chunk = K.batch_chunk(B, member)
        self._ws = K.Workspace()
        #: goal structure for relabelling (:func:`make_engine` sets it)
        self.command: Any = None

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """(B, T, S, A)."""
        m = self.mdp
        return m.batch_size, m.horizon, m.n_states, m.n_actions

    # ------------------------------------------------------------ kernels
    def log_expect(self, V: Tensor) -> K.Expectation:
        """log sum_{s'} P(s'|s,a) exp V[b, s'] and its shifted linear form
        (:class:`_kernels.Expectation`), rows r = s * A + a, shapes (B, S * A)."""
        if self._PT is not None:
            return K.log_expect_dense(self._PT, V, self.kernel, self._ws)
        assert self._idx is not None and self._prob is not None
        return K.log_expect_successors(self._idx, self._prob, V, self._ws)

    def expect(self, x: Tensor) -> Tensor:
        """sum_{s'} P(s'|s,a) x[b, s'] (linear, finite x), shape (B, S, A)."""
        B, _, S, A = self.shape
        if self._PT is not None:
            out = K.matvec_dense(self._PT, x.contiguous(), self.kernel)
        else:
            assert self._idx is not None and self._prob is not None
            out = K.matvec_successors(self._idx, self._prob, x.contiguous())
        return out.view(B, S, A)

    def push_forward(self, y: Tensor) -> Tensor:
        """sum_{s,a} y[b, s, a] P(s'|s,a), shape (B, S')."""
        B, _, S, A = self.shape
        flat = y.reshape(B, S * A).contiguous()
        if self._PT is not None:
            return K.vecmat_dense(flat, self._PT, self.kernel)
        assert self._idx is not None and self._prob is not None
        return K.vecmat_successors(flat, self._idx, self._prob, S)

    # ---------------------------------------------------------- primitives
    def prior_policy(self) -> Tensor:
        """log p broadcast over t, shape (B, T, S, A)."""
        B, T, S, A = self.shape
        return self.mdp.log_prior.unsqueeze(1).expand(B, T, S, A)

    def base_reward(self) -> Reward:
        """(r[b, t, s, a], r_T[b, s]) = log of the success probabilities."""
        return self.mdp.log_success, self.mdp.log_terminal_success

    def _alpha(self, alpha: Any) -> Tensor | float:
        if isinstance(alpha, torch.Tensor):
            a = alpha.to(dtype=self.mdp.dtype, device=self.mdp.device)
            if a.ndim != 1 or a.shape[0] != self.mdp.batch_size:
                raise ValueError(
                    f"alpha: a tensor alpha needs shape "
                    f"({self.mdp.batch_size},), got {tuple(a.shape)}"
                )
            if torch.isnan(a).any() or (a < 0).any() or torch.isinf(a).any():
                raise ValueError("alpha: must be finite and >= 0")
            return a
        value = _as_float(alpha, "alpha")
        if not (value >= 0 and math.isfinite(value)):
            raise ValueError(f"alpha: must be finite and >= 0, got {alpha!r}")
        return value

    def scale_reward(self, reward: Reward, alpha: Any) -> Reward:
        """alpha * r with 0 * (-inf) = 0, terminal included (SPEC §2). ``alpha``
        is a number or a tensor of shape (B,) (one temperature per member)."""
        a = self._alpha(alpha)
        r, r_T = reward
        if isinstance(a, float):
            if a == 0:
                return torch.zeros_like(r), torch.zeros_like(r_T)
            return a * r, a * r_T
        a4, a2 = a.view(-1, 1, 1, 1), a.view(-1, 1)
        return (torch.where(a4 == 0, 0.0, a4 * r), torch.where(a2 == 0, 0.0, a2 * r_T))

    def soft_values(self, policy: Tensor, reward: Reward) -> LogValues:
        """Backward pass of SPEC §3 in log space, batched.

        V_t = log sum_a exp(log pi + r + L) with L = log E exp V_{t+1} is taken
        as log(sum_a w * acc) + c + m, where w = exp(log pi + r - c) (c = max_a)
        and acc = exp(L - m) is the shifted sum the expectation already
        computed: no per-step log-sum-exp. States whose sum falls below the
        underflow threshold are recomputed as an exact log-sum-exp. On cpu
        with large dense members the pass runs in numpy
        (:func:`_kernels.backward_dense_numpy`); many small dense members run
        in cache-sized batch chunks (:func:`_kernels.batch_chunk`).
        """
        B, T, S, A = self.shape
        dt, dev = self.mdp.dtype, self.mdp.device
        r, r_T = reward
        Q = torch.empty((B, T, S, A), dtype=dt, device=dev)
        V = torch.empty((B, T + 1, S), dtype=dt, device=dev)
        if self._numpy_pass:
            assert self._PT is not None
            K.backward_dense_numpy(self._PT, policy, r, r_T, Q, V)
            return LogValues(Q=Q, V=V)
        step = self._chunk
        for b0 in range(0, B, step):
            sl = slice(b0, b0 + step)
            self._backward(sl, policy[sl], r[sl], r_T[sl], Q[sl], V[sl])
        return LogValues(Q=Q, V=V)

    def _backward(
        self, sl: slice, policy: Tensor, r: Tensor, r_T: Tensor, Q: Tensor, V: Tensor
    ) -> None:
        """The torch pass over batch members ``sl`` (all of them for successor
        lists), filling their ``Q`` and ``V`` in place."""
        B, T, S, A = r.shape
        dt = r.dtype
        thr = K.underflow_threshold(dt)
        lo = torch.finfo(dt).min
        ws = self._ws
        w = ws.get("w", (B, S, A), r_T)
        c = ws.get("c", (B, S, 1), r_T)
        total = ws.get("total", (B, S), r_T)
        ones = torch.ones(A, dtype=dt, device=r.device)
        PT = None if self._PT is None else self._PT[sl]
        V[:, T] = r_T
        for t in range(T - 1, -1, -1):
            if PT is not None:
                e = K.log_expect_dense(PT, V[:, t + 1], self.kernel, ws)
            else:
                e = self.log_expect(V[:, t + 1])
            L = e.log.view(B, S, A)
            torch.add(r[:, t], L, out=Q[:, t])
            torch.add(policy[:, t], r[:, t], out=w)
            torch.amax(w, dim=-1, keepdim=True, out=c).clamp_min_(lo)
            w.sub_(c).exp_().mul_(e.acc.view(B, S, A))
            # the sum over a as a product with ones: 2x faster than sum(dim=-1)
            torch.mv(w.view(B * S, A), ones, out=total.view(B * S))
            Vt = V[:, t]
            torch.log(total, out=Vt)
            Vt.add_(c.view(B, S)).add_(e.shift)
            if bool((total.amin() < thr).item()):
                b, s = (total < thr).nonzero(as_tuple=True)
                exact = policy[b, t, s] + r[b, t, s] + L[b, s]
                V[b, t, s] = torch.logsumexp(exact, dim=-1)

    def condition(self, base: Tensor, values: LogValues) -> Tensor:
        """cond(base)_t(a|s) = base * exp(Q - V), renormalised; base where V = -inf."""
        V = values.V[:, :-1, :, None]
        dead = torch.isneginf(V)
        raw = torch.add(base, values.Q).sub_(torch.where(dead, 0.0, V))
        out = K.log_softmax(raw, dim=-1)
        if bool(dead.any().item()):
            out = torch.where(dead, base, out)
        return out

    def fold(self, reward: Reward, policy: Tensor, *, literal: bool) -> Reward:
        """R + log pi (- log p); -inf where p = 0 (SPEC §2). r_T unchanged."""
        r, r_T = reward
        if literal:
            return r + policy, r_T
        log_p = self.mdp.log_prior.unsqueeze(1)
        impossible = torch.isneginf(log_p)
        out = torch.where(
            impossible, -math.inf, r + policy - torch.where(impossible, 0.0, log_p)
        )
        return out, r_T

    def soft_q_policy(self, values: LogValues, f: SoftQ) -> Tensor:
        """Boltzmann softmax(Q / delta) (no prior factor) or uniform over argmax Q."""
        Q = values.Q
        if isinstance(f, Argmax):
            top = Q.amax(dim=-1, keepdim=True)
            finite = torch.isfinite(top)
            top0 = torch.where(finite, top, 0.0)
            tol = self.argmax_rtol * torch.clamp(top0.abs(), min=1.0)
            member = torch.where(finite, (Q - top0).abs() <= tol, True)
            return K.log_softmax(torch.log(member.to(Q.dtype)), dim=-1)
        if not isinstance(f, Boltzmann):
            raise TypeError(f"f: expected Boltzmann or Argmax, got {f!r}")
        delta = _as_float(f.delta, "delta")
        if not (delta > 0 and math.isfinite(delta)):
            raise ValueError(f"delta: must be finite and > 0, got {f.delta!r}")
        return K.log_softmax(Q / delta, dim=-1)

    def relabel_step(self, policy: Tensor, segments: str) -> Tensor:
        """One round of hindsight relabelling (SPEC §4,
        :mod:`coherence.reference.relabel`) for a batch sharing the goal
        structure ``command`` (set by :func:`make_engine` from a goal case)."""
        from coherence.reference.relabel import relabel_step_torch

        out: Tensor = relabel_step_torch(self, policy, segments)
        return out

    def maxent_policy(self, alpha: Any) -> Tensor:
        """Entropy-regularised optimum (SPEC §4), expectation backup:
        Qt = r + E_{s'} Vt(s'), Vt = (1/alpha) log sum_a p exp(alpha Qt),
        pi proportional to p exp(alpha Qt); the prior where every Qt is -inf."""
        a = self._alpha(alpha)
        if isinstance(a, torch.Tensor):
            raise ValueError("alpha: maxent_policy takes one number")
        if a == 0:
            return self.prior_policy()
        B, T, S, A = self.shape
        log_p = self.mdp.log_prior
        pi = torch.empty((B, T, S, A), dtype=self.mdp.dtype, device=self.mdp.device)
        Vt = self.mdp.log_terminal_success
        r = self.mdp.log_success
        for t in range(T - 1, -1, -1):
            dead_next = torch.isneginf(Vt)
            mean = self.expect(torch.where(dead_next, 0.0, Vt))
            hits_dead = self.expect(dead_next.to(Vt.dtype)) > 0
            Qt = r[:, t] + torch.where(hits_dead, -math.inf, mean)
            logits = log_p + a * Qt
            lse = torch.logsumexp(logits, dim=-1)
            dead = torch.isneginf(lse).unsqueeze(-1)
            pi[:, t] = torch.where(dead, log_p, K.log_softmax(logits, dim=-1))
            Vt = lse / a
        return pi

    # ---------------------------------------------------------- quantities
    def check_policy(self, policy: Tensor) -> Tensor:
        """``policy`` (log-probabilities) unchanged when it is a tensor of shape
        (B, T, S, A) without NaN whose rows sum to 1 within the dtype's
        tolerance; else a one-line ValueError naming the expected shape or row."""
        if not isinstance(policy, torch.Tensor) or tuple(policy.shape) != self.shape:
            got = tuple(policy.shape) if isinstance(policy, torch.Tensor) else policy
            raise ValueError(
                f"policy: expected a log-policy tensor of shape (B, T, S, A) = "
                f"{self.shape}, got {got!r}"
            )
        if torch.isnan(policy).any():
            b, t, s, _a = (int(i) for i in torch.nonzero(torch.isnan(policy))[0])
            raise ValueError(f"policy: NaN in row (b={b}, t={t}, s={s})")
        sums = torch.exp(policy).sum(dim=-1)
        bad = (sums - 1.0).abs() > _row_tol(policy.dtype)
        if bad.any():
            b, t, s = (int(i) for i in torch.nonzero(bad)[0])
            raise ValueError(
                f"policy: row (b={b}, t={t}, s={s}) sums to {float(sums[b, t, s])!r}, "
                "not 1 (policies are log-probabilities)"
            )
        return policy

    def values(self, policy: Tensor) -> LogValues:
        """Soft values of ``policy`` under the MDP's own reward."""
        return self.soft_values(self.check_policy(policy), self.base_reward())

    def occupancy(self, policy: Tensor) -> Tensor:
        """d[b, t, s] = P(s_t = s), t = 0..T."""
        self.check_policy(policy)
        B, T, S, _A = self.shape
        d = torch.empty((B, T + 1, S), dtype=self.mdp.dtype, device=self.mdp.device)
        d[:, 0] = self.mdp.initial
        pi = torch.exp(policy)
        for t in range(T):
            d[:, t + 1] = self.push_forward(d[:, t, :, None] * pi[:, t])
        return d

    def j_soft(self, policy: Tensor) -> Tensor:
        """J_soft = log sum_s mu(s) exp V_0(s), shape (B,)."""
        V0 = self.values(policy).V[:, 0]
        return torch.logsumexp(torch.log(self.mdp.initial) + V0, dim=-1)

    def j_prob(self, policy: Tensor) -> Tensor:
        """J_prob = P(success), shape (B,)."""
        return torch.exp(self.j_soft(policy))

    def _expect(self, policy: Tensor, step: Tensor, final: Tensor) -> Tensor:
        d = self.occupancy(policy)
        weight = d[:, :-1, :, None] * torch.exp(policy)
        step_terms = _times(weight, step)
        final_terms = _times(d[:, -1], final)
        total = step_terms.sum(dim=(1, 2, 3)) + final_terms.sum(dim=1)
        neg = torch.isneginf(step_terms).flatten(1).any(dim=1) | torch.isneginf(
            final_terms
        ).any(dim=1)
        return torch.where(neg, -math.inf, total)

    def j_sum(self, policy: Tensor) -> Tensor:
        """E[sum_t r_t + r_T] (may be -inf), shape (B,)."""
        return self._expect(policy, self.mdp.log_success, self.mdp.log_terminal_success)

    def j_count(self, policy: Tensor) -> Tensor:
        """E[sum_t rho_t + rho_T], shape (B,)."""
        return self._expect(
            policy,
            torch.exp(self.mdp.log_success),
            torch.exp(self.mdp.log_terminal_success),
        )

    def causal_entropy(self, policy: Tensor) -> Tensor:
        """sum_t E_{d_t} H(pi_t(.|s)) in nats, shape (B,)."""
        zero = torch.zeros_like(self.mdp.initial)
        return self._expect(policy, -policy, zero) + 0.0

    def causal_kl(self, policy: Tensor, other: Tensor) -> Tensor:
        """KL_c(pi || q) = sum_t E_{d_t^pi} KL(pi_t || q_t); +inf where q = 0 < pi
        at a reachable state (never NaN, never negative), shape (B,)."""
        self.check_policy(other)
        d = self.occupancy(policy)
        weight = d[:, :-1, :, None] * torch.exp(policy)
        diff = torch.where(torch.isneginf(policy), 0.0, policy - other)
        infinite = (torch.isposinf(diff) & (weight > 0)).flatten(1).any(dim=1)
        total = _times(weight, diff).sum(dim=(1, 2, 3))
        return torch.where(infinite, math.inf, total.clamp_min(0.0)) + 0.0

    def kappa(self, policy: Tensor, f: SoftQ) -> Tensor:
        """kappa_f(pi) = KL_c(pi || pi^{Q,f}), shape (B,)."""
        return self.causal_kl(policy, self.soft_q_policy(self.values(policy), f))

    # ---------------------------------------------------- tables for answers
    def policy_table(self, policy: Tensor) -> Tensor:
        """pi[b, t, s, a] as probabilities."""
        return torch.exp(self.check_policy(policy))

    def z_table(self, policy: Tensor) -> Tensor:
        """z[b, t, s, a] = P(O_{t:T} = 1 | s, a)."""
        return torch.exp(self.values(policy).Q)

    def w_table(self, policy: Tensor) -> Tensor:
        """w[b, t, s] = P(O_{t:T} = 1 | s), t = 0..T."""
        return torch.exp(self.values(policy).V)


_DEVICES = ("cpu", "cuda")
_LAYOUTS: tuple[Layout, ...] = ("dense", "successors")


def parse_options(options: tuple[str, ...]) -> tuple[torch.dtype, str | None, Layout]:
    """(dtype, device or None for automatic, layout) from backend-name options
    such as ``torch:float32:cpu``: one dtype (float32/float64, default float64),
    one device (cpu/cuda, default cuda when available), one transition layout
    (dense/successors, default dense)."""
    dtype: torch.dtype | None = None
    device: str | None = None
    layout: Layout | None = None
    for raw in options:
        opt = raw.strip().lower()
        if opt in ("float32", "float64"):
            if dtype is not None:
                raise ValueError(f"backend: torch takes one dtype, got {raw!r} too")
            dtype = K.resolve_dtype(opt)
        elif opt in _DEVICES:
            if device is not None:
                raise ValueError(f"backend: torch takes one device, got {raw!r} too")
            device = opt
        elif opt in _LAYOUTS:
            if layout is not None:
                raise ValueError(f"backend: torch takes one layout, got {raw!r} too")
            layout = "dense" if opt == "dense" else "successors"
        else:
            raise ValueError(
                f"backend: unknown torch option {raw!r}; expected "
                "float32|float64, cpu|cuda, dense|successors"
            )
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("backend: torch:cuda requested but CUDA is not available")
    return dtype or torch.float64, device, layout or "dense"


def make_engine(mdp: MDP, options: tuple[str, ...]) -> TorchEngine:
    """Registry factory (:mod:`coherence.backends`) for
    ``torch[:float32|float64][:cpu|cuda][:dense|successors]``: one MDP as a
    batch of 1."""
    if not isinstance(mdp, MDP):
        raise TypeError(f"mdp: expected a coherence MDP, got {type(mdp).__name__}")
    dtype, device, layout = parse_options(tuple(options))
    engine = TorchEngine(
        TorchMDP.from_mdps(mdp, layout=layout, dtype=dtype, device=device)
    )
    engine.command = mdp.command
    return engine
