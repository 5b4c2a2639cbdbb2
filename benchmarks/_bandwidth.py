"""The memory-bandwidth yardstick shared by every benchmark.

The bound of a backward pass is (bytes of transitions read once per step x
steps) / (bandwidth of a streaming read of a 1 GiB array measured in the same
run). Different read kernels reach different rates on a 2-core machine, so the
yardstick is the FASTEST of: numpy ``sum``, a numpy matrix-vector product (the
backward pass's own kernel), and torch ``sum`` with its default threads (and on
cuda, torch ``sum`` on the device). Taking the fastest makes the bound as tight
as the machine allows; a ratio time / bound is then never flattered.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

__all__ = ["GIB", "stream_bandwidth"]

GIB = 1 << 30


def _best(fn: Callable[[], object], repeat: int, sync: Callable[[], None]) -> float:
    fn()
    sync()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def stream_bandwidth(repeat: int = 5, device: str = "cpu") -> dict[str, float]:
    """Bytes/s of streaming reads of 1 GiB by each method, plus ``"best"``."""
    rates: dict[str, float] = {}
    if device == "cpu":
        a = np.ones(GIB // 8)
        x = np.ones(1024)
        rates["numpy sum"] = GIB / _best(a.sum, repeat, lambda: None)
        rates["numpy gemv"] = GIB / _best(
            lambda: a.reshape(-1, 1024) @ x, repeat, lambda: None
        )
        del a
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        torch = None  # type: ignore[assignment]
    if torch is not None:
        dev = torch.device(device)
        t = torch.ones(GIB // 8, dtype=torch.float64, device=dev)
        sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
        rates[f"torch sum ({dev.type})"] = GIB / _best(t.sum, repeat, sync)
        del t
    rates["best"] = max(rates.values())
    return rates
