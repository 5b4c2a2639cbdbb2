"""coherence: reference implementation of incoherence in goal-conditioned
autoregressive policies (docs/spec.md).

Subpackages: ``reference`` (the MDP model, exact and float64 oracle, case I/O),
``theory`` (sympy closed forms), ``gpu`` (batched torch engine and learning
algorithms), ``proofs`` (the claims ledger); ``testing`` offers hypothesis
strategies and assertion helpers for other projects.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
