"""The paper's experiments: one row function per instance, and the instance lists.

Every row carries its provenance (experiment, generator, parameters, a SHA-256
of the instance's case JSON, package version). Quantities and their number
systems:

* ``kappa_*_exact``: SPEC §4 kappa_delta from the exact engine (float of exact
  logs, ~1e-15 relative); ``kappa_*_clipped``: the authors' clipped trajectory KL;
* ``kappa_*_float`` (temperatures whose 1/delta is not an integer): from the
  exact Q^pi as float64, pi^delta = softmax(Q / delta), trajectory KL without
  clip, about 1e-12 relative;
* ``j_*`` the authors' J (expected count of successful steps = J_count - 1),
  ``jprob_*`` exact J_prob, ``jsum_*`` J_sum, ``jcount_*`` J_count;
* ``h_authors``, ``h_laidlaw``, ``k_greedy``: :mod:`.horizon`, exact;
  ``gorp_probs`` the exact success probabilities behind them (stored until
  p >= 1/2 + 4 sigma, enough for the law of their Monte Carlo estimate);
* iterated / return rows along G_k: ``kappa`` (exact, float64 engine),
  ``kappa_clipped``, ``j_authors`` (their J), ``jprob``, ``jsum``, ``jcount``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from fractions import Fraction
from functools import cache
from typing import Any

from coherence import __version__
from coherence._numbers import log_rational, to_float
from coherence.experiments.authors import (
    FAMILIES,
    AuthorsTree,
    authors_tree,
    candidate_seeds,
    tree_case,
)
from coherence.experiments.horizon import effective_horizon
from coherence.experiments.measures import (
    exact_engine,
    g_policies,
    kappas,
    optimal_q,
    policy_rows,
    trajectory_kl_clipped,
    tree_mdp,
)

__all__ = [
    "EXPERIMENTS",
    "EXPERIMENT_LISTS",
    "ITERATED_DELTAS",
    "ITERATIONS",
    "MC_SIGMA",
    "TEMPERATURES",
    "case_hash",
    "instance_items",
    "published_seeds",
    "run_item",
]

#: Temperatures of the misalignment experiment (artifact JSON): 10^(-1 + 0.2 i).
TEMPERATURES = tuple(10.0 ** (-1 + 0.2 * i) for i in range(11))
#: Misalignment default: the artifact grid and the config's list together.
MISALIGNMENT_TEMPERATURES = tuple(
    sorted(
        {round(t, 12) for t in TEMPERATURES} | {0.1, 0.3, 0.5, 0.8, 1.0, 2.0, 4.0, 8.0}
    )
)
#: Temperatures of the iterated-incoherence experiment (1/delta integers).
ITERATED_DELTAS = (
    Fraction(1),
    Fraction(1, 2),
    Fraction(1, 5),
    Fraction(1, 10),
    Fraction(1, 20),
)
#: Standard deviation of a 500-run Monte Carlo success rate at p = 1/2.
MC_SIGMA = math.sqrt(0.25 / 500)
#: The clip of the iterated / return-improvement instances
#: (docs/paper-experiments.md §1).
ITERATED_CLIP = (1e-3, 1 - 1e-3)

EXPERIMENTS = (
    "effective-horizon",
    "misalignment",
    "iterated",
    "return-improvement",
    "return-incoherence",
)


def case_hash(case: dict[str, object]) -> str:
    """SHA-256 of the case's canonical JSON (sorted keys, no spaces), minus the
    ``source`` block (provenance does not change the MDP)."""
    body = {k: v for k, v in case.items() if k != "source"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _tree(item: dict[str, Any]) -> AuthorsTree:
    clip = item.get("clip")
    return authors_tree(
        int(item["actions"]),
        int(item["depth"]),
        int(item["seed"]),
        stochastic=bool(item.get("stochastic", False)),
        clip=tuple(clip) if clip else None,
    )


#: G_k iterations of the iterated and return-improvement experiments (their
#: configs' max_iterations: k = 0..5).
ITERATIONS = 5


def _list_items(base: dict[str, Any], commits: Sequence[str]) -> list[dict[str, Any]]:
    """The union of published instance lists, first list first, no repeats."""
    from coherence.experiments.published import instance_list

    seen: set[tuple[str, int]] = set()
    out: list[dict[str, Any]] = []
    for commit in commits:
        for inst in instance_list(commit):
            if (inst.family, inst.seed) in seen:
                continue
            seen.add((inst.family, inst.seed))
            out.append(
                base
                | {
                    "family": inst.family,
                    "actions": inst.actions,
                    "depth": inst.depth,
                    "seed": inst.seed,
                    "stochastic": False,
                    "clip": None,
                }
            )
    return out


#: The published lists each experiment runs on (their union, in this order).
EXPERIMENT_LISTS: dict[str, tuple[str, ...]] = {
    "effective-horizon": ("5f0aa98",),
    "misalignment": ("8fc0a62", "6c59281", "5f0aa98"),
    "return-incoherence": ("1ce9489", "5f0aa98"),
}


@cache
def published_seeds() -> frozenset[tuple[str, int]]:
    """Every (family, seed) of every published instance list and of the
    iterated / return-improvement instances (``--fresh`` never draws them)."""
    from coherence.experiments.published import LISTS, instance_list

    out = {(i.family, i.seed) for c in LISTS for i in instance_list(c)}
    for it in _authors_t4_items({"experiment": ""}, "iterated") + _authors_t4_items(
        {"experiment": ""}, "return-improvement"
    ):
        out.add((str(it["family"]).split("_stochastic")[0], int(it["seed"])))
    return frozenset(out)


def _authors_t4_items(base: dict[str, Any], experiment: str) -> list[dict[str, Any]]:
    """The T4_A2 instances of their configs: iterated incoherence draws the
    deterministic family from SeedSequence([0, 0]) (q clipped) and the
    stochastic one from SeedSequence([0, 1]) (unclipped); strong return
    improvement draws both from SeedSequence([0, 0]), both clipped."""
    clip = list(ITERATED_CLIP)
    groups: tuple[tuple[bool, int, list[float] | None], ...]
    if experiment == "iterated":
        groups = ((False, 0, clip), (True, 1, None))
    else:
        groups = ((False, 0, clip), (True, 0, clip))
    items: list[dict[str, Any]] = []
    for stochastic, spec_index, cl in groups:
        for seed in candidate_seeds(spec_index, 5):
            items.append(
                base
                | {
                    "family": "T4_A2" + ("_stochastic" if stochastic else ""),
                    "actions": 2,
                    "depth": 4,
                    "seed": seed,
                    "stochastic": stochastic,
                    "clip": cl,
                    "spec_index": spec_index,
                    "k_max": ITERATIONS,
                }
            )
    return items


def instance_items(
    experiment: str, *, fresh: int = 0, fresh_seed: int = 0
) -> list[dict[str, Any]]:
    """The instances an experiment runs on.

    Published (``fresh`` = 0): effective horizon on 5f0aa98's 140;
    misalignment on 8fc0a62's 420 (which holds the 6c59281 and 5f0aa98
    lists); return-incoherence on 1ce9489's 140 and the 8 of 5f0aa98's
    not among them; iterated and return-improvement on their configs' T4_A2
    instances (:func:`_authors_t4_items`), k = 0..5. ``fresh`` > 0: that many
    new instances drawn round-robin over the seven families from
    ``numpy.random.default_rng(fresh_seed)``, skipping every published seed."""
    if experiment not in EXPERIMENTS:
        raise ValueError(
            f"experiment: unknown experiment {experiment!r}; expected one of "
            f"{', '.join(EXPERIMENTS)}"
        )
    if isinstance(fresh, bool) or not isinstance(fresh, int) or fresh < 0:
        raise ValueError(f"fresh: expected a non-negative integer, got {fresh!r}")
    base = {"experiment": experiment}
    if experiment in ("iterated", "return-improvement"):
        if fresh:
            raise ValueError(
                f"--fresh: {experiment} runs on the authors' ten T4_A2 instances only"
            )
        return _authors_t4_items(base, experiment)
    if fresh:
        import numpy as np

        rng = np.random.default_rng(fresh_seed)
        taken = set(published_seeds())
        out: list[dict[str, Any]] = []
        while len(out) < fresh:
            family, depth, actions = FAMILIES[len(out) % len(FAMILIES)]
            seed = int(rng.integers(0, 2**32, dtype=np.uint32))
            if (family, seed) in taken:
                continue
            taken.add((family, seed))
            out.append(
                base
                | {
                    "family": family,
                    "depth": depth,
                    "actions": actions,
                    "seed": seed,
                    "stochastic": False,
                    "clip": None,
                    "fresh": True,
                }
            )
        return out
    return _list_items(base, EXPERIMENT_LISTS[experiment])


def _provenance(item: dict[str, Any], case: dict[str, object]) -> dict[str, Any]:
    return {
        "experiment": item["experiment"],
        "family": item["family"],
        "actions": int(item["actions"]),
        "depth": int(item["depth"]),
        "seed": int(item["seed"]),
        "stochastic": bool(item.get("stochastic", False)),
        "generator": "authors-tree",
        "parameters": json.dumps(
            {k: item[k] for k in sorted(item) if k not in ("experiment",)},
            sort_keys=True,
        ),
        "case_hash": case_hash(case),
        "coherence_version": __version__,
    }


def _misalignment(tree: AuthorsTree) -> float:
    """1 - the uniform-occupancy-weighted rate at which argmax Q^uniform equals
    argmax Q* (expected counts, exact sets), averaged over the T + 1 steps."""
    qstar = optimal_q(tree)
    A = tree.actions
    order = sorted(tree.q, key=len, reverse=True)
    vu: dict[str, Fraction] = {}
    agree = Fraction(0)
    for s in order:
        row = [
            Fraction(tree.q[s][a]) + (vu[s + str(a)] if len(s) < tree.depth else 0)
            for a in range(A)
        ]
        vu[s] = sum(row, Fraction(0)) / A
        best_u = {a for a, v in enumerate(row) if v == max(row)}
        best_s = {a for a, v in enumerate(qstar[s]) if v == max(qstar[s])}
        if best_u == best_s:
            agree += Fraction(1, A ** len(s))
    return 1.0 - float(agree / tree.decisions)


def _log_z_rows(engine: Any, mdp: Any, policy: Any) -> dict[str, list[float]]:
    """Q^pi = log z per tree state at the step equal to its length (float64
    logs of the exact rationals)."""
    z = engine.values(policy).z
    out: dict[str, list[float]] = {}
    for name in mdp.states:
        if name == "end":
            continue
        s = "" if name == "root" else name
        out[s] = [log_rational(x) for x in z[len(s)][mdp.state_index(name)]]
    return out


def _soft_rows(qrows: dict[str, list[float]], delta: float) -> dict[str, list[float]]:
    """pi^delta = softmax(Q / delta) per tree state (SPEC §4, no prior factor)."""
    out: dict[str, list[float]] = {}
    for s, qrow in qrows.items():
        top = max(qrow)
        ex = [math.exp((x - top) / delta) if x > -math.inf else 0.0 for x in qrow]
        tot = math.fsum(ex)
        out[s] = [x / tot for x in ex]
    return out


def run_item(item: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of one instance for ``item["experiment"]`` (see the module
    docstring for the columns)."""
    experiment = item["experiment"]
    tree = _tree(item)
    case = tree_case(tree)
    prov = _provenance(item, case)
    mdp = tree_mdp(tree)
    engine = exact_engine(mdp)
    one = Fraction(1)
    if experiment == "effective-horizon":
        g = g_policies(engine, 1)
        kp = kappas(engine, mdp, tree, g[0], one)
        kg = kappas(engine, mdp, tree, g[1], one)
        sigma = float(item.get("mc_sigma", MC_SIGMA))
        ks = tuple(item.get("ks") or (1, 2, 3, 4))
        hz = effective_horizon(
            tree, ks=ks, extra_thresholds=(0.5 - 4 * sigma, 0.5 + 4 * sigma)
        )
        qstar = optimal_q(tree)
        row = prov | {
            "kappa_prior_exact": kp.exact,
            "kappa_prior_clipped": kp.clipped,
            "kappa_g1_exact": kg.exact,
            "kappa_g1_clipped": kg.clipped,
            "j_prior": to_float(engine.j_count(g[0])) - 1.0,
            "j_g1": to_float(engine.j_count(g[1])) - 1.0,
            "j_star": to_float(max(qstar[""])),
            "jprob_prior": to_float(engine.j_prob(g[0])),
            "jprob_g1": to_float(engine.j_prob(g[1])),
            "h_authors": hz.h["authors"],
            "h_laidlaw": hz.h["laidlaw"],
            "h_authors_low": hz.per_threshold[0.5 - 4 * sigma]["authors"],
            "h_authors_high": hz.per_threshold[0.5 + 4 * sigma]["authors"],
            "k_greedy": hz.k_greedy,
            "misalignment": _misalignment(tree),
            "exact_rechecks": hz.exact_rechecks,
            "gorp_probs": json.dumps(hz.probs, sort_keys=True),
        }
        return [row]
    if experiment == "misalignment":
        g1 = g_policies(engine, 1)[1]
        rows_g1 = policy_rows(mdp, engine.policy_table(g1))
        mis = _misalignment(tree)
        qrows = _log_z_rows(engine, mdp, g1)
        temps = item.get("temperatures") or list(MISALIGNMENT_TEMPERATURES)
        out = []
        for delta in temps:
            target = _soft_rows(qrows, float(delta))
            out.append(
                prov
                | {
                    "delta": float(delta),
                    "misalignment": mis,
                    "kappa_g1_float": trajectory_kl_clipped(
                        tree, rows_g1, target, clip=0.0
                    ),
                    "kappa_g1_clipped": trajectory_kl_clipped(tree, rows_g1, target),
                }
            )
        return out
    if experiment in ("iterated", "return-improvement", "return-incoherence"):
        depth = 4 if experiment == "return-incoherence" else int(item.get("k_max", 5))
        # G_k in rationals grows large denominators: float64 here
        engine = exact_engine(mdp, "numpy")
        pols = g_policies(engine, depth)
        out = []
        deltas = ITERATED_DELTAS if experiment == "iterated" else (one,)
        for k, pol in enumerate(pols):
            base = prov | {"k": k}
            if experiment == "return-improvement":
                out.append(
                    base
                    | {
                        "jprob": float(engine.j_prob(pol)),
                        "jsum": float(engine.j_sum(pol)),
                        "jcount": float(engine.j_count(pol)),
                        "j_authors": float(engine.j_count(pol)) - 1.0,
                        "number_system": "float64",
                    }
                )
                continue
            for delta in deltas:
                kk = kappas(engine, mdp, tree, pol, float(delta))
                row = base | {
                    "delta": float(delta),
                    "kappa": float(kk.exact),
                    "kappa_clipped": kk.clipped,
                    "number_system": "float64",
                }
                if experiment == "iterated":
                    row["j_authors"] = float(engine.j_count(pol)) - 1.0
                if experiment == "return-incoherence":
                    row["jsum"] = float(engine.j_sum(pol))
                out.append(row)
        return out
    raise ValueError(f"experiment: unknown experiment {experiment!r}")


def with_parameters(
    items: Sequence[dict[str, Any]], **extra: Any
) -> list[dict[str, Any]]:
    """The items with extra parameters (they enter the content key)."""
    return [
        dict(it) | {k: v for k, v in extra.items() if v is not None} for it in items
    ]
