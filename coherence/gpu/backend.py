"""The ``torch`` backend of :mod:`coherence.backends`: one MDP as a batch of 1.

``make_engine(mdp, options)`` is the registry factory; ``options`` come from a
backend name such as ``torch:float32:cpu`` and may hold one dtype
(``float32``/``float64``, default float64), one device (``cpu``/``cuda``, default
cuda when available), and one transition layout (``dense``/``successors``,
default dense). The adapter answers the query protocol of
:class:`coherence.backends.QueryEngine`: tables as numpy float64 arrays indexed
``[t][s][a]`` (``w`` and occupancy ``[t][s]``, t = 0..T), scalars as Python floats.
"""

from __future__ import annotations

from typing import Any

import torch

from coherence.gpu.engine import Layout, TorchEngine, TorchMDP
from coherence.reference.model import MDP, FloatArray
from coherence.reference.operators import PolicySpec
from coherence.reference.recurrences import SoftQ

__all__ = ["TorchQueryEngine", "make_engine", "parse_options"]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}
_DEVICES = ("cpu", "cuda")
_LAYOUTS: tuple[Layout, ...] = ("dense", "successors")


def parse_options(options: tuple[str, ...]) -> tuple[torch.dtype, str | None, Layout]:
    """(dtype, device or None for automatic, layout) from backend-name options."""
    dtype: torch.dtype | None = None
    device: str | None = None
    layout: Layout | None = None
    for raw in options:
        opt = raw.strip().lower()
        if opt in _DTYPES:
            if dtype is not None:
                raise ValueError(f"backend: torch takes one dtype, got {raw!r} too")
            dtype = _DTYPES[opt]
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
    return dtype or torch.float64, device, layout or "dense"


class TorchQueryEngine:
    """Query protocol over a :class:`TorchEngine` holding one MDP.

    Policies are opaque log-policy tensors of shape (1, T, S, A)."""

    name = "torch"

    def __init__(
        self,
        mdp: MDP,
        *,
        dtype: torch.dtype = torch.float64,
        device: str | torch.device | None = None,
        layout: Layout = "dense",
    ) -> None:
        self.mdp = mdp
        self.engine = TorchEngine(
            TorchMDP.from_mdps(mdp, layout=layout, dtype=dtype, device=device)
        )
        self.dtype = dtype
        self.name = (
            f"torch:{str(dtype).removeprefix('torch.')}:{self.engine.mdp.device.type}"
        )

    @staticmethod
    def _array(x: torch.Tensor) -> FloatArray:
        out: FloatArray = x[0].detach().to("cpu", torch.float64).numpy()
        return out

    @staticmethod
    def _scalar(x: torch.Tensor) -> float:
        return float(x[0].item()) + 0.0

    def policy(self, spec: PolicySpec) -> torch.Tensor:
        return self.engine.policy(spec)

    def policy_table(self, policy: Any) -> FloatArray:
        return self._array(self.engine.policy_table(policy))

    def z_table(self, policy: Any) -> FloatArray:
        return self._array(self.engine.z_table(policy))

    def w_table(self, policy: Any) -> FloatArray:
        return self._array(self.engine.w_table(policy))

    def occupancy(self, policy: Any) -> FloatArray:
        return self._array(self.engine.occupancy(policy))

    def j_prob(self, policy: Any) -> float:
        return self._scalar(self.engine.j_prob(policy))

    def j_soft(self, policy: Any) -> float:
        return self._scalar(self.engine.j_soft(policy))

    def j_sum(self, policy: Any) -> float:
        return self._scalar(self.engine.j_sum(policy))

    def j_count(self, policy: Any) -> float:
        return self._scalar(self.engine.j_count(policy))

    def causal_entropy(self, policy: Any) -> float:
        return self._scalar(self.engine.causal_entropy(policy))

    def causal_kl(self, policy: Any, other: Any) -> float:
        return self._scalar(self.engine.causal_kl(policy, other))

    def kappa(self, policy: Any, f: SoftQ) -> float:
        return self._scalar(self.engine.kappa(policy, f))

    def maxent_policy(self, alpha: Any) -> torch.Tensor:
        return self.engine.maxent_policy(alpha)


def make_engine(mdp: MDP, options: tuple[str, ...]) -> TorchQueryEngine:
    """Registry factory: ``torch[:float32|float64][:cpu|cuda][:dense|successors]``."""
    if not isinstance(mdp, MDP):
        raise TypeError(f"mdp: expected a coherence MDP, got {type(mdp).__name__}")
    dtype, device, layout = parse_options(tuple(options))
    return TorchQueryEngine(mdp, dtype=dtype, device=device, layout=layout)
