"""The sample-based learners against the committed closed forms, property-based.

hypothesis draws a point of a closed-form group's symbols (as
tests/test_closed_forms_torch.py does, inside the forms' validity range),
instantiates the group's MDP there and runs each learner on it, on every torch
device present (cpu, and cuda when available):

* Monte Carlo re-training and the tabular outcome model, one round from the
  prior: every committed G_k entry at k = 1 must lie in the Chernoff interval
  of the round's successful-action frequencies at its cell (the exact test of
  coherence.gpu.learning.verdict; the previous estimate is the prior, so the
  target IS G_1), and the tabular model must lie within its fit criterion
  (1e-3) of those frequencies;
* Z-learning and (on the deterministic families, where the max-ent optimum
  equals T_alpha, SPEC §4) the max-ent backup: every committed T_alpha entry
  must lie within the learner's propagated bound ``policy_bound`` (5 standard
  errors per sample mean, the error carried from later steps included, warm
  start 0) of the learned policy.

Level: per example the Chernoff tests are Bonferroni-corrected to 1e-4 over
the group's cells; the 5-sigma bound is a normal approximation (5.7e-7 per
sample mean).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from coherence.gpu.learning import (
    Environment,
    OutcomeConditionedLearner,
    TabularOutcomeModel,
    make_generator,
    maxent_q_learning,
    mc_retrain_round,
    z_learning,
)
from coherence.gpu.learning.verdict import kl_interval
from tests.shared import examples

sympy = pytest.importorskip("sympy")

from tests.test_closed_forms_torch import (  # noqa: E402
    committed,
    draw_point,
    group_of,
    instantiate,
    parsed,
    symbols_of,
)

pytestmark = [pytest.mark.properties, pytest.mark.usefixtures("one_torch_thread")]
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
DETERMINISTIC = ("bandit", "mountain_race", "trees")


def _groups(families: tuple[str, ...], operator: str) -> list[tuple[str, str]]:
    out = []
    for family in families:
        for g in committed(family)["groups"]:
            if any(
                e["quantity"] == "policy" and e["policy"]["operator"] == operator
                for e in g["entries"]
            ):
                out.append((family, g["name"]))
    return out


G_GROUPS = _groups((*DETERMINISTIC, "stochastic"), "G")
T_GROUPS = _groups((*DETERMINISTIC, "stochastic"), "T")


@st.composite
def points(
    draw: st.DrawFn, groups: list[tuple[str, str]]
) -> tuple[str, str, dict[str, Fraction]]:
    family, name = draw(st.sampled_from(groups))
    return family, name, draw_point(draw, group_of(committed(family), name))


def _entries(
    family: str, name: str, point: dict[str, Fraction], operator: str
) -> list[tuple[dict[str, Any], float]]:
    """(cell, closed-form value) of the group's policy entries of ``operator``
    at ``point`` (G entries at k = 1 only)."""
    group = group_of(committed(family), name)
    syms = symbols_of(group)
    at = dict(point)
    out = []
    for entry, expr in zip(group["entries"], parsed(family, name)[1], strict=True):
        pol = entry.get("policy", {})
        if entry["quantity"] != "policy" or pol.get("operator") != operator:
            continue
        if operator == "G":
            k = pol["k"]
            if isinstance(k, str):
                at[k] = Fraction(1)
            elif k != 1:
                continue
        subs = {
            syms[s]: sympy.Rational(v.numerator, v.denominator) for s, v in at.items()
        }
        out.append((entry["cell"], float(expr.subs(subs))))
    return out


def _index(mdp: Any, cell: dict[str, Any]) -> tuple[int, int, int]:
    return (
        int(cell["t"]),
        mdp.state_index(cell["state"]),
        mdp.action_index(cell["action"]),
    )


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("learner", ["mc", "tabular"])
@settings(max_examples=examples(3, 40))
@given(case=points(G_GROUPS))
def test_g1_entries_within_the_learners_intervals(
    learner: str, device: str, case: tuple[str, str, dict[str, Fraction]]
) -> None:
    family, name, point = case
    mdp = instantiate(group_of(committed(family), name), point)
    env = Environment.from_mdp(mdp, device)
    gen = make_generator(7, device)
    n = 4000
    if learner == "mc":
        rnd = mc_retrain_round(env, env.prior_policy(), n, generator=gen)
        counts, visits, policy = rnd.counts, rnd.visits, rnd.policy
    else:
        T, S, A = env.shape
        model = OutcomeConditionedLearner(
            env, TabularOutcomeModel(T, S, A, device=env.device), generator=gen
        )
        mrnd = model.step(n)
        counts, visits, policy = mrnd.counts[:, :, 1, :], mrnd.visits, mrnd.policy
    c = counts.cpu().numpy()
    v = visits.cpu().numpy()
    freq = c / np.maximum(v, 1.0)[..., None]
    entries = _entries(family, name, point, "G")
    assert entries
    delta = 1e-4 / len(entries)
    for cell, want in entries:
        t, s, a = _index(mdp, cell)
        if v[t, s] == 0:
            continue  # never visited by a successful episode: no data
        lo, hi = kl_interval(np.array([freq[t, s, a]]), np.array([v[t, s]]), delta)
        assert lo[0] - 1e-12 <= want <= hi[0] + 1e-12, (name, cell, want, lo, hi)
        fit = abs(float(policy[t, s, a]) - freq[t, s, a])
        assert fit <= (0.0 if learner == "mc" else 1e-3), (name, cell, fit)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("backup", ["z", "maxent"])
@settings(max_examples=examples(3, 40))
@given(case=points(T_GROUPS))
def test_t_alpha_entries_within_the_soft_q_bound(
    backup: str, device: str, case: tuple[str, str, dict[str, Fraction]]
) -> None:
    family, name, point = case
    if backup == "maxent" and family not in DETERMINISTIC:
        return  # the max-ent optimum is not T_alpha in stochastic dynamics
    mdp = instantiate(group_of(committed(family), name), point)
    env = Environment.from_mdp(mdp, device)
    learn = z_learning if backup == "z" else maxent_q_learning
    by_alpha: dict[Fraction, Any] = {}
    group = group_of(committed(family), name)
    entries = _entries(family, name, point, "T")
    alphas = [
        e["policy"]["alpha"]
        for e in group["entries"]
        if e["quantity"] == "policy" and e["policy"]["operator"] == "T"
    ]
    assert entries and len(alphas) == len(entries)
    for (cell, want), alpha in zip(entries, alphas, strict=True):
        a = point[alpha] if isinstance(alpha, str) else Fraction(alpha)
        if a not in by_alpha:
            by_alpha[a] = learn(
                env, a, samples=4096, generator=make_generator(3, device)
            )
        res = by_alpha[a]
        t, s, i = _index(mdp, cell)
        got = float(res.policy[t, s, i])
        bound = float(res.policy_bound[t, s, i])
        assert abs(got - want) <= bound + 1e-9, (name, cell, got, want, bound)
