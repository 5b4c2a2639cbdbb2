"""The MDP model, the exact and float64 reference oracle, and case I/O.

Axis vocabulary: ``[t, s, a]``; transitions ``[s, a, s']``.
"""

from __future__ import annotations

from coherence.reference.case import (
    Case,
    CaseError,
    Query,
    Results,
    Tolerance,
    load_case,
    load_results,
    write_case,
    write_results,
)
from coherence.reference.exact import ExactEngine
from coherence.reference.model import MDP
from coherence.reference.numpy_engine import NumpyEngine
from coherence.reference.operators import (
    PolicySpec,
    cumulative_folding,
    folding,
    iterated_coherence,
    retrain,
    temperature,
)
from coherence.reference.recurrences import Argmax, Boltzmann

__all__ = [
    "MDP",
    "Argmax",
    "Boltzmann",
    "Case",
    "CaseError",
    "ExactEngine",
    "NumpyEngine",
    "PolicySpec",
    "Query",
    "Results",
    "Tolerance",
    "cumulative_folding",
    "folding",
    "iterated_coherence",
    "load_case",
    "load_results",
    "retrain",
    "temperature",
    "write_case",
    "write_results",
]
