"""Shared reporting for the benchmark scripts: the machine line and the
replacement of one script's section of ``docs/performance.md``."""

from __future__ import annotations

import os
import platform
from pathlib import Path

from coherence._io import atomic_write_text

__all__ = ["machine", "write_section"]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """CPU, cores, library versions, threads, GPU and the load at start."""
    import numpy as np

    parts = [
        f"{_cpu_model()}, {os.cpu_count()} cores",
        f"Python {platform.python_version()}",
        f"numpy {np.__version__}",
    ]
    try:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
        parts += [
            f"torch {torch.__version__} ({torch.get_num_threads()} threads)",
            f"GPU: {gpu}",
        ]
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    if hasattr(os, "getloadavg"):
        parts.append(f"load average at start {os.getloadavg()[0]:.2f}")
    return "; ".join(parts)


def write_section(path: str | Path, name: str, text: str) -> None:
    """Replace the text between ``<!-- begin: NAME -->`` and ``<!-- end: NAME -->``
    in ``path`` (append it when absent); other sections stay as they are."""
    begin, end = f"<!-- begin: {name} -->", f"<!-- end: {name} -->"
    block = f"{begin}\n{text.strip()}\n{end}"
    target = Path(path)
    old = target.read_text() if target.exists() else "# Performance\n"
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        new = head + block + rest.split(end, 1)[1]
    else:
        new = old.rstrip("\n") + "\n\n" + block + "\n"
    atomic_write_text(target, new)
