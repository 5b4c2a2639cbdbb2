"""Batched torch engine for SPEC §3–§4 (dense or successor-list transitions,
float32/float64, cpu/cuda).

Names are imported lazily so that importing ``coherence.gpu`` (for example by the
CLI) does not import torch until an engine is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from coherence.gpu.engine import LogValues, TorchEngine, TorchMDP, make_engine

__all__ = ["LogValues", "TorchEngine", "TorchMDP", "make_engine"]

_WHERE = {
    "LogValues": "coherence.gpu.engine",
    "TorchEngine": "coherence.gpu.engine",
    "TorchMDP": "coherence.gpu.engine",
    "make_engine": "coherence.gpu.engine",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'coherence.gpu' has no attribute {name!r}")
