"""One registry of engines: the conformance runner, the tests and the CLI all
look backends up here, so adding an engine adds it everywhere at once.

A backend name may carry options after a colon, e.g. ``torch:float32``.
Every engine answers the same query protocol (:class:`QueryEngine`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from coherence.reference.model import MDP
from coherence.reference.operators import PolicySpec
from coherence.reference.recurrences import SoftQ

__all__ = ["BackendInfo", "QueryEngine", "create", "describe", "names", "register"]


class QueryEngine(Protocol):
    """What a backend answers for one MDP. Tables are indexed ``[t][s][a]``
    (``w`` and occupancy ``[t][s]`` for t = 0..T)."""

    name: str

    def policy(self, spec: PolicySpec) -> Any: ...

    def policy_table(self, policy: Any) -> Any: ...

    def z_table(self, policy: Any) -> Any: ...

    def w_table(self, policy: Any) -> Any: ...

    def occupancy(self, policy: Any) -> Any: ...

    def j_prob(self, policy: Any) -> Any: ...

    def j_soft(self, policy: Any) -> float: ...

    def j_sum(self, policy: Any) -> float: ...

    def j_count(self, policy: Any) -> Any: ...

    def causal_entropy(self, policy: Any) -> float: ...

    def kappa(self, policy: Any, f: SoftQ) -> float: ...


@dataclass(frozen=True)
class BackendInfo:
    """``factory(mdp, options)`` builds an engine; ``exact`` engines answer in
    rationals (and only rational policies)."""

    name: str
    factory: Callable[[MDP, tuple[str, ...]], QueryEngine]
    exact: bool
    description: str


_REGISTRY: dict[str, BackendInfo] = {}


def register(info: BackendInfo) -> None:
    _REGISTRY[info.name] = info


def _lazy(module: str, attr: str) -> Callable[[MDP, tuple[str, ...]], QueryEngine]:
    def factory(mdp: MDP, options: tuple[str, ...]) -> QueryEngine:
        try:
            loaded = importlib.import_module(module)
        except ImportError as exc:
            raise ValueError(f"backend: {module} is unavailable ({exc})") from None
        make: Callable[[MDP, tuple[str, ...]], QueryEngine] = getattr(loaded, attr)
        return make(mdp, options)

    return factory


def _no_options(name: str, options: tuple[str, ...]) -> None:
    if options:
        raise ValueError(
            f"backend: {name!r} takes no options, got {':'.join(options)!r}"
        )


def _exact(mdp: MDP, options: tuple[str, ...]) -> QueryEngine:
    from coherence.reference.exact import ExactEngine

    _no_options("exact", options)
    return ExactEngine(mdp)


def _numpy(mdp: MDP, options: tuple[str, ...]) -> QueryEngine:
    from coherence.reference.numpy_engine import NumpyEngine

    _no_options("numpy", options)
    return NumpyEngine(mdp)


register(
    BackendInfo("exact", _exact, True, "rationals (gmpy2.mpq); rational policies only")
)
register(BackendInfo("numpy", _numpy, False, "float64, log space, one MDP"))
register(
    BackendInfo(
        "torch",
        _lazy("coherence.gpu.backend", "make_engine"),
        False,
        "batched torch engine; options float32|float64, cpu|cuda",
    )
)


def names() -> list[str]:
    return sorted(_REGISTRY)


def describe(name: str) -> BackendInfo:
    base = name.split(":", 1)[0]
    if base not in _REGISTRY:
        raise ValueError(
            f"backend: unknown backend {name!r}; expected one of {', '.join(names())}"
        )
    return _REGISTRY[base]


def create(name: str, mdp: MDP) -> QueryEngine:
    """Engine for ``mdp`` from a backend name such as ``numpy`` or ``torch:float32``."""
    info = describe(name)
    options = tuple(o for o in name.split(":")[1:] if o)
    return info.factory(mdp, options)
