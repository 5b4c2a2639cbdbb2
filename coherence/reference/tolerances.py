"""The tolerances this project holds its float engines to against the oracle.

One definition, used by the float-engine tests, ``coherence.testing`` and
``coherence conformance check --dtype``:

* float64: rel 1e-10 * T, abs 1e-13 (about 4.5e5 * eps64 * T);
* float32: rel 2e-6 * T * max(1, iterations), abs 1e-7 (about 17 * eps32 per step
  and operator iteration: each backward step rounds Q, whose magnitude is a few
  nats, to float32, and each conditioning carries that error into the next
  policy), plus an absolute 1e-6 * T * iterations for the occupancy-weighted
  log-domain sums (kappa, causal KL, causal entropy, J_sum, J_soft), whose
  float32 rounding is absolute.

``iterations`` is the operator's k or i (2 for T_alpha and maxent, whose
rewards are scaled once and backed up once).
"""

from __future__ import annotations

from typing import Any

from coherence.reference.case import Query, Tolerance
from coherence.reference.operators import PolicySpec

__all__ = ["LOG_DOMAIN", "iterations_of", "query_tolerance", "tolerance_for"]

#: Quantities whose float32 error is absolute (occupancy-weighted log sums).
LOG_DOMAIN = frozenset({"kappa", "causal_kl", "causal_entropy", "J_sum", "J_soft"})


def tolerance_for(dtype: Any, horizon: int, *, iterations: int = 1) -> Tolerance:
    """The tolerance of a float engine of ``dtype`` (module docstring)."""
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise ValueError(f"horizon: expected an integer >= 1, got {horizon!r}")
    if (
        isinstance(iterations, bool)
        or not isinstance(iterations, int)
        or iterations < 0
    ):
        raise ValueError(f"iterations: expected an integer >= 0, got {iterations!r}")
    name = str(dtype).removeprefix("torch.")
    if name in ("float64", "double", "<class 'numpy.float64'>"):
        return Tolerance(rel=1e-10 * horizon, abs=1e-13)
    if name in ("float32", "float", "<class 'numpy.float32'>"):
        return Tolerance(rel=2e-6 * horizon * max(1, iterations), abs=1e-7)
    raise ValueError(f"dtype: expected float32 or float64, got {dtype!r}")


def iterations_of(spec: PolicySpec) -> int:
    """Operator iterations behind a spec: k, i; 2 for T and maxent; at least 1."""
    return max(1, spec.k, spec.i, 2 if spec.operator in ("T", "maxent") else 0)


def query_tolerance(dtype: Any, horizon: int, query: Query) -> Tolerance:
    """The float engine's tolerance for one query (the policy's iterations, the
    reference policy's too, and the log-domain allowance for float32)."""
    its = iterations_of(query.policy)
    if query.reference is not None:
        its = max(its, iterations_of(query.reference))
    tol = tolerance_for(dtype, horizon, iterations=its)
    name = str(dtype).removeprefix("torch.")
    if name in ("float32", "float") and query.quantity in LOG_DOMAIN:
        tol = Tolerance(rel=tol.rel, abs=max(tol.abs, 1e-6 * horizon * its))
    return tol
