"""Batched log-space kernels of the torch engine (SPEC §2 conventions).

Axis vocabulary: batch ``b`` first; a flattened (state, action) pair is a *row*
``r = s * A + a``; next states are ``s'``. Dense transitions are kept transposed,
``PT[b, s', r] = P(s'|r)``,
successor lists are ``idx[b, k, r]`` (next-state index, flattened over the batch
so one ``index_select`` serves every member; k-major, so that the sum over k adds
contiguous slabs, measured 4x faster than a sum over a last axis of 4) with
probabilities ``prob[b, k, r]``.

The expectation of SPEC §3,

    L[b, r] = log sum_{s'} P(s'|r) exp V[b, s'],

is computed as ``log(exp(V - m) @ PT) + m`` with ``m = max_{s'} V[b, s']``: each
backward step streams the transitions once. Rows whose shifted sum falls below
``tiny / eps`` of the dtype (where rounding of individual terms could matter) are
recomputed by a per-row log-sum-exp, so accuracy does not depend on the spread of V.

The dense matrix-vector products are torch ``matmul`` calls (kernel ``"torch"``)
or, on cpu, numpy's OpenBLAS on zero-copy views (kernel ``"numpy"``): its gemv
streams about twice as fast as torch's MKL gemv on the AMD machines of this
project, and numpy's float64 exp/log are about twice as fast per element as
torch's. The whole backward pass then runs in numpy (:func:`backward_dense_numpy`)
so that no torch op runs between two BLAS calls: OpenBLAS's and torch's thread
pools spin against each other on few cores (measured 10x slower passes when
torch elementwise ops with 2 threads are interleaved with OpenBLAS gemv), and
the pass runs under :func:`torch_threads` (1) for the rare torch fallback ops.
Kernel ``"auto"`` picks numpy for cpu dense members of at least
:data:`NUMPY_MIN_MEMBER_BYTES` of transitions (the product dominates) and torch
otherwise (many small members: torch's batched elementwise ops win).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal, NamedTuple

import numpy as np
import torch

__all__ = [
    "NUMPY_MIN_MEMBER_BYTES",
    "Expectation",
    "Kernel",
    "Workspace",
    "backward_dense_numpy",
    "batch_chunk",
    "log_expect_dense",
    "log_expect_successors",
    "log_softmax",
    "matvec_dense",
    "matvec_successors",
    "resolve_device",
    "resolve_dtype",
    "torch_threads",
    "underflow_threshold",
    "vecmat_dense",
    "vecmat_successors",
]

Kernel = Literal["auto", "torch", "numpy"]

#: kernel "auto" on cpu runs the dense backward pass in numpy from this many
#: bytes of transitions per member (S = 1000, A = 4: 32 MB, numpy 2-3x faster;
#: S = 20, A = 4: 12.8 KB, torch 1.5x faster over a batch of 1024).
NUMPY_MIN_MEMBER_BYTES = 1 << 20
#: the torch pass over many small dense members runs in batch chunks of about
#: this many bytes of transitions, so that a chunk stays cache-resident across
#: its T steps (B = 1024, S = 20, A = 4: one chunk of 13 MB measured 27 ms,
#: chunks of 6.5 MB 22 ms, of 1.6 MB 32 ms: per-op overhead grows below).
CHUNK_BYTES = 8 << 20


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with torch's intra-op thread count set to ``n`` (at most the
    current count), restoring the previous count afterwards (even on error)."""
    old = torch.get_num_threads()
    new = max(1, min(n, old))
    if new != old:
        torch.set_num_threads(new)
    try:
        yield
    finally:
        if torch.get_num_threads() != old:
            torch.set_num_threads(old)


def batch_chunk(batch: int, member_bytes: int) -> int:
    """Members per chunk of the torch dense pass: all of them when the whole
    batch fits in :data:`CHUNK_BYTES`, else equal chunks of about that size."""
    total = batch * member_bytes
    if total <= CHUNK_BYTES or batch == 1:
        return batch
    n_chunks = -(-total // CHUNK_BYTES)
    return -(-batch // n_chunks)


_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def resolve_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """``torch.float32``/``torch.float64`` or their names."""
    if isinstance(dtype, str):
        if dtype not in _DTYPES:
            raise ValueError(f"dtype: expected 'float32' or 'float64', got {dtype!r}")
        return _DTYPES[dtype]
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(
            f"dtype: expected torch.float32 or torch.float64, got {dtype!r}"
        )
    return dtype


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` or ``"auto"``: cuda when available, else cpu."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device: not a torch device: {device!r}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: {device!r} requested but CUDA is not available")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device: expected cpu or cuda, got {device!r}")
    return dev


def underflow_threshold(dtype: torch.dtype) -> float:
    """Below ``tiny / eps`` a shifted sum may have lost relative accuracy."""
    info = torch.finfo(dtype)
    return float(info.tiny / info.eps)


def log_softmax(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Log-softmax along the last axis (``dim`` must be -1); uniform where every
    entry is -inf (SPEC §2).

    The sum over the (short) action axis is a matrix product with a ones
    vector, which measured 1.8x faster than torch.log_softmax for A = 4. Rows
    whose entries are all -inf give NaN exactly (inputs are never NaN or +inf
    here); they become uniform."""
    if dim not in (-1, x.ndim - 1):
        raise ValueError(f"dim: log_softmax runs over the last axis, got {dim}")
    n = x.shape[-1]
    m = x.amax(dim=-1, keepdim=True).clamp_min_(torch.finfo(x.dtype).min)
    y = x - m
    total = torch.exp(y) @ torch.ones((n, 1), dtype=x.dtype, device=x.device)
    y.sub_(total.log_())
    return y.nan_to_num_(nan=-math.log(n), posinf=math.inf, neginf=-math.inf)


def _use_numpy(t: torch.Tensor, kernel: Kernel) -> bool:
    if kernel == "numpy" and t.device.type != "cpu":
        raise ValueError("kernel: 'numpy' needs tensors on the cpu")
    return kernel == "numpy"


def matvec_dense(PT: torch.Tensor, x: torch.Tensor, kernel: Kernel) -> torch.Tensor:
    """out[b, r] = sum_{s'} P[b, r, s'] x[b, s'] with ``PT[b, s', r]`` (the
    transposed layout: a row vector times a matrix measured 1.5-2.7x faster than a
    matrix times a column vector on CPU, single and batched)."""
    if _use_numpy(PT, kernel):
        Pn = PT.detach().numpy()
        xn = np.ascontiguousarray(x.detach().numpy())
        return torch.from_numpy(np.matmul(xn[:, None, :], Pn)[:, 0, :])
    return torch.matmul(x.unsqueeze(1), PT).squeeze(1)


def vecmat_dense(y: torch.Tensor, PT: torch.Tensor, kernel: Kernel) -> torch.Tensor:
    """out[b, s'] = sum_r y[b, r] P[b, r, s'] (the forward, occupancy direction)."""
    if _use_numpy(PT, kernel):
        Pn = PT.detach().numpy()
        yn = np.ascontiguousarray(y.detach().numpy())
        return torch.from_numpy(np.matmul(Pn, yn[:, :, None])[:, :, 0])
    return torch.matmul(PT, y.unsqueeze(-1)).squeeze(-1)


def matvec_successors(
    idx: torch.Tensor, prob: torch.Tensor, x: torch.Tensor
) -> torch.Tensor:
    """out[b, r] = sum_k prob[b, k, r] x_flat[idx[b, k, r]]."""
    gathered = x.reshape(-1).index_select(0, idx.reshape(-1)).view(prob.shape)
    return gathered.mul_(prob).sum(dim=1)


def vecmat_successors(
    y: torch.Tensor, idx: torch.Tensor, prob: torch.Tensor, n_next: int
) -> torch.Tensor:
    """out[b, s'] = sum_{r, k: idx = s'} y[b, r] prob[b, k, r] (scatter-add)."""
    B = prob.shape[0]
    contrib = (y.unsqueeze(1) * prob).reshape(-1)
    out = torch.zeros(B * n_next, dtype=prob.dtype, device=prob.device)
    out.index_add_(0, idx.reshape(-1), contrib)
    return out.view(B, n_next)


class Expectation(NamedTuple):
    """``log[b, r]`` = log sum_{s'} P(s'|r) exp V[b, s'] (exact, underflow
    recomputed), ``acc[b, r]`` = sum_{s'} P(s'|r) exp(V[b, s'] - shift[b]) (the
    shifted linear sum; below :func:`underflow_threshold` it may be inexact), and
    ``shift[b, 1]`` = max_{s'} V[b, s'] (the dtype's lowest finite value where
    every V is -inf)."""

    log: torch.Tensor
    acc: torch.Tensor
    shift: torch.Tensor


def _shift(V: torch.Tensor) -> torch.Tensor:
    """Per-member max of V, clamped to the lowest finite value so that
    V - shift is -inf (never NaN) where V = -inf."""
    return V.amax(dim=1, keepdim=True).clamp_min(torch.finfo(V.dtype).min)


def _underflowed(acc: torch.Tensor, m: torch.Tensor) -> torch.Tensor | None:
    """Mask of rows to recompute in log space, or None (the common case, decided
    by one reduction)."""
    thr = underflow_threshold(acc.dtype)
    if acc.numel() == 0 or not bool((acc.amin() < thr).item()):
        return None
    return (acc < thr) & (m > torch.finfo(m.dtype).min)


class Workspace:
    """Scratch buffers reused across backward steps and calls: on CPU a large
    temporary is fresh, page-faulting memory on every allocation, which measured
    several times the arithmetic on million-state trees. Buffers returned by
    the kernels below are valid until the next call that uses the same
    workspace (an engine is not thread-safe)."""

    def __init__(self) -> None:
        self._bufs: dict[str, torch.Tensor] = {}

    def get(
        self, name: str, shape: tuple[int, ...], like: torch.Tensor
    ) -> torch.Tensor:
        """The buffer ``name`` of ``shape`` with ``like``'s dtype and device,
        reused when it already fits."""
        buf = self._bufs.get(name)
        if (
            buf is None
            or tuple(buf.shape) != shape
            or buf.dtype != like.dtype
            or buf.device != like.device
        ):
            buf = torch.empty(shape, dtype=like.dtype, device=like.device)
            self._bufs[name] = buf
        return buf


def _shifted_exp(V: torch.Tensor, ws: Workspace) -> tuple[torch.Tensor, torch.Tensor]:
    """(exp(V - m), m) with m = :func:`_shift` (V)."""
    m = _shift(V)
    x = ws.get("x", tuple(V.shape), V)
    torch.sub(V, m, out=x)
    return x.exp_(), m


def log_expect_dense(
    PT: torch.Tensor, V: torch.Tensor, kernel: Kernel, ws: Workspace | None = None
) -> Expectation:
    """log sum_{s'} P[b, r, s'] exp V[b, s'] (SPEC §3) with ``PT[b, s', r]``;
    shapes (B, R)."""
    ws = Workspace() if ws is None else ws
    x, m = _shifted_exp(V, ws)
    B, R = PT.shape[0], PT.shape[2]
    if _use_numpy(PT, kernel):
        acc = matvec_dense(PT, x, kernel)
    else:
        acc3 = ws.get("acc", (B, 1, R), PT)
        torch.matmul(x.unsqueeze(1), PT, out=acc3)
        acc = acc3.view(B, R)
    out = torch.log(acc, out=ws.get("log", (B, R), PT)).add_(m)
    bad = _underflowed(acc, m)
    if bad is not None:
        b, r = bad.nonzero(as_tuple=True)
        if b.numel():
            out[b, r] = torch.logsumexp(torch.log(PT[b, :, r]) + V[b], dim=1)
    return Expectation(out, acc, m)


def log_expect_successors(
    idx: torch.Tensor,
    prob: torch.Tensor,
    V: torch.Tensor,
    ws: Workspace | None = None,
) -> Expectation:
    """log sum_k prob[b, k, r] exp V_flat[idx[b, k, r]]; shapes (B, R)."""
    ws = Workspace() if ws is None else ws
    x, m = _shifted_exp(V, ws)
    B, R = prob.shape[0], prob.shape[2]
    gathered = ws.get("gather", (prob.numel(),), prob)
    torch.index_select(x.reshape(-1), 0, idx.reshape(-1), out=gathered)
    gathered.mul_(prob.reshape(-1))
    acc = torch.sum(gathered.view(prob.shape), dim=1, out=ws.get("acc", (B, R), prob))
    out = torch.log(acc, out=ws.get("log", (B, R), prob)).add_(m)
    bad = _underflowed(acc, m)
    if bad is not None:
        b, r = bad.nonzero(as_tuple=True)
        if b.numel():
            nxt = V.reshape(-1).index_select(0, idx[b, :, r].reshape(-1))
            nxt = nxt.view(-1, idx.shape[1])
            out[b, r] = torch.logsumexp(torch.log(prob[b, :, r]) + nxt, dim=1)
    return Expectation(out, acc, m)


def backward_dense_numpy(
    PT: torch.Tensor,
    policy: torch.Tensor,
    r: torch.Tensor,
    r_T: torch.Tensor,
    Q: torch.Tensor,
    V: torch.Tensor,
) -> None:
    """The backward pass of SPEC §3 on cpu tensors, run in numpy on zero-copy
    views (see the module docstring), filling ``Q[b, t, s, a]`` and ``V[b, t,
    s]`` in place. Same recurrence and conventions as the torch pass of
    ``TorchEngine.soft_values``: shifted linear sums, with expectation rows
    and states whose sum falls below :func:`underflow_threshold` recomputed as
    exact log-sum-exps (in torch, on the same views)."""
    B, T, S, A = r.shape
    R = S * A
    lo = float(torch.finfo(r.dtype).min)
    thr = underflow_threshold(r.dtype)
    Pn, pol, rn = PT.numpy(), policy.detach().numpy(), r.detach().numpy()
    Qn, Vn = Q.numpy(), V.numpy()
    dt = rn.dtype
    x = np.empty((B, S), dtype=dt)
    m = np.empty((B, 1), dtype=dt)
    acc = np.empty((B, R), dtype=dt)
    L = np.empty((B, R), dtype=dt)
    w = np.empty((B, S, A), dtype=dt)
    c = np.empty((B, S, 1), dtype=dt)
    total = np.empty((B, S), dtype=dt)
    ones = np.ones(A, dtype=dt)
    Vn[:, T] = r_T.detach().numpy()
    with np.errstate(divide="ignore"), torch_threads(1):
        for t in range(T - 1, -1, -1):
            nxt = Vn[:, t + 1]
            np.max(nxt, axis=1, keepdims=True, out=m)
            np.maximum(m, lo, out=m)
            np.subtract(nxt, m, out=x)
            np.exp(x, out=x)
            if B == 1:
                np.dot(x[0], Pn[0], out=acc[0])
            else:
                np.matmul(x[:, None, :], Pn, out=acc[:, None, :])
            np.log(acc, out=L)
            L += m
            if acc.min() < thr:
                bad = torch.from_numpy((acc < thr) & (m > lo))
                b, i = bad.nonzero(as_tuple=True)
                Lt, Vt1 = torch.from_numpy(L), V[:, t + 1]
                Lt[b, i] = torch.logsumexp(torch.log(PT[b, :, i]) + Vt1[b], dim=1)
            np.add(rn[:, t], L.reshape(B, S, A), out=Qn[:, t])
            # V_t = log sum_a exp(log pi + r - c) * acc + c + m
            np.add(pol[:, t], rn[:, t], out=w)
            np.max(w, axis=2, keepdims=True, out=c)
            np.maximum(c, lo, out=c)
            w -= c
            np.exp(w, out=w)
            w *= acc.reshape(B, S, A)
            np.matmul(w, ones, out=total)
            Vt = Vn[:, t]
            np.log(total, out=Vt)
            Vt += c[:, :, 0]
            Vt += m
            if total.min() < thr:
                b, s = torch.from_numpy(total < thr).nonzero(as_tuple=True)
                Lsa = torch.from_numpy(L).view(B, S, A)
                exact = policy[b, t, s] + r[b, t, s] + Lsa[b, s]
                V[b, t, s] = torch.logsumexp(exact, dim=-1)
